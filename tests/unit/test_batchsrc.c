/* test_batchsrc — batches streamed from the file (uibe/eddp --memory):
 * a set loaded within a budget it exceeds keeps no features in memory, and
 * its pooled features, mean and std (passes in batches of whole images)
 * and every batch it reads (any order, runs of consecutive images,
 * repeats) are bit-identical to the in-memory set's, from a features file
 * and from float32 and float16 caches; train_gather gives the same pixels;
 * out-of-range images and NaN in the file are refused naming the image. */
#include "batchsrc.h"
#include "cache.h"
#include "error.h"
#include "features.h"
#include "cache_fixture.h"
#include "harness.h"
#include "learn.h"
#include "rng.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 23, C = 5, H = 3, W = 2, HW = H * W };

static char dir[64];

static void fill_normal(float *x, size_t n, uint64_t seed)
{
    rng_state rng;
    rng_init(&rng, seed, 0);
    for (size_t k = 0; k < n; k++)
        x[k] = (float)(1.0 + 2.0 * rng_normal(&rng));
}

static int write_features(const char *path, const float *x)
{
    h5out out;
    hsize_t dims[4] = {N, C, H, W};
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, dims, x) || h5out_commit(&out);
    return rc ? error_code() : 0;
}

/* The streamed set of path against the in-memory one. */
static void compare(const char *path, const char *what)
{
    learn_set mem, str;
    int rc = learn_load(&mem, path);
    CHECK(rc == 0, "%s: in memory: %s", what, error_message());
    int rc2 = learn_load_budget(&str, path, 1);
    CHECK(rc2 == 0, "%s: streamed: %s", what, error_message());
    if (rc || rc2)
        return;
    CHECK(!mem.streamed && mem.features && str.streamed && !str.features && str.data.source &&
              !str.data.features && str.bytes == learn_set_bytes(N, C, HW),
          "%s: a budget of 1 byte streams, keeping no features", what);
    CHECK(!memcmp(mem.pooled, str.pooled, (size_t)N * C * sizeof(double)) &&
              !memcmp(mem.mean, str.mean, C * sizeof(double)) && !memcmp(mem.std, str.std, C * sizeof(double)) &&
              mem.value_bytes == str.value_bytes,
          "%s: pooled, mean and std bit-identical", what);
    size_t per_image = (size_t)C * HW;
    /* a permutation, a run of consecutive images, a repeat, the last image */
    size_t order[N + 6];
    rng_state rng;
    rng_init(&rng, 5, 0);
    rng_permutation(&rng, order, N);
    size_t extra[6] = {3, 4, 5, 4, N - 1, 0};
    memcpy(order + N, extra, sizeof extra);
    float got[(N + 6) * C * HW];
    rc = batchsrc_read(str.source, order, N + 6, got);
    int bad = 0;
    for (size_t k = 0; k < N + 6; k++)
        bad += memcmp(got + k * per_image, mem.features + order[k] * per_image, per_image * sizeof(float)) != 0;
    CHECK(rc == 0 && bad == 0, "%s: a batch read in any order is the in-memory images (%d differ)", what, bad);
    size_t run[4] = {7, 8, 9, 10};
    const float *images;
    rc = batchsrc_gather(str.source, run, 4, &images);
    CHECK(rc == 0 && !memcmp(images, mem.features + 7 * per_image, 4 * per_image * sizeof(float)),
          "%s: a run of consecutive images", what);
    double Xm[N * C * HW], Xs[N * C * HW], Pm[N * C], Ps[N * C];
    rc = train_gather(&mem.data, order, N, Xm, Pm) || train_gather(&str.data, order, N, Xs, Ps);
    CHECK(rc == 0 && !memcmp(Xm, Xs, sizeof Xm) && !memcmp(Pm, Ps, sizeof Pm),
          "%s: train_gather streamed = in memory", what);
    size_t out_of_range = N;
    error_clear();
    CHECK(batchsrc_read(str.source, &out_of_range, 1, got) == EX_SOFTWARE, "%s: image N is refused", what);
    error_clear();
    learn_free(&mem);
    learn_free(&str);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_batchsrc.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("EDDP_BATCH_BYTES", "300", 1); /* statistics passes of two images a batch */
    static float x[N * C * HW];
    fill_normal(x, N * C * HW, 3);
    char feat[128], c32[128], c16[128], nan_path[128];
    snprintf(feat, sizeof feat, "%s/f.h5", dir);
    snprintf(c32, sizeof c32, "%s/c32.h5", dir);
    snprintf(c16, sizeof c16, "%s/c16.h5", dir);
    snprintf(nan_path, sizeof nan_path, "%s/nan.h5", dir);
    int rc = write_features(feat, x) || write_cache_file(feat, c32, 0, 400) || write_cache_file(feat, c16, 1, 400);
    CHECK(rc == 0, "inputs written: %s", error_message());
    if (!rc) {
        compare(feat, "features");
        compare(c32, "float32 cache");
        compare(c16, "float16 cache");
    }
    learn_set set;
    CHECK(learn_load_budget(&set, feat, learn_set_bytes(N, C, HW)) == 0 && !set.streamed && set.features,
          "a set that fits its budget exactly is held in memory");
    learn_free(&set);
    x[(11 * C + 2) * HW + 4] = NAN;
    error_clear();
    rc = write_features(nan_path, x) || learn_load_budget(&set, nan_path, 1);
    CHECK(rc && error_code() == EX_DATAERR && strstr(error_message(), "NaN at image 11"), "NaN in a streamed file: %s",
          error_message());
    learn_free(&set);
    error_clear();
    unlink(feat);
    unlink(c32);
    unlink(c16);
    unlink(nan_path);
    rmdir(dir);
    return harness_report("batchsrc");
}
