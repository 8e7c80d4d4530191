/* test_influence — RCAV influence testing (method-spec §6.4, §6.5):
 * known answers of the closed-form SC, the closed form against perturbing
 * and re-pooling the feature maps image by image, p-values, Table 8
 * statistics, S³, the noise vectors' label independence and sampling, a
 * many-class case with a significant and a non-significant result, and
 * shard independence of a run. */
#include "gradcheck.h"
#include "harness.h"
#include "head.h"
#include "inflrun.h"
#include "influence.h"
#include "noise.h"
#include "rng.h"
#include "signal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void normal_fill(rng_state *rng, double *x, size_t n, double scale)
{
    for (size_t j = 0; j < n; j++)
        x[j] = scale * rng_normal(rng);
}

/* Random logits and labels (every class present), ready for the closed form. */
static void random_eval(rng_state *rng, size_t n_img, int K, influence_eval *ev)
{
    double *logits = malloc(n_img * K * sizeof *logits);
    int32_t *labels = malloc(n_img * sizeof *labels);
    normal_fill(rng, logits, n_img * K, 2.0);
    for (size_t i = 0; i < n_img; i++) {
        labels[i] = (int32_t)(i % K);
        logits[i * K + labels[i]] += 2.0;
    }
    influence_eval_init(ev, logits, labels, n_img, K);
    free(logits);
    free(labels);
}

/* For any direction the class with the largest logit shift gets SC = +1
 * and the one with the smallest −1, for every α > 0: Σ_j q_j e^{δ_j} ≤
 * e^{max δ} always, ≥ e^{min δ} always (strictly, the shifts not all equal). */
static void test_extreme_classes(void)
{
    rng_state rng;
    rng_init(&rng, 11, 1);
    int K = 7, D = 9;
    influence_eval ev;
    random_eval(&rng, 350, K, &ev);
    double W[7 * 9], v[9], delta[7], SC[7];
    normal_fill(&rng, W, (size_t)K * D, 1.0);
    const double alphas[] = {1e-3, 0.5, 2, 5, 50, 5000};
    for (int trial = 0; trial < 20; trial++) {
        normal_fill(&rng, v, D, 1.0);
        influence_logit_shift(W, K, D, v, 1.0, 1.0, delta);
        int hi = 0, lo = 0;
        for (int k = 1; k < K; k++) {
            hi = delta[k] > delta[hi] ? k : hi;
            lo = delta[k] < delta[lo] ? k : lo;
        }
        for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++) {
            influence_sensitivity(&ev, W, D, v, 1, alphas[a], 0.5, SC);
            CHECK(SC[hi] == 1.0, "trial %d alpha %g: SC of the most raised class %d = %g, want +1", trial, alphas[a],
                  hi, SC[hi]);
            CHECK(SC[lo] == -1.0, "trial %d alpha %g: SC of the most lowered class %d = %g, want -1", trial,
                  alphas[a], lo, SC[lo]);
        }
    }
    /* a zero direction perturbs nothing: SC = 0 */
    memset(v, 0, sizeof v);
    influence_sensitivity(&ev, W, D, v, 1, 5, 0.5, SC);
    for (int k = 0; k < K; k++)
        CHECK(SC[k] == 0, "zero direction: SC[%d] = %g", k, SC[k]);
    influence_eval_free(&ev);
}

/* The closed form against RCAV's mechanics: add α V (v replicated over the
 * H×W pixels, the tensor normalised) to each feature map, pool, apply the
 * head, compare p_k image by image. */
