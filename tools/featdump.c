/* featdump — the bridge between the toolkit's HDF5 files and real networks
 * and Python: imports .npy feature maps, labels, concept maps and heads,
 * concatenates shards, describes a file, exports a dataset to .npy.
 *
 * This file parses the options and dispatches to the one mode they choose
 * (git's builtin/ pattern); each mode is a file in tools/featdump/. */
#include "cli.h"
#include "featdump/featdump.h"
#include "h5io.h"

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
    "toolkit's HDF5 files (one mode per call).\n"
    "  --features F.npy        feature maps [N,C,H,W] (or [N,C]); float16/32/64\n"
    "  --layout nchw|nhwc      axis order of --features (nchw); nhwc is transposed\n"
    "  --labels L.npy          image classes [N], integers >= 0\n"
    "  --concepts NAME=M.npy   concept maps [N,Hm,Wm] (0 = none) or multi-hot [N,L];\n"
    "                          repeat for several categories\n"
    "  --class-names FILE      class names, one per line\n"
    "  --head-weight W.npy     head weight [K,C] (e.g. model.fc.weight)\n"
    "  --head-bias B.npy       head bias [K]\n"
    "  --concat                concatenate the feature files given as arguments\n"
    "  --info FILE             describe FILE (- = stdin): datasets, attributes and\n"
    "                          per-channel statistics of /features\n"
    "  --export DATASET        write DATASET of the file argument to -o as .npy\n"
    "                          (float32 for floating point, int32 for integers)\n"
    "  -o FILE                 output (- = stdout), --overwrite to replace one\n"
    "  --threads N, --quiet, --help, --version\n";

enum {
    OPT_FEATURES = CLI_OPT_TOOL, OPT_LAYOUT, OPT_LABELS, OPT_CONCEPTS, OPT_CLASS_NAMES,
    OPT_HEAD_WEIGHT, OPT_HEAD_BIAS, OPT_CONCAT, OPT_INFO, OPT_EXPORT
};

/* ============================================================ options */

