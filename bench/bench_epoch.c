/* bench_epoch — one EDDP step-(d) training epoch against the two GEMMs that
 * bound it from below (issue #3's figure).
 *
 * The epoch: train_run for one epoch (gather, forward, backward, Adam) at
 * n_dim 512, n_det 500 over N_IMG random images of 7×7 pixels in batches of
 * BATCH images (the paper's reference batch, 4096), free layout with
 * signals and the step-(d) objective: s, sb, cur as weighted terms, ma, mm,
 * ic, eac, fso as augmented-Lagrangian constraints. The reference: for the
 * same batches, X·Wᵀ [n_pix × n_det] and dAᵀ·X [n_det × n_dim] in OpenBLAS
 * alone, summed. Prints both times and their ratio (target ≤ 1.5); a ratio,
 * never pass/fail. One epoch is a minute or two on 2 cores, so each side is
 * measured once; the two are measured in the same run on the same data.
 *
 * PRECISION float32 measures instead the --precision float32 path (the
 * device.c host half over libcore/cpu32) against its two SGEMMs alone
 * (device_gemm_reference: A = X̃Wᵀ, dW̃ in chunks as the step forms them),
 * REPS times interleaved (epoch, SGEMMs, epoch, ...), and reports the
 * medians; both runs the two epochs and both references in one run, with
 * the ratio float64 epoch / float32 epoch.
 *
 *   build/bench/bench_epoch [N_IMG [BATCH [float64|float32|both [REPS [MEMORY_GIB]]]]]
 *                                                           (64000, 4096, float64, 3, no budget)
 * MEMORY_GIB: the float32 step as under uibe/eddp --memory (that many GiB
 * for the set and the batch's buffers; a batch that does not fit beside
 * the set is gathered in chunks).
 * Each epoch also prints its CPU time (all threads): on a machine shared
 * with other jobs, OMP_NUM_THREADS=1 ... both gives a float64 / float32
 * ratio in CPU time that they disturb far less than the wall times.
 * Threads: OMP_NUM_THREADS (default: all cores). Memory: the set in float
 * (N_IMG · 512 · 49 · 4 bytes, 6.4 GB at 64000) plus batch buffers. */
#include "detectors.h"
#include "device.h"
#include "error.h"
#include "head.h"
#include "headfile.h"
#include "objective.h"
#include "rng.h"
#include "train.h"

#include <cblas.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { N_DIM = 512, N_DET = 500, HW = 49, N_CLS = 10, MAX_REPS = 15 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process so far (user + system, all threads): with
 * OMP_NUM_THREADS=1 a measure of the work that other jobs on the machine
 * disturb far less than the wall time (idle OpenMP threads spinning count
 * in it with more threads). */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of x[0..n) (sorts a copy). */
static double median(const double *x, int n)
{
    double sorted[MAX_REPS];
    memcpy(sorted, x, n * sizeof *x);
    qsort(sorted, n, sizeof *sorted, cmp_double);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

static void fill_normal(rng_state *r, double *x, size_t n, double sd)
{
    for (size_t k = 0; k < n; k++)
        x[k] = sd * rng_normal(r);
}

/* The process's peak resident set so far, in GiB. */
static double peak_rss_gib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1048576.0;
}

/* Uniform features of unit variance, one stream per image (parallel). */
static void fill_features(float *features, size_t n_img, uint64_t seed)
{
    size_t per_image = (size_t)N_DIM * HW;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n_img; j++) {
        rng_state r;
        rng_init(&r, seed, j);
        for (size_t k = 0; k < per_image; k++)
            features[j * per_image + k] = (float)rng_uniform_range(&r, -1.7320508, 1.7320508);
    }
}

static void step_d_objective(objective_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const term_id weighted[] = {TERM_S, TERM_SB, TERM_CUR};
    const double weights[] = {0.85, 2.6, 0.25};
    const term_id bounded[] = {TERM_MA, TERM_MM, TERM_IC, TERM_EAC, TERM_FSO};
    const double bounds[] = {0.8, 8, 0.01, 0.1, 0.1};
    for (int k = 0; k < 3; k++) {
        cfg->enabled[weighted[k]] = 1;
        cfg->weight[weighted[k]] = weights[k];
    }
    for (int k = 0; k < 5; k++) {
        cfg->enabled[bounded[k]] = cfg->constrained[bounded[k]] = 1;
        cfg->bound[bounded[k]] = bounds[k];
    }
    cfg->pixel = (loss_pixel_config){.gamma = 1.1, .tau = 1.0, .rho = 0.5, .nu = 4.0};
    cfg->kappa_lo = 0.5;
    cfg->kappa_hi = 0.9;
}