static void test_closed_form_vs_repooled(void)
{
    rng_state rng;
    rng_init(&rng, 12, 1);
    int K = 6, D = 8, H = 3, Wd = 4, hw = H * Wd, n_img = 240, n_dir = 25;
    float *feat = malloc((size_t)n_img * D * hw * sizeof *feat);
    for (size_t j = 0; j < (size_t)n_img * D * hw; j++)
        feat[j] = (float)(rng_normal(&rng) + 0.3);
    double *head_w = malloc((size_t)K * D * sizeof *head_w), *bias = malloc(K * sizeof *bias);
    normal_fill(&rng, head_w, (size_t)K * D, 1.0);
    normal_fill(&rng, bias, K, 0.5);
    double *pooled = malloc((size_t)n_img * D * sizeof *pooled), *logits = malloc((size_t)n_img * K * sizeof *logits);
    double *logp = malloc((size_t)n_img * K * sizeof *logp), *logp2 = malloc((size_t)n_img * K * sizeof *logp2);
    double *pooled2 = malloc((size_t)n_img * D * sizeof *pooled2);
    int32_t *labels = malloc(n_img * sizeof *labels);
    for (int i = 0; i < n_img; i++)
        labels[i] = (int32_t)rng_below(&rng, K);
    for (int k = 0; k < K; k++)
        labels[k] = k;
    head_pool(feat, n_img, D, hw, pooled);
    head_linear_forward(pooled, n_img, D, head_w, bias, K, logits);
    head_log_softmax(logits, n_img, K, logp);
    influence_eval ev;
    influence_eval_init(&ev, logits, labels, n_img, K);
    double *V = malloc((size_t)n_dir * D * sizeof *V), *SC = malloc((size_t)n_dir * K * sizeof *SC);
    normal_fill(&rng, V, (size_t)n_dir * D, 1.0);
    double alpha = 2.0;
    influence_sensitivity(&ev, head_w, D, V, n_dir, alpha, 1.0 / sqrt(hw), SC);
    int agree = 1, interior = 0;
    for (int r = 0; r < n_dir; r++) {
        const double *v = V + (size_t)r * D;
        double tensor_norm = 0;
        for (int d = 0; d < D; d++)
            tensor_norm += v[d] * v[d] * hw;  /* ‖V‖² over the replicated tensor */
        tensor_norm = sqrt(tensor_norm);
        for (int i = 0; i < n_img; i++)       /* re-pool X + αV, pixel by pixel */
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int p = 0; p < hw; p++)
                    s += (double)feat[((size_t)i * D + d) * hw + p] + alpha * v[d] / tensor_norm;
                pooled2[(size_t)i * D + d] = s / hw;
            }
        head_linear_forward(pooled2, n_img, D, head_w, bias, K, logits);
        head_log_softmax(logits, n_img, K, logp2);
        for (int k = 0; k < K; k++) {
            int n_k = 0, up = 0;
            for (int i = 0; i < n_img; i++)
                if (labels[i] == k) {
                    n_k++;
                    up += logp2[(size_t)i * K + k] >= logp[(size_t)i * K + k];
                }
            double want = 2.0 * up / n_k - 1.0;
            agree &= SC[(size_t)r * K + k] == want;
            interior += fabs(want) < 1;
            if (SC[(size_t)r * K + k] != want)
                fprintf(stderr, "direction %d class %d: closed form %g, re-pooled %g\n", r, k, SC[r * K + k], want);
        }
    }
    CHECK(agree, "closed-form SC equals the re-pooled SC for %d directions x %d classes", n_dir, K);
    CHECK(interior > n_dir, "the comparison is not trivial: %d of %d scores strictly inside (-1, 1)", interior,
          n_dir * K);
    influence_eval_free(&ev);
    free(feat); free(head_w); free(bias); free(pooled); free(logits); free(logp); free(logp2); free(pooled2);
    free(labels); free(V); free(SC);
}

static void test_pvalues_and_threshold(void)
{
    double SC[3] = {0.5, -1.0, 0.0};
    double noise[4 * 3] = {0.5, 0.9, 0.1,   -0.6, -1.0, 0.0,   0.2, 0.3, -0.2,   0.49, 1.0, 0.0};
    double p[3];
    influence_pvalues(SC, noise, NULL, 4, 3, p);
    CHECK(p[0] == 0.5, "p[0] = %g, want 2/4 (|0.5| and |-0.6| reach |0.5|)", p[0]);
    CHECK(p[1] == 0.5, "p[1] = %g, want 2/4 (ties count)", p[1]);
    CHECK(p[2] == 1.0, "p[2] = %g, want 1 (SC 0: every noise score reaches it)", p[2]);
    const int alive[4] = {1, 0, 1, 1}, none[4] = {0};
    influence_pvalues(SC, noise, alive, 4, 3, p);
    CHECK(p[0] == 1.0 / 3 && p[1] == 1.0 / 3, "dead noise vector left out: p %g %g, want 1/3 1/3", p[0], p[1]);
    influence_pvalues(SC, noise, none, 4, 3, p);
    CHECK(isnan(p[0]) && isnan(p[2]), "no live noise vector: p NaN (got %g)", p[0]);
    CHECK_CLOSE(influence_threshold(0.05, 500 * 365), 2.7397260273972603e-07, 1e-15, "paper's threshold");
}

