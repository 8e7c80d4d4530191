/* cuda/ura.cu — L^uur (free and standardised paths) and L^cur on pooled
 * features, with the frozen head, in float64 on the device. The math and
 * the order of operations are ura.c's (see its header comment for the
 * derivations); the factorisation of the n_det × n_det matrix comes from
 * the host (mat.h's Cholesky with jitter / LU with pivoting) and the solves
 * run here with cuSOLVER's potrs/getrs on that same factor.
 *
 * Row-major [r × c] arrays are column-major [c × r] to cuBLAS; each GEMM
 * below says which product it forms. */
#include "common.cuh"

#include <string.h>

#define LN2 0.693147180559945309417232121458

/* ---- element-wise helpers ------------------------------------------------ */

/* xs = (m − μ) ⊘ σ  [n_img × n_dim] */
__global__ void k_standardise(const double *m, const double *mu, const double *sigma, size_t n, int n_dim,
                              double *xs)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        int d = (int)(k % n_dim);
        xs[k] = (m[k] - mu[d]) / sigma[d];
    }
}

/* rows [n × cols] −= bias (per column) */
__global__ void k_sub_bias(double *rows, const double *bias, size_t n, int cols)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        rows[k] -= bias[k % cols];
}

/* rows [n × cols] = bias (per column) */
__global__ void k_set_bias(double *rows, const double *bias, size_t n, int cols)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        rows[k] = bias[k % cols];
}

/* y_j = factor · κ_j · x_j row by row  [n × cols] (in place allowed) */
__global__ void k_scale_rows(const double *x, const double *kappa, double factor, size_t n, int cols, double *y)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        y[k] = factor * kappa[k / cols] * x[k];
}

/* m' = m − κ_j (σ_d) dx  [n_img × n_dim]; unit NULL = 1 */
__global__ void k_apply_shift(const double *m, const double *dx, const double *kappa, const double *unit, size_t n,
                              int n_dim, double *mp)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        int d = (int)(k % n_dim);
        mp[k] = m[k] - kappa[k / n_dim] * (unit ? unit[d] : 1.0) * dx[k];
    }
}

/* g [n × n_dim] ⊙= σ (per column) */
__global__ void k_scale_cols(double *g, const double *sigma, size_t n, int n_dim)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        g[k] *= sigma[k % n_dim];
}

/* out = a − b  [n] */
__global__ void k_sub(const double *a, const double *b, size_t n, double *out)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        out[k] = a[k] - b[k];
}

/* out += κ_j g  [n × n_dim] */
__global__ void k_add_scaled_rows(const double *g, const double *kappa, size_t n, int n_dim, double *out)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x)
        out[k] += kappa[k / n_dim] * g[k];
}

/* C [n × n] += extra · (Σ_i C_ii / 2) · I: the jitter term of the L^uur
 * gradient, Σ_img vᵀu = tr(Vᵀ U) = tr(C)/2 (one block, fixed order). */
__global__ void k_jitter_diag(double *C, int n, double extra)
{
    __shared__ double sh[RED_BLOCK];
    double t = 0.0;
    for (int i = threadIdx.x; i < n; i += RED_BLOCK)
        t += C[(size_t)i * n + i];
    double vu = 0.5 * block_sum(t, sh);
    for (int i = threadIdx.x; i < n; i += RED_BLOCK)
        C[(size_t)i * n + i] += extra * vu;
}

/* ---- head: entropy of softmax rows (one warp per row) ------------------ */

/* H_j in nats of softmax(logits_j), as head.c's row_entropy_nats. */
__global__ void k_row_entropy(const double *logits, int n_img, int n_cls, double *H)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int j = blockIdx.x * ROW_WARPS + warp;
    if (j >= n_img)
        return;
    const double *row = logits + (size_t)j * n_cls;
    double mx = -INFINITY;
    for (int k = lane; k < n_cls; k += 32)
        mx = fmax(mx, row[k]);
    mx = warp_max(mx);
    double sum = 0.0, weighted = 0.0;
    for (int k = lane; k < n_cls; k += 32) {
        double z = row[k] - mx, e = exp(z);
        sum += e;
        weighted += e * z;
    }
    sum = warp_sum(sum);
    weighted = warp_sum(weighted);
    if (lane == 0)
        H[j] = log(sum) - weighted / sum;
}

