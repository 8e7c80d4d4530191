/* test_head — pooling, linear layer, cross-entropy and entropy of f+:
 * forward against naive formulas, backward against central finite
 * differences (double), stability for huge logits, accuracy/confusion. */
#include "gradcheck.h"
#include "harness.h"
#include "head.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N_IMG = 6, N_DIM = 5, N_CLS = 4, HW = 7 };


static void fill_normal(rng_state *r, double *a, size_t n, double scale)
{
    for (size_t k = 0; k < n; k++)
        a[k] = scale * rng_normal(r);
}

/* ---- the pieces under test, wrapped as scalar losses ------------------- */

typedef struct {
    double pooled[N_IMG * N_DIM], weight[N_CLS * N_DIM], bias[N_CLS];
    double probe[N_IMG * N_CLS]; /* L = Σ probe ⊙ logits */
    double logits[N_IMG * N_CLS];
    int32_t labels[N_IMG];
} head_ctx;

static double probe_loss(void *p)
{
    head_ctx *c = p;
    head_linear_forward(c->pooled, N_IMG, N_DIM, c->weight, c->bias, N_CLS,
                        c->logits);
    double s = 0.0;
    for (int k = 0; k < N_IMG * N_CLS; k++)
        s += c->probe[k] * c->logits[k];
    return s;
}

static double xent_loss(void *p)
{
    head_ctx *c = p;
    return head_xent_forward(c->logits, c->labels, N_IMG, N_CLS);
}

static double entropy_loss(void *p)
{
    head_ctx *c = p;
    return head_entropy_forward(c->logits, N_IMG, N_CLS);
}

static void test_pool(rng_state *r)
{
    enum { NI = 3, ND = 4, P = 5 };
    float feat[NI * ND * P];
    for (int k = 0; k < NI * ND * P; k++)
        feat[k] = (float)rng_normal(r);
    double pooled[NI * ND];
    head_pool(feat, NI, ND, P, pooled);
    int exact = 1;
    for (int i = 0; i < NI; i++)
        for (int d = 0; d < ND; d++) {
            double s = 0.0;
            for (int p = 0; p < P; p++)
                s += (double)feat[(i * ND + d) * P + p];
            exact &= pooled[i * ND + d] == s / P;
        }
    CHECK(exact, "pooling equals the double mean over hw (NCHW, channel-major)");

    /* Integer-valued pixels: the mean is known in closed form. */
    float f2[2 * 2 * 4] = {1, 2, 3, 4, 10, 20, 30, 40, -1, -1, -1, -1, 0, 0, 0, 8};
    double p2[4], want[4] = {2.5, 25, -1, 2};
    head_pool(f2, 2, 2, 4, p2);
    CHECK(memcmp(p2, want, sizeof want) == 0, "pooling known means");
}

static void test_linear(rng_state *r)
{
    head_ctx c;
    fill_normal(r, c.pooled, N_IMG * N_DIM, 1.0);
    fill_normal(r, c.weight, N_CLS * N_DIM, 1.0);
    fill_normal(r, c.bias, N_CLS, 1.0);
    fill_normal(r, c.probe, N_IMG * N_CLS, 1.0);

    probe_loss(&c);
    double worst = 0.0;
    for (int i = 0; i < N_IMG; i++)
        for (int k = 0; k < N_CLS; k++) {
            double s = c.bias[k];
            for (int d = 0; d < N_DIM; d++)
                s += c.weight[k * N_DIM + d] * c.pooled[i * N_DIM + d];
            worst = fmax(worst, fabs(s - c.logits[i * N_CLS + k]));
        }
    CHECK(worst < 1e-13, "linear forward = pooled Vᵀ + c (err %g)", worst);

    /* Backward accumulates onto what is there: start from 1s. */
    double dw[N_CLS * N_DIM], db[N_CLS], dp[N_IMG * N_DIM];
    for (int k = 0; k < N_CLS * N_DIM; k++) dw[k] = 1.0;
    for (int k = 0; k < N_CLS; k++) db[k] = 1.0;
    for (int k = 0; k < N_IMG * N_DIM; k++) dp[k] = 1.0;
    head_linear_backward(c.probe, c.pooled, c.weight, N_IMG, N_DIM, N_CLS, dw,
                         db, dp);
    for (int k = 0; k < N_CLS * N_DIM; k++) dw[k] -= 1.0;
    for (int k = 0; k < N_CLS; k++) db[k] -= 1.0;
    for (int k = 0; k < N_IMG * N_DIM; k++) dp[k] -= 1.0;
    double e;
    e = fd_rel_error(probe_loss, &c, c.weight, N_CLS * N_DIM, dw);
    CHECK(e <= FD_TOL, "linear dV (rel err %g)", e);
    e = fd_rel_error(probe_loss, &c, c.bias, N_CLS, db);
    CHECK(e <= FD_TOL, "linear dc (rel err %g)", e);
    e = fd_rel_error(probe_loss, &c, c.pooled, N_IMG * N_DIM, dp);
    CHECK(e <= FD_TOL, "linear dpooled (rel err %g)", e);
    CHECK_FD_SENSITIVE(probe_loss, &c, c.weight, N_CLS * N_DIM, dw, "linear dV");

    /* NULL outputs are skipped. */
    double dp2[N_IMG * N_DIM] = {0};
    head_linear_backward(c.probe, NULL, c.weight, N_IMG, N_DIM, N_CLS, NULL,
                         NULL, dp2);
    double diff = 0.0;
    for (int k = 0; k < N_IMG * N_DIM; k++)
        diff = fmax(diff, fabs(dp2[k] - dp[k]));
    CHECK(diff < 1e-14, "dpooled alone, other outputs NULL");
}

