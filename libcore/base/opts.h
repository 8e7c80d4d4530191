/* opts — one declarative option table per tool (git's parse-options).
 *
 * A tool lists its options once, as rows: long name, kind, target (a pointer
 * into the tool's option struct), range, metavar and help text.  From the rows
 * opts builds getopt_long's table, parses argv (`--x=v` and `--x v`, unique
 * abbreviations as getopt_long allows them, the last of a repeated scalar wins,
 * a list row collects every occurrence), checks every value against its range
 * with one message naming the option, prints --help, and hashes the parsed
 * values for the --resume fingerprint.
 *
 *     opt_row rows[] = {
 *         OPT_GROUP("options:"),
 *         OPT_INTEGER("epochs", &opt->epochs, 1, 1000000000, "N", "training epochs (2000)"),
 *         OPT_CHOICE("space", &opt->space, "standardised|raw", "units of the directions"),
 *         OPT_INCLUDE(opt->train.rows),   // another table's rows, in place
 *         OPT_END,
 *     };
 *
 * The library side (opts_parse_args, opts_help, opts_fingerprint) returns a
 * status and never exits; cli_parse() (cli.h) is the main() side that adds
 * the shared rows, prints one line and exits 64 (or 0 after --help/--version). */
#ifndef EDDP_OPTS_H
#define EDDP_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPTK_END = 0,
    OPTK_GROUP,    /* a heading line in --help; no option */
    OPTK_INCLUDE,  /* target: another OPTK_END-terminated row array, spliced in */
    OPTK_FLAG,     /* no value; *(int *)target = value */
    OPTK_INT,      /* int *,           integer in [lo, hi] */
    OPTK_LONG,     /* long *,          integer in [lo, hi] */
    OPTK_ULONG,    /* unsigned long * (size_t, uint64_t), integer in [lo, hi] */
    OPTK_DOUBLE,   /* double *,        finite number in [min, max] (ends open by flags) */
    OPTK_STRING,   /* const char **,   any text (OPTF_NONEMPTY: not "") */
    OPTK_CHOICE,   /* int *,           index of the value in metavar "a|b|c" */
    OPTK_PAIR,     /* opt_pair *,      "LO:HI", finite, LO <= HI */
    OPTK_LIST,     /* opt_list *,      every occurrence, in order (repeatable) */
    OPTK_CALLBACK, /* target as the callback wants it */
    OPTK_HELP,     /* --help: the help text on stdout */
    OPTK_VERSION   /* --version */
} opt_kind;

enum {
    OPTF_NOHASH = 1,   /* not part of the --resume fingerprint (output-only settings) */
    OPTF_NONEMPTY = 2, /* OPTK_STRING: "" is refused */
    OPTF_OPEN_MIN = 4, /* OPTK_DOUBLE: min itself is refused: (min, ... */
    OPTF_OPEN_MAX = 8  /* OPTK_DOUBLE: max itself is refused: ..., max) */
};

typedef struct {
    double *lo, *hi;
} opt_pair;

#define OPT_LIST_MAX 64
typedef struct {
    const char *items[OPT_LIST_MAX];
    int n;
} opt_list;

typedef struct opt_row opt_row;
/* A callback parses arg into row->target: 0, or -1 after writing the whole
 * complaint ("--kappa: expected LO:HI, got 'x'") into msg. */
typedef int (*opt_parse_fn)(const opt_row *row, const char *arg, char *msg, size_t len);
/* Writes the parsed value canonically (the fingerprint hashes it). */
typedef void (*opt_format_fn)(const opt_row *row, char *buf, size_t len);

struct opt_row {
    opt_kind kind;
    const char *name;     /* long name without "--" */
    int short_name;       /* 'o', or 0 */
    void *target;
    long long lo, hi;     /* integer kinds */
    double min, max;      /* OPTK_DOUBLE */
    const char *metavar;  /* value placeholder; OPTK_CHOICE: the values "a|b|c" */
    const char *help;     /* may hold '\n' for more lines */
    unsigned flags;       /* OPTF_* */
    int value;            /* OPTK_FLAG: the value stored */
    int *given;           /* optional: set to 1 when the option appears */
    const char *expect;   /* optional: "a number k > 0" instead of the range in messages */
    opt_parse_fn parse;   /* OPTK_CALLBACK */
    opt_format_fn format; /* OPTK_CALLBACK: canonical value for the fingerprint */
};

