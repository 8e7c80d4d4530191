/* featdump: the provenance every import writes (featdump.h). */
#include "featdump.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The class names file's content hash, the hash of h5in_hash (which reads
 * by path when no HDF5 handle or image is set). */
static int text_file_hash(const char *path, uint64_t *hash)
{
    h5in text;
    memset(&text, 0, sizeof text);
    text.file = H5I_INVALID_HID;
    snprintf(text.path, sizeof text.path, "%s", path);
    if (h5in_hash(&text))
        return error_code();
    *hash = text.hash;
    return 0;
}

/* "path\thash\n" per .npy input, as a new string (free()). */
static int npy_inputs_text(npy_reader **readers, int n_readers, char **text)
{
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f)
        return error_set(EX_OSERR, "out of memory for the provenance");
    int rc = 0;
    for (int k = 0; k < n_readers && !rc; k++) {
        uint64_t hash;
        if (!(rc = npy_hash(readers[k], &hash)))
            fprintf(f, "%s\t%016llx\n", readers[k]->path, (unsigned long long)hash);
    }
    fclose(f);
    return rc;
}

static int write_class_names_file(h5out *out, const char *path)
{
    uint64_t hash = 0;
    char line[4200];
    if (text_file_hash(path, &hash))
        return error_code();
    snprintf(line, sizeof line, "%s\t%016llx\n", path, (unsigned long long)hash);
    return h5out_attr_string(out, "/", "class_names_file", line);
}

int featdump_import_provenance(h5out *out, const options *opt, npy_reader **readers, int n_readers)
{
    h5io_provenance prov = {.tool = "featdump", .argc = opt->cli.argc, .argv = opt->cli.argv,
                            .threads = cli_threads()};
    if (h5out_provenance(out, &prov))
        return error_code();
    char *text = NULL;
    int rc = npy_inputs_text(readers, n_readers, &text) || h5out_attr_string(out, "/", "npy_inputs", text) ||
             (opt->class_names && write_class_names_file(out, opt->class_names));
    free(text);
    return rc ? error_code() : 0;
}