static void test_xent(rng_state *r)
{
    head_ctx c;
    fill_normal(r, c.logits, N_IMG * N_CLS, 2.0);
    for (int i = 0; i < N_IMG; i++)
        c.labels[i] = (int32_t)rng_below(r, N_CLS);
    CHECK(head_labels_valid(c.labels, N_IMG, N_CLS), "labels valid");

    double want = 0.0;
    for (int i = 0; i < N_IMG; i++) {
        double z = 0.0;
        for (int k = 0; k < N_CLS; k++)
            z += exp(c.logits[i * N_CLS + k]);
        want -= log(exp(c.logits[i * N_CLS + c.labels[i]]) / z);
    }
    want /= N_IMG;
    CHECK_CLOSE(head_xent_forward(c.logits, c.labels, N_IMG, N_CLS), want,
                1e-13, "cross-entropy forward (nats)");

    double d[N_IMG * N_CLS];
    head_xent_backward(c.logits, c.labels, N_IMG, N_CLS, 1.0, d);
    double e = fd_rel_error(xent_loss, &c, c.logits, N_IMG * N_CLS, d);
    CHECK(e <= FD_TOL, "cross-entropy dlogits (rel err %g)", e);
    CHECK_FD_SENSITIVE(xent_loss, &c, c.logits, N_IMG * N_CLS, d, "xent");
    double d3[N_IMG * N_CLS];
    head_xent_backward(c.logits, c.labels, N_IMG, N_CLS, -3.0, d3);
    CHECK(fabs(d3[5] + 3.0 * d[5]) < 1e-15, "cross-entropy backward scale");

    double logp[N_IMG * N_CLS];
    head_log_softmax(c.logits, N_IMG, N_CLS, logp);
    double worst = 0.0;
    for (int i = 0; i < N_IMG; i++) {
        double s = 0.0;
        for (int k = 0; k < N_CLS; k++)
            s += exp(logp[i * N_CLS + k]);
        worst = fmax(worst, fabs(s - 1.0));
    }
    CHECK(worst < 1e-14, "log-softmax normalises");

    /* Huge logits: finite, and correct limits. */
    double big[2 * 3] = {1e3, -1e3, 0, -1e3, -1e3, -1e3};
    int32_t lab[2] = {1, 0};
    double x = head_xent_forward(big, lab, 2, 3);
    CHECK_CLOSE(x, (2000.0 + log(3.0)) / 2, 1e-12, "cross-entropy of huge logits");
}

/* Rows of more classes than head.c's vector blocks take another path: the
 * value against the direct formula, the gradient by central differences on
 * a few coordinates. */
static void test_entropy_long_rows(rng_state *r)
{
    enum { NL = 2, KL = 1500 };
    double *l = malloc(sizeof(double) * NL * KL), *dl = malloc(sizeof(double) * NL * KL);
    fill_normal(r, l, NL * KL, 2.0);
    double want = 0.0;
    for (int i = 0; i < NL; i++) {
        double mx = -INFINITY, sum = 0.0, h = 0.0;
        for (int k = 0; k < KL; k++)
            mx = fmax(mx, l[i * KL + k]);
        for (int k = 0; k < KL; k++)
            sum += exp(l[i * KL + k] - mx);
        for (int k = 0; k < KL; k++) {
            double p = exp(l[i * KL + k] - mx) / sum;
            h -= p * log(p);
        }
        want += h / (NL * M_LN2);
    }
    CHECK_CLOSE(head_entropy_forward(l, NL, KL), want, 1e-12, "entropy of 1500-class rows");
    head_entropy_backward(l, NL, KL, 1.0, dl);
    double worst = 0.0;
    for (int k = 0; k < NL * KL; k += 97) {
        double keep = l[k], step = 1e-5;
        l[k] = keep + step;
        double up = head_entropy_forward(l, NL, KL);
        l[k] = keep - step;
        double down = head_entropy_forward(l, NL, KL);
        l[k] = keep;
        worst = fmax(worst, fabs((up - down) / (2 * step) - dl[k]) / fmax(1e-3, fabs(dl[k])));
    }
    CHECK(worst <= 1e-5, "entropy dlogits of 1500-class rows (rel err %g)", worst);
    free(l);
    free(dl);
}

