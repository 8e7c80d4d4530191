/* regress — compares directions with a synthetic set's truth (method-spec
 * §6.3, App. C): detector↔concept IoU and Hungarian matching, the signal-value
 * estimator of Eq. 17 and its RMSE, cosines of the encoding directions with
 * the true s_i, and how far each filter is from orthogonal to the other
 * signals and the distractors. --ideal writes the closed-form ideal
 * detectors of the generator instead (method-spec §13.1). */
#include "cli.h"
#include "detectors.h"
#include "dirfile.h"
#include "error.h"
#include "h5io.h"
#include "learn.h"
#include "mat.h"
#include "metrics.h"
#include "signal.h"
#include "train.h"
#include "truth.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: regress [options] DIRECTIONS FEATURES [-o EVALUATION]\n"
    "       regress --ideal [--softness X] FEATURES -o DIRECTIONS\n"
    "       regress --report FILE...     (evaluations and text files, one report)\n"
    "       regress --summary EVALUATION...  (mean ± std over runs, e.g. seeds)\n"
    "       regress --cosines EVALUATION...  (TSV of cosines per file, for figures)\n"
    "Compare directions with the truth of a synthetic features file (synthgen):\n"
    "IoU of every detector with every concept, Hungarian matching, Eq. 17\n"
    "signal-value RMSE, cosines of /S with the true signal directions, filter\n"
    "leakage. Prints a report; -o also writes it (format eddp-evaluation).\n"
    "options:\n";

enum { MATCH_IOU, MATCH_COSINE, MATCH_IDENTITY };

