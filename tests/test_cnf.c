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

#include "testutil.h"

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

Test(cnf, recursive_and_adjoint_path_gradients_agree_for_both_objectives)
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
