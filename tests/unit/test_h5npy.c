/* test_h5npy — .npy ⇄ HDF5 on real files: NHWC features transposed to NCHW
 * across batch boundaries, NaN refused naming the image, labels and concept
 * maps checked (negative, beyond the classes, multi-hot other than 0/1),
 * whole float arrays read and refused, and export of numeric datasets
 * (float64 → float32, int64 → int32 with values that do not fit refused,
 * scalars; strings refused). */
#include "error.h"
#include "h5io.h"
#include "h5npy.h"
#include "harness.h"
#include "npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_IMG = 5, H = 2, W = 3, C = 4 };

static char dir[] = "/tmp/test_h5npy.XXXXXX";

static void path_in(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

static int write_npy(const char *path, npy_dtype dtype, int rank, const uint64_t *shape, const void *rows)
{
    npy_writer w;
    memset(&w, 0, sizeof w);
    int rc = npy_writer_create(&w, path, 1, dtype, rank, shape) || npy_write_rows(&w, shape[0], rows) ||
             npy_writer_commit(&w);
    if (rc)
        npy_writer_abort(&w);
    return rc;
}

static void test_transpose(void)
{
    float src[2 * 6 * 3], dst[2 * 6 * 3];
    for (int k = 0; k < 36; k++)
        src[k] = (float)k;
    h5npy_transpose_nhwc(src, dst, 2, 6, 3);
    int ok = 1;
    for (int img = 0; img < 2; img++)
        for (int p = 0; p < 6; p++)
            for (int c = 0; c < 3; c++)
                ok &= dst[img * 18 + c * 6 + p] == src[img * 18 + p * 3 + c];
    CHECK(ok, "transpose NHWC -> NCHW");
}

/* Imports NHWC features (and, with nan, one NaN at image 3) into /features. */
static int import_features(const float *nhwc, const char *h5_path, int nan)
{
    char npy_path[256];
    path_in(npy_path, sizeof npy_path, nan ? "nan.npy" : "nhwc.npy");
    uint64_t shape[4] = {N_IMG, H, W, C};
    float copy[N_IMG * H * W * C];
    memcpy(copy, nhwc, sizeof copy);
    if (nan)
        copy[3 * H * W * C + 5] = NAN;
    if (write_npy(npy_path, NPY_F4, 4, shape, copy))
        return error_code();
    npy_reader r;
    memset(&r, 0, sizeof r);
    size_t dims[4] = {N_IMG, C, H, W};
    h5out out;
    int rc = npy_open(&r, npy_path) || h5out_create(&out, h5_path, 1, H5IO_FORMAT_FEATURES, 1);
    if (!rc) {
        rc = h5npy_write_features(&r, dims, 1, &out, NULL, NULL) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    npy_close(&r);
    return rc ? error_code() : 0;
}

static void test_features(void)
{
    float nhwc[N_IMG * H * W * C];
    for (int k = 0; k < N_IMG * H * W * C; k++)
        nhwc[k] = (float)k * 0.5f - 7;
    char h5_path[256];
    path_in(h5_path, sizeof h5_path, "f.h5");
    setenv("EDDP_BATCH_BYTES", "100", 1); /* one image per batch */
    CHECK(import_features(nhwc, h5_path, 0) == 0, "import NHWC: %s", error_message());
    h5in in;
    float *back = NULL;
    hsize_t expect[4] = {N_IMG, C, H, W}, dims[H5IO_MAX_RANK];
    CHECK(h5in_open(&in, h5_path, H5IO_FORMAT_FEATURES) == 0 &&
              h5in_read(&in, "/features", H5IO_FLOAT, 4, expect, (void **)&back, dims) == 0,
          "read back: %s", error_message());
    int ok = back != NULL;
    for (int img = 0; ok && img < N_IMG; img++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++)
                ok &= back[((img * C) + c) * H * W + p] == nhwc[(img * H * W + p) * C + c];
    CHECK(ok, "/features is the NCHW transpose");
    free(back);
    h5in_close(&in);
    unlink(h5_path);
    error_clear();
    CHECK(import_features(nhwc, h5_path, 1) == EX_DATAERR && strstr(error_message(), "NaN at image 3") &&
              access(h5_path, F_OK) != 0,
          "NaN refused naming the image, no output: %s", error_message());
    error_clear();
    unsetenv("EDDP_BATCH_BYTES");
}

static void test_checks(void)
{
    int32_t labels[4] = {0, 2, 1, 3};
    CHECK(h5npy_check_labels("l.npy", "--labels", labels, 4, 0, NULL) == 0, "labels without class names");
    CHECK(h5npy_check_labels("l.npy", "--labels", labels, 4, 3, "names.txt") == EX_DATAERR &&
              strstr(error_message(), "label 3 at image 3, but names.txt (--class-names) names 3 classes"),
          "label beyond the classes: %s", error_message());
    error_clear();
    labels[1] = -1;
    CHECK(h5npy_check_labels("l.npy", "--labels", labels, 4, 0, NULL) == EX_DATAERR &&
              strstr(error_message(), "l.npy (--labels): label -1 at image 1"),
          "negative label: %s", error_message());
    error_clear();
    int32_t maps[6] = {0, 1, 1, 0, 2, 0};
    CHECK(h5npy_check_concepts("m.npy", "obj", maps, 3, 2, 0, 0) == 0, "pixel labels >= 0");
    CHECK(h5npy_check_concepts("m.npy", "scene", maps, 3, 2, 10, 1) == EX_DATAERR &&
              strstr(error_message(), "(--concepts scene): value 2 at image 12; image-level multi-hot"),
          "multi-hot 2 refused at image img0 + 2: %s", error_message());
    error_clear();
    maps[0] = -4;
    CHECK(h5npy_check_concepts("m.npy", "obj", maps, 3, 2, 0, 0) == EX_DATAERR &&
              strstr(error_message(), "value -4 at image 0; pixel maps"),
          "negative pixel label: %s", error_message());
    error_clear();
}

static void test_whole_arrays(void)
{
    char path[256];
    path_in(path, sizeof path, "w.npy");
    uint64_t shape[2] = {2, 3};
    float w[6] = {1, 2, 3, 4, INFINITY, 6};
    CHECK(write_npy(path, NPY_F4, 2, shape, w) == 0, "write w.npy");
    npy_reader r;
    memset(&r, 0, sizeof r);
    error_clear();
    CHECK(h5npy_open_float(&r, path, "--head-bias", 1, "[K]") == EX_DATAERR &&
              strstr(error_message(), "(--head-bias): shape (2, 3), expected [K]"),
          "wrong rank: %s", error_message());
    error_clear();
    npy_close(&r);
    float *data = NULL;
    CHECK(h5npy_open_float(&r, path, "--head-weight", 2, "[K,C]") == 0 &&
              h5npy_read_all_float(&r, "--head-weight", &data) == EX_DATAERR &&
              strstr(error_message(), "(--head-weight): holds Inf at element 4"),
          "Inf refused: %s", error_message());
    error_clear();
    free(data);
    npy_close(&r);
}

static void test_export(void)
{
    char h5_path[256], npy_path[256], bad_path[256];
    path_in(h5_path, sizeof h5_path, "e.h5");
    path_in(npy_path, sizeof npy_path, "e.npy");
    path_in(bad_path, sizeof bad_path, "nodir/e.npy");
    double d[6] = {0.1, -2, 3e10, 4, 5, 6};
    hsize_t ddims[2] = {3, 2}, one[1] = {1};
    int32_t count = 7;
    static const char *const names[] = {"a", "b"};
    hsize_t big_dims[1] = {2};
    long long big[2] = {1, 1LL << 40};
    h5out out;
    int rc = h5out_create(&out, h5_path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/d", H5IO_DOUBLE, 2, ddims, d) || h5out_write(&out, "/n", H5IO_INT32, 1, one, &count) ||
             h5out_write_strings(&out, "/s", names, 2);
    hid_t space = H5Screate_simple(1, big_dims, NULL); /* int64: h5out writes no such type */
    hid_t dset = H5Dcreate2(out.file, "/big", H5T_NATIVE_LLONG, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = rc || dset < 0 || H5Dwrite(dset, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, big) < 0;
    H5Dclose(dset);
    H5Sclose(space);
    CHECK(rc == 0 && h5out_commit(&out) == 0, "write e.h5");
    h5in in;
    CHECK(h5in_open(&in, h5_path, NULL) == 0, "open e.h5");
    setenv("EDDP_BATCH_BYTES", "16", 1); /* one row per batch */
    CHECK(h5npy_export(&in, "/d", npy_path, 0) == 0, "export /d: %s", error_message());
    npy_reader r;
    memset(&r, 0, sizeof r);
    float back[6];
    CHECK(npy_open(&r, npy_path) == 0 && r.hdr.dtype == NPY_F4 && r.hdr.rank == 2 && r.hdr.shape[0] == 3 &&
              npy_read_float(&r, 3, back) == 0,
          "the export is float32 [3,2]");
    int ok = 1;
    for (int k = 0; k < 6; k++)
        ok &= back[k] == (float)d[k];
    CHECK(ok, "float64 narrowed to float32");
    npy_close(&r);
    error_clear();
    CHECK(h5npy_export(&in, "/d", npy_path, 0) == EX_CANTCREAT, "an existing output is refused: %s",
          error_message());
    error_clear();
    CHECK(h5npy_export(&in, "/n", npy_path, 1) == 0 && npy_open(&r, npy_path) == 0 && r.hdr.dtype == NPY_I4,
          "int32 export");
    npy_close(&r);
    CHECK(h5npy_export(&in, "/big", npy_path, 1) == EX_DATAERR &&
              strstr(error_message(), "'/big' holds 1099511627776 (row 1), which does not fit int32"),
          "int64 beyond int32 refused: %s", error_message());
    error_clear();
    CHECK(h5npy_export(&in, "/s", npy_path, 1) == EX_DATAERR && strstr(error_message(), "not numeric"),
          "strings refused: %s", error_message());
    error_clear();
    CHECK(h5npy_export(&in, "/d", bad_path, 0) == EX_CANTCREAT, "missing folder: %s", error_message());
    error_clear();
    unsetenv("EDDP_BATCH_BYTES");
    h5in_close(&in);
    unlink(h5_path);
    unlink(npy_path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_transpose();
    test_features();
    test_checks();
    test_whole_arrays();
    test_export();
    char path[256];
    const char *files[] = {"nhwc.npy", "nan.npy", "w.npy"};
    for (int k = 0; k < 3; k++) {
        path_in(path, sizeof path, files[k]);
        unlink(path);
    }
    rmdir(dir);
    return harness_report("h5npy");
}
