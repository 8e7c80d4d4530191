/* h5npy — arrays between NumPy .npy files and the toolkit's HDF5 files,
 * streamed in batches of rows (batch.h), so arrays larger than memory move.
 *
 * Import: feature maps (float16/32/64, NCHW or NHWC, transposed on the way)
 * into /features float32 [N,C,H,W] chunked by images, refusing NaN/Inf;
 * labels into /labels int32 [N]; concept maps into /concepts/<name> int32
 * [N,Hm,Wm] (labels >= 0) or [N,L] (multi-hot 0/1). Export: any numeric
 * dataset to a .npy, float32 for floating point and int32 for integers,
 * refusing values that do not fit.
 *
 * `what` names the input in messages the way the user gave it, e.g.
 * "--labels" or "--concepts object": "PATH (WHAT): ...". Functions return 0
 * or a sysexits.h code described through error.h. */
#ifndef EDDP_H5NPY_H
#define EDDP_H5NPY_H

#include "h5io.h"
#include "npy.h"

#include <stddef.h>
#include <stdint.h>

/* Streaming progress: called after each batch with rows done and total. */
typedef void (*h5npy_progress)(void *ctx, size_t done, size_t total);

/* NHWC → NCHW for n images of [hw × n_dim] each (OpenMP over images). */
void h5npy_transpose_nhwc(const float *src, float *dst, size_t n, size_t hw, size_t n_dim);

/* Streams the remaining rows of r (a float array of dims N,C,H,W, stored as
 * [N,H,W,C] when nhwc) into /features of out; EX_DATAERR naming r's path and
 * the image at the first NaN or Inf. */
int h5npy_write_features(npy_reader *r, const size_t dims[4], int nhwc, h5out *out, h5npy_progress progress,
                         void *progress_ctx);

/* Labels are class indices: >= 0, and < n_classes when n_classes > 0
 * (class names from names_path, named in the message). */
int h5npy_check_labels(const char *path, const char *what, const int32_t *labels, size_t n, size_t n_classes,
                       const char *names_path);
/* Reads the n labels of r, checks them and writes /labels int32 [n]. */
int h5npy_write_labels(npy_reader *r, size_t n, size_t n_classes, const char *names_path, h5out *out);

/* Pixel maps hold concept labels >= 0 (0 = none); multi-hot rows hold 0/1.
 * buf holds n rows of per_image values, the first being row img0. */
int h5npy_check_concepts(const char *path, const char *name, const int32_t *buf, size_t n, size_t per_image,
                         size_t img0, int multi_hot);
/* Streams r (integers [N,Hm,Wm], or [N,L] multi-hot) into /concepts/<name>. */
int h5npy_write_concept(npy_reader *r, const char *name, h5out *out);

/* Opens a floating-point array of the given rank with at least one element;
 * EX_DATAERR "PATH (WHAT): shape S, expected EXPECTED" otherwise. */
int h5npy_open_float(npy_reader *r, const char *path, const char *what, int rank, const char *expected);
/* Reads the whole of r as float32 into a new buffer (free()), refusing NaN
 * and Inf (naming the element). */
int h5npy_read_all_float(npy_reader *r, const char *what, float **data);

/* Writes the numeric dataset name of in to the .npy output (path, "-" =
 * stdout; an existing file only with overwrite), float32 or int32. */
int h5npy_export(h5in *in, const char *name, const char *output, int overwrite);

#endif
