/* losses — the UIBE/CBE/EDDP loss terms as forward/backward pairs
 * (method-spec §2, §3, §4.2; gradients §5).
 *
 * Pixel losses act on detector logits
 *     A [n_pix × n_det],  a_{p,i} = ū_iᵀx_p/M_i − b_i,  y = σ(a),
 *     q_p = y_p / S̃_p,  S̃_p = max(Σ_i y_{p,i}, LOSS_S_MIN).
 * Entropies are in bits. Everything is computed from ln y = −softplus(−a),
 * so logits anywhere in [−1e3, 1e3] give finite values and gradients.
 * The clamp of S_p is part of the loss's definition (§5): on pixels whose
 * detectors are all strongly off (S_p < LOSS_S_MIN) q_p no longer sums to
 * one, and the backward is the exact gradient of that clamped branch.
 *
 * Conventions:
 *   - every backward ACCUMULATES scale · ∂L/∂(input) into its output array,
 *     so several losses can be summed into one dlogits;
 *   - backward functions that need forward statistics take them as
 *     arguments (per-pixel entropies H, column means g), as llm.c's
 *     layernorm_backward takes mean and rstd;
 *   - n_pix ≥ 1 and n_det ≥ 1 (means over an empty set are undefined);
 *   - pixel loops are OpenMP-parallel from 32768 logits (n_pix · n_det) on,
 *     serial below (a fork/join costs more than a small batch's work); every
 *     sum over pixels has a fixed order (per-chunk sums over chunks that
 *     depend on n_pix only, combined in chunk order; or one column at a time
 *     in pixel order), so results are bitwise the same for any thread count,
 *     parallel or not.
 *
 * Which code computes each term (the --losses names; objective.h's term_id).
 * Training runs ONE path per run, the backend behind objective_eval's
 * batch_backend_ops table (objective.h): --device cpu with the default
 * --precision float64 runs batch_cpu.c, the "CPU fused" path; --device
 * cuda (or auto with a GPU) runs device.c's step over the CUDA plugin, the
 * "CUDA" path; --device cpu --precision float32 runs the same host half
 * (device.c) over cpu32.c, the "cpu32" path. For the pixel terms the
 * "reference" pair is the plain definition that training never calls:
 * test_losses checks the fused branch against it, test_device and
 * test_device_f32 check the backends against the CPU path. mm, fso, uur and cur have one pair,
 * which is both the reference and what the CPU path runs.
 *
 *  term  path       function(s): forward / backward
 *  s     reference  loss_sparsity_forward / loss_sparsity_backward
 *        CPU fused  loss_pixel_forward (pass1_chunk) /
 *                   loss_pixel_backward_store (pass2, pass2_pixel)
 *        cpu32      pass1_block / pass2_block
 *        CUDA       pixel.cu k_pass1 / k_pixel_coefs, k_pass2, dW by cuBLAS
 *  sb    reference  loss_sparsity_batch_forward / _backward
 *        CPU fused  pass1_chunk's H, loss_rsw_forward / loss_rsw_backward's
 *                   factor in pass2
 *        cpu32      pass1_block, rsw_stats / pass2_block
 *        CUDA       k_pass1, k_rsw_stats / k_pixel_coefs, k_pass2
 *  ma    reference  loss_max_activation_forward / _backward
 *        CPU fused  pass1_chunk (ℓ_p) / pass2_pixel
 *        cpu32      pass1_block / pass2_block
 *        CUDA       k_pass1 / k_pixel_coefs, k_pass2
 *  ic    reference  loss_inactive_forward / _backward
 *        CPU fused  pass1_chunk's column sums of y^γ, loss_column_values /
 *                   loss_column_coefficients, column terms of pass2
 *        cpu32      pass1_block's column sums, then on the host (float64)
 *                   loss_column_values / loss_column_coefficients, pass2_block
 *        CUDA       k_column_part, then on the host loss_column_values /
 *                   loss_column_coefficients, k_pass2
 *  eac   reference  loss_excessive_forward / _backward
 *        others     as ic (the same column pass and the same host functions)
 *  mm    every path loss_margin_forward / loss_margin_backward (host, float64)
 *  fso   reference  loss_fso_forward / loss_fso_backward
 *        every path loss_fso_forward_ws / loss_fso_backward_ws (host, float64)
 *  uur   reference  ura_uur_forward / _backward (ura.h; ura_uur_shift alone
 *                   gives the shift), ura_std_forward / _backward for
 *                   standardised detectors; CPU fused runs these same pairs
 *        cpu32      ura_forward / ura_backward (CUDA_URA_UUR, CUDA_URA_STD;
 *                   the Cholesky factor from device.c, host float64)
 *        CUDA       ura.cu cuda_ura_forward / cuda_ura_backward (k_row_entropy,
 *                   k_apply_shift, k_row_entropy_backward, cuBLAS, cuSOLVER
 *                   potrs with the host's factor)
 *  cur   reference  ura_cur_forward / _backward (ura_cur_shift: the shift);
 *                   CPU fused runs the same pair
 *        cpu32      ura_forward / ura_backward (CUDA_URA_CUR, host LU)
 *        CUDA       ura.cu cuda_ura_forward / _backward (CUDA_URA_CUR, getrs)
 *  cnn   CPU only   cbe_forward / cbe_backward (cbe.h); cpu32 and CUDA refuse
 *                   it (EX_UNAVAILABLE, device.c step_supported)
 *
 * Stage: losses. In memory only, no files. */
