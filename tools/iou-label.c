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
#include "apstream.h"
#include "cli.h"
#include "concepts.h"
#include "dirfile.h"
#include "error.h"
#include "evalsrc.h"
#include "h5io.h"
#include "metrics.h"
#include "rng.h"

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
    double bytes;
    if (opts_parse_size(arg, &bytes)) {
        snprintf(msg, len, "--%s: expected a size in bytes such as 512M or 2G, got '%s'", row->name, arg);
        return -1;
    }
    *(size_t *)row->target = (size_t)bytes;
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

/* ------------------------------------------------------------- the passes */

typedef struct {
    const options *opt;
    directions dirs;
    concepts_vocab v;
    evalsrc train_src, val_src;   /* val_src.opened only with --val-from */
    evalsrc *val;                 /* the source of the validation images */
    metrics_units individual, linear_or;
    metrics_iou_counts counts[2];      /* individual, per role */
    metrics_iou_counts lor_counts;     /* Linear-OR units, validation */
    int *lor_label;                    /* [n_lor] */
} context;

/* Pass 1: IoU counts of every detector on both splits. */
static int count_pass(context *ctx, evalsrc *src)
{
    evalsrc_batch b;
    if (evalsrc_batch_alloc(&b, src, &ctx->v, ctx->dirs.n_det))
        return error_code();
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < src->ff.n_img; img0 += b.cap) {
        size_t n = src->ff.n_img - img0 < b.cap ? src->ff.n_img - img0 : b.cap;
        rc = evalsrc_batch_read(&b, src, img0, n);
        for (int role = EVALSRC_TRAIN; !rc && role <= EVALSRC_VAL; role++) {
            evalsrc_batch_select(&b, src, img0, n, role, &ctx->dirs);
            if (b.n_sel)
                rc = evalsrc_batch_count(&b, src, &ctx->v, img0, &ctx->counts[role]);
        }
        cli_progress(&ctx->opt->cli, "IoU: %zu of %zu images of %s", img0 + n, src->ff.n_img, src->in.path);
    }
    cli_progress_end(&ctx->opt->cli);
    evalsrc_batch_free(&b, src->n_cat);
    return rc;
}

/* Pass 2, 3, …: over the validation images, the Linear-OR counts (first
 * pass only) and the AP samples of the parts' units. */
static int score_pass(context *ctx, apstream *stream, evalsrc_ap_part *parts, int n_parts, int count_lor)
{
    evalsrc *src = ctx->val;
    evalsrc_batch b;
    if (evalsrc_batch_alloc(&b, src, &ctx->v, ctx->dirs.n_det))
        return error_code();
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < src->ff.n_img; img0 += b.cap) {
        size_t n = src->ff.n_img - img0 < b.cap ? src->ff.n_img - img0 : b.cap;
        rc = evalsrc_batch_read(&b, src, img0, n);
        if (!rc)
            evalsrc_batch_select(&b, src, img0, n, EVALSRC_VAL, &ctx->dirs);
        if (!rc && b.n_sel && count_lor)
            rc = evalsrc_batch_count(&b, src, &ctx->v, img0, &ctx->lor_counts);
        for (int p = 0; !rc && p < n_parts; p++)
            for (size_t s = 0; !rc && parts[p].hi > parts[p].lo && s < b.n_sel; s++)
                rc = evalsrc_ap_collect_image(parts + p, stream, &b, s, src, &ctx->v, img0);
        cli_progress(&ctx->opt->cli, "AP: %zu of %zu images of %s", img0 + n, src->ff.n_img, src->in.path);
    }
    cli_progress_end(&ctx->opt->cli);
    evalsrc_batch_free(&b, src->n_cat);
    return rc;
}

/* One block of apstream ids [lo, hi) (detectors first, then Linear-OR
 * units): a pass over the validation images, then the block's AP. */
