/* test_npy — .npy headers, binary16 conversion, streamed reading and writing. */
#include "error.h"
#include "h5io.h"
#include "harness.h"
#include "npy.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* A .npy preamble + dict (version major.0, padded like numpy) into buf;
 * returns the total header length. */
static size_t make_header(unsigned char *buf, int major, const char *dict)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict) + 1;
    size_t total = (pre + len + 63) / 64 * 64, dict_len = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t k = 0; k < pre - 8; k++)
        buf[8 + k] = (unsigned char)(dict_len >> (8 * k));
    memcpy(buf + pre, dict, strlen(dict));
    memset(buf + pre + strlen(dict), ' ', dict_len - strlen(dict) - 1);
    buf[total - 1] = '\n';
    return total;
}

static int parse(const char *dict, int major, npy_header *hdr)
{
    unsigned char buf[1024];
    size_t len = make_header(buf, major, dict);
    error_clear();
    return npy_parse_header("t.npy", buf, len, hdr);
}

static void test_dtypes(void)
{
    static const struct { const char *descr; npy_dtype dtype; size_t size; } cases[] = {
        {"<f2", NPY_F2, 2}, {"<f4", NPY_F4, 4}, {"<f8", NPY_F8, 8}, {"|b1", NPY_B1, 1},
        {"|i1", NPY_I1, 1}, {"|u1", NPY_U1, 1}, {"<i2", NPY_I2, 2}, {"<u2", NPY_U2, 2},
        {"<i4", NPY_I4, 4}, {"<u4", NPY_U4, 4}, {"<i8", NPY_I8, 8}, {"<u8", NPY_U8, 8},
        {"=f4", NPY_F4, 4}, {"<u1", NPY_U1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int major = 1; major <= 3; major++) {
            char dict[256];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3, 4), }",
                     cases[k].descr);
            npy_header hdr;
            int rc = parse(dict, major, &hdr);
            CHECK(rc == 0, "dtype %s v%d.0 parses (%s)", cases[k].descr, major, error_message());
            CHECK(hdr.dtype == cases[k].dtype && npy_itemsize(hdr.dtype) == cases[k].size,
                  "dtype %s v%d.0 maps to its type", cases[k].descr, major);
            CHECK(hdr.rank == 2 && hdr.shape[0] == 3 && hdr.shape[1] == 4 && hdr.data_offset % 64 == 0,
                  "dtype %s v%d.0 shape (3, 4), data offset %zu", cases[k].descr, major, hdr.data_offset);
        }
    }
    CHECK(npy_is_float(NPY_F2) && npy_is_float(NPY_F8) && !npy_is_float(NPY_I4) && !npy_is_float(NPY_B1),
          "npy_is_float");
}

static void test_header_forms(void)
{
    npy_header hdr;
    CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, &hdr) == 0 &&
              hdr.rank == 0 && npy_count(&hdr) == 1, "scalar shape ()");
    CHECK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", 1, &hdr) == 0 &&
              hdr.rank == 1 && hdr.shape[0] == 7, "1-D shape (7,)");
    CHECK(parse("{'shape': (2, 3, 4, 5), 'fortran_order': False, 'descr': '<f8'}", 1, &hdr) == 0 &&
              hdr.rank == 4 && hdr.shape[3] == 5 && hdr.dtype == NPY_F8 && npy_count(&hdr) == 120,
          "keys in any order, no trailing comma");
    CHECK(parse("{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(10L,3L)}", 2, &hdr) == 0 &&
              hdr.shape[0] == 10 && hdr.shape[1] == 3, "double quotes, no spaces, Python 2 longs");
    CHECK(parse("{ 'descr' : '<u1' ,\n 'fortran_order' : False , 'shape' : ( 0 , 4 ) , }", 3, &hdr) == 0 &&
              hdr.shape[0] == 0 && npy_count(&hdr) == 0, "extra whitespace, zero-length axis");
    char shape[64];
    uint64_t dims[3] = {3000, 16, 2};
    npy_format_shape(shape, sizeof shape, 3, dims);
    CHECK(!strcmp(shape, "(3000, 16, 2)"), "format shape: %s", shape);
    npy_format_shape(shape, sizeof shape, 1, dims);
    CHECK(!strcmp(shape, "(3000,)"), "format 1-D shape: %s", shape);
}

