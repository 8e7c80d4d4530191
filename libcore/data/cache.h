/* cache — the device-ready copy of a features file (format eddp-cache,
 * man/man5/eddp-files.5) and the device memory a training run needs.
 *
 * /pixels holds [N × H·W × C] pixel-major values: each pixel's C channels
 * contiguous, the images one after another, exactly the rows of a training
 * batch X [n_pix × n_dim], so the whole set reaches a device in one copy.
 * Values are float32, or IEEE binary16 with --half (rounded to nearest
 * even by half.h; computation stays float32 or double; HDF5's 2-byte IEEE
 * type, which h5py reads as '<f2').
 * Beside them: /pooled [N × C] per-image averages, /mean and /std [C] over
 * all pixels (float64, all computed from the float32 source values, never
 * from rounded half values), /labels and /class_names when the source has
 * them, and the grid (height, width attributes).
 *
 * Stage: data, feeding training. Reads a features file, writes an
 * eddp-cache file (cachegpu) and reads it back (uibe/eddp --cache, rcav). */
#ifndef EDDP_CACHE_H
#define EDDP_CACHE_H

#include "features.h"
#include "h5io.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- writing */

typedef struct {
    int half;            /* store /pixels as binary16 */
    size_t batch_bytes;  /* source features per read batch (0: 64 MiB) */
    /* Called after each batch of pass (1: pixels, pooled and sums; 2: squared
     * deviations) with images done of total; may be NULL. */
    void (*progress)(void *ctx, int pass, size_t done, size_t total);
    void *progress_ctx;
} cache_options;

/* What cache_write found in the source. */
typedef struct {
    int has_labels;
    int n_cls;        /* classes: /class_names' count, else the largest label + 1; 0 without labels */
    double max_abs;   /* largest |x| over the source */
} cache_summary;

/* Writes the cache of the features file ff into out (created with format
 * eddp-cache; the caller adds provenance and commits). Streams the source in
 * batches of whole images, twice (the standard deviations need the mean),
 * so memory stays at a few batches whatever N. Fails with EX_DATAERR naming
 * file, image and channel on NaN/Inf and, with half, on |x| > 65504; the
 * caller aborts the output then. summary may be NULL. */
int cache_write(h5out *out, const features_file *ff, const cache_options *opt, cache_summary *summary);

/* EX_DATAERR, naming path, image (img0 + its place in the batch), channel and
 * pixel, when some |x| of the NCHW batch [n_img × n_dim × hw] exceeds
 * HALF_MAX = 65504 (binary16 would round it to 65504 or turn it into Inf). */
int cache_check_half_range(const char *path, const float *nchw, size_t n_img, size_t n_dim,
                           size_t hw, size_t img0);

/* Layout changes of a batch of whole images: NCHW [n_img × n_dim × hw] to
 * pixel-major [n_img × hw × n_dim] and back. OpenMP over images. */
void cache_nchw_to_pixels(const float *nchw, size_t n_img, size_t n_dim, size_t hw, float *pixels);
void cache_pixels_to_nchw(const float *pixels, size_t n_img, size_t n_dim, size_t hw, float *nchw);

/* ---------------------------------------------------------------- reading */

typedef struct {
    h5in *in;
    size_t n_img, n_dim, height, width;
    int value_bytes;  /* stored bytes per value of /pixels: 4 (float32) or 2 (float16) */
} cache_file;

/* Checks /pixels [N,H·W,C] (float32 or float16, N, H·W, C > 0), the height
 * and width attributes (H·W must match), /pooled [N,C], /mean and /std [C]. */
int cache_open(cache_file *cf, h5in *in);
/* Reads images [img0, img0 + n) pixel-major as float32 into buf
 * [n × hw × n_dim], rejecting NaN/Inf. */
int cache_read_pixels(const cache_file *cf, size_t img0, size_t n, float *buf);
/* pooled [N × C], mean and std [C], rejecting NaN/Inf and negative std. */
int cache_read_stats(const cache_file *cf, double *pooled, double *mean, double *std);

/* ---------------------------------------------------------------- device memory */

/* The shape of a training run on a device (uibe or eddp on the GPU
 * backend, which computes in float32). */
typedef struct {
    size_t n_img, n_dim, hw;  /* N, C, H·W */
    size_t n_det;             /* detectors */
    size_t n_cls;             /* classes of the head; 0 = not counted */
    size_t batch_images;      /* images per training batch */
    int value_bytes;          /* stored bytes per pixel value: 4 or 2 */
    int resident;             /* 1: the whole set on the device; 0: batches
                                 streamed from pinned host memory */
} cache_run;

/* Device bytes of a run, part by part (4 bytes per float32 value). */
typedef struct {
    /* held for the whole run */
    uint64_t pixels;       /* resident /pixels, N·H·W·C·value_bytes (0 when streamed) */
    uint64_t pooled;       /* resident /pooled N·C float32 (0 when streamed), /mean, /std */
    uint64_t parameters;   /* W, S [I×C] and b, margins: values, gradients, two Adam moments; head */
    uint64_t reserve;      /* cuBLAS workspace and allocator slack, CACHE_RESERVE_BYTES */
    /* per batch of B images (B·H·W pixels) */
    uint64_t staging;      /* streamed only: two batches in flight (pixels as stored + pooled rows) */
    uint64_t batch_x;      /* X [B·H·W × C] float32, gathered (and widened from half) */
    uint64_t logits;       /* A [B·H·W × I] */
    uint64_t dlogits;      /* dA [B·H·W × I] */
    uint64_t pixel_cache;  /* the pixel losses' 4 values per logit (y, 1−y, ln y, y^γ) */
    uint64_t pixel_rows;   /* their 5 values and 1 flag byte per pixel (S, ln S, H, ℓ^ma, ∂/∂H) */
    uint64_t pooled_batch; /* pooled rows of the batch and the uncertainty-region workspace:
                              6·B·C + 3·B·I + 2·B·K values */
    uint64_t resident_total; /* pixels + pooled + parameters + reserve */
    uint64_t batch_total;    /* staging + ... + pooled_batch */
    uint64_t total;
} cache_memory;

#define CACHE_RESERVE_BYTES ((uint64_t)256 << 20)

void cache_memory_estimate(const cache_run *run, cache_memory *mem);
/* The largest batch (images, at most N) whose run fits in free_bytes, the
 * rest of run unchanged; 0 when not even one image fits. */
size_t cache_max_batch(const cache_run *run, uint64_t free_bytes);

/* Whether and how a run fits in free_bytes of device memory. */
typedef enum {
    CACHE_FITS,          /* resident, with the batch asked for */
    CACHE_STREAM,        /* resident does not fit; streaming with the batch asked for does */
    CACHE_STREAM_SMALLER,/* only streaming with smaller batches (stream_batch) fits */
    CACHE_NO_FIT         /* not even one streamed image fits */
} cache_fit;

typedef struct {
    cache_fit fit;
    cache_memory resident;  /* the run with the whole set on the device */
    cache_memory streamed;  /* the same run streaming batches */
    size_t resident_batch;  /* largest batch that fits resident (0: the set itself does not) */
    size_t stream_batch;    /* largest batch that fits streamed */
} cache_plan;

/* run->resident is ignored: both ways are planned. */
void cache_plan_fit(const cache_run *run, uint64_t free_bytes, cache_plan *plan);

#endif
