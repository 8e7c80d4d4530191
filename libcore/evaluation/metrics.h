/* metrics — evaluation of concept detectors (method-spec §6.1–6.3, §6.6):
 * NetDissect-style IoU counts with category-aware union, label assignment,
 * the interpretability scores S¹/S², Hungarian matching, precision / recall /
 * F1 / IoU, average precision, Linear-OR combination, RMSE and summaries.
 *
 * Conventions:
 * - Logits A are [n_pix × n_det] (pixel-major, as everywhere in libcore); a
 *   batch of images is n_img consecutive blocks of h·w pixels in row-major
 *   (row, column) order. A detector fires where its logit is > 0.
 * - Concept ids are the values of Broden-style label maps: 0 means "no
 *   label" and is never counted, so concepts are 1..n_con−1 and the arrays
 *   indexed by concept have n_con entries, entry 0 unused.
 * - Every concept belongs to one category (object, part, scene, …); a
 *   detector's pixels count against concept c only in images annotated for
 *   c's category (NetDissect-Lite's category-aware union).
 * - Counting is over "units": a unit is a detector, or a group of detectors
 *   combined by Linear-OR (the unit fires where any member fires; its
 *   continuous score is the max of its members' logits). Individual
 *   detectors use metrics_units_identity.
 * - All counts are integers, so every result is exact and independent of the
 *   thread count and of how images are split into batches.
 *
 * Stage: evaluation. In memory only: iou-label streams its files
 * through it (apstream.h for AP). */
#ifndef EDDP_METRICS_H
#define EDDP_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* ---- bilinear upsampling ------------------------------------------------ */

/* PyTorch F.interpolate(mode='bilinear', align_corners=False) semantics
 * (half-pixel centres, source coordinate clamped at 0, edge pixels
 * repeated): out[r, c] for r < hm, c < wm from in[(y·w + x)·stride],
 * y < h, x < w. stride lets a detector's map be read straight out of a
 * logit array [h·w × n_det] (in = A + i, stride = n_det). hm = h, wm = w
 * reproduces the input exactly. */
void metrics_upsample_bilinear(const double *in, size_t h, size_t w,
                               size_t stride, size_t hm, size_t wm,
                               double *out);

/* ---- units: detectors or Linear-OR groups of detectors ------------------ */

typedef struct {
    size_t n_det, n_unit;
    size_t *start;   /* [n_unit + 1] unit u's members: member[start[u] .. start[u+1]) */
    size_t *member;  /* [n_det] detector ids, ascending within each unit */
} metrics_units;

/* det_unit [n_det]: the unit of each detector in [0, n_unit), or −1 for a
 * detector in no unit. Returns 0 ok, −1 allocation, −2 id out of range. */
int metrics_units_init(metrics_units *u, const int *det_unit, size_t n_det,
                       size_t n_unit);
/* One unit per detector (unit i = detector i). */
int metrics_units_identity(metrics_units *u, size_t n_det);
/* Linear-OR (§6.6): one unit per distinct label > 0 in label [n_det]
 * (detectors labelled ≤ 0, i.e. "none", join no unit), units in ascending
 * label order; unit_label [n_det] receives each unit's label in its first
 * n_unit entries. */
int metrics_units_by_label(metrics_units *u, const int *label, size_t n_det,
                           int *unit_label);
void metrics_units_free(metrics_units *u);

/* Continuous unit scores of a pixel set: out [n_pix × n_unit] = max over
 * members of A [n_pix × n_det]; −INFINITY for a unit without members.
 * The unit fires (Linear-OR) iff its score is > 0. */
void metrics_units_max(const metrics_units *u, const double *A, size_t n_pix,
                       double *out);
/* The same for one image at annotation resolution: each member's logit map
 * (A_img [h·w × n_det]) is upsampled to hm × wm first, then the max is
 * taken, so the unit fires where any member's upsampled logit is > 0.
 * out [hm·wm × n_unit]. */
