/* cli — see cli.h. */
#include "cli.h"
#include "error.h"
#include "h5io.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_output(const opt_row *row, const char *arg, char *msg, size_t len)
{
    if (!*arg) {
        snprintf(msg, len, "-o: the output path is empty");
        return -1;
    }
    ((cli_common *)row->target)->output = arg;
    return 0;
}

static void format_output(const opt_row *row, char *buf, size_t len)
{
    const char *out = ((const cli_common *)row->target)->output;
    snprintf(buf, len, "%s", out ? out : "");
}

static int parse_device(const opt_row *row, const char *arg, char *msg, size_t len)
{
    if (strcmp(arg, "auto") && strcmp(arg, "cpu") && strncmp(arg, "cuda", 4)) {
        snprintf(msg, len, "--device: expected auto, cpu or cuda[:N], got '%s'", arg);
        return -1;
    }
    ((cli_common *)row->target)->device = arg;
    return 0;
}

static void format_device(const opt_row *row, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((const cli_common *)row->target)->device);
}

void cli_init(cli_common *cli, const char *tool, const char *usage, int argc, char **argv)
{
    memset(cli, 0, sizeof *cli);
    cli->tool = tool;
    cli->usage = usage;
    cli->device = "auto";
    cli->argc = argc;
    cli->argv = argv;
    opterr = 0; /* cli_common_option reports bad options, in one line */
    const opt_row rows[] = {
        OPT_GROUP("common options:"),
        OPT_CALLBACK("output", cli, parse_output, format_output, "FILE", "output file (- = stdout)",
                     .short_name = 'o'),
        OPT_FLAG("overwrite", &cli->overwrite, "replace an existing output file", .flags = OPTF_NOHASH),
        OPT_INTEGER("seed", &cli->seed, 0, 0x7fffffffffffffffLL, "N", "random seed (0)"),
        OPT_INTEGER("threads", &cli->threads, 0, 4096, "N", "threads (0 = all cores)"),
        OPT_CALLBACK("device", cli, parse_device, format_device, "auto|cpu|cuda[:N]",
                     "compute device (auto)"),
        OPT_FLAG("quiet", &cli->quiet, "no progress on stderr", .flags = OPTF_NOHASH),
        OPT_HELP,
        OPT_VERSION,
        OPT_END,
    };
    _Static_assert(sizeof rows == sizeof cli->common_rows, "cli_common.common_rows holds the shared rows");
    memcpy(cli->common_rows, rows, sizeof rows);
}

int cli_parse(cli_common *cli, const opt_row *rows)
{
    const opt_row all[] = {OPT_INCLUDE(rows), OPT_INCLUDE(cli->common_rows), OPT_END};
    memcpy(cli->all_rows, all, sizeof all);
    char msg[1024];
    int first = 0;
    switch (opts_parse_args(cli->all_rows, cli->argc, cli->argv, &first, msg, sizeof msg)) {
    case OPTS_HELP:
        fputs(cli->usage, stdout);
        opts_help(cli->all_rows, stdout);
        exit(0);
    case OPTS_VERSION:
        printf("%s (eddp-toolkit) %s\n", cli->tool, EDDP_VERSION);
        exit(0);
    case OPTS_OK: break;
    default: cli_usage_error(cli, "%s", msg);
    }
    cli->rows = cli->all_rows;
    cli->operands = cli->argv + first;
    cli->n_operands = cli->argc - first;
    return first;
}

void cli_expect_operands(const cli_common *cli, int n, const char *what)
{
    if (cli->n_operands != n)
        cli_usage_error(cli, "expected %s", what);
}

void cli_require_output(const cli_common *cli)
{
    if (!cli->output)
        cli_usage_error(cli, "no output file: give -o FILE");
}

uint64_t cli_fingerprint(const cli_common *cli)
{
    return opts_fingerprint(cli->rows, cli->n_operands, cli->operands);
}

void cli_usage_error(const cli_common *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try '%s --help')\n", cli->tool);
    exit(EX_USAGE);
}

