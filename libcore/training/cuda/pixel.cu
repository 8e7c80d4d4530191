/* cuda/pixel.cu — the pixel losses on the device (see losses.h for the
 * math; this mirrors its fused pass 1 / pass 2): logits of the centred
 * pixels by cuBLAS SGEMM, per-logit sigmoid pieces in float32
 * (expf/log1pf, IEEE division), every per-pixel and per-column sum in
 * float64, reductions of fixed shape; dW̃ by SGEMMs over pixel chunks
 * summed in float64. tests/unit/test_device_f32.c is the executable
 * specification of this arithmetic (a float32 re-implementation on the
 * CPU, compared with the float64 CPU backend). */
#include "common.cuh"

#include <string.h>

extern "C" {
#include "losses.h"
}

#define INV_LN2 1.4426950408889634073599246810019

/* y, 1 − y, ln y of σ(a): e = exp(−|a|), one log1p, one division. */
__device__ inline void sigmoid_pieces(float a, float *y, float *omy, float *ln_y)
{
    float e = expf(-fabsf(a));
    float r = 1.0f / (1.0f + e);
    float l = log1pf(e);
    if (a >= 0.0f) {
        *y = r;
        *omy = e * r;
        *ln_y = -l;
    } else {
        *y = e * r;
        *omy = r;
        *ln_y = a - l;
    }
}

/* Pass 1, one warp per pixel: S = Σ y, T = Σ y ln y (float64), then
 * S̃, ln S̃, H = −(T − S ln S̃)/(S̃ ln 2), ℓ = −T/(S̃ ln 2). Per block the
 * sums of H and ℓ over its pixels (warps in order) into part[block],
 * part[gridDim + block]. */
__global__ void k_pass1(const float *A, const float *b, size_t n_pix, int n_det, double *scl, double *lns,
                        double *H, double *M, unsigned char *clamped, double *part)
{
    __shared__ double sh_h[ROW_WARPS], sh_m[ROW_WARPS];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    double sum_h = 0.0, sum_m = 0.0;
    for (size_t p = (size_t)blockIdx.x * ROW_WARPS + warp; p < n_pix; p += (size_t)gridDim.x * ROW_WARPS) {
        const float *row = A + p * n_det;
        double s = 0.0, t = 0.0;
        for (int i = lane; i < n_det; i += 32) {
            float y, omy, ln_y;
            sigmoid_pieces(row[i] - b[i], &y, &omy, &ln_y);
            s += (double)y;
            t += (double)y * (double)ln_y;
        }
        s = warp_sum(s);
        t = warp_sum(t);
        int is_clamped = s < LOSS_S_MIN;
        double s_cl = is_clamped ? LOSS_S_MIN : s;
        double ln_s = log(s_cl), inv = INV_LN2 / s_cl;
        double h = -(t - s * ln_s) * inv, m = -t * inv;
        if (lane == 0) {
            scl[p] = s_cl;
            lns[p] = ln_s;
            H[p] = h;
            M[p] = m;
            clamped[p] = (unsigned char)is_clamped;
        }
        sum_h += h;
        sum_m += m;
    }
    if (lane == 0) {
        sh_h[warp] = sum_h;
        sh_m[warp] = sum_m;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double th = 0.0, tm = 0.0;
        for (int w = 0; w < ROW_WARPS; w++) {
            th += sh_h[w];
            tm += sh_m[w];
        }
        part[blockIdx.x] = th;
        part[gridDim.x + blockIdx.x] = tm;
    }
}

/* Column sums over pixel chunks: part[c · n_det + i] = Σ_{p in chunk c} f,
 * f = y^γ of σ(A − b) (power = 1) or dA itself (power = 0). Block (32, 8):
 * 32 columns × 8 pixel lanes, lanes combined in order. */
