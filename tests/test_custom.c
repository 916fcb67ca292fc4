/* Tests for src/targets/custom.c: callbacks, the user pointer, failures. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

typedef struct well {
    double a;  /* S = a Σ (x_i² − 1)² */
    int calls;
    int fail_with;
} well;

static int well_action(void *user, int B, const double *x, double *S)
{
    well *w = user;
    w->calls++;
    if (w->fail_with)
        return w->fail_with;
    for (int b = 0; b < B; b++) {
        S[b] = 0;
        for (int i = 0; i < 3; i++)
            S[b] += w->a * pow(x[b * 3 + i] * x[b * 3 + i] - 1, 2);
    }
    return 0;
}

static int well_force(void *user, int B, const double *x, double *F)
{
    well *w = user;
    for (int i = 0; i < 3 * B; i++)
        F[i] = 4 * w->a * x[i] * (x[i] * x[i] - 1);
    return w->fail_with;
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK);
    return S;
}

Test(custom, callbacks_receive_the_user_pointer_and_the_force_matches_finite_differences)
{
    well w = {1.5, 0, 0};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(3, well_action, well_force, &w, &t), PF_OK);
    double x[3], F[3], fd[3];
    pft_fill_normal(1, 3, x, 1.0);
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_OK);
    pft_fd_gradient(action_of, t, 3, x, 1e-4, fd);
    cr_assert_lt(pft_rel_err(3, F, fd, 1e-8), 1e-6);
    cr_assert_gt(w.calls, 0);
    cr_assert_str_eq(pf_target_kind(t), "custom");
    pf_target_destroy(t);
}

Test(custom, failing_callbacks_become_callback_errors_with_their_value)
{
    well w = {1.0, 0, 3};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(3, well_action, well_force, &w, &t), PF_OK);
    double x[3] = {0}, S, F[3];
    cr_assert_eq(pf_target_action(t, 1, x, &S), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "returned 3 (recoverable)"), "%s",
                       pf_last_error());
    w.fail_with = -2;
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_ERR_CALLBACK);
    cr_assert_not_null(strstr(pf_last_error(), "force callback returned -2 (fatal)"), "%s",
                       pf_last_error());
    pf_target_destroy(t);
}

Test(custom, missing_callbacks_and_samplers_are_reported)
{
    well w = {1.0, 0, 0};
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(3, NULL, NULL, &w, &t), PF_ERR_ARG);
    cr_assert_eq(pf_target_custom_create(0, well_action, NULL, &w, &t), PF_ERR_ARG);
    cr_assert_eq(pf_target_custom_create(3, well_action, NULL, &w, &t), PF_OK);
    double x[3] = {0}, F[3];
    cr_assert_eq(pf_target_force(t, 1, x, F), PF_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(pf_last_error(), "force"), "%s", pf_last_error());
    cr_assert_eq(pf_target_has_sampler(t), 0);
    pf_target_destroy(t);
}