void metrics_unit_scores(const metrics_units *u, const double *A_img,
                         size_t h, size_t w, size_t hm, size_t wm,
                         double *out);

/* ---- IoU counts (NetDissect style, §6.1) -------------------------------- */

/* Annotations of a batch of n_img images. Pixel labels come as label-map
 * layers at annotation resolution hm × wm (= the feature map's h × w for
 * maps at feature resolution; otherwise the logit maps are upsampled with
 * metrics_upsample_bilinear and thresholded at 0); one layer per category
 * is the usual case, more layers of one category (Broden parts) may carry
 * several labels per pixel. A pixel belongs to L_c when any present layer
 * holds c there (counted once). An image is annotated for category k when a
 * present layer has category k or it carries an image-level label of
 * category k. Image-level labels make the whole image (hm·wm pixels) L_c. */
typedef struct {
    size_t hm, wm;              /* annotation resolution */
    size_t n_map;               /* label-map layers per image (may be 0) */
    const int *map_cat;         /* [n_map] category of each layer */
    const int32_t *maps;        /* [n_img × n_map × hm × wm] concept ids, 0 = none */
    const uint8_t *map_present; /* [n_img × n_map] layer annotated in image; NULL = all */
    const uint8_t *img_labels;  /* [n_img × n_con] image-level multi-hot; NULL = none */
} metrics_annotations;

/* Counts over one split (keep one per split: train, val). */
typedef struct {
    size_t n_unit, n_con, n_cat;
    const metrics_units *units; /* borrowed; must outlive the counts */
    int *con_cat;               /* [n_con] category of each concept */
    uint64_t *inter;            /* [n_unit × n_con] Σ_x |M_u(x) ∩ L_c(x)| */
    uint64_t *unit_in_cat;      /* [n_unit × n_cat] Σ_{x annotated for k} |M_u(x)| */
    uint64_t *label;            /* [n_con] Σ_x |L_c(x)| */
} metrics_iou_counts;

/* con_cat [n_con]: category of each concept, in [0, n_cat) (entry 0, the
 * "none" concept, is ignored). Returns 0 ok, −1 allocation, −2 bad
 * category id. */
int metrics_iou_init(metrics_iou_counts *c, const metrics_units *units,
                     size_t n_con, size_t n_cat, const int *con_cat);
void metrics_iou_free(metrics_iou_counts *c);
void metrics_iou_reset(metrics_iou_counts *c);

/* Adds a batch: A [n_img·h·w × n_det] logits at feature resolution h × w.
 * Returns 0 ok, −1 allocation, −2 invalid annotation (concept id outside
 * [0, n_con), layer category outside [0, n_cat)); nothing is counted
 * unless it returns 0. */
int metrics_iou_add(metrics_iou_counts *c, const double *A, size_t n_img,
                    size_t h, size_t w, const metrics_annotations *ann);

/* iou [n_unit × n_con]: inter / (unit_in_cat + label − inter), 0 when the
 * denominator is 0. */
void metrics_iou_compute(const metrics_iou_counts *c, double *iou);

/* Pixel confusion counts of each unit against its own label unit_label[u]
 * (≤ 0: none, all counts 0), category-aware: TP = inter, FP = unit_in_cat −
 * inter, FN = label − inter. tp, fp, fn [n_unit]. */
void metrics_iou_confusion(const metrics_iou_counts *c, const int *unit_label,
                           uint64_t *tp, uint64_t *fp, uint64_t *fn);

/* ---- labels and interpretability scores (§6.2) ------------------------- */

/* best [n_unit] = argmax_c iou[u, c] (iou [n_unit × n_con] from one split);
 * ties go to the lowest id, so a unit overlapping nothing gets 0 ("none"). */
void metrics_best_label(const double *iou, size_t n_unit, size_t n_con,
                        int *best);
/* phi [n_unit] = iou[u, best[u]] (iou typically from another split). */
void metrics_label_iou(const double *iou, size_t n_unit, size_t n_con,
                       const int *best, double *phi);
