/* pathflow — normalizing flows trained with fast path-gradient estimators.
 *
 * Umbrella header: version, status codes and error messages. Every fallible
 * function in pathflow returns a pf_status (PF_OK = 0, failures negative) and
 * leaves a message for pf_last_error() that names the input at fault. */
#ifndef PATHFLOW_PATHFLOW_H
#define PATHFLOW_PATHFLOW_H

#ifdef __cplusplus
extern "C" {
#endif

#define PATHFLOW_VERSION_MAJOR 0
#define PATHFLOW_VERSION_MINOR 1
#define PATHFLOW_VERSION_PATCH 0

typedef enum pf_status {
    PF_OK = 0,
    PF_ERR_ARG = -1,         /* an argument is invalid (shape, range, NULL) */
    PF_ERR_NOMEM = -2,       /* an allocation failed */
    PF_ERR_IO = -3,          /* a file could not be opened, read or written */
    PF_ERR_FORMAT = -4,      /* a file is malformed (header, shape, checksum) */
    PF_ERR_CONFIG = -5,      /* a configuration key is unknown, mistyped or out of range */
    PF_ERR_NUMERIC = -6,     /* a non-finite value or a failed factorisation */
    PF_ERR_SOLVER = -7,      /* the ODE solver (CVODES) failed */
    PF_ERR_CALLBACK = -8,    /* a user-supplied callback reported failure */
    PF_ERR_UNSUPPORTED = -9, /* the operation is not offered by this object */
    PF_ERR_PARALLEL = -10    /* communication between processes (MPI) failed */
} pf_status;

/* "major.minor.patch" of the library actually linked. */
const char *pf_version(void);

/* A fixed, short description of a status code ("invalid argument", ...). */
const char *pf_strerror(pf_status status);

/* The message of the last failure in this thread ("" if none). It names the
 * input at fault, e.g. "samples.npy: header: expected dtype '<f8', got '<f4'".
 * The pointer stays valid until the next pathflow call in this thread. */
const char *pf_last_error(void);

/* Forget the last message in this thread. */
void pf_clear_error(void);

#ifdef __cplusplus
}
#endif

#include <pathflow/npy.h>
#include <pathflow/rng.h>
#include <pathflow/target.h>

#endif
