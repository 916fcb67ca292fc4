/* Tests for src/targets/custom.c: a double-well callback target (force
 * against finite differences), the user pointer and batch size reaching both
 * callbacks, failures becoming PF_ERR_CALLBACK with the value, a missing force,
 * coordinate observables and weighted-mean summaries. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

enum { D = 3 };

/* S = a Σ_i (x_i² − 1)² + g Σ_i x_i x_{i+1}: a coupled double well. */
typedef struct well {
    double a, g;
    int action_calls, force_calls, last_B;
    int fail_with; /* returned by both callbacks (0: succeed) */
} well;

static int well_action(void *user, int B, const double *x, double *S)
{
    well *w = user;
    w->action_calls++;
    w->last_B = B;
    if (w->fail_with)
        return w->fail_with;
    for (int b = 0; b < B; b++) {
        const double *xb = x + b * D;
        S[b] = 0;
        for (int i = 0; i < D; i++)
            S[b] += w->a * (xb[i] * xb[i] - 1) * (xb[i] * xb[i] - 1);
        for (int i = 0; i + 1 < D; i++)
            S[b] += w->g * xb[i] * xb[i + 1];
    }
    return 0;
}

static int well_force(void *user, int B, const double *x, double *F)
{
    well *w = user;
    w->force_calls++;
    w->last_B = B;
    if (w->fail_with)
        return w->fail_with;
    for (int b = 0; b < B; b++) {
        const double *xb = x + b * D;
        double *Fb = F + b * D;
        for (int i = 0; i < D; i++)
            Fb[i] = 4 * w->a * xb[i] * (xb[i] * xb[i] - 1) +
                    w->g * ((i > 0 ? xb[i - 1] : 0) + (i + 1 < D ? xb[i + 1] : 0));
    }
    return 0;
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK, "%s", pf_last_error());
    return S;
}

Test(custom, callbacks_receive_the_user_pointer_and_the_force_matches_finite_differences)
{
    enum { B = 8 };
    well w = {1.5, 0.4, 0, 0, 0, 0};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(D, well_action, well_force, &w, &t), PF_OK, "%s",
                 pf_last_error());
    double x[B * D], F[B * D], fd[D], worst = 0;
    pft_fill_normal(1, B * D, x, 1.0);
    cr_assert_eq(pf_target_force(t, B, x, F), PF_OK, "%s", pf_last_error());
    cr_assert_eq(w.force_calls, 1, "force callback called %d times", w.force_calls);
    cr_assert_eq(w.last_B, B, "force callback saw B = %d", w.last_B);
    for (int b = 0; b < B; b++) {
        pft_fd_gradient(action_of, t, D, x + b * D, 1e-4, fd);
        worst = fmax(worst, pft_rel_err(D, F + b * D, fd, 1e-8));
    }
    cr_log_info("double well: force FD rel err %.3g (tolerance 1e-6)", worst);
    cr_assert_lt(worst, 1e-6, "force rel err %.3g", worst);
    cr_assert_eq(w.action_calls, 4 * B * D, "action callback called %d times", w.action_calls);
    cr_assert_str_eq(pf_target_kind(t), "custom");
    cr_assert_eq(pf_target_dim(t), D);
    pf_target_destroy(t);
}

Test(custom, failing_callbacks_become_callback_errors_with_their_value)
{
    well w = {1.0, 0.0, 0, 0, 0, 3};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(D, well_action, well_force, &w, &t), PF_OK);
    double x[D] = {0}, S, F[D];
    cr_assert_eq(pf_target_action(t, 1, x, &S), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "action callback returned 3 (recoverable)"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "force callback returned 3 (recoverable)"), "%s",
                       pf_last_error());
    w.fail_with = -2;
    cr_assert_eq(pf_target_action(t, 1, x, &S), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "action callback returned -2 (fatal)"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "force callback returned -2 (fatal)"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_target_summaries(t, 1, x, NULL, F), PF_OK, "summaries need no callback");
    pf_target_destroy(t);
}

Test(custom, missing_callbacks_and_samplers_are_reported)
{
    well w = {1.0, 0.0, 0, 0, 0, 0};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(D, NULL, NULL, &w, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "action callback is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_custom_create(0, well_action, NULL, &w, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "dim = 0"), "%s", pf_last_error());
    cr_assert_eq(pf_target_custom_create(D, well_action, NULL, &w, &t), PF_OK);
    double x[D] = {0}, F[D], S, log_z;
    cr_assert_eq(pf_target_action(t, 1, x, &S), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "custom"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "force"), "%s", pf_last_error());
    cr_assert_eq(pf_target_has_sampler(t), 0);
    pf_rng rng = pf_rng_make(1, 1);
    cr_assert_eq(pf_target_sample(t, &rng, 1, x), PF_ERR_UNSUPPORTED);
    cr_assert_eq(pf_target_log_z(t, &log_z), PF_ERR_UNSUPPORTED);
    cr_assert_eq(pf_target_action(t, 0, x, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "custom target action: batch size B = 0"), "%s",
                       pf_last_error());
    pf_target_destroy(t);
}

Test(custom, observables_are_the_coordinates_and_summaries_their_weighted_means)
{
    enum { B = 4 };
    well w = {1.0, 0.0, 0, 0, 0, 0};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(D, well_action, well_force, &w, &t), PF_OK);
    cr_assert_eq(pf_target_n_observables(t), D);
    cr_assert_eq(pf_target_n_summaries(t), D);
    double x[B * D], obs[B * D], lw[B] = {0.3, -1.0, 2.0, 0.0}, v[D], v_shift[D];
    pft_fill_normal(2, B * D, x, 1.0);
    cr_assert_eq(pf_target_observables(t, B, x, obs), PF_OK);
    for (int i = 0; i < B * D; i++)
        cr_assert_eq(obs[i], x[i], "observable %d: %.17g vs coordinate %.17g", i, obs[i], x[i]);
    cr_assert_eq(pf_target_summaries(t, B, x, lw, v), PF_OK);
    double z = 0;
    for (int b = 0; b < B; b++)
        z += exp(lw[b]);
    for (int i = 0; i < D; i++) {
        double m = 0;
        for (int b = 0; b < B; b++)
            m += exp(lw[b]) / z * x[b * D + i];
        cr_assert_float_eq(v[i], m, 1e-14, "mean x[%d] = %.17g, direct %.17g", i, v[i], m);
    }
    for (int b = 0; b < B; b++)
        lw[b] -= 30;
    cr_assert_eq(pf_target_summaries(t, B, x, lw, v_shift), PF_OK);
    double e = pft_max_rel_err(D, v_shift, v, 1e-12);
    cr_assert_lt(e, 1e-13, "log_w − 30: max rel err %.3g", e);
    cr_assert_eq(w.action_calls + w.force_calls, 0, "observables must not call the physics");
    cr_assert_str_eq(pf_target_observable_name(t, 2), "x[2]");
    pf_target_destroy(t);
}
