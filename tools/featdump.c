/* featdump — the bridge between the toolkit's HDF5 files and real networks
 * and Python: imports .npy feature maps, labels, concept maps and heads,
 * concatenates shards, describes a file, exports a dataset to .npy.
 *
 * This file parses the options (one row each, opts.h) and dispatches to the
 * one mode they choose (git's builtin/ pattern); each mode is a file in
 * tools/featdump/. */
#include "cli.h"
#include "featdump/featdump.h"
#include "h5io.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: featdump --features F.npy [--layout nchw|nhwc] [--labels L.npy]\n"
    "                [--concepts NAME=MAP.npy ...] [--class-names FILE] -o OUT.h5\n"
    "       featdump --head-weight W.npy --head-bias B.npy [--class-names FILE] -o HEAD.h5\n"
    "       featdump --concat SHARD.h5 ... -o ALL.h5\n"
    "       featdump --info FILE\n"
    "       featdump --export DATASET FILE -o OUT.npy\n"
    "Move feature maps, labels, concept maps and heads between .npy and the\n"
    "toolkit's HDF5 files (one mode per call).\n";

/* ============================================================ commands */

/* One row per mode: its bit, the options that choose it (for messages), and
 * the function that runs it. */
static const struct {
    int mode;                   /* a mode_bit */
    const char *chosen_by;
    int (*run)(const options *opt);
} commands[] = {
    {MODE_IMPORT, "--features", featdump_import},
    {MODE_HEAD, "--head-weight/--head-bias", featdump_head},
    {MODE_CONCAT, "--concat", featdump_concat},
    {MODE_INFO, "--info", featdump_info},
    {MODE_EXPORT, "--export", featdump_export},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

/* The mode bits of the options given. */
static int chosen_modes(const options *opt)
{
    return (opt->features ? MODE_IMPORT : 0) | (opt->head_weight || opt->head_bias ? MODE_HEAD : 0) |
           (opt->concat ? MODE_CONCAT : 0) | (opt->info ? MODE_INFO : 0) | (opt->export_name ? MODE_EXPORT : 0);
}

/* "--features, --head-weight/--head-bias, --concat, --info" + last_joint + "--export" */
static void list_modes(char *buf, size_t len, const char *last_joint)
{
    size_t used = 0;
    for (int k = 0; k < N_COMMANDS && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 k == 0 ? "" : k + 1 == N_COMMANDS ? last_joint : ", ", commands[k].chosen_by);
}

/* ============================================================ options */

/* A callback row's complaint: the whole line into msg, -1. */
static int refuse(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* --concepts NAME=MAP.npy, a callback row whose target is the options; argv
 * stays untouched (provenance records it). */
static int parse_concept(const opt_row *row, const char *arg, char *msg, size_t msg_len)
{
    options *opt = row->target;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : 0;
    if (!eq || !len || !eq[1])
        return refuse(msg, msg_len, "--concepts: expected NAME=MAP.npy, got '%s'", arg);
    if (opt->n_concepts == MAX_CONCEPTS)
        return refuse(msg, msg_len, "--concepts: at most %d categories", MAX_CONCEPTS);
    concept_arg *c = &opt->concepts[opt->n_concepts];
    if (len >= sizeof c->name || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") < len ||
        (len <= 2 && strspn(arg, ".") == len))
        return refuse(msg, msg_len, "--concepts: name '%.*s' must be 1-%zu letters, digits, '_', '-' or '.'",
                      (int)len, arg, sizeof c->name - 1);
    memcpy(c->name, arg, len);
    c->name[len] = '\0';
    c->path = eq + 1;
    for (int k = 0; k < opt->n_concepts; k++)
        if (!strcmp(opt->concepts[k].name, c->name))
            return refuse(msg, msg_len, "--concepts: category '%s' given twice", c->name);
    opt->n_concepts++;
    return 0;
}

static void no_stdin(const cli_common *cli, const char *option, const char *path)
{
    if (path && !strcmp(path, "-"))
        cli_usage_error(cli, "%s: cannot read '-' (stdin) here; give a file", option);
}

/* Options that belong to one mode only, for "X is only for Y" messages. */
static void only_in(const options *opt, int mode, int given, const char *option, const char *mode_name)
{
    if (given && !(opt->modes & mode))
        cli_usage_error(&opt->cli, "%s is only for %s", option, mode_name);
}

/* Exactly one command's mode is chosen. */
static void validate_mode(const options *opt)
{
    int n_modes = 0;
    for (int k = 0; k < N_COMMANDS; k++)
        n_modes += (opt->modes & commands[k].mode) != 0;
    char names[256];
    if (n_modes == 0) {
        list_modes(names, sizeof names, " or ");
        cli_usage_error(&opt->cli, "no mode: give %s", names);
    }
    if (n_modes > 1) {
        list_modes(names, sizeof names, " and ");
        cli_usage_error(&opt->cli, "choose one mode per call: %s exclude each other", names);
    }
}

/* What the chosen mode needs and refuses: its options, -o and arguments. */
static void validate_mode_options(const options *opt)
{
    const cli_common *cli = &opt->cli;
    int m = opt->modes;
    only_in(opt, MODE_IMPORT, opt->layout_given, "--layout", "--features");
    only_in(opt, MODE_IMPORT, opt->labels != NULL, "--labels", "--features");
    only_in(opt, MODE_IMPORT, opt->n_concepts > 0, "--concepts", "--features");
    only_in(opt, MODE_IMPORT | MODE_HEAD, opt->class_names != NULL, "--class-names",
            "--features or --head-weight");
    if (m == MODE_HEAD && (!opt->head_weight || !opt->head_bias))
        cli_usage_error(cli, "a head needs both --head-weight and --head-bias");
    if (m == MODE_INFO && cli->output)
        cli_usage_error(cli, "--info prints to stdout and takes no -o");
    if (m != MODE_INFO)
        cli_require_output(cli);
    if (m == MODE_CONCAT && opt->n_args < 1)
        cli_usage_error(cli, "--concat needs at least one feature file");
    if (m == MODE_EXPORT && opt->n_args != 1)
        cli_usage_error(cli, "--export DATASET needs exactly one file argument, got %d", opt->n_args);
    if ((m == MODE_IMPORT || m == MODE_HEAD || m == MODE_INFO) && opt->n_args > 0)
        cli_usage_error(cli, "unexpected argument '%s'", opt->args[0]);
}

/* .npy inputs need a file (its size is checked); stdin serves one HDF5 input. */
static void validate_stdin(const options *opt)
{
    const cli_common *cli = &opt->cli;
    no_stdin(cli, "--features", opt->features);
    no_stdin(cli, "--labels", opt->labels);
    no_stdin(cli, "--head-weight", opt->head_weight);
    no_stdin(cli, "--head-bias", opt->head_bias);
    no_stdin(cli, "--class-names", opt->class_names);
    for (int k = 0; k < opt->n_concepts; k++)
        no_stdin(cli, "--concepts", opt->concepts[k].path);
    int stdin_uses = 0;
    for (int k = 0; k < opt->n_args; k++)
        stdin_uses += !strcmp(opt->args[k], "-");
    if (stdin_uses > 1)
        cli_usage_error(cli, "'-' (stdin) can be given only once");
}

static void parse(options *opt, int argc, char **argv)
{
    cli_common *cli = &opt->cli;
    cli_init(cli, "featdump", usage, argc, argv);
    const opt_row rows[] = {
        OPT_GROUP("modes (one per call):"),
        OPT_STRING("features", &opt->features, "F.npy", "import feature maps [N,C,H,W] (or [N,C]); float16/32/64"),
        OPT_STRING("head-weight", &opt->head_weight, "W.npy", "import a head: weight [K,C] (e.g. model.fc.weight)"),
        OPT_STRING("head-bias", &opt->head_bias, "B.npy", "and its bias [K]"),
        OPT_FLAG("concat", &opt->concat, "concatenate the feature files given as arguments"),
        OPT_STRING("info", &opt->info, "FILE", "describe FILE (- = stdin): datasets, attributes and\n"
                                               "per-channel statistics of /features"),
        OPT_STRING("export", &opt->export_name, "DATASET", "write DATASET of the file argument to -o as .npy\n"
                                                          "(float32 for floating point, int32 for integers)"),
        OPT_GROUP("with --features:"),
        OPT_CHOICE("layout", &opt->nhwc, "nchw|nhwc", "axis order of --features (nchw); nhwc is transposed",
                   .given = &opt->layout_given),
        OPT_STRING("labels", &opt->labels, "L.npy", "image classes [N], integers >= 0"),
        OPT_CALLBACK("concepts", opt, parse_concept, NULL, "NAME=M.npy",
                     "concept maps [N,Hm,Wm] (0 = none) or multi-hot [N,L];\n"
                     "repeat for several categories"),
        OPT_STRING("class-names", &opt->class_names, "FILE", "class names, one per line (also for a head)"),
        OPT_END,
    };
    cli_parse(cli, rows);
    opt->args = cli->operands;
    opt->n_args = cli->n_operands;
    opt->modes = chosen_modes(opt);
    validate_mode(opt);
    validate_mode_options(opt);
    validate_stdin(opt);
}

int main(int argc, char **argv)
{
    options opt;
    memset(&opt, 0, sizeof opt);
    parse(&opt, argc, argv); /* exactly one mode bit is set after it */
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup(); /* .npy temporaries are in the same registry */
    int rc = 0;
    for (int k = 0; k < N_COMMANDS; k++)
        if (commands[k].mode == opt.modes)
            rc = commands[k].run(&opt);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
