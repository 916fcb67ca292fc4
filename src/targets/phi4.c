/* φ⁴ on a periodic L0×L1 lattice (site x0·L1 + x1; 0̂ shifts x0, 1̂ shifts x1),
 * written once as
 *   S = Σₓ [ −a Σ_μ φₓ φ_{x+μ̂} + b φₓ² + c φₓ⁴ ]
 * with hopping form (a, b, c) = (2κ, 1 − 2λ, λ) and mass form (1, 2 + m²/2, λ).
 * docs/theory.md §5. Inner loops run over x1 contiguously with the periodic wrap
 * handled at the row ends, so they vectorise.
 * Shapes: B configurations of V = L0·L1 sites. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "targets/target_impl.h"

#define PHI4_MAX_EXTENT 4096

typedef struct phi4 {
    int L0, L1;
    double a, b, c;
    double *slice; /* L0: time-slice sums Σ_{x1} φ of one configuration */
} phi4;

/* S of one configuration. f: V. */
static double phi4_action_one(const phi4 *p, const double *f)
{
    const int L0 = p->L0, L1 = p->L1;
    double hop = 0, local = 0;
    for (int x0 = 0; x0 < L0; x0++) {
        const double *row = f + (size_t)x0 * L1;
        const double *up = f + (size_t)(x0 + 1 < L0 ? x0 + 1 : 0) * L1; /* x + 0̂ */
        for (int x1 = 0; x1 < L1; x1++) {
            double v = row[x1], v2 = v * v;
            hop += v * up[x1];
            local += v2 * (p->b + p->c * v2);
        }
        for (int x1 = 0; x1 + 1 < L1; x1++) /* x + 1̂ inside the row */
            hop += row[x1] * row[x1 + 1];
        hop += row[L1 - 1] * row[0]; /* x + 1̂ across the periodic edge */
    }
    return -p->a * hop + local;
}

/* x: B×V → S: B. */
static pf_status phi4_action(pf_target *t, int B, const double *x, double *S)
{
    const phi4 *p = t->content;
    for (int b = 0; b < B; b++)
        S[b] = phi4_action_one(p, x + (size_t)b * t->dim);
    return PF_OK;
}

/* docs/theory.md §5: ∂S/∂φₓ = −a Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}) + 2b φₓ + 4c φₓ³
 * (each bond φₓφ_{x+μ̂} of S contributes to both of its ends).
 * f: V → F: V. */
static void phi4_force_one(const phi4 *p, const double *f, double *F)
{
    const int L0 = p->L0, L1 = p->L1;
    const double a = p->a, b2 = 2 * p->b, c4 = 4 * p->c;
    for (int x0 = 0; x0 < L0; x0++) {
        const double *row = f + (size_t)x0 * L1;
        const double *up = f + (size_t)(x0 + 1 < L0 ? x0 + 1 : 0) * L1;   /* x + 0̂ */
        const double *down = f + (size_t)(x0 > 0 ? x0 - 1 : L0 - 1) * L1; /* x − 0̂ */
        double *out = F + (size_t)x0 * L1;
        for (int x1 = 0; x1 < L1; x1++) {
            double v = row[x1];
            out[x1] = -a * (up[x1] + down[x1]) + v * (b2 + c4 * v * v);
        }
        for (int x1 = 1; x1 + 1 < L1; x1++) /* x ± 1̂ inside the row */
            out[x1] -= a * (row[x1 - 1] + row[x1 + 1]);
        out[0] -= a * (row[L1 - 1] + row[1]); /* the row ends wrap (L1 ≥ 2) */
        out[L1 - 1] -= a * (row[L1 - 2] + row[0]);
    }
}

/* x: B×V → force: B×V. */
static pf_status phi4_force(pf_target *t, int B, const double *x, double *force)
{
    const phi4 *p = t->content;
    for (int b = 0; b < B; b++)
        phi4_force_one(p, x + (size_t)b * t->dim, force + (size_t)b * t->dim);
    return PF_OK;
}

/* Per configuration: M = Σφ/V, |M|, M², then the zero-momentum correlator
 * G(t) = (1/V) Σ_{y0} S(y0) S(y0+t), t = 0..L0−1, of the time-slice sums
 * S(y0) = Σ_{y1} φ_{y0,y1}. x: B×V → obs: B×(3 + L0). */
static pf_status phi4_observables(pf_target *t, int B, const double *x, double *obs)
{
    phi4 *p = t->content;
    const int L0 = p->L0, L1 = p->L1, n = t->n_observables;
    const double V = (double)t->dim;
    for (int b = 0; b < B; b++) {
        const double *f = x + (size_t)b * t->dim;
        double *o = obs + (size_t)b * n, m = 0;
        for (int y0 = 0; y0 < L0; y0++) {
            double s = 0;
            for (int y1 = 0; y1 < L1; y1++)
                s += f[(size_t)y0 * L1 + y1];
            p->slice[y0] = s;
            m += s;
        }
        m /= V;
        o[0] = m;
        o[1] = fabs(m);
        o[2] = m * m;
        for (int dt = 0; dt < L0; dt++) {
            double g = 0;
            for (int y0 = 0; y0 < L0; y0++)
                g += p->slice[y0] * p->slice[y0 + dt < L0 ? y0 + dt : y0 + dt - L0];
            o[3 + dt] = g / V;
        }
    }
    return PF_OK;
}

/* ⟨M⟩, ⟨|M|⟩, χ = V(⟨M²⟩ − ⟨|M|⟩²), G_c(t) = ⟨G(t)⟩ − L1·⟨M⟩² (the
 * disconnected part of G(t) is (1/V)·L0·(L1⟨M⟩)² = L1⟨M⟩²).
 * obs: B×(3 + L0), w: B → values: 3 + L0. */
