/* learn — see learn.h. */
#include "learn.h"
#include "batch.h"
#include "batchsrc.h"
#include "overlap.h"
#include "cache.h"
#include "error.h"
#include "head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-channel mean and std over every pixel, accumulated in double (the
 * same functions cachegpu streams its source through). */
static void channel_stats(const learn_set *set)
{
    size_t n_img = set->ff.n_img, hw = set->data.hw;
    int n_dim = set->data.n_dim;
    memset(set->mean, 0, n_dim * sizeof(double));
    memset(set->std, 0, n_dim * sizeof(double));
    features_channel_sums(set->features, n_img, n_dim, hw, set->mean);
    features_channel_mean(set->mean, n_dim, n_img * hw, set->mean);
    features_channel_sqdev(set->features, n_img, n_dim, hw, set->mean, set->std);
    features_channel_std(set->std, n_dim, n_img * hw, set->std);
}

static int alloc_set(learn_set *set)
{
    size_t n_img = set->ff.n_img, n_dim = set->ff.n_dim, hw = set->ff.height * set->ff.width;
    set->features = set->streamed ? NULL : malloc(n_img * n_dim * hw * sizeof(float));
    set->pooled = malloc(n_img * n_dim * sizeof(double));
    set->mean = malloc(n_dim * sizeof(double));
    set->std = malloc(n_dim * sizeof(double));
    if ((!set->features && !set->streamed) || !set->pooled || !set->mean || !set->std)
        return error_set(EX_OSERR, "%s: out of memory holding %zu images of %zu×%zu features", set->in.path,
                         n_img, n_dim, hw);
    set->data = (train_data){set->features, set->pooled, n_img, (int)n_dim, (int)hw, NULL};
    return 0;
}

static int load_features(learn_set *set)
{
    if (features_open(&set->ff, &set->in) || alloc_set(set))
        return error_code();
    size_t n_img = set->ff.n_img, n_dim = set->ff.n_dim, hw = set->ff.height * set->ff.width;
    size_t batch = features_batch_images(&set->ff, 64u << 20);
    for (size_t img0 = 0; img0 < n_img; img0 += batch) {
        size_t n = n_img - img0 < batch ? n_img - img0 : batch;
        if (features_read_images(&set->ff, img0, n, set->features + img0 * n_dim * hw))
            return error_code();
    }
    head_pool(set->features, (int)n_img, (int)n_dim, (int)hw, set->pooled);
    channel_stats(set);
    set->value_bytes = 4;
    return 0;
}

/* A features file streamed: pooled features, mean and std from passes over
 * the file in batches of whole images (the same bits as over the whole set
 * in memory, features.h), then the batch reader. */
static int stream_features(learn_set *set)
{
    if (features_open(&set->ff, &set->in) || alloc_set(set))
        return error_code();
    size_t n_img = set->ff.n_img, n_dim = set->ff.n_dim, hw = set->ff.height * set->ff.width;
    /* batch_bytes: EDDP_BATCH_BYTES gives smaller read batches (tests: several per pass) */
    size_t batch = features_batch_images(&set->ff, batch_bytes());
    float *buf = malloc(batch * n_dim * hw * sizeof *buf);
    if (!buf)
        return error_set(EX_OSERR, "%s: out of memory for batches of %zu images", set->in.path, batch);
    memset(set->mean, 0, n_dim * sizeof(double));
    memset(set->std, 0, n_dim * sizeof(double));
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t img0 = 0; img0 < n_img && !rc; img0 += batch) {
            size_t n = n_img - img0 < batch ? n_img - img0 : batch;
            if ((rc = features_read_images(&set->ff, img0, n, buf)))
                break;
            if (pass == 0) {
                head_pool(buf, (int)n, (int)n_dim, (int)hw, set->pooled + img0 * n_dim);
                features_channel_sums(buf, n, (int)n_dim, hw, set->mean);
            } else {
                features_channel_sqdev(buf, n, (int)n_dim, hw, set->mean, set->std);
            }
        }
        if (pass == 0)
            features_channel_mean(set->mean, (int)n_dim, n_img * hw, set->mean);
    }
    free(buf);
    if (rc)
        return error_code();
    features_channel_std(set->std, (int)n_dim, n_img * hw, set->std);
    set->value_bytes = 4;
    return batchsrc_open(&set->source, &set->in, 0, n_img, n_dim, hw);
}

