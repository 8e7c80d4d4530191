/* ura — uncertainty-region alignment losses L^uur and L^cur on pooled
 * features (method-spec §4.3, §4.6(a), §5, §9 #7, #8, #31).
 *
 * Every pixel of an image is moved by x' = x − κ·dx with κ constant within an
 * image, and dx affine in x with a batch-constant matrix, so global average
 * pooling commutes with the move: only the pooled features m [n_img × n_dim]
 * are needed, m' = m − κ·dx(m). The loss is
 *     L = −(1/n_img) Σ_img H(softmax(V m' + c))      in BITS (log₂),
 * with the frozen head f+ (V [n_cls × n_dim], c [n_cls]; see head.h).
 *
 * Shapes (row-major): W [n_det × n_dim] effective filters (row i = w_i),
 * b [n_det] biases, S [n_det × n_dim] signal vectors, kappa [n_img].
 * Three manipulations:
 *   uur  dx = W⁺(W m − b): u = G⁻¹(W m − b), G = W Wᵀ, dx = Wᵀ u — the
 *        orthogonal projection onto {x : W x = b} (n_det ≤ n_dim).
 *        Cholesky in double; G gets Tikhonov jitter ε = 1e-6·tr(G)/n_det when
 *        it is numerically singular (ws->jittered; the gradients are then the
 *        exact gradients of the jittered map, ε's dependence on W included).
 *        n_det > n_dim: W⁺ from the SVD (ws->pinv = 1). Forward always works;
 *        GRADIENTS ARE SUPPORTED ONLY WHEN rank W = n_dim (then
 *        m − dx = W⁺b, see ura.c); a rank-deficient W makes the backward
 *        return URA_ERR_NO_GRADIENT (W⁺ is not differentiable there).
 *   std  step (a) (§4.6a): filters W̃ (orthonormal rows) and thresholds t act
 *        on standardised features x̃ = (x − μ) ⊘ σ:
 *        dx̃ = W̃ᵀ(W̃ m̃ − t), m' = μ + σ ⊙ (m̃ − κ dx̃).
 *        Implemented through the uur path in the standardised space, so for
 *        exactly orthonormal W̃ (G = I) the value is the formula above and the
 *        gradients are exact. Off the Stiefel manifold the function is the
 *        full projection; its extra gradient term −(v uᵀ + u vᵀ)W̃ is normal
 *        to the manifold and vanishes after the tangent projection or the
 *        chain rule through an orthonormal parametrisation. A shared
 *        threshold t is passed as t_i = t for all i; its gradient is Σ_i dt_i.
 *   cur  dx = Sᵀ B⁻¹(W m − b), B = W Sᵀ [n_det × n_det], LU with partial
 *        pivoting; B singular (rcond < ws->rcond_min or a zero pivot) →
 *        URA_ERR_SINGULAR, no loss (spec §9 #31: skip the batch, log cond).
 *        n_det > n_dim makes B singular by construction (rank ≤ n_dim).
 *
 * Usage per batch: *_forward(...) then, with the SAME arguments, *_backward;
 * the backward reuses what the forward left in the workspace and refuses
 * (URA_ERR_ORDER) when the last forward was of another kind, another batch
 * size, or failed. Backward calls ACCUMULATE: dW += scale·∂L/∂W, etc.
 * Batches may hold fewer images than the workspace was created for.
 * Nothing is allocated after ura_workspace_create; nothing prints.
 *
 * Stage: losses. In memory only, no files. */
#ifndef EDDP_URA_H
#define EDDP_URA_H

#include "mat.h"

enum {
    URA_OK = 0,
    URA_ERR_ARG = 1,         /* bad size, NULL pointer, σ ≤ 0 */
    URA_ERR_ALLOC = 2,       /* out of memory (create only) */
    URA_ERR_SINGULAR = 3,    /* B singular, or G not factorable even with jitter */
    URA_ERR_NO_GRADIENT = 4, /* n_det > n_dim and rank W < n_dim */
    URA_ERR_LAPACK = 5,      /* LAPACK failure (SVD did not converge, ...) */
    URA_ERR_ORDER = 6,       /* backward without a matching successful forward */
};

const char *ura_strerror(int status);

enum ura_path { URA_PATH_NONE = 0, URA_PATH_UUR, URA_PATH_STD, URA_PATH_CUR };

