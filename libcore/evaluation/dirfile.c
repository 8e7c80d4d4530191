/* dirfile — see dirfile.h. */
#include "dirfile.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dirs_from_geometry(directions *dirs)
{
    for (int i = 0; i < dirs->n_det; i++) {
        const double *u = dirs->unit + (size_t)i * dirs->n_dim;
        double offset = 0;
        for (int d = 0; d < dirs->n_dim; d++) {
            dirs->W[(size_t)i * dirs->n_dim + d] = u[d] / dirs->margin[i];
            offset += u[d] * dirs->center[d];
        }
        dirs->b[i] = (offset + dirs->threshold[i]) / dirs->margin[i];
    }
}

int dirs_from_effective(directions *dirs, int n_det, int n_dim, const double *W, const double *b,
                        const double *center, const char *step)
{
    memset(dirs, 0, sizeof *dirs);
    size_t dir = (size_t)n_det * n_dim;
    dirs->n_det = n_det;
    dirs->n_dim = n_dim;
    dirs->W = malloc(dir * sizeof(double));
    dirs->unit = malloc(dir * sizeof(double));
    dirs->b = malloc(n_det * sizeof(double));
    dirs->margin = malloc(n_det * sizeof(double));
    dirs->threshold = malloc(n_det * sizeof(double));
    dirs->center = malloc(n_dim * sizeof(double));
    if (!dirs->W || !dirs->unit || !dirs->b || !dirs->margin || !dirs->threshold || !dirs->center)
        return error_set(EX_OSERR, "out of memory for %d directions", n_det);
    snprintf(dirs->step, sizeof dirs->step, "%s", step);
    memcpy(dirs->W, W, dir * sizeof(double));
    memcpy(dirs->b, b, n_det * sizeof(double));
    memcpy(dirs->center, center, n_dim * sizeof(double));
    for (int i = 0; i < n_det; i++) {
        const double *w = W + (size_t)i * n_dim;
        double norm = 0, offset = 0;
        for (int d = 0; d < n_dim; d++)
            norm += w[d] * w[d];
        norm = sqrt(norm);
        if (!(norm > 0))
            return error_set(EX_SOFTWARE, "detector %d has a zero filter", i);
        dirs->margin[i] = 1 / norm;
        for (int d = 0; d < n_dim; d++) {
            dirs->unit[(size_t)i * n_dim + d] = w[d] / norm;
            offset += w[d] / norm * center[d];
        }
        dirs->threshold[i] = dirs->margin[i] * b[i] - offset;
    }
    return 0;
}

static int read_matrix(h5in *in, const char *name, int rows, int cols, double **out)
{
    hsize_t dims[H5IO_MAX_RANK], expect[2] = {(hsize_t)rows, (hsize_t)cols};
    if (h5in_read(in, name, H5IO_DOUBLE, cols ? 2 : 1, expect, (void **)out, dims))
        return error_code();
    size_t n = (size_t)rows * (cols ? cols : 1);
    for (size_t k = 0; k < n; k++)
        if (!isfinite((*out)[k]))
            return error_set(EX_DATAERR, "%s: dataset '%s' holds NaN or Inf", in->path, name);
    return 0;
}

int dirfile_read(h5in *in, int n_dim, const char *features_path, directions *dirs)
{
    memset(dirs, 0, sizeof *dirs);
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    if (h5in_shape(in, "/unit", &rank, dims))
        return error_code();
    if (rank != 2 || dims[0] == 0)
        return error_set(EX_DATAERR, "%s: dataset '/unit' should be [I, D] with I > 0", in->path);
    if (n_dim > 0 && dims[1] != (hsize_t)n_dim)
        return error_set(EX_DATAERR, "%s: directions have D=%llu but %s has C=%d channels", in->path,
                         (unsigned long long)dims[1], features_path, n_dim);
    dirs->n_det = (int)dims[0];
    dirs->n_dim = (int)dims[1];
    int rc = read_matrix(in, "/unit", dirs->n_det, dirs->n_dim, &dirs->unit) ||
             read_matrix(in, "/margin", dirs->n_det, 0, &dirs->margin) ||
             read_matrix(in, "/threshold", dirs->n_det, 0, &dirs->threshold) ||
             read_matrix(in, "/center", dirs->n_dim, 0, &dirs->center) ||
             (h5in_exists(in, "/S") && read_matrix(in, "/S", dirs->n_det, dirs->n_dim, &dirs->S));
    if (rc)
        return error_code();
    char *step = NULL;
    if (h5in_attr_string(in, "/", "step", &step))
        return error_code();
    snprintf(dirs->step, sizeof dirs->step, "%s", step);
    free(step);
    for (int i = 0; i < dirs->n_det; i++)
        if (!(dirs->margin[i] > 0))
            return error_set(EX_DATAERR, "%s: '/margin' of detector %d is not positive", in->path, i);
    dirs->W = error_malloc((size_t)dirs->n_det * dirs->n_dim * sizeof(double), "the detector filters");
    dirs->b = error_malloc(dirs->n_det * sizeof(double), "the detector biases");
    if (!dirs->W || !dirs->b)
        return error_code();
    dirs_from_geometry(dirs);
    return 0;
}

int dirfile_write(h5out *out, const directions *dirs)
{
    hsize_t mat[2] = {(hsize_t)dirs->n_det, (hsize_t)dirs->n_dim}, det[1] = {(hsize_t)dirs->n_det};
    hsize_t dim[1] = {(hsize_t)dirs->n_dim};
    int rc = h5out_write(out, "/W", H5IO_DOUBLE, 2, mat, dirs->W) ||
             h5out_write(out, "/b", H5IO_DOUBLE, 1, det, dirs->b) ||
             h5out_write(out, "/unit", H5IO_DOUBLE, 2, mat, dirs->unit) ||
             h5out_write(out, "/margin", H5IO_DOUBLE, 1, det, dirs->margin) ||
             h5out_write(out, "/threshold", H5IO_DOUBLE, 1, det, dirs->threshold) ||
             h5out_write(out, "/center", H5IO_DOUBLE, 1, dim, dirs->center) ||
             (dirs->S && h5out_write(out, "/S", H5IO_DOUBLE, 2, mat, dirs->S)) ||
             h5out_attr_string(out, "/", "step", dirs->step);
    return rc ? error_code() : 0;
}

int dirfile_write_history(h5out *out, const train_history *h)
{
    hsize_t epochs[1] = {(hsize_t)h->epochs_done};
    double *column = error_malloc(h->epochs_done * sizeof *column, "the training history");
    char name[64];
    int rc = column ? 0 : error_code();
    for (int c = 0; c < h->n_cols && !rc; c++) {
        for (long e = 0; e < h->epochs_done; e++)
            column[e] = h->rows[e * h->n_cols + c];
        snprintf(name, sizeof name, "/history/%s", h->names[c]);
        rc = h5out_write(out, name, H5IO_DOUBLE, 1, epochs, column);
    }
    free(column);
    hsize_t per_det[2] = {(hsize_t)h->epochs_done, (hsize_t)h->n_det};
    if (!rc)
        rc = h5out_write(out, "/history/margin", H5IO_DOUBLE, 2, per_det, h->margins) ||
             h5out_write(out, "/history/threshold", H5IO_DOUBLE, 2, per_det, h->thresholds);
    return rc ? error_code() : 0;
}

void dirs_free(directions *dirs)
{
    free(dirs->W); free(dirs->b); free(dirs->unit); free(dirs->margin);
    free(dirs->threshold); free(dirs->center); free(dirs->S);
    memset(dirs, 0, sizeof *dirs);
}
