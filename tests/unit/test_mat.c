/* test_mat — products, SPD solve with jitter, LU solve, regularised least
 * squares and the SVD pseudo-inverse against known answers. */
#include "harness.h"
#include "mat.h"
#include "rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_normal(rng_state *r, double *a, size_t n)
{
    for (size_t k = 0; k < n; k++)
        a[k] = rng_normal(r);
}

/* c [m × n] = a [m × k] · b [k × n], naive. */
static void naive_mul(const double *a, const double *b, int m, int n, int k,
                      double *c)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++)
                s += a[(size_t)i * k + l] * b[(size_t)l * n + j];
            c[(size_t)i * n + j] = s;
        }
}

static void transpose(const double *a, int m, int n, double *at)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            at[(size_t)j * m + i] = a[(size_t)i * n + j];
}

static double max_abs_diff(const double *a, const double *b, size_t n)
{
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs(a[k] - b[k]);
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

static double max_abs(const double *a, size_t n)
{
    double worst = 0.0;
    for (size_t k = 0; k < n; k++)
        if (fabs(a[k]) > worst)
            worst = fabs(a[k]);
    return worst;
}

static void test_products(rng_state *r)
{
    enum { M = 5, N = 4, K = 7 };
    double a[M * K], b[N * K], bt[K * N], at[K * M], c[M * N], want[M * N];
    double g[M * M], gwant[M * M];
    fill_normal(r, a, M * K);
    fill_normal(r, b, N * K);
    transpose(b, N, K, bt);
    transpose(a, M, K, at);

    mat_mul_abt(a, b, M, N, K, c);
    naive_mul(a, bt, M, N, K, want);
    CHECK(max_abs_diff(c, want, M * N) < 1e-13, "mat_mul_abt");

    mat_gram_rows(a, M, K, g);
    naive_mul(a, at, M, M, K, gwant);
    CHECK(max_abs_diff(g, gwant, M * M) < 1e-13, "mat_gram_rows, both triangles");

    /* gemm with transposes and accumulation: C = 2 Aᵀ... use op(A)=A, op(B)=Bᵀ */
    for (int k = 0; k < M * N; k++)
        c[k] = 1.0;
    mat_gemm(0, 1, M, N, K, 2.0, a, b, 0.5, c);
    for (int k = 0; k < M * N; k++)
        want[k] = 2.0 * want[k] + 0.5;
    CHECK(max_abs_diff(c, want, M * N) < 1e-13, "mat_gemm alpha/beta/trans_b");
    mat_gemm(1, 0, M, N, K, 1.0, at, bt, 0.0, c);
    naive_mul(a, bt, M, N, K, want);
    CHECK(max_abs_diff(c, want, M * N) < 1e-13, "mat_gemm trans_a");

    /* C = Aᵀ B + Bᵀ A for A, B [K × N] */
    double p[K * N], q[K * N], pt[N * K], qt[N * K], s[N * N], s1[N * N],
        s2[N * N];
    fill_normal(r, p, K * N);
    fill_normal(r, q, K * N);
    transpose(p, K, N, pt);
    transpose(q, K, N, qt);
    mat_sym_atb_bta(p, q, K, N, s);
    naive_mul(pt, q, N, N, K, s1);
    naive_mul(qt, p, N, N, K, s2);
    for (int k = 0; k < N * N; k++)
        s1[k] += s2[k];
    CHECK(max_abs_diff(s, s1, N * N) < 1e-13, "mat_sym_atb_bta");
}

static void test_spd(rng_state *r)
{
    enum { N = 6, NRHS = 3, KD = 4 };
    double a[N * N], at[N * N], g[N * N], x[NRHS * N], rhs[NRHS * N];
    fill_normal(r, a, N * N);
    transpose(a, N, N, at);
    naive_mul(a, at, N, N, N, g);
    for (int i = 0; i < N; i++)
        g[i * N + i] += 1.0;
    fill_normal(r, x, NRHS * N);
    /* rows of rhs: (G x_j)ᵀ = x_jᵀ G (G symmetric) */
    naive_mul(x, g, NRHS, N, N, rhs);
    mat_spd_info info;
    int st = mat_spd_solve(g, N, rhs, NRHS, MAT_RCOND_MIN, &info);
    CHECK(st == MAT_OK, "spd solve status %d", st);
    CHECK(!info.jittered && info.jitter == 0.0, "no jitter on a well-conditioned G");
    CHECK(info.rcond > 1e-6 && info.rcond <= 1.0, "spd rcond %g", info.rcond);
    CHECK(max_abs_diff(rhs, x, NRHS * N) < 1e-10, "spd solution (err %g)",
          max_abs_diff(rhs, x, NRHS * N));

    /* Known answer by hand: G = [[4,2],[2,3]], x = (1,-1) → G x = (2,-1). */
    double g2[4] = {4, 2, 2, 3}, b2[2] = {2, -1};
    st = mat_spd_solve(g2, 2, b2, 1, MAT_RCOND_MIN, NULL);
    CHECK(st == MAT_OK && fabs(b2[0] - 1) < 1e-14 && fabs(b2[1] + 1) < 1e-14,
          "2x2 spd known answer (%g, %g)", b2[0], b2[1]);

    /* Singular SPD: G = A Aᵀ with A [N × KD], rank KD < N → jitter. */
    double ak[N * KD], akt[KD * N], gs[N * N], rs[N], rs0[N], back[N];
    fill_normal(r, ak, N * KD);
    transpose(ak, N, KD, akt);
    naive_mul(ak, akt, N, N, KD, gs);
    fill_normal(r, rs, N);
    memcpy(rs0, rs, sizeof rs);
    mat_chol c;
    CHECK(mat_chol_init(&c, N) == MAT_OK, "chol init");
    st = mat_chol_factor(&c, gs, MAT_RCOND_MIN);
    double trace = 0.0;
    for (int i = 0; i < N; i++)
        trace += gs[i * N + i];
    CHECK(st == MAT_OK, "singular SPD factored with jitter (status %d)", st);
    CHECK(c.jittered == 1, "jitter applied on a singular SPD matrix");
    CHECK_CLOSE(c.jitter, 1e-6 * trace / N, 1e-15, "jitter = 1e-6 tr(G)/n");
    CHECK(c.rcond_input < MAT_RCOND_MIN, "input rcond reported small (%g)", c.rcond_input);
    CHECK(c.rcond > 0.0, "jittered rcond > 0");
    mat_chol_solve(&c, rs, 1);
    for (int i = 0; i < N; i++)
        gs[i * N + i] += c.jitter;
    naive_mul(rs, gs, 1, N, N, back);
    CHECK(max_abs_diff(back, rs0, N) < 1e-8 * (1 + max_abs(rs, N)),
          "(G + eps I) x = r after jitter");

    /* Forcing the jitter by the threshold on a regular matrix. */
    st = mat_chol_factor(&c, g, 2.0);
    CHECK(st == MAT_OK && c.jittered, "rcond below the bound triggers jitter");
    mat_chol_free(&c);

    /* The zero matrix cannot be rescued: tr = 0 → ε = 0. */
    double zero[9] = {0}, zr[3] = {1, 2, 3};
    st = mat_spd_solve(zero, 3, zr, 1, MAT_RCOND_MIN, NULL);
    CHECK(st == MAT_ERR_SINGULAR, "zero matrix reported singular (%d)", st);
}

static void test_lu(rng_state *r)
{
    enum { N = 5, NRHS = 4 };
    double a[N * N], at[N * N], x[NRHS * N], rhs[NRHS * N], rhs_t[NRHS * N];
    fill_normal(r, a, N * N);
    transpose(a, N, N, at);
    fill_normal(r, x, NRHS * N);
    naive_mul(x, at, NRHS, N, N, rhs);  /* rows (A x_j)ᵀ = x_jᵀ Aᵀ */
    naive_mul(x, a, NRHS, N, N, rhs_t); /* rows (Aᵀ x_j)ᵀ = x_jᵀ A */
    double rcond = 0.0;
    int st = mat_solve(a, N, 0, rhs, NRHS, MAT_RCOND_MIN, &rcond);
    CHECK(st == MAT_OK, "lu solve status %d", st);
    CHECK(max_abs_diff(rhs, x, NRHS * N) < 1e-10, "A x = r solution");
    st = mat_solve(a, N, 1, rhs_t, NRHS, MAT_RCOND_MIN, NULL);
    CHECK(st == MAT_OK && max_abs_diff(rhs_t, x, NRHS * N) < 1e-10,
          "Aᵀ x = r solution");

    /* rcond estimate against the exact ∞-norm reciprocal condition. */
    double inv[N * N];
    for (int k = 0; k < N * N; k++)
        inv[k] = 0.0;
    for (int i = 0; i < N; i++)
        inv[i * N + i] = 1.0;
    mat_solve(a, N, 0, inv, N, MAT_RCOND_MIN, NULL); /* rows: A⁻¹ e_j → A⁻ᵀ */
    double na = 0, ni = 0;
    for (int i = 0; i < N; i++) {
        double sa = 0, si = 0;
        for (int j = 0; j < N; j++) {
            sa += fabs(a[i * N + j]);
            si += fabs(inv[j * N + i]); /* inv holds A⁻ᵀ: row i of A⁻¹ */
        }
        na = fmax(na, sa);
        ni = fmax(ni, si);
    }
    double exact = 1.0 / (na * ni);
    CHECK(rcond > 0.1 * exact && rcond < 10.0 * exact,
          "dgecon estimate %g vs exact %g", rcond, exact);

    /* Known answer: [[0,1],[1,0]] needs pivoting; x = (3, 5) → A x = (5, 3). */
    double p2[4] = {0, 1, 1, 0}, b2[2] = {5, 3};
    st = mat_solve(p2, 2, 0, b2, 1, MAT_RCOND_MIN, NULL);
    CHECK(st == MAT_OK && b2[0] == 3.0 && b2[1] == 5.0, "pivoted 2x2 (%g, %g)",
          b2[0], b2[1]);
    /* Non-symmetric known answer, plain and transposed: A = [[2,1],[0,4]]. */
    double u2[4] = {2, 1, 0, 4}, c2[2] = {4, 8}, d2[2] = {2, 9};
    mat_solve(u2, 2, 0, c2, 1, MAT_RCOND_MIN, NULL); /* x = (1, 2) */
    mat_solve(u2, 2, 1, d2, 1, MAT_RCOND_MIN, NULL); /* Aᵀ x = (2,9): x = (1, 2) */
    CHECK(fabs(c2[0] - 1) < 1e-15 && fabs(c2[1] - 2) < 1e-15, "A x known answer");
    CHECK(fabs(d2[0] - 1) < 1e-15 && fabs(d2[1] - 2) < 1e-15, "Aᵀ x known answer");

    /* Exactly singular (zero pivot) and numerically singular matrices. */
    double s3[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1}, r3[3] = {1, 1, 1};
    st = mat_solve(s3, 3, 0, r3, 1, MAT_RCOND_MIN, &rcond);
    CHECK(st == MAT_ERR_SINGULAR, "rank-2 3x3 reported singular (%d, rcond %g)",
          st, rcond);
    double n3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9.0 + 1e-14};
    st = mat_solve(n3, 3, 0, r3, 1, MAT_RCOND_MIN, &rcond);
    CHECK(st == MAT_ERR_SINGULAR && rcond < 1e-12,
          "nearly singular reported (status %d, rcond %g)", st, rcond);
    mat_lu lu;
    mat_lu_init(&lu, 3);
    double z3[9] = {0};
    st = mat_lu_factor(&lu, z3, MAT_RCOND_MIN);
    CHECK(st == MAT_ERR_SINGULAR && lu.rcond == 0.0, "zero pivot: info > 0");
    mat_lu_free(&lu);
}

