/* trainopts — the training option vocabulary shared by uibe and eddp
 * (man/man1/uibe.1 "TRAINING OPTIONS"): which loss terms, their weights or
 * constraint bounds, the loss hyper-parameters, the optimiser and the
 * augmented-Lagrangian schedule, checkpoints. Code defaults are neutral
 * (weight 1, no bounds); the paper's values live in the pipeline makefiles.
 *
 * Stage: training. Parses the training options from argv; no files. */
#ifndef EDDP_TRAINOPTS_H
#define EDDP_TRAINOPTS_H

#include "cli.h"
#include "objective.h"
#include "train.h"

/* The ranges every trainer shares (uibe, eddp, trainhead, sae, trainnet's
 * epochs and lr): one row constructor each, so one range each. */
#define OPT_EPOCHS(tgt, help, ...) OPT_INTEGER("epochs", tgt, 1, 1000000000, "N", help, __VA_ARGS__)
#define OPT_LR(tgt, help, ...) OPT_DOUBLE("lr", tgt, 1e-15, 1e6, "X", help, __VA_ARGS__)
#define OPT_BATCH(tgt, help, ...) OPT_INTEGER("batch", tgt, 1, 1L << 31, "N", help, __VA_ARGS__)

#define TRAINOPTS_N_ROWS 30

typedef struct {
    objective_config obj;
    train_config train;
    double lr_ref_batch;
    const char *losses;
    const char *diagnose;
    const char *checkpoint;
    const char *precision_arg;   /* --precision as given, NULL when absent (trainopts_finish) */
    const char *precision;       /* the pixel path's precision used (attribute), NULL = float64 */
    size_t memory;               /* --memory in bytes, 0 = no budget */
    char checkpoint_buf[4200];
    int epochs_given;            /* --epochs was on the command line */
    double tau_to;               /* --tau-schedule TO:N; tau_epochs 0 = no schedule */
    long tau_epochs;
    int precision_index;         /* --precision float32|float64; -1 = absent */
    int al_measure;              /* --al-measure full|epoch */
    opt_pair kappa;              /* --kappa into obj.kappa_lo/hi */
    opt_row rows[TRAINOPTS_N_ROWS]; /* the training options, for OPT_INCLUDE */
} train_options;

/* Defaults and opts->rows (a tool includes them with OPT_INCLUDE(opts->rows));
 * opts must not move afterwards. default_losses may be NULL when the tool
 * sets opts->losses after parsing (eddp: it depends on --step). */
void trainopts_defaults(train_options *opts, const char *default_losses, long epochs);
/* Validates, enables the listed terms, scales lr, and fingerprints the
 * parsed settings (cli_fingerprint: every row but --resume, --quiet,
 * --overwrite, --epochs and the checkpoint options, and the operands).
 * allowed: the terms this step may use. Call it from the tool's parse
 * function, while its rows are alive. */
void trainopts_finish(train_options *opts, const cli_common *cli, const char *allowed);
/* Records every setting as attributes of the output's root. */
int trainopts_write_attrs(const train_options *opts, h5out *out);

#endif
