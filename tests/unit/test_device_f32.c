/* device_f32: the CUDA backend's pixel arithmetic, re-implemented in
 * float32 on the CPU (an executable specification of what the kernels in
 * libcore/cuda/pixel.cu and data.cu compute), run through the real host
 * half (libcore/device.c, via device_backend_override) and compared with
 * the float64 CPU backend (objective_eval) on badly scaled data: the
 * synthetic preset (Table 6: channels with σ ~ 1e-4 on an offset of 10,
 * raw filters |W| ~ 1e4, biases |b| ~ 1e5) and a Broden-like set (per-channel
 * offsets, σ spread over 4 orders of magnitude, 63,000 images × 7×7 =
 * 3.1e6 pixels in one batch, the largest sum dW = dAᵀX the device forms).
 *
 * What the emulation does, step by step, as the kernels do it:
 *   pixels   x̃ = (float)(x − c) (c the layout's center; k_nchw_to_pixels)
 *   logits   A = X̃ Wᵀ, float32 products summed in float32 over the
 *            channels (one fused multiply-add chain, cuBLAS SGEMM without
 *            TF32), then a − b̃ in float32 with b̃ = (float)(b − W c)
 *   pass 1   sigmoid pieces in float32 (expf, log1pf, one division); per
 *            pixel Σ y, Σ y ln y in float64; H, ℓ, R_SW and the column
 *            means of y^γ in float64 (k_pass1, k_rsw_stats, k_column_part)
 *   pass 2   k1, k0 in float64, dA = (float)((1 − y)·(y(k1 ln y + k0) +
 *            col_coef y^γ)) (k_pixel_coefs, k_pass2)
 *   dW̃      per chunk of DW_CHUNK_MAX_PIX pixels a float32 fused
 *            multiply-add chain over the chunk's pixels (the SGEMMs), the
 *            chunks summed in float64 (k_chunk_sum); db = −Σ dA in float64
 * The order of float64 sums differs from the device's (a tree); at 1e-16
 * per addition that is far below what is measured here. The float32 parts
 * are what matter, and they are done in the device's order.
 *
 * Two other arithmetics are emulated for comparison, the former device
 * arithmetic (raw pixels, raw W and b in float32) and one float32 sum of
 * dW over all pixels: the test prints the errors of each (the evidence for
 * the choice in cuda/backend.h) and requires the device's arithmetic within
 * uibe(1) BACKENDS' tolerances, and the former one to be caught by them. */
#include "cuda/backend.h"
#include "detectors.h"
#include "device.h"
#include "error.h"
#include "device_sets.h"
#include "harness.h"
#include "objective.h"
#include "rng.h"
#include "synth.h"
#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_TOL 1e-4 /* relative, every term (uibe(1) BACKENDS) */
#define GRAD_TOL 1e-3  /* relative 2-norm of the parameter gradient */

#ifdef __SANITIZE_ADDRESS__
#define BRODEN_IMAGES 7875 /* 1/8 under the sanitizers: 3.9e5 pixels */
#else
#define BRODEN_IMAGES 63000 /* 3.1e6 pixels */
#endif

/* ---- the emulated backend ------------------------------------------------ */

typedef enum {
    ARITH_DEVICE = 0, /* what the kernels do (centred pixels, chunked dW) */
    ARITH_RAW = 1,    /* the former kernels: raw pixels, raw W and b, one dW sum */
    ARITH_ONE_SUM = 2 /* centred pixels, but dW as one float32 sum over all pixels */
} arith;

static arith mode;
static double logit_error; /* max |a_emul − a_float64| of the last forward */

static char emul_message[512];
static int emul_code;

static int emul_fail(int code, const char *fmt, ...)
{
    if (emul_code)
        return emul_code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(emul_message, sizeof emul_message, fmt, ap);
    va_end(ap);
    return emul_code = code;
}
static int emul_error_code(void) { return emul_code; }
static const char *emul_error_message(void) { return emul_message; }
static void emul_error_clear(void) { emul_code = 0; emul_message[0] = 0; }

