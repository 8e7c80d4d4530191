/* iou-label — labels concept detectors with concepts, Network-Dissection
 * style (method-spec §6.1, §6.2, §6.6): IoU of every detector with every
 * concept on a train and a validation split (category-aware union, logits
 * bilinearly upsampled to the annotation resolution and thresholded at 0),
 * each detector's best label on train, S¹ and S² on validation, and the
 * Table 3 metrics (precision, recall, F1, IoU, AP) of the detectors and of
 * their Linear-OR combinations per label.
 *
 * Features stream in batches: one pass counts IoU on both splits, then one
 * pass over the validation images per block of units collects the per-pixel
 * scores that AP needs (as many units per block as --memory holds). */
#include "cli.h"
#include "concepts.h"
#include "detectors.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "metrics.h"
#include "rng.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: iou-label [options] DIRECTIONS FEATURES -o EVAL\n"
    "Label concept detectors with the concepts of FEATURES' /concepts (NetDissect-style\n"
    "IoU, category-aware union); report S1, S2 and precision / recall / F1 / IoU / AP\n"
    "of the detectors and of their Linear-OR combinations per label.\n"
    "options:\n";

enum { TABLE_AUTO, TABLE_ALL, TABLE_LABELS, TABLE_NONE };
enum { ROLE_TRAIN = 0, ROLE_VAL = 1 };
#define TABLE_AUTO_MAX 20

/* The split's own random stream, apart from the other users of RNG_STREAM_EVAL. */
#define SPLIT_STREAM (((uint64_t)RNG_STREAM_EVAL << 40) | 0x5b17u)

typedef struct {
    cli_common cli;
    double val_fraction;
    int fraction_given;
    const char *val_from;
    size_t memory;
    int table;
    const char *directions, *features;
} options;

