/* featdump — the bridge between the toolkit's HDF5 files and real networks
 * and Python: imports .npy feature maps, labels, concept maps and heads,
 * concatenates shards, describes a file, exports a dataset to .npy. */
#include "cli.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: featdump --features F.npy [--layout nchw|nhwc] [--labels L.npy]\n"
    "                [--concepts NAME=MAP.npy ...] [--class-names FILE] -o OUT.h5\n"
    "       featdump --head-weight W.npy --head-bias B.npy [--class-names FILE] -o HEAD.h5\n"
    "       featdump --concat SHARD.h5 ... -o ALL.h5\n"
    "       featdump --info FILE\n"
    "       featdump --export DATASET FILE -o OUT.npy\n"
    "Move feature maps, labels, concept maps and heads between .npy and the\n"
    "toolkit's HDF5 files (one mode per call).\n"
    "  --features F.npy        feature maps [N,C,H,W] (or [N,C]); float16/32/64\n"
    "  --layout nchw|nhwc      axis order of --features (nchw); nhwc is transposed\n"
    "  --labels L.npy          image classes [N], integers >= 0\n"
    "  --concepts NAME=M.npy   concept maps [N,Hm,Wm] (0 = none) or multi-hot [N,L];\n"
    "                          repeat for several categories\n"
    "  --class-names FILE      class names, one per line\n"
    "  --head-weight W.npy     head weight [K,C] (e.g. model.fc.weight)\n"
    "  --head-bias B.npy       head bias [K]\n"
    "  --concat                concatenate the feature files given as arguments\n"
    "  --info FILE             describe FILE (- = stdin): datasets, attributes and\n"
    "                          per-channel statistics of /features\n"
    "  --export DATASET        write DATASET of the file argument to -o as .npy\n"
    "                          (float32 for floating point, int32 for integers)\n"
    "  -o FILE                 output (- = stdout), --overwrite to replace one\n"
    "  --threads N, --quiet, --help, --version\n";

enum {
    OPT_FEATURES = CLI_OPT_TOOL, OPT_LAYOUT, OPT_LABELS, OPT_CONCEPTS, OPT_CLASS_NAMES,
    OPT_HEAD_WEIGHT, OPT_HEAD_BIAS, OPT_CONCAT, OPT_INFO, OPT_EXPORT
};

typedef enum { MODE_IMPORT = 1, MODE_HEAD = 2, MODE_CONCAT = 4, MODE_INFO = 8, MODE_EXPORT = 16 } mode_bit;

#define MAX_CONCEPTS 64
/* Bytes of data per streamed batch (EDDP_BATCH_BYTES overrides it: less
 * memory, or many batches in tests), and per HDF5 chunk of an output. */
#define BATCH_BYTES batch_bytes()
#define CHUNK_BYTES ((size_t)1 << 20)

static size_t batch_bytes(void)
{
    static size_t bytes;
    if (!bytes) {
        const char *env = getenv("EDDP_BATCH_BYTES");
        long long value = env ? atoll(env) : 0;
        bytes = value > 0 ? (size_t)value : (size_t)64 << 20;
    }
    return bytes;
}

typedef struct {
    char name[128];     /* category: the dataset /concepts/<name> */
    const char *path;
} concept_arg;

typedef struct {
    cli_common cli;
    int modes;                  /* mode_bit set by the options given */
    const char *features, *labels, *class_names, *head_weight, *head_bias, *info, *export_name;
    int nhwc, layout_given;
    concept_arg concepts[MAX_CONCEPTS];
    int n_concepts;
    char **args;                /* positional: concat shards, or the export file */
    int n_args;
} options;

/* ============================================================ options */

/* NAME=MAP.npy; argv stays untouched (provenance records it). */
static void parse_concept(options *opt, const char *arg)
{
    cli_common *cli = &opt->cli;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : 0;
    if (!eq || !len || !eq[1])
        cli_usage_error(cli, "--concepts: expected NAME=MAP.npy, got '%s'", arg);
    if (opt->n_concepts == MAX_CONCEPTS)
        cli_usage_error(cli, "--concepts: at most %d categories", MAX_CONCEPTS);
    concept_arg *c = &opt->concepts[opt->n_concepts];
    if (len >= sizeof c->name || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") < len ||
        (len <= 2 && strspn(arg, ".") == len))
        cli_usage_error(cli, "--concepts: name '%.*s' must be 1-%zu letters, digits, '_', '-' or '.'",
                        (int)len, arg, sizeof c->name - 1);
    memcpy(c->name, arg, len);
    c->name[len] = '\0';
    c->path = eq + 1;
    for (int k = 0; k < opt->n_concepts; k++)
        if (!strcmp(opt->concepts[k].name, c->name))
            cli_usage_error(cli, "--concepts: category '%s' given twice", c->name);
    opt->n_concepts++;
}

static void no_stdin(const cli_common *cli, const char *option, const char *path)
{
    if (path && !strcmp(path, "-"))
        cli_usage_error(cli, "%s: cannot read '-' (stdin) here; give a file", option);
}

/* Options that belong to one mode only, for "X is only for Y" messages. */
static void only_in(const options *opt, int mode, int given, const char *option, const char *mode_name)
{
    if (given && !(opt->modes & mode))
        cli_usage_error(&opt->cli, "%s is only for %s", option, mode_name);
}

