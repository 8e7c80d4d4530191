/* train — see train.h. */
#include "train.h"
#include "error.h"
#include "h5io.h"
#include "rng.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

/* Test hooks (documented in uibe(1)): EDDP_TEST_STOP_AT_EPOCH=N acts as if a
 * signal arrived during epoch N; EDDP_TEST_NAN_AT_EPOCH=N poisons the
 * parameters after epoch N, so epoch N+1 meets a NaN;
 * EDDP_TEST_SIGNAL_AFTER_STOP=1 sends SIGTERM once a stop has written its
 * checkpoint. They make the checkpoint and NaN paths testable
 * without timing races. */
static long test_hook(const char *name)
{
    const char *value = getenv(name);
    return value ? atol(value) : -1;
}

static void request_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* During training a signal asks for a checkpoint at the end of the epoch;
 * outside it, the handlers the tool installed (h5io's cleanup) apply. */
static const int stop_signals[3] = {SIGINT, SIGTERM, SIGUSR1};

static void install_stop_handlers(struct sigaction saved[3])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < 3; k++)
        sigaction(stop_signals[k], &sa, &saved[k]);
}

static void restore_handlers(const struct sigaction saved[3])
{
    for (int k = 0; k < 3; k++)
        sigaction(stop_signals[k], &saved[k], NULL);
}

/* ------------------------------------------------------------ bookkeeping */

typedef struct {
    int ids[TERM_COUNT], n_con;       /* constrained terms */
    int col_objective, col_term[TERM_COUNT], col_mu[TERM_COUNT];
    int col_penalty, col_lr, col_violation, col_cond;
} columns;

static int add_column(train_history *h, const char *name)
{
    snprintf(h->names[h->n_cols], sizeof h->names[0], "%s", name);
    return h->n_cols++;
}

static void history_init(train_history *h, columns *c, const objective_config *ocfg, int constrained,
                         long epochs, int n_det)
{
    memset(h, 0, sizeof *h);
    memset(c, 0, sizeof *c);
    h->n_det = n_det;
    c->col_objective = add_column(h, "objective");
    char name[40];
    for (int j = 0; j < TERM_COUNT; j++) {
        c->col_term[j] = c->col_mu[j] = -1;
        if (ocfg->enabled[j]) {
            snprintf(name, sizeof name, "L_%s", term_names[j]);
            c->col_term[j] = add_column(h, name);
        }
    }
    c->n_con = constrained ? objective_constraints(ocfg, c->ids) : 0;
    for (int k = 0; k < c->n_con; k++) {
        snprintf(name, sizeof name, "multiplier_%s", term_names[c->ids[k]]);
        c->col_mu[c->ids[k]] = add_column(h, name);
    }
    c->col_penalty = add_column(h, "penalty");
    c->col_lr = add_column(h, "lr");
    c->col_violation = add_column(h, "violation");
    c->col_cond = add_column(h, "ura_condition");
    h->rows = calloc(epochs * h->n_cols, sizeof(double));
    h->margins = calloc(epochs * n_det, sizeof(double));
    h->thresholds = calloc(epochs * n_det, sizeof(double));
}

void train_history_free(train_history *history)
{
    free(history->rows);
    free(history->margins);
    free(history->thresholds);
    memset(history, 0, sizeof *history);
}

/* Everything that changes during training, saved whole in a checkpoint. */
typedef struct {
    long epoch;          /* epochs completed */
    double lr;
    double violation;    /* at the last multiplier update (history) */
    adam_state adam;
    plateau_state plateau;
    al_state al;
} run_state;

/* ------------------------------------------------------------ checkpoints */

