/* headfile — see headfile.h. */
#include "headfile.h"
#include "error.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

int headfile_read(h5in *in, int n_dim, const char *features_path, head_params *head)
{
    double *weight = NULL, *bias = NULL;
    hsize_t wdims[H5IO_MAX_RANK], bdims[H5IO_MAX_RANK];
    if (h5in_read(in, "/weight", H5IO_DOUBLE, 2, NULL, (void **)&weight, wdims))
        return error_code();
    int rc = 0;
    if (n_dim > 0 && wdims[1] != (hsize_t)n_dim)
        rc = error_set(EX_DATAERR, "%s: head '/weight' has C=%llu channels but %s has C=%d",
                       in->path, (unsigned long long)wdims[1], features_path, n_dim);
    else if (wdims[0] < 2)
        rc = error_set(EX_DATAERR, "%s: head '/weight' has %llu class%s, a head needs at least 2", in->path,
                       (unsigned long long)wdims[0], wdims[0] == 1 ? "" : "es");
    else if (wdims[0] > INT_MAX || wdims[1] > INT_MAX)
        rc = error_set(EX_DATAERR, "%s: head '/weight' declares shape [%llu,%llu], more than this toolkit "
                       "can address", in->path, (unsigned long long)wdims[0], (unsigned long long)wdims[1]);
    else {
        hsize_t expect[1] = {wdims[0]};
        rc = h5in_read(in, "/bias", H5IO_DOUBLE, 1, expect, (void **)&bias, bdims);
    }
    for (size_t k = 0; !rc && k < wdims[0] * wdims[1]; k++)
        if (!isfinite(weight[k]))
            rc = error_set(EX_DATAERR, "%s: dataset '/weight' holds NaN or Inf (element %zu)", in->path, k);
    for (size_t k = 0; !rc && k < wdims[0]; k++)
        if (!isfinite(bias[k]))
            rc = error_set(EX_DATAERR, "%s: dataset '/bias' holds NaN or Inf (element %zu)", in->path, k);
    if (rc) {
        free(weight);
        free(bias);
        return error_code();
    }
    head->n_cls = (int)wdims[0];
    head->n_dim = (int)wdims[1];
    head->weight = weight;
    head->bias = bias;
    return 0;
}

int headfile_write(h5out *out, const head_params *head)
{
    /* float64: a head trained on Table 6's tiny channels has weights ~1e4
     * whose float32 rounding moves logits by ~1e-2. */
    hsize_t wdims[2] = {head->n_cls, head->n_dim}, bdims[1] = {head->n_cls};
    int rc = h5out_write(out, "/weight", H5IO_DOUBLE, 2, wdims, head->weight) ||
             h5out_write(out, "/bias", H5IO_DOUBLE, 1, bdims, head->bias);
    return rc ? error_code() : 0;
}

void headfile_free(head_params *head)
{
    free(head->weight);
    free(head->bias);
    head->weight = head->bias = NULL;
}
