/* test_evalsrc — a hand-made features file through evalsrc: categories at
 * two resolutions plus an image-level one are grouped by resolution (the
 * image-level ones with group 0); the split draws round(f·N) validation
 * images, the same for the same seed; a batch's logits are W x − b; the IoU
 * counts of the label pixels equal a direct count over the files' arrays in
 * the concept ids of the vocabulary; and the AP samples of a detector equal
 * its bilinearly upsampled logits against its label, image by image, so
 * that the AP matches metrics_average_precision on them bit for bit. */
#include "apstream.h"
#include "concepts.h"
#include "error.h"
#include "evalsrc.h"
#include "h5io.h"
#include "harness.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 6, C = 2, H = 2, W = 2, HW = H * W, HM = 4, WM = 4, QM = HM * WM, L_SCENE = 2 };

typedef struct {
    float features[N * C * HW];
    int32_t object[N * QM];     /* 4×4 maps, labels 0..2 */
    int32_t part[N * HW];       /* 2×2 maps, labels 0..1 */
    int32_t scene[N * L_SCENE]; /* image-level */
} file_data;

static void make_data(file_data *d)
{
    for (int k = 0; k < N * C * HW; k++)
        d->features[k] = (float)((k * 37) % 11) / 4.0f - 1.0f;
    for (int n = 0; n < N; n++) {
        for (int q = 0; q < QM; q++)   /* image 2 carries no object label: not annotated */
            d->object[n * QM + q] = n == 2 ? 0 : (q + n) % 3;
        for (int p = 0; p < HW; p++)
            d->part[n * HW + p] = (p + n) % 2;
        d->scene[n * L_SCENE] = n % 2;
        d->scene[n * L_SCENE + 1] = n % 3 == 0;
    }
}

static int write_file(const char *path, const file_data *d)
{
    h5out out;
    hsize_t fdims[4] = {N, C, H, W}, odims[3] = {N, HM, WM}, pdims[3] = {N, H, W}, sdims[2] = {N, L_SCENE};
    if (h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
        h5out_write(&out, "/features", H5IO_FLOAT, 4, fdims, d->features) ||
        h5out_write(&out, "/concepts/object", H5IO_INT32, 3, odims, d->object) ||
        h5out_write(&out, "/concepts/part", H5IO_INT32, 3, pdims, d->part) ||
        h5out_write(&out, "/concepts/scene", H5IO_INT32, 2, sdims, d->scene) || h5out_commit(&out)) {
        h5out_abort(&out);
        return -1;
    }
    return 0;
}

/* Two detectors on C = 2 channels. */
static double dir_W[2 * C] = {1.0, -0.5, -0.25, 2.0}, dir_b[2] = {0.1, -0.3};

static void test_open_and_split(const char *path, evalsrc *src, concepts_vocab *v)
{
    error_clear();
    CHECK(evalsrc_open(src, path) == 0 && evalsrc_scan(src) == 0, "open and scan: %s", error_message());
    CHECK(src->n_cat == 3, "three categories (%d)", src->n_cat);
    const concepts_grouping *g = &src->grouping;
    CHECK(g->n_group == 2 && g->groups[0].hm == HM && g->groups[0].image_level && g->groups[1].hm == H &&
              !g->groups[1].image_level, "groups: 4×4 with the image-level ones, then 2×2");
    CHECK(concepts_vocab_build(v, src->cats, path, NULL, NULL, src->n_cat) == 0 && v->n_con == 1 + 2 + 1 + 2,
          "vocabulary: none + object:1,2 + part:1 + scene:1,2 (n_con %zu)", v->n_con);
    evalsrc other;
    CHECK(evalsrc_open(&other, path) == 0 && evalsrc_scan(&other) == 0, "open again");
    CHECK(evalsrc_roles(src, 0.5, 7, 11, -1) == 0 && evalsrc_roles(&other, 0.5, 7, 11, -1) == 0, "split");
    CHECK(src->n_role[EVALSRC_VAL] == 3 && src->n_role[EVALSRC_TRAIN] == 3, "round(0.5·6) = 3 validation");
    CHECK(!memcmp(src->role, other.role, N), "the same seed draws the same split");
    evalsrc_free(&other);
    CHECK(evalsrc_open(&other, path) == 0 && evalsrc_roles(&other, 0.5, 0, 0, EVALSRC_VAL) == 0 &&
              other.n_role[EVALSRC_VAL] == N, "all_role: every image validation");
    evalsrc_free(&other);
}

/* Σ over the validation images of |{pixels with label c}| per concept id. */
static void direct_label_counts(const evalsrc *src, const file_data *d, const concepts_vocab *v, uint64_t *want)
{
    memset(want, 0, v->n_con * sizeof *want);
    int object = concepts_find(src->cats, src->n_cat, "object"), part = concepts_find(src->cats, src->n_cat, "part");
    int scene = concepts_find(src->cats, src->n_cat, "scene");
    for (int n = 0; n < N; n++) {
        if (src->role[n] != EVALSRC_VAL)
            continue;
        for (int q = 0; q < QM; q++)
            if (d->object[n * QM + q])
                want[v->offset[object] + d->object[n * QM + q]]++;
        for (int p = 0; p < HW; p++)
            if (d->part[n * HW + p])
                want[v->offset[part] + d->part[n * HW + p]]++;
        for (int l = 0; l < L_SCENE; l++)   /* image-level: the whole image at group 0's resolution */
            if (d->scene[n * L_SCENE + l])
                want[v->offset[scene] + 1 + l] += QM;
    }
}

