/* test_signal — Eq. 1 signal vectors, Eq. 17 signal values, Pattern-CAVs
 * (method-spec §4.4, §4.5, §1.1; §12 items 2 and 3). */
#include "harness.h"
#include "rng.h"
#include "signal.h"

#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { DIM = 16, N_CON = 3, N_DIS = 2 };

/* Table 6 (method-spec §1.3), rows = feature dims; "±0.0" entries are 0. */
static const double table6_S[DIM][N_CON] = {
    {0.5396, 0.5914, 0.8122},   {0.4415, 0.5833, 0.2983},
    {-0.1283, -0.1745, 0.4681}, {-0.0093, -0.4899, 0.17},
    {0.59, -0.193, -0.0005},    {-0.3718, -0.0051, 0.0229},
    {0.1051, 0.0467, -0.0524},  {0.0003, -0.0103, 0.0056},
    {0.0063, 0.0037, -0.0021},  {-0.0009, 0.0004, 0.001},
    {-0.0004, -0.0002, 0.0002}, {0.0024, -0.0001, -0.0006},
    {0.0036, 0.0001, -0.0013},  {-0.0007, 0.0, 0.0002},
    {0.0002, 0.0, 0.0},         {-0.0001, 0.0, 0.0},
};
static const double table6_D[DIM][N_DIS] = {
    {0.7693, 0.7527},  {-0.0396, -0.6147}, {-0.6216, 0.1661},
    {0.1416, -0.1293}, {-0.0123, 0.1065},  {-0.007, -0.0042},
    {0.0022, 0.0003},  {0.0014, 0.0007},   {-0.0004, -0.0001},
    {0.0001, 0.0001},  {0.0, 0.0},         {0.0, 0.0},
    {0.0, 0.0},        {0.0, 0.0},         {0.0, 0.0},
    {0.0, 0.0},
};

/* Synthetic data of §1.3: x = S α + D β + 10, images of classes a, b, c
 * with pixel concepts (0,1), (0,2), (1,2). S [N_CON × DIM], Dm [N_DIS × DIM]
 * (rows = directions). X [2 n_img × DIM], concept [2 n_img],
 * alpha [2 n_img × N_CON]. */
static void generate(rng_state *r, const double *S, const double *Dm,
                     size_t n_img, double *X, int *concept, double *alpha)
{
    static const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (size_t k = 0; k < n_img; k++)
        for (int slot = 0; slot < 2; slot++) {
            size_t p = 2 * k + (size_t)slot;
            int c = pairs[k % 3][slot];
            double *x = X + p * DIM, a[N_CON], b[N_DIS];
            for (int i = 0; i < N_CON; i++)
                a[i] = i == c ? rng_uniform_range(r, 2.5, 5.0)
                              : rng_uniform_range(r, 0.0, 2.5);
            for (int f = 0; f < N_DIS; f++)
                b[f] = rng_uniform_range(r, 0.0, 5.0);
            for (int d = 0; d < DIM; d++) {
                x[d] = 10.0;
                for (int i = 0; i < N_CON; i++)
                    x[d] += a[i] * S[i * DIM + d];
                for (int f = 0; f < N_DIS; f++)
                    x[d] += b[f] * Dm[f * DIM + d];
            }
            concept[p] = c;
            if (alpha)
                memcpy(alpha + p * N_CON, a, sizeof a);
        }
}

static void table6_rows(double *S, double *Dm)
{
    for (int d = 0; d < DIM; d++) {
        for (int i = 0; i < N_CON; i++)
            S[i * DIM + d] = table6_S[d][i];
        for (int f = 0; f < N_DIS; f++)
            Dm[f * DIM + d] = table6_D[d][f];
    }
}

