/* trainnet — trains the paper's small CNN (method-spec §7, adapted to 28×28)
 * on an image set (eddp-images), evaluates it (--eval), or writes its last
 * convolution's activations as a features file and its head as a head file
 * (--features, --head-out), so that the rest of the toolkit studies it like
 * any network. The network itself is libcore's net/nettrain. */
#include "cli.h"
#include "trainopts.h"
#include "error.h"
#include "h5io.h"
#include "head.h"
#include "headfile.h"
#include "imageset.h"
#include "net.h"
#include "netfile.h"
#include "nettrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: trainnet [options] IMAGES -o NET\n"
    "       trainnet --eval NET IMAGES\n"
    "       trainnet --features NET IMAGES -o FEATURES [--head-out HEAD]\n"
    "Train a CNN of five 3x3 convolutions (16 channels, stride 2 but the last, ReLU,\n"
    "dropout 0.3 but the last), global average pooling and a linear head on an\n"
    "eddp-images set; evaluate it; or export its last layer's activations and head.\n"
    "options:\n";

typedef enum { MODE_TRAIN, MODE_EVAL, MODE_FEATURES } mode;

typedef struct {
    cli_common cli;
    mode mode;
    long epochs, batch;
    double lr;
    cell_rule rule;
    const char *images, *net, *head_out;
} options;

