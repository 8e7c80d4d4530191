/* device: the CUDA batch step against the CPU reference (objective_eval) on
 * identical batches, and a short training run with each backend.
 *
 * Tolerances (float32 pixel path with float64 sums, float64 URA path,
 * against the float64 CPU reference):
 *   every term value   |v_dev − v_cpu| ≤ VALUE_TOL · max(1, |v_cpu|)
 *   the gradient        ‖g_dev − g_cpu‖₂ / ‖g_cpu‖₂ ≤ GRAD_TOL
 *   training run        after TRAIN_EPOCHS epochs from the same start, the
 *                       final detectors fire on the same pixels: for each
 *                       detector the IoU of its positive pixel sets (logit
 *                       > 0) over the whole set is ≥ TRAIN_IOU.
 * Without a usable device (or without CUDA in the build) the same
 * comparisons run over cpu32 (libcore/training/cpu32.c: the CUDA backend's
 * arithmetic on the CPU, --precision float32; streamed = gathered batch by
 * batch, resident = the centred set kept once), so that the host half and cpu32's float64 URA path are checked on every
 * machine. */
#include "cpu32.h"
#include "device.h"
#include "error.h"
#include "device_sets.h"
#include "harness.h"
#include "head.h"
#include "objective.h"
#include "rng.h"
#include "synth.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_TOL 1e-4
#define GRAD_TOL 1e-3
#define TRAIN_IOU 0.95
#define TRAIN_EPOCHS 50

/* A training set held like learn.c holds one. */

/* Pixels with per-channel offsets and scales, plus a few strong directions
 * so that detectors have something to find. */
static void set_make(test_set *t, rng_state *rng, size_t n_img, int n_dim, int hw)
{
    size_t n = n_img * n_dim * hw;
    t->features = malloc(n * sizeof(float));
    for (size_t k = 0; k < n_img; k++) {
        int concept = (int)(k % 3);
        for (int d = 0; d < n_dim; d++)
            for (int p = 0; p < hw; p++) {
                double v = 0.5 + 0.1 * (d % 7) + (0.5 + 0.05 * (d % 5)) * rng_normal(rng);
                if (d % 3 == concept && p % 2 == 0)
                    v += 2.0;
                t->features[(k * n_dim + d) * hw + p] = (float)v;
            }
    }
    set_statistics(t, n_img, n_dim, hw);
}

static void head_make(head_params *h, rng_state *rng, int n_cls, int n_dim)
{
    h->n_cls = n_cls;
    h->n_dim = n_dim;
    h->weight = malloc((size_t)n_cls * n_dim * sizeof(double));
    h->bias = malloc(n_cls * sizeof(double));
    for (int k = 0; k < n_cls * n_dim; k++)
        h->weight[k] = rng_normal(rng) / sqrt((double)n_dim);
    for (int k = 0; k < n_cls; k++)
        h->bias[k] = 0.1 * rng_normal(rng);
}

