/* 2-D U(1) gauge theory with the Wilson action S = −β Σₓ cos P(x), docs/theory.md §5.
 * Links θ_μ(x) at μ·V + x0·L1 + x1, V = L0·L1; 0̂ shifts x0, 1̂ shifts x1, both
 * periodic. Inner loops run over x1 with the wrap handled at the row end.
 * Shapes: B configurations of 2V link angles; V plaquettes each. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "targets/target_impl.h"
#include "targets/u1_lattice.h"

#define PI 3.14159265358979323846
#define TWO_PI 6.283185307179586476925286766559
#define U1_MAX_EXTENT 4096

typedef struct u1 {
    int L0, L1;
    double beta;
    double *P; /* V: plaquettes (then sin P) of one configuration */
} u1;

/* P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x). links: 2V → P: V. */
void pf_u1_plaquettes(int L0, int L1, const double *links, double *P)
{
    const double *t0 = links, *t1 = links + (size_t)L0 * L1;
    for (int x0 = 0; x0 < L0; x0++) {
        const size_t row = (size_t)x0 * L1, up = (size_t)(x0 + 1 < L0 ? x0 + 1 : 0) * L1;
        for (int x1 = 0; x1 + 1 < L1; x1++)
            P[row + x1] = t0[row + x1] + t1[up + x1] - t0[row + x1 + 1] - t1[row + x1];
        const int e = L1 - 1; /* x + 1̂ wraps to x1 = 0 */
        P[row + e] = t0[row + e] + t1[up + e] - t0[row] - t1[row + e];
    }
}

/* θ_μ(x) → α(x) + θ_μ(x) − α(x+μ̂). alpha: V, links: 2V → out: 2V (may alias
 * links: each output reads only its own link). */
void pf_u1_gauge_transform(int L0, int L1, const double *alpha, const double *links, double *out)
{
    const size_t V = (size_t)L0 * L1;
    for (int x0 = 0; x0 < L0; x0++) {
        const size_t row = (size_t)x0 * L1, up = (size_t)(x0 + 1 < L0 ? x0 + 1 : 0) * L1;
        for (int x1 = 0; x1 < L1; x1++) {
            const size_t x = row + x1, right = row + (x1 + 1 < L1 ? x1 + 1 : 0);
            out[x] = alpha[x] + links[x] - alpha[up + x1];
            out[V + x] = alpha[x] + links[V + x] - alpha[right];
        }
    }
}

double pf_u1_wrap(double x)
{
    return x - TWO_PI * ceil((x - PI) / TWO_PI);
}

/* x: B×2V → S: B. */
static pf_status u1_action(pf_target *t, int B, const double *x, double *S)
{
    u1 *g = t->content;
    const int V = g->L0 * g->L1;
    for (int b = 0; b < B; b++) {
        pf_u1_plaquettes(g->L0, g->L1, x + (size_t)b * t->dim, g->P);
        double sum = 0;
        for (int i = 0; i < V; i++)
            sum += cos(g->P[i]);
        S[b] = -g->beta * sum;
    }
    return PF_OK;
}

/* docs/theory.md §5: θ₀(y) enters P(y) with + and P(y−1̂) with −; θ₁(y) enters P(y−0̂)
 * with + and P(y) with −; d(−β cos P) = β sin P dP, so
 *   ∂S/∂θ₀(y) = β[sin P(y) − sin P(y−1̂)],  ∂S/∂θ₁(y) = β[sin P(y−0̂) − sin P(y)].
 * x: B×2V → force: B×2V. */
static pf_status u1_force(pf_target *t, int B, const double *x, double *force)
{
    u1 *g = t->content;
    const int L0 = g->L0, L1 = g->L1, V = L0 * L1;
    const double beta = g->beta;
    double *s = g->P;
    for (int b = 0; b < B; b++) {
        pf_u1_plaquettes(L0, L1, x + (size_t)b * t->dim, s);
        for (int i = 0; i < V; i++)
            s[i] = sin(s[i]);
        double *F0 = force + (size_t)b * t->dim, *F1 = F0 + V;
        for (int y0 = 0; y0 < L0; y0++) {
            const size_t row = (size_t)y0 * L1, down = (size_t)(y0 > 0 ? y0 - 1 : L0 - 1) * L1;
            F0[row] = beta * (s[row] - s[row + L1 - 1]); /* y − 1̂ wraps at x1 = 0 */
            for (int y1 = 1; y1 < L1; y1++)
                F0[row + y1] = beta * (s[row + y1] - s[row + y1 - 1]);
            for (int y1 = 0; y1 < L1; y1++)
                F1[row + y1] = beta * (s[down + y1] - s[row + y1]);
        }
    }
    return PF_OK;
}

