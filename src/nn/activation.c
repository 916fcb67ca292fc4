/* Element-wise activations on arrays: σ through the vectorised tanh, exp and
 * log1p of core/vmath.h, σ' and σ'' by cheap formulas from σ or e^{−|z|}.
 * Long arrays are processed in blocks of BLOCK values, so that the
 * intermediate arrays stay in L1 and need no allocation. */
#include "nn/activation.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/vmath.h"

#define LEAKY_SLOPE 0.01
#define BLOCK 512

/* The element-wise loops are compiled for AVX-512, AVX2 and plain x86-64,
 * chosen by the CPU at load time; nothing in them is fused (-ffp-contract=off
 * for this file), so every clone gives the bits of the scalar loop. */
#if defined(PATHFLOW_SIMD_X86) && defined(__GNUC__) && !defined(__clang__)
#define PF_ACT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PF_ACT_CLONES
#endif

static const char *const ACTIVATION_NAMES[PF_N_ACTIVATIONS] = {"identity", "tanh", "softplus",
                                                               "relu", "leaky_relu"};

const char *pf_activation_name(pf_activation act)
{
    return (unsigned)act < PF_N_ACTIVATIONS ? ACTIVATION_NAMES[act] : "(not an activation)";
}

pf_status pf_activation_from_name(const char *name, pf_activation *act)
{
    if (!name)
        return pf_fail(PF_ERR_ARG, "activation name is NULL (valid: " PF_VALID_ACTIVATIONS ")");
    for (int i = 0; i < PF_N_ACTIVATIONS; i++)
        if (strcmp(name, ACTIVATION_NAMES[i]) == 0) {
            *act = (pf_activation)i;
            return PF_OK;
        }
    return pf_fail(PF_ERR_ARG, "activation '%s' unknown (valid: " PF_VALID_ACTIVATIONS ")", name);
}

int pf_activation_slope_needs_value(pf_activation act)
{
    return act == PF_ACT_TANH;
}

int pf_activation_has_curvature(pf_activation act)
{
    return act == PF_ACT_TANH || act == PF_ACT_SOFTPLUS;
}

/* ---- softplus: everything from e = e^{−|z|} -------------------------------- */

/* z: m ≤ BLOCK → s = max(z, 0) + log1p(e), ds = logistic(z) = (z ≥ 0 ? 1 : e) / (1 + e),
 * d2s = σ'(1 − σ') = e / (1 + e)²; each output optional. */
static void softplus_block(size_t m, const double *z, double *s, double *ds, double *d2s)
{
    double e[BLOCK];
    for (size_t i = 0; i < m; i++)
        e[i] = -fabs(z[i]);
    pf_vexp(m, e, e);
    if (ds)
        for (size_t i = 0; i < m; i++)
            ds[i] = (z[i] >= 0 ? 1.0 : e[i]) / (1.0 + e[i]);
    if (d2s)
        for (size_t i = 0; i < m; i++)
            d2s[i] = e[i] / ((1.0 + e[i]) * (1.0 + e[i]));
    if (s) { /* last, so that s may be z */
        pf_vlog1p(m, e, e);
        for (size_t i = 0; i < m; i++)
            s[i] = e[i] + (z[i] > 0 ? z[i] : 0.0); /* max(z, 0); NaN stays NaN through e */
    }
}

static void softplus_eval(size_t n, const double *z, double *s, double *ds, double *d2s)
{
    for (size_t i = 0; i < n; i += BLOCK) {
        const size_t m = n - i < BLOCK ? n - i : BLOCK;
        softplus_block(m, z + i, s ? s + i : NULL, ds ? ds + i : NULL, d2s ? d2s + i : NULL);
    }
}

/* ---- the piecewise-linear ones -------------------------------------------- */

/* relu and leaky relu: σ'(0) is taken from the left (0, resp. the slope).
 * Selects without branches, which the compiler vectorises (activation.c is
 * compiled with a vectoriser cost model that allows remainder loops and
 * without FP-exception semantics, -fno-trapping-math, which would forbid
 * if-converting them), so that random signs cost no mispredictions. */
PF_ACT_CLONES static void piecewise_linear(double negative_slope, size_t n, const double *z,
                                           double *s, double *ds)
{
    if (ds)
        for (size_t i = 0; i < n; i++)
            ds[i] = z[i] > 0 ? 1.0 : negative_slope;
    if (s && negative_slope == 0.0) /* last, so that s may be z; relu(−inf) = 0 */
        for (size_t i = 0; i < n; i++)
            s[i] = z[i] > 0 ? z[i] : 0.0;
    else if (s)
        for (size_t i = 0; i < n; i++)
            s[i] = z[i] > 0 ? z[i] : negative_slope * z[i];
}

