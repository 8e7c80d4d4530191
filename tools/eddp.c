/* eddp — steps (b), (c) and (d) of EDDP (method-spec §4.6), each from the
 * previous step's directions file: (b) free detectors with per-detector
 * margins, (c) signal vectors by Eq. 1 on each detector's positives, (d)
 * joint learning of detectors and signal vectors. */
#include "cli.h"
#include "detectors.h"
#include "device.h"
#include "dirfile.h"
#include "error.h"
#include "ica.h"
#include "rng.h"
#include "learn.h"
#include "objective.h"
#include "signal.h"
#include "train.h"
#include "trainopts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: eddp --step b|d [options] DIRECTIONS FEATURES HEAD -o OUTPUT\n"
    "       eddp --step c [options] DIRECTIONS FEATURES -o OUTPUT\n"
    "       eddp --step b|d --diagnose DIRECTIONS FEATURES HEAD\n"
    "EDDP step (b): free detectors (losses s,sb,ma,mm,ic,eac,uur); step (c): signal\n"
    "vectors by Eq. 1 on each detector's positives; step (d): detectors and signal\n"
    "vectors jointly (losses s,sb,ma,mm,ic,eac,cur,fso).\n"
    "options:\n";

typedef struct {
    cli_common cli;
    train_options train;
    char step;
    double init_scale;
    int raw_space, ica, fixed_signals;
    const char *directions, *features, *head;
    device_choice dev;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "eddp", usage, argc, argv);
    opt->init_scale = 1;
    trainopts_defaults(&opt->train, NULL, 2000); /* the losses depend on the step */
    int step = -1;
    const opt_row rows[] = {
        OPT_CHOICE("step", &step, "b|c|d", "which step"),
        OPT_DOUBLE("init-scale", &opt->init_scale, 1e-9, 1e9, "X",
                   "norm of the free direction parameters at the start (1);\nsmaller rotates faster under Adam"),
        OPT_CHOICE("estimator", &opt->ica, "eq1|ica",
                   "step (c): Eq. 1 with each detector's own filter (the\npaper), or with the filter of the "
                   "independent source\nthat separates its positives (ica; see eddp(1))"),
        OPT_CHOICE("signals", &opt->fixed_signals, "learned|fixed",
                   "step (d): signal vectors learned with the detectors (the\npaper), or held at the input's "
                   "/S, so that L^fso\nbinds the filters to them (fixed; see eddp(1))"),
        OPT_CHOICE("space", &opt->raw_space, "standardised|raw",
                   "space whose units measure directions, margins and\nthresholds during training (standardised)"),
        OPT_INCLUDE(opt->train.rows),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    opt->step = step < 0 ? 0 : "bcd"[step];
    if (!opt->train.losses)
        opt->train.losses = opt->step == 'd' ? "s,sb,ma,mm,ic,eac,cur,fso" : "s,sb,ma,mm,ic,eac,uur";
    if (!opt->step)
        cli_usage_error(cli, "give the step with --step b, c or d");
    int n_pos = opt->step == 'c' ? 2 : 3;
    if (opt->train.diagnose && opt->step != 'c')
        n_pos = 2;
    if (argc - first != n_pos)
        cli_usage_error(cli, "expected %s", opt->step == 'c' ? "DIRECTIONS FEATURES"
                                             : opt->train.diagnose ? "FEATURES HEAD" : "DIRECTIONS FEATURES HEAD");
    int k = first;
    opt->directions = opt->train.diagnose && opt->step != 'c' ? opt->train.diagnose : argv[k++];
    opt->features = argv[k++];
    opt->head = opt->step == 'c' ? NULL : argv[k];
    if (opt->train.diagnose && cli->output)
        cli_usage_error(cli, "--diagnose prints to stdout; -o is not used");
    if (!opt->train.diagnose && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
    if (opt->train.diagnose && opt->step == 'c')
        cli_usage_error(cli, "--diagnose applies to steps b and d");
    if (opt->fixed_signals && opt->step != 'd')
        cli_usage_error(cli, "--signals: only step d has signal vectors to learn or hold");
    if (opt->train.epochs_given && opt->step == 'c')
        cli_usage_error(cli, "--epochs: step c does not train (it estimates the signal vectors); drop it");
    trainopts_finish(&opt->train, cli, opt->step == 'd' ? "s,sb,ma,mm,ic,eac,cur,fso" : "s,sb,ma,mm,ic,eac,uur");
}

static int read_directions(const options *opt, const learn_set *set, h5in *in, directions *dirs)
{
    if (h5in_open(in, opt->directions, H5IO_FORMAT_DIRECTIONS) ||
        dirfile_read(in, set->data.n_dim, set->in.path, dirs))
        return error_code();
    if (opt->step == 'd' && !dirs->S)
        return error_set(EX_DATAERR, "%s: no signal vectors '/S'; run eddp --step c first", opt->directions);
    return 0;
}

/* A detector with no usable positives (fewer than 2, constant output, or no
 * independent component): it keeps the signal vector of the input file when
 * there is one (a step (d) result; eddp(7), "signal vectors"), marked in
 * dead [n_det]; without one (step (a)'s detectors) the run stops. */
static int keep_previous_signal(const learn_set *set, directions *dirs, const double *previous, int i,
                                int *dead, const char *why)
{
    if (!previous)
        return error_set(EX_DATAERR, "detector %d %s in %s: no signal vector", i, why, set->in.path);
    memcpy(dirs->S + (size_t)i * dirs->n_dim, previous + (size_t)i * dirs->n_dim, dirs->n_dim * sizeof(double));
    dead[i] = 1;
    fprintf(stderr, "eddp: detector %d %s in %s: it keeps its signal vector from the input (listed in "
            "/dead_detectors)\n", i, why, set->in.path);
    return 0;
}

/* Step (c): Eq. 1 on each detector's positives, z = ū_iᵀx (method-spec §4.4);
 * previous [n_det × n_dim] or NULL: the input's signal vectors. */
static int estimate_signals(const learn_set *set, directions *dirs, const double *previous, int *dead)
{
    int n_det = dirs->n_det, n_dim = dirs->n_dim, hw = set->data.hw;
    size_t batch = 256, *order = malloc(set->data.n_img * sizeof *order);
    double *X = malloc(batch * hw * n_dim * sizeof *X), *pooled = malloc(batch * n_dim * sizeof *pooled);
    double *A = malloc(batch * hw * n_det * sizeof *A), *Z = malloc(batch * hw * n_det * sizeof *Z);
    signal_accum acc;
    det_view view = {.W = dirs->W, .b = dirs->b};
    det_view unit_view = {.W = dirs->unit, .b = calloc(n_det, sizeof(double))};
    dirs->S = calloc((size_t)n_det * n_dim, sizeof(double));
    int *alive = malloc(n_det * sizeof *alive), rc = 0;
    if (!order || !X || !pooled || !A || !Z || !unit_view.b || !dirs->S || !alive ||
        signal_accum_init(&acc, n_det, n_dim)) {
        free(alive); free(order); free(X); free(pooled); free(A); free(Z); free((double *)unit_view.b);
        return error_set(EX_OSERR, "%s: out of memory estimating %d signal vectors of %d channels", set->in.path,
                         n_det, n_dim);
    }
    for (size_t k = 0; k < set->data.n_img; k++)
        order[k] = k;
    for (size_t img0 = 0; img0 < set->data.n_img && !rc; img0 += batch) {
        size_t n = set->data.n_img - img0 < batch ? set->data.n_img - img0 : batch;
        if ((rc = train_gather(&set->data, order + img0, n, X, pooled)))
            break;
        det_logits(&view, n_det, n_dim, X, n * hw, A);
        det_logits(&unit_view, n_det, n_dim, X, n * hw, Z);
        signal_accum_add(&acc, X, A, Z, n * hw);
    }
    size_t n_dead = rc ? 0 : signal_accum_finish(&acc, dirs->S, alive);
    for (int i = 0; n_dead && i < n_det && !rc; i++)
        if (!alive[i])
            rc = keep_previous_signal(set, dirs, previous, i, dead,
                                      "has fewer than 2 positive pixels (or constant output)");
    signal_accum_free(&acc);
    free(alive); free(order); free(X); free(pooled); free(A); free(Z); free((double *)unit_view.b);
    return rc;
}

/* Step (c) with --estimator ica: Eq. 1 with the filter of the independent
 * source that separates each detector's positives (ica.h); the filters go to
 * /signal_filter. Holds every pixel vector in memory. */
static int estimate_signals_ica(const options *opt, const learn_set *set, directions *dirs, double **filters,
                                const double *previous, int *dead)
{
    int n_det = dirs->n_det, n_dim = dirs->n_dim, hw = set->data.hw;
    size_t n_img = set->data.n_img, n_pix = n_img * hw;
    size_t *order = malloc(n_img * sizeof *order);
    double *X = malloc(n_pix * n_dim * sizeof *X), *pooled = malloc(n_img * n_dim * sizeof *pooled);
    double *A = malloc(n_pix * n_det * sizeof *A);
    uint8_t *positive = malloc(n_pix);
    if (!order || !X || !pooled || !A || !positive) {
        free(order); free(X); free(pooled); free(A); free(positive);
        return error_set(EX_OSERR, "--estimator ica: out of memory holding %zu pixel vectors", n_pix);
    }
    for (size_t k = 0; k < n_img; k++)
        order[k] = k;
    if (train_gather(&set->data, order, n_img, X, pooled)) {
        free(order); free(X); free(pooled); free(A); free(positive);
        return error_code();
    }
    det_view view = {.W = dirs->W, .b = dirs->b};
    det_logits(&view, n_det, n_dim, X, n_pix, A);
    dirs->S = error_calloc((size_t)n_det * n_dim, sizeof(double), "the signal vectors");
    *filters = error_calloc((size_t)n_det * n_dim, sizeof(double), "the refined filters");
    if (!dirs->S || !*filters) {
        free(order); free(X); free(pooled); free(A); free(positive);
        return error_code();
    }
    ica_config cfg;
    ica_config_default(&cfg);
    rng_state rng;
    rng_init(&rng, opt->cli.seed, RNG_STREAM_INIT);
    int rc = 0, components;
    for (int i = 0; i < n_det && !rc; i++) {
        for (size_t p = 0; p < n_pix; p++)
            positive[p] = A[p * n_det + i] > 0;
        if (ica_refine(X, n_pix, n_dim, positive, &cfg, &rng, *filters + (size_t)i * n_dim,
                       dirs->S + (size_t)i * n_dim, &components)) {
            char why[96];
            snprintf(why, sizeof why, "has no independent component (%d; too few positive pixels?)", components);
            rc = keep_previous_signal(set, dirs, previous, i, dead, why);
        }
    }
    free(order); free(X); free(pooled); free(A); free(positive);
    return rc;
}

/* /dead_detectors [n]: the detectors that kept the input's signal vector;
 * written only when there are any. */
static int write_dead(h5out *out, const int *dead, int n_det)
{
    hsize_t n = 0;
    for (int i = 0; i < n_det; i++)
        n += dead[i] != 0;
    if (!n)
        return 0;
    int32_t *list = error_calloc(n, sizeof *list, "the dead detectors' list");
    if (!list)
        return error_code();
    for (int i = 0, k = 0; i < n_det; i++)
        if (dead[i])
            list[k++] = i;
    int rc = h5out_write(out, "/dead_detectors", H5IO_INT32, 1, &n, list);
    free(list);
    return rc;
}

static int run_step_c(const options *opt, learn_set *set)
{
    h5in in;
    directions dirs;
    h5out out;
    int rc = read_directions(opt, set, &in, &dirs) ||
             h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1);
    if (rc) {
        h5in_close(&in);
        dirs_free(&dirs);
        return error_code();
    }
    double *previous = dirs.S, *filters = NULL;
    dirs.S = NULL;
    int *dead = calloc(dirs.n_det, sizeof *dead);
    rc = !dead ? error_set(EX_OSERR, "out of memory")
         : opt->ica ? estimate_signals_ica(opt, set, &dirs, &filters, previous, dead)
                    : estimate_signals(set, &dirs, previous, dead);
    snprintf(dirs.step, sizeof dirs.step, "c");
    hsize_t mat[2] = {(hsize_t)dirs.n_det, (hsize_t)dirs.n_dim};
    if (!rc)
        rc = h5out_attr_string(&out, "/", "estimator", opt->ica ? "ica" : "eq1") ||
             (filters && h5out_write(&out, "/signal_filter", H5IO_DOUBLE, 2, mat, filters)) ||
             write_dead(&out, dead, dirs.n_det);
    free(filters);
    free(previous);
    free(dead);
    h5in *inputs[] = {&in, &set->in};
    rc = learn_finish(rc ? error_code() : 0, &out, &dirs, NULL, NULL, &opt->cli, inputs, 2);
    dirs_free(&dirs);
    h5in_close(&in);
    return rc;
}

