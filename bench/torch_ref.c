/* torch_ref — the C side of the PyTorch comparison (bench/bench_torch.sh,
 * tests/tools/test-torch-crosscheck.sh, bench/torch_eddp.py).
 *
 *   torch_ref [options] FEATURES HEAD -o DUMP.h5
 *       Builds the objective of step (a) or (d) exactly as uibe / eddp do
 *       (same layout, same standardised space, same initial parameters for
 *       a given --seed / --directions, the same training options), and
 *       writes DUMP.h5 (format eddp-torch-ref, below): the layout, the
 *       flat parameters, the head, every objective and training setting,
 *       and one checked batch — its pixel rows X, pooled rows, κ, an
 *       augmented-Lagrangian state, and what objective_eval gives on it:
 *       every term's value, the AL total and the gradient with respect to
 *       the flat parameters. bench/torch_eddp.py recomputes all of it with
 *       autograd from the same numbers.
 *       With --time-epochs E it then trains E epochs (train_run, the
 *       tools' loop) from those parameters on the whole set and prints
 *       "c_seconds S" and "c_objective X" (mean objective of the last epoch);
 *       with --precision float32, on the float32 CPU path (device.h), as
 *       uibe/eddp --precision float32 train.
 *   torch_ref --make-broden N FEATURES HEAD
 *       Writes a Broden-sized set (N images of 512 channels × 7 × 7,
 *       uniform features of unit variance, as bench_epoch) and a random
 *       10-class head, for the Broden-scale comparison.
 *
 * Options: --step a|d (d); --detectors N (step a; 3); --init-margin X
 * (step a; 1); --init-threshold X (step a; 0, uibe's start; a positive
 * one makes detectors rarely active, so that L^ic is not 0); --directions FILE (step d: detectors and signals from a
 * directions file, as eddp --step d; without it random ones, seeded);
 * --check-images N (images of the checked batch; the batch size);
 * --seed, --threads, --overwrite, --quiet; every training option of uibe(1).
 *
 * DUMP.h5: root attributes format "eddp-torch-ref" (version 1), step,
 * kind (1 standardised, 2 free), n_det, n_dim, hw, has_signals, gamma,
 * tau, rho, nu, kappa_lo, kappa_hi, lr, batch, al_every, al_penalty,
 * al_growth, al_penalty_max, al_full_data, seed, coverage (mean,
 * per-detector, soft, reward or union) and sparsity (entropy or overlap:
 * strings, --coverage and --sparsity; a reader of dumps without them takes
 * mean and entropy); datasets /center, /scale
 * [n_dim], /params [n_params], /head/weight [K × n_dim], /head/bias [K],
 * /terms/enabled, /terms/constrained (int32 [10]), /terms/weight,
 * /terms/bound (float64 [10], the order of objective.h's term_id),
 * /al/ids (int32), /al/multipliers (float64) [n_con] with attribute
 * penalty on /al, /check/X [n_pix × n_dim], /check/pooled [n × n_dim],
 * /check/kappa [n], /check/values [10] (NaN: term off), /check/grad
 * [n_params], attribute /check total.
 *
 * Exit codes: 0; 64 usage; 65 bad data; 66 missing input; 70 a failure
 * in the objective; 73 the output exists or cannot be written. */
#include "cli.h"
#include "detectors.h"
#include "dirfile.h"
#include "error.h"
#include "h5io.h"
#include "headfile.h"
#include "learn.h"
#include "objective.h"
#include "rng.h"
#include "train.h"
#include "trainopts.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORMAT_TORCH_REF "eddp-torch-ref"

