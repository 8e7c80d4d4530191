/* overlap — IoU between detectors' firing sets (overlap.h). */
#include "overlap.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Pixels per GEMM: the chunk's pixels [m × n_dim] in double and its firing
 * matrix [m × n_det] in float stay a few tens of MB at Broden sizes, and
 * m < 2^24 keeps every float count of the chunk exact. */
#define OVERLAP_CHUNK_PIXELS 8192

/* pixels [n × hw × n_dim] (pixel-major, double) of images [n × n_dim × hw]. */
static void chunk_pixels(const float *images, size_t n, int n_dim, int hw, double *pixels)
{
    for (size_t k = 0; k < n; k++)
        for (int d = 0; d < n_dim; d++)
            for (int q = 0; q < hw; q++)
                pixels[(k * hw + q) * (size_t)n_dim + d] = images[(k * n_dim + d) * (size_t)hw + q];
}

/* One chunk: logits A = X Wᵀ (DGEMM), firing F = [A > b] as 0/1 floats,
 * fire += column sums of F, both += FᵀF (SSYRK, upper triangle). The
 * counts are integers held exactly, so the result does not depend on the
 * BLAS's thread count or blocking. */
static void count_chunk(overlap_counts *counts, const double *pixels, size_t m, int n_dim, const double *W,
                        const double *b, double *logits, float *firing, float *pairs)
{
    int n_det = counts->n_det;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, n_det, n_dim, 1.0, pixels, n_dim, W, n_dim, 0.0,
                logits, n_det);
    for (size_t p = 0; p < m; p++)
        for (int i = 0; i < n_det; i++) {
            int fires = logits[p * n_det + i] - b[i] > 0.0;
            firing[p * n_det + i] = (float)fires;
            counts->fire[i] += (uint64_t)fires;
        }
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n_det, (int)m, 1.0f, firing, n_det, 0.0f, pairs, n_det);
    for (int i = 0; i < n_det; i++)
        for (int j = i + 1; j < n_det; j++)
            counts->both[(size_t)i * n_det + j] += (uint64_t)pairs[(size_t)i * n_det + j];
}

int overlap_counts_init(overlap_counts *counts, int n_det)
{
    memset(counts, 0, sizeof *counts);
    if (n_det <= 0)
        return -1;
    counts->n_det = n_det;
    counts->fire = calloc((size_t)n_det * (n_det + 1), sizeof *counts->fire);
    counts->both = counts->fire ? counts->fire + n_det : NULL;
    return counts->fire ? 0 : -1;
}

void overlap_counts_free(overlap_counts *counts)
{
    free(counts->fire);
    memset(counts, 0, sizeof *counts);
}

int overlap_count(overlap_counts *counts, const float *features, size_t n_img, int n_dim, int hw, const double *W,
                  const double *b)
{
    int n_det = counts->n_det;
    size_t chunk = OVERLAP_CHUNK_PIXELS / (size_t)hw;
    if (chunk == 0)
        chunk = 1;
    if (chunk > n_img)
        chunk = n_img;
    size_t m_max = chunk * hw;
    double *pixels = malloc(m_max * n_dim * sizeof *pixels), *logits = malloc(m_max * n_det * sizeof *logits);
    float *firing = malloc(m_max * n_det * sizeof *firing), *pairs = malloc((size_t)n_det * n_det * sizeof *pairs);
    int rc = pixels && logits && firing && pairs ? 0 : -1;
    for (size_t img0 = 0; !rc && img0 < n_img; img0 += chunk) {
        size_t n = n_img - img0 < chunk ? n_img - img0 : chunk;
        chunk_pixels(features + img0 * (size_t)n_dim * hw, n, n_dim, hw, pixels);
        count_chunk(counts, pixels, n * hw, n_dim, W, b, logits, firing, pairs);
    }
    if (!rc)
        counts->n_pix += n_img * (size_t)hw;
    free(pixels);
    free(logits);
    free(firing);
    free(pairs);
    return rc;
}

int overlap_result(const overlap_counts *counts, double *iou, double *coverage)
{
    int n_det = counts->n_det;
    if (counts->n_pix == 0)
        return -1;
    const uint64_t *fire = counts->fire, *both = counts->both;
    for (int i = 0; i < n_det; i++) {
        coverage[i] = (double)fire[i] / (double)counts->n_pix;
        iou[(size_t)i * n_det + i] = fire[i] ? 1.0 : 0.0;
        for (int j = i + 1; j < n_det; j++) {
            uint64_t inter = both[(size_t)i * n_det + j], uni = fire[i] + fire[j] - inter;
            double v = uni ? (double)inter / (double)uni : 0.0;
            iou[(size_t)i * n_det + j] = iou[(size_t)j * n_det + i] = v;
        }
    }
    return 0;
}

int overlap_firing(const float *features, size_t n_img, int n_dim, int hw, const double *W, const double *b,
                   int n_det, double *iou, double *coverage)
{
    overlap_counts counts;
    if (n_img * (size_t)hw == 0 || overlap_counts_init(&counts, n_det))
        return -1;
    int rc = overlap_count(&counts, features, n_img, n_dim, hw, W, b) || overlap_result(&counts, iou, coverage);
    overlap_counts_free(&counts);
    return rc ? -1 : 0;
}

double overlap_worst_pair(const double *iou, int n_det, int *i, int *j)
{
    double worst = 0.0;
    *i = *j = -1;
    for (int u = 0; u < n_det; u++)
        for (int v = u + 1; v < n_det; v++)
            if (iou[(size_t)u * n_det + v] > worst) {
                worst = iou[(size_t)u * n_det + v];
                *i = u;
                *j = v;
            }
    return worst;
}
