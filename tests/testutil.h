/* Shared helpers for the test suites: random inputs, error measures and
 * central finite differences. */
#ifndef PF_TESTUTIL_H
#define PF_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* x[i] = scale · N(0,1), reproducible from seed (Philox stream (seed, 999)). */
void pft_fill_normal(uint64_t seed, size_t n, double *x, double scale);
/* x[i] uniform in (lo, hi). */
void pft_fill_uniform(uint64_t seed, size_t n, double *x, double lo, double hi);

/* ‖a − b‖₂ / max(‖a‖₂, ‖b‖₂, floor): one number for a whole array. */
double pft_rel_err(size_t n, const double *a, const double *b, double floor);
/* max_i |a_i − b_i| / max(|a_i|, |b_i|, floor): the worst element. */
double pft_max_rel_err(size_t n, const double *a, const double *b, double floor);
double pft_max_abs(size_t n, const double *a);

/* A scalar function of a vector for finite differences. */
typedef double (*pft_scalar_fn)(void *ctx, const double *x);

/* Central fourth-order differences:
 * g_i = (f(x−2h e_i) − 8 f(x−h e_i) + 8 f(x+h e_i) − f(x+2h e_i)) / (12h).
 * x is restored on return. */
void pft_fd_gradient(pft_scalar_fn f, void *ctx, size_t n, double *x, double h, double *grad);

/* A vector function y = F(x) (m outputs) for finite-difference Jacobians. */
typedef void (*pft_vector_fn)(void *ctx, const double *x, double *y);
/* J (m×n row-major), J[i][j] = ∂y_i/∂x_j by the same fourth-order stencil.
 * scratch: 4·m doubles. */
void pft_fd_jacobian(pft_vector_fn f, void *ctx, size_t m, size_t n, double *x, double h,
                     double *J, double *scratch);

/* Runs a shell command; out gets (at most size − 1 bytes of) its standard
 * output. Returns its exit status, −1 if it did not exit normally. */
int pft_shell(const char *command, char *out, size_t size);

#endif
