/* cuda/data.cu — device query, the context, residency of the training set
 * and the batch gather (see backend.h). */
#include "common.cuh"

#include <stdlib.h>
#include <string.h>

/* Bytes kept free beside the resident set (cuBLAS/cuSOLVER workspaces,
 * fragmentation). */
#define RESIDENT_SLACK ((size_t)512 << 20)
/* Pinned chunk of the upload and of streamed batches. */
#define STAGE_BYTES ((size_t)64 << 20)

extern "C" int cuda_device_query(int index, char *name, size_t name_len)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return error_set(EX_UNAVAILABLE, "no CUDA device: %s", cudaGetErrorString(e));
    if (count < 1)
        return error_set(EX_UNAVAILABLE, "no CUDA device: cudaGetDeviceCount found none");
    if (index < 0 || index >= count)
        return error_set(EX_UNAVAILABLE, "no CUDA device %d: this machine has %d (0..%d)", index, count,
                         count - 1);
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, index);
    if (e != cudaSuccess)
        return error_set(EX_UNAVAILABLE, "no CUDA device: cudaGetDeviceProperties(%d): %s", index,
                         cudaGetErrorString(e));
    /* A context must come up, or the device is not usable. */
    e = cudaSetDevice(index);
    if (e == cudaSuccess)
        e = cudaFree(0);
    if (e != cudaSuccess)
        return error_set(EX_UNAVAILABLE, "no CUDA device: device %d (%s): %s", index, prop.name,
                         cudaGetErrorString(e));
    if (name && name_len)
        snprintf(name, name_len, "%s", prop.name);
    return 0;
}

/* devinfo's query (moved here from devinfo.c so that no tool calls the
 * CUDA runtime): the device must exist; the current device is restored. */
extern "C" int cuda_memory_info(int index, size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        /* No driver, no device or a driver older than the runtime: the
         * runtime says which; nothing else is initialised on this path. */
        const char *why = cudaGetErrorString(status);
        cudaGetLastError(); /* clear the sticky status for later callers */
        return error_set(EX_UNAVAILABLE, "no CUDA device: %s", why);
    }
    if (count == 0)
        return error_set(EX_UNAVAILABLE, "no CUDA device: the runtime reports 0 devices");
    if (index < 0 || index >= count)
        return error_set(EX_UNAVAILABLE, "CUDA device %d does not exist (%d device%s)", index, count,
                         count == 1 ? "" : "s");
    int previous = 0;
    cudaGetDevice(&previous);
    status = cudaSetDevice(index);
    if (status == cudaSuccess)
        status = cudaMemGetInfo(free_bytes, total_bytes);
    cudaSetDevice(previous);
    if (status != cudaSuccess) {
        const char *why = cudaGetErrorString(status);
        cudaGetLastError();
        return error_set(EX_UNAVAILABLE, "CUDA device %d: cannot query its memory: %s", index, why);
    }
    return 0;
}

/* ---- layout change on the device: NCHW chunk → pixel-major ------------ */

/* out[(k·hw + p)·n_dim + d] = in[(k·n_dim + d)·hw + p] − center[d] for
 * k < n_img, the difference formed in float64 and rounded once (the pixel
 * path works on centred pixels, see backend.h). A 32×32 tile through shared
 * memory per (image, pixel tile, channel tile), so reads and writes are
 * both coalesced. */
__global__ void k_nchw_to_pixels(const float *in, size_t n_img, int n_dim, int hw, const double *center,
                                 float *out)
{
    __shared__ float tile[32][33];
    size_t k = blockIdx.z;
    int p0 = blockIdx.x * 32, d0 = blockIdx.y * 32;
    const float *img = in + k * (size_t)n_dim * hw;
    float *dst = out + k * (size_t)n_dim * hw;
    for (int r = threadIdx.y; r < 32; r += blockDim.y) {
        int d = d0 + r, p = p0 + threadIdx.x;
        if (d < n_dim && p < hw)
            tile[r][threadIdx.x] = img[(size_t)d * hw + p];
    }
    __syncthreads();
    for (int r = threadIdx.y; r < 32; r += blockDim.y) {
        int p = p0 + r, d = d0 + threadIdx.x;
        if (d < n_dim && p < hw)
            dst[(size_t)p * n_dim + d] = (float)((double)tile[threadIdx.x][r] - center[d]);
    }
}