static int save_checkpoint(const train_config *cfg, const run_state *st, const double *params,
                           size_t n_params, const train_history *h)
{
    h5out out;
    if (h5out_create(&out, cfg->checkpoint, 1, "eddp-checkpoint", 1))
        return error_code();
    hsize_t np[1] = {n_params}, rows[2] = {(hsize_t)st->epoch, (hsize_t)h->n_cols};
    hsize_t per_det[2] = {(hsize_t)st->epoch, (hsize_t)h->n_det};
    double scalars[12] = {(double)st->epoch, st->lr, (double)st->adam.step, st->plateau.best,
                          st->plateau.bad_epochs, st->plateau.cooldown_left, st->al.penalty,
                          st->al.last_violation, (double)(cfg->fingerprint >> 32),
                          (double)(cfg->fingerprint & 0xffffffffu), st->violation, 0};
    hsize_t ns[1] = {12}, nal[1] = {AL_MAX_CONSTRAINTS};
    int rc = h5out_write(&out, "/params", H5IO_DOUBLE, 1, np, params) ||
             h5out_write(&out, "/adam_m", H5IO_DOUBLE, 1, np, st->adam.m) ||
             h5out_write(&out, "/adam_v", H5IO_DOUBLE, 1, np, st->adam.v) ||
             h5out_write(&out, "/scalars", H5IO_DOUBLE, 1, ns, scalars) ||
             h5out_write(&out, "/multipliers", H5IO_DOUBLE, 1, nal, st->al.multiplier) ||
             h5out_write(&out, "/history", H5IO_DOUBLE, 2, rows, h->rows) ||
             h5out_write(&out, "/margins", H5IO_DOUBLE, 2, per_det, h->margins) ||
             h5out_write(&out, "/thresholds", H5IO_DOUBLE, 2, per_det, h->thresholds) ||
             h5out_commit(&out);
    if (rc) {
        h5out_abort(&out);
        return error_code();
    }
    return 0;
}

/* Loads a checkpoint; 1 when none exists, 0 when loaded, else a status. */
static int load_checkpoint(const train_config *cfg, run_state *st, double *params, size_t n_params,
                           train_history *h)
{
    if (access(cfg->checkpoint, F_OK) != 0)
        return 1;
    h5in in;
    if (h5in_open(&in, cfg->checkpoint, "eddp-checkpoint"))
        return error_code();
    double *p = NULL, *m = NULL, *v = NULL, *scalars = NULL, *mult = NULL, *rows = NULL, *marg = NULL, *thr = NULL;
    hsize_t dims[H5IO_MAX_RANK], np[1] = {n_params}, ns[1] = {12};
    int rc = h5in_read(&in, "/scalars", H5IO_DOUBLE, 1, ns, (void **)&scalars, dims);
    if (!rc) {
        uint64_t fp = ((uint64_t)scalars[8] << 32) | (uint64_t)scalars[9];
        if (fp != cfg->fingerprint)
            rc = error_set(EX_DATAERR, "%s: checkpoint of a run with other settings; remove it or "
                           "rerun with the same options", cfg->checkpoint);
    }
    if (!rc) {
        hsize_t rdims[2] = {(hsize_t)scalars[0], (hsize_t)h->n_cols}, ddims[2] = {(hsize_t)scalars[0], (hsize_t)h->n_det};
        hsize_t nal[1] = {AL_MAX_CONSTRAINTS};
        rc = h5in_read(&in, "/params", H5IO_DOUBLE, 1, np, (void **)&p, dims) ||
             h5in_read(&in, "/adam_m", H5IO_DOUBLE, 1, np, (void **)&m, dims) ||
             h5in_read(&in, "/adam_v", H5IO_DOUBLE, 1, np, (void **)&v, dims) ||
             h5in_read(&in, "/multipliers", H5IO_DOUBLE, 1, nal, (void **)&mult, dims) ||
             h5in_read(&in, "/history", H5IO_DOUBLE, 2, rdims, (void **)&rows, dims) ||
             h5in_read(&in, "/margins", H5IO_DOUBLE, 2, ddims, (void **)&marg, dims) ||
             h5in_read(&in, "/thresholds", H5IO_DOUBLE, 2, ddims, (void **)&thr, dims);
        if (rc)
            rc = error_code();
    }
    if (!rc && scalars[0] > cfg->epochs)
        rc = error_set(EX_USAGE, "%s: the checkpoint is at epoch %.0f, past --epochs %ld", cfg->checkpoint,
                       scalars[0], cfg->epochs);
    if (!rc) {
        st->epoch = (long)scalars[0];
        st->lr = scalars[1];
        st->adam.step = (long long)scalars[2];
        st->plateau.best = scalars[3];
        st->plateau.bad_epochs = (int)scalars[4];
        st->plateau.cooldown_left = (int)scalars[5];
        st->al.penalty = scalars[6];
        st->al.last_violation = scalars[7];
        st->violation = scalars[10];
        memcpy(st->al.multiplier, mult, sizeof st->al.multiplier);
        memcpy(params, p, n_params * sizeof *p);
        memcpy(st->adam.m, m, n_params * sizeof *m);
        memcpy(st->adam.v, v, n_params * sizeof *v);
        memcpy(h->rows, rows, st->epoch * h->n_cols * sizeof *rows);
        memcpy(h->margins, marg, st->epoch * h->n_det * sizeof *marg);
        memcpy(h->thresholds, thr, st->epoch * h->n_det * sizeof *thr);
        h->epochs_done = st->epoch;
    }
    free(p); free(m); free(v); free(scalars); free(mult); free(rows); free(marg); free(thr);
    h5in_close(&in);
    return rc;
}

