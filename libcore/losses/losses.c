/* losses — UIBE/CBE/EDDP loss terms; see losses.h and method-spec §5.
 *
 * Two implementations of the pixel losses live here on purpose:
 *   - the separate functions (loss_sparsity_*, ...) are the reference: they
 *     follow the formulas of §5 literally (q = exp(ln y − ln S̃),
 *     ∂H/∂y = −(log₂ q + H)/S, y = exp(−softplus(−a)));
 *   - the fused passes (loss_pixel_*) are the hot path: pass 1 takes one
 *     exp, one log1p and one division per element (plus exp(γ ln y) where
 *     the column terms need it) and caches y, 1 − y, ln y (and y^γ) per
 *     element; pass 2 reads them back, so it does no exp or log at all, the
 *     per-pixel algebra folded into two constants per pixel. The unit test
 *     checks one against the other.
 */
#include "losses.h"
#include "mat.h"
#include "rsw_power.h"
#include "vecmath.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INV_LN2 1.4426950408889634073599246810019 /* 1/ln 2 */

/* ---- deterministic pixel chunks -------------------------------------------
 * Sums over pixels are formed per chunk and combined in chunk order. The
 * chunking depends on n_pix only, never on the thread count. */
#define CHUNKS_MAX 256
#define CHUNK_MIN_PIX 32

/* Pixel loops go parallel from this many logits (n_pix · n_det) on: below
 * it an OpenMP fork/join costs more than the work. Whether a loop runs in
 * parallel never changes its result (sums go by chunks or columns). */

#define LOSS_PARALLEL_MIN 32768
#define LOSS_PARALLEL(n_pix, n_det) ((n_pix) * (n_det) >= LOSS_PARALLEL_MIN)

static size_t chunk_count(size_t n_pix)
{
    size_t c = n_pix / CHUNK_MIN_PIX;
    if (c < 1)
        c = 1;
    return c > CHUNKS_MAX ? CHUNKS_MAX : c;
}

static size_t chunk_start(size_t c, size_t n_chunks, size_t n)
{
    return c * n / n_chunks;
}

/* ---- reference sigmoid pieces (method-spec §5 stable forms) --------------- */
static inline double softplus(double x)
{
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

typedef struct {
    double y, one_minus_y, ln_y;
} sigmoid_ref;

static inline sigmoid_ref sigmoid_ref_of(double a)
{
    sigmoid_ref s;
    s.ln_y = -softplus(-a);
    s.y = exp(s.ln_y);
    s.one_minus_y = exp(-softplus(a));
    return s;
}

/* ---- R_SW core --------------------------------------------------------------
 * Works on mapped values v_k = gain·max(x_k − shift, 0) (hinge, for L^eac's
 * per-detector terms) or v_k = x_k (plain), so L^eac needs no buffer for its
 * L_i. Sums are taken over r_k = v_k / max v (R is 1-homogeneous). */
typedef struct {
    int hinge;
    double shift, gain;
    int below; /* hinge below the shift: v = gain·max(shift − x, 0) (L^ic per detector) */
} rsw_map;

typedef struct {
    double max;     /* m = max_k v_k */
    double r_ratio; /* R/m = Σ r^{ν+1} / Σ r^ν */
    double b_sum;   /* Σ r^ν */
} rsw_stats;

static const rsw_map RSW_PLAIN = {0, 0.0, 1.0, 0};

static inline double rsw_map_value(rsw_map mp, double x)
{
    if (!mp.hinge)
        return x;
    if (mp.below)
        return x < mp.shift ? mp.gain * (mp.shift - x) : 0.0;
    return x > mp.shift ? mp.gain * (x - mp.shift) : 0.0;
}


/* The plain map with ν = 4 (L^sb over a batch's pixels, the default ν):
 * branch-free loops the compiler vectorises. Same sums as the general path
 * up to their order (0⁴ = 0 needs no guard). */
static rsw_stats rsw_compute_plain4(const double *x, size_t n)
{
    rsw_stats st = {0.0, 0.0, 0.0};
    double mx = 0.0;
#pragma omp simd reduction(max : mx)
    for (size_t k = 0; k < n; k++)
        mx = x[k] > mx ? x[k] : mx;
    st.max = mx;
    if (mx == 0.0)
        return st;
    double inv_max = 1.0 / mx, a_sum = 0.0, b_sum = 0.0;
#pragma omp simd reduction(+ : a_sum, b_sum)
    for (size_t k = 0; k < n; k++) {
        double r = x[k] > 0.0 ? x[k] * inv_max : 0.0, r2 = r * r, r4 = r2 * r2;
        a_sum += r4 * r;
        b_sum += r4;
    }
    st.b_sum = b_sum;
    st.r_ratio = a_sum / b_sum;
    return st;
}

static rsw_stats rsw_compute(const double *x, size_t n, rsw_map mp, double nu)
{
    if (!mp.hinge && nu == 4.0)
        return rsw_compute_plain4(x, n);
    rsw_stats st = {0.0, 0.0, 0.0};
    for (size_t k = 0; k < n; k++) {
        double v = rsw_map_value(mp, x[k]);
        if (v > st.max)
            st.max = v;
    }
    if (st.max == 0.0)
        return st;
    double inv_max = 1.0 / st.max, a_sum = 0.0;
    for (size_t k = 0; k < n; k++) {
        double r = rsw_map_value(mp, x[k]) * inv_max;
        if (r > 0.0) {
            double rn = rsw_power(r, nu);
            a_sum += rn * r;
            st.b_sum += rn;
        }
    }
    st.r_ratio = a_sum / st.b_sum;
    return st;
}

static inline double rsw_value_of(rsw_stats st)
{
    return st.max * st.r_ratio;
}

/* ∂R/∂x for one element: r^{ν−1}((ν+1)r − ν R/m) / Σr^ν, times the map's
 * slope. 0-homogeneous, so no factor of m. */
static inline double rsw_grad_of(rsw_stats st, rsw_map mp, double nu, double x)
{
    if (st.max == 0.0)
        return 0.0;
    double slope = 1.0;
    if (mp.hinge) {
        if (mp.below ? !(x < mp.shift) : !(x > mp.shift))
            return 0.0;
        slope = mp.below ? -mp.gain : mp.gain;
    }
    double r = rsw_map_value(mp, x) / st.max;
    return slope * rsw_power(r, nu - 1.0) * ((nu + 1.0) * r - nu * st.r_ratio) /
           st.b_sum;
}

double loss_rsw_forward(const double *L, size_t n, double nu)
{
    return rsw_value_of(rsw_compute(L, n, RSW_PLAIN, nu));
}

void loss_rsw_backward(const double *L, size_t n, double nu, double scale,
                       double *dL)
{
    rsw_stats st = rsw_compute(L, n, RSW_PLAIN, nu);
    if (st.max == 0.0)
        return;
    for (size_t k = 0; k < n; k++)
        dL[k] += scale * rsw_grad_of(st, RSW_PLAIN, nu, L[k]);
}

/* ---- per-pixel statistics (reference) ------------------------------------- */
typedef struct {
    double s_clamped;  /* S̃ = max(S, LOSS_S_MIN) */
    double ln_s;       /* ln S̃ */
    int clamped;       /* S < LOSS_S_MIN: S̃ is a constant */
    double entropy;    /* H(q) in bits */
    double max_act;    /* −Σ q log₂ y */
} pixel_ref;

static pixel_ref pixel_ref_of(const double *a, size_t n_det)
{
    pixel_ref px;
    double s = 0.0;
    for (size_t i = 0; i < n_det; i++)
        s += exp(-softplus(-a[i]));
    px.clamped = s < LOSS_S_MIN;
    px.s_clamped = px.clamped ? LOSS_S_MIN : s;
    px.ln_s = log(px.s_clamped);
    double h = 0.0, m = 0.0;
    for (size_t i = 0; i < n_det; i++) {
        double ln_y = -softplus(-a[i]);
        double ln_q = ln_y - px.ln_s;
        double q = exp(ln_q);
        h -= q * ln_q;
        m -= q * ln_y;
    }
    px.entropy = h * INV_LN2;
    px.max_act = m * INV_LN2;
    return px;
}

/* da += coef · ∂H(q)/∂a for one pixel:
 *   unclamped: ∂H/∂y_i = −(log₂ q_i + H)/S          (method-spec §5)
 *   clamped:   ∂H/∂y_i = −(log₂ q_i + 1/ln 2)/S̃   (S̃ constant) */
static void entropy_row_backward(const double *a, size_t n_det, double coef,
                                 double *da)
{
    pixel_ref px = pixel_ref_of(a, n_det);
    double shift = px.clamped ? INV_LN2 : px.entropy;
    for (size_t i = 0; i < n_det; i++) {
        sigmoid_ref sg = sigmoid_ref_of(a[i]);
        double log2_q = (sg.ln_y - px.ln_s) * INV_LN2;
        double dh_dy = -(log2_q + shift) / px.s_clamped;
        da[i] += coef * dh_dy * sg.y * sg.one_minus_y;
    }
}

/* da += coef · ∂ℓ/∂a for one pixel, ℓ = −Σ q log₂ y:
 *   unclamped: ∂ℓ/∂y_i = −q_i/(y_i ln 2) − (log₂ y_i − Σ_j q_j log₂ y_j)/S,
 *              with q_i/y_i = 1/S (no division by a tiny y);
 *   clamped:   ∂ℓ/∂y_i = −(1/ln 2 + log₂ y_i)/S̃. */
static void max_act_row_backward(const double *a, size_t n_det, double coef,
                                 double *da)
{
    pixel_ref px = pixel_ref_of(a, n_det);
    double mean_log2_y = px.clamped ? 0.0 : -px.max_act;
    for (size_t i = 0; i < n_det; i++) {
        sigmoid_ref sg = sigmoid_ref_of(a[i]);
        double log2_y = sg.ln_y * INV_LN2;
        double dl_dy = -INV_LN2 / px.s_clamped -
                       (log2_y - mean_log2_y) / px.s_clamped;
        da[i] += coef * dl_dy * sg.y * sg.one_minus_y;
    }
}

/* ---- L^s, L^sb, L^ma (reference) ------------------------------------------ */
enum pixel_quantity { PIXEL_ENTROPY, PIXEL_MAX_ACT };

/* Mean over pixels of a per-pixel quantity; the entropies go to H if given. */
static double pixel_mean(const double *A, size_t n_pix, size_t n_det,
                         enum pixel_quantity what, double *H)
{
    double part[CHUNKS_MAX];
    size_t n_chunks = chunk_count(n_pix);
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t c = 0; c < n_chunks; c++) {
        size_t hi = chunk_start(c + 1, n_chunks, n_pix);
        double sum = 0.0;
        for (size_t p = chunk_start(c, n_chunks, n_pix); p < hi; p++) {
            pixel_ref px = pixel_ref_of(A + p * n_det, n_det);
            if (H)
                H[p] = px.entropy;
            sum += what == PIXEL_ENTROPY ? px.entropy : px.max_act;
        }
        part[c] = sum;
    }
    double total = 0.0;
    for (size_t c = 0; c < n_chunks; c++)
        total += part[c];
    return total / (double)n_pix;
}

