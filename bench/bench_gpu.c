/* bench_gpu — epoch time of the CUDA batch step at Broden scale against the
 * time of its two GEMMs in cuBLAS alone, device memory, and the projected
 * time of the paper's full schedule (make bench-gpu).
 *
 * Data: random features generated on the host, 63,000 images × 512 × 7×7
 * float32 by default (6.3 GB), a random head of 365 classes, I = 500
 * detectors, batches of 4096 images (the paper's reference batch). Two
 * objectives: step (a) (standardised orthonormal detectors, s,ma,mm,ic,uur)
 * and step (d) (free detectors with signals, s,sb,ma,mm,ic,eac,cur,fso).
 * One epoch = every image once in shuffled batches, each batch evaluated
 * with its gradient and followed by the host's Adam update, as train.c does.
 * Reported: the median over --epochs epochs (3; the first epoch is a
 * warm-up and not counted), the reference (the two SGEMMs of every batch,
 * median of 5 timings × batches per epoch), their ratio, and
 *   projection = 800 × epoch(a) + 2000 × epoch(d) [step b, costed as d
 *                without signals: as d] + 2000 × epoch(d).
 * A figure, never pass/fail (the exit status is 0 unless setup fails).
 *
 *   build/bench/bench_gpu [--images N] [--epochs K] [--batch N] [--detectors I]
 * Without a usable device it prints "bench_gpu: skipped: <reason>". */
#include "device.h"
#include "error.h"
#include "head.h"
#include "objective.h"
#include "optim.h"
#include "rng.h"
#include "train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

typedef struct {
    size_t n_img, batch;
    int n_dim, n_det, hw, n_cls, epochs;
} bench_args;

static void parse(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){63000, 4096, 512, 500, 49, 365, 3};
    for (int k = 1; k + 1 < argc; k += 2) {
        long v = strtol(argv[k + 1], NULL, 10);
        if (!strcmp(argv[k], "--images")) a->n_img = (size_t)v;
        else if (!strcmp(argv[k], "--epochs")) a->epochs = (int)v;
        else if (!strcmp(argv[k], "--batch")) a->batch = (size_t)v;
        else if (!strcmp(argv[k], "--detectors")) a->n_det = (int)v;
        else {
            fprintf(stderr, "usage: bench_gpu [--images N] [--epochs K] [--batch N] [--detectors I]\n");
            exit(2);
        }
    }
}

/* Uniform features with per-channel offsets, one generator stream per image
 * (parallel, and the same data whatever the thread count). */
static void make_features(float *f, size_t n_img, int n_dim, int hw)
{
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n_img; k++) {
        rng_state r;
        rng_init(&r, 99, k);
        float *img = f + k * (size_t)n_dim * hw;
        for (int d = 0; d < n_dim; d++)
            for (int p = 0; p < hw; p++)
                img[(size_t)d * hw + p] = (float)(0.2 * (d % 5) + 2.0 * rng_uniform(&r) - 1.0);
    }
}

static void enable(objective_config *cfg, const char *terms)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->pixel = (loss_pixel_config){.gamma = 1.1, .tau = 1.0, .rho = 0.5, .nu = 4.0};
    cfg->kappa_lo = 0.5;
    cfg->kappa_hi = 0.9;
    for (int j = 0; j < TERM_COUNT; j++) {
        cfg->enabled[j] = objective_term_listed(terms, j);
        cfg->weight[j] = 1.0;
    }
}

