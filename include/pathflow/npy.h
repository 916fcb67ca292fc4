/* NumPy .npy files: the arrays pathflow writes (samples, log weights, a
 * flow's parameters) and reads (training data), for embedders too.
 *
 * Written: format version 1.0, little-endian float64 ('<f8'), C order, the
 * header padded so that the data start at a multiple of 64 bytes — the same
 * bytes numpy.save writes for a float64 array; the file is written to a
 * temporary name and renamed, so readers never see half a file.
 * Read: format versions 1.0, 2.0 and 3.0 of float64 C-order arrays; other
 * dtypes, Fortran order and truncated data are refused with a message (see
 * pf_last_error) naming the file and the header field. */
#ifndef PATHFLOW_NPY_H
#define PATHFLOW_NPY_H

#include <stddef.h>

#include <pathflow/pathflow.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PF_NPY_MAX_DIMS 8

/* Writes data (shape[0]·…·shape[ndim−1] doubles, C order) as an array of the
 * given shape, 0 ≤ ndim ≤ PF_NPY_MAX_DIMS (0: a scalar). PF_ERR_ARG for
 * another ndim, PF_ERR_IO if the file cannot be written. */
pf_status pf_npy_write(const char *path, int ndim, const size_t *shape, const double *data);

/* Reads a float64 C-order array: shape[0..*ndim−1] filled, *data malloc'ed
 * (release with free(), also NULL on failure). PF_ERR_IO if the file cannot
 * be read, PF_ERR_FORMAT if it is not such an array. */
pf_status pf_npy_read(const char *path, int *ndim, size_t shape[PF_NPY_MAX_DIMS],
                      double **data);

#ifdef __cplusplus
}
#endif

#endif