struct cuda_step {
    cuda_step_sizes sz;
    const float *features;       /* NCHW host set */
    double *center;              /* [n_dim] */
    size_t n_pix;
    float *X;                    /* [max_pix × n_dim] centred (raw in ARITH_RAW) */
    float *Xraw;                 /* [max_pix × n_dim] raw, for the float64 logits */
    float *W, *b;                /* as the device holds them */
    float *A;                    /* logits, then dA */
    double *scl, *lns, *H, *M;   /* [max_pix] */
    unsigned char *clamped;      /* [max_pix] */
    double sums[5];
    double *col, *col_coef;      /* [n_det] */
    int with_sb, with_columns;
    double *dW, *db;             /* [n_det × n_dim], [n_det] */
};

static void emul_free(cuda_step *s)
{
    if (!s)
        return;
    free(s->center); free(s->X); free(s->Xraw); free(s->W); free(s->b); free(s->A);
    free(s->scl); free(s->lns); free(s->H); free(s->M); free(s->clamped);
    free(s->col); free(s->col_coef); free(s->dW); free(s->db);
    free(s);
}

static int emul_create(cuda_step **out, const cuda_step_sizes *sz, const float *features, const double *pooled,
                       const double *head_w, const double *head_b, const double *center, const double *scale)
{
    (void)pooled; (void)head_w; (void)head_b; (void)scale;
    *out = NULL;
    if (sz->ura_kind != CUDA_URA_NONE)
        return emul_fail(EX_SOFTWARE, "the float32 emulation covers the pixel path only");
    cuda_step *s = calloc(1, sizeof *s);
    if (!s)
        return emul_fail(EX_OSERR, "out of memory");
    s->sz = *sz;
    s->features = features;
    size_t max_pix = sz->max_img * sz->hw, nd = (size_t)sz->n_det * sz->n_dim;
    s->center = malloc(sz->n_dim * sizeof(double));
    s->X = malloc(max_pix * sz->n_dim * sizeof(float));
    s->Xraw = malloc(max_pix * sz->n_dim * sizeof(float));
    s->W = malloc(nd * sizeof(float));
    s->b = malloc(sz->n_det * sizeof(float));
    s->A = malloc(max_pix * sz->n_det * sizeof(float));
    s->scl = malloc(max_pix * sizeof(double));
    s->lns = malloc(max_pix * sizeof(double));
    s->H = malloc(max_pix * sizeof(double));
    s->M = malloc(max_pix * sizeof(double));
    s->clamped = malloc(max_pix);
    s->col = malloc(sz->n_det * sizeof(double));
    s->col_coef = calloc(sz->n_det, sizeof(double));
    s->dW = malloc(nd * sizeof(double));
    s->db = malloc(sz->n_det * sizeof(double));
    if (!s->center || !s->X || !s->Xraw || !s->W || !s->b || !s->A || !s->scl || !s->lns || !s->H || !s->M ||
        !s->clamped || !s->col || !s->col_coef || !s->dW || !s->db) {
        emul_free(s);
        return emul_fail(EX_OSERR, "out of memory");
    }
    memcpy(s->center, center, sz->n_dim * sizeof(double));
    *out = s;
    return 0;
}

static int emul_resident(const cuda_step *s) { (void)s; return 1; }
static size_t emul_bytes(const cuda_step *s) { (void)s; return 0; }

/* k_nchw_to_pixels: pixel-major, centred in float64 and rounded once. */
static int emul_load_batch(cuda_step *s, const size_t *order, size_t n_img, const double *kappa)
{
    (void)kappa;
    int n_dim = s->sz.n_dim, hw = s->sz.hw;
    s->n_pix = n_img * hw;
    for (size_t k = 0; k < n_img; k++)
        for (int d = 0; d < n_dim; d++)
            for (int p = 0; p < hw; p++) {
                float x = s->features[(order[k] * n_dim + d) * hw + p];
                size_t at = (k * hw + p) * n_dim + d;
                s->Xraw[at] = x;
                s->X[at] = mode == ARITH_RAW ? x : (float)((double)x - s->center[d]);
            }
    return 0;
}

