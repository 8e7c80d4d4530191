/* trainhead — trains f+ (global average pooling + linear + softmax) on a
 * features file's images and labels, or evaluates a head (--eval).
 * Each image is pooled once; training runs on pooled features. */
#include "cli.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "head.h"
#include "headfile.h"
#include "optim.h"
#include "rng.h"
#include "trainopts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: trainhead [options] FEATURES -o HEAD\n"
    "       trainhead --eval HEAD FEATURES\n"
    "Train the head f+ = softmax(V avgpool(x) + c) by cross-entropy with Adam,\n"
    "or print a head's accuracy and confusion matrix on a features file.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    long epochs, batch;
    double lr;
    int n_cls, eval;
    const char *features, *head;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "trainhead", usage, argc, argv);
    opt->epochs = 2000;
    opt->batch = 1024;
    opt->lr = 0.005;
    const opt_row rows[] = {
        OPT_EPOCHS(&opt->epochs, "epochs (2000)"),
        OPT_LR(&opt->lr, "Adam learning rate (0.005)"),
        OPT_BATCH(&opt->batch, "images per batch (1024)"),
        OPT_INTEGER("classes", &opt->n_cls, 2, 1 << 20, "K",
                    "number of classes (default: /class_names, else max label + 1)"),
        OPT_FLAG("eval", &opt->eval, "evaluate HEAD on FEATURES instead of training"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    if (opt->eval) {
        if (argc - first != 2)
            cli_usage_error(cli, "--eval takes HEAD FEATURES");
        opt->head = argv[first];
        opt->features = argv[first + 1];
        if (cli->output)
            cli_usage_error(cli, "--eval prints to stdout; -o is not used");
        return;
    }
    cli_expect_operands(cli, 1, "one FEATURES file");
    opt->features = argv[first];
    cli_require_output(cli);
}

/* Classes: --classes, else the length of /class_names, else max label + 1. */
static int count_classes(h5in *in, const features_file *ff, const int32_t *labels, int given)
{
    if (given)
        return given;
    if (h5in_exists(in, "/class_names")) {
        char **names;
        size_t n;
        if (h5in_strings(in, "/class_names", &names, &n))
            return -1;
        h5io_free_strings(names, n);
        return (int)n;
    }
    int max_label = 0;
    for (size_t k = 0; k < ff->n_img; k++)
        max_label = labels[k] > max_label ? labels[k] : max_label;
    return max_label + 1;
}

typedef struct {
    double *loss, *accuracy; /* [epochs] */
} history;

/* Per-channel standardisation of the pooled features, in place; the head is
 * trained on standardised inputs (Adam then sees channels of any scale
 * alike — Table 6 has channels with std 1e-4) and folded back afterwards. */
static void standardise(double *pooled, size_t n_img, int n_dim, double *mean, double *std)
{
    for (int d = 0; d < n_dim; d++) {
        double sum = 0, sumsq = 0;
        for (size_t k = 0; k < n_img; k++)
            sum += pooled[k * n_dim + d];
        mean[d] = sum / (double)n_img;
        for (size_t k = 0; k < n_img; k++)
            sumsq += (pooled[k * n_dim + d] - mean[d]) * (pooled[k * n_dim + d] - mean[d]);
        std[d] = sqrt(sumsq / (double)n_img);
        if (!(std[d] > 0))
            std[d] = 1; /* a constant channel carries nothing; leave it unscaled */
        for (size_t k = 0; k < n_img; k++)
            pooled[k * n_dim + d] = (pooled[k * n_dim + d] - mean[d]) / std[d];
    }
}

/* V x̃ + c with x̃ = (x − μ)/σ equals (V/σ) x + (c − Σ V μ/σ). */
static void fold_standardisation(head_params *head, const double *mean, const double *std)
{
    for (int k = 0; k < head->n_cls; k++) {
        double *row = head->weight + (size_t)k * head->n_dim;
        for (int d = 0; d < head->n_dim; d++) {
            row[d] /= std[d];
            head->bias[k] -= row[d] * mean[d];
        }
    }
}

/* Softmax regression by Adam on pooled features [n_img × n_dim]. */
static int train(const options *opt, const double *pooled, const int32_t *labels, size_t n_img,
                 head_params *head, history *hist)
{
    int n_cls = head->n_cls, n_dim = head->n_dim;
    size_t n_params = (size_t)n_cls * n_dim + n_cls;
    double *params = calloc(n_params, sizeof *params), *grads = malloc(n_params * sizeof *grads);
    size_t batch = (size_t)opt->batch < n_img ? (size_t)opt->batch : n_img;
    double *x = malloc(batch * n_dim * sizeof *x), *logits = malloc(batch * n_cls * sizeof *logits);
    double *dlogits = malloc(batch * n_cls * sizeof *dlogits);
    int32_t *y = malloc(batch * sizeof *y);
    size_t *order = malloc(n_img * sizeof *order);
    adam_state adam = {0};
    if (!params || !grads || !x || !logits || !dlogits || !y || !order || adam_init(&adam, n_params)) {
        adam_free(&adam);
        free(params); free(grads); free(x); free(logits); free(dlogits); free(y); free(order);
        return error_set(EX_OSERR, "out of memory training a head of %d classes on %d channels", n_cls, n_dim);
    }
    double *weight = params, *bias = params + (size_t)n_cls * n_dim;
    for (long epoch = 0; epoch < opt->epochs; epoch++) {
        rng_state rng;
        rng_init(&rng, opt->cli.seed, ((uint64_t)RNG_STREAM_BATCH << 40) ^ (uint64_t)epoch);
        rng_permutation(&rng, order, n_img);
        double loss_sum = 0, correct = 0;
        for (size_t b0 = 0; b0 < n_img; b0 += batch) {
            size_t n = n_img - b0 < batch ? n_img - b0 : batch;
            for (size_t k = 0; k < n; k++) {
                memcpy(x + k * n_dim, pooled + order[b0 + k] * n_dim, n_dim * sizeof *x);
                y[k] = labels[order[b0 + k]];
            }
            head_linear_forward(x, (int)n, n_dim, weight, bias, n_cls, logits);
            loss_sum += head_xent_forward(logits, y, (int)n, n_cls) * n;
            correct += head_accuracy(logits, y, (int)n, n_cls) * n;
            head_xent_backward(logits, y, (int)n, n_cls, 1.0, dlogits);
            memset(grads, 0, n_params * sizeof *grads);
            head_linear_backward(dlogits, x, weight, (int)n, n_dim, n_cls, grads,
                                 grads + (size_t)n_cls * n_dim, NULL);
            adam_update(&adam, params, grads, opt->lr);
        }
        hist->loss[epoch] = loss_sum / n_img;
        hist->accuracy[epoch] = correct / n_img;
        if (epoch % 50 == 0 || epoch + 1 == opt->epochs)
            cli_progress(&opt->cli, "epoch %ld/%ld  loss %.4f  accuracy %.4f", epoch + 1,
                         opt->epochs, hist->loss[epoch], hist->accuracy[epoch]);
    }
    cli_progress_end(&opt->cli);
    memcpy(head->weight, weight, (size_t)n_cls * n_dim * sizeof *weight);
    memcpy(head->bias, bias, n_cls * sizeof *bias);
    adam_free(&adam);
    free(params); free(grads); free(x); free(logits); free(dlogits); free(y); free(order);
    return 0;
}

static int write_head(const options *opt, h5out *out, h5in *in, const head_params *head,
                      const history *hist, double accuracy)
{
    hsize_t edims[1] = {(hsize_t)opt->epochs};
    int rc = headfile_write(out, head) ||
             h5out_write(out, "/history/loss", H5IO_DOUBLE, 1, edims, hist->loss) ||
             h5out_write(out, "/history/accuracy", H5IO_DOUBLE, 1, edims, hist->accuracy) ||
             h5out_attr_double(out, "/", "lr", opt->lr) ||
             h5out_attr_int(out, "/", "batch", opt->batch) ||
             h5out_attr_int(out, "/", "epochs", opt->epochs) ||
             h5out_attr_double(out, "/", "train_accuracy", accuracy);
    if (!rc && h5in_exists(in, "/class_names")) {
        char **names;
        size_t n;
        rc = h5in_strings(in, "/class_names", &names, &n) ||
             (n == (size_t)head->n_cls && h5out_write_strings(out, "/class_names", (const char *const *)names, n));
        if (!rc)
            h5io_free_strings(names, n);
    }
    return rc ? error_code() : 0;
}

static int run_training(const options *opt)
{
    h5in in;
    features_file ff;
    int32_t *labels = NULL;
    if (h5in_open(&in, opt->features, H5IO_FORMAT_FEATURES) || features_open(&ff, &in))
        return error_code();
    int n_cls = features_read_labels(&ff, &labels, 0) ? -1 : count_classes(&in, &ff, labels, opt->n_cls);
    if (n_cls < 0 || features_check_labels(&ff, labels, n_cls)) {
        free(labels);
        h5in_close(&in);
        return error_code();
    }
    h5out out;
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_HEAD, 1)) {
        free(labels);
        h5in_close(&in);
        return error_code();
    }
    int n_dim = (int)ff.n_dim;
    double *pooled = malloc(ff.n_img * n_dim * sizeof *pooled);
    head_params head = {.n_cls = n_cls, .n_dim = n_dim,
                        .weight = calloc((size_t)n_cls * n_dim, sizeof(double)),
                        .bias = calloc(n_cls, sizeof(double))};
    history hist = {malloc(opt->epochs * sizeof(double)), malloc(opt->epochs * sizeof(double))};
    double *mean = malloc(n_dim * sizeof *mean), *std = malloc(n_dim * sizeof *std);
    double *scaled = malloc(ff.n_img * n_dim * sizeof *scaled);
    double *logits = malloc(ff.n_img * n_cls * sizeof *logits);
    int rc = !pooled || !head.weight || !head.bias || !hist.loss || !hist.accuracy || !mean || !std || !scaled || !logits
                 ? error_set(EX_OSERR, "%s: out of memory holding %zu pooled images of %d channels", in.path,
                             ff.n_img, n_dim)
                 : features_pool_all(&ff, pooled);
    if (!rc) {
        memcpy(scaled, pooled, ff.n_img * n_dim * sizeof *scaled);
        standardise(scaled, ff.n_img, n_dim, mean, std);
        rc = train(opt, scaled, labels, ff.n_img, &head, &hist);
    }
    if (!rc) {
        fold_standardisation(&head, mean, std);
        head_linear_forward(pooled, (int)ff.n_img, n_dim, head.weight, head.bias, n_cls, logits);
        double accuracy = head_accuracy(logits, labels, (int)ff.n_img, n_cls);
        h5in *inputs[] = {&in};
        h5io_provenance prov = {.tool = "trainhead", .argc = opt->cli.argc, .argv = opt->cli.argv,
                                .seed = opt->cli.seed, .threads = cli_threads(), .device = "cpu",
                                .inputs = inputs, .n_inputs = 1};
        rc = write_head(opt, &out, &in, &head, &hist, accuracy) || h5out_provenance(&out, &prov) ||
             h5out_commit(&out);
    }
    if (rc)
        h5out_abort(&out);
    headfile_free(&head);
    free(mean); free(std); free(scaled); free(logits);
    free(hist.loss); free(hist.accuracy); free(pooled); free(labels);
    h5in_close(&in);
    return rc ? error_code() : 0;
}

