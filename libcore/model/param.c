/* param — sphere, margin and Householder parametrisations; see param.h. */
#include "param.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- unit sphere ----------------------------------------------------------- */
int param_sphere_forward(const double *V, size_t n_det, size_t n_dim,
                         double *U)
{
    for (size_t i = 0; i < n_det; i++) {
        double nrm = cblas_dnrm2((int)n_dim, V + i * n_dim, 1);
        if (!(nrm > 0.0) || !isfinite(nrm))
            return -1;
        double inv = 1.0 / nrm;
        for (size_t d = 0; d < n_dim; d++)
            U[i * n_dim + d] = V[i * n_dim + d] * inv;
    }
    return 0;
}

void param_sphere_backward(const double *V, size_t n_det, size_t n_dim,
                           const double *dU, double *dV)
{
    for (size_t i = 0; i < n_det; i++) {
        const double *v = V + i * n_dim, *du = dU + i * n_dim;
        double nrm = cblas_dnrm2((int)n_dim, v, 1);
        /* ūᵀdū = vᵀdū/‖v‖ */
        double proj = cblas_ddot((int)n_dim, v, 1, du, 1) / (nrm * nrm);
        for (size_t d = 0; d < n_dim; d++)
            dV[i * n_dim + d] += (du[d] - proj * v[d]) / nrm;
    }
}

/* ---- margins ------------------------------------------------------------------ */
void param_margin_forward(const double *m, size_t n, double *M)
{
    for (size_t i = 0; i < n; i++)
        M[i] = exp(m[i]);
}

void param_margin_backward(const double *M, size_t n, const double *dM,
                           double *dm)
{
    for (size_t i = 0; i < n; i++)
        dm[i] += M[i] * dM[i];
}

/* ---- Householder product ------------------------------------------------------
 * Row form: with R_k = (H_k ⋯ H_n E)ᵀ [n_det × n_dim], R_k = R_{k+1} H_k,
 * i.e. every row r ← r − β_k (r·v_k) v_k, β_k = 2/‖v_k‖². */

/* β_k for every row of Vh; non-zero if a vector is zero or sizes are bad. */
static int householder_betas(const double *Vh, size_t n_det, size_t n_dim,
                             double *beta)
{
    if (n_det == 0 || n_det > n_dim)
        return -1;
    for (size_t k = 0; k < n_det; k++) {
        double nrm = cblas_dnrm2((int)n_dim, Vh + k * n_dim, 1);
        if (!(nrm > 0.0) || !isfinite(nrm))
            return -1;
        beta[k] = 2.0 / (nrm * nrm);
    }
    return 0;
}

/* R ← R H = R − β (R v) vᵀ; t [n_det] receives R v (before the update). */
static void reflect_rows(double *R, size_t n_det, size_t n_dim,
                         const double *v, double beta, double *t)
{
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n_det, (int)n_dim, 1.0, R,
                (int)n_dim, v, 1, 0.0, t, 1);
    cblas_dger(CblasRowMajor, (int)n_det, (int)n_dim, -beta, t, 1, v, 1, R,
               (int)n_dim);
}

int param_householder_forward(const double *Vh, size_t n_det, size_t n_dim,
                              double *W)
{
    if (n_det == 0 || n_det > n_dim)
        return -1;
    double *beta = malloc(2 * n_det * sizeof(double));
    if (!beta)
        return -1;
    double *t = beta + n_det;
    if (householder_betas(Vh, n_det, n_dim, beta)) {
        free(beta);
        return -1;
    }
    memset(W, 0, n_det * n_dim * sizeof(double));
    for (size_t i = 0; i < n_det; i++)
        W[i * n_dim + i] = 1.0; /* R_{n+1} = Eᵀ */
    for (size_t k = n_det; k-- > 0;)
        reflect_rows(W, n_det, n_dim, Vh + k * n_dim, beta[k], t);
    free(beta);
    return 0;
}

/* Backward, walking k = 1..n with R_k (rows of Z_kᵀ) and Γ_k = ∂L/∂R_k.
 * Z_k = Z_{k+1} − β v uᵀ with u = Z_{k+1}ᵀ v = R_{k+1} v = −R_k v
 * (H_k v = −v). With w = Γ_k v and dβ = −β² vᵀdv:
 *   ∂L/∂v_k = β² (uᵀw) v − β (Γ_kᵀ u + R_{k+1}ᵀ w),
 *   Γ_{k+1} = Γ_k H_k,   R_{k+1} = R_k H_k. */