double loss_sparsity_forward(const double *A, size_t n_pix, size_t n_det,
                             double *H)
{
    return pixel_mean(A, n_pix, n_det, PIXEL_ENTROPY, H);
}

void loss_sparsity_backward(const double *A, size_t n_pix, size_t n_det,
                            double scale, double *dA)
{
    double coef = scale / (double)n_pix;
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t p = 0; p < n_pix; p++)
        entropy_row_backward(A + p * n_det, n_det, coef, dA + p * n_det);
}

double loss_sparsity_batch_forward(const double *A, size_t n_pix,
                                   size_t n_det, double nu, double *H)
{
    pixel_mean(A, n_pix, n_det, PIXEL_ENTROPY, H);
    return loss_rsw_forward(H, n_pix, nu);
}

void loss_sparsity_batch_backward(const double *A, size_t n_pix, size_t n_det,
                                  double nu, const double *H, double scale,
                                  double *dA)
{
    rsw_stats st = rsw_compute(H, n_pix, RSW_PLAIN, nu);
    if (st.max == 0.0)
        return;
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t p = 0; p < n_pix; p++) {
        double coef = scale * rsw_grad_of(st, RSW_PLAIN, nu, H[p]);
        entropy_row_backward(A + p * n_det, n_det, coef, dA + p * n_det);
    }
}

double loss_max_activation_forward(const double *A, size_t n_pix,
                                   size_t n_det)
{
    return pixel_mean(A, n_pix, n_det, PIXEL_MAX_ACT, NULL);
}

void loss_max_activation_backward(const double *A, size_t n_pix, size_t n_det,
                                  double scale, double *dA)
{
    double coef = scale / (double)n_pix;
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t p = 0; p < n_pix; p++)
        max_act_row_backward(A + p * n_det, n_det, coef, dA + p * n_det);
}

/* ---- column terms: g_i = mean_p y^γ, L^ic, L^eac ---------------------------
 * The reference runs over blocks of columns, one thread per block, each
 * column summed in pixel order: deterministic and buffer-free. */
#define COL_BLOCK 8

void loss_power_mean(const double *A, size_t n_pix, size_t n_det,
                     double gamma, double *g)
{
    size_t n_blocks = (n_det + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t blk = 0; blk < n_blocks; blk++) {
        size_t i0 = blk * COL_BLOCK;
        size_t i1 = i0 + COL_BLOCK < n_det ? i0 + COL_BLOCK : n_det;
        double acc[COL_BLOCK] = {0};
        for (size_t p = 0; p < n_pix; p++)
            for (size_t i = i0; i < i1; i++)
                acc[i - i0] += exp(-gamma * softplus(-A[p * n_det + i]));
        for (size_t i = i0; i < i1; i++)
            g[i] = acc[i - i0] / (double)n_pix;
    }
}

/* L^ic's floor ν_ic = τ/n_det, the share every detector should claim. */
static inline double inactive_floor(size_t n_det, double tau)
{
    return tau / (double)n_det;
}

