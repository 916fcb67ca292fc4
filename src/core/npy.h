/* Internal: NumPy .npy files; the functions are public, declared and
 * documented in include/pathflow/npy.h. */
#ifndef PF_CORE_NPY_H
#define PF_CORE_NPY_H

#include <pathflow/npy.h>

#endif
