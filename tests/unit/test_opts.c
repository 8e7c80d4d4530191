/* opts: the row table parses every kind, checks ranges with one message,
 * handles abbreviations, --x=v and --x v, repeats and lists, prints --help from
 * the rows, and fingerprints the parsed values rather than argv's text. */
#include "harness.h"
#include "opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int verbose, quiet, count, given_count, mode, relu;
    long epochs;
    unsigned long batch;
    double rate, strength;
    const char *name;
    opt_pair kappa;
    double kappa_lo, kappa_hi;
    opt_list tags;
    int odd;
} settings;

/* A callback: an odd integer. */
static int parse_odd(const opt_row *row, const char *arg, char *msg, size_t len)
{
    char *end;
    long value = strtol(arg, &end, 10);
    if (end == arg || *end || value % 2 == 0) {
        snprintf(msg, len, "--%s: expected an odd integer, got '%s'", row->name, arg);
        return -1;
    }
    *(int *)row->target = (int)value;
    return 0;
}

static void format_odd(const opt_row *row, char *buf, size_t len)
{
    snprintf(buf, len, "%d", *(const int *)row->target);
}

static opt_row shared[3];

/* Rows over s (defaults set here), with an included block. */
static void make_rows(settings *s, opt_row rows[16])
{
    memset(s, 0, sizeof *s);
    s->epochs = 10;
    s->batch = 64;
    s->rate = 1e-3;
    s->strength = 1;
    s->relu = 1;
    s->kappa_lo = 0.5;
    s->kappa_hi = 0.9;
    s->kappa = (opt_pair){&s->kappa_lo, &s->kappa_hi};
    const opt_row block[] = {
        OPT_FLAG("verbose", &s->verbose, "say more", .short_name = 'v'),
        OPT_FLAG("quiet", &s->quiet, "say less", .flags = OPTF_NOHASH),
        OPT_END,
    };
    memcpy(shared, block, sizeof block);
    const opt_row table[] = {
        OPT_GROUP("options:"),
        OPT_INTEGER("epochs", &s->epochs, 1, 100000000, "N", "training epochs (10)", .flags = OPTF_NOHASH),
        OPT_INTEGER("batch", &s->batch, 1, 1L << 31, "N", "images per batch (64)"),
        OPT_INTEGER("count", &s->count, -5, 5, "N", "a small count", .given = &s->given_count),
        OPT_DOUBLE("rate", &s->rate, 1e-15, 1e6, "X", "learning rate (0.001)"),
        OPT_DOUBLE("strength", &s->strength, 0, 10, "K", "k > 0\nsecond line", .flags = OPTF_OPEN_MIN),
        OPT_STRING("name", &s->name, "NAME", "a name", .flags = OPTF_NONEMPTY, .short_name = 'n'),
        OPT_CHOICE("mode", &s->mode, "sum|constrained|other", "how"),
        OPT_SET_INT("no-relu", &s->relu, 0, "without the ReLU"),
        OPT_PAIR("kappa", &s->kappa, "LO:HI", "a range"),
        OPT_LIST("tag", &s->tags, "TAG", "repeatable"),
        OPT_CALLBACK("odd", &s->odd, parse_odd, format_odd, "N", "an odd number"),
        OPT_INCLUDE(shared),
        OPT_HELP,
        OPT_VERSION,
        OPT_END,
    };
    memcpy(rows, table, sizeof table);
}

/* argv [33] ← "tool" and a NULL-terminated word list (at most 31 words of
 * under 64 bytes, copied: getopt permutes argv); returns argc. */
static int make_argv(const char *const *words, char **argv)
{
    static char buf[32][64];
    int argc = 0;
    argv[argc++] = strcpy(buf[0], "tool");
    for (; words[argc - 1]; argc++)
        argv[argc] = strcpy(buf[argc], words[argc - 1]);
    argv[argc] = NULL;
    return argc;
}

/* Parses a NULL-terminated word list after a program name. */
static int run(settings *s, opt_row *rows, char *msg, int *first, const char *const *words)
{
    char *argv[33];
    int argc = make_argv(words, argv);
    make_rows(s, rows);
    return opts_parse_args(rows, argc, argv, first, msg, 256);
}

