/* evalsrc — see evalsrc.h. */
#include "evalsrc.h"

#include "detectors.h"
#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void evalsrc_free(evalsrc *src)
{
    concepts_grouping_free(&src->grouping);
    free(src->role);
    concepts_free(src->cats, src->n_cat);
    if (src->opened)
        h5in_close(&src->in);
    memset(src, 0, sizeof *src);
}

int evalsrc_open(evalsrc *src, const char *path)
{
    memset(src, 0, sizeof *src);
    if (h5in_open(&src->in, path, H5IO_FORMAT_FEATURES))
        return error_code();
    src->opened = 1;
    if (features_open(&src->ff, &src->in) ||
        concepts_list(&src->in, src->ff.n_img, &src->cats, &src->n_cat))
        return error_code();
    return 0;
}

int evalsrc_scan(evalsrc *src)
{
    for (int k = 0; k < src->n_cat; k++)
        if (concepts_scan(&src->in, src->cats + k))
            return error_code();
    return concepts_group_by_resolution(&src->grouping, src->cats, src->n_cat, src->ff.height, src->ff.width);
}

int evalsrc_roles(evalsrc *src, double val_fraction, uint64_t seed, uint64_t stream, int all_role)
{
    size_t n = src->ff.n_img;
    if (!(src->role = error_malloc(n, "the split roles of the images")))
        return error_code();
    if (all_role >= 0) {
        memset(src->role, all_role, n);
        src->n_role[all_role] = n;
        return 0;
    }
    if (n < 2)
        return error_set(EX_DATAERR, "%s: one image cannot be split into train and validation; "
                         "use --val-from", src->in.path);
    size_t n_val = (size_t)llround(val_fraction * (double)n);
    n_val = n_val < 1 ? 1 : (n_val > n - 1 ? n - 1 : n_val);
    size_t *perm = error_malloc(n * sizeof *perm, "the split of the images");
    if (!perm)
        return error_code();
    rng_state rng;
    rng_init(&rng, seed, stream);
    rng_permutation(&rng, perm, n);
    memset(src->role, EVALSRC_TRAIN, n);
    for (size_t k = 0; k < n_val; k++)
        src->role[perm[k]] = EVALSRC_VAL;
    free(perm);
    src->n_role[EVALSRC_VAL] = n_val;
    src->n_role[EVALSRC_TRAIN] = n - n_val;
    return 0;
}

/* ------------------------------------------------------------- batches */

void evalsrc_batch_free(evalsrc_batch *b, int n_cat)
{
    for (int k = 0; b->rows && k < n_cat; k++)
        free(b->rows[k]);
    free(b->rows); free(b->features); free(b->sel); free(b->X); free(b->A);
    free(b->maps); free(b->present); free(b->img_labels);
    memset(b, 0, sizeof *b);
}

/* Images per batch: about 64 MiB of everything held per image. */
int evalsrc_batch_alloc(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v, int n_det)
{
    memset(b, 0, sizeof *b);
    size_t hw = src->ff.height * src->ff.width, n_dim = src->ff.n_dim, per_image = 0;
    size_t n_values = concepts_grouping_values(&src->grouping);
    per_image += n_dim * hw * (sizeof(float) + sizeof(double)) + hw * n_det * sizeof(double);
    for (int k = 0; k < src->n_cat; k++)
        per_image += src->cats[k].width * sizeof(int32_t);
    per_image += n_values * sizeof(int32_t) + v->n_con + src->n_cat;
    size_t cap = (64u << 20) / per_image;
    cap = cap < 1 ? 1 : (cap > src->ff.n_img ? src->ff.n_img : cap);
    b->cap = cap;
    b->hw = hw;
    b->features = malloc(cap * n_dim * hw * sizeof(float));
    b->rows = calloc(src->n_cat, sizeof(int32_t *));
    b->sel = malloc(cap * sizeof(size_t));
    b->X = malloc(cap * hw * n_dim * sizeof(double));
    b->A = malloc(cap * hw * n_det * sizeof(double));
    b->maps = malloc(cap * n_values * sizeof(int32_t));
    b->present = malloc(cap * src->n_cat + 1);
    b->img_labels = malloc(cap * v->n_con);
    int ok = b->features && b->rows && b->sel && b->X && b->A && b->maps && b->present && b->img_labels;
    for (int k = 0; ok && k < src->n_cat; k++)
        ok = (b->rows[k] = malloc(cap * src->cats[k].width * sizeof(int32_t))) != NULL;
    if (!ok) {
        evalsrc_batch_free(b, src->n_cat);
        return error_set(EX_OSERR, "%s: out of memory for a source_batch of %zu images", src->in.path, cap);
    }
    return 0;
}