/* Table 8 on a hand-made 3 × 4 masked matrix. */
static void test_statistics(void)
{
    const double SC[12] = {0.9, -0.8, 0.0, 0.4,   -1.0, -0.5, 0.7, 0.2,   0.3, 0.3, 0.3, 0.3};
    const int32_t sig[12] = {1, 1, 0, 0,   1, 1, 1, 0,   0, 0, 0, 0};
    influence_stats st;
    CHECK(influence_statistics(SC, sig, 3, 4, &st) == 0, "statistics");
    CHECK(st.sdc == 2 && st.scdp == 5, "SDC %ld SCDP %ld, want 2 and 5", st.sdc, st.scdp);
    CHECK(st.dir_pos == 2 && st.dir_neg == 2, "directions +/-: %ld %ld, want 2 2", st.dir_pos, st.dir_neg);
    CHECK(st.pos_per_class == 0.5 && st.neg_per_class == 0.75, "per class %g %g, want 0.5 0.75", st.pos_per_class,
          st.neg_per_class);
    CHECK(st.min_pos == 0 && st.max_pos == 1 && st.min_neg == 0 && st.max_neg == 2, "min/max %ld %ld %ld %ld",
          st.min_pos, st.max_pos, st.min_neg, st.max_neg);
    CHECK(st.cls_pos == 2 && st.cls_neg == 2, "classes +/-: %ld %ld, want 2 (0, 2) and 2 (0, 1)", st.cls_pos,
          st.cls_neg);
}

/* S³ on a hand-made case: labels 0 (detectors 0, 1), 1 (detector 2), 2 (none). */
static void test_s3(void)
{
    const int32_t label[4] = {0, 0, 1, -1};
    const double SC[4 * 2] = {0.5, -0.2,   0.7, 0.1,   -0.4, 0.9,   1, 1};
    const int pcav_row[3] = {1, 0, 2};
    const double SC_pcav[3 * 2] = {0.4, -1.0,   0.8, 0.1,   1, 1};
    long pairs;
    double s3 = influence_s3(label, SC, 4, pcav_row, 3, SC_pcav, 2, 0.05, &pairs);
    /* label 0: class 0 |0.8| > 0.5, 0.7 → 1; class 1 |0.1| ≤ 0.1 → 0. label 1: 0.4 ≥ 0.4 → 0; 1.0 > 0.9 → 1 */
    CHECK(pairs == 4, "S3 pairs %ld, want 4 (label 2 has no detector)", pairs);
    CHECK(s3 == 0.5, "S3 = %g, want 0.5", s3);
}

/* Permuted labels: m ones and m zeros, whatever the sample. */
static void test_permuted_labels_count(void)
{
    rng_state rng;
    rng_init(&rng, 3, 9);
    size_t m = 37, perm[74];
    float labels[74];
    int differs = 0;
    float first[74];
    for (int t = 0; t < 5; t++) {
        noise_permuted_labels(&rng, m, perm, labels);
        int ones = 0;
        for (size_t p = 0; p < 2 * m; p++)
            ones += labels[p] == 1.0f;
        CHECK(ones == (int)m, "permutation %d has %d ones, want %zu", t, ones, m);
        if (t == 0)
            memcpy(first, labels, sizeof first);
        else
            differs |= memcmp(first, labels, sizeof first) != 0;
    }
    CHECK(differs, "successive permutations differ");
}

/* The null is label-independent: the labels of each noise classifier are a
 * fresh random arrangement of m ones and m zeros, so P(permuted 1 | true 1)
 * = P(permuted 1 | true 0) = ½, and the noise vectors depend on the sample's
 * rows, not on which of them were positives: a sample whose true labels are
 * perfectly separable along u and the same rows relabelled at random give
 * noise vectors of the same distribution (here: mean |cos| with u). Eq. 1
 * on a classifier's positives follows the data's covariance, so that mean is
 * not the isotropic ~0.23 — which is why the comparison is between the two
 * labellings, with the true-label Eq. 1 vector as the contrast. */
