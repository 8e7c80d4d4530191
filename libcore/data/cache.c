/* cache — see cache.h. */
#include "cache.h"
#include "error.h"
#include "half.h"
#include "head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ layout */

void cache_nchw_to_pixels(const float *nchw, size_t n_img, size_t n_dim, size_t hw, float *pixels)
{
    size_t per_image = n_dim * hw;
#pragma omp parallel for schedule(static) if (n_img > 1)
    for (size_t n = 0; n < n_img; n++) {
        const float *src = nchw + n * per_image;
        float *dst = pixels + n * per_image;
        for (size_t d = 0; d < n_dim; d++)
            for (size_t p = 0; p < hw; p++)
                dst[p * n_dim + d] = src[d * hw + p];
    }
}

void cache_pixels_to_nchw(const float *pixels, size_t n_img, size_t n_dim, size_t hw, float *nchw)
{
    size_t per_image = n_dim * hw;
#pragma omp parallel for schedule(static) if (n_img > 1)
    for (size_t n = 0; n < n_img; n++) {
        const float *src = pixels + n * per_image;
        float *dst = nchw + n * per_image;
        for (size_t p = 0; p < hw; p++)
            for (size_t d = 0; d < n_dim; d++)
                dst[d * hw + p] = src[p * n_dim + d];
    }
}

/* ------------------------------------------------------------ writing */

int cache_check_half_range(const char *path, const float *nchw, size_t n_img, size_t n_dim,
                           size_t hw, size_t img0)
{
    size_t count = n_img * n_dim * hw, first_bad = count;
#pragma omp parallel for reduction(min : first_bad) schedule(static)
    for (size_t k = 0; k < count; k++)
        if (fabsf(nchw[k]) > HALF_MAX && k < first_bad)
            first_bad = k;
    if (first_bad == count)
        return 0;
    size_t per_image = n_dim * hw, within = first_bad % per_image;
    return error_set(EX_DATAERR,
                     "%s: dataset '/features' holds %g at image %zu, channel %zu (pixel %zu), beyond "
                     "float16's range (|x| <= 65504); --half cannot store it, keep float32 storage",
                     path, (double)nchw[first_bad], img0 + first_bad / per_image, within / hw, within % hw);
}

static double max_abs_of(const float *x, size_t count)
{
    float best = 0.0f;
#pragma omp parallel for reduction(max : best) schedule(static)
    for (size_t k = 0; k < count; k++)
        best = fabsf(x[k]) > best ? fabsf(x[k]) : best;
    return best;
}

/* The datasets written batch by batch, and the read buffers. */
typedef struct {
    hid_t pixels, pooled;
    float *source;       /* [batch × C × H·W] NCHW as read */
    float *rows;         /* [batch × H·W × C] pixel-major */
    uint16_t *halves;    /* the rows as binary16 (half storage only) */
    double *pooled_rows; /* [batch × C] */
    size_t batch;        /* images per read, a multiple of the /pixels chunk */
} writer;

static void writer_free(writer *w)
{
    if (w->pixels > 0)
        H5Dclose(w->pixels);
    if (w->pooled > 0)
        H5Dclose(w->pooled);
    free(w->source);
    free(w->rows);
    free(w->halves);
    free(w->pooled_rows);
}

/* Chunks of /pixels are whole images, about 1 MiB (less for smaller read
 * batches); a read batch is a whole number of chunks so that no chunk is
 * written twice. */
static int writer_init(writer *w, h5out *out, const features_file *ff, const cache_options *opt)
{
    size_t n_img = ff->n_img, n_dim = ff->n_dim, hw = ff->height * ff->width;
    size_t stored = n_dim * hw * (opt->half ? 2 : 4), batch_bytes = opt->batch_bytes ? opt->batch_bytes : (64u << 20);
    size_t chunk_bytes = batch_bytes < (1u << 20) ? batch_bytes : (1u << 20);
    size_t chunk = chunk_bytes / stored ? chunk_bytes / stored : 1;
    chunk = chunk < n_img ? chunk : n_img;
    size_t batch = features_batch_images(ff, batch_bytes);
    batch = batch < chunk ? chunk : batch / chunk * chunk;
    w->batch = batch < n_img ? batch : n_img;
    hsize_t pdims[3] = {n_img, hw, n_dim}, mdims[2] = {n_img, n_dim};
    size_t pooled_chunk = (1u << 20) / (n_dim * sizeof(double));
    if (h5out_create_dataset(out, "/pixels", opt->half ? H5IO_HALF_BITS : H5IO_FLOAT, 3, pdims, chunk, &w->pixels) ||
        h5out_create_dataset(out, "/pooled", H5IO_DOUBLE, 2, mdims, pooled_chunk ? pooled_chunk : 1, &w->pooled))
        return error_code();
    w->source = malloc(w->batch * n_dim * hw * sizeof(float));
    w->rows = malloc(w->batch * n_dim * hw * sizeof(float));
    w->pooled_rows = malloc(w->batch * n_dim * sizeof(double));
    w->halves = opt->half ? malloc(w->batch * n_dim * hw * sizeof(uint16_t)) : NULL;
    if (!w->source || !w->rows || !w->pooled_rows || (opt->half && !w->halves))
        return error_set(EX_OSERR, "%s: out of memory for batches of %zu images", out->final_path, w->batch);
    return 0;
}

