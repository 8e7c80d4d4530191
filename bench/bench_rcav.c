/* bench_rcav — the RCAV influence test (rcav(1), issue #11) at the paper's
 * scale on random data: K = 365 classes, 100 evaluation images per class
 * (36,500), N = 100 noise vectors per detector, D = 512, balanced samples of
 * 5000 pixels, 100 Adam epochs per noise classifier; I = 500 detectors in
 * the paper, a slice of them here by default so that `make bench` stays at
 * a minute or two, projected linearly to 500 (the run is a sum of
 * independent per-detector jobs plus one pass over the concept pixels).
 *
 * Prints the time of influence_run (the whole computation, no file I/O),
 * peak memory, and its dominant kernels alone measured in the same run:
 * the noise classifiers' two float GEMMs per epoch (X·W [5000 × 100] and
 * Xᵀ·R [512 × 100]) and the closed form's double GEMM (probabilities
 * [36500 × 365] · expm1 shifts [365 × 101]) for the same number of
 * detectors, each single-threaded as rcav runs them (one detector per
 * thread), divided by the thread count — and the ratio of the two.
 *
 *   build/bench/bench_rcav [DETECTORS [CLASSES [PER_CLASS [NOISE [CONCEPT_IMAGES]]]]]
 *                          (16 365 100 100 400)
 * Threads: OMP_NUM_THREADS (default: all cores). */
#include "inflrun.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { N_DIM = 512, HW = 49, PAPER_DETECTORS = 500, SAMPLE = 5000, EPOCHS = 100 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process so far (user + system, all threads): on a
 * shared machine wall time measures the neighbours too. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static void fill_normal(rng_state *r, double *x, size_t n, double sd)
{
    for (size_t k = 0; k < n; k++)
        x[k] = sd * rng_normal(r);
}

/* The dominant kernels of n_det detectors alone, single-threaded per
 * detector and spread over the threads as rcav does. */
