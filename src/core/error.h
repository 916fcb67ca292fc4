/* Internal: setting the thread-local error message. */
#ifndef PF_CORE_ERROR_H
#define PF_CORE_ERROR_H

#include <pathflow/pathflow.h>

#if defined(__GNUC__)
#define PF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PF_PRINTF(a, b)
#endif

/* Records a message (printf-style) for pf_last_error() and returns `status`,
 * so that failures read `return pf_fail(PF_ERR_ARG, "phi4: L0 = %d < 2", L0);`. */
pf_status pf_fail(pf_status status, const char *fmt, ...) PF_PRINTF(2, 3);

/* Prefixes the current message with context: "while loading x.npy: <old>". */
pf_status pf_fail_context(pf_status status, const char *fmt, ...) PF_PRINTF(2, 3);

/* Propagate a failure: PF_TRY(call) returns the status of `call` if negative. */
#define PF_TRY(call)                   \
    do {                               \
        pf_status pf_try_s_ = (call);  \
        if (pf_try_s_ != PF_OK)        \
            return pf_try_s_;          \
    } while (0)

#endif
