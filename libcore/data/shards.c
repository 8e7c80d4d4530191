/* shards — see shards.h. */
#include "shards.h"
#include "batch.h"
#include "error.h"
#include "h5tree.h"

#include <stdlib.h>
#include <string.h>

int shards_is_per_image(h5in *in, const char *name)
{
    if (!strncmp(name, "/concepts/", 10))
        return h5in_dataset_class(in, name, NULL, 0) != H5T_STRING;
    return !strcmp(name, "/features") || !strcmp(name, "/labels") || !strcmp(name, "/truth/alpha") ||
           !strcmp(name, "/truth/beta");
}

int shards_is_run_attr(const char *name)
{
    static const char *const run[] = {"format", "format_version", "history", "tool", "tool_version",
                                      "command_line", "created", "seed", "threads", "device",
                                      "slurm_job_id", "inputs", "npy_inputs", "class_names_file"};
    for (size_t k = 0; k < sizeof run / sizeof run[0]; k++)
        if (!strcmp(name, run[k]))
            return 1;
    return 0;
}

/* The h5io type a per-image dataset is copied with (its stored precision). */
static int per_image_type(h5in *in, const char *name, h5io_type *type)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    hid_t stored = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(stored);
    size_t size = H5Tget_size(stored);
    int is_signed = cls == H5T_INTEGER && H5Tget_sign(stored) != H5T_SGN_NONE;
    char tname[32];
    h5io_type_text(stored, tname, sizeof tname);
    H5Tclose(stored);
    H5Dclose(dset);
    if (cls == H5T_FLOAT && !strcmp(name, "/features"))
        *type = H5IO_FLOAT; /* the contract's float32, read through features_read_images */
    else if (cls == H5T_FLOAT && (size == 2 || size == 4 || size == 8))
        *type = size == 2 ? H5IO_HALF : size == 4 ? H5IO_FLOAT : H5IO_DOUBLE;
    else if (cls == H5T_INTEGER && (size < 4 || (size == 4 && is_signed)))
        *type = H5IO_INT32;
    else
        return error_set(EX_DATAERR, "%s: dataset '%s' is %s; per-image datasets must be floating point "
                         "or fit int32", in->path, name, tname);
    return 0;
}

int shards_open(shard *shards, int n, char *const *paths)
{
    for (int k = 0; k < n; k++)
        shards[k].in.file = H5I_INVALID_HID;
    for (int k = 0; k < n; k++) {
        shard *s = &shards[k];
        if (h5in_open(&s->in, paths[k], H5IO_FORMAT_FEATURES) || features_open(&s->ff, &s->in) ||
            h5in_walk(&s->in, &s->datasets, &s->groups))
            return error_code();
        const features_file *a = &shards[0].ff, *b = &s->ff;
        if (b->n_dim != a->n_dim || b->height != a->height || b->width != a->width)
            return error_set(EX_DATAERR, "%s: '/features' has [C,H,W] = [%zu,%zu,%zu] but %s has [%zu,%zu,%zu]; "
                             "shards must agree", s->in.path, b->n_dim, b->height, b->width,
                             shards[0].in.path, a->n_dim, a->height, a->width);
    }
    return 0;
}

void shards_close(shard *shards, int n)
{
    for (int k = 0; k < n; k++) {
        h5in_close(&shards[k].in);
        h5io_names_free(&shards[k].datasets);
        h5io_names_free(&shards[k].groups);
    }
}

/* ---------------------------------------------------------------- checks */

static int same_dataset_names(const shard *first, const shard *s)
{
    for (size_t d = 0; d < first->datasets.n; d++)
        if (!h5io_names_has(&s->datasets, first->datasets.names[d]))
            return error_set(EX_DATAERR, "%s: missing dataset '%s' (present in %s)", s->in.path,
                             first->datasets.names[d], first->in.path);
    for (size_t d = 0; d < s->datasets.n; d++)
        if (!h5io_names_has(&first->datasets, s->datasets.names[d]))
            return error_set(EX_DATAERR, "%s: dataset '%s' is not in %s; shards must hold the same datasets",
                             s->in.path, s->datasets.names[d], first->in.path);
    return 0;
}

/* A dataset without a per-image first dimension is equal in every shard. */
static int check_per_file(shard *shards, int n, const char *name)
{
    shard *first = &shards[0];
    H5T_class_t cls = h5in_dataset_class(&first->in, name, NULL, 0);
    for (int k = 1; k < n; k++) {
        int same = h5in_same_dataset(&first->in, &shards[k].in, name);
        if (same < 0 && cls != H5T_STRING && cls != H5T_INTEGER && cls != H5T_FLOAT)
            return error_replace(EX_DATAERR, "%s: dataset '%s' has a type featdump cannot compare across shards",
                                 first->in.path, name);
        if (same < 0)
            return error_code();
        if (!same)
            return error_set(EX_DATAERR, "%s: dataset '%s' differs from the one in %s (datasets "
                             "without a per-image first dimension must be equal in every shard)",
                             shards[k].in.path, name, first->in.path);
    }
    return 0;
}

/* A per-image dataset has each shard's N rows and the first shard's type
 * and trailing shape. */
