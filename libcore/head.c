/* head — f+ = global average pooling + linear + softmax; see head.h. */
#include "head.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>

/* Below this many images the per-row work is too small to share out. */
#define HEAD_PARALLEL_MIN 256

void head_pool(const float *feat, int n_img, int n_dim, int hw,
               double *pooled)
{
    #pragma omp parallel for schedule(static) if (n_img > 1)
    for (int i = 0; i < n_img; i++) {
        const float *img = feat + (size_t)i * n_dim * hw;
        for (int d = 0; d < n_dim; d++) {
            const float *chan = img + (size_t)d * hw;
            double sum = 0.0;
            for (int p = 0; p < hw; p++)
                sum += chan[p];
            pooled[(size_t)i * n_dim + d] = sum / hw;
        }
    }
}

void head_linear_forward(const double *pooled, int n_img, int n_dim,
                         const double *weight, const double *bias, int n_cls,
                         double *logits)
{
    for (int i = 0; i < n_img; i++)
        for (int k = 0; k < n_cls; k++)
            logits[(size_t)i * n_cls + k] = bias[k];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_img, n_cls, n_dim,
                1.0, pooled, n_dim, weight, n_dim, 1.0, logits, n_cls);
}

void head_linear_backward(const double *dlogits, const double *pooled,
                          const double *weight, int n_img, int n_dim,
                          int n_cls, double *dweight, double *dbias,
                          double *dpooled)
{
    if (dweight)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_cls, n_dim,
                    n_img, 1.0, dlogits, n_cls, pooled, n_dim, 1.0, dweight,
                    n_dim);
    if (dbias)
        for (int k = 0; k < n_cls; k++) {
            double sum = 0.0;
            for (int i = 0; i < n_img; i++)
                sum += dlogits[(size_t)i * n_cls + k];
            dbias[k] += sum;
        }
    if (dpooled)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_img, n_dim,
                    n_cls, 1.0, dlogits, n_cls, weight, n_dim, 1.0, dpooled,
                    n_dim);
}

/* ---- one row of logits ------------------------------------------------ */

static double row_max(const double *row, int n_cls)
{
    double mx = row[0];
    for (int k = 1; k < n_cls; k++)
        if (row[k] > mx)
            mx = row[k];
    return mx;
}

/* log Σ_k exp(row_k − mx): the log-sum-exp of the max-shifted row (≥ 0). */
static double row_shifted_lse(const double *row, int n_cls, double mx)
{
    double sum = 0.0;
    for (int k = 0; k < n_cls; k++)
        sum += exp(row[k] - mx);
    return log(sum);
}

/* Entropy of softmax(row) in nats: with z = row − max and log p = z − lse,
 * H = −Σ p log p. Underflowed p are exactly 0 and their finite log p makes
 * the term 0, so no log of 0 is ever taken. */
static double row_entropy_nats(const double *row, int n_cls)
{
    /* H = lse − Σ_k p_k z_k with z = ℓ − max, p = e^z / Σ e^z: one exp per
     * class (the softmax is a third of a synthetic step otherwise). */
    double mx = row_max(row, n_cls), sum = 0.0, weighted = 0.0;
    for (int k = 0; k < n_cls; k++) {
        double z = row[k] - mx, e = exp(z);
        sum += e;
        weighted += e * z;
    }
    return log(sum) - weighted / sum;
}

static double row_xent(const double *row, int n_cls, int32_t label)
{
    double mx = row_max(row, n_cls);
    return row_shifted_lse(row, n_cls, mx) - (row[label] - mx);
}

/* Σ_i over rows, as per-thread partial sums of contiguous chunks added in
 * thread order (deterministic for a fixed thread count). labels may be NULL
 * when kind is the entropy. */
enum row_kind { ROW_ENTROPY, ROW_XENT };

static double sum_rows(const double *logits, const int32_t *labels, int n_img,
                       int n_cls, enum row_kind kind)
{
    double total = 0.0;
    #pragma omp parallel if (n_img >= HEAD_PARALLEL_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = (int)((long long)n_img * t / nt);
        int hi = (int)((long long)n_img * (t + 1) / nt);
        double part = 0.0;
        for (int i = lo; i < hi; i++) {
            const double *row = logits + (size_t)i * n_cls;
            part += kind == ROW_ENTROPY ? row_entropy_nats(row, n_cls)
                                        : row_xent(row, n_cls, labels[i]);
        }
        #pragma omp for ordered schedule(static, 1)
        for (int k = 0; k < nt; k++) {
            #pragma omp ordered
            total += part;
        }
    }
    return total;
}

