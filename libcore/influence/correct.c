/* correct — see correct.h. */
#include "correct.h"
#include "error.h"
#include "rng.h"

#include <math.h>

/* The random control directions' own stream, apart from every other user
 * of the seed; the trial number is added to it. */
#define CORRECT_RANDOM_STREAM (((uint64_t)RNG_STREAM_INIT << 40) | ((uint64_t)0xc0e7u << 20))

static double dot(const double *a, const double *b, int n)
{
    double sum = 0;
    for (int k = 0; k < n; k++)
        sum += a[k] * b[k];
    return sum;
}

int correct_signal_direction(const double *w, const double *s, int n_dim, double *v)
{
    double ws = dot(w, s, n_dim), scale = sqrt(dot(w, w, n_dim) * dot(s, s, n_dim));
    if (!(ws > 1e-9 * scale) || !isfinite(ws))
        return error_set(EX_DATAERR, "the signal vector does not raise its detector's logit (w.s = %g, "
                         "|w||s| = %g): no correction direction", ws, scale);
    for (int k = 0; k < n_dim; k++)
        v[k] = s[k] / ws;
    return 0;
}

int correct_scale_to(const double *d, int n_dim, double length, double *out)
{
    double norm = sqrt(dot(d, d, n_dim));
    if (!(norm > 0) || !isfinite(norm))
        return error_set(EX_DATAERR, "a zero (or non-finite) direction cannot be scaled to length %g", length);
    for (int k = 0; k < n_dim; k++)
        out[k] = length * d[k] / norm;
    return 0;
}

void correct_random_direction(uint64_t seed, long trial, int n_dim, double length, double *out)
{
    rng_state rng;
    rng_init(&rng, seed, CORRECT_RANDOM_STREAM + (uint64_t)trial);
    double norm;
    do {
        for (int k = 0; k < n_dim; k++)
            out[k] = rng_normal(&rng);
        norm = sqrt(dot(out, out, n_dim));
    } while (!(norm > 0));
    for (int k = 0; k < n_dim; k++)
        out[k] *= length / norm;
}

double correct_mask(const double *w, double b, const float *x, size_t stride, int n_dim)
{
    double logit = -b;
    for (int c = 0; c < n_dim; c++)
        logit += w[c] * x[(size_t)c * stride];
    /* the stable form: exp of a non-positive number only */
    if (logit >= 0)
        return 1 / (1 + exp(-logit));
    double e = exp(logit);
    return e / (1 + e);
}

void correct_pixel(const float *x, size_t stride, int n_dim, double m, double k, const double *v, int relu,
                   float *out)
{
    for (int c = 0; c < n_dim; c++) {
        double y = (double)x[(size_t)c * stride] - m * k * v[c];
        out[(size_t)c * stride] = (float)(relu && y < 0 ? 0 : y);
    }
}

void correct_image(const float *x, int n_dim, size_t hw, const double *w, double b, double k, const double *v,
                   int relu, float *out, float *mask)
{
    for (size_t p = 0; p < hw; p++) {
        double m = correct_mask(w, b, x + p, hw, n_dim);
        correct_pixel(x + p, hw, n_dim, m, k, v, relu, out + p);
        if (mask)
            mask[p] = (float)m;
    }
}
