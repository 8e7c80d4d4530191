/* error — see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static char message[2048];
static int code_recorded;

static int record(int code, const char *fmt, va_list ap)
{
    vsnprintf(message, sizeof message, fmt, ap);
    code_recorded = code;
    return code;
}

int error_set(int code, const char *fmt, ...)
{
    if (code_recorded)
        return code;
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);
    return code;
}

int error_replace(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);
    return code;
}

const char *error_message(void) { return code_recorded ? message : "no error"; }
int error_code(void) { return code_recorded; }

void error_clear(void)
{
    code_recorded = 0;
    message[0] = '\0';
}
