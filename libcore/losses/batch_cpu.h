/* batch_cpu — the CPU float64 backend of the objective (objective.h's
 * batch_backend_ops): the logits, the fused pixel passes (losses.h), L^cnn
 * (cbe.h) and the URA terms (ura.h) of a batch, in double precision. It is
 * the reference the other backends (device.h) are tested against. */
#ifndef EDDP_BATCH_CPU_H
#define EDDP_BATCH_CPU_H

#include "objective.h"

/* A backend for batches of up to max_img images and max_pix pixels. data:
 * the training set batches are gathered from (objective_batch.order), or
 * NULL when every batch comes as pixel vectors (objective_batch.X). cfg,
 * head and data must outlive it. Refuses L^cnn on detectors other than the
 * standardised ones (EX_USAGE); EX_OSERR when out of memory. */
int batch_cpu_create(batch_backend *out, const det_layout *layout, const objective_config *cfg,
                     const head_params *head, const train_data *data, int max_img, size_t max_pix);

#endif
