/* mat — the dense linear algebra the other modules need, in double, over
 * OpenBLAS (cblas) and LAPACKE.
 *
 * Layout: row-major, compact (leading dimension = number of columns).
 * Right-hand sides of every solve are stored as ROWS: rhs [nrhs × n], row j is
 * the j-th right-hand side and is overwritten by its solution. This is the
 * batched layout of the URA losses (R [n_img × n_det]) and, read column-major,
 * exactly LAPACK's n × nrhs layout, so nothing is transposed or copied.
 *
 * The factorisation objects (mat_chol, mat_lu, mat_svd) own their buffers, so
 * a training loop allocates once and factors/solves per batch without
 * allocating (LAPACKE's *_work column-major entry points are used for that).
 * One-shot wrappers (mat_spd_solve, mat_solve, mat_pinv) allocate inside.
 *
 * Everything that can fail returns an int status (MAT_OK = 0); nothing prints.
 *
 * Stage: base. In memory only, no files. */
#ifndef EDDP_MAT_H
#define EDDP_MAT_H

enum {
    MAT_OK = 0,
    MAT_ERR_ARG = 1,      /* a size or pointer is invalid */
    MAT_ERR_ALLOC = 2,    /* out of memory */
    MAT_ERR_SINGULAR = 3, /* singular, or numerically so (rcond below the bound) */
    MAT_ERR_LAPACK = 4,   /* LAPACK reported an illegal argument or SVD failure */
};

/* Factors up to this order also keep their explicit inverse, and solves
 * multiply by it: LAPACK's dpotrs/dgetrs go through OpenBLAS's blocked
 * dtrsm, and even plain substitution loops spend more on loop control and
 * divisions than on arithmetic for a 3 × 3 system with 1024 right-hand
 * sides. The inverse is formed from the factors by substitution, so its
 * accuracy is that of a solve; the rcond checks are unchanged. */
#define MAT_SMALL_ORDER 16

/* Default bounds. MAT_RCOND_MIN: an LU factor with a smaller reciprocal
 * condition number is reported singular, and a Cholesky factor triggers the
 * Tikhonov jitter (spec §5, §9 #31: cond > 1e12 is treated as singular). */
#define MAT_RCOND_MIN 1e-12
/* Relative Tikhonov jitter: ε = MAT_JITTER_REL · tr(G) / n. */
#define MAT_JITTER_REL 1e-6

const char *mat_strerror(int status);

/* ---- products --------------------------------------------------------- */

/* C = alpha · op(A) op(B) + beta · C, row-major; op(X) = Xᵀ when trans_x.
 * op(A) [m × k], op(B) [k × n], C [m × n]. cblas_dgemm, or a plain loop
 * for products of a few thousand multiply-adds (see mat.c). */
void mat_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
              const double *a, const double *b, double beta, double *c);

/* G = A Aᵀ (Gram matrix of the rows), A [n_row × n_col], G [n_row × n_row],
 * both triangles filled. */
void mat_gram_rows(const double *a, int n_row, int n_col, double *g);

/* C = A Bᵀ, A [m × k], B [n × k], C [m × n] (e.g. B = W Sᵀ of L^cur). */
void mat_mul_abt(const double *a, const double *b, int m, int n, int k,
                 double *c);

/* C = Aᵀ B + Bᵀ A, A and B [k × n], C [n × n] symmetric, both triangles
 * filled (the Vᵀ U + Uᵀ V term of the L^uur gradient). */
void mat_sym_atb_bta(const double *a, const double *b, int k, int n,
                     double *c);

/* ---- symmetric positive definite: Cholesky with Tikhonov jitter ------- */

typedef struct {
    int n;
    double *factor; /* [n × n] Cholesky factor (LAPACK 'L', column-major) */
    double *inverse; /* [n × n] row-major inverse, for n ≤ MAT_SMALL_ORDER only */
    double *work;   /* [3n] for dpocon */
    int *iwork;     /* [n] */
    double rcond;   /* reciprocal 1-norm condition estimate of what was factored */
    double rcond_input; /* the same for g itself (0 when dpotrf failed on g) */
    double jitter;  /* ε added to the diagonal, 0 when none */
    int jittered;   /* 1 when ε was added */
} mat_chol;

