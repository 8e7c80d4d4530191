/* test_sae — the sparse-autoencoder baseline (method-spec §6.3): loss by
 * hand, finite-difference gradients in double, decoder renormalisation,
 * initialisation, the map to the directions contract, and training. */
#include "harness.h"
#include "rng.h"
#include "sae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void random_fill(rng_state *r, double *x, size_t n, double scale)
{
    for (size_t k = 0; k < n; k++)
        x[k] = scale * rng_normal(r);
}

/* The loss at params (a fresh forward pass). */
static double loss_at(const sae_layout *layout, const double *params, const double *X, size_t n_pix,
                      double lambda)
{
    sae_cache cache;
    sae_cache_init(&cache, layout, n_pix);
    double loss = sae_forward(layout, params, X, n_pix, lambda, &cache).loss;
    sae_cache_free(&cache);
    return loss;
}

/* max |g_fd − g| / max(1, max |g|) over every parameter, central
 * differences with step h. */
static double fd_error(const sae_layout *layout, double *params, const double *X, size_t n_pix,
                       double lambda, const double *grads, double h)
{
    double worst = 0, gmax = 0;
    for (size_t k = 0; k < layout->n_params; k++) {
        double keep = params[k];
        params[k] = keep + h;
        double up = loss_at(layout, params, X, n_pix, lambda);
        params[k] = keep - h;
        double down = loss_at(layout, params, X, n_pix, lambda);
        params[k] = keep;
        double fd = (up - down) / (2 * h);
        if (fabs(fd - grads[k]) > worst)
            worst = fabs(fd - grads[k]);
        if (fabs(grads[k]) > gmax)
            gmax = fabs(grads[k]);
    }
    return worst / (gmax > 1 ? gmax : 1);
}

/* Smallest |pre-activation| of the instance: the distance to ReLU's kink. */
static double min_abs_pre(const sae_layout *layout, const double *params, const double *X, size_t n_pix)
{
    sae_cache cache;
    sae_cache_init(&cache, layout, n_pix);
    sae_forward(layout, params, X, n_pix, 0, &cache);
    double m = INFINITY;
    for (size_t k = 0; k < n_pix * layout->n_hidden; k++)
        m = fabs(cache.pre[k]) < m ? fabs(cache.pre[k]) : m;
    sae_cache_free(&cache);
    return m;
}

static void test_gradients(double lambda, uint64_t seed)
{
    enum { N_PIX = 9, DIM = 5, HID = 4 };
    sae_layout layout;
    sae_layout_init(&layout, DIM, HID);
    double params[2 * DIM * HID + HID + DIM], X[N_PIX * DIM], grads[sizeof params / sizeof(double)];
    CHECK(layout.n_params == sizeof params / sizeof(double), "n_params %zu", layout.n_params);
    rng_state r;
    rng_init(&r, seed, 1);
    /* an instance whose pre-activations keep clear of ReLU's kink */
    do {
        random_fill(&r, params, layout.n_params, 1.0);
        random_fill(&r, X, N_PIX * DIM, 2.0);
    } while (min_abs_pre(&layout, params, X, N_PIX) < 1e-3);
    int active = 0;
    {
        sae_cache cache;
        sae_cache_init(&cache, &layout, N_PIX);
        sae_forward(&layout, params, X, N_PIX, lambda, &cache);
        for (int k = 0; k < N_PIX * HID; k++)
            active += cache.pre[k] > 0;
        sae_backward(&layout, params, N_PIX, lambda, &cache, grads);
        sae_cache_free(&cache);
    }
    CHECK(active > 0 && active < N_PIX * HID, "instance has both active and inactive units (%d)", active);
    double err = fd_error(&layout, params, X, N_PIX, lambda, grads, 1e-6);
    CHECK(err <= 1e-6, "lambda %g: gradient vs central differences: relative error %.3g", lambda, err);
    /* the check itself must notice a gradient wrong by 1e-5 of its scale */
    double gmax = 1;
    for (size_t k = 0; k < layout.n_params; k++)
        gmax = fmax(gmax, fabs(grads[k]));
    grads[layout.off_enc_b + 1] += 1e-5 * gmax;
    double bad = fd_error(&layout, params, X, N_PIX, lambda, grads, 1e-6);
    CHECK(bad > 1e-6, "a gradient off by 1e-5 of its scale is caught (error %.3g)", bad);
}