/* Row constructors; trailing designators add .flags, .given, .expect, .short_name.
 * The _Generic selections refuse a target of the wrong type at compile time. */
#define OPT_END {.kind = OPTK_END}
#define OPT_GROUP(title) {.kind = OPTK_GROUP, .help = (title)}
#define OPT_INCLUDE(rows) {.kind = OPTK_INCLUDE, .target = (void *)(rows)} /* only read */
#define OPT_FLAG(n, tgt, h, ...) OPT_SET_INT(n, tgt, 1, h, __VA_ARGS__)
#define OPT_SET_INT(n, tgt, v, h, ...)                                                             \
    {.kind = OPTK_FLAG, .name = (n), .target = _Generic((tgt), int *: (tgt)), .value = (v),       \
     .help = (h), __VA_ARGS__}
#define OPT_INTEGER(n, tgt, lo_, hi_, mv, h, ...)                                                  \
    {.kind = _Generic((tgt), int *: OPTK_INT, long *: OPTK_LONG, unsigned long *: OPTK_ULONG),     \
     .name = (n), .target = (tgt), .lo = (lo_), .hi = (hi_), .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_DOUBLE(n, tgt, min_, max_, mv, h, ...)                                                 \
    {.kind = OPTK_DOUBLE, .name = (n), .target = _Generic((tgt), double *: (tgt)), .min = (min_),  \
     .max = (max_), .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_STRING(n, tgt, mv, h, ...)                                                             \
    {.kind = OPTK_STRING, .name = (n), .target = _Generic((tgt), const char **: (tgt)),           \
     .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_CHOICE(n, tgt, choices, h, ...)                                                        \
    {.kind = OPTK_CHOICE, .name = (n), .target = _Generic((tgt), int *: (tgt)),                   \
     .metavar = (choices), .help = (h), __VA_ARGS__}
#define OPT_PAIR(n, tgt, mv, h, ...)                                                               \
    {.kind = OPTK_PAIR, .name = (n), .target = _Generic((tgt), opt_pair *: (tgt)),                \
     .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_LIST(n, tgt, mv, h, ...)                                                               \
    {.kind = OPTK_LIST, .name = (n), .target = _Generic((tgt), opt_list *: (tgt)),                \
     .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_CALLBACK(n, tgt, fn, fmt, mv, h, ...)                                                  \
    {.kind = OPTK_CALLBACK, .name = (n), .target = (tgt), .parse = (fn), .format = (fmt),         \
     .metavar = (mv), .help = (h), __VA_ARGS__}
#define OPT_HELP {.kind = OPTK_HELP, .name = "help", .help = "this text", .flags = OPTF_NOHASH}
#define OPT_VERSION {.kind = OPTK_VERSION, .name = "version", .help = "the version", .flags = OPTF_NOHASH}

/* What opts_parse_args found. */
enum { OPTS_OK = 0, OPTS_ERROR = -1, OPTS_HELP = 1, OPTS_VERSION = 2 };

/* Parses argv[1..] by rows.  Returns OPTS_OK with *first_operand = the index
 * of the first operand (getopt_long moves the operands to the end); OPTS_HELP
 * or OPTS_VERSION when one of those rows appeared; OPTS_ERROR with one line
 * (no tool name, no newline) in msg.  Rewinds getopt's state first, so it can
 * run more than once in a process (tests). */
int opts_parse_args(const opt_row *rows, int argc, char **argv, int *first_operand, char *msg, size_t len);

/* The option lines of --help: "  -o, --output FILE       help [range]". */
void opts_help(const opt_row *rows, FILE *out);

/* FNV-1a over every row without OPTF_NOHASH ("name=canonical value") and the
 * operands: the same settings give the same hash whatever their spelling. */
uint64_t opts_fingerprint(const opt_row *rows, int n_operands, char *const *operands);

/* A size in bytes for a callback row: a number with an optional binary
 * suffix K, M, G or T, itself optionally followed by B or iB ("6G", "6GB"
 * and "6GiB" are 6·2^30). *bytes in [1, 1e18]; −1 for anything else. */
int opts_parse_size(const char *arg, double *bytes);

/* The row of long name `name`, or NULL (INCLUDE rows searched too). */
const opt_row *opts_find(const opt_row *rows, const char *name);

#endif
