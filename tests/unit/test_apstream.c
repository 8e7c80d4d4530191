/* test_apstream — streamed AP against a brute-force AP on random data:
 * every budget (one unit per block up to everything in one block) gives the
 * same AP, bit for bit, equal to the definition computed independently
 * (O(n²): one PR point per distinct threshold); the blocks follow the
 * budget; misuse is refused with −2. */
#include "apstream.h"
#include "harness.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_UNIT 7

/* AP by its definition: for each distinct score t, descending, the PR point
 * of "score ≥ t"; AP = Σ (R_k − R_{k−1}) P_k; 0 without positives. */
static double brute_ap(const double *score, const uint8_t *positive, size_t n)
{
    size_t n_pos = 0;
    for (size_t k = 0; k < n; k++)
        n_pos += positive[k] != 0;
    if (!n_pos)
        return 0;
    double ap = 0, last_recall = 0, t = INFINITY;
    for (;;) {
        double next = -INFINITY;   /* the largest score below t */
        for (size_t k = 0; k < n; k++)
            if (score[k] < t && score[k] > next)
                next = score[k];
        if (next == -INFINITY)
            return ap;
        t = next;
        size_t tp = 0, taken = 0;
        for (size_t k = 0; k < n; k++)
            if (score[k] >= t) {
                taken++;
                tp += positive[k] != 0;
            }
        double recall = (double)tp / (double)n_pos;
        ap += (recall - last_recall) * (double)tp / (double)taken;
        last_recall = recall;
    }
}

typedef struct {
    size_t n_samples[N_UNIT];
    double *score[N_UNIT];
    uint8_t *positive[N_UNIT];
} dataset;

/* Scores on a coarse grid (many ties), about a third positive; unit 2 has
 * no samples, unit 5 no positive. */
static void make_data(dataset *d, uint64_t seed)
{
    rng_state rng;
    rng_init(&rng, seed, 1);
    for (int u = 0; u < N_UNIT; u++) {
        size_t n = u == 2 ? 0 : 5 + rng_below(&rng, 60);
        d->n_samples[u] = n;
        d->score[u] = malloc((n ? n : 1) * sizeof(double));
        d->positive[u] = malloc(n ? n : 1);
        for (size_t k = 0; k < n; k++) {
            d->score[u][k] = (double)rng_below(&rng, 12) / 4.0 - 1.0;
            d->positive[u][k] = u != 5 && rng_uniform(&rng) < 0.35 + 0.05 * d->score[u][k];
        }
    }
}

static void free_data(dataset *d)
{
    for (int u = 0; u < N_UNIT; u++) {
        free(d->score[u]);
        free(d->positive[u]);
    }
}

/* Streams d through apstream with the budget, each unit's samples handed
 * over in chunks of 1..chunk; returns the number of blocks, −1 on error. */
static int stream_ap(const dataset *d, size_t budget, size_t chunk, double *ap)
{
    apstream s;
    if (apstream_init(&s, d->n_samples, N_UNIT, budget))
        return -1;
    size_t lo, hi;
    int blocks = 0, rc;
    while ((rc = apstream_next(&s, &lo, &hi)) == 1) {
        blocks++;
        for (size_t u = lo; u < hi; u++)
            for (size_t k = 0; k < d->n_samples[u];) {
                size_t n = d->n_samples[u] - k < chunk ? d->n_samples[u] - k : chunk;
                double *score;
                uint8_t *positive;
                if (apstream_slot(&s, u, n, &score, &positive))
                    rc = -3;
                else {
                    memcpy(score, d->score[u] + k, n * sizeof *score);
                    memcpy(positive, d->positive[u] + k, n);
                }
                k += n;
            }
        if (rc == -3 || apstream_finish(&s, ap))
            break;
    }
    apstream_free(&s);
    return rc == 0 ? blocks : -1;
}

