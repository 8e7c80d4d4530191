/* ura — L^uur / L^cur on pooled features; see ura.h.
 *
 * Derivations (method-spec §5, written there for W as D×I columns; here W is
 * stored transposed, [n_det × n_dim], and the batch is stacked in rows):
 *
 * uur, per image: r = W x − b, u = G⁻¹ r, dx = Wᵀu, x' = x − κ dx,
 * g = ∂L/∂x', v = −κ G⁻¹ W g. With dG = dW Wᵀ + W dWᵀ and d(G⁻¹) =
 * −G⁻¹ dG G⁻¹:  ∂L/∂W = −κ u gᵀ + v xᵀ − (v uᵀ + u vᵀ) W,  ∂L/∂b = −v.
 * Stacked (U, V [n_img × n_det], X, Gx [n_img × n_dim]):
 *   dW = −(κ⊙U)ᵀ Gx + Vᵀ X − (Vᵀ U + Uᵀ V) W,  db = −Σ_img v.
 * Jittered G_ε = G + c·tr(G)·I, c = 1e-6/n_det: tr(dG) = 2⟨dW, W⟩ adds
 * −2c (Σ_img vᵀu) W, folded into the diagonal of Vᵀ U + Uᵀ V.
 *
 * uur with n_det > n_dim and rank W = n_dim: W⁺ = H⁻¹Wᵀ, H = WᵀW, W⁺W = I,
 * so dx = x − z with z = W⁺b and x' = (1 − κ)x + κ z. With
 * h = H⁻¹ Σ_img κ g = W⁺ W⁺ᵀ Σ_img κ g:
 *   ∂L/∂W = (b − W z) hᵀ − (W h) zᵀ,  ∂L/∂b = W h.
 *
 * cur, per image: B = W Sᵀ, u = B⁻¹ r, dx = Sᵀu, v = −κ B⁻ᵀ S g:
 *   ∂L/∂W = v (x − dx)ᵀ,  ∂L/∂S = −u (κ g + Wᵀ v)ᵀ,  ∂L/∂b = −v.
 *
 * Factorised head term (what the code computes, outside the SVD path). Every
 * move is dx_j = Pᵀ u_j in raw units, P [n_det × n_dim] = S (cur), W (uur)
 * or W̃ diag(σ) (std), so the head logits of m'_j are
 *     ℓ_j = V m_j + c − κ_j Q u_j,   Q = V Pᵀ [n_cls × n_det],
 * and m' is never formed. With DL = ∂L/∂ℓ [n_img × n_cls]:
 *   E = ∂L/∂U = −diag(κ) DL Q,   ∂L/∂Q = −DLᵀ diag(κ) U,
 *   V = ∂L/∂R = E B⁻¹ (rows: Bᵀ v_j = e_j; B = G for uur, symmetric),
 *   ∂L/∂B = −Vᵀ U,   ∂L/∂W ∋ Vᵀ X,   ∂L/∂b = −Σ_j v_j,
 * then through B (= W Sᵀ or W Wᵀ) and Q (= V Sᵀ or V_σ W̃ᵀ). These are the
 * formulas above regrouped (e.g. Σ v dxᵀ = (Vᵀ U) S); per batch the pooled
 * features enter three products (R = M Wᵀ, M Vᵀ, Vᵀ M) instead of seven. */
#include "ura.h"

#include "head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Element-wise loops over [n_img × n_dim] go parallel above this size. */
#define URA_PARALLEL_MIN 16384

const char *ura_strerror(int status)
{
    switch (status) {
    case URA_OK: return "ok";
    case URA_ERR_ARG: return "invalid URA argument (size, pointer or sigma <= 0)";
    case URA_ERR_ALLOC: return "out of memory";
    case URA_ERR_SINGULAR: return "URA matrix (W S^T, or W W^T even with jitter) is singular";
    case URA_ERR_NO_GRADIENT: return "URA gradient undefined: more detectors than dimensions and rank W < n_dim";
    case URA_ERR_LAPACK: return "LAPACK failure in URA";
    case URA_ERR_ORDER: return "URA backward without a matching successful forward";
    default: return "unknown URA status";
    }
}