__global__ void k_column_part(const float *A, const float *b, size_t n_pix, int n_det, int n_chunks, int power,
                              float gamma, double *part)
{
    __shared__ double sh[8][32];
    int i = blockIdx.x * 32 + threadIdx.x, c = blockIdx.y;
    size_t lo = (size_t)c * n_pix / n_chunks, hi = (size_t)(c + 1) * n_pix / n_chunks;
    double v = 0.0;
    if (i < n_det)
        for (size_t p = lo + threadIdx.y; p < hi; p += 8) {
            float a = A[p * n_det + i];
            if (power) {
                float y, omy, ln_y;
                sigmoid_pieces(a - b[i], &y, &omy, &ln_y);
                v += (double)expf(gamma * ln_y);
            } else {
                v += (double)a;
            }
        }
    sh[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.y == 0 && i < n_det) {
        double t = 0.0;
        for (int r = 0; r < 8; r++)
            t += sh[r][threadIdx.x];
        part[(size_t)c * n_det + i] = t;
    }
}

static int column_chunks(size_t n_pix)
{
    size_t c = n_pix / COL_CHUNK_MIN_PIX;
    if (c < 1)
        c = 1;
    return (int)(c > COL_CHUNKS_MAX ? COL_CHUNKS_MAX : c);
}

/* out [n_det] = scale · Σ_p f over the batch (see k_column_part). */
static int column_sums(cuda_step *s, int power, float gamma, double scale, double *out)
{
    int n_det = s->sz.n_det, n_chunks = column_chunks(s->n_pix);
    dim3 grid((unsigned)((n_det + 31) / 32), (unsigned)n_chunks);
    k_column_part<<<grid, dim3(32, 8), 0, s->stream>>>(s->A, s->b, s->n_pix, n_det, n_chunks, power, gamma,
                                                       s->col_part);
    KERNEL_TRY("k_column_part");
    k_strided_sum<<<(unsigned)n_det, RED_BLOCK, 0, s->stream>>>(s->col_part, (size_t)n_chunks, (size_t)n_det,
                                                                scale, out);
    KERNEL_TRY("k_strided_sum");
    return 0;
}

/* R_SW statistics of H [n]: out[0] = max(0, max H), then out[1] = Σ r^{ν+1},
 * out[2] = Σ r^ν over r = H/max > 0 (one block, fixed order). */
__global__ void k_rsw_stats(const double *H, size_t n, double nu, double *out)
{
    __shared__ double sh[RED_BLOCK];
    double mx = 0.0;
    for (size_t k = threadIdx.x; k < n; k += RED_BLOCK)
        mx = fmax(mx, H[k]);
    mx = block_max(mx, sh);
    double a = 0.0, bsum = 0.0;
    if (mx > 0.0) {
        double inv = 1.0 / mx;
        for (size_t k = threadIdx.x; k < n; k += RED_BLOCK) {
            double r = H[k] * inv;
            if (r > 0.0) {
                double rn = rsw_power(r, nu);
                a += rn * r;
                bsum += rn;
            }
        }
    }
    a = block_sum(a, sh);
    bsum = block_sum(bsum, sh);
    if (threadIdx.x == 0) {
        out[0] = mx;
        out[1] = a;
        out[2] = bsum;
    }
}

