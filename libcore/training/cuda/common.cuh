/* cuda/common.cuh — what the .cu files of the CUDA backend share: the
 * context struct, the checking macros (every CUDA, cuBLAS and cuSOLVER call
 * goes through one; a failure is recorded through error.h naming the call,
 * file and line, and the function returns its status), and deterministic
 * reductions (fixed launch shapes, partial sums combined in a fixed order;
 * no atomics).
 *
 * Stage: training (the CUDA backend). Device memory only, no files. */
#ifndef EDDP_CUDA_COMMON_CUH
#define EDDP_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <stddef.h>

extern "C" {
#include "error.h"
}
#include "backend.h"
#include "rsw_power.h"

#define CUDA_TRY(call)                                                                        \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess)                                                                \
            return error_set(e_ == cudaErrorMemoryAllocation ? EX_OSERR : EX_SOFTWARE,        \
                             "CUDA: %s failed: %s (%s:%d)", #call, cudaGetErrorString(e_),     \
                             __FILE__, __LINE__);                                             \
    } while (0)

#define CUBLAS_TRY(call)                                                                      \
    do {                                                                                      \
        cublasStatus_t e_ = (call);                                                           \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return error_set(EX_SOFTWARE, "cuBLAS: %s failed: %s (%s:%d)", #call,             \
                             cublasGetStatusString(e_), __FILE__, __LINE__);                  \
    } while (0)

#define CUSOLVER_TRY(call)                                                                    \
    do {                                                                                      \
        cusolverStatus_t e_ = (call);                                                         \
        if (e_ != CUSOLVER_STATUS_SUCCESS)                                                    \
            return error_set(EX_SOFTWARE, "cuSOLVER: %s failed: status %d (%s:%d)", #call,    \
                             (int)e_, __FILE__, __LINE__);                                    \
    } while (0)

/* After a kernel launch: launch errors (bad configuration) at once; Get,
 * not Peek, so that one failed launch is not reported again by every later
 * check. */
#define KERNEL_TRY(name) CUDA_TRY(cudaGetLastError())

/* Threads per block of the reduction kernels; the reductions' results
 * depend on it (fixed shapes), never on the device. */
#define RED_BLOCK 256
/* Warps per block of the warp-per-row kernels. */
#define ROW_WARPS 8
/* Blocks of the per-pixel pass: a function of n_pix only. */
#define PASS1_MAX_BLOCKS 2048
/* Pixel chunks of the column sums: a function of n_pix only. */
#define COL_CHUNKS_MAX 512
#define COL_CHUNK_MIN_PIX 64

struct cuda_step {
    cuda_step_sizes sz;
    cudaStream_t stream, copy_stream;
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    size_t bytes;                 /* device bytes allocated */
    int resident;

    /* the set */
    float *set_pixels;            /* [n_img × hw × n_dim] pixel-major (resident mode) */
    double *set_pooled;           /* [n_img × n_dim] */
    const float *host_features;   /* NCHW on the host (streaming mode) */
    float *pinned[2];             /* streaming: pinned host chunks */
    float *stage[2];              /* streaming: device NCHW chunks */
    cudaEvent_t copied[2], consumed[2];
    size_t stage_img;             /* images per streaming chunk */

    /* the batch */
    size_t n_img, n_pix;
    size_t *order;                /* [max_img] */
    double *kappa;                /* [max_img] */
    double *pooled;               /* [max_img × n_dim] */
    float *X;                     /* [max_pix × n_dim] */

