/* inflfile — reading and writing the eddp-influence file (see inflfile.h). */
#include "inflfile.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

int influence_result_alloc(influence_result *r)
{
    size_t rows = (size_t)influence_result_rows(r), K = r->n_cls, N = r->n_noise, D = r->n_dim;
    size_t one = rows ? rows : 1;
    r->SC = calloc(one * K, sizeof *r->SC);
    r->p = calloc(one * K, sizeof *r->p);
    r->noise_SC = calloc(one * N * K, sizeof *r->noise_SC);
    r->noise_S = calloc(one * N * D, sizeof *r->noise_S);
    r->noise_alive = calloc(one * N, sizeof *r->noise_alive);
    r->sample_size = calloc(one, sizeof *r->sample_size);
    if (r->SC && r->p && r->noise_SC && r->noise_S && r->noise_alive && r->sample_size)
        return 0;
    influence_result_free(r);
    return error_set(EX_OSERR, "out of memory for the results of %zu detectors", rows);
}

void influence_result_free(influence_result *r)
{
    free(r->SC);
    free(r->p);
    free(r->noise_SC);
    free(r->noise_S);
    free(r->noise_alive);
    free(r->sample_size);
    r->SC = r->p = r->noise_SC = NULL;
    r->noise_S = NULL;
    r->noise_alive = r->sample_size = NULL;
}

static int write_settings(h5out *out, const influence_result *r)
{
    return h5out_attr_int(out, "/", "n_detectors", r->n_det) || h5out_attr_int(out, "/", "n_classes", r->n_cls) ||
           h5out_attr_int(out, "/", "n_dim", r->n_dim) || h5out_attr_int(out, "/", "n_noise", r->n_noise) ||
           h5out_attr_double(out, "/", "alpha", r->alpha) || h5out_attr_double(out, "/", "level", r->level) ||
           h5out_attr_double(out, "/", "pixel_scale", r->pixel_scale) ||
           h5out_attr_string(out, "/", "normalisation", "tensor") ||
           h5out_attr_string(out, "/", "comparison", ">=") ||
           h5out_attr_int(out, "/", "noise_seed", (long long)r->seed) ||
           h5out_attr_int(out, "/", "noise_max_sample", r->max_sample) ||
           h5out_attr_int(out, "/", "noise_epochs", r->epochs) || h5out_attr_double(out, "/", "noise_lr", r->lr) ||
           h5out_attr_string(out, "/", "run_key", r->run_key);
}

static int write_stats(h5out *out, const influence_result *r, const influence_stats *st)
{
    return h5out_attr_double(out, "/", "threshold", influence_threshold(r->level, (size_t)r->n_det * r->n_cls)) ||
           h5out_attr_int(out, "/", "sdc", st->sdc) || h5out_attr_int(out, "/", "scdp", st->scdp) ||
           h5out_attr_int(out, "/", "directions_positive", st->dir_pos) ||
           h5out_attr_int(out, "/", "directions_negative", st->dir_neg) ||
           h5out_attr_double(out, "/", "positive_per_class", st->pos_per_class) ||
           h5out_attr_double(out, "/", "negative_per_class", st->neg_per_class) ||
           h5out_attr_int(out, "/", "min_positive_classes", st->min_pos) ||
           h5out_attr_int(out, "/", "max_positive_classes", st->max_pos) ||
           h5out_attr_int(out, "/", "min_negative_classes", st->min_neg) ||
           h5out_attr_int(out, "/", "max_negative_classes", st->max_neg) ||
           h5out_attr_int(out, "/", "classes_positive", st->cls_pos) ||
           h5out_attr_int(out, "/", "classes_negative", st->cls_neg);
}

int inflfile_write(h5out *out, const influence_result *r, const int32_t *significant, const influence_stats *st)
{
    hsize_t rows = (hsize_t)influence_result_rows(r), K = r->n_cls, N = r->n_noise, D = r->n_dim;
    hsize_t d2[2] = {rows, K}, dn[3] = {rows, N, K}, ds[3] = {rows, N, D}, da[2] = {rows, N}, d1[1] = {rows};
    int rc = h5out_write(out, "/SC", H5IO_DOUBLE, 2, d2, r->SC) || h5out_write(out, "/p", H5IO_DOUBLE, 2, d2, r->p) ||
             h5out_write(out, "/noise/SC", H5IO_DOUBLE, 3, dn, r->noise_SC) ||
             h5out_write(out, "/noise/S", H5IO_FLOAT, 3, ds, r->noise_S) ||
             h5out_write(out, "/noise/alive", H5IO_INT32, 2, da, r->noise_alive) ||
             h5out_write(out, "/noise/sample_size", H5IO_INT32, 1, d1, r->sample_size) ||
             write_settings(out, r);
    if (!rc && r->n_shards > 0)
        rc = h5out_attr_int(out, "/", "shard", r->shard) || h5out_attr_int(out, "/", "n_shards", r->n_shards) ||
             h5out_attr_int(out, "/", "det_lo", r->det_lo) || h5out_attr_int(out, "/", "det_hi", r->det_hi);
    if (!rc && r->n_shards == 0)
        rc = h5out_write(out, "/significant", H5IO_INT32, 2, d2, significant) || write_stats(out, r, st);
    return rc ? error_code() : 0;
}

