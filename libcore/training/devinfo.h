/* devinfo — what a compute device offers, asked before a run is planned.
 *
 * The query runs in the CUDA plugin, loaded on demand (device.h): without
 * a driver or without the plugin (a build without nvcc) the answer is that
 * there is no CUDA device or backend. Failures are
 * described through error.h, never printed.
 *
 * Stage: training. No files; asks the CUDA plugin. */
#ifndef EDDP_DEVINFO_H
#define EDDP_DEVINFO_H

#include <stddef.h>

/* Free and total memory, in bytes, of CUDA device ordinal (0, 1, ...).
 * Returns 0, or EX_UNAVAILABLE with the reason recorded: "no CUDA backend:
 * <what is missing>", "no CUDA device: no driver (<dlerror>)", "no CUDA device: <CUDA error string>" (no device,
 * no driver, a driver too old), "CUDA device N does not exist (M devices)",
 * or the CUDA error of the query itself. */
int device_free_memory(int ordinal, size_t *free_bytes, size_t *total_bytes);

/* The device ordinal a --device value names: "cuda:N" gives N, "cuda" and
 * "auto" give 0; -1 for "cpu" and anything else (no CUDA device meant). */
int device_cuda_ordinal(const char *device);

#endif
