/* test_shards — joining feature shards on real files: per-image datasets
 * concatenated in order across batch boundaries (EDDP_BATCH_BYTES small),
 * per-file ones copied, group and dataset attributes from the first shard,
 * root attributes only when every shard agrees (run attributes never), and
 * every refusal of shards that do not fit together. */
#include "error.h"
#include "h5io.h"
#include "h5tree.h"
#include "harness.h"
#include "shards.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    size_t n_img, n_dim;       /* N and C of /features [N,C,1,2] */
    int labels_rows;           /* rows of /labels (N when it is right) */
    double s_offset;           /* added to /truth/S, a per-file dataset */
    const char *note;          /* root attribute "note" */
    int extra;                 /* adds /extra, which the other shards lack */
    int float_labels;          /* /labels stored as float32 */
} shard_spec;

/* A shard whose values encode (first, image): features = first + image + c/10. */
static int write_shard(const char *path, const shard_spec *spec, int first)
{
    size_t n = spec->n_img, c = spec->n_dim;
    float *feat = malloc(n * c * 2 * sizeof *feat), *flabels = malloc(n * sizeof *flabels);
    int32_t *labels = malloc(n * sizeof *labels), *maps = malloc(n * 4 * sizeof *maps);
    for (size_t k = 0; k < n * c * 2; k++)
        feat[k] = (float)(first + (int)(k / (c * 2))) + (float)((k / 2) % c) / 10;
    for (size_t k = 0; k < n; k++) {
        labels[k] = (int32_t)(first + k) % 3;
        flabels[k] = (float)labels[k];
        for (int p = 0; p < 4; p++)
            maps[k * 4 + p] = (int32_t)(first + k + p);
    }
    double truth_s[6] = {1, 2, 3, 4, 5, 6};
    for (int k = 0; k < 6; k++)
        truth_s[k] += spec->s_offset;
    static const char *const names[] = {"none", "wheel"};
    hsize_t fdims[4] = {n, c, 1, 2}, ldims[1] = {(hsize_t)spec->labels_rows}, mdims[3] = {n, 2, 2},
            sdims[2] = {2, 3}, xdims[1] = {3};
    double zeros[3] = {0, 0, 0};
    h5out out;
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/features", H5IO_FLOAT, 4, fdims, feat) ||
             h5out_write(&out, "/labels", spec->float_labels ? H5IO_FLOAT : H5IO_INT32, 1, ldims,
                         spec->float_labels ? (void *)flabels : (void *)labels) ||
             h5out_write(&out, "/concepts/obj", H5IO_INT32, 3, mdims, maps) ||
             h5out_write_strings(&out, "/concepts/obj_names", names, 2) ||
             h5out_write(&out, "/truth/S", H5IO_DOUBLE, 2, sdims, truth_s) ||
             (spec->extra && h5out_write(&out, "/extra", H5IO_DOUBLE, 1, xdims, zeros)) ||
             h5out_attr_strings(&out, "/concepts/obj", "names", names, 2) ||
             h5out_attr_string(&out, "/concepts", "source", "test") ||
             h5out_attr_string(&out, "/", "split", "train") || h5out_attr_string(&out, "/", "note", spec->note) ||
             h5out_attr_int(&out, "/", "seed", first) || h5out_commit(&out);
    free(feat);
    free(flabels);
    free(labels);
    free(maps);
    return rc;
}

static void progress_count(void *ctx, size_t done, size_t total)
{
    int *calls = ctx;
    (*calls)++;
    CHECK(done <= total, "progress %zu of %zu", done, total);
}

static void check_joined(const char *path)
{
    h5in in;
    CHECK(h5in_open(&in, path, H5IO_FORMAT_FEATURES) == 0, "open the joined file: %s", error_message());
    float *feat = NULL;
    int32_t *maps = NULL;
    hsize_t dims[H5IO_MAX_RANK];
    hsize_t fexpect[4] = {7, 3, 1, 2}, mexpect[3] = {7, 2, 2};
    CHECK(h5in_read(&in, "/features", H5IO_FLOAT, 4, fexpect, (void **)&feat, dims) == 0,
          "/features [7,3,1,2]: %s", error_message());
    int ok = feat != NULL;
    for (int img = 0; ok && img < 7; img++) {
        int first = img < 4 ? 0 : 100, local = img < 4 ? img : img - 4;
        ok = feat[img * 6 + 2 * 2] == (float)(first + local) + 0.2f;
    }
    CHECK(ok, "images in shard order, 4 from the first shard then 3 from the second");
    CHECK(h5in_read(&in, "/concepts/obj", H5IO_INT32, 3, mexpect, (void **)&maps, dims) == 0 && maps &&
              maps[4 * 4] == 100 && maps[3 * 4 + 3] == 6,
          "/concepts/obj concatenated");
    char **names = NULL;
    size_t n = 0;
    CHECK(h5in_strings(&in, "/concepts/obj_names", &names, &n) == 0 && n == 2 && !strcmp(names[1], "wheel"),
          "string datasets under /concepts copied once");
    h5io_free_strings(names, n);
    char *text = h5in_attr_text(&in, "/concepts/obj", "names");
    CHECK(text && !strcmp(text, "none, wheel"), "dataset attributes carried: %s", text);
    free(text);
    text = h5in_attr_text(&in, "/concepts", "source");
    CHECK(text && !strcmp(text, "test"), "group attributes carried: %s", text);
    free(text);
    CHECK(h5in_attr_exists(&in, "/", "split") && !h5in_attr_exists(&in, "/", "note") &&
              !h5in_attr_exists(&in, "/", "seed"),
          "root attributes: agreed ones carried, differing and run ones not");
    free(feat);
    free(maps);
    h5in_close(&in);
}

