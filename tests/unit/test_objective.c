/* objective: the whole batch gradient — detector parametrisations, the
 * fold from effective (W, b) to the flat parameters, every loss term and the
 * augmented Lagrangian — against central finite differences in double. */
#include "gradcheck.h"
#include "harness.h"
#include "objective.h"
#include "param.h"
#include "rng.h"

enum { N_DIM = 6, N_DET = 3, N_CLS = 3, HW = 2, N_IMG = 8, N_PIX = N_IMG * HW };

typedef struct {
    objective *obj;
    const objective_batch *batch;
    const al_state *al;
} eval_ctx;

static double total_of(const double *params, void *c)
{
    eval_ctx *ctx = c;
    double values[TERM_COUNT], total;
    objective_eval(ctx->obj, params, ctx->batch, ctx->al, values, &total, NULL);
    return total;
}

/* Pixel vectors with per-channel offsets and scales, pooled per image. */
static void make_batch(rng_state *rng, double *X, double *pooled, double *kappa, double *mean, double *std)
{
    for (int d = 0; d < N_DIM; d++)
        mean[d] = std[d] = 0;
    for (int p = 0; p < N_PIX; p++)
        for (int d = 0; d < N_DIM; d++) {
            X[p * N_DIM + d] = 3.0 + d + (0.5 + 0.3 * d) * rng_normal(rng);
            mean[d] += X[p * N_DIM + d] / N_PIX;
        }
    for (int p = 0; p < N_PIX; p++)
        for (int d = 0; d < N_DIM; d++)
            std[d] += (X[p * N_DIM + d] - mean[d]) * (X[p * N_DIM + d] - mean[d]) / N_PIX;
    for (int d = 0; d < N_DIM; d++)
        std[d] = sqrt(std[d]);
    for (int n = 0; n < N_IMG; n++) {
        kappa[n] = rng_uniform_range(rng, 0.5, 0.9);
        for (int d = 0; d < N_DIM; d++) {
            pooled[n * N_DIM + d] = 0;
            for (int p = 0; p < HW; p++)
                pooled[n * N_DIM + d] += X[(n * HW + p) * N_DIM + d] / HW;
        }
    }
}

static void enable(objective_config *cfg, const char *terms)
{
    memset(cfg, 0, sizeof *cfg);
    /* Gates clearly open: ν_ic = τ/I above every column mean, ρ below. */
    cfg->pixel = (loss_pixel_config){.gamma = 1.1, .tau = 2.7, .rho = 0.02, .nu = 4};
    cfg->kappa_lo = 0.5;
    cfg->kappa_hi = 0.9;
    for (int j = 0; j < TERM_COUNT; j++) {
        cfg->enabled[j] = objective_term_listed(terms, j);
        cfg->weight[j] = 0.3 + 0.2 * j;
    }
}

static void check_gradient(const char *what, const det_layout *layout, const objective_config *cfg,
                           const head_params *head, const objective_batch *batch, const double *params,
                           const al_state *al)
{
    objective obj;
    CHECK(objective_init(&obj, layout, cfg, head, N_IMG, N_PIX) == 0, "%s: objective_init", what);
    size_t n = layout->n_params;
    double *grad = malloc(n * sizeof *grad), *fd = malloc(n * sizeof *fd);
    double values[TERM_COUNT], total;
    int rc = objective_eval(&obj, params, batch, al, values, &total, grad);
    CHECK(rc == 0 && isfinite(total), "%s: objective_eval (rc %d, total %g)", what, rc, total);
    eval_ctx ctx = {&obj, batch, al};
    fd_gradient(total_of, &ctx, params, n, fd);
    double err = rel_diff(grad, fd, n);
    CHECK(err <= FD_TOL, "%s: gradient vs finite differences, relative error %.3g", what, err);
    /* The check must be able to fail. */
    grad[n / 2] += 1e-3 * (max_abs(fd, n) + 1e-12);
    CHECK(rel_diff(grad, fd, n) > FD_TOL, "%s: a perturbed gradient is caught", what);
    free(grad);
    free(fd);
    objective_free(&obj);
}

/* Signals held fixed (eddp --signals fixed): the same gradient for every other
 * parameter, and none at all for the signals, so Adam leaves them exactly. */
