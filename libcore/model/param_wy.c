/* param_wy — see param_wy.h. */
#include "param_wy.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct param_wy {
    size_t n_det, n_dim;
    double *K;   /* [n × n] striu(Vh Vhᵀ) + diag/2 (upper triangle) */
    double *X;   /* [n × n] K⁻¹ Y */
    double *G;   /* [n × n] Gx, then Gy, then GK, then P + Pᵀ */
    double *T;   /* [n × n] scratch */
    const double *Vh; /* of the last forward */
};

param_wy *param_wy_create(size_t n_det, size_t n_dim)
{
    if (n_det == 0 || n_det > n_dim)
        return NULL;
    param_wy *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    size_t nn = n_det * n_det;
    ws->n_det = n_det;
    ws->n_dim = n_dim;
    ws->K = malloc(4 * nn * sizeof(double));
    if (!ws->K) {
        free(ws);
        return NULL;
    }
    ws->X = ws->K + nn;
    ws->G = ws->X + nn;
    ws->T = ws->G + nn;
    return ws;
}

void param_wy_free(param_wy *ws)
{
    if (!ws)
        return;
    free(ws->K);
    free(ws);
}

int param_wy_forward(param_wy *ws, const double *Vh, double *W)
{
    int n = (int)ws->n_det, d = (int)ws->n_dim;
    ws->Vh = NULL;
    /* K = Vh Vhᵀ (upper triangle), then the strict upper part kept and the
     * diagonal halved; the lower triangle is never read. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, Vh, d, 0.0, ws->K, n);
    for (int k = 0; k < n; k++) {
        double sq = ws->K[(size_t)k * n + k];
        if (!(sq > 0.0) || !isfinite(sq))
            return -1;
        ws->K[(size_t)k * n + k] = 0.5 * sq;
    }
    /* X = K⁻¹ Y, Y = Vh[:, 0:n] */
    for (int k = 0; k < n; k++)
        memcpy(ws->X + (size_t)k * n, Vh + (size_t)k * d, n * sizeof(double));
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, n, n, 1.0, ws->K, n, ws->X, n);
    /* W = Eᵀ − Xᵀ Vh */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, -1.0, ws->X, n, Vh, d, 0.0, W, d);
    for (int k = 0; k < n; k++)
        W[(size_t)k * d + k] += 1.0;
    ws->Vh = Vh;
    return 0;
}

int param_wy_backward(param_wy *ws, const double *Vh, const double *dW, double *dVh)
{
    if (!ws->Vh || ws->Vh != Vh)
        return -1;
    int n = (int)ws->n_det, d = (int)ws->n_dim;
    double *G = ws->G, *T = ws->T;
    /* dVh += −X Ĝ */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, -1.0, ws->X, n, dW, d, 1.0, dVh, d);
    /* Gx = −Vh Ĝᵀ; Gy = K⁻ᵀ Gx */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, -1.0, Vh, d, dW, d, 0.0, G, n);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, n, n, 1.0, ws->K, n, G, n);
    /* dVh[:, 0:n] += Gy */
    for (int k = 0; k < n; k++) {
        double *row = dVh + (size_t)k * d;
        const double *g = G + (size_t)k * n;
        for (int j = 0; j < n; j++)
            row[j] += g[j];
    }
    /* GK = −Gy Xᵀ; P = triu(GK), diagonal halved; T = P + Pᵀ */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, -1.0, G, n, ws->X, n, 0.0, T, n);
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            T[(size_t)j * n + i] = T[(size_t)i * n + j];
        }
        /* (P + Pᵀ)_ii = 2 · GK_ii/2 */
    }
    /* dVh += (P + Pᵀ) Vh */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0, T, n, Vh, d, 1.0, dVh, d);
    return 0;
}
