/* test_metrics — IoU counts (§6.1), S¹/S² (§6.2, §12 item 8), Hungarian
 * matching, PR metrics and AP, Linear-OR (§6.6), summaries. */
#include "harness.h"
#include "metrics.h"
#include "rng.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int all_close(const double *got, const double *want, size_t n, double tol)
{
    for (size_t k = 0; k < n; k++)
        if (!(fabs(got[k] - want[k]) <= tol))
            return 0;
    return 1;
}

/* ---- bilinear upsampling: hand-computed torch align_corners=False values */
static void test_upsample(void)
{
    /* 2×2 → 4×4: each axis maps [a, b] to [a, ¾a+¼b, ¼a+¾b, b] */
    const double in[4] = {-1, 3, 1, 5};
    const double want[16] = {-1, 0, 2, 3,  -0.5, 0.5, 2.5, 3.5,
                             0.5, 1.5, 3.5, 4.5,  1, 2, 4, 5};
    double out[16];
    metrics_upsample_bilinear(in, 2, 2, 1, 4, 4, out);
    CHECK(all_close(out, want, 16, 1e-15), "2×2 → 4×4 bilinear");

    /* 1×3 → 1×5: [a, .6a+.4b, b, .4b+.6c, c] (source x = 0.6(dst+½)−½) */
    const double in3[3] = {0, 10, 20}, want5[5] = {0, 4, 10, 16, 20};
    double out5[5];
    metrics_upsample_bilinear(in3, 1, 3, 1, 1, 5, out5);
    CHECK(all_close(out5, want5, 5, 1e-12), "1×3 → 1×5 bilinear");

    /* strided read out of a logit array [h·w × n_det], detector 1 */
    const double A[4 * 3] = {9, -1, 9,  9, 3, 9,  9, 1, 9,  9, 5, 9};
    metrics_upsample_bilinear(A + 1, 2, 2, 3, 4, 4, out);
    CHECK(all_close(out, want, 16, 1e-15), "strided input");

    /* same size = identity */
    rng_state r;
    rng_init(&r, 3, RNG_STREAM_TEST);
    double x[7 * 7], y[7 * 7];
    for (int k = 0; k < 49; k++)
        x[k] = rng_normal(&r);
    metrics_upsample_bilinear(x, 7, 7, 1, 7, 7, y);
    CHECK(memcmp(x, y, sizeof x) == 0, "7×7 → 7×7 is the identity");
}

/* ---- IoU at feature resolution, category-aware --------------------------
 * concepts: 0 none, 1 and 2 (category 0, object), 3 (category 1, part),
 * 4 (category 2, scene, image-level). Three 2×2 images, two detectors:
 *   img0: object [1 1 2 0], part [3 0 0 0]        annotated {0, 1}
 *   img1: object [2 2 0 0], part absent           annotated {0}
 *   img2: object absent, part [3 3 0 0], scene 4  annotated {1, 2}
 *   det0 fires img0 [+ + − −], img1 none, img2 all
 *   det1 fires img0 [− − + −], img1 [+ + + −], img2 none */
enum { N_CON = 5, N_CAT = 3, N_MAP = 2, N_IMG = 3, N_DET = 2 };
static const int con_cat[N_CON] = {0, 0, 0, 1, 2};
static const int map_cat[N_MAP] = {0, 1};
static const int32_t maps[N_IMG * N_MAP * 4] = {
    1, 1, 2, 0,  3, 0, 0, 0,
    2, 2, 0, 0,  0, 0, 0, 0,
    0, 0, 0, 0,  3, 3, 0, 0,
};
static const uint8_t present[N_IMG * N_MAP] = {1, 1,  1, 0,  0, 1};
static const uint8_t img_labels[N_IMG * N_CON] = {
    0, 0, 0, 0, 0,  0, 0, 0, 0, 0,  0, 0, 0, 0, 1,
};
static const double logits[N_IMG * 4 * N_DET] = {
    1, -1,  2, -1,  -1, 1,  -1, -1,     /* img0 */
    -1, 1,  -1, 1,  -1, 1,  -1, -1,     /* img1 */
    1, -1,  1, -1,  1, -1,  1, -1,      /* img2 */
};