/* The τ the mean and per-detector reductions use: --coverage reward puts
 * the floor at the whole set (ν_ic = 1), so the deficit 1 − g_i never
 * vanishes and L^ic = 1 − mean_i g_i rewards coverage (g_i < 1 always). */
static inline double coverage_tau(const loss_pixel_config *cfg, size_t n_det)
{
    return cfg->coverage == LOSS_COVERAGE_REWARD ? (double)n_det : cfg->tau;
}

/* The per-detector deficits ReLU(ν_ic − g_i)/ν_ic as an R_SW map of g. */
static inline rsw_map inactive_map(size_t n_det, double tau)
{
    double nu_ic = inactive_floor(n_det, tau);
    rsw_map mp = {1, nu_ic, 1.0 / nu_ic, 1};
    return mp;
}

/* Floors per detector (--coverage soft): mean_i ReLU(ν_i − g_i)/ν_i. */
static double inactive_of_floors(const double *g, size_t n_det, const double *floor)
{
    double sum = 0.0;
    for (size_t i = 0; i < n_det; i++)
        if (floor[i] > 0.0 && g[i] < floor[i])
            sum += (floor[i] - g[i]) / floor[i];
    return sum / (double)n_det;
}

static inline double inactive_grad_of_floor(double g, size_t n_det, double floor)
{
    return floor > 0.0 && g < floor ? -1.0 / ((double)n_det * floor) : 0.0;
}

/* L^ic from the column means: the mean of the deficits (Eq. 13), or their
 * R_SW soft maximum (per detector: every detector must meet the floor), or
 * the mean over floors per detector (soft; NAN without them). */
static double inactive_of_means(const double *g, size_t n_det, const loss_pixel_config *cfg, const double *floor)
{
    if (cfg->coverage == LOSS_COVERAGE_UNION)
        return NAN; /* not a function of the column means */
    if (cfg->coverage == LOSS_COVERAGE_SOFT)
        return floor ? inactive_of_floors(g, n_det, floor) : NAN;
    rsw_map mp = inactive_map(n_det, coverage_tau(cfg, n_det));
    if (cfg->coverage == LOSS_COVERAGE_PER_DETECTOR)
        return rsw_value_of(rsw_compute(g, n_det, mp, cfg->nu));
    double sum = 0.0;
    for (size_t i = 0; i < n_det; i++)
        sum += rsw_map_value(mp, g[i]);
    return sum / (double)n_det;
}

/* ∂L^ic/∂g_i (mean): −1/τ where the gate is on. */
static inline double inactive_grad_of_mean(double g, size_t n_det, double tau)
{
    return g < inactive_floor(n_det, tau) ? -1.0 / tau : 0.0;
}

/* ∂L^ic/∂g_i for every reduction; st: the R_SW statistics of the deficits
 * (per detector only); floor_i: detector i's floor (soft only). */
static inline double inactive_grad_of(const loss_pixel_config *cfg, size_t n_det, rsw_stats st, double g,
                                      double floor_i)
{
    if (cfg->coverage == LOSS_COVERAGE_SOFT)
        return inactive_grad_of_floor(g, n_det, floor_i);
    if (cfg->coverage == LOSS_COVERAGE_PER_DETECTOR)
        return rsw_grad_of(st, inactive_map(n_det, cfg->tau), cfg->nu, g);
    return inactive_grad_of_mean(g, n_det, coverage_tau(cfg, n_det));
}

static inline rsw_stats inactive_stats(const double *g, size_t n_det, const loss_pixel_config *cfg)
{
    rsw_stats st = {0.0, 0.0, 0.0};
    if (cfg->coverage == LOSS_COVERAGE_PER_DETECTOR)
        st = rsw_compute(g, n_det, inactive_map(n_det, cfg->tau), cfg->nu);
    return st;
}

static inline rsw_map excessive_map(double rho)
{
    rsw_map mp = {1, rho, 1.0 / (1.0 - rho), 0};
    return mp;
}

static double excessive_of_means(const double *g, size_t n_det, double rho,
                                 double nu)
{
    return rsw_value_of(rsw_compute(g, n_det, excessive_map(rho), nu));
}

/* What multiplies ∂g_i/∂a in a column backward. */
typedef struct {
    enum { COLUMN_INACTIVE, COLUMN_FLOORS, COLUMN_RSW } kind;
    const double *g;
    size_t n_det;
    double tau;      /* inactive (mean) */
    const double *floor; /* inactive with floors per detector */
    rsw_map map;     /* R_SW: excessive, or inactive per detector */
    rsw_stats stats; /* R_SW */
    double nu;       /* R_SW */
} column_coef;

static double column_coef_of(const column_coef *cc, size_t i)
{
    if (cc->kind == COLUMN_INACTIVE)
        return inactive_grad_of_mean(cc->g[i], cc->n_det, cc->tau);
    if (cc->kind == COLUMN_FLOORS)
        return inactive_grad_of_floor(cc->g[i], cc->n_det, cc->floor[i]);
    return rsw_grad_of(cc->stats, cc->map, cc->nu, cc->g[i]);
}

/* dA[p,i] += scale · dL/dg_i · γ y^γ (1−y) / N  (∂g_i/∂a_{p,i}, §5). */
static void column_backward(const double *A, size_t n_pix, size_t n_det,
                            double gamma, const column_coef *cc, double scale,
                            double *dA)
{
    size_t n_blocks = (n_det + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t blk = 0; blk < n_blocks; blk++) {
        size_t i0 = blk * COL_BLOCK;
        size_t i1 = i0 + COL_BLOCK < n_det ? i0 + COL_BLOCK : n_det;
        double coef[COL_BLOCK];
        for (size_t i = i0; i < i1; i++)
            coef[i - i0] = scale * column_coef_of(cc, i) * gamma /
                           (double)n_pix;
        for (size_t p = 0; p < n_pix; p++)
            for (size_t i = i0; i < i1; i++) {
                if (coef[i - i0] == 0.0)
                    continue;
                sigmoid_ref sg = sigmoid_ref_of(A[p * n_det + i]);
                dA[p * n_det + i] += coef[i - i0] *
                                     exp(gamma * sg.ln_y) * sg.one_minus_y;
            }
    }
}

double loss_inactive_forward(const double *A, size_t n_pix, size_t n_det,
                             double tau, double gamma, double *g)
{
    loss_power_mean(A, n_pix, n_det, gamma, g);
    loss_pixel_config cfg = {.gamma = gamma, .tau = tau, .nu = 4.0, .coverage = LOSS_COVERAGE_MEAN};
    return inactive_of_means(g, n_det, &cfg, NULL);
}

void loss_inactive_backward(const double *A, size_t n_pix, size_t n_det,
                            double tau, double gamma, const double *g,
                            double scale, double *dA)
{
    column_coef cc = {.kind = COLUMN_INACTIVE, .g = g, .n_det = n_det,
                      .tau = tau};
    column_backward(A, n_pix, n_det, gamma, &cc, scale, dA);
}

double loss_inactive_floors_forward(const double *A, size_t n_pix, size_t n_det, const double *floor, double gamma,
                                    double *g)
{
    loss_power_mean(A, n_pix, n_det, gamma, g);
    return inactive_of_floors(g, n_det, floor);
}

