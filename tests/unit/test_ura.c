/* test_ura — L^uur, step-(a) and L^cur on pooled features.
 *
 *  - gradients against central finite differences (double, rel. err ≤ 1e-6)
 *    on random instances with n_det < n_dim, plus the SVD path (n_det > n_dim)
 *    and the jittered-G path;
 *  - method-spec §12 item 4: W(m − dx) = b for κ = 1, and dx invariant under
 *    W → diag(c)W, b → c⊙b and S → diag(c)S;
 *  - §12 item 5: a per-pixel reference (written here, independent of ura.c:
 *    its own Gaussian elimination, per-pixel moves, average pooling, naive
 *    softmax entropy and the §5 per-pixel gradient formulas) gives the same
 *    loss and gradients as the pooled path;
 *  - error statuses (singular B, rank-deficient SVD path, call order). */
#include "gradcheck.h"
#include "harness.h"
#include "head.h"
#include "mat.h"
#include "rng.h"
#include "ura.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* ---- a random instance ------------------------------------------------- */

typedef struct {
    int n_img, n_det, n_dim, n_cls;
    enum ura_path path;
    double *m, *kappa, *w, *b, *s, *mu, *sigma, *head_w, *head_b;
    ura_workspace *ws;
} inst;

static double *normals(rng_state *r, size_t n, double scale, double shift)
{
    double *a = malloc(sizeof(double) * n);
    for (size_t k = 0; k < n; k++)
        a[k] = shift + scale * rng_normal(r);
    return a;
}

/* Rows of w [n_det × n_dim] made orthonormal (Gram–Schmidt, twice). */
static void orthonormalise_rows(double *w, int n_det, int n_dim)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n_det; i++) {
            double *wi = w + (size_t)i * n_dim;
            for (int j = 0; j < i; j++) {
                const double *wj = w + (size_t)j * n_dim;
                double dot = 0.0;
                for (int d = 0; d < n_dim; d++)
                    dot += wi[d] * wj[d];
                for (int d = 0; d < n_dim; d++)
                    wi[d] -= dot * wj[d];
            }
            double norm = 0.0;
            for (int d = 0; d < n_dim; d++)
                norm += wi[d] * wi[d];
            norm = sqrt(norm);
            for (int d = 0; d < n_dim; d++)
                wi[d] /= norm;
        }
}

static inst make_inst(rng_state *r, enum ura_path path, int n_img, int n_det,
                      int n_dim, int n_cls)
{
    inst t;
    memset(&t, 0, sizeof t);
    t.n_img = n_img;
    t.n_det = n_det;
    t.n_dim = n_dim;
    t.n_cls = n_cls;
    t.path = path;
    t.m = normals(r, (size_t)n_img * n_dim, 1.5, 0.5);
    t.kappa = malloc(sizeof(double) * n_img);
    for (int j = 0; j < n_img; j++)
        t.kappa[j] = rng_uniform_range(r, 0.5, 0.9);
    t.w = normals(r, (size_t)n_det * n_dim, 1.0, 0.0);
    t.b = normals(r, n_det, 1.0, 0.0);
    t.s = normals(r, (size_t)n_det * n_dim, 1.0, 0.0);
    t.mu = normals(r, n_dim, 1.0, 0.0);
    t.sigma = malloc(sizeof(double) * n_dim);
    for (int d = 0; d < n_dim; d++)
        t.sigma[d] = rng_uniform_range(r, 0.3, 2.0);
    t.head_w = normals(r, (size_t)n_cls * n_dim, 0.7, 0.0);
    t.head_b = normals(r, n_cls, 0.5, 0.0);
    if (path == URA_PATH_STD)
        orthonormalise_rows(t.w, n_det, n_dim);
    int st = ura_workspace_create(&t.ws, n_img, n_det, n_dim, n_cls);
    CHECK(st == URA_OK, "workspace create (%s)", ura_strerror(st));
    return t;
}

static void free_inst(inst *t)
{
    free(t->m); free(t->kappa); free(t->w); free(t->b); free(t->s);
    free(t->mu); free(t->sigma); free(t->head_w); free(t->head_b);
    ura_workspace_free(t->ws);
}

/* Forward of the instance's path; NaN on a failed status. */
static double inst_loss(void *p)
{
    inst *t = p;
    double loss = NAN;
    int st = URA_ERR_ARG;
    switch (t->path) {
    case URA_PATH_UUR:
        st = ura_uur_forward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b,
                             t->head_w, t->head_b, &loss);
        break;
    case URA_PATH_STD:
        st = ura_std_forward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b,
                             t->mu, t->sigma, t->head_w, t->head_b, &loss);
        break;
    case URA_PATH_CUR:
        st = ura_cur_forward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b, t->s,
                             t->head_w, t->head_b, &loss);
        break;
    default:
        break;
    }
    return st == URA_OK ? loss : NAN;
}

/* Analytic gradients (dw, db, ds zeroed first; ds used by cur only). */
static int inst_grad(inst *t, double scale, double *dw, double *db, double *ds)
{
    if (isnan(inst_loss(t)))
        return -1;
    switch (t->path) {
    case URA_PATH_UUR:
        return ura_uur_backward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b,
                                t->head_w, t->head_b, scale, dw, db);
    case URA_PATH_STD:
        return ura_std_backward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b,
                                t->mu, t->sigma, t->head_w, t->head_b, scale,
                                dw, db);
    case URA_PATH_CUR:
        return ura_cur_backward(t->ws, t->m, t->kappa, t->n_img, t->w, t->b,
                                t->s, t->head_w, t->head_b, scale, dw, db, ds);
    default:
        return -1;
    }
}

