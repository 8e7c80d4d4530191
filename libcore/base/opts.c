/* opts — see opts.h. */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HELP_COLUMN 26
#define MAX_ROWS 256
#define VAL_BASE 1000 /* getopt val of long-only row k: VAL_BASE + k */

/* The option rows in order, INCLUDE rows spliced in (GROUP rows kept for help). */
static int flatten(const opt_row *rows, const opt_row **out, int n)
{
    for (const opt_row *r = rows; r && r->kind != OPTK_END; r++) {
        if (r->kind == OPTK_INCLUDE)
            n = flatten(r->target, out, n);
        else if (n < MAX_ROWS)
            out[n++] = r;
    }
    return n;
}

static int takes_value(const opt_row *r)
{
    return r->kind != OPTK_FLAG && r->kind != OPTK_HELP && r->kind != OPTK_VERSION;
}

static int is_option(const opt_row *r) { return r->kind != OPTK_GROUP; }

static int say(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return OPTS_ERROR;
}

/* ------------------------------------------------------------ values */

static int parse_integer(const opt_row *r, const char *arg, char *msg, size_t len)
{
    char *end;
    errno = 0;
    long long value = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || value < r->lo || value > r->hi) {
        if (r->expect)
            return say(msg, len, "--%s: expected %s, got '%s'", r->name, r->expect, arg);
        return say(msg, len, "--%s: expected an integer in [%lld, %lld], got '%s'", r->name, r->lo, r->hi, arg);
    }
    switch (r->kind) {
    case OPTK_INT: *(int *)r->target = (int)value; break;
    case OPTK_LONG: *(long *)r->target = (long)value; break;
    default: *(unsigned long *)r->target = (unsigned long)value; break;
    }
    return OPTS_OK;
}

/* "[0, 1]", "(0, 1)", "(0, inf)" */
static void interval(const opt_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "%c%.10g, %.10g%c", r->flags & OPTF_OPEN_MIN || isinf(r->min) ? '(' : '[', r->min, r->max,
             r->flags & OPTF_OPEN_MAX || isinf(r->max) ? ')' : ']');
}

static int parse_double(const opt_row *r, const char *arg, char *msg, size_t len)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end);
    int below = r->flags & OPTF_OPEN_MIN ? !(value > r->min) : !(value >= r->min);
    int above = r->flags & OPTF_OPEN_MAX ? !(value < r->max) : !(value <= r->max);
    if (errno || end == arg || *end || !isfinite(value) || below || above) {
        if (r->expect)
            return say(msg, len, "--%s: expected %s, got '%s'", r->name, r->expect, arg);
        char range[80];
        interval(r, range, sizeof range);
        return say(msg, len, "--%s: expected a number in %s, got '%s'", r->name, range, arg);
    }
    *(double *)r->target = value;
    return OPTS_OK;
}

/* "a|b|c" → "a, b or c" */
static void choice_list(const char *choices, char *buf, size_t len)
{
    size_t n = 0, count = 1;
    for (const char *c = choices; *c; c++)
        count += *c == '|';
    buf[0] = '\0';
    for (size_t k = 0; k < count && n < len; k++) {
        size_t word = strcspn(choices, "|");
        n += (size_t)snprintf(buf + n, len - n, "%s%.*s", k == 0 ? "" : k + 1 == count ? " or " : ", ",
                              (int)word, choices);
        choices += word + 1;
    }
}

static int parse_choice(const opt_row *r, const char *arg, char *msg, size_t len)
{
    const char *c = r->metavar;
    for (int k = 0; *c; k++) {
        size_t word = strcspn(c, "|");
        if (strlen(arg) == word && !strncmp(c, arg, word)) {
            *(int *)r->target = k;
            return OPTS_OK;
        }
        c += word + (c[word] == '|');
    }
    char list[512];
    choice_list(r->metavar, list, sizeof list);
    return say(msg, len, "--%s: expected %s, got '%s'", r->name, list, arg);
}

