/* split — a reproducible stratified train/test split of a labelled set, and
 * a reproducible choice of k members of a subset (the images to poison).
 *
 * Each class's images (in index order) are permuted by a generator seeded
 * from (seed, class); the first n_train of the permutation are train, the
 * next n_test test. The split depends on the seed, the labels and the
 * settings only, so two runs with the same seed (one writing the train set,
 * one the test set) draw disjoint sets.
 *
 * Stage: data. In memory only, no files. */
#ifndef EDDP_SPLIT_H
#define EDDP_SPLIT_H

#include <stddef.h>
#include <stdint.h>

enum { SPLIT_NONE = 0, SPLIT_TRAIN = 1, SPLIT_TEST = 2 };

typedef struct {
    double train_fraction;  /* used when train_count < 0: round(F·n_c) train, the rest test */
    long train_count;       /* per class, < 0 = use the fraction */
    long test_count;        /* per class, < 0 = the rest of the class */
} split_spec;

/* role[i] ∈ {SPLIT_NONE, SPLIT_TRAIN, SPLIT_TEST} for labels[i] in
 * [0, n_cls) (labels < 0 are not drawn: SPLIT_NONE; classes without images
 * are skipped). EX_DATAERR naming the class when a class has fewer images
 * than train_count + test_count.
 * counts (may be NULL): [n_cls × 2] train and test images per class. */
int split_stratified(const int32_t *labels, size_t n, int n_cls, uint64_t seed, const split_spec *spec,
                     uint8_t *role, size_t *counts);
/* Marks chosen[members[j]] = 1 for k of the n members, drawn by a seeded
 * permutation of the members (stream: stream). k <= n. Returns 0 or
 * EX_OSERR. */
int split_pick(const size_t *members, size_t n, size_t k, uint64_t seed, uint64_t stream, uint8_t *chosen);
/* round(fraction · n), halves away from zero. */
size_t split_round(double fraction, size_t n);

#endif
