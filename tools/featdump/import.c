/* featdump --features: feature maps, labels, concept maps and class names
 * from .npy (and text) into an eddp-features file. */
#include "featdump.h"
#include "classnames.h"
#include "error.h"
#include "h5npy.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    npy_reader features, labels, concepts[MAX_CONCEPTS];
    int have_labels, n_concepts_open;
    char **class_names;
    size_t n_class_names;
    size_t dims[4];             /* N, C, H, W of the features */
} import_inputs;

static void close_import(import_inputs *in)
{
    npy_close(&in->features);
    npy_close(&in->labels);
    for (int k = 0; k < in->n_concepts_open; k++)
        npy_close(&in->concepts[k]);
    h5io_free_strings(in->class_names, in->n_class_names);
}

/* [N,C,H,W], [N,H,W,C] with --layout nhwc, or pooled [N,C] = [N,C,1,1]. */
static int open_features_npy(import_inputs *in, const options *opt)
{
    npy_reader *r = &in->features;
    if (npy_open(r, opt->features))
        return error_code();
    char shape[256];
    npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
    if (!npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (--features): dtype '%s' is not floating point (expected "
                         "'<f2', '<f4' or '<f8')", r->path, npy_descr(r->hdr.dtype));
    if (r->hdr.rank != 4 && r->hdr.rank != 2)
        return error_set(EX_DATAERR, "%s (--features): shape %s, expected [N,C,H,W] (or [N,H,W,C] with "
                         "--layout nhwc, or pooled [N,C])", r->path, shape);
    if (npy_count(&r->hdr) == 0)
        return error_set(EX_DATAERR, "%s (--features): no data (shape %s); N, C, H and W must be positive",
                         r->path, shape);
    const uint64_t *s = r->hdr.shape;
    size_t *d = in->dims;
    d[0] = s[0];
    if (r->hdr.rank == 2) {
        d[1] = s[1];
        d[2] = d[3] = 1;
    } else if (opt->nhwc) {
        d[1] = s[3];
        d[2] = s[1];
        d[3] = s[2];
    } else {
        d[1] = s[1];
        d[2] = s[2];
        d[3] = s[3];
    }
    return 0;
}

/* Opens an integer array whose first dimension must be the features' N and
 * whose rank is one of rank_a, rank_b. */
static int open_per_image_ints(npy_reader *r, const char *path, const char *option, const import_inputs *in,
                               int rank_a, int rank_b, const char *expected)
{
    if (npy_open(r, path))
        return error_code();
    if (npy_is_float(r->hdr.dtype))
        return error_set(EX_DATAERR, "%s (%s): dtype '%s' is floating point, expected integers "
                         "(save with a.astype(np.int32))", path, option, npy_descr(r->hdr.dtype));
    if (r->hdr.rank == 0 || r->hdr.shape[0] != in->dims[0])
        return error_set(EX_DATAERR, "%s (%s) has %llu images but %s has %zu", path, option,
                         (unsigned long long)(r->hdr.rank ? r->hdr.shape[0] : 0), in->features.path,
                         in->dims[0]);
    if (r->hdr.rank != rank_a && r->hdr.rank != rank_b) {
        char shape[256];
        npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
        return error_set(EX_DATAERR, "%s (%s): shape %s, expected %s", path, option, shape, expected);
    }
    return 0;
}

static int open_import(import_inputs *in, const options *opt)
{
    if (open_features_npy(in, opt))
        return error_code();
    in->have_labels = opt->labels != NULL;
    if (opt->labels && open_per_image_ints(&in->labels, opt->labels, "--labels", in, 1, 1, "[N] class indices"))
        return error_code();
    for (int k = 0; k < opt->n_concepts; k++) {
        char option[160];
        snprintf(option, sizeof option, "--concepts %s", opt->concepts[k].name);
        in->n_concepts_open = k + 1;
        if (open_per_image_ints(&in->concepts[k], opt->concepts[k].path, option, in, 2, 3,
                                "pixel maps [N,Hm,Wm] or image-level multi-hot [N,L]"))
            return error_code();
    }
    if (opt->class_names && classnames_read(opt->class_names, &in->class_names, &in->n_class_names))
        return error_code();
    return 0;
}

static void show_progress(void *cli, size_t done, size_t total)
{
    cli_progress(cli, "%zu of %zu images", done, total);
}

static int write_import(import_inputs *in, const options *opt, h5out *out)
{
    int rc = h5npy_write_features(&in->features, in->dims, opt->nhwc, out, show_progress, (void *)&opt->cli);
    cli_progress_end(&opt->cli);
    if (!rc && in->have_labels)
        rc = h5npy_write_labels(&in->labels, in->dims[0], in->n_class_names, opt->class_names, out);
    for (int k = 0; !rc && k < opt->n_concepts; k++)
        rc = h5npy_write_concept(&in->concepts[k], opt->concepts[k].name, out);
    if (!rc && in->class_names)
        rc = h5out_write_strings(out, "/class_names", (const char *const *)in->class_names, in->n_class_names);
    if (rc)
        return error_code();
    npy_reader *readers[2 + MAX_CONCEPTS];
    int n = 0;
    readers[n++] = &in->features;
    if (in->have_labels)
        readers[n++] = &in->labels;
    for (int k = 0; k < opt->n_concepts; k++)
        readers[n++] = &in->concepts[k];
    return featdump_import_provenance(out, opt, readers, n);
}

int featdump_import(const options *opt)
{
    import_inputs in;
    memset(&in, 0, sizeof in);
    h5out out;
    int rc = open_import(&in, opt) ||
             h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1);
    if (!rc) {
        rc = write_import(&in, opt, &out) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    close_import(&in);
    return rc ? error_code() : 0;
}
