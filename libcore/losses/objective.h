/* objective — the loss terms of UIBE/CBE/EDDP assembled into one objective
 * for a batch: values of every enabled term, the weights they enter with (a
 * fixed λ, or an augmented-Lagrangian multiplier for constrained terms), and
 * the gradient with respect to the flat detector parameters.
 *
 * Stage: losses, called by training. In memory only, no files. */
#ifndef EDDP_OBJECTIVE_H
#define EDDP_OBJECTIVE_H

#include "detectors.h"
#include "headfile.h"
#include "losses.h"
#include "optim.h"

#include <stddef.h>

typedef enum {
    TERM_S, TERM_SB, TERM_MA, TERM_MM, TERM_IC, TERM_EAC, TERM_UUR, TERM_CUR, TERM_FSO, TERM_CNN,
    TERM_COUNT
} term_id;

extern const char *const term_names[TERM_COUNT];

typedef struct {
    int enabled[TERM_COUNT];
    int constrained[TERM_COUNT]; /* AL constraint L <= bound instead of a weighted term */
    double weight[TERM_COUNT];   /* λ of objective terms */
    double bound[TERM_COUNT];    /* bounds of constrained terms */
    loss_pixel_config pixel;     /* γ, τ, ρ, ν */
    double kappa_lo, kappa_hi;   /* URA step magnitude range */
} objective_config;

/* The training images a backend draws batches from: held in memory
 * (features), or streamed batch by batch from the file (features NULL,
 * source set: uibe/eddp --memory). The pooled features are always in memory. */
typedef struct {
    const float *features;   /* [n_img × n_dim × hw] as in the file (NCHW), or NULL */
    const double *pooled;    /* [n_img × n_dim] */
    size_t n_img;
    int n_dim, hw;
    struct batchsrc *source; /* when features is NULL (batchsrc.h) */
} train_data;

/* Gathers images order[0..n) into pixel-major X [n·hw × n_dim] and pooled
 * rows [n × n_dim], from memory or the source (the same values). Returns
 * the source's status (0 from memory). */
int train_gather(const train_data *data, const size_t *order, size_t n, double *X, double *pooled);

/* One batch of whole images: either the images order[0..n_img) of the
 * training set the backend was created over (X, pooled NULL), or, for the
 * CPU float64 backend only, pixel vectors given in pixel-major order. */
typedef struct {
    const double *X;       /* [n_pix × n_dim], or NULL */
    const double *pooled;  /* [n_img × n_dim] per-image averages, or NULL */
    const double *kappa;   /* [n_img] */
    int n_img;
    size_t n_pix;          /* n_img · hw */
    const size_t *order;   /* [n_img] image indices when X is NULL */
} objective_batch;

/* The seam between the objective and a backend (after ggml's backend
 * interface). A backend computes the batch-dependent terms — the pixel terms
 * (s, sb, ma, ic, eac), L^cnn and the URA terms (uur, cur): detectors in,
 * values, gradients and the URA condition number out. objective_eval does
 * the parametrisation, L^mm, L^fso and the fold (λ or the augmented
 * Lagrangian) once for every backend:
 *
 *   load → det_forward → forward_start → L^mm, L^fso → forward_finish →
 *   weights → backward_start → L^mm, L^fso backward → backward_finish →
 *   det_backward
 *
 * The start/finish halves let a device work while the host computes L^mm and
 * L^fso. values[TERM_COUNT] and weights[TERM_COUNT] are indexed by term_id;
 * a backend writes the values of its enabled terms only, and ADDS its
 * gradients (the same weights) into grads. Implementations: batch_cpu.h (the
 * CPU in float64, the reference) and device.h (the CUDA plugin, or cpu32 in
 * float32, through the host half in device.c). Every function returns 0 or
 * a status with the failure recorded through error.h. */
typedef struct {
    const char *name;        /* "cpu float64", "device" */
    int serial_small_steps;  /* a small step runs on one thread (objective.c) */
    int (*load)(void *ctx, const objective_batch *batch);
    int (*forward_start)(void *ctx, const det_view *view, double *values);
    int (*forward_finish)(void *ctx, const det_view *view, double *values, double *ura_cond);
    int (*backward_start)(void *ctx, const det_view *view, const double *weights, det_grads *grads);
    int (*backward_finish)(void *ctx, const det_view *view, const double *weights, det_grads *grads);
    void (*destroy)(void *ctx);
} batch_backend_ops;

typedef struct {
    const batch_backend_ops *ops;
    void *ctx;
} batch_backend;

typedef struct {
    const det_layout *layout;
    const objective_config *cfg;
    const head_params *head;
    batch_backend backend;      /* owned: destroyed by objective_free */
    loss_fso_workspace *fso_ws; /* NULL unless L^fso is enabled */
    det_view view;
    det_grads grads;
    double ura_cond;       /* condition number of the last URA solve */
} objective;

/* The objective over the CPU float64 backend, for batches of up to max_img
 * images and max_pix pixels given as pixel vectors (objective_batch.X). */
int objective_init(objective *obj, const det_layout *layout, const objective_config *cfg,
                   const head_params *head, int max_img, size_t max_pix);
/* The objective over the CPU float64 backend drawing batches of up to
 * max_img images from data (objective_batch.order); data must outlive it. */
int objective_init_data(objective *obj, const det_layout *layout, const objective_config *cfg,
                        const head_params *head, const train_data *data, size_t max_img);
/* The objective over a backend, which it owns from here on: objective_free
 * destroys it, after a failure too. */
int objective_init_backend(objective *obj, const det_layout *layout, const objective_config *cfg,
                           const head_params *head, batch_backend backend);
void objective_free(objective *obj);

/* Number of constrained terms, and their ids in order (the AL indices). */
int objective_constraints(const objective_config *cfg, int ids[TERM_COUNT]);

/* 1 when the comma-separated list of term names ("s,ma,uur") names term j. */
int objective_term_listed(const char *list, term_id j);

/* 1 for the terms the fused pixel passes compute (s, sb, ma, ic, eac). */
int objective_is_pixel_term(term_id j);
/* The pixel terms' weights (0 for disabled ones) out of weights[TERM_COUNT]. */
void objective_pixel_weights(const objective_config *cfg, const double *weights, loss_pixel_weights *w);

/* The weight each term's gradient enters with — λ for objective terms,
 * max(0, μ_k + ρ c_k) for constrained ones under the augmented Lagrangian
 * (al != NULL) — into weights[TERM_COUNT] (0 for disabled terms), given the
 * terms' values; returns the total objective value. */
double objective_weights(const objective_config *cfg, const al_state *al, const double values[TERM_COUNT],
                         double weights[TERM_COUNT]);

/* Evaluates every enabled term on the batch into values[TERM_COUNT] (NAN for
 * disabled ones). With dparams, also the gradient of
 *   total = Σ_objective λ_j L_j + AL penalty (al != NULL)  or  Σ_enabled λ_j L_j
 * with respect to the flat parameters. Returns 0, or a status with the failure
 * recorded through error.h (singular URA matrix, zero direction).
 * On a backend with serial_small_steps (the CPU float64 one), a small step (a few milliseconds of work, see objective.c) runs on one
 * thread whatever omp_get_max_threads() says, BLAS included, so its result
 * is the one-thread result; the caller's thread setting is restored. */
int objective_eval(objective *obj, const double *params, const objective_batch *batch,
                   const al_state *al, double values[TERM_COUNT], double *total, double *dparams);

#endif
