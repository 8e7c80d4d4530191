/* pcav — Pattern-CAVs (method-spec §1.1, §6.3, §6.5): per concept the
 * difference of class means μ₊ − μ₋ of the pixel vectors, from a features
 * file's pixel concept maps at feature resolution, written as the signal
 * vectors of a directions file (step "pcav"). */
#include "cli.h"
#include "concepts.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "signal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: pcav [options] FEATURES -o PCAV\n"
    "Pattern-CAVs mu+ - mu- per concept from FEATURES' pixel concept maps at feature\n"
    "resolution, written as signal vectors /S of a directions file.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    const char *category, *features;
} options;

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "pcav", usage, argc, argv);
    const opt_row rows[] = {
        OPT_STRING("category", &opt->category, "NAME", "concept maps /concepts/NAME (default: the first by name)"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    cli_expect_operands(cli, 1, "one FEATURES file");
    opt->features = argv[first];
    cli_require_output(cli);
}

/* The category's maps must label the feature map's own pixels. */
static int pick_category(const options *opt, h5in *in, const features_file *ff,
                         concept_category *cats, int n_cat, concept_category **cat)
{
    int k = opt->category ? concepts_find(cats, n_cat, opt->category) : 0;
    if (k < 0)
        return error_set(EX_DATAERR, "%s: no concept category '/concepts/%s'", in->path, opt->category);
    *cat = cats + k;
    if ((*cat)->image_level)
        return error_set(EX_DATAERR, "%s: '%s' holds image-level labels; Pattern-CAVs need pixel maps",
                         in->path, (*cat)->path);
    if ((*cat)->hm != ff->height || (*cat)->wm != ff->width)
        return error_set(EX_DATAERR, "%s: '%s' maps are %zux%zu but the feature maps are %zux%zu; "
                         "Pattern-CAVs need maps at the feature resolution", in->path, (*cat)->path,
                         (*cat)->hm, (*cat)->wm, ff->height, ff->width);
    if (concepts_scan(in, *cat))
        return error_code();
    if (concepts_count(*cat) == 0)
        return error_set(EX_DATAERR, "%s: '%s' holds no concept label", in->path, (*cat)->path);
    return 0;
}

typedef struct {
    signal_pcav_accum acc;
    double *sum;     /* [n_dim] Σx over every pixel, for the data mean */
    size_t n_pix;
} pcav_sums;

/* Streams the images: pixel vectors, and per concept label 1 where the map
 * holds it, 0 elsewhere in images annotated for the category, −1 (skipped)
 * in images without annotation (an all-zero map). */
static int accumulate(const options *opt, const features_file *ff, h5in *in,
                      const concept_category *cat, int n_con, pcav_sums *sums)
{
    size_t hw = ff->height * ff->width, n_dim = ff->n_dim;
    size_t per_image = n_dim * hw * (sizeof(float) + sizeof(double)) + hw * (n_con + sizeof(int32_t));
    size_t batch = (64u << 20) / per_image;
    batch = batch < 1 ? 1 : (batch > ff->n_img ? ff->n_img : batch);
    float *buf = malloc(batch * n_dim * hw * sizeof *buf);
    double *X = malloc(batch * hw * n_dim * sizeof *X);
    int8_t *T = malloc(batch * hw * n_con);
    int32_t *maps = malloc(batch * hw * sizeof *maps);
    if (!buf || !X || !T || !maps) {
        free(buf); free(X); free(T); free(maps);
        return error_set(EX_OSERR, "%s: out of memory for a batch of %zu images", in->path, batch);
    }
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < ff->n_img; img0 += batch) {
        size_t n = ff->n_img - img0 < batch ? ff->n_img - img0 : batch;
        if ((rc = features_read_images(ff, img0, n, buf) || concepts_read_rows(in, cat, img0, n, maps)))
            break;
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++) {
            int annotated = cat->annotated[img0 + k];
            for (size_t p = 0; p < hw; p++) {
                double *x = X + (k * hw + p) * n_dim;
                int8_t *t = T + (k * hw + p) * n_con;
                for (size_t d = 0; d < n_dim; d++)
                    x[d] = buf[(k * n_dim + d) * hw + p];
                for (int c = 0; c < n_con; c++)
                    t[c] = annotated ? maps[k * hw + p] == c + 1 : -1;
            }
        }
        signal_pcav_add(&sums->acc, X, T, n * hw);
#pragma omp parallel for schedule(static)
        for (size_t d = 0; d < n_dim; d++)
            for (size_t p = 0; p < n * hw; p++)
                sums->sum[d] += X[p * n_dim + d];
        sums->n_pix += n * hw;
        cli_progress(&opt->cli, "%zu of %zu images", img0 + n, ff->n_img);
    }
    cli_progress_end(&opt->cli);
    free(buf); free(X); free(T); free(maps);
    return rc ? error_code() : 0;
}

/* Directions whose unit filters are the normalised Pattern-CAVs, margin 1
 * and threshold 0 at the data mean: W x − b = unitᵀ(x − mean). */