static metrics_annotations hand_annotations(void)
{
    metrics_annotations ann = {
        .hm = 2, .wm = 2, .n_map = N_MAP, .map_cat = map_cat, .maps = maps,
        .map_present = present, .img_labels = img_labels,
    };
    return ann;
}

static int counts_equal(const metrics_iou_counts *a, const metrics_iou_counts *b)
{
    return memcmp(a->inter, b->inter, a->n_unit * a->n_con * sizeof(uint64_t)) == 0 &&
           memcmp(a->unit_in_cat, b->unit_in_cat, a->n_unit * a->n_cat * sizeof(uint64_t)) == 0 &&
           memcmp(a->label, b->label, a->n_con * sizeof(uint64_t)) == 0;
}

static void test_iou_hand(void)
{
    metrics_units units;
    metrics_iou_counts c, c2, c3;
    CHECK(metrics_units_identity(&units, N_DET) == 0, "units");
    CHECK(metrics_iou_init(&c, &units, N_CON, N_CAT, con_cat) == 0, "init");
    metrics_annotations ann = hand_annotations();
    CHECK(metrics_iou_add(&c, logits, N_IMG, 2, 2, &ann) == 0, "add");

    const uint64_t want_label[N_CON] = {0, 2, 3, 3, 4};
    const uint64_t want_in_cat[N_DET * N_CAT] = {2, 6, 4,  4, 1, 0};
    const uint64_t want_inter[N_DET * N_CON] = {0, 2, 0, 3, 4,  0, 0, 3, 0, 0};
    CHECK(memcmp(c.label, want_label, sizeof want_label) == 0,
          "|L_c| = %llu %llu %llu %llu", (unsigned long long)c.label[1],
          (unsigned long long)c.label[2], (unsigned long long)c.label[3],
          (unsigned long long)c.label[4]);
    CHECK(memcmp(c.unit_in_cat, want_in_cat, sizeof want_in_cat) == 0,
          "category-aware |M_i|");
    CHECK(memcmp(c.inter, want_inter, sizeof want_inter) == 0, "|M_i ∩ L_c|");

    double iou[N_DET * N_CON];
    const double want_iou[N_DET * N_CON] = {0, 1.0, 0, 0.5, 1.0,  0, 0, 0.75, 0, 0};
    metrics_iou_compute(&c, iou);
    CHECK(all_close(iou, want_iou, N_DET * N_CON, 1e-15),
          "IoU det0 c1 = %g (1: img2's firing is outside the object category)", iou[1]);

    int best[N_DET];
    double phi[N_DET];
    metrics_best_label(iou, N_DET, N_CON, best);
    CHECK(best[0] == 1 && best[1] == 2, "best labels %d %d (tie → lowest id)", best[0], best[1]);
    metrics_label_iou(iou, N_DET, N_CON, best, phi);
    CHECK(phi[0] == 1.0 && phi[1] == 0.75, "label IoU");

    uint64_t tp[N_DET], fp[N_DET], fn[N_DET];
    const int lab[N_DET] = {3, 2};
    metrics_iou_confusion(&c, lab, tp, fp, fn);
    CHECK(tp[0] == 3 && fp[0] == 3 && fn[0] == 0, "det0 vs c3: TP FP FN = %llu %llu %llu",
          (unsigned long long)tp[0], (unsigned long long)fp[0], (unsigned long long)fn[0]);
    CHECK(tp[1] == 3 && fp[1] == 1 && fn[1] == 0, "det1 vs c2: TP FP FN");

    /* one image per batch = one batch; another thread count = same */
    CHECK(metrics_iou_init(&c2, &units, N_CON, N_CAT, con_cat) == 0, "init 2");
    for (size_t x = 0; x < N_IMG; x++) {
        metrics_annotations a1 = ann;
        a1.maps = maps + x * N_MAP * 4;
        a1.map_present = present + x * N_MAP;
        a1.img_labels = img_labels + x * N_CON;
        CHECK(metrics_iou_add(&c2, logits + x * 4 * N_DET, 1, 2, 2, &a1) == 0, "add one");
    }
    CHECK(counts_equal(&c, &c2), "streaming image by image = one batch");
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads == 1 ? 3 : 1);
    CHECK(metrics_iou_init(&c3, &units, N_CON, N_CAT, con_cat) == 0, "init 3");
    CHECK(metrics_iou_add(&c3, logits, N_IMG, 2, 2, &ann) == 0, "add 3");
    omp_set_num_threads(threads);
    CHECK(counts_equal(&c, &c3), "thread count does not change the counts");

    /* invalid concept id: error, nothing counted */
    int32_t bad[N_IMG * N_MAP * 4];
    memcpy(bad, maps, sizeof bad);
    bad[5] = N_CON;
    metrics_annotations ab = ann;
    ab.maps = bad;
    metrics_iou_reset(&c3);
    CHECK(metrics_iou_add(&c3, logits, N_IMG, 2, 2, &ab) == -2, "out-of-range concept rejected");
    uint64_t sum = 0;
    for (size_t k = 0; k < N_CON; k++)
        sum += c3.label[k];
    CHECK(sum == 0, "nothing counted on error");

    metrics_iou_free(&c);
    metrics_iou_free(&c2);
    metrics_iou_free(&c3);
    metrics_units_free(&units);
}