static int from_mat_status(int st)
{
    switch (st) {
    case MAT_OK: return URA_OK;
    case MAT_ERR_ALLOC: return URA_ERR_ALLOC;
    case MAT_ERR_SINGULAR: return URA_ERR_SINGULAR;
    case MAT_ERR_ARG: return URA_ERR_ARG;
    default: return URA_ERR_LAPACK;
    }
}

/* ---- workspace -------------------------------------------------------- */

void ura_workspace_free(ura_workspace *ws)
{
    if (!ws)
        return;
    double *bufs[] = {ws->m_manip, ws->logits, ws->xs,     ws->dx,
                      ws->gm,      ws->u,       ws->v,
                      ws->ku,      ws->dlogits, ws->square, ws->csym,
                      ws->w_pinv,  ws->vec_d,   ws->vec_d2, ws->vec_i,
                      ws->q,       ws->dq,      ws->head_sigma, ws->inv_sigma};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        free(bufs[k]);
    mat_chol_free(&ws->chol);
    mat_lu_free(&ws->lu);
    mat_svd_free(&ws->svd);
    free(ws);
}

static double *alloc_doubles(size_t n, int *failed)
{
    double *p = malloc(sizeof(double) * n);
    if (!p)
        *failed = 1;
    return p;
}

int ura_workspace_create(ura_workspace **out, int n_img, int n_det, int n_dim,
                         int n_cls)
{
    *out = NULL;
    if (n_img < 1 || n_det < 1 || n_dim < 1 || n_cls < 1)
        return URA_ERR_ARG;
    ura_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return URA_ERR_ALLOC;
    ws->n_img = n_img;
    ws->n_det = n_det;
    ws->n_dim = n_dim;
    ws->n_cls = n_cls;
    ws->rcond_min = MAT_RCOND_MIN;
    ws->pinv_rtol = 0.0;
    ws->rank = n_det;

    size_t nd = (size_t)n_img * n_dim, ni = (size_t)n_img * n_det;
    size_t nk = (size_t)n_img * n_cls, ii = (size_t)n_det * n_det;
    int failed = 0;
    ws->m_manip = alloc_doubles(nd, &failed);
    ws->logits = alloc_doubles(nk, &failed);
    ws->xs = alloc_doubles(nd, &failed);
    ws->dx = alloc_doubles(nd, &failed);
    ws->gm = alloc_doubles(nd, &failed);
    ws->u = alloc_doubles(ni, &failed);
    ws->v = alloc_doubles(ni, &failed);
    ws->ku = alloc_doubles(ni, &failed);
    ws->dlogits = alloc_doubles(nk, &failed);
    ws->square = alloc_doubles(ii, &failed);
    ws->csym = alloc_doubles(ii, &failed);
    ws->q = alloc_doubles((size_t)n_cls * n_det, &failed);
    ws->dq = alloc_doubles((size_t)n_cls * n_det, &failed);
    ws->head_sigma = alloc_doubles((size_t)n_cls * n_dim, &failed);
    ws->inv_sigma = alloc_doubles(n_dim, &failed);
    int st = failed ? URA_ERR_ALLOC : URA_OK;
    if (!st)
        st = from_mat_status(mat_chol_init(&ws->chol, n_det));
    if (!st)
        st = from_mat_status(mat_lu_init(&ws->lu, n_det));
    if (!st && n_det > n_dim) {
        st = from_mat_status(mat_svd_init(&ws->svd, n_det, n_dim));
        ws->w_pinv = alloc_doubles((size_t)n_dim * n_det, &failed);
        ws->vec_d = alloc_doubles(n_dim, &failed);
        ws->vec_d2 = alloc_doubles(n_dim, &failed);
        ws->vec_i = alloc_doubles(n_det, &failed);
        if (!st && failed)
            st = URA_ERR_ALLOC;
    }
    if (st) {
        ura_workspace_free(ws);
        return st;
    }
    *out = ws;
    return URA_OK;
}

static int check_batch(const ura_workspace *ws, int n_img)
{
    return ws && n_img >= 1 && n_img <= ws->n_img;
}

/* ---- small stacked-row helpers ---------------------------------------- */

