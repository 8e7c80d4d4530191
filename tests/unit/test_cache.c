/* test_cache — the eddp-cache: layout changes, the per-channel statistics
 * streamed in batches (bit-identical to one pass), the float16 range check,
 * a cache written and read back through learn_load (bit-identical to the
 * features file in float32; within half rounding in float16), and the device
 * memory estimate with its plans. */
#include "cache.h"
#include "error.h"
#include "features.h"
#include "half.h"
#include "cache_fixture.h"
#include "harness.h"
#include "learn.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill_normal(float *x, size_t n, double scale, double offset, uint64_t seed)
{
    rng_state rng;
    rng_init(&rng, seed, 0);
    for (size_t k = 0; k < n; k++)
        x[k] = (float)(offset + scale * rng_normal(&rng));
}

static void test_layout(void)
{
    enum { N = 3, C = 5, HW = 7 };
    float nchw[N * C * HW], pix[N * C * HW], back[N * C * HW];
    fill_normal(nchw, N * C * HW, 1, 0, 1);
    cache_nchw_to_pixels(nchw, N, C, HW, pix);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int d = 0; d < C; d++)
            for (int p = 0; p < HW; p++)
                bad += pix[(n * HW + p) * C + d] != nchw[(n * C + d) * HW + p];
    CHECK(bad == 0, "pixel-major layout: %d elements misplaced", bad);
    cache_pixels_to_nchw(pix, N, C, HW, back);
    CHECK(!memcmp(back, nchw, sizeof nchw), "pixel-major → NCHW is the inverse");
}

/* Sums and squared deviations streamed in batches of whole images equal one
 * pass bit for bit, and agree with a long double reference. */
static void test_stats_batches(void)
{
    enum { N = 37, C = 6, HW = 9 };
    static float x[N * C * HW];
    fill_normal(x, N * C * HW, 3, 100, 2);
    double sum1[C] = {0}, sq1[C] = {0}, mean1[C], std1[C];
    features_channel_sums(x, N, C, HW, sum1);
    features_channel_mean(sum1, C, N * HW, mean1);
    features_channel_sqdev(x, N, C, HW, mean1, sq1);
    features_channel_std(sq1, C, N * HW, std1);
    double sum2[C] = {0}, sq2[C] = {0}, mean2[C], std2[C];
    size_t sizes[] = {1, 4, 10, 7, 15}, img0 = 0;
    for (int k = 0; img0 < N; k++) {
        size_t n = sizes[k % 5] < N - img0 ? sizes[k % 5] : N - img0;
        features_channel_sums(x + img0 * C * HW, n, C, HW, sum2);
        img0 += n;
    }
    features_channel_mean(sum2, C, N * HW, mean2);
    for (img0 = 0; img0 < N; img0 += 5)
        features_channel_sqdev(x + img0 * C * HW, N - img0 < 5 ? N - img0 : 5, C, HW, mean2, sq2);
    features_channel_std(sq2, C, N * HW, std2);
    CHECK(!memcmp(mean1, mean2, sizeof mean1) && !memcmp(std1, std2, sizeof std1),
          "batched statistics are bit-identical to one pass");
    for (int d = 0; d < C; d++) {
        long double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < HW; p++)
                s += x[(n * C + d) * HW + p];
        long double m = s / (N * HW);
        for (int n = 0; n < N; n++)
            for (int p = 0; p < HW; p++)
                q += (x[(n * C + d) * HW + p] - m) * (x[(n * C + d) * HW + p] - m);
        CHECK_CLOSE(mean1[d], (double)m, 1e-12, "channel mean");
        CHECK_CLOSE(std1[d], sqrtl(q / (N * HW)), 1e-10, "channel std");
    }
}

static void test_half_range(void)
{
    enum { N = 3, C = 2, HW = 4 };
    float x[N * C * HW] = {0};
    x[5] = 65504.0f;
    x[7] = -65504.0f;
    error_clear();
    CHECK(cache_check_half_range("f.h5", x, N, C, HW, 10) == 0, "±65504 fit float16");
    x[(2 * C + 1) * HW + 3] = -65505.0f; /* image 2, channel 1, pixel 3 */
    int rc = cache_check_half_range("f.h5", x, N, C, HW, 10);
    CHECK(rc == EX_DATAERR && strstr(error_message(), "f.h5") && strstr(error_message(), "image 12, channel 1 (pixel 3)") &&
              strstr(error_message(), "65504"),
          "|x| > 65504 is refused naming the image and channel: %s", error_message());
    error_clear();
}

