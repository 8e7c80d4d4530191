/* synth — the multi-concept signal–distractor generator (method-spec §1.2–1.3):
 * every pixel x_p = S α_p + D β_p + offset, α_{p,i} drawn "on" for the pixel's
 * concept and "off" otherwise, β independent of the concept.
 *
 * Stage: data. Reads the truth table (a text file); synthgen writes what
 * it generates (features.h, truth.h). */
#ifndef EDDP_SYNTH_H
#define EDDP_SYNTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_dim, n_concepts, n_distract, height, width;
    int n_classes;
    int *class_concepts;        /* [n_classes × height·width]; concept per pixel, −1 = none */
    double on_lo, on_hi;        /* α of the pixel's own concept */
    double off_lo, off_hi;      /* α of every other concept */
    double beta_lo, beta_hi;    /* β of every distractor */
    double offset;              /* added to every dimension */
    size_t per_class;           /* images per class */
    double *signals;            /* [n_concepts × n_dim] S, rows = signal directions */
    double *distractors;        /* [n_distract × n_dim] D, rows = distractor directions */
} synth_config;

/* One image of class cls, drawn from its own generator state (seed, stream,
 * image index) so that any batching or thread count gives the same data.
 * features [n_dim × hw] (CHW), concept_map [hw] (concept + 1, 0 = none),
 * alpha [n_concepts × hw], beta [n_distract × hw]. */
void synth_image(const synth_config *cfg, uint64_t seed, uint64_t stream, size_t index,
                 float *features, int32_t *concept_map, float *alpha, float *beta);
/* Class of image index (images are ordered class by class). */
int synth_class_of(const synth_config *cfg, size_t index);
/* Reads the paper's Table 6 (data/table6.tsv): S [3 × 16] and D [2 × 16]. */
int synth_read_table(const char *path, double **signals, int *n_concepts,
                     double **distractors, int *n_distract, int *n_dim);
/* Unit-norm Gaussian directions [n × n_dim] from (seed, stream). */
void synth_random_directions(uint64_t seed, uint64_t stream, int n, int n_dim, double *directions);

#endif
