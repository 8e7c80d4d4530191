/* rcav — RCAV influence testing (method-spec §6.4, §6.5): the class
 * sensitivities SC of each detector's signal vector by the closed form of
 * the head, p-values against the paper's noise signal vectors, Bonferroni
 * significance, the Table 8 statistics and S³; --shard/--merge split the
 * detectors over jobs. */
#include "cli.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "cache.h"
#include "h5io.h"
#include "head.h"
#include "headfile.h"
#include "inflfile.h"
#include "inflrun.h"
#include "influence.h"
#include "learn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: rcav [options] DIRECTIONS EVAL HEAD CONCEPTS -o INFLUENCE\n"
    "       rcav --merge [options] SLICE... -o INFLUENCE\n"
    "Which classes each signal vector (/S of DIRECTIONS) drives: SC = 2 frac - 1 over the\n"
    "labelled images of EVAL (features or cache) through HEAD, p-values against noise\n"
    "signal vectors learned on CONCEPTS with permuted labels, Bonferroni significance,\n"
    "the paper's Table 8 statistics on stdout.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    double alpha, level, noise_lr, s3_theta;
    long n_noise, sample, noise_epochs;
    int shard, n_shards, merge, pairs;
    const char *labels, *pcav, *png;
    char **inputs;
    int n_inputs;
} options;

static int parse_shard(const opt_row *row, const char *arg, char *msg, size_t len)
{
    options *opt = row->target;
    int used = 0;
    if (sscanf(arg, "%d/%d%n", &opt->shard, &opt->n_shards, &used) != 2 || arg[used] || opt->n_shards < 1 ||
        opt->shard < 0 || opt->shard >= opt->n_shards) {
        snprintf(msg, len, "--shard '%s': expected I/N with 0 <= I < N", arg);
        return -1;
    }
    return 0;
}