int param_householder_backward(const double *Vh, const double *W,
                               size_t n_det, size_t n_dim, const double *dW,
                               double *dVh)
{
    if (n_det == 0 || n_det > n_dim)
        return -1;
    size_t nd = n_det * n_dim;
    double *R = malloc((2 * nd + 3 * n_det) * sizeof(double));
    if (!R)
        return -1;
    double *G = R + nd, *beta = G + nd, *u = beta + n_det, *w = u + n_det;
    if (householder_betas(Vh, n_det, n_dim, beta)) {
        free(R);
        return -1;
    }
    memcpy(R, W, nd * sizeof(double));
    memcpy(G, dW, nd * sizeof(double));
    for (size_t k = 0; k < n_det; k++) {
        const double *v = Vh + k * n_dim;
        double b = beta[k], *dv = dVh + k * n_dim;
        reflect_rows(R, n_det, n_dim, v, b, u); /* u = R_k v; R = R_{k+1} */
        cblas_dscal((int)n_det, -1.0, u, 1);    /* u = R_{k+1} v */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n_det, (int)n_dim, 1.0,
                    G, (int)n_dim, v, 1, 0.0, w, 1); /* w = Γ_k v */
        double uw = cblas_ddot((int)n_det, u, 1, w, 1);
        cblas_daxpy((int)n_dim, b * b * uw, v, 1, dv, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n_det, (int)n_dim, -b, G,
                    (int)n_dim, u, 1, 1.0, dv, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n_det, (int)n_dim, -b, R,
                    (int)n_dim, w, 1, 1.0, dv, 1);
        cblas_dger(CblasRowMajor, (int)n_det, (int)n_dim, -b, w, 1, v, 1, G,
                   (int)n_dim); /* Γ_{k+1} = Γ_k H_k */
    }
    free(R);
    return 0;
}

int param_householder_init(rng_state *rng, size_t n_det, size_t n_dim,
                           double *Vh)
{
    if (n_det == 0 || n_det > n_dim)
        return -1;
    /* G [n_dim × n_det] row-major, then tau [n_det] */
    double *G = malloc((n_dim * n_det + n_det) * sizeof(double));
    if (!G)
        return -1;
    double *tau = G + n_dim * n_det;
    for (size_t j = 0; j < n_dim * n_det; j++)
        G[j] = rng_normal(rng);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)n_dim,
                                     (lapack_int)n_det, G, (lapack_int)n_det,
                                     tau);
    int rc = info == 0 ? 0 : -1;
    for (size_t k = 0; k < n_det && rc == 0; k++) {
        /* tau = 0 means H_k = I, which 2vvᵀ/‖v‖² cannot express
         * (probability zero for Gaussian input). */
        if (tau[k] == 0.0)
            rc = -1;
        double *v = Vh + k * n_dim;
        for (size_t j = 0; j < n_dim; j++)
            v[j] = j < k ? 0.0 : j == k ? 1.0 : G[j * n_det + k];
    }
    free(G);
    return rc;
}

/* ---- step (a) → raw space ------------------------------------------------------- */
int param_standardised_to_raw(const double *Wt, double M, double b,
                              const double *mu, const double *sigma,
                              size_t n_det, size_t n_dim, double *U,
                              double *margins, double *biases)
{
    if (!(M > 0.0))
        return -1;
    for (size_t d = 0; d < n_dim; d++)
        if (!(sigma[d] > 0.0))
            return -1;
    for (size_t i = 0; i < n_det; i++) {
        const double *r = Wt + i * n_dim;
        double *u = U + i * n_dim;
        double sq = 0.0, offset = 0.0; /* ‖c_i‖², r_iᵀ(μ ⊘ σ) */
        for (size_t d = 0; d < n_dim; d++) {
            u[d] = r[d] / sigma[d];
            sq += u[d] * u[d];
            offset += u[d] * mu[d];
        }
        double nrm = sqrt(sq);
        if (!(nrm > 0.0))
            return -1;
        for (size_t d = 0; d < n_dim; d++)
            u[d] /= nrm;
        margins[i] = M / nrm;
        biases[i] = b + offset / M;
    }
    return 0;
}
