/* split — see split.h. */
#include "split.h"
#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>

/* The split's own random streams, one per class, apart from every other
 * user of the seed. */
#define SPLIT_STREAM_BASE (((uint64_t)RNG_STREAM_TRAIN << 40) | ((uint64_t)0x5311u << 20))

size_t split_round(double fraction, size_t n)
{
    return (size_t)floor(fraction * (double)n + 0.5);
}

/* Indices of class c in index order; returns their number. */
static size_t members_of(const int32_t *labels, size_t n, int c, size_t *members)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] == c)
            members[m++] = i;
    return m;
}

int split_stratified(const int32_t *labels, size_t n, int n_cls, uint64_t seed, const split_spec *spec,
                     uint8_t *role, size_t *counts)
{
    size_t *members = malloc((n ? n : 1) * sizeof *members), *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!members || !perm) {
        free(members); free(perm);
        return error_set(EX_OSERR, "out of memory for the split of %zu images", n);
    }
    for (size_t i = 0; i < n; i++)
        role[i] = SPLIT_NONE;
    int rc = 0;
    for (int c = 0; c < n_cls && !rc; c++) {
        size_t m = members_of(labels, n, c, members);
        if (m == 0) {   /* a class not drawn from (not selected) */
            if (counts)
                counts[2 * c] = counts[2 * c + 1] = 0;
            continue;
        }
        size_t n_train = spec->train_count >= 0 ? (size_t)spec->train_count : split_round(spec->train_fraction, m);
        size_t n_test = spec->test_count >= 0 ? (size_t)spec->test_count : m - (n_train < m ? n_train : m);
        if (n_train + n_test > m) {
            rc = error_set(EX_DATAERR, "class %d has %zu images, fewer than the %zu train + %zu test asked for", c,
                           m, n_train, n_test);
            break;
        }
        rng_state rng;
        rng_init(&rng, seed, SPLIT_STREAM_BASE + (uint64_t)c);
        rng_permutation(&rng, perm, m);
        for (size_t j = 0; j < n_train + n_test; j++)
            role[members[perm[j]]] = j < n_train ? SPLIT_TRAIN : SPLIT_TEST;
        if (counts) {
            counts[2 * c] = n_train;
            counts[2 * c + 1] = n_test;
        }
    }
    free(members);
    free(perm);
    return rc;
}

int split_pick(const size_t *members, size_t n, size_t k, uint64_t seed, uint64_t stream, uint8_t *chosen)
{
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm)
        return error_set(EX_OSERR, "out of memory choosing %zu of %zu images", k, n);
    rng_state rng;
    rng_init(&rng, seed, stream);
    rng_permutation(&rng, perm, n);
    for (size_t j = 0; j < k && j < n; j++)
        chosen[members[perm[j]]] = 1;
    free(perm);
    return 0;
}