static void random_unit_rows(rng_state *r, double *M, size_t n_rows)
{
    for (size_t k = 0; k < n_rows; k++) {
        double nrm = 0;
        for (int d = 0; d < DIM; d++) {
            M[k * DIM + d] = rng_normal(r);
            nrm += M[k * DIM + d] * M[k * DIM + d];
        }
        for (int d = 0; d < DIM; d++)
            M[k * DIM + d] /= sqrt(nrm);
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

/* Ideal unit filters: rows 0..2 of pinv([S | D]) = (CᵀC)⁻¹Cᵀ, normalised.
 * W [N_CON × DIM]. Returns the LAPACK status. */
static int ideal_filters(const double *S, const double *Dm, double *W)
{
    enum { NC = N_CON + N_DIS };
    double rows[NC * DIM], G[NC * NC], Y[NC * DIM];
    lapack_int piv[NC];
    memcpy(rows, S, sizeof(double) * N_CON * DIM);
    memcpy(rows + N_CON * DIM, Dm, sizeof(double) * N_DIS * DIM);
    for (int a = 0; a < NC; a++)
        for (int b = 0; b < NC; b++)
            G[a * NC + b] = dot(rows + a * DIM, rows + b * DIM, DIM);
    memcpy(Y, rows, sizeof Y);   /* right-hand side Cᵀ, [NC × DIM] */
    int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, NC, DIM, G, NC, piv, Y, DIM);
    for (int i = 0; i < N_CON; i++) {
        double nrm = sqrt(dot(Y + i * DIM, Y + i * DIM, DIM));
        for (int d = 0; d < DIM; d++)
            W[i * DIM + d] = Y[i * DIM + d] / nrm;
    }
    return info;
}

/* Z = X Wᵀ, Z [n_pix × n_det]. */
static void filter_outputs(const double *X, const double *W, size_t n_pix,
                           size_t n_det, size_t n_dim, double *Z)
{
    for (size_t p = 0; p < n_pix; p++)
        for (size_t i = 0; i < n_det; i++)
            Z[p * n_det + i] = dot(X + p * n_dim, W + i * n_dim, n_dim);
}

/* Eq. 1 the slow, obvious way: means first, then centred sums. */
static void reference_signal(const double *X, const double *A, const double *Z,
                             size_t n_pix, size_t n_det, size_t n_dim,
                             size_t i, double *s)
{
    double n = 0, mz = 0, *mx = calloc(n_dim, sizeof(double));
    for (size_t p = 0; p < n_pix; p++)
        if (A[p * n_det + i] > 0) {
            n++;
            mz += Z[p * n_det + i];
            for (size_t d = 0; d < n_dim; d++)
                mx[d] += X[p * n_dim + d];
        }
    mz /= n;
    for (size_t d = 0; d < n_dim; d++) {
        mx[d] /= n;
        s[d] = 0;
    }
    double vz = 0;
    for (size_t p = 0; p < n_pix; p++)
        if (A[p * n_det + i] > 0) {
            double dz = Z[p * n_det + i] - mz;
            vz += dz * dz;
            for (size_t d = 0; d < n_dim; d++)
                s[d] += (X[p * n_dim + d] - mx[d]) * dz;
        }
    for (size_t d = 0; d < n_dim; d++)
        s[d] /= vz;
    free(mx);
}

/* §12 item 3, first half: wᵀŝ = 1 for any filter and any positive set;
 * plus agreement with the two-pass formula, streaming and thread-count
 * determinism. */
static void test_identity_and_streaming(void)
{
    enum { N_DET = 6, N_PIX = 3000, SPLIT = 1234 };
    rng_state r;
    rng_init(&r, 11, RNG_STREAM_TRAIN);
    double *X = malloc(sizeof(double) * N_PIX * DIM);
    double *A = malloc(sizeof(double) * N_PIX * N_DET);
    double *Z = malloc(sizeof(double) * N_PIX * N_DET);
    double W[N_DET * DIM], S1[N_DET * DIM] = {0}, S2[N_DET * DIM] = {0}, S3[N_DET * DIM] = {0};
    int alive1[N_DET], alive2[N_DET], alive3[N_DET];
    for (size_t k = 0; k < (size_t)N_PIX * DIM; k++)
        X[k] = 10.0 + 3.0 * rng_normal(&r);      /* large common offset */
    for (size_t k = 0; k < (size_t)N_DET * DIM; k++)
        W[k] = rng_normal(&r);                   /* not unit: any filter */
    filter_outputs(X, W, N_PIX, N_DET, DIM, Z);
    for (size_t p = 0; p < N_PIX; p++)
        for (size_t i = 0; i < N_DET; i++)       /* arbitrary positive sets */
            A[p * N_DET + i] = i == 0 ? Z[p * N_DET + i] - 5.0
                                      : rng_uniform(&r) - 0.15 * (double)i;

    CHECK(signal_estimate(X, A, Z, N_PIX, N_DET, DIM, S1, alive1) == 0,
          "signal_estimate status");
    double worst = 0, worst_ref = 0;
    int n_alive = 0;
    for (size_t i = 0; i < N_DET; i++) {
        n_alive += alive1[i];
        double e = fabs(dot(W + i * DIM, S1 + i * DIM, DIM) - 1.0);
        if (e > worst)
            worst = e;
        double ref[DIM], scale = 0;
        reference_signal(X, A, Z, N_PIX, N_DET, DIM, i, ref);
        for (int d = 0; d < DIM; d++)
            scale = fmax(scale, fabs(ref[d]));
        for (int d = 0; d < DIM; d++)
            worst_ref = fmax(worst_ref, fabs(S1[i * DIM + d] - ref[d]) / scale);
    }
    CHECK(n_alive == N_DET, "all detectors alive (%d)", n_alive);
    CHECK(worst <= 1e-10, "max |w_iᵀŝ_i − 1| = %.3g > 1e-10", worst);
    CHECK(worst_ref <= 1e-10, "streaming vs two-pass Eq. 1: rel err %.3g", worst_ref);

    /* two batches = one batch, bit for bit */
    signal_accum acc;
    CHECK(signal_accum_init(&acc, N_DET, DIM) == 0, "accum init");
    signal_accum_add(&acc, X, A, Z, SPLIT);
    signal_accum_add(&acc, X + SPLIT * DIM, A + SPLIT * N_DET,
                     Z + SPLIT * N_DET, N_PIX - SPLIT);
    signal_accum_finish(&acc, S2, alive2);
    CHECK(memcmp(S1, S2, sizeof S1) == 0 && memcmp(alive1, alive2, sizeof alive1) == 0,
          "two batches give the same signal vectors as one");

    /* reset, then a different thread count: still bit for bit */
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads == 1 ? 3 : 1);
    signal_accum_reset(&acc);
    signal_accum_add(&acc, X, A, Z, N_PIX);
    signal_accum_finish(&acc, S3, alive3);
    omp_set_num_threads(threads);
    CHECK(memcmp(S1, S3, sizeof S1) == 0 && memcmp(alive1, alive3, sizeof alive1) == 0,
          "thread count does not change the result");
    signal_accum_free(&acc);
    free(X);
    free(A);
    free(Z);
}