typedef struct {
    cli_common cli;
    int match, ideal, report, summary, cosines;
    double softness;
    char **files;
    int n_files;
    const char *directions, *features;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "regress", usage, argc, argv);
    opt->softness = 0.1;
    const opt_row rows[] = {
        OPT_CHOICE("match", &opt->match, "iou|cosine|identity",
                   "how rows meet concepts: detector IoU (default),\n|cosine| of /S with the true s_i (then "
                   "reported as\n|cosine|), or row k = concept k"),
        OPT_FLAG("ideal", &opt->ideal,
                 "write the ideal detectors: filters from pinv([S | D]),\nthresholds between the on and off ranges "
                 "of alpha, S = truth"),
        OPT_DOUBLE("softness", &opt->softness, 1e-9, 1e9, "X", "ideal detectors' logit scale in alpha units (0.1)"),
        OPT_FLAG("report", &opt->report, "evaluations and text files FILE..., one report"),
        OPT_FLAG("summary", &opt->summary, "mean +- std over the runs EVALUATION... (e.g. seeds)"),
        OPT_FLAG("cosines", &opt->cosines, "TSV of cosines per file EVALUATION..., for figures"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    if (opt->report || opt->summary || opt->cosines) {
        if (first == argc)
            cli_usage_error(cli, "--report, --summary and --cosines take one or more files");
        if (cli->output)
            cli_usage_error(cli, "--report, --summary and --cosines print to stdout; -o is not used");
        opt->files = argv + first;
        opt->n_files = argc - first;
        return;
    }
    int n_pos = opt->ideal ? 1 : 2;
    if (argc - first != n_pos)
        cli_usage_error(cli, opt->ideal ? "--ideal takes one FEATURES file" : "expected DIRECTIONS FEATURES");
    opt->directions = opt->ideal ? NULL : argv[first];
    opt->features = argv[argc - 1];
    if (opt->ideal && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
}

/* Ideal filters: rows of pinv of the columns [s_0 … s_{I−1} d_0 … d_{F−1}],
 * so that w_i·x = α_i + w_i·offset; threshold midway between the ranges. */
static int write_ideal(const options *opt, learn_set *set, const truth *t)
{
    int n_dim = set->data.n_dim, n_cols = t->n_con + t->n_dis;
    double *C = malloc((size_t)n_dim * n_cols * sizeof *C), *P = malloc((size_t)n_cols * n_dim * sizeof *P);
    for (int d = 0; d < n_dim; d++) {
        for (int i = 0; i < t->n_con; i++)
            C[(size_t)d * n_cols + i] = t->S[(size_t)i * n_dim + d];
        for (int f = 0; f < t->n_dis; f++)
            C[(size_t)d * n_cols + t->n_con + f] = t->Dm[(size_t)f * n_dim + d];
    }
    int rank, rc = mat_pinv(C, n_dim, n_cols, -1, P, &rank);
    if (rc || rank < n_cols) {
        free(C); free(P);
        return error_set(EX_DATAERR, "%s: the truth [S | D] has rank %d < %d: no ideal filters", set->in.path, rank, n_cols);
    }
    /* The offset is whatever x − Sα − Dβ leaves: read it as the file's
     * /truth/offset via the data mean (exact for the generator). */
    double *W = malloc((size_t)t->n_con * n_dim * sizeof *W), *b = malloc(t->n_con * sizeof *b);
    double threshold = 0.5 * (t->on_lo + t->off_hi), *offset = NULL;
    hsize_t dims[H5IO_MAX_RANK], odims[1] = {(hsize_t)n_dim};
    rc = h5in_read(&set->in, "/truth/offset", H5IO_DOUBLE, 1, odims, (void **)&offset, dims);
    for (int i = 0; !rc && i < t->n_con; i++) {
        double shift = 0;
        for (int d = 0; d < n_dim; d++) {
            W[(size_t)i * n_dim + d] = P[(size_t)i * n_dim + d] / opt->softness;
            shift += P[(size_t)i * n_dim + d] * offset[d];
        }
        b[i] = (threshold + shift) / opt->softness;
    }
    directions dirs = {0};
    h5out out;
    rc = rc || dirs_from_effective(&dirs, t->n_con, n_dim, W, b, set->mean, "ideal") ||
         h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1);
    if (!rc) {
        dirs.S = malloc((size_t)t->n_con * n_dim * sizeof(double));
        memcpy(dirs.S, t->S, (size_t)t->n_con * n_dim * sizeof(double));
        h5in *inputs[] = {&set->in};
        rc = learn_finish(0, &out, &dirs, NULL, NULL, &opt->cli, inputs, 1);
    }
    dirs_free(&dirs);
    free(C); free(P); free(W); free(b); free(offset);
    return rc ? error_code() : 0;
}

typedef struct {
    int n_det, n_con;
    double *iou;          /* [n_det × n_con] */
    int *match;           /* [n_det] concept or −1 */
    double *cosine;       /* [n_det] cos(ŝ_i, s_match) (NAN without /S) */
    double *leak_signal;  /* [n_det] max_{j≠match} |w_i·s_j| / |w_i·s_match| */
    double *leak_distract;/* [n_det] max_f |w_i·d_f| / |w_i·s_match| */
    double rmse;          /* Eq. 17 against α − mean α (NAN without /S) */
    double rmse_refined;  /* the same with /signal_filter in place of W (NAN without) */
} report;

/* Pixel-level IoU counts at feature resolution. */
/* A [n_pix × n_det] = X filtersᵀ − biases (biases NULL: 0) for every pixel
 * of the set, image by image (pixel n·hw + p). */
static double *filter_responses(const learn_set *set, const double *filters, const double *biases, int n_det)
{
    size_t n_img = set->data.n_img, n_pix = n_img * set->data.hw;
    size_t *order = malloc(n_img * sizeof *order);
    double *X = malloc(n_pix * set->data.n_dim * sizeof *X), *pooled = malloc(n_img * set->data.n_dim * sizeof *pooled);
    double *zero = calloc(n_det, sizeof *zero), *A = malloc(n_pix * n_det * sizeof *A);
    if (!order || !X || !pooled || !zero || !A) {
        free(order); free(X); free(pooled); free(zero); free(A);
        error_set(EX_OSERR, "%s: out of memory for the responses of %d directions on %zu pixels", set->in.path,
                  n_det, n_pix);
        return NULL;
    }
    for (size_t k = 0; k < n_img; k++)
        order[k] = k;
    train_gather(&set->data, order, n_img, X, pooled);
    det_view view = {.W = (double *)filters, .b = biases ? (double *)biases : zero};
    det_logits(&view, n_det, set->data.n_dim, X, n_pix, A);
    free(order); free(X); free(pooled); free(zero);
    return A;
}

/* Table 1's IoU of every detector with every concept at feature resolution:
 * metrics' NetDissect counts with the concept map as the one annotation
 * layer of every image (concept ids 1..n_con, 0 = no concept). */
static int count_iou(const learn_set *set, const directions *dirs, const truth *t, double *iou)
{
    size_t n_det = dirs->n_det, n_con = t->n_con + 1, n_img = set->data.n_img;
    double *A = filter_responses(set, dirs->W, dirs->b, n_det);
    if (!A)
        return error_code();
    double *all = malloc(n_det * n_con * sizeof *all);
    int *con_cat = calloc(n_con, sizeof *con_cat), map_cat = 0;
    metrics_units units = {0};
    metrics_iou_counts counts = {0};
    metrics_annotations ann = {.hm = set->ff.height, .wm = set->ff.width, .n_map = 1,
                               .map_cat = &map_cat, .maps = t->concept};
    int rc = !all || !con_cat || metrics_units_identity(&units, n_det) ||
             metrics_iou_init(&counts, &units, n_con, 1, con_cat) ? -1
             : metrics_iou_add(&counts, A, n_img, set->ff.height, set->ff.width, &ann);
    if (!rc) {
        metrics_iou_compute(&counts, all);
        for (size_t i = 0; i < n_det; i++)
            memcpy(iou + i * t->n_con, all + i * n_con + 1, t->n_con * sizeof *iou);
    }
    metrics_iou_free(&counts);
    metrics_units_free(&units);
    free(A); free(all); free(con_cat);
    if (rc == -2)
        return error_set(EX_DATAERR, "%s: '/concepts/concept' holds a value outside 0..%d", set->in.path, t->n_con);
    return rc ? error_set(EX_OSERR, "out of memory counting IoU") : 0;
}

static int match_rows(const options *opt, const directions *dirs, const truth *t, report *r)
{
    if (opt->match == MATCH_IDENTITY) {
        for (int i = 0; i < r->n_det; i++)
            r->match[i] = i < t->n_con ? i : -1;
        return 0;
    }
    double *score = r->iou;
    double *cos = NULL;
    if (opt->match == MATCH_COSINE) {
        if (!dirs->S)
            return error_set(EX_DATAERR, "%s: --match cosine needs signal vectors '/S'", opt->directions);
        cos = malloc((size_t)r->n_det * t->n_con * sizeof *cos);
        signal_cosine_matrix(dirs->S, r->n_det, t->S, t->n_con, dirs->n_dim, cos);
        for (size_t k = 0; k < (size_t)r->n_det * t->n_con; k++)
            cos[k] = fabs(cos[k]);
        score = cos;
    }
    int rc = metrics_hungarian_max(score, r->n_det, t->n_con, r->match);
    free(cos);
    return rc ? error_set(EX_SOFTWARE, "matching failed (non-finite scores)") : 0;
}

/* *rmse ← Eq. 17 (signal_value_estimate) against α_{p,π(i)} − mean α, with
 * ŝ_i of unit norm: the generator's s_i have unit norm, and only then is â
 * on α's scale (eddp(7), App. C). NAN when no detector is matched or some
 * w_i·ŝ_i is 0. Returns 0, or EX_OSERR when memory runs out. */
static int signal_value_rmse(const learn_set *set, const directions *dirs, const double *filters,
                             const truth *t, const int *match, double *rmse)
{
    size_t n_det = dirs->n_det, n_dim = dirs->n_dim, hw = set->data.hw, n_img = set->data.n_img;
    size_t n_pix = n_img * hw;
    size_t *order = malloc(n_img * sizeof *order);
    double *X = malloc(n_pix * n_dim * sizeof *X), *pooled = malloc(n_img * n_dim * sizeof *pooled);
    double *unit_S = malloc(n_det * n_dim * sizeof *unit_S), *estimate = malloc(n_pix * n_det * sizeof *estimate);
    double *alpha_mean = calloc(t->n_con, sizeof *alpha_mean), sum = 0, count = 0;
    int rc = 0;
    if (!order || !X || !pooled || !unit_S || !estimate || !alpha_mean) {
        rc = error_set(EX_OSERR, "%s: out of memory estimating signal values of %zu pixels", set->in.path, n_pix);
        goto done;
    }
    for (size_t n = 0; n < n_img; n++)
        order[n] = n;
    train_gather(&set->data, order, n_img, X, pooled);
    for (size_t i = 0; i < n_det; i++) {
        const double *s = dirs->S + i * n_dim;
        double norm = sqrt(cblas_ddot((int)n_dim, s, 1, s, 1));
        for (size_t d = 0; d < n_dim; d++)
            unit_S[i * n_dim + d] = s[d] / norm;
    }
    if (signal_value_estimate(filters, unit_S, set->mean, X, n_pix, n_det, n_dim, estimate)) {
        sum = NAN;    /* some w_i·ŝ_i is 0: Eq. 17 is undefined */
        goto done;
    }
    for (size_t n = 0; n < n_img; n++)
        for (int k = 0; k < t->n_con; k++)
            for (size_t p = 0; p < hw; p++)
                alpha_mean[k] += t->alpha[(n * t->n_con + k) * hw + p] / (double)n_pix;
    for (size_t i = 0; i < n_det; i++) {
        int k = match[i];
        if (k < 0)
            continue;
        for (size_t n = 0; n < n_img; n++)
            for (size_t p = 0; p < hw; p++) {
                double error = estimate[(n * hw + p) * n_det + i] -
                               (t->alpha[(n * t->n_con + k) * hw + p] - alpha_mean[k]);
                sum += error * error;
                count++;
            }
    }
done:
    free(order); free(X); free(pooled); free(unit_S); free(estimate); free(alpha_mean);
    *rmse = count ? sqrt(sum / count) : NAN;
    return rc;
}

static void print_report(const report *r, const directions *dirs)
{
    printf("IoU (rows: detectors, columns: concepts)\n%-8s", "");
    for (int k = 0; k < r->n_con; k++)
        printf("  #%-4d", k);
    putchar('\n');
    for (int i = 0; i < r->n_det; i++) {
        printf("#%-7d", i);
        for (int k = 0; k < r->n_con; k++)
            printf("  %.3f", r->iou[(size_t)i * r->n_con + k]);
        putchar('\n');
    }
    printf("\ndetector\tconcept\tIoU\tcos_signal\tleak_signal\tleak_distractor\n");
    for (int i = 0; i < r->n_det; i++)
        printf("%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\n", i, r->match[i],
               r->match[i] >= 0 ? r->iou[(size_t)i * r->n_con + r->match[i]] : NAN, r->cosine[i],
               r->leak_signal[i], r->leak_distract[i]);
    double off = 0;
    for (int i = 0; i < r->n_det; i++)
        for (int k = 0; k < r->n_con; k++)
            if (k != r->match[i])
                off = fmax(off, r->iou[(size_t)i * r->n_con + k]);
    printf("\nmax off-match IoU\t%.4f\n", off);
    printf("signal-value RMSE\t%.4f%s\n", r->rmse, dirs->S ? "" : "\t(no /S)");
    if (!isnan(r->rmse_refined))
        printf("signal-value RMSE, /signal_filter\t%.4f\n", r->rmse_refined);
}

static int write_report(const options *opt, const report *r, h5in **inputs)
{
    h5out out;
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_EVALUATION, 1))
        return error_code();
    hsize_t mat[2] = {(hsize_t)r->n_det, (hsize_t)r->n_con}, det[1] = {(hsize_t)r->n_det};
    h5io_provenance prov = {.tool = "regress", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .threads = cli_threads(), .inputs = inputs, .n_inputs = 2};
    int rc = h5out_write(&out, "/iou", H5IO_DOUBLE, 2, mat, r->iou) ||
             h5out_write(&out, "/match", H5IO_INT32, 1, det, r->match) ||
             h5out_write(&out, "/cosine", H5IO_DOUBLE, 1, det, r->cosine) ||
             h5out_write(&out, "/leak_signal", H5IO_DOUBLE, 1, det, r->leak_signal) ||
             h5out_write(&out, "/leak_distractor", H5IO_DOUBLE, 1, det, r->leak_distract) ||
             h5out_attr_double(&out, "/", "rmse", r->rmse) ||
             h5out_attr_double(&out, "/", "rmse_refined", r->rmse_refined) ||
             h5out_provenance(&out, &prov) || h5out_commit(&out);
    if (rc)
        h5out_abort(&out);
    return rc ? error_code() : 0;
}

