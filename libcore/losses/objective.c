/* objective — see objective.h. */
#include "objective.h"
#include "batch_cpu.h"
#include "error.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* A whole batch step below this much work (see step_work; about 2 ms on one
 * core) runs on one thread, BLAS and every OpenMP region of the head and
 * URA code included: a step of the synthetic experiment (2048 pixels × 3
 * detectors × 16 channels, work ≈ 0.6e6) is some twenty regions of
 * microseconds each, and a fork/join there costs more than the work — far
 * more when another process holds the second core. */
#define OBJECTIVE_SERIAL_WORK 2e6

const char *const term_names[TERM_COUNT] = {"s", "sb", "ma", "mm", "ic", "eac", "uur", "cur", "fso", "cnn"};

int objective_term_listed(const char *list, term_id j)
{
    size_t len = strlen(term_names[j]);
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, term_names[j], len))
            return 1;
        p += n;
        if (!*p)
            return 0;
    }
}

int objective_is_pixel_term(term_id j)
{
    return j == TERM_S || j == TERM_SB || j == TERM_MA || j == TERM_IC || j == TERM_EAC;
}

int objective_init_backend(objective *obj, const det_layout *layout, const objective_config *cfg,
                           const head_params *head, batch_backend backend)
{
    memset(obj, 0, sizeof *obj);
    obj->layout = layout;
    obj->cfg = cfg;
    obj->head = head;
    obj->backend = backend;
    if (cfg->enabled[TERM_FSO] &&
        !(obj->fso_ws = loss_fso_workspace_create(layout->n_det, layout->n_dim)))
        return error_set(EX_OSERR, "out of memory for the L^fso workspace");
    if (det_view_alloc(&obj->view, layout) || det_grads_alloc(&obj->grads, layout))
        return error_set(EX_OSERR, "out of memory for the detectors");
    return 0;
}

int objective_init(objective *obj, const det_layout *layout, const objective_config *cfg,
                   const head_params *head, int max_img, size_t max_pix)
{
    batch_backend cpu;
    if (batch_cpu_create(&cpu, layout, cfg, head, NULL, max_img, max_pix)) {
        memset(obj, 0, sizeof *obj);
        return error_code();
    }
    return objective_init_backend(obj, layout, cfg, head, cpu);
}

int objective_init_data(objective *obj, const det_layout *layout, const objective_config *cfg,
                        const head_params *head, const train_data *data, size_t max_img)
{
    batch_backend cpu;
    if (max_img > data->n_img)
        max_img = data->n_img;
    if (batch_cpu_create(&cpu, layout, cfg, head, data, (int)max_img, max_img * data->hw)) {
        memset(obj, 0, sizeof *obj);
        return error_code();
    }
    return objective_init_backend(obj, layout, cfg, head, cpu);
}

void objective_free(objective *obj)
{
    if (obj->backend.ops)
        obj->backend.ops->destroy(obj->backend.ctx);
    loss_fso_workspace_free(obj->fso_ws);
    det_view_free(&obj->view);
    det_grads_free(&obj->grads);
    memset(obj, 0, sizeof *obj);
}

int objective_constraints(const objective_config *cfg, int ids[TERM_COUNT])
{
    int n = 0;
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && cfg->constrained[j])
            ids[n++] = j;
    return n;
}

double objective_weights(const objective_config *cfg, const al_state *al, const double values[TERM_COUNT],
                         double weights[TERM_COUNT])
{
    /* Objective terms enter with their λ; constrained terms (under the
     * augmented Lagrangian) with max(0, μ_k + ρ c_k), k their AL index. */
    double constraint_values[AL_MAX_CONSTRAINTS], sum = 0;
    for (int j = 0; j < TERM_COUNT; j++) {
        weights[j] = 0;
        if (cfg->enabled[j] && !(al && cfg->constrained[j])) {
            weights[j] = cfg->weight[j];
            sum += cfg->weight[j] * values[j];
        }
    }
    if (al) {
        int ids[TERM_COUNT], n_con = objective_constraints(cfg, ids);
        for (int k = 0; k < n_con; k++) {
            constraint_values[k] = values[ids[k]];
            weights[ids[k]] = al_weight(al, k, values[ids[k]]);
        }
        sum += al_penalty_value(al, constraint_values);
    }
    return sum;
}

/* Why the parameters could not be mapped to detectors. */
static int params_failure(const det_layout *layout, const double *params)
{
    for (size_t k = 0; k < layout->n_params; k++)
        if (!isfinite(params[k]))
            return error_set(EX_SOFTWARE, "the parameters became NaN/Inf; stopped (the last checkpoint is kept)");
    return error_set(EX_SOFTWARE, "a detector direction became zero");
}

