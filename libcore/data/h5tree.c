/* h5tree — see h5tree.h. */
#include "h5tree.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- walking */

typedef struct {
    const char *prefix;         /* "" for the root */
    h5io_names *datasets, *groups;
} walk_ctx;

static herr_t walk_link(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    const walk_ctx *ctx = data;
    if (info->type != H5L_TYPE_HARD) /* soft and external links are not followed */
        return 0;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", ctx->prefix, name);
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0)
        return -1;
    herr_t status = 0;
    H5I_type_t type = H5Iget_type(obj);
    if (type == H5I_DATASET) {
        status = h5io_names_add(ctx->datasets, path) ? -1 : 0;
    } else if (type == H5I_GROUP) {
        walk_ctx sub = {path, ctx->datasets, ctx->groups};
        status = h5io_names_add(ctx->groups, path) ? -1
                 : H5Literate(obj, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_link, &sub);
    }
    H5Oclose(obj);
    return status < 0 ? -1 : 0;
}

int h5in_walk(h5in *in, h5io_names *datasets, h5io_names *groups)
{
    walk_ctx ctx = {"", datasets, groups};
    if (H5Literate(in->file, H5_INDEX_NAME, H5_ITER_INC, NULL, walk_link, &ctx) < 0)
        return error_set(EX_DATAERR, "%s: cannot list the file's contents (corrupt file?)", in->path);
    return 0;
}

/* ---------------------------------------------------------------- describing */

void h5io_type_text(hid_t type, char *buf, size_t size)
{
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_FLOAT: snprintf(buf, size, "float%zu", bits); break;
    case H5T_INTEGER: snprintf(buf, size, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits); break;
    case H5T_STRING: snprintf(buf, size, "string"); break;
    case H5T_ENUM: snprintf(buf, size, "enum%zu", bits); break;
    case H5T_COMPOUND: snprintf(buf, size, "compound"); break;
    default: snprintf(buf, size, "other"); break;
    }
}

H5T_class_t h5in_dataset_class(h5in *in, const char *name, char *type_buf, size_t type_size)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    if (dset < 0)
        return H5T_NO_CLASS;
    hid_t type = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(type);
    if (type_buf)
        h5io_type_text(type, type_buf, type_size);
    H5Tclose(type);
    H5Dclose(dset);
    return cls;
}

static herr_t collect_attr_name(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)loc;
    (void)info;
    return h5io_names_add(data, name) ? -1 : 0;
}

int h5in_attr_names(h5in *in, const char *object, h5io_names *names)
{
    hsize_t idx = 0;
    if (H5Aiterate_by_name(in->file, object, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, names,
                           H5P_DEFAULT) < 0)
        return error_set(EX_DATAERR, "%s: cannot list the attributes of '%s'", in->path, object);
    return 0;
}

/* The n numbers of attr printed into text, separated by spaces. */
static void print_numbers(FILE *text, hid_t attr, int is_int, hssize_t n)
{
    void *values = malloc((size_t)n * 8); /* long long or double */
    if (values && H5Aread(attr, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, values) >= 0)
        for (hssize_t k = 0; k < n; k++) {
            if (is_int)
                fprintf(text, "%s%lld", k ? " " : "", ((long long *)values)[k]);
            else
                fprintf(text, "%s%.10g", k ? " " : "", ((double *)values)[k]);
        }
    free(values);
}

static void print_strings(FILE *text, h5in *in, const char *object, const char *name)
{
    char **strings;
    size_t count;
    if (h5in_attr_strings(in, object, name, &strings, &count) == 0) {
        for (size_t k = 0; k < count; k++)
            fprintf(text, "%s%s", k ? ", " : "", strings[k]);
        h5io_free_strings(strings, count);
    }
}

char *h5in_attr_text(h5in *in, const char *object, const char *name)
{
    hid_t attr = H5Aopen_by_name(in->file, object, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        return strdup("(unreadable)");
    char *value = NULL;
    size_t len = 0;
    FILE *text = open_memstream(&value, &len);
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = H5Tget_class(type);
    if (!text) {
        /* out of memory: NULL below */
    } else if (cls == H5T_STRING) {
        print_strings(text, in, object, name);
    } else if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && n > 0) {
        print_numbers(text, attr, cls == H5T_INTEGER, n);
    } else {
        char tname[32];
        h5io_type_text(type, tname, sizeof tname);
        fprintf(text, "(%s value)", tname);
    }
    if (text)
        fclose(text);
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return value;
}

/* ---------------------------------------------------------------- comparing */

