/* Tests for src/targets/phi4.c: action and observables against direct
 * site-by-site loops, force against finite differences in both forms, the
 * mass form against the hopping form under ϕ = √(2κ)φ, weighted summaries,
 * refusal of bad lattices and arguments. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

/* φ(x0, x1) on an L0×L1 periodic lattice, wrapped as a reader would write it. */
static double at(const double *f, int L0, int L1, int x0, int x1)
{
    return f[((x0 % L0 + L0) % L0) * L1 + (x1 % L1 + L1) % L1];
}

/* docs/theory.md §5 hopping action, term by term: Σₓ [−2κ Σ_μ φₓφ_{x+μ̂} + (1−2λ)φₓ² + λφₓ⁴]. */
static double direct_action(const double *f, int L0, int L1, double kappa, double lambda)
{
    double S = 0;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++) {
            double p = at(f, L0, L1, x0, x1);
            double hop = p * at(f, L0, L1, x0 + 1, x1) + p * at(f, L0, L1, x0, x1 + 1);
            S += -2 * kappa * hop + (1 - 2 * lambda) * p * p + lambda * p * p * p * p;
        }
    return S;
}

Test(phi4, action_agrees_with_a_direct_double_loop_on_random_fields)
{
    const int sizes[3][2] = {{4, 6}, {6, 4}, {2, 3}}; /* 2 and 3: every site is at an edge */
    for (int k = 0; k < 3; k++) {
        const int L0 = sizes[k][0], L1 = sizes[k][1], V = L0 * L1, B = 5;
        pf_target *t;
        cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &t), PF_OK, "%s", pf_last_error());
        cr_assert_eq(pf_target_dim(t), V);
        double f[5 * 24], S[5], worst = 0;
        pft_fill_normal(1 + k, (size_t)B * V, f, 1.0);
        cr_assert_eq(pf_target_action(t, B, f, S), PF_OK, "%s", pf_last_error());
        for (int b = 0; b < B; b++) {
            double ref = direct_action(f + b * V, L0, L1, 0.3, 0.022);
            double e = fabs(S[b] - ref) / fabs(ref);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-12, "%d×%d config %d: %.15g vs direct %.15g (rel %.3g)", L0, L1, b,
                         S[b], ref, e);
        }
        cr_log_info("%d×%d: action vs direct loop, worst rel err %.3g (tolerance 1e-12)", L0, L1,
                    worst);
        pf_target_destroy(t);
    }
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK, "%s", pf_last_error());
    return S;
}

/* Worst relative error of the force against central differences of S over
 * n random fields of scale 1. */
static double force_fd_error(pf_target *t, int n, uint64_t seed)
{
    const int V = pf_target_dim(t);
    double *f = malloc(V * sizeof *f), *F = malloc(V * sizeof *F), *fd = malloc(V * sizeof *fd);
    double worst = 0;
    for (int k = 0; k < n; k++) {
        pft_fill_normal(seed + k, V, f, 1.0);
        cr_assert_eq(pf_target_force(t, 1, f, F), PF_OK, "%s", pf_last_error());
        pft_fd_gradient(action_of, t, V, f, 1e-4, fd);
        worst = fmax(worst, pft_rel_err(V, F, fd, 1e-8));
    }
    free(f);
    free(F);
    free(fd);
    return worst;
}

Test(phi4, force_matches_finite_differences_on_a_rectangular_lattice_in_both_forms)
{
    const int sizes[3][2] = {{4, 6}, {5, 3}, {2, 2}};
    for (int k = 0; k < 3; k++) {
        const int L0 = sizes[k][0], L1 = sizes[k][1];
        pf_target *hop, *mass;
        cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &hop), PF_OK);
        cr_assert_eq(pf_target_phi4_mass_create(L0, L1, -4.0 + 0.5, 5.0, &mass), PF_OK);
        double e_hop = force_fd_error(hop, 3, 10 * k + 2),
               e_mass = force_fd_error(mass, 3, 10 * k + 7);
        cr_log_info("%d×%d: force FD rel err hopping %.3g, mass %.3g (tolerance 1e-6)", L0, L1,
                    e_hop, e_mass);
        cr_assert_lt(e_hop, 1e-6, "%d×%d hopping form: force rel err %.3g", L0, L1, e_hop);
        cr_assert_lt(e_mass, 1e-6, "%d×%d mass form: force rel err %.3g", L0, L1, e_mass);
        pf_target_destroy(hop);
        pf_target_destroy(mass);
    }
}