static void check_fixed_signals(const char *what, det_layout *layout, const objective_config *cfg,
                                const head_params *head, const objective_batch *batch, const double *params,
                                const al_state *al)
{
    size_t n = layout->n_params, n_sig = (size_t)layout->n_det * layout->n_dim;
    double *learned = malloc(n * sizeof *learned), *fixed = malloc(n * sizeof *fixed);
    double values[TERM_COUNT], total;
    for (int pass = 0; pass < 2; pass++) {
        layout->signals_fixed = pass;
        objective obj;
        CHECK(objective_init(&obj, layout, cfg, head, N_IMG, N_PIX) == 0, "%s: objective_init", what);
        objective_eval(&obj, params, batch, al, values, &total, pass ? fixed : learned);
        objective_free(&obj);
    }
    layout->signals_fixed = 0;
    double other = 0, signal = 0, signal_learned = 0;
    for (size_t k = 0; k < n; k++) {
        int in_signals = k >= layout->off_signal && k < layout->off_signal + n_sig;
        if (in_signals) {
            signal = fmax(signal, fabs(fixed[k]));
            signal_learned = fmax(signal_learned, fabs(learned[k]));
        } else {
            other = fmax(other, fabs(fixed[k] - learned[k]));
        }
    }
    CHECK(other == 0 && signal == 0 && signal_learned > 0,
          "%s: fixed signals get no gradient (max %.3g; learned %.3g), the rest is unchanged (%.3g)", what, signal,
          signal_learned, other);
    free(learned);
    free(fixed);
}

/* f(params) = ⟨G_W, W⟩ + ⟨g_b, b⟩ of the effective detectors: its gradient
 * through det_backward, for a check of the parametrisation alone. */
typedef struct {
    const det_layout *layout;
    det_view *view;
    const double *G_W, *g_b;
} probe_ctx;

static double probe_of(const double *params, void *c)
{
    probe_ctx *ctx = c;
    det_forward(ctx->layout, params, ctx->view);
    size_t dir = (size_t)ctx->layout->n_det * ctx->layout->n_dim;
    double f = 0;
    for (size_t k = 0; k < dir; k++)
        f += ctx->G_W[k] * ctx->view->W[k];
    for (int i = 0; i < ctx->layout->n_det; i++)
        f += ctx->g_b[i] * ctx->view->b[i];
    return f;
}

/* Step (a) with many detectors forms its basis in compact-WY form
 * (detectors.c): the same basis as the reflection loop, and a gradient that
 * passes central differences on sampled coordinates. */
static void test_wy_basis(rng_state *rng)
{
    enum { ND = 40, NDIM = 48 };
    double mean[NDIM], std[NDIM];
    for (int d = 0; d < NDIM; d++) {
        mean[d] = rng_normal(rng);
        std[d] = 0.5 + rng_uniform(rng);
    }
    det_layout layout;
    det_layout_init(&layout, DET_STANDARDISED, ND, NDIM, 0, mean, std);
    double *params = malloc(layout.n_params * sizeof(double)), *dparams = malloc(layout.n_params * sizeof(double));
    double *loop_unit = malloc(ND * NDIM * sizeof(double)), *G_W = malloc(ND * NDIM * sizeof(double)), g_b[ND];
    det_init_standardised(&layout, rng, 0.7, 0.2, params);
    for (int k = 0; k < ND * NDIM; k++)
        G_W[k] = rng_normal(rng);
    for (int i = 0; i < ND; i++)
        g_b[i] = rng_normal(rng);
    det_view view;
    det_grads grads;
    det_view_alloc(&view, &layout);
    det_grads_alloc(&grads, &layout);
    CHECK(view.wy != NULL, "40 detectors: the compact-WY basis is used");
    det_forward(&layout, params, &view);
    param_householder_forward(params + layout.off_dir, ND, NDIM, loop_unit);
    double worst = 0;
    for (int k = 0; k < ND * NDIM; k++)
        worst = fmax(worst, fabs(view.unit[k] - loop_unit[k]));
    CHECK(worst < 1e-12, "compact-WY basis equals the reflection loop's (%.3g)", worst);

    det_grads_zero(&grads, &layout);
    memcpy(grads.W, G_W, ND * NDIM * sizeof(double));
    memcpy(grads.b, g_b, sizeof g_b);
    det_backward(&layout, params, &view, &grads, dparams);
    probe_ctx ctx = {&layout, &view, G_W, g_b};
    double err = 0;
    for (int trial = 0; trial < 40; trial++) {
        size_t k = (size_t)(rng_uniform(rng) * (double)layout.n_params) % layout.n_params;
        double keep = params[k], h = 1e-6;
        params[k] = keep + h;
        double up = probe_of(params, &ctx);
        params[k] = keep - h;
        double down = probe_of(params, &ctx);
        params[k] = keep;
        err = fmax(err, fabs((up - down) / (2 * h) - dparams[k]) / fmax(1.0, fabs(dparams[k])));
    }
    CHECK(err < 1e-6, "compact-WY basis: det_backward against central differences (%.3g)", err);
    det_view_free(&view);
    det_grads_free(&grads);
    det_layout_free(&layout);
    free(params); free(dparams); free(loop_unit); free(G_W);
}

