/* cli — see cli.h. */
#include "cli.h"
#include "error.h"

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
}

void cli_die(const cli_common *cli, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->tool);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
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
    exit(error_code() ? error_code() : EX_SOFTWARE);
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
        /* getopt_long already named the bad option. */
        fprintf(stderr, "%s: try '%s --help'\n", cli->tool, cli->tool);
        exit(EX_USAGE);
    default:
        return 0;
    }
}

void cli_apply_threads(cli_common *cli)
{
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
