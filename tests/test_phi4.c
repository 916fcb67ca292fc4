/* Tests for src/targets/phi4.c: action and observables against direct
 * site-by-site loops, force against finite differences, and the mass form
 * against the hopping form under ϕ = √(2κ)φ. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

enum { L0 = 4, L1 = 6, V = L0 * L1 };

/* Site (x0, x1) with periodic wrap, as a reader would write it. */
static double at(const double *f, int x0, int x1)
{
    return f[((x0 % L0 + L0) % L0) * L1 + (x1 % L1 + L1) % L1];
}

/* MATH §5 hopping action, written term by term. */
static double direct_action(const double *f, double kappa, double lambda)
{
    double S = 0;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++) {
            double p = at(f, x0, x1);
            double hop = p * at(f, x0 + 1, x1) + p * at(f, x0, x1 + 1); /* μ = 0, 1 */
            S += -2 * kappa * hop + (1 - 2 * lambda) * p * p + lambda * p * p * p * p;
        }
    return S;
}

Test(phi4, action_agrees_with_a_direct_double_loop_on_random_fields)
{
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &t), PF_OK, "%s", pf_last_error());
    enum { B = 5 };
    double f[B * V], S[B];
    pft_fill_normal(1, B * V, f, 1.0);
    cr_assert_eq(pf_target_action(t, B, f, S), PF_OK);
    for (int b = 0; b < B; b++) {
        double ref = direct_action(f + b * V, 0.3, 0.022);
        cr_assert_float_eq(S[b], ref, 1e-12 * fabs(ref), "config %d: %.15g vs %.15g", b, S[b], ref);
    }
    pf_target_destroy(t);
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK);
    return S;
}

static void check_force(pf_target *t, uint64_t seed)
{
    double f[V], F[V], fd[V];
    pft_fill_normal(seed, V, f, 1.0);
    cr_assert_eq(pf_target_force(t, 1, f, F), PF_OK);
    pft_fd_gradient(action_of, t, V, f, 1e-4, fd);
    double e = pft_rel_err(V, F, fd, 1e-8);
    cr_assert_lt(e, 1e-6, "force rel err %g", e);
}

Test(phi4, force_matches_finite_differences_on_a_rectangular_lattice_in_both_forms)
{
    pf_target *hop, *mass;
    cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &hop), PF_OK);
    cr_assert_eq(pf_target_phi4_mass_create(L0, L1, -4.0 + 0.5, 5.0, &mass), PF_OK);
    check_force(hop, 2);
    check_force(mass, 3);
    pf_target_destroy(hop);
    pf_target_destroy(mass);
}

Test(phi4, mass_form_equals_hopping_form_under_field_rescaling)
{
    const double m2 = -1.3, lambda = 0.7;
    double kappa, lambda_h;
    cr_assert_eq(pf_phi4_hopping_from_mass(m2, lambda, &kappa, &lambda_h), PF_OK);
    pf_target *hop, *mass;
    cr_assert_eq(pf_target_phi4_create(L0, L1, kappa, lambda_h, &hop), PF_OK);
    cr_assert_eq(pf_target_phi4_mass_create(L0, L1, m2, lambda, &mass), PF_OK);
    enum { B = 4 };
    double varphi[B * V], phi[B * V], S_mass[B], S_hop[B];
    pft_fill_normal(4, B * V, varphi, 1.2);
    for (int i = 0; i < B * V; i++)
        phi[i] = varphi[i] / sqrt(2 * kappa);
    pf_target_action(mass, B, varphi, S_mass);
    pf_target_action(hop, B, phi, S_hop);
    for (int b = 0; b < B; b++)
        cr_assert_float_eq(S_mass[b], S_hop[b], 1e-12 * fabs(S_mass[b]), "%.15g vs %.15g",
                           S_mass[b], S_hop[b]);
    /* λ = 0: κ = 1/(4 + m²) exactly */
    cr_assert_eq(pf_phi4_hopping_from_mass(0.5, 0.0, &kappa, &lambda_h), PF_OK);
    cr_assert_float_eq(kappa, 1 / 4.5, 1e-16);
    cr_assert_eq(pf_phi4_hopping_from_mass(-4.0, 0.1, &kappa, &lambda_h), PF_ERR_ARG);
    pf_target_destroy(hop);
    pf_target_destroy(mass);
}

Test(phi4, observables_agree_with_direct_loops)
{
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &t), PF_OK);
    const int n = pf_target_n_observables(t);
    cr_assert_eq(n, 3 + L0);
    enum { B = 3 };
    double f[B * V], obs[B * (3 + L0)];
    pft_fill_normal(5, B * V, f, 1.0);
    cr_assert_eq(pf_target_observables(t, B, f, obs), PF_OK);
    for (int b = 0; b < B; b++) {
        const double *c = f + b * V;
        double m = 0;
        for (int i = 0; i < V; i++)
            m += c[i] / V;
        cr_assert_float_eq(obs[b * n], m, 1e-14);
        cr_assert_float_eq(obs[b * n + 1], fabs(m), 1e-14);
        cr_assert_float_eq(obs[b * n + 2], m * m, 1e-14);
        for (int dt = 0; dt < L0; dt++) {
            double g = 0; /* (1/V) Σ_{y0,y1,z1} φ(y0,y1) φ(y0+t, z1) */
            for (int y0 = 0; y0 < L0; y0++)
                for (int y1 = 0; y1 < L1; y1++)
                    for (int z1 = 0; z1 < L1; z1++)
                        g += at(c, y0, y1) * at(c, y0 + dt, z1) / V;
            cr_assert_float_eq(obs[b * n + 3 + dt], g, 1e-12, "G(%d)", dt);
        }
    }
    double values[3 + L0];
    cr_assert_eq(pf_target_summaries(t, B, f, NULL, values), PF_OK);
    double mean_abs = 0, mean_m2 = 0, mean_m = 0;
    for (int b = 0; b < B; b++) {
        mean_m += obs[b * n] / B;
        mean_abs += obs[b * n + 1] / B;
        mean_m2 += obs[b * n + 2] / B;
    }
    cr_assert_float_eq(values[0], mean_m, 1e-14);
    cr_assert_float_eq(values[2], V * (mean_m2 - mean_abs * mean_abs), 1e-12, "chi");
    cr_assert_str_eq(pf_target_summary_name(t, 2), "chi");
    cr_assert_str_eq(pf_target_observable_name(t, 3 + 1), "G(1)");
    int shape[4];
    cr_assert_eq(pf_target_shape(t, shape), 2);
    cr_assert(shape[0] == L0 && shape[1] == L1);
    pf_target_destroy(t);
}

Test(phi4, bad_lattices_and_arguments_are_refused_with_messages)
{
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(1, 8, 0.3, 0.02, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lattice"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_create(4, 4, 0.3, -0.1, &t), PF_ERR_ARG);
    cr_assert_eq(pf_target_phi4_create(4, 4, 0.3, 0.02, &t), PF_OK);
    double S;
    cr_assert_eq(pf_target_action(t, 1, NULL, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "NULL"), "%s", pf_last_error());
    double x[16] = {0};
    cr_assert_eq(pf_target_sample(t, NULL, 1, x), PF_ERR_ARG);
    pf_rng rng = pf_rng_make(1, 1);
    cr_assert_eq(pf_target_sample(t, &rng, 1, x), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "phi4"), "%s", pf_last_error());
    double log_z;
    cr_assert_eq(pf_target_log_z(t, &log_z), PF_ERR_UNSUPPORTED);
    pf_target_destroy(t);
}