/* The four Moore–Penrose conditions for a [m × n], p [n × m]. */
static double penrose_error(const double *a, const double *p, int m, int n)
{
    double *ap = malloc(sizeof(double) * m * m), *pa = malloc(sizeof(double) * n * n);
    double *apa = malloc(sizeof(double) * m * n), *pap = malloc(sizeof(double) * n * m);
    naive_mul(a, p, m, m, n, ap);
    naive_mul(p, a, n, n, m, pa);
    naive_mul(ap, a, m, n, m, apa);
    naive_mul(pa, p, n, m, n, pap);
    double err = max_abs_diff(apa, a, (size_t)m * n);
    err = fmax(err, max_abs_diff(pap, p, (size_t)n * m) / fmax(1, max_abs(p, (size_t)n * m)));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            err = fmax(err, fabs(ap[i * m + j] - ap[j * m + i]));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            err = fmax(err, fabs(pa[i * n + j] - pa[j * n + i]));
    free(ap);
    free(pa);
    free(apa);
    free(pap);
    return err;
}

static void test_pinv(rng_state *r)
{
    int shapes[][3] = {{3, 5, 3}, {5, 3, 3}, {4, 4, 4}, {6, 4, 2}, {3, 7, 1}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int m = shapes[t][0], n = shapes[t][1], rank_true = shapes[t][2];
        /* a = L R with L [m × rank], R [rank × n] */
        double *l = malloc(sizeof(double) * m * rank_true);
        double *rr = malloc(sizeof(double) * rank_true * n);
        double *a = malloc(sizeof(double) * m * n);
        double *p = malloc(sizeof(double) * n * m);
        fill_normal(r, l, (size_t)m * rank_true);
        fill_normal(r, rr, (size_t)rank_true * n);
        naive_mul(l, rr, m, n, rank_true, a);
        int rank = -1;
        int st = mat_pinv(a, m, n, 0.0, p, &rank);
        CHECK(st == MAT_OK, "pinv %dx%d status %d", m, n, st);
        CHECK(rank == rank_true, "pinv %dx%d rank %d, want %d", m, n, rank,
              rank_true);
        double err = penrose_error(a, p, m, n);
        CHECK(err < 1e-10, "pinv %dx%d (rank %d): A A+ A = A etc., err %g", m,
              n, rank_true, err);
        free(l);
        free(rr);
        free(a);
        free(p);
    }
    /* Square regular: the pseudo-inverse is the inverse. */
    double a2[4] = {2, 1, 0, 4}, p2[4], want[4] = {0.5, -0.125, 0, 0.25};
    CHECK(mat_pinv(a2, 2, 2, 0.0, p2, NULL) == MAT_OK &&
              max_abs_diff(p2, want, 4) < 1e-15,
          "pinv of a regular 2x2 is its inverse");
    /* A reused mat_svd gives the same result on a second matrix. */
    mat_svd svd;
    CHECK(mat_svd_init(&svd, 2, 2) == MAT_OK, "svd init");
    double q2[4] = {1, 0, 0, 0}, qp[4], qwant[4] = {1, 0, 0, 0};
    int rank = -1;
    mat_svd_pinv(&svd, a2, 0.0, p2, NULL);
    mat_svd_pinv(&svd, q2, 0.0, qp, &rank);
    CHECK(rank == 1 && max_abs_diff(qp, qwant, 4) < 1e-15, "reused svd, rank-1");
    mat_svd_free(&svd);
}