static void phi4_summaries(const pf_target *t, int B, const double *obs, const double *w,
                           double *values)
{
    const phi4 *p = t->content;
    const int n = t->n_observables;
    double m = pf_weighted_mean(B, n, obs, 0, w), abs_m = pf_weighted_mean(B, n, obs, 1, w);
    values[0] = m;
    values[1] = abs_m;
    values[2] = t->dim * (pf_weighted_mean(B, n, obs, 2, w) - abs_m * abs_m);
    for (int dt = 0; dt < p->L0; dt++)
        values[3 + dt] = pf_weighted_mean(B, n, obs, 3 + dt, w) - p->L1 * m * m;
}

static void phi4_destroy(pf_target *t)
{
    phi4 *p = t->content;
    if (p)
        free(p->slice);
    free(p);
}

static const pf_target_ops phi4_ops = {
    .kind = "phi4",
    .action = phi4_action,
    .force = phi4_force,
    .sample = NULL,
    .observables = phi4_observables,
    .summaries = phi4_summaries,
    .destroy = phi4_destroy,
};

static pf_status phi4_names(pf_target *t, int L0)
{
    PF_TRY(pf_target_names_alloc(t, 3 + L0, 3 + L0));
    const char *observable[3] = {"M", "abs_M", "M2"}, *summary[3] = {"M", "abs_M", "chi"};
    for (int i = 0; i < 3; i++) {
        pf_target_name_set(t, 0, i, "%s", observable[i]);
        pf_target_name_set(t, 1, i, "%s", summary[i]);
    }
    for (int dt = 0; dt < L0; dt++) {
        pf_target_name_set(t, 0, 3 + dt, "G(%d)", dt);
        pf_target_name_set(t, 1, 3 + dt, "Gc(%d)", dt);
    }
    return PF_OK;
}

/* A lattice with couplings (a, b, c) already checked by the caller. */
static pf_status phi4_create(int L0, int L1, double a, double b, double c, pf_target **out)
{
    if (L0 < 2 || L1 < 2 || L0 > PHI4_MAX_EXTENT || L1 > PHI4_MAX_EXTENT)
        return pf_fail(PF_ERR_ARG, "phi4: lattice L0×L1 = %d×%d: each extent must be in [2, %d]",
                       L0, L1, PHI4_MAX_EXTENT);
    pf_target *t;
    PF_TRY(pf_target_alloc(&phi4_ops, L0 * L1, &t));
    phi4 *p = calloc(1, sizeof *p);
    t->content = p;
    if (p)
        p->slice = malloc((size_t)L0 * sizeof *p->slice);
    pf_status st =
        (p && p->slice) ? phi4_names(t, L0) : pf_fail(PF_ERR_NOMEM, "phi4: cannot allocate");
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    p->L0 = L0;
    p->L1 = L1;
    p->a = a;
    p->b = b;
    p->c = c;
    t->ndim_shape = 2;
    t->shape[0] = L0;
    t->shape[1] = L1;
    *out = t;
    return PF_OK;
}

pf_status pf_target_phi4_create(int L0, int L1, double kappa, double lambda, pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "phi4: out is NULL");
    *out = NULL;
    if (!isfinite(kappa))
        return pf_fail(PF_ERR_ARG, "phi4: kappa = %g must be finite", kappa);
    if (!(lambda >= 0) || !isfinite(lambda))
        return pf_fail(PF_ERR_ARG, "phi4: lambda = %g must be finite and ≥ 0", lambda);
    return phi4_create(L0, L1, 2 * kappa, 1 - 2 * lambda, lambda, out);
}

pf_status pf_target_phi4_mass_create(int L0, int L1, double m2, double lambda, pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "phi4 (mass form): out is NULL");
    *out = NULL;
    if (!isfinite(m2))
        return pf_fail(PF_ERR_ARG, "phi4 (mass form): m2 = %g must be finite", m2);
    if (!(lambda >= 0) || !isfinite(lambda))
        return pf_fail(PF_ERR_ARG, "phi4 (mass form): lambda = %g must be finite and ≥ 0", lambda);
    return phi4_create(L0, L1, 1.0, 2 + 0.5 * m2, lambda, out);
}

/* ϕ = √(2κ)φ turns the mass form into the hopping form: the quartic term gives
 * λ_h = 4κ²λ, the quadratic one 2κ(2 + m²/2) = 1 − 2λ_h, i.e.
 * 8λκ² + (4 + m²)κ − 1 = 0. Its positive root is written as
 * κ = 2/(p + √(p² + 32λ)), p = 4 + m², which has no cancellation and gives
 * κ = 1/p at λ = 0. */
pf_status pf_phi4_hopping_from_mass(double m2, double lambda, double *kappa, double *lambda_hop)
{
    if (!kappa || !lambda_hop)
        return pf_fail(PF_ERR_ARG, "phi4_hopping_from_mass: %s is NULL",
                       !kappa ? "kappa" : "lambda_hop");
    const double p = 4 + m2;
    if (!(p > 0) || !isfinite(p))
        return pf_fail(PF_ERR_ARG,
                       "phi4_hopping_from_mass: needs 4 + m2 > 0 (m2 = %g): no positive κ", m2);
    if (!(lambda >= 0) || !isfinite(lambda))
        return pf_fail(PF_ERR_ARG, "phi4_hopping_from_mass: lambda = %g must be finite and ≥ 0",
                       lambda);
    double k = 2.0 / (p + sqrt(p * p + 32 * lambda));
    *kappa = k;
    *lambda_hop = 4 * k * k * lambda;
    return PF_OK;
}
