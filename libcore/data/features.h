/* features — the feature-map file (format eddp-features, man/man5/eddp-files.5):
 * /features float32 [N, C, H, W], /labels int32 [N] (optional), concept maps
 * under /concepts, synthetic truth under /truth. Reading is by batches of
 * images so sets larger than memory stream.
 *
 * Stage: data, the input of every later stage. Reads eddp-features
 * files (featdump, synthgen and correct write them through h5io). */
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
/* Per-channel statistics over every pixel of a set, for the standardisation
 * of uibe (and of eddp's standardised space). Two passes over the images:
 * the sums, then the squared deviations from the mean (divisor n). Each
 * channel is accumulated in double, image after image and pixel after pixel,
 * so that a set streamed in batches of whole images gives the same bits as
 * the whole set in one call. feat is NCHW float32 [n_img × n_dim × hw];
 * both ACCUMULATE into their [n_dim] outputs (zero them first).
 * OpenMP over channels. */
void features_channel_sums(const float *feat, size_t n_img, int n_dim, size_t hw, double *sum);
void features_channel_sqdev(const float *feat, size_t n_img, int n_dim, size_t hw, const double *mean,
                            double *sumsq);
/* mean[d] = sum[d] / count and std[d] = sqrt(sumsq[d] / count), count the
 * number of pixels (N·H·W); mean may alias sum, std may alias sumsq. */
void features_channel_mean(const double *sum, int n_dim, size_t count, double *mean);
void features_channel_std(const double *sumsq, int n_dim, size_t count, double *std);

/* Images per read batch that keeps a batch near target_bytes. */
size_t features_batch_images(const features_file *ff, size_t target_bytes);

#endif
