/* concepts — the concept annotations of a features file (/concepts/<category>,
 * man/man5/eddp-files.5), as iou-label, pcav and sae read them:
 *   pixel label maps   int32 [N, Hm, Wm], 0 = none, labels 1..L;
 *   image-level labels int32 [N, L] multi-hot (0 or 1; column k−1 = label k).
 * Concept names come from the dataset's `names` string-array attribute (L
 * strings) when present, else "<category>:<k>".
 *
 * An image is annotated for a category when it carries any label of it (a
 * pixel map that is all 0 means the category was not annotated there, as for
 * Broden images without that category's annotation). */
#ifndef EDDP_CONCEPTS_H
#define EDDP_CONCEPTS_H

#include "h5io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[256];        /* category, e.g. "object" */
    char path[300];        /* "/concepts/<name>" */
    int image_level;       /* [N, L] multi-hot rather than [N, Hm, Wm] maps */
    size_t n_img;          /* N */
    size_t hm, wm;         /* annotation resolution (0 for image-level) */
    size_t width;          /* int32 values per image: hm·wm, or L */
    int n_names;           /* length of the `names` attribute, 0 when absent */
    char **names;          /* [n_names] */
    /* filled by concepts_scan: */
    int max_label;         /* largest label present (0 when none) */
    uint8_t *annotated;    /* [N] image carries a label of this category */
} concept_category;

/* Lists the categories under /concepts (in name order) and checks each: an
 * int32 dataset of rank 3 or 2 whose first dimension is n_img, and a
 * `names` attribute, when present, of L strings for image-level labels.
 * EX_DATAERR naming the file and dataset otherwise, also when /concepts is
 * missing or empty; on failure *cats is NULL and *n_cat 0 (nothing to free). */
int concepts_list(h5in *in, size_t n_img, concept_category **cats, int *n_cat);
/* Index of the category called name, −1 when absent. */
int concepts_find(const concept_category *cats, int n_cat, const char *name);
/* Streams the category's values: pixel labels must be >= 0 (and <= the
 * number of names when named), image-level entries 0 or 1. Fills max_label
 * and annotated. */
int concepts_scan(h5in *in, concept_category *cat);
/* Number of concepts L: the names when given, else L of image-level
 * labels, else max_label (after concepts_scan). */
int concepts_count(const concept_category *cat);
/* Name of label k in 1..L (the attribute, else "<category>:<k>"), written
 * to buf. */
void concepts_label_name(const concept_category *cat, int k, char *buf, size_t size);
/* Reads rows [img0, img0 + n) of the category (n × width int32) into buf. */
int concepts_read_rows(h5in *in, const concept_category *cat, size_t img0, size_t n, int32_t *buf);
void concepts_free(concept_category *cats, int n_cat);

#endif
