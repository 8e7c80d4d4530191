/* concepts — the concept annotations of a features file (/concepts/<category>,
 * man/man5/eddp-files.5), as iou-label, pcav and sae
 * read them, and the groupings iou-label's evaluation builds on them (one
 * concept id space over all categories, layers grouped by resolution):
 *   pixel label maps   int32 [N, Hm, Wm], 0 = none, labels 1..L;
 *   image-level labels int32 [N, L] multi-hot (0 or 1; column k−1 = label k).
 * Concept names come from the dataset's `names` string-array attribute (L
 * strings) when present, else "<category>:<k>".
 *
 * An image is annotated for a category when it carries any label of it (a
 * pixel map that is all 0 means the category was not annotated there, as for
 * Broden images without that category's annotation).
 *
 * Stage: data. Reads /concepts of features files; iou-label, pcav and sae
 * use it. */
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

/* ---- one concept id space over all categories (metrics' concept ids) --- */

/* Concept ids of one or two files' categories (after concepts_scan): 0 =
 * none, category k's label l is offset[k] + l, so n_con = 1 + Σ_k n_lab[k]. */
typedef struct {
    int n_cat;
    int *offset, *n_lab;   /* [n_cat] */
    size_t n_con;
    int *con_cat;          /* [n_con] category of each concept (entry 0: 0) */
    char **con_name;       /* [n_con]; [0] = "none", else concepts_label_name */
} concepts_vocab;

/* From train [n_cat] and, when not NULL, val [n_cat] (the same categories,
 * concepts_same_categories): a category's L is its names' count when either
 * file names its concepts (the other file's labels must then fit), else the
 * larger concepts_count. The paths name the files in messages. EX_DATAERR
 * when a label exceeds the names or no category holds a label; EX_OSERR. */
int concepts_vocab_build(concepts_vocab *v, const concept_category *train, const char *train_path,
                         const concept_category *val, const char *val_path, int n_cat);
void concepts_vocab_free(concepts_vocab *v);

/* ---- annotation layers grouped by resolution --------------------------- */

/* The pixel-map categories of one resolution hm × wm (metrics_annotations
 * takes one such group per call). Image-level categories ride with group 0
 * (counted at its resolution, Broden's rule), which is at the feature
 * resolution when there are no pixel maps at all. */
typedef struct {
    size_t hm, wm;
    int n_map;
    int *map_cat;      /* [n_map] category index of each layer */
    int image_level;   /* this group carries the image-level categories */
} concepts_res_group;

typedef struct {
    int n_group;
    concepts_res_group *groups;  /* [n_group] in order of first appearance */
    int *group_of;               /* [n_cat] each category's group */
} concepts_grouping;

/* Groups cats [n_cat]; height × width is the feature resolution. 0 or
 * EX_OSERR. */
int concepts_group_by_resolution(concepts_grouping *g, const concept_category *cats, int n_cat,
                                 size_t height, size_t width);
/* Largest n_map·hm·wm of any group (at least 1): int32 values per image. */
size_t concepts_grouping_values(const concepts_grouping *g);
void concepts_grouping_free(concepts_grouping *g);

/* A second file (b) must describe the same categories as a: same names in
 * the same order, the same kind (pixel maps or image-level, image-level of
 * the same L) and, where both name their concepts, the same names.
 * EX_DATAERR naming b_path and a_path otherwise. */
int concepts_same_categories(const concept_category *a, int n_a, const char *a_path,
                             const concept_category *b, int n_b, const char *b_path);

#endif
