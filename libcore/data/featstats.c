/* featstats — see featstats.h. */
#include "featstats.h"
#include "batch.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>

void featstats_init(featstats_channel *stats, size_t n_dim)
{
    for (size_t c = 0; c < n_dim; c++)
        stats[c] = (featstats_channel){.min = INFINITY, .max = -INFINITY};
}

/* Sum, count, min and max of channel c's finite values in the batch. */
static uint64_t batch_moments(const float *buf, size_t n_img, size_t n_dim, size_t hw, size_t c, double *sum,
                              double *lo, double *hi, uint64_t *bad)
{
    uint64_t count = 0;
    *sum = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    *bad = 0;
    for (size_t k = 0; k < n_img; k++) {
        const float *plane = buf + (k * n_dim + c) * hw;
        for (size_t p = 0; p < hw; p++) {
            double v = plane[p];
            if (!isfinite(v)) {
                ++*bad;
                continue;
            }
            *sum += v;
            count++;
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    }
    return count;
}

void featstats_add(featstats_channel *s, const float *buf, size_t n_img, size_t n_dim, size_t hw, size_t c)
{
    double sum, lo, hi;
    uint64_t bad, count = batch_moments(buf, n_img, n_dim, hw, c, &sum, &lo, &hi, &bad);
    s->nonfinite += bad;
    if (!count)
        return;
    double mean = sum / (double)count, m2 = 0;
    for (size_t k = 0; k < n_img; k++) {
        const float *plane = buf + (k * n_dim + c) * hw;
        for (size_t p = 0; p < hw; p++)
            if (isfinite(plane[p]))
                m2 += ((double)plane[p] - mean) * ((double)plane[p] - mean);
    }
    double total = (double)(s->count + count), delta = mean - s->mean;
    s->mean += delta * (double)count / total;
    s->m2 += m2 + delta * delta * (double)s->count * (double)count / total;
    s->count += count;
    s->min = lo < s->min ? lo : s->min;
    s->max = hi > s->max ? hi : s->max;
}

void featstats_add_batch(featstats_channel *stats, const float *buf, size_t n_img, size_t n_dim, size_t hw)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t c = 0; c < n_dim; c++)
        featstats_add(&stats[c], buf, n_img, n_dim, hw, c);
}

double featstats_std(const featstats_channel *s)
{
    return s->count ? sqrt(s->m2 / (double)s->count) : NAN;
}

int featstats_read(h5in *in, featstats_channel **stats_out, size_t dims[4],
                   void (*progress)(void *ctx, size_t done, size_t total), void *progress_ctx)
{
    hsize_t hd[H5IO_MAX_RANK], expect[4] = {0, 0, 0, 0};
    if (h5in_check(in, "/features", H5IO_FLOAT, 4, expect, hd))
        return error_code();
    size_t n_img = hd[0], n_dim = hd[1], hw = hd[2] * hd[3], per_image = n_dim * hw;
    for (int k = 0; k < 4; k++)
        dims[k] = hd[k];
    featstats_channel *stats = calloc(n_dim ? n_dim : 1, sizeof *stats);
    size_t batch = batch_rows(per_image * sizeof(float), batch_bytes(), n_img);
    float *buf = malloc((batch * per_image + 1) * sizeof *buf);
    int rc = !stats || !buf ? error_set(EX_OSERR, "%s: out of memory for statistics", in->path) : 0;
    if (!rc)
        featstats_init(stats, n_dim);
    for (size_t img0 = 0; !rc && per_image && img0 < n_img; img0 += batch) {
        size_t n = batch < n_img - img0 ? batch : n_img - img0;
        if ((rc = h5in_read_rows(in, "/features", H5IO_FLOAT, img0, n, buf)))
            break;
        featstats_add_batch(stats, buf, n, n_dim, hw);
        if (progress)
            progress(progress_ctx, img0 + n, n_img);
    }
    free(buf);
    if (rc) {
        free(stats);
        return rc;
    }
    *stats_out = stats;
    return 0;
}
