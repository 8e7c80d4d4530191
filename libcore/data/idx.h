/* idx — unsigned-byte IDX files (LeCun's MNIST format, also Fashion-MNIST's),
 * plain or gzip-compressed (zlib reads both):
 *   magic: two zero bytes, type 0x08 (unsigned byte), rank r;
 *   r dimensions, big-endian uint32; then the prod(dims) data bytes.
 * Images are rank 3 [N, H, W], labels rank 1 [N]. A file shorter or longer
 * than its header says, with another magic, or of another element type is
 * refused, naming the file.
 *
 * Stage: data, feeding the network stage. Reads IDX files (imgset). */
#ifndef EDDP_IDX_H
#define EDDP_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAX_RANK 4

typedef struct {
    int rank;
    size_t dims[IDX_MAX_RANK];
    size_t count;        /* prod(dims) */
    uint8_t *data;       /* [count] row-major; NULL after idx_read_header */
} idx_array;

/* Reads only the header (rank must equal want_rank): the dimensions, for
 * checks before any output is made. */
int idx_read_header(const char *path, int want_rank, idx_array *arr);
/* Reads the whole file: header (rank want_rank), data, and a check that
 * nothing follows the data. */
int idx_read(const char *path, int want_rank, idx_array *arr);
void idx_free(idx_array *arr);

#endif
