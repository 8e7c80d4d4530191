/* head — f+ = global average pooling + linear + softmax; see head.h. */
#include "head.h"
#include "vecmath.h"

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

/* The entropy pair works on blocks of whole rows of at most ENTROPY_BLOCK
 * logits, so that the exp of every logit and the log of every row sum go
 * through the vector variants (vecmath.h): with a few classes per image the
 * scalar calls were a fifth of a synthetic step. Rows longer than a block
 * take the row-at-a-time path. */
#define ENTROPY_BLOCK 1024

/* For rows [lo, hi) (hi − lo rows of n_cls ≤ ENTROPY_BLOCK logits in all):
 * e [rows × n_cls] = exp(ℓ − row max), z = ℓ − row max, lse [rows] = log Σ e. */
VECMATH_CLONES
static void block_softmax_terms(const double *logits, int lo, int hi, int n_cls,
                                double *z, double *e, double *lse)
{
    int rows = hi - lo, cells = rows * n_cls;
    for (int i = 0; i < rows; i++) {
        const double *row = logits + (size_t)(lo + i) * n_cls;
        double mx = row_max(row, n_cls);
        for (int k = 0; k < n_cls; k++)
            z[i * n_cls + k] = row[k] - mx;
    }
#pragma omp simd
    for (int c = 0; c < cells; c++)
        e[c] = exp(z[c]);
    for (int i = 0; i < rows; i++) {
        double sum = 0.0;
        for (int k = 0; k < n_cls; k++)
            sum += e[i * n_cls + k];
        lse[i] = sum;
    }
#pragma omp simd
    for (int i = 0; i < rows; i++)
        lse[i] = log(lse[i]);
}

/* Rows per block: as many whole rows as fit ENTROPY_BLOCK logits. */
static int entropy_block_rows(int n_cls)
{
    return ENTROPY_BLOCK / n_cls;
}

/* Σ over rows [lo, hi) of the entropy in nats, H = lse − Σ_k p_k z_k. */
static double block_entropy_sum(const double *logits, int lo, int hi, int n_cls)
{
    double z[ENTROPY_BLOCK], e[ENTROPY_BLOCK], lse[ENTROPY_BLOCK], total = 0.0;
    int per_block = entropy_block_rows(n_cls);
    for (int b0 = lo; b0 < hi; b0 += per_block) {
        int b1 = b0 + per_block < hi ? b0 + per_block : hi;
        block_softmax_terms(logits, b0, b1, n_cls, z, e, lse);
        for (int i = 0; i < b1 - b0; i++) {
            double sum = 0.0, weighted = 0.0;
            for (int k = 0; k < n_cls; k++) {
                sum += e[i * n_cls + k];
                weighted += e[i * n_cls + k] * z[i * n_cls + k];
            }
            total += lse[i] - weighted / sum;
        }
    }
    return total;
}

double head_entropy_forward(const double *logits, int n_img, int n_cls)
{
    if (n_img < 1)
        return 0.0;
    if (n_cls > ENTROPY_BLOCK)
        return sum_rows(logits, NULL, n_img, n_cls, ROW_ENTROPY) / (n_img * M_LN2);
    double total = 0.0;
    #pragma omp parallel if (n_img >= HEAD_PARALLEL_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int lo = (int)((long long)n_img * t / nt);
        int hi = (int)((long long)n_img * (t + 1) / nt);
        double part = block_entropy_sum(logits, lo, hi, n_cls);
        #pragma omp for ordered schedule(static, 1)
        for (int k = 0; k < nt; k++) {
            #pragma omp ordered
            total += part;
        }
    }
    return total / (n_img * M_LN2);
}

/* drow [n_cls] = −f p (log p + H) for one row, from e = exp(z), z and lse. */
static void entropy_row_grad(const double *e, const double *z, double lse, int n_cls,
                             double f, double *drow)
{
    double sum = 0.0;
    for (int k = 0; k < n_cls; k++)
        sum += e[k];
    double h = 0.0;
    for (int k = 0; k < n_cls; k++)
        h -= e[k] / sum * (z[k] - lse);
    for (int k = 0; k < n_cls; k++)
        drow[k] = -f * (e[k] / sum) * (z[k] - lse + h);
}

static void entropy_backward_rows(const double *logits, int lo, int hi, int n_cls,
                                  double f, double *dlogits)
{
    double z[ENTROPY_BLOCK], e[ENTROPY_BLOCK], lse[ENTROPY_BLOCK];
    int per_block = entropy_block_rows(n_cls);
    for (int b0 = lo; b0 < hi; b0 += per_block) {
        int b1 = b0 + per_block < hi ? b0 + per_block : hi;
        block_softmax_terms(logits, b0, b1, n_cls, z, e, lse);
        for (int i = 0; i < b1 - b0; i++)
            entropy_row_grad(e + i * n_cls, z + i * n_cls, lse[i], n_cls, f,
                             dlogits + (size_t)(b0 + i) * n_cls);
    }
}

/* Rows longer than a block: the same gradient, one row at a time, with
 * drow as the buffer of e. */
static void entropy_backward_long_rows(const double *logits, int n_img, int n_cls, double f,
                                       double *dlogits)
{
    #pragma omp parallel for schedule(static) if (n_img >= HEAD_PARALLEL_MIN)
    for (int i = 0; i < n_img; i++) {
        const double *row = logits + (size_t)i * n_cls;
        double *drow = dlogits + (size_t)i * n_cls;
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

void head_entropy_backward(const double *logits, int n_img, int n_cls,
                           double scale, double *dlogits)
{
    if (n_img < 1)
        return;
    double f = scale / (n_img * M_LN2);
    if (n_cls > ENTROPY_BLOCK) {
        entropy_backward_long_rows(logits, n_img, n_cls, f, dlogits);
        return;
    }
    #pragma omp parallel if (n_img >= HEAD_PARALLEL_MIN)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        entropy_backward_rows(logits, (int)((long long)n_img * t / nt),
                              (int)((long long)n_img * (t + 1) / nt), n_cls, f, dlogits);
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