static const char usage[] =
    "usage: torch_ref [options] FEATURES HEAD -o DUMP.h5\n"
    "       torch_ref --make-broden N FEATURES HEAD\n"
    "The C side of bench/bench_torch.sh: one checked batch of step (a) or (d)\n"
    "(values, AL total, gradient) and the problem, for bench/torch_eddp.py.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    train_options train;
    char step;
    int n_det;
    double init_margin, init_threshold;
    const char *directions, *features, *head;
    size_t check_images;
    long time_epochs, broden_images;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "torch_ref", usage, argc, argv);
    opt->n_det = 3;
    opt->init_margin = 1;
    trainopts_defaults(&opt->train, NULL, 1); /* the default terms depend on --step */
    int step = 1;
    const opt_row rows[] = {
        OPT_CHOICE("step", &step, "a|d", "which step's objective (d)"),
        OPT_INTEGER("detectors", &opt->n_det, 1, 1 << 20, "N", "step (a): number of detectors (3)"),
        OPT_DOUBLE("init-margin", &opt->init_margin, 1e-9, 1e9, "X", "step (a): initial shared margin (1)"),
        OPT_DOUBLE("init-threshold", &opt->init_threshold, -1e9, 1e9, "X",
                   "step (a): initial shared threshold (0, as uibe)"),
        OPT_STRING("directions", &opt->directions, "FILE", "step (d): detectors and signals from FILE (random)"),
        OPT_INTEGER("check-images", &opt->check_images, 1, 1L << 30, "N",
                    "images in the checked batch (the batch size)"),
        OPT_INTEGER("time-epochs", &opt->time_epochs, 0, 1L << 30, "E", "then train E epochs and print c_seconds"),
        OPT_INTEGER("make-broden", &opt->broden_images, 1, 1L << 30, "N",
                    "write a random Broden-sized set and head"),
        OPT_INCLUDE(opt->train.rows),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    opt->step = "ad"[step];
    const char *terms = opt->step == 'a' ? "s,ma,mm,ic,uur" : "s,sb,ma,mm,ic,eac,cur,fso";
    if (!opt->train.losses)
        opt->train.losses = terms;
    cli_expect_operands(cli, 2, "FEATURES HEAD");
    opt->features = argv[first];
    opt->head = argv[first + 1];
    if (!opt->broden_images && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
    if (opt->step == 'a' && opt->directions)
        cli_usage_error(cli, "--directions is for --step d");
    trainopts_finish(&opt->train, cli, terms);
}

/* ------------------------------------------------------------ Broden-sized set */

enum { BRODEN_DIM = 512, BRODEN_SIDE = 7, BRODEN_CLS = 10 };

static int write_broden(const options *opt)
{
    size_t n_img = (size_t)opt->broden_images, per_image = (size_t)BRODEN_DIM * BRODEN_SIDE * BRODEN_SIDE;
    float *features = malloc(n_img * per_image * sizeof *features);
    head_params head = {BRODEN_CLS, BRODEN_DIM, malloc(BRODEN_CLS * BRODEN_DIM * sizeof(double)),
                        malloc(BRODEN_CLS * sizeof(double))};
    if (!features || !head.weight || !head.bias)
        return error_set(EX_OSERR, "out of memory for %zu Broden-sized images", n_img);
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n_img; j++) {
        rng_state r;
        rng_init(&r, opt->cli.seed, j);
        for (size_t k = 0; k < per_image; k++)
            features[j * per_image + k] = (float)rng_uniform_range(&r, -1.7320508, 1.7320508);
    }
    rng_state r;
    rng_init(&r, opt->cli.seed, RNG_STREAM_INIT);
    for (int k = 0; k < BRODEN_CLS * BRODEN_DIM; k++)
        head.weight[k] = 0.1 * rng_normal(&r);
    for (int k = 0; k < BRODEN_CLS; k++)
        head.bias[k] = 0.1 * rng_normal(&r);
    h5out out;
    hsize_t dims[4] = {n_img, BRODEN_DIM, BRODEN_SIDE, BRODEN_SIDE};
    int rc = h5out_create(&out, opt->features, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, dims, features) || h5out_commit(&out);
    if (!rc)
        rc = h5out_create(&out, opt->head, opt->cli.overwrite, H5IO_FORMAT_HEAD, 1) ||
             headfile_write(&out, &head) || h5out_commit(&out);
    free(features);
    free(head.weight);
    free(head.bias);
    return rc ? error_code() : 0;
}

/* ------------------------------------------------------------ the problem */

/* Step (d) without a directions file: random free parameters in the
 * standardised space, every logit O(1): unit directions, margins e^{N(0,0.3²)},
 * thresholds N(0, 0.5²), Gaussian signals. */
static void random_free_params(const det_layout *layout, uint64_t seed, double *params)
{
    rng_state r;
    rng_init(&r, seed, RNG_STREAM_INIT);
    size_t dir = (size_t)layout->n_det * layout->n_dim;
    for (size_t k = 0; k < dir; k++)
        params[layout->off_dir + k] = rng_normal(&r);
    for (int i = 0; i < layout->n_det; i++) {
        params[layout->off_margin + i] = 0.3 * rng_normal(&r);
        params[layout->off_threshold + i] = 0.5 * rng_normal(&r);
    }
    for (size_t k = 0; layout->has_signals && k < dir; k++)
        params[layout->off_signal + k] = rng_normal(&r);
}

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

