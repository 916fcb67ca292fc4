/* Tests for src/targets/u1.c: Wilson action against a direct loop, force
 * against finite differences, gauge invariance of action and plaquettes,
 * integer topological charge, observables and weighted summaries against
 * direct sums, refusal of bad lattices and arguments. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "targets/u1_lattice.h"
#include "testutil.h"

#define PF_PI 3.14159265358979323846
#define TWO_PI 6.283185307179586476925286766559

/* θ_μ(x0, x1) with periodic wrap. */
static double link(const double *th, int L0, int L1, int mu, int x0, int x1)
{
    return th[mu * L0 * L1 + ((x0 % L0 + L0) % L0) * L1 + (x1 % L1 + L1) % L1];
}

/* P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x), written from docs/theory.md §5. */
static double direct_plaquette(const double *th, int L0, int L1, int x0, int x1)
{
    return link(th, L0, L1, 0, x0, x1) + link(th, L0, L1, 1, x0 + 1, x1) -
           link(th, L0, L1, 0, x0, x1 + 1) - link(th, L0, L1, 1, x0, x1);
}

static double direct_action(const double *th, int L0, int L1, double beta)
{
    double S = 0;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++)
            S -= beta * cos(direct_plaquette(th, L0, L1, x0, x1));
    return S;
}

static const int sizes[3][2] = {{4, 4}, {3, 5}, {2, 3}};