/* Two layers of one category naming the same concept at one pixel: the
 * pixel is in L_c once. */
static void test_iou_layers(void)
{
    const int cats[2] = {0, 0}, ccat[3] = {0, 0, 0};
    const int32_t m[2 * 2] = {1, 2,  1, 1};   /* layer 0 [1 2], layer 1 [1 1] */
    const double A[2] = {1, 1};               /* one detector, 1×2 image */
    metrics_units units;
    metrics_iou_counts c;
    metrics_units_identity(&units, 1);
    CHECK(metrics_iou_init(&c, &units, 3, 1, ccat) == 0, "init");
    metrics_annotations ann = {.hm = 1, .wm = 2, .n_map = 2, .map_cat = cats, .maps = m};
    CHECK(metrics_iou_add(&c, A, 1, 1, 2, &ann) == 0, "add");
    CHECK(c.label[1] == 2 && c.label[2] == 1, "|L_1| = %llu, |L_2| = %llu",
          (unsigned long long)c.label[1], (unsigned long long)c.label[2]);
    CHECK(c.inter[1] == 2 && c.inter[2] == 1 && c.unit_in_cat[0] == 2, "inter");
    metrics_iou_free(&c);
    metrics_units_free(&units);
}

/* A concept labelled image-level is the whole image: the same concept in a
 * pixel map of that image adds nothing. Whole image = hm·wm pixels. */
static void test_iou_image_level(void)
{
    const int cats[1] = {0}, ccat[3] = {0, 0, 0};
    const int32_t m[4] = {2, 0, 0, 2};
    const uint8_t labs[3] = {0, 0, 1};
    const double A[4] = {1, 1, -1, -1};       /* one detector, 2×2 image */
    metrics_units units;
    metrics_iou_counts c;
    metrics_units_identity(&units, 1);
    CHECK(metrics_iou_init(&c, &units, 3, 1, ccat) == 0, "init");
    metrics_annotations ann = {.hm = 2, .wm = 2, .n_map = 1, .map_cat = cats,
                               .maps = m, .img_labels = labs};
    CHECK(metrics_iou_add(&c, A, 1, 2, 2, &ann) == 0, "add");
    CHECK(c.label[2] == 4 && c.inter[2] == 2, "image-level L_2 = whole image (%llu, ∩ %llu)",
          (unsigned long long)c.label[2], (unsigned long long)c.inter[2]);
    CHECK(c.unit_in_cat[0] == 2, "|M| counted once");
    metrics_iou_free(&c);
    metrics_units_free(&units);
}

/* Upsampled path: 2×2 logits [[-1, 3], [1, 5]] → 4×4 (values in
 * test_upsample), mask > 0 has 13 pixels; concept 1 on the left two
 * columns (8 pixels) meets it in 5 → IoU 5/16. Thresholding first and
 * upsampling the mask would give 12 pixels instead. */