static double mean_abs_cos_u(const float *X, size_t m, int D, const noise_config *cfg, uint64_t stream, int u_dim)
{
    double *S = malloc((size_t)cfg->n_noise * D * sizeof *S), total = 0;
    int *alive = malloc(cfg->n_noise * sizeof *alive);
    rng_state det_rng;
    rng_init(&det_rng, cfg->seed, stream);
    noise_train(X, m, D, cfg, &det_rng, S, alive);
    for (int c = 0; c < cfg->n_noise; c++) {
        double norm = 0;
        for (int d = 0; d < D; d++)
            norm += S[c * D + d] * S[c * D + d];
        total += alive[c] && norm > 0 ? fabs(S[c * D + u_dim]) / sqrt(norm) : 0;
    }
    free(S);
    free(alive);
    return total / cfg->n_noise;
}

static void test_null_label_independent(void)
{
    rng_state rng;
    rng_init(&rng, 21, 1);
    int D = 12, u_dim = 3;
    size_t m = 300, n = 2 * m;
    /* permuted labels against true labels (first m rows positive) */
    size_t *perm = malloc(n * sizeof *perm);
    float *labels = malloc(n * sizeof *labels);
    long agree_pos = 0, agree_neg = 0;
    for (int t = 0; t < 200; t++) {
        noise_permuted_labels(&rng, m, perm, labels);
        for (size_t p = 0; p < n; p++)
            *(p < m ? &agree_pos : &agree_neg) += labels[p] == 1.0f;
    }
    CHECK(fabs(agree_pos / (200.0 * m) - 0.5) < 0.01 && fabs(agree_neg / (200.0 * m) - 0.5) < 0.01,
          "P(permuted 1 | true 1) = %g, P(permuted 1 | true 0) = %g, want 0.5 both", agree_pos / (200.0 * m),
          agree_neg / (200.0 * m));
    /* separable along u: rows < m at +3u, the rest at −3u; and the same rows shuffled */
    float *X = malloc(n * D * sizeof *X), *Xs = malloc(n * D * sizeof *Xs);
    for (size_t p = 0; p < n; p++)
        for (int d = 0; d < D; d++)
            X[p * D + d] = (float)(rng_normal(&rng) + (d == u_dim ? (p < m ? 3.0 : -3.0) : 0.0));
    rng_permutation(&rng, perm, n);
    for (size_t p = 0; p < n; p++)
        memcpy(Xs + p * D, X + perm[p] * D, D * sizeof *X);
    noise_config cfg = {.n_noise = 100, .max_sample = 5000, .epochs = 100, .lr = 0.01, .seed = 5};
    double separable = mean_abs_cos_u(X, m, D, &cfg, 77, u_dim), shuffled = mean_abs_cos_u(Xs, m, D, &cfg, 78, u_dim);
    CHECK(fabs(separable - shuffled) < 0.05, "noise vectors: mean |cos(., u)| %g with the true labels' order, %g "
          "with the rows shuffled (want equal within 0.05)", separable, shuffled);
    /* the contrast: Eq. 1 on the true positives, with a filter along u */
    double *Xd = malloc(n * D * sizeof *Xd), *A = malloc(n * sizeof *A), *Z = malloc(n * sizeof *Z), s[12];
    int ok;
    for (size_t p = 0; p < n; p++) {
        for (int d = 0; d < D; d++)
            Xd[p * D + d] = X[p * D + d];
        A[p] = p < m ? 1 : -1;
        Z[p] = Xd[p * D + u_dim] + 0.1 * Xd[p * D + 4];
    }
    signal_estimate(Xd, A, Z, n, 1, D, s, &ok);
    double norm = 0;
    for (int d = 0; d < D; d++)
        norm += s[d] * s[d];
    CHECK(ok && fabs(s[u_dim]) / sqrt(norm) > separable + 0.3, "Eq. 1 on the true positives: |cos| %g, far above "
          "the noise vectors' %g", fabs(s[u_dim]) / sqrt(norm), separable);
    /* same generator state, same noise vectors */
    noise_config small = cfg;
    small.n_noise = 5;
    double *S1 = malloc(5 * D * sizeof *S1), *S2 = malloc(5 * D * sizeof *S2);
    int alive[5];
    rng_state r1, r2;
    rng_init(&r1, 5, 90);
    rng_init(&r2, 5, 90);
    noise_train(X, m, D, &small, &r1, S1, alive);
    noise_train(X, m, D, &small, &r2, S2, alive);
    CHECK(!memcmp(S1, S2, 5 * D * sizeof *S1), "same generator state, same noise vectors");
    free(perm); free(labels); free(X); free(Xs); free(Xd); free(A); free(Z); free(S1); free(S2);
}