/* CPU objective_eval vs the device step on images order[0..n_img). */
static void compare_step(const char *what, const device_choice *dev, const test_set *t, const det_layout *layout,
                         const objective_config *cfg, const head_params *head, const double *params,
                         const size_t *order, size_t n_img, const double *kappa, const al_state *al)
{
    size_t n = layout->n_params, n_pix = n_img * t->data.hw;
    objective obj, obj_dev;
    device_step *ds = NULL;
    int rc_cpu = objective_init(&obj, layout, cfg, head, (int)n_img, n_pix);
    int rc_dev = device_objective(&obj_dev, &ds, dev, layout, cfg, head, &t->data, n_img);
    CHECK(rc_cpu == 0 && rc_dev == 0, "%s: setup (%s)", what, error_message());
    if (rc_cpu || rc_dev) {
        error_clear();
        objective_free(&obj);
        objective_free(&obj_dev);
        return;
    }
    double *X = malloc(n_pix * t->data.n_dim * sizeof(double));
    double *pooled = malloc(n_img * t->data.n_dim * sizeof(double));
    double *g_cpu = malloc(n * sizeof(double)), *g_dev = malloc(n * sizeof(double)), *diff = malloc(n * sizeof(double));
    double v_cpu[TERM_COUNT], v_dev[TERM_COUNT], total_cpu, total_dev;
    train_gather(&t->data, order, n_img, X, pooled);
    objective_batch batch = {X, pooled, kappa, (int)n_img, n_pix, NULL};
    rc_cpu = objective_eval(&obj, params, &batch, al, v_cpu, &total_cpu, g_cpu);
    rc_dev = eval_images(&obj_dev, params, order, n_img, t->data.hw, kappa, al, v_dev, &total_dev, g_dev);
    CHECK(rc_cpu == 0 && rc_dev == 0, "%s: eval (%s)", what, error_message());
    if (!rc_cpu && !rc_dev) {
        char name[160];
        for (int j = 0; j < TERM_COUNT; j++) {
            snprintf(name, sizeof name, "%s: L^%s", what, term_names[j]);
            if (cfg->enabled[j])
                CHECK_CLOSE(v_dev[j], v_cpu[j], VALUE_TOL, name);
            else
                CHECK(isnan(v_dev[j]), "%s is not NAN (disabled)", name);
        }
        snprintf(name, sizeof name, "%s: total", what);
        CHECK_CLOSE(total_dev, total_cpu, VALUE_TOL, name);
        for (size_t k = 0; k < n; k++)
            diff[k] = g_dev[k] - g_cpu[k];
        double rel = norm2(diff, n) / norm2(g_cpu, n);
        CHECK(rel <= GRAD_TOL, "%s: gradient relative error %.3g > %g", what, rel, GRAD_TOL);
        printf("  %-44s gradient rel. error %.2e, total %.8g vs %.8g\n", what, rel, total_dev, total_cpu);
        /* The comparison must be able to fail: a perturbed gradient is caught. */
        diff[n / 2] += 10 * GRAD_TOL * norm2(g_cpu, n);
        CHECK(norm2(diff, n) / norm2(g_cpu, n) > GRAD_TOL, "%s: a perturbed gradient is caught", what);
        /* Deterministic: the same batch gives the same bits. */
        double v2[TERM_COUNT], total2, *g2 = malloc(n * sizeof(double));
        CHECK(eval_images(&obj_dev, params, order, n_img, t->data.hw, kappa, al, v2, &total2, g2) == 0 &&
                  total2 == total_dev && !memcmp(g2, g_dev, n * sizeof(double)),
              "%s: a second evaluation gives the same bits", what);
        free(g2);
    }
    error_clear();
    free(X); free(pooled); free(g_cpu); free(g_dev); free(diff);
    objective_free(&obj);
    objective_free(&obj_dev);
}

/* The two objectives give the same bits on the batch order[0..n_img). */
static void check_same_bits(const char *what, objective *one, objective *other, const test_set *t,
                            const det_layout *layout, const double *params, const size_t *order, size_t n_img,
                            const double *kappa)
{
    size_t n = layout->n_params;
    double v1[TERM_COUNT], v2[TERM_COUNT], t1, t2;
    double *g1 = malloc(n * sizeof(double)), *g2 = malloc(n * sizeof(double));
    int rc = eval_images(one, params, order, n_img, t->data.hw, kappa, NULL, v1, &t1, g1) ||
             eval_images(other, params, order, n_img, t->data.hw, kappa, NULL, v2, &t2, g2);
    CHECK(rc == 0 && t1 == t2 && !memcmp(g1, g2, n * sizeof(double)), "%s agree bit for bit (%s)", what,
          rc ? error_message() : "values differ");
    free(g1); free(g2);
}

/* A batch gathered in chunks (a batch budget of one byte) gives the bits of
 * one gathered whole. */
static void compare_lean(const device_choice *dev, const test_set *t, const det_layout *layout,
                         const objective_config *cfg, const head_params *head, const double *params,
                         const size_t *order, size_t n_img, const double *kappa)
{
    device_step *whole = NULL, *lean = NULL;
    objective obj_whole, obj_lean;
    int rc = device_objective(&obj_whole, &whole, dev, layout, cfg, head, &t->data, n_img);
    test_batch_budget = 1;
    rc = device_objective(&obj_lean, &lean, dev, layout, cfg, head, &t->data, n_img) || rc;
    test_batch_budget = 0;
    CHECK(rc == 0 && device_step_bytes(lean) < device_step_bytes(whole), "lean batches: setup (%s)",
          error_message());
    if (!rc)
        check_same_bits("batches gathered in chunks and whole", &obj_whole, &obj_lean, t, layout, params, order,
                        n_img, kappa);
    error_clear();
    objective_free(&obj_whole);
    objective_free(&obj_lean);
}

