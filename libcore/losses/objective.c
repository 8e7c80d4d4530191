/* objective — see objective.h. */
#include "objective.h"
#include "error.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Cheap loops over the logits (an add per element) go parallel from this
 * many (n_pix · n_det) on: below it an OpenMP fork/join costs more than the
 * work. */
#define OBJECTIVE_PARALLEL_MIN 131072

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

int objective_init(objective *obj, const det_layout *layout, const objective_config *cfg,
                   const head_params *head, int max_img, size_t max_pix)
{
    memset(obj, 0, sizeof *obj);
    obj->layout = layout;
    obj->cfg = cfg;
    obj->head = head;
    size_t cells = max_pix * layout->n_det;
    obj->A = malloc(cells * sizeof(double));
    obj->dA = malloc(cells * sizeof(double));
    obj->colsum = malloc(layout->n_det * sizeof(double));
    obj->pixel_ws = loss_pixel_workspace_create(max_pix, layout->n_det);
    if (cfg->enabled[TERM_FSO] &&
        !(obj->fso_ws = loss_fso_workspace_create(layout->n_det, layout->n_dim)))
        return error_set(EX_OSERR, "out of memory for the L^fso workspace");
    int need_ura = cfg->enabled[TERM_UUR] || cfg->enabled[TERM_CUR];
    if (need_ura && ura_workspace_create(&obj->ura_ws, max_img, layout->n_det, layout->n_dim, head->n_cls))
        return error_set(EX_OSERR, "out of memory for the uncertainty-region workspace");
    if (cfg->enabled[TERM_CNN] && layout->kind != DET_STANDARDISED)
        return error_set(EX_USAGE, "L^cnn is defined for the standardised detectors of step (a) only");
    if (cfg->enabled[TERM_CNN] && cbe_workspace_init(&obj->cbe, max_img, layout->n_det, layout->n_dim, head->n_cls))
        return error_set(EX_OSERR, "out of memory for the L^cnn workspace");
    if (!obj->A || !obj->dA || !obj->colsum || !obj->pixel_ws || det_view_alloc(&obj->view, layout) ||
        det_grads_alloc(&obj->grads, layout))
        return error_set(EX_OSERR, "out of memory for batches of %zu pixels", max_pix);
    return 0;
}

void objective_free(objective *obj)
{
    free(obj->A);
    free(obj->dA);
    free(obj->colsum);
    loss_pixel_workspace_free(obj->pixel_ws);
    loss_fso_workspace_free(obj->fso_ws);
    ura_workspace_free(obj->ura_ws);
    cbe_workspace_free(&obj->cbe);
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

/* Which manipulation the URA term uses. */
static int ura_forward(objective *obj, const objective_batch *batch, term_id term, double *value)
{
    const det_layout *layout = obj->layout;
    const det_view *view = &obj->view;
    const head_params *head = obj->head;
    int rc;
    if (term == TERM_CUR)
        rc = ura_cur_forward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                             view->S, head->weight, head->bias, value);
    else if (layout->scale)
        rc = ura_std_forward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->unit,
                             view->t, layout->center, layout->scale, head->weight, head->bias, value);
    else
        rc = ura_uur_forward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                             head->weight, head->bias, value);
    obj->ura_cond = obj->ura_ws->cond;
    if (rc)
        return error_set(EX_DATAERR, "L^%s: %s (condition number %.3g)", term_names[term],
                         ura_strerror(rc), obj->ura_ws->cond);
    return 0;
}

static int ura_backward(objective *obj, const objective_batch *batch, term_id term, double scale)
{
    const det_layout *layout = obj->layout;
    const det_view *view = &obj->view;
    const head_params *head = obj->head;
    det_grads *g = &obj->grads;
    int rc;
    if (term == TERM_CUR)
        rc = ura_cur_backward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                              view->S, head->weight, head->bias, scale, g->W, g->b, g->S);
    else if (layout->scale)
        rc = ura_std_backward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->unit,
                              view->t, layout->center, layout->scale, head->weight, head->bias, scale,
                              g->unit, g->t);
    else
        rc = ura_uur_backward(obj->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                              head->weight, head->bias, scale, g->W, g->b);
    if (rc)
        return error_set(EX_DATAERR, "L^%s backward: %s", term_names[term], ura_strerror(rc));
    return 0;
}

