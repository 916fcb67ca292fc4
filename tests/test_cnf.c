/* Tests for ode/cnf.c and ode/cvodes_solve.c: a linear field against the
 * matrix exponential, path = path-dropin for both objectives, total/ml
 * against finite differences, sticking the landing, solver failures. */
#include <criterion/criterion.h>

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>
#include <pathflow/train.h>

#include "testutil.h"

static int use_bdf = 0; /* make_cnf's solver: Adams + fixed point, or BDF + Newton */

static pf_flow *make_cnf(int d, int n_hidden, int width, const char *act, double tol,
                         unsigned long long seed)
{
    pf_cnf_options o = pf_cnf_options_default();
    o.dim = d;
    o.n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++)
        o.hidden[i] = width;
    o.activation = act;
    o.zero_init = 0;
    o.init_scale = 0.7;
    o.seed = seed;
    o.rtol = o.atol = tol;
    o.max_steps = 100000;
    o.bdf = use_bdf;
    pf_flow *flow;
    cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, 16), PF_OK, "%s", pf_last_error());
    return flow;
}

/* exp(sA) for symmetric A (d×d) by the eigendecomposition A = V Λ Vᵀ. */
static void expm_symmetric(int d, const double *A, double s, double *out)
{
    double V[16], lambda[4];
    memcpy(V, A, (size_t)d * d * sizeof *A);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', d, V, d, lambda), 0);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double v = 0;
            for (int k = 0; k < d; k++)
                v += V[i * d + k] * exp(s * lambda[k]) * V[j * d + k];
            out[i * d + j] = v;
        }
}

Test(cnf, linear_field_matches_the_matrix_exponential_ldj_and_gaussian_score)
{
    enum { d = 3, B = 4 };
    pf_flow *flow = make_cnf(d, 0, 0, "identity", 1e-12, 1);
    /* f(x, t) = A x: W = [A | 0] (d×(d+1)), b = 0, A symmetric */
    double A[d * d], G[d * d];
    pft_fill_normal(2, d * d, G, 0.6);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            A[i * d + j] = 0.5 * (G[i * d + j] + G[j * d + i]);
    double *theta = pf_flow_params(flow);
    memset(theta, 0, pf_flow_n_params(flow) * sizeof *theta);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            theta[i * (d + 1) + j] = A[i * d + j];
    double z[B * d], x[B * d], ldj[B], s0[B * d], score[B * d], E[d * d], P[d * d];
    pft_fill_normal(3, B * d, z, 1.0);
    pf_flow_base_log_prob(flow, B, z, NULL, s0);
    cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, s0, score), PF_OK, "%s", pf_last_error());
    expm_symmetric(d, A, 1.0, E);   /* x = e^{A} z */
    expm_symmetric(d, A, -2.0, P);  /* pushed-forward N(0, e^{2A}): score −e^{−2A} x */
    double trace = A[0] + A[4] + A[8];
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < d; i++) {
            double xe = 0, se = 0;
            for (int k = 0; k < d; k++) {
                xe += E[i * d + k] * z[b * d + k];
                se -= P[i * d + k] * x[b * d + k];
            }
            cr_assert_float_eq(x[b * d + i], xe, 1e-8 * (1 + fabs(xe)), "x %g vs %g", x[b * d + i], xe);
            cr_assert_float_eq(score[b * d + i], se, 1e-8 * (1 + fabs(se)), "score %g vs %g",
                               score[b * d + i], se);
        }
        cr_assert_float_eq(ldj[b], trace, 1e-9, "ldj %.12g vs t·tr(A) = %.12g", ldj[b], trace);
    }
    pf_flow_destroy(flow);
}

static void estimator_gradient(pf_objective obj, pf_estimator_kind kind, pf_flow *flow,
                               pf_target *t, int B, const double *in, double *grad)
{
    pf_estimator *e;
    cr_assert_eq(pf_estimator_create(obj, kind, flow, t, 16, &e), PF_OK, "%s", pf_last_error());
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(e, B, in, grad, NULL, &r), PF_OK, "%s", pf_last_error());
    pf_estimator_destroy(e);
}