static int parse_bytes(const opt_row *row, const char *arg, char *msg, size_t len)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end);
    double scale = 1;
    switch (*end) {
    case 'k': case 'K': scale = 1024.0; end++; break;
    case 'm': case 'M': scale = 1024.0 * 1024; end++; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (errno || end == arg || *end || !(value * scale >= 1) || value * scale > 1e18) {
        snprintf(msg, len, "--%s: expected a size in bytes such as 512M or 2G, got '%s'", row->name, arg);
        return -1;
    }
    *(size_t *)row->target = (size_t)(value * scale);
    return 0;
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "iou-label", usage, argc, argv);
    opt->val_fraction = 0.5;
    opt->memory = (size_t)1 << 30;
    const opt_row rows[] = {
        OPT_DOUBLE("val-fraction", &opt->val_fraction, 0, 1, "F",
                   "validation share of FEATURES' images, drawn by --seed (0.5)",
                   .flags = OPTF_OPEN_MIN | OPTF_OPEN_MAX, .given = &opt->fraction_given),
        OPT_STRING("val-from", &opt->val_from, "FILE",
                   "take the validation images from FILE instead (all of\nFEATURES is then the train split)"),
        OPT_CALLBACK("memory", &opt->memory, parse_bytes, NULL, "BYTES",
                     "budget for the per-pixel scores of AP, with suffix K, M\nor G (1G); more units per pass "
                     "over the validation set", .flags = OPTF_NOHASH),
        OPT_CHOICE("table", &opt->table, "auto|all|labels|none",
                   "concept columns of the table on stdout (auto:\nall when there are at most 20 concepts, else "
                   "the labels)"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    cli_expect_operands(cli, 2, "DIRECTIONS FEATURES");
    opt->directions = argv[first];
    opt->features = argv[first + 1];
    cli_require_output(cli);
    if (opt->val_from && opt->fraction_given)
        cli_usage_error(cli, "--val-fraction and --val-from exclude each other");
    if (opt->val_from && !strcmp(opt->val_from, "-") && !strcmp(opt->features, "-"))
        cli_usage_error(cli, "only one input can come from stdin");
}

/* ------------------------------------------------------------ the inputs */

/* Annotation layers of one resolution: metrics_iou_add takes one such group
 * per call. Image-level categories ride with group 0 (counted at its
 * resolution, Broden's rule), which is at the feature resolution when the
 * file has no pixel maps. */
typedef struct {
    size_t hm, wm;
    int n_map;
    int *map_cat;      /* [n_map] category index of each layer */
    int image_level;   /* carries the image-level categories */
} res_group;

/* One features file with its annotations and the split role of its images. */
typedef struct {
    h5in in;
    int opened;
    features_file ff;
    concept_category *cats;
    int n_cat;
    res_group *groups;
    int n_group;
    int *group_of;     /* [n_cat] */
    uint8_t *role;     /* [N] ROLE_TRAIN or ROLE_VAL */
    size_t n_role[2];
} source;

/* The concepts of all categories as one id space: 0 = none, category k's
 * label l is offset[k] + l. */
typedef struct {
    int n_cat;
    int *offset, *n_lab;
    size_t n_con;
    int *con_cat;      /* [n_con] */
    char **con_name;   /* [n_con]; [0] = "none" */
} vocab;

static void source_free(source *src)
{
    for (int g = 0; g < src->n_group; g++)
        free(src->groups[g].map_cat);
    free(src->groups);
    free(src->group_of);
    free(src->role);
    concepts_free(src->cats, src->n_cat);
    if (src->opened)
        h5in_close(&src->in);
    memset(src, 0, sizeof *src);
}

static int source_open(source *src, const char *path)
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

static int group_of_size(source *src, size_t hm, size_t wm)
{
    for (int g = 0; g < src->n_group; g++)
        if (src->groups[g].hm == hm && src->groups[g].wm == wm)
            return g;
    src->groups = realloc(src->groups, (src->n_group + 1) * sizeof *src->groups);
    src->groups[src->n_group] = (res_group){.hm = hm, .wm = wm,
                                            .map_cat = calloc(src->n_cat, sizeof(int))};
    return src->n_group++;
}

static void source_groups(source *src)
{
    src->group_of = calloc(src->n_cat, sizeof(int));
    for (int k = 0; k < src->n_cat; k++) {
        const concept_category *cat = src->cats + k;
        if (cat->image_level)
            continue;
        int g = group_of_size(src, cat->hm, cat->wm);
        src->groups[g].map_cat[src->groups[g].n_map++] = k;
        src->group_of[k] = g;
    }
    if (src->n_group == 0)
        group_of_size(src, src->ff.height, src->ff.width);
    src->groups[0].image_level = 1;
    for (int k = 0; k < src->n_cat; k++)
        if (src->cats[k].image_level)
            src->group_of[k] = 0;
}

/* The validation file must describe the same concepts as FEATURES. */
static int check_same_categories(const source *a, const source *b, int n_dim)
{
    if ((int)b->ff.n_dim != n_dim)
        return error_set(EX_DATAERR, "%s: has C=%zu channels but the directions and %s have D=%d",
                         b->in.path, b->ff.n_dim, a->in.path, n_dim);
    int same = a->n_cat == b->n_cat;
    for (int k = 0; same && k < a->n_cat; k++)
        same = !strcmp(a->cats[k].name, b->cats[k].name);
    if (!same)
        return error_set(EX_DATAERR, "%s: its concept categories under '/concepts' differ from those of %s",
                         b->in.path, a->in.path);
    for (int k = 0; k < a->n_cat; k++) {
        const concept_category *x = a->cats + k, *y = b->cats + k;
        if (x->image_level != y->image_level || (x->image_level && x->width != y->width))
            return error_set(EX_DATAERR, "%s: '%s' is %s but in %s it is %s", b->in.path, y->path,
                             y->image_level ? "image-level" : "pixel maps", a->in.path,
                             x->image_level ? "image-level" : "pixel maps");
        int differ = x->n_names && y->n_names && x->n_names != y->n_names;
        for (int l = 0; !differ && x->n_names && l < y->n_names; l++)
            differ = strcmp(x->names[l], y->names[l]) != 0;
        if (differ)
            return error_set(EX_DATAERR, "%s: the concept names of '%s' differ from those in %s",
                             b->in.path, y->path, a->in.path);
    }
    return 0;
}

static void vocab_free(vocab *v)
{
    for (size_t c = 0; v->con_name && c < v->n_con; c++)
        free(v->con_name[c]);
    free(v->con_name);
    free(v->offset);
    free(v->n_lab);
    free(v->con_cat);
    memset(v, 0, sizeof *v);
}

/* Concept ids from the scanned categories of one or two files. */
static int vocab_build(vocab *v, const source *train, const source *val)
{
    memset(v, 0, sizeof *v);
    v->n_cat = train->n_cat;
    v->offset = calloc(v->n_cat, sizeof(int));
    v->n_lab = calloc(v->n_cat, sizeof(int));
    v->n_con = 1;
    for (int k = 0; k < v->n_cat; k++) {
        const concept_category *x = train->cats + k, *y = val ? val->cats + k : NULL;
        const concept_category *named = x->n_names ? x : (y && y->n_names ? y : NULL);
        int n = concepts_count(x);
        if (y && concepts_count(y) > n)
            n = concepts_count(y);
        if (named) {
            const concept_category *other = named == x ? y : x;
            const char *other_path = named == x ? (val ? val->in.path : "") : train->in.path;
            n = named->n_names;
            if (other && !other->image_level && other->max_label > n)
                return error_set(EX_DATAERR, "%s: '%s' holds label %d but its 'names' in %s name only %d concepts",
                                 other_path, other->path, other->max_label,
                                 named == x ? train->in.path : val->in.path, n);
        }
        v->offset[k] = (int)v->n_con - 1;
        v->n_lab[k] = n;
        v->n_con += (size_t)n;
    }
    if (v->n_con == 1)
        return error_set(EX_DATAERR, "%s: the concept annotations hold no label at all", train->in.path);
    v->con_cat = calloc(v->n_con, sizeof(int));
    v->con_name = calloc(v->n_con, sizeof(char *));
    v->con_name[0] = strdup("none");
    for (int k = 0; k < v->n_cat; k++) {
        const concept_category *named = train->cats + k;
        if (!named->n_names && val && val->cats[k].n_names)
            named = val->cats + k;
        for (int l = 1; l <= v->n_lab[k]; l++) {
            char buf[512];
            concepts_label_name(named, l, buf, sizeof buf);
            v->con_cat[v->offset[k] + l] = k;
            v->con_name[v->offset[k] + l] = strdup(buf);
        }
    }
    return 0;
}

/* Roles of FEATURES' images: --val-fraction of them, drawn by the seed, are
 * validation; or all train when the validation set is another file. */
static int assign_roles(source *src, const options *opt, int all_role)
{
    size_t n = src->ff.n_img;
    src->role = malloc(n);
    if (!src->role)
        return error_set(EX_OSERR, "%s: out of memory for the roles of %zu images", src->in.path, n);
    if (all_role >= 0) {
        memset(src->role, all_role, n);
        src->n_role[all_role] = n;
        return 0;
    }
    if (n < 2)
        return error_set(EX_DATAERR, "%s: one image cannot be split into train and validation; "
                         "use --val-from", src->in.path);
    size_t n_val = (size_t)llround(opt->val_fraction * (double)n);
    n_val = n_val < 1 ? 1 : (n_val > n - 1 ? n - 1 : n_val);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return error_set(EX_OSERR, "%s: out of memory splitting %zu images", src->in.path, n);
    rng_state rng;
    rng_init(&rng, opt->cli.seed, SPLIT_STREAM);
    rng_permutation(&rng, perm, n);
    memset(src->role, ROLE_TRAIN, n);
    for (size_t k = 0; k < n_val; k++)
        src->role[perm[k]] = ROLE_VAL;
    free(perm);
    src->n_role[ROLE_VAL] = n_val;
    src->n_role[ROLE_TRAIN] = n - n_val;
    return 0;
}

/* ------------------------------------------------------------- batches */

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
} batch;