/* Streamed batches give the bits of resident ones. */
static void compare_streaming(const device_choice *dev, const test_set *t, const det_layout *layout,
                              const objective_config *cfg, const head_params *head, const double *params,
                              const size_t *order, size_t n_img, const double *kappa)
{
    device_step *resident = NULL, *streamed = NULL;
    objective obj_res, obj_str;
    int rc = device_objective(&obj_res, &resident, dev, layout, cfg, head, &t->data, n_img);
    setenv("EDDP_DEVICE_STREAM", "1", 1);
    int rc_str = device_objective(&obj_str, &streamed, dev, layout, cfg, head, &t->data, n_img);
    rc = rc || rc_str;
    unsetenv("EDDP_DEVICE_STREAM");
    CHECK(rc == 0 && device_step_resident(resident) && !device_step_resident(streamed),
          "streaming: setup (%s)", error_message());
    if (!rc)
        check_same_bits("streamed and resident batches", &obj_res, &obj_str, t, layout, params, order, n_img,
                        kappa);
    error_clear();
    objective_free(&obj_res);
    objective_free(&obj_str);
}

static void first_batch(rng_state *rng, size_t n_total, size_t *order, double *kappa, size_t n_img)
{
    size_t *perm = malloc(n_total * sizeof *perm);
    rng_permutation(rng, perm, n_total);
    memcpy(order, perm, n_img * sizeof *order);
    for (size_t k = 0; k < n_img; k++)
        kappa[k] = rng_uniform_range(rng, 0.5, 0.9);
    free(perm);
}

/* Free detectors (with signals) from random raw filters through the mean. */
static void free_params(rng_state *rng, const det_layout *layout, const double *mean, double *params)
{
    int n_det = layout->n_det, n_dim = layout->n_dim;
    double *W = malloc((size_t)n_det * n_dim * sizeof(double)), *S = malloc((size_t)n_det * n_dim * sizeof(double));
    double *b = malloc(n_det * sizeof(double));
    for (int i = 0; i < n_det; i++) {
        b[i] = 0;
        for (int d = 0; d < n_dim; d++) {
            W[(size_t)i * n_dim + d] = rng_normal(rng) / sqrt((double)n_dim);
            S[(size_t)i * n_dim + d] = rng_normal(rng);
            b[i] += W[(size_t)i * n_dim + d] * (mean[d] + 0.3 * rng_normal(rng));
        }
    }
    det_init_from_effective(layout, W, b, layout->has_signals ? S : NULL, 1.0, params);
    free(W); free(S); free(b);
}

/* IoU of the positive-logit sets of two detector sets over all pixels. */
static double min_detector_iou(const test_set *t, const det_view *a, const det_view *b, int n_det, double *max_diff)
{
    size_t n_img = t->data.n_img, hw = t->data.hw;
    int n_dim = t->data.n_dim;
    size_t *order = malloc(n_img * sizeof *order);
    for (size_t k = 0; k < n_img; k++)
        order[k] = k;
    double *X = malloc(n_img * hw * n_dim * sizeof(double)), *pooled = malloc(n_img * n_dim * sizeof(double));
    double *A = malloc(n_img * hw * n_det * sizeof(double)), *B = malloc(n_img * hw * n_det * sizeof(double));
    train_gather(&t->data, order, n_img, X, pooled);
    det_logits(a, n_det, n_dim, X, n_img * hw, A);
    det_logits(b, n_det, n_dim, X, n_img * hw, B);
    double worst = 1.0;
    *max_diff = 0;
    for (int i = 0; i < n_det; i++) {
        size_t inter = 0, uni = 0;
        for (size_t p = 0; p < n_img * hw; p++) {
            int pa = A[p * n_det + i] > 0, pb = B[p * n_det + i] > 0;
            inter += pa && pb;
            uni += pa || pb;
            *max_diff = fmax(*max_diff, fabs(A[p * n_det + i] - B[p * n_det + i]));
        }
        double iou = uni ? (double)inter / uni : 1.0;
        worst = fmin(worst, iou);
    }
    free(order); free(X); free(pooled); free(A); free(B);
    return worst;
}