static void format_shard(const opt_row *row, char *buf, size_t len)
{
    const options *opt = row->target;
    snprintf(buf, len, "%d/%d", opt->shard, opt->n_shards);
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "rcav", usage, argc, argv);
    opt->alpha = 5;
    opt->level = 0.05;
    opt->noise_lr = 0.01;
    opt->s3_theta = 0.05;
    opt->n_noise = 100;
    opt->sample = 5000;
    opt->noise_epochs = 100;
    const opt_row rows[] = {
        OPT_DOUBLE("alpha", &opt->alpha, 0, 1e6, "X", "perturbation step (default 5)", .flags = OPTF_OPEN_MIN),
        OPT_INTEGER("noise", &opt->n_noise, 1, 100000, "N", "noise vectors per detector (default 100)"),
        OPT_DOUBLE("level", &opt->level, 0, 1, "X", "family-wise level, significant iff p < X/(I K) (default 0.05)",
                   .flags = OPTF_OPEN_MIN),
        OPT_INTEGER("sample", &opt->sample, 4, 100000000, "N", "balanced sample bound of a noise classifier (default 5000)"),
        OPT_INTEGER("noise-epochs", &opt->noise_epochs, 1, 1000000, "N",
                    "Adam epochs of a noise classifier (default 100)"),
        OPT_DOUBLE("noise-lr", &opt->noise_lr, 0, 1e3, "X", "its learning rate (default 0.01)", .flags = OPTF_OPEN_MIN),
        OPT_CALLBACK("shard", opt, parse_shard, format_shard, "I/N",
                     "compute detectors of slice I of N (0 <= I < N) into a slice file"),
        OPT_FLAG("merge", &opt->merge, "join the slices SLICE... of one run into the whole file"),
        OPT_FLAG("pairs", &opt->pairs, "also print SC and p of every (detector, class) pair"),
        OPT_STRING("labels", &opt->labels, "EVALUATION", "S3: detectors' labels (iou-label's file) ..."),
        OPT_STRING("pcav", &opt->pcav, "PCAV", "... and the Pattern-CAVs of those labels (pcav's file)"),
        OPT_DOUBLE("s3-theta", &opt->s3_theta, 0, 1, "X", "S3's level theta (default 0.05)", .flags = OPTF_OPEN_MIN),
        OPT_STRING("png", &opt->png, "FILE", "heat map of the significant SC (detectors x classes)"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    if (!!opt->labels != !!opt->pcav)
        cli_usage_error(cli, "S3 needs both --labels and --pcav");
    if (opt->merge && opt->n_shards)
        cli_usage_error(cli, "--merge joins slices: it takes no --shard");
    if ((opt->merge || opt->n_shards) && opt->labels)
        cli_usage_error(cli, "S3 (--labels, --pcav) needs every detector: give it to a run without --shard/--merge");
    if (opt->n_shards && (opt->png || opt->pairs))
        cli_usage_error(cli, "a slice has no significance: give --png/--pairs to the --merge");
    opt->inputs = argv + first;
    opt->n_inputs = argc - first;
    if (opt->merge ? opt->n_inputs < 1 : opt->n_inputs != 4)
        cli_usage_error(cli, opt->merge ? "expected the SLICE files to merge"
                                        : "expected DIRECTIONS EVAL HEAD CONCEPTS");
    cli_require_output(cli);
}

/* ------------------------------------------------------------ inputs */

typedef struct {
    h5in dir_in, eval_in, head_in, con_in;
    int dir_open, eval_open, head_open;
    directions dirs;
    head_params head;
    learn_set concepts;
    influence_eval ev;
    size_t eval_hw;
} inputs;

/* Pooled features [N × C], labels and grid of the evaluation images (a
 * features file or a cache). */
static int read_eval(inputs *in, const char *path, double **pooled, features_file *ff)
{
    static const char *const formats[] = {H5IO_FORMAT_FEATURES, H5IO_FORMAT_CACHE};
    int which;
    if (h5in_open_formats(&in->eval_in, path, formats, 2, &which))
        return error_code();
    in->eval_open = 1;
    if (which == 0) {
        if (features_open(ff, &in->eval_in))
            return error_code();
    } else {
        cache_file cf;
        if (cache_open(&cf, &in->eval_in))
            return error_code();
        *ff = (features_file){&in->eval_in, cf.n_img, cf.n_dim, cf.height, cf.width};
    }
    if (!h5in_exists(&in->eval_in, "/labels"))
        return error_set(EX_DATAERR, "%s: no class labels '/labels': rcav needs labelled evaluation images", path);
    *pooled = malloc(ff->n_img * ff->n_dim * sizeof **pooled);
    if (!*pooled)
        return error_set(EX_OSERR, "%s: out of memory for the pooled features", path);
    if (which == 0)
        return features_pool_all(ff, *pooled);
    double *mean = malloc(ff->n_dim * sizeof *mean), *std = malloc(ff->n_dim * sizeof *std);
    cache_file cf = {&in->eval_in, ff->n_img, ff->n_dim, ff->height, ff->width, 4};
    int rc = !mean || !std ? error_set(EX_OSERR, "out of memory") : cache_read_stats(&cf, *pooled, mean, std);
    free(mean);
    free(std);
    return rc;
}

static int prepare_eval(inputs *in, const options *opt, const features_file *ff, const double *pooled)
{
    int32_t *labels = NULL;
    int K = in->head.n_cls;
    if (features_read_labels(ff, &labels, K))
        return error_prefix("%s does not match the head %s (%d classes): ", opt->inputs[1], opt->inputs[2], K);
    double *logits = malloc(ff->n_img * K * sizeof *logits);
    if (!logits) {
        free(labels);
        return error_set(EX_OSERR, "out of memory for the logits");
    }
    head_linear_forward(pooled, (int)ff->n_img, (int)ff->n_dim, in->head.weight, in->head.bias, K, logits);
    int rc = influence_eval_init(&in->ev, logits, labels, ff->n_img, K) ? error_set(EX_OSERR, "out of memory") : 0;
    free(logits);
    free(labels);
    int empty = rc ? -1 : influence_eval_empty_class(&in->ev);
    if (empty >= 0)
        return error_set(EX_DATAERR, "%s: class %d of the head's %d has no image: SC needs images of every class",
                         opt->inputs[1], empty, K);
    return rc;
}

static int open_inputs(inputs *in, const options *opt)
{
    features_file ff;
    double *pooled = NULL;
    int rc = read_eval(in, opt->inputs[1], &pooled, &ff);
    if (!rc && !(rc = h5in_open(&in->dir_in, opt->inputs[0], H5IO_FORMAT_DIRECTIONS)))
        in->dir_open = 1, rc = dirfile_read(&in->dir_in, (int)ff.n_dim, opt->inputs[1], &in->dirs);
    if (!rc && !in->dirs.S)
        rc = error_set(EX_DATAERR, "%s: no signal vectors '/S' (a step a/b file has none): give a step c or d, "
                       "pcav or sae directions file", opt->inputs[0]);
    if (!rc && !(rc = h5in_open(&in->head_in, opt->inputs[2], H5IO_FORMAT_HEAD)))
        in->head_open = 1, rc = headfile_read(&in->head_in, (int)ff.n_dim, opt->inputs[1], &in->head);
    if (!rc)
        rc = prepare_eval(in, opt, &ff, pooled);
    free(pooled);
    if (!rc && opt->n_shards > in->dirs.n_det)
        rc = error_set(EX_USAGE, "--shard %d/%d: %s has only %d detectors", opt->shard, opt->n_shards,
                       opt->inputs[0], in->dirs.n_det);
    if (!rc && !(rc = learn_load(&in->concepts, opt->inputs[3])) && in->concepts.ff.n_dim != ff.n_dim)
        rc = error_set(EX_DATAERR, "%s has %zu channels but %s has %zu", opt->inputs[3], in->concepts.ff.n_dim,
                       opt->inputs[1], ff.n_dim);
    in->eval_hw = ff.height * ff.width;
    return rc ? error_code() : 0;
}

static void close_inputs(inputs *in)
{
    dirs_free(&in->dirs);
    headfile_free(&in->head);
    learn_free(&in->concepts);
    influence_eval_free(&in->ev);
    if (in->dir_open)
        h5in_close(&in->dir_in);
    if (in->eval_open)
        h5in_close(&in->eval_in);
    if (in->head_open)
        h5in_close(&in->head_in);
}

/* ------------------------------------------------------------ output */

typedef struct {
    const cli_common *cli;
    time_t start;
} progress_ctx;

static void progress(void *ctx, size_t done, size_t total)
{
    progress_ctx *p = ctx;
    double spent = difftime(time(NULL), p->start), eta = done ? spent * (double)(total - done) / done : 0;
    cli_progress(p->cli, "detector %zu of %zu, ETA %.0f s", done, total, eta);
}

static void print_table8(const influence_result *r, const influence_stats *st)
{
    double thr = influence_threshold(r->level, (size_t)r->n_det * r->n_cls);
    printf("# RCAV influence (eddp(7), rcav(1)): %d directions x %d classes, alpha %g, %d noise vectors each\n",
           r->n_det, r->n_cls, r->alpha, r->n_noise);
    printf("# significant iff p < %g/(%d*%d) = %.3g; with %d noise vectors the smallest p > 0 is %.3g\n", r->level,
           r->n_det, r->n_cls, thr, r->n_noise, 1.0 / r->n_noise);
    if (r->n_cls <= 3)
        printf("# with %d classes every direction, noise included, scores SC = +1 on the class its shift raises most "
               "and -1 on the one it lowers most, so |SC_noise| = 1 on %d of %d classes for almost every noise "
               "vector: p = 0 is out of reach and nothing can be significant\n",
               r->n_cls, r->n_cls >= 2 ? 2 : 1, r->n_cls);
    printf("%-52s %s\n", "metric", "value");
    printf("%-52s %ld\n", "significant direction count (SDC)", st->sdc);
    printf("%-52s %ld\n", "significant class-direction pairs (SCDP)", st->scdp);
    printf("%-52s %ld\n", "directions with positive influence", st->dir_pos);
    printf("%-52s %ld\n", "directions with negative influence", st->dir_neg);
    printf("%-52s %.2f\n", "positively impactful directions per class", st->pos_per_class);
    printf("%-52s %.2f\n", "negatively impactful directions per class", st->neg_per_class);
    printf("%-52s %ld / %ld\n", "min / max positively influenced classes per dir.", st->min_pos, st->max_pos);
    printf("%-52s %ld / %ld\n", "min / max negatively influenced classes per dir.", st->min_neg, st->max_neg);
    printf("%-52s %ld\n", "classes with >= 1 positively impactful direction", st->cls_pos);
    printf("%-52s %ld\n", "classes with >= 1 negatively impactful direction", st->cls_neg);
}

static void print_pairs(const influence_result *r, const int32_t *significant)
{
    printf("%-8s %-6s %7s %7s %12s %s\n", "detector", "class", "SC", "p", "max|SC_noise|", "significant");
    size_t K = r->n_cls, N = r->n_noise;
    for (int i = 0; i < r->n_det; i++)
        for (size_t k = 0; k < K; k++) {
            double top = 0;
            for (size_t n = 0; n < N; n++) {
                double v = fabs(r->noise_SC[((size_t)i * N + n) * K + k]);
                top = v > top ? v : top;
            }
            printf("%-8d %-6zu %7.3f %7.3f %12.3f %s\n", i, k, r->SC[i * K + k], r->p[i * K + k], top,
                   significant[i * K + k] ? "yes" : "no");
        }
}

/* --png: gnuplot draws the masked SC matrix into a temporary file, renamed
 * when gnuplot succeeded. */
static int write_png(const options *opt, const influence_result *r, const int32_t *significant)
{
    char temp[4200];
    int fd;
    if (h5io_create_temp(opt->png, opt->cli.overwrite, temp, sizeof temp, &fd))
        return error_code();
    close(fd);
    FILE *gp = popen("gnuplot 2>/dev/null", "w");
    if (!gp) {
        unlink(temp);
        h5io_unregister_temp(temp);
        return error_set(EX_UNAVAILABLE, "--png %s: cannot run gnuplot", opt->png);
    }
    fprintf(gp, "set terminal pngcairo size 900,700 font ',10'\nset output '%s'\n", temp);
    fprintf(gp, "set title 'Significant class sensitivities SC (alpha %g; 0 = not significant)'\n", r->alpha);
    fprintf(gp, "set xlabel 'class'\nset ylabel 'detector'\nset cbrange [-1:1]\n"
                "set palette defined (-1 '#2166ac', 0 'white', 1 '#b2182b')\nset yrange [] reverse\n");
    fprintf(gp, "$sc << EOD\n");
    for (int i = 0; i < r->n_det; i++) {
        for (int k = 0; k < r->n_cls; k++) {
            size_t at = (size_t)i * r->n_cls + k;
            fprintf(gp, "%s%.4f", k ? " " : "", significant[at] ? r->SC[at] : 0.0);
        }
        fputc('\n', gp);
    }
    fprintf(gp, "EOD\nplot $sc matrix with image notitle\n");
    int status = pclose(gp);
    if (status != 0) {
        unlink(temp);
        h5io_unregister_temp(temp);
        return error_set(EX_UNAVAILABLE, "--png %s: gnuplot failed (exit status %d)", opt->png, status);
    }
    if (rename(temp, opt->png)) {
        unlink(temp);
        h5io_unregister_temp(temp);
        return error_set(EX_CANTCREAT, "--png %s: cannot rename the temporary file", opt->png);
    }
    h5io_unregister_temp(temp);
    return 0;
}

/* Significance, statistics, S³ attributes, the file, the tables. */
static int finish(const options *opt, h5out *out, const influence_result *r, h5io_provenance *prov,
                  const double *s3, int32_t **significant_out, influence_stats *st)
{
    size_t cells = (size_t)r->n_det * r->n_cls;
    int32_t *significant = calloc(cells ? cells : 1, sizeof *significant);
    if (!significant)
        return error_set(EX_OSERR, "out of memory");
    *significant_out = significant;
    if (r->n_shards == 0) {
        double thr = influence_threshold(r->level, cells);
        for (size_t c = 0; c < cells; c++)
            significant[c] = r->p[c] < thr;
        if (influence_statistics(r->SC, significant, r->n_det, r->n_cls, st))
            return error_set(EX_OSERR, "out of memory");
    }
    int rc = inflfile_write(out, r, significant, st);
    if (!rc && s3)
        rc = h5out_attr_double(out, "/", "s3", s3[0]) || h5out_attr_int(out, "/", "s3_pairs", (long long)s3[1]) ||
             h5out_attr_double(out, "/", "s3_theta", opt->s3_theta);
    if (!rc && opt->png)
        rc = write_png(opt, r, significant);
    return rc || h5out_provenance(out, prov) || h5out_commit(out) ? error_code() : 0;
}

static void print_results(const options *opt, const influence_result *r, const int32_t *significant,
                          const influence_stats *st, const double *s3)
{
    if (r->n_shards)
        return;
    print_table8(r, st);
    if (s3)
        printf("%-52s %.4f (%.0f label-class pairs, theta %g)\n", "S3 (Pattern-CAV more influential)", s3[0], s3[1],
               opt->s3_theta);
    if (opt->pairs)
        print_pairs(r, significant);
}

/* ------------------------------------------------------------ S³ */

static int find_name(char **names, size_t n, const char *name)
{
    for (size_t j = 0; j < n; j++)
        if (!strcmp(names[j], name))
            return (int)j;
    return -1;
}

/* S³ of the run's detectors against the Pattern-CAVs of their labels. */
static int compute_s3(const options *opt, inputs *in, const influence_result *r, double s3[2])
{
    h5in lab_in, pcav_in;
    directions pc = {0};
    char **lab_names = NULL, **pc_names = NULL;
    size_t n_lab = 0, n_pc = 0;
    int32_t *label = NULL;
    double *SC_pcav = NULL;
    int *pcav_row = NULL, lab_open = 0, pc_open = 0;
    hsize_t dims[H5IO_MAX_RANK], expect[1] = {(hsize_t)r->n_det};
    int rc = h5in_open(&lab_in, opt->labels, H5IO_FORMAT_EVALUATION);
    lab_open = !rc;
    if (!rc)
        rc = h5in_read(&lab_in, "/label", H5IO_INT32, 1, expect, (void **)&label, dims) ||
             h5in_strings(&lab_in, "/concept_names", &lab_names, &n_lab);
    if (!rc && !(rc = h5in_open(&pcav_in, opt->pcav, H5IO_FORMAT_DIRECTIONS)))
        pc_open = 1, rc = dirfile_read(&pcav_in, r->n_dim, opt->inputs[1], &pc) ||
                          h5in_strings(&pcav_in, "/concept_names", &pc_names, &n_pc);
    if (!rc && !pc.S)
        rc = error_set(EX_DATAERR, "%s: no Pattern-CAVs '/S'", opt->pcav);
    if (!rc && (size_t)pc.n_det != n_pc)
        rc = error_set(EX_DATAERR, "%s: %zu concept names for %d Pattern-CAVs", opt->pcav, n_pc, pc.n_det);
    for (int i = 0; !rc && i < r->n_det; i++)
        if (label[i] >= (int32_t)n_lab)
            rc = error_set(EX_DATAERR, "%s: '/label' %d of detector %d is not a concept", opt->labels, label[i], i);
    if (!rc) {
        pcav_row = malloc((n_lab ? n_lab : 1) * sizeof *pcav_row);
        SC_pcav = malloc((size_t)(pc.n_det ? pc.n_det : 1) * r->n_cls * sizeof *SC_pcav);
        rc = !pcav_row || !SC_pcav ? error_set(EX_OSERR, "out of memory") : 0;
    }
    if (!rc)
        rc = influence_sensitivity(&in->ev, in->head.weight, r->n_dim, pc.S, (size_t)pc.n_det, r->alpha,
                                   r->pixel_scale, SC_pcav)
                 ? error_set(EX_OSERR, "out of memory")
                 : 0;
    if (!rc) {
        long pairs;
        for (size_t l = 0; l < n_lab; l++)
            pcav_row[l] = find_name(pc_names, n_pc, lab_names[l]);
        s3[0] = influence_s3(label, r->SC, r->n_det, pcav_row, (int)n_lab, SC_pcav, r->n_cls, opt->s3_theta, &pairs);
        s3[1] = (double)pairs;
        if (!pairs)
            rc = error_set(EX_DATAERR, "%s: no detector label of %s has a Pattern-CAV: no S3", opt->pcav, opt->labels);
    }
    free(label); free(SC_pcav); free(pcav_row);
    h5io_free_strings(lab_names, n_lab);
    h5io_free_strings(pc_names, n_pc);
    dirs_free(&pc);
    if (lab_open)
        h5in_close(&lab_in);
    if (pc_open)
        h5in_close(&pcav_in);
    return rc ? error_code() : 0;
}

/* ------------------------------------------------------------ modes */

static void run_key(const options *opt, inputs *in, influence_result *r)
{
    snprintf(r->run_key, sizeof r->run_key,
             "alpha=%.17g noise=%d sample=%d epochs=%d lr=%.17g seed=%llu level=%.17g directions=%016llx "
             "eval=%016llx head=%016llx concepts=%016llx",
             r->alpha, r->n_noise, r->max_sample, r->epochs, r->lr, (unsigned long long)r->seed, opt->level,
             (unsigned long long)in->dir_in.hash, (unsigned long long)in->eval_in.hash,
             (unsigned long long)in->head_in.hash, (unsigned long long)in->concepts.in.hash);
}

static int run(const options *opt)
{
    inputs in = {0};
    influence_result r = {0};
    h5out out;
    int rc = open_inputs(&in, opt) || h5in_hash(&in.dir_in) || h5in_hash(&in.eval_in) || h5in_hash(&in.head_in) ||
             h5in_hash(&in.concepts.in) ||
             h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_INFLUENCE, 1);
    if (rc) {
        rc = error_code();
        close_inputs(&in);
        return rc;
    }
    int n_det = in.dirs.n_det;
    r = (influence_result){.n_det = n_det, .det_lo = 0, .det_hi = n_det, .n_cls = in.head.n_cls, .n_dim = in.dirs.n_dim,
                           .n_noise = (int)opt->n_noise, .alpha = opt->alpha, .level = opt->level,
                           .pixel_scale = 1.0 / sqrt((double)in.eval_hw), .lr = opt->noise_lr,
                           .max_sample = (int)opt->sample, .epochs = (int)opt->noise_epochs, .seed = opt->cli.seed};
    if (opt->n_shards) {
        r.shard = opt->shard;
        r.n_shards = opt->n_shards;
        r.det_lo = (int)((long long)opt->shard * n_det / opt->n_shards);
        r.det_hi = (int)((long long)(opt->shard + 1) * n_det / opt->n_shards);
    }
    run_key(opt, &in, &r);
    progress_ctx pctx = {&opt->cli, time(NULL)};
    influence_job job = {.head_weight = in.head.weight, .ev = &in.ev, .dirs = &in.dirs, .concepts = &in.concepts,
                         .noise = {.n_noise = r.n_noise, .max_sample = r.max_sample, .epochs = r.epochs,
                                   .lr = r.lr, .seed = r.seed},
                         .progress = progress, .progress_ctx = &pctx};
    double s3[2];
    int32_t *significant = NULL;
    influence_stats st = {0};
    h5in *ins[] = {&in.dir_in, &in.eval_in, &in.head_in, &in.concepts.in};
    h5io_provenance prov = {.tool = "rcav", .argc = opt->cli.argc, .argv = opt->cli.argv, .seed = opt->cli.seed,
                            .threads = cli_threads(), .device = "cpu", .inputs = ins, .n_inputs = 4};
    rc = influence_result_alloc(&r) || influence_run(&job, &r);
    cli_progress_end(&opt->cli);
    if (!rc && opt->labels)
        rc = compute_s3(opt, &in, &r, s3);
    if (!rc)
        rc = finish(opt, &out, &r, &prov, opt->labels ? s3 : NULL, &significant, &st);
    if (rc) {
        rc = error_code();
        h5out_abort(&out);
    } else {
        if (!r.n_shards)
            printf("# directions: %s (step %s), evaluation images: %s\n", opt->inputs[0], in.dirs.step,
                   opt->inputs[1]);
        print_results(opt, &r, significant, &st, opt->labels ? s3 : NULL);
    }
    free(significant);
    influence_result_free(&r);
    close_inputs(&in);
    return rc;
}

