/* train — the one training loop of uibe and eddp: epochs of shuffled image
 * batches, Adam, reduce-on-plateau, the augmented-Lagrangian schedule, a
 * per-epoch history, checkpoints and resumption, and progress on stderr.
 *
 * Reproducibility: the batch order of epoch e and the κ draws of batch k are
 * functions of (seed, e, k) only, and the state saved in a checkpoint is the
 * complete optimiser state, so a run resumed from a checkpoint ends
 * bit-identical to an uninterrupted one (same backend and thread count).
 *
 * Stage: training. Writes checkpoints and reads them on --resume;
 * progress on stderr. */
#ifndef EDDP_TRAIN_H
#define EDDP_TRAIN_H

#include "cli.h"
#include "objective.h"
#include "optim.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    long epochs;
    size_t batch_images;
    double lr;                 /* Adam learning rate (after batch scaling) */
    double plateau_factor;     /* 1 = off */
    int plateau_patience, plateau_cooldown;
    int constrained;           /* augmented Lagrangian on the constrained terms */
    int al_every;              /* epochs between multiplier updates */
    int al_full_data;          /* update from a full pass (1) or the epoch means (0) */
    double al_penalty, al_growth, al_penalty_max;
    uint64_t seed;
    long checkpoint_every;     /* epochs; 0 = only on signals */
    const char *checkpoint;    /* path of the checkpoint file */
    uint64_t fingerprint;      /* settings hash: a checkpoint of other settings is refused */
    int resume;
    const cli_common *cli;     /* progress and provenance */
    const char *device_name;   /* provenance: "cpu" when NULL */
    /* --tau-schedule: *tau (the objective's L^ic τ) is set at the start of
     * every epoch by loss_coverage_tau_at(from, to, epochs, epoch); NULL = off. */
    struct {
        double *tau;
        double from, to;
        long epochs;
    } tau_schedule;
} train_config;

/* Per-epoch record: one row per epoch of n_cols named columns, and the
 * per-detector margins and thresholds. */
typedef struct {
    long epochs_done;
    int n_cols, n_det;
    char names[48][40];
    double *rows;        /* [epochs × n_cols] */
    double *margins;     /* [epochs × n_det] */
    double *thresholds;  /* [epochs × n_det] */
} train_history;

/* Trains params in place. Returns 0; EX_TEMPFAIL (75) after writing a
 * checkpoint on SIGINT/SIGTERM/SIGUSR1 (caught only while it runs; a signal
 * in the last epoch just lets the run finish); another status with the failure
 * recorded (error.h) when the objective turns NaN/Inf (the last checkpoint
 * is kept) or a matrix is singular. */
int train_run(const train_config *cfg, objective *obj, const train_data *data, double *params,
              train_history *history);
void train_history_free(train_history *history);

/* Full-data evaluation without training: each term's batch value averaged
 * over all images, in batches of cfg->batch_images drawn in one fixed
 * shuffled order (seed), κ at the middle of its range. */
int train_evaluate(const train_config *cfg, objective *obj, const train_data *data,
                   const double *params, double values[TERM_COUNT]);


#endif
