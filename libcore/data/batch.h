/* batch — how many rows of a streamed dataset go through memory at once.
 *
 * Tools that stream arrays larger than memory (featdump, cachegpu) read and
 * write them in batches of whole rows (images) of about batch_bytes() bytes;
 * EDDP_BATCH_BYTES overrides the size (less memory, or many batches in the
 * tests, which exercise the batch boundaries that way). */
#ifndef EDDP_BATCH_H
#define EDDP_BATCH_H

#include <stddef.h>

/* Bytes per HDF5 chunk of a streamed output dataset (1 MiB). */
#define BATCH_CHUNK_BYTES ((size_t)1 << 20)

/* EDDP_BATCH_BYTES when set to a positive number, else 64 MiB. */
size_t batch_bytes(void);
/* Rows of row_bytes each that fit target bytes: at least 1, at most n_rows
 * (1 when n_rows is 0). */
size_t batch_rows(size_t row_bytes, size_t target, size_t n_rows);

#endif