/* ---- finite differences ----------------------------------------------- */

/* Like fd_rel_error with the fourth-order stencil
 * (−f(+2h) + 8f(+h) − 8f(−h) + f(−2h)) / 12h, h = 1e-3: error ~1e-12. */
static double fd5_rel_error(loss_fn f, void *ctx, double *theta, size_t n,
                            const double *grad)
{
    const double h = 1e-3;
    double worst = 0.0, gmax = 0.0;
    for (size_t k = 0; k < n; k++) {
        double keep = theta[k], fv[4], off[4] = {2 * h, h, -h, -2 * h};
        for (int q = 0; q < 4; q++) {
            theta[k] = keep + off[q];
            fv[q] = f(ctx);
        }
        theta[k] = keep;
        double fd = (-fv[0] + 8 * fv[1] - 8 * fv[2] + fv[3]) / (12 * h);
        double d = fabs(fd - grad[k]);
        if (!(d <= worst))
            worst = d;
        if (fabs(grad[k]) > gmax)
            gmax = fabs(grad[k]);
    }
    return worst / (gmax > 1.0 ? gmax : 1.0);
}

static double max_abs_diff(const double *a, const double *b, size_t n)
{
    double worst = 0.0;
    for (size_t k = 0; k < n; k++)
        if (!(fabs(a[k] - b[k]) <= worst))
            worst = fabs(a[k] - b[k]);
    return worst;
}

static const char *path_name(enum ura_path p)
{
    return p == URA_PATH_UUR ? "uur" : p == URA_PATH_STD ? "std" : "cur";
}

/* FD checks of every gradient of the instance, with tolerance tol. Returns
 * the worst relative error seen. */
static double check_gradients(inst *t, double tol, const char *label)
{
    size_t nw = (size_t)t->n_det * t->n_dim;
    double *dw = calloc(nw, sizeof(double)), *db = calloc(t->n_det, sizeof(double));
    double *ds = calloc(nw, sizeof(double));
    int st = inst_grad(t, 1.0, dw, db, ds);
    CHECK(st == URA_OK, "%s %s backward status %d", label, path_name(t->path), st);
    double e_w = fd_rel_error(inst_loss, t, t->w, nw, dw);
    double e_b = fd_rel_error(inst_loss, t, t->b, t->n_det, db);
    CHECK(e_w <= tol, "%s %s dW rel err %g", label, path_name(t->path), e_w);
    CHECK(e_b <= tol, "%s %s db rel err %g", label, path_name(t->path), e_b);
    CHECK_FD_SENSITIVE(inst_loss, t, t->w, nw, dw, "dW");
    double worst = fmax(e_w, e_b);
    if (t->path == URA_PATH_CUR) {
        double e_s = fd_rel_error(inst_loss, t, t->s, nw, ds);
        CHECK(e_s <= tol, "%s cur dS rel err %g", label, e_s);
        CHECK_FD_SENSITIVE(inst_loss, t, t->s, nw, ds, "dS");
        worst = fmax(worst, e_s);
    }
    if (t->path == URA_PATH_STD) {
        /* A shared threshold t_i = t: dL/dt = Σ_i dt_i. */
        double sum = 0.0, keep[64];
        for (int i = 0; i < t->n_det; i++)
            sum += db[i];
        memcpy(keep, t->b, sizeof(double) * t->n_det);
        for (int i = 0; i < t->n_det; i++) t->b[i] = keep[i] + FD_STEP;
        double fp = inst_loss(t);
        for (int i = 0; i < t->n_det; i++) t->b[i] = keep[i] - FD_STEP;
        double fm = inst_loss(t);
        memcpy(t->b, keep, sizeof(double) * t->n_det);
        double e_t = fabs((fp - fm) / (2 * FD_STEP) - sum) / fmax(1, fabs(sum));
        CHECK(e_t <= tol, "%s std shared-threshold rel err %g", label, e_t);
        worst = fmax(worst, e_t);
    }
    /* Accumulation with a scale: start from 1, add 2.5·gradient. */
    double *dw2 = malloc(sizeof(double) * nw), *db2 = malloc(sizeof(double) * t->n_det);
    double *ds2 = malloc(sizeof(double) * nw);
    for (size_t k = 0; k < nw; k++) dw2[k] = ds2[k] = 1.0;
    for (int i = 0; i < t->n_det; i++) db2[i] = 1.0;
    inst_grad(t, 2.5, dw2, db2, ds2);
    double acc = 0.0;
    for (size_t k = 0; k < nw; k++) {
        acc = fmax(acc, fabs(dw2[k] - (1.0 + 2.5 * dw[k])));
        if (t->path == URA_PATH_CUR)
            acc = fmax(acc, fabs(ds2[k] - (1.0 + 2.5 * ds[k])));
    }
    for (int i = 0; i < t->n_det; i++)
        acc = fmax(acc, fabs(db2[i] - (1.0 + 2.5 * db[i])));
    CHECK(acc < 1e-12, "%s %s backward accumulates scale·grad (%g)", label,
          path_name(t->path), acc);
    free(dw); free(db); free(ds); free(dw2); free(db2); free(ds2);
    return worst;
}