/* Orders at and beyond MAT_SMALL_ORDER take different solve paths (an
 * explicit inverse, LAPACK): both must solve A x = r, Aᵀ x = r and the SPD
 * system to the same accuracy. */
static void test_solve_orders(rng_state *r)
{
    enum { NMAX = MAT_SMALL_ORDER + 4, NRHS = 3 };
    int orders[] = {1, 3, MAT_SMALL_ORDER, MAT_SMALL_ORDER + 1, NMAX};
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        int n = orders[o];
        double a[NMAX * NMAX], at[NMAX * NMAX], g[NMAX * NMAX], x[NRHS * NMAX];
        double rhs[NRHS * NMAX], rhs_t[NRHS * NMAX], rhs_g[NRHS * NMAX];
        fill_normal(r, a, n * n);
        for (int i = 0; i < n; i++)
            a[i * n + i] += 3.0; /* well conditioned */
        transpose(a, n, n, at);
        naive_mul(a, at, n, n, n, g); /* A Aᵀ: SPD */
        fill_normal(r, x, NRHS * n);
        naive_mul(x, at, NRHS, n, n, rhs);
        naive_mul(x, a, NRHS, n, n, rhs_t);
        naive_mul(x, g, NRHS, n, n, rhs_g);
        int st = mat_solve(a, n, 0, rhs, NRHS, MAT_RCOND_MIN, NULL) |
                 mat_solve(a, n, 1, rhs_t, NRHS, MAT_RCOND_MIN, NULL) |
                 mat_spd_solve(g, n, rhs_g, NRHS, MAT_RCOND_MIN, NULL);
        CHECK(st == MAT_OK, "order %d: solves succeed", n);
        CHECK(max_abs_diff(rhs, x, NRHS * n) < 1e-10, "order %d: A x = r", n);
        CHECK(max_abs_diff(rhs_t, x, NRHS * n) < 1e-10, "order %d: Aᵀ x = r", n);
        CHECK(max_abs_diff(rhs_g, x, NRHS * n) < 1e-10, "order %d: SPD solve", n);
    }
}

