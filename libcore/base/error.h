/* error — the one place a library failure is described.
 *
 * Library functions return a status (0 = ok, otherwise a sysexits.h code) and
 * describe the failure with error_set(); only a tool's main() prints it (one
 * line: "tool: message") and exits with that code. */
#ifndef EDDP_ERROR_H
#define EDDP_ERROR_H

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

#endif
