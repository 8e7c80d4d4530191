/* cbe — see cbe.h. */
#include "cbe.h"
#include "head.h"

#include <stdlib.h>
#include <string.h>

int cbe_workspace_init(cbe_workspace *ws, int max_img, int n_det, int n_dim, int n_cls)
{
    ws->max_img = max_img;
    ws->n_det = n_det;
    ws->n_dim = n_dim;
    ws->n_cls = n_cls;
    ws->c = malloc((size_t)max_img * n_det * sizeof(double));
    ws->manip = malloc((size_t)max_img * n_dim * sizeof(double));
    ws->dmanip = malloc((size_t)max_img * n_dim * sizeof(double));
    ws->logits = malloc((size_t)max_img * n_cls * sizeof(double));
    ws->dlogits = malloc((size_t)max_img * n_cls * sizeof(double));
    return ws->c && ws->manip && ws->dmanip && ws->logits && ws->dlogits ? 0 : -1;
}

void cbe_workspace_free(cbe_workspace *ws)
{
    free(ws->c); free(ws->manip); free(ws->dmanip); free(ws->logits); free(ws->dlogits);
    memset(ws, 0, sizeof *ws);
}

double cbe_forward(cbe_workspace *ws, const double *A, int n_img, int hw, const double *pooled,
                   const double *unit, const double *M, const double *scale, const head_params *head)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    for (int n = 0; n < n_img; n++) {
        double *c = ws->c + (size_t)n * n_det, *manip = ws->manip + (size_t)n * n_dim;
        for (int i = 0; i < n_det; i++) {
            double sum = 0;
            for (int p = 0; p < hw; p++) {
                double a = A[((size_t)n * hw + p) * n_det + i];
                sum += a > 0 ? a : 0;
            }
            c[i] = M[i] * sum / hw;
        }
        /* m' = m − σ ⊙ Σ_i c_i r_i */
        for (int d = 0; d < n_dim; d++) {
            double shift = 0;
            for (int i = 0; i < n_det; i++)
                shift += c[i] * unit[(size_t)i * n_dim + d];
            manip[d] = pooled[(size_t)n * n_dim + d] - scale[d] * shift;
        }
    }
    head_linear_forward(ws->manip, n_img, n_dim, head->weight, head->bias, head->n_cls, ws->logits);
    return -head_entropy_forward(ws->logits, n_img, head->n_cls);
}

void cbe_backward(cbe_workspace *ws, const double *A, int n_img, int hw, const double *unit,
                  const double *M, const double *scale, const head_params *head, double weight,
                  double *dA, double *dunit, double *dM)
{
    int n_det = ws->n_det, n_dim = ws->n_dim;
    head_entropy_backward(ws->logits, n_img, head->n_cls, -weight, ws->dlogits);
    memset(ws->dmanip, 0, (size_t)n_img * n_dim * sizeof(double));
    head_linear_backward(ws->dlogits, ws->manip, head->weight, n_img, n_dim, head->n_cls, NULL, NULL,
                         ws->dmanip);
    for (int n = 0; n < n_img; n++) {
        const double *c = ws->c + (size_t)n * n_det, *g = ws->dmanip + (size_t)n * n_dim;
        for (int i = 0; i < n_det; i++) {
            /* ∂L/∂c_i = −r_iᵀ(σ ⊙ g); ∂L/∂r_i = −c_i σ ⊙ g */
            const double *r = unit + (size_t)i * n_dim;
            double dc = 0;
            for (int d = 0; d < n_dim; d++) {
                dc -= r[d] * scale[d] * g[d];
                dunit[(size_t)i * n_dim + d] -= c[i] * scale[d] * g[d];
            }
            /* c_i = (M_i/HW) Σ_p g a: through the firing logits, and M_i itself. */
            for (int p = 0; p < hw; p++) {
                size_t k = ((size_t)n * hw + p) * n_det + i;
                if (A[k] > 0)
                    dA[k] += dc * M[i] / hw;
            }
            dM[i] += dc * c[i] / M[i];
        }
    }
}
