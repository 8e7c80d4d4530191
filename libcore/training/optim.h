/* optim — Adam, reduce-on-plateau, and the augmented Lagrangian that turns
 * "minimise f subject to L_j <= bound_j" into one differentiable objective
 * (method-spec §4.8, PHR form for inequalities).
 *
 * Stage: training. In memory only, no files. */
#ifndef EDDP_OPTIM_H
#define EDDP_OPTIM_H

#include <stddef.h>

/* Adam over one flat parameter vector; moments are kept by the caller's
 * struct so that a checkpoint can save them exactly. */
typedef struct {
    double beta1, beta2, eps;
    long long step;      /* number of updates taken */
    size_t n;
    double *m, *v;       /* [n] first and second moments */
} adam_state;

int adam_init(adam_state *adam, size_t n);
void adam_free(adam_state *adam);
/* params -= lr * m̂ / (sqrt(v̂) + eps), after folding grads into the moments. */
void adam_update(adam_state *adam, double *params, const double *grads, double lr);

/* ReduceLROnPlateau as in PyTorch (mode min, threshold 1e-4 relative): after
 * `patience` epochs without improvement of the monitor, lr *= factor, then
 * `cooldown` epochs of rest. */
typedef struct {
    double factor, min_lr;
    int patience, cooldown;
    double best;
    int bad_epochs, cooldown_left;
} plateau_state;

void plateau_init(plateau_state *plateau, double factor, int patience, int cooldown, double min_lr);
/* Returns the learning rate to use next, given this epoch's monitor value. */
double plateau_step(plateau_state *plateau, double monitor, double lr);

/* Augmented Lagrangian for constraints c_j = L_j − bound_j <= 0:
 *   L_A = f + Σ_j (1/(2ρ)) [max(0, μ_j + ρ c_j)² − μ_j²]
 * so each constraint loss enters the gradient with weight max(0, μ_j + ρ c_j). */
#define AL_MAX_CONSTRAINTS 8

typedef struct {
    int n;
    double bound[AL_MAX_CONSTRAINTS];
    double multiplier[AL_MAX_CONSTRAINTS]; /* μ_j >= 0 */
    double penalty;                        /* ρ */
    double penalty_growth, penalty_max;    /* ρ *= growth when violation shrinks too slowly */
    double shrink_required;                /* e.g. 0.25: violation must fall below this fraction */
    double last_violation;
} al_state;

void al_init(al_state *al, int n, const double *bounds, double penalty, double growth, double penalty_max);
/* Weight with which constraint j's loss enters the gradient at value L_j. */
double al_weight(const al_state *al, int j, double loss_value);
/* The augmented terms' contribution to the objective value. */
double al_penalty_value(const al_state *al, const double *loss_values);
/* Outer update from full-data loss values: μ_j = max(0, μ_j + ρ c_j), and ρ
 * grows when the complementarity measure did not shrink enough. */
void al_update(al_state *al, const double *loss_values);
/* max_j max(c_j, −μ_j/ρ): zero at a KKT point (Nocedal & Wright §17.4). */
double al_violation(const al_state *al, const double *loss_values);

#endif