static void validate(options *opt)
{
    cli_common *cli = &opt->cli;
    int m = opt->modes, n_modes = 0;
    for (int bit = 1; bit <= MODE_EXPORT; bit <<= 1)
        n_modes += (m & bit) != 0;
    if (n_modes == 0)
        cli_usage_error(cli, "no mode: give --features, --head-weight/--head-bias, --concat, --info or --export");
    if (n_modes > 1)
        cli_usage_error(cli, "choose one mode per call: --features, --head-weight/--head-bias, "
                             "--concat, --info and --export exclude each other");
    only_in(opt, MODE_IMPORT, opt->layout_given, "--layout", "--features");
    only_in(opt, MODE_IMPORT, opt->labels != NULL, "--labels", "--features");
    only_in(opt, MODE_IMPORT, opt->n_concepts > 0, "--concepts", "--features");
    only_in(opt, MODE_IMPORT | MODE_HEAD, opt->class_names != NULL, "--class-names",
            "--features or --head-weight");
    if (m == MODE_HEAD && (!opt->head_weight || !opt->head_bias))
        cli_usage_error(cli, "a head needs both --head-weight and --head-bias");
    if (m == MODE_INFO && cli->output)
        cli_usage_error(cli, "--info prints to stdout and takes no -o");
    if (m != MODE_INFO && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
    if (m == MODE_CONCAT && opt->n_args < 1)
        cli_usage_error(cli, "--concat needs at least one feature file");
    if (m == MODE_EXPORT && opt->n_args != 1)
        cli_usage_error(cli, "--export DATASET needs exactly one file argument, got %d", opt->n_args);
    if ((m == MODE_IMPORT || m == MODE_HEAD || m == MODE_INFO) && opt->n_args > 0)
        cli_usage_error(cli, "unexpected argument '%s'", opt->args[0]);
    no_stdin(cli, "--features", opt->features);
    no_stdin(cli, "--labels", opt->labels);
    no_stdin(cli, "--head-weight", opt->head_weight);
    no_stdin(cli, "--head-bias", opt->head_bias);
    no_stdin(cli, "--class-names", opt->class_names);
    for (int k = 0; k < opt->n_concepts; k++)
        no_stdin(cli, "--concepts", opt->concepts[k].path);
    int stdin_uses = 0;
    for (int k = 0; k < opt->n_args; k++)
        stdin_uses += !strcmp(opt->args[k], "-");
    if (stdin_uses > 1)
        cli_usage_error(cli, "'-' (stdin) can be given only once");
}

static void parse(options *opt, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"features", required_argument, 0, OPT_FEATURES}, {"layout", required_argument, 0, OPT_LAYOUT},
        {"labels", required_argument, 0, OPT_LABELS}, {"concepts", required_argument, 0, OPT_CONCEPTS},
        {"class-names", required_argument, 0, OPT_CLASS_NAMES},
        {"head-weight", required_argument, 0, OPT_HEAD_WEIGHT},
        {"head-bias", required_argument, 0, OPT_HEAD_BIAS}, {"concat", no_argument, 0, OPT_CONCAT},
        {"info", required_argument, 0, OPT_INFO}, {"export", required_argument, 0, OPT_EXPORT},
        {0, 0, 0, 0}};
    cli_init(&opt->cli, "featdump", usage, argc, argv);
    cli_common *cli = &opt->cli;
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (cli_common_option(cli, c, optarg))
            continue;
        switch (c) {
        case OPT_FEATURES: opt->features = optarg; opt->modes |= MODE_IMPORT; break;
        case OPT_LAYOUT:
            if (strcmp(optarg, "nchw") && strcmp(optarg, "nhwc"))
                cli_usage_error(cli, "--layout: expected nchw or nhwc, got '%s'", optarg);
            opt->nhwc = !strcmp(optarg, "nhwc");
            opt->layout_given = 1;
            break;
        case OPT_LABELS: opt->labels = optarg; break;
        case OPT_CONCEPTS: parse_concept(opt, optarg); break;
        case OPT_CLASS_NAMES: opt->class_names = optarg; break;
        case OPT_HEAD_WEIGHT: opt->head_weight = optarg; opt->modes |= MODE_HEAD; break;
        case OPT_HEAD_BIAS: opt->head_bias = optarg; opt->modes |= MODE_HEAD; break;
        case OPT_CONCAT: opt->modes |= MODE_CONCAT; break;
        case OPT_INFO: opt->info = optarg; opt->modes |= MODE_INFO; break;
        case OPT_EXPORT: opt->export_name = optarg; opt->modes |= MODE_EXPORT; break;
        default: cli_usage_error(cli, "unexpected option");
        }
    }
    opt->args = argv + optind;
    opt->n_args = argc - optind;
    validate(opt);
}

/* ============================================================ shared helpers */

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Rows per batch (at least 1, at most n_rows) for rows of row_bytes. */
static size_t batch_rows(size_t row_bytes, size_t target, size_t n_rows)
{
    size_t rows = target / (row_bytes ? row_bytes : 1);
    return min_size(rows ? rows : 1, n_rows ? n_rows : 1);
}

/* A growing text buffer for messages and attribute values. */
typedef struct {
    char *text;
    size_t len, cap;
} strbuf;

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (sb->len + (size_t)need + 1 > sb->cap) {
        size_t cap = (sb->len + (size_t)need + 1) * 2;
        char *bigger = realloc(sb->text, cap);
        if (!bigger)
            return;
        sb->text = bigger;
        sb->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(sb->text + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)need;
}

static const char *sb_text(const strbuf *sb) { return sb->text ? sb->text : ""; }

static void shape_text(char *buf, size_t size, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < rank && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", k ? "," : "", (unsigned long long)dims[k]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Class names, one per line; trailing empty lines are ignored, others refused. */
static int read_class_names(const char *path, char ***names_out, size_t *n_out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set(EX_NOINPUT, "%s: cannot open class names: %s", path, strerror(errno));
    char **names = NULL, *line = NULL;
    size_t n = 0, cap = 0, line_cap = 0, empty_at = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if ((size_t)len != strlen(line))
            rc = error_set(EX_DATAERR, "%s: line %zu holds a NUL byte (expected text, one class name per line)",
                           path, n + 1);
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **bigger = realloc(names, cap * sizeof *names);
            if (!bigger) {
                rc = error_set(EX_OSERR, "%s: out of memory reading class names", path);
                break;
            }
            names = bigger;
        }
        if (!len && !empty_at)
            empty_at = n + 1;
        names[n++] = strdup(line);
    }
    if (!rc && ferror(f))
        rc = error_set(EX_IOERR, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    while (!rc && n > 0 && !names[n - 1][0]) /* trailing empty lines */
        free(names[--n]);
    if (!rc && n == 0)
        rc = error_set(EX_DATAERR, "%s: no class names (expected one per line)", path);
    if (!rc && empty_at && empty_at <= n)
        rc = error_set(EX_DATAERR, "%s: line %zu is empty (expected one class name per line)", path, empty_at);
    if (rc) {
        h5io_free_strings(names, n);
        return rc;
    }
    *names_out = names;
    *n_out = n;
    return 0;
}

/* The class names file's path and content hash, the hash of h5in_hash (which
 * reads by path when no HDF5 handle or image is set). */
static int text_file_hash(const char *path, uint64_t *hash)
{
    h5in text;
    memset(&text, 0, sizeof text);
    text.file = H5I_INVALID_HID;
    snprintf(text.path, sizeof text.path, "%s", path);
    if (h5in_hash(&text))
        return error_code();
    *hash = text.hash;
    return 0;
}

/* Provenance of an import: h5io's attributes plus `npy_inputs` (path and
 * hash per line, like `inputs`) and `class_names_file`. */
static int write_import_provenance(h5out *out, const options *opt, npy_reader **readers, int n_readers)
{
    h5io_provenance prov = {.tool = "featdump", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .threads = cli_threads()};
    if (h5out_provenance(out, &prov))
        return error_code();
    strbuf sb = {0};
    int rc = 0;
    for (int k = 0; k < n_readers && !rc; k++) {
        uint64_t hash;
        if (!(rc = npy_hash(readers[k], &hash)))
            sb_printf(&sb, "%s\t%016llx\n", readers[k]->path, (unsigned long long)hash);
    }
    if (!rc)
        rc = h5out_attr_string(out, "/", "npy_inputs", sb_text(&sb));
    if (!rc && opt->class_names) {
        uint64_t hash = 0;
        char line[4200];
        if (!(rc = text_file_hash(opt->class_names, &hash))) {
            snprintf(line, sizeof line, "%s\t%016llx\n", opt->class_names, (unsigned long long)hash);
            rc = h5out_attr_string(out, "/", "class_names_file", line);
        }
    }
    free(sb.text);
    return rc ? error_code() : 0;
}

/* ============================================================ import features */

typedef struct {
    npy_reader features, labels, concepts[MAX_CONCEPTS];
    int have_labels, n_concepts_open;
    char **class_names;
    size_t n_class_names;
    size_t n_img, n_dim, height, width;
} import_inputs;

static void close_import(import_inputs *in)
{
    npy_close(&in->features);
    npy_close(&in->labels);
    for (int k = 0; k < in->n_concepts_open; k++)
        npy_close(&in->concepts[k]);
    h5io_free_strings(in->class_names, in->n_class_names);
}