static void test_budgets(uint64_t seed)
{
    dataset d;
    make_data(&d, seed);
    double want[N_UNIT];
    size_t total = 0, largest = 0;
    for (int u = 0; u < N_UNIT; u++) {
        want[u] = brute_ap(d.score[u], d.positive[u], d.n_samples[u]);
        total += d.n_samples[u];
        largest = d.n_samples[u] > largest ? d.n_samples[u] : largest;
    }
    CHECK(want[2] == 0 && want[5] == 0, "seed %llu: no samples / no positives give AP 0",
          (unsigned long long)seed);
    const size_t budgets[] = {1, APSTREAM_SAMPLE_BYTES * 10, APSTREAM_SAMPLE_BYTES * largest,
                              APSTREAM_SAMPLE_BYTES * (total / 2), APSTREAM_SAMPLE_BYTES * total, (size_t)1 << 40};
    double first[N_UNIT];
    for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++) {
        double ap[N_UNIT];
        for (int u = 0; u < N_UNIT; u++)
            ap[u] = -1;
        int blocks = stream_ap(&d, budgets[b], 1 + b * 3, ap);
        CHECK(blocks > 0, "seed %llu budget %zu: streamed", (unsigned long long)seed, budgets[b]);
        if (b == 0)
            CHECK(blocks == N_UNIT, "budget 1: one unit per block (%d blocks)", blocks);
        if (budgets[b] >= APSTREAM_SAMPLE_BYTES * total)
            CHECK(blocks == 1, "budget %zu holds everything: one block (%d)", budgets[b], blocks);
        if (b == 3)
            CHECK(blocks >= 2 && blocks < N_UNIT, "half the samples: 2..%d blocks (%d)", N_UNIT - 1, blocks);
        for (int u = 0; u < N_UNIT; u++) {
            CHECK_CLOSE(ap[u], want[u], 1e-12, "AP against the brute force");
            if (b == 0)
                first[u] = ap[u];
            else
                CHECK(ap[u] == first[u], "budget %zu: unit %d bit-identical to budget 1", budgets[b], u);
        }
    }
    free_data(&d);
}

static void test_misuse(void)
{
    const size_t n_samples[3] = {2, 3, 1};
    apstream s;
    CHECK(apstream_init(&s, n_samples, 3, 0) == -2, "budget 0 refused");
    CHECK(apstream_init(&s, n_samples, 3, 2 * APSTREAM_SAMPLE_BYTES) == 0, "init");
    double *score;
    uint8_t *positive;
    CHECK(apstream_slot(&s, 0, 1, &score, &positive) == -2, "no slot before a block");
    size_t lo = 9, hi = 9;
    CHECK(apstream_next(&s, &lo, &hi) == 1 && lo == 0 && hi == 1, "block [0, 1) (%zu, %zu)", lo, hi);
    CHECK(apstream_slot(&s, 1, 1, &score, &positive) == -2, "unit outside the block refused");
    CHECK(apstream_slot(&s, 0, 3, &score, &positive) == -2, "more samples than announced refused");
    CHECK(apstream_slot(&s, 0, 1, &score, &positive) == 0, "one sample");
    score[0] = 1;
    positive[0] = 1;
    double ap[3] = {0};
    CHECK(apstream_finish(&s, ap) == -2, "a unit short of samples is refused");
    CHECK(apstream_next(&s, &lo, &hi) == 1 && lo == 1 && hi == 2, "block [1, 2): a unit over budget alone");
    CHECK(apstream_slot(&s, 1, 3, &score, &positive) == 0, "three samples");
    score[0] = NAN, score[1] = 0, score[2] = 1;
    memset(positive, 1, 3);
    CHECK(apstream_finish(&s, ap) == -2, "a NaN score is refused");
    CHECK(apstream_next(&s, &lo, &hi) == 1 && lo == 2 && hi == 3, "block [2, 3)");
    CHECK(apstream_slot(&s, 2, 1, &score, &positive) == 0, "slot");
    score[0] = 0.5;
    positive[0] = 1;
    CHECK(apstream_finish(&s, ap) == 0 && ap[2] == 1.0, "one positive sample: AP 1");
    CHECK(apstream_next(&s, &lo, &hi) == 0, "no more blocks");
    apstream_free(&s);
}

int main(void)
{
    for (uint64_t seed = 1; seed <= 5; seed++)
        test_budgets(seed);
    test_misuse();
    return harness_report("apstream");
}