static int parse_pair(const opt_row *r, const char *arg, char *msg, size_t len)
{
    const opt_pair *pair = r->target;
    char *end;
    errno = 0;
    double lo = strtod(arg, &end);
    if (errno || end == arg || *end != ':')
        return say(msg, len, "--%s: expected LO:HI, got '%s'", r->name, arg);
    const char *rest = end + 1;
    double hi = strtod(rest, &end);
    if (errno || end == rest || *end || !isfinite(lo) || !isfinite(hi) || lo > hi)
        return say(msg, len, "--%s: expected LO:HI with LO <= HI, got '%s'", r->name, arg);
    *pair->lo = lo;
    *pair->hi = hi;
    return OPTS_OK;
}

static int parse_value(const opt_row *r, const char *arg, char *msg, size_t len)
{
    switch (r->kind) {
    case OPTK_FLAG: *(int *)r->target = r->value; return OPTS_OK;
    case OPTK_INT: case OPTK_LONG: case OPTK_ULONG: return parse_integer(r, arg, msg, len);
    case OPTK_DOUBLE: return parse_double(r, arg, msg, len);
    case OPTK_STRING:
        if ((r->flags & OPTF_NONEMPTY) && !*arg)
            return say(msg, len, "--%s: expected %s, got ''", r->name, r->expect ? r->expect : "a value");
        *(const char **)r->target = arg;
        return OPTS_OK;
    case OPTK_CHOICE: return parse_choice(r, arg, msg, len);
    case OPTK_PAIR: return parse_pair(r, arg, msg, len);
    case OPTK_LIST: {
        opt_list *list = r->target;
        if (list->n >= OPT_LIST_MAX)
            return say(msg, len, "--%s: given more than %d times", r->name, OPT_LIST_MAX);
        list->items[list->n++] = arg;
        return OPTS_OK;
    }
    case OPTK_CALLBACK: return r->parse(r, arg, msg, len) ? OPTS_ERROR : OPTS_OK;
    case OPTK_HELP: return OPTS_HELP;
    case OPTK_VERSION: return OPTS_VERSION;
    default: return say(msg, len, "--%s: a row of unknown kind %d", r->name ? r->name : "?", (int)r->kind);
    }
}

/* ------------------------------------------------------------ argv */

/* The long rows whose name starts with the word's name part ("--al" of "--al=3"). */
static int prefix_matches(const opt_row *const *flat, int n, const char *word, char *names, size_t len)
{
    size_t prefix = strcspn(word, "=");
    int count = 0;
    size_t used = 0;
    names[0] = '\0';
    for (int k = 0; k < n; k++)
        if (is_option(flat[k]) && !strncmp(flat[k]->name, word, prefix)) {
            if (strlen(flat[k]->name) == prefix)
                return 1; /* an exact match is never ambiguous */
            count++;
            if (used < len)
                used += (size_t)snprintf(names + used, len - used, "%s--%s", count > 1 ? ", " : "", flat[k]->name);
        }
    return count;
}

static const opt_row *row_of(const opt_row *const *flat, int n, int val)
{
    if (val >= VAL_BASE && val - VAL_BASE < n)
        return flat[val - VAL_BASE];
    for (int k = 0; k < n; k++)
        if (is_option(flat[k]) && flat[k]->short_name && flat[k]->short_name == val)
            return flat[k];
    return NULL;
}

