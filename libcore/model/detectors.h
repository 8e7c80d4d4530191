/* detectors — how concept detectors are parametrised, and the map from the
 * free parameters to the raw-space detectors y = σ(W x − b) with backward.
 *
 * Detectors act on x̃ = (x − c) ⊘ s, with c the data mean and s either the
 * per-channel standard deviation (standardised space) or 1 (raw space):
 *     a_i = (ū_iᵀ x̃ − t_i) / M_i,   y_i = σ(a_i).
 * Two parametrisations (method-spec §2, §4.1; decisions in man/man1/uibe.1):
 *   DET_STANDARDISED (step a, UIBE/CBE form): orthonormal ū_i (rows of a
 *     Householder product), one shared margin M = exp(m) and threshold t.
 *   DET_FREE (steps b–d, EDDP form): ū_i = v_i/‖v_i‖, margins M_i = exp(m_i),
 *     thresholds t_i, optionally signal vectors S (step d): free, or held
 *     fixed (signals_fixed: they stay in the parameter vector, so files,
 *     checkpoints and the losses see one layout, but get no gradient).
 * Both give effective raw filters W [n_det × n_dim] and biases b [n_det] with
 * a = W x − b:  W_i = (ū_i ⊘ s)/M_i,  b_i = (ū_iᵀ(c ⊘ s) + t_i)/M_i.
 * Thresholds are geometric (projection units), so a margin change does not
 * move a hyperplane, and measuring them from c keeps every parameter O(1)
 * whatever the features' offset (method-spec §13).
 *
 * All parameters live in one flat vector (one Adam state, one checkpoint).
 *
 * Stage: model. In memory only, no files. */
#ifndef EDDP_DETECTORS_H
#define EDDP_DETECTORS_H

#include "rng.h"

#include <stddef.h>

typedef enum { DET_STANDARDISED = 1, DET_FREE = 2 } det_kind;

typedef struct {
    det_kind kind;
    int n_det, n_dim, has_signals;
    int signals_fixed;    /* signals are constants: det_backward gives them no gradient */
    double *center;       /* [n_dim] c, the data mean */
    double *scale;        /* [n_dim] s: standard deviations, or NULL for raw space */
    /* offsets of the blocks in the flat parameter vector */
    size_t off_dir, off_margin, off_threshold, off_signal, n_params;
} det_layout;

/* Everything derived from the parameters that the losses need. */
typedef struct {
    double *W;     /* [n_det × n_dim] effective raw filters */
    double *b;     /* [n_det] raw biases */
    double *unit;  /* [n_det × n_dim] ū (free) or W̃ (standardised) */
    double *M;     /* [n_det] margins (all equal when shared) */
    double *t;     /* [n_det] thresholds (all equal when shared) */
    const double *S; /* [n_det × n_dim] signal vectors (free with signals), else NULL */
    struct param_wy *wy; /* compact-WY workspace of the orthonormal basis, or NULL */
    double *fold;    /* [n_det × (n_dim + 2)] det_backward's scratch (∂L/∂ū, ∂L/∂M, ∂L/∂t) */
} det_view;

/* Gradients the losses accumulate; det_backward turns them into the
 * gradient of the flat parameter vector. */
typedef struct {
    double *W, *b;   /* w.r.t. the effective W, b */
    double *unit;    /* w.r.t. ū / W̃ directly */
    double *M, *t;   /* w.r.t. margins and thresholds directly */
    double *S;       /* w.r.t. signals (NULL when none) */
} det_grads;

/* center and scale are copied; scale NULL = raw space (not for
 * DET_STANDARDISED). */
int det_layout_init(det_layout *layout, det_kind kind, int n_det, int n_dim, int has_signals,
                    const double *center, const double *scale);
void det_layout_free(det_layout *layout);

int det_view_alloc(det_view *view, const det_layout *layout);
void det_view_free(det_view *view);
int det_grads_alloc(det_grads *grads, const det_layout *layout);
void det_grads_zero(det_grads *grads, const det_layout *layout);
void det_grads_free(det_grads *grads);

/* params → view. Non-zero when a direction vector is zero. */
int det_forward(const det_layout *layout, const double *params, det_view *view);
/* grads (w.r.t. the view) → dparams [n_params] (overwritten). */
int det_backward(const det_layout *layout, const double *params, const det_view *view,
                 const det_grads *grads, double *dparams);

/* Initial parameters: standardised — random orthonormal W̃ (QR of a
 * Gaussian), M = 1, t = 0; free — directions from unit [n_det × n_dim]
 * (scaled by init_scale, see below), margins and thresholds given. */
int det_init_standardised(const det_layout *layout, rng_state *rng, double margin,
                          double threshold, double *params);
/* Free parameters that reproduce raw detectors W [n_det × n_dim], b and
 * signals S (may be NULL) exactly in this layout's space; the direction
 * vectors get norm init_scale. Non-zero for a zero filter. */
int det_init_from_effective(const det_layout *layout, const double *W, const double *b,
                            const double *signals, double init_scale, double *params);

/* Logits A [n_pix × n_det] = X Wᵀ − b for pixel vectors X [n_pix × n_dim]. */
void det_logits(const det_view *view, int n_det, int n_dim, const double *X, size_t n_pix, double *A);

#endif
