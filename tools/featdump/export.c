/* featdump --export: one numeric dataset of a toolkit file to a .npy. */
#include "featdump.h"
#include "error.h"
#include "h5npy.h"

#include <stdio.h>

int featdump_export(const options *opt)
{
    char name[1024]; /* the leading slash may be left out */
    snprintf(name, sizeof name, "%s%s", opt->export_name[0] == '/' ? "" : "/", opt->export_name);
    h5in in;
    if (h5in_open(&in, opt->args[0], NULL))
        return error_code();
    int rc = h5npy_export(&in, name, opt->cli.output, opt->cli.overwrite);
    h5in_close(&in);
    return rc;
}