/* ------------------------------------------------------------ files */

static char dir[64];

static int write_features(const char *path, const float *x, size_t n, size_t c, size_t h, size_t w)
{
    h5out out;
    hsize_t dims[4] = {n, c, h, w}, ldims[1] = {n};
    int32_t labels[64];
    for (size_t k = 0; k < n; k++)
        labels[k] = (int32_t)(k % 3);
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, dims, x) ||
             h5out_write(&out, "/labels", H5IO_INT32, 1, ldims, labels) || h5out_commit(&out);
    return rc;
}

static void test_files(void)
{
    enum { N = 23, C = 5, H = 3, W = 2 };
    static float x[N * C * H * W];
    fill_normal(x, N * C * H * W, 2, 1, 3);
    char feat[128], c32[128], c16[128], bad[128];
    snprintf(feat, sizeof feat, "%s/f.h5", dir);
    snprintf(c32, sizeof c32, "%s/c32.h5", dir);
    snprintf(c16, sizeof c16, "%s/c16.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    /* batches of 100 bytes: several images per batch, many batches */
    int rc = write_features(feat, x, N, C, H, W) || write_cache_file(feat, c32, 0, 400) || write_cache_file(feat, c16, 1, 400);
    CHECK(rc == 0, "features and caches written: %s", error_message());
    if (rc)
        return;
    learn_set a, b, c;
    rc = learn_load(&a, feat) || learn_load(&b, c32) || learn_load(&c, c16);
    CHECK(rc == 0, "learn_load reads features and caches: %s", error_message());
    if (rc)
        return;
    size_t n_val = (size_t)N * C * H * W;
    CHECK(b.data.n_img == N && b.data.n_dim == C && b.data.hw == H * W && b.ff.height == H && b.ff.width == W,
          "a cache gives the features' shape");
    CHECK(!memcmp(a.features, b.features, n_val * sizeof(float)), "float32 cache: features bit-identical");
    CHECK(!memcmp(a.pooled, b.pooled, (size_t)N * C * sizeof(double)), "float32 cache: pooled bit-identical");
    CHECK(!memcmp(a.mean, b.mean, C * sizeof(double)) && !memcmp(a.std, b.std, C * sizeof(double)),
          "float32 cache: mean and std bit-identical");
    CHECK(a.value_bytes == 4 && b.value_bytes == 4 && c.value_bytes == 2, "value_bytes 4, 4, 2");
    int bad_half = 0;
    for (size_t k = 0; k < n_val; k++)
        bad_half += c.features[k] != half_to_float(half_from_float(a.features[k]));
    CHECK(bad_half == 0, "float16 cache: features are the rounded source (%d differ)", bad_half);
    CHECK(!memcmp(a.pooled, c.pooled, (size_t)N * C * sizeof(double)) && !memcmp(a.mean, c.mean, C * sizeof(double)) &&
              !memcmp(a.std, c.std, C * sizeof(double)),
          "float16 cache: pooled, mean and std of the float32 source");
    learn_free(&a);
    learn_free(&b);
    learn_free(&c);

    /* a value beyond float16's range is refused and leaves no output */
    x[(7 * C + 4) * H * W + 5] = 70000.0f;
    CHECK(write_features(feat, x, N, C, H, W) == 0, "features with 70000 written");
    error_clear();
    rc = write_cache_file(feat, bad, 1, 400);
    CHECK(rc == EX_DATAERR && strstr(error_message(), "image 7, channel 4 (pixel 5)"),
          "--half refuses 70000: %s", error_message());
    CHECK(access(bad, F_OK) != 0, "no output after the refusal");
    error_clear();
    CHECK(write_cache_file(feat, bad, 0, 0) == 0 && learn_load(&a, bad) == 0 &&
              a.features[(7 * C + 4) * H * W + 5] == 70000.0f,
          "float32 storage keeps 70000");
    learn_free(&a);
    error_clear();
    CHECK(learn_load(&a, "/nonexistent/x.h5") == EX_NOINPUT, "a missing input is EX_NOINPUT");
    learn_free(&a);
    error_clear();
    unlink(feat);
    unlink(c32);
    unlink(c16);
    unlink(bad);
}

/* ------------------------------------------------------------ memory */

static void test_memory(void)
{
    cache_run run = {.n_img = 10, .n_dim = 4, .hw = 6, .n_det = 3, .n_cls = 2, .batch_images = 4,
                     .value_bytes = 2, .resident = 1};
    cache_memory m;
    cache_memory_estimate(&run, &m);
    CHECK(m.pixels == 480 && m.pooled == 192 && m.parameters == 616 && m.reserve == CACHE_RESERVE_BYTES &&
              m.staging == 0,
          "resident parts: pixels %llu pooled %llu parameters %llu", (unsigned long long)m.pixels,
          (unsigned long long)m.pooled, (unsigned long long)m.parameters);
    CHECK(m.batch_x == 384 && m.logits == 288 && m.dlogits == 288 && m.pixel_cache == 1152 && m.pixel_rows == 504 &&
              m.pooled_batch == 592,
          "batch parts: X %llu A %llu cache %llu rows %llu pooled %llu", (unsigned long long)m.batch_x,
          (unsigned long long)m.logits, (unsigned long long)m.pixel_cache, (unsigned long long)m.pixel_rows,
          (unsigned long long)m.pooled_batch);
    CHECK(m.total == m.resident_total + m.batch_total && m.resident_total == 480 + 192 + 616 + CACHE_RESERVE_BYTES &&
              m.batch_total == 384 + 288 + 288 + 1152 + 504 + 592,
          "totals add the parts");
    run.resident = 0;
    cache_memory_estimate(&run, &m);
    CHECK(m.pixels == 0 && m.pooled == 32 && m.staging == 2 * (24 * 4 * 2 + 4 * 4 * 4), "streamed: staging %llu",
          (unsigned long long)m.staging);
    run.batch_images = 1000;
    cache_memory m_big, m_all;
    cache_memory_estimate(&run, &m_big);
    run.batch_images = 10;
    cache_memory_estimate(&run, &m_all);
    CHECK(m_big.total == m_all.total, "a batch is at most N images");

    /* the largest batch that fits: total(B) <= free < total(B + 1) */
    run = (cache_run){.n_img = 5000, .n_dim = 512, .hw = 49, .n_det = 500, .n_cls = 1000,
                      .batch_images = 1024, .value_bytes = 4, .resident = 1};
    uint64_t frees[] = {(uint64_t)1 << 30, (uint64_t)2 << 30, (uint64_t)3 << 30};
    for (int k = 0; k < 3; k++) {
        size_t b = cache_max_batch(&run, frees[k]);
        cache_run t = run;
        cache_memory lo, hi;
        t.batch_images = b;
        cache_memory_estimate(&t, &lo);
        t.batch_images = b + 1;
        cache_memory_estimate(&t, &hi);
        CHECK(b > 0 && b < run.n_img && lo.total <= frees[k] && hi.total > frees[k],
              "max batch %zu for %llu bytes", b, (unsigned long long)frees[k]);
    }
    CHECK(cache_max_batch(&run, (uint64_t)1 << 40) == run.n_img, "plenty of memory: the whole set in one batch");
    CHECK(cache_max_batch(&run, (uint64_t)1 << 20) == 0, "1 MiB: not even one image");

    /* plans */
    cache_plan plan;
    cache_memory res, str;
    run.resident = 1;
    cache_memory_estimate(&run, &res);
    run.resident = 0;
    cache_memory_estimate(&run, &str);
    CHECK(str.total < res.total, "streaming needs less than resident here");
    cache_plan_fit(&run, res.total, &plan);
    CHECK(plan.fit == CACHE_FITS && plan.resident_batch >= run.batch_images, "exactly enough: fits");
    cache_plan_fit(&run, res.total - 1, &plan);
    CHECK(plan.fit == CACHE_STREAM && plan.resident_batch < run.batch_images, "one byte short: stream");
    cache_plan_fit(&run, str.total - 1, &plan);
    CHECK(plan.fit == CACHE_STREAM_SMALLER && plan.stream_batch < run.batch_images && plan.stream_batch > 0,
          "less: stream smaller batches (%zu)", plan.stream_batch);
    cache_plan_fit(&run, (uint64_t)1 << 20, &plan);
    CHECK(plan.fit == CACHE_NO_FIT && plan.stream_batch == 0 && plan.resident_batch == 0, "1 MiB: nothing fits");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_cache.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_layout();
    test_stats_batches();
    test_half_range();
    test_files();
    test_memory();
    rmdir(dir);
    return harness_report("cache");
}
