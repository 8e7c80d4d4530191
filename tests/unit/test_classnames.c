/* test_classnames — the class names file: "\n" and "\r\n" line ends,
 * trailing empty lines ignored, and the refusals (an empty line between
 * names, a NUL byte, no names, a missing file); and batch sizing (batch.h),
 * which the streaming readers of the same tools share. */
#include "batch.h"
#include "classnames.h"
#include "error.h"
#include "h5io.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_classnames.XXXXXX";

static const char *write_text(const char *name, const char *text, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    return path;
}

static void expect_refusal(const char *name, const char *text, size_t len, int code, const char *pattern)
{
    char **names = NULL;
    size_t n = 0;
    const char *path = write_text(name, text, len);
    error_clear();
    CHECK(classnames_read(path, &names, &n) == code && strstr(error_message(), pattern), "%s: %s", name,
          error_message());
    error_clear();
    unlink(path);
}

static void test_batch(void)
{
    unsetenv("EDDP_BATCH_BYTES");
    CHECK(batch_bytes() == (size_t)64 << 20, "64 MiB by default");
    setenv("EDDP_BATCH_BYTES", "1000", 1);
    CHECK(batch_bytes() == 1000, "EDDP_BATCH_BYTES overrides it");
    setenv("EDDP_BATCH_BYTES", "-5", 1);
    CHECK(batch_bytes() == (size_t)64 << 20, "a value <= 0 is ignored");
    unsetenv("EDDP_BATCH_BYTES");
    CHECK(batch_rows(100, 1000, 50) == 10 && batch_rows(100, 1000, 4) == 4, "rows that fit, at most n");
    CHECK(batch_rows(5000, 1000, 50) == 1 && batch_rows(0, 1000, 7) == 7 && batch_rows(8, 80, 0) == 1,
          "at least one row; empty rows; no rows");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    const char good[] = "cat\ndog\r\nbird\n\n\n";
    const char *path = write_text("good.txt", good, sizeof good - 1);
    CHECK(classnames_read(path, &names, &n) == 0 && n == 3 && !strcmp(names[0], "cat") &&
              !strcmp(names[1], "dog") && !strcmp(names[2], "bird"),
          "three names, CRLF and trailing empty lines: %zu", n);
    h5io_free_strings(names, n);
    unlink(path);
    const char last[] = "only";
    path = write_text("last.txt", last, sizeof last - 1);
    CHECK(classnames_read(path, &names, &n) == 0 && n == 1 && !strcmp(names[0], "only"), "no final newline");
    h5io_free_strings(names, n);
    unlink(path);

    expect_refusal("gap.txt", "a\n\nb\n", 5, EX_DATAERR, "line 2 is empty");
    expect_refusal("nul.txt", "a\nb\0c\n", 6, EX_DATAERR, "line 2 holds a NUL byte");
    expect_refusal("blank.txt", "\n\n", 2, EX_DATAERR, "no class names");
    error_clear();
    CHECK(classnames_read("/nonexistent/names.txt", &names, &n) == EX_NOINPUT &&
              strstr(error_message(), "cannot open class names"),
          "missing file: %s", error_message());
    error_clear();
    test_batch();
    rmdir(dir);
    return harness_report("classnames");
}
