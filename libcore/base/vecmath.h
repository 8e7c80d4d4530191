/* vecmath — glibc's vector variants of exp, log and log1p (libmvec, linked
 * with -lmvec): with these declarations a `#pragma omp simd` loop that calls
 * them is vectorised into calls of _ZGV..._exp etc. They agree with the
 * scalar functions to within a few ulp, and a given build always takes the
 * same variant, so results stay deterministic.
 *
 * Stage: base. In memory only, no files. */
#ifndef EDDP_VECMATH_H
#define EDDP_VECMATH_H

#include <math.h>

/* Hot element-wise loops are compiled twice, for AVX2 + FMA and for the
 * baseline, and the loader picks the clone the processor runs (an ifunc):
 * the AVX2 clone calls the 4-wide libmvec variants (_ZGVdN4v_*), twice the
 * width of the baseline's SSE2 ones, without building the whole toolkit for
 * one processor. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define VECMATH_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VECMATH_CLONES
#endif

#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern double log1p(double);
/* float32 (cpu32.c) */
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float log1pf(float);

#endif
