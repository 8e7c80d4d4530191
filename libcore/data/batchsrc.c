/* batchsrc — see batchsrc.h. */
#include "batchsrc.h"
#include "cache.h"
#include "error.h"
#include "features.h"

#include <stdlib.h>
#include <string.h>

/* Consecutive images read in one go, up to this many bytes (a batch drawn
 * from a large set has runs of one; a full pass in file order, long ones). */
#define BATCHSRC_RUN_BYTES ((size_t)8 << 20)

typedef struct {
    size_t image, pos; /* image index in the set, place in the batch */
} batch_slot;

struct batchsrc {
    int is_cache;
    features_file ff;
    cache_file cf;
    size_t n_img, per_image, run_max;
    float *run;        /* [run_max × per_image] one read */
    batch_slot *sorted; /* [cap] the batch's images by ascending index */
    float *images;     /* [cap × per_image] batchsrc_gather's buffer */
    size_t cap, images_cap;
};

int batchsrc_open(batchsrc **out, h5in *in, int is_cache, size_t n_img, size_t n_dim, size_t hw)
{
    *out = NULL;
    batchsrc *src = calloc(1, sizeof *src);
    if (!src)
        return error_set(EX_OSERR, "%s: out of memory for the batch reader", in->path);
    src->is_cache = is_cache;
    int rc = is_cache ? cache_open(&src->cf, in) : features_open(&src->ff, in);
    size_t have = is_cache ? src->cf.n_img : src->ff.n_img;
    size_t have_dim = is_cache ? src->cf.n_dim : src->ff.n_dim;
    size_t have_hw = is_cache ? src->cf.height * src->cf.width : src->ff.height * src->ff.width;
    if (!rc && (have != n_img || have_dim != n_dim || have_hw != hw))
        rc = error_set(EX_SOFTWARE, "%s: the batch reader expected %zu images of %zu×%zu values", in->path, n_img,
                       n_dim, hw);
    src->n_img = n_img;
    src->per_image = n_dim * hw;
    src->run_max = BATCHSRC_RUN_BYTES / (src->per_image * sizeof(float));
    if (src->run_max < 1)
        src->run_max = 1;
    if (!rc && !(src->run = malloc(src->run_max * src->per_image * sizeof(float))))
        rc = error_set(EX_OSERR, "%s: out of memory for the batch reader", in->path);
    if (rc) {
        batchsrc_free(src);
        return error_code();
    }
    *out = src;
    return 0;
}

size_t batchsrc_images(const batchsrc *src) { return src->n_img; }

void batchsrc_free(batchsrc *src)
{
    if (!src)
        return;
    free(src->run);
    free(src->sorted);
    free(src->images);
    free(src);
}

static int by_image(const void *a, const void *b)
{
    size_t ia = ((const batch_slot *)a)->image, ib = ((const batch_slot *)b)->image;
    return (ia > ib) - (ia < ib);
}

/* Images img0..img0+m into run, NCHW (a cache's pixel-major rows turned). */
static int read_run(batchsrc *src, size_t img0, size_t m, float *nchw)
{
    if (!src->is_cache)
        return features_read_images(&src->ff, img0, m, nchw);
    if (cache_read_pixels(&src->cf, img0, m, src->run))
        return error_code();
    cache_pixels_to_nchw(src->run, m, src->cf.n_dim, src->cf.height * src->cf.width, nchw);
    return 0;
}

int batchsrc_read(batchsrc *src, const size_t *order, size_t n, float *nchw)
{
    if (n > src->cap) {
        batch_slot *grown = realloc(src->sorted, n * sizeof *grown);
        if (!grown)
            return error_set(EX_OSERR, "out of memory for a batch of %zu images", n);
        src->sorted = grown;
        src->cap = n;
    }
    for (size_t k = 0; k < n; k++) {
        if (order[k] >= src->n_img)
            return error_set(EX_SOFTWARE, "batch reader: image %zu of a set of %zu", order[k], src->n_img);
        src->sorted[k] = (batch_slot){order[k], k};
    }
    /* qsort is not stable, and need not be: equal images carry equal data. */
    qsort(src->sorted, n, sizeof *src->sorted, by_image);
    size_t per_image = src->per_image;
    float *scratch = src->is_cache ? NULL : src->run; /* a cache turns its run into NCHW in place below */
    float *turned = src->is_cache ? malloc(src->run_max * per_image * sizeof(float)) : NULL;
    if (src->is_cache && !turned)
        return error_set(EX_OSERR, "out of memory for a batch of %zu images", n);
    int rc = 0;
    for (size_t k = 0; k < n && !rc;) {
        size_t img0 = src->sorted[k].image, m = 1;
        while (k + m < n && m < src->run_max && src->sorted[k + m].image == img0 + m)
            m++;
        float *dst = src->is_cache ? turned : m == 1 ? nchw + src->sorted[k].pos * per_image : scratch;
        rc = read_run(src, img0, m, dst);
        if (!rc && (src->is_cache || m > 1))
            for (size_t j = 0; j < m; j++)
                memcpy(nchw + src->sorted[k + j].pos * per_image, dst + j * per_image, per_image * sizeof(float));
        k += m;
        /* a repeated image (never in a permutation) is copied from the run's last one */
        while (!rc && k < n && src->sorted[k].image == img0 + m - 1) {
            memcpy(nchw + src->sorted[k].pos * per_image, nchw + src->sorted[k - 1].pos * per_image,
                   per_image * sizeof(float));
            k++;
        }
    }
    free(turned);
    return rc;
}

int batchsrc_gather(batchsrc *src, const size_t *order, size_t n, const float **images)
{
    *images = NULL;
    if (n > src->images_cap) {
        float *grown = realloc(src->images, n * src->per_image * sizeof(float));
        if (!grown)
            return error_set(EX_OSERR, "out of memory for a batch of %zu images", n);
        src->images = grown;
        src->images_cap = n;
    }
    if (batchsrc_read(src, order, n, src->images))
        return error_code();
    *images = src->images;
    return 0;
}