/* sigmoid_pieces of pixel.cu, in float32. */
static void sigmoid_pieces(float a, float *y, float *omy, float *ln_y)
{
    float e = expf(-fabsf(a));
    float r = 1.0f / (1.0f + e);
    float l = log1pf(e);
    if (a >= 0.0f) {
        *y = r;
        *omy = e * r;
        *ln_y = -l;
    } else {
        *y = e * r;
        *omy = r;
        *ln_y = a - l;
    }
}

static double rsw_power(double r, double nu)
{
    return nu == 4.0 ? (r * r) * (r * r) : nu == 3.0 ? r * r * r : nu == 2.0 ? r * r : nu == 1.0 ? r : pow(r, nu);
}

#define INV_LN2 1.4426950408889634073599246810019

/* The float64 logit of the raw pixel with the float64 W, b the host holds
 * (reconstructed: W from its float32 copy is what the device uses; b = b̃ +
 * W c). Only for measuring the logits' error. */
static double reference_logit(const cuda_step *s, const double *W, const double *b, size_t p, int i)
{
    int n_dim = s->sz.n_dim;
    double a = -b[i];
    for (int d = 0; d < n_dim; d++)
        a += W[(size_t)i * n_dim + d] * (double)s->Xraw[p * n_dim + d];
    return a;
}

static const det_view *measured_view; /* the float64 W, b of the step being measured */

static int emul_pixel_forward(cuda_step *s, const float *W, const float *b, double gamma, double nu, int with_sb,
                              int with_columns)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t n_pix = s->n_pix, nd = (size_t)n_det * n_dim;
    memcpy(s->W, W, nd * sizeof(float));
    if (mode == ARITH_RAW) /* the former host sent the raw b in float32 */
        for (int i = 0; i < n_det; i++)
            s->b[i] = (float)measured_view->b[i];
    else
        memcpy(s->b, b, n_det * sizeof(float));
    s->with_sb = with_sb;
    s->with_columns = with_columns;
    /* SGEMM: one float32 fused multiply-add chain per logit, then a − b̃ */
    logit_error = 0.0;
    for (size_t p = 0; p < n_pix; p++)
        for (int i = 0; i < n_det; i++) {
            float acc = 0.0f;
            for (int d = 0; d < n_dim; d++)
                acc = fmaf(s->W[(size_t)i * n_dim + d], s->X[p * n_dim + d], acc);
            s->A[p * n_det + i] = acc;
            double err = fabs((double)(acc - s->b[i]) - reference_logit(s, measured_view->W, measured_view->b, p, i));
            if (err > logit_error)
                logit_error = err;
        }
    /* pass 1 */
    double sum_h = 0.0, sum_m = 0.0;
    for (int i = 0; i < n_det; i++)
        s->col[i] = 0.0;
    for (size_t p = 0; p < n_pix; p++) {
        double sy = 0.0, t = 0.0;
        for (int i = 0; i < n_det; i++) {
            float y, omy, ln_y;
            sigmoid_pieces(s->A[p * n_det + i] - s->b[i], &y, &omy, &ln_y);
            sy += (double)y;
            t += (double)y * (double)ln_y;
            if (with_columns)
                s->col[i] += (double)expf((float)gamma * ln_y);
        }
        int is_clamped = sy < LOSS_S_MIN;
        double s_cl = is_clamped ? LOSS_S_MIN : sy;
        double ln_s = log(s_cl), inv = INV_LN2 / s_cl;
        s->scl[p] = s_cl;
        s->lns[p] = ln_s;
        s->H[p] = -(t - sy * ln_s) * inv;
        s->M[p] = -t * inv;
        s->clamped[p] = (unsigned char)is_clamped;
        sum_h += s->H[p];
        sum_m += s->M[p];
    }
    s->sums[0] = sum_h;
    s->sums[1] = sum_m;
    s->sums[2] = s->sums[3] = s->sums[4] = 0.0;
    if (with_sb) { /* k_rsw_stats */
        double mx = 0.0, a = 0.0, bs = 0.0;
        for (size_t p = 0; p < n_pix; p++)
            mx = fmax(mx, s->H[p]);
        if (mx > 0.0)
            for (size_t p = 0; p < n_pix; p++) {
                double r = s->H[p] / mx;
                if (r > 0.0) {
                    double rn = rsw_power(r, nu);
                    a += rn * r;
                    bs += rn;
                }
            }
        s->sums[2] = mx;
        s->sums[3] = a;
        s->sums[4] = bs;
    }
    for (int i = 0; i < n_det; i++)
        s->col[i] /= (double)n_pix;
    return 0;
}

