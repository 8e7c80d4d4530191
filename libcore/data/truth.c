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
