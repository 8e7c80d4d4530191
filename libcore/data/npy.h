/* npy — NumPy .npy files, the bridge to PyTorch and other Python code.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, C order only, with the
 * dtypes numpy writes on little-endian machines: '<f2' '<f4' '<f8' (read as
 * float32; binary16 is converted here, no compiler half type needed) and
 * '|b1' '|i1' '|u1' '<i2' '<u2' '<i4' '<u4' '<i8' '<u8' (read as int32,
 * refusing values that do not fit). The file size must equal the header plus
 * shape × itemsize, so truncated or corrupt files fail at open.
 *
 * Arrays stream by rows (the first dimension): a reader hands out the next
 * rows in batches, so a 6 GB array never sits whole in memory; a writer takes
 * rows the same way and writes format 1.0, C order, '<f4' '<f8' or '<i4'.
 * Writers are atomic like h5io's outputs: a temporary file in the target
 * folder renamed on commit; "-" writes to stdout.
 *
 * All functions return 0 or a sysexits.h code, described through error.h with
 * the file named.
 *
 * Stage: data. Reads and writes .npy files. */
#ifndef EDDP_NPY_H
#define EDDP_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NPY_MAX_RANK 8
/* Headers longer than this are refused as corrupt (numpy's own limit for
 * untrusted files is 10000 bytes). */
#define NPY_MAX_HEADER (1u << 20)

typedef enum {
    NPY_F2, NPY_F4, NPY_F8,                         /* floating point */
    NPY_B1, NPY_I1, NPY_U1, NPY_I2, NPY_U2,         /* always fit int32 */
    NPY_I4, NPY_U4, NPY_I8, NPY_U8,                 /* range-checked to int32 */
    NPY_N_DTYPES
} npy_dtype;

typedef struct {
    npy_dtype dtype;
    int rank;                      /* 0 = scalar */
    uint64_t shape[NPY_MAX_RANK];
    size_t data_offset;            /* magic + version + length field + header */
} npy_header;

/* '<f4' etc. for a dtype; bytes per element. */
const char *npy_descr(npy_dtype dtype);
size_t npy_itemsize(npy_dtype dtype);
int npy_is_float(npy_dtype dtype);
/* Elements in the whole array (1 for a scalar). */
uint64_t npy_count(const npy_header *hdr);
/* "(3000, 16, 1, 2)" into buf. */
void npy_format_shape(char *buf, size_t size, int rank, const uint64_t *shape);

/* IEEE binary16 bits → float32 (exact: subnormals, ±0, ±Inf, NaN kept);
 * half_to_float of half.h. */
float npy_half_to_float(uint16_t half);

/* Parses the preamble and header dict of a .npy held in buf (len bytes, at
 * least the whole header); path names the file in errors. EX_DATAERR for a
 * bad magic, version, header or dtype, or Fortran order. */
int npy_parse_header(const char *path, const unsigned char *buf, size_t len, npy_header *hdr);

typedef struct {
    FILE *file;
    char path[4096];
    npy_header hdr;
    uint64_t n_rows;          /* shape[0]; 1 for a scalar */
    uint64_t row_elems;       /* product of shape[1:] */
    uint64_t next_row;        /* rows handed out so far */
    unsigned char *raw;       /* staging buffer for one batch of file bytes */
    size_t raw_cap;
    uint64_t hash;            /* running content hash of the bytes read */
    unsigned char hash_tail[8];
    size_t hash_tail_len;
    int hashed;               /* hash covers the whole file */
} npy_reader;

/* Opens path, parses and checks the header and the file size. */
int npy_open(npy_reader *r, const char *path);
/* Reads the next nrows rows, converted to float32 (float dtypes only). */
int npy_read_float(npy_reader *r, uint64_t nrows, float *out);
/* Reads the next nrows rows, converted to int32 (integer and bool dtypes);
 * EX_DATAERR naming the file and row when a value does not fit. */
int npy_read_int32(npy_reader *r, uint64_t nrows, int32_t *out);
/* Content hash of the whole file, the same 64-bit hash h5in_hash computes:
 * the bytes already read are hashed on the way, the rest is read now (after
 * which no more rows can be read). */
int npy_hash(npy_reader *r, uint64_t *hash);
void npy_close(npy_reader *r);

typedef struct {
    FILE *file;
    char final_path[4096];
    char temp_path[4200];
    int to_stdout;
    npy_dtype dtype;
    uint64_t n_rows, row_elems, rows_written;
} npy_writer;

/* Creates the output (the temporary file) and writes the header: format 1.0,
 * C order, dtype NPY_F4, NPY_F8 or NPY_I4. Refuses an existing path unless
 * overwrite; "-" writes to stdout. */
int npy_writer_create(npy_writer *w, const char *path, int overwrite, npy_dtype dtype,
                      int rank, const uint64_t *shape);
/* Appends nrows rows of float, double or int32 (as the dtype). */
int npy_write_rows(npy_writer *w, uint64_t nrows, const void *rows);
/* Checks every row was written, flushes, closes and renames into place. */
int npy_writer_commit(npy_writer *w);
/* Closes and removes the temporary file; safe to call twice. */
void npy_writer_abort(npy_writer *w);


#endif
