/* head — the network part after the studied layer, f+ = global average
 * pooling + linear + softmax (method-spec §1.3, §4.3, §5 "Entropy of f+").
 *
 * Head parameters: weight V [n_cls × n_dim], bias c [n_cls].
 * Features come as float32 NCHW, one image = [n_dim × hw] channel-major;
 * everything after pooling is double. Per-image arrays are row-major:
 * pooled [n_img × n_dim], logits [n_img × n_cls].
 *
 * Reductions over images (the means) are per-thread partial sums combined in
 * thread order: deterministic for a fixed thread count.
 *
 * Stage: model. In memory only (headfile.h reads and writes heads). */
#ifndef EDDP_HEAD_H
#define EDDP_HEAD_H

#include <stdint.h>

/* pooled[i, d] = mean over the hw pixels of feat[i, d, :] (summed in double).
 * OpenMP over images. */
void head_pool(const float *feat, int n_img, int n_dim, int hw,
               double *pooled);

/* logits = pooled Vᵀ + 𝟏 cᵀ: pooled [n_img × n_dim] → logits [n_img × n_cls]. */
void head_linear_forward(const double *pooled, int n_img, int n_dim,
                         const double *weight, const double *bias, int n_cls,
                         double *logits);

/* Backward of head_linear_forward; ACCUMULATES (+=):
 *   dweight [n_cls × n_dim] += dlogitsᵀ pooled,  dbias [n_cls] += Σ_i dlogits_i,
 *   dpooled [n_img × n_dim] += dlogits V.
 * Any of dweight, dbias, dpooled may be NULL (not wanted). */
void head_linear_backward(const double *dlogits, const double *pooled,
                          const double *weight, int n_img, int n_dim,
                          int n_cls, double *dweight, double *dbias,
                          double *dpooled);

/* logp [n_img × n_cls] = log softmax(logits), row by row, max-shifted. */
void head_log_softmax(const double *logits, int n_img, int n_cls,
                      double *logp);

/* Mean softmax cross-entropy in nats: −(1/n_img) Σ_i log softmax(ℓ_i)[y_i].
 * Labels must lie in [0, n_cls) (head_labels_valid). */
double head_xent_forward(const double *logits, const int32_t *labels,
                         int n_img, int n_cls);

/* dlogits = scale · ∂(head_xent_forward)/∂logits = scale (p − onehot)/n_img.
 * OVERWRITES dlogits [n_img × n_cls]. */
void head_xent_backward(const double *logits, const int32_t *labels,
                        int n_img, int n_cls, double scale, double *dlogits);

/* Mean prediction entropy in BITS (spec decision #8):
 * (1/n_img) Σ_i H(softmax(ℓ_i)) / ln 2, computed through the log-softmax so
 * it is finite for any finite logits (tested on [−1e3, 1e3]). */
double head_entropy_forward(const double *logits, int n_img, int n_cls);

/* dlogits = scale · ∂(head_entropy_forward)/∂logits, with
 * ∂H/∂ℓ_k = −p_k (ln p_k + H) / (ln 2 · n_img) (H in nats inside).
 * OVERWRITES dlogits [n_img × n_cls]. */
void head_entropy_backward(const double *logits, int n_img, int n_cls,
                           double scale, double *dlogits);

/* 1 when every label lies in [0, n_cls), else 0. */
int head_labels_valid(const int32_t *labels, int n_img, int n_cls);

/* pred [n_img] = argmax of each logits row (the first maximum on ties). */
void head_predict(const double *logits, int n_img, int n_cls, int32_t *pred);

/* Fraction of images whose argmax equals the label (0 when n_img = 0). */
double head_accuracy(const double *logits, const int32_t *labels, int n_img,
                     int n_cls);

/* counts [n_cls × n_cls] += confusion of this batch: counts[truth, pred].
 * ACCUMULATES, so batches can be summed; zero counts first for one batch. */
void head_confusion(const double *logits, const int32_t *labels, int n_img,
                    int n_cls, int64_t *counts);

#endif