static void test_iou_upsampled(void)
{
    const double A[4] = {-1, 3, 1, 5};
    int32_t m[16];
    for (int k = 0; k < 16; k++)
        m[k] = (k % 4) < 2 ? 1 : 0;
    const int cats[1] = {0}, ccat[2] = {0, 0};
    metrics_units units;
    metrics_iou_counts c;
    metrics_units_identity(&units, 1);
    CHECK(metrics_iou_init(&c, &units, 2, 1, ccat) == 0, "init");
    metrics_annotations ann = {.hm = 4, .wm = 4, .n_map = 1, .map_cat = cats, .maps = m};
    CHECK(metrics_iou_add(&c, A, 1, 2, 2, &ann) == 0, "add");
    CHECK(c.unit_in_cat[0] == 13 && c.inter[1] == 5 && c.label[1] == 8,
          "upsampled counts |M| %llu ∩ %llu |L| %llu", (unsigned long long)c.unit_in_cat[0],
          (unsigned long long)c.inter[1], (unsigned long long)c.label[1]);
    double iou[2];
    metrics_iou_compute(&c, iou);
    CHECK_CLOSE(iou[1], 5.0 / 16.0, 1e-15, "upsampled IoU");
    metrics_iou_free(&c);
    metrics_units_free(&units);
}

/* Linear-OR: units by label, max of member scores, and at annotation
 * resolution the OR of upsampled masks (8 pixels), not the mask of the
 * upsampled max of logits (10 pixels). */
static void test_linear_or(void)
{
    const int label[4] = {3, 0, 3, 1};
    int unit_label[4];
    metrics_units u;
    CHECK(metrics_units_by_label(&u, label, 4, unit_label) == 0, "by label");
    CHECK(u.n_unit == 2 && unit_label[0] == 1 && unit_label[1] == 3, "units ordered by label");
    CHECK(u.start[1] - u.start[0] == 1 && u.member[u.start[0]] == 3, "unit 0 = {det3}");
    CHECK(u.start[2] - u.start[1] == 2 && u.member[u.start[1]] == 0 &&
          u.member[u.start[1] + 1] == 2, "unit 1 = {det0, det2}");
    const double A[2 * 4] = {-1, 9, 2, -3,  0.5, 9, -7, 4};
    double out[2 * 2];
    metrics_units_max(&u, A, 2, out);
    CHECK(out[0] == -3 && out[1] == 2 && out[2] == 4 && out[3] == 0.5, "unit max scores");
    metrics_units_free(&u);

    /* two detectors, one unit; det0 fires top-right, det1 bottom-left */
    const int lab2[2] = {1, 1}, cats[1] = {0}, ccat[2] = {0, 0};
    const double L[4 * 2] = {-1, -1,  3, -1,  -1, 3,  -1, -1};
    CHECK(metrics_units_by_label(&u, lab2, 2, unit_label) == 0, "by label 2");
    double score[16];
    metrics_unit_scores(&u, L, 2, 2, 4, 4, score);
    /* det0 upsampled row 1: [-1, -0.25, 1.25, 2]; det1 row 1: [0, -0.25, -0.75, -1] */
    const double want_row1[4] = {0, -0.25, 1.25, 2};
    CHECK(all_close(score + 4, want_row1, 4, 1e-15), "max of upsampled members");
    int32_t m[16] = {0};
    metrics_iou_counts c;
    CHECK(metrics_iou_init(&c, &u, 2, 1, ccat) == 0, "init");
    metrics_annotations ann = {.hm = 4, .wm = 4, .n_map = 1, .map_cat = cats, .maps = m};
    CHECK(metrics_iou_add(&c, L, 1, 2, 2, &ann) == 0, "add");
    CHECK(c.unit_in_cat[0] == 8, "Linear-OR mask = OR of upsampled masks (%llu px)",
          (unsigned long long)c.unit_in_cat[0]);
    metrics_iou_free(&c);
    metrics_units_free(&u);

    const int bad[2] = {0, 2};
    CHECK(metrics_units_init(&u, bad, 2, 2) == -2, "unit id out of range rejected");
}