Test(phi4, mass_form_equals_hopping_form_under_field_rescaling)
{
    enum { L0 = 4, L1 = 6, V = L0 * L1, B = 4 };
    const double m2 = -1.3, lambda = 0.7;
    double kappa, lambda_h;
    cr_assert_eq(pf_phi4_hopping_from_mass(m2, lambda, &kappa, &lambda_h), PF_OK);
    /* the conversion solves 8λκ² + (4 + m²)κ − 1 = 0 and λ_h = 4κ²λ */
    double residual = 8 * lambda * kappa * kappa + (4 + m2) * kappa - 1;
    cr_assert_lt(fabs(residual), 1e-15, "quadratic residual %.3g at κ = %.17g", residual, kappa);
    cr_assert_float_eq(lambda_h, 4 * kappa * kappa * lambda, 1e-16, "λ_h = %.17g", lambda_h);
    pf_target *hop, *mass;
    cr_assert_eq(pf_target_phi4_create(L0, L1, kappa, lambda_h, &hop), PF_OK);
    cr_assert_eq(pf_target_phi4_mass_create(L0, L1, m2, lambda, &mass), PF_OK);
    double varphi[B * V], phi[B * V], S_mass[B], S_hop[B], F_mass[B * V], F_hop[B * V];
    pft_fill_normal(4, B * V, varphi, 1.2);
    const double r = sqrt(2 * kappa); /* ϕ = √(2κ) φ */
    for (int i = 0; i < B * V; i++)
        phi[i] = varphi[i] / r;
    cr_assert_eq(pf_target_action(mass, B, varphi, S_mass), PF_OK);
    cr_assert_eq(pf_target_action(hop, B, phi, S_hop), PF_OK);
    cr_assert_eq(pf_target_force(mass, B, varphi, F_mass), PF_OK);
    cr_assert_eq(pf_target_force(hop, B, phi, F_hop), PF_OK);
    double eS = pft_max_rel_err(B, S_mass, S_hop, 1e-300);
    for (int i = 0; i < B * V; i++) /* chain rule: ∂S/∂ϕ = (∂S/∂φ)/√(2κ) */
        F_hop[i] /= r;
    double eF = pft_rel_err(B * V, F_mass, F_hop, 1e-300);
    cr_log_info("mass vs hopping form: S rel err %.3g, force %.3g (tolerance 1e-12)", eS, eF);
    cr_assert_lt(eS, 1e-12, "S: max rel err %.3g", eS);
    cr_assert_lt(eF, 1e-12, "force: rel err %.3g", eF);
    /* λ = 0: κ = 1/(4 + m²) exactly */
    cr_assert_eq(pf_phi4_hopping_from_mass(0.5, 0.0, &kappa, &lambda_h), PF_OK);
    cr_assert_float_eq(kappa, 1 / 4.5, 1e-16, "κ = %.17g", kappa);
    cr_assert_eq(lambda_h, 0.0);
    cr_assert_eq(pf_phi4_hopping_from_mass(-4.0, 0.1, &kappa, &lambda_h), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "4 + m2"), "%s", pf_last_error());
    cr_assert_eq(pf_phi4_hopping_from_mass(1.0, -0.1, &kappa, &lambda_h), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lambda"), "%s", pf_last_error());
    pf_target_destroy(hop);
    pf_target_destroy(mass);
}

enum { L0 = 4, L1 = 6, V = L0 * L1, NOBS = 3 + L0 };

/* Direct per-configuration observables: M, |M|, M², and
 * G(t) = (1/V) Σ_{y0,y1,z1} φ(y0, y1) φ(y0+t, z1). f: V → o: 3 + L0. */
static void direct_observables(const double *f, double *o)
{
    double m = 0;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++)
            m += at(f, L0, L1, x0, x1) / V;
    o[0] = m;
    o[1] = fabs(m);
    o[2] = m * m;
    for (int dt = 0; dt < L0; dt++) {
        double g = 0;
        for (int y0 = 0; y0 < L0; y0++)
            for (int y1 = 0; y1 < L1; y1++)
                for (int z1 = 0; z1 < L1; z1++)
                    g += at(f, L0, L1, y0, y1) * at(f, L0, L1, y0 + dt, z1) / V;
        o[3 + dt] = g;
    }
}

Test(phi4, observables_agree_with_direct_loops)
{
    enum { B = 3 };
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &t), PF_OK);
    cr_assert_eq(pf_target_n_observables(t), NOBS);
    double f[B * V], obs[B * NOBS], ref[NOBS];
    pft_fill_normal(5, B * V, f, 1.0);
    for (int i = 0; i < B * V; i++)
        f[i] += 0.3; /* a nonzero magnetisation */
    cr_assert_eq(pf_target_observables(t, B, f, obs), PF_OK);
    for (int b = 0; b < B; b++) {
        direct_observables(f + b * V, ref);
        double e = pft_max_rel_err(NOBS, obs + b * NOBS, ref, 1e-12);
        cr_assert_lt(e, 1e-12, "config %d: observables max rel err %.3g (M = %.15g vs %.15g)", b, e,
                     obs[b * NOBS], ref[0]);
    }
    const char *names[NOBS] = {"M", "abs_M", "M2", "G(0)", "G(1)", "G(2)", "G(3)"};
    for (int i = 0; i < NOBS; i++)
        cr_assert_str_eq(pf_target_observable_name(t, i), names[i]);
    int shape[4];
    cr_assert_eq(pf_target_shape(t, shape), 2);
    cr_assert(shape[0] == L0 && shape[1] == L1, "shape %d×%d", shape[0], shape[1]);
    pf_target_destroy(t);
}

