/* test_h5tree — walking, describing, comparing and copying HDF5 trees on
 * real files: nested and empty groups, a soft link (not followed), a
 * chunked gzip-compressed dataset, attributes of every type featdump meets
 * (fixed and variable-length strings, string arrays, signed, unsigned and
 * 64-bit integers, float and double arrays, an enum, a compound, an empty
 * one), and the refusals (missing object, uncomparable type, no file). */
#include "error.h"
#include "h5io.h"
#include "h5tree.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void attr_raw(hid_t obj, const char *name, hid_t type, hid_t space, const void *value)
{
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, value);
    H5Aclose(attr);
}

/* Attributes h5out cannot write, straight through HDF5 onto object. */
static void add_raw_attrs(hid_t file, const char *object)
{
    hid_t obj = H5Oopen(file, object, H5P_DEFAULT), scalar = H5Screate(H5S_SCALAR);
    hsize_t three = 3;
    hid_t vec = H5Screate_simple(1, &three, NULL);
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 5);
    attr_raw(obj, "fixed", fixed, scalar, "abcde");
    uint8_t bytes[3] = {0, 7, 255};
    attr_raw(obj, "u8", H5T_NATIVE_UINT8, vec, bytes);
    long long big[3] = {-1, 0, 1LL << 40};
    attr_raw(obj, "i64", H5T_NATIVE_LLONG, vec, big);
    float floats[3] = {0.5f, -2.0f, 1e-3f};
    attr_raw(obj, "f32", H5T_NATIVE_FLOAT, vec, floats);
    hid_t colour = H5Tenum_create(H5T_NATIVE_UINT8);
    uint8_t red = 0, green = 1;
    H5Tenum_insert(colour, "red", &red);
    H5Tenum_insert(colour, "green", &green);
    attr_raw(obj, "enum", colour, scalar, &green);
    hid_t pair = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(pair, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(pair, "b", 4, H5T_NATIVE_FLOAT);
    struct { int32_t a; float b; } value = {3, 4.5f};
    attr_raw(obj, "compound", pair, scalar, &value);
    hid_t null = H5Screate(H5S_NULL);
    attr_raw(obj, "empty", H5T_NATIVE_INT32, null, NULL);
    H5Sclose(null);
    H5Tclose(pair);
    H5Tclose(colour);
    H5Tclose(fixed);
    H5Sclose(vec);
    H5Sclose(scalar);
    H5Oclose(obj);
}

