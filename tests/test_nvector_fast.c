/* Tests for ode/nvector_fast.c: every replaced operation against SUNDIALS's
 * own serial implementation on the same data, for every special case of the
 * coefficients and every aliasing of the operands. Element-wise results must
 * be equal bit for bit; the reductions (eight partial sums) within 1e-14. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>

#include "ode/nvector_fast.h"
#include "testutil.h"

enum { NV = 6 };
static const long LENGTHS[] = {1, 7, 8, 9, 513, 1537};
static const double COEF[] = {1.0, -1.0, 0.0, 2.5, -2.5, 0.3};
enum { NCOEF = sizeof COEF / sizeof *COEF };

/* Two sets of NV vectors with equal contents: `ref` keeps SUNDIALS's
 * operations, `fast` has ours. */
typedef struct pair {
    SUNContext ctx;
    long n;
    N_Vector ref[NV], fast[NV];
} pair;

static void make_pair(pair *p, long n, uint64_t seed)
{
    cr_assert_eq(SUNContext_Create(NULL, &p->ctx), 0);
    p->n = n;
    N_Vector tmpl = N_VNew_Serial(n, p->ctx);
    pf_nvector_install_fast_ops(tmpl);
    for (int i = 0; i < NV; i++) {
        p->ref[i] = N_VNew_Serial(n, p->ctx);
        p->fast[i] = N_VClone(tmpl); /* a clone carries the installed operations */
        pft_fill_normal(seed + i, (size_t)n, N_VGetArrayPointer(p->ref[i]), 1.0);
        if (i == 2) /* some exact zeros and negatives for abs, inv, max */
            N_VGetArrayPointer(p->ref[i])[0] = 0.0;
        memcpy(N_VGetArrayPointer(p->fast[i]), N_VGetArrayPointer(p->ref[i]),
               (size_t)n * sizeof(double));
    }
    N_VDestroy(tmpl);
}

static void free_pair(pair *p)
{
    for (int i = 0; i < NV; i++) {
        N_VDestroy(p->ref[i]);
        N_VDestroy(p->fast[i]);
    }
    SUNContext_Free(&p->ctx);
}

/* Every vector of both sets equal bit for bit (NaN patterns included). */
static void assert_same(const pair *p, const char *what, double a, double b)
{
    for (int i = 0; i < NV; i++)
        cr_assert_eq(memcmp(N_VGetArrayPointer(p->ref[i]), N_VGetArrayPointer(p->fast[i]),
                            (size_t)p->n * sizeof(double)),
                     0, "%s (a = %g, b = %g, n = %ld): vector %d differs", what, a, b, p->n, i);
}

Test(nvector_fast, the_operations_are_installed_and_cloned)
{
    pair p;
    make_pair(&p, 4, 1);
    cr_assert_neq(p.fast[0]->ops->nvlinearsum, p.ref[0]->ops->nvlinearsum);
    cr_assert_neq(p.fast[0]->ops->nvwrmsnorm, p.ref[0]->ops->nvwrmsnorm);
    N_Vector c = N_VClone(p.fast[1]);
    cr_assert_eq(c->ops->nvlinearcombination, p.fast[0]->ops->nvlinearcombination);
    N_VDestroy(c);
    free_pair(&p);
}

/* z = a x + b y with z distinct, z = x and z = y, for every pair of
 * coefficients (all of SUNDIALS's special cases). */
Test(nvector_fast, linear_sum_equals_sundials_in_every_case)
{
    for (size_t L = 0; L < sizeof LENGTHS / sizeof *LENGTHS; L++)
        for (int ia = 0; ia < NCOEF; ia++)
            for (int ib = 0; ib < NCOEF; ib++)
                for (int alias = 0; alias < 3; alias++) {
                    pair p;
                    make_pair(&p, LENGTHS[L], 10 + L);
                    const int zi = alias == 0 ? 2 : alias == 1 ? 0 : 1;
                    const double a = COEF[ia], b = COEF[ib];
                    N_VLinearSum_Serial(a, p.ref[0], b, p.ref[1], p.ref[zi]);
                    N_VLinearSum(a, p.fast[0], b, p.fast[1], p.fast[zi]);
                    assert_same(&p, "linear sum", a, b);
                    free_pair(&p);
                }
}

