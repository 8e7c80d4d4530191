/* batch — see batch.h. */
#include "batch.h"

#include <stdlib.h>

size_t batch_bytes(void)
{
    const char *env = getenv("EDDP_BATCH_BYTES");
    long long value = env ? atoll(env) : 0;
    return value > 0 ? (size_t)value : (size_t)64 << 20;
}

size_t batch_rows(size_t row_bytes, size_t target, size_t n_rows)
{
    size_t rows = target / (row_bytes ? row_bytes : 1);
    if (!rows)
        rows = 1;
    if (!n_rows)
        n_rows = 1;
    return rows < n_rows ? rows : n_rows;
}
