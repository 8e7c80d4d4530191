/* sae — the sparse-autoencoder baseline (method-spec §6.3, Bricken et al.):
 *     x̄ = x − b_d,  f = ReLU(W_e x̄ + b_e),  x̂ = W_d f + b_d,
 *     L = E_p ‖x_p − x̂_p‖² + λ E_p ‖f_p‖₁,
 * with the decoder columns renormalised to unit norm after each step.
 *
 * In EDDP's words (PRACTICES #10): the decoder columns are encoding
 * directions (signal vectors S), the encoder rows with their thresholds are
 * decoding directions (filters W, biases b): f_i > 0 ⇔ W_e,i·x −
 * (W_e,i·b_d − b_e,i) > 0.
 *
 * All parameters live in one flat vector (one Adam state):
 *     [ W_e (n_hidden × n_dim) | b_e (n_hidden) | W_d (n_dim × n_hidden) | b_d (n_dim) ]
 * Pixel vectors X are [n_pix × n_dim], codes F [n_pix × n_hidden].
 *
 * Stage: evaluation (a baseline, sae(1)). In memory only, no files. */
#ifndef EDDP_SAE_H
#define EDDP_SAE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_dim, n_hidden;
    size_t off_enc_w, off_enc_b, off_dec_w, off_dec_b, n_params;
} sae_layout;

void sae_layout_init(sae_layout *layout, int n_dim, int n_hidden);

/* Views into a flat parameter (or gradient) vector. */
typedef struct {
    double *enc_w;  /* [n_hidden × n_dim] W_e */
    double *enc_b;  /* [n_hidden] b_e */
    double *dec_w;  /* [n_dim × n_hidden] W_d; column j = atom j */
    double *dec_b;  /* [n_dim] b_d */
} sae_view;

sae_view sae_view_of(const sae_layout *layout, double *params);

/* What the forward pass keeps for the backward pass, sized for up to
 * max_pix pixels. */
typedef struct {
    size_t max_pix;
    double *centred;  /* [max_pix × n_dim] x̄ = x − b_d */
    double *pre;      /* [max_pix × n_hidden] W_e x̄ + b_e */
    double *code;     /* [max_pix × n_hidden] f = ReLU(pre) */
    double *resid;    /* [max_pix × n_dim] x̂ − x */
    double *dcode;    /* [max_pix × n_hidden] scratch of the backward pass */
    double *dcentred; /* [max_pix × n_dim] scratch of the backward pass */
} sae_cache;

int sae_cache_init(sae_cache *cache, const sae_layout *layout, size_t max_pix);
void sae_cache_free(sae_cache *cache);

/* Loss parts of one batch: mse = E‖x − x̂‖², l1 = E‖f‖₁, loss = mse + λ l1. */
typedef struct {
    double loss, mse, l1;
} sae_loss;

/* Forward pass over n_pix ≤ cache->max_pix pixels; fills the cache. */
sae_loss sae_forward(const sae_layout *layout, const double *params, const double *X,
                     size_t n_pix, double lambda, sae_cache *cache);
/* Gradient of the loss of the last sae_forward (same params, X, n_pix,
 * lambda) w.r.t. every parameter: grads [n_params], overwritten. The
 * subgradient of ReLU and |f| at 0 is taken as 0. */
void sae_backward(const sae_layout *layout, const double *params, size_t n_pix, double lambda,
                  sae_cache *cache, double *grads);

/* Rescales every decoder column to unit norm (a zero column is left). */
void sae_normalise_decoder(const sae_layout *layout, double *params);

/* Initial parameters (Bricken et al.'s recipe): decoder columns Gaussian
 * from (seed, stream) normalised to unit norm, W_e = W_dᵀ, b_e = 0, b_d =
 * the data mean [n_dim]. */
void sae_init(const sae_layout *layout, uint64_t seed, uint64_t stream, const double *mean,
              double *params);

/* Decoding directions in the toolkit's contract a = W x − b: W [n_hidden ×
 * n_dim] = W_e, b [n_hidden] = W_e b_d − b_e (so a_i = pre_i). Encoding
 * directions S [n_hidden × n_dim] = W_dᵀ (decoder columns as rows). */
void sae_directions(const sae_layout *layout, const double *params, double *W, double *b, double *S);

/* Training: epochs of shuffled pixel batches, Adam, decoder renormalised
 * after each step. Batch order of epoch e is a function of (seed, e) only. */
typedef struct {
    long epochs;
    size_t batch;       /* pixels per batch */
    double lr, lambda;
    uint64_t seed;
    /* called after each epoch (progress); may be NULL */
    void (*on_epoch)(void *ctx, long epoch, const sae_loss *epoch_mean);
    void *ctx;
} sae_train_config;

/* Trains params in place on X [n_pix × n_dim]; history [epochs] receives the
 * epoch means of the batch losses (NULL = not kept). Returns 0, −1 on
 * allocation failure, −2 when the parameters became NaN/Inf (the epoch is
 * then in *bad_epoch when given). */
int sae_train(const sae_train_config *cfg, const sae_layout *layout, const double *X, size_t n_pix,
              double *params, sae_loss *history, long *bad_epoch);

/* Loss over all pixels X [n_pix × n_dim] in batches of `batch` (the mean of
 * per-pixel terms, independent of the batch size up to rounding). */
int sae_evaluate(const sae_layout *layout, const double *params, const double *X, size_t n_pix,
                 size_t batch, double lambda, sae_loss *out);

#endif