#define PARSE(...) run(&s, rows, msg, &first, (const char *const[]){__VA_ARGS__, NULL})

static void test_kinds(void)
{
    settings s;
    opt_row rows[16];
    char msg[256];
    int first = 0;
    int rc = PARSE("--epochs", "20", "--batch=128", "--rate", "0.5", "--name", "x", "--mode", "constrained",
                   "--no-relu", "--kappa", "0.1:0.3", "-v", "--odd", "7", "a.h5", "b.h5");
    CHECK(rc == OPTS_OK, "every kind parses: %s", msg);
    CHECK(s.epochs == 20 && s.batch == 128 && s.rate == 0.5, "numbers: %ld %lu %g", s.epochs, s.batch, s.rate);
    CHECK(s.name && !strcmp(s.name, "x") && s.mode == 1 && s.relu == 0 && s.verbose == 1 && s.odd == 7,
          "string, choice, set-int, short flag, callback");
    CHECK(s.kappa_lo == 0.1 && s.kappa_hi == 0.3, "pair: %g:%g", s.kappa_lo, s.kappa_hi);
    CHECK(first == 16, "first operand at %d", first);
    CHECK(s.given_count == 0, "given stays 0 for an absent option");

    rc = PARSE("a.h5", "--count", "-5", "b.h5");
    CHECK(rc == OPTS_OK && s.count == -5 && s.given_count == 1, "negative value, given set");
    CHECK(first == 3, "operands moved behind the options: first %d", first);

    rc = PARSE("--tag", "a", "--tag=b", "--tag", "c");
    CHECK(rc == OPTS_OK && s.tags.n == 3 && !strcmp(s.tags.items[2], "c"), "a list collects every occurrence");
    rc = PARSE("--rate", "1", "--rate", "2");
    CHECK(rc == OPTS_OK && s.rate == 2, "a repeated scalar: the last wins (%g)", s.rate);
    rc = PARSE("-n", "short", "-nglued");
    CHECK(rc == OPTS_OK && !strcmp(s.name, "glued"), "short option, value separate and glued");
}

static void test_spellings(void)
{
    settings s;
    opt_row rows[16];
    char msg[256];
    int first;
    CHECK(PARSE("--epochs=7") == OPTS_OK && s.epochs == 7, "--x=v");
    CHECK(PARSE("--epochs", "7") == OPTS_OK && s.epochs == 7, "--x v");
    CHECK(PARSE("--epo", "7") == OPTS_OK && s.epochs == 7, "a unique abbreviation");
    CHECK(PARSE("--st=3") == OPTS_OK && s.strength == 3, "an abbreviation with =");
    CHECK(PARSE("--n", "x") == OPTS_ERROR && strstr(msg, "'--n' is ambiguous") && strstr(msg, "--name") &&
              strstr(msg, "--no-relu"),
          "an ambiguous abbreviation names the candidates: %s", msg);
    CHECK(PARSE("--bogus") == OPTS_ERROR && !strcmp(msg, "unknown option '--bogus'"), "unknown: %s", msg);
    CHECK(PARSE("--bogus=3") == OPTS_ERROR && !strcmp(msg, "unknown option '--bogus'"), "unknown with =: %s", msg);
    CHECK(PARSE("-x") == OPTS_ERROR && !strcmp(msg, "unknown option '-x'"), "unknown short: %s", msg);
    CHECK(PARSE("--epochs") == OPTS_ERROR && !strcmp(msg, "option '--epochs' needs a value"), "missing: %s", msg);
    CHECK(PARSE("a", "-n") == OPTS_ERROR && !strcmp(msg, "option '-n' needs a value"), "missing short: %s", msg);
    CHECK(PARSE("--quiet=1") == OPTS_ERROR && strstr(msg, "option '--quiet' takes no value"), "flag with value: %s",
          msg);
    CHECK(PARSE("--help") == OPTS_HELP, "--help");
    CHECK(PARSE("--vers") == OPTS_VERSION, "--version, abbreviated");
}

