/* sae — the sparse-autoencoder baseline (method-spec §6.3): trains
 * f = ReLU(W_e (x − b_d) + b_e), x̂ = W_d f + b_d on every pixel vector of a
 * features file and writes it in the directions contract: decoder columns as
 * signal vectors /S (encoding directions), encoder rows with their
 * thresholds as filters /W, /b (decoding directions). The math is in
 * libcore/evaluation/sae.c. */
#include "cli.h"
#include "concepts.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "rng.h"
#include "sae.h"
#include "trainopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sae [options] FEATURES -o SAE\n"
    "Sparse autoencoder on every pixel vector of FEATURES (held in memory), written as\n"
    "a directions file: decoder columns -> /S, encoder rows and thresholds -> /W, /b.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    int hidden;
    double lambda, lr;
    long epochs, batch;
    const char *features;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "sae", usage, argc, argv);
    opt->lambda = 0;
    opt->lr = 1e-3;
    opt->epochs = 2000;
    opt->batch = 1024;
    const opt_row rows[] = {
        OPT_INTEGER("hidden", &opt->hidden, 1, 1 << 20, "M",
                    "hidden units (default: the number of concepts of the\nfirst category under /concepts)"),
        OPT_DOUBLE("lambda", &opt->lambda, 0, 1e12, "X", "L1 weight of the codes (0)"),
        OPT_EPOCHS(&opt->epochs, "epochs (2000)"),
        OPT_BATCH(&opt->batch, "pixels per batch (1024)"),
        OPT_LR(&opt->lr, "Adam learning rate (1e-3)"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    cli_expect_operands(cli, 1, "one FEATURES file");
    opt->features = argv[first];
    cli_require_output(cli);
}

/* --hidden defaults to the number of concepts of the first category. */
static int default_hidden(options *opt, h5in *in, const features_file *ff)
{
    if (opt->hidden)
        return 0;
    if (!h5in_exists(in, "/concepts"))
        return error_set(EX_USAGE, "%s has no '/concepts' to count concepts from: give --hidden M",
                         in->path);
    concept_category *cats;
    int n_cat, rc = concepts_list(in, ff->n_img, &cats, &n_cat) || concepts_scan(in, cats);
    if (!rc) {
        opt->hidden = concepts_count(cats);
        if (opt->hidden < 1)
            rc = error_set(EX_USAGE, "%s: '%s' holds no concept label: give --hidden M", in->path,
                           cats->path);
    }
    concepts_free(cats, n_cat);
    return rc ? error_code() : 0;
}

/* Every pixel vector, X [N·H·W × C] in double, and their mean [C]. */
static int read_pixels(const features_file *ff, double **X, double *mean)
{
    size_t hw = ff->height * ff->width, n_dim = ff->n_dim, n_pix = ff->n_img * hw;
    size_t batch = features_batch_images(ff, 64u << 20);
    float *buf = malloc(batch * n_dim * hw * sizeof *buf);
    *X = malloc(n_pix * n_dim * sizeof **X);
    if (!buf || !*X) {
        free(buf);
        return error_set(EX_OSERR, "%s: out of memory holding %zu pixel vectors of %zu channels",
                         ff->in->path, n_pix, n_dim);
    }
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < ff->n_img; img0 += batch) {
        size_t n = ff->n_img - img0 < batch ? ff->n_img - img0 : batch;
        if ((rc = features_read_images(ff, img0, n, buf)))
            break;
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++)
            for (size_t d = 0; d < n_dim; d++)
                for (size_t p = 0; p < hw; p++)
                    (*X)[((img0 + k) * hw + p) * n_dim + d] = buf[(k * n_dim + d) * hw + p];
    }
    free(buf);
#pragma omp parallel for schedule(static)
    for (size_t d = 0; d < n_dim; d++) {
        double sum = 0;
        for (size_t p = 0; p < n_pix; p++)
            sum += (*X)[p * n_dim + d];
        mean[d] = sum / (double)n_pix;
    }
    return rc;
}

static void show_epoch(void *ctx, long epoch, const sae_loss *loss)
{
    const options *opt = ctx;
    if (epoch % 50 == 0 || epoch + 1 == opt->epochs)
        cli_progress(&opt->cli, "epoch %ld/%ld  loss %.6g  mse %.6g  l1 %.6g", epoch + 1, opt->epochs,
                     loss->loss, loss->mse, loss->l1);
}