void loss_inactive_floors_backward(const double *A, size_t n_pix, size_t n_det, const double *floor, double gamma,
                                   const double *g, double scale, double *dA)
{
    column_coef cc = {.kind = COLUMN_FLOORS, .g = g, .n_det = n_det, .floor = floor};
    column_backward(A, n_pix, n_det, gamma, &cc, scale, dA);
}

/* Pixel by pixel, one column sum at a time in pixel order (deterministic). */
void loss_soft_share(const double *A, size_t n_pix, size_t n_det, double *share)
{
    memset(share, 0, n_det * sizeof(double));
    for (size_t p = 0; p < n_pix; p++) {
        double s = 0.0;
        for (size_t i = 0; i < n_det; i++)
            s += exp(-softplus(-A[p * n_det + i]));
        double inv = 1.0 / (s < LOSS_S_MIN ? LOSS_S_MIN : s);
        for (size_t i = 0; i < n_det; i++)
            share[i] += exp(-softplus(-A[p * n_det + i])) * inv;
    }
    for (size_t i = 0; i < n_det; i++)
        share[i] /= (double)n_pix;
}

/* R_SW over detectors of a mapped column statistic; nothing when all are 0. */
static void column_rsw_backward(const double *A, size_t n_pix, size_t n_det, double gamma, const double *g,
                                rsw_map mp, double nu, double scale, double *dA)
{
    column_coef cc = {.kind = COLUMN_RSW, .g = g, .n_det = n_det, .map = mp, .nu = nu};
    cc.stats = rsw_compute(g, n_det, mp, nu);
    if (cc.stats.max == 0.0)
        return;
    column_backward(A, n_pix, n_det, gamma, &cc, scale, dA);
}

double loss_inactive_per_detector_forward(const double *A, size_t n_pix, size_t n_det, double tau, double gamma,
                                          double nu, double *g)
{
    loss_power_mean(A, n_pix, n_det, gamma, g);
    return rsw_value_of(rsw_compute(g, n_det, inactive_map(n_det, tau), nu));
}

void loss_inactive_per_detector_backward(const double *A, size_t n_pix, size_t n_det, double tau, double gamma,
                                         double nu, const double *g, double scale, double *dA)
{
    column_rsw_backward(A, n_pix, n_det, gamma, g, inactive_map(n_det, tau), nu, scale, dA);
}

double loss_coverage_tau_at(double tau_from, double tau_to, long ramp_epochs, long epoch)
{
    if (ramp_epochs <= 0 || epoch >= ramp_epochs)
        return tau_to;
    return tau_from + (tau_to - tau_from) * (double)epoch / (double)ramp_epochs;
}

double loss_excessive_forward(const double *A, size_t n_pix, size_t n_det,
                              double rho, double gamma, double nu, double *g)
{
    loss_power_mean(A, n_pix, n_det, gamma, g);
    return excessive_of_means(g, n_det, rho, nu);
}

void loss_excessive_backward(const double *A, size_t n_pix, size_t n_det,
                             double rho, double gamma, double nu,
                             const double *g, double scale, double *dA)
{
    column_rsw_backward(A, n_pix, n_det, gamma, g, excessive_map(rho), nu, scale, dA);
}

/* ---- L^mm ------------------------------------------------------------------ */
double loss_margin_forward(const double *M, size_t n_det)
{
    double sum = 0.0;
    for (size_t i = 0; i < n_det; i++)
        sum += 1.0 / M[i];
    return sum / (double)n_det;
}

void loss_margin_backward(const double *M, size_t n_det, double scale,
                          double *dM)
{
    for (size_t i = 0; i < n_det; i++)
        dM[i] -= scale / ((double)n_det * M[i] * M[i]);
}

/* ---- L^fso -----------------------------------------------------------------
 * Everything lives in one workspace: the forward leaves the normalised rows
 * and the cosines there, the backward turns them into the gradient without
 * a second forward (no second n_det × n_det × n_dim GEMM, no allocation). */
struct loss_fso_workspace {
    size_t n_det, n_dim;
    double *w_unit, *s_unit; /* [n_det × n_dim] normalised rows */
    double *w_norm, *s_norm; /* [n_det] */
    double *cos;             /* [n_det × n_det] c_ij = w̄_iᵀ s̄_j, then G */
    double *P;               /* [n_det × n_dim] G Ȳ (backward) */
    double *row_gc, *col_gc; /* [n_det] Σ G∘c by rows and by columns */
    double value;            /* F */
    const double *W, *S;     /* the last forward's inputs */
};

loss_fso_workspace *loss_fso_workspace_create(size_t n_det, size_t n_dim)
{
    if (n_det == 0 || n_dim == 0 || n_det > SIZE_MAX / 64 / n_dim ||
        n_det > SIZE_MAX / 64 / n_det)
        return NULL;
    loss_fso_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    size_t nd = n_det * n_dim;
    ws->n_det = n_det;
    ws->n_dim = n_dim;
    ws->w_unit = malloc((3 * nd + 4 * n_det + n_det * n_det) * sizeof(double));
    if (!ws->w_unit) {
        free(ws);
        return NULL;
    }
    ws->s_unit = ws->w_unit + nd;
    ws->P = ws->s_unit + nd;
    ws->w_norm = ws->P + nd;
    ws->s_norm = ws->w_norm + n_det;
    ws->row_gc = ws->s_norm + n_det;
    ws->col_gc = ws->row_gc + n_det;
    ws->cos = ws->col_gc + n_det;
    return ws;
}

void loss_fso_workspace_free(loss_fso_workspace *ws)
{
    if (!ws)
        return;
    free(ws->w_unit);
    free(ws);
}

/* Normalises the rows of X into X_unit, norms into norm; non-zero on a
 * zero row. */
static int unit_rows(const double *X, size_t n_det, size_t n_dim,
                     double *X_unit, double *norm)
{
    for (size_t i = 0; i < n_det; i++) {
        double nrm = cblas_dnrm2((int)n_dim, X + i * n_dim, 1);
        if (!(nrm > 0.0) || !isfinite(nrm))
            return -1;
        norm[i] = nrm;
        for (size_t d = 0; d < n_dim; d++)
            X_unit[i * n_dim + d] = X[i * n_dim + d] / nrm;
    }
    return 0;
}

int loss_fso_forward_ws(loss_fso_workspace *ws, const double *W,
                        const double *S, size_t n_det, size_t n_dim,
                        double *value)
{
    ws->W = ws->S = NULL;
    if (n_det != ws->n_det || n_dim != ws->n_dim ||
        unit_rows(W, n_det, n_dim, ws->w_unit, ws->w_norm) ||
        unit_rows(S, n_det, n_dim, ws->s_unit, ws->s_norm))
        return -1;
    mat_gemm(0, 1, (int)n_det, (int)n_det, (int)n_dim, 1.0, ws->w_unit,
             ws->s_unit, 0.0, ws->cos);
    double sq = 0.0;
    for (size_t i = 0; i < n_det; i++)
        for (size_t j = 0; j < n_det; j++)
            if (i != j)
                sq += ws->cos[i * n_det + j] * ws->cos[i * n_det + j];
    ws->value = sqrt(sq / ((double)n_det * (double)n_det) + LOSS_FSO_EPS);
    *value = ws->value;
    ws->W = W;
    ws->S = S;
    return 0;
}

