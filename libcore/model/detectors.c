/* detectors — see detectors.h. */
#include "detectors.h"
#include "param.h"
#include "param_wy.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* From this many detectors on, the orthonormal basis is formed in compact-WY
 * form (param_wy.h: level-3 BLAS; at 500 × 512 a step's basis takes 0.2 s
 * instead of 31 s); below it, by param.c's reflection loop (the synthetic
 * experiment's 3 detectors, bit for bit as validated). */
#define DET_WY_MIN_DET 32

static double *copy_or_null(const double *src, int n)
{
    if (!src)
        return NULL;
    double *dst = malloc(n * sizeof *dst);
    if (dst)
        memcpy(dst, src, n * sizeof *dst);
    return dst;
}

int det_layout_init(det_layout *layout, det_kind kind, int n_det, int n_dim, int has_signals,
                    const double *center, const double *scale)
{
    memset(layout, 0, sizeof *layout);
    layout->kind = kind;
    layout->n_det = n_det;
    layout->n_dim = n_dim;
    size_t dir = (size_t)n_det * n_dim;
    if (!center || (kind == DET_STANDARDISED && (!scale || has_signals || n_det > n_dim)))
        return -1;
    layout->center = copy_or_null(center, n_dim);
    layout->scale = copy_or_null(scale, n_dim);
    if (kind == DET_STANDARDISED) {
        layout->off_dir = 0;
        layout->off_margin = dir;
        layout->off_threshold = dir + 1;
        layout->off_signal = dir + 2;
        layout->n_params = dir + 2;
        return 0;
    }
    layout->has_signals = has_signals;
    layout->off_dir = 0;
    layout->off_margin = dir;
    layout->off_threshold = dir + n_det;
    layout->off_signal = dir + 2 * n_det;
    layout->n_params = layout->off_signal + (has_signals ? dir : 0);
    return 0;
}

void det_layout_free(det_layout *layout)
{
    free(layout->center);
    free(layout->scale);
    layout->center = layout->scale = NULL;
}

int det_view_alloc(det_view *view, const det_layout *layout)
{
    size_t dir = (size_t)layout->n_det * layout->n_dim;
    view->W = malloc(dir * sizeof(double));
    view->unit = malloc(dir * sizeof(double));
    view->b = malloc(layout->n_det * sizeof(double));
    view->M = malloc(layout->n_det * sizeof(double));
    view->t = malloc(layout->n_det * sizeof(double));
    view->S = NULL;
    view->wy = NULL;
    view->fold = malloc((size_t)layout->n_det * (layout->n_dim + 2) * sizeof(double));
    if (!view->fold)
        return -1;
    if (layout->kind == DET_STANDARDISED && layout->n_det >= DET_WY_MIN_DET &&
        !(view->wy = param_wy_create(layout->n_det, layout->n_dim)))
        return -1;
    return view->W && view->unit && view->b && view->M && view->t ? 0 : -1;
}

void det_view_free(det_view *view)
{
    free(view->W);
    free(view->unit);
    free(view->b);
    free(view->M);
    free(view->t);
    param_wy_free(view->wy);
    free(view->fold);
    memset(view, 0, sizeof *view);
}

int det_grads_alloc(det_grads *grads, const det_layout *layout)
{
    size_t dir = (size_t)layout->n_det * layout->n_dim;
    grads->W = calloc(dir, sizeof(double));
    grads->unit = calloc(dir, sizeof(double));
    grads->b = calloc(layout->n_det, sizeof(double));
    grads->M = calloc(layout->n_det, sizeof(double));
    grads->t = calloc(layout->n_det, sizeof(double));
    grads->S = layout->has_signals ? calloc(dir, sizeof(double)) : NULL;
    return grads->W && grads->unit && grads->b && grads->M && grads->t &&
                   (!layout->has_signals || grads->S)
               ? 0
               : -1;
}

