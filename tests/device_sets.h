/* device_sets.h — the data sets the device tests share (test_device.c, the
 * CUDA backend against the CPU; test_device_f32.c, the kernels' float32
 * arithmetic emulated on the CPU): the synthetic preset's scaling and a
 * Broden-like set with offsets and σ over four orders of magnitude. */
#ifndef DEVICE_SETS_H
#define DEVICE_SETS_H

#include "device.h"
#include "error.h"
#include "head.h"
#include "objective.h"
#include "rng.h"
#include "synth.h"
#include "train.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *features;  /* [n_img × n_dim × hw] */
    double *pooled, *mean, *std;
    train_data data;
} test_set;

/* The objective over a device step on data (step: the step, which obj owns),
 * for batches of up to max_img images, with device_step_create's
 * batch_budget test_batch_budget (0 unless a test sets it). obj can be freed
 * after a failure. */
static size_t test_batch_budget;
static int device_objective(objective *obj, device_step **step, const device_choice *dev,
                            const det_layout *layout, const objective_config *cfg, const head_params *head,
                            const train_data *data, size_t max_img)
{
    memset(obj, 0, sizeof *obj);
    if (device_step_create(step, dev, layout, cfg, head, data, max_img, test_batch_budget))
        return error_code();
    return objective_init_backend(obj, layout, cfg, head, device_step_backend(*step));
}

/* objective_eval on the images order[0..n_img) of the objective's set. */
static int eval_images(objective *obj, const double *params, const size_t *order, size_t n_img, int hw,
                       const double *kappa, const al_state *al, double *values, double *total, double *grads)
{
    objective_batch batch = {.kappa = kappa, .n_img = (int)n_img, .n_pix = n_img * hw, .order = order};
    return objective_eval(obj, params, &batch, al, values, total, grads);
}

/* Pooled features, per-channel mean and standard deviation of t->features. */
static void set_statistics(test_set *t, size_t n_img, int n_dim, int hw)
{
    t->pooled = malloc(n_img * n_dim * sizeof(double));
    t->mean = calloc(n_dim, sizeof(double));
    t->std = calloc(n_dim, sizeof(double));
    head_pool(t->features, (int)n_img, n_dim, hw, t->pooled);
    size_t n_pix = n_img * hw;
    for (int d = 0; d < n_dim; d++) {
        double sum = 0, sq = 0;
        for (size_t k = 0; k < n_img; k++)
            for (int p = 0; p < hw; p++)
                sum += t->features[(k * n_dim + d) * hw + p];
        double mean = sum / n_pix;
        for (size_t k = 0; k < n_img; k++)
            for (int p = 0; p < hw; p++) {
                double x = t->features[(k * n_dim + d) * hw + p] - mean;
                sq += x * x;
            }
        t->mean[d] = mean;
        t->std[d] = sqrt(sq / n_pix);
    }
    t->data = (train_data){t->features, t->pooled, n_img, n_dim, hw, NULL};
}

/* The synthetic preset's data (synthgen's defaults: Table 6, offset 10,
 * 1×2 pixels, 1000 images per class): channels with σ ~ 1e-4 on an offset
 * of 10, so that raw filters reach ~1e4 and biases ~1e5 (issue #16).
 * Returns non-zero when Table 6 cannot be read. */
static int set_synthetic(test_set *t)
{
    synth_config cfg = {.height = 1, .width = 2, .n_classes = 3, .on_lo = 2.5, .on_hi = 5, .off_lo = 0,
                        .off_hi = 2.5, .beta_lo = 0, .beta_hi = 5, .offset = 10, .per_class = 1000};
    if (synth_read_table(EDDP_DATADIR "/table6.tsv", &cfg.signals, &cfg.n_concepts, &cfg.distractors,
                         &cfg.n_distract, &cfg.n_dim))
        return 1;
    int concepts[6] = {0, 1, 0, 2, 1, 2};
    cfg.class_concepts = concepts;
    size_t n_img = cfg.per_class * cfg.n_classes;
    int hw = 2, n_dim = cfg.n_dim;
    t->features = malloc(n_img * n_dim * hw * sizeof(float));
    int32_t map[2];
    float alpha[3 * 2], beta[2 * 2];
    for (size_t k = 0; k < n_img; k++)
        synth_image(&cfg, 1, 0, k, t->features + k * n_dim * hw, map, alpha, beta);
    free(cfg.signals);
    free(cfg.distractors);
    set_statistics(t, n_img, n_dim, hw);
    return 0;
}

/* Broden-like: channel d has an offset in [−50, 50] and scale
 * 10^(−2 + 4d/(D−1)) (four orders of magnitude), Gaussian noise plus a
 * concept blob on a third of the pixels. */
static void set_broden_like(test_set *t, rng_state *rng, size_t n_img, int n_dim, int hw)
{
    t->features = malloc(n_img * n_dim * hw * sizeof(float));
    double *offset = malloc(n_dim * sizeof(double)), *sigma = malloc(n_dim * sizeof(double));
    for (int d = 0; d < n_dim; d++) {
        offset[d] = rng_uniform_range(rng, -50, 50);
        sigma[d] = pow(10.0, -2.0 + 4.0 * d / (n_dim - 1));
    }
    for (size_t k = 0; k < n_img; k++)
        for (int d = 0; d < n_dim; d++)
            for (int p = 0; p < hw; p++) {
                double z = rng_normal(rng) + ((p + (int)k) % 3 == d % 3 ? 2.0 : 0.0);
                t->features[(k * n_dim + d) * hw + p] = (float)(offset[d] + sigma[d] * z);
            }
    free(offset);
    free(sigma);
    set_statistics(t, n_img, n_dim, hw);
}

static void set_free(test_set *t)
{
    free(t->features); free(t->pooled); free(t->mean); free(t->std);
}

/* The objective of the comparisons: the listed terms with distinct weights;
 * tau 2 makes every detector claim 2/I of the pixels, so that L^ic is not 0
 * and its value is compared too. */
static void config_make(objective_config *cfg, const char *terms, double tau)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->pixel = (loss_pixel_config){.gamma = 1.1, .tau = tau, .rho = 0.05, .nu = 4.0};
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

#endif