static int launch_transpose(cuda_step *s, const float *in, size_t n_img, float *out)
{
    const cuda_step_sizes *z = &s->sz;
    size_t done = 0;
    while (done < n_img) { /* gridDim.z ≤ 65535 */
        size_t n = n_img - done < 65535 ? n_img - done : 65535;
        dim3 grid((unsigned)((z->hw + 31) / 32), (unsigned)((z->n_dim + 31) / 32), (unsigned)n);
        size_t off = done * (size_t)z->n_dim * z->hw;
        k_nchw_to_pixels<<<grid, dim3(32, 8), 0, s->stream>>>(in + off, n, z->n_dim, z->hw, s->center,
                                                                 out + off);
        KERNEL_TRY("k_nchw_to_pixels");
        done += n;
    }
    return 0;
}

/* Streams images src(k) for k < n (host NCHW) through the two pinned
 * chunks and device stages into out (pixel-major): the host copy of chunk
 * c+1 and its transfer overlap the transpose of chunk c. order NULL =
 * images first..first+n. */
static int stream_images(cuda_step *s, const size_t *order, size_t first, size_t n, float *out)
{
    size_t image_values = (size_t)s->sz.n_dim * s->sz.hw;
    size_t chunk = s->stage_img;
    int j = 0;
    for (size_t c0 = 0; c0 < n; c0 += chunk, j ^= 1) {
        size_t m = n - c0 < chunk ? n - c0 : chunk;
        /* buffer j is free once the transpose that read it has run */
        CUDA_TRY(cudaEventSynchronize(s->consumed[j]));
        for (size_t k = 0; k < m; k++) {
            size_t img = order ? order[c0 + k] : first + c0 + k;
            memcpy(s->pinned[j] + k * image_values, s->host_features + img * image_values,
                   image_values * sizeof(float));
        }
        CUDA_TRY(cudaMemcpyAsync(s->stage[j], s->pinned[j], m * image_values * sizeof(float),
                                 cudaMemcpyHostToDevice, s->copy_stream));
        CUDA_TRY(cudaEventRecord(s->copied[j], s->copy_stream));
        CUDA_TRY(cudaStreamWaitEvent(s->stream, s->copied[j], 0));
        if (launch_transpose(s, s->stage[j], m, out + c0 * image_values))
            return error_code();
        CUDA_TRY(cudaEventRecord(s->consumed[j], s->stream));
    }
    return 0;
}

/* ---- context ----------------------------------------------------------- */

extern "C" void cuda_step_free(cuda_step *s)
{
    if (!s)
        return;
    cudaSetDevice(s->sz.device);
    if (s->stream)
        cudaStreamSynchronize(s->stream);
    void *bufs[] = {s->set_pixels, s->set_pooled, s->stage[0], s->stage[1], s->order, s->kappa,
                    s->pooled, s->X, s->W, s->b, s->A, s->dW, s->dW_part, s->px_scl, s->px_lns, s->px_h,
                    s->px_m, s->px_clamped, s->px_k1, s->px_k0, s->part, s->col_part, s->col_out,
                    s->col_coef, s->scalars, s->head_w, s->head_b, s->center, s->scale, s->uW,
                    s->ub, s->uS, s->factor, s->ipiv, s->info, s->xs, s->dx, s->mp, s->gm,
                    s->scratch, s->R, s->V, s->ku, s->logits, s->dlogits, s->row_h, s->csym,
                    s->gW, s->gb, s->gS};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        if (bufs[k])
            cudaFree(bufs[k]);
    for (int j = 0; j < 2; j++) {
        if (s->pinned[j])
            cudaFreeHost(s->pinned[j]);
        if (s->copied[j])
            cudaEventDestroy(s->copied[j]);
        if (s->consumed[j])
            cudaEventDestroy(s->consumed[j]);
    }
    if (s->host_scalars)
        cudaFreeHost(s->host_scalars);
    if (s->host_dW)
        cudaFreeHost(s->host_dW);
    if (s->host_col)
        cudaFreeHost(s->host_col);
    if (s->solver)
        cusolverDnDestroy(s->solver);
    if (s->blas)
        cublasDestroy(s->blas);
    if (s->copy_stream)
        cudaStreamDestroy(s->copy_stream);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s);
}

