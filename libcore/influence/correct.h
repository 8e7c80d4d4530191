/* correct — model correction by a concept's direction (the paper's App. I,
 * Eq. 18), applied to one layer's feature maps:
 *
 *   x'_p = ReLU(x_p − m_p · k · v),   m_p = σ(wᵀx_p − b),
 *
 * for every pixel vector x_p (C channels) of an image, with the detector's
 * filter w and bias b (raw feature space), the strength k and a direction v.
 *
 * The scale of v fixes what k means. Here v = ŝ/(wᵀŝ) for the signal vector
 * ŝ (so that wᵀv = 1): subtracting k·v lowers the detector's logit by
 * exactly k at a pixel where m_p = 1, whatever the units of the features or
 * the scale the signal vector was stored at. That is the paper's scale when
 * ŝ comes from Eq. 1 with w as the regressor (wᵀŝ = 1 by construction), so
 * its k = 450 means the same here. The controls (the filter direction,
 * random directions) are scaled to the same length ‖v‖: they differ from
 * the signal direction in direction only.
 *
 * Stage: influence (correct(1)). In memory only, no files. */
#ifndef EDDP_CORRECT_H
#define EDDP_CORRECT_H

#include <stddef.h>
#include <stdint.h>

/* v = s / (wᵀs) [n_dim]. EX_DATAERR when wᵀs <= 1e-9·‖w‖‖s‖ (the vector does
 * not raise its own detector: no correction direction). */
int correct_signal_direction(const double *w, const double *s, int n_dim, double *v);
/* out = length · d / ‖d‖; EX_DATAERR when d is zero. out may alias d. */
int correct_scale_to(const double *d, int n_dim, double length, double *out);
/* A direction of the given length drawn from N(0, I) and scaled: trial t of
 * seed is the same vector whatever other trials are drawn. */
void correct_random_direction(uint64_t seed, long trial, int n_dim, double length, double *out);

/* m = σ(wᵀx − b) for a pixel whose channel c is x[c·stride]. */
double correct_mask(const double *w, double b, const float *x, size_t stride, int n_dim);
/* One pixel: out[c·stride] = x[c·stride] − m·k·v[c], clamped at 0 when
 * relu. out may alias x. */
void correct_pixel(const float *x, size_t stride, int n_dim, double m, double k, const double *v, int relu,
                   float *out);
/* One image, NCHW [n_dim × hw] in x and out (may alias), its masks m_p in
 * mask [hw] (may be NULL). */
void correct_image(const float *x, int n_dim, size_t hw, const double *w, double b, double k, const double *v,
                   int relu, float *out, float *mask);

#endif
