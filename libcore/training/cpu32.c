/* cpu32 — see cpu32.h. Row-major arrays throughout; each GEMM says which
 * product it forms. */
#include "cpu32.h"
#include "error.h"
#include "losses.h"
#include "mat.h"
#include "rsw_power.h"
#include "vecmath.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Pixels per sub-chunk of the element-wise work inside a block (its float32
 * scratch, 4 × SUB_PIX × n_det per thread, stays in cache). */
#define SUB_PIX 64
#define INV_LN2 1.4426950408889634073599246810019
#define LN2 0.693147180559945309417232121458

static cpu32_arith arith_mode;
static const double *arith_raw_b;

void cpu32_test_arith(cpu32_arith arith, const double *raw_b)
{
    arith_mode = arith;
    arith_raw_b = raw_b;
}

/* The backend's own error record (device.c copies it into error.h's). */
static char fail_message[512];
static int fail_code;

static int fail(int code, const char *fmt, ...)
{
    if (fail_code)
        return fail_code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_message, sizeof fail_message, fmt, ap);
    va_end(ap);
    return fail_code = code;
}
static int cpu32_error_code(void) { return fail_code; }
static const char *cpu32_error_message(void) { return fail_message; }
static void cpu32_error_clear(void) { fail_code = 0; fail_message[0] = 0; }

struct cuda_step {
    cuda_step_sizes sz;
    const float *features;       /* NCHW set [n_img_total × n_dim × hw] */
    const double *pooled_all;    /* [n_img_total × n_dim] */
    const double *head_w, *head_b, *scale; /* [n_cls × n_dim], [n_cls], [n_dim] or NULL */
    double *center;              /* [n_dim] */
    size_t n_img, n_pix;
    size_t *order;               /* [max_img] the batch's images in the set */
    size_t gather;               /* pixels gathered at once: a whole batch, or CPU32_GATHER_PIX (lean) */
    float *X;                    /* [n_dim × gather] centred pixels, channel-major (gather_chunk) */
    float *W, *b;                /* [n_det × n_dim], [n_det] */
    float *A;                    /* [max_pix × n_det] logits, then dA */
    float *part;                 /* [n_det × n_dim] one chunk's dW̃ */
    double *scl, *lns, *H, *M;   /* [max_pix] */
    unsigned char *clamped;      /* [max_pix] */
    double *blk;                 /* [n_blocks × n_det] per-block column sums */
    double sums[5];
    double *col;                 /* [n_det] */
    int with_sb, with_columns;
    double *dW, *db;             /* [n_det × n_dim], [n_det] */
    /* URA, float64 */
    int ura_kind;                /* of the last forward, 0 = none */
    double *pooled, *kappa;      /* batch [max_img × n_dim], [max_img] */
    double *xs, *R, *dx, *mp, *gm, *V, *ku, *scratch; /* [max_img × n_dim or n_det] */
    double *logits, *dlogits;    /* [max_img × n_cls] */
    double *uW, *ub, *uS, *factor, *csym, *gW, *gb, *gS;
    double *Qt, *Tt;             /* cur: [n_dim × n_det] Sᵀ B⁻¹, and Uᵀ's right factor (ura_backward) */
    /* cur through the head's rank (cur_low_rank): Pt = V_h Sᵀ B⁻¹ [n_cls × n_det],
     * E [n_cls × n_det], F, J [n_cls × n_dim], RP, dLk [max_img × n_cls], w [n_cls] */
    double *Pt, *E, *F, *J, *RP, *dLk, *w;
    int *ipiv;
    float *set;                  /* [n_img_total × n_dim × hw] centred (NCHW); NULL: gathered per batch */
    int n_threads;
    float *scratch32;            /* [n_threads × 4 × SUB_PIX × n_det]: y, 1 − y, ln y, y^γ */
};

static void step_free(cuda_step *s)
{
    if (!s)
        return;
    void *p[] = {s->center, s->order, s->X, s->W, s->b, s->A, s->part, s->scl, s->lns, s->H, s->M, s->clamped, s->blk,
                 s->col, s->dW, s->db, s->pooled, s->kappa, s->xs, s->R, s->dx, s->mp, s->gm, s->V, s->ku,
                 s->scratch, s->logits, s->dlogits, s->uW, s->ub, s->uS, s->factor, s->csym, s->gW, s->gb,
                 s->gS, s->ipiv, s->scratch32, s->set, s->Qt, s->Tt, s->Pt, s->E, s->F, s->J, s->RP,
                 s->dLk, s->w};
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++)
        free(p[k]);
    free(s);
}

static size_t n_blocks_of(size_t n_pix) { return (n_pix + CPU32_BLOCK_PIX - 1) / CPU32_BLOCK_PIX; }

/* Pixels gathered at once for batches of at most max_pix: the whole batch,
 * unless its pixels and logits in float32 do not fit batch_budget bytes
 * (0: no limit); then chunks of CPU32_GATHER_PIX, each gathered for the
 * logits and again for dW̃ (at Broden scale 0.27 GB less for a batch of
 * 4096 images, for a second gather of every batch). */
static size_t gather_pixels(size_t max_pix, size_t n_dim, size_t n_det, size_t batch_budget)
{
    if (!batch_budget || max_pix * (n_dim + n_det) * sizeof(float) <= batch_budget ||
        max_pix <= CPU32_GATHER_PIX)
        return max_pix;
    return CPU32_GATHER_PIX;
}

/* The step's two SGEMMs on n pixels of a gathered X̃ (channel-major, leading
 * dimension ld): their logits A_c [n × n_det] = X̃cᵀ Wᵀ, and their share of
 * dW̃, part [n_det × n_dim] = dA_cᵀ X̃cᵀ (+ part when accumulate).
 * gemm_reference times these same calls. */
static void logits_sgemm(const float *Xc, size_t n, size_t ld, const float *W, int n_det, int n_dim, float *Ac)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)n, n_det, n_dim, 1.0f, Xc, (int)ld, W, n_dim, 0.0f, Ac,
                n_det);
}

static void gradient_sgemm(const float *dAc, const float *Xc, size_t n, size_t ld, int n_det, int n_dim,
                           int accumulate, float *part)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, n_det, n_dim, (int)n, 1.0f, dAc, n_det, Xc, (int)ld,
                accumulate ? 1.0f : 0.0f, part, n_dim);
}

