/* Unit tests of libcore/losses: central finite differences for every loss,
 * the identities of method-spec §12 items 7 (R_SW) and 10 (finite values on
 * extreme logits), both states of every ReLU gate, the clamped-S branch,
 * and the fused pixel losses against the separate functions. */
#include "gradcheck.h"
#include "harness.h"
#include "losses.h"
#include "rng.h"

#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define FUSED_TOL 1e-12

/* Analytic gradients here come from backward(..., scale, base + g) with a
 * random non-zero base, so accumulation and the scale argument are tested
 * too: g = (out − base)/scale. */
static void fill_normal(rng_state *r, double *x, size_t n, double mean,
                        double sd)
{
    for (size_t k = 0; k < n; k++)
        x[k] = mean + sd * rng_normal(r);
}

static double check_fd(const char *what, scalar_fn f, void *ctx,
                       const double *x, size_t n, const double *g)
{
    double *g_fd = calloc(n, sizeof(double));
    fd_gradient(f, ctx, x, n, g_fd);
    double err = rel_diff(g, g_fd, n);
    CHECK(err <= FD_TOL, "%s: finite differences, rel err %.3g", what, err);
    free(g_fd);
    return err;
}

/* ---- instances --------------------------------------------------------------
 * Logits with one mean per detector column (mean[i]) and spread sd. */
static double *column_logits(rng_state *r, size_t n_pix, size_t n_det,
                             const double *mean, double sd)
{
    double *A = malloc(n_pix * n_det * sizeof(double));
    for (size_t p = 0; p < n_pix; p++)
        for (size_t i = 0; i < n_det; i++)
            A[p * n_det + i] = mean[i] + sd * rng_normal(r);
    return A;
}

typedef struct {
    size_t n_pix, n_det;
    double tau, rho, gamma, nu;
    double *work; /* [max(n_pix, n_det)] H or g */
} loss_ctx;

static double f_sparsity(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_sparsity_forward(A, x->n_pix, x->n_det, NULL);
}
static double f_sparsity_batch(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_sparsity_batch_forward(A, x->n_pix, x->n_det, x->nu, x->work);
}
static double f_max_act(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_max_activation_forward(A, x->n_pix, x->n_det);
}
static double f_inactive(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_inactive_forward(A, x->n_pix, x->n_det, x->tau, x->gamma,
                                 x->work);
}
static double f_excessive(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_excessive_forward(A, x->n_pix, x->n_det, x->rho, x->gamma,
                                  x->nu, x->work);
}

static double f_inactive_pd(const double *A, void *c)
{
    loss_ctx *x = c;
    return loss_inactive_per_detector_forward(A, x->n_pix, x->n_det, x->tau, x->gamma, x->nu, x->work);
}

enum which { L_S, L_SB, L_MA, L_IC, L_EAC, L_ICPD };
static const char *const which_name[] = {"L^s", "L^sb", "L^ma", "L^ic",
                                         "L^eac", "L^ic per detector"};
static const scalar_fn which_fn[] = {f_sparsity, f_sparsity_batch, f_max_act,
                                     f_inactive, f_excessive, f_inactive_pd};

/* Analytic gradient of one separate loss at A, via forward + backward. */
static void analytic(enum which wh, const double *A, loss_ctx *x,
                     double scale, rng_state *r, double *g)
{
    size_t n = x->n_pix * x->n_det;
    double *base = malloc(n * sizeof(double));
    fill_normal(r, base, n, 0.0, 1.0);
    memcpy(g, base, n * sizeof(double));
    which_fn[wh](A, x); /* fills x->work with H or g */
    switch (wh) {
    case L_S:
        loss_sparsity_backward(A, x->n_pix, x->n_det, scale, g);
        break;
    case L_SB:
        loss_sparsity_batch_backward(A, x->n_pix, x->n_det, x->nu, x->work,
                                     scale, g);
        break;
    case L_MA:
        loss_max_activation_backward(A, x->n_pix, x->n_det, scale, g);
        break;
    case L_IC:
        loss_inactive_backward(A, x->n_pix, x->n_det, x->tau, x->gamma,
                               x->work, scale, g);
        break;
    case L_EAC:
        loss_excessive_backward(A, x->n_pix, x->n_det, x->rho, x->gamma,
                                x->nu, x->work, scale, g);
        break;
    case L_ICPD:
        loss_inactive_per_detector_backward(A, x->n_pix, x->n_det, x->tau, x->gamma, x->nu, x->work, scale, g);
        break;
    }
    for (size_t k = 0; k < n; k++)
        g[k] = (g[k] - base[k]) / scale;
    free(base);
}

static double check_loss_fd(enum which wh, const char *instance,
                            const double *A, loss_ctx *x, rng_state *r)
{
    size_t n = x->n_pix * x->n_det;
    double *g = malloc(n * sizeof(double));
    analytic(wh, A, x, 0.37, r, g);
    char what[128];
    snprintf(what, sizeof what, "%s (%s)", which_name[wh], instance);
    double err = check_fd(what, which_fn[wh], x, A, n, g);
    free(g);
    return err;
}

static loss_ctx make_ctx(size_t n_pix, size_t n_det)
{
    loss_ctx x = {n_pix, n_det, 1.2, 0.5, 1.1, 4.0, NULL};
    x.work = malloc((n_pix > n_det ? n_pix : n_det) * sizeof(double));
    return x;
}

/* ---- tests ------------------------------------------------------------------ */

/* L^s, L^sb, L^ma on generic logits, on pixels in the clamped branch
 * (S_p < 1e-12), and with ν non-integer; the checker must reject a wrong
 * gradient. */
static void test_pixel_losses_fd(void)
{
    rng_state r;
    rng_init(&r, 11, RNG_STREAM_TRAIN);
    loss_ctx x = make_ctx(9, 5);
    size_t n = x.n_pix * x.n_det;
    double mean[5] = {0.5, -1.0, 1.5, -2.0, 0.0};
    double *A = column_logits(&r, x.n_pix, x.n_det, mean, 2.0);
    for (enum which wh = L_S; wh <= L_MA; wh++)
        check_loss_fd(wh, "generic", A, &x, &r);
    x.nu = 2.5;
    check_loss_fd(L_SB, "nu 2.5", A, &x, &r);
    x.nu = 4.0;

    /* The checker itself: a gradient off by 1e-4 in one entry fails. */
    double *g = malloc(n * sizeof(double)), *g_fd = calloc(n, sizeof(double));
    analytic(L_S, A, &x, 1.0, &r, g);
    fd_gradient(f_sparsity, &x, A, n, g_fd);
    g[7] += 1e-4 * max_abs(g, n);
    CHECK(rel_diff(g, g_fd, n) > FD_TOL,
          "finite-difference check rejects a wrong gradient (err %.3g)",
          rel_diff(g, g_fd, n));

    /* Clamped branch: all detectors far off, S_p ≈ 5·e^{-35} < 1e-12. */
    double off[5] = {-35.0, -34.0, -36.0, -35.5, -33.5};
    double *B = column_logits(&r, x.n_pix, x.n_det, off, 0.5);
    for (size_t p = 0; p < x.n_pix; p++) {
        double s = 0.0;
        for (size_t i = 0; i < x.n_det; i++)
            s += 1.0 / (1.0 + exp(-B[p * x.n_det + i]));
        CHECK(s < 0.5 * LOSS_S_MIN, "clamped instance: S_%zu = %g", p, s);
    }
    for (enum which wh = L_S; wh <= L_MA; wh++)
        check_loss_fd(wh, "clamped", B, &x, &r);
    /* Mixed: a few clamped rows among ordinary ones. */
    memcpy(B, A, 5 * x.n_det * sizeof(double));
    for (enum which wh = L_S; wh <= L_MA; wh++)
        check_loss_fd(wh, "mixed clamped", B, &x, &r);
    free(g);
    free(g_fd);
    free(A);
    free(B);
    free(x.work);
}

