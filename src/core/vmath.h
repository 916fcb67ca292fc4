/* Internal: tanh, exp, log1p and sin-cos mapped over arrays with SIMD
 * (SLEEF), the vector width chosen by the CPU at run time.
 *
 * Levels: AVX-512F (8 doubles per call, Sleef_*d8_*avx512f), AVX2 + FMA
 * (4 doubles, Sleef_*d4_*avx2), and a scalar fallback through libm (any
 * CPU, any architecture). The first call picks the widest level this build
 * and the CPU support; pf_simd_use overrides it (tests, benchmarks).
 *
 * Accuracy: exp, log1p and sin-cos are SLEEF's u10 functions, documented to
 * 1.0 ulp. tanh is SLEEF's u35 function, documented to 3.5 ulp: it is faster
 * than the u10 one (4-8 % of a dense RealNVP lattice step, README), and an
 * activation 2 ulp from exact is far below anything training resolves.
 * glibc's tanh, the scalar fallback, is documented to 2 ulp (exp and log1p to
 * 1). tests/test_vmath.c checks every level available on the machine against
 * the long-double libm (tanhl, expl, log1pl, sinl, cosl) at 2·10⁵ points over
 * the whole range, including ±0, subnormals, overflow and underflow, ±inf and
 * NaN, and asserts these bounds (measured: SLEEF tanh 2.24 ulp, exp 0.82,
 * log1p ≤ 1, sin and cos 0.84 up to DBL_MAX; glibc tanh 1.91, sin and cos
 * 0.51). Special values
 * follow C99 Annex F: tanh(±0) = ±0, tanh(±inf) = ±1, exp(−inf) = 0,
 * exp(+inf) = +inf, log1p(−1) = −inf, sin(±0) = ±0, cos(±0) = 1, sin and cos
 * of ±inf NaN, NaN in gives NaN out.
 * pf_vlog1p's domain ends at PF_VMATH_LOG1P_MAX (SLEEF gives +inf beyond it;
 * the activations call it only on [0, 1]).
 *
 * x and y have n doubles each and may be the same array (in place). */
#ifndef PF_CORE_VMATH_H
#define PF_CORE_VMATH_H

#include <stddef.h>

#define PF_VMATH_MAX_ULP 1.01     /* SLEEF's u10 functions, every SIMD level */
#define PF_VMATH_MAX_ULP_TANH 3.5 /* SLEEF's u35 tanh, every SIMD level */
#define PF_VMATH_MAX_ULP_LIBM 2.0 /* the scalar fallback (glibc) */
#define PF_VMATH_LOG1P_MAX 1e307

typedef enum pf_simd { PF_SIMD_SCALAR = 0, PF_SIMD_AVX2, PF_SIMD_AVX512 } pf_simd;

void pf_vtanh(size_t n, const double *x, double *y);
void pf_vexp(size_t n, const double *x, double *y);
void pf_vlog1p(size_t n, const double *x, double *y);
/* s = sin x and c = cos x together (SLEEF sincos u10: 1.0 ulp; glibc's sin
 * and cos in the fallback); s, c and x distinct arrays, or s or c equal to x. */
void pf_vsincos(size_t n, const double *x, double *s, double *c);

/* The widest level this build and this CPU support. */
pf_simd pf_simd_best(void);
/* The level the pf_v* functions use now. */
pf_simd pf_simd_active(void);
/* Use min(want, best) from now on, process-wide; returns the level in use.
 * Not meant to race with pf_v* calls in other threads (they may use either level). */
pf_simd pf_simd_use(pf_simd want);
/* "scalar", "avx2", "avx512"; "(not a SIMD level)" otherwise. */
const char *pf_simd_name(pf_simd level);

#endif