/* Seconds of X·Wᵀ and dAᵀ·X on the gathered batch of images order[0..n). */
static double gemm_batch(const train_data *data, const size_t *order, size_t n, const double *W, double *X,
                         double *pooled, double *A, const double *dA, double *dW)
{
    int n_pix = (int)(n * HW);
    train_gather(data, order, n, X, pooled);
    double t0 = now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_pix, N_DET, N_DIM, 1.0, X, N_DIM, W, N_DIM, 0.0, A,
                N_DET);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N_DET, N_DIM, n_pix, 1.0, dA, N_DET, X, N_DIM, 0.0, dW,
                N_DIM);
    return now() - t0;
}

/* Seconds of the two GEMMs over the batches of one epoch (gathers not
 * timed), after one untimed batch that touches the buffers. */
static double gemm_epoch(const train_data *data, size_t batch, const double *W, double *X, double *pooled,
                         double *A, const double *dA, double *dW)
{
    size_t *order = malloc(data->n_img * sizeof *order);
    for (size_t k = 0; k < data->n_img; k++)
        order[k] = k;
    gemm_batch(data, order, batch, W, X, pooled, A, dA, dW);
    double seconds = 0;
    for (size_t b0 = 0; b0 < data->n_img; b0 += batch) {
        size_t n = data->n_img - b0 < batch ? data->n_img - b0 : batch;
        seconds += gemm_batch(data, order + b0, n, W, X, pooled, A, dA, dW);
    }
    free(order);
    return seconds;
}

/* Seconds of the float32 path's two SGEMMs alone over the batches of one
 * epoch (one call per batch, as gemm_epoch). */
static int sgemm_epoch(const device_choice *dev, size_t n_img, size_t batch, double *seconds)
{
    *seconds = 0;
    for (size_t b0 = 0; b0 < n_img; b0 += batch) {
        size_t n = n_img - b0 < batch ? n_img - b0 : batch;
        double t;
        if (device_gemm_reference(dev, n * HW, N_DET, N_DIM, 1, &t))
            return 1;
        *seconds += t;
    }
    return 0;
}

/* One timed epoch of the float32 path (after a warm-up epoch on the first
 * batch), from params. */