/* Column means of y^γ, and whether each is clearly on one side of t. */
static int gates_clear(const double *A, loss_ctx *x, double t, int *n_on)
{
    double *g = malloc(x->n_det * sizeof(double));
    loss_power_mean(A, x->n_pix, x->n_det, x->gamma, g);
    int clear = 1;
    *n_on = 0;
    for (size_t i = 0; i < x->n_det; i++) {
        clear &= fabs(g[i] - t) > 0.05;
        *n_on += g[i] > t;
    }
    free(g);
    return clear;
}

/* L^ic and L^eac with detectors on both sides of their ReLU gates, then
 * with every gate closed: value 0 and an exactly zero gradient. */
static void test_column_losses_fd(void)
{
    rng_state r;
    rng_init(&r, 12, RNG_STREAM_TRAIN);
    loss_ctx x = make_ctx(10, 6);
    size_t n = x.n_pix * x.n_det;
    double nu_ic = x.tau / (double)x.n_det; /* 0.2 */
    double mean[6] = {-4.0, -3.0, 2.0, 3.0, -3.5, 1.5};
    double *A = column_logits(&r, x.n_pix, x.n_det, mean, 0.5);
    int above;
    CHECK(gates_clear(A, &x, nu_ic, &above) && above == 3,
          "L^ic instance has 3 gates open, 3 closed (%d above)", above);
    CHECK(gates_clear(A, &x, x.rho, &above) && above == 3,
          "L^eac instance has 3 gates open, 3 closed (%d above)", above);
    check_loss_fd(L_IC, "mixed gates", A, &x, &r);
    check_loss_fd(L_EAC, "mixed gates", A, &x, &r);

    /* Closed gates carry no gradient; open ones do. */
    double *g = malloc(n * sizeof(double));
    analytic(L_IC, A, &x, 1.0, &r, g);
    int zero_where_closed = 1, nonzero_where_open = 1;
    for (size_t p = 0; p < x.n_pix; p++)
        for (size_t i = 0; i < x.n_det; i++) {
            double v = fabs(g[p * x.n_det + i]);
            if (mean[i] > 0) /* g_i > ν_ic: L^ic gate closed */
                zero_where_closed &= v < 1e-15;
            else
                nonzero_where_open &= v > 1e-6;
        }
    CHECK(zero_where_closed && nonzero_where_open,
          "L^ic gradient is zero exactly on closed gates");

    /* Every L^ic gate closed (all columns active), every L^eac gate closed
     * (all columns quiet): zero losses, zero gradients, no NaN. */
    double on[6] = {2, 2.5, 3, 1.5, 2, 3.5}, quiet[6] = {-3, -4, -3.5, -5, -3,
                                                        -4};
    double *B = column_logits(&r, x.n_pix, x.n_det, on, 0.5);
    double *C = column_logits(&r, x.n_pix, x.n_det, quiet, 0.5);
    CHECK(f_inactive(B, &x) == 0.0, "L^ic = 0 with all gates closed");
    CHECK(f_excessive(C, &x) == 0.0, "L^eac = 0 with all gates closed");
    analytic(L_IC, B, &x, 1.0, &r, g);
    CHECK(max_abs(g, n) < 1e-15, "L^ic gradient 0 with all gates closed");
    analytic(L_EAC, C, &x, 1.0, &r, g);
    CHECK(max_abs(g, n) < 1e-15, "L^eac gradient 0 with all gates closed");
    /* ...and every gate open. */
    check_loss_fd(L_IC, "all gates open", C, &x, &r);
    check_loss_fd(L_EAC, "all gates open", B, &x, &r);
    free(g);
    free(A);
    free(B);
    free(C);
    free(x.work);
}

/* L^ic per detector: finite differences with mixed and with all gates open,
 * zero with all closed, and what it is for: one detector short of its floor
 * by a deficit d gives d (the mean of Eq. 13 gives d/n_det, so a bound
 * on the mean lets one detector fall short by n_det times the bound). */
static void test_inactive_per_detector(void)
{
    rng_state r;
    rng_init(&r, 21, RNG_STREAM_TRAIN);
    loss_ctx x = make_ctx(10, 6);
    size_t n = x.n_pix * x.n_det;
    double mean[6] = {-4.0, -3.0, 2.0, 3.0, -3.5, 1.5};
    double *A = column_logits(&r, x.n_pix, x.n_det, mean, 0.5);
    check_loss_fd(L_ICPD, "mixed gates", A, &x, &r);
    x.nu = 2.5;
    check_loss_fd(L_ICPD, "mixed gates, nu 2.5", A, &x, &r);
    x.nu = 4.0;
    double quiet[6] = {-3, -4, -3.5, -5, -3, -4}, on[6] = {2, 2.5, 3, 1.5, 2, 3.5};
    double *C = column_logits(&r, x.n_pix, x.n_det, quiet, 0.5);
    double *B = column_logits(&r, x.n_pix, x.n_det, on, 0.5);
    check_loss_fd(L_ICPD, "all gates open", C, &x, &r);
    double *g = malloc(n * sizeof(double));
    CHECK(f_inactive_pd(B, &x) == 0.0, "L^ic per detector = 0 with all gates closed");
    analytic(L_ICPD, B, &x, 1.0, &r, g);
    CHECK(max_abs(g, n) < 1e-15, "L^ic per detector: gradient 0 with all gates closed");

    /* Between the mean and the largest deficit. */
    double nu_ic = x.tau / (double)x.n_det, worst = 0.0;
    double pd = f_inactive_pd(A, &x), avg = f_inactive(A, &x);
    for (size_t i = 0; i < x.n_det; i++)
        worst = fmax(worst, x.work[i] < nu_ic ? (nu_ic - x.work[i]) / nu_ic : 0.0);
    CHECK(avg < pd && pd <= worst + 1e-15, "mean %g < per detector %g <= max deficit %g", avg, pd, worst);
    /* One detector short: per detector = its deficit = n_det × the mean. */
    memcpy(A, B, n * sizeof(double));
    for (size_t p = 0; p < x.n_pix; p++)
        A[p * x.n_det + 1] = -2.0 + 0.1 * (double)p;
    pd = f_inactive_pd(A, &x);
    avg = f_inactive(A, &x);
    double d1 = (nu_ic - x.work[1]) / nu_ic;
    CHECK(d1 > 0.1, "one detector short of the floor (deficit %g)", d1);
    CHECK_CLOSE(pd, d1, 1e-14, "per detector = the one deficit");
    CHECK_CLOSE(avg * (double)x.n_det, d1, 1e-14, "mean = deficit / n_det");
    loss_pixel_config bad = {1.1, 1.0, 0.5, 4.0, LOSS_COVERAGE_UNION + 1, LOSS_SPARSITY_ENTROPY};
    CHECK(!loss_pixel_config_valid(&bad), "an unknown coverage is refused");
    free(g);
    free(A);
    free(B);
    free(C);
    free(x.work);
}