static void test_gradients(rng_state *r)
{
    enum ura_path paths[] = {URA_PATH_UUR, URA_PATH_STD, URA_PATH_CUR};
    for (int k = 0; k < 3; k++) {
        inst t = make_inst(r, paths[k], 7, 3, 6, 4);
        double loss = inst_loss(&t);
        CHECK(loss <= 0 && loss >= -2.0, "%s loss in [-log2 K, 0]: %g",
              path_name(paths[k]), loss);
        CHECK(isfinite(t.ws->cond) && t.ws->cond >= 1.0 && !t.ws->jittered,
              "%s cond logged: %g", path_name(paths[k]), t.ws->cond);
        check_gradients(&t, FD_TOL, "random");
        /* A batch smaller than the workspace. */
        t.n_img = 4;
        check_gradients(&t, FD_TOL, "partial batch");
        free_inst(&t);
    }
    /* More detectors, more classes, one image. */
    inst t = make_inst(r, URA_PATH_CUR, 1, 5, 9, 6);
    check_gradients(&t, FD_TOL, "single image");
    free_inst(&t);
}

/* The step-(a) manipulation with exactly orthonormal W̃ is the spec formula
 * dx̃ = W̃ᵀ(W̃ m̃ − t), and the W̃-gradient agrees with that formula's own
 * gradient along every tangent direction of the Stiefel manifold. */
typedef struct {
    inst *t;
    double *dir; /* [n_det × n_dim] direction Z */
    double eps;
    double *wbase;
} tangent_ctx;

/* Loss of the literal step-(a) formula (G = I assumed), written out here. */
static double literal_std_loss(const inst *t, const double *wt)
{
    int n_img = t->n_img, n_det = t->n_det, n_dim = t->n_dim, n_cls = t->n_cls;
    double *mp = malloc(sizeof(double) * n_img * n_dim);
    double *logits = malloc(sizeof(double) * n_img * n_cls);
    for (int j = 0; j < n_img; j++) {
        double xs[64], r[64], dx[64];
        for (int d = 0; d < n_dim; d++)
            xs[d] = (t->m[j * n_dim + d] - t->mu[d]) / t->sigma[d];
        for (int i = 0; i < n_det; i++) {
            r[i] = -t->b[i];
            for (int d = 0; d < n_dim; d++)
                r[i] += wt[i * n_dim + d] * xs[d];
        }
        for (int d = 0; d < n_dim; d++) {
            dx[d] = 0.0;
            for (int i = 0; i < n_det; i++)
                dx[d] += wt[i * n_dim + d] * r[i];
            mp[j * n_dim + d] =
                t->mu[d] + t->sigma[d] * (xs[d] - t->kappa[j] * dx[d]);
        }
    }
    head_linear_forward(mp, n_img, n_dim, t->head_w, t->head_b, n_cls, logits);
    double loss = -head_entropy_forward(logits, n_img, n_cls);
    free(mp);
    free(logits);
    return loss;
}

static void test_std_literal(rng_state *r)
{
    inst t = make_inst(r, URA_PATH_STD, 5, 3, 7, 4);
    int n_img = t.n_img, n_det = t.n_det, n_dim = t.n_dim;
    double *dx = malloc(sizeof(double) * n_img * n_dim);
    int st = ura_std_shift(t.ws, t.m, n_img, t.w, t.b, t.mu, t.sigma, dx);
    CHECK(st == URA_OK, "std shift status");
    double worst = 0.0;
    for (int j = 0; j < n_img; j++) {
        double xs[64], rr[64];
        for (int d = 0; d < n_dim; d++)
            xs[d] = (t.m[j * n_dim + d] - t.mu[d]) / t.sigma[d];
        for (int i = 0; i < n_det; i++) {
            rr[i] = -t.b[i];
            for (int d = 0; d < n_dim; d++)
                rr[i] += t.w[i * n_dim + d] * xs[d];
        }
        for (int d = 0; d < n_dim; d++) {
            double lit = 0.0;
            for (int i = 0; i < n_det; i++)
                lit += t.w[i * n_dim + d] * rr[i];
            worst = fmax(worst, fabs(t.sigma[d] * lit - dx[j * n_dim + d]));
        }
    }
    CHECK(worst < 1e-12, "orthonormal W~: dx = sigma * W~T(W~ m~ - t) (%g)", worst);
    CHECK_CLOSE(inst_loss(&t), literal_std_loss(&t, t.w), 1e-12,
                "std loss = literal step-(a) loss");

    /* Tangent directions Z = A W̃ (A skew) + B (I − W̃ᵀW̃): the directional
     * derivative of the literal loss equals ⟨dW̃, Z⟩. */
    size_t nw = (size_t)n_det * n_dim;
    double *dw = calloc(nw, sizeof(double)), *dt = calloc(n_det, sizeof(double));
    inst_grad(&t, 1.0, dw, dt, NULL);
    double worst_dir = 0.0, gscale = fmax(1.0, max_abs(dw, nw));
    for (int trial = 0; trial < 4; trial++) {
        double a[64], bm[64 * 8], z[64 * 8], wp[64 * 8], wm[64 * 8];
        for (int i = 0; i < n_det; i++)
            for (int k = 0; k <= i; k++) {
                double v = i == k ? 0.0 : rng_normal(r);
                a[i * n_det + k] = v;
                a[k * n_det + i] = -v;
            }
        for (size_t k = 0; k < nw; k++)
            bm[k] = rng_normal(r);
        /* B (I − W̃ᵀW̃) = B − (B W̃ᵀ) W̃ */
        for (int i = 0; i < n_det; i++) {
            double bw[8];
            for (int k = 0; k < n_det; k++) {
                bw[k] = 0.0;
                for (int d = 0; d < n_dim; d++)
                    bw[k] += bm[i * n_dim + d] * t.w[k * n_dim + d];
            }
            for (int d = 0; d < n_dim; d++) {
                double v = bm[i * n_dim + d];
                for (int k = 0; k < n_det; k++)
                    v -= bw[k] * t.w[k * n_dim + d];
                for (int k = 0; k < n_det; k++)
                    v += a[i * n_det + k] * t.w[k * n_dim + d];
                z[i * n_dim + d] = v;
            }
        }
        double dir = 0.0;
        for (size_t k = 0; k < nw; k++) {
            dir += dw[k] * z[k];
            wp[k] = t.w[k] + FD_STEP * z[k];
            wm[k] = t.w[k] - FD_STEP * z[k];
        }
        double fd = (literal_std_loss(&t, wp) - literal_std_loss(&t, wm)) /
                    (2 * FD_STEP);
        worst_dir = fmax(worst_dir, fabs(fd - dir) / gscale);
    }
    CHECK(worst_dir <= FD_TOL,
          "std dW~ = literal formula's gradient on the tangent space (%g)", worst_dir);
    /* Thresholds: the literal formula's t-gradient equals dt. */
    double keep = t.b[1];
    t.b[1] = keep + FD_STEP;
    double fp = literal_std_loss(&t, t.w);
    t.b[1] = keep - FD_STEP;
    double fm = literal_std_loss(&t, t.w);
    t.b[1] = keep;
    CHECK_CLOSE((fp - fm) / (2 * FD_STEP), dt[1], 1e-6, "std dt = literal dt");
    free(dw); free(dt); free(dx);
    free_inst(&t);
}

