/* sae — see sae.h. */
#include "sae.h"
#include "optim.h"
#include "rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sae_layout_init(sae_layout *layout, int n_dim, int n_hidden)
{
    size_t dm = (size_t)n_dim * n_hidden;
    layout->n_dim = n_dim;
    layout->n_hidden = n_hidden;
    layout->off_enc_w = 0;
    layout->off_enc_b = dm;
    layout->off_dec_w = dm + n_hidden;
    layout->off_dec_b = 2 * dm + n_hidden;
    layout->n_params = 2 * dm + n_hidden + n_dim;
}

sae_view sae_view_of(const sae_layout *layout, double *params)
{
    return (sae_view){params + layout->off_enc_w, params + layout->off_enc_b,
                      params + layout->off_dec_w, params + layout->off_dec_b};
}

int sae_cache_init(sae_cache *cache, const sae_layout *layout, size_t max_pix)
{
    size_t n = max_pix ? max_pix : 1, d = layout->n_dim, m = layout->n_hidden;
    cache->max_pix = max_pix;
    cache->centred = malloc(n * d * sizeof(double));
    cache->pre = malloc(n * m * sizeof(double));
    cache->code = malloc(n * m * sizeof(double));
    cache->resid = malloc(n * d * sizeof(double));
    cache->dcode = malloc(n * m * sizeof(double));
    cache->dcentred = malloc(n * d * sizeof(double));
    if (!cache->centred || !cache->pre || !cache->code || !cache->resid || !cache->dcode ||
        !cache->dcentred) {
        sae_cache_free(cache);
        return -1;
    }
    return 0;
}

void sae_cache_free(sae_cache *cache)
{
    free(cache->centred);
    free(cache->pre);
    free(cache->code);
    free(cache->resid);
    free(cache->dcode);
    free(cache->dcentred);
    memset(cache, 0, sizeof *cache);
}

sae_loss sae_forward(const sae_layout *layout, const double *params, const double *X,
                     size_t n_pix, double lambda, sae_cache *cache)
{
    const int d = layout->n_dim, m = layout->n_hidden;
    const double *enc_w = params + layout->off_enc_w, *enc_b = params + layout->off_enc_b;
    const double *dec_w = params + layout->off_dec_w, *dec_b = params + layout->off_dec_b;
    sae_loss out = {0, 0, 0};
    if (n_pix == 0)
        return out;
    for (size_t p = 0; p < n_pix; p++)
        for (int k = 0; k < d; k++)
            cache->centred[p * d + k] = X[p * d + k] - dec_b[k];
    /* pre = x̄ W_eᵀ + b_e */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix, m, d, 1.0, cache->centred, d,
                enc_w, d, 0.0, cache->pre, m);
    double l1 = 0, sq = 0;
    for (size_t p = 0; p < n_pix; p++)
        for (int j = 0; j < m; j++) {
            double a = cache->pre[p * m + j] += enc_b[j];
            double f = a > 0 ? a : 0;
            cache->code[p * m + j] = f;
            l1 += f;
        }
    /* x̂ = f W_dᵀ + b_d (W_d is [n_dim × n_hidden]) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_pix, d, m, 1.0, cache->code, m,
                dec_w, m, 0.0, cache->resid, d);
    for (size_t p = 0; p < n_pix; p++)
        for (int k = 0; k < d; k++) {
            double r = cache->resid[p * d + k] += dec_b[k] - X[p * d + k];
            sq += r * r;
        }
    out.mse = sq / (double)n_pix;
    out.l1 = l1 / (double)n_pix;
    out.loss = out.mse + lambda * out.l1;
    return out;
}

void sae_backward(const sae_layout *layout, const double *params, size_t n_pix, double lambda,
                  sae_cache *cache, double *grads)
{
    const int d = layout->n_dim, m = layout->n_hidden;
    const double *enc_w = params + layout->off_enc_w, *dec_w = params + layout->off_dec_w;
    double *g_enc_w = grads + layout->off_enc_w, *g_enc_b = grads + layout->off_enc_b;
    double *g_dec_w = grads + layout->off_dec_w, *g_dec_b = grads + layout->off_dec_b;
    memset(grads, 0, layout->n_params * sizeof(double));
    if (n_pix == 0)
        return;
    const double scale = 2.0 / (double)n_pix, l1_grad = lambda / (double)n_pix;
    /* ∂L/∂x̂ = (2/n)(x̂ − x): into W_d, b_d and the codes */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, m, (int)n_pix, scale, cache->resid, d,
                cache->code, m, 0.0, g_dec_w, m);
    for (size_t p = 0; p < n_pix; p++)
        for (int k = 0; k < d; k++)
            g_dec_b[k] += scale * cache->resid[p * d + k];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_pix, m, d, scale, cache->resid, d,
                dec_w, m, 0.0, cache->dcode, m);
    /* through |f| and ReLU: ∂L/∂pre = (∂L/∂f + λ/n) where pre > 0 */
    for (size_t p = 0; p < n_pix; p++)
        for (int j = 0; j < m; j++) {
            double *g = cache->dcode + p * m + j;
            *g = cache->pre[p * m + j] > 0 ? *g + l1_grad : 0;
            g_enc_b[j] += *g;
        }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, d, (int)n_pix, 1.0, cache->dcode, m,
                cache->centred, d, 0.0, g_enc_w, d);
    /* x̄ = x − b_d: the encoder's share of b_d's gradient */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_pix, d, m, 1.0, cache->dcode, m,
                enc_w, d, 0.0, cache->dcentred, d);
    for (size_t p = 0; p < n_pix; p++)
        for (int k = 0; k < d; k++)
            g_dec_b[k] -= cache->dcentred[p * d + k];
}