static void check_path_equals_dropin(void)
{
    enum { d = 2, B = 6 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_flow *flow = make_cnf(d, 2, 8, "tanh", 1e-10, 4);
    size_t n = pf_flow_n_params(flow);
    double *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2), in[B * d];
    for (int obj = 0; obj < 2; obj++) {
        pf_rng rng = pf_rng_make(5 + obj, 0);
        if (obj == 0)
            pf_flow_sample_base(flow, &rng, B, in);
        else
            pf_target_sample(t, &rng, B, in);
        estimator_gradient((pf_objective)obj, PF_ESTIMATOR_PATH, flow, t, B, in, g1);
        estimator_gradient((pf_objective)obj, PF_ESTIMATOR_PATH_DROPIN, flow, t, B, in, g2);
        double e = pft_rel_err(n, g1, g2, 1e-300);
        cr_log_info("%s: path vs path-dropin rel err %.3g", obj ? "forward" : "reverse", e);
        cr_assert_lt(e, 1e-6, "%s: path vs path-dropin rel err %g", obj ? "forward" : "reverse", e);
        cr_assert_gt(pft_max_abs(n, g1), 1e-3);
    }
    const pf_ode_stats *s = pf_flow_ode_stats(flow);
    cr_assert_gt(s->solves, 0);
    cr_assert_gt(s->solves_b, 0);
    free(g1);
    free(g2);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(cnf, recursive_and_adjoint_path_gradients_agree_for_both_objectives)
{
    use_bdf = 0;
    check_path_equals_dropin();
}

Test(cnf, recursive_and_adjoint_path_gradients_agree_with_bdf_and_newton_too)
{
    use_bdf = 1;
    check_path_equals_dropin();
}

Test(cnf, inverse_undoes_forward_and_log_determinants_are_opposite)
{
    enum { d = 3, B = 5 };
    pf_flow *flow = make_cnf(d, 1, 10, "softplus", 1e-11, 8);
    double z[B * d], x[B * d], back[B * d], ldj[B], ldj_inv[B];
    pft_fill_normal(9, B * d, z, 1.0);
    cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_OK);
    cr_assert_eq(pf_flow_inverse(flow, B, x, back, ldj_inv, NULL, NULL), PF_OK);
    cr_assert_gt(pft_rel_err(B * d, x, z, 1e-300), 0.05, "the field should move the samples");
    cr_assert_lt(pft_max_rel_err(B * d, back, z, 1.0), 1e-8);
    for (int b = 0; b < B; b++)
        cr_assert_float_eq(ldj[b], -ldj_inv[b], 1e-8, "%.12g vs %.12g", ldj[b], ldj_inv[b]);
    pf_flow_destroy(flow);
}

typedef struct loss_ctx {
    pf_estimator *e;
    int B;
    const double *in;
    double *scratch;
} loss_ctx;

static double loss_of_params(void *p, const double *unused)
{
    (void)unused;
    loss_ctx *c = p;
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(c->e, c->B, c->in, c->scratch, NULL, &r), PF_OK, "%s",
                 pf_last_error());
    return r.loss;
}