static int emul_forward_collect(cuda_step *s, cuda_pixel_sums *sums, double *col_mean)
{
    sums->sum_h = s->sums[0];
    sums->sum_m = s->sums[1];
    sums->sb_max = s->with_sb ? s->sums[2] : 0.0;
    sums->sb_a = s->with_sb ? s->sums[3] : 0.0;
    sums->sb_b = s->with_sb ? s->sums[4] : 0.0;
    if (s->with_columns && col_mean)
        memcpy(col_mean, s->col, s->sz.n_det * sizeof(double));
    return 0;
}

/* dW̃ as the SGEMMs: float32 chains over chunks of `chunk` pixels, chunks
 * summed in float64. */
static void filter_gradient(cuda_step *s, size_t chunk)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t nd = (size_t)n_det * n_dim;
    float *part = malloc(nd * sizeof(float));
    for (size_t k = 0; k < nd; k++)
        s->dW[k] = 0.0;
    for (size_t p0 = 0; p0 < s->n_pix; p0 += chunk) {
        size_t p1 = s->n_pix - p0 < chunk ? s->n_pix : p0 + chunk;
        memset(part, 0, nd * sizeof(float));
        for (size_t p = p0; p < p1; p++)
            for (int i = 0; i < n_det; i++) {
                float g = s->A[p * n_det + i];
                const float *x = s->X + p * n_dim;
                float *row = part + (size_t)i * n_dim;
                for (int d = 0; d < n_dim; d++)
                    row[d] = fmaf(g, x[d], row[d]);
            }
        for (size_t k = 0; k < nd; k++)
            s->dW[k] += (double)part[k];
    }
    free(part);
}

static int emul_pixel_backward(cuda_step *s, const cuda_pixel_coefs *c)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t n_pix = s->n_pix;
    for (int i = 0; i < n_det; i++)
        s->db[i] = 0.0;
    for (size_t p = 0; p < n_pix; p++) {
        /* k_pixel_coefs */
        double c_h = c->c_s;
        if (c->w_sb != 0.0 && c->sb_max != 0.0) {
            double r = s->H[p] / c->sb_max;
            c_h += c->w_sb * rsw_power(r, c->nu - 1.0) * ((c->nu + 1.0) * r - c->nu * c->sb_ratio) / c->sb_b;
        }
        double kappa = s->clamped[p] ? 0.0 : 1.0, inv_s = 1.0 / s->scl[p];
        double k1 = -(c_h + c->c_m) * INV_LN2 * inv_s;
        double k0 = (c_h * ((s->lns[p] - 1.0) * INV_LN2 + kappa * (INV_LN2 - s->H[p])) -
                     c->c_m * (INV_LN2 + kappa * s->M[p])) * inv_s;
        /* k_pass2 */
        for (int i = 0; i < n_det; i++) {
            float y, omy, ln_y;
            sigmoid_pieces(s->A[p * n_det + i] - s->b[i], &y, &omy, &ln_y);
            double d = (double)y * (k1 * (double)ln_y + k0);
            if (c->col_coef && c->col_coef[i] != 0.0)
                d += c->col_coef[i] * (double)expf((float)c->gamma * ln_y);
            float g = (float)((double)omy * d);
            s->A[p * n_det + i] = g;
            s->db[i] -= (double)g; /* column_sums(power 0), scale −1 */
        }
    }
    filter_gradient(s, mode == ARITH_DEVICE ? DW_CHUNK_MAX_PIX : n_pix);
    if (mode == ARITH_RAW) /* raw pixels: dW is dAᵀX already; the host adds −db cᵀ */
        for (int i = 0; i < n_det; i++)
            for (int d = 0; d < n_dim; d++)
                s->dW[(size_t)i * n_dim + d] += s->db[i] * s->center[d];
    return 0;
}

