/* h5io — see h5io.h. */
#include "h5io.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define H5IO_VERSION "0.1.0"

/* The tools that regenerate each format, for the hint in format errors. */
static const char *producer_of(const char *format)
{
    static const struct { const char *format, *tools; } producers[] = {
        {H5IO_FORMAT_FEATURES, "synthgen or featdump"},
        {H5IO_FORMAT_HEAD, "trainhead or featdump --head-weight/--head-bias"},
        {H5IO_FORMAT_DIRECTIONS, "uibe or eddp"},
        {H5IO_FORMAT_EVALUATION, "iou-label or regress"},
        {H5IO_FORMAT_CACHE, "cachegpu"},
        {H5IO_FORMAT_IMAGES, "imgset"},
        {"eddp-net", "trainnet"},
    };
    for (size_t k = 0; k < sizeof producers / sizeof producers[0]; k++)
        if (!strcmp(producers[k].format, format))
            return producers[k].tools;
    return "the toolkit";
}

/* HDF5 prints its own error stack by default; our messages replace it. */
static void quiet_hdf5(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static hid_t half_type(void);

/* The memory type of H5IO_HALF_BITS: the file's binary16 type itself, so
 * that HDF5 copies the bits. Made once, held for the life of the process. */
static hid_t half_bits_type(void)
{
    static hid_t type = H5I_INVALID_HID;
    if (type < 0)
        type = half_type();
    return type;
}

static hid_t native_type(h5io_type type)
{
    switch (type) {
    case H5IO_FLOAT: return H5T_NATIVE_FLOAT;
    case H5IO_DOUBLE: return H5T_NATIVE_DOUBLE;
    case H5IO_INT32: return H5T_NATIVE_INT32;
    case H5IO_HALF: return H5T_NATIVE_FLOAT; /* stored half, read as float */
    case H5IO_HALF_BITS: return half_bits_type();
    case H5IO_UINT8: return H5T_NATIVE_UINT8;
    }
    return H5T_NATIVE_FLOAT;
}

static const char *type_name(h5io_type type)
{
    return type == H5IO_INT32 ? "int32" : type == H5IO_UINT8 ? "uint8" : "floating-point";
}

/* ---------------------------------------------------------------- reading */

const char *h5io_file_kind(unsigned mode)
{
    return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
         : S_ISSOCK(mode) ? "a socket" : S_ISDIR(mode) ? "a directory" : "not a regular file";
}

static int read_stdin_image(h5in *in)
{
    size_t cap = 1 << 20, size = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return error_set(EX_OSERR, "-: out of memory reading stdin");
    size_t got;
    while ((got = fread(buf + size, 1, cap - size, stdin)) > 0) {
        size += got;
        if (size == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                return error_set(EX_OSERR, "-: out of memory reading stdin");
            }
            buf = bigger;
        }
    }
    if (ferror(stdin)) {
        free(buf);
        return error_set(EX_IOERR, "-: error reading stdin: %s", strerror(errno));
    }
    in->image = buf;
    in->image_size = size;
    return 0;
}

static int open_image(h5in *in)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (in->image_size < 8 || memcmp(in->image, signature, 8))
        return error_set(EX_DATAERR, "-: stdin is not an HDF5 file image");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    H5Pset_file_image(fapl, in->image, in->image_size);
    in->file = H5Fopen("stdin-image", H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (in->file < 0)
        return error_set(EX_DATAERR, "-: stdin holds a corrupt or truncated HDF5 image");
    return 0;
}

