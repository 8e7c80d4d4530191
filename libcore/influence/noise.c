/* noise — noise signal vectors (App. F): balanced samples by reservoir
 * sampling, label permutation, logistic regressions trained with Adam, Eq. 1
 * on their positives (see noise.h). */
#include "noise.h"

#include "optim.h"
#include "signal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int noise_pools_init(noise_pools *np, size_t n_det, const int *det_index, const noise_config *cfg)
{
    memset(np, 0, sizeof *np);
    np->n_det = n_det;
    np->cap = (size_t)(cfg->max_sample / 2);
    size_t slots = n_det * np->cap > 0 ? n_det * np->cap : 1;
    np->pos = malloc(slots * sizeof *np->pos);
    np->neg = malloc(slots * sizeof *np->neg);
    np->n_pos = calloc(n_det + 1, sizeof *np->n_pos);
    np->n_neg = calloc(n_det + 1, sizeof *np->n_neg);
    np->rng = malloc((n_det + 1) * sizeof *np->rng);
    if (!np->pos || !np->neg || !np->n_pos || !np->n_neg || !np->rng) {
        noise_pools_free(np);
        return -1;
    }
    for (size_t r = 0; r < n_det; r++)
        rng_init(np->rng + r, cfg->seed, ((uint64_t)RNG_STREAM_NOISE << 32) + (uint64_t)det_index[r]);
    return 0;
}

void noise_pools_free(noise_pools *np)
{
    free(np->pos);
    free(np->neg);
    free(np->n_pos);
    free(np->n_neg);
    free(np->rng);
    memset(np, 0, sizeof *np);
}

/* Algorithm R: the reservoir holds a uniform sample of the items seen. */
static void reservoir_add(size_t *res, size_t cap, uint64_t *seen, rng_state *rng, size_t item)
{
    if (*seen < cap) {
        res[*seen] = item;
    } else {
        size_t j = rng_below(rng, (size_t)*seen + 1);
        if (j < cap)
            res[j] = item;
    }
    (*seen)++;
}

void noise_pools_add(noise_pools *np, const double *A, size_t n_pix, size_t lda, size_t col0, size_t pix0)
{
    if (!np->cap)
        return;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < np->n_det; r++) {
        size_t *pos = np->pos + r * np->cap, *neg = np->neg + r * np->cap;
        for (size_t p = 0; p < n_pix; p++) {
            if (A[p * lda + col0 + r] > 0)
                reservoir_add(pos, np->cap, np->n_pos + r, np->rng + r, pix0 + p);
            else
                reservoir_add(neg, np->cap, np->n_neg + r, np->rng + r, pix0 + p);
        }
    }
}

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Keeps a uniform m-subset of the first held items (partial Fisher–Yates),
 * sorted. */
static void thin(size_t *res, size_t held, size_t m, rng_state *rng)
{
    for (size_t t = 0; t < m; t++) {
        size_t j = t + rng_below(rng, held - t), tmp = res[t];
        res[t] = res[j];
        res[j] = tmp;
    }
    qsort(res, m, sizeof *res, compare_size);
}

size_t noise_pools_sample(noise_pools *np, size_t r, size_t *idx)
{
    size_t held_pos = np->n_pos[r] < np->cap ? (size_t)np->n_pos[r] : np->cap;
    size_t held_neg = np->n_neg[r] < np->cap ? (size_t)np->n_neg[r] : np->cap;
    size_t m = held_pos < held_neg ? held_pos : held_neg;
    size_t *pos = np->pos + r * np->cap, *neg = np->neg + r * np->cap;
    thin(pos, held_pos, m, np->rng + r);
    thin(neg, held_neg, m, np->rng + r);
    memcpy(idx, pos, m * sizeof *idx);
    memcpy(idx + m, neg, m * sizeof *idx);
    return m;
}

void noise_permuted_labels(rng_state *rng, size_t m, size_t *perm, float *labels)
{
    rng_permutation(rng, perm, 2 * m);
    for (size_t p = 0; p < 2 * m; p++)
        labels[p] = perm[p] < m ? 1.0f : 0.0f;
}

/* One full-batch step's gradient of the mean BCE of the N classifiers:
 * logits L = X W + b [n × N], R = (σ(L) − Y)/n, dW = Xᵀ R [D × N],
 * db = column sums of R. */
void noise_bce_gradient(const float *X, size_t n, int n_dim, int n_noise, const float *Wf, const double *b,
                        const float *Y, float *L, float *G, double *grads)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, n_noise, n_dim, 1.0f, X, n_dim, Wf, n_noise,
                0.0f, L, n_noise);
    double *db = grads + (size_t)n_dim * n_noise;
    for (int c = 0; c < n_noise; c++)
        db[c] = 0;
    float inv_n = 1.0f / (float)n;
    for (size_t p = 0; p < n; p++) {
        float *l = L + p * n_noise;
        const float *y = Y + p * n_noise;
        for (int c = 0; c < n_noise; c++) {
            float r = (1.0f / (1.0f + expf(-(l[c] + (float)b[c]))) - y[c]) * inv_n;
            l[c] = r;
            db[c] += r;
        }
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_dim, n_noise, (int)n, 1.0f, X, n_dim, L, n_noise, 0.0f,
                G, n_noise);
    for (size_t j = 0; j < (size_t)n_dim * n_noise; j++)
        grads[j] = G[j];
}