/* SVD path (n_det > n_dim) and jittered G. */
static void test_special_paths(rng_state *r)
{
    inst t = make_inst(r, URA_PATH_UUR, 6, 5, 3, 4);
    double loss = inst_loss(&t);
    CHECK(isfinite(loss) && t.ws->pinv == 1 && t.ws->rank == 3,
          "n_det > n_dim uses the SVD pseudo-inverse (rank %d)", t.ws->rank);
    check_gradients(&t, FD_TOL, "svd path");
    /* m − dx = W⁺ b for every image (full column rank). */
    double dx[6 * 3], wp[3 * 5], z[3];
    ura_uur_shift(t.ws, t.m, 6, t.w, t.b, dx);
    mat_pinv(t.w, 5, 3, 0.0, wp, NULL);
    mat_gemm(0, 0, 3, 1, 5, 1.0, wp, t.b, 0.0, z);
    double worst = 0.0;
    for (int j = 0; j < 6; j++)
        for (int d = 0; d < 3; d++)
            worst = fmax(worst, fabs(t.m[j * 3 + d] - dx[j * 3 + d] - z[d]));
    CHECK(worst < 1e-10, "svd path: m - dx = pinv(W) b (%g)", worst);

    /* Rank-deficient W (rank 2 < n_dim = 3): forward works, no gradient. */
    double l[5 * 2], rr[2 * 3];
    for (int k = 0; k < 10; k++) l[k] = rng_normal(r);
    for (int k = 0; k < 6; k++) rr[k] = rng_normal(r);
    mat_gemm(0, 0, 5, 3, 2, 1.0, l, rr, 0.0, t.w);
    loss = inst_loss(&t);
    CHECK(isfinite(loss) && t.ws->rank == 2, "rank-deficient forward (rank %d)",
          t.ws->rank);
    double dw[15] = {0}, db[5] = {0};
    int st = ura_uur_backward(t.ws, t.m, t.kappa, 6, t.w, t.b, t.head_w,
                              t.head_b, 1.0, dw, db);
    CHECK(st == URA_ERR_NO_GRADIENT, "rank-deficient backward refused (%d)", st);
    free_inst(&t);

    /* The same with the step-(a) variant on the SVD path. */
    t = make_inst(r, URA_PATH_STD, 4, 4, 3, 3);
    for (int k = 0; k < 12; k++) /* 4 rows in 3 dims cannot be orthonormal */
        t.w[k] = rng_normal(r);
    check_gradients(&t, FD_TOL, "std svd path");
    free_inst(&t);

    /* Jittered G: forced by a high rcond bound. The gradient includes the
     * dependence of ε = 1e-6·tr(G)/n on W, a term of relative size ~1e-6
     * (dropping it gives an error ~3e-9 here): a fourth-order stencil
     * resolves it. */
    t = make_inst(r, URA_PATH_UUR, 5, 3, 6, 4);
    t.ws->rcond_min = 0.99;
    loss = inst_loss(&t);
    CHECK(t.ws->jittered && t.ws->jitter > 0, "jitter forced (cond %g)", t.ws->cond);
    check_gradients(&t, FD_TOL, "jittered G");
    {
        double gw[18] = {0}, gb[3] = {0};
        inst_grad(&t, 1.0, gw, gb, NULL);
        double e = fd5_rel_error(inst_loss, &t, t.w, 18, gw);
        CHECK(e <= 3e-10, "jittered G dW incl. d(eps)/dW, 4th-order FD (%g)", e);
        CHECK(t.ws->jittered, "still jittered after the stencil");
    }
    free_inst(&t);

    /* Exactly singular G (two equal filters): jittered, finite loss. */
    t = make_inst(r, URA_PATH_UUR, 3, 3, 5, 4);
    memcpy(t.w + 5, t.w, sizeof(double) * 5);
    loss = inst_loss(&t);
    CHECK(isfinite(loss) && t.ws->jittered && t.ws->cond > 1e12,
          "duplicate filters: jittered, cond %g", t.ws->cond);
    free_inst(&t);
}

