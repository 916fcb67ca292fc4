/* 2-D U(1) gauge theory with the Wilson action S = −β Σₓ cos P(x).
 * MATH.md §5. Direction 0̂ shifts x0, 1̂ shifts x1, both periodic. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "targets/target_impl.h"
#include "targets/u1_lattice.h"

#define PI 3.14159265358979323846

typedef struct u1 {
    int L0, L1;
    double beta;
    double *P; /* V: plaquettes of one configuration */
} u1;

void pf_u1_plaquettes(int L0, int L1, const double *links, double *P)
{
    const int V = L0 * L1;
    const double *t0 = links, *t1 = links + V;
    for (int x0 = 0; x0 < L0; x0++) {
        int up0 = (x0 + 1) % L0;
        for (int x1 = 0; x1 < L1; x1++) {
            int x = x0 * L1 + x1, x_plus_0 = up0 * L1 + x1, x_plus_1 = x0 * L1 + (x1 + 1) % L1;
            P[x] = t0[x] + t1[x_plus_0] - t0[x_plus_1] - t1[x];
        }
    }
}

void pf_u1_gauge_transform(int L0, int L1, const double *alpha, const double *links, double *out)
{
    const int V = L0 * L1;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++) {
            int x = x0 * L1 + x1;
            int x_plus_0 = ((x0 + 1) % L0) * L1 + x1, x_plus_1 = x0 * L1 + (x1 + 1) % L1;
            out[x] = alpha[x] + links[x] - alpha[x_plus_0];
            out[V + x] = alpha[x] + links[V + x] - alpha[x_plus_1];
        }
}

double pf_u1_wrap(double x)
{
    const double two_pi = 6.283185307179586476925286766559;
    return x - two_pi * ceil((x - PI) / two_pi);
}

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

/* ∂S/∂θ₀(y) = β[sin P(y) − sin P(y−1̂)], ∂S/∂θ₁(y) = β[sin P(y−0̂) − sin P(y)]. */
static pf_status u1_force(pf_target *t, int B, const double *x, double *force)
{
    u1 *g = t->content;
    const int L0 = g->L0, L1 = g->L1, V = L0 * L1;
    for (int b = 0; b < B; b++) {
        pf_u1_plaquettes(L0, L1, x + (size_t)b * t->dim, g->P);
        for (int i = 0; i < V; i++)
            g->P[i] = sin(g->P[i]);
        double *F = force + (size_t)b * t->dim;
        for (int y0 = 0; y0 < L0; y0++)
            for (int y1 = 0; y1 < L1; y1++) {
                int y = y0 * L1 + y1;
                int y_minus_1 = y0 * L1 + (y1 + L1 - 1) % L1;
                int y_minus_0 = ((y0 + L0 - 1) % L0) * L1 + y1;
                F[y] = g->beta * (g->P[y] - g->P[y_minus_1]);
                F[V + y] = g->beta * (g->P[y_minus_0] - g->P[y]);
            }
    }
    return PF_OK;
}

/* Per configuration: mean cos P and Q = (1/2π) Σ wrap(P). obs: B×2. */
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
        obs[2 * b] = c / V;
        obs[2 * b + 1] = q / (2 * PI);
    }
    return PF_OK;
}

/* ⟨cos P⟩, ⟨Q⟩, χ_t = (⟨Q²⟩ − ⟨Q⟩²)/V. */
static void u1_summaries(const pf_target *t, int B, const double *obs, const double *w,
                         double *values)
{
    const u1 *g = t->content;
    double q = 0, q2 = 0;
    for (int b = 0; b < B; b++) {
        q += w[b] * obs[2 * b + 1];
        q2 += w[b] * obs[2 * b + 1] * obs[2 * b + 1];
    }
    values[0] = pf_weighted_mean(B, 2, obs, 0, w);
    values[1] = q;
    values[2] = (q2 - q * q) / (g->L0 * g->L1);
}

static void u1_destroy(pf_target *t)
{
    u1 *g = t->content;
    if (g)
        free(g->P);
    free(g);
}

static const pf_target_ops u1_ops = {"u1", u1_action, u1_force, NULL,
                                     u1_observables, u1_summaries, u1_destroy};

pf_status pf_target_u1_create(int L0, int L1, double beta, pf_target **out)
{
    *out = NULL;
    if (L0 < 2 || L1 < 2 || L0 > 4096 || L1 > 4096)
        return pf_fail(PF_ERR_ARG, "u1: lattice %d×%d, each extent must be in [2, 4096]", L0, L1);
    if (!isfinite(beta))
        return pf_fail(PF_ERR_ARG, "u1: beta = %g must be finite", beta);
    pf_target *t;
    PF_TRY(pf_target_alloc(&u1_ops, 2 * L0 * L1, &t));
    u1 *g = calloc(1, sizeof *g);
    t->content = g;
    if (g)
        g->P = malloc((size_t)L0 * L1 * sizeof *g->P);
    pf_status st = (g && g->P) ? pf_target_names_alloc(t, 2, 3)
                               : pf_fail(PF_ERR_NOMEM, "u1: cannot allocate");
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    pf_target_name_set(t, 0, 0, "plaquette");
    pf_target_name_set(t, 0, 1, "Q");
    pf_target_name_set(t, 1, 0, "plaquette");
    pf_target_name_set(t, 1, 1, "Q");
    pf_target_name_set(t, 1, 2, "chi_t");
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