void head_log_softmax(const double *logits, int n_img, int n_cls,
                      double *logp)
{
    #pragma omp parallel for schedule(static) if (n_img >= HEAD_PARALLEL_MIN)
    for (int i = 0; i < n_img; i++) {
        const double *row = logits + (size_t)i * n_cls;
        double mx = row_max(row, n_cls);
        double lse = row_shifted_lse(row, n_cls, mx);
        for (int k = 0; k < n_cls; k++)
            logp[(size_t)i * n_cls + k] = row[k] - mx - lse;
    }
}

double head_xent_forward(const double *logits, const int32_t *labels,
                         int n_img, int n_cls)
{
    if (n_img < 1)
        return 0.0;
    return sum_rows(logits, labels, n_img, n_cls, ROW_XENT) / n_img;
}

void head_xent_backward(const double *logits, const int32_t *labels,
                        int n_img, int n_cls, double scale, double *dlogits)
{
    if (n_img < 1)
        return;
    double f = scale / n_img;
    #pragma omp parallel for schedule(static) if (n_img >= HEAD_PARALLEL_MIN)
    for (int i = 0; i < n_img; i++) {
        const double *row = logits + (size_t)i * n_cls;
        double *drow = dlogits + (size_t)i * n_cls;
        double mx = row_max(row, n_cls);
        double lse = row_shifted_lse(row, n_cls, mx);
        for (int k = 0; k < n_cls; k++)
            drow[k] = f * exp(row[k] - mx - lse);
        drow[labels[i]] -= f;
    }
}

double head_entropy_forward(const double *logits, int n_img, int n_cls)
{
    if (n_img < 1)
        return 0.0;
    return sum_rows(logits, NULL, n_img, n_cls, ROW_ENTROPY) /
           (n_img * M_LN2);
}

void head_entropy_backward(const double *logits, int n_img, int n_cls,
                           double scale, double *dlogits)
{
    if (n_img < 1)
        return;
    double f = scale / (n_img * M_LN2);
    #pragma omp parallel for schedule(static) if (n_img >= HEAD_PARALLEL_MIN)
    for (int i = 0; i < n_img; i++) {
        const double *row = logits + (size_t)i * n_cls;
        double *drow = dlogits + (size_t)i * n_cls;
        /* drow first holds e^{z_k} (z = ℓ − max): one exp per class. */
        double mx = row_max(row, n_cls), sum = 0.0;
        for (int k = 0; k < n_cls; k++) {
            drow[k] = exp(row[k] - mx);
            sum += drow[k];
        }
        double lse = log(sum), h = 0.0;
        for (int k = 0; k < n_cls; k++)
            h -= drow[k] / sum * (row[k] - mx - lse);
        for (int k = 0; k < n_cls; k++) {
            double p = drow[k] / sum, lp = row[k] - mx - lse;
            drow[k] = -f * p * (lp + h);
        }
    }
}

int head_labels_valid(const int32_t *labels, int n_img, int n_cls)
{
    for (int i = 0; i < n_img; i++)
        if (labels[i] < 0 || labels[i] >= n_cls)
            return 0;
    return 1;
}

void head_predict(const double *logits, int n_img, int n_cls, int32_t *pred)
{
    for (int i = 0; i < n_img; i++) {
        const double *row = logits + (size_t)i * n_cls;
        int best = 0;
        for (int k = 1; k < n_cls; k++)
            if (row[k] > row[best])
                best = k;
        pred[i] = best;
    }
}

double head_accuracy(const double *logits, const int32_t *labels, int n_img,
                     int n_cls)
{
    if (n_img < 1)
        return 0.0;
    long long hits = 0;
    for (int i = 0; i < n_img; i++) {
        int32_t pred;
        head_predict(logits + (size_t)i * n_cls, 1, n_cls, &pred);
        hits += pred == labels[i];
    }
    return (double)hits / n_img;
}

void head_confusion(const double *logits, const int32_t *labels, int n_img,
                    int n_cls, int64_t *counts)
{
    for (int i = 0; i < n_img; i++) {
        int32_t pred;
        head_predict(logits + (size_t)i * n_cls, 1, n_cls, &pred);
        counts[(size_t)labels[i] * n_cls + pred]++;
    }
}