/* Dead detectors: < 2 positives, constant z, or z constant up to 1e-12
 * relative (var z below SIGNAL_VAR_REL_TOL); rows left unchanged. */
static void test_dead_detectors(void)
{
    enum { N_DET = 5, N_PIX = 50 };
    rng_state r;
    rng_init(&r, 12, RNG_STREAM_TRAIN);
    double X[N_PIX * DIM], A[N_PIX * N_DET], Z[N_PIX * N_DET], S[N_DET * DIM];
    int alive[N_DET];
    for (size_t k = 0; k < N_PIX * DIM; k++)
        X[k] = rng_normal(&r);
    for (size_t p = 0; p < N_PIX; p++) {
        A[p * N_DET + 0] = -1;                  /* no positives */
        A[p * N_DET + 1] = p == 7 ? 1 : -1;     /* one positive */
        A[p * N_DET + 2] = 1;                   /* z constant */
        A[p * N_DET + 3] = 1;                   /* z nearly constant */
        A[p * N_DET + 4] = 1;                   /* healthy */
        Z[p * N_DET + 0] = rng_normal(&r);
        Z[p * N_DET + 1] = rng_normal(&r);
        Z[p * N_DET + 2] = 3.25;
        Z[p * N_DET + 3] = 1e3 + 1e-9 * rng_normal(&r);
        Z[p * N_DET + 4] = rng_normal(&r);
    }
    for (size_t k = 0; k < N_DET * DIM; k++)
        S[k] = 42.0;
    signal_accum acc;
    CHECK(signal_accum_init(&acc, N_DET, DIM) == 0, "accum init");
    signal_accum_add(&acc, X, A, Z, N_PIX);
    size_t n_dead = signal_accum_finish(&acc, S, alive);
    signal_accum_free(&acc);
    CHECK(n_dead == 4, "4 dead detectors, got %zu", n_dead);
    CHECK(!alive[0] && !alive[1] && !alive[2] && !alive[3] && alive[4],
          "alive flags %d %d %d %d %d", alive[0], alive[1], alive[2], alive[3],
          alive[4]);
    int kept = 1;
    for (size_t k = 0; k < 4 * DIM; k++)
        kept &= S[k] == 42.0;
    CHECK(kept, "rows of dead detectors unchanged");
    CHECK(S[4 * DIM] != 42.0, "live detector's row written");
}