/* --tau-schedule: linear from τ₀ at epoch 0 to τ₁ at epoch N, τ₁ after. */
static void test_tau_schedule(void)
{
    CHECK(loss_coverage_tau_at(1.0, 0.25, 100, 0) == 1.0, "epoch 0: the start value");
    CHECK_CLOSE(loss_coverage_tau_at(1.0, 0.25, 100, 40), 0.7, 1e-15, "epoch 40 of 100: 1 − 0.4·0.75");
    CHECK(loss_coverage_tau_at(1.0, 0.25, 100, 100) == 0.25 && loss_coverage_tau_at(1.0, 0.25, 100, 5000) == 0.25,
          "from epoch N on: the end value");
    CHECK(loss_coverage_tau_at(1.0, 0.25, 0, 0) == 0.25, "no ramp: the end value");
    CHECK_CLOSE(loss_coverage_tau_at(0.2, 0.6, 4, 1), 0.3, 1e-15, "a rising schedule");
}

typedef struct {
    size_t n;
    double nu;
} rsw_ctx;

static double f_rsw(const double *L, void *c)
{
    rsw_ctx *x = c;
    return loss_rsw_forward(L, x->n, x->nu);
}

/* method-spec §12 item 7, plus gradients and Euler's identity
 * Σ L_k ∂R/∂L_k = R (R is 1-homogeneous). */
static void test_rsw(void)
{
    rng_state r;
    rng_init(&r, 13, RNG_STREAM_TRAIN);
    enum { N = 40 };
    double L[N], g[N], cl[N];
    for (int k = 0; k < N; k++)
        L[k] = rng_uniform_range(&r, 0.1, 3.0);
    L[5] = 0.0; /* a zero entry is allowed */
    const double nus[] = {4.0, 1.5, 7.25};
    for (size_t t = 0; t < sizeof nus / sizeof nus[0]; t++) {
        rsw_ctx x = {N, nus[t]};
        double R = f_rsw(L, &x), mean = 0.0, mx = 0.0;
        for (int k = 0; k < N; k++) {
            mean += L[k] / N;
            mx = fmax(mx, L[k]);
        }
        CHECK(mean <= R && R <= mx, "R_SW(nu %g) = %g in [mean %g, max %g]",
              nus[t], R, mean, mx);
        const double cs[] = {3.7, 1e-200, 1e200};
        for (int c = 0; c < 3; c++) {
            for (int k = 0; k < N; k++)
                cl[k] = cs[c] * L[k];
            double Rc = f_rsw(cl, &x);
            CHECK(fabs(Rc - cs[c] * R) <= 1e-13 * cs[c] * R,
                  "R_SW(cL) = c R_SW(L), c = %g (nu %g)", cs[c], nus[t]);
        }
        for (int k = 0; k < N; k++)
            g[k] = 1.0;
        loss_rsw_backward(L, N, nus[t], 2.0, g);
        double euler = 0.0;
        for (int k = 0; k < N; k++) {
            g[k] = (g[k] - 1.0) / 2.0;
            euler += L[k] * g[k];
        }
        CHECK_CLOSE(euler, R, 1e-13, "R_SW Euler identity");
    }
    /* Finite differences away from L_k = 0, the domain's edge (for ν < 2
     * R is not differentiable there). */
    L[5] = 0.05;
    for (size_t t = 0; t < sizeof nus / sizeof nus[0]; t++) {
        rsw_ctx x = {N, nus[t]};
        memset(g, 0, sizeof g);
        loss_rsw_backward(L, N, nus[t], 1.0, g);
        check_fd("R_SW", f_rsw, &x, L, N, g);
    }

    /* All zero: 0, zero gradient, no NaN. */
    double z[N] = {0}, gz[N] = {0};
    CHECK(loss_rsw_forward(z, N, 4.0) == 0.0, "R_SW(0) = 0");
    loss_rsw_backward(z, N, 4.0, 1.0, gz);
    CHECK(max_abs(gz, N) == 0.0, "R_SW gradient at 0 is 0");
    CHECK(loss_rsw_forward(z, 0, 4.0) == 0.0, "R_SW of nothing is 0");
    /* One non-zero entry: R = that entry. */
    z[3] = 2.5;
    CHECK(loss_rsw_forward(z, N, 4.0) == 2.5, "R_SW of one non-zero");

    /* Large ν and n, values whose ν-th powers overflow unscaled. */
    size_t big = 200000;
    double *Lb = malloc(big * sizeof(double)), *gb = calloc(big, sizeof(double));
    double mean = 0.0, mx = 0.0;
    for (size_t k = 0; k < big; k++) {
        Lb[k] = 1e10 * rng_uniform(&r);
        mean += Lb[k] / (double)big;
        mx = fmax(mx, Lb[k]);
    }
    double R = loss_rsw_forward(Lb, big, 200.0);
    loss_rsw_backward(Lb, big, 200.0, 1.0, gb);
    int finite = isfinite(R);
    for (size_t k = 0; k < big; k++)
        finite &= isfinite(gb[k]);
    CHECK(finite && mean <= R && R <= mx,
          "R_SW finite for nu 200, n 2e5, L ~ 1e10 (R = %g, max %g)", R, mx);
    free(Lb);
    free(gb);
}

static double f_margin(const double *M, void *c)
{
    return loss_margin_forward(M, *(size_t *)c);
}

static void test_margin(void)
{
    rng_state r;
    rng_init(&r, 14, RNG_STREAM_TRAIN);
    size_t n = 7;
    double M[7], g[7];
    for (size_t i = 0; i < n; i++) {
        M[i] = rng_uniform_range(&r, 0.3, 4.0);
        g[i] = 0.5;
    }
    loss_margin_backward(M, n, 3.0, g);
    for (size_t i = 0; i < n; i++)
        g[i] = (g[i] - 0.5) / 3.0;
    check_fd("L^mm", f_margin, &n, M, n, g);
    double ones[3] = {2, 2, 2};
    CHECK_CLOSE(loss_margin_forward(ones, 3), 0.5, 1e-15, "L^mm of M = 2");
}

typedef struct {
    size_t n_det, n_dim;
    const double *other;
    int wrt_signals;
} fso_ctx;

static double f_fso(const double *x, void *c)
{
    fso_ctx *f = c;
    double v = NAN;
    if (f->wrt_signals)
        loss_fso_forward(f->other, x, f->n_det, f->n_dim, &v);
    else
        loss_fso_forward(x, f->other, f->n_det, f->n_dim, &v);
    return v;
}

