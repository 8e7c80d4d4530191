/* h5io — the toolkit's HDF5 files: typed, shape-checked reads and writes,
 * format names, provenance, atomic outputs and file images on pipes.
 *
 * Every file carries root attributes `format` (string) and `format_version`
 * (int); readers name the format they expect and are told which tool makes it.
 * Outputs are written under a temporary name in the target folder and renamed
 * by h5out_commit(); a failed or interrupted run leaves no file under the
 * final name. "-" as an input reads an HDF5 file image from stdin; "-" as an
 * output writes one to stdout. All functions return 0 or a sysexits.h code
 * with the failure described through error.h. */
#ifndef EDDP_H5IO_H
#define EDDP_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#define H5IO_MAX_RANK 8

/* H5IO_HALF is stored as IEEE binary16 and held in memory as float (HDF5
 * converts, slowly: ~10^7 values/s); H5IO_HALF_BITS is stored the same way
 * and held in memory as the uint16_t bit patterns, copied unconverted
 * (half.h converts them). */
typedef enum { H5IO_FLOAT, H5IO_DOUBLE, H5IO_INT32, H5IO_HALF, H5IO_HALF_BITS,
               H5IO_UINT8 /* images: stored and held as uint8 */ } h5io_type;

/* Format names of the file contracts (man/man5/eddp-files.5). */
#define H5IO_FORMAT_FEATURES "eddp-features"
#define H5IO_FORMAT_HEAD "eddp-head"
#define H5IO_FORMAT_DIRECTIONS "eddp-directions"
#define H5IO_FORMAT_EVALUATION "eddp-evaluation"
#define H5IO_FORMAT_CACHE "eddp-cache"
#define H5IO_FORMAT_IMAGES "eddp-images"

typedef struct {
    hid_t file;
    char path[4096];     /* as given; "-" for stdin */
    void *image;         /* stdin file image, NULL for files */
    size_t image_size;
    uint64_t hash;       /* content hash, filled by h5in_hash() */
    int hashed;
} h5in;

/* Opens path (or "-") and checks its format; expected_format NULL = any
 * toolkit file. */
int h5in_open(h5in *in, const char *path, const char *expected_format);
/* Opens path accepting any of the n formats; *which (may be NULL) is the
 * index of the file's format in formats. */
int h5in_open_formats(h5in *in, const char *path, const char *const *formats, int n, int *which);
void h5in_close(h5in *in);
int h5in_exists(h5in *in, const char *name);
/* Rank and dimensions of a dataset; EX_DATAERR naming file and dataset when
 * it is missing. */
int h5in_shape(h5in *in, const char *name, int *rank, hsize_t dims[H5IO_MAX_RANK]);
/* Checks a dataset's type class (float or integer, matching type) and rank;
 * each expected dimension > 0 must match, 0 = any. Fills dims. */
int h5in_check(h5in *in, const char *name, h5io_type type, int rank,
               const hsize_t *expect, hsize_t dims[H5IO_MAX_RANK]);
/* h5in_check, then reads the whole dataset into a new buffer (free()). */
int h5in_read(h5in *in, const char *name, h5io_type type, int rank,
              const hsize_t *expect, void **data, hsize_t dims[H5IO_MAX_RANK]);
/* Reads rows [row0, row0 + nrows) along the first dimension into buf. */
int h5in_read_rows(h5in *in, const char *name, h5io_type type, hsize_t row0,
                   hsize_t nrows, void *buf);
/* The same converted by HDF5 to any memory type (e.g. H5T_NATIVE_LLONG);
 * a scalar dataset is read whole. */
int h5in_read_rows_as(h5in *in, const char *name, hid_t memtype, hsize_t row0, hsize_t nrows, void *buf);
/* String attribute (new buffer, free()); EX_DATAERR if missing. */
int h5in_attr_string(h5in *in, const char *object, const char *name, char **value);
int h5in_attr_double(h5in *in, const char *object, const char *name, double *value);
/* A numeric attribute of exactly n values, as doubles. */
int h5in_attr_doubles(h5in *in, const char *object, const char *name, double *values, size_t n);
/* 1 when object exists and carries attribute name, else 0. */
int h5in_attr_exists(h5in *in, const char *object, const char *name);
int h5in_attr_int(h5in *in, const char *object, const char *name, long long *value);
/* A 1-D string dataset or string-array attribute (object/name), as an array
 * of n new strings (free with h5io_free_strings). */
int h5in_strings(h5in *in, const char *name, char ***strings, size_t *n);
int h5in_attr_strings(h5in *in, const char *object, const char *name, char ***strings, size_t *n);
void h5io_free_strings(char **strings, size_t n);
/* Content hash of the input (64-bit, non-cryptographic; for provenance). */
int h5in_hash(h5in *in);
/* Lists the names of the members of a group (new array of strings). */
int h5in_list(h5in *in, const char *group, char ***names, size_t *n);

/* A growing list of names (each a new string): add (EX_OSERR when out of
 * memory), membership, free (the list is empty again). */
typedef struct {
    char **names;
    size_t n, cap;
} h5io_names;
int h5io_names_add(h5io_names *list, const char *name);
int h5io_names_has(const h5io_names *list, const char *name);
void h5io_names_free(h5io_names *list);