/* ---- S¹ / S² ------------------------------------------------------------ */
static void test_scores(void)
{
    const double phi[3] = {0.5, 0.3, 0.2};
    const int best[3] = {1, 1, 2};
    CHECK_CLOSE(metrics_s1(phi, 3), 1.0, 1e-15, "S¹ hand");
    CHECK_CLOSE(metrics_s2(phi, best, 3), 0.7, 1e-15, "S² hand");

    /* §12 item 8: closed form = ξ-grid integral, G = 10⁴, within 1e-3·n
     * (each unit's grid term is floor(φG)/G, so the gap is ≤ n/G) */
    enum { N = 40, G = 10000 };
    rng_state r;
    rng_init(&r, 8, RNG_STREAM_TEST);
    double p[N];
    int b[N];
    for (int k = 0; k < N; k++) {
        p[k] = rng_uniform(&r);
        b[k] = 1 + (int)rng_below(&r, 8);
    }
    p[3] = 1.0;
    p[4] = 0.0;
    double s1 = metrics_s1(p, N), s2 = metrics_s2(p, b, N);
    double g1 = metrics_s1_grid(p, N, G), g2 = metrics_s2_grid(p, b, N, G);
    CHECK(fabs(s1 - g1) <= 1e-3 * N && fabs(s1 - g1) <= (double)N / G + 1e-12,
          "S¹ closed %.6f vs grid %.6f", s1, g1);
    CHECK(fabs(s2 - g2) <= 1e-3 * N && fabs(s2 - g2) <= (double)N / G + 1e-12,
          "S² closed %.6f vs grid %.6f", s2, g2);
    CHECK(s2 < s1, "S² < S¹ when labels repeat");
}

/* ---- Hungarian against brute force ------------------------------------- */

/* Best total over injective maps rows → columns (n_row ≤ n_col). */
static double brute_rows(const double *s, size_t n_row, size_t n_col, size_t row,
                         unsigned used)
{
    if (row == n_row)
        return 0;
    double best = -INFINITY;
    for (size_t c = 0; c < n_col; c++)
        if (!(used & (1u << c))) {
            double v = s[row * n_col + c] + brute_rows(s, n_row, n_col, row + 1, used | (1u << c));
            if (v > best)
                best = v;
        }
    return best;
}

static double brute_force(const double *s, size_t n_row, size_t n_col)
{
    if (n_row <= n_col)
        return brute_rows(s, n_row, n_col, 0, 0);
    double *t = malloc(n_row * n_col * sizeof(double));
    for (size_t r = 0; r < n_row; r++)
        for (size_t c = 0; c < n_col; c++)
            t[c * n_row + r] = s[r * n_col + c];
    double v = brute_rows(t, n_col, n_row, 0, 0);
    free(t);
    return v;
}

static void test_hungarian(void)
{
    const size_t shapes[][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {6, 6},
                                {3, 5}, {5, 3}, {2, 7}, {7, 2}, {1, 4}};
    rng_state r;
    rng_init(&r, 21, RNG_STREAM_TEST);
    int bad_total = 0, bad_valid = 0, n_cases = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int rep = 0; rep < 20; rep++) {
            size_t nr = shapes[sh][0], nc = shapes[sh][1];
            double s[49];
            int assign[7];
            for (size_t k = 0; k < nr * nc; k++)   /* half the cases full of ties */
                s[k] = rep % 2 ? rng_uniform(&r) : (double)rng_below(&r, 3);
            if (metrics_hungarian_max(s, nr, nc, assign) != 0) {
                bad_valid++;
                continue;
            }
            double total = 0;
            unsigned used = 0;
            size_t n_assigned = 0;
            for (size_t i = 0; i < nr; i++) {
                if (assign[i] < 0)
                    continue;
                if (assign[i] >= (int)nc || (used & (1u << assign[i])))
                    bad_valid++;
                used |= 1u << assign[i];
                n_assigned++;
                total += s[i * nc + (size_t)assign[i]];
            }
            if (n_assigned != (nr < nc ? nr : nc))
                bad_valid++;
            if (fabs(total - brute_force(s, nr, nc)) > 1e-12)
                bad_total++;
            n_cases++;
        }
    CHECK(bad_valid == 0, "Hungarian: %d invalid assignments", bad_valid);
    CHECK(bad_total == 0, "Hungarian: %d of %d totals differ from brute force",
          bad_total, n_cases);

    /* a case where greedy fails: greedy takes 0.9 then 0.1 (1.0) */
    const double s[4] = {0.9, 0.8, 0.7, 0.1};
    int a[2];
    CHECK(metrics_hungarian_max(s, 2, 2, a) == 0 && a[0] == 1 && a[1] == 0,
          "Hungarian beats greedy (%d, %d)", a[0], a[1]);
    const double nan_s[1] = {NAN};
    CHECK(metrics_hungarian_max(nan_s, 1, 1, a) == -2, "non-finite score rejected");
}