static int open_path(h5in *in, const char *path)
{
    if (access(path, R_OK) != 0)
        return error_set(EX_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return error_set(EX_NOINPUT, "%s: is a directory, expected an HDF5 file", path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return error_set(EX_NOINPUT, "%s: is %s, expected a regular file (use '-' for stdin)", path,
                         h5io_file_kind(st.st_mode));
    htri_t is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 <= 0)
        return error_set(EX_DATAERR, "%s: not an HDF5 file", path);
    in->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (in->file < 0)
        return error_set(EX_DATAERR, "%s: cannot open as HDF5 (truncated or corrupt file?)", path);
    return 0;
}

/* "a, b or c" lists of the accepted formats (quote: each in single
 * quotes) and of the tools that make them. */
static void describe_formats(const char *const *formats, int n, int quote, char *names, size_t names_size,
                             char *tools, size_t tools_size)
{
    size_t used_names = 0, used_tools = 0;
    names[0] = tools[0] = '\0';
    const char *q = quote ? "'" : "";
    for (int k = 0; k < n; k++) {
        const char *sep = k == 0 ? "" : (k + 1 == n ? " or " : ", ");
        const char *tool_sep = k == 0 ? "" : (k + 1 == n ? ", or " : ", ");
        if (used_names < names_size)
            used_names += (size_t)snprintf(names + used_names, names_size - used_names, "%s%s%s%s", sep, q,
                                           formats[k], q);
        if (used_tools < tools_size)
            used_tools += (size_t)snprintf(tools + used_tools, tools_size - used_tools, "%s%s", tool_sep,
                                           producer_of(formats[k]));
    }
}

/* Checks the format attribute against formats[0..n) (n = 0: any toolkit
 * format) and the version; *which = the index of the one found. */
static int check_format(h5in *in, const char *const *formats, int n, int *which)
{
    char names[256], quoted[256], tools[256];
    describe_formats(formats, n, 0, names, sizeof names, tools, sizeof tools);
    describe_formats(formats, n, 1, quoted, sizeof quoted, tools, sizeof tools);
    char *format = NULL;
    if (H5Aexists(in->file, "format") <= 0) {
        if (n)
            return error_set(EX_DATAERR, "%s: not an %s file (no 'format' attribute); make one with %s",
                             in->path, names, tools);
        return error_set(EX_DATAERR, "%s: not an eddp toolkit file (no 'format' attribute)", in->path);
    }
    if (h5in_attr_string(in, "/", "format", &format))
        return error_code();
    int found = n ? -1 : 0;
    for (int k = 0; k < n; k++)
        if (!strcmp(format, formats[k]))
            found = k;
    int rc = 0;
    if (found < 0) {
        rc = error_set(EX_DATAERR, "%s: format is '%s', expected %s (made by %s)", in->path, format,
                       quoted, tools);
    } else {
        long long version = 0;
        if (h5in_attr_int(in, "/", "format_version", &version))
            rc = error_code();
        else if (version != 1)
            rc = error_set(EX_DATAERR,
                           "%s: format '%s' version %lld is not supported (this toolkit reads "
                           "version 1); regenerate it with %s",
                           in->path, format, version, producer_of(format));
    }
    if (which)
        *which = found;
    free(format);
    return rc;
}

int h5in_open_formats(h5in *in, const char *path, const char *const *formats, int n, int *which)
{
    quiet_hdf5();
    memset(in, 0, sizeof *in);
    in->file = H5I_INVALID_HID;
    snprintf(in->path, sizeof in->path, "%s", path);
    int rc = strcmp(path, "-") ? open_path(in, path) : (read_stdin_image(in) || open_image(in));
    if (!rc)
        rc = check_format(in, formats, n, which);
    if (!rc)
        rc = h5io_register_input(path, in);
    if (rc) {
        rc = error_code();
        h5in_close(in);
    }
    return rc;
}

int h5in_open(h5in *in, const char *path, const char *expected_format)
{
    const char *formats[1] = {expected_format};
    return h5in_open_formats(in, path, formats, expected_format ? 1 : 0, NULL);
}

void h5in_close(h5in *in)
{
    h5io_unregister_input(in);
    if (in->file >= 0)
        H5Fclose(in->file);
    in->file = H5I_INVALID_HID;
    free(in->image);
    in->image = NULL;
}

int h5in_exists(h5in *in, const char *name)
{
    if (!strcmp(name, "/"))
        return 1;
    /* H5Lexists needs each parent to exist: walk the path. */
    char partial[1024];
    const char *p = name;
    while ((p = strchr(p + 1, '/'))) {
        snprintf(partial, sizeof partial, "%.*s", (int)(p - name), name);
        if (H5Lexists(in->file, partial, H5P_DEFAULT) <= 0)
            return 0;
    }
    return H5Lexists(in->file, name, H5P_DEFAULT) > 0;
}

static void format_dims(char *buf, size_t size, int rank, const hsize_t *dims, int wildcard)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int k = 0; k < rank && used < size; k++)
        used += (wildcard && !dims[k])
                    ? (size_t)snprintf(buf + used, size - used, "%s*", k ? "," : "")
                    : (size_t)snprintf(buf + used, size - used, "%s%llu", k ? "," : "",
                                       (unsigned long long)dims[k]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Chunks a chunked dataset of rank dims needs to hold all its elements. */
static hsize_t chunks_needed(hid_t dset, int rank, const hsize_t *dims)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    hsize_t chunk[H5IO_MAX_RANK], total = 1;
    int chunk_rank = H5Pget_chunk(dcpl, H5IO_MAX_RANK, chunk);
    H5Pclose(dcpl);
    if (chunk_rank != rank)
        return 0;
    for (int k = 0; k < rank; k++)
        total *= chunk[k] ? (dims[k] + chunk[k] - 1) / chunk[k] : 1;
    return total;
}

/* Refuses a dataset whose data were never (or only partly) written: HDF5
 * would hand back fill values for it, and a 100 KB file can declare
 * terabytes that way. Compressed chunks hold fewer bytes than they
 * describe, so this counts allocated storage and chunks, not bytes. */
static int check_written(h5in *in, const char *name, hid_t dset, int rank, const hsize_t *dims)
{
    hsize_t count = 1;
    for (int k = 0; k < rank; k++)
        count *= dims[k];
    if (count == 0)
        return 0;
    H5D_space_status_t status;
    if (H5Dget_space_status(dset, &status) < 0)
        return error_set(EX_DATAERR, "%s: cannot inspect dataset '%s' (corrupt file?)", in->path, name);
    char shape[256];
    format_dims(shape, sizeof shape, rank, dims, 0);
    if (status == H5D_SPACE_STATUS_ALLOCATED) {
        /* Contiguous storage has one address: it must end inside the file. */
        haddr_t offset = H5Dget_offset(dset);
        hsize_t storage = H5Dget_storage_size(dset), file_size = 0;
        if (offset != HADDR_UNDEF && H5Fget_filesize(in->file, &file_size) >= 0 && file_size &&
            (offset > file_size || storage > file_size - offset))
            return error_set(EX_DATAERR, "%s: dataset '%s' (shape %s) ends at byte %llu but the file has %llu "
                             "(truncated?)", in->path, name, shape,
                             (unsigned long long)(offset + storage), (unsigned long long)file_size);
        return 0;
    }
    if (status == H5D_SPACE_STATUS_NOT_ALLOCATED)
        return error_set(EX_DATAERR, "%s: dataset '%s' declares shape %s but its data were never written "
                         "(no storage allocated)", in->path, name, shape);
    hsize_t written = 0, needed = chunks_needed(dset, rank, dims);
    hid_t space = H5Dget_space(dset);
    herr_t counted = needed ? H5Dget_num_chunks(dset, space, &written) : -1;
    H5Sclose(space);
    if (counted < 0 || written >= needed)
        return 0;
    return error_set(EX_DATAERR, "%s: dataset '%s' declares shape %s but only %llu of its %llu chunks "
                     "were ever written", in->path, name, shape, (unsigned long long)written,
                     (unsigned long long)needed);
}

int h5in_shape(h5in *in, const char *name, int *rank, hsize_t dims[H5IO_MAX_RANK])
{
    if (!h5in_exists(in, name))
        return error_set(EX_DATAERR, "%s: missing dataset '%s'", in->path, name);
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    if (dset < 0)
        return error_set(EX_DATAERR, "%s: '%s' is not a dataset", in->path, name);
    hid_t space = H5Dget_space(dset);
    *rank = H5Sget_simple_extent_ndims(space);
    int rc = 0;
    if (*rank < 0 || *rank > H5IO_MAX_RANK)
        rc = error_set(EX_DATAERR, "%s: dataset '%s' has an unsupported rank", in->path, name);
    else
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    if (!rc)
        rc = check_written(in, name, dset, *rank, dims);
    H5Dclose(dset);
    return rc;
}

