/* mat — dense double linear algebra over OpenBLAS/LAPACKE; see mat.h.
 *
 * LAPACK is called through LAPACKE's column-major *_work entry points: the
 * row-major entry points transpose into freshly allocated copies, which a
 * per-batch solve should not do. A row-major matrix read column-major is its
 * transpose, which is harmless for symmetric matrices and handled through the
 * 'T'/'N' switch for LU. */
#include "mat.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *mat_strerror(int status)
{
    switch (status) {
    case MAT_OK: return "ok";
    case MAT_ERR_ARG: return "invalid matrix size or argument";
    case MAT_ERR_ALLOC: return "out of memory";
    case MAT_ERR_SINGULAR: return "matrix is singular or numerically singular";
    case MAT_ERR_LAPACK: return "LAPACK failure (illegal argument or SVD did not converge)";
    default: return "unknown matrix status";
    }
}

/* ---- products --------------------------------------------------------- */

/* Products of at most this many multiply-adds are done by the loops below:
 * OpenBLAS's fixed cost per call (argument checks, packing, scaling C) is a
 * few microseconds, more than such a product takes — and a synthetic step
 * makes a dozen of them (W Sᵀ of 3 × 3 × 16, the cosines of L^fso, ...).
 * Larger products are OpenBLAS's: its kernels win from ~1e4 on. */
#define MAT_TINY_WORK 4096

static void gemm_tiny(int trans_a, int trans_b, int m, int n, int k, double alpha,
                      const double *a, const double *b, double beta, double *c)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int l = 0; l < k; l++)
                sum += (trans_a ? a[(size_t)l * m + i] : a[(size_t)i * k + l]) *
                       (trans_b ? b[(size_t)j * k + l] : b[(size_t)l * n + j]);
            double *cij = c + (size_t)i * n + j;
            *cij = beta == 0.0 ? alpha * sum : beta * *cij + alpha * sum;
        }
}

void mat_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
              const double *a, const double *b, double beta, double *c)
{
    if ((long long)m * n * k <= MAT_TINY_WORK) {
        gemm_tiny(trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
        return;
    }
    int lda = trans_a ? m : k;
    int ldb = trans_b ? k : n;
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, n);
}

/* Copies the upper triangle of a row-major [n × n] matrix to the lower. */
static void mirror_upper(double *c, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            c[(size_t)i * n + j] = c[(size_t)j * n + i];
}

void mat_gram_rows(const double *a, int n_row, int n_col, double *g)
{
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n_row, n_col, 1.0, a,
                n_col, 0.0, g, n_row);
    mirror_upper(g, n_row);
}

void mat_mul_abt(const double *a, const double *b, int m, int n, int k,
                 double *c)
{
    mat_gemm(0, 1, m, n, k, 1.0, a, b, 0.0, c);
}

void mat_sym_atb_bta(const double *a, const double *b, int k, int n,
                     double *c)
{
    cblas_dsyr2k(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, n, b, n,
                 0.0, c, n);
    mirror_upper(c, n);
}

/* ---- small factors: explicit inverses (see MAT_SMALL_ORDER) ---------- */

/* inverse [n × n] (row-major) from a solve of each unit vector: column k
 * of the inverse is the solution for e_k. */
typedef void (*solve_one_fn)(const void *factors, int n, double *x);

static void form_inverse(solve_one_fn solve, const void *factors, int n, double *inverse)
{
    double unit[MAT_SMALL_ORDER];
    for (int k = 0; k < n; k++) {
        memset(unit, 0, sizeof(double) * (size_t)n);
        unit[k] = 1.0;
        solve(factors, n, unit);
        for (int i = 0; i < n; i++)
            inverse[(size_t)i * n + k] = unit[i];
    }
}

/* Rows of rhs [nrhs × n] ← op · row, op [n × n] row-major. Inlined with a
 * literal n for the common orders, so the loops unroll. */
static inline void multiply_rows(const double *op, int n, double *rhs, int nrhs)
{
    double row[MAT_SMALL_ORDER];
    for (int r = 0; r < nrhs; r++) {
        double *x = rhs + (size_t)r * n;
        for (int j = 0; j < n; j++)
            row[j] = x[j];
        /* Unrolled, the n sums are independent chains (-O2 does not unroll). */
#pragma GCC unroll 4
        for (int i = 0; i < n; i++) {
            double sum = 0.0;
#pragma GCC unroll 4
            for (int j = 0; j < n; j++)
                sum += op[i * n + j] * row[j];
            x[i] = sum;
        }
    }
}