static int evaluate(const options *opt, learn_set *set, const truth *t)
{
    h5in in;
    directions dirs;
    if (h5in_open(&in, opt->directions, H5IO_FORMAT_DIRECTIONS) ||
        dirfile_read(&in, set->data.n_dim, set->in.path, &dirs))
        return error_code();
    report r = {.n_det = dirs.n_det, .n_con = t->n_con};
    r.iou = malloc((size_t)r.n_det * r.n_con * sizeof(double));
    r.match = malloc(r.n_det * sizeof(int));
    r.cosine = malloc(r.n_det * sizeof(double));
    r.leak_signal = malloc(r.n_det * sizeof(double));
    r.leak_distract = malloc(r.n_det * sizeof(double));
    int rc = count_iou(set, &dirs, t, r.iou);
    if (!rc)
        rc = match_rows(opt, &dirs, t, &r);
    if (!rc) {
        for (int i = 0; i < r.n_det; i++) {
            r.cosine[i] = NAN;
            if (dirs.S && r.match[i] >= 0) {
                double c;
                signal_cosine_rows(dirs.S + (size_t)i * dirs.n_dim, t->S + (size_t)r.match[i] * dirs.n_dim, 1, dirs.n_dim, &c);
                /* Matched by |cosine| (SAE columns have no intrinsic sign):
                 * report it so, the reading most favourable to the method. */
                r.cosine[i] = opt->match == MATCH_COSINE ? fabs(c) : c;
            }
        }
        r.rmse = r.rmse_refined = NAN;
        if (dirs.S)
            rc = signal_value_rmse(set, &dirs, dirs.W, t, r.match, &r.rmse);
        if (!rc && dirs.S && h5in_exists(&in, "/signal_filter")) {
            double *filters = NULL;
            hsize_t dims[H5IO_MAX_RANK], mat[2] = {(hsize_t)dirs.n_det, (hsize_t)dirs.n_dim};
            rc = h5in_read(&in, "/signal_filter", H5IO_DOUBLE, 2, mat, (void **)&filters, dims);
            if (!rc)
                rc = signal_value_rmse(set, &dirs, filters, t, r.match, &r.rmse_refined);
            free(filters);
        }
        signal_leakage(dirs.W, dirs.n_det, t->S, t->n_con, t->Dm, t->n_dis, dirs.n_dim, r.match,
                       r.leak_signal, r.leak_distract);
        if (!rc)
            print_report(&r, &dirs);
        h5in *inputs[] = {&in, &set->in};
        if (!rc && opt->cli.output)
            rc = write_report(opt, &r, inputs);
    }
    free(r.iou); free(r.match); free(r.cosine); free(r.leak_signal); free(r.leak_distract);
    dirs_free(&dirs);
    h5in_close(&in);
    return rc;
}