/* Fails with EX_DATAERR naming file, dataset and the first bad element when
 * data holds NaN or Inf; row_len > 0 adds the row (image) index. */
int h5io_check_finite(const char *path, const char *name, const float *data,
                      size_t n, size_t row_len);

typedef struct {
    hid_t file;
    char final_path[4096];
    char temp_path[4200];
    int to_stdout;
} h5out;

/* Creates the output (the temporary file) now, so an unwritable folder or an
 * existing output (without overwrite) fails before any work is done. */
int h5out_create(h5out *out, const char *path, int overwrite, const char *format, int format_version);
/* Writes a whole dataset, creating intermediate groups. */
int h5out_write(h5out *out, const char *name, h5io_type type, int rank,
                const hsize_t *dims, const void *data);
/* Creates a dataset chunked along the first dimension (chunk_rows rows per
 * chunk) to be filled with h5out_write_rows; *dset must be H5Dclose()d. */
int h5out_create_dataset(h5out *out, const char *name, h5io_type type, int rank,
                         const hsize_t *dims, hsize_t chunk_rows, hid_t *dset);
int h5out_write_rows(hid_t dset, const char *name, h5io_type type, hsize_t row0,
                     hsize_t nrows, const void *buf);
/* 1-D variable-length UTF-8 string dataset. */
int h5out_write_strings(h5out *out, const char *name, const char *const *strings, size_t n);
/* Attributes on object ("/" = root); strings are variable-length UTF-8. */
int h5out_attr_string(h5out *out, const char *object, const char *name, const char *value);
int h5out_attr_strings(h5out *out, const char *object, const char *name,
                       const char *const *values, size_t n);
int h5out_attr_double(h5out *out, const char *object, const char *name, double value);
int h5out_attr_doubles(h5out *out, const char *object, const char *name, const double *values, size_t n);
int h5out_attr_int(h5out *out, const char *object, const char *name, long long value);

typedef struct {
    const char *tool;
    int argc;
    char **argv;
    uint64_t seed;
    int threads;
    const char *device;     /* NULL = not applicable */
    h5in **inputs;          /* hashed on the way; the first one's history is carried */
    int n_inputs;
} h5io_provenance;

/* Writes history (time + command line prepended to the first input's),
 * tool, tool_version, command_line, inputs (path and hash per line), seed,
 * threads, device, slurm_job_id when set, created. */
int h5out_provenance(h5out *out, const h5io_provenance *prov);
/* Copies dataset name of in (with its attributes, type and layout) to the
 * same name in out, creating intermediate groups. */
int h5out_copy(h5out *out, h5in *in, const char *name);
/* Flushes, closes and renames (or writes the image to stdout). */
int h5out_commit(h5out *out);
/* Closes and removes the temporary file; safe to call twice. */
void h5out_abort(h5out *out);
/* The registry of uncommitted temporary outputs (HDF5 and .npy alike):
 * h5out_remove_temps() unlinks them all (async-signal-safe; for handlers). */
void h5io_register_temp(const char *path);
/* The temporary file an output is written under before its rename: refuses
 * an empty or folder path (EX_USAGE), an existing path unless overwrite, an
 * output that is an open input (EX_USAGE), and an output another live run
 * is writing (EX_CANTCREAT, naming its temporary); creates ".NAME.PID.tmp"
 * beside it (O_EXCL), locks it for the run, registers it and returns its
 * descriptor in *fd. Publish it with h5io_publish_temp. */
int h5io_create_temp(const char *path, int overwrite, char *temp_path, size_t size, int *fd);
void h5io_unregister_temp(const char *path);
void h5out_remove_temps(void);
/* Renames a finished temporary (registered by h5io_create_temp) onto
 * final_path: without overwrite atomically refusing to replace a file that
 * appeared meanwhile (EX_CANTCREAT), then removes the temporaries of the
 * same output left by killed runs (PID gone, no lock). Unregisters it; on
 * failure removes it. */
int h5io_publish_temp(const char *temp_path, const char *final_path);
/* EX_USAGE unless path is a usable output name: not empty, not a folder. */
int h5io_check_output_path(const char *path);
/* Inputs and outputs must be distinct files (device and inode; an input read
 * through a symlink is its target). h5in_open and npy_open register every
 * open input; h5io_create_temp refuses an output that is one of them, and a
 * later h5io_register_input refuses an input that is a pending output.
 * h5io_check_output_distinct checks output against inputs[0..n) (paths,
 * "-" skipped) and the open inputs before any work: EX_USAGE naming both. */
int h5io_check_output_distinct(const char *output, const char *const *inputs, int n);
int h5io_register_input(const char *path, const void *owner);
void h5io_unregister_input(const void *owner);
/* "a FIFO", "a character device", ... for a st_mode that is no regular file. */
const char *h5io_file_kind(unsigned mode);
/* For main's failure exit: removes the temporaries and, when closing an
 * output failed (full disk), leaves at once with code (_exit, stdio
 * flushed) so that HDF5's exit handler does not close it again and crash. */
void h5io_exit_now(int code);
/* Installs SIGINT/SIGTERM/SIGHUP handlers that remove temporary outputs and
 * exit 128+signal. Trainers that checkpoint install their own instead. */
void h5io_install_signal_cleanup(void);

#endif