/* A few hundred Adam steps of step (a) with each backend from one start. */
static void compare_training(const device_choice *dev, const test_set *t, const det_layout *layout,
                             const objective_config *cfg, const head_params *head, const double *start)
{
    size_t n = layout->n_params, batch = 256;
    cli_common cli = {.tool = "test_device", .quiet = 1};
    train_config tc = {.epochs = TRAIN_EPOCHS, .batch_images = batch, .lr = 5e-3, .plateau_factor = 1,
                       .al_every = 50, .al_full_data = 1, .al_penalty = 1, .al_growth = 10,
                       .al_penalty_max = 1e4, .seed = 7, .cli = &cli};
    double *p_cpu = malloc(n * sizeof(double)), *p_dev = malloc(n * sizeof(double));
    memcpy(p_cpu, start, n * sizeof(double));
    memcpy(p_dev, start, n * sizeof(double));
    objective obj_cpu = {0}, obj_dev = {0};
    train_history h_cpu = {0}, h_dev = {0};
    device_step *ds = NULL;
    int rc = objective_init_data(&obj_cpu, layout, cfg, head, &t->data, batch) ||
             device_objective(&obj_dev, &ds, dev, layout, cfg, head, &t->data, batch);
    CHECK(rc == 0, "training: setup (%s)", error_message());
    if (!rc) {
        rc = train_run(&tc, &obj_cpu, &t->data, p_cpu, &h_cpu);
        CHECK(rc == 0, "training on the CPU (%s)", error_message());
        int rc_dev = train_run(&tc, &obj_dev, &t->data, p_dev, &h_dev);
        CHECK(rc_dev == 0, "training on the device (%s)", error_message());
        if (!rc && !rc_dev) {
            double max_diff;
            double iou = min_detector_iou(t, &obj_cpu.view, &obj_dev.view, layout->n_det, &max_diff);
            CHECK(iou >= TRAIN_IOU, "training: the final detectors' firing sets agree (min IoU %.4f < %g)", iou,
                  TRAIN_IOU);
            printf("  training, %d epochs x %zu batches: min detector IoU %.4f, max logit difference %.3g\n",
                   TRAIN_EPOCHS, (t->data.n_img + batch - 1) / batch, iou, max_diff);
        }
    }
    objective_free(&obj_cpu);
    objective_free(&obj_dev);
    error_clear();
    train_history_free(&h_cpu);
    train_history_free(&h_dev);
    free(p_cpu); free(p_dev);
}

