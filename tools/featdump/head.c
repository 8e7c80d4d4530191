/* featdump --head-weight/--head-bias: the linear layer after global average
 * pooling, from .npy into an eddp-head file. */
#include "featdump.h"
#include "classnames.h"
#include "error.h"
#include "h5npy.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    npy_reader weight_in, bias_in;
    float *weight, *bias;       /* [K,C], [K] */
    char **names;
    size_t n_names;
    uint64_t n_cls, n_dim;      /* K, C */
} head_inputs;

static int read_head(head_inputs *h, const options *opt)
{
    if (h5npy_open_float(&h->weight_in, opt->head_weight, "--head-weight", 2, "[K,C] (classes × channels)") ||
        h5npy_open_float(&h->bias_in, opt->head_bias, "--head-bias", 1, "[K]"))
        return error_code();
    h->n_cls = h->weight_in.hdr.shape[0];
    h->n_dim = h->weight_in.hdr.shape[1];
    if (h->bias_in.hdr.shape[0] != h->n_cls)
        return error_set(EX_DATAERR, "%s (--head-bias) has %llu classes but %s (--head-weight) has %llu",
                         h->bias_in.path, (unsigned long long)h->bias_in.hdr.shape[0], h->weight_in.path,
                         (unsigned long long)h->n_cls);
    if (opt->class_names && classnames_read(opt->class_names, &h->names, &h->n_names))
        return error_code();
    if (opt->class_names && h->n_names != h->n_cls)
        return error_set(EX_DATAERR, "%s (--class-names) names %zu classes but %s (--head-weight) has %llu",
                         opt->class_names, h->n_names, h->weight_in.path, (unsigned long long)h->n_cls);
    return h5npy_read_all_float(&h->weight_in, "--head-weight", &h->weight) ||
           h5npy_read_all_float(&h->bias_in, "--head-bias", &h->bias) ? error_code() : 0;
}

static int write_head(head_inputs *h, const options *opt, h5out *out)
{
    hsize_t wdims[2] = {h->n_cls, h->n_dim}, bdims[1] = {h->n_cls};
    npy_reader *readers[2] = {&h->weight_in, &h->bias_in};
    return h5out_write(out, "/weight", H5IO_FLOAT, 2, wdims, h->weight) ||
           h5out_write(out, "/bias", H5IO_FLOAT, 1, bdims, h->bias) ||
           (h->names && h5out_write_strings(out, "/class_names", (const char *const *)h->names, h->n_names)) ||
           featdump_import_provenance(out, opt, readers, 2) ? error_code() : 0;
}

int featdump_head(const options *opt)
{
    head_inputs h;
    memset(&h, 0, sizeof h);
    h5out out;
    int rc = read_head(&h, opt) || h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_HEAD, 1);
    if (!rc) {
        rc = write_head(&h, opt, &out) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    free(h.weight);
    free(h.bias);
    h5io_free_strings(h.names, h.n_names);
    npy_close(&h.weight_in);
    npy_close(&h.bias_in);
    return rc ? error_code() : 0;
}