/* Each corrupt header fails with EX_DATAERR, names the file and says why. */
static void expect_reject(const char *dict, int major, const char *why)
{
    npy_header hdr;
    int rc = parse(dict, major, &hdr);
    CHECK(rc == EX_DATAERR && strstr(error_message(), "t.npy") && strstr(error_message(), why),
          "reject %s: rc %d, message '%s' should mention '%s'", dict, rc, error_message(), why);
}

static void test_corrupt_headers(void)
{
    expect_reject("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", 1, "Fortran order");
    expect_reject("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", 1, "big-endian");
    expect_reject("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 1, "unsupported dtype '<c8'");
    expect_reject("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", 1, "unsupported dtype");
    expect_reject("{'descr': '<U5', 'fortran_order': False, 'shape': (3,), }", 1, "unsupported dtype");
    expect_reject("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 1, "structured");
    expect_reject("{'descr': '<f4', 'shape': (3,), }", 1, "no 'fortran_order'");
    expect_reject("{'descr': '<f4', 'fortran_order': False}", 1, "no 'shape'");
    expect_reject("{'fortran_order': False, 'shape': (3,)}", 1, "no 'descr'");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", 1, "'extra'");
    expect_reject("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 1, "repeated");
    expect_reject("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", 1, "True or False");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", 1, "non-negative");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", 1, "tuple");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}", 1, "malformed");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (3,}", 1, "'shape'");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", 1, "too large");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 1, "more than 8");
    expect_reject("{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}", 1, "expected");
    expect_reject("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk", 1, "text after");
    expect_reject("{'descr' '<f4', 'fortran_order': False, 'shape': (3,)}", 1, "':'");
    expect_reject("'descr': '<f4'", 1, "'{'");
    expect_reject("", 1, "'{'");

    unsigned char buf[256];
    size_t len = make_header(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
    npy_header hdr;
    error_clear();
    CHECK(npy_parse_header("t.npy", buf, 30, &hdr) == EX_DATAERR && strstr(error_message(), "truncated"),
          "a header cut short is truncated: %s", error_message());
    error_clear();
    CHECK(npy_parse_header("t.npy", buf, 8, &hdr) == EX_DATAERR && strstr(error_message(), "truncated"),
          "8 bytes: truncated: %s", error_message());
    unsigned char bad[256];
    memcpy(bad, buf, len);
    bad[3] = 'X';
    error_clear();
    CHECK(npy_parse_header("t.npy", bad, len, &hdr) == EX_DATAERR && strstr(error_message(), "not a .npy"),
          "bad magic: %s", error_message());
    memcpy(bad, buf, len);
    bad[6] = 4;
    error_clear();
    CHECK(npy_parse_header("t.npy", bad, len, &hdr) == EX_DATAERR && strstr(error_message(), "version 4.0"),
          "version 4.0 refused: %s", error_message());
    memcpy(bad, buf, len);
    bad[7] = 1;
    error_clear();
    CHECK(npy_parse_header("t.npy", bad, len, &hdr) == EX_DATAERR && strstr(error_message(), "version 1.1"),
          "version 1.1 refused: %s", error_message());
    memcpy(bad, buf, len);
    bad[20] = '\0';
    error_clear();
    CHECK(npy_parse_header("t.npy", bad, len, &hdr) == EX_DATAERR && strstr(error_message(), "NUL"),
          "NUL byte in the dict refused: %s", error_message());
    /* version 2.0 with a 4 GB header length */
    unsigned char huge[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{', '}', ' ', '\n'};
    error_clear();
    CHECK(npy_parse_header("t.npy", huge, sizeof huge, &hdr) == EX_DATAERR && strstr(error_message(), "implausible"),
          "absurd header length refused: %s", error_message());
}

/* Reference binary16 decoding through ldexp. */
static double half_reference(uint16_t h)
{
    int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double value;
    if (exponent == 0)
        value = ldexp(mantissa, -24);
    else if (exponent == 31)
        value = mantissa ? NAN : INFINITY;
    else
        value = ldexp(1024 + mantissa, exponent - 25);
    return sign ? -value : value;
}

static void test_half(void)
{
    int mismatches = 0, nan_ok = 1, sign_ok = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = npy_half_to_float((uint16_t)h);
        double want = half_reference((uint16_t)h);
        if (isnan(want)) {
            nan_ok &= isnan(got) != 0;
            continue;
        }
        mismatches += (double)got != want;
        sign_ok &= !signbit(got) == !(h & 0x8000);
    }
    CHECK(mismatches == 0, "all 63488 non-NaN halves convert exactly (%d mismatches)", mismatches);
    CHECK(nan_ok, "every NaN half stays NaN");
    CHECK(sign_ok, "the sign bit is kept (incl. -0)");
    CHECK(npy_half_to_float(0x0001) == ldexpf(1, -24), "smallest subnormal 2^-24");
    CHECK(npy_half_to_float(0x03ff) == ldexpf(1023, -24), "largest subnormal");
    CHECK(npy_half_to_float(0x0200) == ldexpf(1, -15), "subnormal 2^-15");
    CHECK(npy_half_to_float(0x0400) == ldexpf(1, -14), "smallest normal 2^-14");
    CHECK(npy_half_to_float(0x7bff) == 65504.0f, "largest half 65504");
    CHECK(npy_half_to_float(0x3c00) == 1.0f && npy_half_to_float(0xc000) == -2.0f, "1 and -2");
    CHECK(isinf(npy_half_to_float(0x7c00)) && npy_half_to_float(0x7c00) > 0, "+Inf");
    CHECK(isinf(npy_half_to_float(0xfc00)) && npy_half_to_float(0xfc00) < 0, "-Inf");
    CHECK(isnan(npy_half_to_float(0x7e00)) && isnan(npy_half_to_float(0xfc01)), "NaNs");
    CHECK(npy_half_to_float(0x8000) == 0 && signbit(npy_half_to_float(0x8000)), "-0");
    CHECK(npy_half_to_float(0x8001) == -ldexpf(1, -24), "negative subnormal");
}

/* Writes header + raw element bytes as one file; returns its path. */
static const char *write_raw(const char *name, const char *descr, const char *shape, const void *data,
                             size_t bytes)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char header[256];
    char dict[200];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t len = make_header(header, 1, dict);
    FILE *f = fopen(path, "wb");
    fwrite(header, 1, len, f);
    fwrite(data, 1, bytes, f);
    fclose(f);
    return path;
}