/* Every slice of one run (same run_key and shard count), each shard once. */
static int check_slices(const options *opt, influence_result *sl)
{
    int n = opt->n_inputs;
    for (int j = 0; j < n; j++) {
        if (strcmp(sl[j].run_key, sl[0].run_key))
            return error_set(EX_DATAERR, "%s and %s are slices of different runs or settings (run_key differs)",
                             opt->inputs[0], opt->inputs[j]);
        if (sl[j].n_shards != n)
            return error_set(EX_DATAERR, "%s is slice %d of %d but %d slices were given", opt->inputs[j],
                             sl[j].shard, sl[j].n_shards, n);
        for (int k = 0; k < j; k++)
            if (sl[k].shard == sl[j].shard)
                return error_set(EX_DATAERR, "%s and %s are both slice %d", opt->inputs[k], opt->inputs[j],
                                 sl[j].shard);
    }
    return 0;
}

static void copy_rows(influence_result *whole, const influence_result *s)
{
    size_t rows = (size_t)influence_result_rows(s), K = s->n_cls, N = s->n_noise, D = s->n_dim, lo = s->det_lo;
    memcpy(whole->SC + lo * K, s->SC, rows * K * sizeof(double));
    memcpy(whole->p + lo * K, s->p, rows * K * sizeof(double));
    memcpy(whole->noise_SC + lo * N * K, s->noise_SC, rows * N * K * sizeof(double));
    memcpy(whole->noise_S + lo * N * D, s->noise_S, rows * N * D * sizeof(float));
    memcpy(whole->noise_alive + lo * N, s->noise_alive, rows * N * sizeof(int32_t));
    memcpy(whole->sample_size + lo, s->sample_size, rows * sizeof(int32_t));
}