/* A cache holds the pixels pixel-major: read them in batches and lay them
 * out NCHW as a features file gives them; pooled, mean and std come from the
 * file (computed there from the float32 source). */
static int load_cache(learn_set *set)
{
    cache_file cf;
    if (cache_open(&cf, &set->in))
        return error_code();
    set->ff = (features_file){&set->in, cf.n_img, cf.n_dim, cf.height, cf.width};
    set->value_bytes = cf.value_bytes;
    if (alloc_set(set))
        return error_code();
    size_t n_img = cf.n_img, per_image = cf.n_dim * cf.height * cf.width;
    if (set->streamed)
        return cache_read_stats(&cf, set->pooled, set->mean, set->std) ||
               batchsrc_open(&set->source, &set->in, 1, n_img, cf.n_dim, cf.height * cf.width);
    size_t batch = features_batch_images(&set->ff, 64u << 20);
    float *rows = malloc(batch * per_image * sizeof(float));
    if (!rows)
        return error_set(EX_OSERR, "%s: out of memory for batches of %zu images", set->in.path, batch);
    int rc = 0;
    for (size_t img0 = 0; img0 < n_img && !rc; img0 += batch) {
        size_t n = n_img - img0 < batch ? n_img - img0 : batch;
        rc = cache_read_pixels(&cf, img0, n, rows);
        if (!rc)
            cache_pixels_to_nchw(rows, n, cf.n_dim, cf.height * cf.width, set->features + img0 * per_image);
    }
    free(rows);
    if (!rc)
        rc = cache_read_stats(&cf, set->pooled, set->mean, set->std);
    return rc ? error_code() : 0;
}

/* A constant channel (a dead unit of a post-ReLU layer: σ = 0) carries no
 * information; it is standardised with scale 1, so that x~ = 0 there on
 * every pixel and a filter's weight on it changes nothing. */
static void unit_scale_constant_channels(learn_set *set)
{
    set->n_constant = 0;
    for (int d = 0; d < set->data.n_dim; d++)
        if (!(set->std[d] > 0)) {
            set->std[d] = 1;
            set->n_constant++;
        }
}

int learn_load(learn_set *set, const char *path) { return learn_load_budget(set, path, 0); }

/* N, C and H·W of the open file (features or cache), for the budget. */
static int set_shape(learn_set *set, int which, size_t *n_img, size_t *n_dim, size_t *hw)
{
    if (which == 0) {
        features_file ff;
        if (features_open(&ff, &set->in))
            return error_code();
        *n_img = ff.n_img, *n_dim = ff.n_dim, *hw = ff.height * ff.width;
    } else {
        cache_file cf;
        if (cache_open(&cf, &set->in))
            return error_code();
        *n_img = cf.n_img, *n_dim = cf.n_dim, *hw = cf.height * cf.width;
    }
    return 0;
}

size_t learn_set_bytes(size_t n_img, size_t n_dim, size_t hw)
{
    return n_img * n_dim * (hw * sizeof(float) + sizeof(double));
}

int learn_load_budget(learn_set *set, const char *path, size_t memory)
{
    static const char *const formats[] = {H5IO_FORMAT_FEATURES, H5IO_FORMAT_CACHE};
    int which;
    memset(set, 0, sizeof *set);
    if (h5in_open_formats(&set->in, path, formats, 2, &which))
        return error_code();
    if (memory) {
        size_t n_img = 0, n_dim = 0, hw = 0;
        if (set_shape(set, which, &n_img, &n_dim, &hw))
            return error_code();
        set->bytes = learn_set_bytes(n_img, n_dim, hw);
        set->streamed = set->bytes > memory;
    }
    int rc = which == 0 ? (set->streamed ? stream_features(set) : load_features(set)) : load_cache(set);
    if (!rc) {
        set->data.source = set->source;
        unit_scale_constant_channels(set);
    }
    return rc;
}

