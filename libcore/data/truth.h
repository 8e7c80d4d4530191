/* truth — the ground truth a synthetic features file carries (the /truth group,
 * the /concepts/concept map and the α ranges, eddp-files(5)): the true signal
 * and distractor directions, every pixel's signal values and concept, and
 * the generator's on/off ranges of α.
 *
 * Stage: data. synthgen writes it (truth_rows_*, truth_write_meta), regress
 * reads it (truth_read). */
#ifndef EDDP_TRUTH_H
#define EDDP_TRUTH_H

#include "features.h"
#include "h5io.h"

#include <stdint.h>

typedef struct {
    int n_con, n_dis;
    double *S;          /* [n_con × C] true signal directions */
    double *Dm;         /* [n_dis × C] distractor directions */
    float *alpha;       /* [N × n_con × H·W] signal values */
    int32_t *concept;   /* [N × H·W] concept + 1 (0: none) */
    double on_lo;       /* lower end of a present concept's α range */
    double off_hi;      /* upper end of an absent concept's α range */
} truth;

/* Reads the truth of the features file ff (opened from in), checking every
 * shape against ff. The α ranges default to the paper's preset (2.5, 2.5)
 * when the file has no alpha_on/alpha_off attributes. Returns 0, or an
 * error code with the message set (t is then freed). */
int truth_read(h5in *in, const features_file *ff, truth *t);
void truth_free(truth *t);

/* ---- the writer (synthgen) -------------------------------------------- */

/* The per-image truth, streamed in batches of images: /concepts/concept
 * int32 [N, H, W], /truth/alpha float32 [N, n_con, H, W] and /truth/beta
 * float32 [N, n_dis, H, W]. */
typedef struct {
    hid_t concept, alpha, beta;
} truth_rows;

/* Creates the three datasets in out, chunked by chunk_rows images. On
 * failure the error is set and what was created is closed. */
int truth_rows_create(truth_rows *w, h5out *out, size_t n_img, int n_con, int n_dis, size_t height,
                      size_t width, size_t chunk_rows);
/* Images [img0, img0 + n): concept [n × H·W] (concept + 1, 0: none),
 * alpha [n × n_con × H·W], beta [n × n_dis × H·W]. */
int truth_write_rows(truth_rows *w, size_t img0, size_t n, const int32_t *concept, const float *alpha,
                     const float *beta);
void truth_rows_close(truth_rows *w);

/* The per-file truth: the directions, the offset, the concept names and the
 * generator's ranges of α. */
typedef struct {
    int n_con, n_dis, n_dim;
    const double *S;                   /* [n_con × C] → /truth/S */
    const double *Dm;                  /* [n_dis × C] → /truth/D */
    double offset;                     /* → /truth/offset [C], every entry */
    const char *const *concept_names;  /* [n_con] → names of /concepts/concept */
    double alpha_on[2], alpha_off[2];  /* → root attributes alpha_on, alpha_off */
} truth_meta;

/* Writes the per-file truth (after truth_rows_create made /concepts/concept). */
int truth_write_meta(h5out *out, const truth_meta *m);

#endif
