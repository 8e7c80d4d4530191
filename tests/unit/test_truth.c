/* test_truth — the truth writer and reader round trip: a file written with
 * truth_rows_* (in two batches) and truth_write_meta reads back with
 * truth_read bit for bit (directions, α, concepts, the α ranges), with the
 * offset and the concept names synthgen writes; a file without the α
 * ranges reads the paper's preset, and a wrong shape is refused. */
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "harness.h"
#include "truth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 3, C = 4, H = 2, W = 3, N_CON = 2, N_DIS = 1, HW = H * W };

typedef struct {
    float features[N * C * HW];
    int32_t concept[N * HW];
    float alpha[N * N_CON * HW], beta[N * N_DIS * HW];
    double S[N_CON * C], Dm[N_DIS * C];
} data;

static void make_data(data *d)
{
    for (int k = 0; k < N * C * HW; k++)
        d->features[k] = (float)k * 0.25f - 3.0f;
    for (int k = 0; k < N * HW; k++)
        d->concept[k] = k % (N_CON + 1);
    for (int k = 0; k < N * N_CON * HW; k++)
        d->alpha[k] = (float)k / 7.0f;
    for (int k = 0; k < N * N_DIS * HW; k++)
        d->beta[k] = -(float)k / 3.0f;
    for (int k = 0; k < N_CON * C; k++)
        d->S[k] = 1.0 / (k + 1);
    for (int k = 0; k < N_DIS * C; k++)
        d->Dm[k] = -0.5 * k;
}

/* The truth as synthgen writes it: rows in batches of 2 images, then the
 * per-file part; with_ranges = 0 leaves out the α ranges. */
static int write_file(const char *path, const data *d, int with_ranges)
{
    h5out out;
    hsize_t fdims[4] = {N, C, H, W};
    if (h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
        h5out_write(&out, "/features", H5IO_FLOAT, 4, fdims, d->features))
        return -1;
    truth_rows rows;
    int rc = truth_rows_create(&rows, &out, N, N_CON, N_DIS, H, W, 2);
    for (size_t img0 = 0; !rc && img0 < N; img0 += 2) {
        size_t n = N - img0 < 2 ? N - img0 : 2;
        rc = truth_write_rows(&rows, img0, n, d->concept + img0 * HW, d->alpha + img0 * N_CON * HW,
                              d->beta + img0 * N_DIS * HW);
    }
    truth_rows_close(&rows);
    const char *names[N_CON] = {"concept0", "concept1"};
    truth_meta meta = {.n_con = N_CON, .n_dis = N_DIS, .n_dim = C, .S = d->S, .Dm = d->Dm, .offset = 0.75,
                       .concept_names = names, .alpha_on = {2.0, 4.0}, .alpha_off = {-1.0, 1.5}};
    if (!rc && with_ranges)
        rc = truth_write_meta(&out, &meta);
    else if (!rc) {
        hsize_t sdims[2] = {N_CON, C}, ddims[2] = {N_DIS, C};
        rc = h5out_write(&out, "/truth/S", H5IO_DOUBLE, 2, sdims, d->S) ||
             h5out_write(&out, "/truth/D", H5IO_DOUBLE, 2, ddims, d->Dm);
    }
    if (rc || h5out_commit(&out)) {
        h5out_abort(&out);
        return -1;
    }
    return 0;
}

static void test_round_trip(const char *path, int with_ranges)
{
    data d;
    make_data(&d);
    error_clear();
    CHECK(write_file(path, &d, with_ranges) == 0, "write (ranges %d): %s", with_ranges, error_message());
    h5in in;
    features_file ff;
    truth t;
    CHECK(h5in_open(&in, path, H5IO_FORMAT_FEATURES) == 0 && features_open(&ff, &in) == 0, "open: %s",
          error_message());
    CHECK(truth_read(&in, &ff, &t) == 0, "read: %s", error_message());
    CHECK(t.n_con == N_CON && t.n_dis == N_DIS, "sizes %d %d", t.n_con, t.n_dis);
    CHECK(!memcmp(t.S, d.S, sizeof d.S) && !memcmp(t.Dm, d.Dm, sizeof d.Dm), "directions bit for bit");
    CHECK(!memcmp(t.alpha, d.alpha, sizeof d.alpha), "alpha bit for bit across the two batches");
    CHECK(!memcmp(t.concept, d.concept, sizeof d.concept), "concepts bit for bit");
    if (with_ranges)
        CHECK(t.on_lo == 2.0 && t.off_hi == 1.5, "the alpha ranges read back (%g, %g)", t.on_lo, t.off_hi);
    else
        CHECK(t.on_lo == 2.5 && t.off_hi == 2.5, "no ranges: the paper's preset (%g, %g)", t.on_lo, t.off_hi);
    truth_free(&t);
    if (with_ranges) {
        float *beta = NULL;
        double *offset = NULL;
        hsize_t bdims[4] = {N, N_DIS, H, W}, odims[1] = {C}, got[H5IO_MAX_RANK];
        char **names = NULL;
        size_t n_names = 0;
        CHECK(h5in_read(&in, "/truth/beta", H5IO_FLOAT, 4, bdims, (void **)&beta, got) == 0 &&
                  !memcmp(beta, d.beta, sizeof d.beta), "beta bit for bit");
        CHECK(h5in_read(&in, "/truth/offset", H5IO_DOUBLE, 1, odims, (void **)&offset, got) == 0 &&
                  offset[0] == 0.75 && offset[C - 1] == 0.75, "offset: every channel");
        CHECK(h5in_attr_strings(&in, "/concepts/concept", "names", &names, &n_names) == 0 && n_names == N_CON &&
                  !strcmp(names[1], "concept1"), "concept names");
        h5io_free_strings(names, n_names);
        free(beta);
        free(offset);
    }
    h5in_close(&in);
}

/* A /truth/alpha of another image count than /features is refused. */
static void test_wrong_shape(const char *path)
{
    data d;
    make_data(&d);
    h5out out;
    hsize_t fdims[4] = {N - 1, C, H, W};
    truth_rows rows;
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, fdims, d.features) ||
             truth_rows_create(&rows, &out, N, N_CON, N_DIS, H, W, 0) ||
             truth_write_rows(&rows, 0, N, d.concept, d.alpha, d.beta);
    truth_rows_close(&rows);
    hsize_t sdims[2] = {N_CON, C}, ddims[2] = {N_DIS, C};
    rc = rc || h5out_write(&out, "/truth/S", H5IO_DOUBLE, 2, sdims, d.S) ||
         h5out_write(&out, "/truth/D", H5IO_DOUBLE, 2, ddims, d.Dm) || h5out_commit(&out);
    CHECK(rc == 0, "write the mismatched file: %s", error_message());
    h5in in;
    features_file ff;
    truth t;
    error_clear();
    CHECK(h5in_open(&in, path, H5IO_FORMAT_FEATURES) == 0 && features_open(&ff, &in) == 0, "open");
    CHECK(truth_read(&in, &ff, &t) == EX_DATAERR && strstr(error_message(), "/truth/alpha"),
          "3 images of alpha for 2 of features refused: %s", error_message());
    h5in_close(&in);
    error_clear();
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_truth.%ld.h5", (long)getpid());
    test_round_trip(path, 1);
    test_round_trip(path, 0);
    test_wrong_shape(path);
    unlink(path);
    return harness_report("truth");
}