/* The noise classifiers' BCE gradient: the double reference against central
 * differences, the float training path against the reference. */
typedef struct {
    const double *X;
    const float *Y;
    size_t n;
    int D, N;
} bce_ctx;

static double bce_loss(const double *params, void *ctx)
{
    const bce_ctx *c = ctx;
    return noise_bce_reference(c->X, c->n, c->D, c->N, params, c->Y, NULL);
}

static void test_bce_gradient(void)
{
    rng_state rng;
    rng_init(&rng, 51, 1);
    size_t n = 40;
    int D = 5, N = 3, n_par = D * N + N;
    double X[40 * 5], params[18], g[18], g_fd[18];
    float Xf[40 * 5], Y[40 * 3], Wf[15], L[40 * 3], G[15];
    normal_fill(&rng, X, n * D, 1.0);
    normal_fill(&rng, params, n_par, 0.7);
    for (size_t j = 0; j < n * D; j++)
        Xf[j] = (float)X[j], X[j] = Xf[j];
    for (size_t j = 0; j < n * N; j++)
        Y[j] = rng_below(&rng, 2) ? 1.0f : 0.0f;
    bce_ctx ctx = {X, Y, n, D, N};
    noise_bce_reference(X, n, D, N, params, Y, g);
    fd_gradient(bce_loss, &ctx, params, n_par, g_fd);
    CHECK(rel_diff(g, g_fd, n_par) < FD_TOL, "BCE gradient vs central differences: %g", rel_diff(g, g_fd, n_par));
    double g_float[18];
    for (int j = 0; j < D * N; j++)
        Wf[j] = (float)params[j];
    noise_bce_gradient(Xf, n, D, N, Wf, params + D * N, Y, L, G, g_float);
    for (int j = 0; j < D * N; j++) /* the reference at the float-rounded filters */
        params[j] = Wf[j];
    noise_bce_reference(X, n, D, N, params, Y, g);
    CHECK(rel_diff(g_float, g, n_par) < 1e-5, "float training path vs double reference: %g",
          rel_diff(g_float, g, n_par));
}

/* Reservoir sampling: m = min(#pos, #neg, cap), the right pixels, uniform. */
static void test_pools(void)
{
    size_t n_pix = 60;
    double A[60 * 2];
    for (size_t p = 0; p < n_pix; p++) {
        A[p * 2 + 0] = p % 3 == 0 ? 1.0 : -1.0;  /* 20 positives, 40 negatives */
        A[p * 2 + 1] = p < 50 ? 1.0 : -1.0;      /* 50 positives, 10 negatives */
    }
    noise_config cfg = {.n_noise = 1, .max_sample = 16, .epochs = 1, .lr = 0.01, .seed = 1};
    int det_index[2] = {0, 1};
    long hits[60] = {0};
    int rounds = 3000, ok = 1;
    size_t idx[16];
    for (int t = 0; t < rounds; t++) {
        cfg.seed = (uint64_t)t;
        noise_pools np;
        noise_pools_init(&np, 2, det_index, &cfg);
        noise_pools_add(&np, A, 25, 2, 0, 0); /* two blocks */
        noise_pools_add(&np, A + 50, 35, 2, 0, 25);
        size_t m0 = noise_pools_sample(&np, 0, idx);
        ok &= m0 == 8;
        for (size_t q = 0; q < 2 * m0; q++) {
            ok &= (A[idx[q] * 2] > 0) == (q < m0);
            ok &= q == 0 || q == m0 || idx[q] > idx[q - 1];
            if (q < m0)
                hits[idx[q]]++;
        }
        size_t m1 = noise_pools_sample(&np, 1, idx);
        ok &= m1 == 8;
        noise_pools_free(&np);
    }
    CHECK(ok, "samples hold m = min(#pos, #neg, cap) positives then negatives, each in pixel order");
    double want = rounds * 8.0 / 20.0, worst = 0;
    for (size_t p = 0; p < n_pix; p += 3)
        worst = fabs(hits[p] - want) / want > worst ? fabs(hits[p] - want) / want : worst;
    CHECK(worst < 0.1, "every positive is drawn with frequency m/#pos = 0.4 (largest relative deviation %g)", worst);
}