int evalsrc_batch_read(evalsrc_batch *b, const evalsrc *src, size_t img0, size_t n)
{
    if (features_read_images(&src->ff, img0, n, b->features))
        return error_code();
    for (int k = 0; k < src->n_cat; k++)
        if (concepts_read_rows((h5in *)&src->in, src->cats + k, img0, n, b->rows[k]))
            return error_code();
    return 0;
}

/* Selects the batch's images of one role and computes their logits
 * A = X Wᵀ − b in double. */
void evalsrc_batch_select(evalsrc_batch *b, const evalsrc *src, size_t img0, size_t n, int role,
                         const directions *dirs)
{
    b->n_sel = 0;
    for (size_t k = 0; k < n; k++)
        if (src->role[img0 + k] == role)
            b->sel[b->n_sel++] = k;
    if (!b->n_sel)
        return;
    size_t hw = b->hw, n_dim = (size_t)dirs->n_dim;
#pragma omp parallel for schedule(static)
    for (size_t s = 0; s < b->n_sel; s++) {
        const float *image = b->features + b->sel[s] * n_dim * hw;
        double *pixels = b->X + s * hw * n_dim;
        for (size_t d = 0; d < n_dim; d++)
            for (size_t p = 0; p < hw; p++)
                pixels[p * n_dim + d] = image[d * hw + p];
    }
    det_view view = {.W = dirs->W, .b = dirs->b};
    det_logits(&view, dirs->n_det, dirs->n_dim, b->X, b->n_sel * hw, b->A);
}

/* The image-level labels of selected image s as concept ids (multi-hot). */
static void batch_image_labels(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v, size_t s)
{
    uint8_t *labels = b->img_labels + s * v->n_con;
    memset(labels, 0, v->n_con);
    for (int k = 0; k < src->n_cat; k++)
        if (src->cats[k].image_level) {
            const int32_t *row = b->rows[k] + b->sel[s] * src->cats[k].width;
            for (size_t l = 0; l < src->cats[k].width; l++)
                labels[v->offset[k] + 1 + l] = row[l] != 0;
        }
}

/* The selected images' annotations of resolution group g, as concept ids. */
static metrics_annotations batch_annotations(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v,
                                             size_t img0, int g)
{
    const concepts_res_group *grp = src->grouping.groups + g;
    size_t n_q = grp->hm * grp->wm;
    for (size_t s = 0; s < b->n_sel; s++) {
        size_t img = img0 + b->sel[s];
        for (int m = 0; m < grp->n_map; m++) {
            int k = grp->map_cat[m];
            const int32_t *row = b->rows[k] + b->sel[s] * n_q;
            int32_t *out = b->maps + (s * grp->n_map + m) * n_q;
            for (size_t q = 0; q < n_q; q++)
                out[q] = row[q] ? row[q] + v->offset[k] : 0;
            b->present[s * grp->n_map + m] = src->cats[k].annotated[img];
        }
        if (grp->image_level)
            batch_image_labels(b, src, v, s);
    }
    return (metrics_annotations){.hm = grp->hm, .wm = grp->wm, .n_map = (size_t)grp->n_map,
                                 .map_cat = grp->map_cat, .maps = b->maps, .map_present = b->present,
                                 .img_labels = grp->image_level ? b->img_labels : NULL};
}

int evalsrc_batch_count(evalsrc_batch *b, const evalsrc *src, const concepts_vocab *v, size_t img0,
                       metrics_iou_counts *counts)
{
    for (int g = 0; g < src->grouping.n_group; g++) {
        metrics_annotations ann = batch_annotations(b, src, v, img0, g);
        int rc = metrics_iou_add(counts, b->A, b->n_sel, src->ff.height, src->ff.width, &ann);
        if (rc == -1)
            return error_set(EX_OSERR, "out of memory counting IoU");
        if (rc)
            return error_set(EX_SOFTWARE, "%s: invalid annotations in images %zu..%zu", src->in.path,
                             img0, img0 + b->cap);
    }
    return 0;
}

/* ------------------------------------------------------------ AP samples */

/* Validation pixels AP ranks for a unit with concept c: every annotation
 * pixel of the validation images annotated for c's category. */