int main(void)
{
    rng_state rng;
    rng_init(&rng, 21, 1);
    double X[N_PIX * N_DIM], pooled[N_IMG * N_DIM], kappa[N_IMG], mean[N_DIM], std[N_DIM];
    make_batch(&rng, X, pooled, kappa, mean, std);
    objective_batch batch = {X, pooled, kappa, N_IMG, N_PIX, NULL};
    double V[N_CLS * N_DIM], c[N_CLS];
    for (int k = 0; k < N_CLS * N_DIM; k++)
        V[k] = rng_normal(&rng);
    for (int k = 0; k < N_CLS; k++)
        c[k] = rng_normal(&rng);
    head_params head = {.n_cls = N_CLS, .n_dim = N_DIM, .weight = V, .bias = c};

    /* Step (a): standardised orthonormal detectors, shared M and t. */
    det_layout std_layout;
    det_layout_init(&std_layout, DET_STANDARDISED, N_DET, N_DIM, 0, mean, std);
    double *params_a = malloc(std_layout.n_params * sizeof(double));
    det_init_standardised(&std_layout, &rng, 0.7, 0.2, params_a);
    objective_config cfg;
    enable(&cfg, "s,ma,mm,ic,uur");
    check_gradient("step (a), weighted sum", &std_layout, &cfg, &head, &batch, params_a, NULL);
    enable(&cfg, "s,ma,mm,ic,cnn");
    check_gradient("CBE (L^cnn), weighted sum", &std_layout, &cfg, &head, &batch, params_a, NULL);

    /* Steps (b)/(d): free detectors from random raw filters, both spaces. */
    double W[N_DET * N_DIM], b[N_DET], S[N_DET * N_DIM];
    for (int k = 0; k < N_DET * N_DIM; k++) {
        W[k] = rng_normal(&rng);
        S[k] = rng_normal(&rng);
    }
    for (int i = 0; i < N_DET; i++) {
        b[i] = 0;
        for (int d = 0; d < N_DIM; d++)
            b[i] += W[i * N_DIM + d] * (mean[d] + 0.3 * rng_normal(&rng));
    }
    for (int raw = 0; raw < 2; raw++) {
        det_layout layout_b, layout_d;
        det_layout_init(&layout_b, DET_FREE, N_DET, N_DIM, 0, mean, raw ? NULL : std);
        det_layout_init(&layout_d, DET_FREE, N_DET, N_DIM, 1, mean, raw ? NULL : std);
        double *pb = malloc(layout_b.n_params * sizeof(double)), *pd = malloc(layout_d.n_params * sizeof(double));
        CHECK(det_init_from_effective(&layout_b, W, b, NULL, 0.8, pb) == 0, "init from effective (b)");
        CHECK(det_init_from_effective(&layout_d, W, b, S, 1.3, pd) == 0, "init from effective (d)");
        enable(&cfg, "s,sb,ma,mm,ic,eac,uur");
        check_gradient(raw ? "step (b), raw space" : "step (b), standardised space", &layout_b, &cfg, &head,
                       &batch, pb, NULL);
        enable(&cfg, "s,sb,ma,mm,ic,eac,cur,fso");
        check_gradient(raw ? "step (d), raw space" : "step (d), standardised space", &layout_d, &cfg, &head,
                       &batch, pd, NULL);
        /* The augmented Lagrangian: constraints active and inactive. */
        cfg.constrained[TERM_MA] = cfg.constrained[TERM_MM] = cfg.constrained[TERM_IC] = 1;
        cfg.constrained[TERM_EAC] = cfg.constrained[TERM_FSO] = 1;
        double bounds[5] = {0.01, 100, 0.01, 0.01, 1.0};
        al_state al;
        al_init(&al, 5, bounds, 3.0, 10, 1e4);
        for (int k = 0; k < 5; k++)
            al.multiplier[k] = 0.2 * k;
        check_gradient(raw ? "step (d), raw, augmented Lagrangian" : "step (d), standardised, augmented Lagrangian",
                       &layout_d, &cfg, &head, &batch, pd, &al);
        check_fixed_signals(raw ? "step (d), raw" : "step (d), standardised", &layout_d, &cfg, &head, &batch, pd, &al);
        free(pb);
        free(pd);
        det_layout_free(&layout_b);
        det_layout_free(&layout_d);
    }

    /* The effective detectors reproduce the raw ones exactly. */
    det_layout layout;
    det_layout_init(&layout, DET_FREE, N_DET, N_DIM, 1, mean, std);
    double *p = malloc(layout.n_params * sizeof(double));
    det_init_from_effective(&layout, W, b, S, 1.0, p);
    det_view view;
    det_view_alloc(&view, &layout);
    det_forward(&layout, p, &view);
    double worst = 0;
    for (int k = 0; k < N_DET * N_DIM; k++)
        worst = fmax(worst, fabs(view.W[k] - W[k]) / (1 + fabs(W[k])));
    for (int i = 0; i < N_DET; i++)
        worst = fmax(worst, fabs(view.b[i] - b[i]) / (1 + fabs(b[i])));
    CHECK(worst < 1e-12, "det_init_from_effective then det_forward gives back W, b (%.3g)", worst);
    det_view_free(&view);
    det_layout_free(&layout);
    free(p);
    det_layout_free(&std_layout);
    free(params_a);
    test_wy_basis(&rng);
    return harness_report("objective");
}
