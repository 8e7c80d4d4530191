/* cuda/backend.h — the C entry points of the CUDA backend (the .cu files beside it),
 * called by device.c only. Plain C types, so gcc and nvcc read it alike.
 *
 * What lives on the device (see device.h for the split):
 *   - the training set: pixel-major float32 [n_img × hw × n_dim] CENTRED
 *     features x̃ = x − c (c = the layout's center, the data mean; rounded
 *     once from float64; resident, or streamed per batch from pinned host
 *     memory and centred on the way) and the pooled float64 [n_img × n_dim]
 *     features (always resident);
 *   - the batch: gathered pixels X̃, pooled rows, κ;
 *   - the pixel path in float32 with float64 accumulators, on centred
 *     pixels: logits A = X̃ Wᵀ (cuBLAS SGEMM, no TF32), then a − b̃ in the
 *     passes with the bias of the centred pixels b̃ = b − W c (formed by the
 *     host in float64); raw pixels would cost |b| ~ 1e5 against logits of
 *     order 1 (the synthetic preset) and lose ~1e-2 in float32; fused pass 1
 *     / pass 2 of the pixel losses, their deterministic reductions,
 *     dW̃ = dAᵀX̃ by SGEMMs over pixel chunks of at most DW_CHUNK_MAX_PIX
 *     (float32 within a chunk) summed over chunks in float64, and
 *     db = −Σ dA in float64. The host adds the centring's share of the raw
 *     filter gradient, dW = dW̃ − db cᵀ, in float64.
 *     libcore/training/cpu32.c implements this arithmetic on the CPU behind the same
 *     table (--precision float32; the executable specification), and
 *     tests/unit/test_device_f32.c compares it with the float64 CPU backend;
 *   - the URA/head path in float64 (cuBLAS DGEMM, cuSOLVER potrs/getrs with
 *     the factor computed on the host).
 * Every function returns 0 or a status with the failure recorded through
 * error.h, naming the failing CUDA/cuBLAS/cuSOLVER call, file and line.
 *
 * Stage: training (the CUDA backend). Device memory only, no files. */
#ifndef EDDP_CUDA_BACKEND_H
#define EDDP_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cuda_step cuda_step;

enum cuda_ura_kind { CUDA_URA_NONE = 0, CUDA_URA_UUR = 1, CUDA_URA_STD = 2, CUDA_URA_CUR = 3 };

typedef struct {
    int device;            /* CUDA device index */
    int n_det, n_dim, hw, n_cls;
    size_t n_img_total;    /* images in the training set */
    size_t max_img;        /* largest batch */
    int ura_kind;          /* enum cuda_ura_kind: which URA buffers to allocate */
    int force_stream;      /* 1: stream batches even when the set would fit */
    size_t batch_budget;   /* cpu float32: bytes for a batch's pixels and logits (0: no limit) */
} cuda_step_sizes;

/* Pixels per chunk of dW̃ = dAᵀX̃ at most: each chunk's SGEMM sums in
 * float32, the chunks are summed in float64 (fixed order). The number of
 * chunks, ceil(n_pix / DW_CHUNK_MAX_PIX), is a function of n_pix only.
 * Chosen by the float32 emulation (test_device_f32, a Broden-like set of
 * 3.1e6 pixels): one float32 sum over all pixels puts the gradient 1.8e-5
 * (relative 2-norm) off the float64 one, chunks of 65536 pixels 4.5e-7,
 * which is the error of the rest of the pixel path; the partial sums cost
 * ceil(n_pix / 65536) · n_det · n_dim floats (48 MB at 3.1e6 pixels, 500 ×
 * 512). */
#define DW_CHUNK_MAX_PIX 65536

/* Number of devices and the name of device `index` ("NVIDIA H200").
 * Records "no CUDA device: <cudaGetErrorString>" on failure. */
int cuda_device_query(int index, char *name, size_t name_len);

/* Free and total memory of the current device, in bytes. */
int cuda_memory_info(int index, size_t *free_bytes, size_t *total_bytes);

/* Creates the context on device sz->device and uploads the set: features
 * [n_img × n_dim × hw] float32 NCHW (host, kept by pointer for streaming),
 * pooled [n_img × n_dim], head V [n_cls × n_dim], c [n_cls], center [n_dim]
 * (required: the pixels are centred on it) and scale [n_dim] (scale NULL =
 * raw space). */
int cuda_step_create(cuda_step **out, const cuda_step_sizes *sz, const float *features,
                     const double *pooled, const double *head_w, const double *head_b,
                     const double *center, const double *scale);
void cuda_step_free(cuda_step *s);
/* 1 when the whole set is resident, 0 when batches are streamed. */
int cuda_step_resident(const cuda_step *s);
/* Device bytes this context holds. */
size_t cuda_step_bytes(const cuda_step *s);

/* The batch: images order[0..n_img) of the set, κ [n_img]. */
int cuda_load_batch(cuda_step *s, const size_t *order, size_t n_img, const double *kappa);

/* ---- pixel losses ------------------------------------------------------ */

typedef struct {
    double sum_h, sum_m;           /* Σ_p H_p, Σ_p ℓ_p (bits) */
    double sb_max, sb_a, sb_b;     /* R_SW over H: max, Σ r^{ν+1}, Σ r^ν (with_sb) */
} cuda_pixel_sums;

/* Enqueues A = X̃ Wᵀ on the centred pixels (W, b float32 [n_det × n_dim],
 * [n_det]; b is the bias of the centred pixels, b − W c, subtracted in the
 * passes), then pass 1: per-pixel statistics and their
 * sums; with_sb the R_SW statistics of H; with_columns mean_p y^γ per
 * column. Returns without waiting: the host may work meanwhile, then
 * cuda_pixel_forward_collect waits and hands over the results. */