static int open_features_npy(import_inputs *in, const options *opt)
{
    npy_reader *r = &in->features;
    if (npy_open(r, opt->features))
        return error_code();
    char shape[256];
    npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
    if (!npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (--features): dtype '%s' is not floating point (expected "
                         "'<f2', '<f4' or '<f8')", r->path, npy_descr(r->hdr.dtype));
    if (r->hdr.rank != 4 && r->hdr.rank != 2)
        return error_set(EX_DATAERR, "%s (--features): shape %s, expected [N,C,H,W] (or [N,H,W,C] with "
                         "--layout nhwc, or pooled [N,C])", r->path, shape);
    if (npy_count(&r->hdr) == 0)
        return error_set(EX_DATAERR, "%s (--features): no data (shape %s); N, C, H and W must be positive",
                         r->path, shape);
    const uint64_t *s = r->hdr.shape;
    in->n_img = s[0];
    if (r->hdr.rank == 2) {
        in->n_dim = s[1];
        in->height = in->width = 1;
    } else if (opt->nhwc) {
        in->height = s[1];
        in->width = s[2];
        in->n_dim = s[3];
    } else {
        in->n_dim = s[1];
        in->height = s[2];
        in->width = s[3];
    }
    return 0;
}

/* Opens an integer array whose first dimension must be the features' N. */
static int open_per_image_ints(npy_reader *r, const char *path, const char *option, const import_inputs *in)
{
    if (npy_open(r, path))
        return error_code();
    if (npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (%s): dtype '%s' is floating point, expected integers "
                         "(save with a.astype(np.int32))", path, option, npy_descr(r->hdr.dtype));
    if (r->hdr.rank == 0 || r->hdr.shape[0] != in->n_img)
        return error_set(EX_DATAERR, "%s (%s) has %llu images but %s has %zu", path, option,
                         (unsigned long long)(r->hdr.rank ? r->hdr.shape[0] : 0), in->features.path,
                         in->n_img);
    return 0;
}

static int open_import(import_inputs *in, const options *opt)
{
    if (open_features_npy(in, opt))
        return error_code();
    if (opt->labels) {
        in->have_labels = 1;
        if (open_per_image_ints(&in->labels, opt->labels, "--labels", in))
            return error_code();
        if (in->labels.hdr.rank != 1) {
            char shape[256];
            npy_format_shape(shape, sizeof shape, in->labels.hdr.rank, in->labels.hdr.shape);
            return error_set(EX_DATAERR, "%s (--labels): shape %s, expected [N] class indices",
                             opt->labels, shape);
        }
    }
    for (int k = 0; k < opt->n_concepts; k++) {
        npy_reader *r = &in->concepts[k];
        char option[160];
        snprintf(option, sizeof option, "--concepts %s", opt->concepts[k].name);
        in->n_concepts_open = k + 1;
        if (open_per_image_ints(r, opt->concepts[k].path, option, in))
            return error_code();
        if (r->hdr.rank != 2 && r->hdr.rank != 3) {
            char shape[256];
            npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
            return error_set(EX_DATAERR, "%s (--concepts %s): shape %s, expected pixel maps [N,Hm,Wm] "
                             "or image-level multi-hot [N,L]", r->path, opt->concepts[k].name, shape);
        }
    }
    if (opt->class_names && read_class_names(opt->class_names, &in->class_names, &in->n_class_names))
        return error_code();
    return 0;
}

/* NHWC → NCHW for n images of [hw × n_dim] each. */
static void transpose_nhwc(const float *src, float *dst, size_t n, size_t hw, size_t n_dim)
{
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        const float *in = src + k * hw * n_dim;
        float *out = dst + k * hw * n_dim;
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < n_dim; c++)
                out[c * hw + p] = in[p * n_dim + c];
    }
}

static int write_features(import_inputs *in, const options *opt, h5out *out)
{
    size_t hw = in->height * in->width, per_image = in->n_dim * hw;
    size_t batch = batch_rows(per_image * sizeof(float), BATCH_BYTES, in->n_img);
    size_t chunk = batch_rows(per_image * sizeof(float), CHUNK_BYTES, in->n_img);
    hsize_t dims[4] = {in->n_img, in->n_dim, in->height, in->width};
    int transpose = opt->nhwc && in->features.hdr.rank == 4 && hw > 1 && in->n_dim > 1;
    float *buf = malloc(batch * per_image * sizeof *buf);
    float *nchw = transpose ? malloc(batch * per_image * sizeof *nchw) : buf;
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf || !nchw ? error_set(EX_OSERR, "out of memory for a batch of %zu images", batch)
                           : h5out_create_dataset(out, "/features", H5IO_FLOAT, 4, dims, chunk, &dset);
    for (size_t img0 = 0; !rc && img0 < in->n_img; img0 += batch) {
        size_t n = min_size(batch, in->n_img - img0);
        if ((rc = npy_read_float(&in->features, n, buf)))
            break;
        if (transpose)
            transpose_nhwc(buf, nchw, n, hw, in->n_dim);
        rc = features_check_finite(in->features.path, "features array", nchw, n, per_image, img0) ||
             h5out_write_rows(dset, "/features", H5IO_FLOAT, img0, n, nchw);
        cli_progress(&opt->cli, "%zu of %zu images", img0 + n, in->n_img);
    }
    cli_progress_end(&opt->cli);
    if (dset >= 0)
        H5Dclose(dset);
    if (transpose)
        free(nchw);
    free(buf);
    return rc ? error_code() : 0;
}

/* Labels are class indices: >= 0, and < K when class names are given. */
static int write_labels(import_inputs *in, const options *opt, h5out *out)
{
    size_t n = in->n_img;
    int32_t *labels = malloc(n * sizeof *labels);
    if (!labels)
        return error_set(EX_OSERR, "%s: out of memory for labels", in->labels.path);
    int rc = npy_read_int32(&in->labels, n, labels);
    for (size_t k = 0; !rc && k < n; k++) {
        if (labels[k] < 0)
            rc = error_set(EX_DATAERR, "%s (--labels): label %d at image %zu; labels are class indices >= 0",
                           in->labels.path, labels[k], k);
        else if (in->class_names && (size_t)labels[k] >= in->n_class_names)
            rc = error_set(EX_DATAERR, "%s (--labels): label %d at image %zu, but %s (--class-names) "
                           "names %zu classes", in->labels.path, labels[k], k, opt->class_names,
                           in->n_class_names);
    }
    hsize_t dims[1] = {n};
    if (!rc)
        rc = h5out_write(out, "/labels", H5IO_INT32, 1, dims, labels);
    free(labels);
    return rc ? error_code() : 0;
}

/* Pixel maps hold concept labels >= 0 (0 = none); multi-hot rows hold 0/1. */
static int check_concepts(const npy_reader *r, const char *name, const int32_t *buf, size_t n,
                          size_t per_image, size_t img0, int multi_hot)
{
    int32_t hi = multi_hot ? 1 : INT32_MAX;
    for (size_t k = 0; k < n * per_image; k++)
        if (buf[k] < 0 || buf[k] > hi)
            return error_set(EX_DATAERR, "%s (--concepts %s): value %d at image %zu; %s", r->path, name,
                             buf[k], img0 + k / per_image,
                             multi_hot ? "image-level multi-hot [N,L] maps hold 0 or 1"
                                       : "pixel maps hold concept labels >= 0 (0 = none)");
    return 0;
}

static int write_concept(npy_reader *r, const char *name, h5out *out)
{
    char dset_name[300];
    snprintf(dset_name, sizeof dset_name, "/concepts/%s", name);
    int rank = r->hdr.rank;
    hsize_t dims[3];
    for (int k = 0; k < rank; k++)
        dims[k] = r->hdr.shape[k];
    size_t per_image = r->row_elems, n_img = r->n_rows;
    size_t batch = batch_rows(per_image * sizeof(int32_t), BATCH_BYTES, n_img);
    size_t chunk = batch_rows(per_image * sizeof(int32_t), CHUNK_BYTES, n_img);
    int32_t *buf = malloc((batch * per_image + 1) * sizeof *buf);
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf ? error_set(EX_OSERR, "%s: out of memory for a batch", r->path)
                  : h5out_create_dataset(out, dset_name, H5IO_INT32, rank, dims, chunk, &dset);
    for (size_t img0 = 0; !rc && img0 < n_img; img0 += batch) {
        size_t n = min_size(batch, n_img - img0);
        rc = npy_read_int32(r, n, buf) || check_concepts(r, name, buf, n, per_image, img0, rank == 2) ||
             h5out_write_rows(dset, dset_name, H5IO_INT32, img0, n, buf);
    }
    if (dset >= 0)
        H5Dclose(dset);
    free(buf);
    return rc ? error_code() : 0;
}

