/* test_h5io_uint8 — the h5io additions of the image sets: uint8 datasets
 * (written, read whole and by rows, refused where floats are expected and
 * floats refused where uint8 is), and h5out_copy (a dataset with its
 * attributes, into a new group). */
#include "error.h"
#include "h5io.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char dir[] = "/tmp/test_h5io_uint8.XXXXXX", a[256], b[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    uint8_t img[3 * 1 * 2 * 2];
    for (int k = 0; k < 12; k++)
        img[k] = (uint8_t)(k * 23 + 1);
    float f[2] = {1.5f, 2.5f};
    hsize_t idims[4] = {3, 1, 2, 2}, fdims[1] = {2};
    h5out out;
    static const char *const names[] = {"clean", "watermark"};
    int rc = h5out_create(&out, a, 0, H5IO_FORMAT_IMAGES, 1) ||
             h5out_write(&out, "/images", H5IO_UINT8, 4, idims, img) ||
             h5out_write(&out, "/floats", H5IO_FLOAT, 1, fdims, f) ||
             h5out_attr_strings(&out, "/floats", "names", names, 2) || h5out_commit(&out);
    CHECK(rc == 0, "write uint8 and float datasets: %s", error_message());

    h5in in;
    CHECK(h5in_open(&in, a, H5IO_FORMAT_IMAGES) == 0, "open as eddp-images");
    uint8_t *back = NULL;
    hsize_t dims[H5IO_MAX_RANK];
    CHECK(h5in_read(&in, "/images", H5IO_UINT8, 4, idims, (void **)&back, dims) == 0 && back &&
              !memcmp(back, img, sizeof img),
          "uint8 round trip");
    free(back);
    uint8_t row[4];
    CHECK(h5in_read_rows(&in, "/images", H5IO_UINT8, 2, 1, row) == 0 && !memcmp(row, img + 8, 4), "uint8 rows");
    void *junk = NULL;
    error_clear();
    CHECK(h5in_read(&in, "/images", H5IO_FLOAT, 4, NULL, &junk, dims) == EX_DATAERR &&
              strstr(error_message(), "'/images' has the wrong type: expected floating-point"),
          "uint8 refused as float: %s", error_message());
    error_clear();
    CHECK(h5in_check(&in, "/floats", H5IO_UINT8, 1, NULL, dims) == EX_DATAERR &&
              strstr(error_message(), "expected uint8"),
          "float refused as uint8: %s", error_message());
    error_clear();

    CHECK(h5out_create(&out, b, 0, H5IO_FORMAT_IMAGES, 1) == 0, "create b");
    rc = h5out_copy(&out, &in, "/images") || h5out_copy(&out, &in, "/floats");
    CHECK(rc == 0, "copy");
    error_clear();
    CHECK(h5out_copy(&out, &in, "/absent") == EX_IOERR && strstr(error_message(), "cannot copy '/absent'"),
          "copying a missing dataset fails: %s", error_message());
    error_clear();
    CHECK(h5out_commit(&out) == 0, "commit b");
    h5in_close(&in);
    h5in cp;
    char **got = NULL;
    size_t n = 0;
    CHECK(h5in_open(&cp, b, H5IO_FORMAT_IMAGES) == 0, "open b");
    CHECK(h5in_read(&cp, "/images", H5IO_UINT8, 4, idims, (void **)&back, dims) == 0 &&
              !memcmp(back, img, sizeof img),
          "copied images");
    free(back);
    CHECK(h5in_attr_strings(&cp, "/floats", "names", &got, &n) == 0 && n == 2 && !strcmp(got[1], "watermark"),
          "the copy keeps attributes");
    h5io_free_strings(got, n);
    h5in_close(&cp);
    unlink(a);
    unlink(b);
    rmdir(dir);
    return harness_report("h5io_uint8");
}