void learn_note_streamed(const learn_set *set, size_t memory, const cli_common *cli)
{
    if (set->streamed && !cli->quiet)
        fprintf(stderr, "%s: %s: the training set takes %.3g GiB, more than --memory %.3g GiB: batches are read "
                        "from the file\n", cli->tool, set->in.path, set->bytes / 1073741824.0, memory / 1073741824.0);
}

void learn_note_constant(const learn_set *set, const cli_common *cli)
{
    if (set->n_constant && !cli->quiet)
        fprintf(stderr, "%s: %s: %d constant channel%s (dead units), standardised with scale 1\n", cli->tool,
                set->in.path, set->n_constant, set->n_constant == 1 ? "" : "s");
}

void learn_free(learn_set *set)
{
    free(set->features);
    free(set->pooled);
    free(set->mean);
    free(set->std);
    batchsrc_free(set->source);
    h5in_close(&set->in);
    memset(set, 0, sizeof *set);
}

void learn_note_half(const learn_set *set, const cli_common *cli)
{
    if (set->value_bytes == 2 && !cli->quiet)
        fprintf(stderr, "%s: %s stores its features at half precision (float16): training uses the rounded "
                        "pixel values (pooled features, mean and std come from the float32 source)\n",
                cli->tool, set->in.path);
}

int learn_load_head(h5in *in, const char *path, const learn_set *set, head_params *head)
{
    if (h5in_open(in, path, H5IO_FORMAT_HEAD))
        return error_code();
    return headfile_read(in, set->data.n_dim, set->in.path, head);
}

static void print_diagnostics(const objective_config *cfg, const double values[TERM_COUNT])
{
    printf("term\tvalue\tbound\tsatisfied\n");
    for (int j = 0; j < TERM_COUNT; j++) {
        if (!cfg->enabled[j])
            continue;
        if (cfg->constrained[j])
            printf("L_%s\t%.6f\t%.6g\t%s\n", term_names[j], values[j], cfg->bound[j],
                   values[j] <= cfg->bound[j] ? "yes" : "no");
        else
            printf("L_%s\t%.6f\t-\t-\n", term_names[j], values[j]);
    }
}

int learn_diagnose(const train_options *opts, const det_layout *layout, const double *params,
                   const learn_set *set, const head_params *head)
{
    objective obj = {0};
    double values[TERM_COUNT];
    int rc = objective_init_data(&obj, layout, &opts->obj, head, &set->data, opts->train.batch_images) ||
             train_evaluate(&opts->train, &obj, &set->data, params, values);
    if (!rc)
        print_diagnostics(&opts->obj, values);
    objective_free(&obj);
    return rc ? error_code() : 0;
}

/* An output learned from a cache records how the cache stored its pixels:
 * features_storage "float32" or "float16" (eddp-files(5)). */
static int note_cache_storage(h5out *out, h5in **inputs, int n_inputs)
{
    for (int k = 0; k < n_inputs; k++) {
        char *format = NULL;
        if (inputs[k]->file < 0 || H5Aexists(inputs[k]->file, "format") <= 0 ||
            h5in_attr_string(inputs[k], "/", "format", &format))
            continue;
        int is_cache = !strcmp(format, H5IO_FORMAT_CACHE);
        free(format);
        cache_file cf;
        if (is_cache && (cache_open(&cf, inputs[k]) ||
                         h5out_attr_string(out, "/", "features_storage", cf.value_bytes == 2 ? "float16" : "float32")))
            return error_code();
    }
    return 0;
}

