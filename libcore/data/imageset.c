/* imageset — see imageset.h. */
#include "imageset.h"
#include "concepts.h"
#include "error.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

/* /images must be stored as unsigned 8-bit integers (the contract), not just
 * any integer type HDF5 would convert. */
static int check_uint8(h5in *in, const char *name)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    hid_t type = H5Dget_type(dset);
    int ok = H5Tget_size(type) == 1 && H5Tget_sign(type) == H5T_SGN_NONE;
    H5Tclose(type);
    H5Dclose(dset);
    return ok ? 0 : error_set(EX_DATAERR, "%s: dataset '%s' has the wrong type: expected uint8", in->path, name);
}

static int read_images(h5in *in, imageset *set)
{
    hsize_t dims[H5IO_MAX_RANK];
    if (h5in_check(in, "/images", H5IO_INT32, 4, NULL, dims) || check_uint8(in, "/images"))
        return error_code();
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[3] == 0)
        return error_set(EX_DATAERR, "%s: dataset '/images' is empty ([%llu,%llu,%llu,%llu])", in->path,
                         (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
                         (unsigned long long)dims[3]);
    if (dims[1] > 64 || dims[2] > 4096 || dims[3] > 4096)
        return error_set(EX_DATAERR, "%s: dataset '/images' has implausible images [N,%llu,%llu,%llu]", in->path,
                         (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3]);
    set->n_img = dims[0];
    set->channels = (int)dims[1];
    set->height = (int)dims[2];
    set->width = (int)dims[3];
    return h5in_read(in, "/images", H5IO_UINT8, 4, NULL, (void **)&set->images, dims);
}

int imageset_read(h5in *in, imageset *set)
{
    memset(set, 0, sizeof *set);
    size_t n_names = 0;
    hsize_t dims[H5IO_MAX_RANK];
    int rc = read_images(in, set);
    if (!rc)
        rc = h5in_strings(in, "/class_names", &set->class_names, &n_names);
    if (!rc && n_names == 0)
        rc = error_set(EX_DATAERR, "%s: dataset '/class_names' is empty", in->path);
    set->n_cls = (int)n_names;
    if (!rc) {
        hsize_t expect[1] = {set->n_img};
        rc = h5in_read(in, "/labels", H5IO_INT32, 1, expect, (void **)&set->labels, dims);
    }
    for (size_t j = 0; !rc && j < set->n_img; j++)
        if (set->labels[j] < 0 || set->labels[j] >= set->n_cls)
            rc = error_set(EX_DATAERR, "%s: dataset '/labels' holds %d at image %zu, outside [0, %d) (the classes "
                           "of '/class_names')", in->path, (int)set->labels[j], j, set->n_cls);
    if (rc)
        imageset_free(set);
    return rc ? error_code() : 0;
}

void imageset_free(imageset *set)
{
    free(set->images);
    free(set->labels);
    if (set->class_names)
        h5io_free_strings(set->class_names, (size_t)set->n_cls);
    memset(set, 0, sizeof *set);
}

void imageset_gather(const imageset *set, const size_t *order, size_t img0, size_t n, float *cnhw)
{
    const size_t hw = (size_t)set->height * set->width;
    for (int ch = 0; ch < set->channels; ch++)
        for (size_t k = 0; k < n; k++) {
            size_t img = order ? order[k] : img0 + k;
            const uint8_t *src = set->images + (img * set->channels + ch) * hw;
            float *dst = cnhw + ((size_t)ch * n + k) * hw;
            for (size_t p = 0; p < hw; p++)
                dst[p] = src[p] / IMAGESET_PIXEL_MAX;
        }
}

/* The label a block gets under the rule; the block is rows [y0, y1) and
 * columns [x0, x1) of map [· × wm]. */
static int32_t block_label(const int32_t *map, int wm, int y0, int y1, int x0, int x1, cell_rule rule)
{
    enum { MAX_DISTINCT = 64 };
    int32_t value[MAX_DISTINCT];
    int count[MAX_DISTINCT], n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int32_t v = map[(size_t)y * wm + x];
            int j = 0;
            while (j < n && value[j] != v)
                j++;
            if (j == n) {
                if (n == MAX_DISTINCT)
                    continue; /* more labels in one block than a cell can weigh: ignore the rest */
                value[n] = v;
                count[n++] = 0;
            }
            count[j]++;
        }
    int32_t best = 0;
    int best_count = -1;
    for (int j = 0; j < n; j++) {
        int better;
        if (rule == CELL_MAJORITY)
            better = count[j] > best_count || (count[j] == best_count && value[j] < best);
        else if (value[j] == 0)
            better = 0; /* "none" never wins over a label */
        else
            better = best_count < 0 || count[j] < best_count || (count[j] == best_count && value[j] < best);
        if (better) {
            best = value[j];
            best_count = count[j];
        }
    }
    return best;
}

