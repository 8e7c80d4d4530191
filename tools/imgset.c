/* imgset — image sets (format eddp-images, man/man5/eddp-files.5) from IDX
 * files: class selection, a reproducible stratified train/test split, and
 * watermark poisoning with the watermark's pixels as a concept annotation
 * (the paper's chess experiment, its App. I, on Fashion-MNIST). */
#include "cli.h"
#include "error.h"
#include "h5io.h"
#include "idx.h"
#include "pngw.h"
#include "rng.h"
#include "split.h"
#include "stamp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char usage[] =
    "usage: imgset [options] IMAGES LABELS [IMAGES LABELS ...] -o IMAGESET\n"
    "An image set (eddp-images) from IDX files (gzip'd or plain), pooled in the order\n"
    "given: class selection, a stratified train/test split drawn by --seed, and\n"
    "watermark poisoning annotated as the concept /concepts/watermark.\n"
    "options:\n";

enum { PART_ALL = 0 }; /* else SPLIT_TRAIN or SPLIT_TEST */
enum { POISON_NONE, POISON_CLASS, POISON_ALL, POISON_UNION };
static const char *const poison_names[] = {"none", "class", "all", "union"};
static const char *const part_names[] = {"all", "train", "test"};

#define MAX_CLASSES 4096
#define PNG_COLUMNS 8
#define PNG_ZOOM 3
#define PNG_GAP 2
/* The poisoned images' own random stream, apart from the split's. */
#define POISON_STREAM (((uint64_t)RNG_STREAM_TRAIN << 40) | 0x9015u)

static const char *const fashion_mnist[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

typedef struct {
    cli_common cli;
    const char *classes, *class_names, *watermark, *watermark_class, *png;
    int part, poison, poison_given, scale, annotate_glyphs, fraction_given;
    split_spec spec;
    int fraction_split_given;
    double fraction;
    char **idx_paths;
    int n_pairs;
    /* resolved before any I/O */
    char **source_names;   /* [n_source] */
    int n_source;
    int *selected;         /* [n_sel] source index of new label k */
    int n_sel;
    int target;            /* new label of --watermark-class, -1 = none */
} options;

/* ------------------------------------------------------------ options */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Splits a comma-separated list into new strings (trimmed); 0 items → usage error. */
static char **split_list(const cli_common *cli, const char *option, const char *arg, int *n)
{
    char *copy = strdup(arg), *save = NULL;
    char **items = malloc((strlen(arg) + 1) * sizeof *items);
    *n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (!*t) {
            free(copy);
            cli_usage_error(cli, "%s: empty entry in '%s'", option, arg);
        }
        items[(*n)++] = strdup(t);
    }
    free(copy);
    size_t len = strlen(arg);
    if (!*n || arg[0] == ',' || arg[len - 1] == ',' || strstr(arg, ",,"))
        cli_usage_error(cli, "%s: expected a comma-separated list, got '%s'", option, arg);
    return items;
}

/* A class given by name (case-insensitive) or source index; -1 if none. */
static int find_class(const options *opt, const char *what)
{
    char *end;
    long k = strtol(what, &end, 10);
    if (end != what && !*end)
        return k >= 0 && k < opt->n_source ? (int)k : -1;
    for (int c = 0; c < opt->n_source; c++)
        if (!strcasecmp(opt->source_names[c], what))
            return c;
    return -1;
}

