/* ica: FastICA unmixes independent uniform sources; the refined filter of a
 * concept's positives recovers its signal direction where Eq. 1 with a
 * contrast filter does not. */
#include "harness.h"
#include "ica.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double cosine(const double *a, const double *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int d = 0; d < n; d++) {
        ab += a[d] * b[d];
        aa += a[d] * a[d];
        bb += b[d] * b[d];
    }
    return ab / sqrt(aa * bb);
}

/* Three independent unit-variance uniforms mixed by a rotation: the product
 * of the unmixing and the mixing is a signed permutation. */
static void test_unmixing(void)
{
    enum { N = 20000, K = 3 };
    rng_state rng;
    rng_init(&rng, 5, 1);
    double mix[K][K] = {{0.8, -0.6, 0}, {0.36, 0.48, -0.8}, {0.48, 0.64, 0.6}}; /* orthonormal rows */
    double *Z = malloc(sizeof(double) * N * K), unmix[K * K];
    for (int p = 0; p < N; p++) {
        double s[K];
        for (int c = 0; c < K; c++)
            s[c] = (rng_uniform(&rng) - 0.5) * sqrt(12.0);
        for (int d = 0; d < K; d++) {
            Z[p * K + d] = 0;
            for (int c = 0; c < K; c++)
                Z[p * K + d] += mix[c][d] * s[c];
        }
    }
    ica_config cfg;
    ica_config_default(&cfg);
    int iterations = ica_fit(Z, N, K, &cfg, &rng, unmix);
    CHECK(iterations > 0 && iterations < cfg.max_iter, "FastICA converged (%d iterations)", iterations);
    double worst = 0;
    for (int a = 0; a < K; a++) {
        double best = 0;
        for (int c = 0; c < K; c++) {
            double dot = 0;
            for (int d = 0; d < K; d++)
                dot += unmix[a * K + d] * mix[c][d];
            best = fmax(best, fabs(dot));
        }
        worst = fmax(worst, 1 - best);
    }
    CHECK(worst < 1e-2, "unmixing × mixing is a signed permutation (worst row off by %g)", worst);
    free(Z);
}

/* A unit filter's source mean shift between the positives and the rest, in
 * standard deviations on the positives: the quantity ica_refine maximises
 * over sources and restarts. */
static double source_shift(const double *X, size_t n, int dim, const uint8_t *positive, const double *filter)
{
    double sum[2] = {0, 0}, sum_sq = 0;
    size_t count[2] = {0, 0};
    for (size_t p = 0; p < n; p++) {
        double z = 0;
        for (int d = 0; d < dim; d++)
            z += filter[d] * X[p * dim + d];
        sum[positive[p]] += z;
        count[positive[p]]++;
        if (positive[p])
            sum_sq += z * z;
    }
    double mean_pos = sum[1] / count[1], mean_neg = sum[0] / count[0];
    return (mean_pos - mean_neg) / sqrt(sum_sq / count[1] - mean_pos * mean_pos);
}

/* With restarts, the kept filter is one of the single runs' (the same draws
 * of rng, one run per call), and no single run's source moves more. Two
 * iterations per run, so that the runs stop at different mixtures. */
static void check_restarts(const double *X, size_t n, int dim, const uint8_t *positive, rng_state rng)
{
    enum { RUNS = 4 };
    ica_config cfg;
    ica_config_default(&cfg);
    cfg.restarts = RUNS;
    cfg.max_iter = 2;
    double *kept = malloc(3 * dim * sizeof *kept), *signal = kept + dim, *single = kept + 2 * dim;
    double best_shift = -INFINITY, worst_shift = INFINITY;
    int components, same_as = -1;
    rng_state again = rng;
    CHECK(ica_refine(X, n, dim, positive, &cfg, &rng, kept, signal, &components) == 0, "ica_refine with %d restarts", RUNS);
    cfg.restarts = 1;
    for (int run = 0; run < RUNS; run++) {
        CHECK(ica_refine(X, n, dim, positive, &cfg, &again, single, signal, &components) == 0, "single run %d", run);
        double shift = source_shift(X, n, dim, positive, single);
        best_shift = fmax(best_shift, shift);
        worst_shift = fmin(worst_shift, shift);
        if (same_as < 0 && memcmp(kept, single, dim * sizeof *kept) == 0)
            same_as = run;
    }
    CHECK(best_shift - worst_shift > 1e-3, "the runs differ (shifts %.4f to %.4f sd)", worst_shift, best_shift);
    CHECK(same_as >= 0, "the kept filter is a single run's (run %d)", same_as);
    double kept_shift = source_shift(X, n, dim, positive, kept);
    CHECK(kept_shift >= best_shift - 1e-9, "no single run moves more (%.6f against %.6f sd)", kept_shift, best_shift);
    free(kept);
}