static void test_entropy(rng_state *r)
{
    head_ctx c;
    fill_normal(r, c.logits, N_IMG * N_CLS, 1.5);
    double want = 0.0;
    for (int i = 0; i < N_IMG; i++) {
        double z = 0.0;
        for (int k = 0; k < N_CLS; k++)
            z += exp(c.logits[i * N_CLS + k]);
        for (int k = 0; k < N_CLS; k++) {
            double p = exp(c.logits[i * N_CLS + k]) / z;
            want -= p * log2(p);
        }
    }
    want /= N_IMG;
    CHECK_CLOSE(head_entropy_forward(c.logits, N_IMG, N_CLS), want, 1e-13,
                "entropy forward (bits)");

    double d[N_IMG * N_CLS];
    head_entropy_backward(c.logits, N_IMG, N_CLS, 1.0, d);
    double e = fd_rel_error(entropy_loss, &c, c.logits, N_IMG * N_CLS, d);
    CHECK(e <= FD_TOL, "entropy dlogits (rel err %g)", e);
    CHECK_FD_SENSITIVE(entropy_loss, &c, c.logits, N_IMG * N_CLS, d, "entropy");

    /* Known values: uniform → log2 K; two equal maxima far above the rest → 1. */
    double uni[3] = {7, 7, 7};
    CHECK_CLOSE(head_entropy_forward(uni, 1, 3), log2(3.0), 1e-15, "uniform: log2 K");
    double two[4] = {1e3, 1e3, -1e3, 0};
    CHECK_CLOSE(head_entropy_forward(two, 1, 4), 1.0, 1e-15, "two-way tie: 1 bit");

    /* Finite forward and backward for logits in [−1e3, 1e3]. */
    enum { NB = 300, KB = 5 };
    double *l = malloc(sizeof(double) * NB * KB), *dl = malloc(sizeof(double) * NB * KB);
    for (int k = 0; k < NB * KB; k++)
        l[k] = rng_uniform_range(r, -1e3, 1e3);
    for (int k = 0; k < KB; k++) {
        l[k] = 1e3;          /* one-hot with the max at the bound */
        l[KB + k] = -1e3;    /* all at the lower bound */
    }
    l[2 * KB] = 1e3;
    l[2 * KB + 1] = -1e3;
    double h = head_entropy_forward(l, NB, KB);
    head_entropy_backward(l, NB, KB, 1.0, dl);
    int finite = isfinite(h);
    for (int k = 0; k < NB * KB; k++)
        finite &= isfinite(dl[k]);
    CHECK(finite && h >= 0 && h <= log2(KB), "entropy finite on [-1e3, 1e3] (%g)", h);

    /* Many images take the parallel reduction; it must match a serial sum. */
    double serial = 0.0;
    for (int i = 0; i < NB; i++)
        serial += head_entropy_forward(l + (size_t)i * KB, 1, KB);
    CHECK_CLOSE(h, serial / NB, 1e-13, "parallel mean = serial mean");
    CHECK(head_entropy_forward(l, NB, KB) == h, "entropy deterministic");
    free(l);
    free(dl);
    test_entropy_long_rows(r);
}

static void test_accuracy(void)
{
    double logits[4 * 3] = {
        3, 1, 0,   /* pred 0 */
        0, 2, 2,   /* tie: first max, pred 1 */
        0, 0, 5,   /* pred 2 */
        9, 1, 1,   /* pred 0 */
    };
    int32_t labels[4] = {0, 2, 2, 1}, pred[4];
    head_predict(logits, 4, 3, pred);
    CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == 2 && pred[3] == 0,
          "argmax with first-max ties");
    CHECK_CLOSE(head_accuracy(logits, labels, 4, 3), 0.5, 1e-15, "accuracy");
    int64_t counts[9] = {0};
    head_confusion(logits, labels, 4, 3, counts);
    head_confusion(logits, labels, 1, 3, counts); /* accumulates */
    int64_t want[9] = {2, 0, 0,   1, 0, 0,   0, 1, 1};
    CHECK(memcmp(counts, want, sizeof want) == 0, "confusion rows = truth, accumulates");
    int32_t bad[2] = {0, 3};
    CHECK(!head_labels_valid(bad, 2, 3), "label out of range detected");
}

int main(void)
{
    rng_state r;
    rng_init(&r, 2024, RNG_STREAM_INIT);
    test_pool(&r);
    test_linear(&r);
    test_xent(&r);
    test_entropy(&r);
    test_accuracy();
    return harness_report("head");
}
