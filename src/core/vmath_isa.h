/* Internal to vmath*.c: the kernels of each instruction set. vmath_avx2.c and
 * vmath_avx512.c are compiled with -mavx2 -mfma, resp. -mavx512f, and only
 * ever called after the CPU was checked (vmath.c). PATHFLOW_SIMD_X86 is set by
 * the build when it compiles them (x86-64 with a compiler that takes the flags). */
#ifndef PF_CORE_VMATH_ISA_H
#define PF_CORE_VMATH_ISA_H

#include <stddef.h>
#include <string.h>

#if defined(PATHFLOW_SIMD_X86)
void pf_vtanh_avx2(size_t n, const double *x, double *y);
void pf_vexp_avx2(size_t n, const double *x, double *y);
void pf_vlog1p_avx2(size_t n, const double *x, double *y);
void pf_vtanh_avx512(size_t n, const double *x, double *y);
void pf_vexp_avx512(size_t n, const double *x, double *y);
void pf_vlog1p_avx512(size_t n, const double *x, double *y);
void pf_vsincos_avx2(size_t n, const double *x, double *s, double *c);
void pf_vsincos_avx512(size_t n, const double *x, double *s, double *c);
#endif

/* y = fn(x) over n doubles, `width` at a time; the last n mod width values go
 * through the same vector function, padded with zeros, so every element gets
 * the same accuracy. */
#define PF_VMATH_MAP(name, width, load, store, fn)                                                 \
    void name(size_t n, const double *x, double *y)                                                \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + (width) <= n; i += (width))                                                     \
            store(y + i, fn(load(x + i)));                                                         \
        if (i < n) {                                                                               \
            double pad[width] = {0};                                                               \
            memcpy(pad, x + i, (n - i) * sizeof *pad);                                             \
            store(pad, fn(load(pad)));                                                             \
            memcpy(y + i, pad, (n - i) * sizeof *pad);                                             \
        }                                                                                          \
    }

/* s = sin x, c = cos x over n doubles, `width` at a time, the tail padded
 * as in PF_VMATH_MAP; fn returns a pair of vectors (.x: sin, .y: cos). */
#define PF_VMATH_SINCOS(name, width, vtype, load, store, fn)                                      \
    void name(size_t n, const double *x, double *s, double *c)                                     \
    {                                                                                              \
        size_t i = 0;                                                                              \
        for (; i + (width) <= n; i += (width)) {                                                   \
            const vtype r = fn(load(x + i));                                                       \
            store(s + i, r.x);                                                                     \
            store(c + i, r.y);                                                                     \
        }                                                                                          \
        if (i < n) {                                                                               \
            double pad[width] = {0}, pc[width];                                                    \
            memcpy(pad, x + i, (n - i) * sizeof *pad);                                             \
            const vtype r = fn(load(pad));                                                         \
            store(pad, r.x);                                                                       \
            store(pc, r.y);                                                                        \
            memcpy(s + i, pad, (n - i) * sizeof *pad);                                             \
            memcpy(c + i, pc, (n - i) * sizeof *pc);                                               \
        }                                                                                          \
    }

#endif