/* Two pixels, D = 2, one unit, worked by hand. */
static void test_loss_by_hand(void)
{
    sae_layout layout;
    sae_layout_init(&layout, 2, 1);
    double params[2 + 1 + 2 + 2] = {0};
    sae_view v = sae_view_of(&layout, params);
    v.enc_w[0] = 1;       /* W_e = [1 0] */
    v.dec_w[0] = 1;       /* W_d = [1; 0] */
    double X[4] = {2, 3, -1, 1};
    sae_cache cache;
    sae_cache_init(&cache, &layout, 2);
    sae_loss l = sae_forward(&layout, params, X, 2, 0.5, &cache);
    /* pixel 1: f = 2, x̂ = (2,0), ‖r‖² = 9; pixel 2: f = 0, x̂ = 0, ‖r‖² = 2 */
    CHECK_CLOSE(l.mse, 5.5, 1e-15, "mse by hand");
    CHECK_CLOSE(l.l1, 1.0, 1e-15, "l1 by hand");
    CHECK_CLOSE(l.loss, 6.0, 1e-15, "loss by hand");
    /* b_d shifts both the input of the encoder and the output */
    v.dec_b[0] = 1;
    l = sae_forward(&layout, params, X, 2, 0.0, &cache);
    /* pixel 1: x̄ = (1,3), f = 1, x̂ = (2,0) → 9; pixel 2: x̄ = (−2,1), f = 0, x̂ = (1,0) → 4+1 */
    CHECK_CLOSE(l.mse, 7.0, 1e-15, "mse with a decoder bias");
    sae_cache_free(&cache);
}

static void test_normalise_init_directions(void)
{
    enum { DIM = 6, HID = 4, N_PIX = 20 };
    sae_layout layout;
    sae_layout_init(&layout, DIM, HID);
    double params[2 * DIM * HID + HID + DIM], mean[DIM];
    rng_state r;
    rng_init(&r, 7, 1);
    random_fill(&r, mean, DIM, 3.0);
    sae_init(&layout, 11, 4, mean, params);
    sae_view v = sae_view_of(&layout, params);
    double worst = 0;
    for (int j = 0; j < HID; j++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++) {
            norm += v.dec_w[d * HID + j] * v.dec_w[d * HID + j];
            worst = fmax(worst, fabs(v.enc_w[j * DIM + d] - v.dec_w[d * HID + j]));
        }
        CHECK_CLOSE(sqrt(norm), 1.0, 1e-14, "initial decoder column norm");
        CHECK(v.enc_b[j] == 0, "b_e starts at 0");
    }
    CHECK(worst == 0, "W_e starts as W_dᵀ");
    CHECK(memcmp(v.dec_b, mean, sizeof mean) == 0, "b_d starts at the data mean");
    double again[sizeof params / sizeof(double)];
    sae_init(&layout, 11, 4, mean, again);
    CHECK(memcmp(params, again, sizeof params) == 0, "initialisation is a function of the seed");

    random_fill(&r, params, layout.n_params, 2.0);
    sae_normalise_decoder(&layout, params);
    for (int j = 0; j < HID; j++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++)
            norm += v.dec_w[d * HID + j] * v.dec_w[d * HID + j];
        CHECK_CLOSE(sqrt(norm), 1.0, 1e-14, "renormalised decoder column");
    }

    /* W x − b equals the pre-activation; S rows are the decoder columns */
    double X[N_PIX * DIM], W[HID * DIM], b[HID], S[HID * DIM];
    random_fill(&r, X, N_PIX * DIM, 4.0);
    sae_directions(&layout, params, W, b, S);
    sae_cache cache;
    sae_cache_init(&cache, &layout, N_PIX);
    sae_forward(&layout, params, X, N_PIX, 0, &cache);
    double err = 0;
    for (int p = 0; p < N_PIX; p++)
        for (int j = 0; j < HID; j++) {
            double a = -b[j];
            for (int d = 0; d < DIM; d++)
                a += W[j * DIM + d] * X[p * DIM + d];
            err = fmax(err, fabs(a - cache.pre[p * HID + j]));
        }
    CHECK(err <= 1e-12, "W x − b = W_e(x − b_d) + b_e (error %.3g)", err);
    int same = 1;
    for (int j = 0; j < HID; j++)
        for (int d = 0; d < DIM; d++)
            same &= S[j * DIM + d] == v.dec_w[d * HID + j];
    CHECK(same, "S rows are the decoder columns");
    sae_cache_free(&cache);
}

