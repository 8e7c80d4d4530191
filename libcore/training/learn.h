/* learn — what uibe and eddp share around the training loop: the training
 * set held in memory with its statistics, the head, the diagnostics table,
 * and writing a directions file with history and provenance.
 *
 * Stage: training. Reads a features file (or cache) and a head file;
 * writes the directions file (dirfile.h). */
#ifndef EDDP_LEARN_H
#define EDDP_LEARN_H

#include "device.h"
#include "dirfile.h"
#include "features.h"
#include "headfile.h"
#include "train.h"
#include "trainopts.h"

typedef struct {
    h5in in;
    features_file ff;
    float *features;    /* [N × C × H·W] */
    double *pooled;     /* [N × C] */
    double *mean, *std; /* [C] over all pixels; std 1 for a constant channel */
    int n_constant;     /* constant channels (std 0 in the data) */
    int value_bytes;    /* 4; 2 for a cache storing its pixels at half precision */
    int streamed;       /* features NULL: batches come from the file (source) */
    size_t bytes;       /* learn_set_bytes of the set (0 when no budget was given) */
    struct batchsrc *source;
    train_data data;
} learn_set;

/* Reads a whole features file or cache (eddp-cache, written by cachegpu)
 * into memory, checking NaN/Inf. Either gives the same set: a float32 cache
 * gives bit-identical features, pooled features, mean and std; a half cache
 * gives its rounded pixels (value_bytes 2) with the pooled features, mean
 * and std of its float32 source. */
int learn_load(learn_set *set, const char *path);
/* The same within a memory budget (--memory; 0 = none): a set whose
 * learn_set_bytes exceed memory is not read in; its pooled features, mean
 * and std are (from passes over the file, or the cache's), and training
 * reads each batch from the file (batchsrc.h) — the same values, so the
 * same result. */
int learn_load_budget(learn_set *set, const char *path, size_t memory);
/* Bytes an in-memory set of n_img images of n_dim channels and hw pixels
 * takes: the features in float32 and the pooled features in float64. */
size_t learn_set_bytes(size_t n_img, size_t n_dim, size_t hw);
/* Says on stderr (unless --quiet) that the set is streamed. */
void learn_note_streamed(const learn_set *set, size_t memory, const cli_common *cli);
void learn_free(learn_set *set);
/* Says on stderr (unless --quiet) that the set came from a half-precision
 * cache: training sees the rounded pixel values. */
void learn_note_half(const learn_set *set, const cli_common *cli);
/* Says on stderr (unless --quiet) how many channels are constant (dead
 * units), which the standardisation scales by 1. */
void learn_note_constant(const learn_set *set, const cli_common *cli);
int learn_load_head(h5in *in, const char *path, const learn_set *set, head_params *head);

/* --diagnose: evaluates every enabled term of the detectors params describe
 * on the whole set (train_evaluate) and prints "term value bound satisfied"
 * rows as TSV. */
int learn_diagnose(const train_options *opts, const det_layout *layout, const double *params,
                   const learn_set *set, const head_params *head);

/* overlap_firing (overlap.h) of the detectors W [n_det × n_dim], b over the
 * whole set, in memory or streamed from its file in parts. */
int learn_overlap(const learn_set *set, const double *W, const double *b, int n_det, double *iou, double *coverage);

/* The objective of a training run on dev's backend: the device step (CUDA,
 * cpu float32) or the CPU in float64, over the set's images. With --device
 * auto, an objective the device refuses (EX_UNAVAILABLE: L^cnn, ...) falls
 * back to the CPU, and dev then says "cpu". objective_free frees it (also
 * after a failure). */
int learn_objective(objective *obj, device_choice *dev, const det_layout *layout, const train_options *opts,
                    const head_params *head, const learn_set *set);

/* Finishes an output: when rc is 0, writes dirs, history (may be NULL),
 * settings (opts, may be NULL) and provenance and commits, then removes the
 * training checkpoint; on any failure aborts the output. Returns the status. */
int learn_finish(int rc, h5out *out, const directions *dirs, const train_history *history,
                 const train_options *opts, const cli_common *cli, h5in **inputs, int n_inputs);

#endif
