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
        if (fabs(x[k]) > m)
            m = fabs(x[k]);
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

#endif