/* r [n × n_det] = x W ᵀ − 𝟏 bᵀ for x [n × n_dim]. */
static void residuals(const double *x, int n, const double *w,
                      const double *b, int n_det, int n_dim, double *r)
{
    mat_gemm(0, 1, n, n_det, n_dim, 1.0, x, w, 0.0, r);
    #pragma omp parallel for schedule(static) if ((long long)n * n_det >= URA_PARALLEL_MIN)
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n_det; i++)
            r[(size_t)j * n_det + i] -= b[i];
}

/* y [n × cols] = factor_j · x_j, row by row (factor[j] · scalar). */
static void scale_rows(const double *x, const double *factor, double scalar,
                       int n, int cols, double *y)
{
    #pragma omp parallel for schedule(static) if ((long long)n * cols >= URA_PARALLEL_MIN)
    for (int j = 0; j < n; j++) {
        double f = factor[j] * scalar;
        for (int c = 0; c < cols; c++)
            y[(size_t)j * cols + c] = f * x[(size_t)j * cols + c];
    }
}

/* y [n × cols] = x ⊙ factor per column. */
static void scale_columns(const double *x, const double *factor, int n,
                          int cols, double *y)
{
    for (int j = 0; j < n; j++)
        for (int c = 0; c < cols; c++)
            y[(size_t)j * cols + c] = x[(size_t)j * cols + c] * factor[c];
}

/* out [n_det] += −Σ_j v_j, each column summed by one thread in image order. */
static void sub_column_sums(const double *v, int n, int n_det, double *out)
{
    #pragma omp parallel for schedule(static) if ((long long)n * n_det >= URA_PARALLEL_MIN)
    for (int i = 0; i < n_det; i++) {
        double sum = 0.0;
        for (int j = 0; j < n; j++)
            sum += v[(size_t)j * n_det + i];
        out[i] -= sum;
    }
}

static double cond_from_rcond(double rcond)
{
    return rcond > 0.0 ? 1.0 / rcond : INFINITY;
}

/* ---- the frozen head: loss of m' and ∂L/∂m' --------------------------- */

static double head_loss(ura_workspace *ws, int n_img, const double *head_w,
                        const double *head_b)
{
    head_linear_forward(ws->m_manip, n_img, ws->n_dim, head_w, head_b,
                        ws->n_cls, ws->logits);
    return -head_entropy_forward(ws->logits, n_img, ws->n_cls);
}

/* ws->gm = scale · ∂L/∂m' for L = −mean entropy (bits). */
static void head_loss_grad(ura_workspace *ws, int n_img, const double *head_w,
                           double scale)
{
    head_entropy_backward(ws->logits, n_img, ws->n_cls, -scale, ws->dlogits);
    memset(ws->gm, 0, sizeof(double) * (size_t)n_img * ws->n_dim);
    head_linear_backward(ws->dlogits, NULL, head_w, n_img, ws->n_dim,
                         ws->n_cls, NULL, NULL, ws->gm);
}

/* ws->m_manip = m − κ_j · unit ⊙ dx_j per image (unit = σ, or NULL for 1). */
static void apply_shift(ura_workspace *ws, const double *m,
                        const double *kappa, int n_img, const double *unit)
{
    int n_dim = ws->n_dim;
    #pragma omp parallel for schedule(static) if ((long long)n_img * n_dim >= URA_PARALLEL_MIN)
    for (int j = 0; j < n_img; j++) {
        const double *mj = m + (size_t)j * n_dim;
        const double *dj = ws->dx + (size_t)j * n_dim;
        double *oj = ws->m_manip + (size_t)j * n_dim;
        for (int d = 0; d < n_dim; d++)
            oj[d] = mj[d] - kappa[j] * (unit ? unit[d] : 1.0) * dj[d];
    }
}

/* ---- the factorised head term (see the top of this file) --------------- */

/* ws->logits = M Vᵀ + c − diag(κ) U Qᵀ (ws->ku = diag(κ) U), for ws->u and
 * ws->q set; returns L = −mean entropy. */