Test(nvector_fast, element_wise_operations_equal_sundials)
{
    for (size_t L = 0; L < sizeof LENGTHS / sizeof *LENGTHS; L++)
        for (int ic = 0; ic < NCOEF; ic++)
            for (int alias = 0; alias < 2; alias++) {
                pair p;
                make_pair(&p, LENGTHS[L], 20 + L);
                const double c = COEF[ic];
                const int z = alias ? 0 : 3; /* in place, or into another vector */
                N_VScale_Serial(c, p.ref[0], p.ref[z]);
                N_VScale(c, p.fast[0], p.fast[z]);
                assert_same(&p, "scale", c, 0);
                N_VAddConst_Serial(p.ref[1], c, p.ref[alias ? 1 : 4]);
                N_VAddConst(p.fast[1], c, p.fast[alias ? 1 : 4]);
                assert_same(&p, "add const", c, 0);
                N_VProd_Serial(p.ref[1], p.ref[2], p.ref[alias ? 1 : 5]);
                N_VProd(p.fast[1], p.fast[2], p.fast[alias ? 1 : 5]);
                assert_same(&p, "prod", c, 0);
                N_VDiv_Serial(p.ref[3], p.ref[4], p.ref[alias ? 3 : 5]);
                N_VDiv(p.fast[3], p.fast[4], p.fast[alias ? 3 : 5]);
                assert_same(&p, "div", c, 0);
                N_VAbs_Serial(p.ref[2], p.ref[alias ? 2 : 4]);
                N_VAbs(p.fast[2], p.fast[alias ? 2 : 4]);
                assert_same(&p, "abs", c, 0);
                N_VInv_Serial(p.ref[2], p.ref[alias ? 2 : 5]); /* with a zero: inf */
                N_VInv(p.fast[2], p.fast[alias ? 2 : 5]);
                assert_same(&p, "inv", c, 0);
                N_VConst_Serial(c, p.ref[4]);
                N_VConst(c, p.fast[4]);
                assert_same(&p, "const", c, 0);
                free_pair(&p);
            }
}

/* The fused and vector-array operations with 1 to 5 vectors, z among the
 * operands or not, and the in-place forms. */