static int emul_backward_collect(cuda_step *s, double *dW, double *db)
{
    memcpy(dW, s->dW, (size_t)s->sz.n_det * s->sz.n_dim * sizeof(double));
    memcpy(db, s->db, s->sz.n_det * sizeof(double));
    return 0;
}

static int emul_query(int index, char *name, size_t name_len)
{
    if (index != 0)
        return emul_fail(EX_UNAVAILABLE, "no CUDA device %d: the emulation has one", index);
    snprintf(name, name_len, "float32 emulation (CPU)");
    return 0;
}

static int emul_unavailable(void) { return emul_fail(EX_UNAVAILABLE, "not emulated"); }
static int emul_memory(int i, size_t *f, size_t *t) { (void)i; *f = *t = 0; return emul_unavailable(); }
static int emul_ura_forward(cuda_step *s, int kind, const double *W, const double *b, const double *S,
                            const double *factor, const int *ipiv, double *value)
{
    (void)s; (void)kind; (void)W; (void)b; (void)S; (void)factor; (void)ipiv; (void)value;
    return emul_unavailable();
}
static int emul_ura_backward(cuda_step *s, double scale, double jitter, double *dW, double *db, double *dS)
{
    (void)s; (void)scale; (void)jitter; (void)dW; (void)db; (void)dS;
    return emul_unavailable();
}
static int emul_gemm(int index, size_t n_pix, int n_det, int n_dim, int reps, double *seconds)
{
    (void)index; (void)n_pix; (void)n_det; (void)n_dim; (void)reps; (void)seconds;
    return emul_unavailable();
}

static const cuda_backend_ops emulation = {
    CUDA_BACKEND_ABI, sizeof(cuda_backend_ops), "float32 emulation", emul_query, emul_memory, emul_create,
    emul_free, emul_resident, emul_bytes, emul_load_batch, emul_pixel_forward, emul_forward_collect,
    emul_pixel_backward, emul_backward_collect, emul_ura_forward, emul_ura_backward, emul_gemm,
    emul_error_code, emul_error_message, emul_error_clear,
};

/* ---- data ---------------------------------------------------------------- */






/* ---- comparison ---------------------------------------------------------- */

static void config_make(objective_config *cfg, const char *terms)
{
    memset(cfg, 0, sizeof *cfg);
    /* τ = 2: every detector should claim 2/I of the pixels, so that L^ic is
     * not 0 here and its value is compared too. */
    cfg->pixel = (loss_pixel_config){.gamma = 1.1, .tau = 2.0, .rho = 0.05, .nu = 4.0};
    cfg->kappa_lo = 0.5;
    cfg->kappa_hi = 0.9;
    for (int j = 0; j < TERM_COUNT; j++) {
        cfg->enabled[j] = objective_term_listed(terms, j);
        cfg->weight[j] = 0.5 + 0.25 * j;
    }
}

static double norm2(const double *x, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k] * x[k];
    return sqrt(s);
}

typedef struct {
    double term[TERM_COUNT]; /* relative errors, NAN for disabled terms */
    double grad;             /* relative 2-norm error of the parameter gradient */
    double logits;           /* max absolute logit error */
} errors;

static const char *arith_names[] = {"device (centred, dW in chunks)", "former (raw pixels, W, b)",
                                    "centred, dW one float32 sum"};

/* One batch (the whole set) with arithmetic m against the CPU's values
 * and gradient. */