static void parse_operands(options *opt, int argc, char **argv, int first)
{
    cli_common *cli = &opt->cli;
    if (opt->mode == MODE_TRAIN) {
        cli_expect_operands(cli, 1, "one IMAGES file");
        opt->images = argv[first];
        cli_require_output(cli);
        return;
    }
    const char *name = opt->mode == MODE_EVAL ? "--eval" : "--features";
    if (argc - first != 2)
        cli_usage_error(cli, "%s takes NET IMAGES", name);
    opt->net = argv[first];
    opt->images = argv[first + 1];
    if (opt->mode == MODE_EVAL && cli->output)
        cli_usage_error(cli, "--eval prints to stdout; -o is not used");
    if (opt->mode == MODE_FEATURES && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "trainnet", usage, argc, argv);
    opt->epochs = 30;
    opt->batch = 64;
    opt->lr = 0.005;
    int eval = 0, features = 0, training_options = 0, cell_rule_given = 0, rule = CELL_ANY;
    const opt_row rows[] = {
        OPT_EPOCHS(&opt->epochs, "training epochs (30)", .given = &training_options),
        /* nettrain takes an int batch; larger batches would not fit a GPU anyway */
        OPT_INTEGER("batch", &opt->batch, 1, 65536, "N", "images per batch (64)", .given = &training_options),
        OPT_LR(&opt->lr, "Adam learning rate (0.005)", .given = &training_options),
        OPT_FLAG("eval", &eval, "print NET's accuracy and confusion matrix on IMAGES"),
        OPT_FLAG("features", &features, "write the last convolution's activations of IMAGES (-o)"),
        OPT_STRING("head-out", &opt->head_out, "FILE", "with --features: also write the head as an eddp-head file"),
        OPT_CHOICE("cell-rule", &rule, "any|majority|image",
                   "concept maps onto the feature grid: any (default), majority\nor image (every cell takes the "
                   "whole image's label)", .given = &cell_rule_given),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    opt->rule = (cell_rule)rule;
    opt->mode = eval ? MODE_EVAL : features ? MODE_FEATURES : MODE_TRAIN;
    if (eval && features)
        cli_usage_error(cli, "--eval and --features exclude each other");
    if (opt->mode != MODE_TRAIN && training_options)
        cli_usage_error(cli, "--epochs, --batch and --lr are for training, not for --eval or --features");
    if ((opt->head_out || cell_rule_given) && opt->mode != MODE_FEATURES)
        cli_usage_error(cli, "--head-out and --cell-rule go with --features");
    parse_operands(opt, argc, argv, first);
    if (opt->head_out && cli->output && !strcmp(opt->head_out, cli->output))
        cli_usage_error(cli, "--head-out and -o name the same file");
}

static int open_images(const char *path, h5in *in, imageset *set)
{
    if (h5in_open(in, path, IMAGESET_FORMAT))
        return error_code();
    if (imageset_read(in, set)) {
        h5in_close(in);
        return error_code();
    }
    return 0;
}

/* ------------------------------------------------------------ training */

static int write_net(const options *opt, h5out *out, h5in *in, const net_arch *arch, const double *params,
                     const imageset *set, const nettrain_history *hist)
{
    float *pf = malloc(arch->n_params * sizeof *pf);
    if (!pf)
        return error_set(EX_OSERR, "out of memory");
    for (size_t j = 0; j < arch->n_params; j++)
        pf[j] = (float)params[j];
    double seconds = 0;
    for (long e = 0; e < hist->epochs; e++)
        seconds += hist->seconds[e];
    hsize_t edims[1] = {(hsize_t)hist->epochs};
    h5in *inputs[] = {in};
    h5io_provenance prov = {.tool = "trainnet", .argc = opt->cli.argc, .argv = opt->cli.argv, .seed = opt->cli.seed,
                            .threads = cli_threads(), .device = "cpu", .inputs = inputs, .n_inputs = 1};
    int rc = netfile_write(out, arch, pf, (const char *const *)set->class_names) ||
             h5out_write(out, "/history/loss", H5IO_DOUBLE, 1, edims, hist->loss) ||
             h5out_write(out, "/history/accuracy", H5IO_DOUBLE, 1, edims, hist->accuracy) ||
             h5out_write(out, "/history/seconds", H5IO_DOUBLE, 1, edims, hist->seconds) ||
             h5out_attr_int(out, "/", "epochs", opt->epochs) || h5out_attr_int(out, "/", "batch", opt->batch) ||
             h5out_attr_double(out, "/", "lr", opt->lr) ||
             h5out_attr_double(out, "/", "train_accuracy", hist->accuracy[hist->epochs - 1]) ||
             h5out_attr_double(out, "/", "train_seconds", seconds) ||
             h5out_attr_int(out, "/", "train_images", (long long)set->n_img) || h5out_provenance(out, &prov);
    free(pf);
    return rc ? error_code() : 0;
}

static int run_training(const options *opt)
{
    h5in in;
    imageset set;
    if (open_images(opt->images, &in, &set))
        return error_code();
    net_arch arch;
    h5out out;
    int rc = net_arch_init(&arch, set.channels, set.height, set.width, 5, 16, set.n_cls, 0.3);
    if (rc)
        rc = error_prefix("%s: ", opt->images);
    else
        rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, NETFILE_FORMAT, 1);
    if (rc) {
        imageset_free(&set);
        h5in_close(&in);
        return error_code();
    }
    double *params = malloc(arch.n_params * sizeof *params);
    net_init_params(&arch, opt->cli.seed, params);
    nettrain_config cfg = {.epochs = opt->epochs, .batch = (int)opt->batch, .lr = opt->lr, .seed = opt->cli.seed,
                           .cli = &opt->cli};
    nettrain_history hist;
    rc = nettrain_run(&cfg, &arch, &set, params, &hist) || write_net(opt, &out, &in, &arch, params, &set, &hist) ||
         h5out_commit(&out);
    if (rc)
        h5out_abort(&out);
    nettrain_history_free(&hist);
    free(params);
    imageset_free(&set);
    h5in_close(&in);
    return rc ? error_code() : 0;
}

/* ---------------------------------------------- the network on a set */

typedef struct {
    h5in net_in, img_in;
    imageset set;
    net_arch arch;
    float *params;
    char **class_names;
    float *features;   /* [N × C × H × W] of the last convolution */
} applied;

static void applied_free(applied *a)
{
    imageset_free(&a->set);
    free(a->params);
    free(a->features);
    if (a->class_names)
        h5io_free_strings(a->class_names, (size_t)a->arch.n_cls);
    h5in_close(&a->img_in);
    h5in_close(&a->net_in);
}

/* The image set must be what the network was trained for: the same image
 * shape and the same classes in the same order. */
