/* test_featstats — per-channel statistics of /features: the streaming
 * (Chan et al.) merge of batches equals the two-pass statistics of the whole
 * set in double, batch boundaries do not matter, NaN and Inf are counted and
 * left out, an all-NaN channel has no statistics, and a file without a
 * rank-4 /features is refused. */
#include "error.h"
#include "featstats.h"
#include "h5io.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_IMG = 23, N_DIM = 4, HW = 6 };

static float value_at(size_t img, size_t c, size_t p)
{
    double x = sin((double)(img * 31 + c * 7 + p) * 0.37) * (double)(c + 1) + (double)c * 10;
    return (float)x;
}

/* Two-pass mean, std (divisor n), min and max of channel c over finite values. */
static void reference(const float *x, size_t c, double out[4], uint64_t *count)
{
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    uint64_t n = 0;
    for (size_t k = 0; k < N_IMG; k++)
        for (size_t p = 0; p < HW; p++) {
            double v = x[(k * N_DIM + c) * HW + p];
            if (!isfinite(v))
                continue;
            sum += v;
            n++;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    double mean = sum / (double)n, m2 = 0;
    for (size_t k = 0; k < N_IMG; k++)
        for (size_t p = 0; p < HW; p++) {
            double v = x[(k * N_DIM + c) * HW + p];
            if (isfinite(v))
                m2 += (v - mean) * (v - mean);
        }
    out[0] = mean;
    out[1] = sqrt(m2 / (double)n);
    out[2] = lo;
    out[3] = hi;
    *count = n;
}

static void test_batches(const float *x)
{
    featstats_channel whole[N_DIM], split[N_DIM];
    featstats_init(whole, N_DIM);
    featstats_init(split, N_DIM);
    featstats_add_batch(whole, x, N_IMG, N_DIM, HW);
    for (size_t img0 = 0; img0 < N_IMG; img0 += 5) /* batches of 5, 5, 5, 5, 3 */
        featstats_add_batch(split, x + img0 * N_DIM * HW, img0 + 5 <= N_IMG ? 5 : N_IMG - img0, N_DIM, HW);
    for (size_t c = 0; c < N_DIM; c++) {
        double want[4];
        uint64_t count;
        reference(x, c, want, &count);
        const featstats_channel *s[2] = {&whole[c], &split[c]};
        for (int k = 0; k < 2; k++) {
            CHECK_CLOSE(s[k]->mean, want[0], 1e-12, "mean");
            CHECK_CLOSE(featstats_std(s[k]), want[1], 1e-12, "std");
            CHECK(s[k]->min == want[2] && s[k]->max == want[3] && s[k]->count == count,
                  "channel %zu: min, max and count exact", c);
        }
        CHECK(whole[c].nonfinite == (c == 1 ? 2u : 0u) && split[c].nonfinite == whole[c].nonfinite,
              "channel %zu: %llu nonfinite", c, (unsigned long long)whole[c].nonfinite);
    }
}

static void test_file(const float *x, const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/f.h5", dir);
    hsize_t dims[4] = {N_IMG, N_DIM, 2, 3}, flat[2] = {N_IMG, N_DIM * HW};
    h5out out;
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, dims, x) ||
             h5out_write(&out, "/flat", H5IO_FLOAT, 2, flat, x) || h5out_commit(&out);
    CHECK(rc == 0, "write: %s", error_message());
    h5in in;
    CHECK(h5in_open(&in, path, NULL) == 0, "open");
    setenv("EDDP_BATCH_BYTES", "200", 1); /* two images per batch */
    featstats_channel *stats = NULL;
    size_t got[4];
    CHECK(featstats_read(&in, &stats, got, NULL, NULL) == 0 && stats, "read: %s", error_message());
    CHECK(got[0] == N_IMG && got[1] == N_DIM && got[2] == 2 && got[3] == 3, "dims");
    for (size_t c = 0; stats && c < N_DIM; c++) {
        double want[4];
        uint64_t count;
        reference(x, c, want, &count);
        CHECK_CLOSE(stats[c].mean, want[0], 1e-12, "file mean");
        CHECK_CLOSE(featstats_std(&stats[c]), want[1], 1e-12, "file std");
    }
    free(stats);
    unsetenv("EDDP_BATCH_BYTES");
    h5in_close(&in);
    /* /features of rank 2 is refused, naming the dataset */
    rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
         h5out_write(&out, "/features", H5IO_FLOAT, 2, flat, x) || h5out_commit(&out);
    CHECK(rc == 0 && h5in_open(&in, path, NULL) == 0, "write a rank-2 /features");
    stats = NULL;
    CHECK(featstats_read(&in, &stats, got, NULL, NULL) == EX_DATAERR && !stats &&
              strstr(error_message(), "'/features'"),
          "rank 2 refused: %s", error_message());
    error_clear();
    h5in_close(&in);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/test_featstats.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    float *x = malloc(sizeof(float) * N_IMG * N_DIM * HW);
    for (size_t k = 0; k < N_IMG; k++)
        for (size_t c = 0; c < N_DIM; c++)
            for (size_t p = 0; p < HW; p++)
                x[(k * N_DIM + c) * HW + p] = value_at(k, c, p);
    x[(3 * N_DIM + 1) * HW + 2] = NAN;       /* channel 1: a NaN and an Inf */
    x[(17 * N_DIM + 1) * HW + 5] = -INFINITY;
    test_batches(x);
    test_file(x, dir);

    featstats_channel empty;
    featstats_init(&empty, 1);
    float nans[HW];
    for (int p = 0; p < HW; p++)
        nans[p] = NAN;
    featstats_add(&empty, nans, 1, 1, HW, 0);
    CHECK(empty.count == 0 && empty.nonfinite == HW && isnan(featstats_std(&empty)),
          "an all-NaN channel: no statistics, every value counted as nonfinite");
    free(x);
    rmdir(dir);
    return harness_report("featstats");
}
