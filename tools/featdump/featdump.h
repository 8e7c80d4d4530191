/* featdump's modes (git's builtin/ pattern): tools/featdump.c parses the
 * options into `options` and calls the one mode they choose through its
 * command table; each mode is a file of this folder, linked into bin/featdump
 * (the Makefile links tools/<tool>/ into bin/<tool>). A mode opens its inputs,
 * calls libcore (h5npy, shards, featstats, h5tree, classnames) and writes;
 * it returns 0 or a sysexits.h code described through error.h. */
#ifndef FEATDUMP_H
#define FEATDUMP_H

#include "cli.h"
#include "h5io.h"
#include "npy.h"

#include <stddef.h>

#define MAX_CONCEPTS 64

typedef enum { MODE_IMPORT = 1, MODE_HEAD = 2, MODE_CONCAT = 4, MODE_INFO = 8, MODE_EXPORT = 16 } mode_bit;

typedef struct {
    char name[128];     /* category: the dataset /concepts/<name> */
    const char *path;
} concept_arg;

typedef struct {
    cli_common cli;
    int modes;                  /* mode_bit set by the options given */
    const char *features, *labels, *class_names, *head_weight, *head_bias, *info, *export_name;
    int nhwc, layout_given;
    concept_arg concepts[MAX_CONCEPTS];
    int n_concepts;
    char **args;                /* positional: concat shards, or the export file */
    int n_args;
} options;

/* The modes: --features, --head-weight/--head-bias, --concat, --info, --export. */
int featdump_import(const options *opt);
int featdump_head(const options *opt);
int featdump_concat(const options *opt);
int featdump_info(const options *opt);
int featdump_export(const options *opt);

/* Provenance of an import: h5io's attributes plus `npy_inputs` (path and
 * hash per line, like `inputs`) and `class_names_file`. */
int featdump_import_provenance(h5out *out, const options *opt, npy_reader **readers, int n_readers);

#endif