static double factored_head_loss(ura_workspace *ws, const double *m,
                                 const double *kappa, int n_img,
                                 const double *head_w, const double *head_b)
{
    int n_det = ws->n_det, n_cls = ws->n_cls;
    head_linear_forward(m, n_img, ws->n_dim, head_w, head_b, n_cls,
                        ws->logits);
    scale_rows(ws->u, kappa, 1.0, n_img, n_det, ws->ku);
    mat_gemm(0, 1, n_img, n_cls, n_det, -1.0, ws->ku, ws->q, 1.0, ws->logits);
    return -head_entropy_forward(ws->logits, n_img, n_cls);
}

/* ws->v = E = ∂L/∂U (scaled) and ws->dq = ∂L/∂Q. */
static void factored_head_backward(ura_workspace *ws, const double *kappa,
                                   int n_img, double scale)
{
    int n_det = ws->n_det, n_cls = ws->n_cls;
    head_entropy_backward(ws->logits, n_img, n_cls, -scale, ws->dlogits);
    mat_gemm(0, 0, n_img, n_det, n_cls, 1.0, ws->dlogits, ws->q, 0.0, ws->v);
    scale_rows(ws->v, kappa, -1.0, n_img, n_det, ws->v);
    mat_gemm(1, 0, n_cls, n_det, n_img, -1.0, ws->dlogits, ws->ku, 0.0,
             ws->dq);
}

/* ---- uur core: projection onto {x : W x = b} in the space of x --------- */

/* ws->u = G⁻¹(x Wᵀ − b); on the SVD path (n_det > n_dim) ws->dx = R W⁺ᵀ. */
static int uur_core_forward(ura_workspace *ws, const double *x, int n_img,
                            const double *w, const double *b)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    ws->jittered = 0;
    ws->jitter = 0.0;
    ws->pinv = n_det > n_dim;
    ws->rank = n_det;
    residuals(x, n_img, w, b, n_det, n_dim, ws->u);
    if (ws->pinv) {
        int rank = 0;
        int st = mat_svd_pinv(&ws->svd, w, ws->pinv_rtol, ws->w_pinv, &rank);
        if (st)
            return from_mat_status(st);
        ws->rank = rank;
        double smin = ws->svd.s[ws->svd.k - 1];
        ws->cond = smin > 0.0 ? ws->svd.s[0] / smin : INFINITY;
        mat_gemm(0, 1, n_img, n_dim, n_det, 1.0, ws->u, ws->w_pinv, 0.0,
                 ws->dx);
        return URA_OK;
    }
    mat_gram_rows(w, n_det, n_dim, ws->square);
    int st = mat_chol_factor(&ws->chol, ws->square, ws->rcond_min);
    ws->cond = cond_from_rcond(ws->chol.rcond_input);
    ws->jittered = ws->chol.jittered;
    ws->jitter = ws->chol.jitter;
    if (st)
        return from_mat_status(st);
    mat_chol_solve(&ws->chol, ws->u, n_img);
    return URA_OK;
}

/* ws->dx = U W after a Cholesky-path uur_core_forward (the SVD path set it). */
static void uur_core_dx(ura_workspace *ws, int n_img, const double *w)
{
    if (!ws->pinv)
        mat_gemm(0, 0, n_img, ws->n_dim, ws->n_det, 1.0, ws->u, w, 0.0,
                 ws->dx);
}

/* SVD path backward (rank W = n_dim): see the header comment of this file. */
static int uur_core_backward_pinv(ura_workspace *ws, const double *kappa,
                                  int n_img, const double *w, const double *b,
                                  const double *gx, double *dw, double *db)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    if (ws->rank < n_dim)
        return URA_ERR_NO_GRADIENT;
    double *gsum = ws->vec_d, *z = ws->vec_d2, *tmp = ws->vec_i;
    /* gsum = Σ_j κ_j g_j, then h = W⁺ (W⁺ᵀ gsum), stored back in gsum. */
    mat_gemm(1, 0, n_dim, 1, n_img, 1.0, gx, kappa, 0.0, gsum);
    mat_gemm(1, 0, n_det, 1, n_dim, 1.0, ws->w_pinv, gsum, 0.0, tmp);
    mat_gemm(0, 0, n_dim, 1, n_det, 1.0, ws->w_pinv, tmp, 0.0, gsum);
    const double *h = gsum;
    mat_gemm(0, 0, n_dim, 1, n_det, 1.0, ws->w_pinv, b, 0.0, z);
    /* tmp = b − W z; dW += tmp hᵀ */
    mat_gemm(0, 0, n_det, 1, n_dim, -1.0, w, z, 0.0, tmp);
    for (int i = 0; i < n_det; i++)
        tmp[i] += b[i];
    mat_gemm(0, 0, n_det, n_dim, 1, 1.0, tmp, h, 1.0, dw);
    /* tmp = W h; dW −= tmp zᵀ; db += tmp */
    mat_gemm(0, 0, n_det, 1, n_dim, 1.0, w, h, 0.0, tmp);
    mat_gemm(0, 0, n_det, n_dim, 1, -1.0, tmp, z, 1.0, dw);
    for (int i = 0; i < n_det; i++)
        db[i] += tmp[i];
    return URA_OK;
}

