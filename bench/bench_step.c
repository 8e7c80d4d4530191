/* bench_step — time of one training step (objective_eval, forward and
 * backward) against the two GEMMs that bound it from below.
 *
 * The step: random data at n_dim = 512, n_det = 500, one batch of 128 images
 * × 49 pixels, free layout with signals, losses s,sb,ma,mm,ic,eac,cur,fso
 * (the EDDP step d shape). The reference: X·Wᵀ [n_pix × n_det] and dAᵀ·X
 * [n_det × n_dim], the logits GEMM and the filter-gradient GEMM at the same
 * sizes, timed in the same run. Prints the medians of several repetitions
 * and their ratio (issue target: ≤ 1.5). A ratio, never pass/fail.
 *
 *   build/bench/bench_step [REPS [N_DIM N_DET N_IMG HW]]
 * Threads: OMP_NUM_THREADS (default: all cores). */
#include "detectors.h"
#include "error.h"
#include "headfile.h"
#include "objective.h"
#include "rng.h"

#include <cblas.h>
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

static void fill_normal(rng_state *r, double *x, size_t n, double sd)
{
    for (size_t k = 0; k < n; k++)
        x[k] = sd * rng_normal(r);
}

static long arg_long(int argc, char **argv, int k, long fallback)
{
    return argc > k ? strtol(argv[k], NULL, 10) : fallback;
}

int main(int argc, char **argv)
{
    int reps = (int)arg_long(argc, argv, 1, 9);
    int n_dim = (int)arg_long(argc, argv, 2, 512), n_det = (int)arg_long(argc, argv, 3, 500);
    int n_img = (int)arg_long(argc, argv, 4, 128), hw = (int)arg_long(argc, argv, 5, 49);
    int n_cls = 10;
    if (reps < 1 || n_dim < 1 || n_det < 1 || n_det > n_dim || n_img < 1 || hw < 1) {
        fprintf(stderr, "usage: bench_step [REPS [N_DIM N_DET N_IMG HW]] (N_DET <= N_DIM)\n");
        return 2;
    }
    size_t n_pix = (size_t)n_img * hw, nd = (size_t)n_det * n_dim;
    rng_state r;
    rng_init(&r, 42, 0);

    /* Batch: pixels X, their per-image means, κ. */
    double *X = malloc(n_pix * n_dim * sizeof *X), *pooled = calloc((size_t)n_img * n_dim, sizeof *pooled);
    double *kappa = malloc(n_img * sizeof *kappa), *center = calloc(n_dim, sizeof *center);
    fill_normal(&r, X, n_pix * n_dim, 1.0);
    for (int j = 0; j < n_img; j++) {
        for (int p = 0; p < hw; p++)
            for (int d = 0; d < n_dim; d++)
                pooled[(size_t)j * n_dim + d] += X[((size_t)j * hw + p) * n_dim + d];
        for (int d = 0; d < n_dim; d++)
            pooled[(size_t)j * n_dim + d] /= hw;
        kappa[j] = rng_uniform_range(&r, 0.5, 0.9);
    }

    /* Detectors: unit filters (logits O(1)), thresholds, signals. */
    double *W = malloc(nd * sizeof *W), *S = malloc(nd * sizeof *S), *b = malloc(n_det * sizeof *b);
    fill_normal(&r, W, nd, 1.0 / sqrt((double)n_dim));
    fill_normal(&r, S, nd, 1.0);
    fill_normal(&r, b, n_det, 1.0);
    head_params head = {n_cls, n_dim, malloc((size_t)n_cls * n_dim * sizeof(double)),
                        malloc(n_cls * sizeof(double))};
    fill_normal(&r, head.weight, (size_t)n_cls * n_dim, 0.1);
    fill_normal(&r, head.bias, n_cls, 0.1);

    det_layout layout;
    objective_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const term_id terms[] = {TERM_S, TERM_SB, TERM_MA, TERM_MM, TERM_IC, TERM_EAC, TERM_CUR, TERM_FSO};
    for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
        cfg.enabled[terms[k]] = 1;
        cfg.weight[terms[k]] = 1.0;
    }
    cfg.pixel = (loss_pixel_config){.gamma = 1.1, .tau = 1.0, .rho = 0.5, .nu = 4.0};
    cfg.kappa_lo = 0.5;
    cfg.kappa_hi = 0.9;
    objective obj;
    double *params = NULL, *dparams = NULL;
    if (det_layout_init(&layout, DET_FREE, n_det, n_dim, 1, center, NULL) ||
        !(params = malloc(layout.n_params * sizeof *params)) ||
        !(dparams = malloc(layout.n_params * sizeof *dparams)) ||
        det_init_from_effective(&layout, W, b, S, 1.0, params) ||
        objective_init(&obj, &layout, &cfg, &head, n_img, n_pix)) {
        fprintf(stderr, "bench_step: setup failed: %s\n", error_message());
        return 1;
    }

    objective_batch batch = {X, pooled, kappa, n_img, n_pix};
    double values[TERM_COUNT], total, *t_step = malloc(reps * sizeof(double)), *t_gemm = malloc(reps * sizeof(double));
    double *A = malloc(n_pix * n_det * sizeof *A), *dA = malloc(n_pix * n_det * sizeof *dA);
    double *dW = malloc(nd * sizeof *dW);
    fill_normal(&r, dA, n_pix * n_det, 1.0);
    for (int k = -1; k < reps; k++) { /* k = -1: warm-up */
        double t0 = now();
        if (objective_eval(&obj, params, &batch, NULL, values, &total, dparams)) {
            fprintf(stderr, "bench_step: objective_eval failed: %s\n", error_message());
            return 1;
        }
        double t1 = now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix, n_det, n_dim, 1.0, X, n_dim, W,
                    n_dim, 0.0, A, n_det);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_det, n_dim, (int)n_pix, 1.0, dA, n_det, X,
                    n_dim, 0.0, dW, n_dim);
        double t2 = now();
        if (k >= 0) {
            t_step[k] = t1 - t0;
            t_gemm[k] = t2 - t1;
        }
    }
    double step = median(t_step, reps), gemm = median(t_gemm, reps);
    printf("bench_step: n_dim %d, n_det %d, %d images x %d pixels, free layout + signals, "
           "losses s,sb,ma,mm,ic,eac,cur,fso; %d threads, %d reps\n",
           n_dim, n_det, n_img, hw, omp_get_max_threads(), reps);
    printf("  objective_eval (forward + backward)  median %8.2f ms\n", 1e3 * step);
    printf("  X*W^T + dA^T*X (two GEMMs)           median %8.2f ms\n", 1e3 * gemm);
    printf("  ratio step / GEMMs                   %8.3f   (target <= 1.5)\n", step / gemm);
    printf("  objective %.6g (L_s %.4g, L_cur %.4g, L_fso %.4g)\n", total, values[TERM_S], values[TERM_CUR],
           values[TERM_FSO]);

    objective_free(&obj);
    det_layout_free(&layout);
    free(X); free(pooled); free(kappa); free(center); free(W); free(S); free(b);
    free(head.weight); free(head.bias); free(params); free(dparams);
    free(t_step); free(t_gemm); free(A); free(dA); free(dW);
    return 0;
}