/* Median epoch time of one objective (after one warm-up epoch). */
static int time_epochs(const char *label, const bench_args *a, const device_choice *dev, const train_data *data,
                       const det_layout *layout, const objective_config *cfg, const head_params *head,
                       double *params, double *epoch_s, size_t *bytes)
{
    device_step *ds = NULL;
    objective obj = {0};
    double t0 = now();
    if (device_step_create(&ds, dev, layout, cfg, head, data, a->batch, 0) ||
        objective_init_backend(&obj, layout, cfg, head, device_step_backend(ds))) {
        objective_free(&obj);
        return error_code();
    }
    printf("  %s: set %s, upload %.1f s, device memory held %.0f MiB\n", label,
           device_step_resident(ds) ? "resident" : "streamed", now() - t0,
           device_step_bytes(ds) / 1048576.0);
    *bytes = device_step_bytes(ds);
    size_t n = layout->n_params, *order = malloc(a->n_img * sizeof *order);
    double *grads = malloc(n * sizeof(double)), *kappa = malloc(a->batch * sizeof(double));
    double *times = malloc((a->epochs + 1) * sizeof(double)), values[TERM_COUNT], total = 0;
    adam_state adam;
    adam_init(&adam, n);
    rng_state r;
    rng_init(&r, 1, RNG_STREAM_BATCH);
    int rc = 0;
    for (int e = 0; e <= a->epochs && !rc; e++) {
        rng_permutation(&r, order, a->n_img);
        double start = now();
        for (size_t b0 = 0; b0 < a->n_img && !rc; b0 += a->batch) {
            size_t m = a->n_img - b0 < a->batch ? a->n_img - b0 : a->batch;
            for (size_t k = 0; k < m; k++)
                kappa[k] = rng_uniform_range(&r, 0.5, 0.9);
            objective_batch batch = {.kappa = kappa, .n_img = (int)m, .n_pix = m * data->hw, .order = order + b0};
            rc = objective_eval(&obj, params, &batch, NULL, values, &total, grads);
            if (!rc)
                adam_update(&adam, params, grads, 1e-4);
        }
        times[e] = now() - start;
        if (!rc)
            printf("    epoch %d: %.3f s%s  (objective %.6g)\n", e, times[e], e ? "" : " (warm-up)", total);
    }
    if (!rc)
        *epoch_s = median(times + 1, a->epochs);
    adam_free(&adam);
    free(order); free(grads); free(kappa); free(times);
    objective_free(&obj);
    return rc;
}