static int measure(arith m, const test_set *t, const det_layout *layout, const objective_config *cfg,
                   const double *params, const double *v_cpu, const double *g_cpu, errors *e)
{
    mode = m;
    size_t n_img = t->data.n_img, n = layout->n_params;
    size_t *order = malloc(n_img * sizeof *order);
    double *kappa = malloc(n_img * sizeof(double)), *g = malloc(n * sizeof(double));
    for (size_t k = 0; k < n_img; k++) {
        order[k] = k;
        kappa[k] = 0.7;
    }
    device_choice dev;
    device_step *ds = NULL;
    double v[TERM_COUNT], total;
    int rc = device_choose("cuda", &dev) || device_step_create(&ds, &dev, layout, cfg, NULL, &t->data, n_img);
    if (!rc) {
        measured_view = device_step_view(ds);
        rc = device_step_eval(ds, params, order, n_img, kappa, NULL, v, &total, g);
    }
    if (!rc) {
        for (int j = 0; j < TERM_COUNT; j++)
            e->term[j] = !cfg->enabled[j] ? NAN : v_cpu[j] != 0.0 ? fabs(v[j] - v_cpu[j]) / fabs(v_cpu[j])
                                                                 : fabs(v[j]); /* absolute at 0 */
        for (size_t k = 0; k < n; k++)
            g[k] -= g_cpu[k];
        e->grad = norm2(g, n) / norm2(g_cpu, n);
        e->logits = logit_error;
    }
    device_step_free(ds);
    free(order); free(kappa); free(g);
    return rc;
}

static void print_errors(const char *arith_name, const objective_config *cfg, const errors *e)
{
    printf("    %-32s logits %.1e", arith_name, e->logits);
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && objective_is_pixel_term(j))
            printf("  L^%s %.1e", term_names[j], e->term[j]);
    printf("  grad %.1e\n", e->grad);
}

/* The CPU reference on the whole set, then each arithmetic. The device's
 * must pass; with expect_raw_caught, the former one must be caught. */
static void compare(const char *what, const test_set *t, const det_layout *layout, const char *terms,
                    const double *params, int expect_raw_caught)
{
    objective_config cfg;
    config_make(&cfg, terms);
    size_t n_img = t->data.n_img, n_pix = n_img * t->data.hw, n = layout->n_params;
    size_t *order = malloc(n_img * sizeof *order);
    double *kappa = malloc(n_img * sizeof(double));
    for (size_t k = 0; k < n_img; k++) {
        order[k] = k;
        kappa[k] = 0.7;
    }
    double *X = malloc(n_pix * t->data.n_dim * sizeof(double)), *pooled = malloc(n_img * t->data.n_dim * sizeof(double));
    double *g_cpu = malloc(n * sizeof(double)), v_cpu[TERM_COUNT], total;
    objective obj;
    train_gather(&t->data, order, n_img, X, pooled);
    objective_batch batch = {X, pooled, kappa, (int)n_img, n_pix};
    int rc = objective_init(&obj, layout, &cfg, NULL, (int)n_img, n_pix) ||
             objective_eval(&obj, params, &batch, NULL, v_cpu, &total, g_cpu);
    CHECK(rc == 0, "%s: the CPU reference (%s)", what, error_message());
    free(X); free(pooled); free(order); free(kappa);
    if (!rc) {
        objective_free(&obj);
        double max_w = 0, max_b = 0;
        det_view view;
        det_view_alloc(&view, layout);
        det_forward(layout, params, &view);
        for (size_t k = 0; k < (size_t)layout->n_det * layout->n_dim; k++)
            max_w = fmax(max_w, fabs(view.W[k]));
        for (int i = 0; i < layout->n_det; i++)
            max_b = fmax(max_b, fabs(view.b[i]));
        det_view_free(&view);
        printf("  %s: %zu pixels, %d channels, %d detectors, max |W| %.2g, max |b| %.2g; relative errors:\n", what,
               n_pix, layout->n_dim, layout->n_det, max_w, max_b);
        for (arith m = ARITH_DEVICE; m <= ARITH_ONE_SUM; m++) {
            errors e;
            int st = measure(m, t, layout, &cfg, params, v_cpu, g_cpu, &e);
            CHECK(st == 0, "%s, %s: evaluation (%s)", what, arith_names[m], error_message());
            if (st) {
                error_clear();
                continue;
            }
            print_errors(arith_names[m], &cfg, &e);
            double worst = 0;
            for (int j = 0; j < TERM_COUNT; j++)
                if (cfg.enabled[j])
                    worst = fmax(worst, e.term[j]);
            if (m == ARITH_DEVICE) {
                for (int j = 0; j < TERM_COUNT; j++)
                    if (cfg.enabled[j])
                        CHECK(e.term[j] <= VALUE_TOL, "%s: L^%s relative error %.2g > %g", what, term_names[j],
                              e.term[j], VALUE_TOL);
                CHECK(e.grad <= GRAD_TOL, "%s: gradient relative error %.2g > %g", what, e.grad, GRAD_TOL);
            } else if (m == ARITH_RAW && expect_raw_caught) {
                CHECK(worst > VALUE_TOL || e.grad > GRAD_TOL,
                      "%s: the former arithmetic is caught (worst term %.2g, gradient %.2g)", what, worst, e.grad);
            }
        }
    }
    error_clear();
    free(g_cpu);
}

