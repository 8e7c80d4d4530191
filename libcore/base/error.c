/* error — see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

int error_prefix(const char *fmt, ...)
{
    char prefix[512], old[sizeof message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", message);
    size_t used = strlen(prefix) < sizeof message ? strlen(prefix) : sizeof message - 1;
    memcpy(message, prefix, used);
    snprintf(message + used, sizeof message - used, "%.*s", (int)(sizeof message - used - 1), old);
    return code_recorded ? code_recorded : (code_recorded = EX_SOFTWARE);
}

const char *error_message(void) { return code_recorded ? message : "no error"; }
int error_code(void) { return code_recorded; }

void error_clear(void)
{
    code_recorded = 0;
    message[0] = '\0';
}