void objective_pixel_weights(const objective_config *cfg, const double *weights, loss_pixel_weights *w)
{
    w->s = cfg->enabled[TERM_S] ? weights[TERM_S] : 0;
    w->sb = cfg->enabled[TERM_SB] ? weights[TERM_SB] : 0;
    w->ma = cfg->enabled[TERM_MA] ? weights[TERM_MA] : 0;
    w->ic = cfg->enabled[TERM_IC] ? weights[TERM_IC] : 0;
    w->eac = cfg->enabled[TERM_EAC] ? weights[TERM_EAC] : 0;
}

static int forward_all(objective *obj, const double *params, const objective_batch *batch,
                       double values[TERM_COUNT])
{
    const objective_config *cfg = obj->cfg;
    const det_layout *layout = obj->layout;
    int n_det = layout->n_det, n_dim = layout->n_dim;
    for (int j = 0; j < TERM_COUNT; j++)
        values[j] = NAN;
    if (det_forward(layout, params, &obj->view))
        return params_failure(layout, params);
    det_logits(&obj->view, n_det, n_dim, batch->X, batch->n_pix, obj->A);
    /* Weight 1 on each enabled pixel term makes the forward compute it. */
    double ones[TERM_COUNT];
    for (int j = 0; j < TERM_COUNT; j++)
        ones[j] = 1;
    loss_pixel_weights w;
    loss_pixel_values pv;
    objective_pixel_weights(cfg, ones, &w);
    if (loss_pixel_forward(obj->pixel_ws, obj->A, batch->n_pix, n_det, &cfg->pixel, &w, &pv))
        return error_set(EX_SOFTWARE, "pixel losses: batch larger than the workspace or bad settings");
    double pixel_values[TERM_COUNT] = {[TERM_S] = pv.s, [TERM_SB] = pv.sb, [TERM_MA] = pv.ma,
                                       [TERM_IC] = pv.ic, [TERM_EAC] = pv.eac};
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && objective_is_pixel_term(j))
            values[j] = pixel_values[j];
    if (cfg->enabled[TERM_MM])
        values[TERM_MM] = loss_margin_forward(obj->view.M, n_det);
    if (cfg->enabled[TERM_CNN])
        values[TERM_CNN] = cbe_forward(&obj->cbe, obj->A, batch->n_img, (int)(batch->n_pix / batch->n_img),
                                       batch->pooled, obj->view.unit, obj->view.M, layout->scale, obj->head);
    if (cfg->enabled[TERM_FSO] &&
        loss_fso_forward_ws(obj->fso_ws, obj->view.W, obj->view.S, n_det, n_dim, &values[TERM_FSO]))
        return error_set(EX_SOFTWARE, "L^fso: a zero filter or signal vector");
    for (term_id j = TERM_UUR; j <= TERM_CUR; j++)
        if (cfg->enabled[j] && ura_forward(obj, batch, j, &values[j]))
            return error_code();
    return 0;
}

/* db [n_det] −= Σ_p dA[p,·] over dA [n_pix × n_det]: every column summed in
 * pixel order (the same sums whether parallel or not), one cache line of
 * columns at a time rather than one strided pass per column. */
#define COLUMN_BLOCK 8

