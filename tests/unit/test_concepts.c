/* test_concepts — concepts_list on good and broken /concepts groups; the
 * broken one is the regression test of the leak `make fuzz` found (a
 * failing concepts_list left its partly checked categories allocated). */
#include "concepts.h"
#include "error.h"
#include "h5io.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A features-format file with /concepts/a (good, [4,1,2]) and, when
 * broken, /concepts/b of rank 1 (invalid). */
static int make_file(const char *path, int broken)
{
    h5out out;
    hsize_t good[3] = {4, 1, 2}, bad[1] = {4};
    int32_t maps[8] = {0, 1, 1, 0, 0, 0, 1, 1};
    if (h5out_create(&out, path, 1, H5IO_FORMAT_FEATURES, 1) ||
        h5out_write(&out, "/concepts/a", H5IO_INT32, 3, good, maps) ||
        (broken && h5out_write(&out, "/concepts/b", H5IO_INT32, 1, bad, maps)) || h5out_commit(&out)) {
        h5out_abort(&out);
        return -1;
    }
    return 0;
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_concepts.%ld.h5", (long)getpid());
    for (int broken = 0; broken <= 1; broken++) {
        error_clear();
        CHECK(make_file(path, broken) == 0, "make the file: %s", error_message());
        h5in in;
        CHECK(h5in_open(&in, path, H5IO_FORMAT_FEATURES) == 0, "open: %s", error_message());
        concept_category *cats = (concept_category *)1;
        int n_cat = -1;
        int rc = concepts_list(&in, 4, &cats, &n_cat);
        if (broken) {
            CHECK(rc == EX_DATAERR, "a rank-1 category is refused (got %d)", rc);
            CHECK(cats == NULL && n_cat == 0, "a failed list leaves nothing to free");
        } else {
            CHECK(rc == 0 && n_cat == 1, "one good category: rc %d, %d categories", rc, n_cat);
            concepts_free(cats, n_cat);
        }
        h5in_close(&in);
        unlink(path);
    }
    return harness_report("concepts");
}
