/* test_half — binary16 conversions: every half round-trips, float → half
 * rounds to nearest with ties to even at every tie point, and the edges
 * (overflow to Inf at 65520, subnormals, zero, NaN) come out as IEEE says. */
#include "half.h"
#include "harness.h"
#include "rng.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static int is_nan_half(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu); }

/* Every non-NaN half goes to float and back unchanged (±0 and ±Inf too). */
static void test_round_trip(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; h++)
        if (!is_nan_half((uint16_t)h) && half_from_float(half_to_float((uint16_t)h)) != h)
            bad++;
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    int nan_bad = 0;
    for (uint32_t h = 0; h < 0x10000u; h++)
        if (is_nan_half((uint16_t)h) && !is_nan_half(half_from_float(half_to_float((uint16_t)h))))
            nan_bad++;
    CHECK(nan_bad == 0, "%d NaN halves do not stay NaN", nan_bad);
}

/* The midpoint between neighbouring halves h, h+1 (exact in float: 12
 * significant bits) goes to the even one; one float ulp either side goes to
 * the nearer one. Over every pair of finite positive halves, and negated. */
static void test_ties(void)
{
    int bad_tie = 0, bad_below = 0, bad_above = 0;
    for (uint32_t h = 0; h < 0x7bffu; h++) {
        for (int sign = 0; sign < 2; sign++) {
            uint16_t lo = (uint16_t)(h | (sign ? 0x8000u : 0)), hi = (uint16_t)(lo + 1);
            float a = half_to_float(lo), b = half_to_float(hi), mid = (a + b) / 2;
            uint16_t even = (h & 1u) ? hi : lo;
            bad_tie += half_from_float(mid) != even;
            bad_below += half_from_float(nextafterf(mid, a)) != lo;
            bad_above += half_from_float(nextafterf(mid, b)) != hi;
        }
    }
    CHECK(bad_tie == 0, "%d ties not rounded to even", bad_tie);
    CHECK(bad_below == 0, "%d values just below a midpoint not rounded down", bad_below);
    CHECK(bad_above == 0, "%d values just above a midpoint not rounded up", bad_above);
}

/* Random floats over the whole half range: the result is a nearest half. */
static void test_nearest(void)
{
    rng_state rng;
    rng_init(&rng, 11, 0);
    int bad = 0;
    for (int k = 0; k < 200000; k++) {
        double x = ldexp(rng_uniform(&rng) * 2 - 1, (int)(rng_uniform(&rng) * 44) - 27);
        float f = (float)x;
        uint16_t h = half_from_float(f);
        double err = fabs((double)half_to_float(h) - f);
        uint16_t mag = h & 0x7fffu;
        /* neighbours of the same sign (or across zero for the smallest) */
        double err_up = mag < 0x7bffu ? fabs((double)half_to_float((uint16_t)(h + 1)) - f) : INFINITY;
        double err_down = mag > 0 ? fabs((double)half_to_float((uint16_t)(h - 1)) - f) : fabs((double)f);
        if (fabsf(f) < 65504.0f && (err > err_up || err > err_down))
            bad++;
    }
    CHECK(bad == 0, "%d random floats not rounded to a nearest half", bad);
}

static void test_edges(void)
{
    CHECK(half_from_float(65504.0f) == 0x7bffu, "65504 is the largest half");
    CHECK(half_from_float(nextafterf(65520.0f, 0)) == 0x7bffu, "just below 65520 rounds to 65504");
    CHECK(half_from_float(65520.0f) == 0x7c00u, "65520 (a tie, odd below) overflows to Inf");
    CHECK(half_from_float(-1e10f) == 0xfc00u, "-1e10 overflows to -Inf");
    CHECK(half_from_float(INFINITY) == 0x7c00u && half_from_float(-INFINITY) == 0xfc00u, "±Inf");
    CHECK(is_nan_half(half_from_float(NAN)), "NaN stays NaN");
    CHECK(half_from_float(0.0f) == 0 && half_from_float(-0.0f) == 0x8000u, "signed zeros");
    CHECK(half_from_float(ldexpf(1, -25)) == 0, "2^-25 is a tie between 0 and 2^-24: even 0");
    CHECK(half_from_float(nextafterf(ldexpf(1, -25), 1)) == 1, "just above 2^-25 rounds to 2^-24");
    CHECK(half_from_float(ldexpf(1, -24)) == 1, "2^-24, the smallest subnormal");
    CHECK(half_from_float(ldexpf(3, -25)) == 2, "1.5 · 2^-24 ties to even 2");
    CHECK(half_from_float(ldexpf(5, -25)) == 2, "2.5 · 2^-24 ties to even 2");
    CHECK(half_from_float(ldexpf(1, -14)) == 0x0400u, "2^-14, the smallest normal");
    CHECK(half_from_float(nextafterf(ldexpf(1, -14), 0)) == 0x0400u, "just below 2^-14 rounds up to it");
    CHECK(half_from_float(1.0f) == 0x3c00u && half_from_float(-2.0f) == 0xc000u, "1 and -2");
    CHECK(half_from_float(1.0f + ldexpf(1, -11)) == 0x3c00u, "1 + 2^-11 ties to even 1");
    CHECK(half_from_float(1.0f + ldexpf(3, -11)) == 0x3c02u, "1 + 3·2^-11 ties to even 1 + 2^-9");
    CHECK(half_to_float(0x7bffu) == 65504.0f && half_to_float(0x0001u) == ldexpf(1, -24), "decoding");
}

static void test_arrays(void)
{
    enum { N = 70000 }; /* above the OpenMP threshold */
    static float values[N], back[N];
    static uint16_t halves[N];
    rng_state rng;
    rng_init(&rng, 5, 0);
    for (int k = 0; k < N; k++)
        values[k] = (float)(rng_normal(&rng) * 100);
    half_from_floats(values, N, halves);
    half_to_floats(halves, N, back);
    int bad = 0;
    for (int k = 0; k < N; k++)
        bad += halves[k] != half_from_float(values[k]) || back[k] != half_to_float(halves[k]);
    CHECK(bad == 0, "%d array elements differ from the scalar conversion", bad);
}

int main(void)
{
    test_round_trip();
    test_ties();
    test_nearest();
    test_edges();
    test_arrays();
    return harness_report("half");
}