extern "C" int cuda_pixel_forward(cuda_step *s, const float *W, const float *b, double gamma, double nu,
                                  int with_sb, int with_columns)
{
    const cuda_step_sizes *z = &s->sz;
    int n_det = z->n_det, n_dim = z->n_dim;
    size_t nd = (size_t)n_det * n_dim;
    s->px_sb = with_sb;
    s->px_columns = with_columns;
    CUDA_TRY(cudaSetDevice(z->device));
    CUDA_TRY(cudaMemcpyAsync(s->W, W, nd * sizeof(float), cudaMemcpyHostToDevice, s->stream));
    CUDA_TRY(cudaMemcpyAsync(s->b, b, n_det * sizeof(float), cudaMemcpyHostToDevice, s->stream));
    /* Row-major A [n_pix × n_det] = X Wᵀ is column-major Aᵀ = W Xᵀ:
     * op(W_cm = Wᵀ) = T, X_cm = Xᵀ. */
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_TRY(cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, n_det, (int)s->n_pix, n_dim, &one, s->W, n_dim,
                           s->X, n_dim, &zero, s->A, n_det));
    unsigned blocks = (unsigned)((s->n_pix + ROW_WARPS - 1) / ROW_WARPS);
    if (blocks > PASS1_MAX_BLOCKS)
        blocks = PASS1_MAX_BLOCKS;
    k_pass1<<<blocks, ROW_WARPS * 32, 0, s->stream>>>(s->A, s->b, s->n_pix, n_det, s->px_scl, s->px_lns, s->px_h,
                                                      s->px_m, s->px_clamped, s->part);
    KERNEL_TRY("k_pass1");
    /* scalars[0], [1] = Σ H, Σ ℓ: the block partials summed in order */
    k_strided_sum<<<1, RED_BLOCK, 0, s->stream>>>(s->part, blocks, 1, 1.0, s->scalars);
    KERNEL_TRY("k_strided_sum");
    k_strided_sum<<<1, RED_BLOCK, 0, s->stream>>>(s->part + blocks, blocks, 1, 1.0, s->scalars + 1);
    KERNEL_TRY("k_strided_sum");
    if (with_sb) {
        k_rsw_stats<<<1, RED_BLOCK, 0, s->stream>>>(s->px_h, s->n_pix, nu, s->scalars + 2);
        KERNEL_TRY("k_rsw_stats");
    }
    if (with_columns && column_sums(s, 1, (float)gamma, 1.0 / (double)s->n_pix, s->col_out))
        return error_code();
    /* into pinned memory: the copies do not make the host wait */
    CUDA_TRY(cudaMemcpyAsync(s->host_scalars, s->scalars, 5 * sizeof(double), cudaMemcpyDeviceToHost, s->stream));
    if (with_columns)
        CUDA_TRY(cudaMemcpyAsync(s->host_col, s->col_out, n_det * sizeof(double), cudaMemcpyDeviceToHost,
                                 s->stream));
    return 0;
}

extern "C" int cuda_pixel_forward_collect(cuda_step *s, cuda_pixel_sums *sums, double *col_mean)
{
    CUDA_TRY(cudaSetDevice(s->sz.device));
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    sums->sum_h = s->host_scalars[0];
    sums->sum_m = s->host_scalars[1];
    sums->sb_max = s->px_sb ? s->host_scalars[2] : 0.0;
    sums->sb_a = s->px_sb ? s->host_scalars[3] : 0.0;
    sums->sb_b = s->px_sb ? s->host_scalars[4] : 0.0;
    if (s->px_columns && col_mean)
        memcpy(col_mean, s->host_col, s->sz.n_det * sizeof(double));
    return 0;
}

/* Per-pixel constants of pass 2 (losses.c pass2_pixel): with c_H = c_s +
 * w_sb ∂R/∂H_p and c_m, κ = 0 on clamped pixels,
 *   k1 = −(c_H + c_m)/(S̃ ln 2),
 *   k0 = (c_H((ln S̃ − 1)/ln 2 + κ(1/ln 2 − H)) − c_m(1/ln 2 + κ ℓ))/S̃. */
__global__ void k_pixel_coefs(size_t n_pix, const double *scl, const double *lns, const double *H,
                              const double *M, const unsigned char *clamped, double c_s, double c_m, double w_sb,
                              double nu, double sb_max, double sb_ratio, double sb_b, double *k1, double *k0)
{
    for (size_t p = blockIdx.x * (size_t)blockDim.x + threadIdx.x; p < n_pix; p += (size_t)gridDim.x * blockDim.x) {
        double c_h = c_s;
        if (w_sb != 0.0 && sb_max != 0.0) {
            double r = H[p] / sb_max;
            c_h += w_sb * rsw_power(r, nu - 1.0) * ((nu + 1.0) * r - nu * sb_ratio) / sb_b;
        }
        double kappa = clamped[p] ? 0.0 : 1.0, inv_s = 1.0 / scl[p];
        k1[p] = -(c_h + c_m) * INV_LN2 * inv_s;
        k0[p] = (c_h * ((lns[p] - 1.0) * INV_LN2 + kappa * (INV_LN2 - H[p])) - c_m * (INV_LN2 + kappa * M[p])) *
                inv_s;
    }
}

/* out[k] = Σ_c part[c · n + k] over c < n_chunks, in chunk order, float64. */
__global__ void k_chunk_sum(const float *part, size_t n_chunks, size_t n, double *out)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        double v = 0.0;
        for (size_t c = 0; c < n_chunks; c++)
            v += (double)part[c * n + k];
        out[k] = v;
    }
}

