/* Tests for src/core/vmath.c: tanh, exp and log1p on arrays, at every SIMD
 * level this machine has, against the long-double libm (tanhl, expl, log1pl)
 * over the whole range — a dense grid where the function varies, log-uniform
 * magnitudes from subnormal to DBL_MAX of both signs (log1p: to its domain's
 * end), overflow and underflow — with the maximum error in ulps asserted
 * (PF_VMATH_MAX_ULP_TANH for SLEEF's tanh, PF_VMATH_MAX_ULP for its other
 * functions, PF_VMATH_MAX_ULP_LIBM for the scalar fallback; measured here:
 * SLEEF 2.24 ulp for tanh, 0.82 for exp, ≤ 1 for log1p; glibc
 * 1.91 for tanh), the special values (±0 with its sign, ±inf, NaN) exactly,
 * and the ragged tails of the vector loops. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "testutil.h"

typedef void (*array_fn)(size_t n, const double *x, double *y);
typedef long double (*exact_fn)(long double x);

typedef struct function {
    const char *name;
    array_fn f;
    exact_fn exact;
    double (*libm)(double);
    double lo, hi;  /* the dense grid; [lo, hi] is where the value varies */
    double log_max;    /* the largest magnitude of the log-uniform points */
    double sleef_ulp;  /* the bound of the SIMD levels */
} function;

static const function FUNCTIONS[] = {
    {"tanh", pf_vtanh, tanhl, tanh, -25, 25, DBL_MAX, PF_VMATH_MAX_ULP_TANH},
    {"exp", pf_vexp, expl, exp, -746, 710, DBL_MAX, PF_VMATH_MAX_ULP},
    {"log1p", pf_vlog1p, log1pl, log1p, -1, 1e3, PF_VMATH_LOG1P_MAX, PF_VMATH_MAX_ULP},
};
#define N_FUNCTIONS (int)(sizeof FUNCTIONS / sizeof FUNCTIONS[0])

#define N_GRID 100003 /* odd: the vector loops end in a ragged tail */
#define N_LOG 100000

/* The error of y in units of the last place of the exact value r (the spacing
 * of doubles at r, at least the smallest subnormal). A result that is not
 * finite must equal the rounded exact value (inf for an overflow). */
static double ulp_error(double y, long double r)
{
    const double rd = (double)r;
    if (isnan(rd))
        return isnan(y) ? 0.0 : INFINITY;
    if (isinf(rd) || isinf(y))
        return y == rd ? 0.0 : INFINITY;
    const double a = fabs(rd), spacing = nextafter(a, INFINITY) - a;
    return (double)(fabsl((long double)y - r) / (spacing > 0 ? spacing : DBL_TRUE_MIN));
}

/* x: the test points of one function, n returned. */
static size_t make_points(const function *fn, double *x)
{
    size_t n = 0;
    for (int i = 0; i < N_GRID; i++)
        x[n++] = fn->lo + (fn->hi - fn->lo) * i / (N_GRID - 1);
    double u[N_LOG];
    pft_fill_uniform(11, N_LOG, u, -1074, log2(fn->log_max)); /* log2 |x| */
    for (int i = 0; i < N_LOG; i++) {
        const double v = fmin(exp2(u[i]), fn->log_max);
        x[n++] = i % 2 ? -v : v;
    }
    return n;
}

Test(vmath, every_level_is_within_the_stated_ulp_bound_of_the_exact_value_over_the_whole_range)
{
    const size_t cap = N_GRID + N_LOG;
    double *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
    cr_assert(x && y);
    const pf_simd saved = pf_simd_active();
    for (int level = PF_SIMD_SCALAR; level <= (int)pf_simd_best(); level++) {
        cr_assert_eq(pf_simd_use((pf_simd)level), (pf_simd)level);
        for (int k = 0; k < N_FUNCTIONS; k++) {
            const function *fn = &FUNCTIONS[k];
            const double bound = level == PF_SIMD_SCALAR ? PF_VMATH_MAX_ULP_LIBM : fn->sleef_ulp;
            const size_t n = make_points(fn, x);
            fn->f(n, x, y);
            double worst = 0, worst_x = 0, vs_libm = 0;
            for (size_t i = 0; i < n; i++) {
                const double e = ulp_error(y[i], fn->exact(x[i]));
                if (e > worst) {
                    worst = e;
                    worst_x = x[i];
                }
                vs_libm = fmax(vs_libm, ulp_error(y[i], fn->libm(x[i])));
            }
            cr_log_info(
                "%s %s: max error %.6f ulp (at %.17g), %.3f ulp from glibc's %s, %zu points",
                pf_simd_name((pf_simd)level), fn->name, worst, worst_x, vs_libm, fn->name, n);
            cr_assert_leq(worst, bound, "%s %s: %.3f ulp at x = %.17g",
                          pf_simd_name((pf_simd)level), fn->name, worst, worst_x);
        }
    }
    pf_simd_use(saved);
    free(x);
    free(y);
}