static size_t group_values(const source *src)
{
    size_t most = 1;
    for (int g = 0; g < src->n_group; g++) {
        size_t v = (size_t)src->groups[g].n_map * src->groups[g].hm * src->groups[g].wm;
        most = v > most ? v : most;
    }
    return most;
}

static void batch_free(batch *b, int n_cat)
{
    for (int k = 0; b->rows && k < n_cat; k++)
        free(b->rows[k]);
    free(b->rows); free(b->features); free(b->sel); free(b->X); free(b->A);
    free(b->maps); free(b->present); free(b->img_labels);
    memset(b, 0, sizeof *b);
}

/* Images per batch: about 64 MiB of everything held per image. */
static int batch_alloc(batch *b, const source *src, const vocab *v, int n_det)
{
    memset(b, 0, sizeof *b);
    size_t hw = src->ff.height * src->ff.width, n_dim = src->ff.n_dim, per_image = 0;
    per_image += n_dim * hw * (sizeof(float) + sizeof(double)) + hw * n_det * sizeof(double);
    for (int k = 0; k < src->n_cat; k++)
        per_image += src->cats[k].width * sizeof(int32_t);
    per_image += group_values(src) * sizeof(int32_t) + v->n_con + src->n_cat;
    size_t cap = (64u << 20) / per_image;
    cap = cap < 1 ? 1 : (cap > src->ff.n_img ? src->ff.n_img : cap);
    b->cap = cap;
    b->hw = hw;
    b->features = malloc(cap * n_dim * hw * sizeof(float));
    b->rows = calloc(src->n_cat, sizeof(int32_t *));
    b->sel = malloc(cap * sizeof(size_t));
    b->X = malloc(cap * hw * n_dim * sizeof(double));
    b->A = malloc(cap * hw * n_det * sizeof(double));
    b->maps = malloc(cap * group_values(src) * sizeof(int32_t));
    b->present = malloc(cap * src->n_cat + 1);
    b->img_labels = malloc(cap * v->n_con);
    int ok = b->features && b->rows && b->sel && b->X && b->A && b->maps && b->present && b->img_labels;
    for (int k = 0; ok && k < src->n_cat; k++)
        ok = (b->rows[k] = malloc(cap * src->cats[k].width * sizeof(int32_t))) != NULL;
    if (!ok) {
        batch_free(b, src->n_cat);
        return error_set(EX_OSERR, "%s: out of memory for a batch of %zu images", src->in.path, cap);
    }
    return 0;
}

static int batch_read(batch *b, const source *src, size_t img0, size_t n)
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
static void batch_select(batch *b, const source *src, size_t img0, size_t n, int role,
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

/* The selected images' annotations of resolution group g, as concept ids. */
static metrics_annotations batch_annotations(batch *b, const source *src, const vocab *v,
                                             size_t img0, int g)
{
    const res_group *grp = src->groups + g;
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
        if (!grp->image_level)
            continue;
        uint8_t *labels = b->img_labels + s * v->n_con;
        memset(labels, 0, v->n_con);
        for (int k = 0; k < src->n_cat; k++)
            if (src->cats[k].image_level) {
                const int32_t *row = b->rows[k] + b->sel[s] * src->cats[k].width;
                for (size_t l = 0; l < src->cats[k].width; l++)
                    labels[v->offset[k] + 1 + l] = row[l] != 0;
            }
    }
    return (metrics_annotations){.hm = grp->hm, .wm = grp->wm, .n_map = (size_t)grp->n_map,
                                 .map_cat = grp->map_cat, .maps = b->maps, .map_present = b->present,
                                 .img_labels = grp->image_level ? b->img_labels : NULL};
}