static void test_read_conversions(void)
{
    npy_reader r;
    /* f2 → float, in two batches */
    uint16_t halves[6] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000, 0x3555};
    const char *path = write_raw("h.npy", "<f2", "(3, 2)", halves, sizeof halves);
    float out[6] = {0};
    error_clear();
    int rc = npy_open(&r, path);
    CHECK(rc == 0 && r.n_rows == 3 && r.row_elems == 2, "open <f2 [3,2] (%s)", error_message());
    rc = rc || npy_read_float(&r, 2, out) || npy_read_float(&r, 1, out + 4);
    CHECK(rc == 0 && out[0] == 1 && out[1] == -2 && out[2] == ldexpf(1, -24) && out[3] == 65504 &&
              signbit(out[4]) && out[5] == npy_half_to_float(0x3555),
          "<f2 rows read in batches");
    error_clear();
    CHECK(npy_read_float(&r, 1, out) == EX_SOFTWARE, "reading past the last row fails");
    npy_close(&r);

    /* f8 → float, and a double beyond float32's range */
    double doubles[3] = {0.1, -1e30, 1e300};
    path = write_raw("d.npy", "<f8", "(3,)", doubles, sizeof doubles);
    error_clear();
    rc = npy_open(&r, path) || npy_read_float(&r, 2, out);
    CHECK(rc == 0 && out[0] == 0.1f && out[1] == -1e30f, "<f8 → float32");
    error_clear();
    CHECK(npy_read_float(&r, 1, out) == EX_DATAERR && strstr(error_message(), "row 2") &&
              strstr(error_message(), "float32"),
          "1e300 does not fit float32: %s", error_message());
    npy_close(&r);

    /* integers → int32 */
    int32_t ints[8];
    int8_t i1[4] = {-128, -1, 0, 127};
    path = write_raw("i1.npy", "|i1", "(4,)", i1, sizeof i1);
    rc = npy_open(&r, path) || npy_read_int32(&r, 4, ints);
    CHECK(rc == 0 && ints[0] == -128 && ints[1] == -1 && ints[3] == 127, "|i1 → int32");
    npy_close(&r);
    uint8_t u1[4] = {0, 1, 200, 255}, b1[4] = {0, 1, 1, 0};
    path = write_raw("u1.npy", "|u1", "(2, 2)", u1, sizeof u1);
    rc = npy_open(&r, path) || npy_read_int32(&r, 2, ints);
    CHECK(rc == 0 && ints[2] == 200 && ints[3] == 255, "|u1 → int32");
    npy_close(&r);
    path = write_raw("b1.npy", "|b1", "(4,)", b1, sizeof b1);
    rc = npy_open(&r, path) || npy_read_int32(&r, 4, ints);
    CHECK(rc == 0 && ints[0] == 0 && ints[1] == 1 && ints[2] == 1 && ints[3] == 0, "|b1 → int32");
    npy_close(&r);
    int16_t i2[2] = {-32768, 32767};
    path = write_raw("i2.npy", "<i2", "(2,)", i2, sizeof i2);
    rc = npy_open(&r, path) || npy_read_int32(&r, 2, ints);
    CHECK(rc == 0 && ints[0] == -32768 && ints[1] == 32767, "<i2 → int32");
    npy_close(&r);
    int64_t i8[3] = {INT32_MIN, INT32_MAX, (int64_t)INT32_MAX + 1};
    path = write_raw("i8.npy", "<i8", "(3,)", i8, sizeof i8);
    error_clear();
    rc = npy_open(&r, path) || npy_read_int32(&r, 2, ints);
    CHECK(rc == 0 && ints[0] == INT32_MIN && ints[1] == INT32_MAX, "<i8 in range → int32");
    error_clear();
    CHECK(npy_read_int32(&r, 1, ints) == EX_DATAERR && strstr(error_message(), "2147483648") &&
              strstr(error_message(), "row 2") && strstr(error_message(), "i8.npy"),
          "<i8 beyond int32 refused: %s", error_message());
    npy_close(&r);
    uint64_t u8[2] = {5, UINT64_MAX};
    path = write_raw("u8.npy", "<u8", "(2,)", u8, sizeof u8);
    error_clear();
    rc = npy_open(&r, path);
    CHECK(rc == 0 && npy_read_int32(&r, 2, ints) == EX_DATAERR && strstr(error_message(), "row 1"),
          "<u8 above INT64_MAX refused: %s", error_message());
    npy_close(&r);
    uint32_t u4[2] = {7, 3000000000u};
    path = write_raw("u4.npy", "<u4", "(2,)", u4, sizeof u4);
    error_clear();
    rc = npy_open(&r, path);
    CHECK(rc == 0 && npy_read_int32(&r, 2, ints) == EX_DATAERR && strstr(error_message(), "3000000000"),
          "<u4 beyond int32 refused: %s", error_message());
    npy_close(&r);

    /* type mismatches */
    error_clear();
    rc = npy_open(&r, write_raw("f4.npy", "<f4", "(2,)", out, 8));
    CHECK(rc == 0 && npy_read_int32(&r, 1, ints) == EX_DATAERR && strstr(error_message(), "floating point"),
          "float array read as int32 refused: %s", error_message());
    npy_close(&r);
    error_clear();
    rc = npy_open(&r, write_raw("i4.npy", "<i4", "(2,)", ints, 8));
    CHECK(rc == 0 && npy_read_float(&r, 1, out) == EX_DATAERR && strstr(error_message(), "not floating point"),
          "int array read as float refused: %s", error_message());
    npy_close(&r);
}

