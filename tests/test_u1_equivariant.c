/* Tests for src/flows/u1_equivariant.c (MATH §6, §4.3): gauge equivariance,
 * inversion by root finding, log-determinants against finite-difference
 * Jacobians, the score recursion, and the estimators on an implicit flow. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "core/linalg.h"
#include "targets/u1_lattice.h"
#include "testutil.h"

enum { L = 4, V = L * L, D = 2 * V, BMAX = 8 };
#define TWO_PI 6.283185307179586476925286766559

static pf_flow *random_u1_flow(int layers, double tol, unsigned long long seed)
{
    pf_u1_flow_options o = pf_u1_flow_options_default();
    o.L0 = o.L1 = L;
    o.n_layers = layers;
    o.hidden[0] = o.hidden[1] = 4;
    o.activation = "tanh";
    o.zero_init = 0;
    o.init_scale = 1.0;
    o.tolerance = tol;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_u1_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, BMAX), PF_OK);
    return flow;
}

/* Largest |a − b| taken on the circle. */
static double circle_err(int n, const double *a, const double *b)
{
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(pf_u1_wrap(a[i] - b[i])));
    return worst;
}

Test(u1_equivariant, flow_commutes_with_random_gauge_transformations)
{
    pf_flow *flow = random_u1_flow(8, 1e-12, 1);
    enum { B = 3 };
    double u[B * D], gu[B * D], x[B * D], gx[B * D], x_of_gu[B * D], alpha[V];
    double ldj[B], ldj_g[B];
    pft_fill_uniform(2, B * D, u, 0, TWO_PI);
    pf_flow_forward(flow, B, u, x, ldj, NULL, NULL);
    cr_assert_gt(circle_err(B * D, x, u), 0.1, "the flow should move links");
    for (int b = 0; b < B; b++) {
        pft_fill_uniform(3 + b, V, alpha, -10, 10);
        pf_u1_gauge_transform(L, L, alpha, u + b * D, gu + b * D);
        pf_u1_gauge_transform(L, L, alpha, x + b * D, gx + b * D);
    }
    pf_flow_forward(flow, B, gu, x_of_gu, ldj_g, NULL, NULL);
    double e = circle_err(B * D, x_of_gu, gx);
    cr_assert_lt(e, 1e-10, "flow(gauge(u)) vs gauge(flow(u)): %g", e);
    for (int b = 0; b < B; b++)
        cr_assert_float_eq(ldj[b], ldj_g[b], 1e-10, "ldj %.14g vs %.14g", ldj[b], ldj_g[b]);
    pf_flow_destroy(flow);
}

Test(u1_equivariant, inverse_recovers_the_links_to_the_tolerance)
{
    pf_flow *flow = random_u1_flow(8, 1e-12, 4);
    enum { B = 4 };
    double u[B * D], x[B * D], back[B * D], ldj[B], ldj_inv[B];
    pft_fill_uniform(5, B * D, u, 0, TWO_PI);
    long calls = pf_flow_root_finder_calls(flow);
    pf_flow_forward(flow, B, u, x, ldj, NULL, NULL);
    cr_assert_eq(pf_flow_root_finder_calls(flow), calls, "forward must not invert");
    pf_flow_inverse(flow, B, x, back, ldj_inv, NULL, NULL);
    cr_assert_eq(pf_flow_root_finder_calls(flow) - calls, (long)B * 8 * V / 4,
                 "one root solve per active plaquette");
    double e = circle_err(B * D, back, u);
    cr_assert_lt(e, 1e-9, "inverse(forward(u)) − u on the circle: %g", e);
    for (int b = 0; b < B; b++)
        cr_assert_float_eq(ldj[b], -ldj_inv[b], 1e-9, "%.14g vs %.14g", ldj[b], ldj_inv[b]);
    pf_flow_destroy(flow);
}

Test(u1_equivariant, log_determinant_matches_the_finite_difference_jacobian_on_4x4)
{
    pf_flow *flow = random_u1_flow(4, 1e-12, 6);
    double u[D], x[D], ldj, J[D * D], yk[4][D];
    const double h = 1e-5, steps[4] = {-2, -1, 1, 2};
    pft_fill_uniform(7, D, u, 0, TWO_PI);
    pf_flow_forward(flow, 1, u, x, &ldj, NULL, NULL);
    for (int j = 0; j < D; j++) {
        for (int k = 0; k < 4; k++) {
            double up[D], l;
            memcpy(up, u, sizeof up);
            up[j] += steps[k] * h;
            pf_flow_forward(flow, 1, up, yk[k], &l, NULL, NULL);
        }
        for (int i = 0; i < D; i++) { /* differences on the circle, then the stencil */
            double d[4];
            for (int k = 0; k < 4; k++)
                d[k] = pf_u1_wrap(yk[k][i] - x[i]);
            J[i * D + j] = (d[0] - 8 * d[1] + 8 * d[2] - d[3]) / (12 * h);
        }
    }
    double logdet;
    int sign;
    cr_assert_eq(pf_logdet_lu(D, J, &logdet, &sign), PF_OK);
    cr_assert_float_eq(ldj, logdet, 1e-7, "ldj %.12g vs FD %.12g", ldj, logdet);
    cr_assert_eq(sign, 1);
    pf_flow_destroy(flow);
}