static int check_per_image(shard *shards, int n, const char *name)
{
    shard *first = &shards[0];
    int rank;
    hsize_t dims[H5IO_MAX_RANK], got[H5IO_MAX_RANK];
    h5io_type type;
    if (h5in_shape(&first->in, name, &rank, dims) || per_image_type(&first->in, name, &type))
        return error_code();
    if (rank < 1)
        return error_set(EX_DATAERR, "%s: dataset '%s' is a scalar, expected one row per image", first->in.path,
                         name);
    for (int k = 0; k < n; k++) {
        dims[0] = 0; /* any N here; checked against the shard's images below */
        if (h5in_check(&shards[k].in, name, type, rank, dims, got))
            return error_code();
        if (got[0] != shards[k].ff.n_img)
            return error_set(EX_DATAERR, "%s: dataset '%s' has %llu rows but '/features' has %zu images",
                             shards[k].in.path, name, (unsigned long long)got[0], shards[k].ff.n_img);
    }
    return 0;
}

int shards_check(shard *shards, int n)
{
    for (int k = 1; k < n; k++)
        if (same_dataset_names(&shards[0], &shards[k]))
            return error_code();
    const h5io_names *datasets = &shards[0].datasets;
    for (size_t d = 0; d < datasets->n; d++) {
        const char *name = datasets->names[d];
        int rc = shards_is_per_image(&shards[0].in, name) ? check_per_image(shards, n, name)
                                                          : check_per_file(shards, n, name);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- writing */

/* Streams one per-image dataset of every shard into the output, in order. */
static int concat_dataset(shard *shards, int n, const char *name, h5out *out, size_t n_total)
{
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
    h5io_type type;
    if (h5in_shape(&shards[0].in, name, &rank, dims) || per_image_type(&shards[0].in, name, &type))
        return error_code();
    size_t row_elems = 1, elem = type == H5IO_DOUBLE ? 8 : 4;
    for (int k = 1; k < rank; k++)
        row_elems *= dims[k];
    dims[0] = n_total;
    size_t batch = batch_rows(row_elems * elem, batch_bytes(), n_total);
    size_t chunk = batch_rows(row_elems * elem, BATCH_CHUNK_BYTES, n_total);
    void *buf = malloc((batch * row_elems + 1) * elem);
    hid_t dset = H5I_INVALID_HID;
    int rc = !buf ? error_set(EX_OSERR, "out of memory for a batch of '%s'", name)
                  : h5out_create_dataset(out, name, type, rank, dims, chunk, &dset);
    size_t row_out = 0;
    for (int k = 0; !rc && k < n; k++) {
        shard *s = &shards[k];
        for (size_t row0 = 0; !rc && row0 < s->ff.n_img; row0 += batch) {
            size_t rows = batch < s->ff.n_img - row0 ? batch : s->ff.n_img - row0;
            rc = !strcmp(name, "/features") ? features_read_images(&s->ff, row0, rows, buf)
                                            : h5in_read_rows(&s->in, name, type, row0, rows, buf);
            if (!rc)
                rc = h5out_write_rows(dset, name, type, row_out, rows, buf);
            row_out += rows;
        }
    }
    if (dset >= 0)
        H5Dclose(dset);
    free(buf);
    if (!rc)
        rc = h5io_copy_attrs(&shards[0].in, out, name);
    return rc ? error_code() : 0;
}

/* 1 when root attribute name has the first shard's value in every shard. */
static int same_in_every_shard(shard *shards, int n, const char *name)
{
    char *value = h5in_attr_text(&shards[0].in, "/", name);
    int same = value != NULL;
    for (int k = 1; same && k < n; k++) {
        if (H5Aexists(shards[k].in.file, name) <= 0) {
            same = 0;
            break;
        }
        char *other = h5in_attr_text(&shards[k].in, "/", name);
        same = other && !strcmp(value, other);
        free(other);
    }
    free(value);
    return same;
}

/* Root attributes of the data (not of a run) carried when every shard agrees. */
static int copy_root_attrs(shard *shards, int n, h5out *out)
{
    h5io_names names = {0};
    if (h5in_attr_names(&shards[0].in, "/", &names))
        return error_code();
    int rc = 0;
    hid_t dst = H5Oopen(out->file, "/", H5P_DEFAULT);
    hid_t src = H5Oopen(shards[0].in.file, "/", H5P_DEFAULT);
    for (size_t a = 0; !rc && a < names.n; a++) {
        const char *name = names.names[a];
        if (!shards_is_run_attr(name) && same_in_every_shard(shards, n, name) && h5io_copy_attr(src, name, dst))
            rc = error_replace(EX_IOERR, "%s: cannot copy root attribute '%s'", out->final_path, name);
    }
    H5Oclose(src);
    H5Oclose(dst);
    h5io_names_free(&names);
    return rc;
}

int shards_write(shard *shards, int n, h5out *out, void (*progress)(void *ctx, size_t done, size_t total),
                 void *progress_ctx)
{
    size_t n_total = 0;
    for (int k = 0; k < n; k++)
        n_total += shards[k].ff.n_img;
    const h5io_names *datasets = &shards[0].datasets, *groups = &shards[0].groups;
    for (size_t d = 0; d < datasets->n; d++) {
        const char *name = datasets->names[d];
        int rc = shards_is_per_image(&shards[0].in, name) ? concat_dataset(shards, n, name, out, n_total)
                                                          : h5out_copy(out, &shards[0].in, name);
        if (rc)
            return rc;
        if (progress)
            progress(progress_ctx, d + 1, datasets->n);
    }
    /* Groups keep their attributes (from the first shard); empty ones are kept too. */
    for (size_t g = 0; g < groups->n; g++)
        if (h5io_copy_group_attrs(&shards[0].in, out, groups->names[g]))
            return error_code();
    return copy_root_attrs(shards, n, out);
}