/* Each special value is placed at every position of a 19-long array, so it
 * passes through the full vectors and the padded tail of every width. */
static void check_special(const function *fn, double x, double expected, const char *level)
{
    for (int pos = 0; pos < 19; pos++) {
        double in[19], out[19];
        for (int i = 0; i < 19; i++)
            in[i] = 0.25;
        in[pos] = x;
        fn->f(19, in, out);
        const int same = isnan(expected)
                             ? isnan(out[pos])
                             : out[pos] == expected && signbit(out[pos]) == signbit(expected);
        cr_assert(same, "%s %s(%g) at position %d = %.17g, expected %.17g", level, fn->name, x, pos,
                  out[pos], expected);
    }
}

Test(vmath, special_values_follow_annex_f_at_every_level_and_position)
{
    const pf_simd saved = pf_simd_active();
    const function *th = &FUNCTIONS[0], *ex = &FUNCTIONS[1], *lp = &FUNCTIONS[2];
    for (int level = PF_SIMD_SCALAR; level <= (int)pf_simd_best(); level++) {
        const char *name = pf_simd_name(pf_simd_use((pf_simd)level));
        check_special(th, 0.0, 0.0, name);
        check_special(th, -0.0, -0.0, name);
        check_special(th, INFINITY, 1.0, name);
        check_special(th, -INFINITY, -1.0, name);
        check_special(th, NAN, NAN, name);
        check_special(th, DBL_TRUE_MIN, DBL_TRUE_MIN, name);
        check_special(th, -DBL_MIN, -DBL_MIN, name);
        check_special(th, 1e-300, 1e-300, name);
        check_special(th, DBL_MAX, 1.0, name);
        check_special(ex, 0.0, 1.0, name);
        check_special(ex, -0.0, 1.0, name);
        check_special(ex, -INFINITY, 0.0, name);
        check_special(ex, INFINITY, INFINITY, name);
        check_special(ex, 710.0, INFINITY, name);
        check_special(ex, -800.0, 0.0, name);
        check_special(ex, NAN, NAN, name);
        check_special(lp, 0.0, 0.0, name);
        check_special(lp, -0.0, -0.0, name);
        check_special(lp, -1.0, -INFINITY, name);
        check_special(lp, -2.0, NAN, name);
        check_special(lp, INFINITY, INFINITY, name);
        check_special(lp, NAN, NAN, name);
        check_special(lp, 1e-300, 1e-300, name);
        check_special(lp, PF_VMATH_LOG1P_MAX, log1p(PF_VMATH_LOG1P_MAX), name);
    }
    pf_simd_use(saved);
}

Test(vmath, tails_and_in_place_calls_give_the_values_of_one_long_call)
{
    enum { N = 37 };
    double x[N], whole[N], part[N];
    pft_fill_uniform(5, N, x, -3, 3);
    const pf_simd saved = pf_simd_active();
    for (int level = PF_SIMD_SCALAR; level <= (int)pf_simd_best(); level++) {
        pf_simd_use((pf_simd)level);
        for (int k = 0; k < N_FUNCTIONS; k++) {
            FUNCTIONS[k].f(N, x, whole);
            for (int len = 1; len <= 9;
                 len++) /* calls of every length up to one AVX-512 vector + 1 */
                for (int i = 0; i < N; i += len)
                    FUNCTIONS[k].f((size_t)(N - i < len ? N - i : len), x + i, part + i);
            cr_assert_eq(memcmp(whole, part, sizeof whole), 0, "%s: tails differ",
                         FUNCTIONS[k].name);
            memcpy(part, x, sizeof part);
            FUNCTIONS[k].f(N, part, part);
            cr_assert_eq(memcmp(whole, part, sizeof whole), 0, "%s: in place differs",
                         FUNCTIONS[k].name);
        }
    }
    pf_simd_use(saved);
}

Test(vmath, levels_are_ordered_named_and_clamped_to_what_the_cpu_has)
{
    const pf_simd best = pf_simd_best(), saved = pf_simd_active();
    cr_assert_eq(pf_simd_use(PF_SIMD_AVX512), best, "asking for the widest gives the best");
    cr_assert_eq(pf_simd_active(), best);
    cr_assert_eq(pf_simd_use(PF_SIMD_SCALAR), PF_SIMD_SCALAR);
    cr_assert_str_eq(pf_simd_name(PF_SIMD_AVX2), "avx2");
    cr_assert_str_eq(pf_simd_name((pf_simd)9), "(not a SIMD level)");
    cr_log_info("this machine: %s", pf_simd_name(best));
    pf_simd_use(saved);
}