void det_grads_zero(det_grads *grads, const det_layout *layout)
{
    size_t dir = (size_t)layout->n_det * layout->n_dim;
    memset(grads->W, 0, dir * sizeof(double));
    memset(grads->unit, 0, dir * sizeof(double));
    memset(grads->b, 0, layout->n_det * sizeof(double));
    memset(grads->M, 0, layout->n_det * sizeof(double));
    memset(grads->t, 0, layout->n_det * sizeof(double));
    if (grads->S)
        memset(grads->S, 0, dir * sizeof(double));
}

void det_grads_free(det_grads *grads)
{
    free(grads->W);
    free(grads->unit);
    free(grads->b);
    free(grads->M);
    free(grads->t);
    free(grads->S);
    memset(grads, 0, sizeof *grads);
}

/* W_i = (ū_i ⊘ s)/M_i,  b_i = (ū_iᵀ(c ⊘ s) + t_i)/M_i, from unit, M and t. */
static void effective(const det_layout *layout, det_view *view)
{
    int n_dim = layout->n_dim;
    for (int i = 0; i < layout->n_det; i++) {
        const double *u = view->unit + (size_t)i * n_dim;
        double *w = view->W + (size_t)i * n_dim, offset = 0;
        for (int d = 0; d < n_dim; d++) {
            double s = layout->scale ? layout->scale[d] : 1.0;
            w[d] = u[d] / (s * view->M[i]);
            offset += u[d] * layout->center[d] / s;
        }
        view->b[i] = (offset + view->t[i]) / view->M[i];
    }
}

static int standardised_forward(const det_layout *layout, const double *params, det_view *view)
{
    const double *vectors = params + layout->off_dir;
    if (view->wy ? param_wy_forward(view->wy, vectors, view->unit)
                 : param_householder_forward(vectors, layout->n_det, layout->n_dim, view->unit))
        return -1;
    for (int i = 0; i < layout->n_det; i++) {
        view->M[i] = exp(params[layout->off_margin]);
        view->t[i] = params[layout->off_threshold];
    }
    view->S = NULL;
    return 0;
}

static int free_forward(const det_layout *layout, const double *params, det_view *view)
{
    if (param_sphere_forward(params + layout->off_dir, layout->n_det, layout->n_dim, view->unit))
        return -1;
    param_margin_forward(params + layout->off_margin, layout->n_det, view->M);
    memcpy(view->t, params + layout->off_threshold, layout->n_det * sizeof(double));
    view->S = layout->has_signals ? params + layout->off_signal : NULL;
    return 0;
}

int det_forward(const det_layout *layout, const double *params, det_view *view)
{
    int rc = layout->kind == DET_STANDARDISED ? standardised_forward(layout, params, view)
                                              : free_forward(layout, params, view);
    if (!rc)
        effective(layout, view);
    return rc;
}

/* Folds the gradients w.r.t. the effective W, b into those w.r.t. the
 * direction rows, margins and thresholds (see effective()). */
static void fold_effective(const det_layout *layout, const det_view *view, const det_grads *g,
                           double *dunit, double *dM, double *dt)
{
    int n_det = layout->n_det, n_dim = layout->n_dim;
    for (int i = 0; i < n_det; i++) {
        const double *dW = g->W + (size_t)i * n_dim, *W = view->W + (size_t)i * n_dim;
        double *du = dunit + (size_t)i * n_dim, M = view->M[i], db = g->b[i], dot = 0;
        for (int d = 0; d < n_dim; d++) {
            double s = layout->scale ? layout->scale[d] : 1.0;
            du[d] += g->unit[(size_t)i * n_dim + d] + (dW[d] + db * layout->center[d]) / (s * M);
            dot += dW[d] * W[d];
        }
        dt[i] = g->t[i] + db / M;
        dM[i] = g->M[i] - (dot + db * view->b[i]) / M;
    }
}

