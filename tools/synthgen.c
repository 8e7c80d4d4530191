/* synthgen — feature maps from the multi-concept signal–distractor model
 * (method-spec §1.2–1.3); the default is the paper's synthetic preset. */
#include "cli.h"
#include "error.h"
#include "h5io.h"
#include "rng.h"
#include "synth.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sysexits.h>

static const char usage[] =
    "usage: synthgen [options] -o OUTPUT\n"
    "Generate feature maps x = S a + D b + offset (paper preset by default).\n"
    "options:\n";

typedef struct {
    cli_common cli;
    int split_test;
    const char *table;
    int random_truth, no_space_check;
    const char *classes;
    synth_config cfg;
} options;

static void parse_classes(options *opt)
{
    synth_config *cfg = &opt->cfg;
    int hw = cfg->height * cfg->width, n_classes = 1;
    for (const char *c = opt->classes; *c; c++)
        n_classes += *c == ';';
    cfg->n_classes = n_classes;
    cfg->class_concepts = malloc(sizeof(int) * n_classes * hw);
    const char *p = opt->classes;
    for (int k = 0; k < n_classes; k++) {
        for (int px = 0; px < hw; px++) {
            char *end;
            long concept = strtol(p, &end, 10);
            char want = px + 1 < hw ? ',' : (k + 1 < n_classes ? ';' : '\0');
            if (end == p || *end != want || concept < -1 || concept >= cfg->n_concepts)
                cli_usage_error(&opt->cli,
                                "--classes: class %d needs %d pixel concepts in [-1, %d) separated "
                                "by ',', classes by ';' — got '%s'",
                                k, hw, cfg->n_concepts, opt->classes);
            cfg->class_concepts[k * hw + px] = (int)concept;
            p = end + (*end != '\0');
        }
    }
}

static const char *default_table(void)
{
    static char path[4096];
    const char *dir = getenv("EDDP_DATA");
    snprintf(path, sizeof path, "%s/table6.tsv", dir ? dir : EDDP_DATADIR);
    return path;
}