static int run_import(const options *opt)
{
    import_inputs in;
    memset(&in, 0, sizeof in);
    if (open_import(&in, opt)) {
        close_import(&in);
        return error_code();
    }
    h5out out;
    int rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1);
    if (!rc)
        rc = write_features(&in, opt, &out);
    if (!rc && in.have_labels)
        rc = write_labels(&in, opt, &out);
    for (int k = 0; !rc && k < opt->n_concepts; k++)
        rc = write_concept(&in.concepts[k], opt->concepts[k].name, &out);
    if (!rc && in.class_names)
        rc = h5out_write_strings(&out, "/class_names", (const char *const *)in.class_names, in.n_class_names);
    if (!rc) {
        npy_reader *readers[2 + MAX_CONCEPTS];
        int n = 0;
        readers[n++] = &in.features;
        if (in.have_labels)
            readers[n++] = &in.labels;
        for (int k = 0; k < opt->n_concepts; k++)
            readers[n++] = &in.concepts[k];
        rc = write_import_provenance(&out, opt, readers, n) || h5out_commit(&out);
    }
    if (rc)
        h5out_abort(&out);
    close_import(&in);
    return rc ? error_code() : 0;
}

/* ============================================================ import a head */

/* Reads a whole float array, refusing NaN/Inf. */
static int read_all_float(npy_reader *r, const char *option, float **data)
{
    uint64_t count = npy_count(&r->hdr);
    *data = malloc((count ? count : 1) * sizeof **data);
    if (!*data)
        return error_set(EX_OSERR, "%s: out of memory", r->path);
    if (npy_read_float(r, r->n_rows, *data))
        return error_code();
    for (uint64_t k = 0; k < count; k++)
        if (!isfinite((*data)[k]))
            return error_set(EX_DATAERR, "%s (%s): holds %s at element %llu", r->path, option,
                             isnan((*data)[k]) ? "NaN" : "Inf", (unsigned long long)k);
    return 0;
}

static int open_head_npy(npy_reader *r, const char *path, const char *option, int rank, const char *expected)
{
    if (npy_open(r, path))
        return error_code();
    char shape[256];
    npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
    if (!npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (%s): dtype '%s' is not floating point", path, option,
                         npy_descr(r->hdr.dtype));
    if (r->hdr.rank != rank || npy_count(&r->hdr) == 0)
        return error_set(EX_DATAERR, "%s (%s): shape %s, expected %s", path, option, shape, expected);
    return 0;
}

static int run_head(const options *opt)
{
    npy_reader weight_in, bias_in;
    memset(&weight_in, 0, sizeof weight_in);
    memset(&bias_in, 0, sizeof bias_in);
    float *weight = NULL, *bias = NULL;
    char **names = NULL;
    size_t n_names = 0;
    h5out out = {.file = H5I_INVALID_HID};
    int rc = open_head_npy(&weight_in, opt->head_weight, "--head-weight", 2, "[K,C] (classes × channels)") ||
             open_head_npy(&bias_in, opt->head_bias, "--head-bias", 1, "[K]");
    uint64_t n_cls = rc ? 0 : weight_in.hdr.shape[0], n_dim = rc ? 0 : weight_in.hdr.shape[1];
    if (!rc && bias_in.hdr.shape[0] != n_cls)
        rc = error_set(EX_DATAERR, "%s (--head-bias) has %llu classes but %s (--head-weight) has %llu",
                       bias_in.path, (unsigned long long)bias_in.hdr.shape[0], weight_in.path,
                       (unsigned long long)n_cls);
    if (!rc && opt->class_names && !(rc = read_class_names(opt->class_names, &names, &n_names)) &&
        n_names != n_cls)
        rc = error_set(EX_DATAERR, "%s (--class-names) names %zu classes but %s (--head-weight) has %llu",
                       opt->class_names, n_names, weight_in.path, (unsigned long long)n_cls);
    if (!rc)
        rc = read_all_float(&weight_in, "--head-weight", &weight) || read_all_float(&bias_in, "--head-bias", &bias);
    if (!rc)
        rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_HEAD, 1);
    hsize_t wdims[2] = {n_cls, n_dim}, bdims[1] = {n_cls};
    if (!rc) {
        npy_reader *readers[2] = {&weight_in, &bias_in};
        rc = h5out_write(&out, "/weight", H5IO_FLOAT, 2, wdims, weight) ||
             h5out_write(&out, "/bias", H5IO_FLOAT, 1, bdims, bias) ||
             (names && h5out_write_strings(&out, "/class_names", (const char *const *)names, n_names)) ||
             write_import_provenance(&out, opt, readers, 2) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    free(weight);
    free(bias);
    h5io_free_strings(names, n_names);
    npy_close(&weight_in);
    npy_close(&bias_in);
    return rc ? error_code() : 0;
}

/* ============================================================ HDF5 walking */

typedef struct {
    char **names;
    size_t n, cap;
} name_list;

static void list_add(name_list *list, const char *name)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 16;
        list->names = realloc(list->names, list->cap * sizeof *list->names);
    }
    list->names[list->n++] = strdup(name);
}

static void list_free(name_list *list)
{
    h5io_free_strings(list->names, list->n);
    memset(list, 0, sizeof *list);
}

static int list_has(const name_list *list, const char *name)
{
    for (size_t k = 0; k < list->n; k++)
        if (!strcmp(list->names[k], name))
            return 1;
    return 0;
}

typedef struct {
    const char *prefix;         /* "" for the root */
    name_list *datasets, *groups;
} walk_ctx;

static herr_t walk_link(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    const walk_ctx *ctx = data;
    if (info->type != H5L_TYPE_HARD) /* soft and external links are not followed */
        return 0;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", ctx->prefix, name);
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0)
        return -1;
    herr_t status = 0;
    H5I_type_t type = H5Iget_type(obj);
    if (type == H5I_DATASET) {
        list_add(ctx->datasets, path);
    } else if (type == H5I_GROUP) {
        list_add(ctx->groups, path);
        walk_ctx sub = {path, ctx->datasets, ctx->groups};
        status = H5Literate(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_link, &sub);
    }
    H5Oclose(obj);
    return status < 0 ? -1 : 0;
}

/* Every dataset and group below the root, depth first in name order. */
static int walk_file(h5in *in, name_list *datasets, name_list *groups)
{
    walk_ctx ctx = {"", datasets, groups};
    if (H5Literate(in->file, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_link, &ctx) < 0)
        return error_set(EX_DATAERR, "%s: cannot list the file's contents (corrupt file?)", in->path);
    return 0;
}

/* "float32", "int64", "uint8", "string", ... */
static void type_text(hid_t type, char *buf, size_t size)
{
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_FLOAT: snprintf(buf, size, "float%zu", bits); break;
    case H5T_INTEGER: snprintf(buf, size, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits); break;
    case H5T_STRING: snprintf(buf, size, "string"); break;
    case H5T_ENUM: snprintf(buf, size, "enum%zu", bits); break;
    case H5T_COMPOUND: snprintf(buf, size, "compound"); break;
    default: snprintf(buf, size, "other"); break;
    }
}