/* Evaluation images that are confident of their class and confuse it with
 * one other class each: 60 images of class 0 (confused with classes 1..K−1
 * in turn), 10 of every other class (confused with a random class). */
static void confusable_eval(rng_state *rng, int K, influence_eval *ev)
{
    size_t n_img = 60 + 10 * (size_t)(K - 1);
    double *logits = malloc(n_img * K * sizeof *logits);
    int32_t *labels = malloc(n_img * sizeof *labels);
    for (size_t i = 0; i < n_img; i++) {
        int k = i < 60 ? 0 : 1 + (int)((i - 60) / 10);
        int other = k == 0 ? 1 + (int)(i % (K - 1)) : (k + 1 + (int)rng_below(rng, K - 1)) % K;
        labels[i] = k;
        for (int j = 0; j < K; j++)
            logits[i * K + j] = j == k ? 4.0 : j == other ? 2.5 : -9.0 + 0.5 * rng_normal(rng);
    }
    influence_eval_init(ev, logits, labels, n_img, K);
    free(logits);
    free(labels);
}

/* A many-class head where only the concept's direction u moves class 0
 * (row 0 = 0.5 u; the other rows, three times larger, orthogonal to u):
 * u raises class 0 for every image (SC +1) and lowers every other class
 * (SC −1). Whether an image's p_k rises is, for these images, whether δ_k
 * beats the shift of the class it is confused with; a noise direction
 * hardly moves class 0, so it never beats (or loses to) all of class 0's
 * many confusers at once and its SC stays inside (−1, 1): u's SC on class
 * 0 is significant. Another class has few confusers, some noise vector
 * lowers it below all of them (SC −1 too), and u's SC = −1 there is not
 * significant. */
static void test_significance_many_classes(void)
{
    rng_state rng;
    rng_init(&rng, 31, 1);
    int K = 40, D = 16, N = 100;
    influence_eval ev;
    confusable_eval(&rng, K, &ev);
    double *W = malloc((size_t)K * D * sizeof *W), u[16] = {0};
    u[0] = 1;
    for (int k = 0; k < K; k++)
        for (int d = 0; d < D; d++)
            W[k * D + d] = k == 0 ? 0.5 * u[d] : (d == 0 ? 0 : 3.0 / 4 * rng_normal(&rng));
    size_t m = 500;
    float *X = malloc(2 * m * D * sizeof *X);
    for (size_t j = 0; j < 2 * m * D; j++)
        X[j] = (float)rng_normal(&rng);
    noise_config cfg = {.n_noise = N, .max_sample = 5000, .epochs = 100, .lr = 0.01, .seed = 2};
    double *V = malloc((size_t)(1 + N) * D * sizeof *V), *SC = malloc((size_t)(1 + N) * K * sizeof *SC);
    int alive[100];
    rng_state det_rng;
    rng_init(&det_rng, 2, 1);
    memcpy(V, u, D * sizeof *V);
    noise_train(X, m, D, &cfg, &det_rng, V + D, alive);
    influence_sensitivity(&ev, W, D, V, 1 + N, 5.0, 0.5, SC);
    double p[40], thr = influence_threshold(0.05, (size_t)1 * K);
    influence_pvalues(SC, SC + K, alive, N, K, p);
    CHECK(SC[0] == 1 && p[0] == 0 && p[0] < thr, "class 0: SC %g, p %g: significant", SC[0], p[0]);
    int minus_ones = 0, not_sig = 0;
    for (int k = 1; k < K; k++) {
        minus_ones += SC[k] == -1;
        not_sig += SC[k] == -1 && !(p[k] < thr);
    }
    CHECK(minus_ones == K - 1, "u lowers every other class: %d of %d at SC = -1", minus_ones, K - 1);
    CHECK(not_sig > 0, "SC = -1 is not significant where noise reaches it too (%d classes)", not_sig);
    free(W); free(X); free(V); free(SC);
    influence_eval_free(&ev);
}

