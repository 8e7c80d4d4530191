/* headfile — the head file (format eddp-head): /weight [K, C], /bias [K]
 * (any float type; trainhead writes float64, featdump float32), optional
 * /class_names [K] strings. Written by trainhead
 * and featdump, read by every tool that needs f+.
 *
 * Stage: model. Reads and writes eddp-head files. */
#ifndef EDDP_HEADFILE_H
#define EDDP_HEADFILE_H

#include "h5io.h"

typedef struct {
    int n_cls, n_dim;
    double *weight;   /* [n_cls × n_dim] V */
    double *bias;     /* [n_cls] c */
} head_params;

/* Reads and checks a head; n_dim > 0 demands that many channels (the
 * features' C), naming both files in the error. */
int headfile_read(h5in *in, int n_dim, const char *features_path, head_params *head);
int headfile_write(h5out *out, const head_params *head);
void headfile_free(head_params *head);

#endif
