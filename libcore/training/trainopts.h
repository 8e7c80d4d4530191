/* trainopts — the training option vocabulary shared by uibe and eddp
 * (man/man1/uibe.1 "TRAINING OPTIONS"): which loss terms, their weights or
 * constraint bounds, the loss hyper-parameters, the optimiser and the
 * augmented-Lagrangian schedule, checkpoints. Code defaults are neutral
 * (weight 1, no bounds); the paper's values live in the pipeline makefiles. */
#ifndef EDDP_TRAINOPTS_H
#define EDDP_TRAINOPTS_H

#include "cli.h"
#include "objective.h"
#include "train.h"

enum {
    TOPT_EPOCHS = 1200, TOPT_LR, TOPT_BATCH, TOPT_LR_REF, TOPT_OBJECTIVE, TOPT_LOSSES, TOPT_WEIGHT,
    TOPT_BOUND, TOPT_GAMMA, TOPT_TAU, TOPT_RHO, TOPT_NU, TOPT_KAPPA, TOPT_AL_EVERY, TOPT_AL_PENALTY,
    TOPT_AL_GROWTH, TOPT_AL_PENALTY_MAX, TOPT_AL_MEASURE, TOPT_PLATEAU, TOPT_CHECKPOINT_EVERY,
    TOPT_CHECKPOINT, TOPT_RESUME, TOPT_DIAGNOSE, TOPT_PRECISION, TOPT_COVERAGE, TOPT_TAU_SCHEDULE
};

#define TRAINOPTS_LONGOPTS                                                          \
    {"epochs", required_argument, 0, TOPT_EPOCHS}, {"lr", required_argument, 0, TOPT_LR},   \
    {"batch", required_argument, 0, TOPT_BATCH},                                    \
    {"lr-ref-batch", required_argument, 0, TOPT_LR_REF},                            \
    {"objective", required_argument, 0, TOPT_OBJECTIVE},                            \
    {"losses", required_argument, 0, TOPT_LOSSES},                                  \
    {"weight", required_argument, 0, TOPT_WEIGHT},                                  \
    {"bound", required_argument, 0, TOPT_BOUND},                                    \
    {"gamma", required_argument, 0, TOPT_GAMMA}, {"tau", required_argument, 0, TOPT_TAU},   \
    {"rho", required_argument, 0, TOPT_RHO}, {"nu", required_argument, 0, TOPT_NU},         \
    {"kappa", required_argument, 0, TOPT_KAPPA},                                    \
    {"al-every", required_argument, 0, TOPT_AL_EVERY},                              \
    {"al-penalty", required_argument, 0, TOPT_AL_PENALTY},                          \
    {"al-growth", required_argument, 0, TOPT_AL_GROWTH},                            \
    {"al-penalty-max", required_argument, 0, TOPT_AL_PENALTY_MAX},                  \
    {"al-measure", required_argument, 0, TOPT_AL_MEASURE},                          \
    {"plateau", required_argument, 0, TOPT_PLATEAU},                                \
    {"checkpoint-every", required_argument, 0, TOPT_CHECKPOINT_EVERY},              \
    {"checkpoint", required_argument, 0, TOPT_CHECKPOINT},                          \
    {"resume", no_argument, 0, TOPT_RESUME},                                        \
    {"diagnose", required_argument, 0, TOPT_DIAGNOSE},                              \
    {"precision", required_argument, 0, TOPT_PRECISION},                            \
    {"coverage", required_argument, 0, TOPT_COVERAGE},                              \
    {"tau-schedule", required_argument, 0, TOPT_TAU_SCHEDULE}

#define TRAINOPTS_USAGE                                                                        \
    "training options:\n"                                                                      \
    "  --losses LIST           terms to use, comma-separated from s,sb,ma,mm,ic,eac,uur,cur,fso\n" \
    "  --objective sum|constrained   weighted sum, or augmented Lagrangian (sum)\n"             \
    "  --weight TERM=X         weight of a term in the objective (1); repeatable\n"             \
    "  --bound TERM=X          with --objective constrained: TERM <= X is a constraint\n"       \
    "  --gamma X --tau X --rho X --nu X   loss hyper-parameters (1.1, 1, 0.5, 4)\n"             \
    "  --coverage mean|per-detector|soft   L^ic: mean deficit below tau/I (Eq. 13), its soft\n"  \
    "                          maximum (per-detector), or floors tau x soft share (mean)\n"    \
    "  --tau-schedule TO:N     tau moves linearly from --tau to TO over the first N epochs\n"    \
    "  --kappa LO:HI           URA step magnitude range (0.5:0.9)\n"                            \
    "  --epochs N --lr X --batch N   Adam schedule; batches of whole images\n"                 \
    "  --lr-ref-batch N        scale lr by batch/N (0 = use lr as given)\n"                     \
    "  --plateau F:P:C         reduce lr by F after P epochs without progress, C cooldown (off)\n" \
    "  --al-every N            epochs between multiplier updates (50)\n"                        \
    "  --al-penalty X --al-growth X --al-penalty-max X   penalty schedule (1, 10, 1e4)\n"       \
    "  --al-measure full|epoch constraint values for updates: full pass or epoch means (full)\n" \
    "  --checkpoint FILE       checkpoint path (OUTPUT.ckpt)\n"                                 \
    "  --checkpoint-every N    epochs between checkpoints (0 = only on signals)\n"              \
    "  --resume                continue from the checkpoint if there is one\n"                  \
    "  --diagnose DIRECTIONS   print every loss and constraint of DIRECTIONS as TSV, no training\n" \
    "  --precision float32|float64   pixel path in float32 (the CUDA arithmetic) or float64 (float64)\n"

typedef struct {
    objective_config obj;
    train_config train;
    double lr_ref_batch;
    const char *losses;
    const char *diagnose;
    const char *checkpoint;
    const char *precision_arg;   /* --precision as given, NULL when absent */
    const char *precision;       /* the pixel path's precision used (attribute), NULL = float64 */
    char checkpoint_buf[4200];
    int epochs_given;            /* --epochs was on the command line */
    double tau_to;               /* --tau-schedule TO:N; tau_epochs 0 = no schedule */
    long tau_epochs;
} train_options;

void trainopts_defaults(train_options *opts, const char *default_losses, long epochs);
/* Handles a training option; 0 when opt is not one. */
int trainopts_option(train_options *opts, const cli_common *cli, int opt, const char *arg);
/* Validates, enables the listed terms, scales lr, and fingerprints the
 * settings (every argument except --resume, --quiet, --overwrite and the
 * checkpoint options). allowed: the terms this step may use. */
void trainopts_finish(train_options *opts, const cli_common *cli, const char *allowed);
/* Records every setting as attributes of the output's root. */
int trainopts_write_attrs(const train_options *opts, h5out *out);

#endif