/* ---- §12 item 4: geometry and invariances ------------------------------ */

/* Largest difference between the head logits the last forward left and the
 * head's logits of the given moved features [n_img × n_dim]. */
static double head_logits_error(const inst *t, const double *moved, int n_img)
{
    double logits[64 * 8];
    head_linear_forward(moved, n_img, t->n_dim, t->head_w, t->head_b, t->n_cls, logits);
    return max_abs_diff(logits, t->ws->logits, (size_t)n_img * t->n_cls);
}

static double hyperplane_residual(const double *w, const double *b,
                                  const double *x, int n_img, int n_det,
                                  int n_dim)
{
    double worst = 0.0;
    for (int j = 0; j < n_img; j++)
        for (int i = 0; i < n_det; i++) {
            double a = -b[i];
            for (int d = 0; d < n_dim; d++)
                a += w[i * n_dim + d] * x[j * n_dim + d];
            worst = fmax(worst, fabs(a));
        }
    return worst;
}

static void test_geometry(rng_state *r)
{
    enum { NI = 6, NDET = 3, NDIM = 7 };
    inst t = make_inst(r, URA_PATH_UUR, NI, NDET, NDIM, 4);
    double dx[NI * NDIM], dx2[NI * NDIM], moved[NI * NDIM];
    double w2[NDET * NDIM], b2[NDET], s2[NDET * NDIM], c[NDET];
    for (int i = 0; i < NDET; i++)
        c[i] = rng_uniform_range(r, 0.3, 3.0);
    for (int i = 0; i < NDET; i++) {
        b2[i] = c[i] * t.b[i];
        for (int d = 0; d < NDIM; d++) {
            w2[i * NDIM + d] = c[i] * t.w[i * NDIM + d];
            s2[i * NDIM + d] = c[(i + 1) % NDET] * t.s[i * NDIM + d];
        }
    }

    /* uur */
    CHECK(ura_uur_shift(t.ws, t.m, NI, t.w, t.b, dx) == URA_OK, "uur shift");
    for (int k = 0; k < NI * NDIM; k++)
        moved[k] = t.m[k] - dx[k];
    double res = hyperplane_residual(t.w, t.b, moved, NI, NDET, NDIM);
    CHECK(res <= 1e-10, "uur, kappa = 1: W(m - dx) = b (%g)", res);
    ura_uur_shift(t.ws, t.m, NI, w2, b2, dx2);
    double inv = max_abs_diff(dx, dx2, NI * NDIM) / max_abs(dx, NI * NDIM);
    CHECK(inv <= 1e-12, "uur dx invariant under W -> diag(c)W, b -> c*b (%g)", inv);
    /* dx is the orthogonal move: m − dx − m is in the row space of W, i.e.
     * any vector in the null space of W is untouched: check dxᵀ(m_proj) via
     * the projection identity dx = Wᵀ G⁻¹ W dx. */
    {
        double wd[NI * NDET], back[NI * NDIM], g[NDET * NDET];
        mat_gemm(0, 1, NI, NDET, NDIM, 1.0, dx, t.w, 0.0, wd);
        mat_gram_rows(t.w, NDET, NDIM, g);
        mat_spd_solve(g, NDET, wd, NI, MAT_RCOND_MIN, NULL);
        mat_gemm(0, 0, NI, NDIM, NDET, 1.0, wd, t.w, 0.0, back);
        CHECK(max_abs_diff(back, dx, NI * NDIM) < 1e-10, "uur dx lies in the row space of W");
    }
    /* κ = 1 through the forward too. */
    double ones[NI], loss;
    for (int j = 0; j < NI; j++)
        ones[j] = 1.0;
    ura_uur_forward(t.ws, t.m, ones, NI, t.w, t.b, t.head_w, t.head_b, &loss);
    res = head_logits_error(&t, moved, NI);
    CHECK(res <= 1e-10, "uur forward, kappa = 1: logits are the head's on m - dx (%g)", res);

    /* cur */
    CHECK(ura_cur_shift(t.ws, t.m, NI, t.w, t.b, t.s, dx) == URA_OK, "cur shift");
    for (int k = 0; k < NI * NDIM; k++)
        moved[k] = t.m[k] - dx[k];
    res = hyperplane_residual(t.w, t.b, moved, NI, NDET, NDIM);
    CHECK(res <= 1e-10, "cur, kappa = 1: W(m - dx) = b (%g)", res);
    {
        /* dx in span of the rows of S */
        double sd[NI * NDET], back[NI * NDIM], g[NDET * NDET];
        mat_gemm(0, 1, NI, NDET, NDIM, 1.0, dx, t.s, 0.0, sd);
        mat_gram_rows(t.s, NDET, NDIM, g);
        mat_spd_solve(g, NDET, sd, NI, MAT_RCOND_MIN, NULL);
        mat_gemm(0, 0, NI, NDIM, NDET, 1.0, sd, t.s, 0.0, back);
        CHECK(max_abs_diff(back, dx, NI * NDIM) < 1e-10, "cur dx lies in span(S)");
    }
    ura_cur_shift(t.ws, t.m, NI, w2, b2, t.s, dx2);
    inv = max_abs_diff(dx, dx2, NI * NDIM) / max_abs(dx, NI * NDIM);
    CHECK(inv <= 1e-12, "cur dx invariant under W -> diag(c)W, b -> c*b (%g)", inv);
    ura_cur_shift(t.ws, t.m, NI, t.w, t.b, s2, dx2);
    inv = max_abs_diff(dx, dx2, NI * NDIM) / max_abs(dx, NI * NDIM);
    CHECK(inv <= 1e-12, "cur dx invariant under S -> diag(c)S (%g)", inv);
    CHECK(ura_cur_shift(t.ws, t.m, NI, t.w, t.b, t.s, dx) == URA_OK, "cur shift");
    for (int k = 0; k < NI * NDIM; k++)
        moved[k] = t.m[k] - dx[k];
    ura_cur_forward(t.ws, t.m, ones, NI, t.w, t.b, t.s, t.head_w, t.head_b, &loss);
    res = head_logits_error(&t, moved, NI);
    CHECK(res <= 1e-10, "cur forward, kappa = 1: logits are the head's on m - dx (%g)", res);
    free_inst(&t);

    /* std: W̃((m − dx − μ) ⊘ σ) = t */
    t = make_inst(r, URA_PATH_STD, NI, NDET, NDIM, 4);
    CHECK(ura_std_shift(t.ws, t.m, NI, t.w, t.b, t.mu, t.sigma, dx) == URA_OK,
          "std shift");
    for (int j = 0; j < NI; j++)
        for (int d = 0; d < NDIM; d++)
            moved[j * NDIM + d] = (t.m[j * NDIM + d] - dx[j * NDIM + d] - t.mu[d]) / t.sigma[d];
    res = hyperplane_residual(t.w, t.b, moved, NI, NDET, NDIM);
    CHECK(res <= 1e-10, "std, kappa = 1: W~((m - dx - mu)/sigma) = t (%g)", res);
    for (int k = 0; k < NI * NDIM; k++)
        moved[k] = t.m[k] - dx[k];
    ura_std_forward(t.ws, t.m, ones, NI, t.w, t.b, t.mu, t.sigma, t.head_w, t.head_b, &loss);
    res = head_logits_error(&t, moved, NI);
    CHECK(res <= 1e-10, "std forward, kappa = 1: logits are the head's on m - dx (%g)", res);
    free_inst(&t);
}