static void parse(options *opt, int argc, char **argv)
{
    synth_config *cfg = &opt->cfg;
    cli_common *cli = &opt->cli;
    cli_init(cli, "synthgen", usage, argc, argv);
    *cfg = (synth_config){.n_dim = 16, .n_concepts = 3, .n_distract = 2, .height = 1, .width = 2,
                          .on_lo = 2.5, .on_hi = 5, .off_lo = 0, .off_hi = 2.5, .beta_lo = 0,
                          .beta_hi = 5, .offset = 10, .per_class = 1000};
    opt->classes = "0,1;0,2;1,2";
    int sizes_given = 0;
    opt_pair on = {&cfg->on_lo, &cfg->on_hi}, off = {&cfg->off_lo, &cfg->off_hi};
    opt_pair beta = {&cfg->beta_lo, &cfg->beta_hi};
    const opt_row rows[] = {
        OPT_CHOICE("split", &opt->split_test, "train|test", "independent random stream per split (train)"),
        OPT_STRING("table", &opt->table, "FILE", "S and D columns (default: data/table6.tsv)"),
        OPT_FLAG("random-truth", &opt->random_truth, "unit-norm Gaussian S and D from the seed instead"),
        OPT_INTEGER("dims", &cfg->n_dim, 1, 1 << 16, "N", "dimensions with --random-truth (16)", .given = &sizes_given),
        OPT_INTEGER("concepts", &cfg->n_concepts, 1, 1 << 16, "N", "concepts with --random-truth (3)",
                    .given = &sizes_given),
        OPT_INTEGER("distractors", &cfg->n_distract, 0, 1 << 16, "N", "distractors with --random-truth (2)",
                    .given = &sizes_given),
        OPT_INTEGER("height", &cfg->height, 1, 4096, "N", "pixels per image: rows (1)"),
        OPT_INTEGER("width", &cfg->width, 1, 4096, "N", "pixels per image: columns (2)"),
        OPT_STRING("classes", &opt->classes, "SPEC",
                   "concept per pixel for each class, classes separated\nby ';', pixels by ',', -1 = none "
                   "(0,1;0,2;1,2)"),
        OPT_PAIR("on", &on, "LO:HI", "alpha of the pixel's concept (2.5:5)"),
        OPT_PAIR("off", &off, "LO:HI", "alpha of the other concepts (0:2.5)"),
        OPT_PAIR("beta", &beta, "LO:HI", "distractor coefficients (0:5)"),
        OPT_DOUBLE("offset", &cfg->offset, -1e30, 1e30, "X", "added to every dimension (10)"),
        OPT_INTEGER("per-class", &cfg->per_class, 1, 1L << 40, "N", "images per class (1000)"),
        OPT_FLAG("no-space-check", &opt->no_space_check,
                 "write even when the output's estimated size exceeds\nthe free space of its folder"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    if (first < argc)
        cli_usage_error(cli, "unexpected argument '%s'", argv[first]);
    cli_require_output(cli);
    if (sizes_given && !opt->random_truth)
        cli_usage_error(cli, "--dims/--concepts/--distractors need --random-truth (the table fixes them)");
    if (opt->table && opt->random_truth)
        cli_usage_error(cli, "--table and --random-truth exclude each other");
    if (opt->random_truth && cfg->n_concepts + cfg->n_distract > cfg->n_dim)
        cli_usage_error(cli, "--concepts + --distractors (%d) must not exceed --dims (%d)",
                        cfg->n_concepts + cfg->n_distract, cfg->n_dim);
}

static void load_truth(options *opt)
{
    synth_config *cfg = &opt->cfg;
    if (opt->random_truth) {
        cfg->signals = malloc(sizeof(double) * cfg->n_concepts * cfg->n_dim);
        cfg->distractors = malloc(sizeof(double) * (cfg->n_distract ? cfg->n_distract : 1) * cfg->n_dim);
        synth_random_directions(opt->cli.seed, RNG_STREAM_TRUTH, cfg->n_concepts, cfg->n_dim, cfg->signals);
        synth_random_directions(opt->cli.seed, RNG_STREAM_TRUTH + 100, cfg->n_distract, cfg->n_dim, cfg->distractors);
        return;
    }
    if (synth_read_table(opt->table ? opt->table : default_table(), &cfg->signals, &cfg->n_concepts,
                         &cfg->distractors, &cfg->n_distract, &cfg->n_dim))
        cli_fail(&opt->cli);
}

typedef struct {
    hid_t features, labels, concepts, alpha, beta;
} datasets;

static int create_datasets(h5out *out, const synth_config *cfg, size_t n_img, hsize_t chunk, datasets *ds)
{
    hsize_t h = cfg->height, w = cfg->width;
    hsize_t fdims[4] = {n_img, cfg->n_dim, h, w}, ldims[1] = {n_img}, cdims[3] = {n_img, h, w};
    hsize_t adims[4] = {n_img, cfg->n_concepts, h, w}, bdims[4] = {n_img, cfg->n_distract, h, w};
    if (h5out_create_dataset(out, "/features", H5IO_FLOAT, 4, fdims, chunk, &ds->features) ||
        h5out_create_dataset(out, "/labels", H5IO_INT32, 1, ldims, 0, &ds->labels) ||
        h5out_create_dataset(out, "/concepts/concept", H5IO_INT32, 3, cdims, chunk, &ds->concepts) ||
        h5out_create_dataset(out, "/truth/alpha", H5IO_FLOAT, 4, adims, chunk, &ds->alpha) ||
        h5out_create_dataset(out, "/truth/beta", H5IO_FLOAT, 4, bdims, chunk, &ds->beta))
        return error_code();
    return 0;
}

static void close_datasets(datasets *ds)
{
    hid_t *all[] = {&ds->features, &ds->labels, &ds->concepts, &ds->alpha, &ds->beta};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (*all[k] > 0)
            H5Dclose(*all[k]);
}

/* Generates and writes the images in batches: memory stays at one batch. */
static int generate(const options *opt, h5out *out)
{
    const synth_config *cfg = &opt->cfg;
    size_t n_img = cfg->per_class * cfg->n_classes, hw = (size_t)cfg->height * cfg->width;
    size_t per_img = cfg->n_dim * hw * sizeof(float);
    size_t batch = (32u << 20) / per_img ? (32u << 20) / per_img : 1;
    if (batch > n_img)
        batch = n_img;
    datasets ds = {0};
    if (create_datasets(out, cfg, n_img, batch, &ds)) {
        close_datasets(&ds);
        return error_code();
    }
    float *features = malloc(batch * cfg->n_dim * hw * sizeof(float));
    float *alpha = malloc(batch * cfg->n_concepts * hw * sizeof(float));
    float *beta = malloc(batch * (cfg->n_distract ? cfg->n_distract : 1) * hw * sizeof(float));
    int32_t *concepts = malloc(batch * hw * sizeof(int32_t)), *labels = malloc(batch * sizeof(int32_t));
    uint64_t stream = opt->split_test ? RNG_STREAM_TEST : RNG_STREAM_TRAIN;
    int rc = 0;
    for (size_t img0 = 0; img0 < n_img && !rc; img0 += batch) {
        size_t n = n_img - img0 < batch ? n_img - img0 : batch;
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++) {
            synth_image(cfg, opt->cli.seed, stream, img0 + k, features + k * cfg->n_dim * hw,
                        concepts + k * hw, alpha + k * cfg->n_concepts * hw, beta + k * cfg->n_distract * hw);
            labels[k] = synth_class_of(cfg, img0 + k);
        }
        rc = h5out_write_rows(ds.features, "/features", H5IO_FLOAT, img0, n, features) ||
             h5out_write_rows(ds.labels, "/labels", H5IO_INT32, img0, n, labels) ||
             h5out_write_rows(ds.concepts, "/concepts/concept", H5IO_INT32, img0, n, concepts) ||
             h5out_write_rows(ds.alpha, "/truth/alpha", H5IO_FLOAT, img0, n, alpha) ||
             h5out_write_rows(ds.beta, "/truth/beta", H5IO_FLOAT, img0, n, beta);
        cli_progress(&opt->cli, "%zu of %zu images", img0 + n, n_img);
    }
    cli_progress_end(&opt->cli);
    close_datasets(&ds);
    free(features); free(alpha); free(beta); free(concepts); free(labels);
    return rc ? error_code() : 0;
}

static char **numbered_names(const char *prefix, int n)
{
    char **names = malloc(sizeof(char *) * (n ? n : 1));
    for (int k = 0; k < n; k++) {
        names[k] = malloc(strlen(prefix) + 16);
        sprintf(names[k], "%s%d", prefix, k);
    }
    return names;
}

static int write_metadata(const options *opt, h5out *out)
{
    const synth_config *cfg = &opt->cfg;
    hsize_t sdims[2] = {cfg->n_concepts, cfg->n_dim}, ddims[2] = {cfg->n_distract, cfg->n_dim};
    double *offset = malloc(sizeof(double) * cfg->n_dim);
    for (int d = 0; d < cfg->n_dim; d++)
        offset[d] = cfg->offset;
    hsize_t odims[1] = {cfg->n_dim};
    /* The paper's classes are a, b, c; others are numbered. */
    int paper_classes = cfg->n_classes == 3 && !strcmp(opt->classes, "0,1;0,2;1,2");
    static const char *const abc[] = {"a", "b", "c"};
    char **class_names = numbered_names("class", cfg->n_classes);
    char **concept_names = numbered_names("concept", cfg->n_concepts);
    double on[2] = {cfg->on_lo, cfg->on_hi}, off[2] = {cfg->off_lo, cfg->off_hi};
    double beta[2] = {cfg->beta_lo, cfg->beta_hi};
    int rc = h5out_write(out, "/truth/S", H5IO_DOUBLE, 2, sdims, cfg->signals) ||
             h5out_write(out, "/truth/D", H5IO_DOUBLE, 2, ddims, cfg->distractors) ||
             h5out_write(out, "/truth/offset", H5IO_DOUBLE, 1, odims, offset) ||
             h5out_write_strings(out, "/class_names", paper_classes ? abc : (const char *const *)class_names, cfg->n_classes) ||
             h5out_attr_strings(out, "/concepts/concept", "names", (const char *const *)concept_names, cfg->n_concepts) ||
             h5out_attr_string(out, "/", "split", opt->split_test ? "test" : "train") ||
             h5out_attr_string(out, "/", "truth_source", opt->random_truth ? "random" : (opt->table ? opt->table : default_table())) ||
             h5out_attr_string(out, "/", "classes", opt->classes) ||
             h5out_attr_doubles(out, "/", "alpha_on", on, 2) ||
             h5out_attr_doubles(out, "/", "alpha_off", off, 2) ||
             h5out_attr_doubles(out, "/", "beta_range", beta, 2) ||
             h5out_attr_double(out, "/", "offset", cfg->offset) ||
             h5out_attr_int(out, "/", "per_class", (long long)cfg->per_class);
    for (int k = 0; k < cfg->n_classes; k++) free(class_names[k]);
    for (int k = 0; k < cfg->n_concepts; k++) free(concept_names[k]);
    free(class_names);
    free(concept_names);
    free(offset);
    return rc ? error_code() : 0;
}

/* Refuses (before writing) an output whose estimated size exceeds the free
 * space of its folder: /features, /truth/alpha, /truth/beta (float32) and
 * /concepts (int32) per pixel, /labels per image; HDF5's overhead is small. */
static void check_free_space(const options *opt)
{
    const synth_config *cfg = &opt->cfg;
    const char *path = opt->cli.output;
    if (opt->no_space_check || !strcmp(path, "-"))
        return;
    double n_img = (double)cfg->per_class * cfg->n_classes, hw = (double)cfg->height * cfg->width;
    double bytes = n_img * (hw * 4.0 * (cfg->n_dim + cfg->n_concepts + cfg->n_distract + 1) + 4.0);
    char dir_buf[4096];
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    struct statvfs fs;
    if (statvfs(dirname(dir_buf), &fs) != 0)
        return; /* h5out_create names what is wrong with the folder */
    double free_bytes = (double)fs.f_bavail * (double)fs.f_frsize;
    if (bytes > free_bytes) {
        error_set(EX_CANTCREAT, "%s: the output needs about %.3g GB (%.0f images) but its folder has %.3g GB free; "
                  "use --no-space-check to write anyway", path, bytes / 1e9, n_img, free_bytes / 1e9);
        cli_fail(&opt->cli);
    }
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    load_truth(&opt);
    parse_classes(&opt);
    check_free_space(&opt);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    h5out out;
    if (h5out_create(&out, opt.cli.output, opt.cli.overwrite, H5IO_FORMAT_FEATURES, 1))
        cli_fail(&opt.cli);
    h5io_provenance prov = {.tool = "synthgen", .argc = argc, .argv = argv, .seed = opt.cli.seed,
                            .threads = cli_threads()};
    if (generate(&opt, &out) || write_metadata(&opt, &out) || h5out_provenance(&out, &prov) ||
        h5out_commit(&out)) {
        h5out_abort(&out);
        cli_fail(&opt.cli);
    }
    free(opt.cfg.signals);
    free(opt.cfg.distractors);
    free(opt.cfg.class_concepts);
    return 0;
}
