/* inflrun — one rcav run over a range of detectors: the pass over the
 * concept dataset that draws each detector's balanced sample, then per
 * detector its N noise vectors and the sensitivities and p-values of its
 * signal vector (method-spec §6.4). OpenMP over detectors; each detector's
 * work is single-threaded and depends only on the seed and its index, so a
 * range gives the same rows whatever the other detectors of the run and
 * the thread count. The logits of the concept pixels come from one product
 * for all detectors of the file in fixed blocks of images (the same product
 * in every shard).
 *
 * Stage: influence (rcav(1)). Reads the concept set's features or cache
 * in one pass; writes nothing itself (inflfile.h does). */
#ifndef EDDP_INFLRUN_H
#define EDDP_INFLRUN_H

#include "dirfile.h"
#include "inflfile.h"
#include "influence.h"
#include "learn.h"
#include "noise.h"

typedef struct {
    const double *head_weight;   /* [n_cls × n_dim] */
    const influence_eval *ev;    /* evaluation images */
    const directions *dirs;      /* W, b, S of all detectors */
    const learn_set *concepts;   /* concept dataset, in memory */
    noise_config noise;
    /* Called from one thread with detectors done of total; may be NULL. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
} influence_job;

/* Fills r (allocated by the caller for rows det_lo..det_hi, settings set):
 * SC, p, noise_SC, noise_S, noise_alive, sample_size. */
int influence_run(const influence_job *job, influence_result *r);

#endif
