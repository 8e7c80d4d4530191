/* h5npy — see h5npy.h. */
#include "h5npy.h"
#include "batch.h"
#include "error.h"
#include "features.h"
#include "h5tree.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- import */

void h5npy_transpose_nhwc(const float *src, float *dst, size_t n, size_t hw, size_t n_dim)
{
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        const float *in = src + k * hw * n_dim;
        float *out = dst + k * hw * n_dim;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < n_dim; c++)
                out[c * hw + p] = in[p * n_dim + c];
    }
}

int h5npy_write_features(npy_reader *r, const size_t dims[4], int nhwc, h5out *out, h5npy_progress progress,
                         void *progress_ctx)
{
    size_t n_img = dims[0], n_dim = dims[1], hw = dims[2] * dims[3], per_image = n_dim * hw;
    size_t batch = batch_rows(per_image * sizeof(float), batch_bytes(), n_img);
    size_t chunk = batch_rows(per_image * sizeof(float), BATCH_CHUNK_BYTES, n_img);
    hsize_t hdims[4] = {dims[0], dims[1], dims[2], dims[3]};
    int transpose = nhwc && r->hdr.rank == 4 && hw > 1 && n_dim > 1;
    float *buf = malloc(batch * per_image * sizeof *buf);
    float *nchw = transpose ? malloc(batch * per_image * sizeof *nchw) : buf;
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf || !nchw ? error_set(EX_OSERR, "out of memory for a batch of %zu images", batch)
                           : h5out_create_dataset(out, "/features", H5IO_FLOAT, 4, hdims, chunk, &dset);
    for (size_t img0 = 0; !rc && img0 < n_img; img0 += batch) {
        size_t n = min_size(batch, n_img - img0);
        if ((rc = npy_read_float(r, n, buf)))
            break;
        if (transpose)
            h5npy_transpose_nhwc(buf, nchw, n, hw, n_dim);
        rc = features_check_finite(r->path, "features array", nchw, n, per_image, img0) ||
             h5out_write_rows(dset, "/features", H5IO_FLOAT, img0, n, nchw);
        if (progress)
            progress(progress_ctx, img0 + n, n_img);
    }
    if (dset >= 0)
        H5Dclose(dset);
    if (transpose)
        free(nchw);
    free(buf);
    return rc ? error_code() : 0;
}

int h5npy_check_labels(const char *path, const char *what, const int32_t *labels, size_t n, size_t n_classes,
                       const char *names_path)
{
    for (size_t k = 0; k < n; k++) {
        if (labels[k] < 0)
            return error_set(EX_DATAERR, "%s (%s): label %d at image %zu; labels are class indices >= 0", path,
                             what, labels[k], k);
        if (n_classes && (size_t)labels[k] >= n_classes)
            return error_set(EX_DATAERR, "%s (%s): label %d at image %zu, but %s (--class-names) names %zu classes",
                             path, what, labels[k], k, names_path, n_classes);
    }
    return 0;
}

int h5npy_write_labels(npy_reader *r, size_t n, size_t n_classes, const char *names_path, h5out *out)
{
    int32_t *labels = malloc(n * sizeof *labels);
    if (!labels)
        return error_set(EX_OSERR, "%s: out of memory for labels", r->path);
    hsize_t dims[1] = {n};
    int rc = npy_read_int32(r, n, labels) || h5npy_check_labels(r->path, "--labels", labels, n, n_classes, names_path) ||
             h5out_write(out, "/labels", H5IO_INT32, 1, dims, labels);
    free(labels);
    return rc ? error_code() : 0;
}

int h5npy_check_concepts(const char *path, const char *name, const int32_t *buf, size_t n, size_t per_image,
                         size_t img0, int multi_hot)
{
    int32_t hi = multi_hot ? 1 : INT32_MAX;
    for (size_t k = 0; k < n * per_image; k++)
        if (buf[k] < 0 || buf[k] > hi)
            return error_set(EX_DATAERR, "%s (--concepts %s): value %d at image %zu; %s", path, name, buf[k],
                             img0 + k / per_image,
                             multi_hot ? "image-level multi-hot [N,L] maps hold 0 or 1"
                                       : "pixel maps hold concept labels >= 0 (0 = none)");
    return 0;
}

int h5npy_write_concept(npy_reader *r, const char *name, h5out *out)
{
    char dset_name[300];
    snprintf(dset_name, sizeof dset_name, "/concepts/%s", name);
    int rank = r->hdr.rank;
    hsize_t dims[3];
    for (int k = 0; k < rank && k < 3; k++)
        dims[k] = r->hdr.shape[k];
    size_t per_image = r->row_elems, n_img = r->n_rows;
    size_t batch = batch_rows(per_image * sizeof(int32_t), batch_bytes(), n_img);
    size_t chunk = batch_rows(per_image * sizeof(int32_t), BATCH_CHUNK_BYTES, n_img);
    int32_t *buf = malloc((batch * per_image + 1) * sizeof *buf);
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf ? error_set(EX_OSERR, "%s: out of memory for a batch", r->path)
                  : h5out_create_dataset(out, dset_name, H5IO_INT32, rank, dims, chunk, &dset);
    for (size_t img0 = 0; !rc && img0 < n_img; img0 += batch) {
        size_t n = min_size(batch, n_img - img0);
        rc = npy_read_int32(r, n, buf) || h5npy_check_concepts(r->path, name, buf, n, per_image, img0, rank == 2) ||
             h5out_write_rows(dset, dset_name, H5IO_INT32, img0, n, buf);
    }
    if (dset >= 0)
        H5Dclose(dset);
    free(buf);
    return rc ? error_code() : 0;
}

