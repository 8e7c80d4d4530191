/* npy — see npy.h. Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html */
#include "npy.h"
#include "half.h"
#include "h5io.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Element bytes are used in place: the host must be little-endian like the
 * '<' dtypes. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.c assumes a little-endian host");

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    size_t itemsize;
} dtype_info[NPY_N_DTYPES] = {
    [NPY_F2] = {"<f2", 2}, [NPY_F4] = {"<f4", 4}, [NPY_F8] = {"<f8", 8},
    [NPY_B1] = {"|b1", 1}, [NPY_I1] = {"|i1", 1}, [NPY_U1] = {"|u1", 1},
    [NPY_I2] = {"<i2", 2}, [NPY_U2] = {"<u2", 2}, [NPY_I4] = {"<i4", 4},
    [NPY_U4] = {"<u4", 4}, [NPY_I8] = {"<i8", 8}, [NPY_U8] = {"<u8", 8},
};

const char *npy_descr(npy_dtype dtype) { return dtype_info[dtype].descr; }
size_t npy_itemsize(npy_dtype dtype) { return dtype_info[dtype].itemsize; }
int npy_is_float(npy_dtype dtype) { return dtype == NPY_F2 || dtype == NPY_F4 || dtype == NPY_F8; }

uint64_t npy_count(const npy_header *hdr)
{
    uint64_t n = 1;
    for (int k = 0; k < hdr->rank; k++)
        n *= hdr->shape[k];
    return n;
}

void npy_format_shape(char *buf, size_t size, int rank, const uint64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int k = 0; k < rank && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", k ? ", " : "",
                                 (unsigned long long)shape[k]);
    if (used < size)
        snprintf(buf + used, size - used, rank == 1 ? ",)" : ")");
}

float npy_half_to_float(uint16_t half)
{
    return half_to_float(half);
}

/* ---------------------------------------------------------- header parsing */

/* A cursor over the header dict text, with the file for messages. */
typedef struct {
    const char *path;
    const char *p, *end;
} cursor;

static int corrupt(const cursor *c, const char *what)
{
    return error_set(EX_DATAERR, "%s: corrupt .npy header: %s", c->path, what);
}

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int expect_char(cursor *c, char ch, const char *what)
{
    skip_space(c);
    if (c->p >= c->end || *c->p != ch)
        return corrupt(c, what);
    c->p++;
    return 0;
}

/* A Python string literal without escapes, quoted with ' or ". */
static int parse_string(cursor *c, char *out, size_t size)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return corrupt(c, "expected a quoted string");
    char quote = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != quote && *c->p != '\\')
        c->p++;
    if (c->p >= c->end || *c->p != quote)
        return corrupt(c, "unterminated or escaped string");
    size_t len = (size_t)(c->p - start);
    if (len >= size)
        return corrupt(c, "string too long");
    memcpy(out, start, len);
    out[len] = '\0';
    c->p++;
    return 0;
}

static int parse_bool(cursor *c, int *value)
{
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && !memcmp(c->p, "True", 4)) {
        *value = 1;
        c->p += 4;
    } else if (left >= 5 && !memcmp(c->p, "False", 5)) {
        *value = 0;
        c->p += 5;
    } else {
        return corrupt(c, "'fortran_order' must be True or False");
    }
    return 0;
}

static int parse_uint(cursor *c, uint64_t *value)
{
    skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return corrupt(c, "'shape' must hold non-negative integers");
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return corrupt(c, "shape dimension too large");
        v = v * 10 + (uint64_t)(*c->p++ - '0');
    }
    if (c->p < c->end && *c->p == 'L') /* Python 2 long */
        c->p++;
    *value = v;
    return 0;
}

/* "()", "(3,)", "(3, 4)", trailing comma allowed. */
static int parse_shape(cursor *c, npy_header *hdr)
{
    if (expect_char(c, '(', "'shape' must be a tuple"))
        return error_code();
    hdr->rank = 0;
    skip_space(c);
    while (c->p < c->end && *c->p != ')') {
        if (hdr->rank == NPY_MAX_RANK)
            return error_set(EX_DATAERR, "%s: .npy array has more than %d dimensions", c->path,
                             NPY_MAX_RANK);
        if (parse_uint(c, &hdr->shape[hdr->rank++]))
            return error_code();
        skip_space(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p < c->end && *c->p != ')')
            return corrupt(c, "'shape' tuple is malformed");
        skip_space(c);
    }
    return expect_char(c, ')', "'shape' tuple is not closed");
}