/* Rows of rhs ← inverse · row (or inverseᵀ · row). */
static void apply_inverse(const double *inverse, int n, int transposed, double *rhs, int nrhs)
{
    double op[MAT_SMALL_ORDER * MAT_SMALL_ORDER];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            op[i * n + j] = transposed ? inverse[j * n + i] : inverse[i * n + j];
    switch (n) {
    case 1: multiply_rows(op, 1, rhs, nrhs); break;
    case 2: multiply_rows(op, 2, rhs, nrhs); break;
    case 3: multiply_rows(op, 3, rhs, nrhs); break;
    case 4: multiply_rows(op, 4, rhs, nrhs); break;
    default: multiply_rows(op, n, rhs, nrhs); break;
    }
}

/* x [n] ← (L Lᵀ)⁻¹ x, L column-major lower. */
static void chol_solve_one(const void *chol_factor, int n, double *x)
{
    const double *factor = chol_factor;
    for (int i = 0; i < n; i++) {
        double sum = x[i];
        for (int j = 0; j < i; j++)
            sum -= factor[i + (size_t)j * n] * x[j];
        x[i] = sum / factor[i + (size_t)i * n];
    }
    for (int i = n - 1; i >= 0; i--) {
        double sum = x[i];
        for (int j = i + 1; j < n; j++)
            sum -= factor[j + (size_t)i * n] * x[j];
        x[i] = sum / factor[i + (size_t)i * n];
    }
}

/* x [n] ← A⁻¹ x. With F = Aᵀ factored as P F = L U (column-major, unit L,
 * 1-based pivots), A x = r is Uᵀ Lᵀ P x = r. */
static void lu_solve_one(const void *factors, int n, double *x)
{
    const mat_lu *lu = factors;
    const double *f = lu->factor;
    for (int i = 0; i < n; i++) { /* Uᵀ y = r */
        double sum = x[i];
        for (int j = 0; j < i; j++)
            sum -= f[j + (size_t)i * n] * x[j];
        x[i] = sum / f[i + (size_t)i * n];
    }
    for (int i = n - 1; i >= 0; i--) /* Lᵀ z = y */
        for (int j = i + 1; j < n; j++)
            x[i] -= f[j + (size_t)i * n] * x[j];
    for (int i = n - 1; i >= 0; i--) { /* x = Pᵀ z */
        int p = lu->ipiv[i] - 1;
        double t = x[i];
        x[i] = x[p];
        x[p] = t;
    }
}

/* ---- Cholesky --------------------------------------------------------- */

int mat_chol_init(mat_chol *c, int n)
{
    memset(c, 0, sizeof *c);
    if (n < 1)
        return MAT_ERR_ARG;
    c->n = n;
    c->factor = malloc(sizeof(double) * (size_t)n * n);
    c->work = malloc(sizeof(double) * 3 * (size_t)n);
    c->iwork = malloc(sizeof(int) * (size_t)n);
    if (n <= MAT_SMALL_ORDER)
        c->inverse = malloc(sizeof(double) * (size_t)n * n);
    if (!c->factor || !c->work || !c->iwork || (n <= MAT_SMALL_ORDER && !c->inverse)) {
        mat_chol_free(c);
        return MAT_ERR_ALLOC;
    }
    return MAT_OK;
}

void mat_chol_free(mat_chol *c)
{
    free(c->factor);
    free(c->inverse);
    free(c->work);
    free(c->iwork);
    memset(c, 0, sizeof *c);
}

/* Max absolute column sum of a row-major [n × n] matrix. For the symmetric
 * G this is its 1-norm; read column-major it is the ∞-norm of the matrix
 * stored, i.e. the 1-norm of its transpose. */
static double norm_max_col_sum(const double *a, int n)
{
    double best = 0.0;
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++)
            s += fabs(a[(size_t)i * n + j]);
        if (!(s <= best)) /* NaN propagates */
            best = s;
    }
    return best;
}

/* Max absolute row sum of a row-major [n × n] matrix: its ∞-norm, which is
 * the 1-norm of the column-major view (its transpose). */
static double norm_max_row_sum(const double *a, int n)
{
    double best = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < n; j++)
            s += fabs(a[(size_t)i * n + j]);
        if (!(s <= best))
            best = s;
    }
    return best;
}

/* Cholesky of g + shift·I into c->factor; sets c->rcond. Returns the dpotrf
 * info (0 = ok, > 0 = not positive definite, < 0 = illegal argument). */
