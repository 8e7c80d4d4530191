/* half — IEEE 754 binary16 ("half", NumPy's float16, h5py's '<f2', CUDA's
 * __half) to and from float32, in software: no compiler half type needed.
 *
 * float → half rounds to nearest, ties to even (as NumPy's astype(float16)
 * and CUDA's __float2half_rn do); magnitudes from 65520 up become ±Inf,
 * below 2^-14 the result is subnormal (steps of 2^-24) and below 2^-25 it is
 * ±0; NaN stays NaN. half → float is exact.
 *
 * Stage: data. In memory only (npy and cache convert through it). */
#ifndef EDDP_HALF_H
#define EDDP_HALF_H

#include <stddef.h>
#include <stdint.h>

#define HALF_MAX 65504.0f /* the largest finite binary16 value */

uint16_t half_from_float(float value);
float half_to_float(uint16_t half);

/* Element-wise over arrays of n values; OpenMP for large n. */
void half_from_floats(const float *values, size_t n, uint16_t *halves);
void half_to_floats(const uint16_t *halves, size_t n, float *values);

#endif