/* §12 item 3, second half: an ideal filter on §1.2 data with random unit S
 * and D recovers ŝ ∥ s_i; Eq. 17 with the true s_i returns α − mean α. */
static void test_ideal_filter(void)
{
    enum { N_IMG = 60000, N_PIX = 2 * N_IMG };
    rng_state r;
    rng_init(&r, 5, RNG_STREAM_TRUTH);
    double S[N_CON * DIM], Dm[N_DIS * DIM], W[N_CON * DIM];
    random_unit_rows(&r, S, N_CON);
    random_unit_rows(&r, Dm, N_DIS);
    CHECK(ideal_filters(S, Dm, W) == 0, "pinv([S|D]) solve");
    double ortho = 0;
    for (int i = 0; i < N_CON; i++) {
        for (int j = 0; j < N_CON; j++)
            if (j != i)
                ortho = fmax(ortho, fabs(dot(W + i * DIM, S + j * DIM, DIM)));
        for (int f = 0; f < N_DIS; f++)
            ortho = fmax(ortho, fabs(dot(W + i * DIM, Dm + f * DIM, DIM)));
    }
    CHECK(ortho < 1e-12, "ideal filters ⟂ other signals and distractors (%.3g)", ortho);

    double *X = malloc(sizeof(double) * N_PIX * DIM);
    double *A = malloc(sizeof(double) * N_PIX * N_CON);
    double *Z = malloc(sizeof(double) * N_PIX * N_CON);
    double *alpha = malloc(sizeof(double) * N_PIX * N_CON);
    double *A_hat = malloc(sizeof(double) * N_PIX * N_CON);
    int *concept = malloc(sizeof(int) * N_PIX);
    rng_init(&r, 5, RNG_STREAM_TRAIN);
    generate(&r, S, Dm, N_IMG, X, concept, alpha);
    filter_outputs(X, W, N_PIX, N_CON, DIM, Z);
    for (size_t p = 0; p < N_PIX; p++)
        for (int i = 0; i < N_CON; i++)
            A[p * N_CON + i] = concept[p] == i ? 1.0 : -1.0;

    double Sh[N_CON * DIM], cos[N_CON];
    int alive[N_CON];
    CHECK(signal_estimate(X, A, Z, N_PIX, N_CON, DIM, Sh, alive) == 0, "estimate");
    signal_cosine_rows(Sh, S, N_CON, DIM, cos);
    for (int i = 0; i < N_CON; i++) {
        CHECK(alive[i], "detector %d alive", i);
        CHECK(cos[i] > 0.999, "cos(ŝ_%d, s_%d) = %.6f ≤ 0.999", i, i, cos[i]);
        CHECK_CLOSE(dot(W + i * DIM, Sh + i * DIM, DIM), 1.0, 1e-10, "ūᵀŝ (ideal)");
    }

    /* Eq. 17 with the true signal vectors and the sample mean */
    double mean_x[DIM] = {0}, mean_a[N_CON] = {0};
    for (size_t p = 0; p < N_PIX; p++) {
        for (int d = 0; d < DIM; d++)
            mean_x[d] += X[p * DIM + d] / N_PIX;
        for (int i = 0; i < N_CON; i++)
            mean_a[i] += alpha[p * N_CON + i] / N_PIX;
    }
    CHECK(signal_value_estimate(W, S, mean_x, X, N_PIX, N_CON, DIM, A_hat) == 0,
          "signal_value_estimate status");
    double worst = 0;
    for (size_t p = 0; p < N_PIX; p++)
        for (int i = 0; i < N_CON; i++)
            worst = fmax(worst, fabs(A_hat[p * N_CON + i] -
                                     (alpha[p * N_CON + i] - mean_a[i])));
    CHECK(worst < 1e-9, "Eq. 17 with ideal filter = α − mean α (max err %.3g)", worst);
    free(X);
    free(A);
    free(Z);
    free(alpha);
    free(A_hat);
    free(concept);
}