    /* pixel path */
    float *W, *b;                 /* [n_det × n_dim], [n_det] */
    float *A;                     /* [max_pix × n_det] logits, then dA */
    double *dW;                   /* [n_det × n_dim] dW̃ = dAᵀX̃ */
    float *dW_part;               /* [dw_chunks(max_pix) × n_det × n_dim] per-chunk dAᵀX̃ */
    double *px_scl, *px_lns, *px_h, *px_m; /* [max_pix] S̃, ln S̃, H, ℓ */
    unsigned char *px_clamped;    /* [max_pix] */
    double *px_k1, *px_k0;        /* [max_pix] pass-2 coefficients */
    double *part;                 /* [PASS1_MAX_BLOCKS × 3] block partials */
    double *col_part;             /* [COL_CHUNKS_MAX × n_det] */
    double *col_out;              /* [n_det] */
    double *col_coef;             /* [n_det] */
    double *scalars;              /* [8] reduction results */
    double *host_scalars;         /* pinned [8] */
    double *host_dW;              /* pinned [n_det × n_dim] */
    double *host_col;             /* pinned [n_det]: column means, then db */
    int px_columns;               /* the last pixel forward had the column sums */
    int px_sb;                    /* ... and the R_SW statistics */

    /* URA / head path (float64) */
    int ura_kind;                 /* of the last successful forward; 0 = none */
    double *head_w, *head_b;      /* [n_cls × n_dim], [n_cls] */
    double *center, *scale;       /* [n_dim] (scale NULL = raw) */
    double *uW, *ub, *uS;         /* [n_det × n_dim], [n_det], [n_det × n_dim] */
    double *factor;               /* [n_det × n_det] */
    int *ipiv, *info;             /* [n_det], [1] */
    double *xs, *dx, *mp, *gm, *scratch; /* [max_img × n_dim] */
    double *R, *V, *ku;           /* [max_img × n_det]; R holds U after the solve */
    double *logits, *dlogits;     /* [max_img × n_cls] */
    double *row_h;                /* [max_img] */
    double *csym;                 /* [n_det × n_det] */
    double *gW, *gb, *gS;         /* [n_det × n_dim], [n_det], [n_det × n_dim] */
};

/* Allocation that counts the bytes. */
template <typename T>
static inline cudaError_t dev_alloc(cuda_step *s, T **p, size_t count)
{
    size_t bytes = (count ? count : 1) * sizeof(T);
    cudaError_t e = cudaMalloc((void **)p, bytes);
    if (e == cudaSuccess)
        s->bytes += bytes;
    return e;
}

/* ---- deterministic reductions (one block; fixed tree) ------------------ */

__device__ inline double block_sum(double v, double *sh)
{
    int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int w = RED_BLOCK / 2; w > 0; w >>= 1) {
        if (t < w)
            sh[t] += sh[t + w];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

__device__ inline double block_max(double v, double *sh)
{
    int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int w = RED_BLOCK / 2; w > 0; w >>= 1) {
        if (t < w)
            sh[t] = fmax(sh[t], sh[t + w]);
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Butterfly over a warp: every lane gets the same sum, in a fixed order. */
__device__ inline double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline double warp_max(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* out[k] (k < n_out) = Σ_j in[j · stride + k] over j < n, each by one block
 * (launch <<<n_out, RED_BLOCK>>>): thread t sums j ≡ t mod RED_BLOCK in
 * order, then the fixed tree. scale multiplies the result. A template (on
 * the element type), so that each .cu file that launches it instantiates
 * and registers its own copy (no relocatable device code needed). */
template <typename T>
__global__ void k_strided_sum(const T *in, size_t n, size_t stride, double scale, double *out)
{
    __shared__ double sh[RED_BLOCK];
    double v = 0.0;
    for (size_t j = threadIdx.x; j < n; j += RED_BLOCK)
        v += (double)in[j * stride + blockIdx.x];
    double total = block_sum(v, sh);
    if (threadIdx.x == 0)
        out[blockIdx.x] = scale * total;
}

/* Chunks of the dW̃ GEMMs for n_pix pixels (backend.h, DW_CHUNK_MAX_PIX). */
static inline size_t dw_chunks(size_t n_pix)
{
    size_t c = (n_pix + DW_CHUNK_MAX_PIX - 1) / DW_CHUNK_MAX_PIX;
    return c ? c : 1;
}

/* Grid size of a grid-stride loop over n elements. */
static inline unsigned grid_for(size_t n, unsigned block)
{
    size_t g = (n + block - 1) / block;
    if (g > 65535u * 8u)
        g = 65535u * 8u;
    return (unsigned)(g ? g : 1);
}

#endif
