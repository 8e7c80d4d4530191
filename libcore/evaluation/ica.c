/* ica — see ica.h. */
#include "ica.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ica_config_default(ica_config *cfg)
{
    cfg->rel_tol = 1e-6;
    cfg->max_components = 64;
    cfg->max_iter = 500;
    cfg->tol = 1e-10;
    cfg->restarts = 4;
}

/* W ← (W Wᵀ)^{-1/2} W for W [k × k]. */
static int symmetric_decorrelate(double *W, int k)
{
    double *G = malloc((size_t)k * k * sizeof *G), *ev = malloc(k * sizeof *ev);
    double *T = malloc((size_t)k * k * sizeof *T), *R = malloc((size_t)k * k * sizeof *R);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, k, 1.0, W, k, W, k, 0.0, G, k);
    int rc = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', k, G, k, ev);
    for (int a = 0; !rc && a < k; a++) {
        if (!(ev[a] > 0)) {
            rc = -1;
            break;
        }
        for (int c = 0; c < k; c++) /* T = V diag(ev^-1/2) */
            T[(size_t)c * k + a] = G[(size_t)c * k + a] / sqrt(ev[a]);
    }
    if (!rc) {
        /* R = T Vᵀ = (W Wᵀ)^{-1/2}; W ← R W */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, k, 1.0, T, k, G, k, 0.0, R, k);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0, R, k, W, k, 0.0, T, k);
        memcpy(W, T, (size_t)k * k * sizeof *W);
    }
    free(G); free(ev); free(T); free(R);
    return rc;
}

int ica_fit(const double *Z, size_t n, int k, const ica_config *cfg, rng_state *rng, double *unmix)
{
    size_t kk = (size_t)k * k;
    double *U = malloc(n * k * sizeof *U), *next = malloc(kk * sizeof *next);
    double *mean_dg = malloc(k * sizeof *mean_dg);
    for (size_t a = 0; a < kk; a++)
        unmix[a] = rng_normal(rng);
    int iter = -1;
    if (symmetric_decorrelate(unmix, k))
        goto done;
    for (int it = 1; it <= cfg->max_iter; it++) {
        /* U = Z Wᵀ; next = E[g(U)ᵀ Z] − diag(E[g'(U)]) W, g(u) = u³ */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, k, k, 1.0, Z, k, unmix, k, 0.0, U, k);
        for (int c = 0; c < k; c++)
            mean_dg[c] = 0;
        for (size_t p = 0; p < n; p++)
            for (int c = 0; c < k; c++) {
                double u = U[p * k + c];
                mean_dg[c] += 3 * u * u / (double)n;
                U[p * k + c] = u * u * u;
            }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, (int)n, 1.0 / (double)n, U, k, Z, k, 0.0,
                    next, k);
        for (int c = 0; c < k; c++)
            for (int d = 0; d < k; d++)
                next[(size_t)c * k + d] -= mean_dg[c] * unmix[(size_t)c * k + d];
        if (symmetric_decorrelate(next, k))
            goto done;
        double worst = 0;
        for (int c = 0; c < k; c++) {
            double dot = cblas_ddot(k, next + (size_t)c * k, 1, unmix + (size_t)c * k, 1);
            worst = fmax(worst, 1 - fabs(dot));
        }
        memcpy(unmix, next, kk * sizeof *unmix);
        iter = it;
        if (worst < cfg->tol)
            break;
    }
done:
    free(U); free(next); free(mean_dg);
    return iter;
}

/* Mean and covariance of the positives, and the mean of the rest. */
static size_t positive_moments(const double *X, size_t n_pix, int n_dim, const uint8_t *positive,
                               double *mean_pos, double *mean_neg, double *cov)
{
    size_t n_pos = 0, n_neg = 0;
    memset(mean_pos, 0, n_dim * sizeof *mean_pos);
    memset(mean_neg, 0, n_dim * sizeof *mean_neg);
    for (size_t p = 0; p < n_pix; p++) {
        double *m = positive[p] ? mean_pos : mean_neg;
        positive[p] ? n_pos++ : n_neg++;
        for (int d = 0; d < n_dim; d++)
            m[d] += X[p * n_dim + d];
    }
    for (int d = 0; d < n_dim; d++) {
        mean_pos[d] /= n_pos ? (double)n_pos : 1;
        mean_neg[d] /= n_neg ? (double)n_neg : 1;
    }
    memset(cov, 0, (size_t)n_dim * n_dim * sizeof *cov);
    double *centred = malloc(n_dim * sizeof *centred);
    for (size_t p = 0; p < n_pix; p++) {
        if (!positive[p])
            continue;
        for (int d = 0; d < n_dim; d++)
            centred[d] = X[p * n_dim + d] - mean_pos[d];
        cblas_dsyr(CblasRowMajor, CblasUpper, n_dim, 1.0 / (double)n_pos, centred, 1, cov, n_dim);
    }
    free(centred);
    return n_pos;
}