static int epoch_float32(train_config tcfg, const det_layout *layout, const objective_config *ocfg,
                         const head_params *head, const train_data *data, size_t batch, size_t batch_budget,
                         double *params, double *seconds, double *cpu, double *objective_after)
{
    device_choice dev = {.kind = DEVICE_CPU32, .name = "cpu float32"};
    device_step *ds = NULL;
    objective obj = {0};
    train_history history;
    if (device_step_create(&ds, &dev, layout, ocfg, head, data, batch, batch_budget) ||
        objective_init_backend(&obj, layout, ocfg, head, device_step_backend(ds))) {
        objective_free(&obj);
        return 1;
    }
    train_data first_batch = *data;
    first_batch.n_img = batch;
    int rc = train_run(&tcfg, &obj, &first_batch, params, &history);
    if (!rc) {
        train_history_free(&history);
        double t0 = now(), c0 = cpu_seconds();
        rc = train_run(&tcfg, &obj, data, params, &history);
        *seconds = now() - t0;
        *cpu = cpu_seconds() - c0;
        if (!rc) {
            *objective_after = history.rows[0];
            train_history_free(&history);
        }
    }
    objective_free(&obj);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n_img = argc > 1 ? strtoul(argv[1], NULL, 10) : 64000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 4096;
    const char *precision = argc > 3 ? argv[3] : "float64";
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    double memory_gib = argc > 5 ? strtod(argv[5], NULL) : 0;
    int run64 = strcmp(precision, "float32") != 0, run32 = strcmp(precision, "float64") != 0;
    if (n_img < 1 || batch < 1 || reps < 1 || reps > MAX_REPS || !(memory_gib >= 0) ||
        (strcmp(precision, "float64") && strcmp(precision, "float32") && strcmp(precision, "both"))) {
        fprintf(stderr, "usage: bench_epoch [N_IMG [BATCH [float64|float32|both [REPS (1..%d) [MEMORY_GIB]]]]]\n",
                MAX_REPS);
        return 2;
    }
    batch = batch < n_img ? batch : n_img;
    /* Large blocks from the heap, never returned: the timed train_run then
     * reuses the pages the warm-up touched, as the epochs of a long run do
     * (each train_run allocates its batch buffers anew). */
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    size_t nd = (size_t)N_DET * N_DIM, max_pix = batch * HW;
    float *features = malloc(n_img * N_DIM * HW * sizeof *features);
    double *pooled_all = malloc(n_img * N_DIM * sizeof *pooled_all);
    double *W = malloc(nd * sizeof *W), *S = malloc(nd * sizeof *S), *b = malloc(N_DET * sizeof *b);
    double *center = calloc(N_DIM, sizeof *center);
    head_params head = {N_CLS, N_DIM, malloc(N_CLS * N_DIM * sizeof(double)), malloc(N_CLS * sizeof(double))};
    if (!features || !pooled_all || !W || !S || !b || !center || !head.weight || !head.bias) {
        fprintf(stderr, "bench_epoch: out of memory for %zu images\n", n_img);
        return 1;
    }
    double t_data = now();
    fill_features(features, n_img, 7);
    head_pool(features, (int)n_img, N_DIM, HW, pooled_all);
    t_data = now() - t_data;
    rng_state r;
    rng_init(&r, 42, 0);
    fill_normal(&r, W, nd, 1.0 / sqrt((double)N_DIM)); /* logits O(1) */
    fill_normal(&r, S, nd, 1.0);
    fill_normal(&r, b, N_DET, 1.0);
    fill_normal(&r, head.weight, N_CLS * N_DIM, 0.1);
    fill_normal(&r, head.bias, N_CLS, 0.1);
    train_data data = {features, pooled_all, n_img, N_DIM, HW, NULL};

    det_layout layout;
    objective_config ocfg;
    step_d_objective(&ocfg);
    objective obj = {0};
    double *params = NULL;
    if (det_layout_init(&layout, DET_FREE, N_DET, N_DIM, 1, center, NULL) ||
        !(params = malloc(layout.n_params * sizeof *params)) ||
        det_init_from_effective(&layout, W, b, S, 1.0, params)) {
        fprintf(stderr, "bench_epoch: setup failed: %s\n", error_message());
        return 1;
    }
    cli_common cli = {.tool = "bench_epoch", .quiet = 1};
    train_config tcfg = {.epochs = 1, .batch_images = batch, .lr = 5e-5, .plateau_factor = 1,
                         .constrained = 1, .al_every = 50, .al_full_data = 1, .al_penalty = 1,
                         .al_growth = 10, .al_penalty_max = 1e4, .seed = 1, .cli = &cli};
    double *params0 = malloc(layout.n_params * sizeof *params0);
    memcpy(params0, params, layout.n_params * sizeof *params0);
    double t32 = 0, t_sgemm = 0, objective32 = NAN, rss32 = 0, cpu32 = 0, cpu64 = 0;
    double reps_epoch[MAX_REPS], reps_sgemm[MAX_REPS], reps_cpu[MAX_REPS];
    if (run32) {
        /* Interleaved, each epoch from the same parameters: a burst of
         * load on this shared machine then disturbs one pair, and the
         * medians keep it out of the ratio. */
        device_choice dev32 = {.kind = DEVICE_CPU32, .name = "cpu float32"};
        double set_bytes = (double)n_img * N_DIM * (HW * sizeof(float) + sizeof(double)),
               memory = memory_gib * 1073741824.0;
        size_t budget = memory_gib == 0 ? 0 : memory > set_bytes ? (size_t)(memory - set_bytes) : 1;
        for (int r = 0; r < reps; r++) {
            memcpy(params, params0, layout.n_params * sizeof *params0);
            int rc32 = epoch_float32(tcfg, &layout, &ocfg, &head, &data, batch, budget, params, &reps_epoch[r],
                                     &reps_cpu[r], &objective32);
            if (r == 0) /* before the SGEMM reference allocates its own batch */
                rss32 = peak_rss_gib();
            if (rc32 || sgemm_epoch(&dev32, n_img, batch, &reps_sgemm[r])) {
                fprintf(stderr, "bench_epoch: float32: %s\n", error_message());
                return 1;
            }
        }
        t32 = median(reps_epoch, reps);
        t_sgemm = median(reps_sgemm, reps);
        cpu32 = median(reps_cpu, reps);
        memcpy(params, params0, layout.n_params * sizeof *params0);
    }
    double t_epoch = 0, t_gemm = 0, objective64 = NAN;
    train_history history;
    if (run64) {
    /* The objective's batch buffers (a gathered batch, logits) reuse the
     * heap the float32 run left, as the float64 run's own did. Warm-up: one
     * epoch over the first batch touches every buffer of the step
     * (first-touch page faults are no part of a long run's epochs). */
    train_data first_batch = data;
    first_batch.n_img = batch;
    if (objective_init_data(&obj, &layout, &ocfg, &head, &data, batch)) {
        fprintf(stderr, "bench_epoch: setup failed: %s\n", error_message());
        return 1;
    }
    if (train_run(&tcfg, &obj, &first_batch, params, &history)) {
        fprintf(stderr, "bench_epoch: training failed: %s\n", error_message());
        return 1;
    }
    train_history_free(&history);
    t_epoch = now();
    cpu64 = cpu_seconds();
    if (train_run(&tcfg, &obj, &data, params, &history)) {
        fprintf(stderr, "bench_epoch: training failed: %s\n", error_message());
        return 1;
    }
    t_epoch = now() - t_epoch;
    cpu64 = cpu_seconds() - cpu64;
    objective_free(&obj); /* its batch buffers go before the reference allocates its own */

    double *X = malloc(max_pix * N_DIM * sizeof *X), *pooled = malloc(batch * N_DIM * sizeof *pooled);
    double *A = malloc(max_pix * N_DET * sizeof *A), *dA = malloc(max_pix * N_DET * sizeof *dA);
    double *dW = malloc(nd * sizeof *dW);
    if (!X || !pooled || !A || !dA || !dW) {
        fprintf(stderr, "bench_epoch: out of memory for the reference batches\n");
        return 1;
    }
    fill_normal(&r, dA, max_pix * N_DET, 1.0);
    t_gemm = gemm_epoch(&data, batch, W, X, pooled, A, dA, dW);
    objective64 = history.rows[0];
    train_history_free(&history);
    free(X); free(pooled); free(A); free(dA); free(dW);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_epoch: EDDP step (d) epoch, n_dim %d, n_det %d, %zu images x %d pixels, batches of %zu "
           "images; losses s,sb,cur + AL on ma,mm,ic,eac,fso; %d threads\n",
           N_DIM, N_DET, n_img, HW, batch, omp_get_max_threads());
    printf("  data generation (not timed below)      %8.2f s\n", t_data);
    if (run64) {
        printf("  float64 epoch (train_run, 1 epoch)    %8.2f s  (CPU %.2f s)\n", t_epoch, cpu64);
        printf("  X*W^T + dA^T*X over the same batches  %8.2f s  (DGEMM)\n", t_gemm);
        printf("  ratio epoch / GEMMs                   %8.3f   (target <= 1.5)\n", t_epoch / t_gemm);
        printf("  objective after the float64 epoch %.6g\n", objective64);
    }
    if (run32) {
        for (int r = 0; r < reps; r++)
            printf("  float32 run %d: epoch %.2f s (CPU %.2f s), its SGEMMs %.2f s, ratio %.3f\n", r + 1,
                   reps_epoch[r], reps_cpu[r], reps_sgemm[r], reps_epoch[r] / reps_sgemm[r]);
        printf("  float32 epoch (--precision float32)   %8.2f s  (CPU %.2f s; medians of %d)\n", t32, cpu32, reps);
        printf("  its SGEMMs alone over the same batches%8.2f s\n", t_sgemm);
        printf("  ratio float32 epoch / SGEMMs          %8.3f   (target <= 1.3; of the medians)\n", t32 / t_sgemm);
        printf("  objective after the float32 epoch %.6g\n", objective32);
        printf("  peak RSS after the float32 epoch %.2f GiB (the set %.2f GiB)\n", rss32,
               (double)n_img * N_DIM * (HW * sizeof(float) + sizeof(double)) / 1073741824.0);
    }
    if (run32 && run64)
        printf("  ratio float64 epoch / float32 epoch   %8.3f   (target >= 1.7; in CPU time %.3f)\n", t_epoch / t32,
               cpu64 / cpu32);
    printf("  peak RSS %.2f GiB\n", ru.ru_maxrss / 1048576.0);

    det_layout_free(&layout);
    free(features); free(pooled_all); free(W); free(S); free(b); free(center);
    free(head.weight); free(head.bias); free(params); free(params0);
    return 0;
}
