/* evalsrc — a features file as iou-label evaluates it (method-spec §6.1,
 * §6.6): its concept annotations scanned and grouped by resolution, the
 * train/validation role of each image, batches of its images with the
 * detectors' logits and the annotations as concept ids (concepts_vocab),
 * and the per-pixel samples that AP ranks, handed to apstream.
 *
 * A pass over a file is: evalsrc_batch_alloc, then per batch of images
 * evalsrc_batch_read, evalsrc_batch_select (one role; logits A = X Wᵀ − b in
 * double) and evalsrc_batch_count (IoU counts) or evalsrc_ap_collect_image
 * (AP samples of the units of the current apstream block).
 *
 * Stage: evaluation. Reads eddp-features files (features.h, concepts.h);
 * writes nothing. */
#ifndef EDDP_EVALSRC_H
#define EDDP_EVALSRC_H

#include "apstream.h"
#include "concepts.h"
#include "dirfile.h"
#include "features.h"
#include "h5io.h"
#include "metrics.h"

#include <stddef.h>
#include <stdint.h>

enum { EVALSRC_TRAIN = 0, EVALSRC_VAL = 1 };

/* One features file with its annotations and the split role of its images. */
typedef struct {
    h5in in;
    int opened;
    features_file ff;
    concept_category *cats;
    int n_cat;
    concepts_grouping grouping;  /* its annotation layers by resolution */
    uint8_t *role;               /* [N] EVALSRC_TRAIN or EVALSRC_VAL */
    size_t n_role[2];
} evalsrc;

/* One batch of a source's images and what is built from its selected rows. */
typedef struct {
    size_t cap, hw;
    float *features;     /* [cap × C × hw] */
    int32_t **rows;      /* per category [cap × width] */
    size_t *sel;         /* [cap] batch rows of the selected images */
    size_t n_sel;
    double *X;           /* [cap·hw × D] */
    double *A;           /* [cap·hw × I] */
    int32_t *maps;       /* [cap × layers·hm·wm of the largest group] */
    uint8_t *present;    /* [cap × n_cat] */
    uint8_t *img_labels; /* [cap × n_con] */
} evalsrc_batch;

/* A set of units (the detectors, or their Linear-OR groups) with labels. */
typedef struct {
    const metrics_units *units;
    const int *label;  /* [n_unit] concept id, 0 = none */
    size_t first;      /* the apstream id of unit 0 */
} evalsrc_unit_set;

/* The units [lo, hi) of one set in the current AP block. */
typedef struct {
    const evalsrc_unit_set *set;
    size_t lo, hi;
    metrics_units sub;     /* the members of units lo..hi−1 as units 0.. */
    double *maps;          /* [largest hm·wm × (hi − lo)] one image's unit score maps */
} evalsrc_ap_part;

/* ---- the file ------------------------------------------------------------ */

/* Opens path (format eddp-features) and lists its concept categories. On
 * failure the error is set; evalsrc_free frees what was opened. */
int evalsrc_open(evalsrc *src, const char *path);
/* Scans every category's values (concepts_scan) and groups the categories
 * by resolution. */
int evalsrc_scan(evalsrc *src);
/* Roles of the file's images: all_role ≥ 0 gives every image that role;
 * all_role < 0 draws round(val_fraction·N) of them (at least 1, at most
 * N − 1) as validation by a permutation from (seed, stream). EX_DATAERR
 * for a file of one image, EX_OSERR. */
int evalsrc_roles(evalsrc *src, double val_fraction, uint64_t seed, uint64_t stream, int all_role);
void evalsrc_free(evalsrc *src);

/* ---- batches of images ----------------------------------------------------- */

/* As many images per batch as about 64 MiB holds (at least 1). */
int evalsrc_batch_alloc(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v, int n_det);
void evalsrc_batch_free(evalsrc_batch *b, int n_cat);
/* Reads images [img0, img0 + n), n ≤ cap: features and annotations. */
int evalsrc_batch_read(evalsrc_batch *b, const evalsrc *src, size_t img0, size_t n);
/* Selects the batch's images of one role and computes their logits. */
void evalsrc_batch_select(evalsrc_batch *b, const evalsrc *src, size_t img0, size_t n, int role,
                          const directions *dirs);
/* Adds the selected images to counts (metrics_iou_add), one call per
 * resolution group. */
int evalsrc_batch_count(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v, size_t img0,
                        metrics_iou_counts *counts);

/* ---- AP samples ---------------------------------------------------------------- */

/* Validation pixels AP ranks for a unit labelled with concept c: every
 * annotation pixel of the validation images annotated for c's category
 * (0 for c ≤ 0). */
size_t evalsrc_unit_samples(const evalsrc *src, const concepts_vocab *v, int c);
/* The units [lo, hi) of set in a block (their members as units 0..). */
int evalsrc_ap_part_init(evalsrc_ap_part *part, const evalsrc_unit_set *set, size_t lo, size_t hi,
                         const evalsrc *src);
void evalsrc_ap_part_free(evalsrc_ap_part *part);
/* Appends selected image s's pixels to the AP samples of the part's units
 * (apstream_slot of id set->first + unit): each unit's score map at the
 * annotation resolution of its label's category, and whether the pixel
 * carries the label. EX_SOFTWARE when a unit gets more samples than
 * evalsrc_unit_samples counted. */
int evalsrc_ap_collect_image(evalsrc_ap_part *part, apstream *stream, const evalsrc_batch *b, size_t s,
                             const evalsrc *src, const concepts_vocab *v, size_t img0);

#endif