int h5in_check(h5in *in, const char *name, h5io_type type, int rank,
               const hsize_t *expect, hsize_t dims[H5IO_MAX_RANK])
{
    int got_rank;
    if (h5in_shape(in, name, &got_rank, dims))
        return error_code();
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    hid_t stored = H5Dget_type(dset);
    H5T_class_t cls = H5Tget_class(stored);
    H5Tclose(stored);
    H5Dclose(dset);
    H5T_class_t want = type == H5IO_INT32 || type == H5IO_UINT8 ? H5T_INTEGER : H5T_FLOAT;
    if (cls != want)
        return error_set(EX_DATAERR, "%s: dataset '%s' has the wrong type: expected %s", in->path,
                         name, type_name(type));
    char want_dims[256], got_dims[256];
    if (got_rank != rank) {
        if (expect) format_dims(want_dims, sizeof want_dims, rank, expect, 1);
        else snprintf(want_dims, sizeof want_dims, "rank %d", rank);
        format_dims(got_dims, sizeof got_dims, got_rank, dims, 0);
        return error_set(EX_DATAERR, "%s: dataset '%s' has shape %s, expected %s", in->path, name,
                         got_dims, want_dims);
    }
    for (int k = 0; expect && k < rank; k++) {
        if (expect[k] && expect[k] != dims[k]) {
            format_dims(want_dims, sizeof want_dims, rank, expect, 1);
            format_dims(got_dims, sizeof got_dims, rank, dims, 0);
            return error_set(EX_DATAERR, "%s: dataset '%s' has shape %s, expected %s", in->path,
                             name, got_dims, want_dims);
        }
    }
    return 0;
}

static size_t element_size(h5io_type type)
{
    return type == H5IO_DOUBLE ? 8 : type == H5IO_HALF_BITS ? 2 : type == H5IO_UINT8 ? 1 : 4;
}

int h5in_read(h5in *in, const char *name, h5io_type type, int rank,
              const hsize_t *expect, void **data, hsize_t dims[H5IO_MAX_RANK])
{
    *data = NULL;
    if (h5in_check(in, name, type, rank, expect, dims))
        return error_code();
    size_t count = 1;
    for (int k = 0; k < rank; k++)
        count *= dims[k];
    void *buf = malloc(count ? count * element_size(type) : 1);
    if (!buf)
        return error_set(EX_OSERR, "%s: out of memory reading '%s'", in->path, name);
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    herr_t status = count ? H5Dread(dset, native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    H5Dclose(dset);
    if (status < 0) {
        free(buf);
        return error_set(EX_DATAERR, "%s: cannot read dataset '%s' (truncated or corrupt file?)",
                         in->path, name);
    }
    *data = buf;
    return 0;
}

int h5in_read_rows_as(h5in *in, const char *name, hid_t memtype, hsize_t row0, hsize_t nrows, void *buf)
{
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    if (dset < 0)
        return error_set(EX_DATAERR, "%s: missing dataset '%s'", in->path, name);
    hid_t space = H5Dget_space(dset);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = {0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    herr_t status = 0;
    int rc = 0;
    if (rank == 0) {
        status = H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    } else if (row0 + nrows > dims[0]) {
        rc = error_set(EX_SOFTWARE, "%s: rows %llu..%llu of '%s' are out of range", in->path,
                       (unsigned long long)row0, (unsigned long long)(row0 + nrows), name);
    } else if (nrows > 0) {
        start[0] = row0;
        dims[0] = nrows;
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, dims, NULL);
        hid_t mem = H5Screate_simple(rank, dims, NULL);
        status = H5Dread(dset, memtype, mem, space, H5P_DEFAULT, buf);
        H5Sclose(mem);
    }
    if (status < 0)
        rc = error_set(EX_DATAERR, "%s: cannot read dataset '%s' (truncated or corrupt file?)", in->path, name);
    H5Sclose(space);
    H5Dclose(dset);
    return rc;
}

int h5in_read_rows(h5in *in, const char *name, h5io_type type, hsize_t row0,
                   hsize_t nrows, void *buf)
{
    return h5in_read_rows_as(in, name, native_type(type), row0, nrows, buf);
}

static hid_t open_attribute(h5in *in, const char *object, const char *name)
{
    if (!h5in_exists(in, object) || H5Aexists_by_name(in->file, object, name, H5P_DEFAULT) <= 0)
        return H5I_INVALID_HID;
    return H5Aopen_by_name(in->file, object, name, H5P_DEFAULT, H5P_DEFAULT);
}

static hid_t vlen_string_type(void)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    return type;
}

/* Reads n strings from an attribute or dataset of any string type (variable
 * or fixed length) into new buffers. */
static int read_strings(hid_t obj, int is_attr, char ***out, size_t *n_out)
{
    hid_t stored = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc = H5Tget_class(stored) == H5T_STRING ? 0 : -1;
    char **strings = calloc(n > 0 ? (size_t)n : 1, sizeof *strings);
    if (!rc && H5Tis_variable_str(stored)) {
        hid_t mem = vlen_string_type();
        char **raw = calloc(n > 0 ? (size_t)n : 1, sizeof *raw);
        rc = (is_attr ? H5Aread(obj, mem, raw) : H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0;
        for (hssize_t k = 0; !rc && k < n; k++)
            strings[k] = strdup(raw[k] ? raw[k] : "");
        if (!rc)
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, raw);
        free(raw);
        H5Tclose(mem);
    } else if (!rc) {
        size_t len = H5Tget_size(stored);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, len + 1);
        char *raw = calloc((size_t)(n > 0 ? n : 1), len + 1);
        rc = (is_attr ? H5Aread(obj, mem, raw) : H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0;
        for (hssize_t k = 0; !rc && k < n; k++)
            strings[k] = strndup(raw + k * (len + 1), len);
        free(raw);
        H5Tclose(mem);
    }
    H5Sclose(space);
    H5Tclose(stored);
    if (rc) {
        h5io_free_strings(strings, (size_t)(n > 0 ? n : 0));
        return -1;
    }
    *out = strings;
    *n_out = (size_t)n;
    return 0;
}