static int chol_try(mat_chol *c, const double *g, double shift)
{
    int n = c->n;
    memcpy(c->factor, g, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++)
        c->factor[(size_t)i * n + i] += shift;
    double anorm = norm_max_col_sum(c->factor, n);
    int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, c->factor, n);
    c->rcond = 0.0;
    if (info != 0)
        return info;
    double rcond = 0.0;
    info = LAPACKE_dpocon_work(LAPACK_COL_MAJOR, 'L', n, c->factor, n, anorm,
                               &rcond, c->work, c->iwork);
    c->rcond = rcond;
    return info;
}

/* A successful factorisation: the inverse too, for small orders. */
static int chol_done(mat_chol *c)
{
    if (c->inverse)
        form_inverse(chol_solve_one, c->factor, c->n, c->inverse);
    return MAT_OK;
}

int mat_chol_factor(mat_chol *c, const double *g, double rcond_min)
{
    int n = c->n;
    c->jitter = 0.0;
    c->jittered = 0;
    int info = chol_try(c, g, 0.0);
    c->rcond_input = c->rcond;
    if (info < 0)
        return MAT_ERR_LAPACK;
    if (info == 0 && c->rcond >= rcond_min)
        return chol_done(c);

    double trace = 0.0;
    for (int i = 0; i < n; i++)
        trace += g[(size_t)i * n + i];
    double eps = MAT_JITTER_REL * trace / n;
    if (!(eps > 0.0) || !isfinite(eps))
        return MAT_ERR_SINGULAR;
    c->jitter = eps;
    c->jittered = 1;
    info = chol_try(c, g, eps);
    if (info < 0)
        return MAT_ERR_LAPACK;
    if (info > 0 || !(c->rcond > 0.0))
        return MAT_ERR_SINGULAR;
    return chol_done(c);
}

void mat_chol_solve(const mat_chol *c, double *rhs, int nrhs)
{
    if (nrhs < 1)
        return;
    if (c->inverse) {
        apply_inverse(c->inverse, c->n, 0, rhs, nrhs);
        return;
    }
    LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', c->n, nrhs, c->factor, c->n,
                        rhs, c->n);
}

int mat_spd_solve(const double *g, int n, double *rhs, int nrhs,
                  double rcond_min, mat_spd_info *info)
{
    mat_chol c;
    int st = mat_chol_init(&c, n);
    if (st)
        return st;
    st = mat_chol_factor(&c, g, rcond_min);
    if (info) {
        info->rcond = c.rcond;
        info->jitter = c.jitter;
        info->jittered = c.jittered;
    }
    if (st == MAT_OK)
        mat_chol_solve(&c, rhs, nrhs);
    mat_chol_free(&c);
    return st;
}

/* ---- LU --------------------------------------------------------------- */

int mat_lu_init(mat_lu *lu, int n)
{
    memset(lu, 0, sizeof *lu);
    if (n < 1)
        return MAT_ERR_ARG;
    lu->n = n;
    lu->factor = malloc(sizeof(double) * (size_t)n * n);
    lu->ipiv = malloc(sizeof(int) * (size_t)n);
    lu->work = malloc(sizeof(double) * 4 * (size_t)n);
    lu->iwork = malloc(sizeof(int) * (size_t)n);
    if (n <= MAT_SMALL_ORDER)
        lu->inverse = malloc(sizeof(double) * (size_t)n * n);
    if (!lu->factor || !lu->ipiv || !lu->work || !lu->iwork ||
        (n <= MAT_SMALL_ORDER && !lu->inverse)) {
        mat_lu_free(lu);
        return MAT_ERR_ALLOC;
    }
    return MAT_OK;
}

void mat_lu_free(mat_lu *lu)
{
    free(lu->factor);
    free(lu->inverse);
    free(lu->ipiv);
    free(lu->work);
    free(lu->iwork);
    memset(lu, 0, sizeof *lu);
}

int mat_lu_factor(mat_lu *lu, const double *a, double rcond_min)
{
    int n = lu->n;
    memcpy(lu->factor, a, sizeof(double) * (size_t)n * n);
    /* dgecon's '1' norm of the column-major view Aᵀ = ‖A‖∞. */
    double anorm = norm_max_row_sum(a, n);
    lu->rcond = 0.0;
    int info = LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, n, n, lu->factor, n,
                                   lu->ipiv);
    if (info < 0)
        return MAT_ERR_LAPACK;
    if (info > 0)
        return MAT_ERR_SINGULAR;
    if (lu->inverse)
        form_inverse(lu_solve_one, lu, n, lu->inverse);
    double rcond = 0.0;
    info = LAPACKE_dgecon_work(LAPACK_COL_MAJOR, '1', n, lu->factor, n, anorm,
                               &rcond, lu->work, lu->iwork);
    if (info < 0)
        return MAT_ERR_LAPACK;
    lu->rcond = rcond;
    if (!(rcond >= rcond_min))
        return MAT_ERR_SINGULAR;
    return MAT_OK;
}