static void test_fso(void)
{
    rng_state r;
    rng_init(&r, 15, RNG_STREAM_TRAIN);
    size_t n_det = 4, n_dim = 6, n = n_det * n_dim;
    double W[24], S[24], dW[24], dS[24];
    fill_normal(&r, W, n, 0.0, 1.0);
    fill_normal(&r, S, n, 0.0, 2.0);
    for (size_t k = 0; k < n; k++)
        dW[k] = dS[k] = 1.0;
    CHECK(loss_fso_backward(W, S, n_det, n_dim, 0.5, dW, dS) == 0,
          "L^fso backward status");
    for (size_t k = 0; k < n; k++) {
        dW[k] = (dW[k] - 1.0) / 0.5;
        dS[k] = (dS[k] - 1.0) / 0.5;
    }
    fso_ctx cw = {n_det, n_dim, S, 0}, cs = {n_det, n_dim, W, 1};
    check_fd("L^fso dW", f_fso, &cw, W, n, dW);
    check_fd("L^fso dS", f_fso, &cs, S, n, dS);

    /* S = W: only the off-diagonal cosines count; scale-free in rows. */
    double v1 = NAN, v2 = NAN, W2[24];
    for (size_t k = 0; k < n; k++)
        W2[k] = W[k] * (1.0 + (double)(k / n_dim));
    loss_fso_forward(W, W, n_det, n_dim, &v1);
    loss_fso_forward(W2, W, n_det, n_dim, &v2);
    CHECK(v1 >= 0.0 && v1 <= 1.0 && fabs(v1 - v2) < 1e-14,
          "L^fso in [0,1] and invariant to row scales (%g, %g)", v1, v2);
    /* Orthonormal identical sets: every off-diagonal cosine 0 → sqrt(eps). */
    double E[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    loss_fso_forward(E, E, 4, 4, &v1);
    CHECK_CLOSE(v1, sqrt(LOSS_FSO_EPS), 1e-15, "L^fso of orthonormal pairs");
    double Z[24] = {0};
    CHECK(loss_fso_forward(Z, S, n_det, n_dim, &v1) != 0,
          "L^fso rejects a zero filter");
}

/* The workspace pair (one forward, its backward) equals the plain functions
 * bit for bit, across reuse, and refuses a backward without its forward. */
static void test_fso_workspace(void)
{
    rng_state r;
    rng_init(&r, 20, RNG_STREAM_TRAIN);
    size_t n_det = 5, n_dim = 7, n = n_det * n_dim;
    double W[35], S[35], dW1[35], dS1[35], dW2[35], dS2[35];
    loss_fso_workspace *ws = loss_fso_workspace_create(n_det, n_dim);
    CHECK(ws != NULL, "L^fso workspace");
    int same = 1;
    for (int round = 0; round < 3; round++) {
        fill_normal(&r, W, n, 0.0, 1.0);
        fill_normal(&r, S, n, 0.5, 2.0);
        fill_normal(&r, dW1, n, 0.0, 1.0);
        fill_normal(&r, dS1, n, 0.0, 1.0);
        memcpy(dW2, dW1, sizeof dW1);
        memcpy(dS2, dS1, sizeof dS1);
        double v1 = NAN, v2 = NAN;
        same &= loss_fso_forward(W, S, n_det, n_dim, &v1) == 0 &&
                loss_fso_backward(W, S, n_det, n_dim, 0.7, dW1, dS1) == 0;
        same &= loss_fso_forward_ws(ws, W, S, n_det, n_dim, &v2) == 0 &&
                loss_fso_backward_ws(ws, W, S, 0.7, dW2, dS2) == 0;
        same &= v1 == v2 && memcmp(dW1, dW2, sizeof dW1) == 0 &&
                memcmp(dS1, dS2, sizeof dS1) == 0;
    }
    CHECK(same, "L^fso workspace pair == plain functions, bit for bit");
    CHECK(loss_fso_backward_ws(ws, W, S, 0.7, dW2, dS2) != 0,
          "L^fso workspace refuses a second backward");
    double v = NAN;
    loss_fso_forward_ws(ws, W, S, n_det, n_dim, &v);
    CHECK(loss_fso_backward_ws(ws, S, W, 0.7, dW2, dS2) != 0,
          "L^fso workspace refuses other inputs");
    CHECK(loss_fso_forward_ws(ws, W, S, n_det - 1, n_dim, &v) != 0,
          "L^fso workspace refuses other sizes");
    CHECK(loss_fso_backward_ws(ws, W, S, 0.7, dW2, dS2) != 0,
          "L^fso workspace: a failed forward leaves nothing to differentiate");
    loss_fso_workspace_free(ws);
}

/* ---- fused == separate --------------------------------------------------------- */
static void separate_total(const double *A, size_t n_pix, size_t n_det,
                           const loss_pixel_config *cfg,
                           const loss_pixel_weights *w, loss_pixel_values *v,
                           double *dA)
{
    double *H = malloc(n_pix * sizeof(double)), *g = malloc(n_det * sizeof(double));
    v->s = loss_sparsity_forward(A, n_pix, n_det, NULL);
    v->sb = loss_sparsity_batch_forward(A, n_pix, n_det, cfg->nu, H);
    v->ma = loss_max_activation_forward(A, n_pix, n_det);
    int per_det = cfg->coverage == LOSS_COVERAGE_PER_DETECTOR;
    v->ic = per_det ? loss_inactive_per_detector_forward(A, n_pix, n_det, cfg->tau, cfg->gamma, cfg->nu, g)
                    : loss_inactive_forward(A, n_pix, n_det, cfg->tau, cfg->gamma, g);
    v->eac = loss_excessive_forward(A, n_pix, n_det, cfg->rho, cfg->gamma,
                                    cfg->nu, g);
    v->total = w->s * v->s + w->sb * v->sb + w->ma * v->ma + w->ic * v->ic +
               w->eac * v->eac;
    if (w->s != 0)
        loss_sparsity_backward(A, n_pix, n_det, w->s, dA);
    if (w->sb != 0)
        loss_sparsity_batch_backward(A, n_pix, n_det, cfg->nu, H, w->sb, dA);
    if (w->ma != 0)
        loss_max_activation_backward(A, n_pix, n_det, w->ma, dA);
    if (w->ic != 0 && per_det)
        loss_inactive_per_detector_backward(A, n_pix, n_det, cfg->tau, cfg->gamma, cfg->nu, g, w->ic, dA);
    else if (w->ic != 0)
        loss_inactive_backward(A, n_pix, n_det, cfg->tau, cfg->gamma, g,
                               w->ic, dA);
    if (w->eac != 0)
        loss_excessive_backward(A, n_pix, n_det, cfg->rho, cfg->gamma,
                                cfg->nu, g, w->eac, dA);
    free(H);
    free(g);
}

/* An instance with mixed gates, a few clamped rows and a few huge logits. */
static double *fused_instance(rng_state *r, size_t n_pix, size_t n_det)
{
    double mean[7] = {-4.0, -3.0, 2.0, 3.0, -3.5, 1.5, 0.0};
    double *A = column_logits(r, n_pix, n_det, mean, 1.0);
    for (size_t i = 0; i < n_det; i++) {
        A[3 * n_det + i] = -40.0 - i;  /* clamped */
        A[10 * n_det + i] = -900.0;    /* y underflows to 0 */
        A[20 * n_det + i] = 800.0 * (i % 2 ? 1 : -1);
    }
    return A;
}

static void check_values_close(const loss_pixel_values *got,
                               const loss_pixel_values *want,
                               const loss_pixel_weights *w, const char *what)
{
    char name[160];
    const double g[6] = {got->s, got->sb, got->ma, got->ic, got->eac,
                         got->total};
    const double e[6] = {want->s, want->sb, want->ma, want->ic, want->eac,
                         want->total};
    const char *const terms[6] = {"s", "sb", "ma", "ic", "eac", "total"};
    int columns = w->ic != 0 || w->eac != 0;
    for (int k = 0; k < 6; k++) {
        if (((k == 3 || k == 4) && !columns) || (k == 1 && w->sb == 0)) {
            CHECK(isnan(g[k]), "%s: skipped %s reported as NaN", what,
                  terms[k]);
            continue;
        }
        snprintf(name, sizeof name, "%s: fused %s", what, terms[k]);
        CHECK(fabs(g[k] - e[k]) <= FUSED_TOL * fmax(fabs(e[k]), 1e-300) ||
                  g[k] == e[k],
              "%s: %.17g vs %.17g", name, g[k], e[k]);
    }
}

static void test_fused_equals_separate(void)
{
    rng_state r;
    rng_init(&r, 16, RNG_STREAM_TRAIN);
    size_t n_pix = 1000, n_det = 7, n = n_pix * n_det;
    double *A = fused_instance(&r, n_pix, n_det);
    /* τ·... chosen so L^ic and L^eac gates are mixed (3 open each). */
    loss_pixel_config cfg = {1.1, 1.4, 0.6, 4.0, LOSS_COVERAGE_MEAN, LOSS_SPARSITY_ENTROPY};
    const loss_pixel_weights ws_list[] = {
        {2.6, 1.3, 2.8, 5.0, 15.0}, /* everything */
        {0.85, 0, 0, 0, 0},         /* only L^s: column pass skipped */
        {0, 0, 0, 5.0, 0},          /* only L^ic */
        {0, 0, 0, 0, 15.0},         /* only L^eac */
        {0, 2.6, 2.8, 0, 0},        /* L^sb + L^ma */
    };
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    CHECK(ws != NULL, "workspace");
    double *d_sep = malloc(n * sizeof(double)), *d_fus = malloc(n * sizeof(double));
    size_t n_w = sizeof ws_list / sizeof ws_list[0];
    for (size_t t = 0; t < 2 * n_w; t++) {
        const loss_pixel_weights *w = &ws_list[t % n_w];
        cfg.coverage = t < n_w ? LOSS_COVERAGE_MEAN : LOSS_COVERAGE_PER_DETECTOR;
        loss_pixel_values v_sep, v_fus, v_fwd;
        fill_normal(&r, d_sep, n, 0.0, 0.1);
        memcpy(d_fus, d_sep, n * sizeof(double));
        separate_total(A, n_pix, n_det, &cfg, w, &v_sep, d_sep);
        CHECK(loss_pixel_fused(ws, A, n_pix, n_det, &cfg, w, &v_fus, d_fus) ==
                  0,
              "fused status");
        char what[96];
        snprintf(what, sizeof what, "weights #%zu, coverage %s", t % n_w, t < n_w ? "mean" : "per detector");
        check_values_close(&v_fus, &v_sep, w, what);
        double err = rel_diff(d_fus, d_sep, n);
        CHECK(err <= FUSED_TOL, "%s: fused gradient rel err %.3g", what, err);
        /* Forward only gives the same values. */
        CHECK(loss_pixel_fused(ws, A, n_pix, n_det, &cfg, w, &v_fwd, NULL) == 0 &&
                  memcmp(&v_fwd, &v_fus, sizeof v_fwd) == 0,
              "%s: forward-only values identical", what);
    }
    free(d_sep);
    free(d_fus);
    free(A);
    loss_pixel_workspace_free(ws);
}

/* The fused total's own finite differences (weights on every term). */
typedef struct {
    loss_pixel_workspace *ws;
    size_t n_pix, n_det;
    loss_pixel_config cfg;
    loss_pixel_weights w;
} fused_ctx;

static double f_fused(const double *A, void *c)
{
    fused_ctx *f = c;
    loss_pixel_values v;
    loss_pixel_fused(f->ws, A, f->n_pix, f->n_det, &f->cfg, &f->w, &v, NULL);
    return v.total;
}

/* The fused total's gradient under cfg and w at logits A [40 × 7] against
 * its central differences. */
static void check_fused_fd(const char *what, const double *A, loss_pixel_config cfg, loss_pixel_weights w)
{
    fused_ctx f = {loss_pixel_workspace_create(40, 7), 40, 7, cfg, w};
    size_t n = f.n_pix * f.n_det;
    double *g = calloc(n, sizeof(double));
    loss_pixel_values v;
    loss_pixel_fused(f.ws, A, f.n_pix, f.n_det, &f.cfg, &f.w, &v, g);
    check_fd(what, f_fused, &f, A, n, g);
    free(g);
    loss_pixel_workspace_free(f.ws);
}

/* Logits [40 × 7] with one mean per column and spread 0.7: gates of L^ic and
 * L^eac open on some columns, shut on others. */
static double *fused_fd_instance(rng_state *r)
{
    double mean[7] = {-4.0, -3.0, 2.0, 3.0, -3.5, 1.5, 0.0};
    return column_logits(r, 40, 7, mean, 0.7);
}

static int all_zero(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (x[k] != 0.0)
            return 0;
    return 1;
}

static void test_fused_fd(void)
{
    rng_state r;
    rng_init(&r, 17, RNG_STREAM_TRAIN);
    fused_ctx f = {NULL, 40, 7, {1.1, 1.4, 0.6, 4.0, LOSS_COVERAGE_MEAN, LOSS_SPARSITY_ENTROPY}, {2.6, 1.3, 2.8, 5.0, 15.0}};
    size_t n = f.n_pix * f.n_det;
    double mean[7] = {-4.0, -3.0, 2.0, 3.0, -3.5, 1.5, 0.0};
    double *A = column_logits(&r, f.n_pix, f.n_det, mean, 0.7);
    for (size_t i = 0; i < f.n_det; i++)
        A[5 * f.n_det + i] = -36.0 + 0.3 * (double)i; /* one clamped row */
    f.ws = loss_pixel_workspace_create(f.n_pix, f.n_det);
    double *g = calloc(n, sizeof(double));
    loss_pixel_values v;
    loss_pixel_fused(f.ws, A, f.n_pix, f.n_det, &f.cfg, &f.w, &v, g);
    check_fd("fused total", f_fused, &f, A, n, g);
    f.cfg.coverage = LOSS_COVERAGE_PER_DETECTOR;
    memset(g, 0, n * sizeof(double));
    loss_pixel_fused(f.ws, A, f.n_pix, f.n_det, &f.cfg, &f.w, &v, g);
    check_fd("fused total, L^ic per detector", f_fused, &f, A, n, g);
    f.cfg.coverage = LOSS_COVERAGE_MEAN;

    /* Split use: forward with all terms, backward with other weights. */
    loss_pixel_weights w2 = {0.0, 0.0, 1.0, 0.0, 3.0};
    double *g2 = calloc(n, sizeof(double)), *g3 = calloc(n, sizeof(double));
    loss_pixel_forward(f.ws, A, f.n_pix, f.n_det, &f.cfg, &f.w, &v);
    CHECK(loss_pixel_backward(f.ws, A, f.n_pix, &w2, g2) == 0,
          "backward with new weights");
    loss_pixel_fused(f.ws, A, f.n_pix, f.n_det, &f.cfg, &w2, &v, g3);
    CHECK(memcmp(g2, g3, n * sizeof(double)) == 0,
          "split forward/backward equals fused");

    /* The storing pass 2: the same gradient over whatever dA held, and the
     * column sums of what it wrote; no weights store zeros. */
    double *g4 = malloc(n * sizeof(double)), colsum[7], worst = 0;
    for (size_t k = 0; k < n; k++)
        g4[k] = 1e3;
    CHECK(loss_pixel_backward_store(f.ws, A, f.n_pix, &w2, g4, colsum) == 0, "storing backward");
    CHECK(memcmp(g2, g4, n * sizeof(double)) == 0, "storing backward equals accumulating into zeros");
    for (size_t i = 0; i < f.n_det; i++) {
        double sum = 0;
        for (size_t p = 0; p < f.n_pix; p++)
            sum += g4[p * f.n_det + i];
        worst = fmax(worst, fabs(sum - colsum[i]));
    }
    CHECK(worst < 1e-12, "storing backward: column sums (%g)", worst);
    loss_pixel_weights none = {0, 0, 0, 0, 0};
    loss_pixel_backward_store(f.ws, A, f.n_pix, &none, g4, colsum);
    CHECK(all_zero(g4, n) && all_zero(colsum, f.n_det), "storing backward with no weights stores zeros");
    free(g4);

    /* Misuse is refused. */
    loss_pixel_weights no_cols = {1.0, 0, 0, 0, 0};
    loss_pixel_forward(f.ws, A, f.n_pix, f.n_det, &f.cfg, &no_cols, &v);
    CHECK(loss_pixel_backward(f.ws, A, f.n_pix, &w2, g2) != 0,
          "backward refuses column terms the forward skipped");
    CHECK(loss_pixel_backward(f.ws, g, f.n_pix, &no_cols, g2) != 0,
          "backward refuses other logits");
    CHECK(loss_pixel_forward(f.ws, A, f.n_pix + 1, f.n_det, &f.cfg, &no_cols,
                             &v) != 0,
          "forward refuses a batch beyond the workspace");
    loss_pixel_config bad = f.cfg;
    bad.rho = 1.0;
    CHECK(loss_pixel_forward(f.ws, A, f.n_pix, f.n_det, &bad, &no_cols, &v) != 0,
          "forward refuses rho = 1");
    free(g);
    free(g2);
    free(g3);
    free(A);
    loss_pixel_workspace_free(f.ws);
}

/* Same result, bit for bit, for any thread count. */
static void test_fused_deterministic(void)
{
    rng_state r;
    rng_init(&r, 18, RNG_STREAM_TRAIN);
    size_t n_pix = 5000, n_det = 7, n = n_pix * n_det;
    double *A = fused_instance(&r, n_pix, n_det);
    loss_pixel_config cfg = {1.1, 1.4, 0.6, 4.0, LOSS_COVERAGE_MEAN, LOSS_SPARSITY_ENTROPY};
    loss_pixel_weights w = {2.6, 1.3, 2.8, 5.0, 15.0};
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    double *g1 = calloc(n, sizeof(double)), *g4 = calloc(n, sizeof(double));
    loss_pixel_values v1, v4;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w, &v1, g1);
    omp_set_num_threads(4);
    loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w, &v4, g4);
    omp_set_num_threads(saved);
    CHECK(memcmp(&v1, &v4, sizeof v1) == 0 &&
              memcmp(g1, g4, n * sizeof(double)) == 0,
          "fused: 1 and 4 threads agree bit for bit");
    free(g1);
    free(g4);
    free(A);
    loss_pixel_workspace_free(ws);
}

