/* influence — RCAV influence testing (method-spec §6.4, §6.5): class
 * sensitivities SC of concept directions by the closed form of a global
 * average pooling + linear + softmax head, permutation p-values, Bonferroni
 * significance, the paper's Table 8 statistics and S³.
 *
 * Closed form. RCAV perturbs the feature map X [H×W×D] by αV, V the direction
 * v replicated over the H·W pixels and normalised as one tensor (RCAV's code:
 * ‖V‖ = ‖v‖·√(HW)), so every pixel moves by α v/(‖v‖√(HW)) and so does the
 * pooled vector; every image's logits move by the same
 *     δ = α/(‖v‖√(HW)) · W_head v                                   [K].
 * With q = softmax(ℓ) of an image's unperturbed logits, for its class k
 *     p_k(ℓ + δ) ≥ p_k(ℓ)  ⇔  Σ_j q_j e^{δ_j} ≤ e^{δ_k}
 *                          ⇔  Σ_j q_j expm1(δ_j − c) ≤ expm1(δ_k − c)
 * for any shift c (Σ_j q_j = 1): one product of the images' probabilities
 * [n_img × K] with the directions' expm1 values [K × n_dir], no feature map
 * re-pooled per direction. expm1 keeps δ = 0 an exact tie (both sides 0)
 * and small shifts free of the cancellation of e^δ − 1; c = 0 unless some δ
 * exceeds INFLUENCE_EXP_LIMIT, where c = max δ keeps e^{δ−c} finite.
 *
 * SC = 2·frac − 1, frac = share of class-k images with p_k not decreased
 * ("≥", for real and noise directions alike). A zero direction (‖v‖ = 0:
 * a dead detector's or dead noise vector) perturbs nothing and gets SC = 0.
 *
 * Layout: row-major double; directions V [n_dir × n_dim]; SC [n_dir × n_cls].
 *
 * Stage: influence. In memory only, no files. */
#ifndef EDDP_INFLUENCE_H
#define EDDP_INFLUENCE_H

#include <stddef.h>
#include <stdint.h>

#define INFLUENCE_EXP_LIMIT 700.0
/* Images per product block: the scratch of one call stays near
 * INFLUENCE_IMAGE_BLOCK × n_dir doubles whatever the evaluation set. */
#define INFLUENCE_IMAGE_BLOCK 4096

/* The evaluation images, ready for the closed form. */
typedef struct {
    size_t n_img;
    int n_cls;
    double *probs;        /* [n_img × n_cls] softmax of the unperturbed logits */
    int32_t *labels;      /* [n_img] class of each image, in [0, n_cls) */
    size_t *class_count;  /* [n_cls] images per class */
} influence_eval;

/* From logits [n_img × n_cls] and labels; 0 ok, -1 out of memory. Labels
 * must lie in [0, n_cls) (checked by the caller). */
int influence_eval_init(influence_eval *ev, const double *logits, const int32_t *labels, size_t n_img,
                        int n_cls);
void influence_eval_free(influence_eval *ev);
/* The first class with no image, or -1 when every class has one. */
int influence_eval_empty_class(const influence_eval *ev);

/* δ [n_cls] = step · pixel_scale/‖v‖ · weight v; weight [n_cls × n_dim] is
 * the head's. pixel_scale = 1/√(HW) (tensor normalisation). Returns 0, or
 * 1 when v is zero (δ = 0). */
int influence_logit_shift(const double *weight, int n_cls, int n_dim, const double *v, double step,
                          double pixel_scale, double *delta);

/* SC [n_dir × n_cls] of directions V [n_dir × n_dim] by the closed form.
 * Single-threaded BLAS inside an OpenMP region (OpenBLAS runs one thread
 * there), so callers parallelise over calls; the result of a direction does
 * not depend on the other directions of the call, the block size of
 * images being fixed. 0 ok, -1 out of memory. */
int influence_sensitivity(const influence_eval *ev, const double *weight, int n_dim, const double *V,
                          size_t n_dir, double step, double pixel_scale, double *SC);

/* p[k] = (1/n) Σ_n 𝟙[|SC_noise[n,k]| ≥ |SC[k]|] over the n noise vectors
 * with alive[n] ≠ 0 (alive NULL: all) — RCAV's two-sided count after
 * rescaling to [−1, 1]; SC [n_cls], SC_noise [n_noise × n_cls]. A dead
 * noise vector (zero) is no draw from the null and is left out; p = NaN
 * (never significant) when no noise vector is alive. */
void influence_pvalues(const double *SC, const double *SC_noise, const int *alive, int n_noise, int n_cls,
                       double *p);

/* Bonferroni threshold level/(n_tests). */
double influence_threshold(double level, size_t n_tests);

/* Table 8 [P]: SC masked to 0 where not significant. */
typedef struct {
    long sdc;              /* directions with ≥ 1 significant class */
    long scdp;             /* significant (direction, class) pairs */
    long dir_pos, dir_neg; /* directions with some positive / negative influence */
    double pos_per_class, neg_per_class; /* (1/K) Σ 𝟙(SC>0), 𝟙(SC<0) */
    long min_pos, max_pos; /* min/max over directions of # positively influenced classes */
    long min_neg, max_neg;
    long cls_pos, cls_neg; /* classes with ≥ 1 positively / negatively impactful direction */
} influence_stats;

/* SC, significant [n_det × n_cls] (significant: 0/1). 0 ok, -1 out of memory. */
int influence_statistics(const double *SC, const int32_t *significant, int n_det, int n_cls,
                         influence_stats *st);

/* S³ (§6.5). label [n_det]: detector j's concept label (< 0: none);
 * SC [n_det × n_cls] of the detectors' directions; pcav_row [n_labels]: the
 * row of SC_pcav holding label l's Pattern-CAV, < 0 when there is none;
 * SC_pcav [· × n_cls]. Over every label l carried by some detector and
 * having a Pattern-CAV, and every class k:
 *   p_lk = (1/N_l) Σ_{j: label j = l} 𝟙(|SC_jk| ≥ |SC_P,lk|),
 *   S³ = mean 𝟙(p_lk < theta/N_l).
 * Returns S³; *n_pairs the number of (l, k) pairs (S³ = NaN when 0). */
double influence_s3(const int32_t *label, const double *SC, int n_det, const int *pcav_row, int n_labels,
                    const double *SC_pcav, int n_cls, double theta, long *n_pairs);

#endif
