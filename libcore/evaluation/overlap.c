/* overlap — IoU between detectors' firing sets (overlap.h). */
#include "overlap.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One image: the detectors firing at each pixel, counted into fire [n_det]
 * and both [n_det × n_det] (upper triangle). a = W x − b costs
 * hw·n_det·n_dim per image. */
static void count_image(const float *x, int n_dim, int hw, const double *W, const double *b, int n_det,
                        double *a, int *firing, uint64_t *fire, uint64_t *both)
{
    for (int q = 0; q < hw; q++) {
        for (int i = 0; i < n_det; i++)
            a[i] = -b[i];
        for (int c = 0; c < n_dim; c++) {
            double v = (double)x[(size_t)c * hw + q];
            for (int i = 0; i < n_det; i++)
                a[i] += W[(size_t)i * n_dim + c] * v;
        }
        int k = 0;
        for (int i = 0; i < n_det; i++)
            if (a[i] > 0.0)
                firing[k++] = i;
        for (int u = 0; u < k; u++) {
            fire[firing[u]]++;
            for (int v = u + 1; v < k; v++)
                both[(size_t)firing[u] * n_det + firing[v]]++;
        }
    }
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
    size_t nn = (size_t)n_det * n_det;
    int n_threads = omp_get_max_threads();
    /* Per thread: fire [n_det], both [n_det²]; summed in thread order. */
    uint64_t *part = calloc((size_t)n_threads * (nn + n_det), sizeof *part);
    int failed = part == NULL;
#pragma omp parallel num_threads(n_threads) if (!failed)
    {
        int t = omp_get_thread_num();
        uint64_t *fire = part + (size_t)t * (nn + n_det), *both = fire + n_det;
        double *a = malloc((size_t)n_det * sizeof *a);
        int *firing = malloc((size_t)n_det * sizeof *firing);
        if (!a || !firing) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(static)
            for (size_t img = 0; img < n_img; img++)
                count_image(features + img * (size_t)n_dim * hw, n_dim, hw, W, b, n_det, a, firing, fire, both);
        }
        free(a);
        free(firing);
    }
    if (failed) {
        free(part);
        return -1;
    }
    for (int t = 0; t < n_threads; t++)
        for (size_t k = 0; k < nn + (size_t)n_det; k++)
            counts->fire[k] += part[(size_t)t * (nn + n_det) + k];
    counts->n_pix += n_img * (size_t)hw;
    free(part);
    return 0;
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