/* The multi-concept model of method-spec §1.2 with random unit directions:
 * the positives of concept 0 (here: its true pixels) give back s_0. */
static void test_refine(void)
{
    enum { N = 30000, D = 12, NC = 3, NF = 2 };
    rng_state rng;
    rng_init(&rng, 9, 2);
    double S[NC][D], Dm[NF][D];
    for (int k = 0; k < NC + NF; k++) {
        double *v = k < NC ? S[k] : Dm[k - NC], norm = 0;
        for (int d = 0; d < D; d++) {
            v[d] = rng_normal(&rng);
            norm += v[d] * v[d];
        }
        for (int d = 0; d < D; d++)
            v[d] /= sqrt(norm);
    }
    double *X = malloc(sizeof(double) * N * D);
    uint8_t *positive = malloc(N);
    for (int p = 0; p < N; p++) {
        int concept = p % NC;
        positive[p] = concept == 0;
        for (int d = 0; d < D; d++)
            X[p * D + d] = 10;
        for (int k = 0; k < NC; k++) {
            double alpha = k == concept ? rng_uniform_range(&rng, 2.5, 5) : rng_uniform_range(&rng, 0, 2.5);
            for (int d = 0; d < D; d++)
                X[p * D + d] += alpha * S[k][d];
        }
        for (int f = 0; f < NF; f++) {
            double beta = rng_uniform_range(&rng, 0, 5);
            for (int d = 0; d < D; d++)
                X[p * D + d] += beta * Dm[f][d];
        }
    }
    ica_config cfg;
    ica_config_default(&cfg);
    double filter[D], signal[D];
    int components;
    CHECK(ica_refine(X, N, D, positive, &cfg, &rng, filter, signal, &components) == 0, "ica_refine succeeds");
    CHECK(components == NC + NF, "whitened dimension = number of sources (%d)", components);
    CHECK(cosine(signal, S[0], D) > 0.995, "refined signal vector ∥ s_0 (cos %.5f)", cosine(signal, S[0], D));
    double ws = 0;
    for (int d = 0; d < D; d++)
        ws += filter[d] * signal[d];
    CHECK_CLOSE(ws, 1.0, 1e-10, "Eq. 1 identity filterᵀ signal = 1");
    double leak = 0, own = 0;
    for (int d = 0; d < D; d++)
        own += filter[d] * S[0][d];
    for (int k = 1; k < NC; k++) {
        double r = 0;
        for (int d = 0; d < D; d++)
            r += filter[d] * S[k][d];
        leak = fmax(leak, fabs(r / own));
    }
    for (int f = 0; f < NF; f++) {
        double r = 0;
        for (int d = 0; d < D; d++)
            r += filter[d] * Dm[f][d];
        leak = fmax(leak, fabs(r / own));
    }
    CHECK(leak < 0.05, "refined filter extracts α_0 alone (leakage %.4f)", leak);
    check_restarts(X, N, D, positive, rng);
    /* Too few positives: a clear refusal. */
    memset(positive, 0, N);
    positive[0] = positive[1] = 1;
    CHECK(ica_refine(X, N, D, positive, &cfg, &rng, filter, signal, &components) != 0, "too few positives refused");
    free(X);
    free(positive);
}

int main(void)
{
    test_unmixing();
    test_refine();
    return harness_report("ica");
}
