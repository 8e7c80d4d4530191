/* metrics — IoU counts, S¹/S², Hungarian matching, PR metrics, AP. */
#include "metrics.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- bilinear upsampling ------------------------------------------------ */

/* One axis of torch's upsample_bilinear2d (align_corners=False): output
 * index dst of n_out reads inputs i0, i1 with weights l0, l1. */
typedef struct {
    size_t i0, i1;
    double l0, l1;
} axis_tap;

static axis_tap axis_weights(size_t dst, size_t n_in, size_t n_out)
{
    double scale = (double)n_in / (double)n_out;
    double src = scale * ((double)dst + 0.5) - 0.5;
    if (src < 0)
        src = 0;
    axis_tap t;
    t.i0 = (size_t)src;
    if (t.i0 > n_in - 1)
        t.i0 = n_in - 1;
    t.i1 = t.i0 < n_in - 1 ? t.i0 + 1 : t.i0;
    t.l1 = src - (double)t.i0;
    t.l0 = 1.0 - t.l1;
    return t;
}

/* torch's expression order, so float results can match bit for bit */
static double bilinear_at(const double *in, size_t w, size_t stride,
                          axis_tap ty, axis_tap tx)
{
    double a = in[(ty.i0 * w + tx.i0) * stride];
    double b = in[(ty.i0 * w + tx.i1) * stride];
    double c = in[(ty.i1 * w + tx.i0) * stride];
    double d = in[(ty.i1 * w + tx.i1) * stride];
    return ty.l0 * (tx.l0 * a + tx.l1 * b) + ty.l1 * (tx.l0 * c + tx.l1 * d);
}

void metrics_upsample_bilinear(const double *in, size_t h, size_t w,
                               size_t stride, size_t hm, size_t wm,
                               double *out)
{
    for (size_t r = 0; r < hm; r++) {
        axis_tap ty = axis_weights(r, h, hm);
        for (size_t c = 0; c < wm; c++)
            out[r * wm + c] = bilinear_at(in, w, stride, ty,
                                          axis_weights(c, w, wm));
    }
}

/* ---- units -------------------------------------------------------------- */

static int units_alloc(metrics_units *u, size_t n_det, size_t n_unit)
{
    memset(u, 0, sizeof *u);
    u->n_det = n_det;
    u->n_unit = n_unit;
    u->start = calloc(n_unit + 1, sizeof(size_t));
    u->member = calloc(n_det ? n_det : 1, sizeof(size_t));
    if (!u->start || !u->member) {
        metrics_units_free(u);
        return -1;
    }
    return 0;
}

int metrics_units_init(metrics_units *u, const int *det_unit, size_t n_det,
                       size_t n_unit)
{
    for (size_t i = 0; i < n_det; i++)
        if (det_unit[i] < -1 || (det_unit[i] >= 0 && (size_t)det_unit[i] >= n_unit))
            return -2;
    if (units_alloc(u, n_det, n_unit))
        return -1;
    /* counting sort of detectors by unit: ascending ids within a unit */
    for (size_t i = 0; i < n_det; i++)
        if (det_unit[i] >= 0)
            u->start[det_unit[i] + 1]++;
    for (size_t k = 0; k < n_unit; k++)
        u->start[k + 1] += u->start[k];
    size_t *fill = calloc(n_unit ? n_unit : 1, sizeof(size_t));
    if (!fill) {
        metrics_units_free(u);
        return -1;
    }
    for (size_t i = 0; i < n_det; i++)
        if (det_unit[i] >= 0) {
            size_t k = (size_t)det_unit[i];
            u->member[u->start[k] + fill[k]++] = i;
        }
    free(fill);
    return 0;
}

