/* cache_fixture.h — a cache file written from a features file, as cachegpu
 * writes it but without provenance (test_cache.c, test_batchsrc.c). */
#ifndef CACHE_FIXTURE_H
#define CACHE_FIXTURE_H

#include "cache.h"
#include "error.h"
#include "features.h"
#include "h5io.h"

/* src: a features file; dst: the cache (replaced); half: float16 values;
 * batch_bytes: cache_write's read size. 0 or error.h's exit code. */
static int write_cache_file(const char *src, const char *dst, int half, size_t batch_bytes)
{
    h5in in;
    features_file ff;
    h5out out;
    cache_options opt = {.half = half, .batch_bytes = batch_bytes};
    cache_summary summary;
    if (h5in_open(&in, src, H5IO_FORMAT_FEATURES) || features_open(&ff, &in))
        return error_code();
    int rc = h5out_create(&out, dst, 1, H5IO_FORMAT_CACHE, 1) || cache_write(&out, &ff, &opt, &summary) ||
             h5out_commit(&out);
    if (rc)
        h5out_abort(&out);
    h5in_close(&in);
    return rc ? error_code() : 0;
}

#endif
