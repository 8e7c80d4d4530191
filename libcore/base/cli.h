/* cli — the option vocabulary every tool shares, and how a tool fails.
 *
 * A tool lists its options as rows (opts.h) and parses argv with cli_parse(),
 * which adds the shared rows (-o, --overwrite, --seed, --threads, --device,
 * --quiet, --help, --version).  This module belongs to the
 * main() side of a tool: its *_or_exit functions print one line and exit with
 * a sysexits.h code (64 usage, 65 data, 66 no input, 73 can't create, 74 I/O). */
#ifndef EDDP_CLI_H
#define EDDP_CLI_H

#include "opts.h"

#include <getopt.h>
#include <stdint.h>

#define EDDP_VERSION "0.1.0"

typedef struct {
    const char *tool;      /* program name used in every message */
    const char *usage;     /* --help's synopsis and description; the option lines come from the rows */
    const char *output;    /* -o FILE, "-" = stdout */
    int overwrite;         /* --overwrite */
    uint64_t seed;         /* --seed */
    int threads;           /* --threads, 0 = all cores */
    int quiet;             /* --quiet */
    const char *device;    /* --device auto|cpu|cuda[:N] */
    int argc;              /* kept for provenance */
    char **argv;
    opt_row common_rows[10]; /* the shared options' rows, targets in this struct */
    opt_row all_rows[3];   /* the tool's rows, then common_rows */
    const opt_row *rows;   /* all_rows after cli_parse: valid while the tool's parse function runs */
    char **operands;       /* argv's operands after cli_parse */
    int n_operands;
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

/* featdump's getopt loop (until it moves to a row table): the shared options
 * as getopt_long entries, handled by cli_common_option(). */
#define CLI_COMMON_OPTIONS                                       \
    {"output", required_argument, 0, 'o'},                       \
    {"overwrite", no_argument, 0, CLI_OPT_OVERWRITE},            \
    {"seed", required_argument, 0, CLI_OPT_SEED},                \
    {"threads", required_argument, 0, CLI_OPT_THREADS},          \
    {"device", required_argument, 0, CLI_OPT_DEVICE},            \
    {"quiet", no_argument, 0, CLI_OPT_QUIET},                    \
    {"help", no_argument, 0, CLI_OPT_HELP},                      \
    {"version", no_argument, 0, CLI_OPT_VERSION}

/* Sets the defaults and cli->common_rows. cli must not move afterwards (the
 * rows point into it). */
void cli_init(cli_common *cli, const char *tool, const char *usage, int argc, char **argv);
/* Parses cli->argv by the tool's rows and cli->common_rows: prints one line
 * and exits 64 on misuse, prints --help (usage, then the option lines) or
 * --version and exits 0. Returns the index of the first operand and sets
 * cli->rows, cli->operands and cli->n_operands. */
int cli_parse(cli_common *cli, const opt_row *rows);
/* Exits 64 with "expected WHAT" unless there are exactly n operands. */
void cli_expect_operands(const cli_common *cli, int n, const char *what);
/* Exits 64 with "no output file: give -o FILE" when -o is missing. */
void cli_require_output(const cli_common *cli);
/* The --resume fingerprint: the parsed values of cli->rows and the operands. */
uint64_t cli_fingerprint(const cli_common *cli);
/* Handles a shared option; returns 0 if opt is not one of them. Exits for
 * --help (0), --version (0) and malformed values (64). */
int cli_common_option(cli_common *cli, int opt, const char *arg);
/* Prints "tool: message" for an unknown option or missing argument, a hint to
 * --help, and exits 64. */
void cli_usage_error(const cli_common *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Prints the recorded library error (error.h) and exits with its code. */
void cli_fail(const cli_common *cli) __attribute__((noreturn));

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
