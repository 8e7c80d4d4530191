/* signal — signal vectors (Eq. 1), signal values (Eq. 17), Pattern-CAVs. */
#include "signal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int signal_accum_init(signal_accum *acc, size_t n_det, size_t n_dim)
{
    memset(acc, 0, sizeof *acc);
    acc->n_det = n_det;
    acc->n_dim = n_dim;
    size_t nd = n_det ? n_det : 1, nm = n_det * n_dim > 0 ? n_det * n_dim : 1;
    acc->n = calloc(nd, sizeof(double));
    acc->sum_z = calloc(nd, sizeof(double));
    acc->sum_zz = calloc(nd, sizeof(double));
    acc->z0 = calloc(nd, sizeof(double));
    acc->sum_x = calloc(nm, sizeof(double));
    acc->sum_xz = calloc(nm, sizeof(double));
    acc->x0 = calloc(nm, sizeof(double));
    if (!acc->n || !acc->sum_z || !acc->sum_zz || !acc->z0 || !acc->sum_x ||
        !acc->sum_xz || !acc->x0) {
        signal_accum_free(acc);
        return -1;
    }
    return 0;
}

void signal_accum_free(signal_accum *acc)
{
    free(acc->n);
    free(acc->sum_z);
    free(acc->sum_zz);
    free(acc->z0);
    free(acc->sum_x);
    free(acc->sum_xz);
    free(acc->x0);
    memset(acc, 0, sizeof *acc);
}

void signal_accum_reset(signal_accum *acc)
{
    size_t nd = acc->n_det, nm = acc->n_det * acc->n_dim;
    memset(acc->n, 0, nd * sizeof(double));
    memset(acc->sum_z, 0, nd * sizeof(double));
    memset(acc->sum_zz, 0, nd * sizeof(double));
    memset(acc->z0, 0, nd * sizeof(double));
    memset(acc->sum_x, 0, nm * sizeof(double));
    memset(acc->sum_xz, 0, nm * sizeof(double));
    memset(acc->x0, 0, nm * sizeof(double));
}

/* Detector i's sums over the batch, pixels in order (the determinism the
 * header promises rests on this loop being serial). */
static void accum_detector(signal_accum *acc, size_t i, const double *X,
                           const double *A, const double *Z, size_t n_pix)
{
    const size_t n_det = acc->n_det, n_dim = acc->n_dim;
    double *x0 = acc->x0 + i * n_dim;
    double *sx = acc->sum_x + i * n_dim, *sxz = acc->sum_xz + i * n_dim;
    double n = acc->n[i], sz = acc->sum_z[i], szz = acc->sum_zz[i];
    for (size_t p = 0; p < n_pix; p++) {
        if (!(A[p * n_det + i] > 0))
            continue;
        const double *x = X + p * n_dim;
        if (n == 0) {
            memcpy(x0, x, n_dim * sizeof(double));
            acc->z0[i] = Z[p * n_det + i];
        }
        double dz = Z[p * n_det + i] - acc->z0[i];
        n += 1;
        sz += dz;
        szz += dz * dz;
        for (size_t d = 0; d < n_dim; d++) {
            double dx = x[d] - x0[d];
            sx[d] += dx;
            sxz[d] += dx * dz;
        }
    }
    acc->n[i] = n;
    acc->sum_z[i] = sz;
    acc->sum_zz[i] = szz;
}

void signal_accum_add(signal_accum *acc, const double *X, const double *A,
                      const double *Z, size_t n_pix)
{
    const long n_det = (long)acc->n_det;
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < n_det; i++)
        accum_detector(acc, (size_t)i, X, A, Z, n_pix);
}

size_t signal_accum_finish(const signal_accum *acc, double *S, int *alive)
{
    const size_t n_det = acc->n_det, n_dim = acc->n_dim;
    size_t n_dead = 0;
    for (size_t i = 0; i < n_det; i++) {
        double n = acc->n[i];
        alive[i] = 0;
        if (n < 2) {
            n_dead++;
            continue;
        }
        double mz = acc->sum_z[i] / n;               /* z̄ − z0 */
        double var = acc->sum_zz[i] - n * mz * mz;   /* Σ(z − z̄)² */
        double scale = acc->sum_zz[i] + n * acc->z0[i] * acc->z0[i];
        if (!(var > SIGNAL_VAR_REL_TOL * scale)) {
            n_dead++;
            continue;
        }
        const double *sx = acc->sum_x + i * n_dim;
        const double *sxz = acc->sum_xz + i * n_dim;
        double *s = S + i * n_dim;
        for (size_t d = 0; d < n_dim; d++)
            s[d] = (sxz[d] - sx[d] * mz) / var;      /* Σ(x−x̄)(z−z̄) / Σ(z−z̄)² */
        alive[i] = 1;
    }
    return n_dead;
}

int signal_estimate(const double *X, const double *A, const double *Z,
                    size_t n_pix, size_t n_det, size_t n_dim,
                    double *S, int *alive)
{
    signal_accum acc;
    if (signal_accum_init(&acc, n_det, n_dim))
        return -1;
    signal_accum_add(&acc, X, A, Z, n_pix);
    signal_accum_finish(&acc, S, alive);
    signal_accum_free(&acc);
    return 0;
}