/* ------------------------------------------------------------ the loop */

typedef struct {
    size_t *order;
    double *kappa, *grads;
    size_t batch;
} buffers;

static int buffers_alloc(buffers *b, const train_data *data, size_t batch, size_t n_params)
{
    b->batch = batch;
    b->order = malloc(data->n_img * sizeof *b->order);
    b->kappa = malloc(batch * sizeof(double));
    b->grads = malloc(n_params * sizeof(double));
    return b->order && b->kappa && b->grads ? 0 : -1;
}

static void buffers_free(buffers *b)
{
    free(b->order); free(b->kappa); free(b->grads);
}

/* The batch of images order[0..n), drawn by the objective's backend. */
static objective_batch images_batch(const train_data *data, const size_t *order, size_t n, const double *kappa)
{
    return (objective_batch){.kappa = kappa, .n_img = (int)n, .n_pix = n * data->hw, .order = order};
}

static void draw_kappa(const objective_config *ocfg, uint64_t seed, long epoch, size_t batch_index,
                       double *kappa, size_t n)
{
    rng_state rng;
    rng_init(&rng, seed, ((uint64_t)RNG_STREAM_KAPPA << 56) ^ ((uint64_t)epoch << 20) ^ batch_index);
    for (size_t k = 0; k < n; k++)
        kappa[k] = rng_uniform_range(&rng, ocfg->kappa_lo, ocfg->kappa_hi);
}

static int check_finite(long epoch, size_t batch_index, const double *values, double total,
                        const double *grads, size_t n_params)
{
    for (int j = 0; j < TERM_COUNT; j++)
        if (!isnan(values[j]) && !isfinite(values[j]))
            return error_set(EX_SOFTWARE, "epoch %ld, batch %zu: L^%s became %g; stopped (the last "
                             "checkpoint is kept)", epoch + 1, batch_index, term_names[j], values[j]);
    int bad = !isfinite(total);
    for (size_t k = 0; !bad && k < n_params; k++)
        bad = !isfinite(grads[k]);
    if (bad)
        return error_set(EX_SOFTWARE, "epoch %ld, batch %zu: the objective or its gradient became "
                         "NaN/Inf; stopped (the last checkpoint is kept)", epoch + 1, batch_index);
    return 0;
}

int train_evaluate(const train_config *cfg, objective *obj, const train_data *data,
                   const double *params, double values[TERM_COUNT])
{
    buffers b;
    size_t batch = cfg->batch_images < data->n_img ? cfg->batch_images : data->n_img;
    if (buffers_alloc(&b, data, batch, obj->layout->n_params)) {
        buffers_free(&b);
        return error_set(EX_OSERR, "out of memory for evaluation batches");
    }
    double sums[TERM_COUNT] = {0}, batch_values[TERM_COUNT], total;
    int rc = 0;
    /* Batch losses depend on which images share a batch (L^ic, L^eac, L^sb):
     * evaluate batches like the training ones, in one fixed shuffled order. */
    rng_state rng;
    rng_init(&rng, cfg->seed, RNG_STREAM_EVAL);
    rng_permutation(&rng, b.order, data->n_img);
    for (size_t k = 0; k < batch; k++)
        b.kappa[k] = 0.5 * (obj->cfg->kappa_lo + obj->cfg->kappa_hi);
    for (size_t b0 = 0; b0 < data->n_img && !rc; b0 += batch) {
        size_t n = data->n_img - b0 < batch ? data->n_img - b0 : batch;
        objective_batch ob = images_batch(data, b.order + b0, n, b.kappa);
        rc = objective_eval(obj, params, &ob, NULL, batch_values, &total, NULL);
        for (int j = 0; j < TERM_COUNT; j++)
            sums[j] += batch_values[j] * (double)n;
    }
    for (int j = 0; j < TERM_COUNT; j++)
        values[j] = sums[j] / (double)data->n_img;
    buffers_free(&b);
    return rc;
}