double noise_bce_reference(const double *X, size_t n, int n_dim, int n_noise, const double *params, const float *Y,
                           double *grads)
{
    const double *W = params, *b = params + (size_t)n_dim * n_noise;
    size_t n_par = (size_t)n_dim * n_noise + n_noise;
    if (grads)
        memset(grads, 0, n_par * sizeof *grads);
    double loss = 0;
    for (size_t p = 0; p < n; p++)
        for (int c = 0; c < n_noise; c++) {
            double l = b[c];
            for (int d = 0; d < n_dim; d++)
                l += X[p * n_dim + d] * W[(size_t)d * n_noise + c];
            double y = Y[p * n_noise + c];
            /* BCE = softplus(l) − y l, stable for either sign of l */
            loss += (l > 0 ? l + log1p(exp(-l)) : log1p(exp(l))) - y * l;
            if (grads) {
                double r = (1.0 / (1.0 + exp(-l)) - y) / (double)n;
                for (int d = 0; d < n_dim; d++)
                    grads[(size_t)d * n_noise + c] += X[p * n_dim + d] * r;
                grads[(size_t)n_dim * n_noise + c] += r;
            }
        }
    return loss / (double)n;
}

/* Eq. 1 on each classifier's positives: A = X W + b, Z = X W/‖w‖ (double). */
static int classifier_signal(const float *X, size_t n, int n_dim, int n_noise, const double *params, double *S,
                             int *alive)
{
    const double *W = params, *b = params + (size_t)n_dim * n_noise;
    double *Xd = malloc(n * n_dim * sizeof *Xd), *A = malloc(n * n_noise * sizeof *A);
    double *Z = malloc(n * n_noise * sizeof *Z), *norm = calloc(n_noise, sizeof *norm);
    int rc = -1;
    if (!Xd || !A || !Z || !norm)
        goto out;
    for (size_t j = 0; j < n * n_dim; j++)
        Xd[j] = X[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, n_noise, n_dim, 1.0, Xd, n_dim, W, n_noise, 0.0,
                Z, n_noise);
    for (int d = 0; d < n_dim; d++)
        for (int c = 0; c < n_noise; c++)
            norm[c] += W[(size_t)d * n_noise + c] * W[(size_t)d * n_noise + c];
    for (int c = 0; c < n_noise; c++)
        norm[c] = sqrt(norm[c]);
    for (size_t p = 0; p < n; p++)
        for (int c = 0; c < n_noise; c++) {
            size_t at = p * n_noise + c;
            A[at] = Z[at] + b[c];
            Z[at] = norm[c] > 0 ? Z[at] / norm[c] : 0;
        }
    memset(S, 0, (size_t)n_noise * n_dim * sizeof *S);
    rc = signal_estimate(Xd, A, Z, n, (size_t)n_noise, (size_t)n_dim, S, alive);
    for (int c = 0; c < n_noise && !rc; c++)
        if (!(norm[c] > 0)) {
            alive[c] = 0;
            memset(S + (size_t)c * n_dim, 0, n_dim * sizeof *S);
        }
out:
    free(Xd); free(A); free(Z); free(norm);
    return rc;
}

int noise_train(const float *X, size_t m, int n_dim, const noise_config *cfg, rng_state *rng, double *S,
                int *alive)
{
    int n_noise = cfg->n_noise;
    size_t n = 2 * m, n_par = (size_t)n_dim * n_noise + n_noise;
    if (m == 0) {
        memset(S, 0, (size_t)n_noise * n_dim * sizeof *S);
        memset(alive, 0, n_noise * sizeof *alive);
        return 0;
    }
    double *params = calloc(n_par, sizeof *params), *grads = malloc(n_par * sizeof *grads);
    float *Wf = malloc((size_t)n_dim * n_noise * sizeof *Wf), *G = malloc((size_t)n_dim * n_noise * sizeof *G);
    float *Y = malloc(n * n_noise * sizeof *Y), *L = malloc(n * n_noise * sizeof *L);
    float *labels = malloc(n * sizeof *labels);
    size_t *perm = malloc(n * sizeof *perm);
    adam_state adam = {0};
    int rc = -1;
    if (!params || !grads || !Wf || !G || !Y || !L || !labels || !perm || adam_init(&adam, n_par))
        goto out;
    for (int c = 0; c < n_noise; c++) {
        noise_permuted_labels(rng, m, perm, labels);
        for (size_t p = 0; p < n; p++)
            Y[p * n_noise + c] = labels[p];
    }
    for (int epoch = 0; epoch < cfg->epochs; epoch++) {
        for (size_t j = 0; j < (size_t)n_dim * n_noise; j++)
            Wf[j] = (float)params[j];
        noise_bce_gradient(X, n, n_dim, n_noise, Wf, params + (size_t)n_dim * n_noise, Y, L, G, grads);
        adam_update(&adam, params, grads, cfg->lr);
    }
    rc = classifier_signal(X, n, n_dim, n_noise, params, S, alive);
out:
    if (adam.m)
        adam_free(&adam);
    free(params); free(grads); free(Wf); free(G); free(Y); free(L); free(labels); free(perm);
    return rc;
}
