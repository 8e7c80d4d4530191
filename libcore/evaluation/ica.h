/* ica — independent-component refinement of a detector's filter.
 *
 * EDDP applies Eq. 1 on a detector's positives because the signal values are
 * independent there (method-spec §4.4, App. B). Eq. 1 returns s_i only if the
 * filter extracts α_i alone; a detector's own filter generally mixes in the
 * other concepts (contrast) and the distractors. Independence within the
 * positives identifies such a filter up to scale: FastICA (symmetric, cubic
 * non-linearity) on the whitened positives yields one filter per independent
 * source; the source whose mean moves most between the positives and the
 * rest is the detector's concept. Eq. 1 with that filter is the refined
 * signal vector.
 *
 * Stage: evaluation (EDDP step d). In memory only, no files. */
#ifndef EDDP_ICA_H
#define EDDP_ICA_H

#include "rng.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double rel_tol;      /* keep covariance eigenvalues above rel_tol · max (1e-6) */
    int max_components;  /* cap on the whitened dimension (64) */
    int max_iter;        /* FastICA iterations (500) */
    double tol;          /* convergence: 1 − |w_newᵀ w_old| below tol (1e-10) */
    int restarts;        /* FastICA runs from independent starts (4); the source
                          * of largest mean shift over all of them is kept */
} ica_config;

void ica_config_default(ica_config *cfg);

/* Symmetric FastICA on whitened samples Z [n × k]: unmix [k × k] with
 * orthonormal rows. Returns the iterations used, or −1 on failure. */
int ica_fit(const double *Z, size_t n, int k, const ica_config *cfg, rng_state *rng, double *unmix);

/* Refines one detector from pixel vectors X [n_pix × n_dim] and its positive
 * mask: filter [n_dim] (unit norm, oriented so that it grows with the
 * concept), and signal [n_dim] by Eq. 1 on the positives with that filter
 * (filterᵀ signal = 1). *components gets the whitened dimension used.
 * FastICA runs cfg->restarts times from successive draws of rng: one start
 * can stop at a mixture of sources (on the sweep's c00/seed0, one detector's
 * signal at cosine 0.86 with the truth, 0.993 from three other starts), and
 * the source of largest mean shift over all runs is the one kept.
 * Returns 0, or −1 when there are fewer than 8 positives, no more positives
 * than components, or every run fails. */
int ica_refine(const double *X, size_t n_pix, int n_dim, const uint8_t *positive, const ica_config *cfg,
               rng_state *rng, double *filter, double *signal, int *components);

#endif
