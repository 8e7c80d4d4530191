/* classnames — see classnames.h. */
#include "classnames.h"
#include "error.h"
#include "h5io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Appends a copy of line to names (growing it); EX_OSERR when out of memory. */
static int append_name(char ***names, size_t *n, size_t *cap, const char *line, const char *path)
{
    if (*n == *cap) {
        size_t bigger_cap = *cap ? 2 * *cap : 64;
        char **bigger = realloc(*names, bigger_cap * sizeof *bigger);
        if (!bigger)
            return error_set(EX_OSERR, "%s: out of memory reading class names", path);
        *names = bigger;
        *cap = bigger_cap;
    }
    (*names)[(*n)++] = strdup(line);
    return 0;
}

/* Every line of f into names; empty_at is the first empty line (1-based, 0 = none). */
static int read_lines(FILE *f, const char *path, char ***names, size_t *n, size_t *empty_at)
{
    char *line = NULL;
    size_t cap = 0, line_cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if ((size_t)len != strlen(line))
            rc = error_set(EX_DATAERR, "%s: line %zu holds a NUL byte (expected text, one class name per line)",
                           path, *n + 1);
        if (!len && !*empty_at)
            *empty_at = *n + 1;
        if (append_name(names, n, &cap, line, path)) {
            rc = error_code();
            break;
        }
    }
    if (!rc && ferror(f))
        rc = error_set(EX_IOERR, "%s: read error: %s", path, strerror(errno));
    free(line);
    return rc;
}

int classnames_read(const char *path, char ***names_out, size_t *n_out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set(EX_NOINPUT, "%s: cannot open class names: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, empty_at = 0;
    int rc = read_lines(f, path, &names, &n, &empty_at);
    fclose(f);
    while (!rc && n > 0 && !names[n - 1][0]) /* trailing empty lines */
        free(names[--n]);
    if (!rc && n == 0)
        rc = error_set(EX_DATAERR, "%s: no class names (expected one per line)", path);
    if (!rc && empty_at && empty_at <= n)
        rc = error_set(EX_DATAERR, "%s: line %zu is empty (expected one class name per line)", path, empty_at);
    if (rc) {
        h5io_free_strings(names, n);
        return rc;
    }
    *names_out = names;
    *n_out = n;
    return 0;
}
