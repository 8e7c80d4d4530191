/* headfile — see headfile.h. */
#include "headfile.h"
#include "error.h"

#include <stdlib.h>

static double *to_double(const float *src, size_t n)
{
    double *dst = malloc((n ? n : 1) * sizeof *dst);
    for (size_t k = 0; dst && k < n; k++)
        dst[k] = src[k];
    return dst;
}

int headfile_read(h5in *in, int n_dim, const char *features_path, head_params *head)
{
    float *weight = NULL, *bias = NULL;
    hsize_t wdims[H5IO_MAX_RANK], bdims[H5IO_MAX_RANK];
    if (h5in_read(in, "/weight", H5IO_FLOAT, 2, NULL, (void **)&weight, wdims))
        return error_code();
    int rc = 0;
    if (n_dim > 0 && wdims[1] != (hsize_t)n_dim)
        rc = error_set(EX_DATAERR, "%s: head '/weight' has C=%llu channels but %s has C=%d",
                       in->path, (unsigned long long)wdims[1], features_path, n_dim);
    else if (wdims[0] == 0)
        rc = error_set(EX_DATAERR, "%s: head '/weight' has no classes", in->path);
    else {
        hsize_t expect[1] = {wdims[0]};
        rc = h5in_read(in, "/bias", H5IO_FLOAT, 1, expect, (void **)&bias, bdims);
    }
    if (!rc)
        rc = h5io_check_finite(in->path, "/weight", weight, wdims[0] * wdims[1], 0) ||
             h5io_check_finite(in->path, "/bias", bias, wdims[0], 0);
    if (!rc) {
        head->n_cls = (int)wdims[0];
        head->n_dim = (int)wdims[1];
        head->weight = to_double(weight, wdims[0] * wdims[1]);
        head->bias = to_double(bias, wdims[0]);
    }
    free(weight);
    free(bias);
    return rc ? error_code() : 0;
}

int headfile_write(h5out *out, const head_params *head)
{
    size_t n = (size_t)head->n_cls * head->n_dim;
    float *weight = malloc(n * sizeof *weight), *bias = malloc(head->n_cls * sizeof *bias);
    for (size_t k = 0; k < n; k++)
        weight[k] = (float)head->weight[k];
    for (int k = 0; k < head->n_cls; k++)
        bias[k] = (float)head->bias[k];
    hsize_t wdims[2] = {head->n_cls, head->n_dim}, bdims[1] = {head->n_cls};
    int rc = h5out_write(out, "/weight", H5IO_FLOAT, 2, wdims, weight) ||
             h5out_write(out, "/bias", H5IO_FLOAT, 1, bdims, bias);
    free(weight);
    free(bias);
    return rc ? error_code() : 0;
}

void headfile_free(head_params *head)
{
    free(head->weight);
    free(head->bias);
    head->weight = head->bias = NULL;
}