static void sub_column_sums(const double *dA, size_t n_pix, int n_det, double *db)
{
    int n_blocks = (n_det + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static) if (n_pix * n_det >= OBJECTIVE_PARALLEL_MIN && n_blocks > 1)
    for (int blk = 0; blk < n_blocks; blk++) {
        int i0 = blk * COLUMN_BLOCK, width = n_det - i0 < COLUMN_BLOCK ? n_det - i0 : COLUMN_BLOCK;
        double sum[COLUMN_BLOCK] = {0};
        if (width == COLUMN_BLOCK) {
            for (size_t p = 0; p < n_pix; p++)
                for (int k = 0; k < COLUMN_BLOCK; k++)
                    sum[k] += dA[p * n_det + i0 + k];
        } else {
            for (size_t p = 0; p < n_pix; p++)
                for (int k = 0; k < width; k++)
                    sum[k] += dA[p * n_det + i0 + k];
        }
        for (int k = 0; k < width; k++)
            db[i0 + k] -= sum[k];
    }
}

/* dW += dAᵀ X, db −= Σ_p dA (because a = W x − b); colsum holds Σ_p dA
 * already, or is NULL. */
static void logits_backward(objective *obj, const objective_batch *batch, const double *colsum)
{
    int n_det = obj->layout->n_det, n_dim = obj->layout->n_dim;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_det, n_dim, (int)batch->n_pix, 1.0, obj->dA,
                n_det, batch->X, n_dim, 1.0, obj->grads.W, n_dim);
    if (!colsum) {
        sub_column_sums(obj->dA, batch->n_pix, n_det, obj->grads.b);
        return;
    }
    for (int i = 0; i < n_det; i++)
        obj->grads.b[i] -= colsum[i];
}

static int backward_all(objective *obj, const double *params, const objective_batch *batch,
                        const double weights[TERM_COUNT], double *dparams)
{
    const objective_config *cfg = obj->cfg;
    int n_det = obj->layout->n_det;
    det_grads_zero(&obj->grads, obj->layout);
    loss_pixel_weights w;
    objective_pixel_weights(cfg, weights, &w);
    /* dA is written by pass 2 with its column sums; L^cnn adds to it after,
     * and then the sums are taken again. */
    int cnn = cfg->enabled[TERM_CNN] && weights[TERM_CNN] != 0;
    if (loss_pixel_backward_store(obj->pixel_ws, obj->A, batch->n_pix, &w, obj->dA, obj->colsum))
        return error_set(EX_SOFTWARE, "pixel losses backward out of order");
    if (cnn)
        cbe_backward(&obj->cbe, obj->A, batch->n_img, (int)(batch->n_pix / batch->n_img), obj->view.unit,
                     obj->view.M, obj->layout->scale, obj->head, weights[TERM_CNN], obj->dA, obj->grads.unit,
                     obj->grads.M);
    logits_backward(obj, batch, cnn ? NULL : obj->colsum);
    if (cfg->enabled[TERM_MM])
        loss_margin_backward(obj->view.M, n_det, weights[TERM_MM], obj->grads.M);
    if (cfg->enabled[TERM_FSO] &&
        loss_fso_backward_ws(obj->fso_ws, obj->view.W, obj->view.S, weights[TERM_FSO], obj->grads.W,
                             obj->grads.S))
        return error_set(EX_SOFTWARE, "L^fso backward: a zero filter or signal vector");
    for (term_id j = TERM_UUR; j <= TERM_CUR; j++)
        if (cfg->enabled[j] && weights[j] != 0 && ura_backward(obj, batch, j, weights[j]))
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
    return dparams ? backward_all(obj, params, batch, weights, dparams) : 0;
}

int objective_eval(objective *obj, const double *params, const objective_batch *batch,
                   const al_state *al, double values[TERM_COUNT], double *total, double *dparams)
{
    /* Small steps on one thread (see OBJECTIVE_SERIAL_WORK). OpenBLAS's
     * OpenMP build follows omp_get_max_threads(), so this covers BLAS too;
     * the caller's setting is restored before returning. */
    int threads = omp_get_max_threads();
    int serial = threads > 1 && !omp_in_parallel() && step_work(obj, batch) < OBJECTIVE_SERIAL_WORK;
    if (serial)
        omp_set_num_threads(1);
    int rc = eval_step(obj, params, batch, al, values, total, dparams);
    if (serial)
        omp_set_num_threads(threads);
    return rc;
}