/* dX_i += (scale/‖x_i‖) (P_i − (Σ_j G_ij c_ij) x̄_i), P = G Ȳ (or Gᵀ X̄):
 * ∂c/∂x = (ȳ − c x̄)/‖x‖ summed with ∂F/∂c = G (method-spec §5). */
static void fso_accumulate(const double *P, const double *x_unit,
                           const double *x_norm, const double *gc,
                           size_t n_det, size_t n_dim, double scale,
                           double *dX)
{
    for (size_t i = 0; i < n_det; i++) {
        double f = scale / x_norm[i];
        for (size_t d = 0; d < n_dim; d++)
            dX[i * n_dim + d] +=
                f * (P[i * n_dim + d] - gc[i] * x_unit[i * n_dim + d]);
    }
}

int loss_fso_backward_ws(loss_fso_workspace *ws, const double *W,
                         const double *S, double scale, double *dW,
                         double *dS)
{
    if (!ws->W || W != ws->W || S != ws->S)
        return -1;
    ws->W = ws->S = NULL; /* the cosines become G below */
    size_t n_det = ws->n_det, n_dim = ws->n_dim;
    double *row_gc = ws->row_gc, *col_gc = ws->col_gc, *cos = ws->cos;
    /* G = ∂F/∂c = c/(n² F) off the diagonal, in place of c; Σ G∘c by rows
     * (for dW) and columns (for dS). */
    double inv = 1.0 / ((double)n_det * (double)n_det * ws->value);
    memset(row_gc, 0, 2 * n_det * sizeof(double));
    for (size_t i = 0; i < n_det; i++)
        for (size_t j = 0; j < n_det; j++) {
            double c = cos[i * n_det + j];
            double gij = i == j ? 0.0 : c * inv;
            cos[i * n_det + j] = gij;
            row_gc[i] += gij * c;
            col_gc[j] += gij * c;
        }
    mat_gemm(0, 0, (int)n_det, (int)n_dim, (int)n_det, 1.0, cos, ws->s_unit,
             0.0, ws->P);
    fso_accumulate(ws->P, ws->w_unit, ws->w_norm, row_gc, n_det, n_dim, scale,
                   dW);
    mat_gemm(1, 0, (int)n_det, (int)n_dim, (int)n_det, 1.0, cos, ws->w_unit,
             0.0, ws->P);
    fso_accumulate(ws->P, ws->s_unit, ws->s_norm, col_gc, n_det, n_dim, scale,
                   dS);
    return 0;
}

int loss_fso_forward(const double *W, const double *S, size_t n_det,
                     size_t n_dim, double *value)
{
    loss_fso_workspace *ws = loss_fso_workspace_create(n_det, n_dim);
    int rc = ws ? loss_fso_forward_ws(ws, W, S, n_det, n_dim, value) : -1;
    loss_fso_workspace_free(ws);
    return rc;
}

int loss_fso_backward(const double *W, const double *S, size_t n_det,
                      size_t n_dim, double scale, double *dW, double *dS)
{
    double value;
    loss_fso_workspace *ws = loss_fso_workspace_create(n_det, n_dim);
    int rc = ws ? loss_fso_forward_ws(ws, W, S, n_det, n_dim, &value) : -1;
    if (!rc)
        rc = loss_fso_backward_ws(ws, W, S, scale, dW, dS);
    loss_fso_workspace_free(ws);
    return rc;
}

/* ---- fused pixel losses ----------------------------------------------------- */
struct loss_pixel_workspace {
    size_t max_pix, n_det;
    /* per pixel [max_pix]: S̃, ln S̃, H (bits), ℓ^ma (bits), ∂L^sb/∂H,
     * U = Π_i (1 − y_i) (--coverage union) */
    double *s_clamped, *ln_s, *entropy, *max_act, *d_entropy, *uncovered;
    unsigned char *clamped; /* [max_pix] */
    /* per logit [max_pix × n_det], left by pass 1 so that pass 2 needs no
     * exp or log: y, 1 − y, ln y, and y^γ (only when the columns are on) */
    double *y, *one_minus_y, *ln_y, *y_gamma;
    double *chunk_entropy, *chunk_max_act, *chunk_uncovered; /* [CHUNKS_MAX] */
    double *col_part;  /* [CHUNKS_MAX × n_det] per-chunk Σ_p y^γ */
    double *col_mean;  /* [n_det] g_i */
    double *col_coef;  /* [n_det] γ/N · Σ_term w ∂L/∂g_i */
    double *share_part; /* [CHUNKS_MAX × n_det] per-chunk Σ_p q_{p,i} (--coverage soft) */
    double *floor;      /* [n_det] τ·E_p[q_{p,i}] (--coverage soft) */
    /* the last forward, for the backward */
    const double *A;
    size_t n_pix;
    loss_pixel_config cfg;
    int have_columns, have_uncovered;
};

loss_pixel_workspace *loss_pixel_workspace_create(size_t max_pix, size_t n_det)
{
    if (max_pix == 0 || n_det == 0 || max_pix > SIZE_MAX / 64 / n_det)
        return NULL;
    loss_pixel_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->max_pix = max_pix;
    ws->n_det = n_det;
    size_t cells = max_pix * n_det;
    size_t n_doubles = 6 * max_pix + 4 * cells + 3 * CHUNKS_MAX +
                       2 * CHUNKS_MAX * n_det + 4 * n_det;
    ws->s_clamped = malloc(n_doubles * sizeof(double));
    ws->clamped = malloc(max_pix);
    if (!ws->s_clamped || !ws->clamped) {
        loss_pixel_workspace_free(ws);
        return NULL;
    }
    ws->ln_s = ws->s_clamped + max_pix;
    ws->entropy = ws->ln_s + max_pix;
    ws->max_act = ws->entropy + max_pix;
    ws->d_entropy = ws->max_act + max_pix;
    ws->uncovered = ws->d_entropy + max_pix;
    ws->y = ws->uncovered + max_pix;
    ws->one_minus_y = ws->y + cells;
    ws->ln_y = ws->one_minus_y + cells;
    ws->y_gamma = ws->ln_y + cells;
    ws->chunk_entropy = ws->y_gamma + cells;
    ws->chunk_max_act = ws->chunk_entropy + CHUNKS_MAX;
    ws->chunk_uncovered = ws->chunk_max_act + CHUNKS_MAX;
    ws->col_part = ws->chunk_uncovered + CHUNKS_MAX;
    ws->col_mean = ws->col_part + CHUNKS_MAX * n_det;
    ws->col_coef = ws->col_mean + n_det;
    ws->share_part = ws->col_coef + n_det;
    ws->floor = ws->share_part + CHUNKS_MAX * n_det;
    return ws;
}

void loss_pixel_workspace_free(loss_pixel_workspace *ws)
{
    if (!ws)
        return;
    free(ws->s_clamped);
    free(ws->clamped);
    free(ws);
}

