/* apstream — see apstream.h. */
#include "apstream.h"

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

int apstream_init(apstream *s, const size_t *n_samples, size_t n_unit, size_t budget)
{
    memset(s, 0, sizeof *s);
    if (budget == 0)
        return -2;
    s->n_unit = n_unit;
    s->budget = budget;
    s->n_samples = malloc((n_unit ? n_unit : 1) * sizeof *s->n_samples);
    if (!s->n_samples)
        return -1;
    if (n_unit)
        memcpy(s->n_samples, n_samples, n_unit * sizeof *n_samples);
    return 0;
}

static void block_free(apstream *s)
{
    size_t n = s->hi - s->lo;
    for (size_t u = 0; s->score && u < n; u++) {
        free(s->score[u]);
        free(s->positive[u]);
    }
    free(s->score);
    free(s->positive);
    free(s->fill);
    s->score = NULL;
    s->positive = NULL;
    s->fill = NULL;
    s->lo = s->hi;
}

/* Greedy packing: units from lo while their samples fit the budget. */
static size_t block_end(const apstream *s, size_t lo)
{
    size_t hi = lo, bytes = 0;
    while (hi < s->n_unit) {
        size_t need = s->n_samples[hi] * APSTREAM_SAMPLE_BYTES;
        if (hi > lo && bytes + need > s->budget)
            break;
        bytes += need;
        hi++;
    }
    return hi;
}

int apstream_next(apstream *s, size_t *lo, size_t *hi)
{
    block_free(s);
    if (s->hi >= s->n_unit)
        return 0;
    s->lo = s->hi;
    s->hi = block_end(s, s->lo);
    size_t n = s->hi - s->lo;
    s->fill = calloc(n, sizeof *s->fill);
    s->score = calloc(n, sizeof *s->score);
    s->positive = calloc(n, sizeof *s->positive);
    int ok = s->fill && s->score && s->positive;
    for (size_t u = 0; ok && u < n; u++) {
        size_t m = s->n_samples[s->lo + u] ? s->n_samples[s->lo + u] : 1;
        ok = (s->score[u] = malloc(m * sizeof(double))) && (s->positive[u] = malloc(m));
    }
    if (!ok) {
        block_free(s);
        return -1;
    }
    *lo = s->lo;
    *hi = s->hi;
    return 1;
}

int apstream_slot(apstream *s, size_t u, size_t n, double **score, uint8_t **positive)
{
    if (u < s->lo || u >= s->hi || !s->fill || n > s->n_samples[u] - s->fill[u - s->lo])
        return -2;
    size_t k = u - s->lo;
    *score = s->score[k] + s->fill[k];
    *positive = s->positive[k] + s->fill[k];
    s->fill[k] += n;
    return 0;
}

int apstream_finish(apstream *s, double *ap)
{
    size_t n = s->hi - s->lo, lo = s->lo;
    if (!s->fill)
        return -2;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(min : failed)
    for (size_t u = 0; u < n; u++) {
        int rc = s->fill[u] != s->n_samples[lo + u] ? -2
               : metrics_average_precision(s->score[u], s->positive[u], s->fill[u], &ap[lo + u]);
        failed = rc < failed ? rc : failed;
    }
    block_free(s);
    return failed;
}

void apstream_free(apstream *s)
{
    block_free(s);
    free(s->n_samples);
    memset(s, 0, sizeof *s);
}
