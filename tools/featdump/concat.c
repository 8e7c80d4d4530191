/* featdump --concat: feature files made in pieces joined into one (shards.h). */
#include "featdump.h"
#include "error.h"
#include "shards.h"

#include <stdlib.h>

static void show_progress(void *cli, size_t done, size_t total)
{
    cli_progress(cli, "%zu of %zu datasets", done, total);
}

static int write_concat(shard *shards, int n, h5out *out, const options *opt)
{
    int rc = shards_write(shards, n, out, show_progress, (void *)&opt->cli);
    cli_progress_end(&opt->cli);
    if (rc)
        return rc;
    h5in **inputs = malloc(sizeof *inputs * (size_t)n);
    if (!inputs)
        return error_set(EX_OSERR, "out of memory");
    for (int k = 0; k < n; k++)
        inputs[k] = &shards[k].in;
    h5io_provenance prov = {.tool = "featdump", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .threads = cli_threads(), .inputs = inputs, .n_inputs = n};
    rc = h5out_provenance(out, &prov);
    free(inputs);
    return rc;
}

int featdump_concat(const options *opt)
{
    int n = opt->n_args;
    shard *shards = calloc((size_t)n, sizeof *shards);
    if (!shards)
        return error_set(EX_OSERR, "out of memory");
    h5out out;
    int rc = shards_open(shards, n, opt->args) || shards_check(shards, n) ||
             h5out_create(&out, opt->cli.output, opt->cli.overwrite, H5IO_FORMAT_FEATURES, 1);
    if (!rc) {
        rc = write_concat(shards, n, &out, opt) || h5out_commit(&out);
        if (rc)
            h5out_abort(&out);
    }
    shards_close(shards, n);
    free(shards);
    return rc ? error_code() : 0;
}