static void fill(size_t n, double value, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = value;
}

/* tanh: σ' = 1 − σ² */
PF_ACT_CLONES static void tanh_slope(size_t n, const double *s, double *ds)
{
    for (size_t i = 0; i < n; i++)
        ds[i] = 1.0 - s[i] * s[i];
}

/* tanh: σ'' = −2σσ' */
PF_ACT_CLONES static void tanh_curvature(size_t n, const double *s, const double *ds, double *d2s)
{
    for (size_t i = 0; i < n; i++)
        d2s[i] = -2.0 * s[i] * ds[i];
}

PF_ACT_CLONES static void multiply(size_t n, const double *a, const double *b,
                                   double *restrict out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

/* ---- the passes ----------------------------------------------------------- */

void pf_activation_value(pf_activation act, size_t n, const double *z, double *s)
{
    switch (act) {
    case PF_ACT_TANH: pf_vtanh(n, z, s); break;
    case PF_ACT_SOFTPLUS: softplus_eval(n, z, s, NULL, NULL); break;
    case PF_ACT_RELU: piecewise_linear(0.0, n, z, s, NULL); break;
    case PF_ACT_LEAKY_RELU: piecewise_linear(LEAKY_SLOPE, n, z, s, NULL); break;
    case PF_ACT_IDENTITY:
    default:
        if (s != z)
            memcpy(s, z, n * sizeof *s);
        break;
    }
}

/* tanh: σ' = 1 − σ². */
void pf_activation_slope(pf_activation act, size_t n, const double *z, const double *s, double *ds)
{
    switch (act) {
    case PF_ACT_TANH: tanh_slope(n, s, ds); break;
    case PF_ACT_SOFTPLUS: softplus_eval(n, z, NULL, ds, NULL); break;
    case PF_ACT_RELU: piecewise_linear(0.0, n, z, NULL, ds); break;
    case PF_ACT_LEAKY_RELU: piecewise_linear(LEAKY_SLOPE, n, z, NULL, ds); break;
    case PF_ACT_IDENTITY:
    default: fill(n, 1.0, ds); break;
    }
}

/* tanh: σ'' = −2 tanh σ'. */
void pf_activation_curvature(pf_activation act, size_t n, const double *z, const double *s,
                             const double *ds, double *d2s)
{
    switch (act) {
    case PF_ACT_TANH: tanh_curvature(n, s, ds, d2s); break;
    case PF_ACT_SOFTPLUS: softplus_eval(n, z, NULL, NULL, d2s); break;
    default: fill(n, 0.0, d2s); break;
    }
}

int pf_activation_needs_input(pf_activation act)
{
    return act == PF_ACT_SOFTPLUS;
}

void pf_activation_backward(pf_activation act, size_t n, const double *z, const double *s,
                            const double *sbar, double *zbar)
{
    double slope[BLOCK];
    for (size_t i = 0; i < n; i += BLOCK) {
        const size_t m = n - i < BLOCK ? n - i : BLOCK;
        pf_activation_slope(act, m, z + i, s ? s + i : NULL, slope);
        multiply(m, sbar + i, slope, zbar + i);
    }
}

/* z: n → s = σ(z), ds = σ'(z), d2s = σ''(z): n each, each optional. Blocks of
 * BLOCK values, so that σ feeds σ' and σ'' from L1 (and needs no storage when
 * s is NULL). */
void pf_activation_eval(pf_activation act, size_t n, const double *z, double *s, double *ds,
                        double *d2s)
{
    if (act == PF_ACT_SOFTPLUS) {
        softplus_eval(n, z, s, ds, d2s);
        return;
    }
    double value[BLOCK], slope[BLOCK];
    for (size_t i = 0; i < n; i += BLOCK) {
        const size_t m = n - i < BLOCK ? n - i : BLOCK;
        double *sv = s ? s + i : value, *dv = ds ? ds + i : slope;
        if (s || act == PF_ACT_TANH)
            pf_activation_value(act, m, z + i, sv);
        if (ds || d2s)
            pf_activation_slope(act, m, z + i, sv, dv);
        if (d2s)
            pf_activation_curvature(act, m, z + i, sv, dv, d2s + i);
    }
}