static void resolve_classes(options *opt)
{
    const cli_common *cli = &opt->cli;
    if (opt->class_names) {
        opt->source_names = split_list(cli, "--class-names", opt->class_names, &opt->n_source);
    } else {
        opt->n_source = 10;
        opt->source_names = malloc(10 * sizeof(char *));
        for (int c = 0; c < 10; c++)
            opt->source_names[c] = strdup(fashion_mnist[c]);
    }
    const char *classes = opt->classes ? opt->classes : "Sandal,Sneaker,Ankle boot";
    opt->selected = malloc(opt->n_source * sizeof(int));
    if (!strcasecmp(classes, "all")) {
        opt->n_sel = opt->n_source;
        for (int c = 0; c < opt->n_source; c++)
            opt->selected[c] = c;
    } else {
        int n;
        char **items = split_list(cli, "--classes", classes, &n);
        for (int k = 0; k < n; k++) {
            int c = find_class(opt, items[k]);
            if (c < 0)
                cli_usage_error(cli, "--classes: no class '%s' (classes: %s)", items[k],
                                opt->class_names ? opt->class_names : "T-shirt/top, Trouser, Pullover, Dress, Coat, "
                                                                      "Sandal, Shirt, Sneaker, Bag, Ankle boot; or 0..9");
            for (int j = 0; j < opt->n_sel; j++)
                if (opt->selected[j] == c)
                    cli_usage_error(cli, "--classes: class '%s' is listed twice", opt->source_names[c]);
            if (opt->n_sel >= opt->n_source)
                cli_usage_error(cli, "--classes: more classes than the %d source classes", opt->n_source);
            opt->selected[opt->n_sel++] = c;
        }
        for (int k = 0; k < n; k++)
            free(items[k]);
        free(items);
    }
    opt->target = -1;
    if (opt->watermark_class) {
        int c = find_class(opt, opt->watermark_class);
        for (int k = 0; k < opt->n_sel && c >= 0; k++)
            if (opt->selected[k] == c)
                opt->target = k;
        if (opt->target < 0)
            cli_usage_error(cli, "--watermark-class: '%s' is not one of the selected classes",
                            opt->watermark_class);
    }
}