static void report(const cache_options *opt, int pass, size_t done, size_t total)
{
    if (opt->progress)
        opt->progress(opt->progress_ctx, pass, done, total);
}

/* Pass 1: every batch is checked, pooled, summed per channel and written
 * pixel-major. */
static int write_pixels(writer *w, const features_file *ff, const cache_options *opt, double *sum,
                        double *max_abs)
{
    size_t n_img = ff->n_img, n_dim = ff->n_dim, hw = ff->height * ff->width;
    for (size_t img0 = 0; img0 < n_img; img0 += w->batch) {
        size_t n = n_img - img0 < w->batch ? n_img - img0 : w->batch;
        if (features_read_images(ff, img0, n, w->source) ||
            (opt->half && cache_check_half_range(ff->in->path, w->source, n, n_dim, hw, img0)))
            return error_code();
        double batch_max = max_abs_of(w->source, n * n_dim * hw);
        *max_abs = batch_max > *max_abs ? batch_max : *max_abs;
        head_pool(w->source, (int)n, (int)n_dim, (int)hw, w->pooled_rows);
        features_channel_sums(w->source, n, (int)n_dim, hw, sum);
        cache_nchw_to_pixels(w->source, n, n_dim, hw, w->rows);
        if (opt->half)
            half_from_floats(w->rows, n * n_dim * hw, w->halves);
        if ((opt->half ? h5out_write_rows(w->pixels, "/pixels", H5IO_HALF_BITS, img0, n, w->halves)
                       : h5out_write_rows(w->pixels, "/pixels", H5IO_FLOAT, img0, n, w->rows)) ||
            h5out_write_rows(w->pooled, "/pooled", H5IO_DOUBLE, img0, n, w->pooled_rows))
            return error_code();
        report(opt, 1, img0 + n, n_img);
    }
    return 0;
}

/* Pass 2: the squared deviations from the mean, as learn_load sums them. */
static int sum_sqdev(writer *w, const features_file *ff, const cache_options *opt, const double *mean,
                     double *sumsq)
{
    size_t n_img = ff->n_img, n_dim = ff->n_dim, hw = ff->height * ff->width;
    for (size_t img0 = 0; img0 < n_img; img0 += w->batch) {
        size_t n = n_img - img0 < w->batch ? n_img - img0 : w->batch;
        if (features_read_images(ff, img0, n, w->source))
            return error_code();
        features_channel_sqdev(w->source, n, (int)n_dim, hw, mean, sumsq);
        report(opt, 2, img0 + n, n_img);
    }
    return 0;
}

/* /labels and /class_names as the source has them; the class count. */
static int copy_labels(h5out *out, const features_file *ff, cache_summary *summary)
{
    h5in *in = ff->in;
    char **names = NULL;
    size_t n_names = 0;
    int rc = 0;
    if (h5in_exists(in, "/class_names"))
        rc = h5in_strings(in, "/class_names", &names, &n_names) ||
             h5out_write_strings(out, "/class_names", (const char *const *)names, n_names);
    if (!rc && h5in_exists(in, "/labels")) {
        int32_t *labels = NULL;
        hsize_t dims[1] = {ff->n_img};
        rc = features_read_labels(ff, &labels, (int)n_names) ||
             h5out_write(out, "/labels", H5IO_INT32, 1, dims, labels);
        int32_t top = -1;
        for (size_t k = 0; !rc && k < ff->n_img; k++)
            top = labels[k] > top ? labels[k] : top;
        summary->has_labels = !rc;
        summary->n_cls = n_names ? (int)n_names : top + 1;
        free(labels);
    }
    if (!rc && summary->has_labels)
        rc = h5out_attr_int(out, "/", "n_classes", summary->n_cls);
    h5io_free_strings(names, n_names);
    return rc ? error_code() : 0;
}