void h5io_free_strings(char **strings, size_t n)
{
    if (!strings)
        return;
    for (size_t k = 0; k < n; k++)
        free(strings[k]);
    free(strings);
}

int h5in_attr_strings(h5in *in, const char *object, const char *name, char ***strings, size_t *n)
{
    hid_t attr = open_attribute(in, object, name);
    if (attr < 0)
        return error_set(EX_DATAERR, "%s: missing attribute '%s' on '%s'", in->path, name, object);
    int rc = read_strings(attr, 1, strings, n);
    H5Aclose(attr);
    if (rc)
        return error_set(EX_DATAERR, "%s: attribute '%s' on '%s' is not a string", in->path, name, object);
    return 0;
}

int h5in_attr_string(h5in *in, const char *object, const char *name, char **value)
{
    char **strings;
    size_t n;
    if (h5in_attr_strings(in, object, name, &strings, &n))
        return error_code();
    if (n != 1) {
        h5io_free_strings(strings, n);
        return error_set(EX_DATAERR, "%s: attribute '%s' on '%s' should be one string", in->path, name, object);
    }
    *value = strings[0];
    free(strings);
    return 0;
}

int h5in_strings(h5in *in, const char *name, char ***strings, size_t *n)
{
    if (!h5in_exists(in, name))
        return error_set(EX_DATAERR, "%s: missing dataset '%s'", in->path, name);
    hid_t dset = H5Dopen2(in->file, name, H5P_DEFAULT);
    int rc = dset < 0 ? -1 : read_strings(dset, 0, strings, n);
    if (dset >= 0)
        H5Dclose(dset);
    if (rc)
        return error_set(EX_DATAERR, "%s: dataset '%s' is not a string dataset", in->path, name);
    return 0;
}

static int read_numeric_attr(h5in *in, const char *object, const char *name, hid_t mem, void *value,
                             hssize_t count)
{
    hid_t attr = open_attribute(in, object, name);
    if (attr < 0)
        return error_set(EX_DATAERR, "%s: missing attribute '%s' on '%s'", in->path, name, object);
    hid_t space = H5Aget_space(attr);
    hid_t stored = H5Aget_type(attr);
    int ok = H5Sget_simple_extent_npoints(space) == count &&
             (H5Tget_class(stored) == H5T_INTEGER || H5Tget_class(stored) == H5T_FLOAT) &&
             H5Aread(attr, mem, value) >= 0;
    H5Tclose(stored);
    H5Sclose(space);
    H5Aclose(attr);
    if (ok)
        return 0;
    if (count == 1)
        return error_set(EX_DATAERR, "%s: attribute '%s' on '%s' should be one number", in->path, name, object);
    return error_set(EX_DATAERR, "%s: attribute '%s' on '%s' should be %lld numbers", in->path, name, object,
                     (long long)count);
}

int h5in_attr_exists(h5in *in, const char *object, const char *name)
{
    return h5in_exists(in, object) && H5Aexists_by_name(in->file, object, name, H5P_DEFAULT) > 0;
}

int h5in_attr_double(h5in *in, const char *object, const char *name, double *value)
{
    return read_numeric_attr(in, object, name, H5T_NATIVE_DOUBLE, value, 1);
}

int h5in_attr_doubles(h5in *in, const char *object, const char *name, double *values, size_t n)
{
    return read_numeric_attr(in, object, name, H5T_NATIVE_DOUBLE, values, (hssize_t)n);
}

int h5in_attr_int(h5in *in, const char *object, const char *name, long long *value)
{
    return read_numeric_attr(in, object, name, H5T_NATIVE_LLONG, value, 1);
}

int h5io_names_add(h5io_names *list, const char *name)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 8;
        char **bigger = realloc(list->names, cap * sizeof *bigger);
        if (!bigger)
            return error_set(EX_OSERR, "out of memory for a list of names");
        list->names = bigger;
        list->cap = cap;
    }
    if (!(list->names[list->n] = strdup(name)))
        return error_set(EX_OSERR, "out of memory for a list of names");
    list->n++;
    return 0;
}

int h5io_names_has(const h5io_names *list, const char *name)
{
    for (size_t k = 0; k < list->n; k++)
        if (!strcmp(list->names[k], name))
            return 1;
    return 0;
}

void h5io_names_free(h5io_names *list)
{
    h5io_free_strings(list->names, list->n);
    memset(list, 0, sizeof *list);
}

static herr_t collect_name(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)group;
    (void)info;
    return h5io_names_add(data, name) ? -1 : 0;
}

int h5in_list(h5in *in, const char *group, char ***names, size_t *n)
{
    h5io_names list = {0};
    if (!h5in_exists(in, group))
        return error_set(EX_DATAERR, "%s: missing group '%s'", in->path, group);
    if (H5Literate_by_name(in->file, group, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &list,
                           H5P_DEFAULT) < 0) {
        h5io_free_strings(list.names, list.n);
        return error_set(EX_DATAERR, "%s: cannot list group '%s'", in->path, group);
    }
    *names = list.names;
    *n = list.n;
    return 0;
}

/* 64-bit multiply–xorshift over 8-byte words: fast enough to hash multi-GB
 * feature files at disk speed; it detects change, it is not cryptographic. */
static uint64_t hash_update(uint64_t h, const unsigned char *bytes, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t word;
        memcpy(&word, bytes + k, 8);
        h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    for (; k < n; k++)
        h = (h ^ bytes[k]) * 0x100000001b3ULL;
    return h;
}

int h5in_hash(h5in *in)
{
    if (in->hashed)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    if (in->image) {
        h = hash_update(h, in->image, in->image_size);
    } else {
        FILE *f = fopen(in->path, "rb");
        if (!f)
            return error_set(EX_IOERR, "%s: cannot read for hashing: %s", in->path, strerror(errno));
        size_t chunk = 1 << 22, got;
        unsigned char *buf = malloc(chunk);
        while (buf && (got = fread(buf, 1, chunk, f)) > 0)
            h = hash_update(h, buf, got);
        free(buf);
        fclose(f);
    }
    in->hash = h;
    in->hashed = 1;
    return 0;
}