/* ---- precision / recall / F1 / IoU ------------------------------------- */
static void test_prf(void)
{
    const uint64_t tp[3] = {3, 2, 0}, fp[3] = {1, 2, 0}, fn[3] = {0, 6, 0};
    double p[3], r[3], f[3], j[3];
    metrics_prf(tp, fp, fn, 3, p, r, f, j);
    CHECK_CLOSE(p[0], 0.75, 1e-15, "P0");
    CHECK_CLOSE(r[0], 1.0, 1e-15, "R0");
    CHECK_CLOSE(f[0], 6.0 / 7.0, 1e-15, "F1_0");
    CHECK_CLOSE(j[0], 0.75, 1e-15, "IoU0");
    CHECK_CLOSE(p[1], 0.5, 1e-15, "P1");
    CHECK_CLOSE(r[1], 0.25, 1e-15, "R1");
    CHECK_CLOSE(f[1], 1.0 / 3.0, 1e-15, "F1_1");
    CHECK_CLOSE(j[1], 0.2, 1e-15, "IoU1");
    CHECK(p[2] == 0 && r[2] == 0 && f[2] == 0 && j[2] == 0, "0/0 → 0");
}

/* ---- average precision -------------------------------------------------- */
static double ap_of(const double *s, const uint8_t *y, size_t n)
{
    double ap = -1;
    int st = metrics_average_precision(s, y, n, &ap);
    return st == 0 ? ap : -100.0 + st;
}

static void test_ap(void)
{
    /* sklearn's documented example: average_precision_score → 0.83333 */
    const double s1[4] = {0.1, 0.4, 0.35, 0.8};
    const uint8_t y1[4] = {0, 0, 1, 1};
    CHECK_CLOSE(ap_of(s1, y1, 4), 5.0 / 6.0, 1e-15, "AP sklearn example");

    /* ties: thresholds .9 (P 1, R ⅓), .8 (P ⅔, R ⅔), .7 (P ¾, R 1), .5:
     * AP = ⅓·1 + ⅓·⅔ + ⅓·¾ = 29/36 */
    const double s2[5] = {0.9, 0.8, 0.8, 0.7, 0.5};
    const uint8_t y2[5] = {1, 0, 1, 1, 0};
    CHECK_CLOSE(ap_of(s2, y2, 5), 29.0 / 36.0, 1e-15, "AP with a tie");
    const double s2p[5] = {0.8, 0.5, 0.9, 0.8, 0.7};   /* same, permuted */
    const uint8_t y2p[5] = {1, 0, 1, 0, 1};
    CHECK_CLOSE(ap_of(s2p, y2p, 5), 29.0 / 36.0, 1e-15, "AP independent of order in ties");

    /* everything tied: AP = prevalence */
    const double s3[4] = {0.5, 0.5, 0.5, 0.5};
    const uint8_t y3[4] = {1, 0, 0, 1};
    CHECK_CLOSE(ap_of(s3, y3, 4), 0.5, 1e-15, "AP all tied");
    /* perfect ranking with a tie among positives */
    const double s4[4] = {2, 2, 1, 0};
    const uint8_t y4[4] = {1, 1, 0, 0};
    CHECK_CLOSE(ap_of(s4, y4, 4), 1.0, 1e-15, "AP perfect");
    /* no positives → 0; NaN → error */
    const uint8_t y5[4] = {0, 0, 0, 0};
    CHECK(ap_of(s4, y5, 4) == 0.0, "AP without positives is 0");
    const double s6[2] = {NAN, 1};
    CHECK(ap_of(s6, y4, 2) == -102.0, "NaN score rejected");
}