/* Whitening E [n_dim × k] from the leading eigenvectors of cov; returns k. */
static int whitening(const double *cov, int n_dim, const ica_config *cfg, double **E)
{
    double *vec = malloc((size_t)n_dim * n_dim * sizeof *vec), *ev = malloc(n_dim * sizeof *ev);
    memcpy(vec, cov, (size_t)n_dim * n_dim * sizeof *vec);
    int k = 0;
    if (!LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', n_dim, vec, n_dim, ev)) {
        /* eigenvalues ascend: the leading ones are at the end */
        while (k < n_dim && k < cfg->max_components && ev[n_dim - 1 - k] > cfg->rel_tol * ev[n_dim - 1])
            k++;
        *E = malloc((size_t)n_dim * (k ? k : 1) * sizeof **E);
        for (int d = 0; d < n_dim; d++)
            for (int c = 0; c < k; c++)
                (*E)[(size_t)d * k + c] = vec[(size_t)d * n_dim + (n_dim - 1 - c)] / sqrt(ev[n_dim - 1 - c]);
    }
    free(vec);
    free(ev);
    return k;
}

/* Whitened positives Z [n_pos × k]. */
static double *whiten_positives(const double *X, size_t n_pix, int n_dim, const uint8_t *positive,
                                const double *mean, const double *E, int k, size_t n_pos)
{
    double *Z = malloc(n_pos * k * sizeof *Z), *row = malloc(n_dim * sizeof *row);
    size_t q = 0;
    for (size_t p = 0; p < n_pix; p++) {
        if (!positive[p])
            continue;
        for (int d = 0; d < n_dim; d++)
            row[d] = X[p * n_dim + d] - mean[d];
        cblas_dgemv(CblasRowMajor, CblasTrans, n_dim, k, 1.0, E, k, row, 1, 0.0, Z + q++ * k, 1);
    }
    free(row);
    return Z;
}

/* Among the k source filters F [k × n_dim], the one whose mean moves most
 * between positives and the rest (in standard deviations: the sources have
 * unit variance on the positives), as a unit vector growing with the concept
 * in filter, when its shift exceeds *best_shift (updated). */
static void pick_source(const double *F, int k, int n_dim, const double *mean_pos, const double *mean_neg,
                        double *best_shift, double *filter)
{
    int best = -1;
    double signed_shift = 0;
    for (int c = 0; c < k; c++) {
        double shift = 0;
        for (int d = 0; d < n_dim; d++)
            shift += F[(size_t)c * n_dim + d] * (mean_pos[d] - mean_neg[d]);
        if (fabs(shift) > *best_shift) {
            *best_shift = fabs(shift);
            signed_shift = shift;
            best = c;
        }
    }
    if (best < 0)
        return;
    double norm = cblas_dnrm2(n_dim, F + (size_t)best * n_dim, 1), sign = signed_shift < 0 ? -1 : 1;
    for (int d = 0; d < n_dim; d++)
        filter[d] = sign * F[(size_t)best * n_dim + d] / norm;
}

int ica_refine(const double *X, size_t n_pix, int n_dim, const uint8_t *positive, const ica_config *cfg,
               rng_state *rng, double *filter, double *signal, int *components)
{
    double *mean_pos = malloc(n_dim * sizeof(double)), *mean_neg = malloc(n_dim * sizeof(double));
    double *cov = malloc((size_t)n_dim * n_dim * sizeof(double)), *E = NULL, *Z = NULL;
    double *unmix = NULL, *F = NULL;
    size_t n_pos = positive_moments(X, n_pix, n_dim, positive, mean_pos, mean_neg, cov);
    int rc = -1, k = n_pos >= 8 ? whitening(cov, n_dim, cfg, &E) : 0;
    *components = k;
    if (k < 1 || (size_t)k >= n_pos)
        goto done;
    Z = whiten_positives(X, n_pix, n_dim, positive, mean_pos, E, k, n_pos);
    unmix = malloc((size_t)k * k * sizeof *unmix);
    F = malloc((size_t)k * n_dim * sizeof *F); /* source filters = unmix Eᵀ */
    double best_shift = -1;
    for (int run = 0; run < (cfg->restarts > 1 ? cfg->restarts : 1); run++) {
        if (ica_fit(Z, n_pos, k, cfg, rng, unmix) < 0)
            continue;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, n_dim, k, 1.0, unmix, k, E, k, 0.0, F, n_dim);
        pick_source(F, k, n_dim, mean_pos, mean_neg, &best_shift, filter);
    }
    if (best_shift < 0)
        goto done;
    /* Eq. 1 on the positives: ŝ = cov(x, z)/var(z) = C w / (wᵀ C w). */
    cblas_dsymv(CblasRowMajor, CblasUpper, n_dim, 1.0, cov, n_dim, filter, 1, 0.0, signal, 1);
    double var = cblas_ddot(n_dim, filter, 1, signal, 1);
    if (var > 0) {
        cblas_dscal(n_dim, 1 / var, signal, 1);
        rc = 0;
    }
done:
    free(mean_pos); free(mean_neg); free(cov); free(E); free(Z); free(unmix); free(F);
    return rc;
}
