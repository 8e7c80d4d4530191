/* test_split — the stratified split (split.h): per-class counts from a
 * fraction and from counts, train and test disjoint, the same seed gives the
 * same split, another seed another, labels outside the classes not drawn,
 * a class too small refused; split_pick draws k of the members. */
#include "error.h"
#include "harness.h"
#include "split.h"

#include <stdlib.h>
#include <string.h>

#define N 300

int main(void)
{
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = i % 7 == 0 ? -1 : (i * 13) % 3;   /* -1: not selected */
    size_t per_class[3] = {0};
    for (int i = 0; i < N; i++)
        if (labels[i] >= 0)
            per_class[labels[i]]++;
    uint8_t role[N], again[N], other[N];
    size_t counts[6];
    split_spec frac = {0.7, -1, -1};
    CHECK(split_stratified(labels, N, 3, 5, &frac, role, counts) == 0, "fraction split");
    int ok = 1;
    for (int c = 0; c < 3; c++) {
        size_t tr = 0, te = 0;
        for (int i = 0; i < N; i++)
            if (labels[i] == c) {
                tr += role[i] == SPLIT_TRAIN;
                te += role[i] == SPLIT_TEST;
            }
        ok &= tr == split_round(0.7, per_class[c]) && tr + te == per_class[c] && counts[2 * c] == tr &&
              counts[2 * c + 1] == te;
    }
    CHECK(ok, "each class: round(0.7 n_c) train, the rest test");
    int unselected = 1;
    for (int i = 0; i < N; i++)
        if (labels[i] < 0)
            unselected &= role[i] == SPLIT_NONE;
    CHECK(unselected, "labels outside the classes are not drawn");
    split_stratified(labels, N, 3, 5, &frac, again, NULL);
    CHECK(!memcmp(role, again, N), "same seed, same split");
    split_stratified(labels, N, 3, 6, &frac, other, NULL);
    CHECK(memcmp(role, other, N) != 0, "another seed, another split");

    split_spec cnt = {0, 10, 5};
    CHECK(split_stratified(labels, N, 3, 5, &cnt, role, counts) == 0, "count split");
    ok = 1;
    for (int c = 0; c < 3; c++)
        ok &= counts[2 * c] == 10 && counts[2 * c + 1] == 5;
    size_t ntr = 0, nte = 0;
    for (int i = 0; i < N; i++) {
        ntr += role[i] == SPLIT_TRAIN;
        nte += role[i] == SPLIT_TEST;
    }
    CHECK(ok && ntr == 30 && nte == 15, "10 train and 5 test per class");
    /* the count split's train images are the first 10 of the same
     * permutation: a subset of a larger count split's train images */
    split_spec big = {0, 20, -1};
    split_stratified(labels, N, 3, 5, &big, other, NULL);
    int nested = 1;
    for (int i = 0; i < N; i++)
        if (role[i] == SPLIT_TRAIN)
            nested &= other[i] == SPLIT_TRAIN;
    CHECK(nested, "train counts nest (the same permutation per class)");
    split_spec too_many = {0, 80, 30};
    error_clear();
    CHECK(split_stratified(labels, N, 3, 5, &too_many, role, NULL) == EX_DATAERR &&
              strstr(error_message(), "fewer than the 80 train + 30 test"),
          "a class too small is refused: %s", error_message());
    error_clear();

    size_t members[10] = {3, 5, 7, 9, 11, 13, 15, 17, 19, 21};
    uint8_t chosen[32] = {0}, chosen2[32] = {0};
    CHECK(split_pick(members, 10, 4, 9, 77, chosen) == 0, "pick");
    size_t picked = 0, outside = 0;
    for (int i = 0; i < 32; i++) {
        picked += chosen[i];
        if (chosen[i] && (i % 2 == 0 || i < 3 || i > 21))
            outside++;
    }
    CHECK(picked == 4 && outside == 0, "4 of the members picked");
    split_pick(members, 10, 4, 9, 77, chosen2);
    CHECK(!memcmp(chosen, chosen2, sizeof chosen), "pick reproducible");
    CHECK(split_round(0.5, 5) == 3 && split_round(0.5, 4) == 2 && split_round(0, 9) == 0 &&
              split_round(1, 9) == 9,
          "rounding");
    return harness_report("split");
}
