/* param_wy — the orthonormal Householder basis of param.h
 * (param_householder_forward / _backward) in compact-WY form, so that both
 * directions are level-3 BLAS: O(n_det² n_dim) in a handful of GEMMs and
 * two triangular solves instead of 2·n_det (forward) and 5·n_det (backward)
 * level-2 calls. The same function and the same exact gradient, to rounding.
 *
 * With V = Vhᵀ [n_dim × n_det] (columns v_k) and H_k = I − 2 v_k v_kᵀ/‖v_k‖²,
 *     H_1 H_2 ⋯ H_n = I − V K⁻¹ Vᵀ,   K = striu(VᵀV) + diag(‖v_k‖²)/2
 * (the UT transform; Joffrain, Low, Quintana-Ortí, van de Geijn, Van Zee,
 * ACM TOMS 32(2), 2006), so with Y = VᵀE = Vh[:, 0:n_det] and X = K⁻¹Y:
 *     W̃ = Eᵀ − Xᵀ Vh   [n_det × n_dim].
 * Backward, Ĝ = ∂L/∂W̃:  Gx = −Vh Ĝᵀ,  Gy = K⁻ᵀ Gx,  GK = −Gy Xᵀ,
 * P = triu(GK) with its diagonal halved (∂L/∂S, S = Vh Vhᵀ), and
 *     ∂L/∂Vh = −X Ĝ + (P + Pᵀ) Vh + [Gy 0].
 * Used by the CUDA backend's host half (device.c) for step (a) at n_det in
 * the hundreds, where the level-2 loop of param.c dominates a step.
 *
 * Stage: model. In memory only, no files. */
#ifndef EDDP_PARAM_WY_H
#define EDDP_PARAM_WY_H

#include <stddef.h>

typedef struct param_wy param_wy;

/* Workspace for n_det ≤ n_dim (NULL on bad sizes or allocation failure):
 * 4 n_det² + n_det doubles. */
param_wy *param_wy_create(size_t n_det, size_t n_dim);
void param_wy_free(param_wy *ws);

/* W [n_det × n_dim] = W̃(Vh), Vh [n_det × n_dim]. Non-zero when some v_k is
 * zero or not finite. Keeps K and X for the backward. */
int param_wy_forward(param_wy *ws, const double *Vh, double *W);

/* dVh [n_det × n_dim] += ∂⟨dW, W̃(Vh)⟩/∂Vh, after param_wy_forward with the
 * same Vh (non-zero otherwise). */
int param_wy_backward(param_wy *ws, const double *Vh, const double *dW, double *dVh);

#endif