int cuda_pixel_forward(cuda_step *s, const float *W, const float *b, double gamma, double nu,
                       int with_sb, int with_columns);
/* sums, and col_mean [n_det] when the forward had with_columns. */
int cuda_pixel_forward_collect(cuda_step *s, cuda_pixel_sums *sums, double *col_mean);

typedef struct {
    double c_s, c_m;               /* w_s / n_pix, w_ma / n_pix */
    double w_sb, nu;               /* L^sb weight (0 = off) and ν */
    double sb_max, sb_ratio, sb_b; /* R_SW statistics of H (max, R/max, Σ r^ν) */
    double gamma;
    const double *col_coef;        /* [n_det] γ/N Σ w ∂L/∂g_i, or NULL */
} cuda_pixel_coefs;

/* Enqueues pass 2 (dA in place of A), dW̃ = dAᵀ X̃ (chunked, see
 * DW_CHUNK_MAX_PIX) and db = −Σ_p dA, without waiting;
 * cuda_pixel_backward_collect waits and writes dW̃ [n_det × n_dim] and db
 * [n_det] (both OVERWRITTEN; the gradient w.r.t. W of the centred logits). */
int cuda_pixel_backward(cuda_step *s, const cuda_pixel_coefs *c);
int cuda_pixel_backward_collect(cuda_step *s, double *dW, double *db);

/* ---- uncertainty-region losses on pooled features (float64) ---------- */

/* kind uur: W, b raw filters; std: W = W̃ (unit), b = t, standardised
 * through center/scale; cur: W, b and signals S. factor: the host's
 * Cholesky factor of W Wᵀ (uur/std, LAPACK 'L' column-major) or LU factor
 * of (W Sᵀ)ᵀ with ipiv (cur), as mat.h stores them. *value = L (bits). */
int cuda_ura_forward(cuda_step *s, int kind, const double *W, const double *b, const double *S,
                     const double *factor, const int *ipiv, double *value);
/* After cuda_ura_forward: gradients times scale, OVERWRITTEN: dW, db
 * (w.r.t. W̃ and t for std) and dS (cur). jitter_extra: the extra diagonal
 * coefficient 2·MAT_JITTER_REL/n_det when the Cholesky factor was jittered,
 * else 0. */
int cuda_ura_backward(cuda_step *s, double scale, double jitter_extra, double *dW, double *db,
                      double *dS);

/* ---- benchmark reference --------------------------------------------- */

/* Median seconds (over reps ≥ 1) of the two SGEMMs of one batch step alone,
 * A = X Wᵀ [n_pix × n_det] and dW = dAᵀ X [n_det × n_dim], on random data
 * on device `index`, timed with CUDA events. */
int cuda_gemm_reference(int index, size_t n_pix, int n_det, int n_dim, int reps, double *seconds);

/* ---- the plugin ------------------------------------------------------- *
 * The .cu files build into one shared object (build/lib/eddp-cuda.so, the
 * only binary that links the CUDA libraries); device.c dlopens it on demand
 * and reaches every function above through this table, which the object's
 * one exported symbol, CUDA_BACKEND_SYMBOL, returns. The object has its own
 * copy of error.c: after a failed call the host reads the plugin's
 * error_code/error_message and records them as its own. */
#define CUDA_BACKEND_ABI 3
#define CUDA_BACKEND_SYMBOL "eddp_cuda_backend"

typedef struct {
    int abi;                       /* CUDA_BACKEND_ABI */
    size_t size;                   /* sizeof(cuda_backend_ops) */
    const char *name;              /* "CUDA (nvcc ..., sm_90)" or "float32 emulation" */
    int (*device_query)(int index, char *name, size_t name_len);
    int (*memory_info)(int index, size_t *free_bytes, size_t *total_bytes);
    int (*step_create)(cuda_step **out, const cuda_step_sizes *sz, const float *features, const double *pooled,
                       const double *head_w, const double *head_b, const double *center, const double *scale);
    void (*step_free)(cuda_step *s);
    int (*step_resident)(const cuda_step *s);
    size_t (*step_bytes)(const cuda_step *s);
    int (*load_batch)(cuda_step *s, const size_t *order, size_t n_img, const double *kappa);
    int (*pixel_forward)(cuda_step *s, const float *W, const float *b, double gamma, double nu, int with_sb,
                         int with_columns);
    int (*pixel_forward_collect)(cuda_step *s, cuda_pixel_sums *sums, double *col_mean);
    int (*pixel_backward)(cuda_step *s, const cuda_pixel_coefs *c);
    int (*pixel_backward_collect)(cuda_step *s, double *dW, double *db);
    int (*ura_forward)(cuda_step *s, int kind, const double *W, const double *b, const double *S,
                       const double *factor, const int *ipiv, double *value);
    int (*ura_backward)(cuda_step *s, double scale, double jitter_extra, double *dW, double *db, double *dS);
    int (*gemm_reference)(int index, size_t n_pix, int n_det, int n_dim, int reps, double *seconds);
    int (*error_code)(void);
    const char *(*error_message)(void);
    void (*error_clear)(void);
} cuda_backend_ops;

typedef const cuda_backend_ops *(*cuda_backend_entry)(void);

/* Tests only: device_choose("cuda") and every device_step use ops (e.g. a
 * CPU emulation of the kernels' arithmetic) instead of the plugin; NULL
 * restores the plugin. Defined in device.c. */
void device_backend_override(const cuda_backend_ops *ops);

#ifdef __cplusplus
}
#endif

#endif