/* ---------------------------------------------------------------- whole arrays */

int h5npy_open_float(npy_reader *r, const char *path, const char *what, int rank, const char *expected)
{
    if (npy_open(r, path))
        return error_code();
    char shape[256];
    npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
    if (!npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (%s): dtype '%s' is not floating point", path, what,
                         npy_descr(r->hdr.dtype));
    if (r->hdr.rank != rank || npy_count(&r->hdr) == 0)
        return error_set(EX_DATAERR, "%s (%s): shape %s, expected %s", path, what, shape, expected);
    return 0;
}

int h5npy_read_all_float(npy_reader *r, const char *what, float **data)
{
    uint64_t count = npy_count(&r->hdr);
    *data = malloc((count ? count : 1) * sizeof **data);
    if (!*data)
        return error_set(EX_OSERR, "%s: out of memory", r->path);
    if (npy_read_float(r, r->n_rows, *data))
        return error_code();
    for (uint64_t k = 0; k < count; k++)
        if (!isfinite((*data)[k]))
            return error_set(EX_DATAERR, "%s (%s): holds %s at element %llu", r->path, what,
                             isnan((*data)[k]) ? "NaN" : "Inf", (unsigned long long)k);
    return 0;
}

/* ---------------------------------------------------------------- export */

/* Narrows n values read as long long (is_int) or double to int32 or float32,
 * refusing values that do not fit; row0 and row_elems name the row. */
static int narrow_values(const h5in *in, const char *name, int is_int, const void *wide, void *narrow, size_t n,
                         size_t row0, size_t row_elems)
{
    for (size_t k = 0; k < n; k++) {
        if (is_int) {
            long long v = ((const long long *)wide)[k];
            if (v < INT32_MIN || v > INT32_MAX)
                return error_set(EX_DATAERR, "%s: dataset '%s' holds %lld (row %zu), which does not fit int32",
                                 in->path, name, v, row0 + k / row_elems);
            ((int32_t *)narrow)[k] = (int32_t)v;
        } else {
            double v = ((const double *)wide)[k];
            float f = (float)v;
            if (isfinite(v) && !isfinite(f))
                return error_set(EX_DATAERR, "%s: dataset '%s' holds %g (row %zu), which does not fit float32",
                                 in->path, name, v, row0 + k / row_elems);
            ((float *)narrow)[k] = f;
        }
    }
    return 0;
}

static int export_rows(h5in *in, const char *name, int is_int, size_t row_elems, size_t n_rows, npy_writer *w)
{
    size_t batch = batch_rows(row_elems * 8, batch_bytes(), n_rows);
    size_t count = batch * row_elems + 1;
    void *wide = malloc(count * 8);    /* long long or double */
    void *narrow = malloc(count * 4);  /* int32 or float */
    int rc = !wide || !narrow ? error_set(EX_OSERR, "out of memory for a batch of '%s'", name) : 0;
    for (size_t row0 = 0; !rc && row0 < n_rows; row0 += batch) {
        size_t rows = min_size(batch, n_rows - row0), n = rows * row_elems;
        rc = h5in_read_rows_as(in, name, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, row0, rows, wide) ||
             narrow_values(in, name, is_int, wide, narrow, n, row0, row_elems) ||
             npy_write_rows(w, rows, narrow);
    }
    free(wide);
    free(narrow);
    return rc ? error_code() : 0;
}

int h5npy_export(h5in *in, const char *name, const char *output, int overwrite)
{
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    char type[32];
    if (h5in_shape(in, name, &rank, dims))
        return error_code();
    H5T_class_t cls = h5in_dataset_class(in, name, type, sizeof type);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        return error_set(EX_DATAERR, "%s: dataset '%s' is %s, not numeric; only numeric datasets export to .npy",
                         in->path, name, type);
    uint64_t shape[NPY_MAX_RANK];
    size_t row_elems = 1;
    for (int k = 0; k < rank; k++) {
        shape[k] = dims[k];
        row_elems *= k ? dims[k] : 1;
    }
    npy_writer w;
    memset(&w, 0, sizeof w);
    int rc = npy_writer_create(&w, output, overwrite, cls == H5T_INTEGER ? NPY_I4 : NPY_F4, rank, shape);
    if (!rc)
        rc = export_rows(in, name, cls == H5T_INTEGER, row_elems, rank ? dims[0] : 1, &w) || npy_writer_commit(&w);
    if (rc)
        npy_writer_abort(&w);
    return rc ? error_code() : 0;
}
