/* Unit tests of libcore/param: finite differences of every parametrisation,
 * orthonormality of the Householder product, the dgeqrf initialiser against
 * LAPACK's own Q, and the exact step-(a) → raw conversion (method-spec §12
 * item 9). */
#include "gradcheck.h"
#include "harness.h"
#include "param.h"
#include "rng.h"

#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

static void fill_normal(rng_state *r, double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        x[k] = rng_normal(r);
}

static void check_fd(const char *what, scalar_fn f, void *ctx,
                     const double *x, size_t n, const double *g)
{
    double *g_fd = calloc(n, sizeof(double));
    fd_gradient(f, ctx, x, n, g_fd);
    double err = rel_diff(g, g_fd, n);
    CHECK(err <= FD_TOL, "%s: finite differences, rel err %.3g", what, err);
    free(g_fd);
}

/* Scalar probe ⟨G, out(x)⟩ with a fixed random G turns a vector-valued
 * parametrisation into a scalar whose gradient is the backward of G. */
typedef struct {
    size_t n_det, n_dim;
    const double *probe; /* G, the shape of the output */
    double *out;         /* scratch for the output */
} probe_ctx;

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static double f_sphere(const double *V, void *c)
{
    probe_ctx *p = c;
    param_sphere_forward(V, p->n_det, p->n_dim, p->out);
    return dot(p->probe, p->out, p->n_det * p->n_dim);
}

static double f_margin(const double *m, void *c)
{
    probe_ctx *p = c;
    param_margin_forward(m, p->n_det, p->out);
    return dot(p->probe, p->out, p->n_det);
}

static double f_householder(const double *Vh, void *c)
{
    probe_ctx *p = c;
    if (param_householder_forward(Vh, p->n_det, p->n_dim, p->out))
        return NAN;
    return dot(p->probe, p->out, p->n_det * p->n_dim);
}

/* ---- tests ------------------------------------------------------------------ */
static void test_sphere(void)
{
    rng_state r;
    rng_init(&r, 21, RNG_STREAM_INIT);
    size_t n_det = 4, n_dim = 6, n = n_det * n_dim;
    double V[24], U[24], G[24], dV[24], base[24], out[24];
    fill_normal(&r, V, n);
    for (size_t k = 0; k < n; k++)
        V[k] *= 1.0 + (double)(k / n_dim); /* rows of different norms */
    fill_normal(&r, G, n);
    fill_normal(&r, base, n);
    CHECK(param_sphere_forward(V, n_det, n_dim, U) == 0, "sphere status");
    int unit = 1;
    for (size_t i = 0; i < n_det; i++)
        unit &= fabs(dot(U + i * n_dim, U + i * n_dim, n_dim) - 1.0) < 1e-14;
    CHECK(unit, "sphere rows have unit norm");
    memcpy(dV, base, sizeof dV);
    param_sphere_backward(V, n_det, n_dim, G, dV);
    for (size_t k = 0; k < n; k++)
        dV[k] -= base[k];
    probe_ctx p = {n_det, n_dim, G, out};
    check_fd("sphere", f_sphere, &p, V, n, dV);
    int tangent = 1; /* the gradient is orthogonal to v: scale-free */
    for (size_t i = 0; i < n_det; i++)
        tangent &= fabs(dot(dV + i * n_dim, V + i * n_dim, n_dim)) < 1e-13;
    CHECK(tangent, "sphere gradient orthogonal to v");

    double W[24];
    memcpy(W, V, sizeof W);
    param_sphere_forward(W, n_det, n_dim, W);
    CHECK(memcmp(W, U, sizeof W) == 0, "sphere forward in place");
    memset(W + n_dim, 0, n_dim * sizeof(double));
    CHECK(param_sphere_forward(W, n_det, n_dim, U) != 0,
          "sphere rejects a zero row");
}

static void test_margin(void)
{
    rng_state r;
    rng_init(&r, 22, RNG_STREAM_INIT);
    double m[5], M[5], G[5], dm[5] = {1, 1, 1, 1, 1}, out[5];
    fill_normal(&r, m, 5);
    fill_normal(&r, G, 5);
    param_margin_forward(m, 5, M);
    param_margin_backward(M, 5, G, dm);
    for (int k = 0; k < 5; k++)
        dm[k] -= 1.0;
    probe_ctx p = {5, 1, G, out};
    check_fd("margin", f_margin, &p, m, 5, dm);
    CHECK(M[0] > 0 && fabs(M[0] - exp(m[0])) == 0.0, "M = exp(m)");
}