/* ------------------------------------------------ reports over evaluations */

typedef struct {
    int n_det, n_con;
    double *iou, *cosine, rmse;
    int *match;
} evaluation;

static int read_evaluation(const char *path, evaluation *e)
{
    h5in in;
    hsize_t dims[H5IO_MAX_RANK], det[1];
    memset(e, 0, sizeof *e);
    if (h5in_open(&in, path, H5IO_FORMAT_EVALUATION))
        return error_code();
    int rc = h5in_read(&in, "/iou", H5IO_DOUBLE, 2, NULL, (void **)&e->iou, dims);
    if (!rc) {
        e->n_det = (int)dims[0];
        e->n_con = (int)dims[1];
        det[0] = dims[0];
        rc = h5in_read(&in, "/match", H5IO_INT32, 1, det, (void **)&e->match, dims) ||
             h5in_read(&in, "/cosine", H5IO_DOUBLE, 1, det, (void **)&e->cosine, dims) ||
             h5in_attr_double(&in, "/", "rmse", &e->rmse);
    }
    h5in_close(&in);
    return rc ? error_code() : 0;
}

static void evaluation_free(evaluation *e)
{
    free(e->iou); free(e->cosine); free(e->match);
}

/* Figures of one evaluation: min and mean matched IoU, max off-match IoU,
 * RMSE, min and mean cosine. */