/* method-spec §12 item 10: finite entropies, L^s, L^ma (and every gradient)
 * for logits in [−1e3, 1e3], all-negative pixels included. */
static int all_finite(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return 0;
    return 1;
}

static void test_extreme_logits(void)
{
    rng_state r;
    rng_init(&r, 19, RNG_STREAM_TRAIN);
    size_t n_pix = 64, n_det = 8, n = n_pix * n_det;
    double *A = malloc(n * sizeof(double));
    for (size_t k = 0; k < n; k++)
        A[k] = rng_uniform_range(&r, -1e3, 1e3);
    for (size_t i = 0; i < n_det; i++) {
        A[0 * n_det + i] = -1e3;                              /* all −1e3 */
        A[1 * n_det + i] = rng_uniform_range(&r, -1e3, -500); /* all negative */
        A[2 * n_det + i] = 1e3;                               /* all +1e3 */
        A[3 * n_det + i] = i ? -1e3 : 1e3;                    /* one-hot */
        A[4 * n_det + i] = 0.0;
        A[5 * n_det + i] = rng_uniform_range(&r, -60, -30);   /* clamped */
    }
    double *H = malloc(n_pix * sizeof(double)), *g = malloc(n_det * sizeof(double));
    double ls = loss_sparsity_forward(A, n_pix, n_det, H);
    double lma = loss_max_activation_forward(A, n_pix, n_det);
    double lsb = loss_sparsity_batch_forward(A, n_pix, n_det, 4.0, H);
    double lic = loss_inactive_forward(A, n_pix, n_det, 0.9, 1.1, g);
    double leac = loss_excessive_forward(A, n_pix, n_det, 0.3, 1.1, 4.0, g);
    int h_ok = 1;
    for (size_t p = 0; p < n_pix; p++)
        h_ok &= isfinite(H[p]) && H[p] >= -1e-12 && H[p] <= 3.0 + 1e-12;
    CHECK(h_ok, "per-pixel entropies finite and in [0, log2 n_det]");
    CHECK(isfinite(ls) && isfinite(lma) && isfinite(lsb) && isfinite(lic) &&
              isfinite(leac),
          "values finite: L^s %g L^ma %g L^sb %g L^ic %g L^eac %g", ls, lma,
          lsb, lic, leac);
    CHECK_CLOSE(H[2], 3.0, 1e-12, "all +1e3: H = log2 8");
    CHECK(fabs(H[3]) < 1e-12, "one-hot: H = 0");
    CHECK(H[0] == 0.0, "all −1e3 (clamped, y = 0): H = 0");

    double *d = calloc(n, sizeof(double));
    loss_sparsity_backward(A, n_pix, n_det, 1.0, d);
    loss_sparsity_batch_backward(A, n_pix, n_det, 4.0, H, 1.0, d);
    loss_max_activation_backward(A, n_pix, n_det, 1.0, d);
    loss_power_mean(A, n_pix, n_det, 1.1, g);
    loss_inactive_backward(A, n_pix, n_det, 0.9, 1.1, g, 1.0, d);
    loss_excessive_backward(A, n_pix, n_det, 0.3, 1.1, 4.0, g, 1.0, d);
    CHECK(all_finite(d, n), "separate gradients finite");

    loss_pixel_config cfg = {1.1, 0.9, 0.3, 4.0, LOSS_COVERAGE_MEAN, LOSS_SPARSITY_ENTROPY};
    loss_pixel_weights w = {1, 1, 1, 1, 1};
    loss_pixel_values v;
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    double *df = calloc(n, sizeof(double));
    loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w, &v, df);
    CHECK(isfinite(v.s) && isfinite(v.sb) && isfinite(v.ma) &&
              isfinite(v.ic) && isfinite(v.eac) && all_finite(df, n),
          "fused values and gradient finite");
    CHECK(rel_diff(df, d, n) <= FUSED_TOL,
          "fused == separate on extreme logits (rel err %.3g)",
          rel_diff(df, d, n));
    loss_pixel_workspace_free(ws);
    free(df);
    free(d);
    free(H);
    free(g);
    free(A);
}