/* Eq. 17 on a random instance against the formula written out; and the
 * error status for w ⟂ ŝ. */
static void test_signal_value_formula(void)
{
    enum { N_DET = 3, N_PIX = 40 };
    rng_state r;
    rng_init(&r, 13, RNG_STREAM_TRAIN);
    double W[N_DET * DIM], S[N_DET * DIM], mean_x[DIM], X[N_PIX * DIM];
    double A_hat[N_PIX * N_DET];
    for (size_t k = 0; k < N_DET * DIM; k++) {
        W[k] = rng_normal(&r);
        S[k] = rng_normal(&r);
    }
    for (size_t k = 0; k < DIM; k++)
        mean_x[k] = rng_normal(&r);
    for (size_t k = 0; k < N_PIX * DIM; k++)
        X[k] = rng_normal(&r) + 2.0;
    CHECK(signal_value_estimate(W, S, mean_x, X, N_PIX, N_DET, DIM, A_hat) == 0,
          "status");
    double worst = 0;
    for (size_t p = 0; p < N_PIX; p++)
        for (size_t i = 0; i < N_DET; i++) {
            double want = (dot(W + i * DIM, X + p * DIM, DIM) -
                           dot(W + i * DIM, mean_x, DIM)) /
                          dot(W + i * DIM, S + i * DIM, DIM);
            worst = fmax(worst, fabs(A_hat[p * N_DET + i] - want) / fmax(1, fabs(want)));
        }
    CHECK(worst < 1e-12, "Eq. 17 matches the written-out formula (%.3g)", worst);

    /* make w_1 ⟂ ŝ_1 */
    for (int d = 0; d < DIM; d++)
        S[DIM + d] = 0;
    S[DIM + 0] = W[DIM + 1];
    S[DIM + 1] = -W[DIM + 0];
    A_hat[0] = 123.0;
    CHECK(signal_value_estimate(W, S, mean_x, X, N_PIX, N_DET, DIM, A_hat) == -1,
          "w ⟂ ŝ is an error");
    CHECK(A_hat[0] == 123.0, "output untouched on error");
}

