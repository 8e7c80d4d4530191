/* optim — see optim.h. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

int adam_init(adam_state *adam, size_t n)
{
    adam->beta1 = 0.9;
    adam->beta2 = 0.999;
    adam->eps = 1e-8;
    adam->step = 0;
    adam->n = n;
    adam->m = calloc(n ? n : 1, sizeof(double));
    adam->v = calloc(n ? n : 1, sizeof(double));
    return adam->m && adam->v ? 0 : -1;
}

void adam_free(adam_state *adam)
{
    free(adam->m);
    free(adam->v);
    adam->m = adam->v = NULL;
}

void adam_update(adam_state *adam, double *params, const double *grads, double lr)
{
    adam->step++;
    double b1 = adam->beta1, b2 = adam->beta2;
    double correction1 = 1.0 - pow(b1, (double)adam->step);
    double correction2 = 1.0 - pow(b2, (double)adam->step);
    for (size_t k = 0; k < adam->n; k++) {
        adam->m[k] = b1 * adam->m[k] + (1 - b1) * grads[k];
        adam->v[k] = b2 * adam->v[k] + (1 - b2) * grads[k] * grads[k];
        double m_hat = adam->m[k] / correction1, v_hat = adam->v[k] / correction2;
        params[k] -= lr * m_hat / (sqrt(v_hat) + adam->eps);
    }
}

void plateau_init(plateau_state *plateau, double factor, int patience, int cooldown, double min_lr)
{
    plateau->factor = factor;
    plateau->patience = patience;
    plateau->cooldown = cooldown;
    plateau->min_lr = min_lr;
    plateau->best = INFINITY;
    plateau->bad_epochs = 0;
    plateau->cooldown_left = 0;
}

double plateau_step(plateau_state *plateau, double monitor, double lr)
{
    /* PyTorch's default: relative threshold 1e-4 in mode "min". */
    if (monitor < plateau->best * (1 - 1e-4 * (plateau->best > 0 ? 1 : -1))) {
        plateau->best = monitor;
        plateau->bad_epochs = 0;
    } else {
        plateau->bad_epochs++;
    }
    if (plateau->cooldown_left > 0) {
        plateau->cooldown_left--;
        plateau->bad_epochs = 0;
    }
    if (plateau->factor < 1 && plateau->bad_epochs > plateau->patience) {
        lr = fmax(lr * plateau->factor, plateau->min_lr);
        plateau->cooldown_left = plateau->cooldown;
        plateau->bad_epochs = 0;
    }
    return lr;
}

void al_init(al_state *al, int n, const double *bounds, double penalty, double growth, double penalty_max)
{
    al->n = n;
    for (int j = 0; j < n; j++) {
        al->bound[j] = bounds[j];
        al->multiplier[j] = 0;
    }
    al->penalty = penalty;
    al->penalty_growth = growth;
    al->penalty_max = penalty_max;
    al->shrink_required = 0.25;
    al->last_violation = INFINITY;
}

double al_weight(const al_state *al, int j, double loss_value)
{
    return fmax(0.0, al->multiplier[j] + al->penalty * (loss_value - al->bound[j]));
}

double al_penalty_value(const al_state *al, const double *loss_values)
{
    double total = 0;
    for (int j = 0; j < al->n; j++) {
        double shifted = al_weight(al, j, loss_values[j]);
        total += (shifted * shifted - al->multiplier[j] * al->multiplier[j]) / (2 * al->penalty);
    }
    return total;
}

double al_violation(const al_state *al, const double *loss_values)
{
    double worst = 0;
    for (int j = 0; j < al->n; j++) {
        double c = loss_values[j] - al->bound[j];
        worst = fmax(worst, fmax(c, -al->multiplier[j] / al->penalty));
    }
    return worst;
}

void al_update(al_state *al, const double *loss_values)
{
    double violation = al_violation(al, loss_values);
    for (int j = 0; j < al->n; j++)
        al->multiplier[j] = al_weight(al, j, loss_values[j]);
    if (violation > al->shrink_required * al->last_violation)
        al->penalty = fmin(al->penalty * al->penalty_growth, al->penalty_max);
    al->last_violation = violation;
}