enum { FIG_IOU_MIN, FIG_IOU_MEAN, FIG_OFF_MAX, FIG_RMSE, FIG_COS_MIN, FIG_COS_MEAN, FIG_COUNT };
static const char *const figure_names[FIG_COUNT] = {"IoU_min", "IoU_mean", "off_max", "RMSE", "cos_min", "cos_mean"};

static void figures(const evaluation *e, double *fig)
{
    fig[FIG_IOU_MIN] = fig[FIG_COS_MIN] = INFINITY;
    fig[FIG_IOU_MEAN] = fig[FIG_COS_MEAN] = fig[FIG_OFF_MAX] = 0;
    for (int i = 0; i < e->n_det; i++) {
        for (int k = 0; k < e->n_con; k++) {
            double v = e->iou[(size_t)i * e->n_con + k];
            if (k == e->match[i]) {
                fig[FIG_IOU_MIN] = fmin(fig[FIG_IOU_MIN], v);
                fig[FIG_IOU_MEAN] += v / e->n_det;
            } else {
                fig[FIG_OFF_MAX] = fmax(fig[FIG_OFF_MAX], v);
            }
        }
        fig[FIG_COS_MIN] = fmin(fig[FIG_COS_MIN], e->cosine[i]);
        fig[FIG_COS_MEAN] += e->cosine[i] / e->n_det;
    }
    fig[FIG_RMSE] = e->rmse;
}