static void test_batch(const evalsrc *src, const file_data *d, const concepts_vocab *v, const directions *dirs)
{
    evalsrc_batch b;
    CHECK(evalsrc_batch_alloc(&b, src, v, 2) == 0 && b.cap == N, "one batch holds the file");
    CHECK(evalsrc_batch_read(&b, src, 0, N) == 0, "read: %s", error_message());
    evalsrc_batch_select(&b, src, 0, N, EVALSRC_VAL, dirs);
    CHECK(b.n_sel == 3, "three validation images selected");
    size_t img = b.sel[1];
    double want = 0;
    for (int c = 0; c < C; c++)
        want += dir_W[1 * C + c] * d->features[(img * C + c) * HW + 3];
    CHECK_CLOSE(b.A[(1 * HW + 3) * 2 + 1], want - dir_b[1], 1e-12, "logit of detector 1 at pixel 3");

    metrics_units units;
    metrics_iou_counts counts;
    CHECK(metrics_units_identity(&units, 2) == 0 &&
              metrics_iou_init(&counts, &units, v->n_con, (size_t)v->n_cat, v->con_cat) == 0, "counters");
    CHECK(evalsrc_batch_count(&b, src, v, 0, &counts) == 0, "count: %s", error_message());
    uint64_t direct[16];
    direct_label_counts(src, d, v, direct);
    int same = 1;
    for (size_t c = 1; c < v->n_con; c++)
        same &= counts.label[c] == direct[c];
    CHECK(same, "label pixels per concept id equal the direct count");
    metrics_iou_free(&counts);
    metrics_units_free(&units);
    evalsrc_batch_free(&b, src->n_cat);
}

/* Detector 0 labelled object:2: its AP from evalsrc + apstream against
 * metrics_average_precision on samples built here. */
static void test_ap_samples(const evalsrc *src, const file_data *d, const concepts_vocab *v, const directions *dirs)
{
    int object = concepts_find(src->cats, src->n_cat, "object");
    int label[1] = {v->offset[object] + 2};
    size_t n_samples = evalsrc_unit_samples(src, v, label[0]), n_annotated = 0;
    for (int n = 0; n < N; n++)
        n_annotated += src->role[n] == EVALSRC_VAL && n != 2;
    CHECK(n_samples == n_annotated * QM, "samples: annotated validation images × 16 (%zu)", n_samples);
    CHECK(evalsrc_unit_samples(src, v, 0) == 0, "no samples for 'none'");

    int det_unit[2] = {0, -1};
    metrics_units one;
    CHECK(metrics_units_init(&one, det_unit, 2, 1) == 0, "a unit of detector 0");
    evalsrc_unit_set set = {&one, label, 0};
    apstream stream;
    size_t lo, hi;
    CHECK(apstream_init(&stream, &n_samples, 1, 1 << 20) == 0 && apstream_next(&stream, &lo, &hi) == 1, "block");
    evalsrc_ap_part part = {0};
    evalsrc_batch b;
    CHECK(evalsrc_ap_part_init(&part, &set, 0, 1, src) == 0 && evalsrc_batch_alloc(&b, src, v, 2) == 0 &&
              evalsrc_batch_read(&b, src, 0, N) == 0, "part and batch");
    evalsrc_batch_select(&b, src, 0, N, EVALSRC_VAL, dirs);
    int rc = 0;
    for (size_t s = 0; s < b.n_sel; s++)
        rc |= evalsrc_ap_collect_image(&part, &stream, &b, s, src, v, 0);
    double ap = -1;
    CHECK(rc == 0 && apstream_finish(&stream, &ap) == 0, "collect and rank: %s", error_message());

    double *score = malloc(n_samples * sizeof *score), A_img[HW * 2];
    uint8_t *positive = malloc(n_samples);
    size_t k = 0;
    for (int n = 0; n < N; n++) {
        if (src->role[n] != EVALSRC_VAL || n == 2)
            continue;
        for (int p = 0; p < HW; p++)
            for (int i = 0; i < 2; i++) {
                double a = 0;
                for (int c = 0; c < C; c++)
                    a += dir_W[i * C + c] * d->features[(n * C + c) * HW + p];
                A_img[p * 2 + i] = a - dir_b[i];
            }
        metrics_upsample_bilinear(A_img, H, W, 2, HM, WM, score + k);
        for (int q = 0; q < QM; q++)
            positive[k + q] = d->object[n * QM + q] == 2;
        k += QM;
    }
    double want = -2;
    CHECK(k == n_samples && metrics_average_precision(score, positive, k, &want) == 0, "reference AP");
    CHECK(ap == want, "AP from evalsrc's samples equals the reference bit for bit (%.17g vs %.17g)", ap, want);
    free(score);
    free(positive);
    evalsrc_batch_free(&b, src->n_cat);
    evalsrc_ap_part_free(&part);
    apstream_free(&stream);
    metrics_units_free(&one);
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_evalsrc.%ld.h5", (long)getpid());
    file_data d;
    make_data(&d);
    CHECK(write_file(path, &d) == 0, "write the file: %s", error_message());
    evalsrc src;
    concepts_vocab v;
    test_open_and_split(path, &src, &v);
    directions dirs = {.n_det = 2, .n_dim = C, .W = dir_W, .b = dir_b};
    test_batch(&src, &d, &v, &dirs);
    test_ap_samples(&src, &d, &v, &dirs);
    concepts_vocab_free(&v);
    evalsrc_free(&src);
    unlink(path);
    return harness_report("evalsrc");
}