static void test_bad_values(void)
{
    settings s;
    opt_row rows[16];
    char msg[256];
    int first;
    static const struct {
        const char *word, *value, *message;
    } bad[] = {
        {"--epochs", "0", "--epochs: expected an integer in [1, 100000000], got '0'"},
        {"--epochs", "100000001", "--epochs: expected an integer in [1, 100000000], got '100000001'"},
        {"--epochs", "3x", "--epochs: expected an integer in [1, 100000000], got '3x'"},
        {"--epochs", "", "--epochs: expected an integer in [1, 100000000], got ''"},
        {"--epochs", "99999999999999999999", "--epochs: expected an integer in [1, 100000000], got '99999999999999999999'"},
        {"--batch", "-1", "--batch: expected an integer in [1, 2147483648], got '-1'"},
        {"--rate", "0", "--rate: expected a number in [1e-15, 1000000], got '0'"},
        {"--rate", "nan", "--rate: expected a number in [1e-15, 1000000], got 'nan'"},
        {"--rate", "inf", "--rate: expected a number in [1e-15, 1000000], got 'inf'"},
        {"--strength", "0", "--strength: expected a number in (0, 10], got '0'"},
        {"--name", "", "--name: expected a value, got ''"},
        {"--mode", "Sum", "--mode: expected sum, constrained or other, got 'Sum'"},
        {"--mode", "su", "--mode: expected sum, constrained or other, got 'su'"},
        {"--kappa", "0.9:0.1", "--kappa: expected LO:HI with LO <= HI, got '0.9:0.1'"},
        {"--kappa", "0.5", "--kappa: expected LO:HI, got '0.5'"},
        {"--odd", "4", "--odd: expected an odd integer, got '4'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = PARSE(bad[k].word, bad[k].value);
        CHECK(rc == OPTS_ERROR && !strcmp(msg, bad[k].message), "%s %s: got '%s'", bad[k].word, bad[k].value, msg);
    }
    CHECK(PARSE("--epochs", "1") == OPTS_OK && PARSE("--epochs", "100000000") == OPTS_OK, "the ends of [1, 1e8]");
    CHECK(PARSE("--strength", "10") == OPTS_OK && s.strength == 10, "a closed max is accepted");
}

static void test_help(void)
{
    settings s;
    opt_row rows[16];
    make_rows(&s, rows);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    opts_help(rows, out);
    fclose(out);
    CHECK(strstr(text, "options:\n") == text, "the group heading first:\n%s", text);
    CHECK(strstr(text, "\n  --epochs N              training epochs (10) [1, 100000000]\n") != NULL,
          "an integer row: name, metavar at column 26, help, range");
    CHECK(strstr(text, "\n  --strength K            k > 0\n                          second line (0, 10]\n"),
          "more help lines indented, an open interval");
    CHECK(strstr(text, "\n  -n, --name NAME         a name\n"), "a short name");
    CHECK(strstr(text, "\n  --mode sum|constrained|other\n                          how\n"),
          "a long left column wraps to the next line");
    CHECK(strstr(text, "\n  -v, --verbose           say more\n"), "an included row");
    CHECK(strstr(text, "\n  --help ") && strstr(text, "\n  --version "), "--help and --version listed");
    /* every option row appears once */
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\n  -")); p++)
        lines++;
    CHECK(lines == 15, "15 option lines after the heading, got %d", lines);
    free(text);
    CHECK(opts_find(rows, "verbose") && opts_find(rows, "verbose")->short_name == 'v' && !opts_find(rows, "verb"),
          "opts_find searches included rows, by the whole name");
}

static uint64_t fingerprint_of(const char *const *words)
{
    settings s;
    opt_row rows[16];
    char msg[256];
    int first;
    char *argv[33];
    int argc = make_argv(words, argv);
    make_rows(&s, rows);
    if (opts_parse_args(rows, argc, argv, &first, msg, sizeof msg) != OPTS_OK)
        return 0;
    return opts_fingerprint(rows, argc - first, argv + first);
}

#define FP(...) fingerprint_of((const char *const[]){__VA_ARGS__, NULL})

static void test_fingerprint(void)
{
    uint64_t base = FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "a.h5");
    CHECK(base != 0, "parses");
    CHECK(FP("--rate=0.5", "--batch=32", "--kappa=0.1:0.2", "--odd=3", "a.h5") == base, "--x=v as --x v");
    CHECK(FP("a.h5", "--odd", "3", "--kappa", "0.1:0.2", "--batch", "32", "--rate", "0.5") == base, "reordered");
    CHECK(FP("--ra", "0.5", "--bat", "32", "--kap", "0.1:0.2", "--od", "3", "a.h5") == base, "abbreviated");
    CHECK(FP("--rate", "5e-1", "--batch", "032", "--kappa", "0.10:0.2", "--odd", "3", "a.h5") == base,
          "other spellings of the same numbers");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "--epochs", "99", "--quiet",
             "a.h5") == base,
          "rows marked OPTF_NOHASH (epochs, quiet) are left out");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "--batch", "32", "a.h5") == base,
          "a repeated option with the same value");
    CHECK(FP("--rate", "0.25", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "a.h5") != base, "another rate");
    CHECK(FP("--rate", "0.5", "--batch", "33", "--kappa", "0.1:0.2", "--odd", "3", "a.h5") != base, "another batch");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.3", "--odd", "3", "a.h5") != base, "another pair");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "5", "a.h5") != base,
          "another callback value");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "b.h5") != base,
          "another operand");
    CHECK(FP("--rate", "0.5", "--batch", "32", "--kappa", "0.1:0.2", "--odd", "3", "-v", "a.h5") != base,
          "an included flag");
    CHECK(FP("--name", "") == 0 && FP("--tag", "a") != FP("--tag", "b"), "lists hash their items");
    CHECK(FP("--tag", "a", "--tag", "b") != FP("--tag", "b", "--tag", "a"), "list order matters");
}