/* Pixels [q0, q1) of NCHW image k of the set, centred in float64 and
 * rounded once (raw: not centred), channel d's to dst + d·ld (the whole
 * image with ld = hw: the image in place, as resident_set keeps it). */
static void image_to_channels(const cuda_step *s, size_t k, int raw, size_t q0, size_t q1, float *dst, size_t ld)
{
    int n_dim = s->sz.n_dim;
    size_t hw = (size_t)s->sz.hw;
    const float *img = s->features + k * n_dim * hw;
    for (int d = 0; d < n_dim; d++) {
        const float *src = img + d * hw;
        float *out = dst + d * ld;
        double c = raw ? 0.0 : s->center[d];
#pragma omp simd
        for (size_t p = q0; p < q1; p++)
            out[p - q0] = (float)((double)src[p] - c);
    }
}

/* The whole set centred once (NCHW, as the features), when it takes at most
 * CPU32_RESIDENT_MAX bytes (and EDDP_DEVICE_STREAM does not force
 * per-batch gathers): a batch is then a copy of runs of hw floats. Without
 * the memory, batches are gathered (the same values). */
static void resident_set(cuda_step *s)
{
    size_t per_image = (size_t)s->sz.hw * s->sz.n_dim, n = s->sz.n_img_total;
    if (s->sz.force_stream || n * per_image * sizeof(float) > CPU32_RESIDENT_MAX ||
        !(s->set = malloc(n * per_image * sizeof(float))))
        return;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++)
        image_to_channels(s, k, 0, 0, (size_t)s->sz.hw, s->set + k * per_image, (size_t)s->sz.hw);
}

static int cur_low_rank(const cuda_step *s);

/* n doubles into *p where need (else left NULL); 0 when out of memory. */
static int alloc_if(double **p, size_t n, int need)
{
    return !need || (*p = malloc(n * sizeof(double))) != NULL;
}

/* The URA's float64 buffers, only those its kind uses (at Broden scale
 * L^cur through the head's rank leaves out seven of [max_img × n_dim or
 * n_det], 0.12 GB): id = max_img·n_dim, ii = max_img·n_det, big their max. */
static int ura_alloc(cuda_step *s, size_t id, size_t ii, size_t big, size_t n_cls)
{
    size_t n_det = s->sz.n_det, n_dim = s->sz.n_dim, nd = n_det * n_dim, max_img = s->sz.max_img;
    int cur = s->sz.ura_kind == CUDA_URA_CUR, std = s->sz.ura_kind == CUDA_URA_STD;
    int low = cur && cur_low_rank(s), solved = cur && !low; /* solved: cur without the head's rank */
    return alloc_if(&s->pooled, id, 1) && (s->kappa = malloc(max_img * sizeof(double))) &&
           alloc_if(&s->xs, id, std) && alloc_if(&s->R, ii, 1) && alloc_if(&s->dx, id, !low) &&
           alloc_if(&s->mp, id, !low) && alloc_if(&s->gm, id, !low) && alloc_if(&s->V, ii, !low) &&
           alloc_if(&s->ku, ii, !cur) && alloc_if(&s->scratch, big, solved) &&
           alloc_if(&s->logits, max_img * n_cls, 1) && alloc_if(&s->dlogits, max_img * n_cls, 1) &&
           alloc_if(&s->uW, nd, 1) && alloc_if(&s->ub, n_det, 1) && alloc_if(&s->uS, nd, 1) &&
           alloc_if(&s->factor, n_det * n_det, 1) && alloc_if(&s->csym, n_det * n_det, !cur) &&
           alloc_if(&s->gW, nd, 1) && alloc_if(&s->gb, n_det, 1) && alloc_if(&s->gS, nd, 1) &&
           (s->ipiv = malloc(n_det * sizeof(int))) && alloc_if(&s->Qt, nd, solved) && alloc_if(&s->Tt, nd, solved) &&
           alloc_if(&s->Pt, n_cls * n_det, low) && alloc_if(&s->E, n_cls * n_det, low) &&
           alloc_if(&s->F, n_cls * n_dim, low) && alloc_if(&s->J, n_cls * n_dim, low) &&
           alloc_if(&s->RP, max_img * n_cls, low) && alloc_if(&s->dLk, max_img * n_cls, low) &&
           alloc_if(&s->w, n_cls, low);
}

static int step_create(cuda_step **out, const cuda_step_sizes *sz, const float *features, const double *pooled,
                       const double *head_w, const double *head_b, const double *center, const double *scale)
{
    *out = NULL;
    if (!center)
        return fail(EX_SOFTWARE, "cpu float32: the pixels need a center");
    cuda_step *s = calloc(1, sizeof *s);
    if (!s)
        return fail(EX_OSERR, "cpu float32: out of memory");
    s->sz = *sz;
    s->features = features;
    s->pooled_all = pooled;
    s->head_w = head_w;
    s->head_b = head_b;
    s->scale = scale;
    size_t max_img = sz->max_img, max_pix = max_img * sz->hw, n_dim = sz->n_dim, n_det = sz->n_det;
    size_t nd = n_det * n_dim, nb = n_blocks_of(max_pix);
    int ok = (s->center = malloc(n_dim * sizeof(double))) && (s->order = malloc(max_img * sizeof(size_t))) &&
             (s->X = malloc((s->gather = gather_pixels(max_pix, n_dim, n_det, sz->batch_budget)) * n_dim *
                            sizeof(float))) &&
             (s->W = malloc(nd * sizeof(float))) && (s->b = malloc(n_det * sizeof(float))) &&
             (s->A = malloc(max_pix * n_det * sizeof(float))) && (s->part = malloc(nd * sizeof(float))) &&
             (s->scl = malloc(max_pix * sizeof(double))) && (s->lns = malloc(max_pix * sizeof(double))) &&
             (s->H = malloc(max_pix * sizeof(double))) && (s->M = malloc(max_pix * sizeof(double))) &&
             (s->clamped = malloc(max_pix)) && (s->blk = malloc(nb * n_det * sizeof(double))) &&
             (s->col = calloc(n_det, sizeof(double))) && (s->dW = malloc(nd * sizeof(double))) &&
             (s->db = malloc(n_det * sizeof(double)));
    s->n_threads = omp_get_max_threads();
    ok = ok && (s->scratch32 = malloc((size_t)s->n_threads * 4 * SUB_PIX * n_det * sizeof(float)));
    if (ok && sz->ura_kind != CUDA_URA_NONE) {
        size_t n_cls = sz->n_cls, id = max_img * n_dim, ii = max_img * n_det, big = id > ii ? id : ii;
        if (!head_w || !head_b || !pooled) {
            step_free(s);
            return fail(EX_SOFTWARE, "cpu float32: the URA terms need the head and the pooled features");
        }
        ok = ura_alloc(s, id, ii, big, n_cls);
    }
    if (!ok) {
        step_free(s);
        return fail(EX_OSERR, "cpu float32: out of memory for batches of %zu images", max_img);
    }
    memcpy(s->center, center, n_dim * sizeof(double));
    resident_set(s);
    *out = s;
    return 0;
}

