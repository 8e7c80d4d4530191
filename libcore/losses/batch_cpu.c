/* batch_cpu — see batch_cpu.h. */
#include "batch_cpu.h"
#include "batchsrc.h"
#include "cbe.h"
#include "error.h"
#include "ura.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Cheap loops over the logits (an add per element) go parallel from this
 * many (n_pix · n_det) on: below it an OpenMP fork/join costs more than the
 * work. */
#define OBJECTIVE_PARALLEL_MIN 131072

typedef struct {
    const det_layout *layout;
    const objective_config *cfg;
    const head_params *head;
    const train_data *data;    /* NULL: batches come as pixel vectors */
    int max_img;
    size_t max_pix;
    loss_pixel_workspace *pixel_ws;
    ura_workspace *ura_ws;
    cbe_workspace cbe;         /* L^cnn (standardised detectors only) */
    double *X, *pooled;        /* [max_pix × n_dim], [max_img × n_dim] gathered batch (data only) */
    double *A, *dA;            /* [max_pix × n_det] logits and their gradient */
    double *colsum;            /* [n_det] Σ_p dA, from the pixel losses' pass 2 */
    objective_batch batch;     /* the loaded batch (X, pooled point to the pixels) */
} batch_cpu;

/* ---- gathering a batch ----------------------------------------------------- */

/* The gather goes parallel from this many copied values (pixels × channels)
 * on: below it an OpenMP fork/join costs more than the copy (a full batch
 * of the synthetic experiment is 32768 values, ~50 µs of copying). */
#define GATHER_PARALLEL_MIN 131072
/* Images are visited in random order, so each one's first cache lines miss;
 * they are requested this many images ahead (at most GATHER_PREFETCH_BYTES
 * of each; the hardware prefetcher follows the rest of a large image). */
#define GATHER_PREFETCH_AHEAD 8
#define GATHER_PREFETCH_BYTES 512

static void prefetch_bytes(const void *start, size_t bytes)
{
    const char *p = start;
    if (bytes > GATHER_PREFETCH_BYTES)
        bytes = GATHER_PREFETCH_BYTES;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(p + off);
}

/* pixels [hw × n_dim] (doubles) = the transpose of image [n_dim × hw]. The
 * loop over the longer side runs innermost, so that either the reads
 * (large images: hw contiguous floats of a channel) or the writes (few
 * pixels: a pixel's n_dim channels) are contiguous. */
static void transpose_image(const float *image, int n_dim, int hw, double *pixels)
{
    if (hw < n_dim) {
        for (int p = 0; p < hw; p++)
            for (int d = 0; d < n_dim; d++)
                pixels[(size_t)p * n_dim + d] = image[(size_t)d * hw + p];
    } else {
        for (int d = 0; d < n_dim; d++)
            for (int p = 0; p < hw; p++)
                pixels[(size_t)p * n_dim + d] = image[(size_t)d * hw + p];
    }
}

/* A streamed batch: the source delivers the images in batch order. */
static int gather_streamed(const train_data *data, const size_t *order, size_t n, double *X, double *pooled)
{
    int n_dim = data->n_dim, hw = data->hw;
    size_t image_values = (size_t)n_dim * hw;
    const float *images;
    if (batchsrc_gather(data->source, order, n, &images))
        return error_code();
#pragma omp parallel for schedule(static) if (n * image_values >= GATHER_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++) {
        transpose_image(images + k * image_values, n_dim, hw, X + k * image_values);
        memcpy(pooled + k * n_dim, data->pooled + order[k] * n_dim, n_dim * sizeof(double));
    }
    return 0;
}

int train_gather(const train_data *data, const size_t *order, size_t n, double *X, double *pooled)
{
    if (!data->features)
        return gather_streamed(data, order, n, X, pooled);
    int n_dim = data->n_dim, hw = data->hw;
    size_t image_values = (size_t)n_dim * hw;
#pragma omp parallel for schedule(static) if (n * image_values >= GATHER_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++) {
        if (k + GATHER_PREFETCH_AHEAD < n) {
            size_t next = order[k + GATHER_PREFETCH_AHEAD];
            prefetch_bytes(data->features + next * image_values, image_values * sizeof(float));
            prefetch_bytes(data->pooled + next * n_dim, n_dim * sizeof(double));
        }
        transpose_image(data->features + order[k] * image_values, n_dim, hw, X + k * image_values);
        memcpy(pooled + k * n_dim, data->pooled + order[k] * n_dim, n_dim * sizeof(double));
    }
    return 0;
}

