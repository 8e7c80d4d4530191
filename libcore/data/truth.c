/* truth — the ground truth of a synthetic features file; see truth.h. */
#include "truth.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

static int read_alpha_ranges(h5in *in, truth *t)
{
    double on[2], off[2];
    t->on_lo = t->off_hi = 2.5;
    if (!h5in_attr_exists(in, "/", "alpha_on") || !h5in_attr_exists(in, "/", "alpha_off"))
        return 0;
    if (h5in_attr_doubles(in, "/", "alpha_on", on, 2) || h5in_attr_doubles(in, "/", "alpha_off", off, 2))
        return error_code();
    t->on_lo = on[0];
    t->off_hi = off[1];
    return 0;
}

int truth_read(h5in *in, const features_file *ff, truth *t)
{
    hsize_t dims[H5IO_MAX_RANK];
    hsize_t sdims[2] = {0, ff->n_dim}, cdims[3] = {ff->n_img, ff->height, ff->width};
    memset(t, 0, sizeof *t);
    int rc = h5in_read(in, "/truth/S", H5IO_DOUBLE, 2, sdims, (void **)&t->S, dims);
    if (!rc) {
        t->n_con = (int)dims[0];
        rc = h5in_read(in, "/truth/D", H5IO_DOUBLE, 2, sdims, (void **)&t->Dm, dims);
    }
    if (!rc) {
        t->n_dis = (int)dims[0];
        hsize_t adims[4] = {ff->n_img, (hsize_t)t->n_con, ff->height, ff->width};
        rc = h5in_read(in, "/truth/alpha", H5IO_FLOAT, 4, adims, (void **)&t->alpha, dims) ||
             h5in_read(in, "/concepts/concept", H5IO_INT32, 3, cdims, (void **)&t->concept, dims) ||
             read_alpha_ranges(in, t);
    }
    if (rc) {
        truth_free(t);
        return error_code();
    }
    return 0;
}

void truth_free(truth *t)
{
    free(t->S);
    free(t->Dm);
    free(t->alpha);
    free(t->concept);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- writer */

int truth_rows_create(truth_rows *w, h5out *out, size_t n_img, int n_con, int n_dis, size_t height,
                      size_t width, size_t chunk_rows)
{
    hsize_t h = height, wd = width;
    hsize_t cdims[3] = {n_img, h, wd}, adims[4] = {n_img, (hsize_t)n_con, h, wd};
    hsize_t bdims[4] = {n_img, (hsize_t)n_dis, h, wd};
    memset(w, 0, sizeof *w);
    if (h5out_create_dataset(out, "/concepts/concept", H5IO_INT32, 3, cdims, chunk_rows, &w->concept) ||
        h5out_create_dataset(out, "/truth/alpha", H5IO_FLOAT, 4, adims, chunk_rows, &w->alpha) ||
        h5out_create_dataset(out, "/truth/beta", H5IO_FLOAT, 4, bdims, chunk_rows, &w->beta)) {
        truth_rows_close(w);
        return error_code();
    }
    return 0;
}

int truth_write_rows(truth_rows *w, size_t img0, size_t n, const int32_t *concept, const float *alpha,
                     const float *beta)
{
    if (h5out_write_rows(w->concept, "/concepts/concept", H5IO_INT32, img0, n, concept) ||
        h5out_write_rows(w->alpha, "/truth/alpha", H5IO_FLOAT, img0, n, alpha) ||
        h5out_write_rows(w->beta, "/truth/beta", H5IO_FLOAT, img0, n, beta))
        return error_code();
    return 0;
}

void truth_rows_close(truth_rows *w)
{
    h5out_close_dataset(&w->concept);
    h5out_close_dataset(&w->alpha);
    h5out_close_dataset(&w->beta);
}

int truth_write_meta(h5out *out, const truth_meta *m)
{
    hsize_t sdims[2] = {(hsize_t)m->n_con, (hsize_t)m->n_dim}, ddims[2] = {(hsize_t)m->n_dis, (hsize_t)m->n_dim};
    hsize_t odims[1] = {(hsize_t)m->n_dim};
    double *offset = error_malloc((size_t)m->n_dim * sizeof *offset, "the truth's offset");
    if (!offset)
        return error_code();
    for (int d = 0; d < m->n_dim; d++)
        offset[d] = m->offset;
    int rc = h5out_write(out, "/truth/S", H5IO_DOUBLE, 2, sdims, m->S) ||
             h5out_write(out, "/truth/D", H5IO_DOUBLE, 2, ddims, m->Dm) ||
             h5out_write(out, "/truth/offset", H5IO_DOUBLE, 1, odims, offset) ||
             h5out_attr_strings(out, "/concepts/concept", "names", m->concept_names, (size_t)m->n_con) ||
             h5out_attr_doubles(out, "/", "alpha_on", m->alpha_on, 2) ||
             h5out_attr_doubles(out, "/", "alpha_off", m->alpha_off, 2);
    free(offset);
    return rc ? error_code() : 0;
}