/* Cholesky-path backward from ws->v = E and ws->dq (factored_head_backward):
 * dw += Vᵀ X − (Vᵀ U + Uᵀ V) W + ∂L/∂Qᵀ V_d, db −= Σ v, with x the features
 * W acts on and head_d [n_cls × n_dim] the head in those units (V or V_σ). */
static void uur_core_backward(ura_workspace *ws, const double *x, int n_img,
                              const double *w, const double *head_d,
                              double *dw, double *db)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    mat_chol_solve(&ws->chol, ws->v, n_img);
    mat_gemm(1, 0, n_det, n_dim, n_img, 1.0, ws->v, x, 1.0, dw);
    /* −(Vᵀ U + Uᵀ V + 2c Σ vᵀu · I) W, the last term only if jittered */
    mat_sym_atb_bta(ws->v, ws->u, n_img, n_det, ws->csym);
    if (ws->jittered) {
        double vu = 0.0;
        for (size_t k = 0; k < (size_t)n_img * n_det; k++)
            vu += ws->v[k] * ws->u[k];
        double extra = 2.0 * (MAT_JITTER_REL / n_det) * vu;
        for (int i = 0; i < n_det; i++)
            ws->csym[(size_t)i * n_det + i] += extra;
    }
    mat_gemm(0, 0, n_det, n_dim, n_det, -1.0, ws->csym, w, 1.0, dw);
    mat_gemm(1, 0, n_det, n_dim, ws->n_cls, 1.0, ws->dq, head_d, 1.0, dw);
    sub_column_sums(ws->v, n_img, n_det, db);
}

/* ---- L^uur ------------------------------------------------------------ */

int ura_uur_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *w, const double *b, double *dx)
{
    if (!check_batch(ws, n_img) || !m || !w || !b || !dx)
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = uur_core_forward(ws, m, n_img, w, b);
    if (st)
        return st;
    uur_core_dx(ws, n_img, w);
    memcpy(dx, ws->dx, sizeof(double) * (size_t)n_img * ws->n_dim);
    return URA_OK;
}

int ura_uur_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *w, const double *b,
                    const double *head_w, const double *head_b, double *loss)
{
    if (!check_batch(ws, n_img) || !m || !kappa || !w || !b || !head_w ||
        !head_b || !loss)
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = uur_core_forward(ws, m, n_img, w, b);
    if (st)
        return st;
    if (ws->pinv) {
        apply_shift(ws, m, kappa, n_img, NULL);
        *loss = head_loss(ws, n_img, head_w, head_b);
    } else {
        mat_mul_abt(head_w, w, ws->n_cls, ws->n_det, ws->n_dim, ws->q);
        *loss = factored_head_loss(ws, m, kappa, n_img, head_w, head_b);
    }
    ws->path = URA_PATH_UUR;
    ws->batch = n_img;
    return URA_OK;
}

int ura_uur_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *w, const double *b,
                     const double *head_w, const double *head_b, double scale,
                     double *dw, double *db)
{
    (void)head_b;
    if (!check_batch(ws, n_img) || !m || !kappa || !w || !b || !head_w ||
        !dw || !db)
        return URA_ERR_ARG;
    if (ws->path != URA_PATH_UUR || ws->batch != n_img)
        return URA_ERR_ORDER;
    if (ws->pinv) {
        head_loss_grad(ws, n_img, head_w, scale);
        return uur_core_backward_pinv(ws, kappa, n_img, w, b, ws->gm, dw, db);
    }
    factored_head_backward(ws, kappa, n_img, scale);
    uur_core_backward(ws, m, n_img, w, head_w, dw, db);
    return URA_OK;
}

