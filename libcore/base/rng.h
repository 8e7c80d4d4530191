/* rng — the toolkit's one seeded random generator.
 *
 * xoshiro256** (Blackman & Vigna), seeded through splitmix64 from
 * (seed, stream): the same seed with different stream numbers gives
 * independent sequences (train and test sets, initialisation, batch order),
 * so adding draws to one stream never shifts another.
 *
 * Stage: base. In memory only, no files. */
#ifndef EDDP_RNG_H
#define EDDP_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng_state;

/* Named streams, so no two users of one seed share a sequence. */
enum {
    RNG_STREAM_TRAIN = 1,
    RNG_STREAM_TEST = 2,
    RNG_STREAM_TRUTH = 3,  /* random S, D */
    RNG_STREAM_INIT = 4,   /* parameter initialisation */
    RNG_STREAM_BATCH = 5,  /* batch order */
    RNG_STREAM_KAPPA = 6,  /* URA step magnitudes */
    RNG_STREAM_EVAL = 7,   /* the fixed batch order of full-data evaluations */
};

void rng_init(rng_state *rng, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_state *rng);
double rng_uniform(rng_state *rng);                   /* [0, 1), 53 bits */
double rng_uniform_range(rng_state *rng, double lo, double hi);
double rng_normal(rng_state *rng);                    /* N(0, 1) */
size_t rng_below(rng_state *rng, size_t n);           /* uniform in [0, n) */
void rng_permutation(rng_state *rng, size_t *perm, size_t n);

#endif
