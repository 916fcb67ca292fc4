/* Vector operations for CVODES's serial vectors, compiled with pathflow's own
 * flags.
 *
 * Debian 12's SUNDIALS 6.4.1 ships its serial N_Vector compiled without
 * optimisation: the disassembly of N_VWSqrSumLocal_Serial keeps the loop index
 * and the sum on the stack and reloads both on every element. On the bench's
 * CNF cases those loops took 40–50 % of a gradient step (perf, cpu-clock),
 * more than the vector field itself. The operations below replace the ones a
 * CVODES solve calls on our vectors: SUNDIALS copies a vector's table of
 * operations into every clone, so installing them on the template vectors of
 * ode/cvodes_solve.c reaches every vector the solver makes.
 *
 * Element-wise operations compute exactly what SUNDIALS's do, with the same
 * special cases (a·x + y, x − y, c·(x + y), ...) and, in the fused
 * operations, the same order of the terms of each element, so their results
 * are the same bit for bit (this file is compiled with -ffp-contract=off: no
 * multiply-add is fused). The weighted RMS norm sums over eight partial sums,
 * so that it vectorises, and the dot product is BLAS's ddot;
 * they may differ from the sequential sums in the last bits, which moves an
 * error estimate by as little as it changes a step-size choice. */
#include "ode/nvector_fast.h"

#include "core/linalg.h"

#include <math.h>
#include <string.h>

#include <nvector/nvector_serial.h>

#define DATA(v) NV_DATA_S((v)) /* SUNDIALS's macros do not parenthesise v */
#define LEN(v) ((size_t)NV_LENGTH_S((v)))

/* y += a·x with SUNDIALS's special cases a = ±1. */
static void axpy(double a, N_Vector x, N_Vector y)
{
    const double *xd = DATA(x);
    double *yd = DATA(y);
    const size_t n = LEN(x);
    if (a == 1.0)
        for (size_t i = 0; i < n; i++)
            yd[i] += xd[i];
    else if (a == -1.0)
        for (size_t i = 0; i < n; i++)
            yd[i] -= xd[i];
    else
        for (size_t i = 0; i < n; i++)
            yd[i] += a * xd[i];
}