static void check_combinations(options *opt)
{
    const cli_common *cli = &opt->cli;
    if (!opt->poison_given)
        opt->poison = opt->watermark ? POISON_CLASS : POISON_NONE;
    if (opt->poison != POISON_NONE && !opt->watermark)
        cli_usage_error(cli, "--poison %s needs --watermark TEXT", poison_names[opt->poison]);
    if (opt->poison == POISON_CLASS && !opt->watermark_class)
        cli_usage_error(cli, "--poison class needs --watermark-class K");
    if (opt->fraction_given && opt->poison != POISON_CLASS)
        cli_usage_error(cli, "--fraction applies to --poison class only");
    if (opt->watermark) {
        char bad = 0;
        if (!*opt->watermark)
            cli_usage_error(cli, "--watermark: empty text");
        if (!stamp_text_ok(opt->watermark, &bad))
            cli_usage_error(cli, "--watermark: the font has no glyph for '%c' (byte 0x%02x); it has A-Z 0-9 "
                            "space ! + - . / : _", isprint((unsigned char)bad) ? bad : '?', (unsigned char)bad);
    }
    if (opt->fraction_split_given && opt->spec.train_count >= 0)
        cli_usage_error(cli, "--train-fraction and --train-count exclude each other");
    if (opt->spec.test_count >= 0 && opt->spec.train_count < 0)
        cli_usage_error(cli, "--test-count needs --train-count");
    if (opt->part == PART_ALL && (opt->fraction_split_given || opt->spec.train_count >= 0))
        cli_usage_error(cli, "--split all takes every selected image: no --train-fraction or --train-count");
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "imgset", usage, argc, argv);
    opt->part = SPLIT_TRAIN;
    opt->spec = (split_spec){0.7, -1, -1};
    opt->scale = 1;
    opt->fraction = 0.5;
    const opt_row rows[] = {
        OPT_STRING("classes", &opt->classes, "LIST",
                   "classes kept, by name or source index, comma-separated,\nin the order of the new labels; "
                   "'all' (Sandal,Sneaker,\nAnkle boot)"),
        OPT_STRING("class-names", &opt->class_names, "LIST",
                   "names of the source classes 0..K-1, comma-separated\n(Fashion-MNIST's ten)"),
        OPT_CHOICE("split", &opt->part, "all|train|test", "the part written (train); all = every selected image"),
        OPT_DOUBLE("train-fraction", &opt->spec.train_fraction, 0, 1, "F", "share of each class drawn as train (0.7)",
                   .given = &opt->fraction_split_given),
        OPT_INTEGER("train-count", &opt->spec.train_count, 0, 1L << 40, "N",
                    "train images per class instead of the fraction"),
        OPT_INTEGER("test-count", &opt->spec.test_count, 0, 1L << 40, "N",
                    "test images per class (default: the rest of the class)"),
        OPT_STRING("watermark", &opt->watermark, "TEXT",
                   "stamp TEXT (A-Z 0-9 space ! + - . / : _) in a 3x5 font,\nwhite on a black box, at the "
                   "top-left corner"),
        OPT_INTEGER("watermark-scale", &opt->scale, 1, 64, "S", "image pixels per font pixel (1)"),
        OPT_CHOICE("poison", &opt->poison, "none|class|all|union",
                   "which images carry the watermark (class when\n--watermark is given, else none): class = "
                   "--fraction\nof --watermark-class's images; all = every image;\nunion = every image twice, "
                   "clean then watermarked",
                   .given = &opt->poison_given),
        OPT_STRING("watermark-class", &opt->watermark_class, "K", "the poisoned class (name or source index)"),
        OPT_DOUBLE("fraction", &opt->fraction, 0, 1, "F", "share of that class's images stamped (0.5)",
                   .given = &opt->fraction_given),
        OPT_CHOICE("annotate", &opt->annotate_glyphs, "box|glyphs",
                   "watermark pixels of the annotation: the whole box or\nthe glyphs' pixels (box)"),
        OPT_STRING("png", &opt->png, "FILE",
                   "also a PNG grid: one row per class, up to 8 images,\nwatermarked ones first"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    int n_files = argc - first;
    if (n_files < 2 || n_files % 2)
        cli_usage_error(cli, "expected pairs of IDX files IMAGES LABELS");
    opt->idx_paths = argv + first;
    opt->n_pairs = n_files / 2;
    cli_require_output(cli);
    if (opt->png && !strcmp(opt->png, "-"))
        cli_usage_error(cli, "--png: expected a file name, not stdout");
    check_combinations(opt);
    resolve_classes(opt);
}

static void options_free(options *opt)
{
    for (int c = 0; c < opt->n_source; c++)
        free(opt->source_names[c]);
    free(opt->source_names);
    free(opt->selected);
}

/* ------------------------------------------------------------ the inputs */

typedef struct {
    size_t n, h, w;        /* pooled images [n × h × w] */
    uint8_t *images;
    int32_t *labels;       /* [n] source labels */
} pool;

/* Headers of every pair: image rank 3, label rank 1, counts that agree,
 * one image size; then the watermark must fit. */
static int check_headers(const options *opt, pool *p)
{
    p->n = 0;
    for (int k = 0; k < opt->n_pairs; k++) {
        const char *ipath = opt->idx_paths[2 * k], *lpath = opt->idx_paths[2 * k + 1];
        idx_array img, lab;
        if (idx_read_header(ipath, 3, &img) || idx_read_header(lpath, 1, &lab))
            return error_code();
        if (img.dims[0] != lab.dims[0])
            return error_set(EX_DATAERR, "%s holds %zu images but %s %zu labels", ipath, img.dims[0], lpath,
                             lab.dims[0]);
        if (k == 0) {
            p->h = img.dims[1];
            p->w = img.dims[2];
        } else if (img.dims[1] != p->h || img.dims[2] != p->w) {
            return error_set(EX_DATAERR, "%s: images are %zux%zu, but %s's are %zux%zu", ipath, img.dims[1],
                             img.dims[2], opt->idx_paths[0], p->h, p->w);
        }
        p->n += img.dims[0];
    }
    if (opt->watermark) {
        size_t bh, bw;
        stamp_box_size(opt->watermark, opt->scale, &bh, &bw);
        if (bh > p->h || bw > p->w)
            return error_set(EX_USAGE, "--watermark '%s' at scale %d needs %zux%zu pixels, larger than the "
                             "%zux%zu images of %s", opt->watermark, opt->scale, bh, bw, p->h, p->w,
                             opt->idx_paths[0]);
    }
    return 0;
}

static int read_pool(const options *opt, pool *p)
{
    size_t hw = p->h * p->w, at = 0;
    p->images = malloc(p->n * hw);
    p->labels = malloc(p->n * sizeof *p->labels);
    if (!p->images || !p->labels)
        return error_set(EX_OSERR, "out of memory for %zu images", p->n);
    for (int k = 0; k < opt->n_pairs; k++) {
        const char *ipath = opt->idx_paths[2 * k], *lpath = opt->idx_paths[2 * k + 1];
        idx_array img, lab;
        if (idx_read(ipath, 3, &img))
            return error_code();
        if (idx_read(lpath, 1, &lab)) {
            idx_free(&img);
            return error_code();
        }
        int rc = 0;
        if (img.dims[0] != lab.dims[0] || img.dims[1] != p->h || img.dims[2] != p->w || at + img.dims[0] > p->n)
            rc = error_set(EX_DATAERR, "%s changed while being read", ipath);
        for (size_t i = 0; !rc && i < lab.count; i++)
            if (lab.data[i] >= opt->n_source)
                rc = error_set(EX_DATAERR, "%s: label %d of image %zu is not a class (%d class names)", lpath,
                               lab.data[i], i, opt->n_source);
        if (!rc) {
            memcpy(p->images + at * hw, img.data, img.count);
            for (size_t i = 0; i < lab.count; i++)
                p->labels[at + i] = lab.data[i];
            at += lab.count;
        }
        idx_free(&img);
        idx_free(&lab);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ the set */

typedef struct {
    size_t n, h, w;
    uint8_t *images;       /* [n × h × w], C = 1 */
    int32_t *labels;       /* [n] new labels */
    int32_t *source;       /* [n] index in the pool */
    int32_t *stamped;      /* [n] 1 = carries the watermark */
    int32_t *concept;      /* [n × h × w] 1 clean, 2 watermark; NULL without --watermark */
    size_t n_stamped;
    size_t *per_class;     /* [n_sel] images of each new class */
} selection;

/* Pool images of the part, in pool order, with their new labels. */
/* role[i]: the split image i falls in (split.c), with split.c's class index
 * in a refusal replaced by the class's name. */
static int split_roles(const options *opt, const int32_t *masked, size_t n_img, uint8_t *role)
{
    if (opt->part == PART_ALL || !split_stratified(masked, n_img, opt->n_source, opt->cli.seed, &opt->spec, role, NULL))
        return 0;
    const char *msg = error_message();
    int c;
    if (sscanf(msg, "class %d", &c) == 1 && c >= 0 && c < opt->n_source) {
        char tail[512];
        snprintf(tail, sizeof tail, "%s", strstr(msg, " has ") ? strstr(msg, " has ") : "");
        error_replace(EX_DATAERR, "class '%s'%s", opt->source_names[c], tail);
    }
    return error_code();
}

/* Copies the n_kept images of the part (twice for the union poisoning) into
 * set, relabelled 0..n_sel-1, and recounts set->per_class. */
static int copy_selected(const options *opt, const pool *p, const int32_t *masked, const int32_t *new_label,
                         const uint8_t *role, size_t n_kept, selection *set)
{
    size_t copies = opt->poison == POISON_UNION ? 2 : 1;
    size_t hw = p->h * p->w;
    set->n = n_kept * copies;
    set->h = p->h;
    set->w = p->w;
    set->images = malloc(set->n * hw);
    set->labels = malloc(set->n * sizeof(int32_t));
    set->source = malloc(set->n * sizeof(int32_t));
    set->stamped = calloc(set->n, sizeof(int32_t));
    if (!set->images || !set->labels || !set->source || !set->stamped)
        return error_set(EX_OSERR, "out of memory for %zu images", set->n);
    for (size_t copy = 0, j = 0; copy < copies; copy++)
        for (size_t i = 0; i < p->n; i++) {
            if (masked[i] < 0 || (opt->part != PART_ALL && role[i] != opt->part))
                continue;
            memcpy(set->images + j * hw, p->images + i * hw, hw);
            set->labels[j] = new_label[masked[i]];
            set->source[j] = (int32_t)i;
            j++;
        }
    for (int k = 0; k < opt->n_sel; k++)
        set->per_class[k] = 0;
    for (size_t j = 0; j < set->n; j++)
        set->per_class[set->labels[j]]++;
    return 0;
}

static int select_images(const options *opt, const pool *p, selection *set)
{
    int32_t *masked = malloc(p->n * sizeof *masked), *new_label = malloc(opt->n_source * sizeof *new_label);
    uint8_t *role = malloc(p->n);
    if (!masked || !new_label || !role) {
        free(masked); free(new_label); free(role);
        return error_set(EX_OSERR, "out of memory for %zu labels", p->n);
    }
    for (int c = 0; c < opt->n_source; c++)
        new_label[c] = -1;
    for (int k = 0; k < opt->n_sel; k++)
        new_label[opt->selected[k]] = k;
    for (size_t i = 0; i < p->n; i++)
        masked[i] = new_label[p->labels[i]] >= 0 ? p->labels[i] : -1;
    int rc = 0;
    if (!(set->per_class = error_calloc(opt->n_sel, sizeof *set->per_class, "the class counts"))) {
        free(masked); free(new_label); free(role);
        return error_code();
    }
    for (size_t i = 0; i < p->n; i++)
        if (masked[i] >= 0)
            set->per_class[new_label[masked[i]]]++;
    for (int k = 0; k < opt->n_sel && !rc; k++)
        if (!set->per_class[k])
            rc = error_set(EX_DATAERR, "class '%s' (%d) has no image in %s", opt->source_names[opt->selected[k]],
                           opt->selected[k], opt->idx_paths[1]);
    rc = rc || split_roles(opt, masked, p->n, role);
    size_t n = 0;
    for (size_t i = 0; !rc && i < p->n; i++)
        n += masked[i] >= 0 && (opt->part == PART_ALL || role[i] == opt->part);
    if (!rc && n == 0)
        rc = error_set(EX_DATAERR, "the %s split holds no image (train fraction %g)", part_names[opt->part],
                       opt->spec.train_fraction);
    rc = rc || copy_selected(opt, p, masked, new_label, role, n, set);
    free(masked); free(new_label); free(role);
    return rc ? error_code() : 0;
}

/* Which images carry the watermark. */
static int choose_stamped(const options *opt, selection *set)
{
    if (opt->poison == POISON_ALL || opt->poison == POISON_UNION)
        for (size_t j = opt->poison == POISON_UNION ? set->n / 2 : 0; j < set->n; j++)
            set->stamped[j] = 1;
    if (opt->poison == POISON_CLASS) {
        size_t *members = malloc((set->n ? set->n : 1) * sizeof *members), m = 0;
        uint8_t *chosen = calloc(set->n ? set->n : 1, 1);
        if (!members || !chosen) {
            free(members); free(chosen);
            return error_set(EX_OSERR, "out of memory choosing the watermarked images");
        }
        for (size_t j = 0; j < set->n; j++)
            if (set->labels[j] == opt->target)
                members[m++] = j;
        int rc = split_pick(members, m, split_round(opt->fraction, m), opt->cli.seed, POISON_STREAM, chosen);
        for (size_t j = 0; j < set->n; j++)
            set->stamped[j] = chosen[j];
        free(members); free(chosen);
        if (rc)
            return rc;
    }
    set->n_stamped = 0;
    for (size_t j = 0; j < set->n; j++)
        set->n_stamped += set->stamped[j];
    return 0;
}

/* Stamps the chosen images and writes the annotation of every image:
 * 2 on the watermark's pixels of a stamped image, 1 everywhere else. */
static int stamp_images(const options *opt, selection *set)
{
    if (!opt->watermark)
        return 0;
    size_t hw = set->h * set->w;
    uint8_t *mask = malloc(hw);
    set->concept = malloc(set->n * hw * sizeof *set->concept);
    if (!mask || !set->concept) {
        free(mask);
        return error_set(EX_OSERR, "out of memory for the watermark annotation of %zu images", set->n);
    }
    stamp_render(opt->watermark, opt->scale, set->h, set->w, mask);
    int covered = opt->annotate_glyphs ? 2 : 1;
    for (size_t j = 0; j < set->n; j++) {
        int32_t *map = set->concept + j * hw;
        if (set->stamped[j])
            stamp_apply(mask, 1, set->h, set->w, set->images + j * hw);
        for (size_t p = 0; p < hw; p++)
            map[p] = set->stamped[j] && mask[p] >= covered ? 2 : 1;
    }
    free(mask);
    return 0;
}

static void selection_free(selection *set)
{
    free(set->images); free(set->labels); free(set->source); free(set->stamped); free(set->concept);
    free(set->per_class);
}

/* ------------------------------------------------------------ outputs */

static int write_idx_provenance(h5out *out, const options *opt)
{
    size_t cap = 1, used = 0;
    for (int k = 0; k < 2 * opt->n_pairs; k++)
        cap += strlen(opt->idx_paths[k]) + 20;
    char *text = error_malloc(cap, "the list of sources");
    if (!text)
        return error_code();
    text[0] = '\0';
    for (int k = 0; k < 2 * opt->n_pairs; k++) {
        h5in file;
        memset(&file, 0, sizeof file);
        file.file = H5I_INVALID_HID;
        snprintf(file.path, sizeof file.path, "%s", opt->idx_paths[k]);
        if (h5in_hash(&file)) {
            free(text);
            return error_code();
        }
        used += (size_t)snprintf(text + used, cap - used, "%s\t%016llx\n", opt->idx_paths[k],
                                 (unsigned long long)file.hash);
    }
    int rc = h5out_attr_string(out, "/", "idx_inputs", text);
    free(text);
    return rc;
}

static int write_set(h5out *out, const options *opt, const selection *set)
{
    hsize_t idims[4] = {set->n, 1, set->h, set->w}, ndims[1] = {set->n}, cdims[3] = {set->n, set->h, set->w};
    const char **names = error_malloc(opt->n_sel * sizeof *names, "the class names");
    double *per_class = error_malloc(opt->n_sel * sizeof *per_class, "the class counts");
    if (!names || !per_class) {
        free(names); free(per_class);
        return error_code();
    }
    for (int k = 0; k < opt->n_sel; k++)
        names[k] = opt->source_names[opt->selected[k]];
    for (int k = 0; k < opt->n_sel; k++)
        per_class[k] = (double)set->per_class[k];
    int rc = h5out_write(out, "/images", H5IO_UINT8, 4, idims, set->images) ||
             h5out_write(out, "/labels", H5IO_INT32, 1, ndims, set->labels) ||
             h5out_write_strings(out, "/class_names", names, opt->n_sel) ||
             h5out_write(out, "/source_index", H5IO_INT32, 1, ndims, set->source) ||
             h5out_write(out, "/watermarked", H5IO_INT32, 1, ndims, set->stamped) ||
             h5out_attr_string(out, "/", "split", part_names[opt->part]) ||
             h5out_attr_string(out, "/", "poison", poison_names[opt->poison]) ||
             h5out_attr_int(out, "/", "n_watermarked", (long long)set->n_stamped) ||
             h5out_attr_doubles(out, "/", "images_per_class", per_class, opt->n_sel) ||
             write_idx_provenance(out, opt);
    if (!rc && opt->part != PART_ALL)
        rc = opt->spec.train_count >= 0
                 ? h5out_attr_int(out, "/", "train_count", opt->spec.train_count) ||
                       h5out_attr_int(out, "/", "test_count", opt->spec.test_count)
                 : h5out_attr_double(out, "/", "train_fraction", opt->spec.train_fraction);
    if (!rc && opt->target >= 0)
        rc = h5out_attr_string(out, "/", "watermark_class", names[opt->target]);
    if (!rc && opt->poison == POISON_CLASS)
        rc = h5out_attr_double(out, "/", "fraction", opt->fraction);
    if (!rc && opt->watermark) {
        size_t bh, bw;
        stamp_box_size(opt->watermark, opt->scale, &bh, &bw);
        double box[2] = {(double)bh, (double)bw};
        static const char *const labels[] = {"clean", "watermark"};
        rc = h5out_write(out, "/concepts/watermark", H5IO_INT32, 3, cdims, set->concept) ||
             h5out_attr_strings(out, "/concepts/watermark", "names", labels, 2) ||
             h5out_attr_string(out, "/", "watermark", opt->watermark) ||
             h5out_attr_int(out, "/", "watermark_scale", opt->scale) ||
             h5out_attr_doubles(out, "/", "watermark_box", box, 2) ||
             h5out_attr_string(out, "/", "annotate", opt->annotate_glyphs ? "glyphs" : "box");
    }
    free(names); free(per_class);
    return rc ? error_code() : 0;
}

/* The PNG grid: row k = class k, up to PNG_COLUMNS of its images (the
 * watermarked ones first), each enlarged PNG_ZOOM times, gray gaps. */
static int render_grid(const options *opt, const selection *set, uint8_t **png, size_t *size)
{
    size_t cell_h = set->h * PNG_ZOOM, cell_w = set->w * PNG_ZOOM, hw = set->h * set->w;
    size_t gh = opt->n_sel * (cell_h + PNG_GAP) + PNG_GAP, gw = PNG_COLUMNS * (cell_w + PNG_GAP) + PNG_GAP;
    uint8_t *grid = malloc(gh * gw);
    if (!grid)
        return error_set(EX_OSERR, "out of memory for the PNG grid");
    memset(grid, 128, gh * gw);
    for (int k = 0; k < opt->n_sel; k++) {
        size_t col = 0;
        for (int pass = 1; pass >= 0; pass--)
            for (size_t j = 0; j < set->n && col < PNG_COLUMNS; j++) {
                if (set->labels[j] != k || set->stamped[j] != pass)
                    continue;
                size_t y0 = PNG_GAP + (size_t)k * (cell_h + PNG_GAP), x0 = PNG_GAP + col * (cell_w + PNG_GAP);
                for (size_t y = 0; y < cell_h; y++)
                    for (size_t x = 0; x < cell_w; x++)
                        grid[(y0 + y) * gw + x0 + x] = set->images[j * hw + (y / PNG_ZOOM) * set->w + x / PNG_ZOOM];
                col++;
            }
    }
    int rc = pngw_encode_gray(grid, gh, gw, png, size);
    free(grid);
    return rc;
}

typedef struct {
    char temp[4200];
    int fd;
} png_out;

static int png_create(const options *opt, png_out *po)
{
    po->fd = -1;
    if (!opt->png)
        return 0;
    return h5io_create_temp(opt->png, opt->cli.overwrite, po->temp, sizeof po->temp, &po->fd);
}

/* Renders the grid into the temporary file. */
static int png_write(const options *opt, const selection *set, png_out *po)
{
    if (po->fd < 0)
        return 0;
    uint8_t *png;
    size_t size;
    if (render_grid(opt, set, &png, &size))
        return error_code();
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(po->fd, png + done, size - done);
        if (w <= 0) {
            free(png);
            return error_set(EX_IOERR, "%s: cannot write: %s", opt->png, strerror(errno));
        }
        done += (size_t)w;
    }
    free(png);
    int rc = close(po->fd);
    po->fd = -1;
    return rc ? error_set(EX_IOERR, "%s: cannot write: %s", opt->png, strerror(errno)) : 0;
}

static int png_rename(const options *opt, png_out *po)
{
    if (!po->temp[0])
        return 0;
    if (rename(po->temp, opt->png))
        return error_set(EX_IOERR, "%s: cannot write: %s", opt->png, strerror(errno));
    h5io_unregister_temp(po->temp);
    po->temp[0] = '\0';
    return 0;
}

static void png_abort(png_out *po)
{
    if (po->fd >= 0)
        close(po->fd);
    po->fd = -1;
    if (po->temp[0]) {
        unlink(po->temp);
        h5io_unregister_temp(po->temp);
        po->temp[0] = '\0';
    }
}

static void print_summary(const options *opt, const selection *set)
{
    if (opt->cli.quiet)
        return;
    fprintf(stderr, "imgset: %zu images (%s split", set->n, part_names[opt->part]);
    for (int k = 0; k < opt->n_sel; k++)
        fprintf(stderr, "%s %s %zu", k ? "," : ":", opt->source_names[opt->selected[k]], set->per_class[k]);
    fprintf(stderr, "), %zu watermarked\n", set->n_stamped);
}

static int run(const options *opt)
{
    pool p = {0};
    selection set = {0};
    h5out out;
    png_out po = {.fd = -1};
    if (check_headers(opt, &p))
        return error_code();
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_IMAGES, 1))
        return error_code();
    int rc = png_create(opt, &po);
    h5io_provenance prov = {.tool = "imgset", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads()};
    if (!rc)
        rc = read_pool(opt, &p) || select_images(opt, &p, &set) || choose_stamped(opt, &set) ||
             stamp_images(opt, &set) || write_set(&out, opt, &set) || h5out_provenance(&out, &prov) ||
             png_write(opt, &set, &po) || h5out_commit(&out) || png_rename(opt, &po);
    if (rc) {
        rc = error_code();
        png_abort(&po);
        h5out_abort(&out);
    } else {
        print_summary(opt, &set);
    }
    free(p.images);
    free(p.labels);
    selection_free(&set);
    return rc;
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    int rc = run(&opt);
    if (rc) {
        options_free(&opt);
        cli_fail(&opt.cli);
    }
    options_free(&opt);
    return 0;
}
