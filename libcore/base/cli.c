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

void cli_init(cli_common *cli, const char *tool, const char *usage, int argc, char **argv)
{
    memset(cli, 0, sizeof *cli);
    cli->tool = tool;
    cli->usage = usage;
    cli->device = "auto";
    cli->argc = argc;
    cli->argv = argv;
    opterr = 0; /* cli_common_option reports bad options, in one line */
}

void cli_die(const cli_common *cli, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    h5io_exit_now(code);
    exit(code);
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

long cli_parse_long(const cli_common *cli, const char *option, const char *arg, long lo, long hi)
{
    char *end;
    errno = 0;
    long value = strtol(arg, &end, 10);
    if (errno || end == arg || *end || value < lo || value > hi)
        cli_usage_error(cli, "%s: expected an integer in [%ld, %ld], got '%s'", option, lo, hi, arg);
    return value;
}

double cli_parse_double(const cli_common *cli, const char *option, const char *arg, double lo, double hi)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(value) || value < lo || value > hi)
        cli_usage_error(cli, "%s: expected a number in [%g, %g], got '%s'", option, lo, hi, arg);
    return value;
}

size_t cli_parse_bytes(const cli_common *cli, const char *option, const char *arg)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end), scale = 1;
    switch (*end) {
    case 'k': case 'K': scale = 1024.0; end++; break;
    case 'm': case 'M': scale = 1024.0 * 1024; end++; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; end++; break;
    }
    if (errno || end == arg || *end || !(value * scale >= 1) || value * scale > 1e18)
        cli_usage_error(cli, "%s: expected a size in bytes with an optional suffix K, M or G (binary), such as "
                        "512M or 6G, got '%s'", option, arg);
    return (size_t)(value * scale);
}

void cli_parse_range(const cli_common *cli, const char *option, const char *arg, double *lo, double *hi)
{
    char *end;
    errno = 0;
    *lo = strtod(arg, &end);
    if (errno || end == arg || *end != ':')
        cli_usage_error(cli, "%s: expected LO:HI, got '%s'", option, arg);
    const char *rest = end + 1;
    *hi = strtod(rest, &end);
    if (errno || end == rest || *end || !isfinite(*lo) || !isfinite(*hi) || *lo > *hi)
        cli_usage_error(cli, "%s: expected LO:HI with LO <= HI, got '%s'", option, arg);
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
        cli->seed = (uint64_t)cli_parse_long(cli, "--seed", arg, 0, 0x7fffffffffffffffL);
        return 1;
    case CLI_OPT_THREADS:
        cli->threads = (int)cli_parse_long(cli, "--threads", arg, 0, 4096);
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
