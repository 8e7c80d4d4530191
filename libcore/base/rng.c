/* rng — xoshiro256** seeded by splitmix64; see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_init(rng_state *rng, uint64_t seed, uint64_t stream)
{
    /* Mix the stream in with a different odd constant so that (seed, stream)
     * pairs never alias for small values. */
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int k = 0; k < 4; k++)
        rng->s[k] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(rng_state *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng_state *rng)
{
    return (double)(rng_next(rng) >> 11) * 0x1.0p-53;
}

double rng_uniform_range(rng_state *rng, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(rng);
}

/* Box–Muller without caching the second value: one state, no hidden
 * carry-over between calls, so a stream's draws depend only on their count. */
double rng_normal(rng_state *rng)
{
    double u1 = 1.0 - rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

size_t rng_below(rng_state *rng, size_t n)
{
    /* Lemire's multiply-shift is biased by < n/2^64: irrelevant here. */
    return (size_t)(((unsigned __int128)rng_next(rng) * n) >> 64);
}

void rng_permutation(rng_state *rng, size_t *perm, size_t n)
{
    for (size_t k = 0; k < n; k++)
        perm[k] = k;
    for (size_t k = n; k > 1; k--) {
        size_t j = rng_below(rng, k);
        size_t tmp = perm[k - 1];
        perm[k - 1] = perm[j];
        perm[j] = tmp;
    }
}
