/* device_f32: the CUDA backend's pixel arithmetic in float32 on the CPU
 * (libcore/cpu32, an executable specification of what the kernels in
 * libcore/training/cuda/pixel.cu and data.cu compute, also --precision float32),
 * run through the real host half (libcore/training/device.c, via
 * device_backend_override) and compared with
 * the float64 CPU backend (objective_eval) on badly scaled data: the
 * synthetic preset (Table 6: channels with σ ~ 1e-4 on an offset of 10,
 * raw filters |W| ~ 1e4, biases |b| ~ 1e5) and a Broden-like set (per-channel
 * offsets, σ spread over 4 orders of magnitude, 63,000 images × 7×7 =
 * 3.1e6 pixels in one batch, the largest sum dW = dAᵀX the device forms).
 *
 * What cpu32 does, step by step, as the kernels do it (its SGEMMs are
 * OpenBLAS's, whose order of float32 additions is its own, as cuBLAS's is):
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
#include "cpu32.h"
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

/* ---- the backend: libcore/cpu32 ------------------------------------------ */

typedef enum {
    ARITH_DEVICE = CPU32_ARITH_DEVICE,  /* what the kernels do (centred pixels, chunked dW) */
    ARITH_RAW = CPU32_ARITH_RAW,        /* the former kernels: raw pixels, raw W and b, one dW sum */
    ARITH_ONE_SUM = CPU32_ARITH_ONE_SUM /* centred pixels, but dW as one float32 sum over all pixels */
} arith;

/* ---- data ---------------------------------------------------------------- */

/* ---- comparison ---------------------------------------------------------- */

typedef struct {
    double term[TERM_COUNT]; /* relative errors, NAN for disabled terms */
    double grad;             /* relative 2-norm error of the parameter gradient */
} errors;

static const char *arith_names[] = {"device (centred, dW in chunks)", "former (raw pixels, W, b)",
                                    "centred, dW one float32 sum"};

/* One batch (the whole set) with arithmetic m against the CPU's values
 * and gradient. */
static int measure(arith m, const test_set *t, const det_layout *layout, const objective_config *cfg,
                   const double *params, const double *v_cpu, const double *g_cpu, errors *e)
{
    size_t n_img = t->data.n_img, n = layout->n_params;
    size_t *order = malloc(n_img * sizeof *order);
    double *kappa = malloc(n_img * sizeof(double)), *g = malloc(n * sizeof(double));
    for (size_t k = 0; k < n_img; k++) {
        order[k] = k;
        kappa[k] = 0.7;
    }
    device_choice dev;
    device_step *ds = NULL;
    objective obj = {0};
    double v[TERM_COUNT], total;
    int rc = device_choose("cuda", &dev) || device_objective(&obj, &ds, &dev, layout, cfg, NULL, &t->data, n_img);
    if (!rc) {
        cpu32_test_arith((cpu32_arith)m, obj.view.b);
        rc = eval_images(&obj, params, order, n_img, t->data.hw, kappa, NULL, v, &total, g);
    }
    if (!rc) {
        for (int j = 0; j < TERM_COUNT; j++)
            e->term[j] = !cfg->enabled[j] ? NAN : v_cpu[j] != 0.0 ? fabs(v[j] - v_cpu[j]) / fabs(v_cpu[j])
                                                                 : fabs(v[j]); /* absolute at 0 */
        for (size_t k = 0; k < n; k++)
            g[k] -= g_cpu[k];
        e->grad = norm2(g, n) / norm2(g_cpu, n);
    }
    cpu32_test_arith(CPU32_ARITH_DEVICE, NULL);
    objective_free(&obj);
    free(order); free(kappa); free(g);
    return rc;
}

static void print_errors(const char *arith_name, const objective_config *cfg, const errors *e)
{
    printf("    %-32s", arith_name);
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
    config_make(&cfg, terms, 2.0);
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
    objective_batch batch = {X, pooled, kappa, (int)n_img, n_pix, NULL};
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
    device_backend_override(cpu32_backend());
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