/* Images per part when the overlap streams the set. */
#define OVERLAP_PART_IMAGES 256

int learn_overlap(const learn_set *set, const double *W, const double *b, int n_det, double *iou, double *coverage)
{
    const train_data *data = &set->data;
    if (data->features)
        return overlap_firing(data->features, data->n_img, data->n_dim, data->hw, W, b, n_det, iou, coverage)
                   ? error_set(EX_OSERR, "out of memory for the detectors' overlap")
                   : 0;
    size_t part = data->n_img < OVERLAP_PART_IMAGES ? data->n_img : OVERLAP_PART_IMAGES;
    size_t *order = error_malloc(part * sizeof *order, "the overlap's image order");
    overlap_counts counts;
    int rc = !order || overlap_counts_init(&counts, n_det) ? error_set(EX_OSERR, "out of memory for the overlap") : 0;
    for (size_t img0 = 0; !rc && img0 < data->n_img; img0 += part) {
        size_t n = data->n_img - img0 < part ? data->n_img - img0 : part;
        const float *images;
        for (size_t k = 0; k < n; k++)
            order[k] = img0 + k;
        rc = batchsrc_gather(data->source, order, n, &images) ||
                     overlap_count(&counts, images, n, data->n_dim, data->hw, W, b)
                 ? (error_code() ? error_code() : error_set(EX_OSERR, "out of memory for the overlap"))
                 : 0;
    }
    if (!rc && overlap_result(&counts, iou, coverage))
        rc = error_set(EX_SOFTWARE, "the overlap over an empty set");
    if (order)
        overlap_counts_free(&counts);
    free(order);
    return rc;
}

/* What --memory leaves for a batch's buffers beside the set (1 when
 * nothing: the leanest batches; 0 without --memory: no limit). */
static size_t batch_budget(const train_options *opts, const learn_set *set)
{
    size_t memory = opts->memory;
    return !memory ? 0 : memory > set->bytes ? memory - set->bytes : 1;
}

int learn_objective(objective *obj, device_choice *dev, const det_layout *layout, const train_options *opts,
                    const head_params *head, const learn_set *set)
{
    memset(obj, 0, sizeof *obj);
    size_t batch = opts->train.batch_images;
    device_step *step = NULL;
    if (dev->kind != DEVICE_CPU &&
        !device_step_create(&step, dev, layout, &opts->obj, head, &set->data, batch, batch_budget(opts, set)))
        return objective_init_backend(obj, layout, &opts->obj, head, device_step_backend(step));
    if (dev->kind != DEVICE_CPU) {
        if (!dev->automatic || error_code() != EX_UNAVAILABLE)
            return error_code();
        error_clear(); /* auto: the CPU does what the device refuses */
        memset(dev, 0, sizeof *dev);
        snprintf(dev->name, sizeof dev->name, "cpu");
    }
    return objective_init_data(obj, layout, &opts->obj, head, &set->data, batch);
}

int learn_finish(int rc, h5out *out, const directions *dirs, const train_history *history,
                 const train_options *opts, const cli_common *cli, h5in **inputs, int n_inputs)
{
    h5io_provenance prov = {.tool = cli->tool, .argc = cli->argc, .argv = cli->argv, .seed = cli->seed,
                            .threads = cli_threads(),
                            .device = opts && opts->train.device_name ? opts->train.device_name : "cpu", .inputs = inputs,
                            .n_inputs = n_inputs};
    if (!rc)
        rc = dirfile_write(out, dirs) || (history && dirfile_write_history(out, history)) ||
             (opts && trainopts_write_attrs(opts, out)) || note_cache_storage(out, inputs, n_inputs) ||
             h5out_provenance(out, &prov) ||
             h5out_commit(out);
    if (rc) {
        h5out_abort(out);
        return error_code();
    }
    if (opts) /* the run is complete: its checkpoint is no longer needed */
        remove(opts->checkpoint);
    return 0;
}
