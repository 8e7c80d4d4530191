/* fuzz_npy — libFuzzer target for the .npy reader (libcore/data/npy.c): the
 * header parser on the bytes as given, then the whole reader (open, header,
 * size check, rows as float32 or int32, hash) on them as a file. Every
 * input must end in a status, never a crash, a leak or undefined behaviour.
 * Built and run by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined). */
#include "error.h"
#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void write_file(const uint8_t *data, size_t size)
{
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz_npy.%ld.npy", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
}

static void read_all(npy_reader *r)
{
    /* At most 64 KiB of rows per call: the size check ties rows to bytes. */
    uint64_t per_row = r->row_elems ? r->row_elems : 1;
    uint64_t rows = per_row > 16384 ? 1 : 16384 / per_row;
    void *buf = malloc(rows * per_row * sizeof(float) + 1);
    if (!buf)
        return;
    int is_float = npy_is_float(r->hdr.dtype);
    for (uint64_t done = 0; done < r->n_rows && per_row <= (1u << 20);) {
        uint64_t n = r->n_rows - done < rows ? r->n_rows - done : rows;
        int rc = is_float ? npy_read_float(r, n, buf) : npy_read_int32(r, n, buf);
        if (rc)
            break;
        done += n;
    }
    uint64_t hash;
    npy_hash(r, &hash);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npy_header hdr;
    error_clear();
    npy_parse_header("fuzz", data, size, &hdr);
    error_clear();
    write_file(data, size);
    npy_reader r;
    if (npy_open(&r, path) == 0)
        read_all(&r);
    npy_close(&r);
    error_clear();
    return 0;
}