/* dlogits_j = −f p (ln p + H), f = scale/(n_img ln 2): head.c's
 * head_entropy_backward. */
__global__ void k_row_entropy_backward(const double *logits, int n_img, int n_cls, double f, double *dlogits)
{
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int j = blockIdx.x * ROW_WARPS + warp;
    if (j >= n_img)
        return;
    const double *row = logits + (size_t)j * n_cls;
    double *drow = dlogits + (size_t)j * n_cls;
    double mx = -INFINITY;
    for (int k = lane; k < n_cls; k += 32)
        mx = fmax(mx, row[k]);
    mx = warp_max(mx);
    double sum = 0.0;
    for (int k = lane; k < n_cls; k += 32) {
        drow[k] = exp(row[k] - mx);
        sum += drow[k];
    }
    sum = warp_sum(sum);
    double lse = log(sum), h = 0.0;
    for (int k = lane; k < n_cls; k += 32)
        h -= drow[k] / sum * (row[k] - mx - lse);
    h = warp_sum(h);
    for (int k = lane; k < n_cls; k += 32) {
        double p = drow[k] / sum, lp = row[k] - mx - lse;
        drow[k] = -f * p * (lp + h);
    }
}

/* ---- GEMM shorthands on row-major arrays --------------------------------- */

/* C [m × n] = alpha · op(A) op(B) + beta · C, all row-major, like mat_gemm:
 * the column-major product Cᵀ = op(B)ᵀ op(A)ᵀ. */
static int gemm(cuda_step *s, int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a,
                const double *b, double beta, double *c)
{
    int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    CUBLAS_TRY(cublasDgemm(s->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m,
                           k, &alpha, b, ldb, a, lda, &beta, c, n));
    return 0;
}

