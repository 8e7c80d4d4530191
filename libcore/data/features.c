/* features — see features.h. */
#include "features.h"
#include "error.h"
#include "head.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

int features_open(features_file *ff, h5in *in)
{
    hsize_t dims[H5IO_MAX_RANK];
    hsize_t expect[4] = {0, 0, 0, 0};
    ff->in = in;
    if (h5in_check(in, "/features", H5IO_FLOAT, 4, expect, dims))
        return error_code();
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[3] == 0)
        return error_set(EX_DATAERR, "%s: dataset '/features' is empty (shape [%llu,%llu,%llu,%llu])",
                         in->path, (unsigned long long)dims[0], (unsigned long long)dims[1],
                         (unsigned long long)dims[2], (unsigned long long)dims[3]);
    /* Tools index channels and pixels with int and images × values with size_t. */
    size_t values;
    if (dims[1] > INT_MAX || dims[2] > INT_MAX || dims[3] > INT_MAX || dims[2] * dims[3] > INT_MAX || dims[0] > INT_MAX ||
        __builtin_mul_overflow((size_t)dims[0], (size_t)(dims[1] * dims[2] * dims[3]), &values) ||
        __builtin_mul_overflow(values, sizeof(double), &values))
        return error_set(EX_DATAERR, "%s: dataset '/features' declares shape [%llu,%llu,%llu,%llu], more than "
                         "this toolkit can address", in->path, (unsigned long long)dims[0],
                         (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3]);
    ff->n_img = dims[0];
    ff->n_dim = dims[1];
    ff->height = dims[2];
    ff->width = dims[3];
    return 0;
}

int features_read_images(const features_file *ff, size_t img0, size_t n, float *buf)
{
    if (h5in_read_rows(ff->in, "/features", H5IO_FLOAT, img0, n, buf))
        return error_code();
    size_t per_image = ff->n_dim * ff->height * ff->width;
    return features_check_finite(ff->in->path, "dataset '/features'", buf, n, per_image, img0);
}

int features_check_finite(const char *path, const char *what, const float *buf, size_t n_img,
                          size_t per_image, size_t img0)
{
    if (!h5io_check_finite(path, what, buf, n_img * per_image, per_image))
        return 0;
    /* h5io counts rows from the start of the batch: name the image in the
     * whole file instead (a serial scan, on the failure path only). */
    size_t bad = 0;
    while (bad < n_img * per_image && isfinite(buf[bad]))
        bad++;
    return error_replace(EX_DATAERR, "%s: %s holds %s at image %zu (element %zu of the image)", path,
                         what, isnan(buf[bad]) ? "NaN" : "Inf", img0 + bad / per_image, bad % per_image);
}

int features_check_labels(const features_file *ff, const int32_t *labels, int n_cls)
{
    for (size_t k = 0; k < ff->n_img; k++)
        if (labels[k] < 0 || labels[k] >= n_cls)
            return error_set(EX_DATAERR, "%s: dataset '/labels' holds %d at image %zu, expected a class in [0, %d)",
                             ff->in->path, labels[k], k, n_cls);
    return 0;
}

int features_read_labels(const features_file *ff, int32_t **labels, int n_cls)
{
    hsize_t dims[H5IO_MAX_RANK], expect[1] = {ff->n_img};
    if (h5in_read(ff->in, "/labels", H5IO_INT32, 1, expect, (void **)labels, dims))
        return error_code();
    if (n_cls > 0 && features_check_labels(ff, *labels, n_cls)) {
        free(*labels);
        *labels = NULL;
        return error_code();
    }
    return 0;
}

size_t features_batch_images(const features_file *ff, size_t target_bytes)
{
    size_t per_image = ff->n_dim * ff->height * ff->width * sizeof(float);
    size_t n = target_bytes / (per_image ? per_image : 1);
    if (n < 1)
        n = 1;
    return n < ff->n_img ? n : ff->n_img;
}

int features_pool_all(const features_file *ff, double *pooled)
{
    size_t batch = features_batch_images(ff, 64u << 20);
    size_t hw = ff->height * ff->width, n_dim = ff->n_dim;
    float *buf = malloc(batch * n_dim * hw * sizeof *buf);
    if (!buf)
        return error_set(EX_OSERR, "%s: out of memory pooling features", ff->in->path);
    int rc = 0;
    for (size_t img0 = 0; img0 < ff->n_img && !rc; img0 += batch) {
        size_t n = ff->n_img - img0 < batch ? ff->n_img - img0 : batch;
        if ((rc = features_read_images(ff, img0, n, buf)))
            break;
        head_pool(buf, (int)n, (int)n_dim, (int)hw, pooled + img0 * n_dim);
    }
    free(buf);
    return rc;
}

void features_channel_sums(const float *feat, size_t n_img, int n_dim, size_t hw, double *sum)
{
#pragma omp parallel for schedule(static)
    for (int d = 0; d < n_dim; d++) {
        double acc = sum[d];
        for (size_t n = 0; n < n_img; n++) {
            const float *plane = feat + (n * n_dim + d) * hw;
            for (size_t p = 0; p < hw; p++)
                acc += plane[p];
        }
        sum[d] = acc;
    }
}

void features_channel_sqdev(const float *feat, size_t n_img, int n_dim, size_t hw, const double *mean,
                            double *sumsq)
{
#pragma omp parallel for schedule(static)
    for (int d = 0; d < n_dim; d++) {
        double acc = sumsq[d], mu = mean[d];
        for (size_t n = 0; n < n_img; n++) {
            const float *plane = feat + (n * n_dim + d) * hw;
            for (size_t p = 0; p < hw; p++)
                acc += (plane[p] - mu) * (plane[p] - mu);
        }
        sumsq[d] = acc;
    }
}

void features_channel_mean(const double *sum, int n_dim, size_t count, double *mean)
{
    for (int d = 0; d < n_dim; d++)
        mean[d] = sum[d] / (double)count;
}

void features_channel_std(const double *sumsq, int n_dim, size_t count, double *std)
{
    for (int d = 0; d < n_dim; d++)
        std[d] = sqrt(sumsq[d] / (double)count);
}