/* mat_gemm does products of a few thousand multiply-adds itself and larger
 * ones through OpenBLAS: every transpose combination, with alpha and beta,
 * on both sides of the switch, against the naive product. */
static void test_gemm_paths(rng_state *r)
{
    enum { CAP = 40 * 40 };
    int sizes[][3] = {{3, 3, 16}, {2, 5, 7}, {40, 30, 35}, {17, 3, 90}};
    double a[CAP], b[CAP], at[CAP], bt[CAP], c[CAP], want[CAP], op_a[CAP], op_b[CAP];
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        int m = sizes[z][0], n = sizes[z][1], k = sizes[z][2];
        fill_normal(r, op_a, m * k); /* op(A) [m × k] */
        fill_normal(r, op_b, k * n); /* op(B) [k × n] */
        naive_mul(op_a, op_b, m, n, k, want);
        transpose(op_a, m, k, at);   /* A stored transposed: [k × m] */
        transpose(op_b, k, n, bt);   /* B stored transposed: [n × k] */
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                memcpy(a, ta ? at : op_a, sizeof(double) * m * k);
                memcpy(b, tb ? bt : op_b, sizeof(double) * k * n);
                for (int q = 0; q < m * n; q++)
                    c[q] = 1.0;
                mat_gemm(ta, tb, m, n, k, -2.0, a, b, 0.5, c);
                double worst = 0;
                for (int q = 0; q < m * n; q++)
                    worst = fmax(worst, fabs(c[q] - (-2.0 * want[q] + 0.5)));
                CHECK(worst < 1e-12, "mat_gemm %dx%dx%d trans %d%d (%g)", m, n, k, ta, tb, worst);
            }
    }
}

int main(void)
{
    rng_state r;
    rng_init(&r, 1234, RNG_STREAM_INIT);
    test_products(&r);
    test_gemm_paths(&r);
    test_spd(&r);
    test_lu(&r);
    test_solve_orders(&r);
    test_pinv(&r);
    CHECK(strcmp(mat_strerror(MAT_ERR_SINGULAR), "ok") != 0, "strerror");
    return harness_report("mat");
}
