/* Hybrid Monte Carlo on any target with a force: H(x, p) = S(x) + |p|²/2,
 * leapfrog integration, Metropolis acceptance min(1, exp(−ΔH)). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "targets/target_impl.h"

#define TWO_PI 6.283185307179586476925286766559
#define STREAM_HMC (7ULL << 40)

pf_hmc_options pf_hmc_options_default(void)
{
    pf_hmc_options o = {1000, 200, 5, 10, 0.1, 1};
    return o;
}

typedef struct hmc_state {
    pf_target *t;
    int d;
    double *x, *x_new, *p, *F; /* d each */
} hmc_state;

/* One trajectory from s->x; returns 1 if accepted (s->x updated). */
static pf_status trajectory(hmc_state *s, const pf_hmc_options *o, uint64_t index, int *accepted)
{
    const int d = s->d;
    const double eps = o->step_size;
    pf_rng rng = pf_rng_make(o->seed, STREAM_HMC + index);
    pf_rng_normal(&rng, (size_t)d, s->p);
    double S0, S1, kinetic0 = 0, kinetic1 = 0;
    PF_TRY(pf_target_action(s->t, 1, s->x, &S0));
    for (int i = 0; i < d; i++)
        kinetic0 += 0.5 * s->p[i] * s->p[i];
    memcpy(s->x_new, s->x, (size_t)d * sizeof *s->x);
    PF_TRY(pf_target_force(s->t, 1, s->x_new, s->F));
    for (int step = 0; step < o->n_leapfrog; step++) {
        for (int i = 0; i < d; i++) {
            s->p[i] -= 0.5 * eps * s->F[i];
            s->x_new[i] += eps * s->p[i];
        }
        PF_TRY(pf_target_force(s->t, 1, s->x_new, s->F));
        for (int i = 0; i < d; i++)
            s->p[i] -= 0.5 * eps * s->F[i];
    }
    PF_TRY(pf_target_action(s->t, 1, s->x_new, &S1));
    for (int i = 0; i < d; i++)
        kinetic1 += 0.5 * s->p[i] * s->p[i];
    double u, dH = (S1 + kinetic1) - (S0 + kinetic0);
    pf_rng_uniform(&rng, 1, &u);
    *accepted = isfinite(dH) && (dH <= 0 || u < exp(-dH));
    if (*accepted)
        memcpy(s->x, s->x_new, (size_t)d * sizeof *s->x);
    return PF_OK;
}

pf_status pf_target_hmc(pf_target *t, const pf_hmc_options *o, const double *x0, double *out,
                        double *acceptance)
{
    if (!t || !o || !out)
        return pf_fail(PF_ERR_ARG, "hmc: target, options or output is NULL");
    if (o->n_samples < 1 || o->thin < 1 || o->thermalize < 0 || o->n_leapfrog < 1 ||
        !(o->step_size > 0))
        return pf_fail(PF_ERR_ARG, "hmc: need n_samples ≥ 1, thin ≥ 1, thermalize ≥ 0, "
                                   "n_leapfrog ≥ 1 and step_size > 0");
    const int d = t->dim, is_u1 = strcmp(t->ops->kind, "u1") == 0;
    hmc_state s = {t, d, calloc((size_t)d, sizeof(double)), malloc((size_t)d * sizeof(double)),
                   malloc((size_t)d * sizeof(double)), malloc((size_t)d * sizeof(double))};
    pf_status st = (s.x && s.x_new && s.p && s.F) ? PF_OK : pf_fail(PF_ERR_NOMEM, "hmc: no memory");
    if (st == PF_OK && x0)
        memcpy(s.x, x0, (size_t)d * sizeof *x0);
    long accepted = 0, counted = 0;
    uint64_t index = 0;
    for (int k = 0; st == PF_OK && k < o->thermalize; k++) {
        int a;
        st = trajectory(&s, o, index++, &a);
    }
    for (int n = 0; st == PF_OK && n < o->n_samples; n++) {
        for (int k = 0; st == PF_OK && k < o->thin; k++) {
            int a = 0;
            st = trajectory(&s, o, index++, &a);
            accepted += a;
            counted++;
        }
        for (int i = 0; i < d; i++) {
            double v = s.x[i];
            out[(size_t)n * d + i] = is_u1 ? v - TWO_PI * floor(v / TWO_PI) : v;
        }
    }
    if (acceptance)
        *acceptance = counted ? (double)accepted / counted : 0.0;
    free(s.x);
    free(s.x_new);
    free(s.p);
    free(s.F);
    return st;
}