/* Per configuration: mean cos P and the topological charge
 * Q = (1/2π) Σₓ wrap(P(x)), wrap into (−π, π]. x: B×2V → obs: B×2. */
static pf_status u1_observables(pf_target *t, int B, const double *x, double *obs)
{
    u1 *g = t->content;
    const int V = g->L0 * g->L1;
    for (int b = 0; b < B; b++) {
        pf_u1_plaquettes(g->L0, g->L1, x + (size_t)b * t->dim, g->P);
        double c = 0, q = 0;
        for (int i = 0; i < V; i++) {
            c += cos(g->P[i]);
            q += pf_u1_wrap(g->P[i]);
        }
        obs[2 * (size_t)b] = c / V;
        obs[2 * (size_t)b + 1] = q / TWO_PI;
    }
    return PF_OK;
}

/* ⟨cos P⟩, ⟨Q⟩, χ_t = (⟨Q²⟩ − ⟨Q⟩²)/V. obs: B×2, w: B → values: 3. */
static void u1_summaries(const pf_target *t, int B, const double *obs, const double *w,
                         double *values)
{
    const u1 *g = t->content;
    double q = 0, q2 = 0;
    for (int b = 0; b < B; b++) {
        double qb = obs[2 * (size_t)b + 1];
        q += w[b] * qb;
        q2 += w[b] * qb * qb;
    }
    values[0] = pf_weighted_mean(B, 2, obs, 0, w);
    values[1] = q;
    values[2] = (q2 - q * q) / ((double)g->L0 * g->L1);
}

static void u1_destroy(pf_target *t)
{
    u1 *g = t->content;
    if (g)
        free(g->P);
    free(g);
}

static const pf_target_ops u1_ops = {
    .kind = "u1",
    .action = u1_action,
    .force = u1_force,
    .sample = NULL,
    .observables = u1_observables,
    .summaries = u1_summaries,
    .destroy = u1_destroy,
};

static pf_status u1_names(pf_target *t)
{
    PF_TRY(pf_target_names_alloc(t, 2, 3));
    pf_target_name_set(t, 0, 0, "plaquette");
    pf_target_name_set(t, 0, 1, "Q");
    pf_target_name_set(t, 1, 0, "plaquette");
    pf_target_name_set(t, 1, 1, "Q");
    pf_target_name_set(t, 1, 2, "chi_t");
    return PF_OK;
}

pf_status pf_target_u1_create(int L0, int L1, double beta, pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "u1: out is NULL");
    *out = NULL;
    if (L0 < 2 || L1 < 2 || L0 > U1_MAX_EXTENT || L1 > U1_MAX_EXTENT)
        return pf_fail(PF_ERR_ARG, "u1: lattice L0×L1 = %d×%d: each extent must be in [2, %d]", L0,
                       L1, U1_MAX_EXTENT);
    if (!isfinite(beta))
        return pf_fail(PF_ERR_ARG, "u1: beta = %g must be finite", beta);
    pf_target *t;
    PF_TRY(pf_target_alloc(&u1_ops, 2 * L0 * L1, &t));
    u1 *g = calloc(1, sizeof *g);
    t->content = g;
    if (g)
        g->P = malloc((size_t)L0 * L1 * sizeof *g->P);
    pf_status st = (g && g->P) ? u1_names(t) : pf_fail(PF_ERR_NOMEM, "u1: cannot allocate");
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    g->L0 = L0;
    g->L1 = L1;
    g->beta = beta;
    t->ndim_shape = 3;
    t->shape[0] = 2;
    t->shape[1] = L0;
    t->shape[2] = L1;
    *out = t;
    return PF_OK;
}