/* Signal vectors enter step (d) with unit norm: L^cur and L^fso do not see
 * their scale, and Eq. 1's scale (ūᵀŝ = 1) can be 1e3 when a filter leans on
 * low-variance channels, which would freeze them under Adam's fixed step. */
static void normalise_rows(double *rows, int n_rows, int n_cols)
{
    for (int i = 0; rows && i < n_rows; i++) {
        double *row = rows + (size_t)i * n_cols, norm = 0;
        for (int d = 0; d < n_cols; d++)
            norm += row[d] * row[d];
        norm = sqrt(norm);
        for (int d = 0; norm > 0 && d < n_cols; d++)
            row[d] /= norm;
    }
}

/* Free-parametrised detectors (and signals in step d) reproducing a
 * directions file exactly, in the space --space names. */
static int layout_from(const options *opt, const learn_set *set, directions *dirs,
                       det_layout *layout, double **params)
{
    const double *scale = opt->raw_space ? NULL : set->std;
    normalise_rows(dirs->S, dirs->n_det, dirs->n_dim);
    for (int d = 0; scale && d < dirs->n_dim; d++)
        if (!(scale[d] > 0))
            return error_set(EX_DATAERR, "%s: channel %d is constant; use --space raw", set->in.path, d);
    det_layout_init(layout, DET_FREE, dirs->n_det, dirs->n_dim, opt->step == 'd', set->mean, scale);
    layout->signals_fixed = opt->fixed_signals;
    *params = malloc(layout->n_params * sizeof(double));
    if (!*params)
        return error_set(EX_OSERR, "%s: out of memory for %d directions of %d channels", opt->directions,
                         dirs->n_det, dirs->n_dim);
    if (det_init_from_effective(layout, dirs->W, dirs->b, dirs->S, opt->init_scale, *params))
        return error_set(EX_DATAERR, "%s: a detector has a zero filter", opt->directions);
    return 0;
}

