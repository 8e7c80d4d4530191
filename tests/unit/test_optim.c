#include "harness.h"
#include "optim.h"

#include <math.h>

/* Adam on a convex quadratic reaches its minimum. */
static void test_adam_quadratic(void)
{
    adam_state adam;
    double x[2] = {3, -2}, g[2];
    CHECK(adam_init(&adam, 2) == 0, "adam_init");
    for (int k = 0; k < 5000; k++) {
        g[0] = 2 * (x[0] - 1);
        g[1] = 20 * (x[1] + 0.5);
        adam_update(&adam, x, g, 0.01);
    }
    CHECK_CLOSE(x[0], 1.0, 1e-3, "adam x0");
    CHECK_CLOSE(x[1], -0.5, 1e-3, "adam x1");
    CHECK(adam.step == 5000, "adam step count");
    adam_free(&adam);
}

/* First Adam step moves every parameter by lr against its gradient sign. */
static void test_adam_first_step(void)
{
    adam_state adam;
    double x[3] = {0, 0, 0}, g[3] = {5, -0.001, 0};
    adam_init(&adam, 3);
    adam_update(&adam, x, g, 0.1);
    CHECK_CLOSE(x[0], -0.1, 1e-6, "first step, large gradient");
    CHECK_CLOSE(x[1], 0.1, 1e-4, "first step, small gradient");
    CHECK(x[2] == 0, "zero gradient leaves the parameter");
    adam_free(&adam);
}

static void test_plateau(void)
{
    plateau_state p;
    plateau_init(&p, 0.5, 2, 1, 1e-6);
    double lr = 1.0;
    lr = plateau_step(&p, 10, lr);  /* best */
    lr = plateau_step(&p, 10, lr);  /* bad 1 */
    lr = plateau_step(&p, 10, lr);  /* bad 2 */
    CHECK(lr == 1.0, "no reduction within patience (lr %g)", lr);
    lr = plateau_step(&p, 10, lr);  /* bad 3 > patience */
    CHECK(lr == 0.5, "reduced after patience (lr %g)", lr);
    lr = plateau_step(&p, 10, lr);  /* cooldown */
    CHECK(lr == 0.5, "cooldown holds lr (lr %g)", lr);
    lr = plateau_step(&p, 9, lr);   /* improvement */
    CHECK(lr == 0.5 && p.bad_epochs == 0, "improvement resets the count");
}

/* min x² + y² s.t. x >= 1 (as 1 − x <= 0): AL converges to x = 1, μ = 2. */
static void test_al_converges(void)
{
    al_state al;
    double bound = 0; /* constraint "loss" L = 1 − x, bound 0 */
    al_init(&al, 1, &bound, 1.0, 10.0, 1e4);
    double x[2] = {0, 1};
    for (int outer = 0; outer < 30; outer++) {
        /* Inner minimisation by plain gradient descent with a step the
         * penalty's curvature allows: this tests the AL updates, not Adam. */
        double step = 0.5 / (1 + al.penalty);
        for (int k = 0; k < 4000; k++) {
            double w = al_weight(&al, 0, 1 - x[0]);
            x[0] -= step * (2 * x[0] - w);
            x[1] -= step * (2 * x[1]);
        }
        double L = 1 - x[0];
        al_update(&al, &L);
    }
    CHECK_CLOSE(x[0], 1.0, 1e-6, "AL x");
    CHECK_CLOSE(x[1], 0.0, 1e-6, "AL y");
    CHECK_CLOSE(al.multiplier[0], 2.0, 1e-5, "AL multiplier = Lagrange multiplier");
    double L = 1 - x[0];
    CHECK(al_violation(&al, &L) < 1e-6, "AL violation small (%g)", al_violation(&al, &L));
}

/* The penalty value's gradient in L equals al_weight (finite differences). */
static void test_al_gradient(void)
{
    al_state al;
    double bounds[2] = {0.8, 0.1};
    al_init(&al, 2, bounds, 3.0, 10, 1e4);
    al.multiplier[0] = 0.5;
    al.multiplier[1] = 0.0;
    double values[2] = {0.9, 0.05}, h = 1e-6;
    for (int j = 0; j < 2; j++) {
        double plus[2] = {values[0], values[1]}, minus[2] = {values[0], values[1]};
        plus[j] += h;
        minus[j] -= h;
        double fd = (al_penalty_value(&al, plus) - al_penalty_value(&al, minus)) / (2 * h);
        CHECK_CLOSE(fd, al_weight(&al, j, values[j]), 1e-7, "AL penalty gradient");
    }
}

int main(void)
{
    test_adam_quadratic();
    test_adam_first_step();
    test_plateau();
    test_al_converges();
    test_al_gradient();
    return harness_report("optim");
}