void objective_pixel_weights(const objective_config *cfg, const double *weights, loss_pixel_weights *w)
{
    w->s = cfg->enabled[TERM_S] ? weights[TERM_S] : 0;
    w->sb = cfg->enabled[TERM_SB] ? weights[TERM_SB] : 0;
    w->ma = cfg->enabled[TERM_MA] ? weights[TERM_MA] : 0;
    w->ic = cfg->enabled[TERM_IC] ? weights[TERM_IC] : 0;
    w->eac = cfg->enabled[TERM_EAC] ? weights[TERM_EAC] : 0;
}

/* L^mm and L^fso: the terms of the detectors alone, on the host for every
 * backend (while a device works on the batch). */
static int detector_terms_forward(objective *obj, double values[TERM_COUNT])
{
    const objective_config *cfg = obj->cfg;
    int n_det = obj->layout->n_det, n_dim = obj->layout->n_dim;
    if (cfg->enabled[TERM_MM])
        values[TERM_MM] = loss_margin_forward(obj->view.M, n_det);
    if (cfg->enabled[TERM_FSO] &&
        loss_fso_forward_ws(obj->fso_ws, obj->view.W, obj->view.S, n_det, n_dim, &values[TERM_FSO]))
        return error_set(EX_SOFTWARE, "L^fso: a zero filter or signal vector");
    return 0;
}

static int detector_terms_backward(objective *obj, const double weights[TERM_COUNT])
{
    const objective_config *cfg = obj->cfg;
    if (cfg->enabled[TERM_MM])
        loss_margin_backward(obj->view.M, obj->layout->n_det, weights[TERM_MM], obj->grads.M);
    if (cfg->enabled[TERM_FSO] &&
        loss_fso_backward_ws(obj->fso_ws, obj->view.W, obj->view.S, weights[TERM_FSO], obj->grads.W,
                             obj->grads.S))
        return error_set(EX_SOFTWARE, "L^fso backward: a zero filter or signal vector");
    return 0;
}

static int forward_all(objective *obj, const double *params, const objective_batch *batch,
                       double values[TERM_COUNT])
{
    const batch_backend_ops *be = obj->backend.ops;
    void *ctx = obj->backend.ctx;
    for (int j = 0; j < TERM_COUNT; j++)
        values[j] = NAN;
    if (be->load(ctx, batch))
        return error_code();
    if (det_forward(obj->layout, params, &obj->view))
        return params_failure(obj->layout, params);
    if (be->forward_start(ctx, &obj->view, values) || detector_terms_forward(obj, values) ||
        be->forward_finish(ctx, &obj->view, values, &obj->ura_cond))
        return error_code();
    return 0;
}

static int backward_all(objective *obj, const double *params, const double weights[TERM_COUNT], double *dparams)
{
    const batch_backend_ops *be = obj->backend.ops;
    void *ctx = obj->backend.ctx;
    det_grads_zero(&obj->grads, obj->layout);
    if (be->backward_start(ctx, &obj->view, weights, &obj->grads) || detector_terms_backward(obj, weights) ||
        be->backward_finish(ctx, &obj->view, weights, &obj->grads))
        return error_code();
    if (det_backward(obj->layout, params, &obj->view, &obj->grads, dparams))
        return error_set(EX_SOFTWARE, "a detector direction became zero");
    return 0;
}

/* Work of one step (forward and backward), in multiply-adds roughly: the
 * logits GEMMs, ~32 per logit for the pixel losses, the pooled-feature
 * products of the URA terms, the n_det² Gram / cosine matrices. */
static double step_work(const objective *obj, const objective_batch *batch)
{
    double n_det = obj->layout->n_det, n_dim = obj->layout->n_dim;
    return (double)batch->n_pix * n_det * (2.0 * n_dim + 32.0) +
           (double)batch->n_img * n_det * n_dim * 4.0 + n_det * n_det * (n_dim + n_det);
}

static int eval_step(objective *obj, const double *params, const objective_batch *batch,
                     const al_state *al, double values[TERM_COUNT], double *total, double *dparams)
{
    const objective_config *cfg = obj->cfg;
    if (forward_all(obj, params, batch, values))
        return error_code();
    double weights[TERM_COUNT];
    *total = objective_weights(cfg, al, values, weights);
    return dparams ? backward_all(obj, params, weights, dparams) : 0;
}

int objective_eval(objective *obj, const double *params, const objective_batch *batch,
                   const al_state *al, double values[TERM_COUNT], double *total, double *dparams)
{
    /* Small steps on one thread (see OBJECTIVE_SERIAL_WORK). OpenBLAS's
     * OpenMP build follows omp_get_max_threads(), so this covers BLAS too;
     * the caller's setting is restored before returning. */
    int threads = omp_get_max_threads();
    int serial = obj->backend.ops->serial_small_steps && threads > 1 && !omp_in_parallel() &&
                 step_work(obj, batch) < OBJECTIVE_SERIAL_WORK;
    if (serial)
        omp_set_num_threads(1);
    int rc = eval_step(obj, params, batch, al, values, total, dparams);
    if (serial)
        omp_set_num_threads(threads);
    return rc;
}