static const char *const coverage_names[] = {"mean", "per-detector", "soft", "reward", "union"};
static const char *const sparsity_names[] = {"entropy", "overlap"};
_Static_assert(sizeof coverage_names / sizeof *coverage_names == LOSS_COVERAGE_UNION + 1, "a coverage without a name");
_Static_assert(sizeof sparsity_names / sizeof *sparsity_names == LOSS_SPARSITY_OVERLAP + 1, "a sparsity without a name");

const char *loss_coverage_name(int coverage)
{
    return coverage >= 0 && coverage <= LOSS_COVERAGE_UNION ? coverage_names[coverage] : NULL;
}

const char *loss_sparsity_name(int sparsity)
{
    return sparsity >= 0 && sparsity <= LOSS_SPARSITY_OVERLAP ? sparsity_names[sparsity] : NULL;
}

int loss_pixel_config_valid(const loss_pixel_config *cfg)
{
    return cfg->gamma > 0.0 && cfg->tau > 0.0 && cfg->rho >= 0.0 &&
           cfg->rho < 1.0 && cfg->nu >= 1.0 && loss_coverage_name(cfg->coverage) &&
           loss_sparsity_name(cfg->sparsity);
}

/* Fast stable sigmoid: e = exp(−|a|), one log1p, one division:
 * y = 1/(1+e) or e/(1+e), 1 − y the other one, ln y = min(a,0) − log1p(e). */
#define SIGMOID_FAST(a, y, omy, ln_y)                                       \
    do {                                                                    \
        double e_ = exp(-fabs(a));                                          \
        double r_ = 1.0 / (1.0 + e_);                                       \
        double l_ = log1p(e_);                                              \
        if ((a) >= 0.0) {                                                   \
            (y) = r_;                                                       \
            (omy) = e_ * r_;                                                \
            (ln_y) = -l_;                                                   \
        } else {                                                            \
            (y) = e_ * r_;                                                  \
            (omy) = r_;                                                     \
            (ln_y) = (a) - l_;                                              \
        }                                                                   \
    } while (0)

/* Pass 1 over one chunk of pixels: S, T = Σ y ln y per pixel, so that
 * H = −(T − S ln S̃)/(S̃ ln 2) and ℓ = −T/(S̃ ln 2); Σ_p y^γ per column into
 * col (NULL: skipped). y, 1 − y, ln y (and y^γ) of every logit go to the
 * workspace for pass 2. */
/* The per-element part of pass 1 over a contiguous run of logits, written
 * branch-free so that the compiler vectorises it and calls glibc's vector
 * exp/log1p (libmvec; see the declarations at the top of this file). */
VECMATH_CLONES
static void pass1_elements(const double *a, size_t n, double gamma, double *y, double *omy,
                           double *ln_y, double *y_gamma)
{
    /* Three simple loops (calls, then selects) vectorise where one would not:
     * omy holds e = exp(−|a|) and ln_y holds log1p(e) until the last loop. */
#pragma omp simd
    for (size_t k = 0; k < n; k++)
        omy[k] = exp(-fabs(a[k]));
#pragma omp simd
    for (size_t k = 0; k < n; k++)
        ln_y[k] = log1p(omy[k]);
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        double e = omy[k], l = ln_y[k], r = 1.0 / (1.0 + e);
        int positive = a[k] >= 0.0;
        y[k] = positive ? r : e * r;
        omy[k] = positive ? e * r : r;
        ln_y[k] = positive ? -l : a[k] - l;
    }
    if (y_gamma) {
#pragma omp simd
        for (size_t k = 0; k < n; k++)
            y_gamma[k] = exp(gamma * ln_y[k]);
    }
}

/* --coverage union over pixels [lo, hi): U_p = Π_i (1 − y_i) =
 * exp(Σ_i (ln y_i − a_i)) (ln(1 − y) = ln σ(−a) = ln y − a), and their sum. */
static double uncovered_chunk(loss_pixel_workspace *ws, const double *A, size_t lo, size_t hi)
{
    size_t n_det = ws->n_det;
    double sum = 0.0;
    for (size_t p = lo; p < hi; p++) {
        const double *a = A + p * n_det, *ln_y = ws->ln_y + p * n_det;
        double ln_u = 0.0;
        for (size_t i = 0; i < n_det; i++)
            ln_u += ln_y[i] - a[i];
        ws->uncovered[p] = exp(ln_u);
        sum += ws->uncovered[p];
    }
    return sum;
}

static void pass1_chunk(loss_pixel_workspace *ws, const double *A, size_t lo,
                        size_t hi, double gamma, int overlap, double *col, double *sum_h,
                        double *sum_m)
{
    size_t n_det = ws->n_det, first = lo * n_det, count = (hi - lo) * n_det;
    pass1_elements(A + first, count, gamma, ws->y + first, ws->one_minus_y + first, ws->ln_y + first,
                   col ? ws->y_gamma + first : NULL);
    double sh = 0.0, sm = 0.0;
    if (col)
        memset(col, 0, n_det * sizeof(double));
    /* Per pixel S and T (kept in entropy/max_act until the last loop; with
     * overlap, entropy holds L^s_p at once), the clamped S, then ln S̃ for
     * the whole chunk in one vector loop. */
    for (size_t p = lo; p < hi; p++) {
        size_t row = p * n_det;
        const double *y = ws->y + row, *ln_y = ws->ln_y + row;
        double s = 0.0, t = 0.0, squares = 0.0;
        for (size_t i = 0; i < n_det; i++) {
            s += y[i];
            t += y[i] * ln_y[i];
        }
        if (overlap)
            for (size_t i = 0; i < n_det; i++)
                squares += y[i] * y[i];
        if (col) {
            const double *y_gamma = ws->y_gamma + row;
            for (size_t i = 0; i < n_det; i++)
                col[i] += y_gamma[i];
        }
        int clamped = s < LOSS_S_MIN;
        ws->clamped[p] = (unsigned char)clamped;
        ws->s_clamped[p] = clamped ? LOSS_S_MIN : s;
        ws->entropy[p] = overlap ? (s * s - squares) / (double)n_det : s;
        ws->max_act[p] = t;
    }
    double *ln_s = ws->ln_s;
    const double *s_clamped = ws->s_clamped;
#pragma omp simd
    for (size_t p = lo; p < hi; p++)
        ln_s[p] = log(s_clamped[p]);
    for (size_t p = lo; p < hi; p++) {
        double s = ws->entropy[p], t = ws->max_act[p];
        double inv = INV_LN2 / s_clamped[p];
        double h = overlap ? s : -(t - s * ln_s[p]) * inv;
        double m = -t * inv;
        ws->entropy[p] = h;
        ws->max_act[p] = m;
        sh += h;
        sm += m;
    }
    *sum_h = sh;
    *sum_m = sm;
}

/* Σ_p q_{p,i} over pixels [lo, hi) into part [n_det], from pass 1's y and S̃. */
static void share_chunk(const loss_pixel_workspace *ws, size_t lo, size_t hi, double *part)
{
    size_t n_det = ws->n_det;
    memset(part, 0, n_det * sizeof(double));
    for (size_t p = lo; p < hi; p++) {
        const double *y = ws->y + p * n_det;
        double inv = 1.0 / ws->s_clamped[p];
        for (size_t i = 0; i < n_det; i++)
            part[i] += y[i] * inv;
    }
}