static int option_error(const opt_row *const *flat, int n, int c, char **argv, int argc, char *msg, size_t len)
{
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    const opt_row *r = optopt ? row_of(flat, n, optopt) : NULL;
    int is_long = !strncmp(word, "--", 2);
    if (c == ':' && r) {
        if (is_long)
            return say(msg, len, "option '--%s' needs a value", r->name);
        return say(msg, len, "option '-%c' needs a value", r->short_name);
    }
    if (r && is_long)
        return say(msg, len, "option '--%s' takes no value, got '%s'", r->name, word);
    if (is_long) {
        char names[512];
        if (prefix_matches(flat, n, word + 2, names, sizeof names) > 1)
            return say(msg, len, "option '%.*s' is ambiguous (%s)", (int)strcspn(word, "="), word, names);
        return say(msg, len, "unknown option '%.*s'", (int)strcspn(word, "="), word);
    }
    if (optopt > 0 && optopt < 128)
        return say(msg, len, "unknown option '-%c'", optopt);
    return say(msg, len, "unknown option '%s'", word);
}

int opts_parse_args(const opt_row *rows, int argc, char **argv, int *first_operand, char *msg, size_t len)
{
    const opt_row *flat[MAX_ROWS];
    int n = flatten(rows, flat, 0);
    if (n >= MAX_ROWS)
        return say(msg, len, "more than %d option rows", MAX_ROWS - 1);
    for (int k = 0; k < n; k++)
        for (int j = 0; j < k; j++)
            if (is_option(flat[k]) && is_option(flat[j]) &&
                (!strcmp(flat[k]->name, flat[j]->name) ||
                 (flat[k]->short_name && flat[k]->short_name == flat[j]->short_name)))
                return say(msg, len, "the option table lists --%s twice", flat[k]->name);
    struct option longopts[MAX_ROWS + 1];
    char shortopts[2 * MAX_ROWS + 2] = ":";
    int n_long = 0;
    size_t n_short = 1;
    for (int k = 0; k < n; k++) {
        const opt_row *r = flat[k];
        if (!is_option(r))
            continue;
        int val = r->short_name ? r->short_name : VAL_BASE + k;
        longopts[n_long++] = (struct option){r->name, takes_value(r) ? required_argument : no_argument, 0, val};
        if (r->short_name) {
            shortopts[n_short++] = (char)r->short_name;
            if (takes_value(r))
                shortopts[n_short++] = ':';
        }
    }
    longopts[n_long] = (struct option){0, 0, 0, 0};
    shortopts[n_short] = '\0';
    optind = 0; /* glibc: a full rewind, also of its permutation state */
    opterr = 0; /* one line of ours, not getopt's two */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return option_error(flat, n, c, argv, argc, msg, len);
        const opt_row *r = row_of(flat, n, c);
        if (!r)
            return say(msg, len, "getopt returned %d, which no row has", c);
        int rc = parse_value(r, optarg, msg, len);
        if (rc != OPTS_OK)
            return rc;
        if (r->given)
            *r->given = 1;
    }
    *first_operand = optind;
    return OPTS_OK;
}

/* ------------------------------------------------------------ help */

static void print_range(const opt_row *r, FILE *out)
{
    switch (r->kind) {
    case OPTK_INT: case OPTK_LONG: case OPTK_ULONG:
        fprintf(out, " [%lld, %lld]", r->lo, r->hi);
        break;
    case OPTK_DOUBLE: {
        char range[80];
        interval(r, range, sizeof range);
        fprintf(out, " %s", range);
        break;
    }
    default: break;
    }
}

static const char *default_metavar(const opt_row *r)
{
    switch (r->kind) {
    case OPTK_INT: case OPTK_LONG: case OPTK_ULONG: return "N";
    case OPTK_DOUBLE: return "X";
    case OPTK_PAIR: return "LO:HI";
    default: return "VALUE";
    }
}

static void help_row(const opt_row *r, FILE *out)
{
    int col = fprintf(out, "  ");
    if (r->short_name)
        col += fprintf(out, "-%c, ", r->short_name);
    col += fprintf(out, "--%s", r->name);
    if (takes_value(r))
        col += fprintf(out, " %s", r->metavar ? r->metavar : default_metavar(r));
    if (col >= HELP_COLUMN) {
        fputc('\n', out);
        col = 0;
    }
    fprintf(out, "%*s", HELP_COLUMN - col, "");
    for (const char *h = r->help ? r->help : ""; *h; h++) {
        fputc(*h, out);
        if (*h == '\n')
            fprintf(out, "%*s", HELP_COLUMN, "");
    }
    print_range(r, out);
    fputc('\n', out);
}