extern "C" int cuda_step_resident(const cuda_step *s) { return s->resident; }
extern "C" size_t cuda_step_bytes(const cuda_step *s) { return s->bytes; }

static int alloc_batch_buffers(cuda_step *s)
{
    const cuda_step_sizes *z = &s->sz;
    size_t max_img = z->max_img, max_pix = max_img * z->hw;
    size_t nd = (size_t)z->n_det * z->n_dim, id = max_img * z->n_dim, ii = max_img * z->n_det;
    CUDA_TRY(dev_alloc(s, &s->order, max_img));
    CUDA_TRY(dev_alloc(s, &s->kappa, max_img));
    CUDA_TRY(dev_alloc(s, &s->pooled, id));
    CUDA_TRY(dev_alloc(s, &s->X, max_pix * z->n_dim));
    CUDA_TRY(dev_alloc(s, &s->W, nd));
    CUDA_TRY(dev_alloc(s, &s->b, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->A, max_pix * z->n_det));
    CUDA_TRY(dev_alloc(s, &s->dW, nd));
    CUDA_TRY(dev_alloc(s, &s->dW_part, dw_chunks(max_pix) * nd));
    CUDA_TRY(dev_alloc(s, &s->px_scl, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_lns, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_h, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_m, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_clamped, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_k1, max_pix));
    CUDA_TRY(dev_alloc(s, &s->px_k0, max_pix));
    CUDA_TRY(dev_alloc(s, &s->part, (size_t)PASS1_MAX_BLOCKS * 3));
    CUDA_TRY(dev_alloc(s, &s->col_part, (size_t)COL_CHUNKS_MAX * z->n_det));
    CUDA_TRY(dev_alloc(s, &s->col_out, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->col_coef, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->scalars, 8));
    CUDA_TRY(cudaMallocHost((void **)&s->host_scalars, 8 * sizeof(double)));
    CUDA_TRY(cudaMallocHost((void **)&s->host_dW, nd * sizeof(double)));
    CUDA_TRY(cudaMallocHost((void **)&s->host_col, (size_t)z->n_det * sizeof(double)));
    if (z->ura_kind == CUDA_URA_NONE)
        return 0;
    size_t ic = max_img * z->n_cls;
    CUDA_TRY(dev_alloc(s, &s->uW, nd));
    CUDA_TRY(dev_alloc(s, &s->ub, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->uS, nd));
    CUDA_TRY(dev_alloc(s, &s->factor, (size_t)z->n_det * z->n_det));
    CUDA_TRY(dev_alloc(s, &s->ipiv, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->info, 1));
    CUDA_TRY(dev_alloc(s, &s->xs, id));
    CUDA_TRY(dev_alloc(s, &s->dx, id));
    CUDA_TRY(dev_alloc(s, &s->mp, id));
    CUDA_TRY(dev_alloc(s, &s->gm, id));
    CUDA_TRY(dev_alloc(s, &s->scratch, id));
    CUDA_TRY(dev_alloc(s, &s->R, ii));
    CUDA_TRY(dev_alloc(s, &s->V, ii));
    CUDA_TRY(dev_alloc(s, &s->ku, ii));
    CUDA_TRY(dev_alloc(s, &s->logits, ic));
    CUDA_TRY(dev_alloc(s, &s->dlogits, ic));
    CUDA_TRY(dev_alloc(s, &s->row_h, max_img));
    CUDA_TRY(dev_alloc(s, &s->csym, (size_t)z->n_det * z->n_det));
    CUDA_TRY(dev_alloc(s, &s->gW, nd));
    CUDA_TRY(dev_alloc(s, &s->gb, (size_t)z->n_det));
    CUDA_TRY(dev_alloc(s, &s->gS, nd));
    return 0;
}

/* A cudaMemcpy from pageable memory may return before its DMA has finished,
 * and it runs on the legacy stream, which the step's non-blocking streams do
 * not wait for: the set-up copies are complete before any kernel reads them. */
static int upload_done(void)
{
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}