/* max |W̃ W̃ᵀ − I| */
static double orthonormality_error(const double *W, size_t n_det,
                                   size_t n_dim)
{
    double err = 0.0;
    for (size_t i = 0; i < n_det; i++)
        for (size_t j = 0; j < n_det; j++) {
            double g = dot(W + i * n_dim, W + j * n_dim, n_dim);
            err = fmax(err, fabs(g - (i == j ? 1.0 : 0.0)));
        }
    return err;
}

static void householder_case(rng_state *r, size_t n_det, size_t n_dim)
{
    size_t n = n_det * n_dim;
    double *Vh = malloc(n * sizeof(double)), *W = malloc(n * sizeof(double)),
           *G = malloc(n * sizeof(double)), *dV = malloc(n * sizeof(double)),
           *base = malloc(n * sizeof(double)), *out = malloc(n * sizeof(double));
    fill_normal(r, Vh, n);
    for (size_t k = 0; k < n; k++)
        Vh[k] *= 0.5 + (double)(k / n_dim); /* the scale of v_k is free */
    fill_normal(r, G, n);
    fill_normal(r, base, n);
    char what[96];
    snprintf(what, sizeof what, "Householder %zux%zu", n_det, n_dim);
    CHECK(param_householder_forward(Vh, n_det, n_dim, W) == 0, "%s status",
          what);
    double orth = orthonormality_error(W, n_det, n_dim);
    CHECK(orth <= 1e-12, "%s: rows orthonormal (%.3g)", what, orth);
    memcpy(dV, base, n * sizeof(double));
    CHECK(param_householder_backward(Vh, W, n_det, n_dim, G, dV) == 0,
          "%s backward status", what);
    for (size_t k = 0; k < n; k++)
        dV[k] -= base[k];
    probe_ctx p = {n_det, n_dim, G, out};
    check_fd(what, f_householder, &p, Vh, n, dV);
    double tangent = 0.0; /* v_k's scale is free: ∂/∂v_k ⟂ v_k */
    for (size_t k = 0; k < n_det; k++)
        tangent = fmax(tangent, fabs(dot(dV + k * n_dim, Vh + k * n_dim,
                                         n_dim)));
    CHECK(tangent < 1e-12 * max_abs(dV, n) * max_abs(Vh, n) * (double)n_dim,
          "%s: gradient orthogonal to each v_k (%.3g)", what, tangent);
    free(Vh);
    free(W);
    free(G);
    free(dV);
    free(base);
    free(out);
}

static void test_householder(void)
{
    rng_state r;
    rng_init(&r, 23, RNG_STREAM_INIT);
    householder_case(&r, 4, 7);
    householder_case(&r, 5, 5); /* full rotation */
    householder_case(&r, 1, 3);

    /* Larger: orthonormal to 1e-12 at the ResNet18 step-(a) shape's scale. */
    size_t n_det = 120, n_dim = 128, n = n_det * n_dim;
    double *Vh = malloc(n * sizeof(double)), *W = malloc(n * sizeof(double));
    fill_normal(&r, Vh, n);
    CHECK(param_householder_forward(Vh, n_det, n_dim, W) == 0 &&
              orthonormality_error(W, n_det, n_dim) <= 1e-12,
          "Householder 120x128 rows orthonormal (%.3g)",
          orthonormality_error(W, n_det, n_dim));
    /* Its backward along one random direction D: ⟨dV, D⟩ against the
     * central difference of ⟨G, W̃(V ± hD)⟩ (the full Jacobian is too
     * costly here; this is where the walk's rounding would show). */
    double *G = malloc(n * sizeof(double)), *D = malloc(n * sizeof(double)),
           *dV = calloc(n, sizeof(double)), *Vp = malloc(n * sizeof(double));
    fill_normal(&r, G, n);
    fill_normal(&r, D, n);
    param_householder_backward(Vh, W, n_det, n_dim, G, dV);
    probe_ctx p = {n_det, n_dim, G, malloc(n * sizeof(double))};
    for (size_t k = 0; k < n; k++)
        Vp[k] = Vh[k] + FD_STEP * D[k];
    double fp = f_householder(Vp, &p);
    for (size_t k = 0; k < n; k++)
        Vp[k] = Vh[k] - FD_STEP * D[k];
    double fm = f_householder(Vp, &p);
    double fd = (fp - fm) / (2.0 * FD_STEP), an = dot(dV, D, n);
    CHECK(fabs(fd - an) <= FD_TOL * fabs(an),
          "Householder 120x128 directional derivative: %.12g vs fd %.12g", an,
          fd);
    free(p.out);
    free(G);
    free(D);
    free(dV);
    free(Vp);

    /* Refusals. */
    double v[12] = {0};
    CHECK(param_householder_forward(v, 4, 3, W) != 0,
          "Householder refuses n_det > n_dim");
    CHECK(param_householder_forward(v, 2, 6, W) != 0,
          "Householder refuses a zero vector");
    CHECK(param_householder_init(&r, 4, 3, v) != 0,
          "Householder init refuses n_det > n_dim");
    free(Vh);
    free(W);
}