static int cpu_load(void *ctx, const objective_batch *batch)
{
    batch_cpu *c = ctx;
    if (batch->n_img > c->max_img || batch->n_pix > c->max_pix)
        return error_set(EX_SOFTWARE, "a batch of %d images (%zu pixels) exceeds the workspace's %d (%zu)",
                         batch->n_img, batch->n_pix, c->max_img, c->max_pix);
    c->batch = *batch;
    if (batch->X)
        return 0;
    if (!c->data || !batch->order)
        return error_set(EX_SOFTWARE, "the CPU objective has no training set to gather a batch from");
    if (train_gather(c->data, batch->order, (size_t)batch->n_img, c->X, c->pooled))
        return error_code();
    c->batch.X = c->X;
    c->batch.pooled = c->pooled;
    return 0;
}

/* ---- forward --------------------------------------------------------------- */

/* Which manipulation the URA term uses. */
static int ura_forward(batch_cpu *c, const det_view *view, term_id term, double *value, double *cond)
{
    const det_layout *layout = c->layout;
    const objective_batch *batch = &c->batch;
    const head_params *head = c->head;
    int rc;
    if (term == TERM_CUR)
        rc = ura_cur_forward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                             view->S, head->weight, head->bias, value);
    else if (layout->scale)
        rc = ura_std_forward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->unit,
                             view->t, layout->center, layout->scale, head->weight, head->bias, value);
    else
        rc = ura_uur_forward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                             head->weight, head->bias, value);
    *cond = c->ura_ws->cond;
    if (rc)
        return error_set(EX_DATAERR, "L^%s: %s (condition number %.3g)", term_names[term],
                         ura_strerror(rc), c->ura_ws->cond);
    return 0;
}

/* The logits, the pixel terms and L^cnn. */
static int cpu_forward_start(void *ctx, const det_view *view, double *values)
{
    batch_cpu *c = ctx;
    const objective_config *cfg = c->cfg;
    const objective_batch *batch = &c->batch;
    int n_det = c->layout->n_det, n_dim = c->layout->n_dim;
    det_logits(view, n_det, n_dim, batch->X, batch->n_pix, c->A);
    /* Weight 1 on each enabled pixel term makes the forward compute it. */
    double ones[TERM_COUNT];
    for (int j = 0; j < TERM_COUNT; j++)
        ones[j] = 1;
    loss_pixel_weights w;
    loss_pixel_values pv;
    objective_pixel_weights(cfg, ones, &w);
    if (loss_pixel_forward(c->pixel_ws, c->A, batch->n_pix, n_det, &cfg->pixel, &w, &pv))
        return error_set(EX_SOFTWARE, "pixel losses: batch larger than the workspace or bad settings");
    double pixel_values[TERM_COUNT] = {[TERM_S] = pv.s, [TERM_SB] = pv.sb, [TERM_MA] = pv.ma,
                                       [TERM_IC] = pv.ic, [TERM_EAC] = pv.eac};
    for (int j = 0; j < TERM_COUNT; j++)
        if (cfg->enabled[j] && objective_is_pixel_term(j))
            values[j] = pixel_values[j];
    if (cfg->enabled[TERM_CNN])
        values[TERM_CNN] = cbe_forward(&c->cbe, c->A, batch->n_img, (int)(batch->n_pix / batch->n_img),
                                       batch->pooled, view->unit, view->M, c->layout->scale, c->head);
    return 0;
}

/* The URA terms. */
static int cpu_forward_finish(void *ctx, const det_view *view, double *values, double *ura_cond)
{
    batch_cpu *c = ctx;
    for (term_id j = TERM_UUR; j <= TERM_CUR; j++)
        if (c->cfg->enabled[j] && ura_forward(c, view, j, &values[j], ura_cond))
            return error_code();
    return 0;
}

/* ---- backward -------------------------------------------------------------- */

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
static void logits_backward(const batch_cpu *c, const double *colsum, det_grads *grads)
{
    int n_det = c->layout->n_det, n_dim = c->layout->n_dim;
    const objective_batch *batch = &c->batch;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_det, n_dim, (int)batch->n_pix, 1.0, c->dA,
                n_det, batch->X, n_dim, 1.0, grads->W, n_dim);
    if (!colsum) {
        sub_column_sums(c->dA, batch->n_pix, n_det, grads->b);
        return;
    }
    for (int i = 0; i < n_det; i++)
        grads->b[i] -= colsum[i];
}

/* The pixel terms and L^cnn through the logits. */
static int cpu_backward_start(void *ctx, const det_view *view, const double *weights, det_grads *grads)
{
    batch_cpu *c = ctx;
    const objective_config *cfg = c->cfg;
    const objective_batch *batch = &c->batch;
    loss_pixel_weights w;
    objective_pixel_weights(cfg, weights, &w);
    /* dA is written by pass 2 with its column sums; L^cnn adds to it after,
     * and then the sums are taken again. */
    int cnn = cfg->enabled[TERM_CNN] && weights[TERM_CNN] != 0;
    if (loss_pixel_backward_store(c->pixel_ws, c->A, batch->n_pix, &w, c->dA, c->colsum))
        return error_set(EX_SOFTWARE, "pixel losses backward out of order");
    if (cnn)
        cbe_backward(&c->cbe, c->A, batch->n_img, (int)(batch->n_pix / batch->n_img), view->unit, view->M,
                     c->layout->scale, c->head, weights[TERM_CNN], c->dA, grads->unit, grads->M);
    logits_backward(c, cnn ? NULL : c->colsum, grads);
    return 0;
}

