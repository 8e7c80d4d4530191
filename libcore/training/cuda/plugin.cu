/* cuda/plugin.cu — the plugin's one exported symbol: the table of the
 * backend's entry points (backend.h) that device.c reaches after dlopen.
 * Everything else in the shared object is hidden (-fvisibility=hidden). */
#include "common.cuh"

#ifndef EDDP_CUDA_BUILD_LINE
#define EDDP_CUDA_BUILD_LINE "CUDA"
#endif

static const cuda_backend_ops ops = {
    CUDA_BACKEND_ABI,
    sizeof(cuda_backend_ops),
    EDDP_CUDA_BUILD_LINE,
    cuda_device_query,
    cuda_memory_info,
    cuda_step_create,
    cuda_step_free,
    cuda_step_resident,
    cuda_step_bytes,
    cuda_load_batch,
    cuda_pixel_forward,
    cuda_pixel_forward_collect,
    cuda_pixel_backward,
    cuda_pixel_backward_collect,
    cuda_ura_forward,
    cuda_ura_backward,
    cuda_gemm_reference,
    error_code,
    error_message,
    error_clear,
};

extern "C" __attribute__((visibility("default"))) const cuda_backend_ops *eddp_cuda_backend(void)
{
    return &ops;
}