static int run_training(options *opt, learn_set *set, h5in *head_in, const head_params *head)
{
    h5in in;
    directions dirs, result = {0};
    h5out out;
    if (read_directions(opt, set, &in, &dirs) ||
        h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1)) {
        h5in_close(&in);
        dirs_free(&dirs);
        return error_code();
    }
    det_layout layout = {0};
    double *params = NULL;
    objective obj = {0};
    train_history history = {0};
    char step[2] = {opt->step, 0};
    int rc = layout_from(opt, set, &dirs, &layout, &params) ||
             learn_objective(&obj, &opt->dev, &layout, &opt->train, head, set) ||
             train_run(&opt->train.train, &obj, &set->data, params, &history) ||
             dirs_from_effective(&result, dirs.n_det, dirs.n_dim, obj.view.W, obj.view.b, set->mean, step);
    if (!rc)
        rc = h5out_attr_string(&out, "/", "space", opt->raw_space ? "raw" : "standardised") ||
             h5out_attr_double(&out, "/", "init_scale", opt->init_scale) ||
             (obj.view.S && h5out_attr_string(&out, "/", "signals", opt->fixed_signals ? "fixed" : "learned"));
    if (!rc && obj.view.S) {
        result.S = malloc((size_t)dirs.n_det * dirs.n_dim * sizeof(double));
        if (!result.S) {
            rc = error_set(EX_OSERR, "out of memory for %d signal vectors", dirs.n_det);
        } else {
            memcpy(result.S, obj.view.S, (size_t)dirs.n_det * dirs.n_dim * sizeof(double));
            normalise_rows(result.S, dirs.n_det, dirs.n_dim);
        }
    }
    h5in *inputs[] = {&in, &set->in, head_in};
    rc = learn_finish(rc ? error_code() : 0, &out, &result, &history, &opt->train, &opt->cli, inputs, 3);
    objective_free(&obj);
    train_history_free(&history);
    det_layout_free(&layout);
    free(params);
    dirs_free(&dirs);
    dirs_free(&result);
    h5in_close(&in);
    return rc;
}