Test(nvector_fast, fused_operations_equal_sundials)
{
    for (size_t L = 0; L < sizeof LENGTHS / sizeof *LENGTHS; L++)
        for (int nvec = 1; nvec <= 3; nvec++)
            for (int ic = 0; ic < NCOEF; ic++)
                for (int form = 0; form < 3; form++) {
                    pair p;
                    make_pair(&p, LENGTHS[L], 30 + L);
                    double c[3] = {COEF[ic], 0.7, -1.3};
                    if (form == 2)
                        c[0] = 1.0;
                    /* form 0: z apart; 1: z = X[0]; 2: z = X[0] with c[0] = 1 */
                    N_Vector Xr[3] = {p.ref[form ? 5 : 0], p.ref[1], p.ref[2]};
                    N_Vector Xf[3] = {p.fast[form ? 5 : 0], p.fast[1], p.fast[2]};
                    cr_assert_eq(N_VLinearCombination_Serial(nvec, c, Xr, p.ref[5]), 0);
                    cr_assert_eq(N_VLinearCombination(nvec, c, Xf, p.fast[5]), 0);
                    assert_same(&p, "linear combination", c[0], nvec);
                    N_Vector Yr[3] = {p.ref[1], p.ref[2], p.ref[3]};
                    N_Vector Yf[3] = {p.fast[1], p.fast[2], p.fast[3]};
                    N_Vector Zr[3] = {p.ref[4], p.ref[5], p.ref[2]};
                    N_Vector Zf[3] = {p.fast[4], p.fast[5], p.fast[2]};
                    cr_assert_eq(N_VScaleAddMulti_Serial(nvec, c, p.ref[0], Yr, form ? Yr : Zr), 0);
                    cr_assert_eq(N_VScaleAddMulti(nvec, c, p.fast[0], Yf, form ? Yf : Zf), 0);
                    assert_same(&p, "scale add multi", c[0], nvec);
                    cr_assert_eq(N_VScaleVectorArray_Serial(nvec, c, Yr, form ? Yr : Zr), 0);
                    cr_assert_eq(N_VScaleVectorArray(nvec, c, Yf, form ? Yf : Zf), 0);
                    assert_same(&p, "scale vector array", c[0], nvec);
                    cr_assert_eq(N_VLinearSumVectorArray_Serial(nvec, c[0], Yr, c[1], Zr,
                                                                form ? Zr : Yr), 0);
                    cr_assert_eq(N_VLinearSumVectorArray(nvec, c[0], Yf, c[1], Zf, form ? Zf : Yf),
                                 0);
                    assert_same(&p, "linear sum vector array", c[0], nvec);
                    cr_assert_eq(N_VConstVectorArray_Serial(nvec, c[1], Zr), 0);
                    cr_assert_eq(N_VConstVectorArray(nvec, c[1], Zf), 0);
                    assert_same(&p, "const vector array", c[1], nvec);
                    free_pair(&p);
                }
}

Test(nvector_fast, reductions_agree_with_sundials)
{
    for (size_t L = 0; L < sizeof LENGTHS / sizeof *LENGTHS; L++) {
        pair p;
        make_pair(&p, LENGTHS[L], 40 + L);
        const double tol = 1e-14;
        double r = N_VWrmsNorm_Serial(p.ref[0], p.ref[1]), f = N_VWrmsNorm(p.fast[0], p.fast[1]);
        cr_assert_leq(fabs(r - f), tol * r, "wrms norm n = %ld: %.17g vs %.17g", p.n, r, f);
        r = N_VWSqrSumLocal_Serial(p.ref[0], p.ref[1]);
        f = N_VWSqrSumLocal(p.fast[0], p.fast[1]);
        cr_assert_leq(fabs(r - f), tol * r, "wsqr sum n = %ld", p.n);
        r = N_VDotProd_Serial(p.ref[0], p.ref[1]);
        f = N_VDotProd(p.fast[0], p.fast[1]);
        double scale = sqrt(N_VDotProd_Serial(p.ref[0], p.ref[0]) *
                            N_VDotProd_Serial(p.ref[1], p.ref[1]));
        cr_assert_leq(fabs(r - f), tol * scale, "dot n = %ld: %.17g vs %.17g", p.n, r, f);
        /* the maximum is exact, and a NaN is skipped as SUNDIALS skips it */
        N_VGetArrayPointer(p.ref[2])[p.n - 1] = NAN;
        N_VGetArrayPointer(p.fast[2])[p.n - 1] = NAN;
        cr_assert_eq(N_VMaxNorm_Serial(p.ref[2]), N_VMaxNorm(p.fast[2]), "max norm n = %ld", p.n);
        double nr[2], nf[2];
        N_Vector Xr[2] = {p.ref[0], p.ref[3]}, Wr[2] = {p.ref[1], p.ref[4]};
        N_Vector Xf[2] = {p.fast[0], p.fast[3]}, Wf[2] = {p.fast[1], p.fast[4]};
        cr_assert_eq(N_VWrmsNormVectorArray_Serial(2, Xr, Wr, nr), 0);
        cr_assert_eq(N_VWrmsNormVectorArray(2, Xf, Wf, nf), 0);
        for (int k = 0; k < 2; k++)
            cr_assert_leq(fabs(nr[k] - nf[k]), tol * nr[k], "wrms norm array n = %ld", p.n);
        free_pair(&p);
    }
}
