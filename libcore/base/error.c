/* error — see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static void *out_of_memory(size_t bytes, const char *purpose)
{
    error_set(EX_OSERR, "out of memory for %s (%zu bytes)", purpose, bytes);
    return NULL;
}

void *error_malloc(size_t size, const char *purpose)
{
    void *p = malloc(size ? size : 1);
    return p ? p : out_of_memory(size, purpose);
}

void *error_calloc(size_t n, size_t size, const char *purpose)
{
    if (size && n > SIZE_MAX / size)
        return out_of_memory(SIZE_MAX, purpose);
    void *p = calloc(n && size ? n : 1, n && size ? size : 1);
    return p ? p : out_of_memory(n * size, purpose);
}

void *error_realloc(void *ptr, size_t size, const char *purpose)
{
    void *p = realloc(ptr, size ? size : 1);
    return p ? p : out_of_memory(size, purpose);
}

char *error_strdup(const char *s, const char *purpose)
{
    char *p = strdup(s);
    return p ? p : out_of_memory(strlen(s) + 1, purpose);
}