int signal_value_estimate(const double *W, const double *S,
                          const double *mean_x, const double *X,
                          size_t n_pix, size_t n_det, size_t n_dim,
                          double *A_hat)
{
    double *denom = malloc((n_det ? n_det : 1) * sizeof(double));
    double *offset = malloc((n_det ? n_det : 1) * sizeof(double));
    if (!denom || !offset) {
        free(denom);
        free(offset);
        return -1;
    }
    int status = 0;
    for (size_t i = 0; i < n_det; i++) {
        const double *w = W + i * n_dim;
        denom[i] = 0;
        offset[i] = 0;
        for (size_t d = 0; d < n_dim; d++) {
            denom[i] += w[d] * S[i * n_dim + d];
            offset[i] += w[d] * mean_x[d];
        }
        if (denom[i] == 0 || !isfinite(denom[i]))
            status = -1;
    }
    if (status == 0 && n_pix > 0 && n_det > 0) {
        /* A_hat ← X Wᵀ, then shift and scale each column */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix,
                    (int)n_det, (int)n_dim, 1.0, X, (int)n_dim, W, (int)n_dim,
                    0.0, A_hat, (int)n_det);
        for (size_t p = 0; p < n_pix; p++)
            for (size_t i = 0; i < n_det; i++)
                A_hat[p * n_det + i] =
                    (A_hat[p * n_det + i] - offset[i]) / denom[i];
    }
    free(denom);
    free(offset);
    return status;
}

int signal_pcav_init(signal_pcav_accum *acc, size_t n_con, size_t n_dim)
{
    memset(acc, 0, sizeof *acc);
    acc->n_con = n_con;
    acc->n_dim = n_dim;
    size_t nc = n_con ? n_con : 1, nm = n_con * n_dim > 0 ? n_con * n_dim : 1;
    acc->n_pos = calloc(nc, sizeof(double));
    acc->n_neg = calloc(nc, sizeof(double));
    acc->sum_pos = calloc(nm, sizeof(double));
    acc->sum_neg = calloc(nm, sizeof(double));
    if (!acc->n_pos || !acc->n_neg || !acc->sum_pos || !acc->sum_neg) {
        signal_pcav_free(acc);
        return -1;
    }
    return 0;
}

void signal_pcav_free(signal_pcav_accum *acc)
{
    free(acc->n_pos);
    free(acc->n_neg);
    free(acc->sum_pos);
    free(acc->sum_neg);
    memset(acc, 0, sizeof *acc);
}

void signal_pcav_add(signal_pcav_accum *acc, const double *X,
                     const int8_t *T, size_t n_pix)
{
    const long n_con = (long)acc->n_con;
    const size_t n_dim = acc->n_dim;
#pragma omp parallel for schedule(dynamic, 1)
    for (long c = 0; c < n_con; c++) {
        double *sp = acc->sum_pos + (size_t)c * n_dim;
        double *sn = acc->sum_neg + (size_t)c * n_dim;
        double np = acc->n_pos[c], nn = acc->n_neg[c];
        for (size_t p = 0; p < n_pix; p++) {
            int8_t t = T[p * (size_t)n_con + (size_t)c];
            if (t < 0)
                continue;
            const double *x = X + p * n_dim;
            double *sum = t > 0 ? sp : sn;
            if (t > 0)
                np += 1;
            else
                nn += 1;
            for (size_t d = 0; d < n_dim; d++)
                sum[d] += x[d];
        }
        acc->n_pos[c] = np;
        acc->n_neg[c] = nn;
    }
}

size_t signal_pcav_finish(const signal_pcav_accum *acc, double *V, int *alive)
{
    const size_t n_dim = acc->n_dim;
    size_t n_dead = 0;
    for (size_t c = 0; c < acc->n_con; c++) {
        double np = acc->n_pos[c], nn = acc->n_neg[c];
        alive[c] = np > 0 && nn > 0;
        if (!alive[c]) {
            n_dead++;
            continue;
        }
        for (size_t d = 0; d < n_dim; d++)
            V[c * n_dim + d] = acc->sum_pos[c * n_dim + d] / np -
                               acc->sum_neg[c * n_dim + d] / nn;
    }
    return n_dead;
}

static double cosine(const double *a, const double *b, size_t n_dim)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t d = 0; d < n_dim; d++) {
        ab += a[d] * b[d];
        aa += a[d] * a[d];
        bb += b[d] * b[d];
    }
    return aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0.0;
}

void signal_cosine_rows(const double *P, const double *Q, size_t n_rows,
                        size_t n_dim, double *cos)
{
    for (size_t r = 0; r < n_rows; r++)
        cos[r] = cosine(P + r * n_dim, Q + r * n_dim, n_dim);
}

void signal_cosine_matrix(const double *P, size_t n_p, const double *Q,
                          size_t n_q, size_t n_dim, double *C)
{
    for (size_t a = 0; a < n_p; a++)
        for (size_t b = 0; b < n_q; b++)
            C[a * n_q + b] = cosine(P + a * n_dim, Q + b * n_dim, n_dim);
}

static double abs_dot(const double *a, const double *b, size_t n_dim)
{
    double dot = 0;
    for (size_t d = 0; d < n_dim; d++)
        dot += a[d] * b[d];
    return fabs(dot);
}

void signal_leakage(const double *W, size_t n_det, const double *signals,
                    size_t n_con, const double *distractors, size_t n_dis,
                    size_t n_dim, const int *match, double *leak_signal,
                    double *leak_distractor)
{
    for (size_t i = 0; i < n_det; i++) {
        const double *w = W + i * n_dim;
        if (match[i] < 0 || (size_t)match[i] >= n_con) {
            leak_signal[i] = leak_distractor[i] = NAN;
            continue;
        }
        double own = abs_dot(w, signals + (size_t)match[i] * n_dim, n_dim);
        leak_signal[i] = leak_distractor[i] = 0;
        for (size_t k = 0; k < n_con; k++)
            if ((int)k != match[i])
                leak_signal[i] = fmax(leak_signal[i], abs_dot(w, signals + k * n_dim, n_dim) / own);
        for (size_t f = 0; f < n_dis; f++)
            leak_distractor[i] = fmax(leak_distractor[i], abs_dot(w, distractors + f * n_dim, n_dim) / own);
    }
}