/* ---- step (a): the uur core in the standardised space ------------------ */

static int check_std(const ura_workspace *ws, const double *sigma)
{
    for (int d = 0; d < ws->n_dim; d++)
        if (!(sigma[d] > 0.0))
            return 0;
    return 1;
}

/* ws->xs = (m − μ) ⊘ σ, then the projection of xs. */
static int std_core_forward(ura_workspace *ws, const double *m, int n_img,
                            const double *wt, const double *t,
                            const double *mu, const double *sigma)
{
    int n_dim = ws->n_dim;
    double *inv_sigma = ws->inv_sigma;
    for (int d = 0; d < n_dim; d++)
        inv_sigma[d] = 1.0 / sigma[d];
    for (int j = 0; j < n_img; j++)
        for (int d = 0; d < n_dim; d++) {
            size_t k = (size_t)j * n_dim + d;
            ws->xs[k] = (m[k] - mu[d]) * inv_sigma[d];
        }
    return uur_core_forward(ws, ws->xs, n_img, wt, t);
}

int ura_std_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *wt, const double *t, const double *mu,
                  const double *sigma, double *dx)
{
    if (!check_batch(ws, n_img) || !m || !wt || !t || !mu || !sigma || !dx ||
        !check_std(ws, sigma))
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = std_core_forward(ws, m, n_img, wt, t, mu, sigma);
    if (st)
        return st;
    uur_core_dx(ws, n_img, wt);
    int n_dim = ws->n_dim;
    for (int j = 0; j < n_img; j++)
        for (int d = 0; d < n_dim; d++)
            dx[(size_t)j * n_dim + d] = sigma[d] * ws->dx[(size_t)j * n_dim + d];
    return URA_OK;
}

int ura_std_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *wt, const double *t,
                    const double *mu, const double *sigma,
                    const double *head_w, const double *head_b, double *loss)
{
    if (!check_batch(ws, n_img) || !m || !kappa || !wt || !t || !mu ||
        !sigma || !head_w || !head_b || !loss || !check_std(ws, sigma))
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = std_core_forward(ws, m, n_img, wt, t, mu, sigma);
    if (st)
        return st;
    /* m' = μ + σ ⊙ (m̃ − κ dx̃) = m − κ σ ⊙ dx̃ */
    if (ws->pinv) {
        apply_shift(ws, m, kappa, n_img, sigma);
        *loss = head_loss(ws, n_img, head_w, head_b);
    } else {
        scale_columns(head_w, sigma, ws->n_cls, ws->n_dim, ws->head_sigma);
        mat_mul_abt(ws->head_sigma, wt, ws->n_cls, ws->n_det, ws->n_dim, ws->q);
        *loss = factored_head_loss(ws, m, kappa, n_img, head_w, head_b);
    }
    ws->path = URA_PATH_STD;
    ws->batch = n_img;
    return URA_OK;
}

int ura_std_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *wt, const double *t,
                     const double *mu, const double *sigma,
                     const double *head_w, const double *head_b, double scale,
                     double *dwt, double *dt)
{
    (void)head_b;
    (void)mu;
    if (!check_batch(ws, n_img) || !m || !kappa || !wt || !t || !sigma ||
        !head_w || !dwt || !dt)
        return URA_ERR_ARG;
    if (ws->path != URA_PATH_STD || ws->batch != n_img)
        return URA_ERR_ORDER;
    if (!ws->pinv) {
        factored_head_backward(ws, kappa, n_img, scale);
        uur_core_backward(ws, ws->xs, n_img, wt, ws->head_sigma, dwt, dt);
        return URA_OK;
    }
    head_loss_grad(ws, n_img, head_w, scale);
    /* ∂L/∂(m̃ − κ dx̃) = σ ⊙ ∂L/∂m' */
    int n_dim = ws->n_dim;
    for (int j = 0; j < n_img; j++)
        for (int d = 0; d < n_dim; d++)
            ws->gm[(size_t)j * n_dim + d] *= sigma[d];
    return uur_core_backward_pinv(ws, kappa, n_img, wt, t, ws->gm, dwt, dt);
}

