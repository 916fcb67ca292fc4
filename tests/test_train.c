/* Tests for src/train/{adam,schedule,metrics}.c against closed forms. */
#include <criterion/criterion.h>

#include <math.h>

#include <pathflow/train.h>

#include "testutil.h"

Test(train, adam_first_step_moves_every_parameter_by_lr_against_the_gradient_sign)
{
    /* m̂ = g, v̂ = g² after one step, so Δθ = −lr·g/(|g| + ε). */
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(3, 0.9, 0.999, 1e-12, &adam), PF_OK);
    double theta[3] = {1, 2, 3}, g[3] = {0.5, -2e-3, 40};
    pf_adam_step(adam, theta, g, 0.1);
    const double expected[3] = {0.9, 2.1, 2.9};
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(theta[i], expected[i], 1e-9, "θ[%d] = %.12g", i, theta[i]);
    pf_adam_destroy(adam);
}

Test(train, adam_matches_the_bias_corrected_recurrence_over_many_steps)
{
    enum { n = 4, steps = 25 };
    const double b1 = 0.8, b2 = 0.95, eps = 1e-6, lr = 0.03;
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(n, b1, b2, eps, &adam), PF_OK);
    double theta[n] = {0.3, -1, 2, 0}, ref[n], m[n] = {0}, v[n] = {0};
    for (int i = 0; i < n; i++)
        ref[i] = theta[i];
    for (int t = 1; t <= steps; t++) {
        double g[n];
        pft_fill_normal((uint64_t)t, n, g, 1.0);
        pf_adam_step(adam, theta, g, lr);
        for (int i = 0; i < n; i++) { /* the textbook recurrence, written out */
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            ref[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
    }
    cr_assert_lt(pft_max_rel_err(n, theta, ref, 1e-12), 1e-13);
    pf_adam_destroy(adam);
}

Test(train, adam_minimises_a_quadratic)
{
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(2, 0.9, 0.999, 1e-8, &adam), PF_OK);
    double theta[2] = {3, -4};
    for (int t = 0; t < 3000; t++) {
        double g[2] = {2 * (theta[0] - 1), 20 * (theta[1] + 2)};
        pf_adam_step(adam, theta, g, 0.01);
    }
    cr_assert_float_eq(theta[0], 1.0, 1e-3, "θ0 = %g", theta[0]);
    cr_assert_float_eq(theta[1], -2.0, 1e-3, "θ1 = %g", theta[1]);
    pf_adam_destroy(adam);
}

Test(train, adam_refuses_invalid_hyperparameters)
{
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(2, 1.0, 0.999, 1e-8, &adam), PF_ERR_ARG);
    cr_assert_eq(pf_adam_create(2, 0.9, 0.999, 0.0, &adam), PF_ERR_ARG);
}

Test(train, cosine_schedule_runs_from_lr_to_min_lr_and_warmup_is_linear)
{
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 0, 100, 0), 1e-3, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 50, 100, 0),
                       1e-5 + (1e-3 - 1e-5) / 2, 1e-15);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 100, 100, 0), 1e-5, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_CONSTANT, 2e-3, 0, 77, 100, 0), 2e-3, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_CONSTANT, 2e-3, 0, 4, 100, 10), 1e-3, 1e-18);
    pf_schedule s;
    cr_assert_eq(pf_schedule_from_name("cosine", &s), PF_OK);
    cr_assert_eq(s, PF_SCHEDULE_COSINE);
    cr_assert_eq(pf_schedule_from_name("cosin", &s), PF_ERR_CONFIG);
}

Test(train, clipping_rescales_only_large_gradients)
{
    double g[2] = {3, 4};
    cr_assert_float_eq(pf_clip_grad_norm(2, g, 1.0), 5.0, 1e-15);
    cr_assert_float_eq(g[0], 0.6, 1e-15);
    cr_assert_float_eq(g[1], 0.8, 1e-15);
    double h[2] = {3, 4};
    pf_clip_grad_norm(2, h, 10.0);
    cr_assert(h[0] == 3 && h[1] == 4);
    pf_clip_grad_norm(2, h, 0.0);
    cr_assert(h[0] == 3 && h[1] == 4, "max_norm 0 means no clipping");
}

Test(train, ess_is_one_for_equal_weights_and_one_over_n_for_a_single_dominant_weight)
{
    enum { N = 50 };
    double lw[N];
    for (int i = 0; i < N; i++)
        lw[i] = -123.4; /* a constant shift must not matter */
    cr_assert_float_eq(pf_reverse_ess(N, lw), 1.0, 1e-14);
    cr_assert_float_eq(pf_forward_ess(N, lw), 1.0, 1e-14);
    lw[7] = 900.0;
    cr_assert_float_eq(pf_reverse_ess(N, lw), 1.0 / N, 1e-12);
}

Test(train, ess_matches_direct_formulas_on_moderate_weights)
{
    enum { N = 40 };
    double lw[N], w[N];
    pft_fill_normal(3, N, lw, 0.7);
    double s1 = 0, s2 = 0, sinv = 0;
    for (int i = 0; i < N; i++) {
        w[i] = exp(lw[i]);
        s1 += w[i];
        s2 += w[i] * w[i];
        sinv += 1 / w[i];
    }
    cr_assert_float_eq(pf_reverse_ess(N, lw), s1 * s1 / (N * s2), 1e-13);
    cr_assert_float_eq(pf_forward_ess(N, lw), 1.0 / ((s1 / N) * (sinv / N)), 1e-13);
    cr_assert_float_eq(pf_log_mean_exp(N, lw), log(s1 / N), 1e-13);
    /* huge log weights: no overflow */
    for (int i = 0; i < N; i++)
        lw[i] += 1e4;
    cr_assert_float_eq(pf_log_mean_exp(N, lw), log(s1 / N) + 1e4, 1e-9);
    cr_assert_float_eq(pf_reverse_ess(N, lw), s1 * s1 / (N * s2), 1e-12);
}