static int write_output(const options *opt, h5out *out, const sae_layout *layout, double *params,
                        const directions *dirs, const sae_loss *history, const sae_loss *final)
{
    int d = layout->n_dim, m = layout->n_hidden;
    sae_view v = sae_view_of(layout, params);
    hsize_t enc[2] = {(hsize_t)m, (hsize_t)d}, dec[2] = {(hsize_t)d, (hsize_t)m};
    hsize_t hid[1] = {(hsize_t)m}, dim[1] = {(hsize_t)d}, scalar[1] = {1}, ep[1] = {(hsize_t)opt->epochs};
    double *column = malloc(opt->epochs * sizeof *column);
    int rc = dirfile_write(out, dirs) ||
             h5out_write(out, "/sae/encoder_weight", H5IO_DOUBLE, 2, enc, v.enc_w) ||
             h5out_write(out, "/sae/encoder_bias", H5IO_DOUBLE, 1, hid, v.enc_b) ||
             h5out_write(out, "/sae/decoder_weight", H5IO_DOUBLE, 2, dec, v.dec_w) ||
             h5out_write(out, "/sae/decoder_bias", H5IO_DOUBLE, 1, dim, v.dec_b) ||
             h5out_write(out, "/sae/lambda", H5IO_DOUBLE, 0, scalar, &opt->lambda);
    const char *names[3] = {"/history/loss", "/history/mse", "/history/l1"};
    for (int k = 0; k < 3 && !rc; k++) {
        for (long e = 0; e < opt->epochs; e++)
            column[e] = k == 0 ? history[e].loss : k == 1 ? history[e].mse : history[e].l1;
        rc = h5out_write(out, names[k], H5IO_DOUBLE, 1, ep, column);
    }
    free(column);
    rc = rc || h5out_attr_double(out, "/", "lambda", opt->lambda) ||
         h5out_attr_double(out, "/", "lr", opt->lr) || h5out_attr_int(out, "/", "epochs", opt->epochs) ||
         h5out_attr_int(out, "/", "batch", opt->batch) || h5out_attr_int(out, "/", "hidden", m) ||
         h5out_attr_double(out, "/", "final_loss", final->loss) ||
         h5out_attr_double(out, "/", "final_mse", final->mse) ||
         h5out_attr_double(out, "/", "final_l1", final->l1);
    return rc ? error_code() : 0;
}

/* Trains, then maps the autoencoder to the directions contract. */
static int train_and_write(const options *opt, h5in *in, const features_file *ff, h5out *out)
{
    int n_dim = (int)ff->n_dim;
    size_t n_pix = ff->n_img * ff->height * ff->width;
    sae_layout layout;
    sae_layout_init(&layout, n_dim, opt->hidden);
    double *X = NULL, *mean = malloc(n_dim * sizeof *mean);
    double *params = malloc(layout.n_params * sizeof *params);
    double *W = malloc((size_t)opt->hidden * n_dim * sizeof *W), *b = malloc(opt->hidden * sizeof *b);
    double *S = malloc((size_t)opt->hidden * n_dim * sizeof *S);
    sae_loss *history = malloc(opt->epochs * sizeof *history), final;
    directions dirs = {0};
    int rc = read_pixels(ff, &X, mean);
    if (!rc) {
        sae_init(&layout, opt->cli.seed, RNG_STREAM_INIT, mean, params);
        sae_train_config cfg = {.epochs = opt->epochs, .batch = (size_t)opt->batch, .lr = opt->lr,
                                .lambda = opt->lambda, .seed = opt->cli.seed, .on_epoch = show_epoch,
                                .ctx = (void *)opt};
        long bad = 0;
        int status = sae_train(&cfg, &layout, X, n_pix, params, history, &bad);
        cli_progress_end(&opt->cli);
        if (status == -1)
            rc = error_set(EX_OSERR, "out of memory training the autoencoder");
        else if (status)
            rc = error_set(EX_SOFTWARE, "epoch %ld: the parameters became NaN/Inf (try a smaller --lr)",
                           bad + 1);
    }
    if (!rc && sae_evaluate(&layout, params, X, n_pix, (size_t)opt->batch, opt->lambda, &final))
        rc = error_set(EX_OSERR, "out of memory evaluating the autoencoder");
    if (!rc) {
        sae_directions(&layout, params, W, b, S);
        rc = dirs_from_effective(&dirs, opt->hidden, n_dim, W, b, mean, "sae");
        if (rc)
            rc = error_replace(EX_SOFTWARE, "an encoder row became zero: no decoding direction");
        else
            dirs.S = S, S = NULL;
    }
    h5in *inputs[] = {in};
    h5io_provenance prov = {.tool = "sae", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads(), .device = "cpu",
                            .inputs = inputs, .n_inputs = 1};
    if (!rc)
        rc = write_output(opt, out, &layout, params, &dirs, history, &final) ||
             h5out_provenance(out, &prov) || h5out_commit(out);
    dirs_free(&dirs);
    free(X); free(mean); free(params); free(W); free(b); free(S); free(history);
    return rc ? error_code() : 0;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    h5in in;
    features_file ff;
    h5out out;
    if (h5in_open(&in, opt.features, H5IO_FORMAT_FEATURES))
        cli_fail(&opt.cli);
    if (features_open(&ff, &in) || default_hidden(&opt, &in, &ff) ||
        h5out_create(&out, opt.cli.output, opt.cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1)) {
        h5in_close(&in);
        cli_fail(&opt.cli);
    }
    if (train_and_write(&opt, &in, &ff, &out)) {
        h5out_abort(&out);
        h5in_close(&in);
        cli_fail(&opt.cli);
    }
    h5in_close(&in);
    return 0;
}