Test(u1, action_agrees_with_a_direct_loop_on_random_configurations)
{
    for (int k = 0; k < 3; k++) {
        const int L0 = sizes[k][0], L1 = sizes[k][1], d = 2 * L0 * L1;
        pf_target *t;
        cr_assert_eq(pf_target_u1_create(L0, L1, 2.0, &t), PF_OK, "%s", pf_last_error());
        cr_assert_eq(pf_target_dim(t), d);
        double th[3 * 32], S[3], P[16], worst = 0;
        pft_fill_uniform(10 + k, (size_t)3 * d, th, 0, TWO_PI);
        cr_assert_eq(pf_target_action(t, 3, th, S), PF_OK);
        for (int b = 0; b < 3; b++) {
            double ref = direct_action(th + b * d, L0, L1, 2.0), e = fabs(S[b] - ref) / fabs(ref);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-12, "%d×%d: %.15g vs direct %.15g (rel %.3g)", L0, L1, S[b], ref, e);
            pf_u1_plaquettes(L0, L1, th + b * d, P);
            for (int x0 = 0; x0 < L0; x0++)
                for (int x1 = 0; x1 < L1; x1++) {
                    double p = direct_plaquette(th + b * d, L0, L1, x0, x1);
                    cr_assert_lt(fabs(P[x0 * L1 + x1] - p), 1e-13, "P(%d, %d) = %.15g vs %.15g", x0,
                                 x1, P[x0 * L1 + x1], p);
                }
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

/* Also checks the sign convention of docs/theory.md §5 for ∂S/∂θ₀, ∂S/∂θ₁: a wrong sign
 * or neighbour gives an O(1) error. */
Test(u1, force_matches_finite_differences_at_random_angles)
{
    for (int k = 0; k < 3; k++) {
        const int L0 = sizes[k][0], L1 = sizes[k][1], d = 2 * L0 * L1;
        pf_target *t;
        cr_assert_eq(pf_target_u1_create(L0, L1, 1.7, &t), PF_OK);
        double th[32], F[32], fd[32], worst = 0;
        for (int r = 0; r < 3; r++) {
            pft_fill_uniform(20 + 10 * k + r, (size_t)d, th, 0, TWO_PI);
            cr_assert_eq(pf_target_force(t, 1, th, F), PF_OK);
            pft_fd_gradient(action_of, t, (size_t)d, th, 1e-4, fd);
            worst = fmax(worst, pft_rel_err((size_t)d, F, fd, 1e-8));
        }
        cr_log_info("%d×%d: force FD rel err %.3g (tolerance 1e-6)", L0, L1, worst);
        cr_assert_lt(worst, 1e-6, "%d×%d: force rel err %.3g", L0, L1, worst);
        pf_target_destroy(t);
    }
}

Test(u1, action_and_plaquettes_are_invariant_under_random_gauge_transformations)
{
    for (int k = 0; k < 2; k++) {
        const int L0 = 4 + k, L1 = 6 - 3 * k, V = L0 * L1; /* 4×6 and 5×3 */
        pf_target *t;
        cr_assert_eq(pf_target_u1_create(L0, L1, 3.0, &t), PF_OK);
        double th[48], g[48], alpha[24], P[24], Pg[24], S[2];
        pft_fill_uniform(30 + k, 2 * V, th, 0, TWO_PI);
        pft_fill_uniform(32 + k, V, alpha, -10, 10);
        pf_u1_gauge_transform(L0, L1, alpha, th, g);
        cr_assert_eq(pf_target_action(t, 1, th, S), PF_OK);
        cr_assert_eq(pf_target_action(t, 1, g, S + 1), PF_OK);
        double e = fabs(S[0] - S[1]) / fabs(S[0]);
        cr_log_info("%d×%d: gauge invariance of S, rel err %.3g (tolerance 1e-12)", L0, L1, e);
        cr_assert_lt(e, 1e-12, "%.15g vs %.15g (rel %.3g)", S[0], S[1], e);
        pf_u1_plaquettes(L0, L1, th, P);
        pf_u1_plaquettes(L0, L1, g, Pg);
        for (int i = 0; i < V; i++) {
            double diff = pf_u1_wrap(P[i] - Pg[i]); /* equal mod 2π */
            cr_assert_lt(fabs(diff), 1e-12, "plaquette %d changed by %.3g", i, diff);
        }
        pf_u1_gauge_transform(L0, L1, alpha, th, th); /* in place */
        for (int i = 0; i < 2 * V; i++)
            cr_assert_eq(th[i], g[i], "in-place transform differs at link %d", i);
        pf_target_destroy(t);
    }
}

Test(u1, wrap_maps_into_the_half_open_interval_minus_pi_to_pi)
{
    cr_assert_float_eq(pf_u1_wrap(PF_PI), PF_PI, 1e-15, "%.17g", pf_u1_wrap(PF_PI));
    cr_assert_float_eq(pf_u1_wrap(-PF_PI), PF_PI, 1e-15, "%.17g", pf_u1_wrap(-PF_PI));
    cr_assert_float_eq(pf_u1_wrap(3 * PF_PI + 0.1), -PF_PI + 0.1, 1e-12);
    cr_assert_float_eq(pf_u1_wrap(-7.0), -7.0 + TWO_PI, 1e-15);
    cr_assert_eq(pf_u1_wrap(0.5), 0.5);
}

enum { L = 5, V5 = L * L, NB = 20 };

Test(u1, topological_charge_is_an_integer_and_observables_match_direct_sums)
{
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, 1.0, &t), PF_OK);
    cr_assert_eq(pf_target_n_observables(t), 2);
    double th[NB * 2 * V5], obs[NB * 2], worst = 0;
    pft_fill_uniform(40, NB * 2 * V5, th, 0, TWO_PI);
    cr_assert_eq(pf_target_observables(t, NB, th, obs), PF_OK);
    int nonzero = 0;
    for (int b = 0; b < NB; b++) {
        double q = obs[2 * b + 1], c = 0, qd = 0;
        worst = fmax(worst, fabs(q - round(q)));
        cr_assert_lt(fabs(q - round(q)), 1e-9, "Q = %.12f is not an integer", q);
        nonzero += round(q) != 0;
        for (int x0 = 0; x0 < L; x0++)
            for (int x1 = 0; x1 < L; x1++) {
                double p = direct_plaquette(th + b * 2 * V5, L, L, x0, x1);
                c += cos(p) / V5;
                qd += (p - TWO_PI * round(p / TWO_PI)) / TWO_PI; /* |p| < 4π: no tie */
            }
        cr_assert_float_eq(obs[2 * b], c, 1e-14, "mean cos P %.15g vs %.15g", obs[2 * b], c);
        cr_assert_float_eq(q, qd, 1e-12, "Q %.15g vs direct %.15g", q, qd);
    }
    cr_log_info("%d random configurations: |Q − round(Q)| ≤ %.3g, %d with Q ≠ 0", NB, worst,
                nonzero);
    cr_assert_gt(nonzero, 0, "random configurations should carry some charge");
    cr_assert_str_eq(pf_target_observable_name(t, 0), "plaquette");
    cr_assert_str_eq(pf_target_observable_name(t, 1), "Q");
    pf_target_destroy(t);
}