static void record_epoch(train_history *h, const columns *c, const run_state *st, const det_view *view,
                         const double *epoch_values, double objective_mean, double violation, double cond)
{
    double *row = h->rows + st->epoch * h->n_cols;
    row[c->col_objective] = objective_mean;
    for (int j = 0; j < TERM_COUNT; j++) {
        if (c->col_term[j] >= 0)
            row[c->col_term[j]] = epoch_values[j];
        if (c->col_mu[j] >= 0)
            for (int k = 0; k < c->n_con; k++)
                if (c->ids[k] == j)
                    row[c->col_mu[j]] = st->al.multiplier[k];
    }
    row[c->col_penalty] = c->n_con ? st->al.penalty : NAN;
    row[c->col_lr] = st->lr;
    row[c->col_violation] = violation;
    row[c->col_cond] = cond;
    memcpy(h->margins + st->epoch * h->n_det, view->M, h->n_det * sizeof(double));
    memcpy(h->thresholds + st->epoch * h->n_det, view->t, h->n_det * sizeof(double));
    h->epochs_done = st->epoch + 1;
}

/* One epoch of shuffled batches; epoch means of the terms into epoch_values. */
static int run_epoch(const train_config *cfg, objective *obj, const train_data *data, double *params,
                     run_state *st, buffers *b, double *epoch_values, double *objective_mean, double *cond)
{
    rng_state rng;
    rng_init(&rng, cfg->seed, ((uint64_t)RNG_STREAM_BATCH << 56) ^ (uint64_t)st->epoch);
    rng_permutation(&rng, b->order, data->n_img);
    double sums[TERM_COUNT] = {0}, total_sum = 0, values[TERM_COUNT], total;
    *cond = 0;
    size_t batch_index = 0;
    for (size_t b0 = 0; b0 < data->n_img; b0 += b->batch, batch_index++) {
        size_t n = data->n_img - b0 < b->batch ? data->n_img - b0 : b->batch;
        draw_kappa(obj->cfg, cfg->seed, st->epoch, batch_index, b->kappa, n);
        const al_state *al = cfg->constrained ? &st->al : NULL;
        objective_batch ob = images_batch(data, b->order + b0, n, b->kappa);
        if (objective_eval(obj, params, &ob, al, values, &total, b->grads))
            return error_prefix("epoch %ld, batch %zu: ", st->epoch + 1, batch_index);
        if (check_finite(st->epoch, batch_index, values, total, b->grads, obj->layout->n_params))
            return error_code();
        adam_update(&st->adam, params, b->grads, st->lr);
        for (int j = 0; j < TERM_COUNT; j++)
            sums[j] += values[j] * (double)n;
        total_sum += total * (double)n;
        *cond = fmax(*cond, obj->ura_cond);
    }
    for (int j = 0; j < TERM_COUNT; j++)
        epoch_values[j] = sums[j] / (double)data->n_img;
    *objective_mean = total_sum / (double)data->n_img;
    return 0;
}

/* Multiplier and penalty update from full-data or epoch-mean values. */
static int update_multipliers(const train_config *cfg, objective *obj, const train_data *data,
                              const double *params, const columns *c, run_state *st,
                              const double *epoch_values, double *violation)
{
    double full[TERM_COUNT], con[AL_MAX_CONSTRAINTS];
    const double *source = epoch_values;
    if (cfg->al_full_data) {
        if (train_evaluate(cfg, obj, data, params, full))
            return error_code();
        source = full;
    }
    for (int k = 0; k < c->n_con; k++)
        con[k] = source[c->ids[k]];
    *violation = al_violation(&st->al, con);
    al_update(&st->al, con);
    return 0;
}

static void progress(const train_config *cfg, const run_state *st, double objective_mean, time_t start,
                     long first_epoch)
{
    /* Called after an epoch: st->epoch epochs are complete. */
    long done = st->epoch - first_epoch, left = cfg->epochs - st->epoch;
    double elapsed = difftime(time(NULL), start);
    double eta = done > 0 ? elapsed / done * left : 0;
    cli_progress(cfg->cli, "epoch %ld/%ld  objective %.5f  lr %.3g  ETA %.0fs", st->epoch, cfg->epochs,
                 objective_mean, st->lr, eta);
}

