/* featstats — per-channel statistics of a feature file's /features, for
 * describing a file (featdump --info): mean, standard deviation (divisor n),
 * minimum and maximum of every channel over all images and pixels.
 *
 * One streaming pass: each batch's mean and squared deviations are computed
 * in double and merged into the running ones by Chan et al.'s pairwise
 * formula, so memory stays at one batch. NaN and Inf are left out of the
 * statistics and counted. (features_channel_sums/_sqdev compute the
 * standardisation uibe uses, in two passes, refusing NaN; this is the
 * tolerant, descriptive one.) */
#ifndef EDDP_FEATSTATS_H
#define EDDP_FEATSTATS_H

#include "h5io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double mean, m2, min, max;   /* m2: sum of squared deviations from mean */
    uint64_t count, nonfinite;   /* finite values seen; NaN and Inf left out */
} featstats_channel;

/* stats[0..n_dim) before any value: count 0, min +Inf, max -Inf. */
void featstats_init(featstats_channel *stats, size_t n_dim);
/* Merges channel c of a batch buf [n_img × n_dim × hw] (NCHW float) into s. */
void featstats_add(featstats_channel *s, const float *buf, size_t n_img, size_t n_dim, size_t hw, size_t c);
/* Merges every channel of the batch (OpenMP over channels). */
void featstats_add_batch(featstats_channel *stats, const float *buf, size_t n_img, size_t n_dim, size_t hw);
/* sqrt(m2 / count); NaN when no finite value was seen. */
double featstats_std(const featstats_channel *s);

/* Streams /features of in (rank 4, floating point) in batches of
 * batch_bytes() and returns stats [C] (new array, free()) and dims N,C,H,W.
 * progress (may be NULL) is called after each batch with images done/total. */
int featstats_read(h5in *in, featstats_channel **stats, size_t dims[4],
                   void (*progress)(void *ctx, size_t done, size_t total), void *progress_ctx);

#endif