static int batch_count(batch *b, const source *src, const vocab *v, size_t img0,
                       metrics_iou_counts *counts)
{
    for (int g = 0; g < src->n_group; g++) {
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

/* ------------------------------------------------------------ AP blocks */

/* A set of units (the detectors, or their Linear-OR groups) with labels. */
typedef struct {
    const metrics_units *units;
    const int *label;  /* [n_unit] concept id, 0 = none */
    double *ap;        /* [n_unit] result */
} unit_set;

/* Units [lo, hi) of a set with their per-pixel validation scores. */
typedef struct {
    const unit_set *set;
    size_t lo, hi;
    metrics_units sub;     /* the members of units lo..hi−1 as units 0.. */
    size_t *n_samples;     /* [hi − lo] */
    size_t *fill;
    double **score;        /* [hi − lo] each [n_samples] */
    uint8_t **positive;
    double *maps;          /* [largest hm·wm × (hi − lo)] one image's unit score maps */
} ap_part;

/* Validation pixels AP ranks for a unit with concept c: every annotation
 * pixel of the validation images annotated for c's category. */
static size_t unit_samples(const source *src, const vocab *v, int c)
{
    if (c <= 0)
        return 0;
    int k = v->con_cat[c];
    const res_group *grp = src->groups + src->group_of[k];
    size_t n = 0;
    for (size_t x = 0; x < src->ff.n_img; x++)
        n += src->role[x] == ROLE_VAL && src->cats[k].annotated[x];
    return n * grp->hm * grp->wm;
}

static void ap_part_free(ap_part *part)
{
    size_t n = part->hi - part->lo;
    for (size_t u = 0; part->score && u < n; u++) {
        free(part->score[u]);
        free(part->positive[u]);
    }
    free(part->score); free(part->positive); free(part->n_samples); free(part->fill);
    free(part->maps);
    if (part->sub.start)
        metrics_units_free(&part->sub);
    memset(part, 0, sizeof *part);
}

static int ap_part_init(ap_part *part, const unit_set *set, size_t lo, size_t hi, const source *src,
                        const vocab *v)
{
    memset(part, 0, sizeof *part);
    part->set = set;
    part->lo = lo;
    part->hi = hi;
    size_t n = hi - lo, n_det = set->units->n_det, most_q = 1;
    if (n == 0)
        return 0;
    for (int g = 0; g < src->n_group; g++)
        most_q = src->groups[g].hm * src->groups[g].wm > most_q ? src->groups[g].hm * src->groups[g].wm : most_q;
    int *det_unit = malloc(n_det * sizeof(int));
    part->n_samples = calloc(n, sizeof(size_t));
    part->fill = calloc(n, sizeof(size_t));
    part->score = calloc(n, sizeof(double *));
    part->positive = calloc(n, sizeof(uint8_t *));
    part->maps = malloc(most_q * n * sizeof(double));
    int ok = det_unit && part->n_samples && part->fill && part->score && part->positive && part->maps;
    for (size_t i = 0; ok && i < n_det; i++)
        det_unit[i] = -1;
    for (size_t u = lo; ok && u < hi; u++)
        for (size_t j = set->units->start[u]; j < set->units->start[u + 1]; j++)
            det_unit[set->units->member[j]] = (int)(u - lo);
    ok = ok && metrics_units_init(&part->sub, det_unit, n_det, n) == 0;
    for (size_t u = 0; ok && u < n; u++) {
        part->n_samples[u] = unit_samples(src, v, set->label[lo + u]);
        size_t m = part->n_samples[u] ? part->n_samples[u] : 1;
        ok = (part->score[u] = malloc(m * sizeof(double))) && (part->positive[u] = malloc(m));
    }
    free(det_unit);
    if (!ok) {
        ap_part_free(part);
        return error_set(EX_OSERR, "out of memory for the per-pixel scores of AP; lower --memory");
    }
    return 0;
}

/* Appends one selected image's pixels to the samples of the part's units. */
static void ap_collect_image(ap_part *part, const batch *b, size_t s, const source *src,
                             const vocab *v, size_t img0)
{
    size_t n = part->hi - part->lo, img = img0 + b->sel[s], n_det = part->set->units->n_det;
    const double *A_img = b->A + s * b->hw * n_det;
    for (int g = 0; g < src->n_group; g++) {
        const res_group *grp = src->groups + g;
        size_t n_q = grp->hm * grp->wm;
        int wanted = 0;
        for (size_t u = 0; u < n && !wanted; u++) {
            int c = part->set->label[part->lo + u];
            wanted = c > 0 && src->group_of[v->con_cat[c]] == g && src->cats[v->con_cat[c]].annotated[img];
        }
        if (!wanted)
            continue;
        metrics_unit_scores(&part->sub, A_img, src->ff.height, src->ff.width, grp->hm, grp->wm, part->maps);
        for (size_t u = 0; u < n; u++) {
            int c = part->set->label[part->lo + u];
            if (c <= 0)
                continue;
            int k = v->con_cat[c], l = c - v->offset[k];
            if (src->group_of[k] != g || !src->cats[k].annotated[img])
                continue;
            const concept_category *cat = src->cats + k;
            const int32_t *row = b->rows[k] + b->sel[s] * cat->width;
            double *score = part->score[u] + part->fill[u];
            uint8_t *positive = part->positive[u] + part->fill[u];
            for (size_t q = 0; q < n_q; q++) {
                score[q] = part->maps[q * n + u];
                positive[q] = cat->image_level ? row[l - 1] != 0 : row[q] == l;
            }
            part->fill[u] += n_q;
        }
    }
}

static int ap_finish(ap_part *part)
{
    size_t n = part->hi - part->lo;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (size_t u = 0; u < n; u++)
        failed |= metrics_average_precision(part->score[u], part->positive[u], part->fill[u],
                                            &part->set->ap[part->lo + u]) != 0;
    if (failed)
        return error_set(EX_OSERR, "out of memory ranking the scores of AP");
    return 0;
}

/* ------------------------------------------------------------- the passes */

typedef struct {
    const options *opt;
    directions dirs;
    vocab v;
    source train_src, val_src;   /* val_src.opened only with --val-from */
    source *val;                 /* the source of the validation images */
    metrics_units individual, linear_or;
    metrics_iou_counts counts[2];      /* individual, per role */
    metrics_iou_counts lor_counts;     /* Linear-OR units, validation */
    int *lor_label;                    /* [n_lor] */
} context;

/* Pass 1: IoU counts of every detector on both splits. */
static int count_pass(context *ctx, source *src)
{
    batch b;
    if (batch_alloc(&b, src, &ctx->v, ctx->dirs.n_det))
        return error_code();
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < src->ff.n_img; img0 += b.cap) {
        size_t n = src->ff.n_img - img0 < b.cap ? src->ff.n_img - img0 : b.cap;
        rc = batch_read(&b, src, img0, n);
        for (int role = ROLE_TRAIN; !rc && role <= ROLE_VAL; role++) {
            batch_select(&b, src, img0, n, role, &ctx->dirs);
            if (b.n_sel)
                rc = batch_count(&b, src, &ctx->v, img0, &ctx->counts[role]);
        }
        cli_progress(&ctx->opt->cli, "IoU: %zu of %zu images of %s", img0 + n, src->ff.n_img, src->in.path);
    }
    cli_progress_end(&ctx->opt->cli);
    batch_free(&b, src->n_cat);
    return rc;
}

/* Pass 2, 3, …: over the validation images, the Linear-OR counts (first
 * pass only) and the AP samples of the parts' units. */
static int score_pass(context *ctx, ap_part *parts, int n_parts, int count_lor)
{
    source *src = ctx->val;
    batch b;
    if (batch_alloc(&b, src, &ctx->v, ctx->dirs.n_det))
        return error_code();
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < src->ff.n_img; img0 += b.cap) {
        size_t n = src->ff.n_img - img0 < b.cap ? src->ff.n_img - img0 : b.cap;
        rc = batch_read(&b, src, img0, n);
        if (!rc)
            batch_select(&b, src, img0, n, ROLE_VAL, &ctx->dirs);
        if (!rc && b.n_sel && count_lor)
            rc = batch_count(&b, src, &ctx->v, img0, &ctx->lor_counts);
        for (int p = 0; !rc && p < n_parts; p++)
            if (parts[p].hi > parts[p].lo)
                for (size_t s = 0; s < b.n_sel; s++)
                    ap_collect_image(parts + p, &b, s, src, &ctx->v, img0);
        cli_progress(&ctx->opt->cli, "AP: %zu of %zu images of %s", img0 + n, src->ff.n_img, src->in.path);
    }
    cli_progress_end(&ctx->opt->cli);
    batch_free(&b, src->n_cat);
    for (int p = 0; !rc && p < n_parts; p++)
        rc = ap_finish(parts + p);
    return rc;
}