void imageset_cell_labels(const int32_t *map, int hm, int wm, int gh, int gw, cell_rule rule, int32_t *cells)
{
    if (rule == CELL_IMAGE) {
        int32_t label = block_label(map, wm, 0, hm, 0, wm, CELL_ANY);
        for (int k = 0; k < gh * gw; k++)
            cells[k] = label;
        return;
    }
    for (int r = 0; r < gh; r++)
        for (int c = 0; c < gw; c++)
            cells[r * gw + c] = block_label(map, wm, r * hm / gh, (r + 1) * hm / gh, c * wm / gw,
                                            (c + 1) * wm / gw, rule);
}

const char *imageset_cell_rule_name(cell_rule rule)
{
    return rule == CELL_MAJORITY ? "majority" : rule == CELL_IMAGE ? "image" : "any";
}

/* Every category's first dimension must be the set's N (checked here so the
 * message names '/images', not '/features' as concepts_list would). */
static int check_concept_counts(h5in *in, size_t n_img)
{
    char **names;
    size_t n;
    if (h5in_list(in, "/concepts", &names, &n))
        return error_code();
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        char path[600];
        int rank;
        hsize_t dims[H5IO_MAX_RANK];
        snprintf(path, sizeof path, "/concepts/%s", names[k]);
        rc = h5in_shape(in, path, &rank, dims);
        if (!rc && rank >= 1 && dims[0] != n_img)
            rc = error_set(EX_DATAERR, "%s: dataset '%s' has N=%llu images but '/images' has N=%zu", in->path, path,
                           (unsigned long long)dims[0], n_img);
    }
    h5io_free_strings(names, n);
    return rc;
}

/* One category: read all rows, map pixel maps onto the grid, write. */
static int copy_category(h5in *in, const concept_category *cat, int gh, int gw, cell_rule rule, h5out *out)
{
    if (!cat->image_level && (cat->hm < (size_t)gh || cat->wm < (size_t)gw))
        return error_set(EX_DATAERR, "%s: dataset '%s' has maps of %zux%zu, smaller than the %dx%d feature grid",
                         in->path, cat->path, cat->hm, cat->wm, gh, gw);
    size_t width_out = cat->image_level ? cat->width : (size_t)gh * gw;
    int32_t *rows = malloc(cat->n_img * cat->width * sizeof *rows);
    int32_t *cells = malloc(cat->n_img * width_out * sizeof *cells);
    int rc = rows && cells ? concepts_read_rows(in, cat, 0, cat->n_img, rows)
                           : error_set(EX_OSERR, "%s: out of memory for '%s'", in->path, cat->path);
    if (!rc) {
        for (size_t img = 0; img < cat->n_img; img++) {
            if (cat->image_level)
                memcpy(cells + img * width_out, rows + img * cat->width, cat->width * sizeof *cells);
            else
                imageset_cell_labels(rows + img * cat->width, (int)cat->hm, (int)cat->wm, gh, gw, rule,
                                     cells + img * width_out);
        }
        hsize_t dims[3] = {cat->n_img, cat->image_level ? cat->width : (hsize_t)gh, (hsize_t)gw};
        rc = h5out_write(out, cat->path, H5IO_INT32, cat->image_level ? 2 : 3, dims, cells) ||
             (cat->n_names && h5out_attr_strings(out, cat->path, "names", (const char *const *)cat->names,
                                                 (size_t)cat->n_names)) ||
             (!cat->image_level && h5out_attr_string(out, cat->path, "cell_rule", imageset_cell_rule_name(rule)));
        rc = rc ? error_code() : 0;
    }
    free(rows);
    free(cells);
    return rc;
}

int imageset_copy_concepts(h5in *in, size_t n_img, int gh, int gw, cell_rule rule, h5out *out)
{
    if (!h5in_exists(in, "/concepts"))
        return 0;
    concept_category *cats = NULL;
    int n_cat = 0;
    int rc = check_concept_counts(in, n_img) || concepts_list(in, n_img, &cats, &n_cat);
    for (int k = 0; !rc && k < n_cat; k++)
        rc = concepts_scan(in, &cats[k]) || copy_category(in, &cats[k], gh, gw, rule, out);
    concepts_free(cats, n_cat);
    return rc ? error_code() : 0;
}
