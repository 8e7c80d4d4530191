/* learn — see learn.h. */
#include "learn.h"
#include "error.h"
#include "head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-channel mean and std over every pixel, accumulated in double. */
static void channel_stats(const learn_set *set)
{
    size_t n_img = set->ff.n_img, hw = set->data.hw;
    int n_dim = set->data.n_dim;
#pragma omp parallel for schedule(static)
    for (int d = 0; d < n_dim; d++) {
        double sum = 0, sumsq = 0;
        for (size_t n = 0; n < n_img; n++) {
            const float *plane = set->features + (n * n_dim + d) * hw;
            for (size_t p = 0; p < hw; p++)
                sum += plane[p];
        }
        double mean = sum / (double)(n_img * hw);
        for (size_t n = 0; n < n_img; n++) {
            const float *plane = set->features + (n * n_dim + d) * hw;
            for (size_t p = 0; p < hw; p++)
                sumsq += (plane[p] - mean) * (plane[p] - mean);
        }
        set->mean[d] = mean;
        set->std[d] = sqrt(sumsq / (double)(n_img * hw));
    }
}

int learn_load(learn_set *set, const char *path)
{
    memset(set, 0, sizeof *set);
    if (h5in_open(&set->in, path, H5IO_FORMAT_FEATURES))
        return error_code();
    if (features_open(&set->ff, &set->in))
        return error_code();
    size_t n_img = set->ff.n_img, n_dim = set->ff.n_dim, hw = set->ff.height * set->ff.width;
    set->features = malloc(n_img * n_dim * hw * sizeof(float));
    set->pooled = malloc(n_img * n_dim * sizeof(double));
    set->mean = malloc(n_dim * sizeof(double));
    set->std = malloc(n_dim * sizeof(double));
    if (!set->features || !set->pooled || !set->mean || !set->std)
        return error_set(EX_OSERR, "%s: out of memory holding %zu images of %zu×%zu features", path,
                         n_img, n_dim, hw);
    size_t batch = features_batch_images(&set->ff, 64u << 20);
    for (size_t img0 = 0; img0 < n_img; img0 += batch) {
        size_t n = n_img - img0 < batch ? n_img - img0 : batch;
        if (features_read_images(&set->ff, img0, n, set->features + img0 * n_dim * hw))
            return error_code();
    }
    head_pool(set->features, (int)n_img, (int)n_dim, (int)hw, set->pooled);
    set->data = (train_data){set->features, set->pooled, n_img, (int)n_dim, (int)hw};
    channel_stats(set);
    return 0;
}

void learn_free(learn_set *set)
{
    free(set->features);
    free(set->pooled);
    free(set->mean);
    free(set->std);
    h5in_close(&set->in);
    memset(set, 0, sizeof *set);
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
    size_t batch = opts->train.batch_images;
    int rc = objective_init(&obj, layout, &opts->obj, head, (int)batch, batch * set->data.hw) ||
             train_evaluate(&opts->train, &obj, &set->data, params, values);
    if (!rc)
        print_diagnostics(&opts->obj, values);
    objective_free(&obj);
    return rc ? error_code() : 0;
}

int learn_device_step(device_choice *dev, const det_layout *layout, const train_options *opts,
                      const head_params *head, const learn_set *set, device_step **out)
{
    *out = NULL;
    if (dev->kind != DEVICE_CUDA)
        return 0;
    if (!device_step_create(out, dev, layout, &opts->obj, head, &set->data, opts->train.batch_images))
        return 0;
    if (!dev->automatic || error_code() != EX_UNAVAILABLE)
        return error_code();
    error_clear();
    memset(dev, 0, sizeof *dev);
    snprintf(dev->name, sizeof dev->name, "cpu");
    return 0;
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
             (opts && trainopts_write_attrs(opts, out)) || h5out_provenance(out, &prov) ||
             h5out_commit(out);
    if (rc) {
        h5out_abort(out);
        return error_code();
    }
    if (opts) /* the run is complete: its checkpoint is no longer needed */
        remove(opts->checkpoint);
    return 0;
}