static int make_directions(const pcav_sums *sums, int n_con, int n_dim, const double *V,
                           directions *dirs)
{
    double *mean = malloc(n_dim * sizeof *mean), *unit = malloc((size_t)n_con * n_dim * sizeof *unit);
    double *b = malloc(n_con * sizeof *b);
    for (int d = 0; d < n_dim; d++)
        mean[d] = sums->sum[d] / (double)sums->n_pix;
    for (int c = 0; c < n_con; c++) {
        const double *v = V + (size_t)c * n_dim;
        double norm = 0;
        for (int d = 0; d < n_dim; d++)
            norm += v[d] * v[d];
        norm = sqrt(norm);
        b[c] = 0;
        for (int d = 0; d < n_dim; d++) {
            unit[(size_t)c * n_dim + d] = norm > 0 ? v[d] / norm : 0;
            b[c] += unit[(size_t)c * n_dim + d] * mean[d];
        }
    }
    int rc = dirs_from_effective(dirs, n_con, n_dim, unit, b, mean, "pcav");
    if (!rc) {
        /* exactly, not up to the rounding of 1/‖unit‖ */
        memcpy(dirs->unit, unit, (size_t)n_con * n_dim * sizeof *unit);
        for (int c = 0; c < n_con; c++) {
            dirs->margin[c] = 1;
            dirs->threshold[c] = 0;
        }
        dirs->S = malloc((size_t)n_con * n_dim * sizeof(double));
        memcpy(dirs->S, V, (size_t)n_con * n_dim * sizeof(double));
    }
    free(mean); free(unit); free(b);
    return rc;
}

static int write_output(h5out *out, const concept_category *cat, int n_con, const directions *dirs,
                        const pcav_sums *sums)
{
    char **names = malloc(n_con * sizeof *names);
    for (int c = 0; c < n_con; c++) {
        names[c] = malloc(512);
        concepts_label_name(cat, c + 1, names[c], 512);
    }
    hsize_t dims[1] = {(hsize_t)n_con};
    int rc = dirfile_write(out, dirs) ||
             h5out_write_strings(out, "/concept_names", (const char *const *)names, n_con) ||
             h5out_write(out, "/pcav/n_positive", H5IO_DOUBLE, 1, dims, sums->acc.n_pos) ||
             h5out_write(out, "/pcav/n_negative", H5IO_DOUBLE, 1, dims, sums->acc.n_neg) ||
             h5out_attr_string(out, "/", "category", cat->name);
    for (int c = 0; c < n_con; c++)
        free(names[c]);
    free(names);
    return rc ? error_code() : 0;
}

static int zero_row(const double *v, int n)
{
    for (int d = 0; d < n; d++)
        if (v[d] != 0)
            return 0;
    return 1;
}

static int run(const options *opt)
{
    h5in in;
    features_file ff;
    concept_category *cats = NULL, *cat = NULL;
    int n_cat = 0;
    if (h5in_open(&in, opt->features, H5IO_FORMAT_FEATURES))
        return error_code();
    h5out out;
    int rc = features_open(&ff, &in) || concepts_list(&in, ff.n_img, &cats, &n_cat) ||
             pick_category(opt, &in, &ff, cats, n_cat, &cat) ||
             h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_DIRECTIONS, 1);
    if (rc) {
        rc = error_code();
        concepts_free(cats, n_cat);
        h5in_close(&in);
        return rc;
    }
    int n_con = concepts_count(cat), n_dim = (int)ff.n_dim;
    pcav_sums sums = {.sum = calloc(n_dim, sizeof(double))};
    double *V = calloc((size_t)n_con * n_dim, sizeof *V);
    int *alive = calloc(n_con, sizeof *alive);
    directions dirs = {0};
    rc = !sums.sum || !V || !alive || signal_pcav_init(&sums.acc, n_con, n_dim)
             ? error_set(EX_OSERR, "%s: out of memory for %d concepts of %d channels", in.path, n_con, n_dim) : 0;
    if (!rc)
        rc = accumulate(opt, &ff, &in, cat, n_con, &sums);
    int some_dead = !rc && signal_pcav_finish(&sums.acc, V, alive);
    for (int c = 0; c < n_con && !rc; c++) {
            if (some_dead && !alive[c]) {
                char name[512];
                concepts_label_name(cat, c + 1, name, sizeof name);
                rc = error_set(EX_DATAERR, "%s: concept '%s' (label %d of '%s') has no %s pixels: no "
                               "Pattern-CAV", in.path, name, c + 1, cat->path,
                               sums.acc.n_pos[c] > 0 ? "negative" : "positive");
            } else if (zero_row(V + (size_t)c * n_dim, n_dim)) {
                char name[512];
                concepts_label_name(cat, c + 1, name, sizeof name);
                rc = error_set(EX_DATAERR, "%s: concept '%s' (label %d of '%s') has a zero Pattern-CAV: the "
                               "features do not vary with it (constant features?)", in.path, name, c + 1,
                               cat->path);
            }
    }
    h5in *inputs[] = {&in};
    h5io_provenance prov = {.tool = "pcav", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads(), .device = "cpu",
                            .inputs = inputs, .n_inputs = 1};
    if (!rc)
        rc = make_directions(&sums, n_con, n_dim, V, &dirs) || write_output(&out, cat, n_con, &dirs, &sums) ||
             h5out_provenance(&out, &prov) || h5out_commit(&out);
    if (rc) {
        rc = error_code();
        h5out_abort(&out);
    }
    if (sums.acc.n_pos)
        signal_pcav_free(&sums.acc);
    free(sums.sum); free(V); free(alive);
    dirs_free(&dirs);
    concepts_free(cats, n_cat);
    h5in_close(&in);
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
