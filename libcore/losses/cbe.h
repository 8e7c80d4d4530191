/* cbe — CBE's classifier loss L^cnn (method-spec §3, a reconstruction from
 * EDDP App. H): move each pixel onto the hyperplanes of the detectors that
 * fire on it, then ask for uncertain predictions of the head:
 *     x̃'_p = x̃_p − Σ_i g_{p,i} (r_iᵀx̃_p − t_i) r_i,   g_{p,i} = 𝟙[a_{p,i} > 0],
 *     L^cnn = −mean over images of H(f+(μ + σ ⊙ X̃'))  (bits).
 * Defined for the standardised detectors of step (a) (orthonormal rows r_i,
 * x̃ = (x − μ) ⊘ σ). Because f+ pools before its linear layer only the
 * per-image sums c_{n,i} = (1/HW) Σ_p g_{p,i} (r_iᵀx̃_p − t_i) = (M_i/HW) Σ_p g a
 * are needed. The gates are piecewise constant: their gradient is zero almost
 * everywhere and is taken as zero.
 *
 * Stage: losses. In memory only, no files. */
#ifndef EDDP_CBE_H
#define EDDP_CBE_H

#include "headfile.h"

#include <stddef.h>

typedef struct {
    int max_img, n_det, n_dim, n_cls;
    double *c;        /* [max_img × n_det] */
    double *manip;    /* [max_img × n_dim] manipulated pooled features */
    double *logits;   /* [max_img × n_cls] */
    double *dlogits;  /* [max_img × n_cls] */
    double *dmanip;   /* [max_img × n_dim] */
} cbe_workspace;

int cbe_workspace_init(cbe_workspace *ws, int max_img, int n_det, int n_dim, int n_cls);
void cbe_workspace_free(cbe_workspace *ws);

/* Logits A [n_img·hw × n_det] (pixel-major, image by image), pooled raw
 * features [n_img × n_dim], unit rows r [n_det × n_dim], margins M [n_det],
 * scale σ [n_dim]. */
double cbe_forward(cbe_workspace *ws, const double *A, int n_img, int hw, const double *pooled,
                   const double *unit, const double *M, const double *scale, const head_params *head);
/* Accumulates weight · ∂L^cnn into dA [n_pix × n_det], dunit [n_det × n_dim]
 * and dM [n_det] (the last forward's arguments). */
void cbe_backward(cbe_workspace *ws, const double *A, int n_img, int hw, const double *unit,
                  const double *M, const double *scale, const head_params *head, double weight,
                  double *dA, double *dunit, double *dM);

#endif