static void print_confusion(const int64_t *counts, int n_cls, size_t n_img)
{
    int64_t correct = 0;
    for (int k = 0; k < n_cls; k++)
        correct += counts[k * n_cls + k];
    printf("accuracy\t%.4f\t(%lld of %zu)\n", (double)correct / n_img, (long long)correct, n_img);
    printf("confusion (rows = true class, columns = predicted)\n");
    for (int r = 0; r < n_cls; r++) {
        for (int c = 0; c < n_cls; c++)
            printf("%s%lld", c ? "\t" : "", (long long)counts[r * n_cls + c]);
        putchar('\n');
    }
}

static int run_eval(const options *opt)
{
    h5in head_in, in;
    features_file ff;
    head_params head = {0};
    int32_t *labels = NULL;
    if (h5in_open(&head_in, opt->head, H5IO_FORMAT_HEAD))
        return error_code();
    int rc = h5in_open(&in, opt->features, H5IO_FORMAT_FEATURES);
    if (rc) {
        h5in_close(&head_in);
        return rc;
    }
    rc = features_open(&ff, &in) || headfile_read(&head_in, (int)ff.n_dim, opt->features, &head) ||
         features_read_labels(&ff, &labels, head.n_cls);
    if (!rc) {
        double *pooled = malloc(ff.n_img * ff.n_dim * sizeof *pooled);
        double *logits = malloc(ff.n_img * head.n_cls * sizeof *logits);
        int64_t *counts = calloc((size_t)head.n_cls * head.n_cls, sizeof *counts);
        rc = !pooled || !logits || !counts
                 ? error_set(EX_OSERR, "%s: out of memory holding %zu pooled images of %zu channels", in.path,
                             ff.n_img, ff.n_dim)
                 : features_pool_all(&ff, pooled);
        if (!rc) {
            head_linear_forward(pooled, (int)ff.n_img, (int)ff.n_dim, head.weight, head.bias, head.n_cls, logits);
            head_confusion(logits, labels, (int)ff.n_img, head.n_cls, counts);
            print_confusion(counts, head.n_cls, ff.n_img);
        }
        free(pooled); free(logits); free(counts);
    }
    headfile_free(&head);
    free(labels);
    h5in_close(&in);
    h5in_close(&head_in);
    return rc ? error_code() : 0;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    if (opt.eval ? run_eval(&opt) : run_training(&opt))
        cli_fail(&opt.cli);
    return 0;
}
