/* cachegpu — prepares a features file for device-resident training: the
 * pixel-major cache (eddp-cache) uibe and eddp read like a features file,
 * and the report of the device memory a run on it needs. */
#include "batch.h"
#include "cache.h"
#include "cli.h"
#include "trainopts.h"
#include "devinfo.h"
#include "error.h"
#include "features.h"
#include "h5io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: cachegpu [options] FEATURES -o CACHE\n"
    "Write FEATURES (eddp-features) as a device-ready cache (eddp-cache): pixels\n"
    "pixel-major [N, H*W, C], per-image pooled features, per-channel mean and std;\n"
    "then report the device memory a uibe/eddp run on it needs.\n"
    "options:\n";

typedef struct {
    cli_common cli;
    int half, report;
    size_t n_det, batch;
    uint64_t device_memory; /* 0 = auto */
    const char *features;
} options;

/* "auto", or a positive number of bytes with an optional binary suffix
 * K, M, G, T (KiB..TiB; "G", "GB" and "GiB" all mean 2^30). */
static int parse_bytes(const opt_row *row, const char *arg, char *msg, size_t len)
{
    uint64_t *device_memory = row->target;
    double bytes = 0;
    if (strcmp(arg, "auto") && opts_parse_size(arg, &bytes)) {
        snprintf(msg, len, "--device-memory: expected auto or a number of bytes with an optional K, M, G "
                           "or T suffix (e.g. 80G), got '%s'", arg);
        return -1;
    }
    *device_memory = (uint64_t)bytes;
    return 0;
}

static void format_bytes(const opt_row *row, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)row->target);
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "cachegpu", usage, argc, argv);
    opt->batch = 1024; /* uibe's and eddp's --batch default */
    const opt_row rows[] = {
        OPT_FLAG("half", &opt->half,
                 "store pixels as IEEE float16 ('<f2'; computation\nstays float32/double); refuses |x| > 65504"),
        OPT_INTEGER("detectors", &opt->n_det, 1, 1 << 20, "I", "detectors of the planned run (default: C)"),
        OPT_BATCH(&opt->batch, "images per training batch of the planned run (1024)"),
        OPT_CALLBACK("device-memory", &opt->device_memory, parse_bytes, format_bytes, "BYTES|auto",
                     "device memory to plan for: a number with an optional\nK, M, G or T suffix (binary), or "
                     "auto (the free\nmemory of the --device CUDA device; default)"),
        OPT_FLAG("report", &opt->report, "the memory report on stdout instead of stderr"),
        OPT_END,
    };
    int first = cli_parse(cli, rows);
    if (argc - first != 1)
        cli_usage_error(cli, argc - first ? "expected one FEATURES file" : "no input: give FEATURES");
    opt->features = argv[first];
    cli_require_output(cli);
    if (opt->report && !strcmp(cli->output, "-"))
        cli_usage_error(cli, "--report writes to stdout, which -o - already uses");
}

/* Bytes of source features per read batch (EDDP_BATCH_BYTES overrides it, as
 * for featdump: many batches in tests). */
static void show_progress(void *ctx, int pass, size_t done, size_t total)
{
    cli_progress(ctx, "%s: %zu of %zu images", pass == 1 ? "pixels" : "standard deviations", done, total);
}

static int write_cache(const options *opt, const features_file *ff, cache_summary *summary)
{
    h5out out;
    if (h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_CACHE, 1))
        return error_code();
    cache_options copt = {.half = opt->half, .batch_bytes = batch_bytes(), .progress = show_progress,
                          .progress_ctx = (void *)&opt->cli};
    h5in *inputs[] = {ff->in};
    h5io_provenance prov = {.tool = "cachegpu", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .seed = opt->cli.seed, .threads = cli_threads(), .inputs = inputs, .n_inputs = 1};
    int rc = cache_write(&out, ff, &copt, summary) || h5out_provenance(&out, &prov) || h5out_commit(&out);
    cli_progress_end(&opt->cli);
    if (rc) {
        h5out_abort(&out);
        return error_code();
    }
    return 0;
}

/* ---------------------------------------------------------------- report */

static const char *human(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double value = (double)bytes / 1024;
    int k = 0;
    while (value >= 1024 && k < 4) {
        value /= 1024;
        k++;
    }
    snprintf(buf, size, "%.2f %s", value, units[k]);
    return buf;
}

static void row(FILE *f, const char *what, uint64_t bytes)
{
    char b[32];
    if (bytes)
        fprintf(f, "  %-34s %12s\n", what, human(bytes, b, sizeof b));
}

static void print_breakdown(FILE *f, const cache_memory *m, int resident)
{
    char b[32];
    fprintf(f, "device memory of a run, %s:\n", resident ? "the whole set resident" : "batches streamed");
    row(f, "pixels (resident)", m->pixels);
    row(f, "pooled features, mean, std", m->pooled);
    row(f, "parameters, gradients, Adam, head", m->parameters);
    row(f, "reserve (cuBLAS workspace, slack)", m->reserve);
    row(f, "staging (2 batches in flight)", m->staging);
    row(f, "batch pixels X (float32)", m->batch_x);
    row(f, "batch logits A", m->logits);
    row(f, "batch logit gradients dA", m->dlogits);
    row(f, "pixel losses, 4 per logit", m->pixel_cache);
    row(f, "pixel losses, per pixel", m->pixel_rows);
    row(f, "batch pooled rows, URA workspace", m->pooled_batch);
    fprintf(f, "  %-34s %12s\n", "total", human(m->total, b, sizeof b));
}