static H5T_class_t dataset_class(h5in *in, const char *name, char *type_buf, size_t type_size)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    if (dset < 0)
        return H5T_NO_CLASS;
    hid_t type = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(type);
    if (type_buf)
        type_text(type, type_buf, type_size);
    H5Tclose(type);
    H5Dclose(dset);
    return cls;
}

/* Reads rows [row0, row0 + nrows) (all of a scalar) converted to memtype. */
static int read_rows_as(h5in *in, const char *name, hid_t memtype, hsize_t row0, hsize_t nrows, void *buf)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    if (dset < 0)
        return error_set(EX_DATAERR, "%s: missing dataset '%s'", in->path, name);
    hid_t space = H5Dget_space(dset), mem = H5I_INVALID_HID;
    int rank = H5Sget_simple_extent_ndims(space);
    herr_t status;
    if (rank == 0) {
        status = H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    } else {
        hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = {0};
        H5Sget_simple_extent_dims(space, dims, NULL);
        start[0] = row0;
        dims[0] = nrows;
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, dims, NULL);
        mem = H5Screate_simple(rank, dims, NULL);
        status = H5Dread(dset, memtype, mem, space, H5P_DEFAULT, buf);
        H5Sclose(mem);
    }
    H5Sclose(space);
    H5Dclose(dset);
    return status < 0 ? error_set(EX_DATAERR, "%s: cannot read dataset '%s' (truncated or corrupt file?)",
                                  in->path, name)
                      : 0;
}

/* An attribute's value as text: strings joined by ", ", numbers by spaces. */
static char *attr_text(h5in *in, const char *object, const char *name)
{
    strbuf sb = {0};
    hid_t attr = H5Aopen_by_name(in->file, object, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        return strdup("(unreadable)");
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = H5Tget_class(type);
    if (cls == H5T_STRING) {
        char **strings;
        size_t count;
        if (h5in_attr_strings(in, object, name, &strings, &count) == 0) {
            for (size_t k = 0; k < count; k++)
                sb_printf(&sb, "%s%s", k ? ", " : "", strings[k]);
            h5io_free_strings(strings, count);
        }
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && n > 0) {
        int is_int = cls == H5T_INTEGER;
        void *values = malloc((size_t)n * 8);
        if (values && H5Aread(attr, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, values) >= 0)
            for (hssize_t k = 0; k < n; k++) {
                if (is_int)
                    sb_printf(&sb, "%s%lld", k ? " " : "", ((long long *)values)[k]);
                else
                    sb_printf(&sb, "%s%.10g", k ? " " : "", ((double *)values)[k]);
            }
        free(values);
    } else {
        char tname[32];
        type_text(type, tname, sizeof tname);
        sb_printf(&sb, "(%s value)", tname);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return sb.text ? sb.text : strdup("");
}

static herr_t collect_attr_name(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)loc;
    (void)info;
    list_add(data, name);
    return 0;
}

/* Names of the attributes of object, in name order. */
static int list_attrs(h5in *in, const char *object, name_list *names)
{
    hsize_t idx = 0;
    if (H5Aiterate_by_name(in->file, object, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, names,
                           H5P_DEFAULT) < 0)
        return error_set(EX_DATAERR, "%s: cannot list the attributes of '%s'", in->path, object);
    return 0;
}

/* Copies one attribute as stored (any type, variable-length strings too). */
static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    hid_t dst_obj = *(hid_t *)data;
    hid_t src = H5Aopen(loc, name, H5P_DEFAULT);
    if (src < 0)
        return -1;
    hid_t ftype = H5Aget_type(src), space = H5Aget_space(src);
    hid_t mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t bytes = (size_t)(n > 0 ? n : 1) * H5Tget_size(mtype);
    void *buf = calloc(1, bytes);
    herr_t status = buf && H5Aread(src, mtype, buf) >= 0 ? 0 : -1;
    if (!status) {
        if (H5Aexists(dst_obj, name) > 0)
            H5Adelete(dst_obj, name);
        hid_t dst = H5Acreate2(dst_obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
        status = dst < 0 || H5Awrite(dst, mtype, buf) < 0 ? -1 : 0;
        if (dst >= 0)
            H5Aclose(dst);
        if (H5Tdetect_class(mtype, H5T_VLEN) > 0 || H5Tis_variable_str(mtype) > 0)
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
    }
    free(buf);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Aclose(src);
    return status;
}

/* Copies every attribute of object in `in` onto the same object in `out`. */
static int copy_attrs(h5in *in, h5out *out, const char *object)
{
    hid_t src = H5Oopen(in->file, object, H5P_DEFAULT), dst = H5Oopen(out->file, object, H5P_DEFAULT);
    hsize_t idx = 0;
    int rc = src < 0 || dst < 0 ||
             H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr, &dst) < 0;
    if (src >= 0)
        H5Oclose(src);
    if (dst >= 0)
        H5Oclose(dst);
    return rc ? error_set(EX_IOERR, "%s: cannot copy the attributes of '%s' from %s", out->final_path,
                          object, in->path)
              : 0;
}

/* ============================================================ concatenate */

/* Datasets whose first dimension runs over images, by the features contract
 * (man/man5/eddp-files.5): /features, /labels, the numeric maps under
 * /concepts (a string dataset there, e.g. names, is per file), /truth/alpha
 * and /truth/beta. Every other dataset is per file. */
static int is_per_image(h5in *in, const char *name)
{
    if (!strncmp(name, "/concepts/", 10))
        return dataset_class(in, name, NULL, 0) != H5T_STRING;
    return !strcmp(name, "/features") || !strcmp(name, "/labels") || !strcmp(name, "/truth/alpha") ||
           !strcmp(name, "/truth/beta");
}

/* Root attributes that describe one run, not the data: never carried. */
static int is_run_attr(const char *name)
{
    static const char *const run[] = {"format", "format_version", "history", "tool", "tool_version",
                                      "command_line", "created", "seed", "threads", "device",
                                      "slurm_job_id", "inputs", "npy_inputs", "class_names_file"};
    for (size_t k = 0; k < sizeof run / sizeof run[0]; k++)
        if (!strcmp(name, run[k]))
            return 1;
    return 0;
}

typedef struct {
    h5in in;
    features_file ff;
    name_list datasets, groups;
} shard;

/* The h5io type a per-image dataset is copied with (its stored precision). */
static int per_image_type(h5in *in, const char *name, h5io_type *type)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    hid_t stored = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(stored);
    size_t size = H5Tget_size(stored);
    int is_signed = cls == H5T_INTEGER && H5Tget_sign(stored) != H5T_SGN_NONE;
    char tname[32];
    type_text(stored, tname, sizeof tname);
    H5Tclose(stored);
    H5Dclose(dset);
    if (cls == H5T_FLOAT && !strcmp(name, "/features"))
        *type = H5IO_FLOAT; /* the contract's float32, read through features_read_images */
    else if (cls == H5T_FLOAT && (size == 2 || size == 4 || size == 8))
        *type = size == 2 ? H5IO_HALF : size == 4 ? H5IO_FLOAT : H5IO_DOUBLE;
    else if (cls == H5T_INTEGER && (size < 4 || (size == 4 && is_signed)))
        *type = H5IO_INT32;
    else
        return error_set(EX_DATAERR, "%s: dataset '%s' is %s; per-image datasets must be floating point "
                         "or fit int32", in->path, name, tname);
    return 0;
}