static int diagnose(const options *opt, learn_set *set, const head_params *head)
{
    h5in in;
    directions dirs;
    if (read_directions(opt, set, &in, &dirs)) {
        h5in_close(&in);
        return error_code();
    }
    det_layout layout = {0};
    double *params = NULL;
    int rc = layout_from(opt, set, &dirs, &layout, &params) ||
             learn_diagnose(&opt->train, &layout, params, set, head);
    det_layout_free(&layout);
    free(params);
    dirs_free(&dirs);
    h5in_close(&in);
    return rc ? error_code() : 0;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    if (opt.step != 'c' && !opt.train.diagnose && device_choose(opt.cli.device, &opt.dev))
        cli_fail(&opt.cli);
    if (opt.step != 'c' && !opt.train.diagnose && device_set_precision(&opt.dev, opt.train.precision_arg))
        cli_fail(&opt.cli);
    opt.train.precision = device_precision(&opt.dev);
    opt.train.train.device_name = opt.dev.name[0] ? opt.dev.name : NULL;
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    learn_set set;
    h5in head_in = {.file = -1};
    head_params head = {0};
    if (learn_load_budget(&set, opt.features, opt.train.memory) ||
        (opt.head && learn_load_head(&head_in, opt.head, &set, &head)))
        cli_fail(&opt.cli);
    learn_note_half(&set, &opt.cli);
    learn_note_streamed(&set, opt.train.memory, &opt.cli);
    int rc = opt.step == 'c'        ? run_step_c(&opt, &set)
             : opt.train.diagnose ? diagnose(&opt, &set, &head)
                                  : run_training(&opt, &set, &head_in, &head);
    headfile_free(&head);
    if (opt.head)
        h5in_close(&head_in);
    learn_free(&set);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