Test(cnf, total_and_ml_gradients_match_finite_differences_of_the_loss)
{
    enum { d = 2, B = 4 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_flow *flow = make_cnf(d, 1, 6, "tanh", 1e-11, 10);
    size_t n = pf_flow_n_params(flow);
    const pf_estimator_kind kinds[2] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_ML};
    for (int obj = 0; obj < 2; obj++) {
        double in[B * d], *g = malloc(n * sizeof *g), *fd = malloc(n * sizeof *fd);
        double *scratch = malloc(n * sizeof *scratch);
        pf_rng rng = pf_rng_make(11 + obj, 0);
        if (obj == 0)
            pf_flow_sample_base(flow, &rng, B, in);
        else
            pf_target_sample(t, &rng, B, in);
        pf_estimator *e;
        cr_assert_eq(pf_estimator_create((pf_objective)obj, kinds[obj], flow, t, B, &e), PF_OK);
        pf_estimate r;
        cr_assert_eq(pf_estimator_eval(e, B, in, g, NULL, &r), PF_OK, "%s", pf_last_error());
        loss_ctx c = {e, B, in, scratch};
        pft_fd_gradient(loss_of_params, &c, n, pf_flow_params(flow), 1e-4, fd);
        double err = pft_rel_err(n, g, fd, 1e-8);
        cr_log_info("%s vs FD of the loss: rel err %.3g", pf_estimator_kind_name(kinds[obj]), err);
        cr_assert_lt(err, 1e-5, "%s vs FD: rel err %g", pf_estimator_kind_name(kinds[obj]), err);
        pf_estimator_destroy(e);
        free(g);
        free(fd);
        free(scratch);
    }
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

/* The density of a CNF as a target, through its inverse solve and adjoint. */
static int cnf_action(void *user, int B, const double *x, double *S)
{
    pf_flow *flow = user;
    double z[64], ldj[32], lq0[32];
    if (pf_flow_inverse(flow, B, x, z, ldj, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, lq0, NULL);
    for (int b = 0; b < B; b++)
        S[b] = -(lq0[b] + ldj[b]);
    return 0;
}

static int cnf_force(void *user, int B, const double *x, double *F)
{
    pf_flow *flow = user;
    const int d = pf_flow_dim(flow);
    double z[64], ldj[32], s0[64], ones[32];
    if (pf_flow_inverse(flow, B, x, z, ldj, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, NULL, s0);
    for (int b = 0; b < B; b++)
        ones[b] = 1;
    memset(F, 0, (size_t)B * d * sizeof *F);
    if (pf_flow_backward(flow, B, s0, ones, NULL, F) != PF_OK)
        return -1;
    for (int i = 0; i < B * d; i++)
        F[i] = -F[i];
    return 0;
}

Test(cnf, path_gradient_sticks_the_landing_when_the_target_is_the_cnfs_own_density)
{
    enum { d = 2, N = 5 };
    pf_flow *flow = make_cnf(d, 1, 8, "tanh", 1e-10, 12), *twin = make_cnf(d, 1, 8, "tanh", 1e-10, 12);
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(d, cnf_action, cnf_force, twin, &t), PF_OK);
    size_t n = pf_flow_n_params(flow);
    double z[N * d], *g = malloc(n * sizeof *g), max_path = 0, min_total = INFINITY;
    pf_rng rng = pf_rng_make(13, 0);
    pf_flow_sample_base(flow, &rng, N, z);
    for (int s = 0; s < N; s++) {
        estimator_gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH, flow, t, 1, z + s * d, g);
        max_path = fmax(max_path, pft_max_abs(n, g));
        estimator_gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_TOTAL, flow, t, 1, z + s * d, g);
        min_total = fmin(min_total, pft_max_abs(n, g));
    }
    cr_log_info("per-sample max |path| %.2g, min max |total| %.2g", max_path, min_total);
    cr_assert_lt(max_path, 1e-6, "path should vanish up to the solver tolerance: %g", max_path);
    cr_assert_gt(min_total, 1e-3, "total should not vanish: %g", min_total);
    free(g);
    pf_target_destroy(t);
    pf_flow_destroy(flow);
    pf_flow_destroy(twin);
}

Test(cnf, exceeding_max_steps_or_a_non_finite_field_ends_the_solve_with_a_clear_error)
{
    enum { d = 2, B = 3 };
    pf_cnf_options o = pf_cnf_options_default();
    o.zero_init = 0;
    o.init_scale = 3.0;
    o.rtol = o.atol = 1e-12;
    o.max_steps = 3;
    pf_flow *flow;
    cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK);
    cr_assert_eq(pf_flow_reserve(flow, B), PF_OK);
    double z[B * d], x[B * d], ldj[B];
    pft_fill_normal(14, B * d, z, 1.0);
    cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_ERR_SOLVER);
    cr_assert_not_null(strstr(pf_last_error(), "CV_TOO_MUCH_WORK"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "cnf forward solve"), "%s", pf_last_error());
    /* where it stopped and the step counts: max_steps = 3 steps were taken */
    cr_assert_not_null(strstr(pf_last_error(), "failed at t = "), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "after 3 steps ("), "%s", pf_last_error());
    pf_flow_destroy(flow);
    o.max_steps = 1000;
    o.rtol = o.atol = 1e-6;
    cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK);
    cr_assert_eq(pf_flow_reserve(flow, B), PF_OK);
    pf_flow_params(flow)[0] = NAN;
    cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_ERR_NUMERIC);
    cr_assert_not_null(strstr(pf_last_error(), "non-finite"), "%s", pf_last_error());
    /* the trainer skips such steps and stops after max_bad_steps of them */
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_train_options to = pf_train_options_default();
    to.batch = B;
    to.steps = 10;
    to.max_bad_steps = 3;
    to.eval_samples = 4;
    to.n_holdout = 4;
    pf_trainer *tr;
    cr_assert_eq(pf_trainer_create(flow, t, &to, &tr), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_step(tr, NULL, NULL), PF_OK);
    cr_assert_eq(pf_trainer_step(tr, NULL, NULL), PF_OK);
    cr_assert_neq(pf_trainer_step(tr, NULL, NULL), PF_OK);
    cr_assert_not_null(strstr(pf_last_error(), "training stopped"), "%s", pf_last_error());
    pf_trainer_destroy(tr);
    pf_target_destroy(t);
    pf_flow_destroy(flow);
}

