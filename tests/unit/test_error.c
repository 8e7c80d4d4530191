/* test_error — the recorded failure (first one wins, replace, prefix) and the
 * checked allocation helpers of the allocation rule (error.h). */
#include "error.h"
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_messages(void)
{
    error_clear();
    CHECK(error_code() == 0 && !strcmp(error_message(), "no error"), "clear state");
    CHECK(error_set(EX_DATAERR, "a.h5: bad %d", 1) == EX_DATAERR, "set returns its code");
    CHECK(error_set(EX_IOERR, "second") == EX_IOERR && error_code() == EX_DATAERR &&
              !strcmp(error_message(), "a.h5: bad 1"), "the first failure wins");
    CHECK(error_prefix("epoch %d: ", 3) == EX_DATAERR && !strcmp(error_message(), "epoch 3: a.h5: bad 1"),
          "prefix: %s", error_message());
    CHECK(error_replace(EX_IOERR, "other") == EX_IOERR && error_code() == EX_IOERR, "replace");
    error_clear();
}

static void test_allocations(void)
{
    error_clear();
    void *p = error_malloc(0, "nothing");
    CHECK(p != NULL && error_code() == 0, "a zero size allocates");
    free(p);
    p = error_calloc(4, 8, "four doubles");
    CHECK(p != NULL && ((double *)p)[3] == 0 && error_code() == 0, "calloc zeroes");
    void *q = error_realloc(p, 64, "eight doubles");
    CHECK(q != NULL, "realloc");
    free(q);
    char *s = error_strdup("name", "a name");
    CHECK(s && !strcmp(s, "name"), "strdup");
    free(s);
    CHECK(error_calloc(SIZE_MAX / 2, 4, "the IoU table") == NULL && error_code() == EX_OSERR &&
              strstr(error_message(), "out of memory for the IoU table"),
          "overflowing n·size (checked before allocating, so ASan has nothing to refuse): NULL and EX_OSERR naming the purpose (%s)", error_message());
    error_clear();
}

int main(void)
{
    test_messages();
    test_allocations();
    return harness_report("error");
}