/* The table from hand-set counts: unit 0 labelled 1 (TP 3, FP 1, FN 0),
 * unit 1 labelled 2 (TP 2, FP 2, FN 6), unit 2 "none" (all 0). */
static void test_prf_table(void)
{
    metrics_units units;
    metrics_iou_counts c;
    const int ccat[3] = {0, 0, 0}, label[3] = {1, 2, 0};
    CHECK(metrics_units_identity(&units, 3) == 0 && metrics_iou_init(&c, &units, 3, 1, ccat) == 0, "init");
    c.inter[0 * 3 + 1] = 3, c.unit_in_cat[0] = 4, c.label[1] = 3;
    c.inter[1 * 3 + 2] = 2, c.unit_in_cat[1] = 4, c.label[2] = 8;
    c.unit_in_cat[2] = 5;
    metrics_prf_table t;
    CHECK(metrics_prf_table_init(&t, 3) == 0 && t.n == 3, "table init");
    t.ap[0] = 0.5, t.ap[1] = 0.25, t.ap[2] = 0;
    CHECK(metrics_prf_table_fill(&t, &c, label) == 0, "table fill");
    CHECK(t.tp[0] == 3 && t.fp[0] == 1 && t.fn[0] == 0 && t.tp[1] == 2 && t.fp[1] == 2 && t.fn[1] == 6 &&
              t.tp[2] == 0 && t.fp[2] == 0 && t.fn[2] == 0, "confusion counts");
    CHECK_CLOSE(t.precision[0], 0.75, 1e-15, "P0");
    CHECK_CLOSE(t.f1[1], 1.0 / 3.0, 1e-15, "F1_1");
    CHECK_CLOSE(t.iou[1], 0.2, 1e-15, "IoU1");
    CHECK(t.ap[0] == 0.5 && t.ap[1] == 0.25, "fill leaves AP alone");
    metrics_prf_summary s = metrics_prf_table_summary(&t, 1.5, 0.75);
    CHECK(s.s1 == 1.5 && s.s2 == 0.75, "S1, S2 passed through");
    CHECK_CLOSE(s.precision, (0.75 + 0.5) / 3, 1e-15, "mean P");
    CHECK_CLOSE(s.recall, (1.0 + 0.25) / 3, 1e-15, "mean R");
    CHECK_CLOSE(s.iou, (0.75 + 0.2) / 3, 1e-15, "mean IoU");
    CHECK_CLOSE(s.ap, 0.75 / 3, 1e-15, "mean AP");
    metrics_prf_table_free(&t);
    metrics_prf_table empty;
    CHECK(metrics_prf_table_init(&empty, 0) == 0 && isnan(metrics_prf_table_summary(&empty, 0, 0).f1),
          "an empty table: mean NaN");
    metrics_prf_table_free(&empty);
    metrics_iou_free(&c);
    metrics_units_free(&units);
}

static void test_summaries(void)
{
    const double x[4] = {1, 2, 3, 4}, a[2] = {0, 0}, b[2] = {3, 4};
    CHECK_CLOSE(metrics_mean(x, 4), 2.5, 1e-15, "mean");
    CHECK_CLOSE(metrics_std_sample(x, 4), sqrt(5.0 / 3.0), 1e-15, "sample std");
    CHECK(isnan(metrics_std_sample(x, 1)), "std of one value is NaN");
    CHECK_CLOSE(metrics_rmse(a, b, 2), sqrt(12.5), 1e-15, "rmse");
}

int main(void)
{
    test_upsample();
    test_iou_hand();
    test_iou_layers();
    test_iou_image_level();
    test_iou_upsampled();
    test_linear_or();
    test_scores();
    test_hungarian();
    test_prf();
    test_ap();
    test_prf_table();
    test_summaries();
    return harness_report("metrics");
}