static int run_state_init(run_state *st, const train_config *cfg, const objective_config *ocfg,
                          size_t n_params)
{
    memset(st, 0, sizeof *st);
    st->lr = cfg->lr;
    st->violation = NAN;
    plateau_init(&st->plateau, cfg->plateau_factor, cfg->plateau_patience, cfg->plateau_cooldown, 0);
    int ids[TERM_COUNT], n_con = objective_constraints(ocfg, ids);
    double bounds[AL_MAX_CONSTRAINTS];
    for (int k = 0; k < n_con && k < AL_MAX_CONSTRAINTS; k++)
        bounds[k] = ocfg->bound[ids[k]];
    if (n_con > AL_MAX_CONSTRAINTS)
        return error_set(EX_USAGE, "at most %d constrained terms", AL_MAX_CONSTRAINTS);
    al_init(&st->al, cfg->constrained ? n_con : 0, bounds, cfg->al_penalty, cfg->al_growth, cfg->al_penalty_max);
    return adam_init(&st->adam, n_params) ? error_set(EX_OSERR, "out of memory for Adam") : 0;
}

int train_run(const train_config *cfg, objective *obj, const train_data *data, double *params,
              train_history *history)
{
    const objective_config *ocfg = obj->cfg;
    size_t n_params = obj->layout->n_params;
    columns c;
    run_state st;
    buffers b;
    history_init(history, &c, ocfg, cfg->constrained, cfg->epochs, obj->layout->n_det);
    size_t batch = cfg->batch_images < data->n_img ? cfg->batch_images : data->n_img;
    if (run_state_init(&st, cfg, ocfg, n_params) || buffers_alloc(&b, data, batch, n_params)) {
        adam_free(&st.adam);
        return error_code() ? error_code() : error_set(EX_OSERR, "out of memory for batches");
    }
    int rc = cfg->resume ? load_checkpoint(cfg, &st, params, n_params, history) : 1;
    rc = rc == 1 ? 0 : rc;
    long first_epoch = st.epoch;
    time_t start = time(NULL);
    stop_requested = 0;
    struct sigaction saved[3];
    install_stop_handlers(saved);
    double epoch_values[TERM_COUNT], objective_mean = 0, cond;
    while (!rc && st.epoch < cfg->epochs) {
        if (st.epoch + 1 == test_hook("EDDP_TEST_STOP_AT_EPOCH"))
            stop_requested = 1;
        if (st.epoch == test_hook("EDDP_TEST_NAN_AT_EPOCH"))
            params[0] = NAN;
        if (cfg->tau_schedule.tau) /* a function of the epoch: a resumed run gets the same τ */
            *cfg->tau_schedule.tau =
                loss_coverage_tau_at(cfg->tau_schedule.from, cfg->tau_schedule.to, cfg->tau_schedule.epochs, st.epoch);
        if ((rc = run_epoch(cfg, obj, data, params, &st, &b, epoch_values, &objective_mean, &cond)))
            break;
        if (cfg->constrained && c.n_con && (st.epoch + 1) % cfg->al_every == 0 &&
            (rc = update_multipliers(cfg, obj, data, params, &c, &st, epoch_values, &st.violation)))
            break;
        record_epoch(history, &c, &st, &obj->view, epoch_values, objective_mean, st.violation, cond);
        st.lr = plateau_step(&st.plateau, objective_mean, st.lr);
        st.epoch++;
        progress(cfg, &st, objective_mean, start, first_epoch);
        int periodic = cfg->checkpoint_every > 0 && st.epoch % cfg->checkpoint_every == 0;
        if ((periodic || stop_requested) && cfg->checkpoint && st.epoch < cfg->epochs &&
            (rc = save_checkpoint(cfg, &st, params, n_params, history)))
            break;
        if (stop_requested && st.epoch < cfg->epochs) {
            rc = error_set(EX_TEMPFAIL, "stopped by a signal after epoch %ld; checkpoint %s written, "
                           "rerun with --resume to continue", st.epoch, cfg->checkpoint);
            break;
        }
    }
    /* After a stop the stop handlers stay: SLURM at a time limit sends SIGTERM
     * again (srun forwards its own), and a later one must not kill the process
     * on its way to exit 75 with its checkpoint written (it ended in signal 15
     * instead). The hook sends one at that point. */
    if (rc != EX_TEMPFAIL)
        restore_handlers(saved);
    else if (test_hook("EDDP_TEST_SIGNAL_AFTER_STOP") == 1)
        raise(SIGTERM);
    cli_progress_end(cfg->cli);
    /* Make sure the view matches the final parameters. */
    if (!rc && det_forward(obj->layout, params, &obj->view))
        rc = error_set(EX_SOFTWARE, "a detector direction became zero");
    adam_free(&st.adam);
    buffers_free(&b);
    return rc;
}
