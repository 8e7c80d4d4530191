/* param — parametrisations of the detector parameters (method-spec §2,
 * §4.1, §4.6, §9 #3–#4), each a forward/backward pair, plus the exact
 * conversion of standardised step-(a) detectors to raw feature space.
 *
 * Backward functions ACCUMULATE into their output gradient (as in losses.h).
 * Shapes are row-major: one row per detector.
 *
 * Stage: model. In memory only, no files. */
#ifndef EDDP_PARAM_H
#define EDDP_PARAM_H

#include <stddef.h>

#include "rng.h"

/* ---- unit sphere: ū_i = v_i/‖v_i‖ ------------------------------------------
 * V, U [n_det × n_dim]; U may equal V (in place, e.g. to re-normalise the
 * free vectors after an optimiser step). Non-zero if a row of V has zero
 * (or non-finite) norm; U is then unspecified. */
int param_sphere_forward(const double *V, size_t n_det, size_t n_dim,
                         double *U);
/* dV_i += (I − ū_iū_iᵀ) dU_i / ‖v_i‖ */
void param_sphere_backward(const double *V, size_t n_det, size_t n_dim,
                           const double *dU, double *dV);

/* ---- positive margins: M_i = exp(m_i) ---------------------------------------- */
void param_margin_forward(const double *m, size_t n, double *M);
/* dm_i += M_i dM_i */
void param_margin_backward(const double *M, size_t n, const double *dM,
                           double *dm);

/* ---- orthonormal filters (step a): Householder product -----------------------
 * Parameters: n_det Householder vectors, rows of Vh [n_det × n_dim];
 *     W̃ᵀ = H_1 H_2 ⋯ H_{n_det} E,  H_k = I − 2 v_k v_kᵀ/‖v_k‖²,
 * E the first n_det columns of the n_dim×n_dim identity, so the rows of
 * W̃ [n_det × n_dim] are orthonormal. Each v_k is scale-free (only its
 * direction matters; the gradient is orthogonal to v_k).
 * Cost O(n_det² n_dim), no n_dim × n_dim matrices.
 * Non-zero status if n_det > n_dim, n_det == 0, or some v_k is zero. */
int param_householder_forward(const double *Vh, size_t n_det, size_t n_dim,
                              double *W);
/* dVh += ∂⟨dW, W̃(Vh)⟩/∂Vh exactly. W is the forward's output for this Vh
 * (the backward walks the product from it, undoing one reflection at a
 * time, as each H_k is its own inverse). Non-zero status as the forward,
 * or on allocation failure. */
int param_householder_backward(const double *Vh, const double *W,
                               size_t n_det, size_t n_dim, const double *dW,
                               double *dVh);
/* Random orthonormal start: the Householder vectors LAPACK's dgeqrf finds
 * for an n_dim × n_det matrix of N(0,1) draws (v_k zero above entry k, one
 * at entry k), so W̃ᵀ is exactly the first n_det columns of that matrix's
 * Q factor (what dorgqr returns). Non-zero status on bad sizes, a LAPACK
 * failure, or allocation failure. */
int param_householder_init(rng_state *rng, size_t n_det, size_t n_dim,
                           double *Vh);

/* ---- step (a) → raw space (method-spec §4.6 b) --------------------------------
 * From standardised detectors  ã_i = r_iᵀ x̃ / M − b,  x̃ = (x − μ) ⊘ σ
 * (rows r_i of W̃ [n_det × n_dim], shared margin M > 0 and bias b, per-
 * dimension mean mu and std sigma [n_dim], sigma > 0) to raw-space
 * detectors  a_i = ū_iᵀ x / M_i − b_i  with the same logit for every x:
 *   c_i = r_i ⊘ σ,  ū_i = c_i/‖c_i‖,  M_i = M/‖c_i‖,  b_i = b + r_iᵀ(μ ⊘ σ)/M.
 * (Exact for any rows r_i, orthonormal or not.) Outputs U [n_det × n_dim],
 * margins [n_det], biases [n_det]. Non-zero status if M ≤ 0, some σ_d ≤ 0,
 * or some r_i is zero. */
int param_standardised_to_raw(const double *Wt, double M, double b,
                              const double *mu, const double *sigma,
                              size_t n_det, size_t n_dim, double *U,
                              double *margins, double *biases);

#endif