int h5io_check_finite(const char *path, const char *name, const float *data, size_t n, size_t row_len)
{
    size_t first_bad = n;
#pragma omp parallel for reduction(min : first_bad) schedule(static)
    for (size_t k = 0; k < n; k++)
        if (!isfinite(data[k]) && k < first_bad)
            first_bad = k;
    if (first_bad == n)
        return 0;
    const char *what = isnan(data[first_bad]) ? "NaN" : "Inf";
    if (row_len)
        return error_set(EX_DATAERR, "%s: dataset '%s' holds %s (element %zu, row %zu)", path, name,
                         what, first_bad, first_bad / row_len);
    return error_set(EX_DATAERR, "%s: dataset '%s' holds %s (element %zu)", path, name, what, first_bad);
}

/* ---------------------------------------------------------------- writing */

/* The registry of uncommitted temporary outputs. Each entry keeps a
 * duplicate descriptor of its temporary holding an open-file-description
 * write lock for the whole run: the lock tells a second writer of the same
 * output that this one is alive (PIDs get reused), and it is independent of
 * HDF5's own flock() on the file. */
#define MAX_TEMPS 8
static char active_temps[MAX_TEMPS][4200];
static int active_locks[MAX_TEMPS] = {-1, -1, -1, -1, -1, -1, -1, -1};
static int active_overwrite[MAX_TEMPS];
static dev_t active_dev[MAX_TEMPS];  /* the final path's file when it existed */
static ino_t active_ino[MAX_TEMPS];
static int active_exists[MAX_TEMPS];
/* Set when closing an output failed (full disk): HDF5's exit handler would
 * then crash closing the half-closed file again; see h5io_exit_now(). */
static int close_failed;

static int temp_slot(const char *path)
{
    for (int k = 0; k < MAX_TEMPS; k++)
        if (active_temps[k][0] && !strcmp(active_temps[k], path))
            return k;
    return -1;
}

void h5io_register_temp(const char *path)
{
    if (temp_slot(path) >= 0)
        return;
    for (int k = 0; k < MAX_TEMPS; k++)
        if (!active_temps[k][0]) {
            snprintf(active_temps[k], sizeof active_temps[k], "%s", path);
            active_locks[k] = -1;
            active_overwrite[k] = 0;
            active_exists[k] = 0;
            return;
        }
}

void h5io_unregister_temp(const char *path)
{
    int k = temp_slot(path);
    if (k < 0)
        return;
    active_temps[k][0] = '\0';
    if (active_locks[k] >= 0)
        close(active_locks[k]);
    active_locks[k] = -1;
}

void h5out_remove_temps(void)
{
    for (int k = 0; k < MAX_TEMPS; k++)
        if (active_temps[k][0])
            unlink(active_temps[k]); /* async-signal-safe */
}

void h5io_exit_now(int code)
{
    h5out_remove_temps();
    if (close_failed) {
        fflush(NULL);
        _exit(code);
    }
}

static void cleanup_and_die(int sig)
{
    h5out_remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

void h5io_install_signal_cleanup(void)
{
    signal(SIGINT, cleanup_and_die);
    signal(SIGTERM, cleanup_and_die);
    signal(SIGHUP, cleanup_and_die);
}

/* ------------------------------------------------- inputs are not outputs */

/* The files open as inputs (h5in, npy readers), by owner: an output must
 * not be one of them, whichever is opened first. */
typedef struct {
    const void *owner;
    dev_t dev;
    ino_t ino;
    char path[512];
} open_input;
static open_input *open_inputs;
static size_t n_open_inputs, cap_open_inputs;

static int same_file_error(const char *output, const char *input)
{
    if (!strcmp(output, input))
        return error_set(EX_USAGE, "%s: the output is also an input; write it to another file", output);
    return error_set(EX_USAGE, "%s: the output is the same file as the input '%s'; write it to another file",
                     output, input);
}

int h5io_register_input(const char *path, const void *owner)
{
    struct stat st;
    if (!strcmp(path, "-") || stat(path, &st) != 0)
        return 0;
    for (int k = 0; k < MAX_TEMPS; k++)
        if (active_temps[k][0] && active_exists[k] && active_dev[k] == st.st_dev && active_ino[k] == st.st_ino)
            return same_file_error(active_temps[k], path);
    if (n_open_inputs == cap_open_inputs) {
        size_t cap = cap_open_inputs ? 2 * cap_open_inputs : 16;
        open_input *bigger = realloc(open_inputs, cap * sizeof *bigger);
        if (!bigger)
            return error_set(EX_OSERR, "%s: out of memory", path);
        open_inputs = bigger;
        cap_open_inputs = cap;
    }
    open_input *e = &open_inputs[n_open_inputs++];
    e->owner = owner;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    snprintf(e->path, sizeof e->path, "%s", path);
    return 0;
}

void h5io_unregister_input(const void *owner)
{
    for (size_t k = 0; k < n_open_inputs; k++)
        if (open_inputs[k].owner == owner) {
            open_inputs[k] = open_inputs[--n_open_inputs];
            break;
        }
    if (!n_open_inputs) {
        free(open_inputs);
        open_inputs = NULL;
        cap_open_inputs = 0;
    }
}

/* The output's own directory entry (lstat: writing -o LINK replaces the link,
 * not its target) against every input (stat: an input read through a link is
 * its target). */
static int check_output_file(const char *output, const struct stat *out_st, const char *const *inputs, int n)
{
    for (int k = 0; k < n; k++) {
        struct stat st;
        if (inputs[k] && strcmp(inputs[k], "-") && stat(inputs[k], &st) == 0 && st.st_dev == out_st->st_dev &&
            st.st_ino == out_st->st_ino)
            return same_file_error(output, inputs[k]);
    }
    for (size_t k = 0; k < n_open_inputs; k++)
        if (open_inputs[k].dev == out_st->st_dev && open_inputs[k].ino == out_st->st_ino)
            return same_file_error(output, open_inputs[k].path);
    return 0;
}

int h5io_check_output_distinct(const char *output, const char *const *inputs, int n)
{
    struct stat st;
    if (!output || !strcmp(output, "-") || lstat(output, &st) != 0)
        return 0;
    return check_output_file(output, &st, inputs, n);
}

/* ------------------------------------------------ temporaries and writers */

/* The PID in ".BASE.PID.tmp", or 0 when name is no temporary of base. */
static long temp_pid(const char *name, const char *base)
{
    size_t len = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, len) || name[1 + len] != '.')
        return 0;
    const char *digits = name + 2 + len;
    char *end;
    long pid = strtol(digits, &end, 10);
    return end > digits && *digits != '-' && *digits != '+' && !strcmp(end, ".tmp") ? pid : 0;
}