int cache_write(h5out *out, const features_file *ff, const cache_options *opt, cache_summary *summary)
{
    cache_summary local;
    summary = summary ? summary : &local;
    memset(summary, 0, sizeof *summary);
    size_t n_dim = ff->n_dim, count = ff->n_img * ff->height * ff->width;
    writer w = {.pixels = H5I_INVALID_HID, .pooled = H5I_INVALID_HID};
    double *sum = calloc(n_dim, sizeof(double)), *sumsq = calloc(n_dim, sizeof(double));
    int rc = (!sum || !sumsq) ? error_set(EX_OSERR, "%s: out of memory", out->final_path) : 0;
    rc = rc || writer_init(&w, out, ff, opt) || write_pixels(&w, ff, opt, sum, &summary->max_abs);
    if (!rc) {
        features_channel_mean(sum, (int)n_dim, count, sum); /* sum now holds the mean */
        rc = sum_sqdev(&w, ff, opt, sum, sumsq);
    }
    if (!rc) {
        features_channel_std(sumsq, (int)n_dim, count, sumsq); /* sumsq now holds the std */
        hsize_t dim[1] = {n_dim};
        rc = h5out_write(out, "/mean", H5IO_DOUBLE, 1, dim, sum) ||
             h5out_write(out, "/std", H5IO_DOUBLE, 1, dim, sumsq) || copy_labels(out, ff, summary) ||
             h5out_attr_int(out, "/", "height", (long long)ff->height) ||
             h5out_attr_int(out, "/", "width", (long long)ff->width) ||
             h5out_attr_string(out, "/", "storage", opt->half ? "float16" : "float32") ||
             h5out_attr_string(out, "/", "source", ff->in->path);
    }
    writer_free(&w);
    free(sum);
    free(sumsq);
    return rc ? error_code() : 0;
}

/* ------------------------------------------------------------ reading */

static int stored_value_bytes(h5in *in, const char *name, int *bytes)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    hid_t type = dset < 0 ? H5I_INVALID_HID : H5Dget_type(dset);
    *bytes = type < 0 ? 0 : (int)H5Tget_size(type);
    if (type >= 0)
        H5Tclose(type);
    if (dset >= 0)
        H5Dclose(dset);
    if (*bytes != 2 && *bytes != 4)
        return error_set(EX_DATAERR, "%s: dataset '%s' holds %d-byte values, expected float32 or float16",
                         in->path, name, *bytes);
    return 0;
}

int cache_open(cache_file *cf, h5in *in)
{
    hsize_t dims[H5IO_MAX_RANK], any3[3] = {0, 0, 0};
    long long height = 0, width = 0;
    memset(cf, 0, sizeof *cf);
    cf->in = in;
    if (h5in_check(in, "/pixels", H5IO_FLOAT, 3, any3, dims) || stored_value_bytes(in, "/pixels", &cf->value_bytes))
        return error_code();
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0)
        return error_set(EX_DATAERR, "%s: dataset '/pixels' is empty (shape [%llu,%llu,%llu])", in->path,
                         (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2]);
    if (h5in_attr_int(in, "/", "height", &height) || h5in_attr_int(in, "/", "width", &width))
        return error_code();
    if (height < 1 || width < 1 || (hsize_t)(height * width) != dims[1])
        return error_set(EX_DATAERR, "%s: attributes height %lld and width %lld do not match the %llu pixels "
                         "per image of '/pixels'", in->path, height, width, (unsigned long long)dims[1]);
    cf->n_img = dims[0];
    cf->n_dim = dims[2];
    cf->height = (size_t)height;
    cf->width = (size_t)width;
    hsize_t pooled[2] = {cf->n_img, cf->n_dim}, channels[1] = {cf->n_dim};
    if (h5in_check(in, "/pooled", H5IO_DOUBLE, 2, pooled, dims) ||
        h5in_check(in, "/mean", H5IO_DOUBLE, 1, channels, dims) ||
        h5in_check(in, "/std", H5IO_DOUBLE, 1, channels, dims))
        return error_code();
    return 0;
}

/* Half storage: the bits, widened here (HDF5's own conversion is slow). */
static int read_half_pixels(const cache_file *cf, size_t img0, size_t n, float *buf)
{
    size_t count = n * cf->n_dim * cf->height * cf->width;
    uint16_t *halves = malloc(count * sizeof *halves);
    if (!halves)
        return error_set(EX_OSERR, "%s: out of memory reading '/pixels'", cf->in->path);
    int rc = h5in_read_rows(cf->in, "/pixels", H5IO_HALF_BITS, img0, n, halves);
    if (!rc)
        half_to_floats(halves, count, buf);
    free(halves);
    return rc;
}

int cache_read_pixels(const cache_file *cf, size_t img0, size_t n, float *buf)
{
    if (cf->value_bytes == 2 ? read_half_pixels(cf, img0, n, buf)
                             : h5in_read_rows(cf->in, "/pixels", H5IO_FLOAT, img0, n, buf))
        return error_code();
    size_t count = n * cf->n_dim * cf->height * cf->width;
    if (!h5io_check_finite(cf->in->path, "/pixels", buf, count, 0))
        return 0;
    /* Name the image, pixel and channel (a serial scan, on the failure path only). */
    size_t bad = 0, per_image = count / n;
    while (bad < count && isfinite(buf[bad]))
        bad++;
    return error_replace(EX_DATAERR, "%s: dataset '/pixels' holds %s at image %zu, pixel %zu, channel %zu",
                         cf->in->path, isnan(buf[bad]) ? "NaN" : "Inf", img0 + bad / per_image,
                         bad % per_image / cf->n_dim, bad % cf->n_dim);
}

