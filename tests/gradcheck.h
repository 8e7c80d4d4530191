/* gradcheck.h — central finite differences in double precision, shared by
 * the unit tests of hand-written gradients (PRACTICES #12). */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FD_STEP 1e-6
#define FD_TOL 1e-6

typedef double (*scalar_fn)(const double *x, void *ctx);

static inline double max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t k = 0; k < n; k++)
        if (!(fabs(x[k]) <= m))
            m = fabs(x[k]); /* NaN propagates */
    return m;
}

/* max_k |g_k − ĝ_k| / max_k |ĝ_k|: relative to the gradient's own scale, so
 * small gradients are checked as strictly as large ones. 0 when both are
 * exactly zero. */
static inline double rel_diff(const double *g, const double *ref, size_t n)
{
    double diff = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs(g[k] - ref[k]);
        if (!(d <= diff))
            diff = d; /* NaN propagates */
    }
    double scale = max_abs(ref, n);
    if (diff == 0.0)
        return 0.0;
    return scale > 0.0 ? diff / scale : INFINITY;
}

/* Central differences of f at x [n] into g_fd [n]. */
static inline void fd_gradient(scalar_fn f, void *ctx, const double *x, size_t n,
                        double *g_fd)
{
    double *xp = malloc(n * sizeof(double));
    memcpy(xp, x, n * sizeof(double));
    for (size_t k = 0; k < n; k++) {
        double x0 = xp[k];
        xp[k] = x0 + FD_STEP;
        double fp = f(xp, ctx);
        xp[k] = x0 - FD_STEP;
        double fm = f(xp, ctx);
        xp[k] = x0;
        g_fd[k] = (fp - fm) / (2.0 * FD_STEP);
    }
    free(xp);
}

/* ---- the in-place form: f reads its parameters through ctx ------------
 * theta [n] is the array f reads; each entry is moved and restored. */
typedef double (*loss_fn)(void *ctx);

/* max_k |fd_k − grad_k| / max(1, max_k |grad_k|), central differences. */
static inline double fd_rel_error(loss_fn f, void *ctx, double *theta, size_t n,
                                  const double *grad)
{
    double worst = 0.0, gmax = 0.0;
    for (size_t k = 0; k < n; k++) {
        double keep = theta[k];
        theta[k] = keep + FD_STEP;
        double fp = f(ctx);
        theta[k] = keep - FD_STEP;
        double fm = f(ctx);
        theta[k] = keep;
        double d = fabs((fp - fm) / (2 * FD_STEP) - grad[k]);
        if (!(d <= worst))
            worst = d;
        if (fabs(grad[k]) > gmax)
            gmax = fabs(grad[k]);
    }
    return worst / (gmax > 1.0 ? gmax : 1.0);
}

/* fd_rel_error of grad with one entry off by 1e-4·max(1, max|g|): what a
 * check must flag (> FD_TOL) to be able to fail at all. */
static inline double fd_rel_error_perturbed(loss_fn f, void *ctx, double *theta, size_t n,
                                            double *grad)
{
    size_t k = n / 2;
    double keep = grad[k], gmax = 1.0;
    for (size_t j = 0; j < n; j++)
        gmax = fmax(gmax, fabs(grad[j]));
    grad[k] += 1e-4 * gmax;
    double err = fd_rel_error(f, ctx, theta, n, grad);
    grad[k] = keep;
    return err;
}

#define CHECK_FD_SENSITIVE(f, ctx, theta, n, grad, what)                          \
    do {                                                                          \
        double err_ = fd_rel_error_perturbed(f, ctx, theta, n, grad);            \
        CHECK(err_ > FD_TOL, "%s: a wrong gradient goes unnoticed (err %g)", what, err_); \
    } while (0)

#endif
