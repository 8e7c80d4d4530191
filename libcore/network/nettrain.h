/* nettrain — training and applying the network of net.h on an image set:
 * mini-batches in a shuffled order per epoch, dropout masks per batch,
 * cross-entropy, Adam on a double master copy of the parameters (the network
 * computes in float), a per-epoch history and progress with an ETA.
 *
 * Reproducibility: the order of epoch e and the masks of batch b are
 * functions of (seed, e, b) only; with the same thread count the run is
 * bit-identical.
 *
 * Stage: network. Works on an image set in memory; progress on stderr. */
#ifndef EDDP_NETTRAIN_H
#define EDDP_NETTRAIN_H

#include "cli.h"
#include "imageset.h"
#include "net.h"

#include <stdint.h>

typedef struct {
    long epochs;
    int batch;              /* images per batch (the last one of an epoch may be smaller) */
    double lr;              /* Adam's learning rate */
    uint64_t seed;
    const cli_common *cli;  /* progress; NULL = none */
} nettrain_config;

typedef struct {
    long epochs;
    double *loss;           /* [epochs] mean cross-entropy of the epoch's batches (nats, dropout on) */
    double *accuracy;       /* [epochs] training accuracy of those forward passes */
    double *seconds;        /* [epochs] wall-clock time of the epoch */
} nettrain_history;

/* Trains params [arch->n_params] (double; initialised by the caller) on the
 * whole set. history gets cfg->epochs rows (allocated here; free with
 * nettrain_history_free). EX_SOFTWARE when the loss turns NaN or Inf. */
int nettrain_run(const nettrain_config *cfg, const net_arch *arch, const imageset *set, double *params,
                 nettrain_history *history);
void nettrain_history_free(nettrain_history *history);

/* The last convolution's activations (after its ReLU; no dropout) of every
 * image: features [N × C × H × W] (NCHW), C, H, W of that layer. */
int nettrain_features(const net_arch *arch, const float *params, const imageset *set, float *features);

#endif