static int ap_block(context *ctx, apstream *stream, const evalsrc_unit_set *sets, size_t lo, size_t hi,
                    int first, double *ap)
{
    size_t n_ind = sets[1].first;
    evalsrc_ap_part parts[2] = {{0}};
    int rc = evalsrc_ap_part_init(parts, sets, lo < n_ind ? lo : n_ind, hi < n_ind ? hi : n_ind, ctx->val) ||
             evalsrc_ap_part_init(parts + 1, sets + 1, lo > n_ind ? lo - n_ind : 0, hi > n_ind ? hi - n_ind : 0,
                          ctx->val) ||
             score_pass(ctx, stream, parts, 2, first);
    evalsrc_ap_part_free(parts);
    evalsrc_ap_part_free(parts + 1);
    if (rc)
        return error_code();
    rc = apstream_finish(stream, ap);
    if (rc == -1)
        return error_set(EX_OSERR, "out of memory ranking the scores of AP");
    if (rc)
        return error_set(EX_SOFTWARE, "%s: a NaN score or missing samples in the AP of units %zu..%zu",
                         ctx->val->in.path, lo, hi - 1);
    return 0;
}

/* AP of every unit of both sets, ap [n_ind + n_lor], in blocks whose
 * per-pixel scores fit --memory (apstream). */
static int ap_passes(context *ctx, const evalsrc_unit_set *sets, double *ap)
{
    size_t n_ind = sets[0].units->n_unit, n_all = n_ind + sets[1].units->n_unit;
    size_t *n_samples = error_malloc(n_all * sizeof *n_samples, "the AP sample counts");
    if (!n_samples)
        return error_code();
    for (size_t u = 0; u < n_all; u++)
        n_samples[u] = evalsrc_unit_samples(ctx->val, &ctx->v, u < n_ind ? sets[0].label[u] : sets[1].label[u - n_ind]);
    apstream stream;
    int rc = apstream_init(&stream, n_samples, n_all, ctx->opt->memory) ? error_set(EX_OSERR, "out of memory for AP")
                                                                        : 0;
    free(n_samples);
    size_t lo, hi;
    int more = 0, first = 1;
    while (!rc && (more = apstream_next(&stream, &lo, &hi)) == 1) {
        rc = ap_block(ctx, &stream, sets, lo, hi, first, ap);
        first = 0;
    }
    if (!rc && more < 0)
        rc = error_set(EX_OSERR, "out of memory for the per-pixel scores of AP; lower --memory");
    apstream_free(&stream);
    return rc;
}

/* ------------------------------------------------------------- results */

/* [n_unit × n_con] → [n_unit × (n_con − 1)]: the "none" column dropped. */
static double *without_none(const double *iou, size_t n_unit, size_t n_con)
{
    double *out = error_malloc(n_unit * (n_con - 1) * sizeof *out, "the IoU table");
    for (size_t u = 0; out && u < n_unit; u++)
        memcpy(out + u * (n_con - 1), iou + u * n_con + 1, (n_con - 1) * sizeof *out);
    return out;
}

/* Concept ids → columns of /concept_names (−1 = none). */
static int32_t *label_columns(const int *label, size_t n)
{
    int32_t *out = error_malloc(n * sizeof *out, "the labels");
    for (size_t k = 0; out && k < n; k++)
        out[k] = label[k] - 1;
    return out;
}

static int write_prf(h5out *out, const char *group, const metrics_prf_table *t, const metrics_prf_summary *s)
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
    metrics_prf_table ind, lor;
    metrics_prf_summary ind_sum, lor_sum;
} results;

static void results_free(results *r)
{
    free(r->iou_train); free(r->iou_val); free(r->label); free(r->phi_train); free(r->phi_val);
    metrics_prf_table_free(&r->ind);
    metrics_prf_table_free(&r->lor);
}

/* The validation images of the split, when FEATURES was split. */
static int write_split(const context *ctx, h5out *out)
{
    if (ctx->opt->val_from)
        return h5out_attr_string(out, "/", "val_from", ctx->opt->val_from);
    size_t n_val = ctx->train_src.n_role[EVALSRC_VAL], k = 0;
    int32_t *images = error_malloc(n_val * sizeof *images, "the validation image list");
    if (!images)
        return error_code();
    for (size_t x = 0; x < ctx->train_src.ff.n_img; x++)
        if (ctx->train_src.role[x] == EVALSRC_VAL)
            images[k++] = (int32_t)x;
    hsize_t vdims[1] = {n_val};
    int rc = h5out_write(out, "/val_images", H5IO_INT32, 1, vdims, images) ||
             h5out_attr_double(out, "/", "val_fraction", ctx->opt->val_fraction);
    free(images);
    return rc ? error_code() : 0;
}

