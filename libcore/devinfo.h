/* devinfo — what a compute device offers, asked before a run is planned.
 *
 * Built with EDDP_HAVE_CUDA (the Makefile defines it, and links -lcudart,
 * when nvcc and the CUDA backend are present) it asks the CUDA runtime; the
 * CPU-only build answers that there is no CUDA backend. Failures are
 * described through error.h, never printed. */
#ifndef EDDP_DEVINFO_H
#define EDDP_DEVINFO_H

#include <stddef.h>

/* Free and total memory, in bytes, of CUDA device ordinal (0, 1, ...).
 * Returns 0, or EX_UNAVAILABLE with the reason recorded: "no CUDA backend
 * (built without nvcc)", "no CUDA device: <CUDA error string>" (no device,
 * no driver, a driver too old), "CUDA device N does not exist (M devices)",
 * or the CUDA error of the query itself. */
int device_free_memory(int ordinal, size_t *free_bytes, size_t *total_bytes);

/* The device ordinal a --device value names: "cuda:N" gives N, "cuda" and
 * "auto" give 0; -1 for "cpu" and anything else (no CUDA device meant). */
int device_cuda_ordinal(const char *device);

#endif