static int step_resident(const cuda_step *s) { return s->set != NULL; }
static size_t step_bytes(const cuda_step *s)
{
    size_t max_pix = s->sz.max_img * s->sz.hw;
    size_t set = s->set ? s->sz.n_img_total * s->sz.hw * s->sz.n_dim : 0;
    return (s->gather * s->sz.n_dim + max_pix * s->sz.n_det + set) * sizeof(float);
}

/* The batch: its images' order, pooled rows and κ. Its pixels X̃ are
 * gathered when the forward's SGEMM reads them (gather_chunk), whole or in
 * chunks (gather_pixels). */
static int load_batch(cuda_step *s, const size_t *order, size_t n_img, const double *kappa)
{
    int n_dim = s->sz.n_dim;
    if (n_img > s->sz.max_img)
        return fail(EX_SOFTWARE, "cpu float32: batch of %zu images, made for %zu", n_img, s->sz.max_img);
    s->n_img = n_img;
    s->n_pix = n_img * s->sz.hw;
    memcpy(s->order, order, n_img * sizeof *order);
    if (s->sz.ura_kind != CUDA_URA_NONE) {
        for (size_t k = 0; k < n_img; k++)
            memcpy(s->pooled + k * n_dim, s->pooled_all + order[k] * n_dim, n_dim * sizeof(double));
        memcpy(s->kappa, kappa, n_img * sizeof(double));
    }
    return 0;
}

/* Pixels [p0, p0 + n) of the batch (image by image, hw each) into s->X as
 * X̃ [n_dim × n] channel-major (row d: channel d of those pixels), centred
 * in float64 and rounded once (raw in the RAW arithmetic): copied from the
 * resident set or centred from the features. Channel-major, a chunk is runs
 * of pixels copied from the NCHW set, where pixel-major rows were a
 * transposition of every image (at 16,000 Broden-sized images, 3 times the
 * CPU time of the copy); the SGEMMs read X̃ transposed, as fast. */
static void gather_chunk(cuda_step *s, size_t p0, size_t n)
{
    int n_dim = s->sz.n_dim, raw = arith_mode == CPU32_ARITH_RAW;
    size_t hw = (size_t)s->sz.hw, per_image = hw * n_dim, k0 = p0 / hw, k1 = (p0 + n - 1) / hw;
#pragma omp parallel for schedule(static)
    for (size_t k = k0; k <= k1; k++) {
        size_t q0 = k == k0 ? p0 - k * hw : 0, q1 = k == k1 ? p0 + n - k * hw : hw;
        float *dst = s->X + (k * hw + q0 - p0);
        if (s->set && !raw) {
            const float *img = s->set + s->order[k] * per_image;
            for (int d = 0; d < n_dim; d++)
                memcpy(dst + d * n, img + d * hw + q0, (q1 - q0) * sizeof(float));
        } else {
            image_to_channels(s, s->order[k], raw, q0, q1, dst, n);
        }
    }
}

/* mask ? a : b for a mask of all ones or zeros, as bit operations (the
 * select loop below then vectorises; a ?: on floats does not). */
static inline float blend(uint32_t mask, float a, float b)
{
    uint32_t ua, ub, u;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    u = (ua & mask) | (ub & ~mask);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* pixel.cu's sigmoid_pieces in float32 over rows [n_rows × n_det] of
 * logits a − b: y, 1 − y, ln y, and y^γ (y_gamma NULL: skipped). Branch-free
 * loops, so that they vectorise into libmvec's expf/log1pf (vecmath.h);
 * omy holds e = exp(−|z|) and ln_y log1p(e) until the select loop. */
VECMATH_CLONES
static void sigmoid_rows(const float *a, const float *b, size_t n_rows, int n_det, float gamma, float *y,
                         float *omy, float *ln_y, float *y_gamma)
{
    size_t n = n_rows * (size_t)n_det;
    for (size_t r = 0; r < n_rows; r++) {
        const float *ar = a + r * n_det;
        float *zr = y + r * n_det;
#pragma omp simd
        for (int i = 0; i < n_det; i++)
            zr[i] = ar[i] - b[i];
    }
#pragma omp simd
    for (size_t k = 0; k < n; k++)
        omy[k] = expf(-fabsf(y[k]));
#pragma omp simd
    for (size_t k = 0; k < n; k++)
        ln_y[k] = log1pf(omy[k]);
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        /* every operand formed unconditionally: selects, not branches */
        float z = y[k], e = omy[k], l = ln_y[k], r = 1.0f / (1.0f + e), er = e * r, neg_l = -l, zl = z - l;
        uint32_t positive = 0u - (uint32_t)(z >= 0.0f);
        y[k] = blend(positive, r, er);
        omy[k] = blend(positive, er, r);
        ln_y[k] = blend(positive, neg_l, zl);
    }
    if (y_gamma) {
#pragma omp simd
        for (size_t k = 0; k < n; k++)
            y_gamma[k] = expf(gamma * ln_y[k]);
    }
}

/* Σ y and Σ y ln y of one pixel's row [n] in float64 (pass 1): vector
 * partial sums, a fixed order for a given build and processor (the
 * device's is a tree). */