Test(cnf, long_solves_with_small_checkpoint_intervals_keep_the_adjoint_exact)
{
    /* CVODES users met re-integration trouble between checkpoints on long
     * solves (llnl/sundials issues 31, 49): a fast rotation (period ~0.3 over
     * t1 = 20, thousands of steps), a checkpoint every 3 steps, and the
     * adjoint route must still equal the recursive one. */
    enum { d = 2, B = 2 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_cnf_options o = pf_cnf_options_default();
    o.n_hidden = 0;
    o.activation = "tanh";
    o.zero_init = 0;
    o.t1 = 20.0;
    o.rtol = o.atol = 1e-10;
    o.checkpoint_steps = 3;
    o.max_steps = 200000;
    pf_flow *flow;
    cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK);
    cr_assert_eq(pf_flow_reserve(flow, B), PF_OK);
    /* f = W (x, t) + b: rotation with a little contraction and time drift */
    const double W[6] = {-0.05, 20.0, 0.01, -20.0, 0.03, -0.02};
    memcpy(pf_flow_params(flow), W, sizeof W);
    size_t n = pf_flow_n_params(flow);
    double z[B * d], *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2);
    pf_rng rng = pf_rng_make(16, 0);
    pf_flow_sample_base(flow, &rng, B, z);
    estimator_gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH, flow, t, B, z, g1);
    const pf_ode_stats *s = pf_flow_ode_stats(flow);
    long steps = s->steps;
    estimator_gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH_DROPIN, flow, t, B, z, g2);
    double e = pft_rel_err(n, g1, g2, 1e-300);
    cr_log_info("long solve: %ld forward steps, %ld checkpoints, %ld adjoint steps; rel err %.3g",
                steps, s->checkpoints, s->steps_b, e);
    cr_assert_gt(steps, 1000, "the solve should be long: %ld steps", steps);
    cr_assert_lt(e, 1e-5, "path vs path-dropin rel err %g", e);
    free(g1);
    free(g2);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(cnf, estimators_can_take_turns_on_one_flow)
{
    /* Regression: CVODES integrates every backward problem of a memory, so a
     * second backward problem per solver broke the next adjoint solve when
     * estimators alternated (found by pathflow bench). */
    enum { d = 2, B = 8 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_flow *flow = make_cnf(d, 1, 8, "tanh", 1e-6, 20);
    const pf_objective obj[6] = {0, 0, 0, 1, 1, 1};
    const pf_estimator_kind kind[6] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_PATH,
                                       PF_ESTIMATOR_PATH_DROPIN, PF_ESTIMATOR_ML,
                                       PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN};
    double in[B * d], *g = malloc(pf_flow_n_params(flow) * sizeof *g);
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 6; k++) {
            pf_rng rng = pf_rng_make(21, (uint64_t)(10 * round + k));
            if (obj[k] == PF_OBJECTIVE_REVERSE)
                pf_flow_sample_base(flow, &rng, B, in);
            else
                pf_target_sample(t, &rng, B, in);
            estimator_gradient(obj[k], kind[k], flow, t, B, in, g);
        }
    free(g);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}