/* Blocks of units (detectors first, then Linear-OR units) whose scores fit
 * --memory together; at least one unit per block. */
static int ap_passes(context *ctx, unit_set *sets)
{
    size_t n_ind = ctx->individual.n_unit, n_all = n_ind + ctx->linear_or.n_unit;
    size_t lo = 0;
    int rc = 0, first = 1;
    while (!rc && lo < n_all) {
        size_t hi = lo, bytes = 0;
        while (hi < n_all) {
            const unit_set *set = hi < n_ind ? sets : sets + 1;
            size_t u = hi < n_ind ? hi : hi - n_ind;
            size_t need = unit_samples(ctx->val, &ctx->v, set->label[u]) * (sizeof(double) + 1);
            if (hi > lo && bytes + need > ctx->opt->memory)
                break;
            bytes += need;
            hi++;
        }
        ap_part parts[2];
        size_t ind_hi = hi < n_ind ? hi : n_ind, lor_lo = lo > n_ind ? lo - n_ind : 0;
        rc = ap_part_init(parts, sets, lo < n_ind ? lo : n_ind, ind_hi, ctx->val, &ctx->v);
        if (!rc && (rc = ap_part_init(parts + 1, sets + 1, lor_lo, hi > n_ind ? hi - n_ind : 0,
                                      ctx->val, &ctx->v)))
            ap_part_free(parts);
        if (!rc) {
            rc = score_pass(ctx, parts, 2, first);
            ap_part_free(parts);
            ap_part_free(parts + 1);
        }
        first = 0;
        lo = hi;
    }
    return rc;
}

/* ------------------------------------------------------------- results */

typedef struct {
    size_t n;
    double *precision, *recall, *f1, *iou, *ap;
    double *tp, *fp, *fn;
} prf_table;

static void prf_alloc(prf_table *t, size_t n)
{
    size_t m = n ? n : 1;
    t->n = n;
    t->precision = calloc(m, sizeof(double)); t->recall = calloc(m, sizeof(double));
    t->f1 = calloc(m, sizeof(double)); t->iou = calloc(m, sizeof(double));
    t->ap = calloc(m, sizeof(double)); t->tp = calloc(m, sizeof(double));
    t->fp = calloc(m, sizeof(double)); t->fn = calloc(m, sizeof(double));
}

static void prf_free(prf_table *t)
{
    free(t->precision); free(t->recall); free(t->f1); free(t->iou); free(t->ap);
    free(t->tp); free(t->fp); free(t->fn);
}

