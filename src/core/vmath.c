/* Array tanh, exp and log1p: one table of kernels per SIMD level, the level
 * picked from the CPU on first use (vmath.h). */
#include "core/vmath.h"

#include <math.h>
#include <stdatomic.h>

#include "core/vmath_isa.h"

/* ---- the scalar fallback: libm ------------------------------------------- */

static void vtanh_scalar(size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanh(x[i]);
}

static void vexp_scalar(size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = exp(x[i]);
}

static void vlog1p_scalar(size_t n, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = log1p(x[i]);
}

static void vsincos_scalar(size_t n, const double *x, double *s, double *c)
{
    for (size_t i = 0; i < n; i++) {
        const double xi = x[i]; /* s or c may be x */
        s[i] = sin(xi);
        c[i] = cos(xi);
    }
}

/* ---- dispatch ------------------------------------------------------------ */

typedef void (*map_fn)(size_t n, const double *x, double *y);
typedef void (*pair_fn)(size_t n, const double *x, double *s, double *c);
typedef struct kernels {
    map_fn tanh_, exp_, log1p_;
    pair_fn sincos_;
} kernels;

static const kernels KERNELS[] = {
    [PF_SIMD_SCALAR] = {vtanh_scalar, vexp_scalar, vlog1p_scalar, vsincos_scalar},
#if defined(PATHFLOW_SIMD_X86)
    [PF_SIMD_AVX2] = {pf_vtanh_avx2, pf_vexp_avx2, pf_vlog1p_avx2, pf_vsincos_avx2},
    [PF_SIMD_AVX512] = {pf_vtanh_avx512, pf_vexp_avx512, pf_vlog1p_avx512, pf_vsincos_avx512},
#endif
};

pf_simd pf_simd_best(void)
{
#if defined(PATHFLOW_SIMD_X86) && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports also checks that the OS saves the wide registers. */
    if (__builtin_cpu_supports("avx512f"))
        return PF_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return PF_SIMD_AVX2;
#endif
    return PF_SIMD_SCALAR;
}

/* −1 until the first call; then a pf_simd. Relaxed: every thread that races
 * the first call stores the same value. */
static atomic_int active_level = -1;

pf_simd pf_simd_active(void)
{
    int level = atomic_load_explicit(&active_level, memory_order_relaxed);
    if (level < 0) {
        level = (int)pf_simd_best();
        atomic_store_explicit(&active_level, level, memory_order_relaxed);
    }
    return (pf_simd)level;
}

pf_simd pf_simd_use(pf_simd want)
{
    pf_simd best = pf_simd_best(), level = (unsigned)want < (unsigned)best ? want : best;
    atomic_store_explicit(&active_level, (int)level, memory_order_relaxed);
    return level;
}

const char *pf_simd_name(pf_simd level)
{
    switch (level) {
    case PF_SIMD_SCALAR: return "scalar";
    case PF_SIMD_AVX2: return "avx2";
    case PF_SIMD_AVX512: return "avx512";
    }
    return "(not a SIMD level)";
}

void pf_vtanh(size_t n, const double *x, double *y)
{
    KERNELS[pf_simd_active()].tanh_(n, x, y);
}
void pf_vexp(size_t n, const double *x, double *y)
{
    KERNELS[pf_simd_active()].exp_(n, x, y);
}
void pf_vlog1p(size_t n, const double *x, double *y)
{
    KERNELS[pf_simd_active()].log1p_(n, x, y);
}
void pf_vsincos(size_t n, const double *x, double *s, double *c)
{
    KERNELS[pf_simd_active()].sincos_(n, x, s, c);
}