#ifndef EDDP_LOSSES_H
#define EDDP_LOSSES_H

#include <stddef.h>

/* Lower clamp of S_p = Σ_i y_{p,i} (method-spec §5). */
#define LOSS_S_MIN 1e-12
/* Inside the square root of L^fso (method-spec §5). */
#define LOSS_FSO_EPS 1e-12

/* ---- self-weighted reduction R_SW (Eq. 4) ---------------------------------
 * R = Σ_k L_k^{ν+1} / Σ_k L_k^ν over L [n], L_k ≥ 0, ν > 1. A soft maximum:
 * mean(L) ≤ R ≤ max(L), R(cL) = c R(L). All-zero (or n = 0) gives R = 0 and
 * a zero gradient. Computed on L / max_k L_k, so large ν or n cannot
 * overflow. */
double loss_rsw_forward(const double *L, size_t n, double nu);
/* dL_k += scale · L_k^{ν−1}((ν+1)L_k − νR) / Σ_j L_j^ν */
void loss_rsw_backward(const double *L, size_t n, double nu, double scale,
                       double *dL);

/* ---- L^s sparsity: mean_p H(q_p) ------------------------------------------
 * H: optional [n_pix] out, the per-pixel entropies H(q_p) in bits. */
double loss_sparsity_forward(const double *A, size_t n_pix, size_t n_det,
                             double *H);
void loss_sparsity_backward(const double *A, size_t n_pix, size_t n_det,
                            double scale, double *dA);

/* ---- L^sb: R_SW over the per-pixel entropies of the batch ------------------
 * H [n_pix]: out of the forward (per-pixel entropies), in to the backward. */
double loss_sparsity_batch_forward(const double *A, size_t n_pix,
                                   size_t n_det, double nu, double *H);
void loss_sparsity_batch_backward(const double *A, size_t n_pix, size_t n_det,
                                  double nu, const double *H, double scale,
                                  double *dA);

/* ---- L^ma max activation: mean_p −Σ_i q_{p,i} log₂ y_{p,i} ----------------- */
double loss_max_activation_forward(const double *A, size_t n_pix,
                                   size_t n_det);
void loss_max_activation_backward(const double *A, size_t n_pix, size_t n_det,
                                  double scale, double *dA);

/* ---- column power means g_i = mean_p y_{p,i}^γ [n_det] --------------------
 * The statistic behind L^ic and L^eac; y^γ = exp(γ ln y). */
void loss_power_mean(const double *A, size_t n_pix, size_t n_det,
                     double gamma, double *g);

/* ---- L^ic inactive classifier (Eq. 13) --------------------------------------
 * mean_i (1/ν_ic) ReLU(ν_ic − g_i), ν_ic = τ/n_det, τ > 0.
 * g [n_det]: out of the forward (column power means), in to the backward. */
double loss_inactive_forward(const double *A, size_t n_pix, size_t n_det,
                             double tau, double gamma, double *g);
void loss_inactive_backward(const double *A, size_t n_pix, size_t n_det,
                            double tau, double gamma, const double *g,
                            double scale, double *dA);