void sae_normalise_decoder(const sae_layout *layout, double *params)
{
    const int d = layout->n_dim, m = layout->n_hidden;
    double *dec_w = params + layout->off_dec_w;
    for (int j = 0; j < m; j++) {
        double norm = 0;
        for (int k = 0; k < d; k++)
            norm += dec_w[k * m + j] * dec_w[k * m + j];
        norm = sqrt(norm);
        for (int k = 0; norm > 0 && k < d; k++)
            dec_w[k * m + j] /= norm;
    }
}

void sae_init(const sae_layout *layout, uint64_t seed, uint64_t stream, const double *mean,
              double *params)
{
    const int d = layout->n_dim, m = layout->n_hidden;
    sae_view v = sae_view_of(layout, params);
    rng_state rng;
    rng_init(&rng, seed, stream);
    for (int k = 0; k < d * m; k++)
        v.dec_w[k] = rng_normal(&rng);
    sae_normalise_decoder(layout, params);
    for (int j = 0; j < m; j++) {
        v.enc_b[j] = 0;
        for (int k = 0; k < d; k++)
            v.enc_w[j * d + k] = v.dec_w[k * m + j];
    }
    memcpy(v.dec_b, mean, d * sizeof(double));
}

void sae_directions(const sae_layout *layout, const double *params, double *W, double *b, double *S)
{
    const int d = layout->n_dim, m = layout->n_hidden;
    const double *enc_w = params + layout->off_enc_w, *enc_b = params + layout->off_enc_b;
    const double *dec_w = params + layout->off_dec_w, *dec_b = params + layout->off_dec_b;
    for (int j = 0; j < m; j++) {
        double offset = 0;
        for (int k = 0; k < d; k++) {
            W[j * d + k] = enc_w[j * d + k];
            S[j * d + k] = dec_w[k * m + j];
            offset += enc_w[j * d + k] * dec_b[k];
        }
        b[j] = offset - enc_b[j];
    }
}

static int all_finite(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return 0;
    return 1;
}

int sae_train(const sae_train_config *cfg, const sae_layout *layout, const double *X, size_t n_pix,
              double *params, sae_loss *history, long *bad_epoch)
{
    const int d = layout->n_dim;
    size_t batch = cfg->batch < n_pix ? cfg->batch : n_pix;
    sae_cache cache;
    adam_state adam;
    if (sae_cache_init(&cache, layout, batch))
        return -1;
    double *grads = malloc(layout->n_params * sizeof(double));
    double *xb = malloc((batch ? batch : 1) * d * sizeof(double));
    size_t *order = malloc((n_pix ? n_pix : 1) * sizeof(size_t));
    int rc = (!grads || !xb || !order || adam_init(&adam, layout->n_params)) ? -1 : 0;
    for (long epoch = 0; !rc && epoch < cfg->epochs; epoch++) {
        rng_state rng;
        rng_init(&rng, cfg->seed, ((uint64_t)RNG_STREAM_BATCH << 40) ^ (uint64_t)epoch);
        rng_permutation(&rng, order, n_pix);
        sae_loss sum = {0, 0, 0};
        for (size_t b0 = 0; b0 < n_pix; b0 += batch) {
            size_t n = n_pix - b0 < batch ? n_pix - b0 : batch;
            for (size_t k = 0; k < n; k++)
                memcpy(xb + k * d, X + order[b0 + k] * d, d * sizeof(double));
            sae_loss l = sae_forward(layout, params, xb, n, cfg->lambda, &cache);
            sae_backward(layout, params, n, cfg->lambda, &cache, grads);
            adam_update(&adam, params, grads, cfg->lr);
            sae_normalise_decoder(layout, params);
            sum.loss += l.loss * (double)n;
            sum.mse += l.mse * (double)n;
            sum.l1 += l.l1 * (double)n;
        }
        sae_loss mean = {sum.loss / (double)n_pix, sum.mse / (double)n_pix, sum.l1 / (double)n_pix};
        if (history)
            history[epoch] = mean;
        if (!all_finite(params, layout->n_params) || !isfinite(mean.loss)) {
            if (bad_epoch)
                *bad_epoch = epoch;
            rc = -2;
        }
        if (!rc && cfg->on_epoch)
            cfg->on_epoch(cfg->ctx, epoch, &mean);
    }
    if (grads && xb && order)
        adam_free(&adam);
    sae_cache_free(&cache);
    free(grads);
    free(xb);
    free(order);
    return rc;
}

int sae_evaluate(const sae_layout *layout, const double *params, const double *X, size_t n_pix,
                 size_t batch, double lambda, sae_loss *out)
{
    if (batch == 0 || batch > n_pix)
        batch = n_pix;
    sae_cache cache;
    if (sae_cache_init(&cache, layout, batch))
        return -1;
    sae_loss sum = {0, 0, 0};
    for (size_t b0 = 0; b0 < n_pix; b0 += batch) {
        size_t n = n_pix - b0 < batch ? n_pix - b0 : batch;
        sae_loss l = sae_forward(layout, params, X + b0 * layout->n_dim, n, lambda, &cache);
        sum.loss += l.loss * (double)n;
        sum.mse += l.mse * (double)n;
        sum.l1 += l.l1 * (double)n;
    }
    sae_cache_free(&cache);
    double n = n_pix ? (double)n_pix : 1;
    *out = (sae_loss){sum.loss / n, sum.mse / n, sum.l1 / n};
    return 0;
}
