/* devinfo — see devinfo.h. */
#include "devinfo.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

#ifdef EDDP_HAVE_CUDA
#include <cuda_runtime_api.h>

int device_free_memory(int ordinal, size_t *free_bytes, size_t *total_bytes)
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
    if (ordinal < 0 || ordinal >= count)
        return error_set(EX_UNAVAILABLE, "CUDA device %d does not exist (%d device%s)", ordinal, count,
                         count == 1 ? "" : "s");
    int previous = 0;
    cudaGetDevice(&previous);
    status = cudaSetDevice(ordinal);
    if (status == cudaSuccess)
        status = cudaMemGetInfo(free_bytes, total_bytes);
    cudaSetDevice(previous);
    if (status != cudaSuccess) {
        const char *why = cudaGetErrorString(status);
        cudaGetLastError();
        return error_set(EX_UNAVAILABLE, "CUDA device %d: cannot query its memory: %s", ordinal, why);
    }
    return 0;
}

#else

int device_free_memory(int ordinal, size_t *free_bytes, size_t *total_bytes)
{
    (void)ordinal;
    *free_bytes = *total_bytes = 0;
    return error_set(EX_UNAVAILABLE, "no CUDA backend (built without nvcc)");
}

#endif

int device_cuda_ordinal(const char *device)
{
    if (!device || !strcmp(device, "auto") || !strcmp(device, "cuda"))
        return 0;
    if (strncmp(device, "cuda:", 5))
        return -1;
    char *end;
    long n = strtol(device + 5, &end, 10);
    return (end == device + 5 || *end || n < 0 || n > 1 << 20) ? -1 : (int)n;
}