static void gradient(pf_objective obj, pf_estimator_kind kind, pf_flow *flow, pf_target *t, int B,
                     const double *in, double *g, double *loss)
{
    pf_estimator *e;
    cr_assert_eq(pf_estimator_create(obj, kind, flow, t, BMAX, &e), PF_OK, "%s", pf_last_error());
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(e, B, in, g, NULL, &r), PF_OK, "%s", pf_last_error());
    if (loss)
        *loss = r.loss;
    pf_estimator_destroy(e);
}

Test(u1_equivariant, path_equals_path_dropin_and_reverse_path_never_calls_the_root_finder)
{
    /* Inversion tolerance 1e-12 on |h̄(P) − target|: agreement to ~1e-8. */
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, 2.0, &t), PF_OK);
    pf_flow *flow = random_u1_flow(4, 1e-12, 8);
    size_t n = pf_flow_n_params(flow);
    double *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2), in[BMAX * D];
    enum { B = 6 };
    pf_rng rng = pf_rng_make(9, 0);
    pf_flow_sample_base(flow, &rng, B, in);
    long calls = pf_flow_root_finder_calls(flow);
    gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH, flow, t, B, in, g1, NULL);
    cr_assert_eq(pf_flow_root_finder_calls(flow), calls, "reverse path called the root finder %ld times",
                 pf_flow_root_finder_calls(flow) - calls);
    gradient(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH_DROPIN, flow, t, B, in, g2, NULL);
    cr_assert_gt(pf_flow_root_finder_calls(flow), calls, "path-dropin must invert");
    double e = pft_rel_err(n, g1, g2, 1e-300);
    cr_log_info("reverse path vs path-dropin: rel err %.3g", e);
    cr_assert_lt(e, 1e-8, "reverse path vs path-dropin rel err %g", e);
    cr_assert_gt(pft_max_abs(n, g1), 1e-3);
    /* forward KL on configurations pushed through the flow (any link samples do) */
    double x[BMAX * D], ldj[BMAX];
    pf_flow_forward(flow, B, in, x, ldj, NULL, NULL);
    gradient(PF_OBJECTIVE_FORWARD, PF_ESTIMATOR_PATH, flow, t, B, x, g1, NULL);
    gradient(PF_OBJECTIVE_FORWARD, PF_ESTIMATOR_PATH_DROPIN, flow, t, B, x, g2, NULL);
    e = pft_rel_err(n, g1, g2, 1e-300);
    cr_log_info("forward path vs path-dropin: rel err %.3g", e);
    cr_assert_lt(e, 1e-8, "forward path vs path-dropin rel err %g", e);
    free(g1);
    free(g2);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

typedef struct loss_ctx {
    pf_objective obj;
    pf_estimator_kind kind;
    pf_flow *flow;
    pf_target *t;
    int B;
    const double *in;
    double *scratch;
} loss_ctx;

static double loss_of_params(void *p, const double *unused)
{
    (void)unused;
    loss_ctx *c = p;
    double loss;
    gradient(c->obj, c->kind, c->flow, c->t, c->B, c->in, c->scratch, &loss);
    return loss;
}

Test(u1_equivariant, total_and_ml_match_finite_differences_of_the_loss)
{
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, 2.0, &t), PF_OK);
    pf_flow *flow = random_u1_flow(2, 1e-13, 10);
    size_t n = pf_flow_n_params(flow);
    double *g = malloc(n * sizeof *g), *fd = malloc(n * sizeof *fd), *scratch = malloc(n * sizeof *g);
    double in[BMAX * D];
    enum { B = 3 };
    pft_fill_uniform(11, B * D, in, 0, TWO_PI);
    const pf_estimator_kind kinds[2] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_ML};
    for (int obj = 0; obj < 2; obj++) {
        gradient((pf_objective)obj, kinds[obj], flow, t, B, in, g, NULL);
        loss_ctx c = {(pf_objective)obj, kinds[obj], flow, t, B, in, scratch};
        pft_fd_gradient(loss_of_params, &c, n, pf_flow_params(flow), 1e-5, fd);
        double e = pft_rel_err(n, g, fd, 1e-8);
        cr_log_info("%s vs FD: rel err %.3g", pf_estimator_kind_name(kinds[obj]), e);
        cr_assert_lt(e, 1e-6, "%s vs FD of the loss: rel err %g", pf_estimator_kind_name(kinds[obj]), e);
    }
    free(g);
    free(fd);
    free(scratch);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

/* log q(x) by the inverse pass (uniform base), for the score check. */
static double log_q(void *ctx, const double *x)
{
    pf_flow *flow = ctx;
    double z[D], ldj, lq0;
    cr_assert_eq(pf_flow_inverse(flow, 1, x, z, &ldj, NULL, NULL), PF_OK);
    pf_flow_base_log_prob(flow, 1, z, &lq0, NULL);
    return lq0 + ldj;
}

Test(u1_equivariant, forward_recursion_gives_the_score_without_inverting)
{
    pf_flow *flow = random_u1_flow(4, 1e-13, 12);
    double z[D], x[D], ldj, s0[D], score[D], fd[D];
    pft_fill_uniform(13, D, z, 0, TWO_PI);
    pf_flow_base_log_prob(flow, 1, z, NULL, s0);
    long calls = pf_flow_root_finder_calls(flow);
    cr_assert_eq(pf_flow_forward(flow, 1, z, x, &ldj, s0, score), PF_OK);
    cr_assert_eq(pf_flow_root_finder_calls(flow), calls);
    pft_fd_gradient(log_q, flow, D, x, 1e-5, fd);
    double e = pft_rel_err(D, score, fd, 1e-8);
    cr_assert_lt(e, 1e-6, "score vs FD of log q: rel err %g", e);
    pf_flow_destroy(flow);
}
