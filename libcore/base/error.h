/* error — the one place a library failure is described.
 *
 * Library functions return a status (0 = ok, otherwise a sysexits.h code) and
 * describe the failure with error_set(); only a tool's main() prints it (one
 * line: "tool: message") and exits with that code.
 *
 * The allocation and status rule:
 * - Setup code (tools, file readers and writers, anything that already
 *   returns a sysexits status) allocates through the checked helpers below:
 *   on failure they record EX_OSERR with the allocation's purpose ("out of
 *   memory for <purpose> (<n> bytes)") and return NULL, so the caller only
 *   `return error_code();`.
 * - Pure maths modules (mat, metrics, losses, ura, signal, ...) do not touch
 *   the error state: they return 0 ok, −1 allocation failure, −2 invalid
 *   input (as each header documents), and their caller maps that to a
 *   sysexits code and a message that names the file or option involved.
 *
 * Stage: base, used by every module. In memory only, no files. */
#ifndef EDDP_ERROR_H
#define EDDP_ERROR_H

#include <stddef.h>
#include <sysexits.h>

/* Records the failure (the first one wins until error_clear) and returns code,
 * so callers can write `return error_set(EX_DATAERR, "...", ...);`. */
int error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replaces any recorded failure (for callers that add context). */
int error_replace(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context ("epoch 3: ") to the recorded failure; returns its code. */
int error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *error_message(void);
int error_code(void);
void error_clear(void);

/* Checked allocations for setup code (see the rule above): NULL, with
 * EX_OSERR and "out of memory for <purpose> (<bytes> bytes)" recorded, when
 * the allocation fails or n·size overflows. A zero size allocates one byte,
 * so NULL always means failure. */
void *error_malloc(size_t size, const char *purpose);
void *error_calloc(size_t n, size_t size, const char *purpose);
void *error_realloc(void *ptr, size_t size, const char *purpose);   /* ptr kept on failure */
char *error_strdup(const char *s, const char *purpose);

#endif
