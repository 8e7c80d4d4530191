/* apstream — average precision of many units over more samples than memory
 * holds (method-spec §6.6; iou-label's AP).
 *
 * Stage: evaluation. In memory only: the caller streams its files and
 * appends each unit's samples (a continuous score and a positive flag per
 * pixel).
 *
 * Memory budget: a sample costs APSTREAM_SAMPLE_BYTES (a double score and a
 * byte flag). Units are packed in id order into blocks whose samples fit the
 * budget together (at least one unit per block, so a unit larger than the
 * budget is a block of its own); the caller makes one pass over its data per
 * block. A unit's samples never split across blocks, so every budget gives
 * the same AP as metrics_average_precision on all of the unit's samples at
 * once, in the order they were appended.
 *
 *   apstream_init(&s, n_samples, n_unit, budget);
 *   while ((rc = apstream_next(&s, &lo, &hi)) == 1) {
 *       ... one pass: apstream_slot(&s, u, n, &score, &positive) for u in [lo, hi),
 *           fill score[0..n) and positive[0..n) ...
 *       apstream_finish(&s, ap);        // ap[lo..hi)
 *   }
 *   apstream_free(&s);
 */
#ifndef EDDP_APSTREAM_H
#define EDDP_APSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define APSTREAM_SAMPLE_BYTES (sizeof(double) + sizeof(uint8_t))

typedef struct {
    size_t n_unit, budget;
    size_t *n_samples;     /* [n_unit] samples each unit receives */
    size_t lo, hi;         /* the current block: units [lo, hi) */
    size_t *fill;          /* [hi − lo] samples appended so far */
    double **score;        /* [hi − lo] each [n_samples] */
    uint8_t **positive;    /* [hi − lo] each [n_samples] */
} apstream;

/* n_samples [n_unit] (copied): how many samples each unit will receive;
 * budget in bytes (≥ 1). Returns 0 ok, −1 allocation, −2 budget 0. */
int apstream_init(apstream *s, const size_t *n_samples, size_t n_unit, size_t budget);
/* Begins the next block, units [*lo, *hi), allocating its samples (the
 * previous block must be finished). Returns 1 with a block, 0 when every
 * unit is done, −1 allocation. */
int apstream_next(apstream *s, size_t *lo, size_t *hi);
/* The next n samples of unit u in the current block: *score and *positive
 * point at room for n values each. Returns 0 ok, −2 u outside the block or
 * more samples than n_samples[u]. */
int apstream_slot(apstream *s, size_t u, size_t n, double **score, uint8_t **positive);
/* Ranks the block's samples: ap[u] for u in [lo, hi) (ap indexed by unit
 * id, [n_unit]), units in parallel; frees the block. Returns 0 ok, −1
 * allocation, −2 a NaN score or a unit given fewer samples than announced. */
int apstream_finish(apstream *s, double *ap);
void apstream_free(apstream *s);

#endif
