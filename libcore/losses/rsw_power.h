/* rsw_power — r^ν of the sliding-window ratio R_SW (L^sb), one definition
 * for losses.c, cpu32.c and the CUDA kernels (cuda/common.cuh), so the
 * three compute the same bits: by multiplication for small integer ν (the
 * default ν = 4 is one), where pow() cost a tenth of a step (d); pow()
 * otherwise. Plain C, and __host__ __device__ under nvcc. */
#ifndef EDDP_RSW_POWER_H
#define EDDP_RSW_POWER_H

#include <math.h>

#ifdef __CUDACC__
#define RSW_POWER_QUALIFIERS __host__ __device__ inline
#else
#define RSW_POWER_QUALIFIERS static inline
#endif

RSW_POWER_QUALIFIERS double rsw_power(double r, double nu)
{
    if (nu == 4.0) {
        double r2 = r * r;
        return r2 * r2;
    }
    if (nu == 3.0)
        return r * r * r;
    if (nu == 2.0)
        return r * r;
    if (nu == 1.0)
        return r;
    return pow(r, nu);
}

#undef RSW_POWER_QUALIFIERS

#endif