/* ---- §12 item 5: per-pixel reference ----------------------------------- */

/* Solves a x = rhs (transposed: aᵀ x = rhs) for a [n × n], Gaussian
 * elimination with partial pivoting on copies; x overwrites rhs. */
static void ref_solve(const double *a_in, int n, int transposed, double *rhs)
{
    double a[64];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[i * n + j] = transposed ? a_in[j * n + i] : a_in[i * n + j];
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int i = col + 1; i < n; i++)
            if (fabs(a[i * n + col]) > fabs(a[piv * n + col]))
                piv = i;
        if (piv != col) {
            for (int j = 0; j < n; j++) {
                double tmp = a[col * n + j];
                a[col * n + j] = a[piv * n + j];
                a[piv * n + j] = tmp;
            }
            double tmp = rhs[col];
            rhs[col] = rhs[piv];
            rhs[piv] = tmp;
        }
        for (int i = col + 1; i < n; i++) {
            double f = a[i * n + col] / a[col * n + col];
            for (int j = col; j < n; j++)
                a[i * n + j] -= f * a[col * n + j];
            rhs[i] -= f * rhs[col];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = rhs[i];
        for (int j = i + 1; j < n; j++)
            s -= a[i * n + j] * rhs[j];
        rhs[i] = s / a[i * n + i];
    }
}

typedef struct {
    inst *t;
    const float *feat; /* [n_img × n_dim × hw] */
    int hw;
} pixel_ctx;

/* One pixel in the space W acts on: xw = x (uur, cur) or (x − μ)⊘σ (std);
 * u solves (G or B) u = W xw − b; dx = Wᵀu (uur, std) or Sᵀu (cur), in that
 * space. */
static void ref_pixel_move(const inst *t, const double *mat_sys,
                           const double *x, double *xw, double *u, double *dx)
{
    int n_det = t->n_det, n_dim = t->n_dim;
    for (int d = 0; d < n_dim; d++)
        xw[d] = t->path == URA_PATH_STD ? (x[d] - t->mu[d]) / t->sigma[d] : x[d];
    for (int i = 0; i < n_det; i++) {
        u[i] = -t->b[i];
        for (int d = 0; d < n_dim; d++)
            u[i] += t->w[i * n_dim + d] * xw[d];
    }
    ref_solve(mat_sys, n_det, 0, u);
    const double *dirs = t->path == URA_PATH_CUR ? t->s : t->w;
    for (int d = 0; d < n_dim; d++) {
        dx[d] = 0.0;
        for (int i = 0; i < n_det; i++)
            dx[d] += dirs[i * n_dim + d] * u[i];
    }
}