/* influence_run: the rows of a range of detectors do not depend on the
 * other detectors of the run (shard = slice of one run), and the same seed
 * gives the same bits. */
static void test_run_shard_independent(void)
{
    rng_state rng;
    rng_init(&rng, 41, 1);
    int K = 5, D = 6, I_det = 3, hw = 4, n_img = 60;
    learn_set concepts;
    memset(&concepts, 0, sizeof concepts);
    concepts.ff = (features_file){NULL, (size_t)n_img, (size_t)D, 2, 2};
    concepts.features = malloc((size_t)n_img * D * hw * sizeof(float));
    for (size_t j = 0; j < (size_t)n_img * D * hw; j++)
        concepts.features[j] = (float)rng_normal(&rng);
    directions dirs;
    memset(&dirs, 0, sizeof dirs);
    dirs.n_det = I_det;
    dirs.n_dim = D;
    dirs.W = malloc((size_t)I_det * D * sizeof(double));
    dirs.b = calloc(I_det, sizeof(double));
    dirs.S = malloc((size_t)I_det * D * sizeof(double));
    normal_fill(&rng, dirs.W, (size_t)I_det * D, 1.0);
    normal_fill(&rng, dirs.S, (size_t)I_det * D, 1.0);
    dirs.b[2] = 1e9; /* detector 2 never fires: no sample, no noise vector */
    double *head_w = malloc((size_t)K * D * sizeof *head_w);
    normal_fill(&rng, head_w, (size_t)K * D, 1.0);
    influence_eval ev;
    random_eval(&rng, 100, K, &ev);
    influence_job job = {.head_weight = head_w, .ev = &ev, .dirs = &dirs, .concepts = &concepts,
                         .noise = {.n_noise = 10, .max_sample = 60, .epochs = 20, .lr = 0.01, .seed = 9}};
    influence_result whole = {.n_det = I_det, .det_lo = 0, .det_hi = I_det, .n_cls = K, .n_dim = D, .n_noise = 10,
                              .alpha = 5, .pixel_scale = 0.5};
    influence_result again = whole, part = whole;
    part.det_lo = 1;
    part.det_hi = 2;
    CHECK(!influence_result_alloc(&whole) && !influence_result_alloc(&again) && !influence_result_alloc(&part),
          "alloc");
    CHECK(!influence_run(&job, &whole) && !influence_run(&job, &again) && !influence_run(&job, &part), "runs");
    CHECK(!memcmp(whole.SC, again.SC, (size_t)I_det * K * sizeof(double)) &&
              !memcmp(whole.noise_S, again.noise_S, (size_t)I_det * 10 * D * sizeof(float)),
          "same seed, same bits");
    CHECK(!memcmp(whole.SC + K, part.SC, K * sizeof(double)) && !memcmp(whole.p + K, part.p, K * sizeof(double)) &&
              !memcmp(whole.noise_S + 10 * D, part.noise_S, 10 * D * sizeof(float)) &&
              !memcmp(whole.noise_SC + 10 * K, part.noise_SC, 10 * K * sizeof(double)) &&
              whole.sample_size[1] == part.sample_size[0],
          "detector 1 alone gives the rows it has in the whole run");
    CHECK(whole.sample_size[0] > 0 && whole.sample_size[0] <= 30, "sample size %d", whole.sample_size[0]);
    int none_alive = 1;
    for (int n = 0; n < 10; n++)
        none_alive &= whole.noise_alive[2 * 10 + n] == 0;
    CHECK(whole.sample_size[2] == 0 && none_alive && isnan(whole.p[2 * K]) && whole.SC[2 * K] != 0,
          "a detector that never fires has no noise vector and p = NaN (sample %d, p %g)", whole.sample_size[2],
          whole.p[2 * K]);
    influence_result_free(&whole);
    influence_result_free(&again);
    influence_result_free(&part);
    influence_eval_free(&ev);
    free(concepts.features); free(dirs.W); free(dirs.b); free(dirs.S); free(head_w);
}

int main(void)
{
    test_extreme_classes();
    test_closed_form_vs_repooled();
    test_pvalues_and_threshold();
    test_statistics();
    test_s3();
    test_permuted_labels_count();
    test_null_label_independent();
    test_bce_gradient();
    test_pools();
    test_significance_many_classes();
    test_run_shard_independent();
    return harness_report("test_influence");
}