static int merge(const options *opt)
{
    int n = opt->n_inputs, rc = 0, opened = 0;
    h5in *ins = calloc(n, sizeof *ins), **inp = calloc(n, sizeof *inp);
    influence_result *sl = calloc(n, sizeof *sl), whole = {0};
    h5out out;
    int out_open = 0;
    int32_t *significant = NULL;
    influence_stats st = {0};
    if (!ins || !inp || !sl)
        rc = error_set(EX_OSERR, "out of memory");
    for (int j = 0; j < n && !rc; j++) {
        inp[j] = ins + j;
        if (!(rc = h5in_open(ins + j, opt->inputs[j], H5IO_FORMAT_INFLUENCE))) {
            opened = j + 1;
            rc = inflfile_read_slice(ins + j, sl + j);
        }
    }
    if (!rc)
        rc = check_slices(opt, sl);
    if (!rc && !(rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_INFLUENCE, 1))) {
        out_open = 1;
        whole = sl[0];
        whole.det_lo = 0;
        whole.det_hi = whole.n_det;
        whole.shard = whole.n_shards = 0;
        whole.SC = NULL;
        rc = influence_result_alloc(&whole);
        for (int j = 0; j < n && !rc; j++)
            copy_rows(&whole, sl + j);
        h5io_provenance prov = {.tool = "rcav", .argc = opt->cli.argc, .argv = opt->cli.argv, .seed = whole.seed,
                                .threads = cli_threads(), .device = "cpu", .inputs = inp, .n_inputs = n};
        if (!rc)
            rc = finish(opt, &out, &whole, &prov, NULL, &significant, &st);
    }
    if (rc) {
        rc = error_code();
        if (out_open)
            h5out_abort(&out);
    } else {
        print_results(opt, &whole, significant, &st, NULL);
    }
    free(significant);
    influence_result_free(&whole);
    for (int j = 0; j < n && sl; j++)
        influence_result_free(sl + j);
    for (int j = 0; j < opened; j++)
        h5in_close(ins + j);
    free(ins); free(inp); free(sl);
    return rc;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    if (opt.merge ? merge(&opt) : run(&opt))
        cli_fail(&opt.cli);
    return 0;
}
