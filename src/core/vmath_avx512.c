/* The AVX-512F kernels: SLEEF's 8-wide u10 functions (1.0 ulp). */
#include "core/vmath_isa.h"

#if defined(PATHFLOW_SIMD_X86) && defined(__AVX512F__)
#include <immintrin.h>
#include <sleef.h>

PF_VMATH_MAP(pf_vtanh_avx512, 8, _mm512_loadu_pd, _mm512_storeu_pd, Sleef_tanhd8_u35avx512f)
PF_VMATH_MAP(pf_vexp_avx512, 8, _mm512_loadu_pd, _mm512_storeu_pd, Sleef_expd8_u10avx512f)
PF_VMATH_MAP(pf_vlog1p_avx512, 8, _mm512_loadu_pd, _mm512_storeu_pd, Sleef_log1pd8_u10avx512f)
PF_VMATH_SINCOS(pf_vsincos_avx512, 8, Sleef___m512d_2, _mm512_loadu_pd, _mm512_storeu_pd,
                Sleef_sincosd8_u10avx512f)
#elif defined(PATHFLOW_SIMD_X86)
#error "vmath_avx512.c must be compiled with -mavx512f"
#else
typedef int pf_vmath_avx512_unused; /* not x86-64: nothing to compile */
#endif