/* S¹ = Σ_u φ_u (Eq. 8, closed form). */
double metrics_s1(const double *phi, size_t n_unit);
/* S² = Σ over distinct labels c of max_{u : best[u] = c} φ_u (Eq. 9). */
double metrics_s2(const double *phi, const int *best, size_t n_unit);
/* Grid forms of Eq. 8/9 (for cross-checking the closed forms):
 * (1/G) Σ_{g=1..G} #{u : φ_u ≥ g/G} and (1/G) Σ_g |{best[u] : φ_u ≥ g/G}|. */
double metrics_s1_grid(const double *phi, size_t n_unit, size_t G);
double metrics_s2_grid(const double *phi, const int *best, size_t n_unit,
                       size_t G);

/* ---- matching ----------------------------------------------------------- */

/* Maximum-total assignment on score [n_row × n_col] (rectangular allowed):
 * row_to_col [n_row] gets each row's column, −1 for rows left unassigned
 * (only when n_row > n_col). Returns 0 ok, −1 allocation, −2 non-finite
 * score. */
int metrics_hungarian_max(const double *score, size_t n_row, size_t n_col,
                          int *row_to_col);

/* ---- binary classification metrics (§6.6) ------------------------------ */

/* Per classifier from counts (each array [n]): precision = TP/(TP+FP),
 * recall = TP/(TP+FN), F1 = 2PR/(P+R), IoU = TP/(TP+FP+FN); 0 wherever the
 * denominator is 0 (sklearn's zero_division=0). */
void metrics_prf(const uint64_t *tp, const uint64_t *fp, const uint64_t *fn,
                 size_t n, double *precision, double *recall, double *f1,
                 double *iou);

/* sklearn average_precision_score: sort scores descending, one PR point per
 * distinct score (tied scores enter together), AP = Σ_k (R_k − R_{k−1}) P_k
 * with R_0 = 0. label [n]: nonzero = positive. AP = 0 when there are no
 * positives (sklearn's value, with its warning). Returns 0 ok, −1
 * allocation, −2 a NaN score. */
int metrics_average_precision(const double *score, const uint8_t *label,
                              size_t n, double *ap);

/* ---- the P/R/F1 table of a set of units (§6.6, Table 3) ----------------- */

/* One row per unit (each array [n]): precision, recall, F1, IoU from the
 * category-aware confusion counts against the unit's label, AP (filled by
 * the caller, e.g. from apstream), and the counts TP, FP, FN as doubles. */
typedef struct {
    size_t n;
    double *precision, *recall, *f1, *iou, *ap;
    double *tp, *fp, *fn;
} metrics_prf_table;

/* The means of a table's columns and the set's S¹, S² (NAN for n = 0). */
typedef struct {
    double s1, s2, precision, recall, f1, iou, ap;
} metrics_prf_summary;

/* Zeroed columns of n rows. Returns 0 ok, −1 allocation (nothing to free). */
int metrics_prf_table_init(metrics_prf_table *t, size_t n);
/* Precision, recall, F1, IoU, TP, FP, FN of unit u against unit_label[u]
 * from counts (metrics_iou_confusion, then metrics_prf); AP untouched.
 * Returns 0 ok, −1 allocation. */
int metrics_prf_table_fill(metrics_prf_table *t, const metrics_iou_counts *counts,
                           const int *unit_label);
metrics_prf_summary metrics_prf_table_summary(const metrics_prf_table *t, double s1, double s2);
void metrics_prf_table_free(metrics_prf_table *t);

/* ---- summaries ---------------------------------------------------------- */

double metrics_rmse(const double *a, const double *b, size_t n);   /* NAN for n = 0 */
double metrics_mean(const double *x, size_t n);        /* NAN for n = 0 */
double metrics_std_sample(const double *x, size_t n);  /* 1/(n−1); NAN for n < 2 */

#endif