static int open_shards(shard *shards, int n, char **paths)
{
    for (int k = 0; k < n; k++) {
        shard *s = &shards[k];
        if (h5in_open(&s->in, paths[k], H5IO_FORMAT_FEATURES) || features_open(&s->ff, &s->in) ||
            walk_file(&s->in, &s->datasets, &s->groups))
            return error_code();
        const features_file *a = &shards[0].ff, *b = &s->ff;
        if (b->n_dim != a->n_dim || b->height != a->height || b->width != a->width)
            return error_set(EX_DATAERR, "%s: '/features' has [C,H,W] = [%zu,%zu,%zu] but %s has [%zu,%zu,%zu]; "
                             "shards must agree", s->in.path, b->n_dim, b->height, b->width,
                             shards[0].in.path, a->n_dim, a->height, a->width);
    }
    return 0;
}

/* Two per-file datasets hold the same shape and values (strings compared as text). */
static int same_dataset(h5in *a, h5in *b, const char *name)
{
    int rank_a, rank_b;
    hsize_t dims_a[H5IO_MAX_RANK], dims_b[H5IO_MAX_RANK];
    if (h5in_shape(a, name, &rank_a, dims_a) || h5in_shape(b, name, &rank_b, dims_b))
        return -1;
    if (rank_a != rank_b || memcmp(dims_a, dims_b, sizeof(hsize_t) * (size_t)rank_a))
        return 0;
    H5T_class_t cls = dataset_class(a, name, NULL, 0);
    if (cls != dataset_class(b, name, NULL, 0))
        return 0;
    if (cls == H5T_STRING) {
        char **sa, **sb;
        size_t na, nb;
        if (h5in_strings(a, name, &sa, &na))
            return -1;
        if (h5in_strings(b, name, &sb, &nb)) {
            h5io_free_strings(sa, na);
            return -1;
        }
        int same = na == nb;
        for (size_t k = 0; same && k < na; k++)
            same = !strcmp(sa[k], sb[k]);
        h5io_free_strings(sa, na);
        h5io_free_strings(sb, nb);
        return same;
    }
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        error_set(EX_DATAERR, "%s: dataset '%s' has a type featdump cannot compare across shards",
                  a->path, name);
        return -1;
    }
    hid_t memtype = cls == H5T_INTEGER ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE;
    size_t count = 1;
    for (int k = 0; k < rank_a; k++)
        count *= dims_a[k];
    void *va = malloc(count * 8 + 1), *vb = malloc(count * 8 + 1);
    int same = -1;
    if (!va || !vb)
        error_set(EX_OSERR, "out of memory comparing '%s'", name);
    else if (count == 0)
        same = 1;
    else if (!read_rows_as(a, name, memtype, 0, rank_a ? dims_a[0] : 1, va) &&
             !read_rows_as(b, name, memtype, 0, rank_b ? dims_b[0] : 1, vb))
        same = !memcmp(va, vb, count * 8);
    free(va);
    free(vb);
    return same;
}

/* Every shard holds the same datasets; per-image ones have the shard's N
 * rows and the first shard's trailing shape; per-file ones are equal. */
static int check_shards(shard *shards, int n)
{
    shard *first = &shards[0];
    for (int k = 1; k < n; k++) {
        shard *s = &shards[k];
        for (size_t d = 0; d < first->datasets.n; d++)
            if (!list_has(&s->datasets, first->datasets.names[d]))
                return error_set(EX_DATAERR, "%s: missing dataset '%s' (present in %s)", s->in.path,
                                 first->datasets.names[d], first->in.path);
        for (size_t d = 0; d < s->datasets.n; d++)
            if (!list_has(&first->datasets, s->datasets.names[d]))
                return error_set(EX_DATAERR, "%s: dataset '%s' is not in %s; shards must hold the same datasets",
                                 s->in.path, s->datasets.names[d], first->in.path);
    }
    for (size_t d = 0; d < first->datasets.n; d++) {
        const char *name = first->datasets.names[d];
        if (!is_per_image(&first->in, name)) {
            for (int k = 1; k < n; k++) {
                int same = same_dataset(&first->in, &shards[k].in, name);
                if (same < 0)
                    return error_code();
                if (!same)
                    return error_set(EX_DATAERR, "%s: dataset '%s' differs from the one in %s (datasets "
                                     "without a per-image first dimension must be equal in every shard)",
                                     shards[k].in.path, name, first->in.path);
            }
            continue;
        }
        int rank;
        hsize_t dims[H5IO_MAX_RANK], got[H5IO_MAX_RANK];
        h5io_type type;
        if (h5in_shape(&first->in, name, &rank, dims) || per_image_type(&first->in, name, &type))
            return error_code();
        if (rank < 1)
            return error_set(EX_DATAERR, "%s: dataset '%s' is a scalar, expected one row per image",
                             first->in.path, name);
        for (int k = 0; k < n; k++) {
            dims[0] = 0; /* any N here; checked against the shard's images below */
            if (h5in_check(&shards[k].in, name, type, rank, dims, got))
                return error_code();
            if (got[0] != shards[k].ff.n_img)
                return error_set(EX_DATAERR, "%s: dataset '%s' has %llu rows but '/features' has %zu images",
                                 shards[k].in.path, name, (unsigned long long)got[0], shards[k].ff.n_img);
        }
    }
    return 0;
}

/* Streams one per-image dataset of every shard into the output, in order. */
static int concat_dataset(shard *shards, int n, const char *name, h5out *out, size_t n_total)
{
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    h5io_type type;
    if (h5in_shape(&shards[0].in, name, &rank, dims) || per_image_type(&shards[0].in, name, &type))
        return error_code();
    size_t row_elems = 1, elem = type == H5IO_DOUBLE ? 8 : 4;
    for (int k = 1; k < rank; k++)
        row_elems *= dims[k];
    dims[0] = n_total;
    size_t batch = batch_rows(row_elems * elem, BATCH_BYTES, n_total);
    size_t chunk = batch_rows(row_elems * elem, CHUNK_BYTES, n_total);
    void *buf = malloc((batch * row_elems + 1) * elem);
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf ? error_set(EX_OSERR, "out of memory for a batch of '%s'", name)
                  : h5out_create_dataset(out, name, type, rank, dims, chunk, &dset);
    size_t row_out = 0;
    for (int k = 0; !rc && k < n; k++) {
        shard *s = &shards[k];
        for (size_t row0 = 0; !rc && row0 < s->ff.n_img; row0 += batch) {
            size_t rows = min_size(batch, s->ff.n_img - row0);
            rc = !strcmp(name, "/features") ? features_read_images(&s->ff, row0, rows, buf)
                                            : h5in_read_rows(&s->in, name, type, row0, rows, buf);
            if (!rc)
                rc = h5out_write_rows(dset, name, type, row_out, rows, buf);
            row_out += rows;
        }
    }
    if (dset >= 0)
        H5Dclose(dset);
    free(buf);
    if (!rc)
        rc = copy_attrs(&shards[0].in, out, name);
    return rc ? error_code() : 0;
}

static int copy_per_file_dataset(h5in *in, const char *name, h5out *out)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    herr_t status = H5Ocopy(in->file, name, out->file, name, H5P_DEFAULT, lcpl);
    H5Pclose(lcpl);
    return status < 0 ? error_set(EX_IOERR, "%s: cannot copy dataset '%s' from %s", out->final_path, name, in->path)
                      : 0;
}