/* NAME=MAP.npy; argv stays untouched (provenance records it). */
static void parse_concept(options *opt, const char *arg)
{
    cli_common *cli = &opt->cli;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : 0;
    if (!eq || !len || !eq[1])
        cli_usage_error(cli, "--concepts: expected NAME=MAP.npy, got '%s'", arg);
    if (opt->n_concepts == MAX_CONCEPTS)
        cli_usage_error(cli, "--concepts: at most %d categories", MAX_CONCEPTS);
    concept_arg *c = &opt->concepts[opt->n_concepts];
    if (len >= sizeof c->name || strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") < len ||
        (len <= 2 && strspn(arg, ".") == len))
        cli_usage_error(cli, "--concepts: name '%.*s' must be 1-%zu letters, digits, '_', '-' or '.'",
                        (int)len, arg, sizeof c->name - 1);
    memcpy(c->name, arg, len);
    c->name[len] = '\0';
    c->path = eq + 1;
    for (int k = 0; k < opt->n_concepts; k++)
        if (!strcmp(opt->concepts[k].name, c->name))
            cli_usage_error(cli, "--concepts: category '%s' given twice", c->name);
    opt->n_concepts++;
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

static void validate(options *opt)
{
    cli_common *cli = &opt->cli;
    int m = opt->modes, n_modes = 0;
    for (int bit = 1; bit <= MODE_EXPORT; bit <<= 1)
        n_modes += (m & bit) != 0;
    if (n_modes == 0)
        cli_usage_error(cli, "no mode: give --features, --head-weight/--head-bias, --concat, --info or --export");
    if (n_modes > 1)
        cli_usage_error(cli, "choose one mode per call: --features, --head-weight/--head-bias, "
                             "--concat, --info and --export exclude each other");
    only_in(opt, MODE_IMPORT, opt->layout_given, "--layout", "--features");
    only_in(opt, MODE_IMPORT, opt->labels != NULL, "--labels", "--features");
    only_in(opt, MODE_IMPORT, opt->n_concepts > 0, "--concepts", "--features");
    only_in(opt, MODE_IMPORT | MODE_HEAD, opt->class_names != NULL, "--class-names",
            "--features or --head-weight");
    if (m == MODE_HEAD && (!opt->head_weight || !opt->head_bias))
        cli_usage_error(cli, "a head needs both --head-weight and --head-bias");
    if (m == MODE_INFO && cli->output)
        cli_usage_error(cli, "--info prints to stdout and takes no -o");
    if (m != MODE_INFO && !cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
    if (m == MODE_CONCAT && opt->n_args < 1)
        cli_usage_error(cli, "--concat needs at least one feature file");
    if (m == MODE_EXPORT && opt->n_args != 1)
        cli_usage_error(cli, "--export DATASET needs exactly one file argument, got %d", opt->n_args);
    if ((m == MODE_IMPORT || m == MODE_HEAD || m == MODE_INFO) && opt->n_args > 0)
        cli_usage_error(cli, "unexpected argument '%s'", opt->args[0]);
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
    static const struct option longopts[] = {
        CLI_COMMON_OPTIONS,
        {"features", required_argument, 0, OPT_FEATURES}, {"layout", required_argument, 0, OPT_LAYOUT},
        {"labels", required_argument, 0, OPT_LABELS}, {"concepts", required_argument, 0, OPT_CONCEPTS},
        {"class-names", required_argument, 0, OPT_CLASS_NAMES},
        {"head-weight", required_argument, 0, OPT_HEAD_WEIGHT},
        {"head-bias", required_argument, 0, OPT_HEAD_BIAS}, {"concat", no_argument, 0, OPT_CONCAT},
        {"info", required_argument, 0, OPT_INFO}, {"export", required_argument, 0, OPT_EXPORT},
        {0, 0, 0, 0}};
    cli_init(&opt->cli, "featdump", usage, argc, argv);
    cli_common *cli = &opt->cli;
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (cli_common_option(cli, c, optarg))
            continue;
        switch (c) {
        case OPT_FEATURES: opt->features = optarg; opt->modes |= MODE_IMPORT; break;
        case OPT_LAYOUT:
            if (strcmp(optarg, "nchw") && strcmp(optarg, "nhwc"))
                cli_usage_error(cli, "--layout: expected nchw or nhwc, got '%s'", optarg);
            opt->nhwc = !strcmp(optarg, "nhwc");
            opt->layout_given = 1;
            break;
        case OPT_LABELS: opt->labels = optarg; break;
        case OPT_CONCEPTS: parse_concept(opt, optarg); break;
        case OPT_CLASS_NAMES: opt->class_names = optarg; break;
        case OPT_HEAD_WEIGHT: opt->head_weight = optarg; opt->modes |= MODE_HEAD; break;
        case OPT_HEAD_BIAS: opt->head_bias = optarg; opt->modes |= MODE_HEAD; break;
        case OPT_CONCAT: opt->modes |= MODE_CONCAT; break;
        case OPT_INFO: opt->info = optarg; opt->modes |= MODE_INFO; break;
        case OPT_EXPORT: opt->export_name = optarg; opt->modes |= MODE_EXPORT; break;
        default: cli_usage_error(cli, "unexpected option");
        }
    }
    opt->args = argv + optind;
    opt->n_args = argc - optind;
    validate(opt);
}

/* ============================================================ commands */

/* One row per mode: the option bit that chooses it and the function that runs it. */
static const struct {
    int mode;                   /* a mode_bit */
    int (*run)(const options *opt);
} commands[] = {
    {MODE_IMPORT, featdump_import}, {MODE_HEAD, featdump_head}, {MODE_CONCAT, featdump_concat},
    {MODE_INFO, featdump_info},     {MODE_EXPORT, featdump_export},
};

int main(int argc, char **argv)
{
    options opt;
    memset(&opt, 0, sizeof opt);
    parse(&opt, argc, argv); /* exactly one mode bit is set after it */
    cli_apply_threads(&opt.cli);
    h5io_install_signal_cleanup(); /* .npy temporaries are in the same registry */
    int rc = 0;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (commands[k].mode == opt.modes)
            rc = commands[k].run(&opt);
    if (rc)
        cli_fail(&opt.cli);
    return 0;
}