/* sin-cos (pf_vsincos): both outputs against sinl and cosl at every level,
 * on a dense grid over [−100, 100] and log-uniform magnitudes from the
 * smallest subnormal to DBL_MAX of both signs (the argument reduction of
 * huge arguments included); the special values; the tails and in-place
 * calls (s or c on x). */
Test(vmath, sincos_is_within_the_stated_ulp_bound_at_every_level)
{
    const function range = {"sincos", NULL, NULL, NULL, -100, 100, DBL_MAX, PF_VMATH_MAX_ULP};
    const size_t cap = N_GRID + N_LOG;
    double *x = malloc(cap * sizeof *x), *s = malloc(cap * sizeof *s), *c = malloc(cap * sizeof *c);
    cr_assert(x && s && c);
    const size_t n = make_points(&range, x);
    const pf_simd saved = pf_simd_active();
    for (int level = PF_SIMD_SCALAR; level <= (int)pf_simd_best(); level++) {
        const char *name = pf_simd_name(pf_simd_use((pf_simd)level));
        const double bound = level == PF_SIMD_SCALAR ? PF_VMATH_MAX_ULP_LIBM : PF_VMATH_MAX_ULP;
        pf_vsincos(n, x, s, c);
        double worst_s = 0, worst_c = 0, at_s = 0, at_c = 0;
        for (size_t i = 0; i < n; i++) {
            const double es = ulp_error(s[i], sinl(x[i])), ec = ulp_error(c[i], cosl(x[i]));
            if (es > worst_s) {
                worst_s = es;
                at_s = x[i];
            }
            if (ec > worst_c) {
                worst_c = ec;
                at_c = x[i];
            }
        }
        cr_log_info("%s sin: max error %.6f ulp (at %.17g); cos: %.6f ulp (at %.17g); %zu points",
                    name, worst_s, at_s, worst_c, at_c, n);
        cr_assert_leq(worst_s, bound, "%s sin: %.3f ulp at x = %.17g", name, worst_s, at_s);
        cr_assert_leq(worst_c, bound, "%s cos: %.3f ulp at x = %.17g", name, worst_c, at_c);
        /* special values at every position of a 19-long array */
        const double special[5] = {0.0, -0.0, INFINITY, -INFINITY, NAN};
        for (int k = 0; k < 5; k++)
            for (int pos = 0; pos < 19; pos++) {
                double in[19], so[19], co[19];
                for (int i = 0; i < 19; i++)
                    in[i] = 0.25;
                in[pos] = special[k];
                pf_vsincos(19, in, so, co);
                if (isfinite(special[k])) {
                    cr_assert(so[pos] == 0.0 && signbit(so[pos]) == signbit(special[k]),
                              "%s sin(%g) = %g", name, special[k], so[pos]);
                    cr_assert_eq(co[pos], 1.0, "%s cos(%g) = %g", name, special[k], co[pos]);
                } else {
                    cr_assert(isnan(so[pos]) && isnan(co[pos]), "%s sin, cos(%g) = %g, %g", name,
                              special[k], so[pos], co[pos]);
                }
            }
        /* tails and in place */
        enum { M = 37 };
        double y[M], ws[M], wc[M], ps[M], pc[M];
        pft_fill_uniform(5, M, y, -7, 7);
        pf_vsincos(M, y, ws, wc);
        for (int len = 1; len <= 9; len++)
            for (int i = 0; i < M; i += len)
                pf_vsincos((size_t)(M - i < len ? M - i : len), y + i, ps + i, pc + i);
        cr_assert(!memcmp(ws, ps, sizeof ws) && !memcmp(wc, pc, sizeof wc), "%s: tails differ",
                  name);
        memcpy(ps, y, sizeof ps);
        pf_vsincos(M, ps, ps, pc);
        cr_assert(!memcmp(ws, ps, sizeof ws) && !memcmp(wc, pc, sizeof wc), "%s: s on x differs",
                  name);
        memcpy(pc, y, sizeof pc);
        pf_vsincos(M, pc, ps, pc);
        cr_assert(!memcmp(ws, ps, sizeof ws) && !memcmp(wc, pc, sizeof wc), "%s: c on x differs",
                  name);
    }
    pf_simd_use(saved);
    free(x);
    free(s);
    free(c);
}