int main(int argc, char **argv)
{
    bench_args a;
    parse(argc, argv, &a);
    device_choice dev;
    if (device_choose("cuda", &dev)) {
        printf("bench_gpu: skipped: %s\n", error_message());
        return 0;
    }
    if (a.n_img < a.batch)
        a.batch = a.n_img;
    printf("bench_gpu: %s; %zu images x %d channels x %d pixels, I = %d, batch %zu, %d host threads\n", dev.name,
           a.n_img, a.n_dim, a.hw, a.n_det, a.batch, omp_get_max_threads());
    size_t free0 = 0, total0 = 0;
    device_memory_info(dev.index, &free0, &total0);
    double t0 = now();
    float *features = malloc(a.n_img * a.n_dim * a.hw * sizeof(float));
    double *pooled = malloc(a.n_img * a.n_dim * sizeof(double));
    double *mean = calloc(a.n_dim, sizeof(double)), *std = malloc(a.n_dim * sizeof(double));
    if (!features || !pooled || !mean || !std) {
        fprintf(stderr, "bench_gpu: out of host memory for %zu images\n", a.n_img);
        return 1;
    }
    make_features(features, a.n_img, a.n_dim, a.hw);
    head_pool(features, (int)a.n_img, a.n_dim, a.hw, pooled);
    for (size_t k = 0; k < a.n_img; k++)
        for (int d = 0; d < a.n_dim; d++)
            mean[d] += pooled[k * a.n_dim + d] / a.n_img;
    for (int d = 0; d < a.n_dim; d++)
        std[d] = 1.0 / sqrt(3.0); /* of U(−1, 1) */
    printf("  data generated in %.1f s\n", now() - t0);
    train_data data = {features, pooled, a.n_img, a.n_dim, a.hw, NULL};
    rng_state r;
    rng_init(&r, 3, RNG_STREAM_INIT);
    head_params head = {365, a.n_dim, malloc((size_t)365 * a.n_dim * sizeof(double)), malloc(365 * sizeof(double))};
    for (int k = 0; k < 365 * a.n_dim; k++)
        head.weight[k] = 0.05 * rng_normal(&r);
    for (int k = 0; k < 365; k++)
        head.bias[k] = 0.1 * rng_normal(&r);

    objective_config cfg_a, cfg_d;
    enable(&cfg_a, "s,ma,mm,ic,uur");
    enable(&cfg_d, "s,sb,ma,mm,ic,eac,cur,fso");
    det_layout la, ld;
    det_layout_init(&la, DET_STANDARDISED, a.n_det, a.n_dim, 0, mean, std);
    det_layout_init(&ld, DET_FREE, a.n_det, a.n_dim, 1, mean, std);
    double *pa = malloc(la.n_params * sizeof(double)), *pd = malloc(ld.n_params * sizeof(double));
    size_t nd = (size_t)a.n_det * a.n_dim;
    double *W = malloc(nd * sizeof(double)), *S = malloc(nd * sizeof(double));
    double *b = calloc(a.n_det, sizeof(double));
    for (size_t k = 0; k < nd; k++) {
        W[k] = rng_normal(&r) / sqrt((double)a.n_dim);
        S[k] = rng_normal(&r);
    }
    for (int i = 0; i < a.n_det; i++)
        for (int d = 0; d < a.n_dim; d++)
            b[i] += W[(size_t)i * a.n_dim + d] * mean[d];
    if (det_init_standardised(&la, &r, 1.0, 0.0, pa) || det_init_from_effective(&ld, W, b, S, 1.0, pd)) {
        fprintf(stderr, "bench_gpu: parameter setup failed\n");
        return 1;
    }
    double epoch_a = 0, epoch_d = 0, gemm = 0;
    size_t bytes_a = 0, bytes_d = 0;
    int rc = time_epochs("step (a) s,ma,mm,ic,uur", &a, &dev, &data, &la, &cfg_a, &head, pa, &epoch_a, &bytes_a) ||
             time_epochs("step (d) s,sb,ma,mm,ic,eac,cur,fso", &a, &dev, &data, &ld, &cfg_d, &head, pd, &epoch_d,
                         &bytes_d);
    /* The reference: the two GEMMs of every batch of an epoch. */
    size_t full = a.n_img / a.batch, rest = a.n_img % a.batch;
    double t_full = 0, t_rest = 0;
    rc = rc || device_gemm_reference(&dev, a.batch * a.hw, a.n_det, a.n_dim, 5, &t_full) ||
         (rest && device_gemm_reference(&dev, rest * a.hw, a.n_det, a.n_dim, 5, &t_rest));
    if (rc) {
        fprintf(stderr, "bench_gpu: %s\n", error_message());
        return 1;
    }
    gemm = full * t_full + t_rest;
    size_t free1 = 0, total1 = 0;
    device_memory_info(dev.index, &free1, &total1);
    double projection = 800 * epoch_a + 2000 * epoch_d + 2000 * epoch_d;
    printf("bench_gpu results (median of %d epochs):\n", a.epochs);
    printf("  epoch, step (a)                      %9.3f s   ratio to GEMMs %6.2f\n", epoch_a, epoch_a / gemm);
    printf("  epoch, step (d)                      %9.3f s   ratio to GEMMs %6.2f\n", epoch_d, epoch_d / gemm);
    printf("  epoch, the two SGEMMs alone          %9.3f s   (%zu batches)\n", gemm, full + (rest > 0));
    printf("  device memory held: step (a) %.0f MiB, step (d) %.0f MiB; device total %.0f MiB, free at start "
           "%.0f MiB\n", bytes_a / 1048576.0, bytes_d / 1048576.0, total0 / 1048576.0, free0 / 1048576.0);
    printf("  projected full schedule 800 (a) + 2000 (b, as d) + 2000 (d) epochs: %.1f min (target <= 15 min: %s)\n",
           projection / 60.0, projection <= 900 ? "met" : "NOT met");
    if (a.n_img != 63000)
        printf("  (projection from %zu images; scale by 63000/%zu for Broden)\n", a.n_img, a.n_img);
    det_layout_free(&la);
    det_layout_free(&ld);
    free(features); free(pooled); free(mean); free(std); free(head.weight); free(head.bias);
    free(pa); free(pd); free(W); free(S); free(b);
    return 0;
}