static int write_results(const context *ctx, h5out *out, const results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con, n_lor = ctx->linear_or.n_unit;
    hsize_t mat[2] = {n_det, n_con - 1}, det[1] = {n_det}, lor[1] = {n_lor};
    double *train = without_none(r->iou_train, n_det, n_con), *val = without_none(r->iou_val, n_det, n_con);
    int32_t *label = label_columns(r->label, n_det), *lor_label = label_columns(ctx->lor_label, n_lor);
    int32_t *members = error_malloc(n_lor * sizeof *members, "the Linear-OR members");
    const char **categories = error_malloc(n_con * sizeof *categories, "the concept categories");
    int rc = !train || !val || !label || !lor_label || !members || !categories;
    for (size_t u = 0; !rc && u < n_lor; u++)
        members[u] = (int32_t)(ctx->linear_or.start[u + 1] - ctx->linear_or.start[u]);
    for (size_t c = 1; !rc && c < n_con; c++)
        categories[c - 1] = ctx->train_src.cats[ctx->v.con_cat[c]].name;
    rc = rc || h5out_write_strings(out, "/concept_names", (const char *const *)ctx->v.con_name + 1, n_con - 1) ||
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
         h5out_attr_int(out, "/", "n_train_images", (long long)ctx->train_src.n_role[EVALSRC_TRAIN]) ||
         h5out_attr_int(out, "/", "n_val_images", (long long)ctx->val->n_role[EVALSRC_VAL]) ||
         h5out_attr_string(out, "/", "directions_step", ctx->dirs.step) ||
         h5out_attr_string(out, "/", "val_source", ctx->opt->val_from ? "file" : "split") ||
         write_split(ctx, out);
    free(train); free(val); free(label); free(lor_label); free(members); free(categories);
    return rc ? error_code() : 0;
}

/* IoU on both splits, each detector's label (best on train) and its IoU
 * with the label on both splits. */
static int label_detectors(context *ctx, results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con;
    r->iou_train = error_malloc(n_det * n_con * sizeof(double), "the IoU table");
    r->iou_val = error_malloc(n_det * n_con * sizeof(double), "the IoU table");
    r->label = error_malloc(n_det * sizeof(int), "the labels");
    r->phi_train = error_malloc(n_det * sizeof(double), "the label IoUs");
    r->phi_val = error_malloc(n_det * sizeof(double), "the label IoUs");
    if (!r->iou_train || !r->iou_val || !r->label || !r->phi_train || !r->phi_val)
        return error_code();
    metrics_iou_compute(&ctx->counts[EVALSRC_TRAIN], r->iou_train);
    metrics_iou_compute(&ctx->counts[EVALSRC_VAL], r->iou_val);
    metrics_best_label(r->iou_train, n_det, n_con, r->label);
    metrics_label_iou(r->iou_train, n_det, n_con, r->label, r->phi_train);
    metrics_label_iou(r->iou_val, n_det, n_con, r->label, r->phi_val);
    return 0;
}

