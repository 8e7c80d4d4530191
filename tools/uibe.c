/* uibe — step (a) and its relatives (UIBE, CBE, EDDP step a): orthonormal
 * concept detectors with a shared margin and threshold, learned in the
 * standardised feature space and written in the raw space. */
#include "cli.h"
#include "detectors.h"
#include "device.h"
#include "dirfile.h"
#include "error.h"
#include "learn.h"
#include "objective.h"
#include "overlap.h"
#include "rng.h"
#include "train.h"
#include "trainopts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: uibe [options] --detectors N FEATURES HEAD -o BASIS\n"
    "       uibe [options] --diagnose BASIS FEATURES HEAD\n"
    "Learn N orthonormal concept detectors in the standardised feature space\n"
    "(UIBE: --losses s,ma,mm,ic; CBE: s,ma,mm,ic,cnn; EDDP step a: s,ma,mm,ic,uur,\n"
    "the default).\n"
    "options:\n";

typedef struct {
    cli_common cli;
    train_options train;
    int n_det;
    double init_margin;
    const char *features, *head;
    device_choice dev;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "uibe", usage, argc, argv);
    trainopts_defaults(&opt->train, "s,ma,mm,ic,uur", 1000);
    opt->init_margin = 1;
    const opt_row rows[] = {
        OPT_INTEGER("detectors", &opt->n_det, 1, 1 << 20, "N", "number of detectors (<= channels)"),
        OPT_DOUBLE("init-margin", &opt->init_margin, 1e-9, 1e9, "X", "initial shared margin (1)"),
        OPT_INCLUDE(opt->train.rows),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    cli_expect_operands(cli, 2, "FEATURES HEAD");
    opt->features = argv[first];
    opt->head = argv[first + 1];
    if (opt->train.diagnose) {
        if (cli->output)
            cli_usage_error(cli, "--diagnose prints to stdout; -o is not used");
    } else {
        cli_require_output(cli);
        if (!opt->n_det)
            cli_usage_error(cli, "give the number of detectors with --detectors N");
    }
    trainopts_finish(&opt->train, cli, "s,ma,mm,ic,uur,cnn");
}

/* The standardised parameters, to continue or diagnose a basis exactly. */
static int write_standardised(h5out *out, const det_layout *layout, const double *params, const det_view *view)
{
    hsize_t mat[2] = {(hsize_t)layout->n_det, (hsize_t)layout->n_dim}, dim[1] = {(hsize_t)layout->n_dim};
    int rc = h5out_write(out, "/standardised/mean", H5IO_DOUBLE, 1, dim, layout->center) ||
             h5out_write(out, "/standardised/std", H5IO_DOUBLE, 1, dim, layout->scale) ||
             h5out_write(out, "/standardised/filters", H5IO_DOUBLE, 2, mat, view->unit) ||
             h5out_write(out, "/standardised/householder", H5IO_DOUBLE, 2, mat, params + layout->off_dir) ||
             h5out_attr_double(out, "/standardised", "margin", view->M[0]) ||
             h5out_attr_double(out, "/standardised", "threshold", view->t[0]);
    return rc ? error_code() : 0;
}

static int read_standardised(const char *path, det_layout *layout, double **params, int n_dim,
                             const char *features_path)
{
    h5in in;
    if (h5in_open(&in, path, H5IO_FORMAT_DIRECTIONS))
        return error_code();
    double *mu = NULL, *sigma = NULL, *house = NULL, margin, threshold;
    hsize_t dims[H5IO_MAX_RANK], dim[1] = {(hsize_t)n_dim}, mat[2] = {0, (hsize_t)n_dim};
    int rc = h5in_read(&in, "/standardised/householder", H5IO_DOUBLE, 2, mat, (void **)&house, dims);
    if (rc && error_code() == EX_DATAERR && dims[1] != (hsize_t)n_dim)
        rc = error_replace(EX_DATAERR, "%s: directions do not match the %d channels of %s", path, n_dim, features_path);
    int n_det = rc ? 0 : (int)dims[0];
    rc = rc || h5in_read(&in, "/standardised/mean", H5IO_DOUBLE, 1, dim, (void **)&mu, dims) ||
         h5in_read(&in, "/standardised/std", H5IO_DOUBLE, 1, dim, (void **)&sigma, dims) ||
         h5in_attr_double(&in, "/standardised", "margin", &margin) ||
         h5in_attr_double(&in, "/standardised", "threshold", &threshold);
    if (!rc && det_layout_init(layout, DET_STANDARDISED, n_det, n_dim, 0, mu, sigma))
        rc = error_set(EX_DATAERR, "%s: inconsistent standardised basis", path);
    if (!rc && !(*params = malloc(layout->n_params * sizeof(double))))
        rc = error_set(EX_OSERR, "%s: out of memory for %d directions of %d channels", path, n_det, n_dim);
    if (!rc) {
        memcpy(*params, house, (size_t)n_det * n_dim * sizeof(double));
        (*params)[layout->off_margin] = log(margin);
        (*params)[layout->off_threshold] = threshold;
    }
    free(mu); free(sigma); free(house);
    h5in_close(&in);
    return rc ? error_code() : 0;
}