static int lookup_dtype(const char *path, const char *descr, npy_dtype *dtype)
{
    /* numpy writes '<' for multi-byte and '|' for one-byte types; '=' (native)
     * is the same on this little-endian host. */
    if (strlen(descr) == 3 && (descr[0] == '<' || descr[0] == '=' || descr[0] == '|'))
        for (int k = 0; k < NPY_N_DTYPES; k++)
            if (!strcmp(descr + 1, dtype_info[k].descr + 1)) {
                *dtype = (npy_dtype)k;
                return 0;
            }
    if (descr[0] == '>')
        return error_set(EX_DATAERR, "%s: dtype '%s' is big-endian; save it as little-endian "
                         "(a.astype(a.dtype.newbyteorder('<')))", path, descr);
    return error_set(EX_DATAERR, "%s: unsupported dtype '%s' (expected float '<f2' '<f4' '<f8' "
                     "or integer '|b1' '|i1' '|u1' '<i2' '<u2' '<i4' '<u4' '<i8' '<u8')",
                     path, descr);
}

/* The dict: exactly the keys 'descr', 'fortran_order', 'shape' in any order. */
static int parse_dict(cursor *c, npy_header *hdr)
{
    int seen_descr = 0, seen_order = 0, seen_shape = 0, fortran = 0;
    char key[64], descr[64];
    if (expect_char(c, '{', "expected a '{' dict"))
        return error_code();
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == '}')
            break;
        if (parse_string(c, key, sizeof key) || expect_char(c, ':', "expected ':' after a key"))
            return error_code();
        int rc;
        if (!strcmp(key, "descr") && !seen_descr) {
            skip_space(c);
            if (c->p < c->end && *c->p == '[')
                return error_set(EX_DATAERR, "%s: structured (record) dtypes are not supported; "
                                 "save a plain numeric array", c->path);
            rc = parse_string(c, descr, sizeof descr);
            seen_descr = 1;
        } else if (!strcmp(key, "fortran_order") && !seen_order) {
            rc = parse_bool(c, &fortran);
            seen_order = 1;
        } else if (!strcmp(key, "shape") && !seen_shape) {
            rc = parse_shape(c, hdr);
            seen_shape = 1;
        } else {
            char what[128];
            snprintf(what, sizeof what, "unexpected or repeated key '%s'", key);
            return corrupt(c, what);
        }
        if (rc)
            return error_code();
        skip_space(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p >= c->end || *c->p != '}')
            return corrupt(c, "expected ',' or '}' after a value");
    }
    c->p++;
    skip_space(c);
    if (c->p != c->end)
        return corrupt(c, "text after the dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return corrupt(c, !seen_descr ? "no 'descr'" : !seen_order ? "no 'fortran_order'" : "no 'shape'");
    if (lookup_dtype(c->path, descr, &hdr->dtype))
        return error_code();
    if (fortran)
        return error_set(EX_DATAERR, "%s: array is in Fortran order; save it in C order "
                         "(np.save(path, np.ascontiguousarray(a)))", c->path);
    return 0;
}

/* Length of the preamble before the dict and of the dict, from the first
 * bytes; needs at least 12 bytes (or 10 for version 1). */