int main(void)
{
    device_choice dev;
    /* Without a CUDA device, the same comparisons run over cpu32, the
     * CUDA backend's arithmetic on the CPU (--precision float32). */
    if (device_choose("cuda", &dev)) {
        printf("test_device: no CUDA device (%s); over cpu32\n", error_message());
        error_clear();
        device_backend_override(cpu32_backend());
        if (device_choose("cuda", &dev))
            return harness_skip("test_device", error_message());
    }
    printf("test_device: on %s\n", dev.name);
    rng_state rng;
    rng_init(&rng, 5, 1);

    /* (1) the synthetic preset's shape: 16 channels, 3 detectors, 2×2 maps,
     * 1024 images; step (a) and step (d) layouts. */
    {
        test_set t;
        set_make(&t, &rng, 1024, 16, 4);
        head_params head;
        head_make(&head, &rng, 3, 16);
        size_t order[1024];
        double kappa[1024];
        objective_config cfg;
        det_layout la, ld;
        det_layout_init(&la, DET_STANDARDISED, 3, 16, 0, t.mean, t.std);
        det_layout_init(&ld, DET_FREE, 3, 16, 1, t.mean, t.std);
        double *pa = malloc(la.n_params * sizeof(double)), *pd = malloc(ld.n_params * sizeof(double));
        det_init_standardised(&la, &rng, 0.7, 0.1, pa);
        free_params(&rng, &ld, t.mean, pd);
        for (int whole = 0; whole < 2; whole++) {
            size_t n_img = whole ? 1024 : 256;
            first_batch(&rng, 1024, order, kappa, n_img);
            config_make(&cfg, "s,ma,mm,ic,uur", 1.0);
            compare_step(whole ? "synthetic, step (a), 1024 images" : "synthetic, step (a), 256 images", &dev, &t,
                         &la, &cfg, &head, pa, order, n_img, kappa, NULL);
            config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
            compare_step(whole ? "synthetic, step (d), 1024 images" : "synthetic, step (d), 256 images", &dev, &t,
                         &ld, &cfg, &head, pd, order, n_img, kappa, NULL);
        }
        /* step (d) under the augmented Lagrangian */
        config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
        cfg.constrained[TERM_MA] = cfg.constrained[TERM_IC] = cfg.constrained[TERM_FSO] = 1;
        double bounds[3] = {0.01, 0.01, 0.5};
        al_state al;
        al_init(&al, 3, bounds, 3.0, 10, 1e4);
        al.multiplier[1] = 0.4;
        compare_step("synthetic, step (d), augmented Lagrangian", &dev, &t, &ld, &cfg, &head, pd, order, 256, kappa,
                     &al);
        /* L^ic per detector (--coverage per-detector), its gates open (τ 2.5:
         * floors 0.83); --coverage soft is refused (the device reduces only
         * E_p[y^γ]), with EX_UNAVAILABLE so that --device auto falls back. */
        config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 2.5);
        cfg.pixel.coverage = LOSS_COVERAGE_PER_DETECTOR;
        compare_step("synthetic, step (d), L^ic per detector", &dev, &t, &ld, &cfg, &head, pd, order, 256, kappa,
                     NULL);
        /* --coverage reward: host-side column maths, so the device runs it */
        cfg.pixel.coverage = LOSS_COVERAGE_REWARD;
        compare_step("synthetic, step (d), L^ic reward", &dev, &t, &ld, &cfg, &head, pd, order, 256, kappa, NULL);
        cfg.pixel.coverage = LOSS_COVERAGE_SOFT;
        device_step *soft_step = NULL;
        int soft_rc = device_step_create(&soft_step, &dev, &ld, &cfg, &head, &t.data, 256, 0);
        CHECK(soft_rc == EX_UNAVAILABLE && soft_step == NULL, "--coverage soft refused on the device (%d)", soft_rc);
        error_clear();
        /* raw space (uur without standardisation) */
        det_layout lb;
        det_layout_init(&lb, DET_FREE, 3, 16, 0, t.mean, NULL);
        double *pb = malloc(lb.n_params * sizeof(double));
        free_params(&rng, &lb, t.mean, pb);
        config_make(&cfg, "s,sb,ma,mm,ic,eac,uur", 1.0);
        compare_step("synthetic, step (b), raw space", &dev, &t, &lb, &cfg, &head, pb, order, 256, kappa, NULL);
        config_make(&cfg, "s,ma,mm,ic,uur", 1.0);
        compare_streaming(&dev, &t, &la, &cfg, &head, pa, order, 256, kappa);
        /* (3) a short training run */
        compare_training(&dev, &t, &la, &cfg, &head, pa);
        free(pa); free(pd); free(pb);
        det_layout_free(&la); det_layout_free(&ld); det_layout_free(&lb);
        free(head.weight); free(head.bias);
        set_free(&t);
    }

    /* (2) random D = 512, I = 500, 64 images × 49 pixels. */
    {
        test_set t;
        set_make(&t, &rng, 64, 512, 49);
        head_params head;
        head_make(&head, &rng, 10, 512);
        size_t order[64];
        double kappa[64];
        first_batch(&rng, 64, order, kappa, 64);
        objective_config cfg;
        det_layout la, ld;
        det_layout_init(&la, DET_STANDARDISED, 500, 512, 0, t.mean, t.std);
        det_layout_init(&ld, DET_FREE, 500, 512, 1, t.mean, t.std);
        double *pa = malloc(la.n_params * sizeof(double)), *pd = malloc(ld.n_params * sizeof(double));
        det_init_standardised(&la, &rng, 1.0, 0.0, pa);
        free_params(&rng, &ld, t.mean, pd);
        config_make(&cfg, "s,ma,mm,ic,uur", 1.0);
        compare_step("D=512, I=500, step (a)", &dev, &t, &la, &cfg, &head, pa, order, 64, kappa, NULL);
        config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
        compare_step("D=512, I=500, step (d)", &dev, &t, &ld, &cfg, &head, pd, order, 64, kappa, NULL);
        free(pa); free(pd);
        det_layout_free(&la); det_layout_free(&ld);
        free(head.weight); free(head.bias);
        set_free(&t);
    }
    /* (4) issue #16: the synthetic preset's scaling (raw |W| ~ 1e4, |b| ~
     * 1e5) and a Broden-like set (offsets, σ over four orders of
     * magnitude), where logits on raw float32 pixels lose ~1e-2. The CPU
     * emulation of this arithmetic is test_device_f32. */
    {
        test_set t;
        if (set_synthetic(&t)) {
            CHECK(0, "reading Table 6 (%s)", error_message());
        } else {
            head_params head;
            head_make(&head, &rng, 3, 16);
            size_t order[3000];
            double kappa[3000];
            objective_config cfg;
            det_layout la, ld;
            det_layout_init(&la, DET_STANDARDISED, 3, 16, 0, t.mean, t.std);
            det_layout_init(&ld, DET_FREE, 3, 16, 1, t.mean, NULL);
            double *pa = malloc(la.n_params * sizeof(double)), *pd = malloc(ld.n_params * sizeof(double));
            det_init_standardised(&la, &rng, 0.2, 0.3, pa); /* margin 0.2: |W| up to ~1e4 */
            det_view view;
            det_view_alloc(&view, &la);
            det_forward(&la, pa, &view);
            double *S = malloc(3 * 16 * sizeof(double));
            for (int k = 0; k < 3 * 16; k++)
                S[k] = rng_normal(&rng);
            det_init_from_effective(&ld, view.W, view.b, S, 1.0, pd); /* the same detectors in raw space */
            det_view_free(&view);
            first_batch(&rng, 3000, order, kappa, 3000);
            config_make(&cfg, "s,ma,mm,ic,uur", 1.0);
            compare_step("preset scaling, step (a), 3000 images", &dev, &t, &la, &cfg, &head, pa, order, 3000, kappa,
                         NULL);
            config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
            compare_step("preset scaling, step (d) raw space, 3000 images", &dev, &t, &ld, &cfg, &head, pd, order,
                         3000, kappa, NULL);
            free(pa); free(pd); free(S);
            det_layout_free(&la); det_layout_free(&ld);
            free(head.weight); free(head.bias);
            set_free(&t);
        }
    }
    {
        test_set t;
        set_broden_like(&t, &rng, 256, 512, 49);
        head_params head;
        head_make(&head, &rng, 10, 512);
        size_t order[256];
        double kappa[256];
        first_batch(&rng, 256, order, kappa, 256);
        objective_config cfg;
        det_layout la, ld;
        det_layout_init(&la, DET_STANDARDISED, 500, 512, 0, t.mean, t.std);
        det_layout_init(&ld, DET_FREE, 500, 512, 1, t.mean, t.std);
        double *pa = malloc(la.n_params * sizeof(double)), *pd = malloc(ld.n_params * sizeof(double));
        det_init_standardised(&la, &rng, 1.0, 0.5, pa);
        free_params(&rng, &ld, t.mean, pd);
        config_make(&cfg, "s,ma,mm,ic,uur", 1.0);
        compare_step("Broden-like, D=512, I=500, step (a)", &dev, &t, &la, &cfg, &head, pa, order, 256, kappa, NULL);
        config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
        compare_step("Broden-like, D=512, I=500, step (d)", &dev, &t, &ld, &cfg, &head, pd, order, 256, kappa, NULL);
        free(pa); free(pd);
        det_layout_free(&la); det_layout_free(&ld);
        free(head.weight); free(head.bias);
        set_free(&t);
    }
    {
        /* 1,400 images of 7×7: 68,600 pixels; with a batch budget of one
         * byte, gathered in two chunks (CPU32_GATHER_PIX), the boundary
         * inside image 1337, and again for dW̃. */
        test_set t;
        set_broden_like(&t, &rng, 1400, 32, 49);
        head_params head;
        head_make(&head, &rng, 10, 32);
        size_t order[1400];
        double kappa[1400];
        first_batch(&rng, 1400, order, kappa, 1400);
        objective_config cfg;
        det_layout ld;
        det_layout_init(&ld, DET_FREE, 16, 32, 1, t.mean, t.std);
        double *pd = malloc(ld.n_params * sizeof(double));
        free_params(&rng, &ld, t.mean, pd);
        config_make(&cfg, "s,sb,ma,mm,ic,eac,cur,fso", 1.0);
        compare_step("Broden-like, 68,600 pixels, step (d)", &dev, &t, &ld, &cfg, &head, pd, order, 1400, kappa,
                     NULL);
        test_batch_budget = 1;
        compare_step("Broden-like, 68,600 pixels in two gathered chunks", &dev, &t, &ld, &cfg, &head, pd, order,
                     1400, kappa, NULL);
        test_batch_budget = 0;
        compare_lean(&dev, &t, &ld, &cfg, &head, pd, order, 1400, kappa);
        free(pd);
        det_layout_free(&ld);
        free(head.weight); free(head.bias);
        set_free(&t);
    }
    return harness_report("test_device");
}