/* ---- L^ic per detector (ours; uibe/eddp --coverage per-detector) ----------
 * R_SW over detectors (exponent ν) of the deficits (1/ν_ic) ReLU(ν_ic − g_i),
 * ν_ic = τ/n_det: a soft maximum, so a bound on it holds for every detector,
 * where Eq. 13's mean lets one detector's deficit hide behind the others'.
 * g [n_det]: out of the forward, in to the backward. */
double loss_inactive_per_detector_forward(const double *A, size_t n_pix, size_t n_det, double tau, double gamma,
                                          double nu, double *g);
void loss_inactive_per_detector_backward(const double *A, size_t n_pix, size_t n_det, double tau, double gamma,
                                         double nu, const double *g, double scale, double *dA);

/* ---- L^ic with a floor per detector (uibe/eddp --coverage soft) ----------
 * mean_i (1/ν_i) ReLU(ν_i − g_i) over the detectors with ν_i > 0; floor
 * [n_det] ν_i is an input (a constant of the gradient). --coverage soft
 * takes ν_i = τ·E_p[q_{p,i}], the detector's share of the soft assignment
 * (loss_soft_share), measured on the batch: the shares sum to 1 over the
 * detectors, so τ/n_det is their mean, and a detector of a rare concept
 * gets a small floor, one of a frequent concept a large one.
 * g [n_det]: out of the forward, in to the backward. */
double loss_inactive_floors_forward(const double *A, size_t n_pix, size_t n_det, const double *floor, double gamma,
                                    double *g);
void loss_inactive_floors_backward(const double *A, size_t n_pix, size_t n_det, const double *floor, double gamma,
                                   const double *g, double scale, double *dA);
/* share [n_det] = E_p[q_{p,i}], q_p = y_p / max(Σ_i y_{p,i}, LOSS_S_MIN). */
void loss_soft_share(const double *A, size_t n_pix, size_t n_det, double *share);

/* ---- a schedule for L^ic's floor (uibe/eddp --tau-schedule) ---------------
 * τ at the start of epoch `epoch` (0-based): linear from tau_from at epoch 0
 * to tau_to at epoch ramp_epochs, tau_to from then on (ramp_epochs ≤ 0:
 * tau_to throughout). */
double loss_coverage_tau_at(double tau_from, double tau_to, long ramp_epochs, long epoch);

/* ---- L^eac excessive activation (Eq. 5 + R_SW) ----------------------------
 * L_i = ReLU(g_i − ρ)/(1 − ρ), 0 ≤ ρ < 1;  L^eac = R_SW({L_i}) with ν.
 * g [n_det]: out of the forward, in to the backward. */
double loss_excessive_forward(const double *A, size_t n_pix, size_t n_det,
                              double rho, double gamma, double nu, double *g);
void loss_excessive_backward(const double *A, size_t n_pix, size_t n_det,
                             double rho, double gamma, double nu,
                             const double *g, double scale, double *dA);

/* ---- L^mm max margin (Eq. 14): mean_i 1/M_i over M [n_det], M_i > 0 ------- */
double loss_margin_forward(const double *M, size_t n_det);
void loss_margin_backward(const double *M, size_t n_det, double scale,
                          double *dM);

/* ---- L^fso filter–signal orthogonality (Eq. 6) ----------------------------
 * sqrt( (1/n_det²) Σ_{i≠j} (w̄_iᵀ s̄_j)² + LOSS_FSO_EPS ), w̄ = w/‖w‖,
 * s̄ = s/‖s‖; W, S [n_det × n_dim] (rows w_i, s_j). The mean runs over all
 * n_det² pairs, diagonal included as zeros (method-spec §9 #9).
 * Return 0, or non-zero on allocation failure or a zero-norm row. */
int loss_fso_forward(const double *W, const double *S, size_t n_det,
                     size_t n_dim, double *value);
int loss_fso_backward(const double *W, const double *S, size_t n_det,
                      size_t n_dim, double scale, double *dW, double *dS);

/* The same pair without a second forward, for a training loop: the
 * workspace (NULL on failure) holds 3·n_det·n_dim + n_det² + 4·n_det
 * doubles; the forward keeps the normalised rows and the cosines, the
 * backward (same W and S pointers, unchanged contents, once per forward)
 * reuses them. Same values, bit for bit, as the functions above. Return 0,
 * or non-zero for other sizes, a zero-norm row, or a backward without its
 * forward. */