static int check_compatible(const options *opt, const applied *a)
{
    const conv_shape *s = &a->arch.conv[0];
    if (a->set.channels != s->c_in || a->set.height != s->h || a->set.width != s->w)
        return error_set(EX_DATAERR, "%s: images are %dx%dx%d but %s takes %dx%dx%d (C x H x W)", opt->images,
                         a->set.channels, a->set.height, a->set.width, opt->net, s->c_in, s->h, s->w);
    if (a->set.n_cls != a->arch.n_cls)
        return error_set(EX_DATAERR, "%s: %d classes in '/class_names' but %s has %d", opt->images, a->set.n_cls,
                         opt->net, a->arch.n_cls);
    for (int k = 0; k < a->arch.n_cls; k++)
        if (strcmp(a->set.class_names[k], a->class_names[k]))
            return error_set(EX_DATAERR, "%s: class %d is '%s' but %s calls it '%s'", opt->images, k,
                             a->set.class_names[k], opt->net, a->class_names[k]);
    return 0;
}

/* Opens both inputs (the images first, so their history is carried) and runs
 * the network over the images. */
static int apply_network(const options *opt, applied *a, int (*before_work)(const options *, applied *, void *),
                         void *ctx)
{
    memset(a, 0, sizeof *a);
    a->net_in.file = a->img_in.file = H5I_INVALID_HID;
    if (h5in_open(&a->net_in, opt->net, NETFILE_FORMAT))
        return error_code();
    if (netfile_read(&a->net_in, &a->arch, &a->params, &a->class_names) ||
        open_images(opt->images, &a->img_in, &a->set) || check_compatible(opt, a) || (before_work && before_work(opt, a, ctx)))
        return error_code();
    size_t len = a->set.n_img * net_feat_channels(&a->arch) * net_feat_hw(&a->arch);
    a->features = malloc(len * sizeof *a->features);
    if (!a->features)
        return error_set(EX_OSERR, "out of memory for the features of %s", opt->images);
    return nettrain_features(&a->arch, a->params, &a->set, a->features);
}

/* The head as head.h takes it: float32 weights widened to double. */
static head_params head_of(const applied *a)
{
    const net_arch *arch = &a->arch;
    int c = net_feat_channels(arch);
    head_params head = {.n_cls = arch->n_cls, .n_dim = c, .weight = malloc((size_t)arch->n_cls * c * sizeof(double)),
                        .bias = malloc((size_t)arch->n_cls * sizeof(double))};
    for (int j = 0; j < arch->n_cls * c; j++)
        head.weight[j] = a->params[arch->off_head_weight + j];
    for (int k = 0; k < arch->n_cls; k++)
        head.bias[k] = a->params[arch->off_head_bias + k];
    return head;
}

static void print_confusion(const int64_t *counts, char **names, int n_cls, size_t n_img)
{
    int64_t correct = 0;
    for (int k = 0; k < n_cls; k++)
        correct += counts[k * n_cls + k];
    printf("accuracy\t%.4f\t(%lld of %zu)\n", (double)correct / n_img, (long long)correct, n_img);
    printf("confusion (rows = true class, columns = predicted; each row sums to 1)\n");
    printf("true\\predicted");
    for (int c = 0; c < n_cls; c++)
        printf("\t%s", names[c]);
    putchar('\n');
    for (int r = 0; r < n_cls; r++) {
        int64_t row = 0;
        for (int c = 0; c < n_cls; c++)
            row += counts[r * n_cls + c];
        printf("%s", names[r]);
        for (int c = 0; c < n_cls; c++)
            printf("\t%.4f", row ? (double)counts[r * n_cls + c] / row : 0.0);
        putchar('\n');
    }
}

/* Predictions exactly as trainhead --eval makes them from the features and
 * head files: pooled in double (head_pool), head in double. */