/* Summaries from per-configuration observables with explicit weights w
 * (Σ w = 1): ⟨M⟩, ⟨|M|⟩, V(⟨M²⟩ − ⟨|M|⟩²), ⟨G(t)⟩ − L1⟨M⟩². */
static void direct_summaries(int B, const double *obs, const double *w, double *v)
{
    double mean[NOBS] = {0};
    for (int b = 0; b < B; b++)
        for (int i = 0; i < NOBS; i++)
            mean[i] += w[b] * obs[b * NOBS + i];
    v[0] = mean[0];
    v[1] = mean[1];
    v[2] = V * (mean[2] - mean[1] * mean[1]);
    for (int dt = 0; dt < L0; dt++)
        v[3 + dt] = mean[3 + dt] - L1 * mean[0] * mean[0];
}

Test(phi4, summaries_with_equal_weights_are_plain_means_and_ignore_a_log_weight_shift)
{
    enum { B = 6 };
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(L0, L1, 0.3, 0.022, &t), PF_OK);
    cr_assert_eq(pf_target_n_summaries(t), NOBS);
    double f[B * V], obs[B * NOBS], w[B], lw[B], v[NOBS], ref[NOBS], v_shift[NOBS];
    pft_fill_normal(6, B * V, f, 1.0);
    for (int i = 0; i < B * V; i++)
        f[i] += 0.2;
    for (int b = 0; b < B; b++) {
        direct_observables(f + b * V, obs + b * NOBS);
        w[b] = 1.0 / B;
    }
    direct_summaries(B, obs, w, ref);
    cr_assert_eq(pf_target_summaries(t, B, f, NULL, v), PF_OK, "%s", pf_last_error());
    double e = pft_max_rel_err(NOBS, v, ref, 1e-12);
    cr_assert_lt(e, 1e-12, "equal weights: max rel err %.3g (chi %.15g vs %.15g)", e, v[2], ref[2]);
    pft_fill_normal(7, B, lw, 1.0);
    double z = 0;
    for (int b = 0; b < B; b++) {
        w[b] = exp(lw[b]);
        z += w[b];
    }
    for (int b = 0; b < B; b++)
        w[b] /= z;
    direct_summaries(B, obs, w, ref);
    cr_assert_eq(pf_target_summaries(t, B, f, lw, v), PF_OK);
    e = pft_max_rel_err(NOBS, v, ref, 1e-12);
    cr_assert_lt(e, 1e-12, "importance weights: max rel err %.3g", e);
    for (int b = 0; b < B; b++)
        lw[b] -= 1000; /* exp underflows without the max shift */
    cr_assert_eq(pf_target_summaries(t, B, f, lw, v_shift), PF_OK, "%s", pf_last_error());
    e = pft_max_rel_err(NOBS, v_shift, v, 1e-12);
    cr_assert_lt(e, 1e-11, "log_w − 1000: max rel err %.3g", e);
    const char *names[NOBS] = {"M", "abs_M", "chi", "Gc(0)", "Gc(1)", "Gc(2)", "Gc(3)"};
    for (int i = 0; i < NOBS; i++)
        cr_assert_str_eq(pf_target_summary_name(t, i), names[i]);
    pf_target_destroy(t);
}

Test(phi4, bad_lattices_couplings_and_arguments_are_refused_with_messages)
{
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(1, 8, 0.3, 0.02, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lattice"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_mass_create(8, 0, -1.0, 0.02, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "8×0"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_create(4, 4, 0.3, -0.1, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lambda"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_create(4, 4, NAN, 0.1, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "kappa"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_mass_create(4, 4, INFINITY, 0.1, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "m2"), "%s", pf_last_error());
    cr_assert_eq(pf_target_phi4_create(4, 4, 0.3, 0.02, &t), PF_OK);
    double S, x[16] = {0}, obs[7], v[7];
    cr_assert_eq(pf_target_action(t, 1, NULL, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "x is NULL"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "phi4"), "%s", pf_last_error());
    cr_assert_eq(pf_target_force(t, 0, x, x), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "B = 0"), "%s", pf_last_error());
    cr_assert_eq(pf_target_observables(t, 1, x, NULL), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "obs is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_summaries(t, 1, x, NULL, NULL), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "values is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_observables(t, 1, x, obs), PF_OK);
    cr_assert_eq(pf_target_summaries(t, 1, x, NULL, v), PF_OK);
    pf_rng rng = pf_rng_make(1, 1);
    cr_assert_eq(pf_target_has_sampler(t), 0);
    cr_assert_eq(pf_target_sample(t, &rng, 1, x), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "phi4"), "%s", pf_last_error());
    double log_z;
    cr_assert_eq(pf_target_log_z(t, &log_z), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "log Z"), "%s", pf_last_error());
    cr_assert_str_eq(pf_target_kind(t), "phi4");
    pf_target_destroy(t);
}