Test(u1, summaries_with_equal_weights_are_plain_means_and_ignore_a_log_weight_shift)
{
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, 1.0, &t), PF_OK);
    cr_assert_eq(pf_target_n_summaries(t), 3);
    double th[NB * 2 * V5], obs[NB * 2], lw[NB], w[NB], v[3], v_shift[3], z = 0;
    pft_fill_uniform(41, NB * 2 * V5, th, 0, TWO_PI);
    cr_assert_eq(pf_target_observables(t, NB, th, obs), PF_OK);
    pft_fill_normal(42, NB, lw, 1.0);
    for (int b = 0; b < NB; b++) {
        w[b] = exp(lw[b]);
        z += w[b];
    }
    for (int pass = 0; pass < 2; pass++) { /* equal, then importance weights */
        double c = 0, q = 0, q2 = 0;
        for (int b = 0; b < NB; b++) {
            double wb = pass ? w[b] / z : 1.0 / NB;
            c += wb * obs[2 * b];
            q += wb * obs[2 * b + 1];
            q2 += wb * obs[2 * b + 1] * obs[2 * b + 1];
        }
        double ref[3] = {c, q, (q2 - q * q) / V5};
        cr_assert_eq(pf_target_summaries(t, NB, th, pass ? lw : NULL, v), PF_OK);
        double e = pft_max_rel_err(3, v, ref, 1e-12);
        cr_assert_lt(e, 1e-12, "%s weights: max rel err %.3g (chi_t %.15g vs %.15g)",
                     pass ? "importance" : "equal", e, v[2], ref[2]);
    }
    for (int b = 0; b < NB; b++)
        lw[b] += 1000;
    cr_assert_eq(pf_target_summaries(t, NB, th, lw, v_shift), PF_OK, "%s", pf_last_error());
    double e = pft_max_rel_err(3, v_shift, v, 1e-12);
    cr_assert_lt(e, 1e-11, "log_w + 1000: max rel err %.3g", e);
    cr_assert_str_eq(pf_target_summary_name(t, 2), "chi_t");
    pf_target_destroy(t);
}

Test(u1, bad_lattices_and_arguments_are_refused_with_messages)
{
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(1, 4, 1.0, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lattice"), "%s", pf_last_error());
    cr_assert_eq(pf_target_u1_create(4, -2, 1.0, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "4×-2"), "%s", pf_last_error());
    cr_assert_eq(pf_target_u1_create(4, 4, NAN, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "beta"), "%s", pf_last_error());
    cr_assert_eq(pf_target_u1_create(3, 4, 1.0, &t), PF_OK);
    int shape[4];
    cr_assert_eq(pf_target_shape(t, shape), 3);
    cr_assert(shape[0] == 2 && shape[1] == 3 && shape[2] == 4, "shape %d×%d×%d", shape[0], shape[1],
              shape[2]);
    double x[24] = {0}, S;
    cr_assert_eq(pf_target_action(t, -1, x, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "B = -1"), "%s", pf_last_error());
    cr_assert_eq(pf_target_action(t, 1, x, NULL), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "u1 target action: S is NULL"), "%s",
                       pf_last_error());
    pf_rng rng = pf_rng_make(1, 1);
    cr_assert_eq(pf_target_sample(t, &rng, 1, x), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "u1"), "%s", pf_last_error());
    double log_z;
    cr_assert_eq(pf_target_log_z(t, &log_z), PF_ERR_UNSUPPORTED);
    cr_assert_str_eq(pf_target_kind(t), "u1");
    pf_target_destroy(t);
}