VECMATH_CLONES
static void row_sums(const float *y, const float *ln_y, int n, double *sum_y, double *sum_yln)
{
    double sy = 0.0, t = 0.0;
#pragma omp simd reduction(+ : sy, t)
    for (int i = 0; i < n; i++) {
        sy += (double)y[i];
        t += (double)y[i] * (double)ln_y[i];
    }
    *sum_y = sy;
    *sum_yln = t;
}

/* col[i] += y_gamma[i] in float64 (pass 1's column sums). */
VECMATH_CLONES
static void row_add(double *col, const float *y_gamma, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        col[i] += (double)y_gamma[i];
}

/* k_pass2 on one pixel's row [n] from its sigmoid pieces: a = dA =
 * (float)((1 − y)(y(k1 ln y + k0) + col_coef y^γ)) in float64, colsum[i] +=
 * dA_i. col_coef NULL: no column term (a zero coefficient adds 0·y^γ = 0,
 * as the kernel's skip). */
VECMATH_CLONES
static void pass2_row(float *a, const float *y, const float *omy, const float *ln_y, const float *y_gamma,
                      double k1, double k0, const double *col_coef, double *colsum, int n)
{
    if (col_coef) {
#pragma omp simd
        for (int i = 0; i < n; i++) {
            double d = (double)y[i] * (k1 * (double)ln_y[i] + k0) + col_coef[i] * (double)y_gamma[i];
            float gr = (float)((double)omy[i] * d);
            a[i] = gr;
            colsum[i] += (double)gr;
        }
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++) {
            double d = (double)y[i] * (k1 * (double)ln_y[i] + k0);
            float gr = (float)((double)omy[i] * d);
            a[i] = gr;
            colsum[i] += (double)gr;
        }
    }
}

/* This thread's scratch: y, 1 − y, ln y, y^γ [SUB_PIX × n_det] each. */
static float *thread_scratch(const cuda_step *s, int which)
{
    return s->scratch32 + ((size_t)omp_get_thread_num() * 4 + which) * SUB_PIX * s->sz.n_det;
}

/* Σ over blocks, in block order: out[i] = scale · Σ_b blk[b][i]. */
static void sum_blocks(const cuda_step *s, size_t nb, double scale, double *out)
{
    int n_det = s->sz.n_det;
    for (int i = 0; i < n_det; i++)
        out[i] = 0.0;
    for (size_t bl = 0; bl < nb; bl++)
        for (int i = 0; i < n_det; i++)
            out[i] += s->blk[bl * n_det + i];
    for (int i = 0; i < n_det; i++)
        out[i] *= scale;
}

/* Pass 1 on the pixels of one block: H, ℓ, the clamp, and the block's column
 * sums of y^γ. */
static void pass1_block(cuda_step *s, size_t bl, float gamma)
{
    int n_det = s->sz.n_det;
    size_t p0 = bl * CPU32_BLOCK_PIX, p1 = p0 + CPU32_BLOCK_PIX < s->n_pix ? p0 + CPU32_BLOCK_PIX : s->n_pix;
    double *col = s->blk + bl * n_det;
    float *y = thread_scratch(s, 0), *omy = thread_scratch(s, 1), *ln_y = thread_scratch(s, 2),
          *y_gamma = s->with_columns ? thread_scratch(s, 3) : NULL;
    if (s->with_columns)
        for (int i = 0; i < n_det; i++)
            col[i] = 0.0;
    for (size_t q0 = p0; q0 < p1; q0 += SUB_PIX) {
        size_t q1 = q0 + SUB_PIX < p1 ? q0 + SUB_PIX : p1;
        sigmoid_rows(s->A + q0 * n_det, s->b, q1 - q0, n_det, gamma, y, omy, ln_y, y_gamma);
        for (size_t p = q0; p < q1; p++) {
            size_t row = (p - q0) * n_det;
            double sy, t;
            row_sums(y + row, ln_y + row, n_det, &sy, &t);
            if (y_gamma)
                row_add(col, y_gamma + row, n_det);
            int is_clamped = sy < LOSS_S_MIN;
            double s_cl = is_clamped ? LOSS_S_MIN : sy;
            double ln_s = log(s_cl), inv = INV_LN2 / s_cl;
            s->scl[p] = s_cl;
            s->lns[p] = ln_s;
            s->H[p] = -(t - sy * ln_s) * inv;
            s->M[p] = -t * inv;
            s->clamped[p] = (unsigned char)is_clamped;
        }
    }
}

static void rsw_stats(cuda_step *s, double nu)
{
    double mx = 0.0, a = 0.0, bs = 0.0;
    for (size_t p = 0; p < s->n_pix; p++)
        mx = fmax(mx, s->H[p]);
    if (mx > 0.0)
        for (size_t p = 0; p < s->n_pix; p++) {
            double r = s->H[p] / mx;
            if (r > 0.0) {
                double rn = rsw_power(r, nu);
                a += rn * r;
                bs += rn;
            }
        }
    s->sums[2] = mx;
    s->sums[3] = a;
    s->sums[4] = bs;
}

static int pixel_forward(cuda_step *s, const float *W, const float *b, double gamma, double nu, int with_sb,
                         int with_columns)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t n_pix = s->n_pix, nb = n_blocks_of(n_pix);
    memcpy(s->W, W, (size_t)n_det * n_dim * sizeof(float));
    for (int i = 0; i < n_det; i++)
        s->b[i] = arith_mode == CPU32_ARITH_RAW && arith_raw_b ? (float)arith_raw_b[i] : b[i];
    s->with_sb = with_sb;
    s->with_columns = with_columns;
    /* A [n_pix × n_det] = X̃ᵀ · Wᵀ, chunk by chunk, X̃ gathered [n_dim × n] */
    for (size_t p0 = 0; p0 < n_pix; p0 += s->gather) {
        size_t n = n_pix - p0 < s->gather ? n_pix - p0 : s->gather;
        gather_chunk(s, p0, n);
        logits_sgemm(s->X, n, n, s->W, n_det, n_dim, s->A + p0 * n_det);
    }
    float g = (float)gamma;