static int parse_preamble(const char *path, const unsigned char *buf, size_t len,
                          size_t *dict_start, size_t *dict_len)
{
    if (len < 6 || memcmp(buf, npy_magic, 6))
        return error_set(EX_DATAERR, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    if (len < 10)
        return error_set(EX_DATAERR, "%s: truncated .npy header", path);
    int major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return error_set(EX_DATAERR, "%s: unsupported .npy format version %d.%d (reads 1.0, 2.0, 3.0)",
                         path, major, minor);
    if (major == 1) {
        *dict_start = 10;
        *dict_len = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else {
        if (len < 12)
            return error_set(EX_DATAERR, "%s: truncated .npy header", path);
        *dict_start = 12;
        *dict_len = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    }
    if (*dict_len > NPY_MAX_HEADER)
        return error_set(EX_DATAERR, "%s: corrupt .npy header: header length %zu is implausible",
                         path, *dict_len);
    return 0;
}

int npy_parse_header(const char *path, const unsigned char *buf, size_t len, npy_header *hdr)
{
    size_t start, dict_len;
    memset(hdr, 0, sizeof *hdr);
    if (parse_preamble(path, buf, len, &start, &dict_len))
        return error_code();
    if (len < start + dict_len)
        return error_set(EX_DATAERR, "%s: truncated .npy header (%zu of %zu bytes)", path, len,
                         start + dict_len);
    for (size_t k = start; k < start + dict_len; k++)
        if (buf[k] == 0)
            return error_set(EX_DATAERR, "%s: corrupt .npy header: NUL byte in the header", path);
    cursor c = {path, (const char *)buf + start, (const char *)buf + start + dict_len};
    if (parse_dict(&c, hdr))
        return error_code();
    hdr->data_offset = start + dict_len;
    return 0;
}

/* ---------------------------------------------------------------- hashing */

/* The hash of h5in_hash (h5io.c), fed incrementally: 8-byte words, a partial
 * word carried between calls, the remaining bytes one by one at the end. */
static uint64_t hash_word(uint64_t h, uint64_t word)
{
    h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static void hash_feed(npy_reader *r, const unsigned char *bytes, size_t n)
{
    size_t k = 0;
    while (r->hash_tail_len && r->hash_tail_len < 8 && k < n)
        r->hash_tail[r->hash_tail_len++] = bytes[k++];
    if (r->hash_tail_len == 8) {
        uint64_t word;
        memcpy(&word, r->hash_tail, 8);
        r->hash = hash_word(r->hash, word);
        r->hash_tail_len = 0;
    }
    for (; k + 8 <= n; k += 8) {
        uint64_t word;
        memcpy(&word, bytes + k, 8);
        r->hash = hash_word(r->hash, word);
    }
    for (; k < n; k++)
        r->hash_tail[r->hash_tail_len++] = bytes[k];
}

static uint64_t hash_finish(const npy_reader *r)
{
    uint64_t h = r->hash;
    for (size_t k = 0; k < r->hash_tail_len; k++)
        h = (h ^ r->hash_tail[k]) * 0x100000001b3ULL;
    return h;
}

/* ---------------------------------------------------------------- reading */

static int read_exact(npy_reader *r, unsigned char *buf, size_t n)
{
    size_t got = n ? fread(buf, 1, n, r->file) : 0;
    if (got != n) {
        if (ferror(r->file))
            return error_set(EX_IOERR, "%s: read error: %s", r->path, strerror(errno));
        return error_set(EX_DATAERR, "%s: unexpected end of file (truncated .npy?)", r->path);
    }
    hash_feed(r, buf, n);
    return 0;
}

static int read_header(npy_reader *r)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, r->file);
    size_t start, dict_len;
    if (ferror(r->file))
        return error_set(EX_IOERR, "%s: read error: %s", r->path, strerror(errno));
    if (parse_preamble(r->path, pre, got, &start, &dict_len))
        return error_code();
    size_t total = start + dict_len;
    unsigned char *buf = malloc(total);
    if (!buf)
        return error_set(EX_OSERR, "%s: out of memory reading the header", r->path);
    memcpy(buf, pre, got < total ? got : total);
    size_t more = total > got ? total - got : 0;
    int rc = 0;
    if (more && fread(buf + got, 1, more, r->file) != more)
        rc = error_set(EX_DATAERR, "%s: truncated .npy header", r->path);
    if (!rc)
        rc = npy_parse_header(r->path, buf, total, &r->hdr);
    if (!rc)
        hash_feed(r, buf, total);
    free(buf);
    if (!rc && got > total) /* tiny header: give back what belongs to the data */
        rc = fseeko(r->file, (off_t)total, SEEK_SET) ? error_set(EX_IOERR, "%s: cannot seek", r->path) : 0;
    return rc;
}

static int check_size(npy_reader *r)
{
    struct stat st;
    if (fstat(fileno(r->file), &st) != 0 || !S_ISREG(st.st_mode))
        return 0; /* a pipe or device: the reads will tell */
    uint64_t count = 1, bytes;
    for (int k = 0; k < r->hdr.rank; k++)
        if (__builtin_mul_overflow(count, r->hdr.shape[k], &count))
            count = UINT64_MAX;
    int overflow = __builtin_mul_overflow(count, (uint64_t)npy_itemsize(r->hdr.dtype), &bytes) ||
                   __builtin_add_overflow(bytes, (uint64_t)r->hdr.data_offset, &bytes);
    if (overflow || bytes != (uint64_t)st.st_size) {
        char shape[256];
        npy_format_shape(shape, sizeof shape, r->hdr.rank, r->hdr.shape);
        return error_set(EX_DATAERR, "%s: file is %llu bytes but its header (shape %s, dtype '%s') "
                         "needs %s%llu (truncated or corrupt .npy)", r->path,
                         (unsigned long long)st.st_size, shape, npy_descr(r->hdr.dtype),
                         overflow ? "more than " : "", (unsigned long long)(overflow ? UINT64_MAX : bytes));
    }
    return 0;
}

int npy_open(npy_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->hash = 0xcbf29ce484222325ULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return error_set(EX_NOINPUT, "%s: is a directory, expected a .npy file", path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return error_set(EX_NOINPUT, "%s: is %s, expected a regular .npy file", path, h5io_file_kind(st.st_mode));
    r->file = fopen(path, "rb");
    if (!r->file)
        return error_set(EX_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_header(r);
    if (!rc)
        rc = check_size(r);
    if (!rc)
        rc = h5io_register_input(path, r);
    if (rc) {
        npy_close(r);
        return rc;
    }
    r->n_rows = r->hdr.rank ? r->hdr.shape[0] : 1;
    r->row_elems = 1;
    for (int k = 1; k < r->hdr.rank; k++)
        r->row_elems *= r->hdr.shape[k];
    return 0;
}

void npy_close(npy_reader *r)
{
    h5io_unregister_input(r);
    if (r->file)
        fclose(r->file);
    r->file = NULL;
    free(r->raw);
    r->raw = NULL;
    r->raw_cap = 0;
}

/* Reads the raw bytes of the next nrows rows into r->raw; *count elements. */
static int read_raw_rows(npy_reader *r, uint64_t nrows, size_t *count)
{
    if (r->hashed || r->next_row + nrows > r->n_rows)
        return error_set(EX_SOFTWARE, "%s: rows %llu..%llu requested past the end (%llu rows)",
                         r->path, (unsigned long long)r->next_row,
                         (unsigned long long)(r->next_row + nrows), (unsigned long long)r->n_rows);
    *count = (size_t)(nrows * r->row_elems);
    size_t bytes = *count * npy_itemsize(r->hdr.dtype);
    if (bytes > r->raw_cap) {
        unsigned char *bigger = realloc(r->raw, bytes);
        if (!bigger)
            return error_set(EX_OSERR, "%s: out of memory for a batch of %llu rows", r->path,
                             (unsigned long long)nrows);
        r->raw = bigger;
        r->raw_cap = bytes;
    }
    if (read_exact(r, r->raw, bytes))
        return error_code();
    r->next_row += nrows;
    return 0;
}

int npy_read_float(npy_reader *r, uint64_t nrows, float *out)
{
    npy_dtype dtype = r->hdr.dtype;
    if (!npy_is_float(dtype))
        return error_set(EX_DATAERR, "%s: dtype '%s' is not floating point (expected '<f2', '<f4' or '<f8')",
                         r->path, npy_descr(dtype));
    uint64_t row0 = r->next_row;
    size_t count;
    if (read_raw_rows(r, nrows, &count))
        return error_code();
    const unsigned char *raw = r->raw;
    size_t first_overflow = count;
    if (dtype == NPY_F4) {
        memcpy(out, raw, count * sizeof *out);
    } else if (dtype == NPY_F2) {
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < count; k++) {
            uint16_t half;
            memcpy(&half, raw + 2 * k, 2);
            out[k] = npy_half_to_float(half);
        }
    } else {
#pragma omp parallel for reduction(min : first_overflow) schedule(static)
        for (size_t k = 0; k < count; k++) {
            double value;
            memcpy(&value, raw + 8 * k, 8);
            out[k] = (float)value;
            if (isfinite(value) && !isfinite(out[k]) && k < first_overflow)
                first_overflow = k;
        }
    }
    if (first_overflow < count) {
        double value;
        memcpy(&value, raw + 8 * first_overflow, 8);
        return error_set(EX_DATAERR, "%s: value %g at row %llu does not fit float32", r->path, value,
                         (unsigned long long)(row0 + first_overflow / (r->row_elems ? r->row_elems : 1)));
    }
    return 0;
}

/* Element k of the raw batch as a 64-bit value; *big for uint64 above INT64_MAX. */
static int64_t raw_int(npy_dtype dtype, const unsigned char *raw, size_t k, int *big)
{
    *big = 0;
    switch (dtype) {
    case NPY_B1: return raw[k] != 0;
    case NPY_I1: return (int8_t)raw[k];
    case NPY_U1: return raw[k];
    case NPY_I2: { int16_t v; memcpy(&v, raw + 2 * k, 2); return v; }
    case NPY_U2: { uint16_t v; memcpy(&v, raw + 2 * k, 2); return v; }
    case NPY_I4: { int32_t v; memcpy(&v, raw + 4 * k, 4); return v; }
    case NPY_U4: { uint32_t v; memcpy(&v, raw + 4 * k, 4); return v; }
    case NPY_I8: { int64_t v; memcpy(&v, raw + 8 * k, 8); return v; }
    case NPY_U8: {
        uint64_t v;
        memcpy(&v, raw + 8 * k, 8);
        *big = v > INT64_MAX;
        return *big ? INT64_MAX : (int64_t)v;
    }
    default: return 0;
    }
}

int npy_read_int32(npy_reader *r, uint64_t nrows, int32_t *out)
{
    npy_dtype dtype = r->hdr.dtype;
    if (npy_is_float(dtype))
        return error_set(EX_DATAERR, "%s: dtype '%s' is floating point, expected integers "
                         "(save with a.astype(np.int32))", r->path, npy_descr(dtype));
    uint64_t row0 = r->next_row;
    size_t count;
    if (read_raw_rows(r, nrows, &count))
        return error_code();
    const unsigned char *raw = r->raw;
    size_t first_bad = count;
#pragma omp parallel for reduction(min : first_bad) schedule(static)
    for (size_t k = 0; k < count; k++) {
        int big;
        int64_t value = raw_int(dtype, raw, k, &big);
        if (big || value < INT32_MIN || value > INT32_MAX) {
            if (k < first_bad)
                first_bad = k;
            out[k] = 0;
        } else {
            out[k] = (int32_t)value;
        }
    }
    if (first_bad < count) {
        int big;
        int64_t value = raw_int(dtype, raw, first_bad, &big);
        return error_set(EX_DATAERR, "%s: value %s%lld at row %llu does not fit int32", r->path,
                         big ? "above " : "", (long long)value,
                         (unsigned long long)(row0 + first_bad / (r->row_elems ? r->row_elems : 1)));
    }
    return 0;
}

int npy_hash(npy_reader *r, uint64_t *hash)
{
    if (!r->hashed) {
        unsigned char buf[1 << 16];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, r->file)) > 0)
            hash_feed(r, buf, got);
        if (ferror(r->file))
            return error_set(EX_IOERR, "%s: read error while hashing: %s", r->path, strerror(errno));
        r->hashed = 1;
    }
    *hash = hash_finish(r);
    return 0;
}

