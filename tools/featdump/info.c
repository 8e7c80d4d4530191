/* featdump --info: a file described on stdout as aligned text — format,
 * datasets with dtype, shape and attributes, root attributes, and the
 * per-channel statistics of /features (featstats.h). */
#include "featdump.h"
#include "error.h"
#include "featstats.h"
#include "h5tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints "  name  value" with continuation lines of a multi-line value
 * indented under the value's column. */
static void print_entry(const char *indent, const char *name, int width, const char *value)
{
    printf("%s%-*s  ", indent, width, name);
    int column = (int)strlen(indent) + width + 2;
    for (const char *p = value; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        printf("%.*s\n", (int)len, p);
        if (!nl || !nl[1])
            return;
        p = nl + 1;
        printf("%*s", column, "");
    }
    putchar('\n');
}

static void print_attrs(h5in *in, const char *object, const char *indent)
{
    h5io_names names = {0};
    if (h5in_attr_names(in, object, &names)) {
        error_clear();
        return;
    }
    int width = 0;
    for (size_t a = 0; a < names.n; a++)
        width = (int)strlen(names.names[a]) + 1 > width ? (int)strlen(names.names[a]) + 1 : width;
    for (size_t a = 0; a < names.n; a++) {
        char *value = h5in_attr_text(in, object, names.names[a]);
        char label[300];
        snprintf(label, sizeof label, "%s%s", strcmp(object, "/") ? "@" : "", names.names[a]);
        print_entry(indent, label, width, value ? value : "");
        free(value);
    }
    h5io_names_free(&names);
}

static void shape_text(char *buf, size_t size, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < rank && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", k ? "," : "", (unsigned long long)dims[k]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static void print_datasets(h5in *in, const h5io_names *datasets)
{
    int name_width = 7, type_width = 5;
    char type[32], shape[256];
    for (size_t d = 0; d < datasets->n; d++) {
        h5in_dataset_class(in, datasets->names[d], type, sizeof type);
        name_width = (int)strlen(datasets->names[d]) > name_width ? (int)strlen(datasets->names[d]) : name_width;
        type_width = (int)strlen(type) > type_width ? (int)strlen(type) : type_width;
    }
    printf("datasets:\n");
    for (size_t d = 0; d < datasets->n; d++) {
        const char *name = datasets->names[d];
        int rank;
        hsize_t dims[H5IO_MAX_RANK];
        h5in_dataset_class(in, name, type, sizeof type);
        if (h5in_shape(in, name, &rank, dims)) {
            error_clear();
            snprintf(shape, sizeof shape, "(unreadable)");
        } else {
            shape_text(shape, sizeof shape, rank, dims);
        }
        printf("  %-*s  %-*s  %s\n", name_width, name, type_width, type, shape);
        print_attrs(in, name, "      ");
    }
}

static void print_statistics(const featstats_channel *stats, const size_t dims[4])
{
    uint64_t values = (uint64_t)dims[0] * dims[2] * dims[3];
    int any_bad = 0;
    for (size_t c = 0; c < dims[1]; c++)
        any_bad |= stats[c].nonfinite > 0;
    printf("\n/features per-channel statistics (%zu images x %zux%zu pixels = %llu values per channel; "
           "std with divisor n):\n", dims[0], dims[2], dims[3], (unsigned long long)values);
    printf("%8s  %15s  %15s  %15s  %15s%s\n", "channel", "mean", "std", "min", "max", any_bad ? "  nonfinite" : "");
    for (size_t c = 0; c < dims[1]; c++) {
        const featstats_channel *s = &stats[c];
        if (!s->count)
            printf("%8zu  %15s  %15s  %15s  %15s", c, "nan", "nan", "nan", "nan");
        else
            printf("%8zu  %15.8g  %15.8g  %15.8g  %15.8g", c, s->mean, featstats_std(s), s->min, s->max);
        if (any_bad)
            printf("  %9llu", (unsigned long long)s->nonfinite);
        putchar('\n');
    }
}

static void print_header(h5in *in)
{
    char *format = h5in_attr_text(in, "/", "format"), *version = h5in_attr_text(in, "/", "format_version");
    printf("file:     %s\nformat:   %s, version %s\n\n", in->path, format ? format : "", version ? version : "");
    free(format);
    free(version);
}

static void show_progress(void *cli, size_t done, size_t total)
{
    cli_progress(cli, "statistics: %zu of %zu images", done, total);
}

int featdump_info(const options *opt)
{
    h5in in;
    if (h5in_open(&in, opt->info, NULL))
        return error_code();
    h5io_names datasets = {0}, groups = {0};
    featstats_channel *stats = NULL;
    size_t dims[4] = {0};
    int rc = h5in_walk(&in, &datasets, &groups);
    int have_features = !rc && h5io_names_has(&datasets, "/features");
    if (have_features) {
        rc = featstats_read(&in, &stats, dims, show_progress, (void *)&opt->cli);
        cli_progress_end(&opt->cli);
    }
    if (!rc) {
        print_header(&in);
        print_datasets(&in, &datasets);
        printf("\nroot attributes:\n");
        print_attrs(&in, "/", "  ");
        if (have_features)
            print_statistics(stats, dims);
        if (fflush(stdout))
            rc = error_set(EX_IOERR, "cannot write to stdout: %s", strerror(errno));
    }
    free(stats);
    h5io_names_free(&datasets);
    h5io_names_free(&groups);
    h5in_close(&in);
    return rc;
}
