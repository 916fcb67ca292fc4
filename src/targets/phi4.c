/* φ⁴ on a periodic L0×L1 lattice (site x0·L1 + x1), written once as
 * S = Σₓ [ −a Σ_μ φₓ φ_{x+μ̂} + b φₓ² + c φₓ⁴ ] with
 * hopping form (a, b, c) = (2κ, 1 − 2λ, λ), mass form (1, 2 + m²/2, λ).
 * MATH.md §5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "targets/target_impl.h"

typedef struct phi4 {
    int L0, L1;
    double a, b, c;
    double *slice; /* L0: time-slice sums of one configuration */
} phi4;

/* S of one configuration f (V). */
static double phi4_action_one(const phi4 *p, const double *f)
{
    const int L0 = p->L0, L1 = p->L1;
    double hop = 0, local = 0;
    for (int x0 = 0; x0 < L0; x0++) {
        const double *row = f + (size_t)x0 * L1, *next = f + (size_t)((x0 + 1) % L0) * L1;
        for (int x1 = 0; x1 < L1; x1++) {
            double v = row[x1], v2 = v * v;
            double right = row[x1 + 1 < L1 ? x1 + 1 : 0];
            hop += v * (right + next[x1]);
            local += p->b * v2 + p->c * v2 * v2;
        }
    }
    return -p->a * hop + local;
}

static pf_status phi4_action(pf_target *t, int B, const double *x, double *S)
{
    const phi4 *p = t->content;
    for (int b = 0; b < B; b++)
        S[b] = phi4_action_one(p, x + (size_t)b * t->dim);
    return PF_OK;
}

/* ∂S/∂φₓ = −a Σ_μ (φ_{x+μ̂} + φ_{x−μ̂}) + 2b φₓ + 4c φₓ³ for one configuration. */
static void phi4_force_one(const phi4 *p, const double *f, double *F)
{
    const int L0 = p->L0, L1 = p->L1;
    for (int x0 = 0; x0 < L0; x0++) {
        const double *row = f + (size_t)x0 * L1;
        const double *up = f + (size_t)((x0 + 1) % L0) * L1;
        const double *down = f + (size_t)((x0 + L0 - 1) % L0) * L1;
        double *out = F + (size_t)x0 * L1;
        for (int x1 = 0; x1 < L1; x1++) {
            double left = row[x1 > 0 ? x1 - 1 : L1 - 1], right = row[x1 + 1 < L1 ? x1 + 1 : 0];
            double v = row[x1];
            out[x1] = -p->a * (up[x1] + down[x1] + left + right) + 2 * p->b * v +
                      4 * p->c * v * v * v;
        }
    }
}

static pf_status phi4_force(pf_target *t, int B, const double *x, double *force)
{
    const phi4 *p = t->content;
    for (int b = 0; b < B; b++)
        phi4_force_one(p, x + (size_t)b * t->dim, force + (size_t)b * t->dim);
    return PF_OK;
}

/* Per configuration: M, |M|, M², G(t) = (1/V) Σ_{y0} S(y0) S(y0+t), t < L0,
 * with time-slice sums S(y0) = Σ_{y1} φ_{y0,y1}. obs: B×(3 + L0). */
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
                g += p->slice[y0] * p->slice[(y0 + dt) % L0];
            o[3 + dt] = g / V;
        }
    }
    return PF_OK;
}

/* ⟨M⟩, ⟨|M|⟩, χ = V(⟨M²⟩ − ⟨|M|⟩²), G_c(t) = ⟨G(t)⟩ − L1⟨M⟩². */
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

static const pf_target_ops phi4_ops = {"phi4", phi4_action, phi4_force, NULL,
                                       phi4_observables, phi4_summaries, phi4_destroy};

static pf_status phi4_names(pf_target *t, int L0)
{
    PF_TRY(pf_target_names_alloc(t, 3 + L0, 3 + L0));
    const char *first[3] = {"M", "abs_M", "M2"}, *summary[3] = {"M", "abs_M", "chi"};
    for (int i = 0; i < 3; i++) {
        pf_target_name_set(t, 0, i, "%s", first[i]);
        pf_target_name_set(t, 1, i, "%s", summary[i]);
    }
    for (int dt = 0; dt < L0; dt++) {
        pf_target_name_set(t, 0, 3 + dt, "G(%d)", dt);
        pf_target_name_set(t, 1, 3 + dt, "Gc(%d)", dt);
    }
    return PF_OK;
}

static pf_status phi4_create(int L0, int L1, double a, double b, double c, pf_target **out)
{
    *out = NULL;
    if (L0 < 2 || L1 < 2 || L0 > 4096 || L1 > 4096)
        return pf_fail(PF_ERR_ARG, "phi4: lattice %d×%d, each extent must be in [2, 4096]", L0,
                       L1);
    if (!isfinite(a) || !isfinite(b) || !isfinite(c) || c < 0)
        return pf_fail(PF_ERR_ARG, "phi4: couplings must be finite and λ ≥ 0 (got λ = %g)", c);
    pf_target *t;
    PF_TRY(pf_target_alloc(&phi4_ops, L0 * L1, &t));
    phi4 *p = calloc(1, sizeof *p);
    t->content = p;
    if (p)
        p->slice = malloc((size_t)L0 * sizeof *p->slice);
    pf_status st = (p && p->slice) ? phi4_names(t, L0)
                                   : pf_fail(PF_ERR_NOMEM, "phi4: cannot allocate");
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
    return phi4_create(L0, L1, 2 * kappa, 1 - 2 * lambda, lambda, out);
}

pf_status pf_target_phi4_mass_create(int L0, int L1, double m2, double lambda, pf_target **out)
{
    return phi4_create(L0, L1, 1.0, 2 + 0.5 * m2, lambda, out);
}

/* ϕ = √(2κ)φ: λ_h = 4κ²λ and 2κ(2 + m²/2) = 1 − 2λ_h, i.e.
 * 8λκ² + (4 + m²)κ − 1 = 0, whose positive root 2/(p + √(p² + 32λ)),
 * p = 4 + m², is written without cancellation (also at λ = 0). */
pf_status pf_phi4_hopping_from_mass(double m2, double lambda, double *kappa, double *lambda_hop)
{
    const double p = 4 + m2;
    if (!(p > 0) || !(lambda >= 0))
        return pf_fail(PF_ERR_ARG, "phi4: mass form needs 4 + m² > 0 and λ ≥ 0 (m² = %g, λ = %g)",
                       m2, lambda);
    double k = 2.0 / (p + sqrt(p * p + 32 * lambda));
    *kappa = k;
    *lambda_hop = 4 * k * k * lambda;
    return PF_OK;
}