/* dW̃ [n_det × n_dim] = dAᵀ X̃: chunk c of DW_CHUNK_MAX_PIX pixels (the
 * last one shorter) by one SGEMM into dW_part[c] (float32 sums over at most
 * that many pixels), then the chunks summed in float64. Row-major
 * dW_part[c] = dA_cᵀ X_c is column-major dW_part[c]ᵀ = X_cᵀ dA_c:
 * X_cm = Xᵀ (N), dA_cm = dAᵀ, so op = T. */
static int filter_gradient(cuda_step *s)
{
    const cuda_step_sizes *z = &s->sz;
    int n_det = z->n_det, n_dim = z->n_dim;
    size_t nd = (size_t)n_det * n_dim, chunk = DW_CHUNK_MAX_PIX;
    size_t full = s->n_pix / chunk, rest = s->n_pix - full * chunk, n_chunks = dw_chunks(s->n_pix);
    const float one = 1.0f, zero = 0.0f;
    if (full > 0)
        CUBLAS_TRY(cublasSgemmStridedBatched(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, n_dim, n_det, (int)chunk, &one, s->X,
                                             n_dim, (long long)(chunk * n_dim), s->A, n_det,
                                             (long long)(chunk * n_det), &zero, s->dW_part, n_dim, (long long)nd,
                                             (int)full));
    if (rest > 0)
        CUBLAS_TRY(cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, n_dim, n_det, (int)rest, &one,
                               s->X + full * chunk * n_dim, n_dim, s->A + full * chunk * n_det, n_det, &zero,
                               s->dW_part + full * nd, n_dim));
    k_chunk_sum<<<grid_for(nd, 256), 256, 0, s->stream>>>(s->dW_part, n_chunks, nd, s->dW);
    KERNEL_TRY("k_chunk_sum");
    return 0;
}

/* dA = (1 − y)[y(k1 ln y + k0) + col_coef_i y^γ], in place of A. */
__global__ void k_pass2(float *A, const float *b, size_t n_pix, int n_det, const double *k1, const double *k0,
                        const double *col_coef, float gamma)
{
    size_t n = n_pix * n_det;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        size_t p = idx / n_det;
        int i = (int)(idx - p * n_det);
        float y, omy, ln_y;
        sigmoid_pieces(A[idx] - b[i], &y, &omy, &ln_y);
        double d = (double)y * (k1[p] * (double)ln_y + k0[p]);
        if (col_coef && col_coef[i] != 0.0)
            d += col_coef[i] * (double)expf(gamma * ln_y);
        A[idx] = (float)((double)omy * d);
    }
}

extern "C" int cuda_pixel_backward(cuda_step *s, const cuda_pixel_coefs *c)
{
    const cuda_step_sizes *z = &s->sz;
    int n_det = z->n_det, n_dim = z->n_dim;
    CUDA_TRY(cudaSetDevice(z->device));
    if (c->col_coef)
        CUDA_TRY(cudaMemcpyAsync(s->col_coef, c->col_coef, n_det * sizeof(double), cudaMemcpyHostToDevice,
                                 s->stream));
    k_pixel_coefs<<<grid_for(s->n_pix, 256), 256, 0, s->stream>>>(
        s->n_pix, s->px_scl, s->px_lns, s->px_h, s->px_m, s->px_clamped, c->c_s, c->c_m, c->w_sb, c->nu,
        c->sb_max, c->sb_ratio, c->sb_b, s->px_k1, s->px_k0);
    KERNEL_TRY("k_pixel_coefs");
    k_pass2<<<grid_for(s->n_pix * n_det, 256), 256, 0, s->stream>>>(
        s->A, s->b, s->n_pix, n_det, s->px_k1, s->px_k0, c->col_coef ? s->col_coef : NULL, (float)c->gamma);
    KERNEL_TRY("k_pass2");
    if (filter_gradient(s) || column_sums(s, 0, 0.0f, -1.0, s->col_out))
        return error_code();
    CUDA_TRY(cudaMemcpyAsync(s->host_dW, s->dW, (size_t)n_det * n_dim * sizeof(double), cudaMemcpyDeviceToHost,
                             s->stream));
    CUDA_TRY(cudaMemcpyAsync(s->host_col, s->col_out, n_det * sizeof(double), cudaMemcpyDeviceToHost, s->stream));
    return 0;
}