/* Precision, recall, F1 and IoU of each unit against its label from the
 * validation counts (category-aware: TP, FP, FN as in metrics_iou_confusion). */
static void prf_from_counts(prf_table *t, const metrics_iou_counts *counts, const int *label)
{
    size_t n = t->n ? t->n : 1;
    uint64_t *tp = malloc(n * sizeof *tp), *fp = malloc(n * sizeof *fp), *fn = malloc(n * sizeof *fn);
    metrics_iou_confusion(counts, label, tp, fp, fn);
    metrics_prf(tp, fp, fn, t->n, t->precision, t->recall, t->f1, t->iou);
    for (size_t k = 0; k < t->n; k++) {
        t->tp[k] = (double)tp[k];
        t->fp[k] = (double)fp[k];
        t->fn[k] = (double)fn[k];
    }
    free(tp); free(fp); free(fn);
}

typedef struct {
    double s1, s2, precision, recall, f1, iou, ap;
} summary;

static summary summarise(const prf_table *t, double s1, double s2)
{
    return (summary){s1, s2, metrics_mean(t->precision, t->n), metrics_mean(t->recall, t->n),
                     metrics_mean(t->f1, t->n), metrics_mean(t->iou, t->n), metrics_mean(t->ap, t->n)};
}

/* [n_unit × n_con] → [n_unit × (n_con − 1)]: the "none" column dropped. */
static double *without_none(const double *iou, size_t n_unit, size_t n_con)
{
    double *out = malloc((n_unit * (n_con - 1) + 1) * sizeof *out);
    for (size_t u = 0; u < n_unit; u++)
        memcpy(out + u * (n_con - 1), iou + u * n_con + 1, (n_con - 1) * sizeof *out);
    return out;
}

/* Concept ids → columns of /concept_names (−1 = none). */
static int32_t *label_columns(const int *label, size_t n)
{
    int32_t *out = malloc((n ? n : 1) * sizeof *out);
    for (size_t k = 0; k < n; k++)
        out[k] = label[k] - 1;
    return out;
}

static int write_prf(h5out *out, const char *group, const prf_table *t, const summary *s)
{
    static const char *const names[] = {"precision", "recall", "f1", "iou", "ap", "tp", "fp", "fn"};
    const double *data[] = {t->precision, t->recall, t->f1, t->iou, t->ap, t->tp, t->fp, t->fn};
    hsize_t dims[1] = {t->n};
    char path[128];
    for (int k = 0; k < 8; k++) {
        snprintf(path, sizeof path, "%s/%s", group, names[k]);
        if (h5out_write(out, path, H5IO_DOUBLE, 1, dims, data[k]))
            return error_code();
    }
    if (h5out_attr_double(out, group, "s1", s->s1) || h5out_attr_double(out, group, "s2", s->s2) ||
        h5out_attr_double(out, group, "mean_precision", s->precision) ||
        h5out_attr_double(out, group, "mean_recall", s->recall) ||
        h5out_attr_double(out, group, "mean_f1", s->f1) ||
        h5out_attr_double(out, group, "mean_iou", s->iou) ||
        h5out_attr_double(out, group, "mean_ap", s->ap) ||
        h5out_attr_int(out, group, "count", (long long)t->n))
        return error_code();
    return 0;
}

typedef struct {
    double *iou_train, *iou_val;   /* [I × n_con] */
    int *label;                    /* [I] concept id */
    double *phi_train, *phi_val;   /* [I] */
    prf_table ind, lor;
    summary ind_sum, lor_sum;
} results;

static void results_free(results *r)
{
    free(r->iou_train); free(r->iou_val); free(r->label); free(r->phi_train); free(r->phi_val);
    prf_free(&r->ind);
    prf_free(&r->lor);
}