static void print_evaluation(const char *path, const evaluation *e)
{
    printf("== %s\nIoU (rows: detectors, columns: concepts; matched concept in brackets)\n", path);
    for (int i = 0; i < e->n_det; i++) {
        printf("#%-3d", i);
        for (int k = 0; k < e->n_con; k++)
            printf(k == e->match[i] ? "  [%.2f]" : "   %.2f ", e->iou[(size_t)i * e->n_con + k]);
        printf("   cos(S_i, s_match) %.3f\n", e->cosine[i]);
    }
    double fig[FIG_COUNT];
    figures(e, fig);
    printf("signal-value RMSE %.3f\n\n", fig[FIG_RMSE]);
}

static int print_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set(EX_NOINPUT, "%s: cannot open", path);
    printf("== %s\n", path);
    char line[4096];
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    putchar('\n');
    fclose(f);
    return 0;
}

static int is_hdf5(const char *path)
{
    return H5Fis_hdf5(path) > 0;
}

static int run_report(const options *opt)
{
    for (int k = 0; k < opt->n_files; k++) {
        if (!is_hdf5(opt->files[k])) {
            if (print_text(opt->files[k]))
                return error_code();
            continue;
        }
        evaluation e;
        if (read_evaluation(opt->files[k], &e))
            return error_code();
        print_evaluation(opt->files[k], &e);
        evaluation_free(&e);
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The accuracy of a `trainhead --eval` report (NAN if absent). */
static double head_accuracy_of(const char *path)
{
    FILE *f = fopen(path, "r");
    double accuracy = NAN;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "accuracy %lf", &accuracy) == 1)
            break;
    if (f)
        fclose(f);
    return accuracy;
}

/* Head accuracies from the text files among the inputs: mean ± sd. */
static void summarise_head_accuracy(const options *opt)
{
    double *acc = malloc(opt->n_files * sizeof *acc);
    int n = 0;
    for (int k = 0; k < opt->n_files; k++)
        if (!is_hdf5(opt->files[k]) && !isnan(head_accuracy_of(opt->files[k])))
            acc[n++] = head_accuracy_of(opt->files[k]);
    if (n)
        printf("%-40s  %6.4f±%-6.4f  (%d runs)\n", "head test accuracy", metrics_mean(acc, n),
               n > 1 ? metrics_std_sample(acc, n) : 0.0, n);
    free(acc);
}