/* The layout and initial parameters uibe (step a) or eddp --step d would
 * start from. */
static int make_problem(const options *opt, const learn_set *set, det_layout *layout, double **params)
{
    int n_dim = set->data.n_dim;
    for (int d = 0; d < n_dim; d++)
        if (!(set->std[d] > 0))
            return error_set(EX_DATAERR, "%s: channel %d is constant", opt->features, d);
    if (opt->step == 'a') {
        if (opt->n_det > n_dim)
            return error_set(EX_USAGE, "--detectors %d exceeds the %d channels of %s", opt->n_det, n_dim,
                             opt->features);
        det_layout_init(layout, DET_STANDARDISED, opt->n_det, n_dim, 0, set->mean, set->std);
        *params = malloc(layout->n_params * sizeof(double));
        rng_state rng;
        rng_init(&rng, opt->cli.seed, RNG_STREAM_INIT);
        if (!*params || det_init_standardised(layout, &rng, opt->init_margin, opt->init_threshold, *params))
            return error_set(EX_SOFTWARE, "the initial orthonormal basis failed");
        return 0;
    }
    if (!opt->directions) {
        det_layout_init(layout, DET_FREE, opt->n_det, n_dim, 1, set->mean, set->std);
        *params = malloc(layout->n_params * sizeof(double));
        if (!*params)
            return error_set(EX_OSERR, "out of memory");
        random_free_params(layout, opt->cli.seed, *params);
        return 0;
    }
    h5in in;
    directions dirs;
    if (h5in_open(&in, opt->directions, H5IO_FORMAT_DIRECTIONS) ||
        dirfile_read(&in, n_dim, opt->features, &dirs))
        return error_code();
    h5in_close(&in);
    int rc = 0;
    if (!dirs.S)
        rc = error_set(EX_DATAERR, "%s: no signal vectors '/S'; run eddp --step c first", opt->directions);
    if (!rc) {
        normalise_rows(dirs.S, dirs.n_det, dirs.n_dim);
        det_layout_init(layout, DET_FREE, dirs.n_det, n_dim, 1, set->mean, set->std);
        *params = malloc(layout->n_params * sizeof(double));
        if (!*params || det_init_from_effective(layout, dirs.W, dirs.b, dirs.S, 1.0, *params))
            rc = error_set(EX_DATAERR, "%s: a detector has a zero filter", opt->directions);
    }
    dirs_free(&dirs);
    return rc;
}

/* An AL state with every multiplier path exercised: μ_k = 0.25 (k+1),
 * penalty 10 (some terms then enter with max(0, μ + ρc) > 0, others 0). */
static void check_al_state(const objective_config *ocfg, al_state *al, int ids[TERM_COUNT], int *n_con)
{
    *n_con = objective_constraints(ocfg, ids);
    double bounds[AL_MAX_CONSTRAINTS];
    for (int k = 0; k < *n_con; k++)
        bounds[k] = ocfg->bound[ids[k]];
    al_init(al, *n_con, bounds, 10.0, 10.0, 1e4);
    for (int k = 0; k < *n_con; k++)
        al->multiplier[k] = 0.25 * (k + 1);
}

typedef struct {
    size_t n_img, n_pix;
    double *X, *pooled, *kappa, *values, *grad, total;
} checked_batch;

static int check_batch(const options *opt, const learn_set *set, const det_layout *layout, const double *params,
                       const head_params *head, const al_state *al, checked_batch *cb)
{
    size_t n = opt->check_images ? opt->check_images : opt->train.train.batch_images;
    n = n < set->data.n_img ? n : set->data.n_img;
    cb->n_img = n;
    cb->n_pix = n * set->data.hw;
    size_t *order = malloc(n * sizeof *order);
    cb->X = malloc(cb->n_pix * set->data.n_dim * sizeof(double));
    cb->pooled = malloc(n * set->data.n_dim * sizeof(double));
    cb->kappa = malloc(n * sizeof(double));
    cb->values = malloc(TERM_COUNT * sizeof(double));
    cb->grad = malloc(layout->n_params * sizeof(double));
    if (!order || !cb->X || !cb->pooled || !cb->kappa || !cb->values || !cb->grad) {
        free(order);
        return error_set(EX_OSERR, "out of memory for the checked batch");
    }
    rng_state r;
    rng_init(&r, opt->cli.seed, RNG_STREAM_KAPPA);
    for (size_t k = 0; k < n; k++) {
        order[k] = k;
        cb->kappa[k] = rng_uniform_range(&r, opt->train.obj.kappa_lo, opt->train.obj.kappa_hi);
    }
    train_gather(&set->data, order, n, cb->X, cb->pooled);
    free(order);
    objective obj;
    int rc = objective_init(&obj, layout, &opt->train.obj, head, (int)n, cb->n_pix);
    objective_batch ob = {cb->X, cb->pooled, cb->kappa, (int)n, cb->n_pix, NULL};
    rc = rc || objective_eval(&obj, params, &ob, al, cb->values, &cb->total, cb->grad);
    objective_free(&obj);
    return rc ? error_code() : 0;
}

