/* cpu32 — the float32 CPU backend: the CUDA backend's arithmetic
 * (libcore/training/cuda/backend.h) on the CPU, behind the same cuda_backend_ops
 * table, so that device.c's host half runs over it (--precision float32
 * with --device cpu) and the device's numerics have an executable
 * specification on every machine.
 *
 *   pixels   x̃ = (float)(x − c), channel-major, rounded once; the batch
 *            gathered whole, or in chunks of CPU32_GATHER_PIX pixels for
 *            each SGEMM where a batch budget asks for it
 *   logits   A = X̃ᵀ Wᵀ by cblas_sgemm, then a − b̃ in float32 in the passes
 *            (b̃ = b − W c formed by the host in float64)
 *   pass 1   sigmoid pieces in float32 (expf, log1pf); per pixel Σ y and
 *            Σ y ln y in float64; H, ℓ, R_SW and the column means of y^γ
 *            in float64
 *   pass 2   k1, k0 in float64, dA = (float)((1 − y)(y(k1 ln y + k0) +
 *            col_coef y^γ)), in place of A
 *   dW̃      cblas_sgemm, one float32 sum per DW_CHUNK_MAX_PIX pixels,
 *            those summed in float64; db = −Σ dA in float64
 *   URA      float64 (cblas_dgemm, LAPACKE potrs/getrs on the host's
 *            factor), the operations of cuda/ura.cu; L^cur's reassociated:
 *            U = R B⁻ᵀ never formed, and through the head's rank where it
 *            is narrow (cur_low_rank in cpu32.c)
 * The passes run over OpenMP on fixed blocks of CPU32_BLOCK_PIX pixels
 * whose partial sums are added in block order, so the result does not
 * depend on the thread count beyond what OpenBLAS's SGEMMs do.
 *
 * Stage: training. In memory only, no files. */
#ifndef EDDP_CPU32_H
#define EDDP_CPU32_H

#include "cuda/backend.h"

#define CPU32_BLOCK_PIX 1024
/* Pixels of a batch gathered at once when the batch does not fit its
 * budget (cuda_step_sizes.batch_budget): dW̃'s float32 group, so that each
 * chunk's SGEMMs are those of the batch gathered whole, and the results
 * the same bits. */
#define CPU32_GATHER_PIX DW_CHUNK_MAX_PIX
/* The training set is kept centred (resident, NCHW) up to this
 * many bytes; a larger one is gathered and centred batch by batch. */
#define CPU32_RESIDENT_MAX ((size_t)1 << 30)

/* The table (name "cpu float32"). */
const cuda_backend_ops *cpu32_backend(void);

/* Tests only: other arithmetics, for comparison with the device's.
 * RAW: the former kernels (raw pixels, the raw bias raw_b [n_det] rounded
 * to float32, dW as one float32 sum; the step adds back db cᵀ so the host's
 * correction cancels); ONE_SUM: centred pixels, dW as one float32 sum over
 * all pixels. DEVICE (the default) is what the kernels do. raw_b is read
 * at each forward and must outlive it. */
typedef enum { CPU32_ARITH_DEVICE = 0, CPU32_ARITH_RAW = 1, CPU32_ARITH_ONE_SUM = 2 } cpu32_arith;
void cpu32_test_arith(cpu32_arith arith, const double *raw_b);

#endif
