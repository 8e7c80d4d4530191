/* param_wy: the compact-WY Householder basis against param.c's reflection
 * loop (itself checked by finite differences in test_param): the same W̃
 * and the same gradient, to rounding. */
#include "gradcheck.h"
#include "harness.h"
#include "param.h"
#include "param_wy.h"
#include "rng.h"

#include <stdlib.h>

static void compare(rng_state *rng, size_t n_det, size_t n_dim, int from_init)
{
    size_t nd = n_det * n_dim;
    double *Vh = malloc(nd * sizeof(double)), *W_ref = malloc(nd * sizeof(double)), *W = malloc(nd * sizeof(double));
    double *dW = malloc(nd * sizeof(double)), *g_ref = calloc(nd, sizeof(double)), *g = calloc(nd, sizeof(double));
    if (from_init)
        param_householder_init(rng, n_det, n_dim, Vh);
    else
        for (size_t k = 0; k < nd; k++)
            Vh[k] = rng_normal(rng);
    for (size_t k = 0; k < nd; k++)
        dW[k] = rng_normal(rng);
    param_wy *ws = param_wy_create(n_det, n_dim);
    CHECK(ws != NULL, "param_wy_create(%zu, %zu)", n_det, n_dim);
    if (!ws)
        return;
    CHECK(param_householder_forward(Vh, n_det, n_dim, W_ref) == 0, "reference forward");
    CHECK(param_wy_forward(ws, Vh, W) == 0, "forward %zu x %zu", n_det, n_dim);
    double err = rel_diff(W, W_ref, nd);
    CHECK(err <= 1e-12, "W %zu x %zu%s: relative difference %.3g", n_det, n_dim, from_init ? " (init)" : "", err);
    CHECK(param_householder_backward(Vh, W_ref, n_det, n_dim, dW, g_ref) == 0, "reference backward");
    for (size_t k = 0; k < nd; k++)
        g[k] = 0.25; /* the backward accumulates */
    CHECK(param_wy_backward(ws, Vh, dW, g) == 0, "backward %zu x %zu", n_det, n_dim);
    for (size_t k = 0; k < nd; k++)
        g[k] -= 0.25;
    err = rel_diff(g, g_ref, nd);
    CHECK(err <= 1e-10, "dVh %zu x %zu%s: relative difference %.3g", n_det, n_dim, from_init ? " (init)" : "", err);
    g[nd / 3] += 1e-6 * max_abs(g_ref, nd);
    CHECK(rel_diff(g, g_ref, nd) > 1e-10, "a perturbed gradient is caught");
    CHECK(param_wy_backward(ws, W, dW, g) != 0, "a backward with other parameters is refused");
    param_wy_free(ws);
    free(Vh); free(W_ref); free(W); free(dW); free(g_ref); free(g);
}

int main(void)
{
    rng_state rng;
    rng_init(&rng, 11, 2);
    compare(&rng, 1, 4, 0);
    compare(&rng, 3, 16, 0);
    compare(&rng, 5, 9, 1);
    compare(&rng, 9, 9, 0);
    compare(&rng, 64, 80, 0);
    compare(&rng, 64, 80, 1);
    compare(&rng, 500, 512, 1);
    CHECK(param_wy_create(5, 4) == NULL, "n_det > n_dim is refused");
    param_wy *ws = param_wy_create(2, 3);
    double zero[6] = {1, 0, 0, 0, 0, 0}, W[6];
    CHECK(param_wy_forward(ws, zero, W) != 0, "a zero Householder vector is refused");
    param_wy_free(ws);
    return harness_report("param_wy");
}