static void test_file_checks(void)
{
    npy_reader r;
    float data[12] = {0};
    const char *path = write_raw("short.npy", "<f4", "(4, 3)", data, sizeof data - 4);
    error_clear();
    CHECK(npy_open(&r, path) == EX_DATAERR && strstr(error_message(), "short.npy") &&
              strstr(error_message(), "truncated or corrupt"),
          "a file shorter than its header says is refused: %s", error_message());
    path = write_raw("long.npy", "<f4", "(2, 3)", data, sizeof data);
    error_clear();
    CHECK(npy_open(&r, path) == EX_DATAERR && strstr(error_message(), "long.npy"),
          "a file longer than its header says is refused: %s", error_message());
    path = write_raw("huge.npy", "<f8", "(4294967296, 4294967296, 4294967296)", data, 8);
    error_clear();
    CHECK(npy_open(&r, path) == EX_DATAERR && strstr(error_message(), "more than"),
          "a shape whose size overflows is refused: %s", error_message());
    path = write_raw("fortran.npy", "<f4", "(2, 3), 'x': 1", data, 24);
    error_clear();
    CHECK(npy_open(&r, path) == EX_DATAERR && strstr(error_message(), "fortran.npy"),
          "a corrupt dict in a file names the file: %s", error_message());
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.npy", dir);
    error_clear();
    CHECK(npy_open(&r, missing) == EX_NOINPUT && strstr(error_message(), "missing.npy"),
          "a missing file is EX_NOINPUT: %s", error_message());
    error_clear();
    CHECK(npy_open(&r, dir) == EX_NOINPUT && strstr(error_message(), "directory"),
          "a directory is refused: %s", error_message());
    char empty[128];
    snprintf(empty, sizeof empty, "%s/empty.npy", dir);
    fclose(fopen(empty, "wb"));
    error_clear();
    CHECK(npy_open(&r, empty) == EX_DATAERR && strstr(error_message(), "not a .npy"),
          "an empty file is refused: %s", error_message());
    /* a scalar */
    double scalar = 2.5;
    path = write_raw("scalar.npy", "<f8", "()", &scalar, 8);
    float got = 0;
    error_clear();
    CHECK(npy_open(&r, path) == 0 && r.n_rows == 1 && r.row_elems == 1 && npy_read_float(&r, 1, &got) == 0 &&
              got == 2.5f,
          "a scalar reads as one row of one element");
    npy_close(&r);
}

