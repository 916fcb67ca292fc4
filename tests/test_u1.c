/* Tests for src/targets/u1.c: Wilson action against a direct loop, force
 * against finite differences, gauge invariance, integer topological charge. */
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

static double direct_action(const double *th, int L0, int L1, double beta)
{
    double S = 0;
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++) {
            double P = link(th, L0, L1, 0, x0, x1) + link(th, L0, L1, 1, x0 + 1, x1) -
                       link(th, L0, L1, 0, x0, x1 + 1) - link(th, L0, L1, 1, x0, x1);
            S -= beta * cos(P);
        }
    return S;
}

Test(u1, action_agrees_with_a_direct_loop_on_random_configurations)
{
    const int sizes[2][2] = {{4, 4}, {3, 5}};
    for (int k = 0; k < 2; k++) {
        int L0 = sizes[k][0], L1 = sizes[k][1], d = 2 * L0 * L1;
        pf_target *t;
        cr_assert_eq(pf_target_u1_create(L0, L1, 2.0, &t), PF_OK);
        cr_assert_eq(pf_target_dim(t), d);
        double th[3 * 32], S[3];
        pft_fill_uniform(10 + k, (size_t)3 * d, th, 0, TWO_PI);
        cr_assert_eq(pf_target_action(t, 3, th, S), PF_OK);
        for (int b = 0; b < 3; b++) {
            double ref = direct_action(th + b * d, L0, L1, 2.0);
            cr_assert_float_eq(S[b], ref, 1e-12 * (1 + fabs(ref)), "%d×%d: %.15g vs %.15g", L0,
                               L1, S[b], ref);
        }
        pf_target_destroy(t);
    }
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK);
    return S;
}

Test(u1, force_matches_finite_differences)
{
    const int sizes[2][2] = {{4, 4}, {3, 5}};
    for (int k = 0; k < 2; k++) {
        int L0 = sizes[k][0], L1 = sizes[k][1], d = 2 * L0 * L1;
        pf_target *t;
        cr_assert_eq(pf_target_u1_create(L0, L1, 1.7, &t), PF_OK);
        double th[32], F[32], fd[32];
        pft_fill_uniform(20 + k, (size_t)d, th, 0, TWO_PI);
        cr_assert_eq(pf_target_force(t, 1, th, F), PF_OK);
        pft_fd_gradient(action_of, t, (size_t)d, th, 1e-4, fd);
        double e = pft_rel_err((size_t)d, F, fd, 1e-8);
        cr_assert_lt(e, 1e-6, "%d×%d: force rel err %g", L0, L1, e);
        pf_target_destroy(t);
    }
}

Test(u1, action_and_plaquettes_are_invariant_under_random_gauge_transformations)
{
    enum { L0 = 4, L1 = 6, V = L0 * L1 };
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L0, L1, 3.0, &t), PF_OK);
    double th[2 * V], g[2 * V], alpha[V], P[V], Pg[V], S[2];
    pft_fill_uniform(30, 2 * V, th, 0, TWO_PI);
    pft_fill_uniform(31, V, alpha, -10, 10);
    pf_u1_gauge_transform(L0, L1, alpha, th, g);
    pf_target_action(t, 1, th, S);
    pf_target_action(t, 1, g, S + 1);
    cr_assert_float_eq(S[0], S[1], 1e-12 * fabs(S[0]), "%.15g vs %.15g", S[0], S[1]);
    pf_u1_plaquettes(L0, L1, th, P);
    pf_u1_plaquettes(L0, L1, g, Pg);
    for (int i = 0; i < V; i++) {
        double diff = pf_u1_wrap(P[i] - Pg[i]);
        cr_assert_lt(fabs(diff), 1e-12, "plaquette %d changed by %g", i, diff);
    }
    pf_target_destroy(t);
}

Test(u1, topological_charge_is_an_integer_and_observables_match_direct_sums)
{
    enum { L0 = 5, L1 = 5, V = L0 * L1, B = 20 };
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L0, L1, 1.0, &t), PF_OK);
    double th[B * 2 * V], obs[B * 2], P[V];
    pft_fill_uniform(40, B * 2 * V, th, 0, TWO_PI);
    cr_assert_eq(pf_target_observables(t, B, th, obs), PF_OK);
    int nonzero = 0;
    for (int b = 0; b < B; b++) {
        double q = obs[2 * b + 1];
        cr_assert_lt(fabs(q - round(q)), 1e-9, "Q = %.12f is not an integer", q);
        nonzero += round(q) != 0;
        pf_u1_plaquettes(L0, L1, th + b * 2 * V, P);
        double c = 0;
        for (int i = 0; i < V; i++)
            c += cos(P[i]) / V;
        cr_assert_float_eq(obs[2 * b], c, 1e-14);
    }
    cr_assert_gt(nonzero, 0, "random configurations should carry some charge");
    cr_assert_float_eq(pf_u1_wrap(PF_PI), PF_PI, 1e-15);
    cr_assert_float_eq(pf_u1_wrap(-PF_PI), PF_PI, 1e-15);
    cr_assert_float_eq(pf_u1_wrap(3 * PF_PI + 0.1), -PF_PI + 0.1, 1e-12);
    double values[3];
    cr_assert_eq(pf_target_summaries(t, B, th, NULL, values), PF_OK);
    double q = 0, q2 = 0;
    for (int b = 0; b < B; b++) {
        q += obs[2 * b + 1] / B;
        q2 += obs[2 * b + 1] * obs[2 * b + 1] / B;
    }
    cr_assert_float_eq(values[2], (q2 - q * q) / V, 1e-12, "chi_t");
    pf_target_destroy(t);
}