static int compute_results(context *ctx, results *r)
{
    size_t n_det = (size_t)ctx->dirs.n_det, n_con = ctx->v.n_con;
    memset(r, 0, sizeof *r);
    if (label_detectors(ctx, r) || !(ctx->lor_label = error_malloc(n_det * sizeof(int), "the Linear-OR labels")))
        return error_code();
    if (metrics_units_by_label(&ctx->linear_or, r->label, n_det, ctx->lor_label) ||
        metrics_iou_init(&ctx->lor_counts, &ctx->linear_or, n_con, (size_t)ctx->v.n_cat, ctx->v.con_cat))
        return error_set(EX_OSERR, "out of memory for the Linear-OR units");
    size_t n_lor = ctx->linear_or.n_unit;
    if (metrics_prf_table_init(&r->ind, n_det) || metrics_prf_table_init(&r->lor, n_lor))
        return error_set(EX_OSERR, "out of memory for the P/R/F1 tables");
    evalsrc_unit_set sets[2] = {{&ctx->individual, r->label, 0}, {&ctx->linear_or, ctx->lor_label, n_det}};
    double *ap = error_malloc((n_det + n_lor) * sizeof *ap, "the AP of the units");
    int rc = !ap || ap_passes(ctx, sets, ap);
    if (!rc) {
        memcpy(r->ind.ap, ap, n_det * sizeof *ap);
        memcpy(r->lor.ap, ap + n_det, n_lor * sizeof *ap);
    }
    free(ap);
    if (rc)
        return error_code();
    if (metrics_prf_table_fill(&r->ind, &ctx->counts[EVALSRC_VAL], r->label) ||
        metrics_prf_table_fill(&r->lor, &ctx->lor_counts, ctx->lor_label))
        return error_set(EX_OSERR, "out of memory for the P/R/F1 tables");
    /* one classifier per label: S¹ = S² = Σ of their IoUs */
    double lor_s = 0;
    for (size_t u = 0; u < n_lor; u++)
        lor_s += r->lor.iou[u];
    r->ind_sum = metrics_prf_table_summary(&r->ind, metrics_s1(r->phi_val, n_det),
                                           metrics_s2(r->phi_val, r->label, n_det));
    r->lor_sum = metrics_prf_table_summary(&r->lor, lor_s, lor_s);
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
    if (!shown)
        return;
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
           ctx->val->n_role[EVALSRC_VAL], ctx->train_src.n_role[EVALSRC_TRAIN]);
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
    const metrics_prf_summary *s[2] = {&r->ind_sum, &r->lor_sum};
    const char *names[2] = {"individual", "linear-or"};
    size_t counts[2] = {n_det, ctx->linear_or.n_unit};
    for (int k = 0; k < 2; k++)
        printf("%-12s %6zu %9.4f %9.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", names[k], counts[k], s[k]->s1,
               s[k]->s2, s[k]->iou, s[k]->precision, s[k]->recall, s[k]->f1, s[k]->ap);
    free(shown);
}

/* ------------------------------------------------------------- main */

/* The validation file must describe the same channels and concepts as
 * FEATURES. */
static int check_val_source(const context *ctx)
{
    const evalsrc *a = &ctx->train_src, *b = &ctx->val_src;
    if ((int)b->ff.n_dim != ctx->dirs.n_dim)
        return error_set(EX_DATAERR, "%s: has C=%zu channels but the directions and %s have D=%d",
                         b->in.path, b->ff.n_dim, a->in.path, ctx->dirs.n_dim);
    return concepts_same_categories(a->cats, a->n_cat, a->in.path, b->cats, b->n_cat, b->in.path);
}

static int open_inputs(context *ctx, h5in *dir_in)
{
    const options *opt = ctx->opt;
    if (h5in_open(dir_in, opt->directions, H5IO_FORMAT_DIRECTIONS))
        return error_code();
    if (evalsrc_open(&ctx->train_src, opt->features) ||
        dirfile_read(dir_in, (int)ctx->train_src.ff.n_dim, opt->features, &ctx->dirs))
        return error_code();
    ctx->val = &ctx->train_src;
    if (opt->val_from) {
        if (evalsrc_open(&ctx->val_src, opt->val_from) || check_val_source(ctx))
            return error_code();
        ctx->val = &ctx->val_src;
    }
    return 0;
}

/* Scans the annotations (values checked), builds the concept ids, the
 * split and the counters. */
static int prepare(context *ctx)
{
    evalsrc *srcs[2] = {&ctx->train_src, ctx->opt->val_from ? &ctx->val_src : NULL};
    if (evalsrc_scan(srcs[0]) || (srcs[1] && evalsrc_scan(srcs[1])))
        return error_code();
    if (concepts_vocab_build(&ctx->v, ctx->train_src.cats, ctx->train_src.in.path,
                             srcs[1] ? srcs[1]->cats : NULL, srcs[1] ? srcs[1]->in.path : NULL,
                             ctx->train_src.n_cat))
        return error_code();
    const options *opt = ctx->opt;
    if (evalsrc_roles(&ctx->train_src, opt->val_fraction, opt->cli.seed, SPLIT_STREAM, srcs[1] ? EVALSRC_TRAIN : -1) ||
        (srcs[1] && evalsrc_roles(&ctx->val_src, opt->val_fraction, opt->cli.seed, SPLIT_STREAM, EVALSRC_VAL)))
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
    concepts_vocab_free(&ctx->v);
    dirs_free(&ctx->dirs);
    evalsrc_free(&ctx->train_src);
    evalsrc_free(&ctx->val_src);
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