void cli_fail(const cli_common *cli)
{
    fprintf(stderr, "%s: %s\n", cli->tool, error_message());
    int code = error_code() ? error_code() : EX_SOFTWARE;
    h5io_exit_now(code);
    exit(code);
}

/* For cli_common_option (featdump) only. */
static long parse_long(const cli_common *cli, const char *option, const char *arg, long lo, long hi)
{
    char *end;
    errno = 0;
    long value = strtol(arg, &end, 10);
    if (errno || end == arg || *end || value < lo || value > hi)
        cli_usage_error(cli, "%s: expected an integer in [%ld, %ld], got '%s'", option, lo, hi, arg);
    return value;
}

int cli_common_option(cli_common *cli, int opt, const char *arg)
{
    switch (opt) {
    case 'o':
        if (!*arg)
            cli_usage_error(cli, "-o: the output path is empty");
        cli->output = arg;
        return 1;
    case CLI_OPT_OVERWRITE:
        cli->overwrite = 1;
        return 1;
    case CLI_OPT_SEED:
        cli->seed = (uint64_t)parse_long(cli, "--seed", arg, 0, 0x7fffffffffffffffL);
        return 1;
    case CLI_OPT_THREADS:
        cli->threads = (int)parse_long(cli, "--threads", arg, 0, 4096);
        return 1;
    case CLI_OPT_DEVICE:
        if (strcmp(arg, "auto") && strcmp(arg, "cpu") && strncmp(arg, "cuda", 4))
            cli_usage_error(cli, "--device: expected auto, cpu or cuda[:N], got '%s'", arg);
        cli->device = arg;
        return 1;
    case CLI_OPT_QUIET:
        cli->quiet = 1;
        return 1;
    case CLI_OPT_HELP:
        fputs(cli->usage, stdout);
        exit(0);
    case CLI_OPT_VERSION:
        printf("%s (eddp-toolkit) %s\n", cli->tool, EDDP_VERSION);
        exit(0);
    case '?':
        /* opterr = 0 (cli_init): one line naming the option, not getopt's two. */
        if (optopt && optopt < CLI_OPT_OVERWRITE && strchr("o", optopt) && optind > 0 &&
            !strncmp(cli->argv[optind - 1], "-o", 2))
            cli_usage_error(cli, "option '-o' needs a value");
        if (optind > 0 && optind <= cli->argc && !strncmp(cli->argv[optind - 1], "--", 2))
            cli_usage_error(cli, "unknown option '%s', or it lacks its value", cli->argv[optind - 1]);
        if (optopt > 0 && optopt < 128)
            cli_usage_error(cli, "unknown option '-%c'", optopt);
        cli_usage_error(cli, "unknown option");
    default:
        return 0;
    }
}

void cli_check_output(const cli_common *cli)
{
    const char *out = cli->output;
    if (!out || !strcmp(out, "-"))
        return;
    /* Every other argument (option value or operand) that names a file is a
     * candidate input; the -o value itself points into its own argument. */
    const char **others = malloc((size_t)(cli->argc > 0 ? cli->argc : 1) * sizeof *others);
    int n = 0;
    for (int k = 1; others && k < cli->argc; k++) {
        const char *arg = cli->argv[k];
        if (!(out >= arg && out <= arg + strlen(arg)))
            others[n++] = arg;
    }
    int rc = others ? h5io_check_output_distinct(out, others, n) : 0;
    free(others);
    if (rc)
        cli_usage_error(cli, "%s", error_message());
}

void cli_apply_threads(cli_common *cli)
{
    cli_check_output(cli);
    if (cli->threads > 0) {
        omp_set_num_threads(cli->threads);
        openblas_set_num_threads(cli->threads);
    }
}

int cli_threads(void) { return omp_get_max_threads(); }

static int progress_shown;

void cli_progress(const cli_common *cli, const char *fmt, ...)
{
    if (cli->quiet || !isatty(STDERR_FILENO))
        return;
    va_list ap;
    fprintf(stderr, "\r%s: ", cli->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\033[K", stderr);
    progress_shown = 1;
}

void cli_progress_end(const cli_common *cli)
{
    (void)cli;
    if (progress_shown)
        fputc('\n', stderr);
    progress_shown = 0;
}