static int read_int(h5in *in, const char *name, int *value)
{
    long long v;
    if (h5in_attr_int(in, "/", name, &v))
        return error_code();
    *value = (int)v;
    return 0;
}

static int read_settings(h5in *in, influence_result *r)
{
    long long seed;
    char *key = NULL;
    if (read_int(in, "n_detectors", &r->n_det) || read_int(in, "n_classes", &r->n_cls) ||
        read_int(in, "n_dim", &r->n_dim) || read_int(in, "n_noise", &r->n_noise) ||
        h5in_attr_double(in, "/", "alpha", &r->alpha) || h5in_attr_double(in, "/", "level", &r->level) ||
        h5in_attr_double(in, "/", "pixel_scale", &r->pixel_scale) || h5in_attr_int(in, "/", "noise_seed", &seed) ||
        read_int(in, "noise_max_sample", &r->max_sample) || read_int(in, "noise_epochs", &r->epochs) ||
        h5in_attr_double(in, "/", "noise_lr", &r->lr) || h5in_attr_string(in, "/", "run_key", &key))
        return error_code();
    r->seed = (uint64_t)seed;
    snprintf(r->run_key, sizeof r->run_key, "%s", key);
    free(key);
    return 0;
}

static int read_into(h5in *in, const char *name, h5io_type type, int rank, const hsize_t *dims, void *dst,
                     size_t bytes)
{
    void *data = NULL;
    hsize_t got[H5IO_MAX_RANK];
    if (h5in_read(in, name, type, rank, dims, &data, got))
        return error_code();
    memcpy(dst, data, bytes);
    free(data);
    return 0;
}

int inflfile_read_slice(h5in *in, influence_result *r)
{
    memset(r, 0, sizeof *r);
    if (!h5in_exists(in, "/") || H5Aexists(in->file, "shard") <= 0)
        return error_set(EX_DATAERR, "%s: not a slice (no 'shard' attribute): give the files rcav --shard wrote",
                         in->path);
    if (read_settings(in, r) || read_int(in, "shard", &r->shard) || read_int(in, "n_shards", &r->n_shards) ||
        read_int(in, "det_lo", &r->det_lo) || read_int(in, "det_hi", &r->det_hi))
        return error_code();
    if (r->det_lo < 0 || r->det_hi < r->det_lo || r->det_hi > r->n_det || r->n_cls < 1 || r->n_noise < 1 ||
        r->n_dim < 1 || r->shard < 0 || r->shard >= r->n_shards)
        return error_set(EX_DATAERR, "%s: inconsistent slice attributes (detectors %d..%d of %d, shard %d/%d)",
                         in->path, r->det_lo, r->det_hi, r->n_det, r->shard, r->n_shards);
    if (influence_result_alloc(r))
        return error_code();
    size_t rows = (size_t)influence_result_rows(r), K = r->n_cls, N = r->n_noise, D = r->n_dim;
    hsize_t d2[2] = {rows, K}, dn[3] = {rows, N, K}, ds[3] = {rows, N, D}, da[2] = {rows, N}, d1[1] = {rows};
    if (!rows)
        return 0;
    int rc = read_into(in, "/SC", H5IO_DOUBLE, 2, d2, r->SC, rows * K * sizeof(double)) ||
             read_into(in, "/p", H5IO_DOUBLE, 2, d2, r->p, rows * K * sizeof(double)) ||
             read_into(in, "/noise/SC", H5IO_DOUBLE, 3, dn, r->noise_SC, rows * N * K * sizeof(double)) ||
             read_into(in, "/noise/S", H5IO_FLOAT, 3, ds, r->noise_S, rows * N * D * sizeof(float)) ||
             read_into(in, "/noise/alive", H5IO_INT32, 2, da, r->noise_alive, rows * N * sizeof(int32_t)) ||
             read_into(in, "/noise/sample_size", H5IO_INT32, 1, d1, r->sample_size, rows * sizeof(int32_t));
    if (rc)
        influence_result_free(r);
    return rc ? error_code() : 0;
}
