/* correct — model correction by a concept's direction (the paper's App. I,
 * Eq. 18) on a features file: x'_p = ReLU(x_p − m_p·k·v),
 * m_p = σ(wᵀx_p − b), for one detector of a directions file; the corrected
 * features (with the input's labels and concept annotations) go to an
 * eddp-features file that trainhead --eval scores. The maths is
 * libcore/influence/correct.c. */
#include "cli.h"
#include "correct.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: correct [options] DIRECTIONS FEATURES -o CORRECTED\n"
    "Correct FEATURES by detector i of DIRECTIONS (Eq. 18): x' = ReLU(x - m k v) at\n"
    "every pixel, m = sigmoid(w_i.x - b_i); v is the signal vector s_i scaled so that\n"
    "w_i.v = 1 (k = the drop of the detector's logit where m = 1), or a control of the\n"
    "same length. Writes an eddp-features file for trainhead --eval.\n"
    "options:\n";

enum { DIR_SIGNAL, DIR_FILTER, DIR_RANDOM };
static const char *const direction_names[] = {"signal", "filter", "random"};

typedef struct {
    cli_common cli;
    long detector;          /* -1 = by --concept */
    const char *concept, *labels, *directions, *features;
    int direction, relu, trial_given;
    long trial;
    double strength;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "correct", usage, argc, argv);
    opt->detector = -1;
    opt->strength = 450;
    opt->relu = 1;
    const opt_row rows[] = {
        OPT_INTEGER("detector", &opt->detector, 0, 1L << 30, "I", "the detector, by index (0-based)"),
        OPT_STRING("concept", &opt->concept, "NAME",
                   "the detector labelled NAME by iou-label (needs --labels;\nof several, the one of highest "
                   "validation IoU)"),
        OPT_STRING("labels", &opt->labels, "EVAL", "iou-label's output, for --concept"),
        OPT_CHOICE("direction", &opt->direction, "signal|filter|random",
                   "v: the signal vector (default), the filter\nw_i, or a random direction, both at the length "
                   "of the\nsignal direction"),
        OPT_INTEGER("trial", &opt->trial, 0, 1L << 30, "T", "which random direction (0, 1, ...; drawn from --seed)",
                    .given = &opt->trial_given),
        OPT_DOUBLE("strength", &opt->strength, 0, HUGE_VAL, "K", "k > 0 (450, the paper's)",
                   .flags = OPTF_OPEN_MIN, .expect = "a number k > 0"),
        OPT_SET_INT("no-relu", &opt->relu, 0, "x - m k v without the ReLU (features not post-ReLU)"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    cli_expect_operands(cli, 2, "DIRECTIONS FEATURES");
    opt->directions = argv[first];
    opt->features = argv[first + 1];
    cli_require_output(cli);
    if ((opt->detector >= 0) == (opt->concept != NULL))
        cli_usage_error(cli, "give the detector: --detector I or --concept NAME (one of them)");
    if (opt->concept && !opt->labels)
        cli_usage_error(cli, "--concept needs --labels EVAL (iou-label's output)");
    if (opt->labels && !opt->concept)
        cli_usage_error(cli, "--labels is used with --concept only");
    if (opt->trial_given && opt->direction != DIR_RANDOM)
        cli_usage_error(cli, "--trial applies to --direction random only");
    int stdin_inputs = !strcmp(opt->directions, "-") + !strcmp(opt->features, "-") +
                       (opt->labels && !strcmp(opt->labels, "-"));
    if (stdin_inputs > 1)
        cli_usage_error(cli, "only one input can come from stdin");
}

/* ------------------------------------------------------------ the detector */

/* EVAL's provenance must list DIRECTIONS' content: labels of other
 * detectors would pick a wrong row silently. */
static int check_eval_source(const options *opt, h5in *eval, h5in *dirs)
{
    char *inputs = NULL, needle[32];
    if (h5in_hash(dirs) || h5in_attr_string(eval, "/", "inputs", &inputs))
        return error_code();
    snprintf(needle, sizeof needle, "\t%016llx", (unsigned long long)dirs->hash);
    int found = strstr(inputs, needle) != NULL;
    free(inputs);
    if (!found)
        return error_set(EX_DATAERR, "%s was not made from %s (its 'inputs' do not list a file with that "
                         "content); run iou-label on these directions", eval->path, opt->directions);
    return 0;
}

/* The detector of a concept: of those iou-label labelled with it, the one of
 * highest validation IoU; when none carries the label (a rare concept can
 * lose every detector's argmax to a frequent one), the detector of highest
 * training IoU with it, said on stderr. *iou: its validation IoU with the
 * concept. */
static int detector_of_concept(const options *opt, h5in *eval, int n_det, int *detector, double *iou)
{
    char **names = NULL;
    size_t n_names = 0;
    int32_t *label = NULL;
    double *iou_train = NULL, *iou_val = NULL;
    hsize_t dims[H5IO_MAX_RANK];
    int rc = h5in_strings(eval, "/concept_names", &names, &n_names) ||
             h5in_read(eval, "/label", H5IO_INT32, 1, NULL, (void **)&label, dims);
    if (!rc && dims[0] != (hsize_t)n_det)
        rc = error_set(EX_DATAERR, "%s: '/label' labels %llu detectors but %s has %d", eval->path,
                       (unsigned long long)dims[0], opt->directions, n_det);
    hsize_t table[2] = {(hsize_t)n_det, n_names};
    if (!rc)
        rc = h5in_read(eval, "/iou/train", H5IO_DOUBLE, 2, table, (void **)&iou_train, dims) ||
             h5in_read(eval, "/iou/val", H5IO_DOUBLE, 2, table, (void **)&iou_val, dims);
    int column = -1;
    for (size_t c = 0; !rc && c < n_names; c++)
        if (!strcmp(names[c], opt->concept))
            column = (int)c;
    if (!rc && column < 0)
        rc = error_set(EX_DATAERR, "%s: no concept '%s' among its %zu concept names", eval->path, opt->concept,
                       n_names);
    *detector = -1;
    for (int i = 0; !rc && i < n_det; i++)
        if (label[i] == column && (*detector < 0 || iou_val[(size_t)i * n_names + column] >
                                                        iou_val[(size_t)*detector * n_names + column]))
            *detector = i;
    if (!rc && *detector < 0) {
        *detector = 0;
        for (int i = 1; i < n_det; i++)
            if (iou_train[(size_t)i * n_names + column] > iou_train[(size_t)*detector * n_names + column])
                *detector = i;
        if (!opt->cli.quiet)
            fprintf(stderr, "%s: no detector is labelled '%s' in %s; detector %d has the highest training IoU "
                    "with it (%.3f)\n", opt->cli.tool, opt->concept, eval->path, *detector,
                    iou_train[(size_t)*detector * n_names + column]);
    }
    if (!rc)
        *iou = iou_val[(size_t)*detector * n_names + column];
    h5io_free_strings(names, n_names);
    free(label);
    free(iou_train);
    free(iou_val);
    return rc ? error_code() : 0;
}

typedef struct {
    int detector;
    double iou;             /* label IoU (validation), NaN by index */
    double *w, b;           /* the detector's filter [C] and bias */
    double *v;              /* [C] the direction, at the signal direction's length */
    double signal_length;   /* ‖s/(wᵀs)‖ */
    double w_dot_s;         /* of the stored signal vector */
} correction;

static int make_direction(const options *opt, const directions *dirs, correction *cor)
{
    int n_dim = dirs->n_dim, i = cor->detector;
    if (!dirs->S)
        return error_set(EX_DATAERR, "%s: no signal vectors '/S' (a step-%s file); correct needs step c or d "
                         "(eddp)", opt->directions, dirs->step);
    cor->w = malloc(n_dim * sizeof(double));
    cor->v = malloc(n_dim * sizeof(double));
    const double *s = dirs->S + (size_t)i * n_dim;
    memcpy(cor->w, dirs->W + (size_t)i * n_dim, n_dim * sizeof(double));
    cor->b = dirs->b[i];
    cor->w_dot_s = 0;
    for (int d = 0; d < n_dim; d++)
        cor->w_dot_s += cor->w[d] * s[d];
    if (correct_signal_direction(cor->w, s, n_dim, cor->v))
        return error_prefix("%s: detector %d: ", opt->directions, i);
    double len = 0;
    for (int d = 0; d < n_dim; d++)
        len += cor->v[d] * cor->v[d];
    cor->signal_length = sqrt(len);
    if (opt->direction == DIR_FILTER)
        return correct_scale_to(cor->w, n_dim, cor->signal_length, cor->v);
    if (opt->direction == DIR_RANDOM)
        correct_random_direction(opt->cli.seed, opt->trial, n_dim, cor->signal_length, cor->v);
    return 0;
}

/* ------------------------------------------------------------ the work */

typedef struct {
    double mask_sum;
    size_t masked;          /* pixels with m > 1/2 */
    size_t pixels;
    size_t clamped;         /* values the ReLU set to 0 that were > 0 */
} stats;

static int correct_all(const options *opt, const features_file *ff, const correction *cor, h5out *out,
                       stats *st)
{
    size_t n_dim = ff->n_dim, hw = ff->height * ff->width, per = n_dim * hw;
    size_t batch = features_batch_images(ff, 32u << 20);
    hsize_t fdims[4] = {ff->n_img, n_dim, ff->height, ff->width}, mdims[3] = {ff->n_img, ff->height, ff->width};
    hsize_t chunk = (1u << 20) / (per * sizeof(float)) + 1;
    hid_t fset = H5I_INVALID_HID, mset = H5I_INVALID_HID;
    float *x = malloc(batch * per * sizeof *x), *y = malloc(batch * per * sizeof *y);
    float *mask = malloc(batch * hw * sizeof *mask);
    int rc = !x || !y || !mask ? error_set(EX_OSERR, "out of memory for a batch of %zu images", batch) : 0;
    if (!rc)
        rc = h5out_create_dataset(out, "/features", H5IO_FLOAT, 4, fdims, chunk, &fset) ||
             h5out_create_dataset(out, "/correction/mask", H5IO_FLOAT, 3, mdims, chunk * n_dim, &mset);
    for (size_t img0 = 0; !rc && img0 < ff->n_img; img0 += batch) {
        size_t n = ff->n_img - img0 < batch ? ff->n_img - img0 : batch;
        if ((rc = features_read_images(ff, img0, n, x)))
            break;
        size_t clamped = 0;
#pragma omp parallel for schedule(static) reduction(+ : clamped)
        for (size_t k = 0; k < n; k++) {
            correct_image(x + k * per, (int)n_dim, hw, cor->w, cor->b, opt->strength, cor->v, opt->relu,
                          y + k * per, mask + k * hw);
            for (size_t e = 0; opt->relu && e < per; e++)
                clamped += y[k * per + e] == 0 && x[k * per + e] > 0;
        }
        st->clamped += clamped;
        for (size_t p = 0; p < n * hw; p++) {   /* in order: the same sum at every thread count */
            st->mask_sum += mask[p];
            st->masked += mask[p] > 0.5f;
        }
        st->pixels += n * hw;
        rc = h5out_write_rows(fset, "/features", H5IO_FLOAT, img0, n, y) ||
             h5out_write_rows(mset, "/correction/mask", H5IO_FLOAT, img0, n, mask);
        cli_progress(&opt->cli, "%zu of %zu images", img0 + n, ff->n_img);
    }
    cli_progress_end(&opt->cli);
    if (fset >= 0)
        H5Dclose(fset);
    if (mset >= 0)
        H5Dclose(mset);
    free(x); free(y); free(mask);
    return rc ? error_code() : 0;
}

/* The input's labels, class names and concept annotations, as they are. */
static int copy_annotations(h5in *in, h5out *out)
{
    static const char *const names[] = {"/labels", "/class_names", "/concepts"};
    for (int k = 0; k < 3; k++)
        if (h5in_exists(in, names[k]) && h5out_copy(out, in, names[k]))
            return error_code();
    return 0;
}

static int write_correction(h5out *out, const options *opt, const correction *cor, const stats *st, int n_dim)
{
    hsize_t dims[1] = {(hsize_t)n_dim};
    int rc = h5out_write(out, "/correction/vector", H5IO_DOUBLE, 1, dims, cor->v) ||
             h5out_attr_string(out, "/", "correction_direction", direction_names[opt->direction]) ||
             h5out_attr_int(out, "/", "correction_detector", cor->detector) ||
             h5out_attr_double(out, "/", "correction_strength", opt->strength) ||
             h5out_attr_int(out, "/", "correction_relu", opt->relu) ||
             h5out_attr_double(out, "/", "correction_length", opt->strength * cor->signal_length) ||
             h5out_attr_double(out, "/", "signal_w_dot_s", cor->w_dot_s) ||
             h5out_attr_double(out, "/", "mask_mean", st->mask_sum / (double)st->pixels) ||
             h5out_attr_double(out, "/", "masked_fraction", (double)st->masked / (double)st->pixels);
    if (!rc && opt->direction == DIR_RANDOM)
        rc = h5out_attr_int(out, "/", "correction_trial", opt->trial);
    if (!rc && opt->concept)
        rc = h5out_attr_string(out, "/", "correction_concept", opt->concept) ||
             h5out_attr_double(out, "/", "correction_concept_iou", cor->iou);
    return rc ? error_code() : 0;
}

static void print_summary(const options *opt, const correction *cor, const stats *st)
{
    if (!strcmp(opt->cli.output, "-") || opt->cli.quiet)
        return;
    printf("detector %d", cor->detector);
    if (opt->concept)
        printf(" ('%s', validation IoU %.3f)", opt->concept, cor->iou);
    printf(", direction %s", direction_names[opt->direction]);
    if (opt->direction == DIR_RANDOM)
        printf(" (trial %ld)", opt->trial);
    printf(", k = %g: |k v| = %.6g feature units\n", opt->strength, opt->strength * cor->signal_length);
    printf("mask: mean %.4f, %zu of %zu pixels (%.2f%%) with m > 0.5; ReLU zeroed %zu values\n",
           st->mask_sum / (double)st->pixels, st->masked, st->pixels, 100.0 * (double)st->masked / (double)st->pixels,
           st->clamped);
}

static int run(const options *opt)
{
    h5in din, fin, ein;
    features_file ff;
    directions dirs = {0};
    correction cor = {.iou = NAN};
    stats st = {0};
    h5out out;
    int have_eval = 0, have_out = 0;
    memset(&ein, 0, sizeof ein);
    if (h5in_open(&fin, opt->features, H5IO_FORMAT_FEATURES))
        return error_code();
    int rc = h5in_open(&din, opt->directions, H5IO_FORMAT_DIRECTIONS);
    if (rc) {
        h5in_close(&fin);
        return rc;
    }
    rc = features_open(&ff, &fin) || dirfile_read(&din, (int)ff.n_dim, opt->features, &dirs);
    if (!rc && opt->concept) {
        rc = h5in_open(&ein, opt->labels, H5IO_FORMAT_EVALUATION);
        have_eval = !rc;
        if (!rc)
            rc = check_eval_source(opt, &ein, &din) ||
                 detector_of_concept(opt, &ein, dirs.n_det, &cor.detector, &cor.iou);
    } else if (!rc) {
        if (opt->detector >= dirs.n_det)
            rc = error_set(EX_USAGE, "--detector %ld: %s has %d detectors (0..%d)", opt->detector,
                           opt->directions, dirs.n_det, dirs.n_det - 1);
        cor.detector = (int)opt->detector;
    }
    if (!rc)
        rc = make_direction(opt, &dirs, &cor);
    if (!rc) {
        rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1);
        have_out = !rc;
    }
    h5in *inputs[] = {&fin, &din, &ein};
    h5io_provenance prov = {.tool = "correct", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads(), .device = "cpu",
                            .inputs = inputs, .n_inputs = have_eval ? 3 : 2};
    if (!rc)
        rc = correct_all(opt, &ff, &cor, &out, &st) || copy_annotations(&fin, &out) ||
             write_correction(&out, opt, &cor, &st, (int)ff.n_dim) || h5out_provenance(&out, &prov) ||
             h5out_commit(&out);
    if (rc) {
        rc = error_code();
        if (have_out)
            h5out_abort(&out);
    } else {
        print_summary(opt, &cor, &st);
    }
    free(cor.w);
    free(cor.v);
    dirs_free(&dirs);
    if (have_eval)
        h5in_close(&ein);
    h5in_close(&din);
    h5in_close(&fin);
    return rc;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    if (run(&opt))
        cli_fail(&opt.cli);
    return 0;
}