static int upload_small(cuda_step *s, const double *pooled, const double *head_w, const double *head_b,
                        const double *center, const double *scale)
{
    const cuda_step_sizes *z = &s->sz;
    size_t n_pooled = z->n_img_total * z->n_dim;
    CUDA_TRY(dev_alloc(s, &s->set_pooled, n_pooled));
    CUDA_TRY(cudaMemcpy(s->set_pooled, pooled, n_pooled * sizeof(double), cudaMemcpyHostToDevice));
    /* the pixels' centre (every run) and the URA's */
    CUDA_TRY(dev_alloc(s, &s->center, (size_t)z->n_dim));
    CUDA_TRY(cudaMemcpy(s->center, center, z->n_dim * sizeof(double), cudaMemcpyHostToDevice));
    if (z->ura_kind == CUDA_URA_NONE)
        return upload_done();
    size_t kd = (size_t)z->n_cls * z->n_dim;
    CUDA_TRY(dev_alloc(s, &s->head_w, kd));
    CUDA_TRY(dev_alloc(s, &s->head_b, (size_t)z->n_cls));
    CUDA_TRY(cudaMemcpy(s->head_w, head_w, kd * sizeof(double), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(s->head_b, head_b, z->n_cls * sizeof(double), cudaMemcpyHostToDevice));
    if (scale) {
        CUDA_TRY(dev_alloc(s, &s->scale, (size_t)z->n_dim));
        CUDA_TRY(cudaMemcpy(s->scale, scale, z->n_dim * sizeof(double), cudaMemcpyHostToDevice));
    }
    return upload_done();
}

static int create_staging(cuda_step *s)
{
    size_t image_bytes = (size_t)s->sz.n_dim * s->sz.hw * sizeof(float);
    s->stage_img = STAGE_BYTES / image_bytes;
    if (s->stage_img < 1)
        s->stage_img = 1;
    for (int j = 0; j < 2; j++) {
        CUDA_TRY(cudaMallocHost((void **)&s->pinned[j], s->stage_img * image_bytes));
        CUDA_TRY(dev_alloc(s, &s->stage[j], s->stage_img * image_bytes / sizeof(float)));
        CUDA_TRY(cudaEventCreateWithFlags(&s->copied[j], cudaEventDisableTiming));
        CUDA_TRY(cudaEventCreateWithFlags(&s->consumed[j], cudaEventDisableTiming));
        CUDA_TRY(cudaEventRecord(s->consumed[j], s->stream));
    }
    return 0;
}

static int create(cuda_step *s, const float *features, const double *pooled, const double *head_w,
                  const double *head_b, const double *center, const double *scale)
{
    const cuda_step_sizes *z = &s->sz;
    CUDA_TRY(cudaSetDevice(z->device));
    CUDA_TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    CUDA_TRY(cudaStreamCreateWithFlags(&s->copy_stream, cudaStreamNonBlocking));
    CUBLAS_TRY(cublasCreate(&s->blas));
    CUBLAS_TRY(cublasSetStream(s->blas, s->stream));
    /* Plain FP32 (no TF32 tensor cores): the logits must agree with the
     * double-precision reference to ~1e-6, TF32 gives ~1e-3. */
    CUBLAS_TRY(cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH));
    if (z->ura_kind != CUDA_URA_NONE) {
        CUSOLVER_TRY(cusolverDnCreate(&s->solver));
        CUSOLVER_TRY(cusolverDnSetStream(s->solver, s->stream));
    }
    if (alloc_batch_buffers(s) || upload_small(s, pooled, head_w, head_b, center, scale) ||
        create_staging(s))
        return error_code();
    /* Resident when the set fits beside everything else. */
    size_t set_values = z->n_img_total * z->n_dim * z->hw, free_b = 0, total_b = 0;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    s->resident = !z->force_stream && set_values * sizeof(float) + RESIDENT_SLACK <= free_b;
    if (!s->resident)
        return 0;
    CUDA_TRY(dev_alloc(s, &s->set_pixels, set_values));
    if (stream_images(s, NULL, 0, z->n_img_total, s->set_pixels))
        return error_code();
    CUDA_TRY(cudaStreamSynchronize(s->stream));
    (void)features;
    return 0;
}

extern "C" int cuda_step_create(cuda_step **out, const cuda_step_sizes *sz, const float *features,
                                const double *pooled, const double *head_w, const double *head_b,
                                const double *center, const double *scale)
{
    *out = NULL;
    if (!center)
        return error_set(EX_SOFTWARE, "cuda_step_create: the pixels' center is required");
    cuda_step *s = (cuda_step *)calloc(1, sizeof *s);
    if (!s)
        return error_set(EX_OSERR, "out of memory for the CUDA context");
    s->sz = *sz;
    if (s->sz.max_img > s->sz.n_img_total)
        s->sz.max_img = s->sz.n_img_total;
    s->host_features = features;
    if (create(s, features, pooled, head_w, head_b, center, scale)) {
        cuda_step_free(s);
        return error_code();
    }
    *out = s;
    return 0;
}

