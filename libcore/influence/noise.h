/* noise — the EDDP paper's noise signal vectors (App. F; method-spec §6.4,
 * §9 row 20): the null directions of the RCAV permutation test.
 *
 * Per concept detector i:
 *  (a) its positives and negatives are the concept dataset's pixels with
 *      y_i > ½ (logit > 0) and the rest;
 *  (b) a balanced sample of m positives and m negatives,
 *      m = min(#positives, #negatives, max_sample/2), uniform without
 *      replacement. The paper's pool (all positives and at most 20× as many
 *      negatives) does not change this draw: m ≤ #positives, and a uniform
 *      m-subset of a uniform 20·#positives-subset of the negatives is a
 *      uniform m-subset of the negatives, so the negatives are drawn from all
 *      of them directly. Drawn by reservoir sampling in one pass over the
 *      pixels (capacity max_sample/2 per side), then thinned to m;
 *  (c) per noise vector n a fresh permutation of the sample's labels — a
 *      random arrangement of m ones and m zeros over the 2m samples, which
 *      by construction does not depend on which samples were positive — and
 *      a logistic regression (BCE, full batch, Adam, lr 0.01, 100 epochs,
 *      zero initialisation) trained on it;
 *  (d) the noise signal vector: Eq. 1 (signal.h) on the classifier's
 *      positives (logit > 0) in the sample, z = its unit filter's output.
 *
 * Randomness: detector i (its index in the whole directions file) draws
 * from rng stream (RNG_STREAM_NOISE << 32) + i of the seed, so its noise
 * vectors do not depend on which other detectors a run (or a shard) holds.
 * The N classifiers of a detector are trained together (one product for all
 * their logits); computation inside noise_train is single-threaded BLAS
 * when called inside an OpenMP region, so the result does not depend on the
 * thread count.
 *
 * Stage: influence. In memory only, no files. */
#ifndef EDDP_NOISE_H
#define EDDP_NOISE_H

#include "rng.h"

#include <stddef.h>
#include <stdint.h>

#define RNG_STREAM_NOISE 8

typedef struct {
    int n_noise;      /* N noise vectors per detector (100) */
    int max_sample;   /* balanced sample size bound (5000) */
    int epochs;       /* 100 */
    double lr;        /* 0.01 */
    uint64_t seed;
} noise_config;

/* Reservoirs of positive and negative pixel indices, one pair per detector. */
typedef struct {
    size_t n_det, cap;        /* cap = max_sample / 2 per side */
    size_t *pos, *neg;        /* [n_det × cap] pixel indices */
    uint64_t *n_pos, *n_neg;  /* [n_det] pixels seen on each side */
    rng_state *rng;           /* [n_det] each detector's generator */
} noise_pools;

/* det_index [n_det]: each detector's index in the whole directions file (its
 * rng stream). 0 ok, -1 out of memory. */
int noise_pools_init(noise_pools *np, size_t n_det, const int *det_index, const noise_config *cfg);
void noise_pools_free(noise_pools *np);
/* Adds a block of n_pix pixels with global indices pix0, pix0+1, ...:
 * logits A [n_pix × lda], the pools' detector r in column col0 + r. Pixels
 * must come in increasing order. OpenMP over detectors. */
void noise_pools_add(noise_pools *np, const double *A, size_t n_pix, size_t lda, size_t col0, size_t pix0);
/* Detector r's balanced sample: writes m positive then m negative pixel
 * indices into idx [2·cap] (each side in increasing pixel order) and
 * returns m (continuing the detector's generator). */
size_t noise_pools_sample(noise_pools *np, size_t r, size_t *idx);

/* The N noise vectors of one detector from its sample X [2m × n_dim]
 * (float, first m rows its positives: only the count matters). S
 * [n_noise × n_dim] ← the noise signal vectors, alive [n_noise] 1 estimated,
 * 0 dead (classifier with < 2 positives or constant z; row set to 0).
 * rng continues the detector's generator. 0 ok, -1 out of memory. */
int noise_train(const float *X, size_t m, int n_dim, const noise_config *cfg, rng_state *rng, double *S,
                int *alive);

/* The loss the noise classifiers minimise and its gradient. params
 * [n_dim × n_noise + n_noise]: W (column c = classifier c's filter), then
 * the biases b; Y [n × n_noise] each classifier's labels (0/1). The loss is
 * Σ_c (1/n) Σ_p BCE(σ(x_pᵀw_c + b_c), Y[p,c]); its gradient is
 * dW = Xᵀ R, db = Σ_p R, R = (σ(XW + b) − Y)/n.
 * noise_bce_reference: in double, by loops (the tests' reference; grads may
 * be NULL). noise_bce_gradient: the training path, logits and products in
 * float (X [n × n_dim], Wf the float W), scratch L [n × n_noise] and
 * G [n_dim × n_noise]; grads as above, in double. */
double noise_bce_reference(const double *X, size_t n, int n_dim, int n_noise, const double *params, const float *Y,
                           double *grads);
void noise_bce_gradient(const float *X, size_t n, int n_dim, int n_noise, const float *Wf, const double *b,
                        const float *Y, float *L, float *G, double *grads);

/* The labels of noise vector n: random arrangement of m ones and m zeros
 * (labels [2m], 1.0f or 0.0f); perm [2m] scratch. */
void noise_permuted_labels(rng_state *rng, size_t m, size_t *perm, float *labels);

#endif