/* L^ic with floors per detector (--coverage soft): finite differences at
 * fixed floors; the soft shares sum to 1; the fused path with floors
 * τ·E_p[q] equals the separate functions; the device path's column
 * functions refuse it. */
typedef struct {
    size_t n_pix, n_det;
    const double *floor;
    double gamma;
    double *g;
} floors_ctx;

static double f_floors(const double *A, void *c)
{
    floors_ctx *x = c;
    return loss_inactive_floors_forward(A, x->n_pix, x->n_det, x->floor, x->gamma, x->g);
}

static void test_inactive_soft(void)
{
    rng_state r;
    rng_init(&r, 22, RNG_STREAM_TRAIN);
    enum { NP = 12, ND = 5 };
    double mean[ND] = {-4.0, 2.0, -1.0, 3.0, -3.0}, g[ND], share[ND];
    double *A = column_logits(&r, NP, ND, mean, 0.5);
    double floor[ND] = {0.3, 0.1, 0.5, 0.0, 0.02}; /* 0: no floor */
    floors_ctx x = {NP, ND, floor, 1.1, g};
    double *grad = calloc(NP * ND, sizeof(double));
    f_floors(A, &x);
    int open = 0;
    for (int i = 0; i < ND; i++)
        open += floor[i] > 0 && g[i] < floor[i];
    CHECK(open >= 2 && open <= 3, "floors instance: %d gates open", open);
    loss_inactive_floors_backward(A, NP, ND, floor, 1.1, g, 1.0, grad);
    check_fd("L^ic with floors (mixed gates)", f_floors, &x, A, NP * ND, grad);

    loss_soft_share(A, NP, ND, share);
    double sum = 0.0;
    for (int i = 0; i < ND; i++)
        sum += share[i];
    CHECK_CLOSE(sum, 1.0, 1e-14, "soft shares sum to 1");

    /* Fused (everything weighted) == separate, floors τ·share. */
    size_t n_pix = 600, n_det = 7, n = n_pix * n_det;
    double *B = fused_instance(&r, n_pix, n_det);
    loss_pixel_config cfg = {1.1, 2.5, 0.6, 4.0, LOSS_COVERAGE_SOFT, LOSS_SPARSITY_ENTROPY};
    loss_pixel_weights w = {2.6, 1.3, 2.8, 5.0, 15.0};
    double fl[7], g7[7], *d_sep = calloc(n, sizeof(double)), *d_fus = calloc(n, sizeof(double));
    loss_soft_share(B, n_pix, n_det, fl);
    for (size_t i = 0; i < n_det; i++)
        fl[i] *= cfg.tau;
    loss_pixel_values v_sep, v_fus;
    cfg.coverage = LOSS_COVERAGE_MEAN;
    separate_total(B, n_pix, n_det, &cfg, &(loss_pixel_weights){w.s, w.sb, w.ma, 0, w.eac}, &v_sep, d_sep);
    v_sep.ic = loss_inactive_floors_forward(B, n_pix, n_det, fl, cfg.gamma, g7);
    v_sep.total += w.ic * v_sep.ic;
    loss_inactive_floors_backward(B, n_pix, n_det, fl, cfg.gamma, g7, w.ic, d_sep);
    cfg.coverage = LOSS_COVERAGE_SOFT;
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    CHECK(loss_pixel_fused(ws, B, n_pix, n_det, &cfg, &w, &v_fus, d_fus) == 0, "soft: fused status");
    check_values_close(&v_fus, &v_sep, &w, "coverage soft");
    CHECK(rel_diff(d_fus, d_sep, n) <= FUSED_TOL, "coverage soft: fused gradient rel err %.3g",
          rel_diff(d_fus, d_sep, n));
    CHECK(v_fus.ic > 0.0, "coverage soft: some floor is not met (L^ic %g)", v_fus.ic);

    double ic, eac, coef[7];
    loss_column_values(g7, n_det, &cfg, &ic, &eac);
    CHECK(isnan(ic), "the device path's column values refuse soft floors (NaN)");
    loss_pixel_weights only_ic = {0, 0, 0, 1.0, 0};
    CHECK(loss_column_coefficients(g7, n_det, n_pix, &cfg, &only_ic, coef) == 0, "...and give no coefficients");
    loss_pixel_workspace_free(ws);
    free(d_sep);
    free(d_fus);
    free(grad);
    free(A);
    free(B);
}

