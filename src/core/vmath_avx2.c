/* The AVX2 + FMA kernels: SLEEF's 4-wide u10 functions (1.0 ulp). */
#include "core/vmath_isa.h"

#if defined(PATHFLOW_SIMD_X86) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <sleef.h>

PF_VMATH_MAP(pf_vtanh_avx2, 4, _mm256_loadu_pd, _mm256_storeu_pd, Sleef_tanhd4_u35avx2)
PF_VMATH_MAP(pf_vexp_avx2, 4, _mm256_loadu_pd, _mm256_storeu_pd, Sleef_expd4_u10avx2)
PF_VMATH_MAP(pf_vlog1p_avx2, 4, _mm256_loadu_pd, _mm256_storeu_pd, Sleef_log1pd4_u10avx2)
PF_VMATH_SINCOS(pf_vsincos_avx2, 4, Sleef___m256d_2, _mm256_loadu_pd, _mm256_storeu_pd,
                Sleef_sincosd4_u10avx2)
#elif defined(PATHFLOW_SIMD_X86)
#error "vmath_avx2.c must be compiled with -mavx2 -mfma"
#else
typedef int pf_vmath_avx2_unused; /* not x86-64: nothing to compile */
#endif