/* EX_DATAERR naming the first non-finite (or, with nonneg, negative) value. */
static int check_doubles(const char *path, const char *name, const double *x, size_t n, int nonneg)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]) || (nonneg && x[k] < 0))
            return error_set(EX_DATAERR, "%s: dataset '%s' holds %g at element %zu, expected a finite%s value",
                             path, name, x[k], k, nonneg ? " non-negative" : "");
    return 0;
}

int cache_read_stats(const cache_file *cf, double *pooled, double *mean, double *std)
{
    const char *path = cf->in->path;
    if (h5in_read_rows(cf->in, "/pooled", H5IO_DOUBLE, 0, cf->n_img, pooled) ||
        h5in_read_rows(cf->in, "/mean", H5IO_DOUBLE, 0, cf->n_dim, mean) ||
        h5in_read_rows(cf->in, "/std", H5IO_DOUBLE, 0, cf->n_dim, std) ||
        check_doubles(path, "/pooled", pooled, cf->n_img * cf->n_dim, 0) ||
        check_doubles(path, "/mean", mean, cf->n_dim, 0) || check_doubles(path, "/std", std, cf->n_dim, 1))
        return error_code();
    return 0;
}

/* ------------------------------------------------------------ device memory */

void cache_memory_estimate(const cache_run *run, cache_memory *mem)
{
    const uint64_t f32 = 4;
    uint64_t n_img = run->n_img, n_dim = run->n_dim, hw = run->hw, n_det = run->n_det, n_cls = run->n_cls;
    uint64_t batch = run->batch_images < run->n_img ? run->batch_images : run->n_img;
    uint64_t vb = (uint64_t)run->value_bytes, pix = batch * hw, logits = pix * n_det;
    memset(mem, 0, sizeof *mem);
    if (run->resident) {
        mem->pixels = n_img * hw * n_dim * vb;
        mem->pooled = n_img * n_dim * f32;
    } else {
        mem->staging = 2 * (pix * n_dim * vb + batch * n_dim * f32);
    }
    mem->pooled += 2 * n_dim * f32;
    /* W and S, b and margins: value, gradient, two Adam moments; the
     * effective filters and unit directions; the head. */
    mem->parameters = (4 * (2 * n_det * n_dim + 2 * n_det) + 2 * n_det * n_dim + n_cls * n_dim + n_cls) * f32;
    mem->reserve = CACHE_RESERVE_BYTES;
    mem->batch_x = pix * n_dim * f32;
    mem->logits = logits * f32;
    mem->dlogits = logits * f32;
    mem->pixel_cache = 4 * logits * f32;
    mem->pixel_rows = 5 * pix * f32 + pix;
    mem->pooled_batch = (6 * batch * n_dim + 3 * batch * n_det + 2 * batch * n_cls) * f32;
    mem->resident_total = mem->pixels + mem->pooled + mem->parameters + mem->reserve;
    mem->batch_total = mem->staging + mem->batch_x + mem->logits + mem->dlogits + mem->pixel_cache +
                       mem->pixel_rows + mem->pooled_batch;
    mem->total = mem->resident_total + mem->batch_total;
}

size_t cache_max_batch(const cache_run *run, uint64_t free_bytes)
{
    cache_run trial = *run;
    cache_memory mem;
    size_t lo = 0, hi = run->n_img; /* the answer lies in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        trial.batch_images = mid;
        cache_memory_estimate(&trial, &mem);
        if (mem.total <= free_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void cache_plan_fit(const cache_run *run, uint64_t free_bytes, cache_plan *plan)
{
    cache_run resident = *run, streamed = *run;
    resident.resident = 1;
    streamed.resident = 0;
    memset(plan, 0, sizeof *plan);
    cache_memory_estimate(&resident, &plan->resident);
    cache_memory_estimate(&streamed, &plan->streamed);
    plan->resident_batch = cache_max_batch(&resident, free_bytes);
    plan->stream_batch = cache_max_batch(&streamed, free_bytes);
    if (plan->resident.total <= free_bytes)
        plan->fit = CACHE_FITS;
    else if (plan->streamed.total <= free_bytes)
        plan->fit = CACHE_STREAM;
    else if (plan->stream_batch > 0)
        plan->fit = CACHE_STREAM_SMALLER;
    else
        plan->fit = CACHE_NO_FIT;
}
