/* device — which backend runs the batch step (--device auto|cpu|cuda[:N])
 * and the device step: the batch terms of the objective (objective.h's
 * batch_backend_ops) over the CUDA plugin or cpu32, on the images
 * order[0..n_img) of a training set uploaded once by device_step_create.
 * objective_eval runs it like the CPU float64 backend (batch_cpu.h), so
 * train.c never asks which one runs, and the tests compare them.
 *
 * Where the work runs (first version):
 *   device, float32 with float64 sums: the gather of the batch, the logits
 *     GEMM, both passes of the pixel losses (s, sb, ma, ic, eac) and their
 *     reductions, dW = dAᵀX, db;
 *   device, float64: the URA terms (uur, std, cur) on pooled features with
 *     the frozen head, and their gradients (cuBLAS, cuSOLVER potrs/getrs);
 *   host, float64, here: the n_det × n_det factorisations (Cholesky with
 *     jitter, LU), the column terms' n_det-sized statistics;
 *   host, float64, shared with every backend: the parametrisation
 *     (det_forward / det_backward), L^mm, L^fso (objective.c), Adam (train.c).
 * Per step the host uploads W, b (float32) and the URA matrices (float64),
 * and downloads dW (float32), db and the URA gradients (float64).
 * L^cnn is refused on the device.
 *
 * The CUDA backend is a plugin (build/lib/eddp-cuda.so, see
 * cuda/backend.h), the only binary linking the CUDA libraries, loaded by
 * device_choose only when --device asks for cuda, or auto finds the driver
 * (libcuda.so.1; $EDDP_CUDA_DRIVER names another library, for tests). It is
 * looked for at $EDDP_CUDA_PLUGIN, else <executable's dir>/../lib/, else
 * <executable's dir>/../build/lib/. Without it (a build without nvcc),
 * without the driver, or without a library it needs, cuda fails with
 * EX_UNAVAILABLE naming what is missing and auto chooses the CPU.
 *
 * The pixel path runs on centred pixels x̃ = x − c (c = layout->center):
 * the host forms the bias b − W c and adds the centring's share of the
 * filter gradient in float64 (cuda/backend.h).
 *
 * Stage: training. No files; loads the CUDA plugin on demand. */
#ifndef EDDP_DEVICE_H
#define EDDP_DEVICE_H

#include "detectors.h"
#include "headfile.h"
#include "objective.h"

#include <stddef.h>

/* DEVICE_CPU32: the CPU in float32 (cpu32.h), the CUDA backend's arithmetic
 * run by the same host half (--precision float32 on the CPU). */
typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1, DEVICE_CPU32 = 2 } device_kind;

typedef struct {
    device_kind kind;
    int index;        /* CUDA device index */
    char name[160];   /* "cpu" or "cuda:0 NVIDIA H200": the provenance attribute */
    int automatic;    /* chosen by auto: a run the device cannot do falls back to the CPU */
} device_choice;

/* 1 when the CUDA plugin is there (it may still fail to load). */
int device_have_cuda(void);

/* spec: auto (CUDA device 0 when usable, else the CPU, silently), cpu, cuda
 * (= cuda:0) or cuda:N. Returns 0, or EX_UNAVAILABLE when cuda was asked
 * for and is not usable ("--device cuda:0: no CUDA device: <reason>"),
 * EX_USAGE for another spelling. */
int device_choose(const char *spec, device_choice *out);

/* --precision after device_choose: NULL (not given) keeps the choice;
 * float32 turns the CPU into cpu float32 (DEVICE_CPU32; CUDA is float32
 * already); float64 keeps the CPU, turns auto's CUDA choice into the CPU,
 * and refuses an explicit cuda (EX_UNAVAILABLE); anything else EX_USAGE. */
int device_set_precision(device_choice *dev, const char *precision);
/* "float64" (the CPU) or "float32" (cpu float32, CUDA): the provenance
 * attribute `precision`. */
const char *device_precision(const device_choice *dev);

/* Free and total memory of CUDA device index (loads the plugin). */
int device_memory_info(int index, size_t *free_bytes, size_t *total_bytes);

/* The benchmark's reference: median seconds of the step's two SGEMMs alone
 * (cuda/backend.h cuda_gemm_reference) on dev. */
int device_gemm_reference(const device_choice *dev, size_t n_pix, int n_det, int n_dim, int reps, double *seconds);

typedef struct device_step device_step;

/* Uploads the training set (resident in device memory when it fits, else
 * batches stream from pinned host memory; EDDP_DEVICE_STREAM=1 forces
 * streaming) for batches of up to max_img images. layout, cfg, head and
 * data must outlive the step. Refuses L^cnn, and L^uur with more detectors
 * than dimensions, naming --device cpu. batch_budget (0: no limit): bytes
 * for a batch's buffers beside the set; the float32 CPU backend gathers a
 * batch that does not fit it in chunks (cpu32.h). */
int device_step_create(device_step **out, const device_choice *dev, const det_layout *layout,
                       const objective_config *cfg, const head_params *head, const train_data *data,
                       size_t max_img, size_t batch_budget);

/* The step as the objective's batch backend (objective_init_backend), which
 * then owns it: objective_free frees it. */
batch_backend device_step_backend(device_step *s);
/* 1 when the set is resident, 0 when streamed. */
int device_step_resident(const device_step *s);
/* Device memory held by the step, in bytes. */
size_t device_step_bytes(const device_step *s);

void device_step_free(device_step *s);

#endif