/* Groups keep their attributes (from the first shard); empty ones are kept too. */
static int copy_groups(h5in *in, const name_list *groups, h5out *out)
{
    for (size_t g = 0; g < groups->n; g++) {
        const char *name = groups->names[g];
        if (H5Lexists(out->file, name, H5P_DEFAULT) <= 0) {
            hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
            H5Pset_create_intermediate_group(lcpl, 1);
            hid_t group = H5Gcreate2(out->file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            H5Pclose(lcpl);
            if (group < 0)
                return error_set(EX_IOERR, "%s: cannot create group '%s'", out->final_path, name);
            H5Gclose(group);
        }
        if (copy_attrs(in, out, name))
            return error_code();
    }
    return 0;
}

/* Root attributes of the data (not of a run) carried when every shard agrees. */
static int copy_root_attrs(shard *shards, int n, h5out *out)
{
    name_list names = {0};
    if (list_attrs(&shards[0].in, "/", &names))
        return error_code();
    int rc = 0;
    hid_t dst = H5Oopen(out->file, "/", H5P_DEFAULT);
    hid_t src = H5Oopen(shards[0].in.file, "/", H5P_DEFAULT);
    for (size_t a = 0; !rc && a < names.n; a++) {
        const char *name = names.names[a];
        if (is_run_attr(name))
            continue;
        char *value = attr_text(&shards[0].in, "/", name);
        int same = 1;
        for (int k = 1; same && k < n; k++) {
            if (H5Aexists(shards[k].in.file, name) <= 0) {
                same = 0;
                break;
            }
            char *other = attr_text(&shards[k].in, "/", name);
            same = !strcmp(value, other);
            free(other);
        }
        free(value);
        if (same && copy_attr(src, name, NULL, &dst) < 0)
            rc = error_set(EX_IOERR, "%s: cannot copy root attribute '%s'", out->final_path, name);
    }
    H5Oclose(src);
    H5Oclose(dst);
    list_free(&names);
    return rc;
}

static int write_concat(shard *shards, int n, h5out *out, const options *opt)
{
    size_t n_total = 0;
    for (int k = 0; k < n; k++)
        n_total += shards[k].ff.n_img;
    const name_list *datasets = &shards[0].datasets;
    for (size_t d = 0; d < datasets->n; d++) {
        const char *name = datasets->names[d];
        int rc = is_per_image(&shards[0].in, name) ? concat_dataset(shards, n, name, out, n_total)
                                    : copy_per_file_dataset(&shards[0].in, name, out);
        if (rc)
            return rc;
        cli_progress(&opt->cli, "%zu of %zu datasets", d + 1, datasets->n);
    }
    cli_progress_end(&opt->cli);
    if (copy_groups(&shards[0].in, &shards[0].groups, out) || copy_root_attrs(shards, n, out))
        return error_code();
    h5in **inputs = malloc(sizeof *inputs * (size_t)n);
    for (int k = 0; k < n; k++)
        inputs[k] = &shards[k].in;
    h5io_provenance prov = {.tool = "featdump", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .threads = cli_threads(), .inputs = inputs, .n_inputs = n};
    int rc = h5out_provenance(out, &prov);
    free(inputs);
    return rc;
}

static int run_concat(const options *opt)
{
    int n = opt->n_args;
    shard *shards = calloc((size_t)n, sizeof *shards);
    if (!shards)
        return error_set(EX_OSERR, "out of memory");
    for (int k = 0; k < n; k++)
        shards[k].in.file = H5I_INVALID_HID;
    h5out out = {.file = H5I_INVALID_HID};
    int rc = open_shards(shards, n, opt->args) || check_shards(shards, n);
    if (!rc)
        rc = h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1);
    if (!rc) {
        rc = write_concat(shards, n, &out, opt) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    for (int k = 0; k < n; k++) {
        h5in_close(&shards[k].in);
        list_free(&shards[k].datasets);
        list_free(&shards[k].groups);
    }
    free(shards);
    return rc ? error_code() : 0;
}

/* ============================================================ info */

/* Running statistics of one channel: Chan et al.'s pairwise merge of batch
 * means and squared deviations, in double, over finite values. */
typedef struct {
    double mean, m2, min, max;
    uint64_t count, nonfinite;
} channel_stats;

static void stats_add(channel_stats *s, const float *buf, size_t n_img, size_t n_dim, size_t hw, size_t c)
{
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    uint64_t count = 0, bad = 0;
    for (size_t k = 0; k < n_img; k++) {
        const float *plane = buf + (k * n_dim + c) * hw;
        for (size_t p = 0; p < hw; p++) {
            double v = plane[p];
            if (!isfinite(v)) {
                bad++;
                continue;
            }
            sum += v;
            count++;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    s->nonfinite += bad;
    if (!count)
        return;
    double mean = sum / (double)count, m2 = 0;
    for (size_t k = 0; k < n_img; k++) {
        const float *plane = buf + (k * n_dim + c) * hw;
        for (size_t p = 0; p < hw; p++)
            if (isfinite(plane[p]))
                m2 += ((double)plane[p] - mean) * ((double)plane[p] - mean);
    }
    double total = (double)(s->count + count), delta = mean - s->mean;
    s->mean += delta * (double)count / total;
    s->m2 += m2 + delta * delta * (double)s->count * (double)count / total;
    s->count += count;
    s->min = lo < s->min ? lo : s->min;
    s->max = hi > s->max ? hi : s->max;
}

static int channel_statistics(h5in *in, const options *opt, channel_stats **stats_out, size_t dims[4])
{
    hsize_t hd[H5IO_MAX_RANK], expect[4] = {0, 0, 0, 0};
    if (h5in_check(in, "/features", H5IO_FLOAT, 4, expect, hd))
        return error_code();
    size_t n_img = hd[0], n_dim = hd[1], hw = hd[2] * hd[3], per_image = n_dim * hw;
    for (int k = 0; k < 4; k++)
        dims[k] = hd[k];
    channel_stats *stats = calloc(n_dim ? n_dim : 1, sizeof *stats);
    size_t batch = batch_rows(per_image * sizeof(float), BATCH_BYTES, n_img);
    float *buf = malloc((batch * per_image + 1) * sizeof *buf);
    int rc = !stats || !buf ? error_set(EX_OSERR, "%s: out of memory for statistics", in->path) : 0;
    for (size_t c = 0; !rc && c < n_dim; c++)
        stats[c] = (channel_stats){.min = INFINITY, .max = -INFINITY};
    for (size_t img0 = 0; !rc && per_image && img0 < n_img; img0 += batch) {
        size_t n = min_size(batch, n_img - img0);
        if ((rc = h5in_read_rows(in, "/features", H5IO_FLOAT, img0, n, buf)))
            break;
#pragma omp parallel for schedule(dynamic, 16)
        for (size_t c = 0; c < n_dim; c++)
            stats_add(&stats[c], buf, n, n_dim, hw, c);
        cli_progress(&opt->cli, "statistics: %zu of %zu images", img0 + n, n_img);
    }
    cli_progress_end(&opt->cli);
    free(buf);
    if (rc) {
        free(stats);
        return rc;
    }
    *stats_out = stats;
    return 0;
}

/* Prints "  name  value" with continuation lines of a multi-line value
 * indented under the value's column. */
static void print_entry(const char *indent, const char *name, int width, const char *value)
{
    printf("%s%-*s  ", indent, width, name);
    int column = (int)strlen(indent) + width + 2;
    for (const char *p = value; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        printf("%.*s\n", (int)len, p);
        if (!nl || !nl[1])
            return;
        p = nl + 1;
        printf("%*s", column, "");
    }
    putchar('\n');
}

static void print_attrs(h5in *in, const char *object, const char *indent)
{
    name_list names = {0};
    if (list_attrs(in, object, &names)) {
        error_clear();
        return;
    }
    int width = 0;
    for (size_t a = 0; a < names.n; a++)
        width = (int)strlen(names.names[a]) + 1 > width ? (int)strlen(names.names[a]) + 1 : width;
    for (size_t a = 0; a < names.n; a++) {
        char *value = attr_text(in, object, names.names[a]);
        char label[300];
        snprintf(label, sizeof label, "%s%s", strcmp(object, "/") ? "@" : "", names.names[a]);
        print_entry(indent, label, width, value);
        free(value);
    }
    list_free(&names);
}

static void print_datasets(h5in *in, const name_list *datasets)
{
    int name_width = 7, type_width = 5;
    char type[32], shape[256];
    for (size_t d = 0; d < datasets->n; d++) {
        dataset_class(in, datasets->names[d], type, sizeof type);
        name_width = (int)strlen(datasets->names[d]) > name_width ? (int)strlen(datasets->names[d]) : name_width;
        type_width = (int)strlen(type) > type_width ? (int)strlen(type) : type_width;
    }
    printf("datasets:\n");
    for (size_t d = 0; d < datasets->n; d++) {
        const char *name = datasets->names[d];
        int rank;
        hsize_t dims[H5IO_MAX_RANK];
        dataset_class(in, name, type, sizeof type);
        if (h5in_shape(in, name, &rank, dims)) {
            error_clear();
            snprintf(shape, sizeof shape, "(unreadable)");
        } else {
            shape_text(shape, sizeof shape, rank, dims);
        }
        printf("  %-*s  %-*s  %s\n", name_width, name, type_width, type, shape);
        print_attrs(in, name, "      ");
    }
}

static void print_statistics(const channel_stats *stats, const size_t dims[4])
{
    uint64_t values = (uint64_t)dims[0] * dims[2] * dims[3];
    int any_bad = 0;
    for (size_t c = 0; c < dims[1]; c++)
        any_bad |= stats[c].nonfinite > 0;
    printf("\n/features per-channel statistics (%zu images x %zux%zu pixels = %llu values per channel; "
           "std with divisor n):\n", dims[0], dims[2], dims[3], (unsigned long long)values);
    printf("%8s  %15s  %15s  %15s  %15s%s\n", "channel", "mean", "std", "min", "max", any_bad ? "  nonfinite" : "");
    for (size_t c = 0; c < dims[1]; c++) {
        const channel_stats *s = &stats[c];
        double sd = s->count ? sqrt(s->m2 / (double)s->count) : NAN;
        if (!s->count)
            printf("%8zu  %15s  %15s  %15s  %15s", c, "nan", "nan", "nan", "nan");
        else
            printf("%8zu  %15.8g  %15.8g  %15.8g  %15.8g", c, s->mean, sd, s->min, s->max);
        if (any_bad)
            printf("  %9llu", (unsigned long long)s->nonfinite);
        putchar('\n');
    }
}

static int run_info(const options *opt)
{
    h5in in;
    if (h5in_open(&in, opt->info, NULL))
        return error_code();
    name_list datasets = {0}, groups = {0};
    channel_stats *stats = NULL;
    size_t dims[4] = {0};
    int rc = walk_file(&in, &datasets, &groups);
    int have_features = !rc && list_has(&datasets, "/features");
    if (!rc && have_features)
        rc = channel_statistics(&in, opt, &stats, dims);
    if (!rc) {
        char *format = attr_text(&in, "/", "format"), *version = attr_text(&in, "/", "format_version");
        printf("file:     %s\nformat:   %s, version %s\n\n", in.path, format, version);
        free(format);
        free(version);
        print_datasets(&in, &datasets);
        printf("\nroot attributes:\n");
        print_attrs(&in, "/", "  ");
        if (have_features)
            print_statistics(stats, dims);
        if (fflush(stdout))
            rc = error_set(EX_IOERR, "cannot write to stdout: %s", strerror(errno));
    }
    free(stats);
    list_free(&datasets);
    list_free(&groups);
    h5in_close(&in);
    return rc;
}

/* ============================================================ export */

static int export_rows(h5in *in, const char *name, int is_int, size_t row_elems, size_t n_rows, npy_writer *w)
{
    size_t batch = batch_rows(row_elems * 8, BATCH_BYTES, n_rows);
    size_t count = batch * row_elems + 1;
    void *wide = malloc(count * 8);    /* long long or double */
    void *narrow = malloc(count * 4);  /* int32 or float */
    int rc = !wide || !narrow ? error_set(EX_OSERR, "out of memory for a batch of '%s'", name) : 0;
    for (size_t row0 = 0; !rc && row0 < n_rows; row0 += batch) {
        size_t rows = min_size(batch, n_rows - row0), n = rows * row_elems;
        if ((rc = read_rows_as(in, name, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, row0, rows, wide)))
            break;
        for (size_t k = 0; !rc && k < n; k++) {
            if (is_int) {
                long long v = ((long long *)wide)[k];
                if (v < INT32_MIN || v > INT32_MAX)
                    rc = error_set(EX_DATAERR, "%s: dataset '%s' holds %lld (row %zu), which does not fit int32",
                                   in->path, name, v, row0 + k / row_elems);
                ((int32_t *)narrow)[k] = (int32_t)v;
            } else {
                double v = ((double *)wide)[k];
                float f = (float)v;
                if (isfinite(v) && !isfinite(f))
                    rc = error_set(EX_DATAERR, "%s: dataset '%s' holds %g (row %zu), which does not fit float32",
                                   in->path, name, v, row0 + k / row_elems);
                ((float *)narrow)[k] = f;
            }
        }
        if (!rc)
            rc = npy_write_rows(w, rows, narrow);
    }
    free(wide);
    free(narrow);
    return rc;
}

static int run_export(const options *opt)
{
    char name[1024];
    snprintf(name, sizeof name, "%s%s", opt->export_name[0] == '/' ? "" : "/", opt->export_name);
    h5in in;
    if (h5in_open(&in, opt->args[0], NULL))
        return error_code();
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    char type[32];
    int rc = h5in_shape(&in, name, &rank, dims);
    H5T_class_t cls = rc ? H5T_NO_CLASS : dataset_class(&in, name, type, sizeof type);
    if (!rc && cls != H5T_INTEGER && cls != H5T_FLOAT)
        rc = error_set(EX_DATAERR, "%s: dataset '%s' is %s, not numeric; only numeric datasets export to .npy",
                       in.path, name, type);
    npy_writer w;
    memset(&w, 0, sizeof w);
    if (!rc) {
        uint64_t shape[NPY_MAX_RANK];
        size_t row_elems = 1;
        for (int k = 0; k < rank; k++) {
            shape[k] = dims[k];
            row_elems *= k ? dims[k] : 1;
        }
        rc = npy_writer_create(&w, opt->cli.output, opt->cli.overwrite, cls == H5T_INTEGER ? NPY_I4 : NPY_F4,
                               rank, shape);
        if (!rc)
            rc = export_rows(&in, name, cls == H5T_INTEGER, row_elems, rank ? dims[0] : 1, &w) ||
                 npy_writer_commit(&w);
        if (rc)
            npy_writer_abort(&w);
    }
    h5in_close(&in);
    return rc ? error_code() : 0;
}

/* ============================================================ main */

int main(int argc, char **argv)
{
    options opt;
    memset(&opt, 0, sizeof opt);
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup(); /* .npy temporaries are in the same registry */
    int rc;
    switch (opt.modes) {
    case MODE_IMPORT: rc = run_import(&opt); break;
    case MODE_HEAD: rc = run_head(&opt); break;
    case MODE_CONCAT: rc = run_concat(&opt); break;
    case MODE_INFO: rc = run_info(&opt); break;
    default: rc = run_export(&opt); break;
    }
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