static int ura_backward(batch_cpu *c, const det_view *view, term_id term, double scale, det_grads *g)
{
    const det_layout *layout = c->layout;
    const objective_batch *batch = &c->batch;
    const head_params *head = c->head;
    int rc;
    if (term == TERM_CUR)
        rc = ura_cur_backward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                              view->S, head->weight, head->bias, scale, g->W, g->b, g->S);
    else if (layout->scale)
        rc = ura_std_backward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->unit,
                              view->t, layout->center, layout->scale, head->weight, head->bias, scale,
                              g->unit, g->t);
    else
        rc = ura_uur_backward(c->ura_ws, batch->pooled, batch->kappa, batch->n_img, view->W, view->b,
                              head->weight, head->bias, scale, g->W, g->b);
    if (rc)
        return error_set(EX_DATAERR, "L^%s backward: %s", term_names[term], ura_strerror(rc));
    return 0;
}

/* The URA terms. */
static int cpu_backward_finish(void *ctx, const det_view *view, const double *weights, det_grads *grads)
{
    batch_cpu *c = ctx;
    for (term_id j = TERM_UUR; j <= TERM_CUR; j++)
        if (c->cfg->enabled[j] && weights[j] != 0 && ura_backward(c, view, j, weights[j], grads))
            return error_code();
    return 0;
}

/* ---- the table ------------------------------------------------------------- */

static void cpu_destroy(void *ctx)
{
    batch_cpu *c = ctx;
    if (!c)
        return;
    free(c->X);
    free(c->pooled);
    free(c->A);
    free(c->dA);
    free(c->colsum);
    loss_pixel_workspace_free(c->pixel_ws);
    ura_workspace_free(c->ura_ws);
    cbe_workspace_free(&c->cbe);
    free(c);
}

static const batch_backend_ops cpu_ops = {
    .name = "cpu float64",
    .serial_small_steps = 1,
    .load = cpu_load,
    .forward_start = cpu_forward_start,
    .forward_finish = cpu_forward_finish,
    .backward_start = cpu_backward_start,
    .backward_finish = cpu_backward_finish,
    .destroy = cpu_destroy,
};

/* The workspaces of the enabled terms. */
static int cpu_alloc(batch_cpu *c)
{
    const det_layout *layout = c->layout;
    const objective_config *cfg = c->cfg;
    size_t cells = c->max_pix * layout->n_det;
    c->A = malloc(cells * sizeof(double));
    c->dA = malloc(cells * sizeof(double));
    c->colsum = malloc(layout->n_det * sizeof(double));
    c->pixel_ws = loss_pixel_workspace_create(c->max_pix, layout->n_det);
    if (c->data) {
        c->X = malloc(c->max_pix * layout->n_dim * sizeof(double));
        c->pooled = malloc((size_t)c->max_img * layout->n_dim * sizeof(double));
    }
    int need_ura = cfg->enabled[TERM_UUR] || cfg->enabled[TERM_CUR];
    if (need_ura && ura_workspace_create(&c->ura_ws, c->max_img, layout->n_det, layout->n_dim, c->head->n_cls))
        return error_set(EX_OSERR, "out of memory for the uncertainty-region workspace");
    if (cfg->enabled[TERM_CNN] && layout->kind != DET_STANDARDISED)
        return error_set(EX_USAGE, "L^cnn is defined for the standardised detectors of step (a) only");
    if (cfg->enabled[TERM_CNN] &&
        cbe_workspace_init(&c->cbe, c->max_img, layout->n_det, layout->n_dim, c->head->n_cls))
        return error_set(EX_OSERR, "out of memory for the L^cnn workspace");
    if (!c->A || !c->dA || !c->colsum || !c->pixel_ws || (c->data && (!c->X || !c->pooled)))
        return error_set(EX_OSERR, "out of memory for batches of %zu pixels", c->max_pix);
    return 0;
}

int batch_cpu_create(batch_backend *out, const det_layout *layout, const objective_config *cfg,
                     const head_params *head, const train_data *data, int max_img, size_t max_pix)
{
    *out = (batch_backend){NULL, NULL};
    batch_cpu *c = calloc(1, sizeof *c);
    if (!c)
        return error_set(EX_OSERR, "out of memory for the CPU objective");
    *c = (batch_cpu){.layout = layout, .cfg = cfg, .head = head, .data = data, .max_img = max_img,
                     .max_pix = max_pix};
    if (cpu_alloc(c)) {
        cpu_destroy(c);
        return error_code();
    }
    *out = (batch_backend){&cpu_ops, c};
    return 0;
}
