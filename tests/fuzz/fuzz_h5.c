/* fuzz_h5 — libFuzzer target for the HDF5 readers of libcore: h5in_open
 * (format attribute, version), features_open and the first images, labels,
 * class names, concept maps, a head, directions, a cache, the listing and
 * the content hash, on the bytes as a file. Our code must answer every
 * input with a status; crashes inside libhdf5 itself are reported by
 * `make fuzz` separately (the library is not ours to fix).
 * Built and run by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined). */
#include "cache.h"
#include "concepts.h"
#include "dirfile.h"
#include "error.h"
#include "features.h"
#include "h5io.h"
#include "headfile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void write_file(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz_h5.%ld.h5", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
}

static void try_features(h5in *in)
{
    features_file ff;
    if (features_open(&ff, in))
        return;
    size_t n = ff.n_img < 4 ? ff.n_img : 4, per_image = ff.n_dim * ff.height * ff.width;
    if (per_image <= (1u << 20)) {
        float *buf = malloc(n * per_image * sizeof *buf);
        if (buf)
            features_read_images(&ff, 0, n, buf);
        free(buf);
    }
    error_clear();
    int32_t *labels = NULL;
    if (h5in_exists(in, "/labels"))
        features_read_labels(&ff, &labels, 0);
    free(labels);
    error_clear();
    concept_category *cats = NULL;
    int n_cat = 0;
    if (concepts_list(in, ff.n_img, &cats, &n_cat) == 0) {
        for (int k = 0; k < n_cat; k++) {
            error_clear();
            concepts_scan(in, &cats[k]);
        }
        concepts_free(cats, n_cat);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    error_clear();
    write_file(data, size);
    h5in in;
    if (h5in_open(&in, path, NULL)) {
        error_clear();
        return 0;
    }
    try_features(&in);
    error_clear();
    head_params head = {0};
    if (headfile_read(&in, 0, "fuzz", &head) == 0)
        headfile_free(&head);
    error_clear();
    directions dirs = {0};
    dirfile_read(&in, 0, "fuzz", &dirs);
    dirs_free(&dirs);
    error_clear();
    cache_file cf;
    cache_open(&cf, &in);
    error_clear();
    char **names = NULL;
    size_t n = 0;
    if (h5in_list(&in, "/", &names, &n) == 0)
        h5io_free_strings(names, n);
    error_clear();
    if (h5in_strings(&in, "/class_names", &names, &n) == 0)
        h5io_free_strings(names, n);
    error_clear();
    h5in_hash(&in);
    h5in_close(&in);
    error_clear();
    return 0;
}