#define LAUNCH(kernel, n, ...)                                                                \
    do {                                                                                      \
        kernel<<<grid_for((n), 256), 256, 0, s->stream>>>(__VA_ARGS__);                       \
        KERNEL_TRY(#kernel);                                                                  \
    } while (0)

/* Solves the rows of rhs [nrhs × n_det] in place with the uploaded factor:
 * G x = r (potrs 'L'), or B x = r (transposed 0) / Bᵀ x = r (1) with the LU
 * of Bᵀ (mat_lu_solve's convention). */
static int solve_rows(cuda_step *s, int kind, int transposed, double *rhs, int nrhs)
{
    int n = s->sz.n_det, info = 0;
    if (kind == CUDA_URA_CUR)
        CUSOLVER_TRY(cusolverDnDgetrs(s->solver, transposed ? CUBLAS_OP_N : CUBLAS_OP_T, n, nrhs, s->factor, n,
                                      s->ipiv, rhs, n, s->info));
    else
        CUSOLVER_TRY(cusolverDnDpotrs(s->solver, CUBLAS_FILL_MODE_LOWER, n, nrhs, s->factor, n, rhs, n, s->info));
    CUDA_TRY(cudaMemcpyAsync(&s->host_scalars[7], s->info, sizeof(int), cudaMemcpyDeviceToHost, s->stream));
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    memcpy(&info, &s->host_scalars[7], sizeof info);
    if (info != 0)
        return error_set(EX_SOFTWARE, "cuSOLVER: %s reported info %d", kind == CUDA_URA_CUR ? "getrs" : "potrs",
                         info);
    return 0;
}

extern "C" int cuda_ura_forward(cuda_step *s, int kind, const double *W, const double *b, const double *S,
                                const double *factor, const int *ipiv, double *value)
{
    const cuda_step_sizes *z = &s->sz;
    int n_det = z->n_det, n_dim = z->n_dim, n_cls = z->n_cls, n_img = (int)s->n_img;
    size_t nd = (size_t)n_det * n_dim, id = (size_t)n_img * n_dim, ii = (size_t)n_img * n_det;
    s->ura_kind = 0;
    if (kind != z->ura_kind || (kind == CUDA_URA_STD && !s->scale))
        return error_set(EX_SOFTWARE, "CUDA URA of kind %d on a context made for kind %d", kind, z->ura_kind);
    CUDA_TRY(cudaSetDevice(z->device));
    CUDA_TRY(cudaMemcpyAsync(s->uW, W, nd * sizeof(double), cudaMemcpyHostToDevice, s->stream));
    CUDA_TRY(cudaMemcpyAsync(s->ub, b, n_det * sizeof(double), cudaMemcpyHostToDevice, s->stream));
    CUDA_TRY(cudaMemcpyAsync(s->factor, factor, (size_t)n_det * n_det * sizeof(double), cudaMemcpyHostToDevice,
                             s->stream));
    if (kind == CUDA_URA_CUR) {
        CUDA_TRY(cudaMemcpyAsync(s->uS, S, nd * sizeof(double), cudaMemcpyHostToDevice, s->stream));
        CUDA_TRY(cudaMemcpyAsync(s->ipiv, ipiv, n_det * sizeof(int), cudaMemcpyHostToDevice, s->stream));
    }
    /* xs: the features in the space W acts on */
    const double *xs = s->pooled;
    if (kind == CUDA_URA_STD) {
        LAUNCH(k_standardise, id, s->pooled, s->center, s->scale, id, n_dim, s->xs);
        xs = s->xs;
    }
    /* R = xs Wᵀ − b, then U = G⁻¹R / B⁻¹R row by row (in place) */
    if (gemm(s, 0, 1, n_img, n_det, n_dim, 1.0, xs, s->uW, 0.0, s->R))
        return error_code();
    LAUNCH(k_sub_bias, ii, s->R, s->ub, ii, n_det);
    if (solve_rows(s, kind, 0, s->R, n_img))
        return error_code();
    /* dx = U W (uur, std) or U S (cur); m' = m − κ (σ) dx */
    if (gemm(s, 0, 0, n_img, n_dim, n_det, 1.0, s->R, kind == CUDA_URA_CUR ? s->uS : s->uW, 0.0, s->dx))
        return error_code();
    LAUNCH(k_apply_shift, id, s->pooled, s->dx, s->kappa, kind == CUDA_URA_STD ? s->scale : NULL, id, n_dim, s->mp);
    /* head logits = m' Vᵀ + c; L = −mean H (bits) */
    size_t ic = (size_t)n_img * n_cls;
    LAUNCH(k_set_bias, ic, s->logits, s->head_b, ic, n_cls);
    if (gemm(s, 0, 1, n_img, n_cls, n_dim, 1.0, s->mp, s->head_w, 1.0, s->logits))
        return error_code();
    k_row_entropy<<<(unsigned)((n_img + ROW_WARPS - 1) / ROW_WARPS), ROW_WARPS * 32, 0, s->stream>>>(
        s->logits, n_img, n_cls, s->row_h);
    KERNEL_TRY("k_row_entropy");
    k_strided_sum<<<1, RED_BLOCK, 0, s->stream>>>(s->row_h, (size_t)n_img, 1, 1.0, s->scalars + 5);
    KERNEL_TRY("k_strided_sum");
    CUDA_TRY(cudaMemcpyAsync(&s->host_scalars[5], s->scalars + 5, sizeof(double), cudaMemcpyDeviceToHost,
                             s->stream));
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    *value = -s->host_scalars[5] / (n_img * LN2);
    s->ura_kind = kind;
    return 0;
}

extern "C" int cuda_ura_backward(cuda_step *s, double scale, double jitter_extra, double *dW, double *db,
                                 double *dS)
{
    const cuda_step_sizes *z = &s->sz;
    int n_det = z->n_det, n_dim = z->n_dim, n_cls = z->n_cls, n_img = (int)s->n_img, kind = s->ura_kind;
    size_t nd = (size_t)n_det * n_dim, id = (size_t)n_img * n_dim, ii = (size_t)n_img * n_det;
    if (!kind)
        return error_set(EX_SOFTWARE, "CUDA URA backward without a matching forward");
    CUDA_TRY(cudaSetDevice(z->device));
    /* gm = ∂(scale·L)/∂m' = dlogits V */
    k_row_entropy_backward<<<(unsigned)((n_img + ROW_WARPS - 1) / ROW_WARPS), ROW_WARPS * 32, 0, s->stream>>>(
        s->logits, n_img, n_cls, -scale / (n_img * LN2), s->dlogits);
    KERNEL_TRY("k_row_entropy_backward");
    if (gemm(s, 0, 0, n_img, n_dim, n_cls, 1.0, s->dlogits, s->head_w, 0.0, s->gm))
        return error_code();
    const double *xs = s->pooled;
    if (kind == CUDA_URA_STD) {
        LAUNCH(k_scale_cols, id, s->gm, s->scale, id, n_dim); /* ∂L/∂(m̃ − κ dx̃) = σ ⊙ ∂L/∂m' */
        xs = s->xs;
    }
    const double *U = s->R;
    if (kind == CUDA_URA_CUR) {
        /* V = −diag(κ) Gm Sᵀ B⁻¹ (rows solve Bᵀ v = ·) */
        if (gemm(s, 0, 1, n_img, n_det, n_dim, 1.0, s->gm, s->uS, 0.0, s->V))
            return error_code();
        LAUNCH(k_scale_rows, ii, s->V, s->kappa, -1.0, ii, n_det, s->V);
        if (solve_rows(s, kind, 1, s->V, n_img))
            return error_code();
        /* dW = Vᵀ (M − DX) */
        LAUNCH(k_sub, id, s->pooled, s->dx, id, s->scratch);
        if (gemm(s, 1, 0, n_det, n_dim, n_img, 1.0, s->V, s->scratch, 0.0, s->gW))
            return error_code();
        /* dS = −Uᵀ (diag(κ) Gm + V W) */
        if (gemm(s, 0, 0, n_img, n_dim, n_det, 1.0, s->V, s->uW, 0.0, s->scratch))
            return error_code();
        LAUNCH(k_add_scaled_rows, id, s->gm, s->kappa, id, n_dim, s->scratch);
        if (gemm(s, 1, 0, n_det, n_dim, n_img, -1.0, U, s->scratch, 0.0, s->gS))
            return error_code();
    } else {
        /* V = −diag(κ) Gx Wᵀ G⁻¹ */
        if (gemm(s, 0, 1, n_img, n_det, n_dim, 1.0, s->gm, s->uW, 0.0, s->V))
            return error_code();
        LAUNCH(k_scale_rows, ii, s->V, s->kappa, -1.0, ii, n_det, s->V);
        if (solve_rows(s, kind, 0, s->V, n_img))
            return error_code();
        /* dW = −(κ⊙U)ᵀ Gx + Vᵀ X */
        LAUNCH(k_scale_rows, ii, U, s->kappa, 1.0, ii, n_det, s->ku);
        if (gemm(s, 1, 0, n_det, n_dim, n_img, -1.0, s->ku, s->gm, 0.0, s->gW) ||
            gemm(s, 1, 0, n_det, n_dim, n_img, 1.0, s->V, xs, 1.0, s->gW))
            return error_code();
        /* dW −= (Vᵀ U + Uᵀ V [+ jitter term]) W */
        if (gemm(s, 1, 0, n_det, n_det, n_img, 1.0, s->V, U, 0.0, s->csym) ||
            gemm(s, 1, 0, n_det, n_det, n_img, 1.0, U, s->V, 1.0, s->csym))
            return error_code();
        if (jitter_extra != 0.0) {
            k_jitter_diag<<<1, RED_BLOCK, 0, s->stream>>>(s->csym, n_det, jitter_extra);
            KERNEL_TRY("k_jitter_diag");
        }
        if (gemm(s, 0, 0, n_det, n_dim, n_det, -1.0, s->csym, s->uW, 1.0, s->gW))
            return error_code();
    }
    /* db = −Σ_img v, each column in image order */
    k_strided_sum<<<(unsigned)n_det, RED_BLOCK, 0, s->stream>>>(s->V, (size_t)n_img, (size_t)n_det, -1.0, s->gb);
    KERNEL_TRY("k_strided_sum");
    CUDA_TRY(cudaMemcpyAsync(dW, s->gW, nd * sizeof(double), cudaMemcpyDeviceToHost, s->stream));
    CUDA_TRY(cudaMemcpyAsync(db, s->gb, n_det * sizeof(double), cudaMemcpyDeviceToHost, s->stream));
    if (kind == CUDA_URA_CUR && dS)
        CUDA_TRY(cudaMemcpyAsync(dS, s->gS, nd * sizeof(double), cudaMemcpyDeviceToHost, s->stream));
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    return 0;
}