/* A chunked, gzip-compressed int32 dataset [6,2] with a compound twin. */
static void add_raw_datasets(hid_t file)
{
    hsize_t dims[2] = {6, 2}, chunk[2] = {2, 2};
    hid_t space = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 4);
    H5Gclose(H5Gcreate2(file, "/a/b", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hid_t dset = H5Dcreate2(file, "/a/b/packed", H5T_NATIVE_INT32, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int32_t values[12];
    for (int k = 0; k < 12; k++)
        values[k] = k * k - 20;
    H5Dwrite(dset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(dset);
    hid_t pair = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(pair, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(pair, "b", 4, H5T_NATIVE_FLOAT);
    hid_t one = H5Screate(H5S_SCALAR);
    dset = H5Dcreate2(file, "/odd", pair, one, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    struct { int32_t a; float b; } value = {1, 2.0f};
    H5Dwrite(dset, pair, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
    H5Dclose(dset);
    H5Sclose(one);
    H5Tclose(pair);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Lcreate_soft("/a/b/packed", file, "/shortcut", H5P_DEFAULT, H5P_DEFAULT);
}

static int write_source(const char *path, float scale)
{
    h5out out;
    float x[4] = {1, 2, 3, 4 * scale};
    hsize_t dims[1] = {4};
    static const char *const names[] = {"none", "wheel"};
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
             h5out_write(&out, "/x", H5IO_FLOAT, 1, dims, x) ||
             h5out_write_strings(&out, "/a/names", names, 2) ||
             h5out_attr_string(&out, "/", "split", "train") ||
             h5out_attr_strings(&out, "/a", "vocabulary", names, 2) ||
             h5out_attr_double(&out, "/x", "scale", 0.25) || h5out_attr_int(&out, "/x", "count", -7);
    if (rc)
        return rc;
    H5Gclose(H5Gcreate2(out.file, "/a/empty", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    add_raw_datasets(out.file);
    add_raw_attrs(out.file, "/x");
    add_raw_attrs(out.file, "/a");
    return h5out_commit(&out);
}

static void test_walk(h5in *in)
{
    h5io_names datasets = {0}, groups = {0};
    CHECK(h5in_walk(in, &datasets, &groups) == 0, "walk: %s", error_message());
    const char *want_datasets[] = {"/a/b/packed", "/a/names", "/odd", "/x"};
    const char *want_groups[] = {"/a", "/a/b", "/a/empty"};
    CHECK(datasets.n == 4 && groups.n == 3, "walk finds 4 datasets, 3 groups (soft link skipped): %zu, %zu",
          datasets.n, groups.n);
    for (size_t k = 0; k < 4 && k < datasets.n; k++)
        CHECK(!strcmp(datasets.names[k], want_datasets[k]), "dataset %zu: %s", k, datasets.names[k]);
    for (size_t k = 0; k < 3 && k < groups.n; k++)
        CHECK(!strcmp(groups.names[k], want_groups[k]), "group %zu: %s", k, groups.names[k]);
    CHECK(h5io_names_has(&groups, "/a/empty") && !h5io_names_has(&datasets, "/shortcut"), "membership");
    h5io_names_free(&datasets);
    h5io_names_free(&groups);
    CHECK(datasets.n == 0 && datasets.names == NULL, "free empties the list");
}

/* Every attribute of object described as featdump --info prints it. */
static void test_attr_text(h5in *in)
{
    static const struct { const char *name, *text; } want[] = {
        {"compound", "(compound value)"}, {"count", "-7"}, {"empty", "(int32 value)"},
        {"enum", "(enum8 value)"}, {"f32", "0.5 -2 0.001000000047"}, {"fixed", "abcde"},
        {"i64", "-1 0 1099511627776"}, {"scale", "0.25"}, {"u8", "0 7 255"}};
    h5io_names names = {0};
    CHECK(h5in_attr_names(in, "/x", &names) == 0 && names.n == 9, "nine attributes on /x: %zu", names.n);
    for (size_t k = 0; k < names.n && k < 9; k++) {
        char *text = h5in_attr_text(in, "/x", names.names[k]);
        CHECK(!strcmp(names.names[k], want[k].name) && text && !strcmp(text, want[k].text),
              "attribute %s: '%s', want %s '%s'", names.names[k], text, want[k].name, want[k].text);
        free(text);
    }
    h5io_names_free(&names);
    char *text = h5in_attr_text(in, "/a", "vocabulary");
    CHECK(text && !strcmp(text, "none, wheel"), "string array joined by ', ': %s", text);
    free(text);
    text = h5in_attr_text(in, "/", "nothing");
    CHECK(text && !strcmp(text, "(unreadable)"), "missing attribute: %s", text);
    free(text);
    error_clear();
    CHECK(h5in_attr_names(in, "/nothing", &names) == EX_DATAERR && strstr(error_message(), "'/nothing'"),
          "attributes of a missing object: %s", error_message());
    error_clear();
}

static void test_types_and_rows(h5in *in)
{
    char type[32];
    CHECK(h5in_dataset_class(in, "/a/b/packed", type, sizeof type) == H5T_INTEGER && !strcmp(type, "int32"),
          "packed is int32: %s", type);
    CHECK(h5in_dataset_class(in, "/a/names", type, sizeof type) == H5T_STRING && !strcmp(type, "string"),
          "names are strings: %s", type);
    CHECK(h5in_dataset_class(in, "/nothing", NULL, 0) == H5T_NO_CLASS, "missing dataset: no class");
    long long rows[4];
    CHECK(h5in_read_rows_as(in, "/a/b/packed", H5T_NATIVE_LLONG, 2, 2, rows) == 0 && rows[0] == 16 - 20 &&
              rows[3] == 49 - 20,
          "rows 2..3 of a compressed dataset as int64: %lld %lld", rows[0], rows[3]);
    error_clear();
    CHECK(h5in_read_rows_as(in, "/nothing", H5T_NATIVE_LLONG, 0, 1, rows) == EX_DATAERR &&
              strstr(error_message(), "missing dataset '/nothing'"),
          "reading a missing dataset: %s", error_message());
    error_clear();
}

static void test_same_dataset(h5in *a, h5in *b, h5in *other)
{
    CHECK(h5in_same_dataset(a, b, "/a/b/packed") == 1 && h5in_same_dataset(a, b, "/a/names") == 1,
          "equal numeric and string datasets");
    CHECK(h5in_same_dataset(a, other, "/x") == 0, "a changed value differs");
    CHECK(h5in_same_dataset(a, b, "/odd") == -1 && error_code() == EX_DATAERR, "a compound is refused: %s",
          error_message());
    error_clear();
    CHECK(h5in_same_dataset(a, b, "/nothing") == -1 && error_code() == EX_DATAERR, "a missing dataset");
    error_clear();
}

/* Copies /x, /a/b/packed and every group with their attributes; the copy
 * describes itself exactly as the source, and keeps the chunks and filter. */
static void test_copy(h5in *in, const char *path)
{
    h5out out;
    int rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) || h5out_copy(&out, in, "/x") ||
             h5out_copy(&out, in, "/a/b/packed") || h5io_copy_group_attrs(in, &out, "/a") ||
             h5io_copy_group_attrs(in, &out, "/a/empty") || h5io_copy_attrs(in, &out, "/") ||
             h5io_copy_attrs(in, &out, "/x") || h5out_commit(&out);
    CHECK(rc == 0, "copy: %s", error_message());
    h5in copy;
    CHECK(h5in_open(&copy, path, H5IO_FORMAT_FEATURES) == 0, "open the copy");
    const char *objects[] = {"/", "/x", "/a"};
    for (int o = 0; o < 3; o++) {
        h5io_names names = {0};
        h5in_attr_names(in, objects[o], &names);
        for (size_t k = 0; k < names.n; k++) {
            char *want = h5in_attr_text(in, objects[o], names.names[k]);
            char *got = h5in_attr_text(&copy, objects[o], names.names[k]);
            CHECK(want && got && !strcmp(want, got), "%s@%s copied: '%s' vs '%s'", objects[o], names.names[k],
                  got, want);
            free(want);
            free(got);
        }
        h5io_names_free(&names);
    }
    CHECK(h5in_same_dataset(in, &copy, "/a/b/packed") == 1, "packed copied");
    hid_t dset = H5Dopen2(copy.file, "/a/b/packed", H5P_DEFAULT), dcpl = H5Dget_create_plist(dset);
    CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_nfilters(dcpl) == 1, "chunks and the gzip filter kept");
    H5Pclose(dcpl);
    H5Dclose(dset);
    CHECK(h5in_exists(&copy, "/a/empty"), "the empty group is created");
    h5in_close(&copy);
    rc = h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1);
    error_clear();
    CHECK(!rc && h5io_copy_attrs(in, &out, "/nothing") == EX_IOERR && strstr(error_message(), "'/nothing'"),
          "copying the attributes of a missing object: %s", error_message());
    error_clear();
    h5out_abort(&out);
}

int main(void)
{
    char dir[] = "/tmp/test_h5tree.XXXXXX", a[256], b[256], c[256], d[256];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(c, sizeof c, "%s/c.h5", dir);
    snprintf(d, sizeof d, "%s/d.h5", dir);
    CHECK(write_source(a, 1) == 0 && write_source(b, 1) == 0 && write_source(c, 2) == 0, "sources: %s",
          error_message());
    h5in in, twin, other;
    CHECK(h5in_open(&in, a, NULL) == 0 && h5in_open(&twin, b, NULL) == 0 && h5in_open(&other, c, NULL) == 0,
          "open the sources");
    test_walk(&in);
    test_attr_text(&in);
    test_types_and_rows(&in);
    test_same_dataset(&in, &twin, &other);
    test_copy(&in, d);
    h5in closed = in;
    closed.file = H5I_INVALID_HID;
    h5io_names datasets = {0}, groups = {0};
    CHECK(h5in_walk(&closed, &datasets, &groups) == EX_DATAERR && strstr(error_message(), "cannot list"),
          "walking no file: %s", error_message());
    error_clear();
    h5in_close(&in);
    h5in_close(&twin);
    h5in_close(&other);
    unlink(a);
    unlink(b);
    unlink(c);
    unlink(d);
    rmdir(dir);
    return harness_report("h5tree");
}