/* The initialiser's W̃ᵀ is the Q factor LAPACK builds from the same
 * Gaussian draws (same rng state). */
static void test_householder_init(void)
{
    size_t n_det = 6, n_dim = 9, n = n_det * n_dim;
    rng_state r1, r2;
    rng_init(&r1, 24, RNG_STREAM_INIT);
    r2 = r1;
    double *Vh = malloc(n * sizeof(double)), *W = malloc(n * sizeof(double)),
           *Q = malloc(n * sizeof(double)), tau[6];
    CHECK(param_householder_init(&r1, n_det, n_dim, Vh) == 0, "init status");
    CHECK(param_householder_forward(Vh, n_det, n_dim, W) == 0 &&
              orthonormality_error(W, n_det, n_dim) <= 1e-12,
          "initial W~ orthonormal");
    for (size_t k = 0; k < n; k++)
        Q[k] = rng_normal(&r2); /* [n_dim × n_det], as the initialiser */
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)n_dim, (int)n_det, Q, (int)n_det, tau);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)n_dim, (int)n_det, (int)n_det, Q,
                   (int)n_det, tau);
    double err = 0.0;
    for (size_t i = 0; i < n_det; i++)
        for (size_t d = 0; d < n_dim; d++)
            err = fmax(err, fabs(W[i * n_dim + d] - Q[d * n_det + i]));
    CHECK(err <= 1e-12, "init W~ equals dorgqr's Q (%.3g)", err);
    free(Vh);
    free(W);
    free(Q);
}

/* method-spec §12 item 9: the raw-space detectors give the standardised
 * logits for every x (max abs diff ≤ 1e-12). */
static void test_standardised_to_raw(void)
{
    rng_state r;
    rng_init(&r, 25, RNG_STREAM_INIT);
    size_t n_det = 5, n_dim = 8, n_pix = 200;
    double Wt[40], U[40], mu[8], sigma[8], margins[5], biases[5];
    double M = 0.7, b = 0.3;
    CHECK(param_householder_init(&r, n_det, n_dim, Wt) == 0, "init");
    double Vh[40];
    memcpy(Vh, Wt, sizeof Vh);
    param_householder_forward(Vh, n_det, n_dim, Wt);
    for (size_t d = 0; d < n_dim; d++) {
        mu[d] = 3.0 * rng_normal(&r);
        sigma[d] = rng_uniform_range(&r, 0.2, 3.0);
    }
    CHECK(param_standardised_to_raw(Wt, M, b, mu, sigma, n_det, n_dim, U,
                                    margins, biases) == 0,
          "conversion status");
    double err = 0.0, unit = 0.0;
    for (size_t i = 0; i < n_det; i++)
        unit = fmax(unit, fabs(dot(U + i * n_dim, U + i * n_dim, n_dim) - 1));
    for (size_t p = 0; p < n_pix; p++) {
        double x[8], xt[8];
        for (size_t d = 0; d < n_dim; d++) {
            x[d] = mu[d] + sigma[d] * 2.0 * rng_normal(&r);
            xt[d] = (x[d] - mu[d]) / sigma[d];
        }
        for (size_t i = 0; i < n_det; i++) {
            double a_std = dot(Wt + i * n_dim, xt, n_dim) / M - b;
            double a_raw = dot(U + i * n_dim, x, n_dim) / margins[i] - biases[i];
            err = fmax(err, fabs(a_std - a_raw));
        }
    }
    CHECK(err <= 1e-12, "raw logits equal standardised logits (max %.3g)", err);
    CHECK(unit <= 1e-14, "converted directions have unit norm");
    sigma[2] = 0.0;
    CHECK(param_standardised_to_raw(Wt, M, b, mu, sigma, n_det, n_dim, U,
                                    margins, biases) != 0,
          "conversion refuses sigma = 0");
    sigma[2] = 1.0;
    CHECK(param_standardised_to_raw(Wt, -1.0, b, mu, sigma, n_det, n_dim, U,
                                    margins, biases) != 0,
          "conversion refuses M <= 0");
}

int main(void)
{
    test_sphere();
    test_margin();
    test_householder();
    test_householder_init();
    test_standardised_to_raw();
    return harness_report("param");
}
