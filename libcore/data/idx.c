/* idx — see idx.h. */
#include "idx.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Reads exactly n bytes; EX_DATAERR naming what was cut short. */
static int read_exact(gzFile gz, const char *path, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(gz, (uint8_t *)buf + got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            return error_set(EX_DATAERR, "%s: cannot read the IDX %s: %s", path, what, msg);
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got < n)
        return error_set(EX_DATAERR, "%s: truncated IDX file: %s ends after %zu of %zu bytes", path, what,
                         got, n);
    return 0;
}

static int open_gz(const char *path, gzFile *gz)
{
    if (access(path, R_OK) != 0)
        return error_set(EX_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    *gz = gzopen(path, "rb");
    if (!*gz)
        return error_set(EX_NOINPUT, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
    return 0;
}

static int read_header(gzFile gz, const char *path, int want_rank, idx_array *arr)
{
    uint8_t magic[4];
    if (read_exact(gz, path, magic, 4, "header"))
        return error_code();
    if (magic[0] || magic[1] || magic[2] != 0x08 || magic[3] != want_rank)
        return error_set(EX_DATAERR,
                         "%s: not an IDX file of unsigned bytes of rank %d (magic %02x %02x %02x %02x, "
                         "expected 00 00 08 %02x)",
                         path, want_rank, magic[0], magic[1], magic[2], magic[3], want_rank);
    arr->rank = want_rank;
    arr->count = 1;
    for (int k = 0; k < want_rank; k++) {
        uint8_t be[4];
        if (read_exact(gz, path, be, 4, "header"))
            return error_code();
        arr->dims[k] = (size_t)be[0] << 24 | (size_t)be[1] << 16 | (size_t)be[2] << 8 | be[3];
        if (arr->dims[k] == 0)
            return error_set(EX_DATAERR, "%s: IDX dimension %d is 0", path, k);
        if (arr->count > ((size_t)1 << 40) / arr->dims[k])
            return error_set(EX_DATAERR, "%s: IDX dimensions too large", path);
        arr->count *= arr->dims[k];
    }
    return 0;
}

int idx_read_header(const char *path, int want_rank, idx_array *arr)
{
    memset(arr, 0, sizeof *arr);
    gzFile gz;
    if (open_gz(path, &gz))
        return error_code();
    int rc = read_header(gz, path, want_rank, arr);
    gzclose(gz);
    return rc;
}

int idx_read(const char *path, int want_rank, idx_array *arr)
{
    memset(arr, 0, sizeof *arr);
    gzFile gz;
    if (open_gz(path, &gz))
        return error_code();
    int rc = read_header(gz, path, want_rank, arr);
    if (!rc && !(arr->data = malloc(arr->count)))
        rc = error_set(EX_OSERR, "%s: out of memory for %zu bytes", path, arr->count);
    if (!rc)
        rc = read_exact(gz, path, arr->data, arr->count, "data");
    if (!rc) {
        uint8_t extra;
        int r = gzread(gz, &extra, 1);
        if (r > 0)
            rc = error_set(EX_DATAERR, "%s: IDX file holds more bytes than its header's %zu values", path,
                           arr->count);
        else if (r < 0) {
            int zerr;
            rc = error_set(EX_DATAERR, "%s: cannot read the IDX data: %s", path, gzerror(gz, &zerr));
        }
    }
    gzclose(gz);
    if (rc)
        idx_free(arr);
    return rc;
}

void idx_free(idx_array *arr)
{
    free(arr->data);
    arr->data = NULL;
}
