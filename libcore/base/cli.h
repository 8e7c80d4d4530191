/* cli — the option vocabulary every tool shares, and how a tool fails.
 *
 * Tools parse their own options with getopt_long; CLI_COMMON_OPTIONS adds the
 * shared ones (-o, --overwrite, --seed, --threads, --device, --quiet, --help,
 * --version) and cli_common_option() handles them.  This module belongs to the
 * main() side of a tool: its *_or_exit functions print one line and exit with
 * a sysexits.h code (64 usage, 65 data, 66 no input, 73 can't create, 74 I/O). */
#ifndef EDDP_CLI_H
#define EDDP_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#define EDDP_VERSION "0.1.0"

typedef struct {
    const char *tool;      /* program name used in every message */
    const char *usage;     /* full --help text */
    const char *output;    /* -o FILE, "-" = stdout */
    int overwrite;         /* --overwrite */
    uint64_t seed;         /* --seed */
    int threads;           /* --threads, 0 = all cores */
    int quiet;             /* --quiet */
    const char *device;    /* --device auto|cpu|cuda[:N] */
    int argc;              /* kept for provenance */
    char **argv;
} cli_common;

enum {
    CLI_OPT_OVERWRITE = 1000,
    CLI_OPT_SEED,
    CLI_OPT_THREADS,
    CLI_OPT_QUIET,
    CLI_OPT_HELP,
    CLI_OPT_VERSION,
    CLI_OPT_DEVICE,
    CLI_OPT_TOOL = 1100 /* first value free for a tool's own long options */
};

#define CLI_COMMON_OPTIONS                                       \
    {"output", required_argument, 0, 'o'},                       \
    {"overwrite", no_argument, 0, CLI_OPT_OVERWRITE},            \
    {"seed", required_argument, 0, CLI_OPT_SEED},                \
    {"threads", required_argument, 0, CLI_OPT_THREADS},          \
    {"device", required_argument, 0, CLI_OPT_DEVICE},            \
    {"quiet", no_argument, 0, CLI_OPT_QUIET},                    \
    {"help", no_argument, 0, CLI_OPT_HELP},                      \
    {"version", no_argument, 0, CLI_OPT_VERSION}

void cli_init(cli_common *cli, const char *tool, const char *usage, int argc, char **argv);
/* Handles a shared option; returns 0 if opt is not one of them. Exits for
 * --help (0), --version (0) and malformed values (64). */
int cli_common_option(cli_common *cli, int opt, const char *arg);
/* Prints "tool: message" for an unknown option or missing argument, a hint to
 * --help, and exits 64. */
void cli_usage_error(const cli_common *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Prints the recorded library error (error.h) and exits with its code. */
void cli_fail(const cli_common *cli) __attribute__((noreturn));
/* Prints "tool: message" and exits with code. */
void cli_die(const cli_common *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Option value parsers: exit 64 naming the option on a bad value. */
long cli_parse_long(const cli_common *cli, const char *option, const char *arg, long lo, long hi);
double cli_parse_double(const cli_common *cli, const char *option, const char *arg, double lo, double hi);
/* A size in bytes, with an optional binary suffix K, M or G (6G = 6·2^30):
 * at least 1 byte; anything else is a usage error naming option. */
size_t cli_parse_bytes(const cli_common *cli, const char *option, const char *arg);
/* "LO:HI" with LO <= HI. */
void cli_parse_range(const cli_common *cli, const char *option, const char *arg, double *lo, double *hi);

/* Exits 64 when the output (-o) is the same file (device and inode) as any
 * other file the command line names: writing it would destroy an input. */
void cli_check_output(const cli_common *cli);
/* Sets OpenMP and OpenBLAS thread counts from --threads. Every tool calls it
 * right after parsing, so it also runs cli_check_output() first. */
void cli_apply_threads(cli_common *cli);
/* The thread count in effect (for provenance). */
int cli_threads(void);

/* One progress line on stderr, rewritten in place; only when stderr is a
 * terminal and --quiet is off. cli_progress_end() finishes the line. */
void cli_progress(const cli_common *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_progress_end(const cli_common *cli);

#endif