/* --coverage reward: the mean reduction with the floor at the whole set,
 * L^ic = 1 − mean_i g_i for every τ (τ is not used), fused == separate at
 * τ = n_det, and the fused total's own finite differences. */
static void test_inactive_reward(void)
{
    rng_state r;
    rng_init(&r, 23, RNG_STREAM_TRAIN);
    size_t n_pix = 600, n_det = 7, n = n_pix * n_det;
    double *A = fused_instance(&r, n_pix, n_det);
    loss_pixel_config mean_cfg = {1.1, (double)n_det, 0.6, 4.0, LOSS_COVERAGE_MEAN, LOSS_SPARSITY_ENTROPY};
    loss_pixel_config cfg = {1.1, 0.3, 0.6, 4.0, LOSS_COVERAGE_REWARD, LOSS_SPARSITY_ENTROPY};
    loss_pixel_weights w = {2.6, 1.3, 0, 5.0, 15.0};
    double *d_sep = calloc(n, sizeof(double)), *d_fus = calloc(n, sizeof(double)), g[7];
    loss_pixel_values v_sep, v_fus;
    CHECK(loss_pixel_config_valid(&cfg), "reward is a valid coverage");
    separate_total(A, n_pix, n_det, &mean_cfg, &w, &v_sep, d_sep);
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    CHECK(loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w, &v_fus, d_fus) == 0, "reward: fused status");
    check_values_close(&v_fus, &v_sep, &w, "coverage reward against mean at tau = n_det");
    CHECK(rel_diff(d_fus, d_sep, n) <= FUSED_TOL, "coverage reward: fused gradient rel err %.3g",
          rel_diff(d_fus, d_sep, n));
    loss_power_mean(A, n_pix, n_det, cfg.gamma, g);
    double mean_g = 0.0;
    for (size_t i = 0; i < n_det; i++)
        mean_g += g[i] / (double)n_det;
    CHECK_CLOSE(v_fus.ic, 1.0 - mean_g, 1e-12, "coverage reward: L^ic = 1 - mean coverage");
    double ic, eac, coef[7], coef_mean[7];
    loss_column_values(g, n_det, &cfg, &ic, &eac);
    CHECK_CLOSE(ic, 1.0 - mean_g, 1e-12, "coverage reward: the device path's column value");
    loss_pixel_weights only_ic = {0, 0, 0, 1.0, 0};
    CHECK(loss_column_coefficients(g, n_det, n_pix, &cfg, &only_ic, coef) == 1 &&
              loss_column_coefficients(g, n_det, n_pix, &mean_cfg, &only_ic, coef_mean) == 1 &&
              memcmp(coef, coef_mean, sizeof coef) == 0,
          "coverage reward: the device path's coefficients are the mean's at tau = n_det");

    double *B = fused_fd_instance(&r);
    check_fused_fd("fused total, L^ic reward", B, cfg, (loss_pixel_weights){2.6, 1.3, 0, 5.0, 15.0});
    loss_pixel_workspace_free(ws);
    free(B);
    free(d_sep);
    free(d_fus);
    free(A);
}

/* --coverage union: L^ic = E_p[Π_i (1 − y_{p,i})] against a direct sum, the
 * other terms as with the paper's coverage, the device path's NAN, and the
 * fused total's central differences. */
