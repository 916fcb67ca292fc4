/* Internal: faster implementations of the serial N_Vector operations that a
 * CVODES solve calls (ode/nvector_fast.c says why and what changes). */
#ifndef PF_ODE_NVECTOR_FAST_H
#define PF_ODE_NVECTOR_FAST_H

#include <sundials/sundials_nvector.h>

/* Replaces the operations of serial vector v (and so of its later clones). */
void pf_nvector_install_fast_ops(N_Vector v);

#endif