static double kernels_alone(int n_det, int n_noise, const influence_eval *ev)
{
    int n_cls = ev->n_cls;
    double t0 = now();
#pragma omp parallel
    {
        float *X = malloc((size_t)SAMPLE * N_DIM * sizeof *X), *W = malloc((size_t)N_DIM * n_noise * sizeof *W);
        float *L = malloc((size_t)SAMPLE * n_noise * sizeof *L), *G = malloc((size_t)N_DIM * n_noise * sizeof *G);
        double *E = malloc((size_t)(1 + n_noise) * n_cls * sizeof *E);
        double *P = malloc((size_t)INFLUENCE_IMAGE_BLOCK * (1 + n_noise) * sizeof *P);
        for (size_t j = 0; j < (size_t)SAMPLE * N_DIM; j++)
            X[j] = (float)((j * 2654435761u) % 1000) * 1e-3f;
        for (size_t j = 0; j < (size_t)N_DIM * n_noise; j++)
            W[j] = 1e-3f;
        for (size_t j = 0; j < (size_t)(1 + n_noise) * n_cls; j++)
            E[j] = 1e-2;
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n_det; i++) {
            for (int e = 0; e < EPOCHS; e++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, SAMPLE, n_noise, N_DIM, 1.0f, X, N_DIM, W,
                            n_noise, 0.0f, L, n_noise);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N_DIM, n_noise, SAMPLE, 1.0f, X, N_DIM, L,
                            n_noise, 0.0f, G, n_noise);
            }
            for (size_t img0 = 0; img0 < ev->n_img; img0 += INFLUENCE_IMAGE_BLOCK) {
                size_t n = ev->n_img - img0 < INFLUENCE_IMAGE_BLOCK ? ev->n_img - img0 : INFLUENCE_IMAGE_BLOCK;
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, 1 + n_noise, n_cls, 1.0,
                            ev->probs + img0 * n_cls, n_cls, E, n_cls, 0.0, P, 1 + n_noise);
            }
        }
        free(X); free(W); free(L); free(G); free(E); free(P);
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    int n_det = argc > 1 ? atoi(argv[1]) : 16, n_cls = argc > 2 ? atoi(argv[2]) : 365;
    int per_class = argc > 3 ? atoi(argv[3]) : 100, n_noise = argc > 4 ? atoi(argv[4]) : 100;
    size_t n_concept = argc > 5 ? strtoul(argv[5], NULL, 10) : 400;
    if (n_det < 1 || n_cls < 2 || per_class < 1 || n_noise < 1 || n_concept < 1) {
        fprintf(stderr, "usage: bench_rcav [DETECTORS [CLASSES [PER_CLASS [NOISE [CONCEPT_IMAGES]]]]]\n");
        return 64;
    }
    size_t n_img = (size_t)n_cls * per_class;
    int threads = omp_get_max_threads();
    printf("bench_rcav: %d detectors (paper: %d), K %d, %zu evaluation images, N %d noise vectors, D %d, "
           "concept set %zu images x %d pixels, %d threads\n",
           n_det, PAPER_DETECTORS, n_cls, n_img, n_noise, N_DIM, n_concept, HW, threads);
    rng_state rng;
    rng_init(&rng, 1, 1);
    /* evaluation logits and labels, head, detectors, concept pixels */
    double *logits = malloc(n_img * n_cls * sizeof *logits), *head = malloc((size_t)n_cls * N_DIM * sizeof *head);
    int32_t *labels = malloc(n_img * sizeof *labels);
    fill_normal(&rng, logits, n_img * n_cls, 2.0);
    fill_normal(&rng, head, (size_t)n_cls * N_DIM, 0.05);
    for (size_t i = 0; i < n_img; i++)
        labels[i] = (int32_t)(i % n_cls);
    influence_eval ev;
    influence_eval_init(&ev, logits, labels, n_img, n_cls);
    free(logits);
    free(labels);
    directions dirs;
    memset(&dirs, 0, sizeof dirs);
    dirs.n_det = n_det;
    dirs.n_dim = N_DIM;
    dirs.W = malloc((size_t)n_det * N_DIM * sizeof(double));
    dirs.S = malloc((size_t)n_det * N_DIM * sizeof(double));
    dirs.b = calloc(n_det, sizeof(double));
    fill_normal(&rng, dirs.W, (size_t)n_det * N_DIM, 1.0);
    fill_normal(&rng, dirs.S, (size_t)n_det * N_DIM, 1.0);
    learn_set concepts;
    memset(&concepts, 0, sizeof concepts);
    concepts.ff = (features_file){NULL, n_concept, N_DIM, 7, 7};
    concepts.features = malloc(n_concept * N_DIM * HW * sizeof(float));
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n_concept; j++) {
        rng_state r;
        rng_init(&r, 2, j);
        for (size_t k = 0; k < (size_t)N_DIM * HW; k++)
            concepts.features[j * N_DIM * HW + k] = (float)rng_normal(&r);
    }
    influence_job job = {.head_weight = head, .ev = &ev, .dirs = &dirs, .concepts = &concepts,
                         .noise = {.n_noise = n_noise, .max_sample = SAMPLE, .epochs = EPOCHS, .lr = 0.01, .seed = 3}};
    influence_result r = {.n_det = n_det, .det_lo = 0, .det_hi = n_det, .n_cls = n_cls, .n_dim = N_DIM,
                          .n_noise = n_noise, .alpha = 5, .pixel_scale = 1.0 / 7};
    if (influence_result_alloc(&r))
        return 71;
    double t0 = now(), c0 = cpu_seconds();
    int rc = influence_run(&job, &r);
    double t_run = now() - t0, c_run = cpu_seconds() - c0;
    c0 = cpu_seconds();
    double t_kernel = kernels_alone(n_det, n_noise, &ev), c_kernel = cpu_seconds() - c0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long sampled = 0;
    for (int i = 0; i < n_det; i++)
        sampled += r.sample_size[i];
    printf("  influence_run     %8.2f s wall, %8.2f s CPU  (mean balanced sample %ld + %ld)\n", t_run, c_run,
           sampled / n_det, sampled / n_det);
    printf("  kernels alone     %8.2f s wall, %8.2f s CPU  (noise-classifier sgemm + closed-form dgemm)\n", t_kernel,
           c_kernel);
    printf("  ratio             %8.2f wall, %8.2f CPU\n", t_run / t_kernel, c_run / c_kernel);
    printf("  projected to I = %d on %d threads: %.0f s wall as measured; %.0f s (%.1f min) from CPU time on "
           "%d idle cores\n", PAPER_DETECTORS, threads, t_run / n_det * PAPER_DETECTORS,
           c_run / n_det * PAPER_DETECTORS / threads, c_run / n_det * PAPER_DETECTORS / threads / 60, threads);
    printf("  peak RSS %.2f GB\n", ru.ru_maxrss / 1048576.0);
    influence_result_free(&r);
    influence_eval_free(&ev);
    free(head); free(dirs.W); free(dirs.S); free(dirs.b); free(concepts.features);
    return rc ? 1 : 0;
}