static void checked_batch_free(checked_batch *cb)
{
    free(cb->X); free(cb->pooled); free(cb->kappa); free(cb->values); free(cb->grad);
}

static int write_settings(h5out *out, const options *opt, const det_layout *layout, int hw)
{
    const objective_config *o = &opt->train.obj;
    const train_config *t = &opt->train.train;
    char step[2] = {opt->step, 0};
    struct { const char *name; long long value; } ints[] = {
        {"kind", layout->kind}, {"n_det", layout->n_det}, {"n_dim", layout->n_dim}, {"hw", hw},
        {"has_signals", layout->has_signals}, {"batch", (long long)t->batch_images}, {"al_every", t->al_every},
        {"al_full_data", t->al_full_data}, {"constrained", t->constrained}, {"seed", (long long)opt->cli.seed}};
    struct { const char *name; double value; } reals[] = {
        {"gamma", o->pixel.gamma}, {"tau", o->pixel.tau}, {"rho", o->pixel.rho}, {"nu", o->pixel.nu},
        {"kappa_lo", o->kappa_lo}, {"kappa_hi", o->kappa_hi}, {"lr", t->lr}, {"al_penalty", t->al_penalty},
        {"al_growth", t->al_growth}, {"al_penalty_max", t->al_penalty_max}};
    int rc = h5out_attr_string(out, "/", "step", step) ||
             h5out_attr_string(out, "/", "coverage", loss_coverage_name(o->pixel.coverage)) ||
             h5out_attr_string(out, "/", "sparsity", loss_sparsity_name(o->pixel.sparsity));
    for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !rc; k++)
        rc = h5out_attr_int(out, "/", ints[k].name, ints[k].value);
    for (size_t k = 0; k < sizeof reals / sizeof reals[0] && !rc; k++)
        rc = h5out_attr_double(out, "/", reals[k].name, reals[k].value);
    int enabled[TERM_COUNT], constrained[TERM_COUNT];
    for (int j = 0; j < TERM_COUNT; j++) {
        enabled[j] = o->enabled[j];
        constrained[j] = o->constrained[j];
    }
    hsize_t nt[1] = {TERM_COUNT}, nd[1] = {(hsize_t)layout->n_dim};
    rc = rc || h5out_write(out, "/terms/enabled", H5IO_INT32, 1, nt, enabled) ||
         h5out_write(out, "/terms/constrained", H5IO_INT32, 1, nt, constrained) ||
         h5out_write(out, "/terms/weight", H5IO_DOUBLE, 1, nt, o->weight) ||
         h5out_write(out, "/terms/bound", H5IO_DOUBLE, 1, nt, o->bound) ||
         h5out_write_strings(out, "/terms/names", term_names, TERM_COUNT) ||
         h5out_write(out, "/center", H5IO_DOUBLE, 1, nd, layout->center) ||
         h5out_write(out, "/scale", H5IO_DOUBLE, 1, nd, layout->scale);
    return rc;
}