typedef struct {
    /* sizes fixed at creation; n_img is the largest batch */
    int n_img, n_det, n_dim, n_cls;

    /* settings: create sets the defaults, callers may change them */
    double rcond_min; /* MAT_RCOND_MIN: G jitter / B singular below this */
    double pinv_rtol; /* relative singular-value cut-off of W⁺; ≤ 0 = default */

    /* outputs of the last forward (or *_shift), for logging */
    double cond;      /* condition estimate: 1/rcond of G (before jitter) or
                         of B, s_max/s_min of W on the SVD path; +inf when
                         singular */
    int jittered;     /* 1 when G got the Tikhonov jitter */
    double jitter;    /* the ε added to G's diagonal */
    int pinv;         /* 1 when the SVD pseudo-inverse was used (uur/std) */
    int rank;         /* rank of W on the SVD path, else n_det */
    double *m_manip;  /* [n_img × n_dim] manipulated pooled features m'
                         (formed on the SVD path only, see ura.c) */
    double *logits;   /* [n_img × n_cls] head logits of m' */

    /* internal state */
    enum ura_path path; /* kind of the last successful forward */
    int batch;          /* its n_img */
    double *xs;      /* [n_img × n_dim] features in the space W acts on */
    double *dx;      /* [n_img × n_dim] shift (in that space): *_shift and
                        the SVD path only */
    double *gm;      /* [n_img × n_dim] ∂L/∂m' (scaled; SVD path only) */
    double *u;       /* [n_img × n_det] residuals r, then u = G⁻¹r / B⁻¹r */
    double *v;       /* [n_img × n_det] */
    double *ku;      /* [n_img × n_det] κ-scaled u */
    double *dlogits; /* [n_img × n_cls] */
    double *square;  /* [n_det × n_det] G or B */
    double *csym;    /* [n_det × n_det] Vᵀ U + Uᵀ V, or ∂L/∂B */
    double *q;       /* [n_cls × n_det] Q = V_σ Pᵀ: head logits per unit of u */
    double *dq;      /* [n_cls × n_det] ∂L/∂Q */
    double *head_sigma; /* [n_cls × n_dim] V diag(σ) (std path) */
    double *inv_sigma;  /* [n_dim] 1/σ (std path) */
    mat_chol chol;
    mat_lu lu;
    /* SVD path (n_det > n_dim) only */
    mat_svd svd;
    double *w_pinv;  /* [n_dim × n_det] W⁺ */
    double *vec_d;   /* [n_dim] */
    double *vec_d2;  /* [n_dim] */
    double *vec_i;   /* [n_det] */
} ura_workspace;

/* Allocates a workspace for batches of up to n_img images. URA_ERR_ARG for
 * sizes < 1, URA_ERR_ALLOC on failure (*out is then NULL). */
int ura_workspace_create(ura_workspace **out, int n_img, int n_det, int n_dim,
                         int n_cls);
void ura_workspace_free(ura_workspace *ws);

/* ---- L^uur ------------------------------------------------------------ */

/* dx [n_img × n_dim] = W⁺(W m − b) (no κ, no head): the move onto the
 * hyperplanes, W(m − dx) = b when n_det ≤ n_dim. Invalidates any pending
 * backward. */
int ura_uur_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *w, const double *b, double *dx);

/* *loss = L^uur of the batch (bits, ≤ 0). */
int ura_uur_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *w, const double *b,
                    const double *head_w, const double *head_b, double *loss);

/* dw [n_det × n_dim] += scale·∂L/∂W, db [n_det] += scale·∂L/∂b (§5). */
int ura_uur_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *w, const double *b,
                     const double *head_w, const double *head_b, double scale,
                     double *dw, double *db);

/* ---- step (a): standardised space, orthonormal W̃, thresholds t ------- */

/* dx [n_img × n_dim] = σ ⊙ W̃⁺(W̃ m̃ − t) in RAW units, so m' = m − κ dx and
 * W̃((m − dx − μ) ⊘ σ) = t. mu, sigma [n_dim], sigma > 0. */
int ura_std_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *wt, const double *t, const double *mu,
                  const double *sigma, double *dx);

int ura_std_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *wt, const double *t,
                    const double *mu, const double *sigma,
                    const double *head_w, const double *head_b, double *loss);

/* dwt [n_det × n_dim] += scale·∂L/∂W̃, dt [n_det] += scale·∂L/∂t_i. */
int ura_std_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *wt, const double *t,
                     const double *mu, const double *sigma,
                     const double *head_w, const double *head_b, double scale,
                     double *dwt, double *dt);

/* ---- L^cur ------------------------------------------------------------ */

/* dx [n_img × n_dim] = Sᵀ (W Sᵀ)⁻¹ (W m − b): the oblique move onto the
 * hyperplanes along span(S). */
int ura_cur_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *w, const double *b, const double *s,
                  double *dx);

int ura_cur_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *w, const double *b,
                    const double *s, const double *head_w,
                    const double *head_b, double *loss);

/* dw, ds [n_det × n_dim] and db [n_det] accumulate scale·∂L/∂(·) (§5). */
int ura_cur_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *w, const double *b,
                     const double *s, const double *head_w,
                     const double *head_b, double scale, double *dw,
                     double *db, double *ds);

#endif