/* Parameters of an orthonormal standardised detector set (step a), and the
 * same raw detectors as free parameters in raw space (steps b–d). */
static void detectors_make(rng_state *rng, const test_set *t, int n_det, double margin, double threshold,
                           det_layout *la, double **pa, det_layout *lb, double **pb)
{
    int n_dim = t->data.n_dim;
    det_layout_init(la, DET_STANDARDISED, n_det, n_dim, 0, t->mean, t->std);
    det_layout_init(lb, DET_FREE, n_det, n_dim, 0, t->mean, NULL);
    *pa = malloc(la->n_params * sizeof(double));
    *pb = malloc(lb->n_params * sizeof(double));
    det_init_standardised(la, rng, margin, threshold, *pa);
    det_view view;
    det_view_alloc(&view, la);
    det_forward(la, *pa, &view);
    det_init_from_effective(lb, view.W, view.b, NULL, 1.0, *pb);
    det_view_free(&view);
}

int main(void)
{
    device_backend_override(&emulation);
    rng_state rng;
    rng_init(&rng, 16, 1);

    /* (i) the synthetic preset's scaling */
    {
        test_set t;
        if (set_synthetic(&t)) {
            CHECK(0, "reading Table 6 (%s)", error_message());
            return harness_report("device_f32");
        }
        double min_sd = INFINITY, max_sd = 0;
        for (int d = 0; d < t.data.n_dim; d++) {
            min_sd = fmin(min_sd, t.std[d]);
            max_sd = fmax(max_sd, t.std[d]);
        }
        printf("synthetic preset: channel σ from %.2g to %.2g, offset 10\n", min_sd, max_sd);
        det_layout la, lb;
        double *pa, *pb;
        /* margin 0.2: raw filters up to ~1e4 and biases ~1e5, as the
         * preset's trained detectors have */
        detectors_make(&rng, &t, 3, 0.2, 0.3, &la, &pa, &lb, &pb);
        compare("synthetic, step (a) form", &t, &la, "s,ma,mm,ic", pa, 1);
        compare("synthetic, raw space, s,sb,ma,ic,eac", &t, &lb, "s,sb,ma,mm,ic,eac", pb, 1);
        free(pa); free(pb);
        det_layout_free(&la); det_layout_free(&lb);
        set_free(&t);
    }

    /* (ii) Broden-like: offsets, σ over 4 orders of magnitude, 7×7 maps */
    {
        test_set t;
        set_broden_like(&t, &rng, BRODEN_IMAGES, 16, 49);
        printf("Broden-like: %d images x 49 pixels, 16 channels, σ 1e-2..1e2, offsets in [-50, 50]\n",
               BRODEN_IMAGES);
        det_layout la, lb;
        double *pa, *pb;
        detectors_make(&rng, &t, 4, 1.0, 0.5, &la, &pa, &lb, &pb);
        compare("Broden-like, step (a) form", &t, &la, "s,ma,mm,ic", pa, 0);
        compare("Broden-like, raw space, s,sb,ma,ic,eac", &t, &lb, "s,sb,ma,mm,ic,eac", pb, 0);
        free(pa); free(pb);
        det_layout_free(&la); det_layout_free(&lb);
        set_free(&t);
    }
    device_backend_override(NULL);
    return harness_report("device_f32");
}