/* The per-pixel loss; with grads non-NULL also the per-pixel §5 gradients
 * (dw, db, ds zeroed by the caller). */
static double ref_pixel_loss_grad(pixel_ctx *pc, double *dw, double *db,
                                  double *ds)
{
    const inst *t = pc->t;
    int n_img = t->n_img, n_det = t->n_det, n_dim = t->n_dim, n_cls = t->n_cls;
    int hw = pc->hw, std = t->path == URA_PATH_STD, cur = t->path == URA_PATH_CUR;
    double sys[64];
    const double *other = cur ? t->s : t->w;
    for (int i = 0; i < n_det; i++)
        for (int k = 0; k < n_det; k++) {
            double s = 0.0;
            for (int d = 0; d < n_dim; d++)
                s += t->w[i * n_dim + d] * other[k * n_dim + d];
            sys[i * n_det + k] = s;
        }
    double loss = 0.0;
    for (int j = 0; j < n_img; j++) {
        double x[64], xw[64], u[8], dx[64], mp[64] = {0}, logit[16], p[16];
        const float *img = pc->feat + (size_t)j * n_dim * hw;
        for (int q = 0; q < hw; q++) {
            for (int d = 0; d < n_dim; d++)
                x[d] = img[d * hw + q];
            ref_pixel_move(t, sys, x, xw, u, dx);
            for (int d = 0; d < n_dim; d++)
                mp[d] += (x[d] - t->kappa[j] * (std ? t->sigma[d] : 1.0) * dx[d]) / hw;
        }
        double mx = -INFINITY, z = 0.0, h = 0.0;
        for (int k = 0; k < n_cls; k++) {
            logit[k] = t->head_b[k];
            for (int d = 0; d < n_dim; d++)
                logit[k] += t->head_w[k * n_dim + d] * mp[d];
            mx = fmax(mx, logit[k]);
        }
        for (int k = 0; k < n_cls; k++)
            z += exp(logit[k] - mx);
        for (int k = 0; k < n_cls; k++) {
            p[k] = exp(logit[k] - mx) / z;
            h -= p[k] * log(p[k]);
        }
        loss -= h / M_LN2 / n_img;
        if (!dw)
            continue;
        /* g = ∂L/∂m'_j = −(1/n_img) Vᵀ ∂H_bits/∂ℓ; per pixel g / hw. */
        double g[64];
        for (int d = 0; d < n_dim; d++) {
            g[d] = 0.0;
            for (int k = 0; k < n_cls; k++)
                g[d] += t->head_w[k * n_dim + d] * p[k] * (log(p[k]) + h);
            g[d] /= M_LN2 * n_img * hw;
            if (std)
                g[d] *= t->sigma[d];
        }
        double kap = t->kappa[j];
        for (int q = 0; q < hw; q++) {
            double v[8];
            for (int d = 0; d < n_dim; d++)
                x[d] = img[d * hw + q];
            ref_pixel_move(t, sys, x, xw, u, dx);
            /* v = −κ (G or B)⁻ᵀ (W or S) g */
            for (int i = 0; i < n_det; i++) {
                v[i] = 0.0;
                for (int d = 0; d < n_dim; d++)
                    v[i] -= kap * other[i * n_dim + d] * g[d];
            }
            ref_solve(sys, n_det, 1, v);
            for (int i = 0; i < n_det; i++) {
                db[i] -= v[i];
                for (int d = 0; d < n_dim; d++) {
                    if (cur) {
                        double wv = 0.0;
                        for (int k = 0; k < n_det; k++)
                            wv += t->w[k * n_dim + d] * v[k];
                        dw[i * n_dim + d] += v[i] * (xw[d] - dx[d]);
                        ds[i * n_dim + d] -= u[i] * (kap * g[d] + wv);
                    } else {
                        /* −κ u gᵀ + v xᵀ − (v uᵀ + u vᵀ) W */
                        double vuw = 0.0;
                        for (int k = 0; k < n_det; k++)
                            vuw += (v[i] * u[k] + u[i] * v[k]) * t->w[k * n_dim + d];
                        dw[i * n_dim + d] += -kap * u[i] * g[d] + v[i] * xw[d] - vuw;
                    }
                }
            }
        }
    }
    return loss;
}

static double ref_pixel_loss(void *p)
{
    return ref_pixel_loss_grad(p, NULL, NULL, NULL);
}

