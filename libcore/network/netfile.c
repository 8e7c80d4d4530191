/* netfile — see netfile.h. */
#include "netfile.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int netfile_write(h5out *out, const net_arch *arch, const float *params, const char *const *class_names)
{
    const conv_shape *first = &arch->conv[0];
    int rc = h5out_attr_int(out, "/", "input_channels", first->c_in) ||
             h5out_attr_int(out, "/", "input_height", first->h) ||
             h5out_attr_int(out, "/", "input_width", first->w) ||
             h5out_attr_int(out, "/", "layers", arch->n_layers) ||
             h5out_attr_int(out, "/", "channels", first->c_out) ||
             h5out_attr_double(out, "/", "dropout", arch->dropout) ||
             h5out_attr_string(out, "/", "pixel_scale", "x / 255 (uint8 pixels to [0, 1])") ||
             h5out_attr_string(out, "/", "architecture",
                               "conv3x3-relu-dropout x (layers-1), conv3x3-relu, global average pool, linear");
    for (int l = 0; !rc && l < arch->n_layers; l++) {
        const conv_shape *s = &arch->conv[l];
        char name[64], group[32];
        snprintf(group, sizeof group, "/conv%d", l);
        hsize_t wdims[4] = {s->c_out, s->c_in, s->k, s->k}, bdims[1] = {s->c_out};
        snprintf(name, sizeof name, "%s/weight", group);
        rc = h5out_write(out, name, H5IO_FLOAT, 4, wdims, params + arch->off_weight[l]);
        snprintf(name, sizeof name, "%s/bias", group);
        rc = rc || h5out_write(out, name, H5IO_FLOAT, 1, bdims, params + arch->off_bias[l]) ||
             h5out_attr_int(out, group, "stride", s->stride) || h5out_attr_int(out, group, "padding", s->pad) ||
             h5out_attr_int(out, group, "kernel", s->k);
    }
    hsize_t hdims[2] = {arch->n_cls, net_feat_channels(arch)}, kdims[1] = {arch->n_cls};
    rc = rc || h5out_write(out, "/head/weight", H5IO_FLOAT, 2, hdims, params + arch->off_head_weight) ||
         h5out_write(out, "/head/bias", H5IO_FLOAT, 1, kdims, params + arch->off_head_bias) ||
         h5out_write_strings(out, "/class_names", class_names, (size_t)arch->n_cls);
    return rc ? error_code() : 0;
}

static int read_int_attr(h5in *in, const char *object, const char *name, long long lo, long long hi, int *value)
{
    long long v;
    if (h5in_attr_int(in, object, name, &v))
        return error_code();
    if (v < lo || v > hi)
        return error_set(EX_DATAERR, "%s: attribute '%s' of '%s' is %lld, expected %lld to %lld", in->path, name,
                         object, v, lo, hi);
    *value = (int)v;
    return 0;
}

/* Reads dataset name [expected shape] into params + off, rejecting NaN/Inf. */
static int read_block(h5in *in, const char *name, int rank, const hsize_t *expect, float *dst)
{
    float *buf;
    hsize_t dims[H5IO_MAX_RANK];
    if (h5in_read(in, name, H5IO_FLOAT, rank, expect, (void **)&buf, dims))
        return error_code();
    size_t len = 1;
    for (int k = 0; k < rank; k++)
        len *= dims[k];
    int rc = h5io_check_finite(in->path, name, buf, len, 0);
    if (!rc)
        memcpy(dst, buf, len * sizeof *buf);
    free(buf);
    return rc;
}

/* trainnet's architecture family only: 3×3 kernels, padding 1, stride 2
 * except the last. */
static int check_layer_attrs(h5in *in, const net_arch *arch, int l)
{
    char group[32];
    snprintf(group, sizeof group, "/conv%d", l);
    int stride, pad, k;
    if (read_int_attr(in, group, "stride", 1, 8, &stride) || read_int_attr(in, group, "padding", 0, 8, &pad) ||
        read_int_attr(in, group, "kernel", 1, 15, &k))
        return error_code();
    const conv_shape *s = &arch->conv[l];
    if (stride != s->stride || pad != s->pad || k != s->k)
        return error_set(EX_DATAERR, "%s: '%s' has kernel %d, stride %d, padding %d; trainnet's networks have "
                         "kernel %d, stride %d, padding %d there", in->path, group, k, stride, pad, s->k, s->stride,
                         s->pad);
    return 0;
}

int netfile_read(h5in *in, net_arch *arch, float **params, char ***class_names)
{
    *params = NULL;
    *class_names = NULL;
    int c_in, h, w, layers, channels;
    double dropout;
    if (read_int_attr(in, "/", "input_channels", 1, 64, &c_in) ||
        read_int_attr(in, "/", "input_height", 1, 4096, &h) || read_int_attr(in, "/", "input_width", 1, 4096, &w) ||
        read_int_attr(in, "/", "layers", 1, NET_MAX_LAYERS, &layers) ||
        read_int_attr(in, "/", "channels", 1, 4096, &channels) || h5in_attr_double(in, "/", "dropout", &dropout))
        return error_code();
    if (!(dropout >= 0 && dropout < 1))
        return error_set(EX_DATAERR, "%s: attribute 'dropout' is %g, expected [0, 1)", in->path, dropout);
    size_t n_names;
    char **names;
    if (h5in_strings(in, "/class_names", &names, &n_names))
        return error_code();
    int rc = n_names ? 0 : error_set(EX_DATAERR, "%s: dataset '/class_names' is empty", in->path);
    if (!rc && net_arch_init(arch, c_in, h, w, layers, channels, (int)n_names, dropout))
        rc = error_prefix("%s: ", in->path);
    float *p = rc ? NULL : malloc(arch->n_params * sizeof *p);
    if (!rc && !p)
        rc = error_set(EX_OSERR, "%s: out of memory", in->path);
    for (int l = 0; !rc && l < layers; l++) {
        const conv_shape *s = &arch->conv[l];
        char name[64];
        hsize_t wdims[4] = {s->c_out, s->c_in, s->k, s->k}, bdims[1] = {s->c_out};
        snprintf(name, sizeof name, "/conv%d/weight", l);
        rc = read_block(in, name, 4, wdims, p + arch->off_weight[l]);
        snprintf(name, sizeof name, "/conv%d/bias", l);
        rc = rc || read_block(in, name, 1, bdims, p + arch->off_bias[l]) || check_layer_attrs(in, arch, l);
    }
    hsize_t hdims[2] = {n_names, channels}, kdims[1] = {n_names};
    rc = rc || read_block(in, "/head/weight", 2, hdims, p + arch->off_head_weight) ||
         read_block(in, "/head/bias", 1, kdims, p + arch->off_head_bias);
    if (rc) {
        free(p);
        h5io_free_strings(names, n_names);
        return error_code();
    }
    *params = p;
    *class_names = names;
    return 0;
}