/* z = a·x + b·y, dispatched as N_VLinearSum_Serial dispatches. */
static void linear_sum(double a, N_Vector x, double b, N_Vector y, N_Vector z)
{
    if (b == 1.0 && z == y) {
        axpy(a, x, y);
        return;
    }
    if (a == 1.0 && z == x) {
        axpy(b, y, x);
        return;
    }
    const size_t n = LEN(x);
    double *zd = DATA(z);
    if (a == 1.0 && b == 1.0) {
        const double *xd = DATA(x), *yd = DATA(y);
        for (size_t i = 0; i < n; i++)
            zd[i] = xd[i] + yd[i];
        return;
    }
    int first = a == 1.0 && b == -1.0;
    if (first || (a == -1.0 && b == 1.0)) { /* z = v2 − v1 */
        const double *v1 = DATA(first ? y : x), *v2 = DATA(first ? x : y);
        for (size_t i = 0; i < n; i++)
            zd[i] = v2[i] - v1[i];
        return;
    }
    first = a == 1.0;
    if (first || b == 1.0) { /* z = c·v1 + v2 */
        const double c = first ? b : a;
        const double *v1 = DATA(first ? y : x), *v2 = DATA(first ? x : y);
        for (size_t i = 0; i < n; i++)
            zd[i] = c * v1[i] + v2[i];
        return;
    }
    first = a == -1.0;
    if (first || b == -1.0) { /* z = c·v1 − v2 */
        const double c = first ? b : a;
        const double *v1 = DATA(first ? y : x), *v2 = DATA(first ? x : y);
        for (size_t i = 0; i < n; i++)
            zd[i] = c * v1[i] - v2[i];
        return;
    }
    const double *xd = DATA(x), *yd = DATA(y);
    if (a == b) {
        for (size_t i = 0; i < n; i++)
            zd[i] = a * (xd[i] + yd[i]);
        return;
    }
    if (a == -b) {
        for (size_t i = 0; i < n; i++)
            zd[i] = a * (xd[i] - yd[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        zd[i] = a * xd[i] + b * yd[i];
}

static void set_const(double c, N_Vector z)
{
    double *zd = DATA(z);
    const size_t n = LEN(z);
    for (size_t i = 0; i < n; i++)
        zd[i] = c;
}

static void prod(N_Vector x, N_Vector y, N_Vector z)
{
    const double *xd = DATA(x), *yd = DATA(y);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    for (size_t i = 0; i < n; i++)
        zd[i] = xd[i] * yd[i];
}

static void divide(N_Vector x, N_Vector y, N_Vector z)
{
    const double *xd = DATA(x), *yd = DATA(y);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    for (size_t i = 0; i < n; i++)
        zd[i] = xd[i] / yd[i];
}

/* z = c·x with SUNDIALS's special cases (in place, c = ±1). */
static void scale(double c, N_Vector x, N_Vector z)
{
    const double *xd = DATA(x);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    if (z == x) {
        for (size_t i = 0; i < n; i++)
            zd[i] *= c;
    } else if (c == 1.0) {
        memcpy(zd, xd, n * sizeof *zd);
    } else if (c == -1.0) {
        for (size_t i = 0; i < n; i++)
            zd[i] = -xd[i];
    } else {
        for (size_t i = 0; i < n; i++)
            zd[i] = c * xd[i];
    }
}

static void absolute(N_Vector x, N_Vector z)
{
    const double *xd = DATA(x);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    for (size_t i = 0; i < n; i++)
        zd[i] = fabs(xd[i]);
}

static void inverse(N_Vector x, N_Vector z)
{
    const double *xd = DATA(x);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    for (size_t i = 0; i < n; i++)
        zd[i] = 1.0 / xd[i];
}

static void add_const(N_Vector x, double b, N_Vector z)
{
    const double *xd = DATA(x);
    double *zd = DATA(z);
    const size_t n = LEN(x);
    for (size_t i = 0; i < n; i++)
        zd[i] = xd[i] + b;
}

enum { LANES = 8 };

static double dot_prod(N_Vector x, N_Vector y) { return pf_dot((int)LEN(x), DATA(x), DATA(y)); }

/* Σ (x·w)² over eight partial sums. */
static double wsqr_sum(N_Vector x, N_Vector w)
{
    const double *xd = DATA(x), *wd = DATA(w);
    const size_t n = LEN(x);
    double s[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const double p = xd[i + k] * wd[i + k];
            s[k] += p * p;
        }
    for (int k = 0; i < n; i++, k++) {
        const double p = xd[i] * wd[i];
        s[k] += p * p;
    }
    double sum = 0;
    for (int k = 0; k < LANES; k++)
        sum += s[k];
    return sum;
}

static double wrms_norm(N_Vector x, N_Vector w) { return sqrt(wsqr_sum(x, w) / (double)LEN(x)); }

/* max |x|; a NaN is skipped, as SUNDIALS's comparison skips it. */
static double max_norm(N_Vector x)
{
    const double *xd = DATA(x);
    const size_t n = LEN(x);
    double m[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            const double a = fabs(xd[i + k]);
            m[k] = a > m[k] ? a : m[k];
        }
    for (int k = 0; i < n; i++, k++) {
        const double a = fabs(xd[i]);
        m[k] = a > m[k] ? a : m[k];
    }
    double max = 0;
    for (int k = 0; k < LANES; k++)
        max = m[k] > max ? m[k] : max;
    return max;
}

/* z = Σᵢ cᵢ Xᵢ (N_VLinearCombination_Serial): the same terms in the same
 * order for every element, but in blocks of elements that stay in the L1
 * cache while every Xᵢ is added, instead of one pass over z per vector. */
enum { BLOCK = 512 };

static int linear_combination(int nvec, double *c, N_Vector *X, N_Vector z)
{
    if (nvec < 1)
        return -1;
    if (nvec == 1) {
        scale(c[0], X[0], z);
        return 0;
    }
    if (nvec == 2) {
        linear_sum(c[0], X[0], c[1], X[1], z);
        return 0;
    }
    double *zd = DATA(z);
    const size_t n = LEN(z);
    const int in_place = X[0] == z, unit = in_place && c[0] == 1.0;
    const double *x0 = DATA(X[0]);
    for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
        const size_t j1 = j0 + BLOCK < n ? j0 + BLOCK : n;
        if (!unit) {
            if (in_place)
                for (size_t j = j0; j < j1; j++)
                    zd[j] *= c[0];
            else
                for (size_t j = j0; j < j1; j++)
                    zd[j] = c[0] * x0[j];
        }
        for (int i = 1; i < nvec; i++) {
            const double ci = c[i], *xd = DATA(X[i]);
            for (size_t j = j0; j < j1; j++)
                zd[j] += ci * xd[j];
        }
    }
    return 0;
}

/* Zᵢ = aᵢ x + Yᵢ (N_VScaleAddMulti_Serial). */
static int scale_add_multi(int nvec, double *a, N_Vector x, N_Vector *Y, N_Vector *Z)
{
    if (nvec < 1)
        return -1;
    if (nvec == 1) {
        linear_sum(a[0], x, 1.0, Y[0], Z[0]);
        return 0;
    }
    const double *xd = DATA(x);
    const size_t n = LEN(x);
    for (int i = 0; i < nvec; i++) {
        const double ai = a[i];
        double *yd = DATA(Y[i]);
        if (Y == Z) {
            for (size_t j = 0; j < n; j++)
                yd[j] += ai * xd[j];
        } else {
            double *zd = DATA(Z[i]);
            for (size_t j = 0; j < n; j++)
                zd[j] = ai * xd[j] + yd[j];
        }
    }
    return 0;
}

static int linear_sum_array(int nvec, double a, N_Vector *X, double b, N_Vector *Y, N_Vector *Z)
{
    if (nvec < 1)
        return -1;
    for (int i = 0; i < nvec; i++)
        linear_sum(a, X[i], b, Y[i], Z[i]);
    return 0;
}

static int scale_array(int nvec, double *c, N_Vector *X, N_Vector *Z)
{
    if (nvec < 1)
        return -1;
    for (int i = 0; i < nvec; i++)
        scale(c[i], X[i], Z[i]);
    return 0;
}

static int const_array(int nvec, double c, N_Vector *Z)
{
    if (nvec < 1)
        return -1;
    for (int i = 0; i < nvec; i++)
        set_const(c, Z[i]);
    return 0;
}

static int wrms_norm_array(int nvec, N_Vector *X, N_Vector *W, double *norms)
{
    if (nvec < 1)
        return -1;
    for (int i = 0; i < nvec; i++)
        norms[i] = wrms_norm(X[i], W[i]);
    return 0;
}

void pf_nvector_install_fast_ops(N_Vector v)
{
    N_Vector_Ops o = v->ops;
    o->nvlinearsum = linear_sum;
    o->nvconst = set_const;
    o->nvprod = prod;
    o->nvdiv = divide;
    o->nvscale = scale;
    o->nvabs = absolute;
    o->nvinv = inverse;
    o->nvaddconst = add_const;
    o->nvdotprod = dot_prod;
    o->nvdotprodlocal = dot_prod;
    o->nvmaxnorm = max_norm;
    o->nvmaxnormlocal = max_norm;
    o->nvwrmsnorm = wrms_norm;
    o->nvwsqrsumlocal = wsqr_sum;
    o->nvlinearcombination = linear_combination;
    o->nvscaleaddmulti = scale_add_multi;
    o->nvlinearsumvectorarray = linear_sum_array;
    o->nvscalevectorarray = scale_array;
    o->nvconstvectorarray = const_array;
    o->nvwrmsnormvectorarray = wrms_norm_array;
}