/* --coverage soft: floor_i = τ·E_p[q_{p,i}], chunk sums in chunk order. */
static void soft_floors(loss_pixel_workspace *ws, size_t n_pix, double tau)
{
    size_t n_det = ws->n_det, n_chunks = chunk_count(n_pix);
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t c = 0; c < n_chunks; c++)
        share_chunk(ws, chunk_start(c, n_chunks, n_pix), chunk_start(c + 1, n_chunks, n_pix),
                    ws->share_part + c * n_det);
    for (size_t i = 0; i < n_det; i++) {
        double sum = 0.0;
        for (size_t c = 0; c < n_chunks; c++)
            sum += ws->share_part[c * n_det + i];
        ws->floor[i] = tau * sum / (double)n_pix;
    }
}

static void column_values(const double *col_mean, size_t n_det, const loss_pixel_config *cfg, const double *floor,
                          double *ic, double *eac);
static int column_coefficients(const double *col_mean, size_t n_det, size_t n_pix, const loss_pixel_config *cfg,
                               const double *floor, const loss_pixel_weights *w, double *col_coef);

int loss_pixel_forward(loss_pixel_workspace *ws, const double *A,
                       size_t n_pix, size_t n_det,
                       const loss_pixel_config *cfg,
                       const loss_pixel_weights *w, loss_pixel_values *out)
{
    ws->A = NULL;
    if (n_pix == 0 || n_pix > ws->max_pix || n_det != ws->n_det ||
        !loss_pixel_config_valid(cfg))
        return -1;
    int uncovered = cfg->coverage == LOSS_COVERAGE_UNION && w->ic != 0.0;
    int columns = (w->ic != 0.0 && !uncovered) || w->eac != 0.0;
    size_t n_chunks = chunk_count(n_pix);
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t c = 0; c < n_chunks; c++) {
        size_t lo = chunk_start(c, n_chunks, n_pix), hi = chunk_start(c + 1, n_chunks, n_pix);
        pass1_chunk(ws, A, lo, hi, cfg->gamma, cfg->sparsity == LOSS_SPARSITY_OVERLAP,
                    columns ? ws->col_part + c * n_det : NULL, &ws->chunk_entropy[c], &ws->chunk_max_act[c]);
        if (uncovered)
            ws->chunk_uncovered[c] = uncovered_chunk(ws, A, lo, hi);
    }

    double sum_h = 0.0, sum_m = 0.0, inv_n = 1.0 / (double)n_pix;
    for (size_t c = 0; c < n_chunks; c++) {
        sum_h += ws->chunk_entropy[c];
        sum_m += ws->chunk_max_act[c];
    }
    out->s = sum_h * inv_n;
    out->ma = sum_m * inv_n;
    /* R_SW over the pixels costs a pow per pixel: only when weighted. */
    out->sb = w->sb != 0.0 ? loss_rsw_forward(ws->entropy, n_pix, cfg->nu) : NAN;
    out->ic = out->eac = NAN;
    if (columns) {
        for (size_t i = 0; i < n_det; i++) {
            double sum = 0.0;
            for (size_t c = 0; c < n_chunks; c++)
                sum += ws->col_part[c * n_det + i];
            ws->col_mean[i] = sum * inv_n;
        }
        int soft = cfg->coverage == LOSS_COVERAGE_SOFT;
        if (soft)
            soft_floors(ws, n_pix, cfg->tau);
        column_values(ws->col_mean, n_det, cfg, soft ? ws->floor : NULL, &out->ic, &out->eac);
    }
    if (uncovered) {
        double sum_u = 0.0;
        for (size_t c = 0; c < n_chunks; c++)
            sum_u += ws->chunk_uncovered[c];
        out->ic = sum_u * inv_n;
    }
    out->total = w->s * out->s + (w->sb != 0.0 ? w->sb * out->sb : 0.0) +
                 w->ma * out->ma;
    if (w->ic != 0.0)
        out->total += w->ic * out->ic;
    if (w->eac != 0.0)
        out->total += w->eac * out->eac;

    ws->A = A;
    ws->n_pix = n_pix;
    ws->cfg = *cfg;
    ws->have_columns = columns;
    ws->have_uncovered = uncovered;
    return 0;
}

/* col_coef_i = γ/N · (w_ic ∂L^ic/∂g_i + w_eac ∂L^eac/∂g_i); returns whether
 * any is non-zero (else pass 2 skips y^γ entirely). */
int loss_column_coefficients(const double *col_mean, size_t n_det, size_t n_pix,
                             const loss_pixel_config *cfg, const loss_pixel_weights *w, double *col_coef)
{
    return column_coefficients(col_mean, n_det, n_pix, cfg, NULL, w, col_coef);
}

/* floor [n_det]: the floors of --coverage soft (NULL: L^ic contributes 0). */
static int column_coefficients(const double *col_mean, size_t n_det, size_t n_pix, const loss_pixel_config *cfg,
                               const double *floor, const loss_pixel_weights *w, double *col_coef)
{
    double f = cfg->gamma / (double)n_pix;
    rsw_map mp = excessive_map(cfg->rho);
    rsw_stats st = {0.0, 0.0, 0.0};
    if (w->eac != 0.0)
        st = rsw_compute(col_mean, n_det, mp, cfg->nu);
    rsw_stats ic_st = {0.0, 0.0, 0.0};
    double w_ic = cfg->coverage == LOSS_COVERAGE_UNION ? 0.0 : w->ic; /* per pixel, in pass 2 */
    if (w_ic != 0.0)
        ic_st = inactive_stats(col_mean, n_det, cfg);
    int any = 0;
    for (size_t i = 0; i < n_det; i++) {
        double g = col_mean[i], d = 0.0;
        if (w_ic != 0.0)
            d += w_ic * inactive_grad_of(cfg, n_det, ic_st, g, floor ? floor[i] : 0.0);
        if (w->eac != 0.0)
            d += w->eac * rsw_grad_of(st, mp, cfg->nu, g);
        col_coef[i] = d * f;
        any |= d != 0.0;
    }
    return any;
}

void loss_column_values(const double *col_mean, size_t n_det, const loss_pixel_config *cfg, double *ic,
                        double *eac)
{
    column_values(col_mean, n_det, cfg, NULL, ic, eac);
}

static void column_values(const double *col_mean, size_t n_det, const loss_pixel_config *cfg, const double *floor,
                          double *ic, double *eac)
{
    *ic = inactive_of_means(col_mean, n_det, cfg, floor);
    *eac = excessive_of_means(col_mean, n_det, cfg->rho, cfg->nu);
}

