/* features — the feature-map file (format eddp-features, man/man5/eddp-files.5):
 * /features float32 [N, C, H, W], /labels int32 [N] (optional), concept maps
 * under /concepts, synthetic truth under /truth. Reading is by batches of
 * images so sets larger than memory stream. */
#ifndef EDDP_FEATURES_H
#define EDDP_FEATURES_H

#include "h5io.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    h5in *in;
    size_t n_img, n_dim, height, width; /* N, C, H, W */
} features_file;

/* Checks /features (rank 4, floating point, N > 0). */
int features_open(features_file *ff, h5in *in);
/* Reads images [img0, img0 + n) NCHW into buf, rejecting NaN/Inf. */
int features_read_images(const features_file *ff, size_t img0, size_t n, float *buf);
/* EX_DATAERR when buf [n_img × per_image] holds NaN or Inf, naming path,
 * what ("dataset '/features'") and the image as img0 + its place in buf. */
int features_check_finite(const char *path, const char *what, const float *buf, size_t n_img,
                          size_t per_image, size_t img0);
/* /labels int32 [N], values in [0, n_cls) when n_cls > 0. */
int features_check_labels(const features_file *ff, const int32_t *labels, int n_cls);
int features_read_labels(const features_file *ff, int32_t **labels, int n_cls);
/* Per-image average over H×W for all images, streamed in batches: pooled
 * [N × C] double. */
int features_pool_all(const features_file *ff, double *pooled);
/* Images per read batch that keeps a batch near target_bytes. */
size_t features_batch_images(const features_file *ff, size_t target_bytes);

#endif