/* Joins shards at paths into out_path; returns the status of the first failure. */
static int join(char **paths, int n, const char *out_path, int *progress_calls)
{
    shard *shards = calloc((size_t)n, sizeof *shards);
    h5out out;
    int rc = shards_open(shards, n, paths) || shards_check(shards, n) ||
             h5out_create(&out, out_path, 1, H5IO_FORMAT_FEATURES, 1);
    if (!rc) {
        rc = shards_write(shards, n, &out, progress_count, progress_calls) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    shards_close(shards, n);
    free(shards);
    return rc ? error_code() : 0;
}

static void expect_refusal(char **paths, const char *out_path, const char *pattern, const char *what)
{
    int calls = 0;
    error_clear();
    int rc = join(paths, 2, out_path, &calls);
    CHECK(rc == EX_DATAERR && strstr(error_message(), pattern), "%s: %d %s", what, rc, error_message());
    CHECK(access(out_path, F_OK) != 0, "%s: no output", what);
    error_clear();
}

int main(void)
{
    char dir[] = "/tmp/test_shards.XXXXXX", p[8][256], joined[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *files[8] = {"a", "b", "c8", "short", "otherS", "extra", "floatlab", "x"};
    for (int k = 0; k < 8; k++)
        snprintf(p[k], sizeof p[k], "%s/%s.h5", dir, files[k]);
    snprintf(joined, sizeof joined, "%s/joined.h5", dir);
    shard_spec a = {4, 3, 4, 0, "first", 0, 0}, b = {3, 3, 3, 0, "second", 0, 0};
    shard_spec c8 = {3, 8, 3, 0, "x", 0, 0}, shortl = {3, 3, 2, 0, "x", 0, 0}, other = {3, 3, 3, 1, "x", 0, 0};
    shard_spec extra = {3, 3, 3, 0, "x", 1, 0}, floatlab = {3, 3, 3, 0, "x", 0, 1};
    int rc = write_shard(p[0], &a, 0) || write_shard(p[1], &b, 100) || write_shard(p[2], &c8, 0) ||
             write_shard(p[3], &shortl, 0) || write_shard(p[4], &other, 0) || write_shard(p[5], &extra, 0) ||
             write_shard(p[6], &floatlab, 0);
    CHECK(rc == 0, "write the shards: %s", error_message());

    setenv("EDDP_BATCH_BYTES", "30", 1); /* one image per batch */
    int calls = 0;
    char *ab[2] = {p[0], p[1]};
    CHECK(join(ab, 2, joined, &calls) == 0, "join a + b: %s", error_message());
    CHECK(calls == 5, "progress once per dataset: %d", calls);
    check_joined(joined);
    unlink(joined);

    h5in probe;
    CHECK(h5in_open(&probe, p[0], NULL) == 0, "open a");
    CHECK(shards_is_per_image(&probe, "/features") && shards_is_per_image(&probe, "/concepts/obj") &&
              !shards_is_per_image(&probe, "/concepts/obj_names") && !shards_is_per_image(&probe, "/truth/S"),
          "per-image datasets by the features contract");
    h5in_close(&probe);
    CHECK(shards_is_run_attr("created") && shards_is_run_attr("npy_inputs") && !shards_is_run_attr("split"),
          "run attributes");

    char *pairs[6][2] = {{p[0], p[2]}, {p[0], p[3]}, {p[0], p[4]}, {p[0], p[5]}, {p[5], p[0]}, {p[0], p[6]}};
    expect_refusal(pairs[0], joined, "[C,H,W] = [8,1,2]", "C differs");
    expect_refusal(pairs[1], joined, "'/labels' has 2 rows but '/features' has 3 images", "short labels");
    expect_refusal(pairs[2], joined, "'/truth/S' differs", "a per-file dataset differs");
    expect_refusal(pairs[3], joined, "'/extra' is not in", "an extra dataset");
    expect_refusal(pairs[4], joined, "missing dataset '/extra'", "a missing dataset");
    expect_refusal(pairs[5], joined, "'/labels' has the wrong type", "float labels");

    for (int k = 0; k < 8; k++)
        unlink(p[k]);
    rmdir(dir);
    return harness_report("shards");
}