int mat_chol_init(mat_chol *c, int n);
void mat_chol_free(mat_chol *c);

/* Factors the SPD matrix g [n × n] (g itself is not modified). When dpotrf
 * fails or rcond < rcond_min, factors g + εI instead, ε = MAT_JITTER_REL ·
 * tr(g)/n, and sets jittered. MAT_ERR_SINGULAR when even g + εI cannot be
 * factored (e.g. g = 0 or contains NaN); c->rcond is valid on MAT_OK. */
int mat_chol_factor(mat_chol *c, const double *g, double rcond_min);

/* Solves (g [+ εI]) x = rhs_j for every row of rhs [nrhs × n], in place. */
void mat_chol_solve(const mat_chol *c, double *rhs, int nrhs);

typedef struct {
    double rcond;  /* reciprocal condition estimate of the matrix factored */
    double jitter; /* ε added, 0 when none */
    int jittered;
} mat_spd_info;

/* One-shot SPD solve (allocates): rows of rhs [nrhs × n] overwritten by the
 * solutions of g x = rhs_j, with the jitter rule of mat_chol_factor. info may
 * be NULL. */
int mat_spd_solve(const double *g, int n, double *rhs, int nrhs,
                  double rcond_min, mat_spd_info *info);

/* ---- general square: LU with partial pivoting ------------------------- */

typedef struct {
    int n;
    double *factor; /* [n × n] LU factors of Aᵀ (column-major view of A) */
    double *inverse; /* [n × n] row-major A⁻¹, for n ≤ MAT_SMALL_ORDER only */
    int *ipiv;      /* [n] */
    double *work;   /* [4n] for dgecon */
    int *iwork;     /* [n] */
    double rcond;   /* reciprocal ∞-norm condition estimate of A */
} mat_lu;

int mat_lu_init(mat_lu *lu, int n);
void mat_lu_free(mat_lu *lu);

/* Factors a [n × n]. MAT_ERR_SINGULAR when dgetrf finds an exact zero pivot
 * (info > 0, lu->rcond = 0) or rcond < rcond_min (lu->rcond holds the
 * estimate); no solve should follow a non-zero status. */
int mat_lu_factor(mat_lu *lu, const double *a, double rcond_min);

/* Solves A x = rhs_j (transposed = 0) or Aᵀ x = rhs_j (transposed = 1) for
 * every row of rhs [nrhs × n], in place. */
void mat_lu_solve(const mat_lu *lu, int transposed, double *rhs, int nrhs);

/* One-shot LU solve (allocates); rcond may be NULL. */
int mat_solve(const double *a, int n, int transposed, double *rhs, int nrhs,
              double rcond_min, double *rcond);

/* ---- pseudo-inverse through the SVD (dgesdd) -------------------------- */

typedef struct {
    int m, n;       /* the matrix is [m × n] */
    int k;          /* min(m, n) */
    double *a;      /* [m × n] copy (dgesdd destroys its input) */
    double *s;      /* [k] singular values, descending */
    double *u;      /* [n × k] column-major left vectors of Aᵀ */
    double *vt;     /* [k × m] column-major right vectors of Aᵀ */
    double *work;
    int lwork;
    int *iwork;     /* [8k] */
} mat_svd;

int mat_svd_init(mat_svd *svd, int m, int n);
void mat_svd_free(mat_svd *svd);

/* out [n × m] = A⁺ for a [m × n]. Singular values s_i ≤ rtol · s_max count
 * as zero; rtol ≤ 0 selects max(m, n) · DBL_EPSILON (numpy's default).
 * rank (may be NULL) receives the number of singular values kept; the
 * singular values stay in svd->s. MAT_ERR_LAPACK when the SVD fails. */
int mat_svd_pinv(mat_svd *svd, const double *a, double rtol, double *out,
                 int *rank);

/* One-shot pseudo-inverse (allocates). */
int mat_pinv(const double *a, int m, int n, double rtol, double *out,
             int *rank);

#endif