size_t evalsrc_unit_samples(const evalsrc *src, const concepts_vocab *v, int c)
{
    if (c <= 0)
        return 0;
    int k = v->con_cat[c];
    const concepts_res_group *grp = src->grouping.groups + src->grouping.group_of[k];
    size_t n = 0;
    for (size_t x = 0; x < src->ff.n_img; x++)
        n += src->role[x] == EVALSRC_VAL && src->cats[k].annotated[x];
    return n * grp->hm * grp->wm;
}

void evalsrc_ap_part_free(evalsrc_ap_part *part)
{
    free(part->maps);
    if (part->sub.start)
        metrics_units_free(&part->sub);
    memset(part, 0, sizeof *part);
}

int evalsrc_ap_part_init(evalsrc_ap_part *part, const evalsrc_unit_set *set, size_t lo, size_t hi, const evalsrc *src)
{
    memset(part, 0, sizeof *part);
    part->set = set;
    part->lo = lo;
    part->hi = hi;
    size_t n = hi - lo, n_det = set->units->n_det, most_q = 1;
    if (n == 0)
        return 0;
    for (int g = 0; g < src->grouping.n_group; g++) {
        size_t n_q = src->grouping.groups[g].hm * src->grouping.groups[g].wm;
        most_q = n_q > most_q ? n_q : most_q;
    }
    int *det_unit = error_malloc(n_det * sizeof(int), "the units of an AP block");
    part->maps = error_malloc(most_q * n * sizeof(double), "the unit score maps of AP");
    int ok = det_unit && part->maps;
    for (size_t i = 0; ok && i < n_det; i++)
        det_unit[i] = -1;
    for (size_t u = lo; ok && u < hi; u++)
        for (size_t j = set->units->start[u]; j < set->units->start[u + 1]; j++)
            det_unit[set->units->member[j]] = (int)(u - lo);
    if (ok && metrics_units_init(&part->sub, det_unit, n_det, n))
        ok = !error_set(EX_OSERR, "out of memory for the units of an AP block");
    free(det_unit);
    return ok ? 0 : error_code();
}

/* Hands one selected image's pixels of group g to the AP samples of the
 * part's units labelled with a concept of that group. */
static int ap_collect_group(evalsrc_ap_part *part, apstream *stream, const evalsrc_batch *b, size_t s,
                            const evalsrc *src, const concepts_vocab *v, size_t img, int g)
{
    const concepts_res_group *grp = src->grouping.groups + g;
    size_t n = part->hi - part->lo, n_q = grp->hm * grp->wm;
    for (size_t u = 0; u < n; u++) {
        int c = part->set->label[part->lo + u];
        if (c <= 0)
            continue;
        int k = v->con_cat[c], l = c - v->offset[k];
        if (src->grouping.group_of[k] != g || !src->cats[k].annotated[img])
            continue;
        const concept_category *cat = src->cats + k;
        const int32_t *row = b->rows[k] + b->sel[s] * cat->width;
        double *score;
        uint8_t *positive;
        if (apstream_slot(stream, part->set->first + part->lo + u, n_q, &score, &positive))
            return error_set(EX_SOFTWARE, "%s: more AP samples than counted for unit %zu", src->in.path,
                             part->lo + u);
        for (size_t q = 0; q < n_q; q++) {
            score[q] = part->maps[q * n + u];
            positive[q] = cat->image_level ? row[l - 1] != 0 : row[q] == l;
        }
    }
    return 0;
}

/* Appends one selected image's pixels to the samples of the part's units. */
int evalsrc_ap_collect_image(evalsrc_ap_part *part, apstream *stream, const evalsrc_batch *b, size_t s,
                            const evalsrc *src, const concepts_vocab *v, size_t img0)
{
    size_t n = part->hi - part->lo, img = img0 + b->sel[s], n_det = part->set->units->n_det;
    const double *A_img = b->A + s * b->hw * n_det;
    for (int g = 0; g < src->grouping.n_group; g++) {
        const concepts_res_group *grp = src->grouping.groups + g;
        int wanted = 0;
        for (size_t u = 0; u < n && !wanted; u++) {
            int c = part->set->label[part->lo + u];
            wanted = c > 0 && src->grouping.group_of[v->con_cat[c]] == g &&
                     src->cats[v->con_cat[c]].annotated[img];
        }
        if (!wanted)
            continue;
        metrics_unit_scores(&part->sub, A_img, src->ff.height, src->ff.width, grp->hm, grp->wm, part->maps);
        if (ap_collect_group(part, stream, b, s, src, v, img, g))
            return error_code();
    }
    return 0;
}

