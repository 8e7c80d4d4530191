/* truth — the ground truth a synthetic features file carries (synthgen's
 * /truth group and /concepts/concept map; eddp-files(5)): the true signal
 * and distractor directions, every pixel's signal values and concept, and
 * the generator's on/off ranges of α. */
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

#endif