typedef struct loss_fso_workspace loss_fso_workspace;
loss_fso_workspace *loss_fso_workspace_create(size_t n_det, size_t n_dim);
void loss_fso_workspace_free(loss_fso_workspace *ws);
int loss_fso_forward_ws(loss_fso_workspace *ws, const double *W,
                        const double *S, size_t n_det, size_t n_dim,
                        double *value);
int loss_fso_backward_ws(loss_fso_workspace *ws, const double *W,
                         const double *S, double scale, double *dW,
                         double *dS);

/* ---- fused pixel losses: the training loop's hot path ---------------------
 * All enabled pixel losses (s, sb, ma, ic, eac) and their weighted gradient
 * in two OpenMP-parallel passes over the logits:
 *   forward  (pass 1): per pixel S_p, Σ y ln y → H(q_p), ℓ_p^ma; per column
 *                      Σ_p y^γ (only when ic or eac is weighted); per
 *                      logit y, 1 − y, ln y (and y^γ) kept in the workspace;
 *   backward (pass 2): dA += Σ_term weight_term · ∂L_term/∂A, from what
 *                      pass 1 kept (no exp/log).
 * The workspace holds everything the passes need (no allocation per call):
 * create it once for the largest batch, reuse it for every batch.
 * The split lets a caller pick the weights from the values in between (an
 * augmented Lagrangian multiplier max(0, μ + ρ c(L)) needs L first);
 * loss_pixel_fused does both at once. */
/* How L^ic reduces its per-detector deficits: the mean (Eq. 13, the
 * paper's), R_SW (every detector must meet the floor), floors from the soft
 * assignment, or the reward: the mean with the floor at the whole set
 * (ν_ic = 1, τ unused), L^ic = 1 − mean_i g_i, a weighted term that pushes
 * every detector to claim more, held back by L^s where detectors overlap.
 * Or not per detector at all: union, L^ic = E_p[Π_i (1 − y_{p,i})], the soft
 * share of pixels that no detector claims (a weighted term, or a bound on
 * that share; τ and γ unused): claiming a pixel some detector already claims earns nothing,
 * so a detector's threshold settles where its own concept ends and another
 * begins, whatever the concepts' frequencies (the fused CPU path only:
 * loss_column_* give NAN). */
enum {
    LOSS_COVERAGE_MEAN = 0,
    LOSS_COVERAGE_PER_DETECTOR = 1,
    LOSS_COVERAGE_SOFT = 2,
    LOSS_COVERAGE_REWARD = 3,
    LOSS_COVERAGE_UNION = 4
};

/* How L^s measures that detectors share a pixel: the entropy of the
 * detectors' normalised activations q_p (Eq. L^s, the paper's: scale-free,
 * so a pixel no detector claims costs as much as one all claim), or their
 * pairwise overlap (1/I) Σ_{i≠j} y_{p,i} y_{p,j} = (S_p² − Σ_i y_{p,i}²)/I
 * (0 where at most one detector fires: a pixel without a concept may stay
 * unclaimed). L^sb is then R_SW over the pixels' overlaps. With
 * --coverage reward at weight w_ic and overlap at w_s, lowering a
 * threshold past where its concept ends pays w_ic per pixel and costs
 * w_s·2 per pixel another detector claims, so w_s/w_ic above 1/2 over the
 * share of such pixels holds every threshold at its concept's edge,
 * whatever the concepts' frequencies and the pixels without one (the fused
 * CPU path only). */
enum {
    LOSS_SPARSITY_ENTROPY = 0,
    LOSS_SPARSITY_OVERLAP = 1
};

/* The options' names of a coverage and a sparsity ("mean", ...,
 * "overlap"; the order of the enums), as --coverage and --sparsity take
 * them and the output files record them; NULL for an unknown value. */
const char *loss_coverage_name(int coverage);
const char *loss_sparsity_name(int sparsity);

typedef struct {
    double gamma; /* sharpening exponent γ (> 0; the method uses γ > 1) */
    double tau;   /* L^ic target fraction τ > 0: ν_ic = τ/n_det */
    double rho;   /* L^eac bound ρ, 0 ≤ ρ < 1 */
    double nu;    /* R_SW exponent ν > 1 (L^sb, L^eac, L^ic per detector); default 4 */
    int coverage; /* LOSS_COVERAGE_MEAN (0), _PER_DETECTOR or _SOFT (floors τ·E_p[q_i];
                     the fused CPU path only: loss_column_* refuse it) */
    int sparsity; /* LOSS_SPARSITY_ENTROPY (0) or _OVERLAP */
} loss_pixel_config;