static void test_write_read_hash(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/w.npy", dir);
    uint64_t shape[3] = {5, 3, 2};
    float data[30];
    for (int k = 0; k < 30; k++)
        data[k] = (float)k * 0.5f - 3;
    npy_writer w;
    error_clear();
    int rc = npy_writer_create(&w, path, 0, NPY_F4, 3, shape);
    CHECK(rc == 0 && access(path, F_OK) != 0 && access(w.temp_path, F_OK) == 0,
          "writer creates a temporary file, not the output");
    rc = rc || npy_write_rows(&w, 2, data) || npy_write_rows(&w, 3, data + 12);
    error_clear();
    CHECK(npy_write_rows(&w, 1, data) == EX_SOFTWARE, "writing more rows than the shape holds fails");
    char temp[4200];
    snprintf(temp, sizeof temp, "%s", w.temp_path);
    rc = rc || npy_writer_commit(&w);
    CHECK(rc == 0 && access(path, F_OK) == 0 && access(temp, F_OK) != 0, "commit renames into place");

    npy_reader r;
    float back[30];
    rc = npy_open(&r, path);
    CHECK(rc == 0 && r.hdr.dtype == NPY_F4 && r.hdr.rank == 3 && r.hdr.shape[0] == 5 && r.hdr.shape[2] == 2 &&
              r.hdr.data_offset % 64 == 0,
          "written header reads back (format 1.0, 64-byte aligned)");
    rc = rc || npy_read_float(&r, 4, back) || npy_read_float(&r, 1, back + 24);
    CHECK(rc == 0 && !memcmp(back, data, sizeof data), "written rows read back in other batches");
    uint64_t hash = 0;
    rc = npy_hash(&r, &hash);
    npy_close(&r);
    /* h5in_hash reads by path when no HDF5 handle or image is set. */
    h5in by_path;
    memset(&by_path, 0, sizeof by_path);
    by_path.file = H5I_INVALID_HID;
    snprintf(by_path.path, sizeof by_path.path, "%s", path);
    CHECK(rc == 0 && h5in_hash(&by_path) == 0 && by_path.hash == hash,
          "the streamed hash equals h5in_hash of the file (%016llx vs %016llx)", (unsigned long long)hash,
          (unsigned long long)by_path.hash);
    /* hashing before reading everything reads the rest */
    rc = npy_open(&r, path) || npy_read_float(&r, 1, back);
    uint64_t early = 0;
    rc = rc || npy_hash(&r, &early);
    CHECK(rc == 0 && early == hash, "hashing after a partial read covers the whole file");
    error_clear();
    CHECK(npy_read_float(&r, 1, back) != 0, "no rows can be read after hashing");
    npy_close(&r);

    /* rows of 6 bytes read 1, 2 and 4 at a time: the hash carries partial
     * 8-byte words across reads, and the file ends mid-word */
    uint16_t halves[21];
    for (int k = 0; k < 21; k++)
        halves[k] = (uint16_t)(0x3c00 + 37 * k);
    const char *odd = write_raw("odd.npy", "<f2", "(7, 3)", halves, sizeof halves);
    uint64_t odd_hash = 0;
    rc = npy_open(&r, odd) || npy_read_float(&r, 1, back) || npy_read_float(&r, 2, back) ||
         npy_read_float(&r, 4, back) || npy_hash(&r, &odd_hash);
    npy_close(&r);
    memset(&by_path, 0, sizeof by_path);
    by_path.file = H5I_INVALID_HID;
    snprintf(by_path.path, sizeof by_path.path, "%s", odd);
    CHECK(rc == 0 && h5in_hash(&by_path) == 0 && by_path.hash == odd_hash,
          "hash over odd-sized reads equals h5in_hash (%016llx vs %016llx)", (unsigned long long)odd_hash,
          (unsigned long long)by_path.hash);

    /* existing output refused without overwrite; abort leaves nothing */
    error_clear();
    CHECK(npy_writer_create(&w, path, 0, NPY_I4, 1, shape) == EX_CANTCREAT && strstr(error_message(), "exists"),
          "existing output refused: %s", error_message());
    error_clear();
    rc = npy_writer_create(&w, path, 1, NPY_I4, 1, shape);
    snprintf(temp, sizeof temp, "%s", w.temp_path);
    npy_writer_abort(&w);
    npy_writer_abort(&w);
    CHECK(rc == 0 && access(temp, F_OK) != 0, "abort removes the temporary file (twice is safe)");
    rc = npy_open(&r, path);
    CHECK(rc == 0 && r.hdr.dtype == NPY_F4, "abort leaves the old output untouched");
    npy_close(&r);
    int32_t labels[5] = {0, 1, 2, -7, 2147483647};
    error_clear();
    rc = npy_writer_create(&w, path, 1, NPY_I4, 1, shape) || npy_write_rows(&w, 4, labels);
    CHECK(rc == 0 && npy_writer_commit(&w) == EX_SOFTWARE, "commit with rows missing fails");
    npy_writer_abort(&w);
    rc = npy_writer_create(&w, path, 1, NPY_I4, 1, shape) || npy_write_rows(&w, 5, labels) ||
         npy_writer_commit(&w);
    int32_t ints[5];
    rc = rc || npy_open(&r, path) || npy_read_int32(&r, 5, ints);
    CHECK(rc == 0 && r.hdr.rank == 1 && !memcmp(ints, labels, sizeof labels), "<i4 written and read back");
    npy_close(&r);
    double d[2] = {1e-300, -2.5};
    uint64_t shape2[1] = {2};
    rc = npy_writer_create(&w, path, 1, NPY_F8, 1, shape2) || npy_write_rows(&w, 2, d) || npy_writer_commit(&w);
    rc = rc || npy_open(&r, path);
    CHECK(rc == 0 && r.hdr.dtype == NPY_F8, "<f8 written");
    npy_close(&r);
    error_clear();
    CHECK(npy_writer_create(&w, path, 1, NPY_F2, 1, shape2) == EX_SOFTWARE, "writer refuses <f2");
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.npy", dir);
    error_clear();
    CHECK(npy_writer_create(&w, nodir, 0, NPY_F4, 1, shape2) == EX_CANTCREAT && strstr(error_message(), "dir.npy"),
          "an unwritable folder is EX_CANTCREAT: %s", error_message());
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_npy.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_dtypes();
    test_header_forms();
    test_corrupt_headers();
    test_half();
    test_read_conversions();
    test_file_checks();
    test_write_read_hash();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return harness_report("npy");
}