/* ---- the batch ----------------------------------------------------------- */

/* X block k = resident image order[k] ([hw × n_dim] floats each), as float4
 * when the image size allows; grid (blocks per image, images). */
__global__ void k_gather_pixels4(const float4 *set, const size_t *order, size_t image_vec, float4 *X)
{
    size_t k = blockIdx.y;
    const float4 *src = set + order[k] * image_vec;
    float4 *dst = X + k * image_vec;
    for (size_t v = blockIdx.x * (size_t)blockDim.x + threadIdx.x; v < image_vec; v += (size_t)gridDim.x * blockDim.x)
        dst[v] = src[v];
}

__global__ void k_gather_pixels(const float *set, const size_t *order, size_t image_values, float *X)
{
    size_t k = blockIdx.y;
    const float *src = set + order[k] * image_values;
    float *dst = X + k * image_values;
    size_t step = (size_t)gridDim.x * blockDim.x;
    for (size_t v = blockIdx.x * (size_t)blockDim.x + threadIdx.x; v < image_values; v += step)
        dst[v] = src[v];
}

__global__ void k_gather_pooled(const double *set, const size_t *order, int n_dim, double *pooled)
{
    size_t k = blockIdx.x;
    for (int d = threadIdx.x; d < n_dim; d += blockDim.x)
        pooled[k * n_dim + d] = set[order[k] * n_dim + d];
}

extern "C" int cuda_load_batch(cuda_step *s, const size_t *order, size_t n_img, const double *kappa)
{
    const cuda_step_sizes *z = &s->sz;
    if (n_img < 1 || n_img > z->max_img)
        return error_set(EX_SOFTWARE, "CUDA batch of %zu images (1..%zu)", n_img, z->max_img);
    for (size_t k = 0; k < n_img; k++)
        if (order[k] >= z->n_img_total)
            return error_set(EX_SOFTWARE, "CUDA batch: image %zu of a set of %zu", order[k], z->n_img_total);
    CUDA_TRY(cudaSetDevice(z->device));
    s->n_img = n_img;
    s->n_pix = n_img * z->hw;
    s->ura_kind = 0;
    /* Pageable sources: the copies are staged and complete before the
     * return, so order and kappa may change right after. */
    CUDA_TRY(cudaMemcpyAsync(s->order, order, n_img * sizeof(size_t), cudaMemcpyHostToDevice, s->stream));
    CUDA_TRY(cudaMemcpyAsync(s->kappa, kappa, n_img * sizeof(double), cudaMemcpyHostToDevice, s->stream));
    unsigned blocks_d = (unsigned)(z->n_dim < 256 ? 32 * ((z->n_dim + 31) / 32) : 256);
    k_gather_pooled<<<(unsigned)n_img, blocks_d, 0, s->stream>>>(s->set_pooled, s->order, z->n_dim, s->pooled);
    KERNEL_TRY("k_gather_pooled");
    size_t image_values = (size_t)z->n_dim * z->hw;
    if (s->resident) {
        int vec4 = image_values % 4 == 0;
        size_t units = vec4 ? image_values / 4 : image_values;
        unsigned gx = (unsigned)((units + 255) / 256);
        if (gx > 64)
            gx = 64;
        for (size_t k0 = 0; k0 < n_img; k0 += 65535) {
            size_t m = n_img - k0 < 65535 ? n_img - k0 : 65535;
            dim3 grid(gx, (unsigned)m);
            if (vec4)
                k_gather_pixels4<<<grid, 256, 0, s->stream>>>((const float4 *)s->set_pixels, s->order + k0, units,
                                                             (float4 *)(s->X + k0 * image_values));
            else
                k_gather_pixels<<<grid, 256, 0, s->stream>>>(s->set_pixels, s->order + k0, units,
                                                            s->X + k0 * image_values);
            KERNEL_TRY("k_gather_pixels");
        }
        return 0;
    }
    return stream_images(s, order, 0, n_img, s->X);
}
