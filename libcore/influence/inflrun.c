/* inflrun — noise vectors, sensitivities and p-values of a range of
 * detectors (see inflrun.h). */
#include "inflrun.h"

#include "error.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Pixels per block of the concept pass (whole images). */
#define INFLRUN_BLOCK_PIXELS 8192

/* Pixel rows X [n_img·hw × n_dim] (double) of images [img0, img0 + n_img)
 * of NCHW features. */
static void pixel_rows(const float *feat, size_t img0, size_t n_img, size_t n_dim, size_t hw, double *X)
{
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n_img; k++)
        for (size_t d = 0; d < n_dim; d++) {
            const float *src = feat + ((img0 + k) * n_dim + d) * hw;
            for (size_t p = 0; p < hw; p++)
                X[(k * hw + p) * n_dim + d] = src[p];
        }
}

/* The concept pass: logits A = X Wᵀ − b of every detector, pixel block by
 * pixel block, fed to the pools of detectors [det_lo, det_hi). */
static int concept_pass(const influence_job *job, const influence_result *r, noise_pools *np)
{
    const features_file *ff = &job->concepts->ff;
    size_t hw = ff->height * ff->width, n_dim = ff->n_dim, n_all = (size_t)job->dirs->n_det;
    size_t block = INFLRUN_BLOCK_PIXELS / hw ? INFLRUN_BLOCK_PIXELS / hw : 1;
    double *X = malloc(block * hw * n_dim * sizeof *X), *A = malloc(block * hw * n_all * sizeof *A);
    if (!X || !A) {
        free(X);
        free(A);
        return error_set(EX_OSERR, "out of memory for the concept pass");
    }
    for (size_t img0 = 0; img0 < ff->n_img; img0 += block) {
        size_t n = ff->n_img - img0 < block ? ff->n_img - img0 : block, n_pix = n * hw;
        pixel_rows(job->concepts->features, img0, n, n_dim, hw, X);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix, (int)n_all, (int)n_dim, 1.0, X,
                    (int)n_dim, job->dirs->W, (int)n_dim, 0.0, A, (int)n_all);
        for (size_t p = 0; p < n_pix; p++)
            for (size_t i = 0; i < n_all; i++)
                A[p * n_all + i] -= job->dirs->b[i];
        noise_pools_add(np, A, n_pix, n_all, (size_t)r->det_lo, img0 * hw);
    }
    free(X);
    free(A);
    return 0;
}

typedef struct {
    float *X;        /* [2·cap × D] the sample */
    size_t *idx;     /* [2·cap] */
    double *S;       /* [N × D] noise vectors */
    double *V;       /* [(1 + N) × D] signal vector, then the noise vectors as float */
    double *SC;      /* [(1 + N) × K] */
    int *alive;      /* [N] */
} detector_scratch;

static int scratch_init(detector_scratch *s, size_t cap, size_t D, size_t N, size_t K)
{
    s->X = malloc((2 * cap + 1) * D * sizeof *s->X);
    s->idx = malloc((2 * cap + 1) * sizeof *s->idx);
    s->S = malloc(N * D * sizeof *s->S);
    s->V = malloc((1 + N) * D * sizeof *s->V);
    s->SC = malloc((1 + N) * K * sizeof *s->SC);
    s->alive = malloc(N * sizeof *s->alive);
    return s->X && s->idx && s->S && s->V && s->SC && s->alive ? 0 : -1;
}

static void scratch_free(detector_scratch *s)
{
    free(s->X); free(s->idx); free(s->S); free(s->V); free(s->SC); free(s->alive);
}

/* Detector det_lo + row: sample, noise vectors, sensitivities, p-values. */
static int one_detector(const influence_job *job, influence_result *r, noise_pools *np, size_t row,
                        detector_scratch *s)
{
    const features_file *ff = &job->concepts->ff;
    size_t hw = ff->height * ff->width, D = (size_t)r->n_dim, N = (size_t)r->n_noise, K = (size_t)r->n_cls;
    size_t m = noise_pools_sample(np, row, s->idx);
    for (size_t q = 0; q < 2 * m; q++) {
        size_t img = s->idx[q] / hw, p = s->idx[q] % hw;
        for (size_t d = 0; d < D; d++)
            s->X[q * D + d] = job->concepts->features[(img * D + d) * hw + p];
    }
    if (noise_train(s->X, m, (int)D, &job->noise, np->rng + row, s->S, s->alive))
        return -1;
    size_t det = (size_t)r->det_lo + row;
    memcpy(s->V, job->dirs->S + det * D, D * sizeof *s->V);
    float *keep = r->noise_S + row * N * D;
    for (size_t j = 0; j < N * D; j++) {
        keep[j] = (float)s->S[j];
        s->V[D + j] = keep[j];
    }
    if (influence_sensitivity(job->ev, job->head_weight, (int)D, s->V, 1 + N, r->alpha, r->pixel_scale, s->SC))
        return -1;
    memcpy(r->SC + row * K, s->SC, K * sizeof *s->SC);
    memcpy(r->noise_SC + row * N * K, s->SC + K, N * K * sizeof *s->SC);
    influence_pvalues(s->SC, s->SC + K, s->alive, (int)N, (int)K, r->p + row * K);
    for (size_t n = 0; n < N; n++)
        r->noise_alive[row * N + n] = s->alive[n];
    r->sample_size[row] = (int32_t)m;
    return 0;
}

int influence_run(const influence_job *job, influence_result *r)
{
    size_t rows = (size_t)influence_result_rows(r);
    int *det_index = error_malloc(rows * sizeof *det_index, "the detector rows");
    noise_pools np;
    if (!det_index)
        return error_code();
    for (size_t row = 0; row < rows; row++)
        det_index[row] = r->det_lo + (int)row;
    int rc = noise_pools_init(&np, rows, det_index, &job->noise);
    free(det_index);
    if (rc)
        return error_set(EX_OSERR, "out of memory for the noise samples of %zu detectors", rows);
    if (concept_pass(job, r, &np)) {
        noise_pools_free(&np);
        return error_code();
    }
    int failed = 0;
    size_t done = 0;
#pragma omp parallel
    {
        detector_scratch s;
        int ok = !scratch_init(&s, np.cap, (size_t)r->n_dim, (size_t)r->n_noise, (size_t)r->n_cls);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t row = 0; row < rows; row++) {
            int bad;
#pragma omp atomic read
            bad = failed;
            if (bad || !ok)
                continue;
            if (one_detector(job, r, &np, row, &s)) {
#pragma omp atomic write
                failed = 1;
            }
            size_t now;
#pragma omp atomic capture
            now = ++done;
            if (job->progress && omp_get_thread_num() == 0)
                job->progress(job->progress_ctx, now, rows);
        }
        scratch_free(&s);
    }
    noise_pools_free(&np);
    if (failed)
        return error_set(EX_OSERR, "out of memory for the noise vectors");
    return 0;
}
