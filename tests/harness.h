/* harness.h — a tiny unit-test harness in the spirit of redis' testhelp.h.
 *
 * Each test binary calls CHECK*() any number of times and ends main() with
 * `return harness_report("name");`, which prints "N passed, N failed" (the
 * closing line CI reads) and returns non-zero if anything failed. */
#ifndef HARNESS_H
#define HARNESS_H

#include <math.h>
#include <stdio.h>

static int harness_passed, harness_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            harness_passed++;                                              \
        } else {                                                           \
            harness_failed++;                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* |got - want| <= tol * max(1, |want|): relative for large values, absolute
 * near zero, so one tolerance serves both. */
#define CHECK_CLOSE(got, want, tol, what)                                  \
    do {                                                                   \
        double got_ = (got), want_ = (want);                               \
        double scale_ = fabs(want_) > 1.0 ? fabs(want_) : 1.0;             \
        CHECK(fabs(got_ - want_) <= (tol) * scale_,                        \
              "%s: got %.12g, want %.12g (tol %g)", (what), got_, want_,   \
              (double)(tol));                                              \
    } while (0)

/* A suite that cannot run here (no GPU): one line saying why, then the
 * closing line with "1 skipped", which tests/run-suites counts. Returns 0. */
static inline int harness_skip(const char *suite, const char *reason)
{
    printf("%s: skipped: %s\n", suite, reason);
    printf("%s: %d passed, %d failed, 1 skipped\n", suite, harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}

static inline int harness_report(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, harness_passed,
           harness_failed);
    return harness_failed ? 1 : 0;
}

#endif