static int write_results(const context *ctx, h5out *out, const results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con, n_lor = ctx->linear_or.n_unit;
    hsize_t mat[2] = {n_det, n_con - 1}, det[1] = {n_det}, lor[1] = {n_lor};
    double *train = without_none(r->iou_train, n_det, n_con), *val = without_none(r->iou_val, n_det, n_con);
    int32_t *label = label_columns(r->label, n_det), *lor_label = label_columns(ctx->lor_label, n_lor);
    int32_t *members = malloc((n_lor ? n_lor : 1) * sizeof *members);
    for (size_t u = 0; u < n_lor; u++)
        members[u] = (int32_t)(ctx->linear_or.start[u + 1] - ctx->linear_or.start[u]);
    const char **categories = malloc(n_con * sizeof *categories);
    for (size_t c = 1; c < n_con; c++)
        categories[c - 1] = ctx->train_src.cats[ctx->v.con_cat[c]].name;
    int rc = h5out_write_strings(out, "/concept_names", (const char *const *)ctx->v.con_name + 1, n_con - 1) ||
             h5out_write_strings(out, "/concept_category", categories, n_con - 1) ||
             h5out_write(out, "/iou/train", H5IO_DOUBLE, 2, mat, train) ||
             h5out_write(out, "/iou/val", H5IO_DOUBLE, 2, mat, val) ||
             h5out_write(out, "/label", H5IO_INT32, 1, det, label) ||
             h5out_write(out, "/label_iou_train", H5IO_DOUBLE, 1, det, r->phi_train) ||
             h5out_write(out, "/label_iou_val", H5IO_DOUBLE, 1, det, r->phi_val) ||
             write_prf(out, "/individual", &r->ind, &r->ind_sum) ||
             write_prf(out, "/linear_or", &r->lor, &r->lor_sum) ||
             h5out_write(out, "/linear_or/label", H5IO_INT32, 1, lor, lor_label) ||
             h5out_write(out, "/linear_or/members", H5IO_INT32, 1, lor, members) ||
             h5out_attr_double(out, "/", "s1", r->ind_sum.s1) ||
             h5out_attr_double(out, "/", "s2", r->ind_sum.s2) ||
             h5out_attr_int(out, "/", "n_detectors", (long long)n_det) ||
             h5out_attr_int(out, "/", "n_concepts", (long long)(n_con - 1)) ||
             h5out_attr_int(out, "/", "n_train_images", (long long)ctx->train_src.n_role[ROLE_TRAIN]) ||
             h5out_attr_int(out, "/", "n_val_images", (long long)ctx->val->n_role[ROLE_VAL]) ||
             h5out_attr_string(out, "/", "directions_step", ctx->dirs.step) ||
             h5out_attr_string(out, "/", "val_source", ctx->opt->val_from ? "file" : "split");
    if (!rc && ctx->opt->val_from)
        rc = h5out_attr_string(out, "/", "val_from", ctx->opt->val_from);
    if (!rc && !ctx->opt->val_from) {
        size_t n_val = ctx->train_src.n_role[ROLE_VAL], k = 0;
        int32_t *images = malloc(n_val * sizeof *images);
        for (size_t x = 0; x < ctx->train_src.ff.n_img; x++)
            if (ctx->train_src.role[x] == ROLE_VAL)
                images[k++] = (int32_t)x;
        hsize_t vdims[1] = {n_val};
        rc = h5out_write(out, "/val_images", H5IO_INT32, 1, vdims, images) ||
             h5out_attr_double(out, "/", "val_fraction", ctx->opt->val_fraction);
        free(images);
    }
    free(train); free(val); free(label); free(lor_label); free(members); free(categories);
    return rc ? error_code() : 0;
}

static int compute_results(context *ctx, results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con;
    memset(r, 0, sizeof *r);
    r->iou_train = malloc(n_det * n_con * sizeof(double));
    r->iou_val = malloc(n_det * n_con * sizeof(double));
    r->label = malloc(n_det * sizeof(int));
    r->phi_train = malloc(n_det * sizeof(double));
    r->phi_val = malloc(n_det * sizeof(double));
    metrics_iou_compute(&ctx->counts[ROLE_TRAIN], r->iou_train);
    metrics_iou_compute(&ctx->counts[ROLE_VAL], r->iou_val);
    metrics_best_label(r->iou_train, n_det, n_con, r->label);
    metrics_label_iou(r->iou_train, n_det, n_con, r->label, r->phi_train);
    metrics_label_iou(r->iou_val, n_det, n_con, r->label, r->phi_val);

    ctx->lor_label = malloc((n_det ? n_det : 1) * sizeof(int));
    if (metrics_units_by_label(&ctx->linear_or, r->label, n_det, ctx->lor_label) ||
        metrics_iou_init(&ctx->lor_counts, &ctx->linear_or, n_con, (size_t)ctx->v.n_cat, ctx->v.con_cat))
        return error_set(EX_OSERR, "out of memory for the Linear-OR units");
    size_t n_lor = ctx->linear_or.n_unit;
    prf_alloc(&r->ind, n_det);
    prf_alloc(&r->lor, n_lor);
    unit_set sets[2] = {{&ctx->individual, r->label, r->ind.ap}, {&ctx->linear_or, ctx->lor_label, r->lor.ap}};
    if (ap_passes(ctx, sets))
        return error_code();
    prf_from_counts(&r->ind, &ctx->counts[ROLE_VAL], r->label);
    prf_from_counts(&r->lor, &ctx->lor_counts, ctx->lor_label);
    /* one classifier per label: S¹ = S² = Σ of their IoUs */
    double lor_s = 0;
    for (size_t u = 0; u < n_lor; u++)
        lor_s += r->lor.iou[u];
    r->ind_sum = summarise(&r->ind, metrics_s1(r->phi_val, n_det), metrics_s2(r->phi_val, r->label, n_det));
    r->lor_sum = summarise(&r->lor, lor_s, lor_s);
    return 0;
}

/* ------------------------------------------------------------- stdout */