static int same_strings(h5in *a, h5in *b, const char *name)
{
    char **sa, **sb;
    size_t na, nb;
    if (h5in_strings(a, name, &sa, &na))
        return -1;
    if (h5in_strings(b, name, &sb, &nb)) {
        h5io_free_strings(sa, na);
        return -1;
    }
    int same = na == nb;
    for (size_t k = 0; same && k < na; k++)
        same = !strcmp(sa[k], sb[k]);
    h5io_free_strings(sa, na);
    h5io_free_strings(sb, nb);
    return same;
}

/* count values of a numeric dataset, read whole as int64 or double. */
static int same_numbers(h5in *a, h5in *b, const char *name, H5T_class_t cls, size_t count, hsize_t rows)
{
    hid_t memtype = cls == H5T_INTEGER ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE;
    void *va = malloc(count * 8 + 1), *vb = malloc(count * 8 + 1);
    int same = -1;
    if (!va || !vb)
        error_set(EX_OSERR, "out of memory comparing '%s'", name);
    else if (count == 0)
        same = 1;
    else if (!h5in_read_rows_as(a, name, memtype, 0, rows, va) && !h5in_read_rows_as(b, name, memtype, 0, rows, vb))
        same = !memcmp(va, vb, count * 8);
    free(va);
    free(vb);
    return same;
}

int h5in_same_dataset(h5in *a, h5in *b, const char *name)
{
    int rank_a, rank_b;
    hsize_t dims_a[H5IO_MAX_RANK], dims_b[H5IO_MAX_RANK];
    if (h5in_shape(a, name, &rank_a, dims_a) || h5in_shape(b, name, &rank_b, dims_b))
        return -1;
    if (rank_a != rank_b || memcmp(dims_a, dims_b, sizeof(hsize_t) * (size_t)rank_a))
        return 0;
    H5T_class_t cls = h5in_dataset_class(a, name, NULL, 0);
    if (cls != h5in_dataset_class(b, name, NULL, 0))
        return 0;
    if (cls == H5T_STRING)
        return same_strings(a, b, name);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        error_set(EX_DATAERR, "%s: dataset '%s' is neither numeric nor string; it cannot be compared",
                  a->path, name);
        return -1;
    }
    size_t count = 1;
    for (int k = 0; k < rank_a; k++)
        count *= dims_a[k];
    return same_numbers(a, b, name, cls, count, rank_a ? dims_a[0] : 1);
}

/* ---------------------------------------------------------------- copying */

int h5io_copy_attr(hid_t src_obj, const char *name, hid_t dst_obj)
{
    hid_t src = H5Aopen(src_obj, name, H5P_DEFAULT);
    if (src < 0)
        return error_set(EX_IOERR, "cannot open attribute '%s'", name);
    hid_t ftype = H5Aget_type(src), space = H5Aget_space(src);
    hid_t mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t bytes = (size_t)(n > 0 ? n : 1) * H5Tget_size(mtype);
    void *buf = calloc(1, bytes);
    herr_t status = buf && H5Aread(src, mtype, buf) >= 0 ? 0 : -1;
    if (!status) {
        if (H5Aexists(dst_obj, name) > 0)
            H5Adelete(dst_obj, name);
        hid_t dst = H5Acreate2(dst_obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
        status = dst < 0 || H5Awrite(dst, mtype, buf) < 0 ? -1 : 0;
        if (dst >= 0)
            H5Aclose(dst);
        if (H5Tdetect_class(mtype, H5T_VLEN) > 0 || H5Tis_variable_str(mtype) > 0)
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
    }
    free(buf);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Aclose(src);
    return status < 0 ? error_set(EX_IOERR, "cannot copy attribute '%s'", name) : 0;
}

static herr_t copy_attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    return h5io_copy_attr(loc, name, *(hid_t *)data) ? -1 : 0;
}

int h5io_copy_attrs(h5in *in, h5out *out, const char *object)
{
    hid_t src = H5Oopen(in->file, object, H5P_DEFAULT), dst = H5Oopen(out->file, object, H5P_DEFAULT);
    hsize_t idx = 0;
    int rc = src < 0 || dst < 0 || H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr_cb, &dst) < 0;
    if (src >= 0)
        H5Oclose(src);
    if (dst >= 0)
        H5Oclose(dst);
    return rc ? error_replace(EX_IOERR, "%s: cannot copy the attributes of '%s' from %s", out->final_path,
                              object, in->path)
              : 0;
}

static hid_t intermediate_groups_plist(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

int h5io_copy_group_attrs(h5in *in, h5out *out, const char *name)
{
    if (H5Lexists(out->file, name, H5P_DEFAULT) <= 0) {
        hid_t lcpl = intermediate_groups_plist();
        hid_t group = H5Gcreate2(out->file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        H5Pclose(lcpl);
        if (group < 0)
            return error_set(EX_IOERR, "%s: cannot create group '%s'", out->final_path, name);
        H5Gclose(group);
    }
    return h5io_copy_attrs(in, out, name);
}