static int diagnose(options *opt, learn_set *set, const head_params *head)
{
    det_layout layout;
    double *params = NULL;
    if (read_standardised(opt->train.diagnose, &layout, &params, set->data.n_dim, set->in.path))
        return error_code();
    int rc = learn_diagnose(&opt->train, &layout, params, set, head);
    det_layout_free(&layout);
    free(params);
    return rc ? error_code() : 0;
}

/* The hand-over to step (d): which detectors fire on the same pixels (IoU
 * of their firing sets, a concept split over two) and the share of the
 * training pixels each fires on, into /history/overlap [I × I] and
 * /history/coverage [I], and on stderr unless --quiet. */
static int write_overlap(h5out *out, const learn_set *set, const det_view *view, int n_det, const cli_common *cli)
{
    double *iou = malloc((size_t)n_det * n_det * sizeof *iou), *coverage = malloc((size_t)n_det * sizeof *coverage);
    int rc = !iou || !coverage ? error_set(EX_OSERR, "out of memory for the detectors' overlap")
                               : learn_overlap(set, view->W, view->b, n_det, iou, coverage);
    hsize_t dims[2] = {(hsize_t)n_det, (hsize_t)n_det};
    rc = rc || h5out_write(out, "/history/overlap", H5IO_DOUBLE, 2, dims, iou) ||
         h5out_write(out, "/history/coverage", H5IO_DOUBLE, 1, dims, coverage);
    if (!rc && !cli->quiet) {
        int i, j;
        double worst = overlap_worst_pair(iou, n_det, &i, &j);
        fprintf(stderr, "%s: coverage (share of pixels each detector fires on):", cli->tool);
        for (int k = 0; k < n_det; k++)
            fprintf(stderr, " %.3f", coverage[k]);
        if (i >= 0)
            fprintf(stderr, "\n%s: largest overlap: detectors %d and %d, IoU %.3f of their firing sets%s\n", cli->tool, i,
                    j, worst, worst >= 0.1 ? " (a concept split over both?)" : "");
        else
            fprintf(stderr, "\n%s: no two detectors fire on the same pixel\n", cli->tool);
    }
    free(iou);
    free(coverage);
    return rc ? error_code() : 0;
}

static int learn_basis(options *opt, learn_set *set, h5in *head_in, const head_params *head)
{
    int n_dim = set->data.n_dim;
    if (opt->n_det > n_dim)
        return error_set(EX_USAGE, "--detectors %d exceeds the %d channels of %s (orthonormal filters need N <= C)",
                         opt->n_det, n_dim, set->in.path);
    learn_note_constant(set, &opt->cli);
    h5out out;
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1))
        return error_code();
    det_layout layout;
    det_layout_init(&layout, DET_STANDARDISED, opt->n_det, n_dim, 0, set->mean, set->std);
    double *params = malloc(layout.n_params * sizeof(double));
    rng_state rng;
    rng_init(&rng, opt->cli.seed, RNG_STREAM_INIT);
    objective obj = {0};
    train_history history = {0};
    directions dirs = {0};
    int rc = !params ? error_set(EX_OSERR, "out of memory for %d directions of %d channels", opt->n_det, n_dim) :
             det_init_standardised(&layout, &rng, opt->init_margin, 0.0, params) ||
             learn_objective(&obj, &opt->dev, &layout, &opt->train, head, set) ||
             train_run(&opt->train.train, &obj, &set->data, params, &history) ||
             dirs_from_effective(&dirs, opt->n_det, n_dim, obj.view.W, obj.view.b, set->mean, "a") ||
             write_standardised(&out, &layout, params, &obj.view) ||
             write_overlap(&out, set, &obj.view, opt->n_det, &opt->cli) ||
             h5out_attr_int(&out, "/", "detectors", opt->n_det) ||
             h5out_attr_double(&out, "/", "init_margin", opt->init_margin);
    h5in *inputs[] = {&set->in, head_in};
    rc = learn_finish(rc ? error_code() : 0, &out, &dirs, &history, &opt->train, &opt->cli, inputs, 2);
    dirs_free(&dirs);
    train_history_free(&history);
    objective_free(&obj);
    det_layout_free(&layout);
    free(params);
    return rc;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    if (!opt.train.diagnose && device_choose(opt.cli.device, &opt.dev))
        cli_fail(&opt.cli);
    if (!opt.train.diagnose && device_set_precision(&opt.dev, opt.train.precision_arg))
        cli_fail(&opt.cli);
    opt.train.precision = device_precision(&opt.dev);
    opt.train.train.device_name = opt.dev.name[0] ? opt.dev.name : NULL;
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    learn_set set;
    h5in head_in;
    head_params head = {0};
    if (learn_load_budget(&set, opt.features, opt.train.memory) ||
        learn_load_head(&head_in, opt.head, &set, &head))
        cli_fail(&opt.cli);
    learn_note_half(&set, &opt.cli);
    learn_note_streamed(&set, opt.train.memory, &opt.cli);
    int rc = opt.train.diagnose ? diagnose(&opt, &set, &head) : learn_basis(&opt, &set, &head_in, &head);
    headfile_free(&head);
    h5in_close(&head_in);
    learn_free(&set);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