/* 1 when a live writer holds the lock on the temporary dir/name. */
static int temp_locked(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int locked = fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    close(fd);
    return locked;
}

static int pid_gone(long pid) { return kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

/* Walks the temporaries of dir/base other than this process's: with
 * remove_stale, unlinks those whose writer is gone (unlocked, PID dead);
 * otherwise reports the first one a live writer holds (EX_CANTCREAT). */
static int scan_temps(const char *dir, const char *base, const char *final_path, int remove_stale)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int rc = 0;
    char path[8400];
    while (!rc && (e = readdir(d))) {
        long pid = temp_pid(e->d_name, base);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int locked = temp_locked(path);
        if (!remove_stale && locked)
            rc = error_set(EX_CANTCREAT, "%s: another run (PID %ld) is writing this output, temporary '%s'; "
                           "wait for it to finish", final_path, pid, path);
        else if (remove_stale && !locked && pid_gone(pid))
            unlink(path);
    }
    closedir(d);
    return rc;
}

/* Serialises, among cooperating writers, the look at a folder's temporaries
 * and the creation of one (flock on the folder; released by close). */
static int lock_folder(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        flock(fd, LOCK_EX);
    return fd;
}

static void split_path(const char *path, char *dir, char *base, size_t size)
{
    char dir_buf[4096], base_buf[4096];
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    snprintf(base_buf, sizeof base_buf, "%s", path);
    snprintf(dir, size, "%s", dirname(dir_buf));
    snprintf(base, size, "%s", basename(base_buf));
}