/* One weight per pixel loss. Weight 0 skips the term (its gradient is not
 * formed); ic and eac both 0 also skips the column pass of y^γ. */
typedef struct {
    double s, sb, ma, ic, eac;
} loss_pixel_weights;

/* Unweighted values and the weighted total Σ weight·value. s and ma are
 * always computed (they share one pass); sb is NAN when its weight was 0 in
 * the forward (R_SW over the pixels costs a pow per pixel; the backward
 * does not need the value); ic and eac are NAN when both their weights were
 * 0 in the forward. */
typedef struct {
    double s, sb, ma, ic, eac, total;
} loss_pixel_values;

/* 1 when γ > 0, τ > 0, 0 ≤ ρ < 1, ν ≥ 1 and a known coverage, the settings
 * the pixel losses are defined for. */
int loss_pixel_config_valid(const loss_pixel_config *cfg);

typedef struct loss_pixel_workspace loss_pixel_workspace;

/* For batches of up to max_pix pixels of n_det detectors; NULL on failure.
 * Holds 5·max_pix + 4·max_pix·n_det + 256·(2·n_det + 2) + 4·n_det doubles
 * and max_pix bytes (the per-logit cache is 4 doubles per logit, twice the
 * size of A and dA together). */
loss_pixel_workspace *loss_pixel_workspace_create(size_t max_pix,
                                                  size_t n_det);
void loss_pixel_workspace_free(loss_pixel_workspace *ws);

/* Pass 1. Returns 0, or non-zero for sizes beyond the workspace or an
 * invalid config. Remembers A, n_pix and cfg for the backward. */
int loss_pixel_forward(loss_pixel_workspace *ws, const double *A,
                       size_t n_pix, size_t n_det,
                       const loss_pixel_config *cfg,
                       const loss_pixel_weights *w, loss_pixel_values *out);
/* Pass 2: dA [n_pix × n_det] += Σ w·∂L/∂A, for the A of the last forward
 * (same pointer, unchanged contents; the values come from the forward's
 * per-logit cache, A itself is not read again). The weights may differ
 * from the forward's, except that ic/eac need their column statistics:
 * non-zero if the forward skipped them, or if A/n_pix differ from the last
 * forward. */
int loss_pixel_backward(loss_pixel_workspace *ws, const double *A,
                        size_t n_pix, const loss_pixel_weights *w,
                        double *dA);
/* Pass 2 that OVERWRITES dA [n_pix × n_det] with Σ w·∂L/∂A (no zeroing
 * pass before it), and, when colsum is not NULL, writes colsum [n_det] =
 * Σ_p dA[p,·] of what it wrote, summed in chunk order (deterministic): the
 * bias gradient of a = Wx − b without another pass over dA. */
int loss_pixel_backward_store(loss_pixel_workspace *ws, const double *A, size_t n_pix,
                              const loss_pixel_weights *w, double *dA, double *colsum);
/* The column terms from their statistic g [n_det] (column means of y^γ),
 * for a backend that reduces the pixels elsewhere (the CUDA step):
 * L^ic and L^eac (L^ic NAN for LOSS_COVERAGE_SOFT, whose floors need the
 * soft assignment), and col_coef [n_det] = γ/n_pix · (w_ic ∂L^ic/∂g_i +
 * w_eac ∂L^eac/∂g_i), the factor of y^γ(1 − y) in pass 2; returns whether
 * any col_coef is non-zero. */
void loss_column_values(const double *col_mean, size_t n_det, const loss_pixel_config *cfg, double *ic,
                        double *eac);
int loss_column_coefficients(const double *col_mean, size_t n_det, size_t n_pix,
                             const loss_pixel_config *cfg, const loss_pixel_weights *w, double *col_coef);

/* Forward, then backward when dA is not NULL. */
int loss_pixel_fused(loss_pixel_workspace *ws, const double *A, size_t n_pix,
                     size_t n_det, const loss_pixel_config *cfg,
                     const loss_pixel_weights *w, loss_pixel_values *out,
                     double *dA);

#endif