void mat_lu_solve(const mat_lu *lu, int transposed, double *rhs, int nrhs)
{
    if (nrhs < 1)
        return;
    if (lu->inverse) {
        apply_inverse(lu->inverse, lu->n, transposed, rhs, nrhs);
        return;
    }
    /* The factors are those of Aᵀ: A x = r is a transposed solve for LAPACK. */
    char trans = transposed ? 'N' : 'T';
    LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, trans, lu->n, nrhs, lu->factor,
                        lu->n, lu->ipiv, rhs, lu->n);
}

int mat_solve(const double *a, int n, int transposed, double *rhs, int nrhs,
              double rcond_min, double *rcond)
{
    mat_lu lu;
    int st = mat_lu_init(&lu, n);
    if (st)
        return st;
    st = mat_lu_factor(&lu, a, rcond_min);
    if (rcond)
        *rcond = lu.rcond;
    if (st == MAT_OK)
        mat_lu_solve(&lu, transposed, rhs, nrhs);
    mat_lu_free(&lu);
    return st;
}

/* ---- SVD pseudo-inverse ----------------------------------------------- */

int mat_svd_init(mat_svd *svd, int m, int n)
{
    memset(svd, 0, sizeof *svd);
    if (m < 1 || n < 1)
        return MAT_ERR_ARG;
    int k = m < n ? m : n;
    svd->m = m;
    svd->n = n;
    svd->k = k;
    svd->a = malloc(sizeof(double) * (size_t)m * n);
    svd->s = malloc(sizeof(double) * (size_t)k);
    svd->u = malloc(sizeof(double) * (size_t)n * k);
    svd->vt = malloc(sizeof(double) * (size_t)k * m);
    svd->iwork = malloc(sizeof(int) * 8 * (size_t)k);
    if (!svd->a || !svd->s || !svd->u || !svd->vt || !svd->iwork) {
        mat_svd_free(svd);
        return MAT_ERR_ALLOC;
    }
    /* Workspace query on the column-major view Aᵀ [n × m]. */
    double query = 0.0;
    int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', n, m, svd->a, n,
                                   svd->s, svd->u, n, svd->vt, k, &query, -1,
                                   svd->iwork);
    if (info != 0) {
        mat_svd_free(svd);
        return MAT_ERR_LAPACK;
    }
    svd->lwork = (int)query + 1;
    svd->work = malloc(sizeof(double) * (size_t)svd->lwork);
    if (!svd->work) {
        mat_svd_free(svd);
        return MAT_ERR_ALLOC;
    }
    return MAT_OK;
}

void mat_svd_free(mat_svd *svd)
{
    free(svd->a);
    free(svd->s);
    free(svd->u);
    free(svd->vt);
    free(svd->work);
    free(svd->iwork);
    memset(svd, 0, sizeof *svd);
}

int mat_svd_pinv(mat_svd *svd, const double *a, double rtol, double *out,
                 int *rank)
{
    int m = svd->m, n = svd->n, k = svd->k;
    memcpy(svd->a, a, sizeof(double) * (size_t)m * n);
    /* Column-major, the row-major A [m × n] is C = Aᵀ [n × m] = U Σ Vᵀ, and
     * C⁺ = V Σ⁺ Uᵀ [m × n] column-major is A⁺ [n × m] row-major. */
    int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', n, m, svd->a, n,
                                   svd->s, svd->u, n, svd->vt, k, svd->work,
                                   svd->lwork, svd->iwork);
    if (info != 0)
        return MAT_ERR_LAPACK;
    if (rtol <= 0.0)
        rtol = (m > n ? m : n) * DBL_EPSILON;
    double cutoff = rtol * svd->s[0];
    int kept = 0;
    for (int l = 0; l < k; l++) {
        double inv = svd->s[l] > cutoff ? 1.0 / svd->s[l] : 0.0;
        kept += svd->s[l] > cutoff;
        cblas_dscal(n, inv, svd->u + (size_t)l * n, 1);
    }
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, m, n, k, 1.0, svd->vt,
                k, svd->u, n, 0.0, out, m);
    if (rank)
        *rank = kept;
    return MAT_OK;
}

int mat_pinv(const double *a, int m, int n, double rtol, double *out,
             int *rank)
{
    mat_svd svd;
    int st = mat_svd_init(&svd, m, n);
    if (st)
        return st;
    st = mat_svd_pinv(&svd, a, rtol, out, rank);
    mat_svd_free(&svd);
    return st;
}