/* Checks an output path before anything is made: not empty, not a folder. */
int h5io_check_output_path(const char *path)
{
    if (!path || !*path)
        return error_set(EX_USAGE, "-o: the output path is empty");
    if (!strcmp(path, "-"))
        return 0;
    size_t len = strlen(path);
    struct stat st;
    if (path[len - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return error_set(EX_USAGE, "%s: the output is a folder, expected a file name", path);
    if (len >= 4000)
        return error_set(EX_USAGE, "%s: the output path is too long", path);
    return 0;
}

static int make_temp(const char *path, int overwrite, const char *dir, const char *base, char *temp_path,
                     size_t size, int *fd)
{
    struct stat st;
    int exists = lstat(path, &st) == 0;
    if (!overwrite && exists)
        return error_set(EX_CANTCREAT, "%s: output exists; use --overwrite to replace it", path);
    if (exists && check_output_file(path, &st, NULL, 0))
        return error_code();
    if (scan_temps(dir, base, path, 0))
        return error_code();
    char candidate[8400];
    snprintf(candidate, sizeof candidate, "%s/.%s.%ld.tmp", dir, base, (long)getpid());
    /* Probe with open(): the libraries' own failures would not say why. */
    *fd = open(candidate, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
    if (*fd < 0)
        return error_set(EX_CANTCREAT, "%s: cannot create output in '%s': %s", path, dir, strerror(errno));
    snprintf(temp_path, size, "%s", candidate);
    h5io_register_temp(temp_path);
    int k = temp_slot(temp_path);
    if (k >= 0) {
        struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int held = dup(*fd);
        if (held >= 0 && fcntl(held, F_OFD_SETLK, &lock) != 0) {
            close(held);
            held = -1;
        }
        active_locks[k] = held;
        active_overwrite[k] = overwrite;
        active_exists[k] = exists;
        active_dev[k] = exists ? st.st_dev : 0;
        active_ino[k] = exists ? st.st_ino : 0;
    }
    return 0;
}

int h5io_create_temp(const char *path, int overwrite, char *temp_path, size_t size, int *fd)
{
    temp_path[0] = '\0';
    *fd = -1;
    if (h5io_check_output_path(path))
        return error_code();
    char dir[4096], base[4096];
    split_path(path, dir, base, sizeof dir);
    int dir_fd = lock_folder(dir);
    int rc = make_temp(path, overwrite, dir, base, temp_path, size, fd);
    if (dir_fd >= 0)
        close(dir_fd);
    /* Test hook: a writer that holds its temporary and its lock, stopped
     * (SIGSTOP) until the test continues it — a second writer can then race
     * it without depending on timing. */
    if (rc == 0 && getenv("EDDP_TEST_STOP_AFTER_CREATE"))
        raise(SIGSTOP);
    return rc;
}

/* rename(2) that fails with EEXIST instead of replacing; file systems
 * without RENAME_NOREPLACE get link(2) + unlink(2), then plain rename. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(from, to) == 0)
        return unlink(from), 0;
    if (errno == EEXIST)
        return -1;
    return rename(from, to);
}

int h5io_publish_temp(const char *temp_path, const char *final_path)
{
    int k = temp_slot(temp_path), overwrite = k >= 0 ? active_overwrite[k] : 1;
    char dir[4096], base[4096];
    split_path(final_path, dir, base, sizeof dir);
    int dir_fd = lock_folder(dir), rc = 0;
    if ((overwrite ? rename(temp_path, final_path) : rename_noreplace(temp_path, final_path)) != 0) {
        if (errno == EEXIST)
            rc = error_set(EX_CANTCREAT, "%s: the output appeared while this run wrote it (another writer?); "
                           "not replaced, use --overwrite to replace it", final_path);
        else
            rc = error_set(EX_IOERR, "%s: cannot rename the finished output into place: %s", final_path,
                           strerror(errno));
        unlink(temp_path);
    } else {
        scan_temps(dir, base, final_path, 1); /* the leftovers of killed runs */
    }
    h5io_unregister_temp(temp_path);
    if (dir_fd >= 0)
        close(dir_fd);
    return rc;
}

static int set_root_format(h5out *out, const char *format, int format_version)
{
    if (h5out_attr_string(out, "/", "format", format) ||
        h5out_attr_int(out, "/", "format_version", format_version))
        return error_code();
    return 0;
}

static int create_temp_file(h5out *out, const char *path, int overwrite)
{
    int fd;
    if (h5io_create_temp(path, overwrite, out->temp_path, sizeof out->temp_path, &fd))
        return error_code();
    close(fd);
    out->file = H5Fcreate(out->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (out->file < 0) {
        unlink(out->temp_path);
        h5io_unregister_temp(out->temp_path);
        return error_set(EX_CANTCREAT, "%s: cannot create HDF5 file '%s'", path, out->temp_path);
    }
    return 0;
}

static int create_memory_file(h5out *out)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    out->file = H5Fcreate("stdout-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (out->file < 0)
        return error_set(EX_SOFTWARE, "-: cannot create an in-memory HDF5 file");
    return 0;
}

int h5out_create(h5out *out, const char *path, int overwrite, const char *format, int format_version)
{
    quiet_hdf5();
    memset(out, 0, sizeof *out);
    out->file = H5I_INVALID_HID;
    snprintf(out->final_path, sizeof out->final_path, "%s", path);
    out->to_stdout = !strcmp(path, "-");
    int rc = out->to_stdout ? create_memory_file(out) : create_temp_file(out, path, overwrite);
    if (!rc)
        rc = set_root_format(out, format, format_version);
    if (rc)
        h5out_abort(out);
    return rc;
}

static hid_t link_create_plist(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

/* IEEE binary16, the layout numpy/h5py call '<f2' (HDF5 1.10 has no native
 * half type): 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
static hid_t half_type(void)
{
    hid_t type = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(type, 15, 10, 5, 0, 10);
    H5Tset_size(type, 2);
    H5Tset_ebias(type, 15);
    return type;
}

static hid_t file_type(h5io_type type)
{
    switch (type) {
    case H5IO_FLOAT: return H5Tcopy(H5T_IEEE_F32LE);
    case H5IO_DOUBLE: return H5Tcopy(H5T_IEEE_F64LE);
    case H5IO_INT32: return H5Tcopy(H5T_STD_I32LE);
    case H5IO_HALF:
    case H5IO_HALF_BITS: return half_type();
    case H5IO_UINT8: return H5Tcopy(H5T_STD_U8LE);
    }
    return H5Tcopy(H5T_IEEE_F32LE);
}

int h5out_create_dataset(h5out *out, const char *name, h5io_type type, int rank,
                         const hsize_t *dims, hsize_t chunk_rows, hid_t *dset)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk_rows && rank > 0 && dims[0] > 0) {
        hsize_t chunk[H5IO_MAX_RANK];
        for (int k = 0; k < rank; k++)
            chunk[k] = dims[k] ? dims[k] : 1;
        chunk[0] = chunk_rows < dims[0] ? chunk_rows : dims[0];
        H5Pset_chunk(dcpl, rank, chunk);
    }
    hid_t lcpl = link_create_plist();
    hid_t ftype = file_type(type);
    *dset = H5Dcreate2(out->file, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    H5Tclose(ftype);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (*dset < 0)
        return error_set(EX_IOERR, "%s: cannot create dataset '%s'", out->final_path, name);
    return 0;
}

int h5out_write_rows(hid_t dset, const char *name, h5io_type type, hsize_t row0,
                     hsize_t nrows, const void *buf)
{
    if (nrows == 0)
        return 0;
    hid_t space = H5Dget_space(dset);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5IO_MAX_RANK], start[H5IO_MAX_RANK] = {0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    start[0] = row0;
    dims[0] = nrows;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, dims, NULL);
    hid_t mem = H5Screate_simple(rank, dims, NULL);
    herr_t status = H5Dwrite(dset, native_type(type), mem, space, H5P_DEFAULT, buf);
    H5Sclose(mem);
    H5Sclose(space);
    return status < 0 ? error_set(EX_IOERR, "cannot write rows of dataset '%s' (disk full?)", name) : 0;
}

int h5out_write(h5out *out, const char *name, h5io_type type, int rank,
                const hsize_t *dims, const void *data)
{
    hid_t dset;
    /* Chunk large arrays by rows so readers can stream them. */
    size_t row_bytes = element_size(type);
    for (int k = 1; k < rank; k++)
        row_bytes *= dims[k];
    hsize_t chunk_rows = 0;
    if (rank > 1 && dims[0] * row_bytes > (1u << 24))
        chunk_rows = row_bytes ? ((1u << 20) + row_bytes - 1) / row_bytes : 1;
    if (h5out_create_dataset(out, name, type, rank, dims, chunk_rows, &dset))
        return error_code();
    hsize_t count = 1;
    for (int k = 0; k < rank; k++)
        count *= dims[k];
    herr_t status = count ? H5Dwrite(dset, native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    H5Dclose(dset);
    return status < 0 ? error_set(EX_IOERR, "%s: cannot write dataset '%s' (disk full?)", out->final_path, name) : 0;
}

int h5out_write_strings(h5out *out, const char *name, const char *const *strings, size_t n)
{
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t type = vlen_string_type();
    hid_t lcpl = link_create_plist();
    hid_t dset = H5Dcreate2(out->file, name, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    herr_t status = dset < 0 ? -1 : (n ? H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings) : 0);
    if (dset >= 0)
        H5Dclose(dset);
    H5Pclose(lcpl);
    H5Tclose(type);
    H5Sclose(space);
    return status < 0 ? error_set(EX_IOERR, "%s: cannot write string dataset '%s'", out->final_path, name) : 0;
}

/* Writes (replacing) an attribute with the given memory and file types. */
static int write_attr(h5out *out, const char *object, const char *name, hid_t ftype, hid_t mtype,
                      int rank, hsize_t n, const void *value)
{
    if (H5Aexists_by_name(out->file, object, name, H5P_DEFAULT) > 0)
        H5Adelete_by_name(out->file, object, name, H5P_DEFAULT);
    hid_t space = rank ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate_by_name(out->file, object, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t status = attr < 0 ? -1 : H5Awrite(attr, mtype, value);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return status < 0 ? error_set(EX_IOERR, "%s: cannot write attribute '%s' on '%s'", out->final_path, name, object) : 0;
}

int h5out_attr_string(h5out *out, const char *object, const char *name, const char *value)
{
    hid_t type = vlen_string_type();
    int rc = write_attr(out, object, name, type, type, 0, 1, &value);
    H5Tclose(type);
    return rc;
}

int h5out_attr_strings(h5out *out, const char *object, const char *name,
                       const char *const *values, size_t n)
{
    hid_t type = vlen_string_type();
    int rc = write_attr(out, object, name, type, type, 1, n, values);
    H5Tclose(type);
    return rc;
}

int h5out_attr_double(h5out *out, const char *object, const char *name, double value)
{
    return write_attr(out, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 1, &value);
}

int h5out_attr_doubles(h5out *out, const char *object, const char *name, const double *values, size_t n)
{
    return write_attr(out, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, values);
}

int h5out_attr_int(h5out *out, const char *object, const char *name, long long value)
{
    return write_attr(out, object, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, 0, 1, &value);
}

/* The command line, each argument shell-quoted when it needs to be. */
static char *command_line(int argc, char **argv)
{
    size_t cap = 64;
    for (int k = 0; k < argc; k++)
        cap += 4 * strlen(argv[k]) + 3;
    char *line = malloc(cap), *p = line;
    for (int k = 0; k < argc; k++) {
        const char *arg = argv[k];
        int plain = *arg && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == strlen(arg);
        if (k)
            *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", arg);
            continue;
        }
        *p++ = '\'';
        for (; *arg; arg++)
            p += *arg == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *arg);
        *p++ = '\'';
    }
    *p = '\0';
    return line;
}

static int write_inputs(h5out *out, const h5io_provenance *prov, char **upstream_history)
{
    size_t cap = 64, used = 0;
    for (int k = 0; k < prov->n_inputs; k++)
        cap += strlen(prov->inputs[k]->path) + 32;
    char *inputs = malloc(cap);
    inputs[0] = '\0';
    for (int k = 0; k < prov->n_inputs; k++) {
        h5in *in = prov->inputs[k];
        if (h5in_hash(in)) {
            free(inputs);
            return error_code();
        }
        used += (size_t)snprintf(inputs + used, cap - used, "%s\t%016llx\n", in->path,
                                 (unsigned long long)in->hash);
    }
    int rc = h5out_attr_string(out, "/", "inputs", inputs);
    free(inputs);
    if (!rc && prov->n_inputs > 0 && H5Aexists(prov->inputs[0]->file, "history") > 0)
        h5in_attr_string(prov->inputs[0], "/", "history", upstream_history);
    return rc;
}

int h5out_provenance(h5out *out, const h5io_provenance *prov)
{
    char *cmd = command_line(prov->argc, prov->argv), *upstream = NULL;
    char stamp[64];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int rc = write_inputs(out, prov, &upstream);
    size_t len = strlen(cmd) + strlen(stamp) + (upstream ? strlen(upstream) : 0) + 8;
    char *history = malloc(len);
    snprintf(history, len, "%s: %s\n%s", stamp, cmd, upstream ? upstream : "");
    const char *slurm = getenv("SLURM_JOB_ID");
    if (!rc)
        rc = h5out_attr_string(out, "/", "history", history) ||
             h5out_attr_string(out, "/", "tool", prov->tool) ||
             h5out_attr_string(out, "/", "tool_version", H5IO_VERSION) ||
             h5out_attr_string(out, "/", "command_line", cmd) ||
             h5out_attr_string(out, "/", "created", stamp) ||
             h5out_attr_int(out, "/", "seed", (long long)prov->seed) ||
             h5out_attr_int(out, "/", "threads", prov->threads) ||
             (prov->device && h5out_attr_string(out, "/", "device", prov->device)) ||
             (slurm && h5out_attr_string(out, "/", "slurm_job_id", slurm));
    free(history);
    free(upstream);
    free(cmd);
    return rc ? error_code() : 0;
}

static int write_image_to_stdout(h5out *out)
{
    H5Fflush(out->file, H5F_SCOPE_GLOBAL);
    ssize_t size = H5Fget_file_image(out->file, NULL, 0);
    void *buf = size > 0 ? malloc((size_t)size) : NULL;
    int rc = 0;
    if (!buf || H5Fget_file_image(out->file, buf, (size_t)size) != size)
        rc = error_set(EX_SOFTWARE, "-: cannot take the HDF5 file image");
    else if (fwrite(buf, 1, (size_t)size, stdout) != (size_t)size || fflush(stdout))
        rc = error_set(EX_IOERR, "-: cannot write to stdout: %s", strerror(errno));
    free(buf);
    return rc;
}

int h5out_copy(h5out *out, h5in *in, const char *name)
{
    hid_t lcpl = link_create_plist();
    herr_t status = H5Ocopy(in->file, name, out->file, name, H5P_DEFAULT, lcpl);
    H5Pclose(lcpl);
    return status < 0 ? error_set(EX_IOERR, "%s: cannot copy '%s' from %s", out->final_path, name, in->path) : 0;
}

int h5out_commit(h5out *out)
{
    int rc = 0;
    if (out->to_stdout) {
        rc = write_image_to_stdout(out);
        H5Fclose(out->file);
        out->file = H5I_INVALID_HID;
        return rc;
    }
    if (H5Fclose(out->file) < 0) {
        close_failed = 1;
        rc = error_set(EX_IOERR, "%s: cannot finish writing (disk full?)", out->final_path);
    }
    out->file = H5I_INVALID_HID;
    if (!rc)
        rc = h5io_publish_temp(out->temp_path, out->final_path);
    if (rc)
        unlink(out->temp_path);
    h5io_unregister_temp(out->temp_path);
    out->temp_path[0] = '\0';
    return rc;
}

void h5out_abort(h5out *out)
{
    if (out->temp_path[0])
        unlink(out->temp_path); /* first: closing may fail on a full disk */
    if (out->file >= 0 && H5Fclose(out->file) < 0)
        close_failed = 1;
    out->file = H5I_INVALID_HID;
    if (out->temp_path[0]) {
        unlink(out->temp_path);
        h5io_unregister_temp(out->temp_path);
        out->temp_path[0] = '\0';
    }
}