static void test_inactive_union(void)
{
    rng_state r;
    rng_init(&r, 29, RNG_STREAM_TRAIN);
    size_t n_pix = 600, n_det = 7, n = n_pix * n_det;
    double *A = fused_instance(&r, n_pix, n_det);
    loss_pixel_config cfg = {1.1, 0.3, 0.6, 4.0, LOSS_COVERAGE_UNION, LOSS_SPARSITY_ENTROPY};
    loss_pixel_config mean_cfg = cfg;
    mean_cfg.coverage = LOSS_COVERAGE_MEAN;
    loss_pixel_weights w = {2.6, 1.3, 0.7, 5.0, 15.0}, w_no_ic = w;
    w_no_ic.ic = 0.0;
    CHECK(loss_pixel_config_valid(&cfg), "union is a valid coverage");
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    loss_pixel_values v, v_mean;
    double *d = calloc(n, sizeof(double)), *d_mean = calloc(n, sizeof(double));
    CHECK(loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w, &v, d) == 0, "union: fused status");
    double direct = 0.0;
    for (size_t p = 0; p < n_pix; p++) {
        double u = 1.0;
        for (size_t i = 0; i < n_det; i++)
            u *= 1.0 - 1.0 / (1.0 + exp(-A[p * n_det + i]));
        direct += u / (double)n_pix;
    }
    CHECK(direct > 1e-3, "union: the instance has uncovered pixels (%.3g)", direct);
    CHECK_CLOSE(v.ic, direct, 1e-12, "union: L^ic = mean over pixels of prod (1 - y)");
    CHECK(loss_pixel_fused(ws, A, n_pix, n_det, &mean_cfg, &w, &v_mean, d_mean) == 0, "union: mean's status");
    CHECK(v.s == v_mean.s && v.sb == v_mean.sb && v.ma == v_mean.ma && v.eac == v_mean.eac,
          "union: the other terms are the paper's coverage's");
    CHECK_CLOSE(v.total - 5.0 * v.ic, v_mean.total - 5.0 * v_mean.ic, 1e-12, "union: total = the rest + w_ic L^ic");
    double ic, eac, g[7];
    loss_power_mean(A, n_pix, n_det, cfg.gamma, g);
    loss_column_values(g, n_det, &cfg, &ic, &eac);
    CHECK(isnan(ic), "union: the column path has no value for it (NAN)");
    /* without the weight, the same gradient as the mean's without it */
    memset(d, 0, n * sizeof(double));
    memset(d_mean, 0, n * sizeof(double));
    loss_pixel_fused(ws, A, n_pix, n_det, &cfg, &w_no_ic, &v, d);
    loss_pixel_fused(ws, A, n_pix, n_det, &mean_cfg, &w_no_ic, &v_mean, d_mean);
    CHECK(memcmp(d, d_mean, n * sizeof(double)) == 0, "union with weight 0: the gradient of the other terms");

    double *B = fused_fd_instance(&r);
    check_fused_fd("fused total, L^ic union", B, cfg, w);
    check_fused_fd("L^ic union alone", B, cfg, (loss_pixel_weights){0, 0, 0, 1.0, 0});
    loss_pixel_workspace_free(ws);
    free(B);
    free(d);
    free(d_mean);
    free(A);
}

/* --sparsity overlap: L^s_p = (S_p² − Σ_i y_{p,i}²)/I against a direct sum,
 * L^sb = R_SW of those, L^ma as with the entropy, and the fused total's
 * central differences (with the reward coverage it is meant for, and alone). */
static void test_sparsity_overlap(void)
{
    rng_state r;
    rng_init(&r, 31, RNG_STREAM_TRAIN);
    size_t n_pix = 600, n_det = 7;
    double *A = fused_instance(&r, n_pix, n_det), *per_pixel = malloc(n_pix * sizeof(double));
    loss_pixel_config cfg = {1.1, 0.3, 0.6, 4.0, LOSS_COVERAGE_REWARD, LOSS_SPARSITY_OVERLAP};
    loss_pixel_config entropy_cfg = cfg;
    entropy_cfg.sparsity = LOSS_SPARSITY_ENTROPY;
    loss_pixel_weights w = {3.0, 1.3, 0.7, 1.0, 15.0};
    CHECK(loss_pixel_config_valid(&cfg), "overlap is a valid sparsity");
    loss_pixel_config bad = cfg;
    bad.sparsity = LOSS_SPARSITY_OVERLAP + 1;
    CHECK(!loss_pixel_config_valid(&bad), "an unknown sparsity is refused");
    CHECK(!strcmp(loss_sparsity_name(LOSS_SPARSITY_OVERLAP), "overlap") &&
              !strcmp(loss_coverage_name(LOSS_COVERAGE_PER_DETECTOR), "per-detector") &&
              !loss_sparsity_name(bad.sparsity) && !loss_coverage_name(LOSS_COVERAGE_UNION + 1),
          "the options' names of the sparsities and coverages, NULL for an unknown one");
    loss_pixel_workspace *ws = loss_pixel_workspace_create(n_pix, n_det);
    loss_pixel_values v, v_entropy;
    CHECK(loss_pixel_forward(ws, A, n_pix, n_det, &cfg, &w, &v) == 0, "overlap: forward status");
    double direct = 0.0;
    for (size_t p = 0; p < n_pix; p++) {
        double s = 0.0, squares = 0.0;
        for (size_t i = 0; i < n_det; i++) {
            double y = 1.0 / (1.0 + exp(-A[p * n_det + i]));
            s += y;
            squares += y * y;
        }
        per_pixel[p] = (s * s - squares) / (double)n_det;
        direct += per_pixel[p] / (double)n_pix;
    }
    CHECK(direct > 1e-2, "overlap: the instance has overlapping detectors (%.3g)", direct);
    CHECK_CLOSE(v.s, direct, 1e-12, "overlap: L^s = mean over pixels of (S^2 - sum y^2)/I");
    CHECK_CLOSE(v.sb, loss_rsw_forward(per_pixel, n_pix, cfg.nu), 1e-12, "overlap: L^sb = R_SW of the overlaps");
    CHECK(loss_pixel_forward(ws, A, n_pix, n_det, &entropy_cfg, &w, &v_entropy) == 0, "entropy: forward status");
    CHECK(v.ma == v_entropy.ma && v.ic == v_entropy.ic && v.eac == v_entropy.eac,
          "overlap: L^ma and the column terms are the entropy's");

    double *B = fused_fd_instance(&r);
    for (size_t i = 0; i < 7; i++)
        B[5 * 7 + i] = -36.0 + 0.3 * (double)i; /* one clamped row: S from the row itself */
    check_fused_fd("fused total, L^s overlap", B, cfg, w);
    check_fused_fd("L^s overlap alone", B, cfg, (loss_pixel_weights){1.0, 0, 0, 0, 0});
    check_fused_fd("L^sb overlap alone", B, cfg, (loss_pixel_weights){0, 1.0, 0, 0, 0});
    loss_pixel_workspace_free(ws);
    free(B);
    free(per_pixel);
    free(A);
}

int main(void)
{
    test_pixel_losses_fd();
    test_column_losses_fd();
    test_inactive_per_detector();
    test_inactive_soft();
    test_inactive_reward();
    test_inactive_union();
    test_sparsity_overlap();
    test_tau_schedule();
    test_rsw();
    test_margin();
    test_fso();
    test_fso_workspace();
    test_fused_equals_separate();
    test_fused_fd();
    test_fused_deterministic();
    test_extreme_logits();
    return harness_report("losses");
}