/* One row per evaluation file; then, per file name (eval-d.h5, eval-ica.h5,
 * …, one per seed folder), the mean ± sample sd of each figure; text files
 * among the inputs are trainhead --eval reports (head accuracy). */
static int run_summary(const options *opt)
{
    double *all = malloc((size_t)opt->n_files * FIG_COUNT * sizeof *all);
    double *column = malloc(opt->n_files * sizeof *column);
    printf("%-40s", "evaluation");
    for (int j = 0; j < FIG_COUNT; j++)
        printf("  %13s", figure_names[j]);
    putchar('\n');
    int rc = 0;
    for (int k = 0; k < opt->n_files && !rc; k++) {
        evaluation e;
        if (!is_hdf5(opt->files[k]))
            continue;
        if ((rc = read_evaluation(opt->files[k], &e)))
            break;
        figures(&e, all + (size_t)k * FIG_COUNT);
        evaluation_free(&e);
        printf("%-40s", opt->files[k]);
        for (int j = 0; j < FIG_COUNT; j++)
            printf("  %13.4f", all[(size_t)k * FIG_COUNT + j]);
        putchar('\n');
    }
    for (int k = 0; k < opt->n_files && !rc; k++) {
        int first = is_hdf5(opt->files[k]), n = 0;
        for (int m = 0; m < k && first; m++)
            first = strcmp(base_name(opt->files[m]), base_name(opt->files[k])) != 0;
        if (!first)
            continue;
        char label[64];
        snprintf(label, sizeof label, "mean ± sd %s", base_name(opt->files[k]));
        printf("%-40s", label);
        for (int j = 0; j < FIG_COUNT; j++) {
            n = 0;
            for (int m = k; m < opt->n_files; m++)
                if (is_hdf5(opt->files[m]) && !strcmp(base_name(opt->files[m]), base_name(opt->files[k])))
                    column[n++] = all[(size_t)m * FIG_COUNT + j];
            printf("  %6.3f±%-6.3f", metrics_mean(column, n), n > 1 ? metrics_std_sample(column, n) : 0.0);
        }
        printf("  (%d runs)\n", n);
    }
    if (!rc)
        summarise_head_accuracy(opt);
    free(column);
    free(all);
    return rc;
}

/* "method  mean  min  max" of the cosines, method = file name without
 * "eval-" and ".h5". */
static int run_cosines(const options *opt)
{
    printf("method\tcos_mean\tcos_min\tcos_max\n");
    for (int k = 0; k < opt->n_files; k++) {
        evaluation e;
        if (read_evaluation(opt->files[k], &e))
            return error_code();
        double lo = INFINITY, hi = -INFINITY, mean = 0;
        for (int i = 0; i < e.n_det; i++) {
            lo = fmin(lo, e.cosine[i]);
            hi = fmax(hi, e.cosine[i]);
            mean += e.cosine[i] / e.n_det;
        }
        const char *base = strrchr(opt->files[k], '/') ? strrchr(opt->files[k], '/') + 1 : opt->files[k];
        if (!strncmp(base, "eval-", 5))
            base += 5;
        int len = (int)strlen(base) - (strstr(base, ".h5") ? 3 : 0);
        printf("%.*s\t%.4f\t%.4f\t%.4f\n", len, base, mean, lo, hi);
        evaluation_free(&e);
    }
    return 0;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    if (opt.report || opt.summary || opt.cosines) {
        if (opt.report ? run_report(&opt) : opt.summary ? run_summary(&opt) : run_cosines(&opt))
            cli_fail(&opt.cli);
        return 0;
    }
    h5io_install_signal_cleanup();
    learn_set set;
    truth t;
    if (learn_load(&set, opt.features) || truth_read(&set.in, &set.ff, &t))
        cli_fail(&opt.cli);
    int rc = opt.ideal ? write_ideal(&opt, &set, &t) : evaluate(&opt, &set, &t);
    truth_free(&t);
    learn_free(&set);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
