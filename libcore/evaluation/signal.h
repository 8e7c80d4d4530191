/* signal — encoding-direction estimates: signal vectors (Eq. 1 on each
 * detector's positives, method-spec §4.4), the signal-value estimator
 * (Eq. 17, §4.5), Pattern-CAVs (μ₊ − μ₋, §1.1) and row cosines.
 *
 * Layout (row-major, double): pixel vectors X [n_pix × n_dim], logits
 * A [n_pix × n_det], filter outputs Z [n_pix × n_det], filters W and signal
 * vectors S [n_det × n_dim].
 *
 * Determinism: the accumulators parallelise over detectors (concepts), and
 * each detector's sums run over pixels in input order, so results are
 * bit-identical for every thread count and for every way of splitting the
 * same pixels into consecutive batches.
 *
 * Stage: evaluation (EDDP steps c and d, regress). In memory only, no
 * files. */
#ifndef EDDP_SIGNAL_H
#define EDDP_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

/* A detector whose positives have Σ(z−z̄)² ≤ tol · Σz² (var z tiny next to
 * the magnitude of z, e.g. a constant filter output) is reported dead: the
 * rounding error of z itself would then be a visible part of var z. */
#define SIGNAL_VAR_REL_TOL 1e-12

/* Streaming Eq. 1 statistics of each detector's positives (logit > 0).
 * Sums are of (x − x0_i) and (z − z0_i), shifted by the detector's first
 * positive pixel, so a large common offset (post-ReLU features) does not
 * cancel catastrophically in Σ(z − z̄)²; Eq. 1 is shift-invariant. */
typedef struct {
    size_t n_det, n_dim;
    double *n;          /* [n_det] number of positives */
    double *sum_z;      /* [n_det] Σ (z − z0) */
    double *sum_zz;     /* [n_det] Σ (z − z0)² */
    double *sum_x;      /* [n_det × n_dim] Σ (x − x0) */
    double *sum_xz;     /* [n_det × n_dim] Σ (x − x0)(z − z0) */
    double *x0;         /* [n_det × n_dim] shift: first positive's x */
    double *z0;         /* [n_det] shift: first positive's z */
} signal_accum;

/* 0 ok, -1 allocation failure (acc is then left freed). */
int signal_accum_init(signal_accum *acc, size_t n_det, size_t n_dim);
void signal_accum_free(signal_accum *acc);
void signal_accum_reset(signal_accum *acc);

/* Adds one batch. X [n_pix × n_dim]; A [n_pix × n_det] logits (pixel p is a
 * positive of detector i iff A[p,i] > 0); Z [n_pix × n_det] filter outputs
 * z = ū_iᵀx, passed in, not recomputed. */
void signal_accum_add(signal_accum *acc, const double *X, const double *A,
                      const double *Z, size_t n_pix);

/* S [n_det × n_dim]: row i ← ŝ_i = Σ(x−x̄)(z−z̄) / Σ(z−z̄)² when detector i is
 * alive; rows of dead detectors (< 2 positives, or var z ≈ 0 by
 * SIGNAL_VAR_REL_TOL) are left unchanged. alive [n_det]: 1 estimated, 0 dead.
 * Returns the number of dead detectors. */
size_t signal_accum_finish(const signal_accum *acc, double *S, int *alive);

/* One-shot Eq. 1 over a single batch (init + add + finish + free).
 * Returns 0 ok, -1 allocation failure (S, alive untouched). */
int signal_estimate(const double *X, const double *A, const double *Z,
                    size_t n_pix, size_t n_det, size_t n_dim,
                    double *S, int *alive);

/* Eq. 17: A_hat[p,i] = (w_iᵀx_p − w_iᵀE[x]) / (w_iᵀŝ_i).
 * W, S [n_det × n_dim]; mean_x [n_dim] dataset mean E[x]; X [n_pix × n_dim];
 * A_hat [n_pix × n_det]. Returns 0 ok, -1 if some w_iᵀŝ_i is 0 or not finite
 * (A_hat untouched). */
int signal_value_estimate(const double *W, const double *S,
                          const double *mean_x, const double *X,
                          size_t n_pix, size_t n_det, size_t n_dim,
                          double *A_hat);

/* Streaming Pattern-CAV v_c = μ₊ − μ₋ per concept from binary pixel labels.
 * Labels T [n_pix × n_con] (int8): 1 positive, 0 negative, < 0 not annotated
 * for that concept (skipped, as cells of images without the category). */
typedef struct {
    size_t n_con, n_dim;
    double *n_pos, *n_neg;      /* [n_con] */
    double *sum_pos, *sum_neg;  /* [n_con × n_dim] Σx over positives/negatives */
} signal_pcav_accum;

int signal_pcav_init(signal_pcav_accum *acc, size_t n_con, size_t n_dim);
void signal_pcav_free(signal_pcav_accum *acc);
void signal_pcav_add(signal_pcav_accum *acc, const double *X,
                     const int8_t *T, size_t n_pix);
/* V [n_con × n_dim]: row c ← μ₊ − μ₋ where the concept has at least one
 * positive and one negative (alive[c] = 1); other rows unchanged (alive 0).
 * Returns the number of concepts left unchanged. */
size_t signal_pcav_finish(const signal_pcav_accum *acc, double *V, int *alive);

/* cos[r] = cosine of row r of P and row r of Q (both [n_rows × n_dim]);
 * 0 where either row is zero. */
void signal_cosine_rows(const double *P, const double *Q, size_t n_rows,
                        size_t n_dim, double *cos);
/* C [n_p × n_q]: C[a,b] = cosine of row a of P [n_p × n_dim] and row b of
 * Q [n_q × n_dim]; 0 where either row is zero. */
void signal_cosine_matrix(const double *P, size_t n_p, const double *Q,
                          size_t n_q, size_t n_dim, double *C);

/* Filter leakage against a known truth (synthetic sets): how much of the
 * other signals and of the distractors reaches a filter's output, relative
 * to its own concept's. W [n_det × n_dim] filters; signals [n_con × n_dim],
 * distractors [n_dis × n_dim] the true directions; match [n_det] each
 * filter's concept (−1: none). leak_signal[i] = max_{k≠match} |w_i·s_k| /
 * |w_i·s_match|, leak_distractor[i] = max_f |w_i·d_f| / |w_i·s_match|: 0 for
 * the ideal filter; NAN for an unmatched filter. */
void signal_leakage(const double *W, size_t n_det, const double *signals,
                    size_t n_con, const double *distractors, size_t n_dis,
                    size_t n_dim, const int *match, double *leak_signal,
                    double *leak_distractor);

#endif