int metrics_units_identity(metrics_units *u, size_t n_det)
{
    if (units_alloc(u, n_det, n_det))
        return -1;
    for (size_t i = 0; i < n_det; i++) {
        u->start[i + 1] = i + 1;
        u->member[i] = i;
    }
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int metrics_units_by_label(metrics_units *u, const int *label, size_t n_det,
                           int *unit_label)
{
    int *sorted = malloc((n_det ? n_det : 1) * sizeof(int));
    int *det_unit = malloc((n_det ? n_det : 1) * sizeof(int));
    if (!sorted || !det_unit) {
        free(sorted);
        free(det_unit);
        return -1;
    }
    size_t n_lab = 0;
    for (size_t i = 0; i < n_det; i++)
        if (label[i] > 0)
            sorted[n_lab++] = label[i];
    qsort(sorted, n_lab, sizeof(int), cmp_int);
    size_t n_unit = 0;
    for (size_t k = 0; k < n_lab; k++)
        if (n_unit == 0 || sorted[k] != unit_label[n_unit - 1])
            unit_label[n_unit++] = sorted[k];
    for (size_t i = 0; i < n_det; i++) {
        det_unit[i] = -1;
        if (label[i] <= 0)
            continue;
        const int *hit = bsearch(&label[i], unit_label, n_unit, sizeof(int),
                                 cmp_int);
        det_unit[i] = (int)(hit - unit_label);
    }
    int status = metrics_units_init(u, det_unit, n_det, n_unit);
    free(sorted);
    free(det_unit);
    return status;
}

void metrics_units_free(metrics_units *u)
{
    free(u->start);
    free(u->member);
    memset(u, 0, sizeof *u);
}

void metrics_units_max(const metrics_units *u, const double *A, size_t n_pix,
                       double *out)
{
    const size_t n_det = u->n_det, n_unit = u->n_unit;
    for (size_t p = 0; p < n_pix; p++)
        for (size_t k = 0; k < n_unit; k++) {
            double m = -INFINITY;
            for (size_t j = u->start[k]; j < u->start[k + 1]; j++) {
                double a = A[p * n_det + u->member[j]];
                if (a > m)
                    m = a;
            }
            out[p * n_unit + k] = m;
        }
}

/* Unit k's score map [hm·wm] of one image: max over members of the upsampled
 * logit maps. ty [hm], tx [wm] are the precomputed axis taps. */
static void unit_map(const metrics_units *u, size_t k, const double *A_img,
                     size_t w, const axis_tap *ty, const axis_tap *tx,
                     size_t hm, size_t wm, double *out)
{
    for (size_t q = 0; q < hm * wm; q++)
        out[q] = -INFINITY;
    for (size_t j = u->start[k]; j < u->start[k + 1]; j++) {
        const double *in = A_img + u->member[j];
        for (size_t r = 0; r < hm; r++)
            for (size_t c = 0; c < wm; c++) {
                double v = bilinear_at(in, w, u->n_det, ty[r], tx[c]);
                if (v > out[r * wm + c])
                    out[r * wm + c] = v;
            }
    }
}

static int make_taps(size_t h, size_t w, size_t hm, size_t wm, axis_tap **ty,
                     axis_tap **tx)
{
    *ty = malloc((hm ? hm : 1) * sizeof(axis_tap));
    *tx = malloc((wm ? wm : 1) * sizeof(axis_tap));
    if (!*ty || !*tx) {
        free(*ty);
        free(*tx);
        return -1;
    }
    for (size_t r = 0; r < hm; r++)
        (*ty)[r] = axis_weights(r, h, hm);
    for (size_t c = 0; c < wm; c++)
        (*tx)[c] = axis_weights(c, w, wm);
    return 0;
}

void metrics_unit_scores(const metrics_units *u, const double *A_img,
                         size_t h, size_t w, size_t hm, size_t wm,
                         double *out)
{
    const size_t n_unit = u->n_unit, n_q = hm * wm;
    for (size_t k = 0; k < n_unit; k++)
        for (size_t q = 0; q < n_q; q++)
            out[q * n_unit + k] = -INFINITY;
    for (size_t k = 0; k < n_unit; k++)
        for (size_t j = u->start[k]; j < u->start[k + 1]; j++) {
            const double *in = A_img + u->member[j];
            for (size_t r = 0; r < hm; r++) {
                axis_tap ty = axis_weights(r, h, hm);
                for (size_t c = 0; c < wm; c++) {
                    double v = bilinear_at(in, w, u->n_det, ty,
                                           axis_weights(c, w, wm));
                    double *o = out + (r * wm + c) * n_unit + k;
                    if (v > *o)
                        *o = v;
                }
            }
        }
}

/* ---- IoU counts --------------------------------------------------------- */

int metrics_iou_init(metrics_iou_counts *c, const metrics_units *units,
                     size_t n_con, size_t n_cat, const int *con_cat)
{
    for (size_t k = 1; k < n_con; k++)
        if (con_cat[k] < 0 || (size_t)con_cat[k] >= n_cat)
            return -2;
    memset(c, 0, sizeof *c);
    c->n_unit = units->n_unit;
    c->n_con = n_con;
    c->n_cat = n_cat;
    c->units = units;
    size_t nu = c->n_unit ? c->n_unit : 1;
    size_t nc = n_con ? n_con : 1, nk = n_cat ? n_cat : 1;
    c->con_cat = calloc(nc, sizeof(int));
    c->inter = calloc(nu * nc, sizeof(uint64_t));
    c->unit_in_cat = calloc(nu * nk, sizeof(uint64_t));
    c->label = calloc(nc, sizeof(uint64_t));
    if (!c->con_cat || !c->inter || !c->unit_in_cat || !c->label) {
        metrics_iou_free(c);
        return -1;
    }
    if (n_con > 1)
        memcpy(c->con_cat + 1, con_cat + 1, (n_con - 1) * sizeof(int));
    return 0;
}

void metrics_iou_free(metrics_iou_counts *c)
{
    free(c->con_cat);
    free(c->inter);
    free(c->unit_in_cat);
    free(c->label);
    memset(c, 0, sizeof *c);
}

void metrics_iou_reset(metrics_iou_counts *c)
{
    memset(c->inter, 0, c->n_unit * c->n_con * sizeof(uint64_t));
    memset(c->unit_in_cat, 0, c->n_unit * c->n_cat * sizeof(uint64_t));
    memset(c->label, 0, c->n_con * sizeof(uint64_t));
}

static int annotations_valid(const metrics_iou_counts *c, size_t n_img,
                             const metrics_annotations *ann)
{
    for (size_t m = 0; m < ann->n_map; m++)
        if (ann->map_cat[m] < 0 || (size_t)ann->map_cat[m] >= c->n_cat)
            return 0;
    size_t n_val = n_img * ann->n_map * ann->hm * ann->wm;
    for (size_t v = 0; v < n_val; v++)
        if (ann->maps[v] < 0 || (size_t)ann->maps[v] >= c->n_con)
            return 0;
    return 1;
}

/* Per-image scratch of metrics_iou_add, allocated once per batch. */
typedef struct {
    size_t *pix_start;  /* [n_q + 1] pixel q's concepts: pix_con[pix_start[q] ..) */
    int32_t *pix_con;   /* [n_q · n_map] distinct concepts per pixel */
    uint8_t *cat_ann;   /* [n_cat] image annotated for category */
    size_t *cat_list;   /* [n_cat] annotated categories */
    size_t *lab_list;   /* [n_con] image-level labels */
    double *maps_buf;   /* [n_threads × n_q] unit score maps */
    axis_tap *ty, *tx;  /* [hm], [wm] */
} iou_scratch;

static void scratch_free(iou_scratch *s)
{
    free(s->pix_start);
    free(s->pix_con);
    free(s->cat_ann);
    free(s->cat_list);
    free(s->lab_list);
    free(s->maps_buf);
    free(s->ty);
    free(s->tx);
}

static int scratch_alloc(iou_scratch *s, const metrics_iou_counts *c,
                         size_t h, size_t w, const metrics_annotations *ann)
{
    memset(s, 0, sizeof *s);
    size_t n_q = ann->hm * ann->wm, n_threads = (size_t)omp_get_max_threads();
    s->pix_start = malloc((n_q + 1) * sizeof(size_t));
    s->pix_con = malloc((n_q * ann->n_map + 1) * sizeof(int32_t));
    s->cat_ann = malloc(c->n_cat + 1);
    s->cat_list = malloc((c->n_cat + 1) * sizeof(size_t));
    s->lab_list = malloc((c->n_con + 1) * sizeof(size_t));
    s->maps_buf = malloc((n_threads * n_q + 1) * sizeof(double));
    if (!s->pix_start || !s->pix_con || !s->cat_ann || !s->cat_list ||
        !s->lab_list || !s->maps_buf ||
        make_taps(h, w, ann->hm, ann->wm, &s->ty, &s->tx)) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

/* Which categories image x is annotated for and which image-level labels it
 * carries; returns the number of image-level labels (in s->lab_list). */
static size_t image_annotations(const metrics_iou_counts *c,
                                const metrics_annotations *ann, size_t x,
                                iou_scratch *s, size_t *n_cat_ann)
{
    memset(s->cat_ann, 0, c->n_cat);
    for (size_t m = 0; m < ann->n_map; m++)
        if (!ann->map_present || ann->map_present[x * ann->n_map + m])
            s->cat_ann[ann->map_cat[m]] = 1;
    size_t n_lab = 0;
    if (ann->img_labels) {
        const uint8_t *row = ann->img_labels + x * c->n_con;
        for (size_t k = 1; k < c->n_con; k++)
            if (row[k]) {
                s->lab_list[n_lab++] = k;
                s->cat_ann[c->con_cat[k]] = 1;
            }
    }
    *n_cat_ann = 0;
    for (size_t k = 0; k < c->n_cat; k++)
        if (s->cat_ann[k])
            s->cat_list[(*n_cat_ann)++] = k;
    return n_lab;
}

/* Distinct pixel-map concepts of every annotation pixel of image x (those
 * with an image-level label excluded: the whole image already is L_c), and
 * their |L_c| counts. */
static void pixel_concepts(metrics_iou_counts *c, const metrics_annotations *ann,
                           size_t x, iou_scratch *s)
{
    const size_t n_q = ann->hm * ann->wm, n_map = ann->n_map;
    const uint8_t *img_lab = ann->img_labels ? ann->img_labels + x * c->n_con : NULL;
    size_t fill = 0;
    for (size_t q = 0; q < n_q; q++) {
        s->pix_start[q] = fill;
        for (size_t m = 0; m < n_map; m++) {
            if (ann->map_present && !ann->map_present[x * n_map + m])
                continue;
            int32_t v = ann->maps[((x * n_map) + m) * n_q + q];
            if (v == 0 || (img_lab && img_lab[v]))
                continue;
            int seen = 0;
            for (size_t j = s->pix_start[q]; j < fill; j++)
                seen |= s->pix_con[j] == v;
            if (!seen) {
                s->pix_con[fill++] = v;
                c->label[v]++;
            }
        }
    }
    s->pix_start[n_q] = fill;
}

int metrics_iou_add(metrics_iou_counts *c, const double *A, size_t n_img,
                    size_t h, size_t w, const metrics_annotations *ann)
{
    if (!annotations_valid(c, n_img, ann))
        return -2;
    iou_scratch s;
    if (scratch_alloc(&s, c, h, w, ann))
        return -1;
    const size_t n_q = ann->hm * ann->wm, n_det = c->units->n_det;
    const size_t n_con = c->n_con, n_cat = c->n_cat;
    for (size_t x = 0; x < n_img; x++) {
        size_t n_cat_ann;
        size_t n_lab = image_annotations(c, ann, x, &s, &n_cat_ann);
        pixel_concepts(c, ann, x, &s);
        for (size_t j = 0; j < n_lab; j++)
            c->label[s.lab_list[j]] += n_q;
        const double *A_img = A + x * h * w * n_det;
        /* units are independent rows of the counts: no shared writes */
#pragma omp parallel for schedule(dynamic, 1)
        for (long k = 0; k < (long)c->n_unit; k++) {
            double *score = s.maps_buf + (size_t)omp_get_thread_num() * n_q;
            uint64_t *inter = c->inter + (size_t)k * n_con;
            unit_map(c->units, (size_t)k, A_img, w, s.ty, s.tx, ann->hm,
                     ann->wm, score);
            uint64_t fired = 0;
            for (size_t q = 0; q < n_q; q++) {
                if (!(score[q] > 0))
                    continue;
                fired++;
                for (size_t j = s.pix_start[q]; j < s.pix_start[q + 1]; j++)
                    inter[s.pix_con[j]]++;
            }
            for (size_t j = 0; j < n_lab; j++)
                inter[s.lab_list[j]] += fired;
            for (size_t j = 0; j < n_cat_ann; j++)
                c->unit_in_cat[(size_t)k * n_cat + s.cat_list[j]] += fired;
        }
    }
    scratch_free(&s);
    return 0;
}

void metrics_iou_compute(const metrics_iou_counts *c, double *iou)
{
    for (size_t k = 0; k < c->n_unit; k++)
        for (size_t j = 0; j < c->n_con; j++) {
            uint64_t in = c->inter[k * c->n_con + j];
            uint64_t det = c->unit_in_cat[k * c->n_cat + (size_t)c->con_cat[j]];
            uint64_t den = det + c->label[j] - in;
            iou[k * c->n_con + j] = den ? (double)in / (double)den : 0.0;
        }
}

void metrics_iou_confusion(const metrics_iou_counts *c, const int *unit_label,
                           uint64_t *tp, uint64_t *fp, uint64_t *fn)
{
    for (size_t k = 0; k < c->n_unit; k++) {
        int l = unit_label[k];
        tp[k] = fp[k] = fn[k] = 0;
        if (l <= 0 || (size_t)l >= c->n_con)
            continue;
        uint64_t in = c->inter[k * c->n_con + (size_t)l];
        tp[k] = in;
        fp[k] = c->unit_in_cat[k * c->n_cat + (size_t)c->con_cat[l]] - in;
        fn[k] = c->label[l] - in;
    }
}

/* ---- labels and interpretability scores -------------------------------- */

void metrics_best_label(const double *iou, size_t n_unit, size_t n_con,
                        int *best)
{
    for (size_t k = 0; k < n_unit; k++) {
        size_t arg = 0;
        for (size_t j = 1; j < n_con; j++)
            if (iou[k * n_con + j] > iou[k * n_con + arg])
                arg = j;
        best[k] = (int)arg;
    }
}

void metrics_label_iou(const double *iou, size_t n_unit, size_t n_con,
                       const int *best, double *phi)
{
    for (size_t k = 0; k < n_unit; k++)
        phi[k] = iou[k * n_con + (size_t)best[k]];
}

double metrics_s1(const double *phi, size_t n_unit)
{
    double s = 0;
    for (size_t k = 0; k < n_unit; k++)
        s += phi[k];
    return s;
}

/* First unit carrying label best[k] (so each label is summed once). */
static int first_with_label(const int *best, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (best[j] == best[k])
            return 0;
    return 1;
}

double metrics_s2(const double *phi, const int *best, size_t n_unit)
{
    double s = 0;
    for (size_t k = 0; k < n_unit; k++) {
        if (!first_with_label(best, k))
            continue;
        double m = phi[k];
        for (size_t j = k + 1; j < n_unit; j++)
            if (best[j] == best[k] && phi[j] > m)
                m = phi[j];
        s += m;
    }
    return s;
}

double metrics_s1_grid(const double *phi, size_t n_unit, size_t G)
{
    double s = 0;
    for (size_t g = 1; g <= G; g++) {
        double xi = (double)g / (double)G;
        for (size_t k = 0; k < n_unit; k++)
            s += phi[k] >= xi;
    }
    return s / (double)G;
}

double metrics_s2_grid(const double *phi, const int *best, size_t n_unit,
                       size_t G)
{
    double s = 0;
    for (size_t g = 1; g <= G; g++) {
        double xi = (double)g / (double)G;
        /* count labels once: unit k counts if no earlier unit with its
         * label also clears ξ */
        for (size_t k = 0; k < n_unit; k++) {
            if (!(phi[k] >= xi))
                continue;
            int dup = 0;
            for (size_t j = 0; j < k && !dup; j++)
                dup = best[j] == best[k] && phi[j] >= xi;
            s += !dup;
        }
    }
    return s / (double)G;
}

/* ---- Hungarian assignment ---------------------------------------------- */

/* Shortest augmenting paths with potentials (Kuhn–Munkres, O(n²m)),
 * minimising cost [n × m], n ≤ m, 1-based internally. col_of_row [n]. */
static int hungarian_min(const double *cost, size_t n, size_t m,
                         int *col_of_row)
{
    double *u = calloc(n + 1, sizeof(double)), *v = calloc(m + 1, sizeof(double));
    double *minv = malloc((m + 1) * sizeof(double));
    size_t *p = calloc(m + 1, sizeof(size_t)), *way = calloc(m + 1, sizeof(size_t));
    char *used = malloc(m + 1);
    int status = (!u || !v || !minv || !p || !way || !used) ? -1 : 0;
    for (size_t i = 1; i <= n && status == 0; i++) {
        size_t j0 = 0;
        p[0] = i;
        for (size_t j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            size_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (size_t j = 1; j <= m; j++) {
                if (used[j])
                    continue;
                double cur = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (size_t j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            size_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    if (status == 0)
        for (size_t j = 1; j <= m; j++)
            if (p[j])
                col_of_row[p[j] - 1] = (int)(j - 1);
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return status;
}

int metrics_hungarian_max(const double *score, size_t n_row, size_t n_col,
                          int *row_to_col)
{
    for (size_t k = 0; k < n_row * n_col; k++)
        if (!isfinite(score[k]))
            return -2;
    for (size_t r = 0; r < n_row; r++)
        row_to_col[r] = -1;
    if (n_row == 0 || n_col == 0)
        return 0;
    int transpose = n_row > n_col;
    size_t n = transpose ? n_col : n_row, m = transpose ? n_row : n_col;
    double *cost = malloc(n * m * sizeof(double));
    int *assign = malloc(n * sizeof(int));
    int status = (!cost || !assign) ? -1 : 0;
    if (status == 0) {
        for (size_t r = 0; r < n_row; r++)
            for (size_t c = 0; c < n_col; c++) {
                double neg = -score[r * n_col + c];   /* maximise score */
                if (transpose)
                    cost[c * m + r] = neg;
                else
                    cost[r * m + c] = neg;
            }
        status = hungarian_min(cost, n, m, assign);
    }
    if (status == 0)
        for (size_t a = 0; a < n; a++) {
            if (transpose)
                row_to_col[assign[a]] = (int)a;
            else
                row_to_col[a] = assign[a];
        }
    free(cost);
    free(assign);
    return status;
}

/* ---- binary classification metrics ------------------------------------- */

static double ratio(double num, double den)
{
    return den > 0 ? num / den : 0.0;
}

void metrics_prf(const uint64_t *tp, const uint64_t *fp, const uint64_t *fn,
                 size_t n, double *precision, double *recall, double *f1,
                 double *iou)
{
    for (size_t k = 0; k < n; k++) {
        double t = (double)tp[k], f_p = (double)fp[k], f_n = (double)fn[k];
        double p = ratio(t, t + f_p), r = ratio(t, t + f_n);
        precision[k] = p;
        recall[k] = r;
        f1[k] = ratio(2 * p * r, p + r);
        iou[k] = ratio(t, t + f_p + f_n);
    }
}

static int cmp_score_desc(const void *a, const void *b, void *ctx)
{
    const double *score = ctx;
    double x = score[*(const size_t *)a], y = score[*(const size_t *)b];
    return (x < y) - (x > y);
}

int metrics_average_precision(const double *score, const uint8_t *label,
                              size_t n, double *ap)
{
    size_t n_pos = 0;
    for (size_t k = 0; k < n; k++) {
        if (isnan(score[k]))
            return -2;
        n_pos += label[k] != 0;
    }
    *ap = 0;
    if (n_pos == 0)
        return 0;
    size_t *order = malloc(n * sizeof(size_t));
    if (!order)
        return -1;
    for (size_t k = 0; k < n; k++)
        order[k] = k;
    qsort_r(order, n, sizeof(size_t), cmp_score_desc, (void *)score);
    double tp = 0, fp = 0, r_prev = 0, sum = 0;
    for (size_t k = 0; k < n;) {
        /* one PR point per distinct score: the whole tie group enters */
        size_t end = k;
        while (end < n && score[order[end]] == score[order[k]]) {
            if (label[order[end]])
                tp++;
            else
                fp++;
            end++;
        }
        double r = tp / (double)n_pos;
        sum += (r - r_prev) * (tp / (tp + fp));
        r_prev = r;
        k = end;
    }
    free(order);
    *ap = sum;
    return 0;
}

/* ---- summaries ---------------------------------------------------------- */

double metrics_rmse(const double *a, const double *b, size_t n)
{
    if (n == 0)
        return NAN;
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += (a[k] - b[k]) * (a[k] - b[k]);
    return sqrt(s / (double)n);
}

double metrics_mean(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k];
    return s / (double)n;
}

double metrics_std_sample(const double *x, size_t n)
{
    if (n < 2)
        return NAN;
    double mean = metrics_mean(x, n), s = 0;
    for (size_t k = 0; k < n; k++)
        s += (x[k] - mean) * (x[k] - mean);
    return sqrt(s / (double)(n - 1));
}

/* ---- the P/R/F1 table ------------------------------------------------------ */

int metrics_prf_table_init(metrics_prf_table *t, size_t n)
{
    size_t m = n ? n : 1;
    double **columns[] = {&t->precision, &t->recall, &t->f1, &t->iou, &t->ap, &t->tp, &t->fp, &t->fn};
    memset(t, 0, sizeof *t);
    t->n = n;
    int ok = 1;
    for (size_t k = 0; k < sizeof columns / sizeof *columns; k++)
        ok &= (*columns[k] = calloc(m, sizeof(double))) != NULL;
    if (!ok) {
        metrics_prf_table_free(t);
        return -1;
    }
    return 0;
}

int metrics_prf_table_fill(metrics_prf_table *t, const metrics_iou_counts *counts, const int *unit_label)
{
    size_t m = t->n ? t->n : 1;
    uint64_t *tp = malloc(m * sizeof *tp), *fp = malloc(m * sizeof *fp), *fn = malloc(m * sizeof *fn);
    int rc = tp && fp && fn ? 0 : -1;
    if (!rc) {
        metrics_iou_confusion(counts, unit_label, tp, fp, fn);
        metrics_prf(tp, fp, fn, t->n, t->precision, t->recall, t->f1, t->iou);
        for (size_t k = 0; k < t->n; k++) {
            t->tp[k] = (double)tp[k];
            t->fp[k] = (double)fp[k];
            t->fn[k] = (double)fn[k];
        }
    }
    free(tp);
    free(fp);
    free(fn);
    return rc;
}

metrics_prf_summary metrics_prf_table_summary(const metrics_prf_table *t, double s1, double s2)
{
    return (metrics_prf_summary){s1, s2, metrics_mean(t->precision, t->n), metrics_mean(t->recall, t->n),
                                 metrics_mean(t->f1, t->n), metrics_mean(t->iou, t->n),
                                 metrics_mean(t->ap, t->n)};
}

void metrics_prf_table_free(metrics_prf_table *t)
{
    free(t->precision);
    free(t->recall);
    free(t->f1);
    free(t->iou);
    free(t->ap);
    free(t->tp);
    free(t->fp);
    free(t->fn);
    memset(t, 0, sizeof *t);
}