/* ---------------------------------------------------------------- writing */


/* Header of format 1.0 padded with spaces to a multiple of 64 bytes, as
 * numpy writes it. */
static size_t format_header(char *buf, size_t size, npy_dtype dtype, int rank, const uint64_t *shape)
{
    char shape_text[256], dict[512];
    npy_format_shape(shape_text, sizeof shape_text, rank, shape);
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       npy_descr(dtype), shape_text);
    size_t total = 10 + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    if (total > size)
        return 0;
    size_t dict_len = total - 10;
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(dict_len & 0xff);
    buf[9] = (char)(dict_len >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', dict_len - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}

static int create_temp(npy_writer *w, const char *path, int overwrite)
{
    int fd;
    if (h5io_create_temp(path, overwrite, w->temp_path, sizeof w->temp_path, &fd))
        return error_code();
    w->file = fdopen(fd, "wb");
    if (!w->file) {
        close(fd);
        return error_set(EX_CANTCREAT, "%s: cannot open '%s': %s", path, w->temp_path, strerror(errno));
    }
    return 0;
}

int npy_writer_create(npy_writer *w, const char *path, int overwrite, npy_dtype dtype,
                      int rank, const uint64_t *shape)
{
    memset(w, 0, sizeof *w);
    snprintf(w->final_path, sizeof w->final_path, "%s", path);
    if (dtype != NPY_F4 && dtype != NPY_F8 && dtype != NPY_I4)
        return error_set(EX_SOFTWARE, "%s: npy writer supports '<f4', '<f8', '<i4', not '%s'", path,
                         npy_descr(dtype));
    if (rank < 0 || rank > NPY_MAX_RANK)
        return error_set(EX_SOFTWARE, "%s: rank %d is not supported", path, rank);
    w->dtype = dtype;
    w->n_rows = rank ? shape[0] : 1;
    w->row_elems = 1;
    for (int k = 1; k < rank; k++)
        w->row_elems *= shape[k];
    char header[1024];
    size_t header_len = format_header(header, sizeof header, dtype, rank, shape);
    w->to_stdout = !strcmp(path, "-");
    int rc = 0;
    if (w->to_stdout)
        w->file = stdout;
    else
        rc = create_temp(w, path, overwrite);
    if (!rc && fwrite(header, 1, header_len, w->file) != header_len)
        rc = error_set(EX_IOERR, "%s: cannot write: %s", path, strerror(errno));
    if (rc)
        npy_writer_abort(w);
    return rc;
}

int npy_write_rows(npy_writer *w, uint64_t nrows, const void *rows)
{
    if (w->rows_written + nrows > w->n_rows)
        return error_set(EX_SOFTWARE, "%s: more rows written than the shape holds", w->final_path);
    size_t bytes = (size_t)(nrows * w->row_elems) * npy_itemsize(w->dtype);
    if (bytes && fwrite(rows, 1, bytes, w->file) != bytes)
        return error_set(EX_IOERR, "%s: cannot write: %s", w->final_path, strerror(errno));
    w->rows_written += nrows;
    return 0;
}

int npy_writer_commit(npy_writer *w)
{
    if (w->rows_written != w->n_rows)
        return error_set(EX_SOFTWARE, "%s: %llu of %llu rows written", w->final_path,
                         (unsigned long long)w->rows_written, (unsigned long long)w->n_rows);
    if (w->to_stdout) {
        w->file = NULL;
        if (fflush(stdout))
            return error_set(EX_IOERR, "-: cannot write to stdout: %s", strerror(errno));
        return 0;
    }
    int rc = 0;
    if (fflush(w->file) || fsync(fileno(w->file)) || ferror(w->file))
        rc = error_set(EX_IOERR, "%s: cannot finish writing: %s", w->final_path, strerror(errno));
    if (fclose(w->file) && !rc)
        rc = error_set(EX_IOERR, "%s: cannot finish writing: %s", w->final_path, strerror(errno));
    w->file = NULL;
    if (!rc)
        rc = h5io_publish_temp(w->temp_path, w->final_path);
    if (rc)
        unlink(w->temp_path);
    h5io_unregister_temp(w->temp_path);
    w->temp_path[0] = '\0';
    return rc;
}

void npy_writer_abort(npy_writer *w)
{
    if (w->file && !w->to_stdout)
        fclose(w->file);
    w->file = NULL;
    if (w->temp_path[0]) {
        unlink(w->temp_path);
        h5io_unregister_temp(w->temp_path);
        w->temp_path[0] = '\0';
    }
}