int det_backward(const det_layout *layout, const double *params, const det_view *view,
                 const det_grads *grads, double *dparams)
{
    int n_det = layout->n_det, n_dim = layout->n_dim;
    size_t dir = (size_t)n_det * n_dim;
    double *dunit = view->fold, *dM = dunit + dir, *dt = dM + n_det;
    memset(dunit, 0, dir * sizeof *dunit);
    memset(dparams, 0, layout->n_params * sizeof *dparams);
    fold_effective(layout, view, grads, dunit, dM, dt);
    int rc = 0;
    if (layout->kind == DET_STANDARDISED) {
        const double *vectors = params + layout->off_dir;
        rc = view->wy ? param_wy_backward(view->wy, vectors, dunit, dparams + layout->off_dir)
                      : param_householder_backward(vectors, view->unit, n_det, n_dim, dunit,
                                                   dparams + layout->off_dir);
        double dM_shared = 0, dt_shared = 0;
        for (int i = 0; i < n_det; i++) {
            dM_shared += dM[i];
            dt_shared += dt[i];
        }
        dparams[layout->off_margin] = view->M[0] * dM_shared; /* M = exp(m) */
        dparams[layout->off_threshold] = dt_shared;
    } else {
        param_sphere_backward(params + layout->off_dir, n_det, n_dim, dunit, dparams + layout->off_dir);
        param_margin_backward(view->M, n_det, dM, dparams + layout->off_margin);
        memcpy(dparams + layout->off_threshold, dt, n_det * sizeof *dt);
        if (layout->has_signals && !layout->signals_fixed)
            memcpy(dparams + layout->off_signal, grads->S, dir * sizeof(double));
    }
    return rc;
}

int det_init_standardised(const det_layout *layout, rng_state *rng, double margin,
                          double threshold, double *params)
{
    params[layout->off_margin] = log(margin);
    params[layout->off_threshold] = threshold;
    return param_householder_init(rng, layout->n_det, layout->n_dim, params + layout->off_dir);
}

int det_init_from_effective(const det_layout *layout, const double *W, const double *b,
                            const double *signals, double init_scale, double *params)
{
    int n_det = layout->n_det, n_dim = layout->n_dim;
    for (int i = 0; i < n_det; i++) {
        /* ū_i ∝ w_i ⊙ s, M_i = 1/‖w_i ⊙ s‖, t_i = M_i b_i − ū_iᵀ(c ⊘ s). */
        const double *w = W + (size_t)i * n_dim;
        double *v = params + layout->off_dir + (size_t)i * n_dim, norm = 0, offset = 0;
        for (int d = 0; d < n_dim; d++) {
            v[d] = w[d] * (layout->scale ? layout->scale[d] : 1.0);
            norm += v[d] * v[d];
        }
        norm = sqrt(norm);
        if (!(norm > 0))
            return -1;
        for (int d = 0; d < n_dim; d++) {
            double unit = v[d] / norm;
            offset += unit * layout->center[d] / (layout->scale ? layout->scale[d] : 1.0);
            v[d] = init_scale * unit;
        }
        params[layout->off_margin + i] = log(1 / norm);
        params[layout->off_threshold + i] = b[i] / norm - offset;
    }
    if (layout->has_signals)
        memcpy(params + layout->off_signal, signals, (size_t)n_det * n_dim * sizeof(double));
    return 0;
}

/* The bias loop (a subtraction per logit) goes parallel from this many
 * logits on: below it an OpenMP fork/join costs more than the work. */
#define DET_PARALLEL_MIN 131072

void det_logits(const det_view *view, int n_det, int n_dim, const double *X, size_t n_pix, double *A)
{
    /* A = −𝟏bᵀ, then A += X Wᵀ: the GEMM's update of C takes the bias, one
     * pass over A fewer than subtracting it afterwards. */
#pragma omp parallel for schedule(static) if (n_pix * n_det >= DET_PARALLEL_MIN)
    for (size_t p = 0; p < n_pix; p++)
        for (int i = 0; i < n_det; i++)
            A[p * n_det + i] = -view->b[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix, n_det, n_dim, 1.0, X, n_dim,
                view->W, n_dim, 1.0, A, n_det);
}
