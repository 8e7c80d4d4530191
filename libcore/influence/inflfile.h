/* inflfile — the influence file (format eddp-influence, man/man5/eddp-files.5)
 * that rcav writes: per detector its direction's class sensitivities SC and
 * permutation p-values, its noise vectors and their sensitivities, and, in a
 * whole file, the significance mask and the Table 8 statistics. A slice
 * (rcav --shard i/n) holds the rows of detectors [det_lo, det_hi) and no
 * significance; rcav --merge joins the slices of one run.
 *
 * Stage: influence. Reads and writes eddp-influence files. */
#ifndef EDDP_INFLFILE_H
#define EDDP_INFLFILE_H

#include "h5io.h"
#include "influence.h"

#include <stdint.h>

#define H5IO_FORMAT_INFLUENCE "eddp-influence"

typedef struct {
    int n_det;            /* detectors of the whole directions file (I) */
    int det_lo, det_hi;   /* rows held: detectors [det_lo, det_hi) */
    int shard, n_shards;  /* slice shard/n_shards; n_shards 0 for a whole file */
    int n_cls, n_dim, n_noise;
    double *SC, *p;       /* [rows × K] */
    double *noise_SC;     /* [rows × N × K] sensitivities of the noise vectors */
    float *noise_S;       /* [rows × N × D] noise signal vectors (float32, as used) */
    int32_t *noise_alive; /* [rows × N] 1 estimated, 0 dead (zero vector, SC 0) */
    int32_t *sample_size; /* [rows] m: positives (= negatives) of the balanced sample */
    /* settings; slices merge only when all agree (run_key) */
    double alpha, level, pixel_scale, lr;
    int max_sample, epochs;
    uint64_t seed;
    char run_key[1024];   /* settings and the inputs' content hashes */
} influence_result;

int influence_result_alloc(influence_result *r);
void influence_result_free(influence_result *r);
static inline int influence_result_rows(const influence_result *r) { return r->det_hi - r->det_lo; }

/* Writes every dataset and setting; a whole file (n_shards 0) also gets
 * /significant, the Bonferroni threshold and the statistics (sig, st). */
int inflfile_write(h5out *out, const influence_result *r, const int32_t *significant, const influence_stats *st);
/* Reads a slice written by rcav --shard (EX_DATAERR naming the file when it
 * is a whole file or malformed). */
int inflfile_read_slice(h5in *in, influence_result *r);

#endif