#pragma omp parallel for schedule(static)
    for (size_t bl = 0; bl < nb; bl++)
        pass1_block(s, bl, g);
    double sum_h = 0.0, sum_m = 0.0;
    for (size_t p = 0; p < n_pix; p++) {
        sum_h += s->H[p];
        sum_m += s->M[p];
    }
    s->sums[0] = sum_h;
    s->sums[1] = sum_m;
    s->sums[2] = s->sums[3] = s->sums[4] = 0.0;
    if (with_sb)
        rsw_stats(s, nu);
    if (with_columns)
        sum_blocks(s, nb, 1.0 / (double)n_pix, s->col);
    return 0;
}

static int pixel_forward_collect(cuda_step *s, cuda_pixel_sums *sums, double *col_mean)
{
    sums->sum_h = s->sums[0];
    sums->sum_m = s->sums[1];
    sums->sb_max = s->with_sb ? s->sums[2] : 0.0;
    sums->sb_a = s->with_sb ? s->sums[3] : 0.0;
    sums->sb_b = s->with_sb ? s->sums[4] : 0.0;
    if (s->with_columns && col_mean)
        memcpy(col_mean, s->col, s->sz.n_det * sizeof(double));
    return 0;
}

/* Pass 2 on one block: dA in place of A, and the block's column sums of dA. */
static void pass2_block(cuda_step *s, size_t bl, const cuda_pixel_coefs *c)
{
    int n_det = s->sz.n_det;
    size_t p0 = bl * CPU32_BLOCK_PIX, p1 = p0 + CPU32_BLOCK_PIX < s->n_pix ? p0 + CPU32_BLOCK_PIX : s->n_pix;
    double *colsum = s->blk + bl * n_det;
    const double *col_coef = c->col_coef;
    float *y = thread_scratch(s, 0), *omy = thread_scratch(s, 1), *ln_y = thread_scratch(s, 2),
          *y_gamma = col_coef ? thread_scratch(s, 3) : NULL;
    for (int i = 0; i < n_det; i++)
        colsum[i] = 0.0;
    for (size_t q0 = p0; q0 < p1; q0 += SUB_PIX) {
        size_t q1 = q0 + SUB_PIX < p1 ? q0 + SUB_PIX : p1;
        sigmoid_rows(s->A + q0 * n_det, s->b, q1 - q0, n_det, (float)c->gamma, y, omy, ln_y, y_gamma);
        for (size_t p = q0; p < q1; p++) {
            /* k_pixel_coefs */
            double c_h = c->c_s;
            if (c->w_sb != 0.0 && c->sb_max != 0.0) {
                double r = s->H[p] / c->sb_max;
                c_h += c->w_sb * rsw_power(r, c->nu - 1.0) * ((c->nu + 1.0) * r - c->nu * c->sb_ratio) / c->sb_b;
            }
            double kappa = s->clamped[p] ? 0.0 : 1.0, inv_s = 1.0 / s->scl[p];
            double k1 = -(c_h + c->c_m) * INV_LN2 * inv_s;
            double k0 = (c_h * ((s->lns[p] - 1.0) * INV_LN2 + kappa * (INV_LN2 - s->H[p])) -
                         c->c_m * (INV_LN2 + kappa * s->M[p])) * inv_s;
            size_t row = (p - q0) * n_det;
            pass2_row(s->A + p * n_det, y + row, omy + row, ln_y + row, y_gamma ? y_gamma + row : NULL, k1, k0,
                      col_coef, colsum, n_det);
        }
    }
}

/* dW̃ [n_det × n_dim] = dAᵀ X̃ summed in float32 over groups of `group`
 * pixels, the groups summed in float64; X̃ gathered again chunk by chunk
 * when the forward could not keep it whole. */
static void filter_gradient(cuda_step *s, size_t group)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t nd = (size_t)n_det * n_dim, n_pix = s->n_pix;
    for (size_t k = 0; k < nd; k++)
        s->dW[k] = 0.0;
    for (size_t c0 = 0; c0 < n_pix; c0 += s->gather) {
        size_t cn = n_pix - c0 < s->gather ? n_pix - c0 : s->gather;
        if (cn < n_pix)
            gather_chunk(s, c0, cn);
        for (size_t p0 = c0, n; p0 < c0 + cn; p0 += n) {
            size_t to_group = group - p0 % group;
            n = c0 + cn - p0 < to_group ? c0 + cn - p0 : to_group;
            gradient_sgemm(s->A + p0 * n_det, s->X + (p0 - c0), n, cn, n_det, n_dim, p0 % group != 0, s->part);
            if ((p0 + n) % group == 0 || p0 + n == n_pix)
                for (size_t k = 0; k < nd; k++)
                    s->dW[k] += (double)s->part[k];
        }
    }
}

static int pixel_backward(cuda_step *s, const cuda_pixel_coefs *c)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim;
    size_t nb = n_blocks_of(s->n_pix);
#pragma omp parallel for schedule(static)
    for (size_t bl = 0; bl < nb; bl++)
        pass2_block(s, bl, c);
    sum_blocks(s, nb, -1.0, s->db);
    filter_gradient(s, arith_mode == CPU32_ARITH_DEVICE ? DW_CHUNK_MAX_PIX : s->n_pix);
    if (arith_mode == CPU32_ARITH_RAW) /* raw pixels: dW is dAᵀX already; the host adds −db cᵀ */
        for (int i = 0; i < n_det; i++)
            for (int d = 0; d < n_dim; d++)
                s->dW[(size_t)i * n_dim + d] += s->db[i] * s->center[d];
    return 0;
}

static int pixel_backward_collect(cuda_step *s, double *dW, double *db)
{
    memcpy(dW, s->dW, (size_t)s->sz.n_det * s->sz.n_dim * sizeof(double));
    memcpy(db, s->db, s->sz.n_det * sizeof(double));
    return 0;
}

/* ---- URA on pooled features, float64 (cuda/ura.cu's operations) ---------- */

/* Rows of rhs [nrhs × n_det] solved in place with the host's factor: G x = r
 * (potrs 'L'), or with the LU of Bᵀ (mat_lu_solve's convention). */