static int write_dump(const options *opt, const learn_set *set, const det_layout *layout, const double *params,
                      const head_params *head, const al_state *al, const int *ids, int n_con,
                      const checked_batch *cb, h5in **inputs)
{
    h5out out;
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, FORMAT_TORCH_REF, 1))
        return error_code();
    int n_dim = layout->n_dim, ids32[TERM_COUNT];
    for (int k = 0; k < n_con; k++)
        ids32[k] = ids[k];
    hsize_t np[1] = {layout->n_params}, hw[2] = {(hsize_t)head->n_cls, (hsize_t)n_dim};
    hsize_t hb[1] = {(hsize_t)head->n_cls}, nc[1] = {(hsize_t)n_con}, nt[1] = {TERM_COUNT};
    hsize_t xd[2] = {cb->n_pix, (hsize_t)n_dim}, pd[2] = {cb->n_img, (hsize_t)n_dim}, kd[1] = {cb->n_img};
    h5io_provenance prov = {.tool = opt->cli.tool, .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads(), .device = "cpu",
                            .inputs = inputs, .n_inputs = 2};
    int rc = write_settings(&out, opt, layout, set->data.hw) ||
             h5out_write(&out, "/params", H5IO_DOUBLE, 1, np, params) ||
             h5out_write(&out, "/head/weight", H5IO_DOUBLE, 2, hw, head->weight) ||
             h5out_write(&out, "/head/bias", H5IO_DOUBLE, 1, hb, head->bias) ||
             (n_con && (h5out_write(&out, "/al/ids", H5IO_INT32, 1, nc, ids32) ||
                        h5out_write(&out, "/al/multipliers", H5IO_DOUBLE, 1, nc, al->multiplier) ||
                        h5out_attr_double(&out, "/al", "penalty", al->penalty))) ||
             h5out_write(&out, "/check/X", H5IO_DOUBLE, 2, xd, cb->X) ||
             h5out_write(&out, "/check/pooled", H5IO_DOUBLE, 2, pd, cb->pooled) ||
             h5out_write(&out, "/check/kappa", H5IO_DOUBLE, 1, kd, cb->kappa) ||
             h5out_write(&out, "/check/values", H5IO_DOUBLE, 1, nt, cb->values) ||
             h5out_write(&out, "/check/grad", H5IO_DOUBLE, 1, np, cb->grad) ||
             h5out_attr_double(&out, "/check", "total", cb->total) || h5out_provenance(&out, &prov) ||
             h5out_commit(&out);
    if (rc) {
        h5out_abort(&out);
        return error_code();
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* E epochs of the tools' loop from params; prints the wall seconds. */
static int time_epochs(const options *opt, const learn_set *set, const det_layout *layout, const double *params,
                       const head_params *head)
{
    double *work = malloc(layout->n_params * sizeof *work);
    if (!work)
        return error_set(EX_OSERR, "out of memory");
    memcpy(work, params, layout->n_params * sizeof *work);
    objective obj = {0};
    train_history history = {0};
    train_config tc = opt->train.train;
    tc.epochs = opt->time_epochs;
    tc.cli = &opt->cli;
    /* --precision float32: the float32 CPU path (device.h), as uibe/eddp run it */
    device_choice dev;
    double t0 = now();
    int rc = device_choose("cpu", &dev) || device_set_precision(&dev, opt->train.precision_arg) ||
             learn_objective(&obj, &dev, layout, &opt->train, head, set) ||
             train_run(&tc, &obj, &set->data, work, &history);
    double seconds = now() - t0;
    if (!rc) {
        printf("c_seconds %.6f\n", seconds);
        printf("c_objective %.10g\n", history.rows[(history.epochs_done - 1) * history.n_cols]);
    }
    objective_free(&obj);
    train_history_free(&history);
    free(work);
    return rc ? error_code() : 0;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    if (opt.broden_images) {
        if (write_broden(&opt))
            cli_fail(&opt.cli);
        return 0;
    }
    learn_set set;
    h5in head_in;
    head_params head = {0};
    if (learn_load_budget(&set, opt.features, opt.train.memory) || learn_load_head(&head_in, opt.head, &set, &head))
        cli_fail(&opt.cli);
    det_layout layout = {0};
    double *params = NULL;
    al_state al;
    int ids[TERM_COUNT], n_con;
    checked_batch cb = {0};
    check_al_state(&opt.train.obj, &al, ids, &n_con);
    h5in *inputs[] = {&set.in, &head_in};
    int rc = make_problem(&opt, &set, &layout, &params) ||
             check_batch(&opt, &set, &layout, params, &head, &al, &cb) ||
             write_dump(&opt, &set, &layout, params, &head, &al, ids, n_con, &cb, inputs) ||
             (opt.time_epochs > 0 && time_epochs(&opt, &set, &layout, params, &head));
    checked_batch_free(&cb);
    free(params);
    det_layout_free(&layout);
    headfile_free(&head);
    h5in_close(&head_in);
    learn_free(&set);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