/* §12 item 2: Pattern-CAV on Table 6 data → cos 0.5817 with s_i. */
static void test_pcav_table6(void)
{
    enum { N_IMG = 60000, N_PIX = 2 * N_IMG, SPLIT = 50001 };
    double S[N_CON * DIM], Dm[N_DIS * DIM];
    table6_rows(S, Dm);

    /* the population vector 2.5 s_i − 1.25 (s_j + s_k) of §1.3 */
    for (int i = 0; i < N_CON; i++) {
        double v[DIM];
        int j = (i + 1) % 3, k = (i + 2) % 3;
        for (int d = 0; d < DIM; d++)
            v[d] = 2.5 * S[i * DIM + d] - 1.25 * (S[j * DIM + d] + S[k * DIM + d]);
        double c;
        signal_cosine_rows(v, S + i * DIM, 1, DIM, &c);
        CHECK_CLOSE(c, 0.5817, 1e-3, "population Pattern-CAV cosine");
    }

    double *X = malloc(sizeof(double) * N_PIX * DIM);
    int8_t *T = malloc((size_t)N_PIX * N_CON);
    int *concept = malloc(sizeof(int) * N_PIX);
    rng_state r;
    rng_init(&r, 2, RNG_STREAM_TRAIN);
    generate(&r, S, Dm, N_IMG, X, concept, NULL);
    for (size_t p = 0; p < N_PIX; p++)
        for (int i = 0; i < N_CON; i++)
            T[p * N_CON + i] = concept[p] == i;

    signal_pcav_accum acc;
    double V[N_CON * DIM], V2[N_CON * DIM], cos[N_CON];
    int alive[N_CON], alive2[N_CON];
    CHECK(signal_pcav_init(&acc, N_CON, DIM) == 0, "pcav init");
    signal_pcav_add(&acc, X, T, N_PIX);
    CHECK(signal_pcav_finish(&acc, V, alive) == 0, "all concepts alive");
    signal_cosine_rows(V, S, N_CON, DIM, cos);
    for (int i = 0; i < N_CON; i++)
        CHECK(fabs(cos[i] - 0.5817) <= 0.01, "cos(PCAV_%d, s_%d) = %.4f, want 0.5817 ± 0.01",
              i, i, cos[i]);
    signal_pcav_free(&acc);

    CHECK(signal_pcav_init(&acc, N_CON, DIM) == 0, "pcav init");
    signal_pcav_add(&acc, X, T, SPLIT);
    signal_pcav_add(&acc, X + (size_t)SPLIT * DIM, T + (size_t)SPLIT * N_CON, N_PIX - SPLIT);
    signal_pcav_finish(&acc, V2, alive2);
    CHECK(memcmp(V, V2, sizeof V) == 0 && memcmp(alive, alive2, sizeof alive) == 0,
          "Pattern-CAV: two batches = one batch");
    signal_pcav_free(&acc);
    free(X);
    free(T);
    free(concept);
}

/* Pattern-CAV by hand, with unannotated pixels and a concept lacking
 * negatives. */
static void test_pcav_hand(void)
{
    /* 4 pixels, 2 dims, 2 concepts */
    const double X[4 * 2] = {1, 2, 3, 4, 5, 6, 100, 100};
    const int8_t T[4 * 2] = {1, 1,  0, 1,  0, 1,  -1, 1};
    signal_pcav_accum acc;
    double V[2 * 2] = {7, 7, 7, 7};
    int alive[2];
    CHECK(signal_pcav_init(&acc, 2, 2) == 0, "init");
    signal_pcav_add(&acc, X, T, 4);
    CHECK(signal_pcav_finish(&acc, V, alive) == 1, "one concept without negatives");
    signal_pcav_free(&acc);
    /* concept 0: μ₊ = (1,2), μ₋ = mean((3,4),(5,6)) = (4,5); pixel 3 skipped */
    CHECK(alive[0] && V[0] == -3.0 && V[1] == -3.0, "μ₊ − μ₋ = (%g, %g)", V[0], V[1]);
    CHECK(!alive[1] && V[2] == 7 && V[3] == 7, "concept 1 left unchanged");
}

