/* test_idx — IDX files (idx.h), gzip'd and plain: round trip of images and
 * labels, the header alone, and refusals: truncated (plain and gzip), a
 * wrong magic, another element type or rank, bytes after the data, a zero
 * dimension, a missing file. */
#include "error.h"
#include "harness.h"
#include "idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/test_idx.XXXXXX";

/* An IDX image [n, h, w] of bytes (i·7 + 3) mod 256 (or labels [n] when h = 0). */
static size_t make_idx(uint8_t *buf, size_t n, size_t h, size_t w)
{
    int rank = h ? 3 : 1;
    size_t dims[3] = {n, h, w}, off = 0, count = 1;
    buf[off++] = 0; buf[off++] = 0; buf[off++] = 8; buf[off++] = (uint8_t)rank;
    for (int k = 0; k < rank; k++) {
        buf[off++] = (uint8_t)(dims[k] >> 24); buf[off++] = (uint8_t)(dims[k] >> 16);
        buf[off++] = (uint8_t)(dims[k] >> 8); buf[off++] = (uint8_t)dims[k];
        count *= dims[k];
    }
    for (size_t i = 0; i < count; i++)
        buf[off++] = (uint8_t)((i * 7 + 3) % 256);
    return off;
}

static void write_plain(const char *path, const uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
}

static void write_gz(const char *path, const uint8_t *buf, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    gzwrite(gz, buf, (unsigned)n);
    gzclose(gz);
}

static char *path_of(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static int fails_with(const char *name, int rank, int code, const char *needle)
{
    idx_array a;
    error_clear();
    int rc = idx_read(path_of(name), rank, &a);
    int ok = rc == code && strstr(error_message(), needle) && a.data == NULL;
    if (!ok)
        fprintf(stderr, "%s: rc %d, message '%s'\n", name, rc, error_message());
    error_clear();
    return ok;
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    uint8_t buf[4096];
    size_t n = make_idx(buf, 5, 4, 3);
    write_plain(path_of("img"), buf, n);
    write_gz(path_of("img.gz"), buf, n);
    for (int gz = 0; gz < 2; gz++) {
        idx_array a;
        int rc = idx_read(path_of(gz ? "img.gz" : "img"), 3, &a);
        CHECK(rc == 0, "read %s", gz ? "gzip" : "plain");
        CHECK(a.rank == 3 && a.dims[0] == 5 && a.dims[1] == 4 && a.dims[2] == 3 && a.count == 60, "dims");
        int same = 1;
        for (size_t i = 0; i < 60; i++)
            same &= a.data[i] == (uint8_t)((i * 7 + 3) % 256);
        CHECK(same, "values (%s)", gz ? "gzip" : "plain");
        idx_free(&a);
        idx_array h;
        CHECK(idx_read_header(path_of(gz ? "img.gz" : "img"), 3, &h) == 0 && h.dims[0] == 5 && !h.data,
              "header only");
    }
    size_t nl = make_idx(buf + 2048, 6, 0, 0);
    write_gz(path_of("lab.gz"), buf + 2048, nl);
    idx_array l;
    CHECK(idx_read(path_of("lab.gz"), 1, &l) == 0 && l.dims[0] == 6 && l.data[5] == 38, "labels");
    idx_free(&l);

    write_plain(path_of("short"), buf, n - 1);
    CHECK(fails_with("short", 3, EX_DATAERR, "truncated IDX file: data ends after 59 of 60 bytes"),
          "truncated plain");
    write_gz(path_of("short.gz"), buf, 10);
    CHECK(fails_with("short.gz", 3, EX_DATAERR, "truncated IDX file: header"), "truncated header (gzip)");
    /* a gzip stream cut short: the compressed bytes end early */
    gzFile whole = gzopen(path_of("cut.tmp"), "wb");
    gzwrite(whole, buf, (unsigned)n);
    gzclose(whole);
    FILE *f = fopen(path_of("cut.tmp"), "rb");
    uint8_t gzbuf[4096];
    size_t gzn = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    write_plain(path_of("cut.gz"), gzbuf, gzn - 12);
    CHECK(fails_with("cut.gz", 3, EX_DATAERR, "IDX"), "truncated gzip stream");
    CHECK(fails_with("img", 1, EX_DATAERR, "magic 00 00 08 03, expected 00 00 08 01"), "wrong rank");
    uint8_t bad[sizeof buf];
    memcpy(bad, buf, n);
    bad[0] = 0x1f;
    write_plain(path_of("magic"), bad, n);
    CHECK(fails_with("magic", 3, EX_DATAERR, "not an IDX file of unsigned bytes of rank 3"), "wrong magic");
    memcpy(bad, buf, n);
    bad[2] = 0x0d;   /* float elements */
    write_gz(path_of("float.gz"), bad, n);
    CHECK(fails_with("float.gz", 3, EX_DATAERR, "magic 00 00 0d 03"), "float element type");
    memcpy(bad, buf, n);
    bad[n] = 1;
    write_plain(path_of("long"), bad, n + 1);
    CHECK(fails_with("long", 3, EX_DATAERR, "more bytes than its header's 60 values"), "trailing bytes");
    memcpy(bad, buf, n);
    bad[11] = 0;     /* H = 0 */
    write_plain(path_of("zero"), bad, n);
    CHECK(fails_with("zero", 3, EX_DATAERR, "dimension 1 is 0"), "zero dimension");
    CHECK(fails_with("absent", 3, EX_NOINPUT, "cannot open"), "missing file");

    const char *names[] = {"img", "img.gz", "lab.gz", "short", "short.gz", "cut.tmp", "cut.gz", "magic",
                           "float.gz", "long", "zero"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        unlink(path_of(names[k]));
    rmdir(dir);
    return harness_report("idx");
}