static void test_table_errors(void)
{
    int a = 0, b = 0, first;
    char msg[256];
    char *argv[] = {"tool", NULL};
    const opt_row twice[] = {OPT_FLAG("same", &a, "one"), OPT_FLAG("same", &b, "two"), OPT_END};
    CHECK(opts_parse_args(twice, 1, argv, &first, msg, sizeof msg) == OPTS_ERROR &&
              !strcmp(msg, "the option table lists --same twice"),
          "a name listed twice is a table error: %s", msg);
    const opt_row inner[] = {OPT_FLAG("x", &a, "x", .short_name = 'x'), OPT_END};
    const opt_row shorts[] = {OPT_FLAG("y", &b, "y", .short_name = 'x'), OPT_INCLUDE(inner), OPT_END};
    CHECK(opts_parse_args(shorts, 1, argv, &first, msg, sizeof msg) == OPTS_ERROR, "a short name twice, across an include");
}

/* opts_parse_size: the byte sizes of --memory, iou-label --memory, cachegpu. */
static void test_sizes(void)
{
    double bytes;
    CHECK(opts_parse_size("512", &bytes) == 0 && bytes == 512, "plain bytes");
    CHECK(opts_parse_size("1K", &bytes) == 0 && bytes == 1024, "K");
    CHECK(opts_parse_size("6G", &bytes) == 0 && bytes == 6.0 * (1 << 30), "G");
    CHECK(opts_parse_size("6gib", &bytes) == 0 && bytes == 6.0 * (1 << 30), "GiB, any case");
    CHECK(opts_parse_size("1.5MB", &bytes) == 0 && bytes == 1.5 * (1 << 20), "MB, fractions");
    CHECK(opts_parse_size("2T", &bytes) == 0 && bytes == 2.0 * 1099511627776.0, "T");
    CHECK(opts_parse_size("0", &bytes) != 0, "zero refused");
    CHECK(opts_parse_size("0.5", &bytes) != 0, "under a byte refused");
    CHECK(opts_parse_size("-1G", &bytes) != 0, "negative refused");
    CHECK(opts_parse_size("6X", &bytes) != 0, "unknown suffix refused");
    CHECK(opts_parse_size("6GBx", &bytes) != 0, "trailing text refused");
    CHECK(opts_parse_size("", &bytes) != 0, "empty refused");
    CHECK(opts_parse_size("nan", &bytes) != 0 && opts_parse_size("inf", &bytes) != 0, "NaN and Inf refused");
    CHECK(opts_parse_size("1e19", &bytes) != 0, "over 1e18 refused");
}

int main(void)
{
    test_sizes();
    test_kinds();
    test_spellings();
    test_bad_values();
    test_help();
    test_fingerprint();
    test_table_errors();
    return harness_report("opts");
}
