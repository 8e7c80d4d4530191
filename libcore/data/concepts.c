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
    *cats = error_calloc(n, sizeof **cats, "the concept categories");
    *n_cat = (int)n;
    int rc = *cats ? 0 : error_code();
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

/* ---------------------------------------------------------- the vocabulary */

void concepts_vocab_free(concepts_vocab *v)
{
    for (size_t c = 0; v->con_name && c < v->n_con; c++)
        free(v->con_name[c]);
    free(v->con_name);
    free(v->offset);
    free(v->n_lab);
    free(v->con_cat);
    memset(v, 0, sizeof *v);
}

/* L of category k: the names' count when a file names them (checking the
 * other file's labels against it), else the larger concepts_count. */
static int vocab_labels(const concept_category *x, const char *x_path, const concept_category *y,
                        const char *y_path, int *n_lab)
{
    const concept_category *named = x->n_names ? x : (y && y->n_names ? y : NULL);
    int n = concepts_count(x);
    if (y && concepts_count(y) > n)
        n = concepts_count(y);
    if (named) {
        const concept_category *other = named == x ? y : x;
        const char *other_path = named == x ? (y ? y_path : "") : x_path;
        n = named->n_names;
        if (other && !other->image_level && other->max_label > n)
            return error_set(EX_DATAERR, "%s: '%s' holds label %d but its 'names' in %s name only %d concepts",
                             other_path, other->path, other->max_label, named == x ? x_path : y_path, n);
    }
    *n_lab = n;
    return 0;
}

static int vocab_names(concepts_vocab *v, const concept_category *train, const concept_category *val)
{
    v->con_cat = error_calloc(v->n_con, sizeof(int), "the concept categories");
    v->con_name = error_calloc(v->n_con, sizeof(char *), "the concept names");
    if (!v->con_cat || !v->con_name || !(v->con_name[0] = error_strdup("none", "the concept names")))
        return error_code();
    for (int k = 0; k < v->n_cat; k++) {
        const concept_category *named = train + k;
        if (!named->n_names && val && val[k].n_names)
            named = val + k;
        for (int l = 1; l <= v->n_lab[k]; l++) {
            char buf[512];
            concepts_label_name(named, l, buf, sizeof buf);
            v->con_cat[v->offset[k] + l] = k;
            if (!(v->con_name[v->offset[k] + l] = error_strdup(buf, "the concept names")))
                return error_code();
        }
    }
    return 0;
}

int concepts_vocab_build(concepts_vocab *v, const concept_category *train, const char *train_path,
                         const concept_category *val, const char *val_path, int n_cat)
{
    memset(v, 0, sizeof *v);
    v->n_cat = n_cat;
    v->offset = error_calloc((size_t)n_cat, sizeof(int), "the concept offsets");
    v->n_lab = error_calloc((size_t)n_cat, sizeof(int), "the concept counts");
    if (!v->offset || !v->n_lab)
        return error_code();
    v->n_con = 1;
    for (int k = 0; k < n_cat; k++) {
        if (vocab_labels(train + k, train_path, val ? val + k : NULL, val_path, &v->n_lab[k]))
            return error_code();
        v->offset[k] = (int)v->n_con - 1;
        v->n_con += (size_t)v->n_lab[k];
    }
    if (v->n_con == 1)
        return error_set(EX_DATAERR, "%s: the concept annotations hold no label at all", train_path);
    return vocab_names(v, train, val);
}

/* ------------------------------------------------- grouping by resolution */

static int group_of_size(concepts_grouping *g, int n_cat, size_t hm, size_t wm)
{
    for (int k = 0; k < g->n_group; k++)
        if (g->groups[k].hm == hm && g->groups[k].wm == wm)
            return k;
    concepts_res_group *groups = error_realloc(g->groups, (size_t)(g->n_group + 1) * sizeof *groups,
                                               "the annotation groups");
    if (!groups)
        return -1;
    g->groups = groups;
    g->groups[g->n_group] = (concepts_res_group){.hm = hm, .wm = wm};
    if (!(g->groups[g->n_group].map_cat = error_calloc((size_t)n_cat, sizeof(int), "the annotation groups")))
        return -1;
    return g->n_group++;
}

int concepts_group_by_resolution(concepts_grouping *g, const concept_category *cats, int n_cat,
                                 size_t height, size_t width)
{
    memset(g, 0, sizeof *g);
    if (!(g->group_of = error_calloc((size_t)n_cat, sizeof(int), "the annotation groups")))
        return error_code();
    for (int k = 0; k < n_cat; k++) {
        if (cats[k].image_level)
            continue;
        int at = group_of_size(g, n_cat, cats[k].hm, cats[k].wm);
        if (at < 0)
            return error_code();
        g->groups[at].map_cat[g->groups[at].n_map++] = k;
        g->group_of[k] = at;
    }
    if (g->n_group == 0 && group_of_size(g, n_cat, height, width) < 0)
        return error_code();
    g->groups[0].image_level = 1;
    for (int k = 0; k < n_cat; k++)
        if (cats[k].image_level)
            g->group_of[k] = 0;
    return 0;
}

size_t concepts_grouping_values(const concepts_grouping *g)
{
    size_t most = 1;
    for (int k = 0; k < g->n_group; k++) {
        size_t v = (size_t)g->groups[k].n_map * g->groups[k].hm * g->groups[k].wm;
        most = v > most ? v : most;
    }
    return most;
}

void concepts_grouping_free(concepts_grouping *g)
{
    for (int k = 0; g->groups && k < g->n_group; k++)
        free(g->groups[k].map_cat);
    free(g->groups);
    free(g->group_of);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------- a second file's concepts */

static int same_kind(const concept_category *x, const char *a_path, const concept_category *y,
                     const char *b_path)
{
    if (x->image_level != y->image_level || (x->image_level && x->width != y->width))
        return error_set(EX_DATAERR, "%s: '%s' is %s but in %s it is %s", b_path, y->path,
                         y->image_level ? "image-level" : "pixel maps", a_path,
                         x->image_level ? "image-level" : "pixel maps");
    int differ = x->n_names && y->n_names && x->n_names != y->n_names;
    for (int l = 0; !differ && x->n_names && l < y->n_names; l++)
        differ = strcmp(x->names[l], y->names[l]) != 0;
    if (differ)
        return error_set(EX_DATAERR, "%s: the concept names of '%s' differ from those in %s", b_path,
                         y->path, a_path);
    return 0;
}

int concepts_same_categories(const concept_category *a, int n_a, const char *a_path,
                             const concept_category *b, int n_b, const char *b_path)
{
    int same = n_a == n_b;
    for (int k = 0; same && k < n_a; k++)
        same = !strcmp(a[k].name, b[k].name);
    if (!same)
        return error_set(EX_DATAERR, "%s: its concept categories under '/concepts' differ from those of %s",
                         b_path, a_path);
    for (int k = 0; k < n_a; k++)
        if (same_kind(a + k, a_path, b + k, b_path))
            return error_code();
    return 0;
}
