/* test_overlap — IoU between detectors' firing sets (libcore/evaluation/
 * overlap): a hand-counted instance, a brute-force recount on random data,
 * the same counts for any thread count, refusals. */
#include "harness.h"
#include "overlap.h"
#include "rng.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* 2 images of 2 pixels, 2 channels, NCHW. Pixels (x0, x1):
 * img0: (1, 0), (1, 1); img1: (0, 1), (0, 0).
 * Detectors: x0 > 0.5 fires on {0, 1}; x1 > 0.5 on {1, 2}; x0 + x1 > 0.5
 * on {0, 1, 2}; −x0 > 0.5 nowhere. */
static void test_hand_counted(void)
{
    const float features[8] = {1, 1, 0, 1, /* img0: channel 0 then 1 */ 0, 0, 1, 0};
    const double W[8] = {1, 0, 0, 1, 1, 1, -1, 0}, b[4] = {0.5, 0.5, 0.5, 0.5};
    double iou[16], cov[4];
    CHECK(overlap_firing(features, 2, 2, 2, W, b, 4, iou, cov) == 0, "status");
    CHECK(cov[0] == 0.5 && cov[1] == 0.5 && cov[2] == 0.75 && cov[3] == 0.0,
          "coverage %g %g %g %g", cov[0], cov[1], cov[2], cov[3]);
    CHECK_CLOSE(iou[0 * 4 + 1], 1.0 / 3.0, 1e-15, "IoU(0,1) = 1/3");
    CHECK_CLOSE(iou[0 * 4 + 2], 2.0 / 3.0, 1e-15, "IoU(0,2) = 2/3");
    CHECK_CLOSE(iou[1 * 4 + 2], 2.0 / 3.0, 1e-15, "IoU(1,2) = 2/3");
    CHECK(iou[2 * 4 + 1] == iou[1 * 4 + 2], "symmetric");
    CHECK(iou[0] == 1.0 && iou[3 * 4 + 3] == 0.0 && iou[0 * 4 + 3] == 0.0,
          "diagonal 1 where firing, 0 for a silent detector and its pairs");
    int i, j;
    double worst = overlap_worst_pair(iou, 4, &i, &j);
    CHECK(worst == iou[0 * 4 + 2] && i == 0 && j == 2, "worst pair (0, 2): first of the ties");
    double none[4] = {1, 0, 0, 1};
    CHECK(overlap_worst_pair(none, 2, &i, &j) == 0.0 && i == -1 && j == -1, "disjoint: no pair");
    CHECK(overlap_firing(features, 0, 2, 2, W, b, 4, iou, cov) != 0, "no pixels refused");
    CHECK(overlap_firing(features, 2, 2, 2, W, b, 0, iou, cov) != 0, "no detectors refused");
}

/* Random data against a direct recount of every pair, at 1 and 3 threads. */
static void test_recount(void)
{
    enum { N_IMG = 37, DIM = 5, HW = 3, N_DET = 6 };
    rng_state r;
    rng_init(&r, 5, RNG_STREAM_TRAIN);
    float *x = malloc(sizeof(float) * N_IMG * DIM * HW);
    double W[N_DET * DIM], b[N_DET];
    for (size_t k = 0; k < (size_t)N_IMG * DIM * HW; k++)
        x[k] = (float)rng_normal(&r);
    for (int k = 0; k < N_DET * DIM; k++)
        W[k] = rng_normal(&r);
    for (int i = 0; i < N_DET; i++)
        b[i] = 0.5 * rng_normal(&r);
    W[5 * DIM + 0] = W[4 * DIM + 0]; /* detectors 4 and 5 nearly the same */
    for (int c = 1; c < DIM; c++)
        W[5 * DIM + c] = W[4 * DIM + c] * 1.01;
    b[5] = b[4];
    int fires[N_IMG * HW][N_DET];
    for (int n = 0; n < N_IMG; n++)
        for (int q = 0; q < HW; q++)
            for (int i = 0; i < N_DET; i++) {
                double a = -b[i];
                for (int c = 0; c < DIM; c++)
                    a += W[i * DIM + c] * (double)x[(n * DIM + c) * HW + q];
                fires[n * HW + q][i] = a > 0;
            }
    double iou1[N_DET * N_DET], cov1[N_DET], iou3[N_DET * N_DET], cov3[N_DET];
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    overlap_firing(x, N_IMG, DIM, HW, W, b, N_DET, iou1, cov1);
    omp_set_num_threads(3);
    overlap_firing(x, N_IMG, DIM, HW, W, b, N_DET, iou3, cov3);
    omp_set_num_threads(saved);
    CHECK(!memcmp(iou1, iou3, sizeof iou1) && !memcmp(cov1, cov3, sizeof cov1), "1 and 3 threads: same bits");
    int ok = 1;
    for (int i = 0; i < N_DET; i++)
        for (int j = 0; j < N_DET; j++) {
            int inter = 0, uni = 0;
            for (int p = 0; p < N_IMG * HW; p++) {
                inter += fires[p][i] && fires[p][j];
                uni += fires[p][i] || fires[p][j];
            }
            ok &= fabs(iou1[i * N_DET + j] - (uni ? (double)inter / uni : 0.0)) < 1e-15;
        }
    CHECK(ok, "every pair's IoU equals a direct recount");
    int i, j;
    CHECK(overlap_worst_pair(iou1, N_DET, &i, &j) > 0.9 && i == 4 && j == 5, "the near-duplicate pair is the worst");
    /* in parts of 10, 10, 10, 7 images, as a streamed set is counted */
    overlap_counts counts;
    double iou_parts[N_DET * N_DET], cov_parts[N_DET];
    CHECK(overlap_counts_init(&counts, N_DET) == 0, "counts init");
    for (int img0 = 0; img0 < N_IMG; img0 += 10)
        CHECK(overlap_count(&counts, x + (size_t)img0 * DIM * HW, img0 + 10 <= N_IMG ? 10 : N_IMG - img0, DIM, HW,
                            W, b) == 0, "count a part");
    CHECK(overlap_result(&counts, iou_parts, cov_parts) == 0, "result");
    CHECK(!memcmp(iou1, iou_parts, sizeof iou1) && !memcmp(cov1, cov_parts, sizeof cov1),
          "counted in parts: the same bits as the whole set");
    overlap_counts_free(&counts);
    CHECK(overlap_counts_init(&counts, 3) == 0 && overlap_result(&counts, iou_parts, cov_parts) != 0,
          "a result over no pixels is refused");
    overlap_counts_free(&counts);
    free(x);
}

int main(void)
{
    test_hand_counted();
    test_recount();
    return harness_report("overlap");
}