static int solve_rows(cuda_step *s, int kind, int transposed, double *rhs, int nrhs)
{
    int n = s->sz.n_det, info;
    if (kind == CUDA_URA_CUR)
        info = LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, transposed ? 'N' : 'T', n, nrhs, s->factor, n, s->ipiv, rhs, n);
    else
        info = LAPACKE_dpotrs_work(LAPACK_COL_MAJOR, 'L', n, nrhs, s->factor, n, rhs, n);
    if (info)
        return fail(EX_SOFTWARE, "cpu float32: %s reported info %d", kind == CUDA_URA_CUR ? "getrs" : "potrs", info);
    return 0;
}

/* H_j in nats of softmax(logits_j). */
static double row_entropy(const double *row, int n_cls)
{
    double mx = -INFINITY, sum = 0.0, weighted = 0.0;
    for (int k = 0; k < n_cls; k++)
        mx = fmax(mx, row[k]);
    for (int k = 0; k < n_cls; k++) {
        double z = row[k] - mx, e = exp(z);
        sum += e;
        weighted += e * z;
    }
    return log(sum) - weighted / sum;
}

/* drow = −f p (ln p + H) */
static void row_entropy_backward(const double *row, int n_cls, double f, double *drow)
{
    double mx = -INFINITY, sum = 0.0, h = 0.0;
    for (int k = 0; k < n_cls; k++)
        mx = fmax(mx, row[k]);
    for (int k = 0; k < n_cls; k++) {
        drow[k] = exp(row[k] - mx);
        sum += drow[k];
    }
    double lse = log(sum);
    for (int k = 0; k < n_cls; k++)
        h -= drow[k] / sum * (row[k] - mx - lse);
    for (int k = 0; k < n_cls; k++)
        drow[k] = -f * (drow[k] / sum) * (row[k] - mx - lse + h);
}

/* y_j = factor · κ_j · x_j row by row [n × cols] (in place allowed) */
static void scale_rows(const double *x, const double *kappa, double factor, int n, int cols, double *y)
{
    for (int j = 0; j < n; j++) {
        double f = factor * kappa[j];
        for (int i = 0; i < cols; i++)
            y[(size_t)j * cols + i] = f * x[(size_t)j * cols + i];
    }
}

/* L^cur through the head's rank. The moved features enter the loss only
 * through the head's logits, m' V_hᵀ + c with V_h [n_cls × n_dim], so with
 * Pt = V_h Sᵀ B⁻¹ [n_cls × n_det] (n_cls solves):
 *   logits = M V_hᵀ + c − diag(κ) R Ptᵀ         (dx = R B⁻ᵀ S never formed)
 * and with dLk = diag(κ) ∂L/∂logits, E = dLkᵀ R, F = dLkᵀ M:
 *   dW = −Ptᵀ (F − E B⁻ᵀ S),  dS = −(E B⁻ᵀ)ᵀ (V_h − Pt W),  db = Ptᵀ dLkᵀ 1.
 * The same float64 maths as cuda/ura.cu, reassociated: the products over
 * the batch are n_cls wide instead of n_det or n_dim (at Broden scale,
 * 10 against 500: the URA step falls from 6.6e9 multiply-adds to 1.1e9, R
 * itself). Taken where the head is narrow (2·n_cls ≤ n_det). */
static int cur_low_rank(const cuda_step *s) { return 2 * s->sz.n_cls <= s->sz.n_det; }

static int cur_low_rank_forward(cuda_step *s)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim, n_cls = s->sz.n_cls, n_img = (int)s->n_img;
    mat_gemm(0, 1, n_cls, n_det, n_dim, 1.0, s->head_w, s->uS, 0.0, s->Pt);
    if (solve_rows(s, CUDA_URA_CUR, 1, s->Pt, n_cls))
        return fail_code;
    for (int j = 0; j < n_img; j++)
        memcpy(s->logits + (size_t)j * n_cls, s->head_b, n_cls * sizeof(double));
    mat_gemm(0, 1, n_img, n_cls, n_dim, 1.0, s->pooled, s->head_w, 1.0, s->logits);
    mat_gemm(0, 1, n_img, n_cls, n_det, 1.0, s->R, s->Pt, 0.0, s->RP);
    for (int j = 0; j < n_img; j++)
        for (int k = 0; k < n_cls; k++)
            s->logits[(size_t)j * n_cls + k] -= s->kappa[j] * s->RP[(size_t)j * n_cls + k];
    return 0;
}

static int cur_low_rank_backward(cuda_step *s)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim, n_cls = s->sz.n_cls, n_img = (int)s->n_img;
    scale_rows(s->dlogits, s->kappa, 1.0, n_img, n_cls, s->dLk);
    mat_gemm(1, 0, n_cls, n_det, n_img, 1.0, s->dLk, s->R, 0.0, s->E);
    mat_gemm(1, 0, n_cls, n_dim, n_img, 1.0, s->dLk, s->pooled, 0.0, s->F);
    for (int k = 0; k < n_cls; k++)
        s->w[k] = 0.0;
    for (int j = 0; j < n_img; j++)
        for (int k = 0; k < n_cls; k++)
            s->w[k] += s->dLk[(size_t)j * n_cls + k];
    /* E ← E B⁻ᵀ; F ← F − E S; dW = −Ptᵀ F */
    if (solve_rows(s, CUDA_URA_CUR, 0, s->E, n_cls))
        return fail_code;
    mat_gemm(0, 0, n_cls, n_dim, n_det, -1.0, s->E, s->uS, 1.0, s->F);
    mat_gemm(1, 0, n_det, n_dim, n_cls, -1.0, s->Pt, s->F, 0.0, s->gW);
    /* J = V_h − Pt W; dS = −Eᵀ J */
    memcpy(s->J, s->head_w, (size_t)n_cls * n_dim * sizeof(double));
    mat_gemm(0, 0, n_cls, n_dim, n_det, -1.0, s->Pt, s->uW, 1.0, s->J);
    mat_gemm(1, 0, n_det, n_dim, n_cls, -1.0, s->E, s->J, 0.0, s->gS);
    /* db = Ptᵀ w */
    for (int i = 0; i < n_det; i++) {
        double v = 0.0;
        for (int k = 0; k < n_cls; k++)
            v += s->Pt[(size_t)k * n_det + i] * s->w[k];
        s->gb[i] = v;
    }
    return 0;
}