static int run_eval(const options *opt)
{
    applied a;
    int rc = apply_network(opt, &a, NULL, NULL);
    if (!rc) {
        int c = net_feat_channels(&a.arch), k = a.arch.n_cls;
        size_t n = a.set.n_img;
        double *pooled = malloc(n * c * sizeof *pooled), *logits = malloc(n * k * sizeof *logits);
        int64_t *counts = calloc((size_t)k * k, sizeof *counts);
        head_params head = head_of(&a);
        head_pool(a.features, (int)n, c, net_feat_hw(&a.arch), pooled);
        head_linear_forward(pooled, (int)n, c, head.weight, head.bias, k, logits);
        head_confusion(logits, a.set.labels, (int)n, k, counts);
        print_confusion(counts, a.set.class_names, k, n);
        headfile_free(&head);
        free(pooled); free(logits); free(counts);
    }
    applied_free(&a);
    return rc;
}

/* ------------------------------------------------------------ features */

typedef struct {
    h5out features, head;
    int have_features, have_head;
} outputs;

static int create_outputs(const options *opt, applied *a, void *ctx)
{
    (void)a;
    outputs *o = ctx;
    if (h5out_create(&o->features, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1))
        return error_code();
    o->have_features = 1;
    if (opt->head_out) {
        if (h5out_create(&o->head, opt->head_out, opt->cli.overwrite, H5IO_FORMAT_HEAD, 1))
            return error_code();
        o->have_head = 1;
    }
    return 0;
}

static int write_features(const options *opt, applied *a, h5out *out)
{
    const conv_shape *last = &a->arch.conv[a->arch.n_layers - 1];
    hsize_t dims[4] = {a->set.n_img, last->c_out, last->ho, last->wo}, ldims[1] = {a->set.n_img};
    h5in *inputs[] = {&a->img_in, &a->net_in};
    h5io_provenance prov = {.tool = "trainnet", .argc = opt->cli.argc, .argv = opt->cli.argv, .seed = opt->cli.seed,
                            .threads = cli_threads(), .device = "cpu", .inputs = inputs, .n_inputs = 2};
    char layer[64];
    snprintf(layer, sizeof layer, "conv%d (the last convolution, after its ReLU)", a->arch.n_layers - 1);
    int rc = h5out_write(out, "/features", H5IO_FLOAT, 4, dims, a->features) ||
             h5out_write(out, "/labels", H5IO_INT32, 1, ldims, a->set.labels) ||
             h5out_write_strings(out, "/class_names", (const char *const *)a->set.class_names,
                                 (size_t)a->set.n_cls) ||
             imageset_copy_concepts(&a->img_in, a->set.n_img, last->ho, last->wo, opt->rule, out) ||
             h5out_attr_string(out, "/", "network", opt->net) || h5out_attr_string(out, "/", "layer", layer) ||
             h5out_provenance(out, &prov);
    return rc ? error_code() : 0;
}

static int write_head(const options *opt, applied *a, h5out *out)
{
    head_params head = head_of(a);
    h5in *inputs[] = {&a->net_in};
    h5io_provenance prov = {.tool = "trainnet", .argc = opt->cli.argc, .argv = opt->cli.argv, .seed = opt->cli.seed,
                            .threads = cli_threads(), .device = "cpu", .inputs = inputs, .n_inputs = 1};
    int rc = headfile_write(out, &head) ||
             h5out_write_strings(out, "/class_names", (const char *const *)a->class_names, (size_t)head.n_cls) ||
             h5out_attr_string(out, "/", "network", opt->net) || h5out_provenance(out, &prov);
    headfile_free(&head);
    return rc ? error_code() : 0;
}

static int run_features(const options *opt)
{
    applied a;
    outputs o = {0};
    int rc = apply_network(opt, &a, create_outputs, &o) || write_features(opt, &a, &o.features) ||
             (o.have_head && write_head(opt, &a, &o.head)) || h5out_commit(&o.features) ||
             (o.have_head && h5out_commit(&o.head));
    if (rc) {
        rc = error_code();
        if (o.have_features)
            h5out_abort(&o.features);
        if (o.have_head)
            h5out_abort(&o.head);
    }
    applied_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    int rc = opt.mode == MODE_TRAIN ? run_training(&opt) : opt.mode == MODE_EVAL ? run_eval(&opt) : run_features(&opt);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