/* Sparse non-negative codes on 3 orthonormal atoms plus an offset: training
 * lowers the loss, keeps unit decoder columns and is deterministic;
 * sae_evaluate does not depend on its batch size. */
static void test_training(void)
{
    enum { DIM = 8, HID = 3, N_PIX = 600 };
    sae_layout layout;
    sae_layout_init(&layout, DIM, HID);
    double atoms[HID * DIM] = {0}, *X = malloc(N_PIX * DIM * sizeof(double));
    for (int j = 0; j < HID; j++)
        atoms[j * DIM + 2 * j] = 1;
    rng_state r;
    rng_init(&r, 5, 1);
    double mean[DIM] = {0};
    for (int p = 0; p < N_PIX; p++) {
        int j = (int)rng_below(&r, HID);
        double a = rng_uniform_range(&r, 1, 3);
        for (int d = 0; d < DIM; d++) {
            X[p * DIM + d] = 5 + a * atoms[j * DIM + d] + 0.01 * rng_normal(&r);
            mean[d] += X[p * DIM + d] / N_PIX;
        }
    }
    double p1[3 * DIM * HID], p2[3 * DIM * HID];
    sae_init(&layout, 3, 4, mean, p1);
    memcpy(p2, p1, layout.n_params * sizeof(double));
    sae_loss before, after, batched;
    sae_evaluate(&layout, p1, X, N_PIX, 0, 1e-3, &before);
    sae_train_config cfg = {.epochs = 150, .batch = 64, .lr = 1e-2, .lambda = 1e-3, .seed = 9};
    sae_loss history[150];
    long bad = -1;
    CHECK(sae_train(&cfg, &layout, X, N_PIX, p1, history, &bad) == 0, "training runs");
    CHECK(sae_train(&cfg, &layout, X, N_PIX, p2, NULL, NULL) == 0, "training runs again");
    CHECK(memcmp(p1, p2, layout.n_params * sizeof(double)) == 0, "training is deterministic");
    sae_evaluate(&layout, p1, X, N_PIX, 0, 1e-3, &after);
    sae_evaluate(&layout, p1, X, N_PIX, 77, 1e-3, &batched);
    CHECK(after.loss < 0.2 * before.loss, "loss falls: %g -> %g", before.loss, after.loss);
    CHECK(history[149].loss < history[0].loss, "epoch losses fall: %g -> %g", history[0].loss,
          history[149].loss);
    CHECK_CLOSE(batched.loss, after.loss, 1e-12, "evaluation independent of its batch size");
    CHECK_CLOSE(after.loss, after.mse + 1e-3 * after.l1, 1e-14, "loss = mse + lambda l1");
    sae_view v = sae_view_of(&layout, p1);
    for (int j = 0; j < HID; j++) {
        double norm = 0;
        for (int d = 0; d < DIM; d++)
            norm += v.dec_w[d * HID + j] * v.dec_w[d * HID + j];
        CHECK_CLOSE(sqrt(norm), 1.0, 1e-12, "decoder column norm after training");
    }
    /* a NaN in the data is reported as a bad epoch */
    X[5] = NAN;
    bad = -1;
    CHECK(sae_train(&cfg, &layout, X, N_PIX, p2, NULL, &bad) == -2 && bad == 0,
          "NaN parameters are reported (epoch %ld)", bad);
    free(X);
}

int main(void)
{
    test_gradients(0.0, 1);
    test_gradients(0.3, 2);
    test_gradients(2.0, 3);
    test_loss_by_hand();
    test_normalise_init_directions();
    test_training();
    return harness_report("sae");
}
