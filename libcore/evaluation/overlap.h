/* overlap — how a set of detectors shares the pixels: the IoU between the
 * firing sets {p : w_iᵀx_p − b_i > 0} of every pair of detectors, and the
 * share of pixels each one fires on (its coverage).
 *
 * Step (a) hands its detectors to step (d); a concept it leaves split over
 * two detectors shows as two detectors that fire together (overlap), a
 * concept it leaves unclaimed as a detector whose coverage is far from any
 * concept's share. uibe writes both into /history (eddp-files(5)).
 * Counts are integers (the logits by DGEMM, the pair counts by SSYRK over
 * 0/1 firing matrices), so results do not depend on the thread count. */
#ifndef EDDP_OVERLAP_H
#define EDDP_OVERLAP_H

#include <stddef.h>
#include <stdint.h>

/* features [n_img × n_dim × hw] (NCHW, as in an eddp-features file), raw
 * filters W [n_det × n_dim] and biases b [n_det] (a = W x − b).
 * iou [n_det × n_det]: |F_i ∩ F_j| / |F_i ∪ F_j| (1 on the diagonal of a
 * detector that fires somewhere, 0 for pairs that never fire);
 * coverage [n_det]: |F_i| / n_pix. Returns 0, or −1 for n_img·hw = 0,
 * n_det = 0 or an allocation failure. */
int overlap_firing(const float *features, size_t n_img, int n_dim, int hw, const double *W, const double *b,
                   int n_det, double *iou, double *coverage);

/* The same counts accumulated over the set a part at a time (a set streamed
 * from its file): init, count each part, result, free. The result is the
 * same as overlap_firing's over the whole set. */
typedef struct {
    int n_det;
    uint64_t *fire;  /* [n_det] pixels each detector fires on */
    uint64_t *both;  /* [n_det × n_det] upper triangle: pixels both fire on */
    size_t n_pix;
} overlap_counts;
int overlap_counts_init(overlap_counts *counts, int n_det);
int overlap_count(overlap_counts *counts, const float *features, size_t n_img, int n_dim, int hw, const double *W,
                  const double *b);
int overlap_result(const overlap_counts *counts, double *iou, double *coverage);
void overlap_counts_free(overlap_counts *counts);

/* The pair (i < j) of largest IoU; its IoU, or 0 with *i = *j = −1 when no
 * two detectors share a pixel. */
double overlap_worst_pair(const double *iou, int n_det, int *i, int *j);

#endif