/* ---- L^cur ------------------------------------------------------------ */

/* ws->u = B⁻¹(m Wᵀ − b), B = W Sᵀ. */
static int cur_core_forward(ura_workspace *ws, const double *m, int n_img,
                            const double *w, const double *b, const double *s)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    ws->jittered = 0;
    ws->jitter = 0.0;
    ws->pinv = 0;
    ws->rank = n_det;
    mat_mul_abt(w, s, n_det, n_det, n_dim, ws->square);
    int st = mat_lu_factor(&ws->lu, ws->square, ws->rcond_min);
    ws->cond = cond_from_rcond(ws->lu.rcond);
    if (st)
        return from_mat_status(st);
    residuals(m, n_img, w, b, n_det, n_dim, ws->u);
    mat_lu_solve(&ws->lu, 0, ws->u, n_img);
    return URA_OK;
}

int ura_cur_shift(ura_workspace *ws, const double *m, int n_img,
                  const double *w, const double *b, const double *s,
                  double *dx)
{
    if (!check_batch(ws, n_img) || !m || !w || !b || !s || !dx)
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = cur_core_forward(ws, m, n_img, w, b, s);
    if (st)
        return st;
    mat_gemm(0, 0, n_img, ws->n_dim, ws->n_det, 1.0, ws->u, s, 0.0, dx);
    return URA_OK;
}

int ura_cur_forward(ura_workspace *ws, const double *m, const double *kappa,
                    int n_img, const double *w, const double *b,
                    const double *s, const double *head_w,
                    const double *head_b, double *loss)
{
    if (!check_batch(ws, n_img) || !m || !kappa || !w || !b || !s ||
        !head_w || !head_b || !loss)
        return URA_ERR_ARG;
    ws->path = URA_PATH_NONE;
    int st = cur_core_forward(ws, m, n_img, w, b, s);
    if (st)
        return st;
    mat_mul_abt(head_w, s, ws->n_cls, ws->n_det, ws->n_dim, ws->q);
    *loss = factored_head_loss(ws, m, kappa, n_img, head_w, head_b);
    ws->path = URA_PATH_CUR;
    ws->batch = n_img;
    return URA_OK;
}

int ura_cur_backward(ura_workspace *ws, const double *m, const double *kappa,
                     int n_img, const double *w, const double *b,
                     const double *s, const double *head_w,
                     const double *head_b, double scale, double *dw,
                     double *db, double *ds)
{
    (void)head_b;
    if (!check_batch(ws, n_img) || !m || !kappa || !w || !b || !s ||
        !head_w || !dw || !db || !ds)
        return URA_ERR_ARG;
    if (ws->path != URA_PATH_CUR || ws->batch != n_img)
        return URA_ERR_ORDER;
    int n_det = ws->n_det, n_dim = ws->n_dim;
    factored_head_backward(ws, kappa, n_img, scale);
    mat_lu_solve(&ws->lu, 1, ws->v, n_img); /* rows: Bᵀ v_j = e_j */
    /* ∂L/∂B = −Vᵀ U */
    mat_gemm(1, 0, n_det, n_det, n_img, -1.0, ws->v, ws->u, 0.0, ws->csym);
    /* dW += Vᵀ M + ∂L/∂B S;  dS += ∂L/∂Bᵀ W + ∂L/∂Qᵀ V */
    mat_gemm(1, 0, n_det, n_dim, n_img, 1.0, ws->v, m, 1.0, dw);
    mat_gemm(0, 0, n_det, n_dim, n_det, 1.0, ws->csym, s, 1.0, dw);
    mat_gemm(1, 0, n_det, n_dim, n_det, 1.0, ws->csym, w, 1.0, ds);
    mat_gemm(1, 0, n_det, n_dim, ws->n_cls, 1.0, ws->dq, head_w, 1.0, ds);
    sub_column_sums(ws->v, n_img, n_det, db);
    return URA_OK;
}