/* Pass 2 for one pixel. With c_H = ∂L/∂H_p and c_m = ∂L/∂ℓ_p, κ = 1 unless
 * clamped, the bracketed per-pixel gradients of §5 collapse to
 *   ∂L/∂a_i = (1−y_i) [ y_i (k1 ln y_i + k0 + k2 (S − y_i)) + col_coef_i y_i^γ ],
 *   k1 = −(c_H + c_m)/(S̃ ln 2),
 *   k0 = (c_H ((ln S̃ − 1)/ln 2 + κ(1/ln 2 − H)) − c_m (1/ln 2 + κ ℓ)) / S̃,
 *   k2 = 0;
 * with overlap, L^s_p = (S² − Σ y²)/I, ∂/∂y_i = 2 (S − y_i)/I, so c_H
 * leaves k1 and k0 and k2 = 2 c_H / I.
 * y, 1 − y, ln y and y^γ come from pass 1's cache. */
static void pass2_pixel(const loss_pixel_workspace *ws, size_t p, double c_h,
                        double c_m, int columns, int store, double *da)
{
    size_t n_det = ws->n_det, row = p * n_det;
    const double *y = ws->y + row, *omy = ws->one_minus_y + row;
    const double *ln_y = ws->ln_y + row;
    double kappa = ws->clamped[p] ? 0.0 : 1.0;
    double inv_s = 1.0 / ws->s_clamped[p];
    double k2 = 0.0, s = 0.0;
    if (ws->cfg.sparsity == LOSS_SPARSITY_OVERLAP) {
        k2 = 2.0 * c_h / (double)n_det;
        c_h = 0.0;
        s = ws->s_clamped[p]; /* S itself unless pass 1 clamped it */
        if (ws->clamped[p]) {
            s = 0.0;
            for (size_t i = 0; i < n_det; i++)
                s += y[i];
        }
    }
    double k1 = -(c_h + c_m) * INV_LN2 * inv_s;
    double k0 = (c_h * ((ws->ln_s[p] - 1.0) * INV_LN2 +
                        kappa * (INV_LN2 - ws->entropy[p])) -
                 c_m * (INV_LN2 + kappa * ws->max_act[p])) *
                inv_s;
    if (columns) {
        const double *col_coef = ws->col_coef, *y_gamma = ws->y_gamma + row;
        for (size_t i = 0; i < n_det; i++) {
            double d = y[i] * (k1 * ln_y[i] + k0 + k2 * (s - y[i]));
            if (col_coef[i] != 0.0)
                d += col_coef[i] * y_gamma[i];
            da[i] = (store ? 0.0 : da[i]) + omy[i] * d;
        }
    } else {
        for (size_t i = 0; i < n_det; i++)
            da[i] = (store ? 0.0 : da[i]) + omy[i] * (y[i] * (k1 * ln_y[i] + k0 + k2 * (s - y[i])));
    }
}

/* Pass 2 over pixels [lo, hi); with col, also col [n_det] = Σ_p of the
 * rows written (pixel order). c_u = w_ic/N with --coverage union:
 * ∂(w_ic E_p U_p)/∂a_i = −c_u U_p y_i (∂ ln(1 − y)/∂a = −y). */
static void pass2_chunk(const loss_pixel_workspace *ws, size_t lo, size_t hi, double c_s, double c_m, double c_u,
                        int with_sb, int columns, int store, double *dA, double *col)
{
    size_t n_det = ws->n_det;
    if (col)
        memset(col, 0, n_det * sizeof(double));
    for (size_t p = lo; p < hi; p++) {
        double c_h = c_s + (with_sb ? ws->d_entropy[p] : 0.0);
        double *da = dA + p * n_det;
        pass2_pixel(ws, p, c_h, c_m, columns, store, da);
        if (c_u != 0.0) {
            const double *y = ws->y + p * n_det;
            double k = c_u * ws->uncovered[p];
            for (size_t i = 0; i < n_det; i++)
                da[i] -= k * y[i];
        }
        if (col)
            for (size_t i = 0; i < n_det; i++)
                col[i] += da[i];
    }
}

/* Pass 2 into dA (accumulating, or storing), with the column sums of dA
 * when colsum is not NULL (only with store: they are sums of what pass 2
 * wrote). */
static int pass2(loss_pixel_workspace *ws, const double *A, size_t n_pix, const loss_pixel_weights *w,
                 int store, double *dA, double *colsum)
{
    if (ws->A == NULL || A != ws->A || n_pix != ws->n_pix)
        return -1;
    int union_ic = ws->cfg.coverage == LOSS_COVERAGE_UNION && w->ic != 0.0;
    int want_columns = (w->ic != 0.0 && !union_ic) || w->eac != 0.0;
    if ((want_columns && !ws->have_columns) || (union_ic && !ws->have_uncovered))
        return -1;
    int columns = want_columns && column_coefficients(ws->col_mean, ws->n_det, ws->n_pix, &ws->cfg,
                                                      ws->cfg.coverage == LOSS_COVERAGE_SOFT ? ws->floor : NULL, w,
                                                      ws->col_coef);
    int pixels = w->s != 0.0 || w->sb != 0.0 || w->ma != 0.0 || union_ic;
    size_t n_det = ws->n_det;
    if (!columns && !pixels) {
        if (store)
            memset(dA, 0, n_pix * n_det * sizeof(double));
        if (colsum)
            memset(colsum, 0, n_det * sizeof(double));
        return 0;
    }
    if (w->sb != 0.0) {
        memset(ws->d_entropy, 0, n_pix * sizeof(double));
        loss_rsw_backward(ws->entropy, n_pix, ws->cfg.nu, w->sb,
                          ws->d_entropy);
    }
    double c_s = w->s / (double)n_pix, c_m = w->ma / (double)n_pix, c_u = union_ic ? w->ic / (double)n_pix : 0.0;
    int with_sb = w->sb != 0.0;
    size_t n_chunks = chunk_count(n_pix);
#pragma omp parallel for schedule(static) if (LOSS_PARALLEL(n_pix, n_det))
    for (size_t c = 0; c < n_chunks; c++)
        pass2_chunk(ws, chunk_start(c, n_chunks, n_pix), chunk_start(c + 1, n_chunks, n_pix), c_s, c_m, c_u,
                    with_sb, columns, store, dA, colsum ? ws->col_part + c * n_det : NULL);
    if (colsum)
        for (size_t i = 0; i < n_det; i++) {
            double sum = 0.0;
            for (size_t c = 0; c < n_chunks; c++)
                sum += ws->col_part[c * n_det + i];
            colsum[i] = sum;
        }
    return 0;
}

int loss_pixel_backward(loss_pixel_workspace *ws, const double *A,
                        size_t n_pix, const loss_pixel_weights *w,
                        double *dA)
{
    return pass2(ws, A, n_pix, w, 0, dA, NULL);
}

int loss_pixel_backward_store(loss_pixel_workspace *ws, const double *A, size_t n_pix,
                              const loss_pixel_weights *w, double *dA, double *colsum)
{
    return pass2(ws, A, n_pix, w, 1, dA, colsum);
}

int loss_pixel_fused(loss_pixel_workspace *ws, const double *A, size_t n_pix,
                     size_t n_det, const loss_pixel_config *cfg,
                     const loss_pixel_weights *w, loss_pixel_values *out,
                     double *dA)
{
    int rc = loss_pixel_forward(ws, A, n_pix, n_det, cfg, w, out);
    if (rc || !dA)
        return rc;
    return loss_pixel_backward(ws, A, n_pix, w, dA);
}
