/* dirfile — the directions file (format eddp-directions, man/man5/eddp-files.5):
 * concept detectors y = σ(W x − b) in the raw feature space, their unit
 * directions, margins and thresholds, signal vectors, and the training
 * history. Written by uibe and eddp, read by eddp, iou-label and regress.
 *
 * Stage: evaluation (the directions every evaluation reads). Reads and
 * writes eddp-directions files. */
#ifndef EDDP_DIRFILE_H
#define EDDP_DIRFILE_H

#include "h5io.h"
#include "train.h"

typedef struct {
    int n_det, n_dim;
    double *W;          /* [n_det × n_dim] effective filters, raw space */
    double *b;          /* [n_det] */
    double *unit;       /* [n_det × n_dim] ū_i = w_i/‖w_i‖ */
    double *margin;     /* [n_det] M_i = 1/‖w_i‖ */
    double *threshold;  /* [n_det] t_i = M_i b_i − ū_iᵀ x̄ */
    double *center;     /* [n_dim] x̄, the origin of the thresholds */
    double *S;          /* [n_det × n_dim] signal vectors, NULL when absent */
    char step[8];       /* "a", "b", "c" or "d" */
} directions;

/* Fills W and b from unit, margin, threshold and center. */
void dirs_from_geometry(directions *dirs);
/* Allocates dirs for n_det × n_dim and derives unit, margin and threshold
 * from effective raw filters W, biases b and the threshold origin center:
 * M_i = 1/‖w_i‖, ū_i = M_i w_i, t_i = M_i b_i − ū_iᵀ center. */
int dirs_from_effective(directions *dirs, int n_det, int n_dim, const double *W, const double *b,
                        const double *center, const char *step);
int dirfile_read(h5in *in, int n_dim, const char *features_path, directions *dirs);
int dirfile_write(h5out *out, const directions *dirs);
int dirfile_write_history(h5out *out, const train_history *history);
void dirs_free(directions *dirs);

#endif