extern "C" int cuda_pixel_backward_collect(cuda_step *s, double *dW, double *db)
{
    const cuda_step_sizes *z = &s->sz;
    CUDA_TRY(cudaSetDevice(z->device));
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    memcpy(dW, s->host_dW, (size_t)z->n_det * z->n_dim * sizeof(double));
    memcpy(db, s->host_col, z->n_det * sizeof(double));
    return 0;
}

/* ---- the benchmark's reference: the two GEMMs alone --------------------- */

__global__ void k_fill(float *x, size_t n, float scale)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        x[k] = scale * (float)((k * 2654435761u) % 2001u) / 1000.0f - scale;
}

static int gemm_reference(cublasHandle_t h, cudaEvent_t ev[2], float *X, float *W, float *A, float *dW,
                          size_t n_pix, int n_det, int n_dim, int reps, double *seconds)
{
    const float one = 1.0f, zero = 0.0f;
    double best[64];
    if (reps < 1)
        reps = 1;
    if (reps > 64)
        reps = 64;
    for (int r = -1; r < reps; r++) { /* r = −1: warm-up */
        CUDA_TRY(cudaEventRecord(ev[0], 0));
        CUBLAS_TRY(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n_det, (int)n_pix, n_dim, &one, W, n_dim, X, n_dim,
                               &zero, A, n_det));
        CUBLAS_TRY(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n_dim, n_det, (int)n_pix, &one, X, n_dim, A, n_det,
                               &zero, dW, n_dim));
        CUDA_TRY(cudaEventRecord(ev[1], 0));
        CUDA_TRY(cudaEventSynchronize(ev[1]));
        float ms = 0;
        CUDA_TRY(cudaEventElapsedTime(&ms, ev[0], ev[1]));
        if (r >= 0)
            best[r] = ms * 1e-3;
    }
    for (int i = 1; i < reps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && best[j] < best[j - 1]; j--) {
            double t = best[j];
            best[j] = best[j - 1];
            best[j - 1] = t;
        }
    *seconds = reps % 2 ? best[reps / 2] : 0.5 * (best[reps / 2 - 1] + best[reps / 2]);
    return 0;
}

extern "C" int cuda_gemm_reference(int index, size_t n_pix, int n_det, int n_dim, int reps, double *seconds)
{
    CUDA_TRY(cudaSetDevice(index));
    float *X = NULL, *W = NULL, *A = NULL, *dW = NULL;
    cublasHandle_t h = NULL;
    cudaEvent_t ev[2] = {NULL, NULL};
    int rc = 0;
    size_t nx = n_pix * n_dim, nw = (size_t)n_det * n_dim, na = n_pix * n_det;
    cudaError_t e = cudaMalloc((void **)&X, nx * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&W, nw * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&A, na * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&dW, nw * sizeof(float));
    if (e == cudaSuccess)
        e = cudaEventCreate(&ev[0]);
    if (e == cudaSuccess)
        e = cudaEventCreate(&ev[1]);
    if (e != cudaSuccess)
        rc = error_set(EX_OSERR, "CUDA: allocation for the GEMM reference failed: %s", cudaGetErrorString(e));
    if (!rc && cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
        rc = error_set(EX_SOFTWARE, "cuBLAS: cublasCreate failed");
    if (!rc) {
        k_fill<<<grid_for(nx, 256), 256>>>(X, nx, 1.0f);
        k_fill<<<grid_for(nw, 256), 256>>>(W, nw, 0.05f);
        e = cudaGetLastError();
        if (e != cudaSuccess)
            rc = error_set(EX_SOFTWARE, "CUDA: k_fill failed: %s", cudaGetErrorString(e));
    }
    if (!rc)
        rc = gemm_reference(h, ev, X, W, A, dW, n_pix, n_det, n_dim, reps, seconds);
    if (h)
        cublasDestroy(h);
    for (int j = 0; j < 2; j++)
        if (ev[j])
            cudaEventDestroy(ev[j]);
    cudaFree(X);
    cudaFree(W);
    cudaFree(A);
    cudaFree(dW);
    return rc;
}