static int ura_forward(cuda_step *s, int kind, const double *W, const double *b, const double *S,
                       const double *factor, const int *ipiv, double *value)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim, n_cls = s->sz.n_cls, n_img = (int)s->n_img;
    size_t nd = (size_t)n_det * n_dim;
    s->ura_kind = 0;
    if (kind != s->sz.ura_kind || (kind == CUDA_URA_STD && !s->scale))
        return fail(EX_SOFTWARE, "cpu float32: URA of kind %d on a step made for kind %d", kind, s->sz.ura_kind);
    memcpy(s->uW, W, nd * sizeof(double));
    memcpy(s->ub, b, n_det * sizeof(double));
    memcpy(s->factor, factor, (size_t)n_det * n_det * sizeof(double));
    if (kind == CUDA_URA_CUR) {
        memcpy(s->uS, S, nd * sizeof(double));
        memcpy(s->ipiv, ipiv, n_det * sizeof(int));
    }
    const double *xs = s->pooled;
    if (kind == CUDA_URA_STD) {
        for (int j = 0; j < n_img; j++)
            for (int d = 0; d < n_dim; d++)
                s->xs[(size_t)j * n_dim + d] = (s->pooled[(size_t)j * n_dim + d] - s->center[d]) / s->scale[d];
        xs = s->xs;
    }
    /* R = xs Wᵀ − b */
    mat_gemm(0, 1, n_img, n_det, n_dim, 1.0, xs, s->uW, 0.0, s->R);
    for (int j = 0; j < n_img; j++)
        for (int i = 0; i < n_det; i++)
            s->R[(size_t)j * n_det + i] -= s->ub[i];
    int low = kind == CUDA_URA_CUR && cur_low_rank(s);
    if (low) {
        if (cur_low_rank_forward(s))
            return fail_code;
    } else if (kind == CUDA_URA_CUR) {
        /* U = R B⁻ᵀ is never formed: dx = U S = R Qtᵀ with Qt = Sᵀ B⁻¹
         * (n_dim solves instead of n_img; ura_backward uses Qt too). The
         * same float64 maths as cuda/ura.cu, reassociated. */
        for (int d = 0; d < n_dim; d++)
            for (int i = 0; i < n_det; i++)
                s->Qt[(size_t)d * n_det + i] = s->uS[(size_t)i * n_dim + d];
        if (solve_rows(s, kind, 1, s->Qt, n_dim))
            return fail_code;
        mat_gemm(0, 1, n_img, n_dim, n_det, 1.0, s->R, s->Qt, 0.0, s->dx);
    } else {
        /* U = G⁻¹R row by row (in place), dx = U W */
        if (solve_rows(s, kind, 0, s->R, n_img))
            return fail_code;
        mat_gemm(0, 0, n_img, n_dim, n_det, 1.0, s->R, s->uW, 0.0, s->dx);
    }
    if (!low) {
        /* m' = m − κ (σ) dx */
        for (int j = 0; j < n_img; j++)
            for (int d = 0; d < n_dim; d++) {
                size_t k = (size_t)j * n_dim + d;
                s->mp[k] = s->pooled[k] - s->kappa[j] * (kind == CUDA_URA_STD ? s->scale[d] : 1.0) * s->dx[k];
            }
        /* head logits = m' Vᵀ + c */
        for (int j = 0; j < n_img; j++)
            memcpy(s->logits + (size_t)j * n_cls, s->head_b, n_cls * sizeof(double));
        mat_gemm(0, 1, n_img, n_cls, n_dim, 1.0, s->mp, s->head_w, 1.0, s->logits);
    }
    /* L = −mean H (bits) */
    double sum = 0.0;
    for (int j = 0; j < n_img; j++)
        sum += row_entropy(s->logits + (size_t)j * n_cls, n_cls);
    *value = -sum / (n_img * LN2);
    s->ura_kind = kind;
    return 0;
}

