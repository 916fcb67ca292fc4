/* Internal: NumPy .npy files (format 1.0/2.0/3.0 read, 1.0 written;
 * little-endian float64, C order only). */
#ifndef PF_CORE_NPY_H
#define PF_CORE_NPY_H

#include <stddef.h>
#include <pathflow/pathflow.h>

#define PF_NPY_MAX_DIMS 8

/* Writes data (prod(shape) doubles) with the given shape; atomically (a
 * temporary file renamed over `path`). */
pf_status pf_npy_write(const char *path, int ndim, const size_t *shape, const double *data);

/* Reads a float64 C-order array. On success *data is malloc'ed (free with
 * free()), shape[0..*ndim-1] filled. Errors name the path and the field. */
pf_status pf_npy_read(const char *path, int *ndim, size_t shape[PF_NPY_MAX_DIMS],
                      double **data);

#endif