static void test_cosine(void)
{
    const double P[3 * 2] = {1, 0, 0, 0, 2, 2};
    const double Q[3 * 2] = {1, 1, 5, 5, -1, -1};
    double c[3], M[3 * 3];
    signal_cosine_rows(P, Q, 3, 2, c);
    CHECK_CLOSE(c[0], 1 / sqrt(2.0), 1e-15, "cos row 0");
    CHECK(c[1] == 0, "zero row gives 0");
    CHECK_CLOSE(c[2], -1.0, 1e-15, "cos row 2");
    signal_cosine_matrix(P, 3, Q, 3, 2, M);
    CHECK_CLOSE(M[0 * 3 + 1], 1 / sqrt(2.0), 1e-15, "matrix [0,1]");
    CHECK_CLOSE(M[2 * 3 + 1], 1.0, 1e-15, "matrix [2,1]");
    CHECK(M[1 * 3 + 2] == 0, "matrix zero row");
}

/* Leakage: 0 for the ideal filters; for a hand-made filter the ratios of
 * the written-out dot products; NAN for an unmatched filter. */
static void test_leakage(void)
{
    rng_state r;
    rng_init(&r, 9, RNG_STREAM_TRUTH);
    double S[N_CON * DIM], Dm[N_DIS * DIM], W[(N_CON + 1) * DIM], ls[N_CON + 1], ld[N_CON + 1];
    random_unit_rows(&r, S, N_CON);
    random_unit_rows(&r, Dm, N_DIS);
    CHECK(ideal_filters(S, Dm, W) == 0, "pinv([S|D]) solve");
    int match[N_CON + 1];
    for (int i = 0; i < N_CON; i++)
        match[i] = i;
    signal_leakage(W, N_CON, S, N_CON, Dm, N_DIS, DIM, match, ls, ld);
    for (int i = 0; i < N_CON; i++)
        CHECK(ls[i] < 1e-10 && ld[i] < 1e-10, "ideal filter %d leaks %.3g / %.3g", i, ls[i], ld[i]);
    /* filter 0 = s_1 + 0.5 s_0 − 0.25 d_0, matched to concept 1; a 4th row unmatched */
    for (int d = 0; d < DIM; d++)
        W[d] = S[DIM + d] + 0.5 * S[d] - 0.25 * Dm[d];
    match[0] = 1;
    match[N_CON] = -1;
    signal_leakage(W, N_CON + 1, S, N_CON, Dm, N_DIS, DIM, match, ls, ld);
    double own = fabs(dot(W, S + DIM, DIM)), other = 0, dis = 0;
    for (int k = 0; k < N_CON; k++)
        if (k != 1)
            other = fmax(other, fabs(dot(W, S + k * DIM, DIM)));
    for (int f = 0; f < N_DIS; f++)
        dis = fmax(dis, fabs(dot(W, Dm + f * DIM, DIM)));
    CHECK_CLOSE(ls[0], other / own, 1e-14, "signal leakage of a mixed filter");
    CHECK_CLOSE(ld[0], dis / own, 1e-14, "distractor leakage of a mixed filter");
    CHECK(ls[0] > 0.1 && ld[0] > 0.01, "a mixed filter leaks (%.3g, %.3g)", ls[0], ld[0]);
    CHECK(isnan(ls[N_CON]) && isnan(ld[N_CON]), "an unmatched filter has no leakage (NAN)");
}

int main(void)
{
    test_identity_and_streaming();
    test_dead_detectors();
    test_ideal_filter();
    test_signal_value_formula();
    test_pcav_table6();
    test_pcav_hand();
    test_cosine();
    test_leakage();
    return harness_report("signal");
}