/* What the plan means, in a few lines. */
static void print_verdict(FILE *f, const cache_plan *plan, const cache_run *run, uint64_t free_bytes,
                          const char *where)
{
    char need[32], avail[32], part[32];
    human(free_bytes, avail, sizeof avail);
    switch (plan->fit) {
    case CACHE_FITS:
        fprintf(f, "fits: %s needed of %s free %s\n", human(plan->resident.total, need, sizeof need), avail, where);
        return;
    case CACHE_STREAM:
    case CACHE_STREAM_SMALLER:
    case CACHE_NO_FIT:
        fprintf(f, "does not fit: %s needed of %s free %s; ", human(plan->resident.total, need, sizeof need),
                avail, where);
        if (plan->resident.resident_total > free_bytes)
            fprintf(f, "the resident set alone takes %s\n", human(plan->resident.resident_total, part, sizeof part));
        else
            fprintf(f, "the batches of %zu images take %s beside the resident set (batches of up to %zu images "
                    "fit resident)\n", run->batch_images < run->n_img ? run->batch_images : run->n_img,
                    human(plan->resident.batch_total, part, sizeof part), plan->resident_batch);
        break;
    }
    human(plan->streamed.total, need, sizeof need);
    if (plan->fit == CACHE_STREAM)
        fprintf(f, "streaming batches from pinned host memory (the GPU backend's fallback) needs %s: fits\n", need);
    else if (plan->fit == CACHE_STREAM_SMALLER)
        fprintf(f, "streaming batches from pinned host memory needs %s: does not fit either; streamed batches "
                "of up to %zu images fit\n", need, plan->stream_batch);
    else
        fprintf(f, "streaming batches from pinned host memory needs %s: not even batches of one image fit\n", need);
}

static void print_report(const options *opt, const features_file *ff, const cache_summary *summary)
{
    FILE *f = opt->report ? stdout : stderr;
    if (!opt->report && opt->cli.quiet)
        return;
    size_t hw = ff->height * ff->width;
    cache_run run = {.n_img = ff->n_img, .n_dim = ff->n_dim, .hw = hw,
                     .n_det = opt->n_det ? opt->n_det : ff->n_dim, .n_cls = (size_t)summary->n_cls,
                     .batch_images = opt->batch, .value_bytes = opt->half ? 2 : 4, .resident = 1};
    char b[32], where[128], why[512] = "";
    fprintf(f, "cachegpu: %s: %zu images of %zu×%zu pixels × %zu channels, %s storage (%s of pixels)",
            opt->cli.output, ff->n_img, ff->height, ff->width, ff->n_dim, opt->half ? "float16" : "float32",
            human((uint64_t)ff->n_img * hw * ff->n_dim * (size_t)run.value_bytes, b, sizeof b));
    if (opt->half)
        fprintf(f, "; largest |x| %.6g (float16 rounds by at most 2^-11 relative from 6.1e-5 up)", summary->max_abs);
    fprintf(f, "\nplanned run: %zu detectors, %zu classes, batches of %zu images, float32 on the device\n",
            run.n_det, run.n_cls, opt->batch);
    uint64_t free_bytes = opt->device_memory;
    if (!free_bytes) {
        size_t dev_free = 0, dev_total = 0;
        int ordinal = device_cuda_ordinal(opt->cli.device);
        if (ordinal < 0)
            snprintf(why, sizeof why, "--device %s names no CUDA device", opt->cli.device);
        else if (device_free_memory(ordinal, &dev_free, &dev_total))
            snprintf(why, sizeof why, "%s", error_message());
        error_clear();
        if (!why[0]) {
            free_bytes = dev_free;
            snprintf(where, sizeof where, "on cuda:%d (%s total)", ordinal, human(dev_total, b, sizeof b));
        }
    } else {
        snprintf(where, sizeof where, "(--device-memory)");
    }
    cache_plan plan;
    cache_plan_fit(&run, free_bytes, &plan);
    print_breakdown(f, &plan.resident, 1);
    if (!free_bytes) {
        char need[32];
        fprintf(f, "device: %s\nno CUDA device here; a run needs %s (%s with batches streamed)\n", why,
                human(plan.resident.total, need, sizeof need), human(plan.streamed.total, b, sizeof b));
        return;
    }
    if (plan.fit != CACHE_FITS)
        print_breakdown(f, &plan.streamed, 0);
    print_verdict(f, &plan, &run, free_bytes, where);
}

int main(int argc, char **argv)
{
    options opt = {0};
    parse(&opt, argc, argv);
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup();
    h5in in;
    features_file ff;
    if (h5in_open(&in, opt.features, H5IO_FORMAT_FEATURES))
        cli_fail(&opt.cli);
    cache_summary summary;
    if (features_open(&ff, &in) || write_cache(&opt, &ff, &summary))
        cli_fail(&opt.cli);
    print_report(&opt, &ff, &summary);
    h5in_close(&in);
    return 0;
}
