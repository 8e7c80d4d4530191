/* devinfo — see devinfo.h. */
#include "devinfo.h"
#include "device.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

/* The query runs in the CUDA plugin (device.c loads it on demand): no tool
 * calls the CUDA runtime itself. */
int device_free_memory(int ordinal, size_t *free_bytes, size_t *total_bytes)
{
    return device_memory_info(ordinal, free_bytes, total_bytes);
}

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
