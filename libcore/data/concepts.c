/* concepts — see concepts.h. */
#include "concepts.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_names(h5in *in, concept_category *cat)
{
    if (H5Aexists_by_name(in->file, cat->path, "names", H5P_DEFAULT) <= 0)
        return 0;
    size_t n;
    if (h5in_attr_strings(in, cat->path, "names", &cat->names, &n))
        return error_code();
    cat->n_names = (int)n;
    if (cat->image_level && n != cat->width)
        return error_set(EX_DATAERR, "%s: attribute 'names' of '%s' has %zu names for %zu image-level labels",
                         in->path, cat->path, n, cat->width);
    return 0;
}

static int check_category(h5in *in, size_t n_img, concept_category *cat)
{
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    if (h5in_shape(in, cat->path, &rank, dims))
        return error_code();
    if (rank != 2 && rank != 3)
        return error_set(EX_DATAERR, "%s: dataset '%s' should be pixel label maps [N,Hm,Wm] or "
                         "image-level labels [N,L] (rank %d)", in->path, cat->path, rank);
    if (h5in_check(in, cat->path, H5IO_INT32, rank, NULL, dims))
        return error_code();
    if (dims[0] != n_img)
        return error_set(EX_DATAERR, "%s: dataset '%s' has N=%llu images but '/features' has N=%zu",
                         in->path, cat->path, (unsigned long long)dims[0], n_img);
    cat->n_img = n_img;
    cat->image_level = rank == 2;
    cat->hm = rank == 3 ? dims[1] : 0;
    cat->wm = rank == 3 ? dims[2] : 0;
    cat->width = rank == 3 ? dims[1] * dims[2] : dims[1];
    if (cat->width == 0)
        return error_set(EX_DATAERR, "%s: dataset '%s' is empty", in->path, cat->path);
    return read_names(in, cat);
}

int concepts_list(h5in *in, size_t n_img, concept_category **cats, int *n_cat)
{
    *cats = NULL;
    *n_cat = 0;
    if (!h5in_exists(in, "/concepts"))
        return error_set(EX_DATAERR, "%s: no concept annotations ('/concepts' is missing)", in->path);
    char **names;
    size_t n;
    if (h5in_list(in, "/concepts", &names, &n))
        return error_code();
    if (n == 0) {
        h5io_free_strings(names, n);
        return error_set(EX_DATAERR, "%s: no concept annotations ('/concepts' is empty)", in->path);
    }
    *cats = calloc(n, sizeof **cats);
    *n_cat = (int)n;
    int rc = *cats ? 0 : error_set(EX_OSERR, "out of memory");
    for (size_t k = 0; !rc && k < n; k++) {
        concept_category *cat = *cats + k;
        snprintf(cat->name, sizeof cat->name, "%s", names[k]);
        snprintf(cat->path, sizeof cat->path, "/concepts/%s", names[k]);
        rc = check_category(in, n_img, cat);
    }
    h5io_free_strings(names, n);
    if (rc) {
        concepts_free(*cats, *n_cat);
        *cats = NULL;
        *n_cat = 0;
    }
    return rc;
}

int concepts_find(const concept_category *cats, int n_cat, const char *name)
{
    for (int k = 0; k < n_cat; k++)
        if (!strcmp(cats[k].name, name))
            return k;
    return -1;
}

/* Checks one image's values and notes whether it carries any label. */
static int scan_image(h5in *in, concept_category *cat, const int32_t *row, size_t img)
{
    int any = 0;
    for (size_t q = 0; q < cat->width; q++) {
        int32_t v = row[q];
        if (cat->image_level ? (v != 0 && v != 1) : v < 0)
            return error_set(EX_DATAERR, "%s: dataset '%s' holds %d at image %zu (expected %s)",
                             in->path, cat->path, v, img,
                             cat->image_level ? "0 or 1" : "labels >= 0");
        if (!cat->image_level && cat->n_names && v > cat->n_names)
            return error_set(EX_DATAERR, "%s: dataset '%s' holds label %d at image %zu but names "
                             "only %d concepts", in->path, cat->path, v, img, cat->n_names);
        if (v) {
            any = 1;
            int label = cat->image_level ? (int)q + 1 : v;
            if (label > cat->max_label)
                cat->max_label = label;
        }
    }
    cat->annotated[img] = (uint8_t)any;
    return 0;
}

int concepts_scan(h5in *in, concept_category *cat)
{
    free(cat->annotated);
    cat->annotated = calloc(cat->n_img ? cat->n_img : 1, 1);
    cat->max_label = 0;
    size_t batch = (16u << 20) / (cat->width * sizeof(int32_t));
    batch = batch ? (batch < cat->n_img ? batch : cat->n_img) : 1;
    int32_t *buf = malloc(batch * cat->width * sizeof *buf);
    if (!buf || !cat->annotated) {
        free(buf);
        return error_set(EX_OSERR, "%s: out of memory reading '%s'", in->path, cat->path);
    }
    int rc = 0;
    for (size_t img0 = 0; !rc && img0 < cat->n_img; img0 += batch) {
        size_t n = cat->n_img - img0 < batch ? cat->n_img - img0 : batch;
        rc = concepts_read_rows(in, cat, img0, n, buf);
        for (size_t k = 0; !rc && k < n; k++)
            rc = scan_image(in, cat, buf + k * cat->width, img0 + k);
    }
    free(buf);
    return rc;
}

int concepts_count(const concept_category *cat)
{
    if (cat->n_names)
        return cat->n_names;
    return cat->image_level ? (int)cat->width : cat->max_label;
}

void concepts_label_name(const concept_category *cat, int k, char *buf, size_t size)
{
    if (k >= 1 && k <= cat->n_names)
        snprintf(buf, size, "%s", cat->names[k - 1]);
    else
        snprintf(buf, size, "%s:%d", cat->name, k);
}

int concepts_read_rows(h5in *in, const concept_category *cat, size_t img0, size_t n, int32_t *buf)
{
    return h5in_read_rows(in, cat->path, H5IO_INT32, img0, n, buf);
}

void concepts_free(concept_category *cats, int n_cat)
{
    for (int k = 0; cats && k < n_cat; k++) {
        h5io_free_strings(cats[k].names, (size_t)cats[k].n_names);
        free(cats[k].annotated);
    }
    free(cats);
}
