/* objective — the loss terms of UIBE/CBE/EDDP assembled into one objective
 * for a batch: values of every enabled term, the weights they enter with (a
 * fixed λ, or an augmented-Lagrangian multiplier for constrained terms), and
 * the gradient with respect to the flat detector parameters.
 *
 * Stage: losses, called by training. In memory only, no files. */
#ifndef EDDP_OBJECTIVE_H
#define EDDP_OBJECTIVE_H

#include "cbe.h"
#include "detectors.h"
#include "headfile.h"
#include "losses.h"
#include "optim.h"
#include "ura.h"

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

/* One batch: whole images, pixel vectors in pixel-major order. */
typedef struct {
    const double *X;       /* [n_pix × n_dim] */
    const double *pooled;  /* [n_img × n_dim] per-image averages */
    const double *kappa;   /* [n_img] */
    int n_img;
    size_t n_pix;
} objective_batch;

typedef struct {
    const det_layout *layout;
    const objective_config *cfg;
    const head_params *head;
    loss_pixel_workspace *pixel_ws;
    loss_fso_workspace *fso_ws; /* NULL unless L^fso is enabled */
    ura_workspace *ura_ws;
    cbe_workspace cbe;     /* L^cnn (standardised detectors only) */
    double *A, *dA;        /* [max_pix × n_det] logits and their gradient */
    double *colsum;        /* [n_det] Σ_p dA, from the pixel losses' pass 2 */
    det_view view;
    det_grads grads;
    double ura_cond;       /* condition number of the last URA solve */
} objective;

int objective_init(objective *obj, const det_layout *layout, const objective_config *cfg,
                   const head_params *head, int max_img, size_t max_pix);
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
 * A small step (a few milliseconds of work, see objective.c) runs on one
 * thread whatever omp_get_max_threads() says, BLAS included, so its result
 * is the one-thread result; the caller's thread setting is restored. */
int objective_eval(objective *obj, const double *params, const objective_batch *batch,
                   const al_state *al, double values[TERM_COUNT], double *total, double *dparams);

#endif
