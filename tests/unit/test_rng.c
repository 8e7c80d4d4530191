#include "harness.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    rng_state a, b, c;
    rng_init(&a, 42, RNG_STREAM_TRAIN);
    rng_init(&b, 42, RNG_STREAM_TRAIN);
    rng_init(&c, 42, RNG_STREAM_TEST);
    int same = 1, differ = 0;
    for (int k = 0; k < 1000; k++) {
        uint64_t x = rng_next(&a), y = rng_next(&b), z = rng_next(&c);
        same &= (x == y);
        differ += (x != z);
    }
    CHECK(same, "same seed and stream give the same sequence");
    CHECK(differ == 1000, "different streams differ (%d of 1000)", differ);

    rng_init(&a, 7, 1);
    double sum = 0, sumsq = 0, nsum = 0, nsumsq = 0, lo = 1, hi = 0;
    const int n = 200000;
    for (int k = 0; k < n; k++) {
        double u = rng_uniform(&a);
        double g = rng_normal(&a);
        sum += u; sumsq += u * u;
        nsum += g; nsumsq += g * g;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    CHECK(lo >= 0 && hi < 1, "uniform in [0,1): [%g, %g]", lo, hi);
    CHECK_CLOSE(sum / n, 0.5, 0.01, "uniform mean");
    CHECK_CLOSE(sumsq / n - (sum / n) * (sum / n), 1.0 / 12, 0.005, "uniform variance");
    CHECK_CLOSE(nsum / n, 0.0, 0.01, "normal mean");
    CHECK_CLOSE(nsumsq / n, 1.0, 0.02, "normal variance");

    size_t perm[100];
    int seen[100] = {0};
    rng_permutation(&a, perm, 100);
    int ok = 1;
    for (int k = 0; k < 100; k++) {
        if (perm[k] >= 100 || seen[perm[k]]++) ok = 0;
    }
    CHECK(ok, "permutation holds each index once");
    return harness_report("rng");
}