void opts_help(const opt_row *rows, FILE *out)
{
    const opt_row *flat[MAX_ROWS];
    int n = flatten(rows, flat, 0);
    for (int k = 0; k < n; k++) {
        if (flat[k]->kind == OPTK_GROUP)
            fprintf(out, "%s\n", flat[k]->help);
        else
            help_row(flat[k], out);
    }
}

/* ------------------------------------------------------------ fingerprint */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static uint64_t fnv_byte(uint64_t h, unsigned char byte) { return (h ^ byte) * 0x100000001b3ULL; }

static void canonical(const opt_row *r, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (r->kind) {
    case OPTK_FLAG: case OPTK_INT: case OPTK_CHOICE: snprintf(buf, len, "%d", *(const int *)r->target); break;
    case OPTK_LONG: snprintf(buf, len, "%ld", *(const long *)r->target); break;
    case OPTK_ULONG: snprintf(buf, len, "%lu", *(const unsigned long *)r->target); break;
    case OPTK_DOUBLE: snprintf(buf, len, "%.17g", *(const double *)r->target); break;
    case OPTK_STRING: {
        const char *s = *(const char *const *)r->target;
        snprintf(buf, len, "%s%s", s ? "=" : "unset", s ? s : ""); /* "" and absent differ */
        break;
    }
    case OPTK_PAIR: {
        const opt_pair *p = r->target;
        snprintf(buf, len, "%.17g:%.17g", *p->lo, *p->hi);
        break;
    }
    case OPTK_CALLBACK:
        if (r->format)
            r->format(r, buf, len);
        break;
    default: break;
    }
}

uint64_t opts_fingerprint(const opt_row *rows, int n_operands, char *const *operands)
{
    const opt_row *flat[MAX_ROWS];
    int n = flatten(rows, flat, 0);
    uint64_t h = 0xcbf29ce484222325ULL;
    char buf[4200];
    for (int k = 0; k < n; k++) {
        const opt_row *r = flat[k];
        if (!is_option(r) || (r->flags & OPTF_NOHASH) || r->kind == OPTK_HELP || r->kind == OPTK_VERSION)
            continue;
        h = fnv_byte(fnv(h, r->name), '=');
        if (r->kind == OPTK_LIST) {
            const opt_list *list = r->target;
            for (int j = 0; j < list->n; j++)
                h = fnv_byte(fnv(h, list->items[j]), 0x1f);
        } else {
            canonical(r, buf, sizeof buf);
            h = fnv(h, buf);
        }
        h = fnv_byte(h, 0xff);
    }
    for (int k = 0; k < n_operands; k++)
        h = fnv_byte(fnv(h, operands[k]), 0xfe);
    return h;
}

const opt_row *opts_find(const opt_row *rows, const char *name)
{
    const opt_row *flat[MAX_ROWS];
    int n = flatten(rows, flat, 0);
    for (int k = 0; k < n; k++)
        if (is_option(flat[k]) && !strcmp(flat[k]->name, name))
            return flat[k];
    return NULL;
}

int opts_parse_size(const char *arg, double *bytes)
{
    char *end;
    errno = 0;
    double value = strtod(arg, &end);
    int shift = 0;
    const char *units = "KMGT", *unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (unit && *unit) {
        shift = 10 * (int)(unit - units + 1);
        end++;
        if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
            end += strlen(end);
    } else if (!strcasecmp(end, "B")) {
        end++;
    }
    *bytes = value * (double)((uint64_t)1 << shift);
    return errno || end == arg || *end || !isfinite(value) || !(*bytes >= 1) || *bytes > 1e18 ? -1 : 0;
}
