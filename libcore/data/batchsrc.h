/* batchsrc — the images of a batch streamed from the file instead of held
 * in memory (uibe/eddp --memory, man/man1/uibe.1 "MEMORY"): a features file
 * (/features NCHW) or a cache (/pixels pixel-major, float32 or float16).
 *
 * A batch is images order[0..n) of the set, delivered NCHW float32
 * [n × n_dim × hw] in the batch's order, with exactly the values an
 * in-memory load holds (the same conversions: a float16 cache is widened
 * as learn_load widens it), so that a streamed run computes on the same
 * bits as an in-memory one. The file is read in ascending image order
 * (runs of consecutive images in one read) and every value is checked for
 * NaN/Inf as it arrives. */
#ifndef EDDP_BATCHSRC_H
#define EDDP_BATCHSRC_H

#include "h5io.h"

#include <stddef.h>

typedef struct batchsrc batchsrc;

/* A source over the set of in, already opened and checked as a features
 * file (is_cache 0) or a cache (is_cache 1) of n_img images of n_dim
 * channels and hw pixels. in must outlive the source. */
int batchsrc_open(batchsrc **out, h5in *in, int is_cache, size_t n_img, size_t n_dim, size_t hw);

/* Images order[0..n) into nchw [n × n_dim × hw]. EX_DATAERR on NaN/Inf or a
 * read failure, naming the file and image; EX_SOFTWARE for an image out of
 * range. */
int batchsrc_read(batchsrc *src, const size_t *order, size_t n, float *nchw);

/* The same into the source's own buffer (grown to the largest batch asked
 * for): *images is valid until the next call or batchsrc_free. */
int batchsrc_gather(batchsrc *src, const size_t *order, size_t n, const float **images);

size_t batchsrc_images(const batchsrc *src);
void batchsrc_free(batchsrc *src);

#endif