static void test_pixel_reference(rng_state *r)
{
    enum ura_path paths[] = {URA_PATH_UUR, URA_PATH_STD, URA_PATH_CUR};
    enum { NI = 5, NDET = 3, NDIM = 6, NCLS = 4, HW = 9 };
    for (int k = 0; k < 3; k++) {
        inst t = make_inst(r, paths[k], NI, NDET, NDIM, NCLS);
        float feat[NI * NDIM * HW];
        for (int q = 0; q < NI * NDIM * HW; q++)
            feat[q] = (float)(0.5 + 1.5 * rng_normal(r));
        head_pool(feat, NI, NDIM, HW, t.m); /* pooled path input */
        pixel_ctx pc = {&t, feat, HW};

        double ref_dw[NDET * NDIM] = {0}, ref_db[NDET] = {0}, ref_ds[NDET * NDIM] = {0};
        double dw[NDET * NDIM] = {0}, db[NDET] = {0}, ds[NDET * NDIM] = {0};
        double ref_loss = ref_pixel_loss_grad(&pc, ref_dw, ref_db, ref_ds);
        double loss = inst_loss(&t);
        int st = inst_grad(&t, 1.0, dw, db, ds);
        CHECK(st == URA_OK, "%s pooled backward", path_name(paths[k]));
        CHECK_CLOSE(loss, ref_loss, 1e-12, "per-pixel loss = pooled loss");
        double gs = fmax(1.0, max_abs(ref_dw, NDET * NDIM));
        double e = max_abs_diff(dw, ref_dw, NDET * NDIM) / gs;
        CHECK(e <= 1e-10, "%s per-pixel dW = pooled dW (%g)", path_name(paths[k]), e);
        e = max_abs_diff(db, ref_db, NDET) / fmax(1.0, max_abs(ref_db, NDET));
        CHECK(e <= 1e-10, "%s per-pixel db = pooled db (%g)", path_name(paths[k]), e);
        if (paths[k] == URA_PATH_CUR) {
            e = max_abs_diff(ds, ref_ds, NDET * NDIM) / fmax(1.0, max_abs(ref_ds, NDET * NDIM));
            CHECK(e <= 1e-10, "cur per-pixel dS = pooled dS (%g)", e);
        }
        /* The pooled gradients are the finite-difference gradients of the
         * per-pixel loss itself. */
        e = fd_rel_error(ref_pixel_loss, &pc, t.w, NDET * NDIM, dw);
        CHECK(e <= FD_TOL, "%s pooled dW = FD of per-pixel loss (%g)", path_name(paths[k]), e);
        e = fd_rel_error(ref_pixel_loss, &pc, t.b, NDET, db);
        CHECK(e <= FD_TOL, "%s pooled db = FD of per-pixel loss (%g)", path_name(paths[k]), e);
        if (paths[k] == URA_PATH_CUR) {
            e = fd_rel_error(ref_pixel_loss, &pc, t.s, NDET * NDIM, ds);
            CHECK(e <= FD_TOL, "cur pooled dS = FD of per-pixel loss (%g)", e);
        }
        free_inst(&t);
    }
}

/* ---- statuses --------------------------------------------------------- */

static void test_statuses(rng_state *r)
{
    inst t = make_inst(r, URA_PATH_CUR, 4, 3, 5, 3);
    double dw[15] = {0}, db[3] = {0}, ds[15] = {0}, loss = 0.0;
    /* Backward with no forward, and after a forward of another kind. */
    int st = ura_cur_backward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.s, t.head_w,
                              t.head_b, 1.0, dw, db, ds);
    CHECK(st == URA_ERR_ORDER, "backward before forward refused (%d)", st);
    ura_uur_forward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.head_w, t.head_b, &loss);
    st = ura_cur_backward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.s, t.head_w,
                          t.head_b, 1.0, dw, db, ds);
    CHECK(st == URA_ERR_ORDER, "cur backward after uur forward refused (%d)", st);
    st = ura_uur_backward(t.ws, t.m, t.kappa, 3, t.w, t.b, t.head_w, t.head_b,
                          1.0, dw, db);
    CHECK(st == URA_ERR_ORDER, "backward with another batch size refused (%d)", st);

    /* Singular B: two equal signal vectors. */
    memcpy(t.s + 5, t.s, sizeof(double) * 5);
    st = ura_cur_forward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.s, t.head_w,
                         t.head_b, &loss);
    CHECK(st == URA_ERR_SINGULAR, "singular B reported (%d)", st);
    CHECK(t.ws->cond > 1e12, "singular B: cond logged as %g", t.ws->cond);
    st = ura_cur_backward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.s, t.head_w,
                          t.head_b, 1.0, dw, db, ds);
    CHECK(st == URA_ERR_ORDER, "backward after a failed forward refused (%d)", st);
    double dx[4 * 5];
    st = ura_cur_shift(t.ws, t.m, 4, t.w, t.b, t.s, dx);
    CHECK(st == URA_ERR_SINGULAR, "cur shift reports singular B too");

    /* Arguments. */
    CHECK(ura_uur_forward(t.ws, t.m, t.kappa, 5, t.w, t.b, t.head_w, t.head_b,
                          &loss) == URA_ERR_ARG, "batch above capacity refused");
    t.sigma[2] = 0.0;
    CHECK(ura_std_forward(t.ws, t.m, t.kappa, 4, t.w, t.b, t.mu, t.sigma,
                          t.head_w, t.head_b, &loss) == URA_ERR_ARG,
          "sigma = 0 refused");
    ura_workspace *ws = NULL;
    CHECK(ura_workspace_create(&ws, 0, 3, 5, 3) == URA_ERR_ARG && ws == NULL,
          "zero-size workspace refused");
    CHECK(strcmp(ura_strerror(URA_ERR_SINGULAR), "ok") != 0, "strerror");
    free_inst(&t);
}

int main(void)
{
    rng_state r;
    rng_init(&r, 77, RNG_STREAM_INIT);
    test_gradients(&r);
    test_std_literal(&r);
    test_special_paths(&r);
    test_geometry(&r);
    test_pixel_reference(&r);
    test_statuses(&r);
    return harness_report("ura");
}