static void print_table(const context *ctx, const results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con;
    int mode = ctx->opt->table;
    if (mode == TABLE_NONE)
        return;
    if (mode == TABLE_AUTO)
        mode = n_con - 1 <= TABLE_AUTO_MAX ? TABLE_ALL : TABLE_LABELS;
    uint8_t *shown = calloc(n_con, 1);
    for (size_t c = 1; c < n_con; c++)
        shown[c] = mode == TABLE_ALL;
    for (size_t i = 0; i < n_det; i++)
        shown[r->label[i]] |= r->label[i] > 0;
    int name_width = 5;
    for (size_t c = 0; c < n_con; c++)
        if ((shown[c] || c == 0) && (int)strlen(ctx->v.con_name[c]) > name_width)
            name_width = (int)strlen(ctx->v.con_name[c]);
    printf("IoU of detector and concept on the validation images (%zu); label: the concept of\n"
           "highest IoU on the train images (%zu)\n",
           ctx->val->n_role[ROLE_VAL], ctx->train_src.n_role[ROLE_TRAIN]);
    printf("%-9s", "detector");
    for (size_t c = 1; c < n_con; c++)
        if (shown[c])
            printf("  %*s", name_width, ctx->v.con_name[c]);
    printf("  %-*s  %s\n", name_width, "label", "IoU");
    for (size_t i = 0; i < n_det; i++) {
        printf("%-9zu", i);
        for (size_t c = 1; c < n_con; c++)
            if (shown[c])
                printf("  %*.2f", name_width, r->iou_val[i * n_con + c]);
        printf("  %-*s  %.2f\n", name_width, ctx->v.con_name[r->label[i]], r->phi_val[i]);
    }
    printf("\n%-12s %6s %9s %9s %7s %7s %7s %7s %7s\n", "", "units", "S1", "S2", "mIoU", "mP", "mR",
           "mF1", "mAP");
    const summary *s[2] = {&r->ind_sum, &r->lor_sum};
    const char *names[2] = {"individual", "linear-or"};
    size_t counts[2] = {n_det, ctx->linear_or.n_unit};
    for (int k = 0; k < 2; k++)
        printf("%-12s %6zu %9.4f %9.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", names[k], counts[k], s[k]->s1,
               s[k]->s2, s[k]->iou, s[k]->precision, s[k]->recall, s[k]->f1, s[k]->ap);
    free(shown);
}

/* ------------------------------------------------------------- main */

static int open_inputs(context *ctx, h5in *dir_in)
{
    const options *opt = ctx->opt;
    if (h5in_open(dir_in, opt->directions, H5IO_FORMAT_DIRECTIONS))
        return error_code();
    if (source_open(&ctx->train_src, opt->features) ||
        dirfile_read(dir_in, (int)ctx->train_src.ff.n_dim, opt->features, &ctx->dirs))
        return error_code();
    ctx->val = &ctx->train_src;
    if (opt->val_from) {
        if (source_open(&ctx->val_src, opt->val_from) ||
            check_same_categories(&ctx->train_src, &ctx->val_src, ctx->dirs.n_dim))
            return error_code();
        ctx->val = &ctx->val_src;
    }
    return 0;
}

/* Scans the annotations (values checked), builds the concept ids, the
 * split and the counters. */
static int prepare(context *ctx)
{
    source *srcs[2] = {&ctx->train_src, ctx->opt->val_from ? &ctx->val_src : NULL};
    for (int s = 0; s < 2; s++)
        for (int k = 0; srcs[s] && k < srcs[s]->n_cat; k++)
            if (concepts_scan(&srcs[s]->in, srcs[s]->cats + k))
                return error_code();
    if (vocab_build(&ctx->v, &ctx->train_src, srcs[1]))
        return error_code();
    source_groups(&ctx->train_src);
    if (srcs[1])
        source_groups(&ctx->val_src);
    if (assign_roles(&ctx->train_src, ctx->opt, srcs[1] ? ROLE_TRAIN : -1) ||
        (srcs[1] && assign_roles(&ctx->val_src, ctx->opt, ROLE_VAL)))
        return error_code();
    size_t n_det = (size_t)ctx->dirs.n_det;
    if (metrics_units_identity(&ctx->individual, n_det) ||
        metrics_iou_init(&ctx->counts[0], &ctx->individual, ctx->v.n_con, (size_t)ctx->v.n_cat, ctx->v.con_cat) ||
        metrics_iou_init(&ctx->counts[1], &ctx->individual, ctx->v.n_con, (size_t)ctx->v.n_cat, ctx->v.con_cat))
        return error_set(EX_OSERR, "out of memory for the IoU counts of %zu detectors", n_det);
    return 0;
}

static void context_free(context *ctx)
{
    metrics_iou_free(&ctx->counts[0]);
    metrics_iou_free(&ctx->counts[1]);
    metrics_iou_free(&ctx->lor_counts);
    if (ctx->individual.start)
        metrics_units_free(&ctx->individual);
    if (ctx->linear_or.start)
        metrics_units_free(&ctx->linear_or);
    free(ctx->lor_label);
    vocab_free(&ctx->v);
    dirs_free(&ctx->dirs);
    source_free(&ctx->train_src);
    source_free(&ctx->val_src);
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    context ctx = {.opt = &opt};
    h5in dir_in = {.file = H5I_INVALID_HID};
    h5out out;
    if (open_inputs(&ctx, &dir_in) ||
        h5out_create(&out, opt.cli.output, opt.cli.overwrite, H5IO_FORMAT_EVALUATION, 1)) {
        context_free(&ctx);
        h5in_close(&dir_in);
        cli_fail(&opt.cli);
    }
    results r = {0};
    h5in *inputs[3] = {&dir_in, &ctx.train_src.in, &ctx.val_src.in};
    h5io_provenance prov = {.tool = "iou-label", .argc = argc, .argv = argv, .seed = opt.cli.seed,
                            .threads = cli_threads(), .device = "cpu", .inputs = inputs,
                            .n_inputs = opt.val_from ? 3 : 2};
    int rc = prepare(&ctx) || count_pass(&ctx, &ctx.train_src) ||
             (opt.val_from && count_pass(&ctx, &ctx.val_src)) || compute_results(&ctx, &r) ||
             write_results(&ctx, &out, &r) || h5out_provenance(&out, &prov) || h5out_commit(&out);
    if (rc)
        h5out_abort(&out);
    else if (!out.to_stdout)
        print_table(&ctx, &r);
    results_free(&r);
    context_free(&ctx);
    h5in_close(&dir_in);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