static int ura_backward(cuda_step *s, double scale, double jitter_extra, double *dW, double *db, double *dS)
{
    int n_det = s->sz.n_det, n_dim = s->sz.n_dim, n_cls = s->sz.n_cls, n_img = (int)s->n_img, kind = s->ura_kind;
    size_t nd = (size_t)n_det * n_dim, id = (size_t)n_img * n_dim;
    if (!kind)
        return fail(EX_SOFTWARE, "cpu float32: URA backward without a matching forward");
    /* ∂(scale·L)/∂logits */
    for (int j = 0; j < n_img; j++)
        row_entropy_backward(s->logits + (size_t)j * n_cls, n_cls, -scale / (n_img * LN2),
                             s->dlogits + (size_t)j * n_cls);
    if (kind == CUDA_URA_CUR && cur_low_rank(s)) {
        if (cur_low_rank_backward(s))
            return fail_code;
        memcpy(dW, s->gW, nd * sizeof(double));
        memcpy(db, s->gb, n_det * sizeof(double));
        if (dS)
            memcpy(dS, s->gS, nd * sizeof(double));
        return 0;
    }
    /* gm = ∂(scale·L)/∂m' = dlogits V */
    mat_gemm(0, 0, n_img, n_dim, n_cls, 1.0, s->dlogits, s->head_w, 0.0, s->gm);
    const double *xs = s->pooled;
    if (kind == CUDA_URA_STD) {
        for (int j = 0; j < n_img; j++)
            for (int d = 0; d < n_dim; d++)
                s->gm[(size_t)j * n_dim + d] *= s->scale[d];
        xs = s->xs;
    }
    const double *U = s->R; /* cur: R, U = R B⁻ᵀ */
    if (kind == CUDA_URA_CUR) {
        /* V = −diag(κ) Gm Sᵀ B⁻¹ = −diag(κ) Gm Qt */
        mat_gemm(0, 0, n_img, n_det, n_dim, 1.0, s->gm, s->Qt, 0.0, s->V);
        scale_rows(s->V, s->kappa, -1.0, n_img, n_det, s->V);
        /* dW = Vᵀ (M − DX) */
        for (size_t k = 0; k < id; k++)
            s->scratch[k] = s->pooled[k] - s->dx[k];
        mat_gemm(1, 0, n_det, n_dim, n_img, 1.0, s->V, s->scratch, 0.0, s->gW);
        /* dS = −Uᵀ (diag(κ) Gm + V W) */
        mat_gemm(0, 0, n_img, n_dim, n_det, 1.0, s->V, s->uW, 0.0, s->scratch);
        for (int j = 0; j < n_img; j++)
            for (int d = 0; d < n_dim; d++)
                s->scratch[(size_t)j * n_dim + d] += s->kappa[j] * s->gm[(size_t)j * n_dim + d];
        /* = −B⁻¹ (Rᵀ scratch): rows of Tt = scratchᵀ R solved, transposed */
        mat_gemm(1, 0, n_dim, n_det, n_img, 1.0, s->scratch, U, 0.0, s->Tt);
        if (solve_rows(s, kind, 0, s->Tt, n_dim))
            return fail_code;
        for (int i = 0; i < n_det; i++)
            for (int d = 0; d < n_dim; d++)
                s->gS[(size_t)i * n_dim + d] = -s->Tt[(size_t)d * n_det + i];
    } else {
        /* V = −diag(κ) Gx Wᵀ G⁻¹ */
        mat_gemm(0, 1, n_img, n_det, n_dim, 1.0, s->gm, s->uW, 0.0, s->V);
        scale_rows(s->V, s->kappa, -1.0, n_img, n_det, s->V);
        if (solve_rows(s, kind, 0, s->V, n_img))
            return fail_code;
        /* dW = −(κ⊙U)ᵀ Gx + Vᵀ X */
        scale_rows(U, s->kappa, 1.0, n_img, n_det, s->ku);
        mat_gemm(1, 0, n_det, n_dim, n_img, -1.0, s->ku, s->gm, 0.0, s->gW);
        mat_gemm(1, 0, n_det, n_dim, n_img, 1.0, s->V, xs, 1.0, s->gW);
        /* dW −= (Vᵀ U + Uᵀ V [+ jitter term]) W */
        mat_gemm(1, 0, n_det, n_det, n_img, 1.0, s->V, U, 0.0, s->csym);
        mat_gemm(1, 0, n_det, n_det, n_img, 1.0, U, s->V, 1.0, s->csym);
        if (jitter_extra != 0.0) {
            double t = 0.0;
            for (int i = 0; i < n_det; i++)
                t += s->csym[(size_t)i * n_det + i];
            for (int i = 0; i < n_det; i++)
                s->csym[(size_t)i * n_det + i] += jitter_extra * 0.5 * t;
        }
        mat_gemm(0, 0, n_det, n_dim, n_det, -1.0, s->csym, s->uW, 1.0, s->gW);
    }
    /* db = −Σ_img v, each column in image order */
    for (int i = 0; i < n_det; i++)
        s->gb[i] = 0.0;
    for (int j = 0; j < n_img; j++)
        for (int i = 0; i < n_det; i++)
            s->gb[i] -= s->V[(size_t)j * n_det + i];
    memcpy(dW, s->gW, nd * sizeof(double));
    memcpy(db, s->gb, n_det * sizeof(double));
    if (kind == CUDA_URA_CUR && dS)
        memcpy(dS, s->gS, nd * sizeof(double));
    return 0;
}

/* ---- the rest of the table ------------------------------------------------ */

static int device_query(int index, char *name, size_t name_len)
{
    if (index != 0)
        return fail(EX_UNAVAILABLE, "cpu float32 has one device, not %d", index);
    snprintf(name, name_len, "cpu float32");
    return 0;
}

static int memory_info(int index, size_t *free_bytes, size_t *total_bytes)
{
    (void)index;
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    *total_bytes = pages > 0 && size > 0 ? (size_t)pages * size : 0;
    *free_bytes = avail > 0 && size > 0 ? (size_t)avail * size : 0;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The two SGEMMs of one step alone (A = X Wᵀ, dW = dAᵀ X in chunks, X
 * channel-major, as the step forms them), median over reps. */
static int gemm_reference(int index, size_t n_pix, int n_det, int n_dim, int reps, double *seconds)
{
    (void)index;
    size_t nd = (size_t)n_det * n_dim;
    float *X = malloc(n_pix * n_dim * sizeof(float)), *W = malloc(nd * sizeof(float)),
          *A = malloc(n_pix * n_det * sizeof(float)), *part = malloc(nd * sizeof(float));
    double *t = malloc((reps > 0 ? reps : 1) * sizeof(double));
    if (!X || !W || !A || !part || !t) {
        free(X); free(W); free(A); free(part); free(t);
        return fail(EX_OSERR, "cpu float32: out of memory for the SGEMM reference");
    }
    for (size_t k = 0; k < n_pix * n_dim; k++)
        X[k] = (float)((k * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t k = 0; k < nd; k++)
        W[k] = (float)((k * 40503u) % 1000) * 1e-3f - 0.5f;
    /* Touched before the clock starts: the step reuses its buffers, so the
     * first touch's page faults (0.4 GB of logits at Broden scale) are no
     * part of what the reference stands for. */
    memset(A, 0, n_pix * n_det * sizeof(float));
    memset(part, 0, nd * sizeof(float));
    /* The step's calls with the batch gathered whole (no --memory budget). */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        logits_sgemm(X, n_pix, n_pix, W, n_det, n_dim, A);
        for (size_t p0 = 0; p0 < n_pix; p0 += DW_CHUNK_MAX_PIX) {
            size_t n = n_pix - p0 < DW_CHUNK_MAX_PIX ? n_pix - p0 : DW_CHUNK_MAX_PIX;
            gradient_sgemm(A + p0 * n_det, X + p0, n, n_pix, n_det, n_dim, 0, part);
        }
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp_double);
    *seconds = reps > 0 ? t[reps / 2] : 0.0;
    free(X); free(W); free(A); free(part); free(t);
    return 0;
}

static const cuda_backend_ops table = {
    CUDA_BACKEND_ABI, sizeof(cuda_backend_ops), "cpu float32", device_query, memory_info, step_create,
    step_free, step_resident, step_bytes, load_batch, pixel_forward, pixel_forward_collect,
    pixel_backward, pixel_backward_collect, ura_forward, ura_backward, gemm_reference,
    cpu32_error_code, cpu32_error_message, cpu32_error_clear,
};

const cuda_backend_ops *cpu32_backend(void) { return &table; }
