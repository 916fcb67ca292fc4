/* Status codes, their texts, and the thread-local message of the last failure. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for a path of PATH_MAX bytes (or several) and the reason after it. */
#define PF_MESSAGE_SIZE 16384

static _Thread_local char last_message[PF_MESSAGE_SIZE];

const char *pf_version(void)
{
#define PF_STR2(x) #x
#define PF_STR(x) PF_STR2(x)
    return PF_STR(PATHFLOW_VERSION_MAJOR) "." PF_STR(PATHFLOW_VERSION_MINOR) "." PF_STR(
        PATHFLOW_VERSION_PATCH);
}

const char *pf_strerror(pf_status status)
{
    switch (status) {
    case PF_OK: return "success";
    case PF_ERR_ARG: return "invalid argument";
    case PF_ERR_NOMEM: return "out of memory";
    case PF_ERR_IO: return "input/output error";
    case PF_ERR_FORMAT: return "malformed file";
    case PF_ERR_CONFIG: return "invalid configuration";
    case PF_ERR_NUMERIC: return "numerical failure";
    case PF_ERR_SOLVER: return "ODE solver failure";
    case PF_ERR_CALLBACK: return "user callback failed";
    case PF_ERR_UNSUPPORTED: return "operation not supported";
    case PF_ERR_PARALLEL: return "communication between processes failed";
    }
    return "unknown status";
}

const char *pf_last_error(void) { return last_message; }

void pf_clear_error(void) { last_message[0] = '\0'; }

pf_status pf_fail(pf_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return status;
}

pf_status pf_fail_context(pf_status status, const char *fmt, ...)
{
    char previous[PF_MESSAGE_SIZE];
    memcpy(previous, last_message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    /* append ": <previous>", truncating (without a format the compiler would
     * flag as possibly truncated) */
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used + 2 < sizeof last_message && previous[0] != '\0') {
        size_t room = sizeof last_message - used - 3, len = strlen(previous);
        memcpy(last_message + used, ": ", 2);
        memcpy(last_message + used + 2, previous, len < room ? len : room);
        last_message[used + 2 + (len < room ? len : room)] = '\0';
    }
    return status;
}
