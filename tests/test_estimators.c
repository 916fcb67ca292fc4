/* Tests for src/estimators/estimators.c (MATH §2–§4): path = path-dropin to
 * 1e-10, total/ml = finite differences of the loss, sticking the landing,
 * unbiasedness within 5 standard errors, loss and log-weight definitions. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "testutil.h"

#define B_MAX 64

static pf_flow *random_flow(int dim, int layers, int zero_init, unsigned long long seed)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = dim;
    o.n_layers = layers;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 8;
    o.zero_init = zero_init;
    o.init_scale = 0.6;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, B_MAX), PF_OK);
    return flow;
}

static pf_estimator *make(pf_objective obj, pf_estimator_kind kind, pf_flow *flow, pf_target *t)
{
    pf_estimator *e;
    cr_assert_eq(pf_estimator_create(obj, kind, flow, t, B_MAX, &e), PF_OK, "%s", pf_last_error());
    return e;
}

/* Gradient of one estimator on one input (B×d); returns the loss. */
static double gradient(pf_objective obj, pf_estimator_kind kind, pf_flow *flow, pf_target *t,
                       int B, const double *input, double *grad, double *log_w)
{
    pf_estimator *e = make(obj, kind, flow, t);
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(e, B, input, grad, log_w, &r), PF_OK, "%s", pf_last_error());
    pf_estimator_destroy(e);
    return r.loss;
}

/* Reverse: base samples; forward: exact target samples. */
static void make_input(pf_objective obj, pf_flow *flow, pf_target *t, int B, uint64_t seed,
                       double *input)
{
    pf_rng rng = pf_rng_make(seed, 0);
    if (obj == PF_OBJECTIVE_REVERSE)
        pf_flow_sample_base(flow, &rng, B, input);
    else
        cr_assert_eq(pf_target_sample(t, &rng, B, input), PF_OK);
}

Test(estimators, path_and_path_dropin_agree_to_1e_10_for_both_objectives)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(4, 1.0, 0.5, &t), PF_OK);
    for (int obj = 0; obj < 2; obj++)
        for (int trial = 0; trial < 3; trial++) {
            pf_flow *flow = random_flow(4, 4, 0, 10 + trial);
            size_t n = pf_flow_n_params(flow);
            double input[16 * 4], *g_path = malloc(n * sizeof(double));
            double *g_drop = malloc(n * sizeof(double));
            make_input((pf_objective)obj, flow, t, 16, 20 + trial, input);
            gradient((pf_objective)obj, PF_ESTIMATOR_PATH, flow, t, 16, input, g_path, NULL);
            gradient((pf_objective)obj, PF_ESTIMATOR_PATH_DROPIN, flow, t, 16, input, g_drop, NULL);
            double e = pft_rel_err(n, g_path, g_drop, 1e-300);
            cr_assert_lt(e, 1e-10, "%s: path vs path-dropin rel err %g",
                         pf_objective_name((pf_objective)obj), e);
            cr_assert_gt(pft_max_abs(n, g_path), 1e-3, "gradient should be non-trivial");
            free(g_path);
            free(g_drop);
            pf_flow_destroy(flow);
        }
    pf_target_destroy(t);
}

/* The loss at fixed input as a function of θ, for finite differences. */
typedef struct loss_ctx {
    pf_estimator *e;
    int B;
    const double *input;
    double *scratch;
} loss_ctx;

static double loss_of_params(void *p, const double *unused)
{
    (void)unused;
    loss_ctx *c = p;
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(c->e, c->B, c->input, c->scratch, NULL, &r), PF_OK);
    return r.loss;
}

Test(estimators, total_and_ml_equal_finite_differences_of_the_loss)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(3, 1.0, 0.5, &t), PF_OK);
    const pf_estimator_kind kinds[2] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_ML};
    for (int obj = 0; obj < 2; obj++) {
        pf_flow *flow = random_flow(3, 3, 0, 30 + obj);
        size_t n = pf_flow_n_params(flow);
        double input[8 * 3], *g = malloc(n * sizeof(double)), *fd = malloc(n * sizeof(double));
        double *scratch = malloc(n * sizeof(double));
        make_input((pf_objective)obj, flow, t, 8, 40 + obj, input);
        pf_estimator *e = make((pf_objective)obj, kinds[obj], flow, t);
        pf_estimate r;
        cr_assert_eq(pf_estimator_eval(e, 8, input, g, NULL, &r), PF_OK);
        loss_ctx c = {e, 8, input, scratch};
        pft_fd_gradient(loss_of_params, &c, n, pf_flow_params(flow), 1e-5, fd);
        double err = pft_rel_err(n, g, fd, 1e-8);
        cr_assert_lt(err, 1e-6, "%s: gradient vs FD of the loss: rel err %g",
                     pf_estimator_kind_name(kinds[obj]), err);
        pf_estimator_destroy(e);
        free(g);
        free(fd);
        free(scratch);
        pf_flow_destroy(flow);
    }
    pf_target_destroy(t);
}

/* ---- sticking the landing -------------------------------------------------- */

static int normal_action(void *user, int B, const double *x, double *S)
{
    int d = *(int *)user;
    for (int b = 0; b < B; b++) {
        S[b] = 0;
        for (int i = 0; i < d; i++)
            S[b] += 0.5 * x[b * d + i] * x[b * d + i];
    }
    return 0;
}

static int normal_force(void *user, int B, const double *x, double *F)
{
    memcpy(F, x, (size_t)B * *(int *)user * sizeof *F);
    return 0;
}

/* The density of a flow as a target: S = −log q_θ(x), ∇S = −∂ₓ log q_θ(x),
 * both through the inverse pass of a second copy of the flow. */
static int flow_action(void *user, int B, const double *x, double *S)
{
    pf_flow *flow = user;
    double z[B_MAX * 8], ldj_inv[B_MAX], log_q0[B_MAX];
    if (pf_flow_inverse(flow, B, x, z, ldj_inv, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, log_q0, NULL);
    for (int b = 0; b < B; b++)
        S[b] = -(log_q0[b] + ldj_inv[b]);
    return 0;
}

static int flow_force(void *user, int B, const double *x, double *F)
{
    pf_flow *flow = user;
    const int d = pf_flow_dim(flow);
    double z[B_MAX * 8], ldj_inv[B_MAX], s0[B_MAX * 8], ones[B_MAX];
    if (pf_flow_inverse(flow, B, x, z, ldj_inv, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, NULL, s0);
    for (int b = 0; b < B; b++)
        ones[b] = 1.0;
    memset(F, 0, (size_t)B * d * sizeof *F);
    if (pf_flow_backward(flow, B, s0, ones, NULL, F) != PF_OK)
        return -1;
    for (int i = 0; i < B * d; i++)
        F[i] = -F[i];
    return 0;
}

/* Per sample (B = 1 each), the largest |path gradient| and |total gradient|. */
static void per_sample_gradients(pf_objective obj, pf_estimator_kind other, pf_flow *flow,
                                 pf_target *t, const double *inputs, int n_samples,
                                 double *max_path, double *min_other)
{
    const int d = pf_flow_dim(flow);
    size_t n = pf_flow_n_params(flow);
    double *g = malloc(n * sizeof *g);
    *max_path = 0;
    *min_other = INFINITY;
    for (int s = 0; s < n_samples; s++) {
        gradient(obj, PF_ESTIMATOR_PATH, flow, t, 1, inputs + s * d, g, NULL);
        *max_path = fmax(*max_path, pft_max_abs(n, g));
        gradient(obj, other, flow, t, 1, inputs + s * d, g, NULL);
        *min_other = fmin(*min_other, pft_max_abs(n, g));
    }
    free(g);
}

Test(estimators, path_gradient_sticks_the_landing_for_an_identity_flow_on_a_normal_target)
{
    int d = 3;
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(d, normal_action, normal_force, &d, &t), PF_OK);
    pf_flow *flow = random_flow(d, 2, 1, 1); /* zero_init: identity */
    double z[10 * 3], max_path, min_total;
    make_input(PF_OBJECTIVE_REVERSE, flow, t, 10, 3, z);
    per_sample_gradients(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_TOTAL, flow, t, z, 10, &max_path,
                         &min_total);
    cr_assert_lt(max_path, 1e-12, "path: largest per-sample gradient entry %g", max_path);
    cr_assert_gt(min_total, 1e-3, "total should not vanish (smallest max entry %g)", min_total);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(estimators, path_gradient_sticks_the_landing_when_the_target_is_the_flows_own_density)
{
    const int d = 4;
    pf_flow *flow = random_flow(d, 4, 0, 5), *twin = random_flow(d, 4, 0, 5);
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(d, flow_action, flow_force, twin, &t), PF_OK);
    double z[8 * 4], x[8 * 4], ldj[8], max_path, min_other;
    make_input(PF_OBJECTIVE_REVERSE, flow, t, 8, 6, z);
    per_sample_gradients(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_TOTAL, flow, t, z, 8, &max_path,
                         &min_other);
    cr_assert_lt(max_path, 1e-12, "reverse path: largest per-sample entry %g", max_path);
    cr_assert_gt(min_other, 1e-3, "reverse total should not vanish (%g)", min_other);
    /* forward KL with data from the flow itself: the pullback of p = q_θ is q₀ */
    pf_flow_forward(twin, 8, z, x, ldj, NULL, NULL);
    per_sample_gradients(PF_OBJECTIVE_FORWARD, PF_ESTIMATOR_ML, flow, t, x, 8, &max_path,
                         &min_other);
    cr_assert_lt(max_path, 1e-12, "forward path: largest per-sample entry %g", max_path);
    cr_assert_gt(min_other, 1e-3, "ml should not vanish (%g)", min_other);
    pf_flow_destroy(flow);
    pf_flow_destroy(twin);
    pf_target_destroy(t);
}

/* ---- unbiasedness ---------------------------------------------------------- */

/* Mean of path − other over many independent small batches, each coordinate
 * within 5 standard errors of 0. Paired: both estimators see the same batch,
 * so the SE is that of the per-batch difference (smaller than of either). */
static void check_same_mean(pf_objective obj, pf_estimator_kind other, pf_target *t,
                            pf_flow *flow, int n_batches, int B)
{
    size_t n = pf_flow_n_params(flow);
    pf_estimator *ep = make(obj, PF_ESTIMATOR_PATH, flow, t), *eo = make(obj, other, flow, t);
    double *gp = malloc(n * sizeof *gp), *go = malloc(n * sizeof *go);
    double *s1 = calloc(n, sizeof *s1), *s2 = calloc(n, sizeof *s2), input[B_MAX * 8];
    for (int k = 0; k < n_batches; k++) {
        make_input(obj, flow, t, B, 1000 + k, input);
        pf_estimate r;
        cr_assert_eq(pf_estimator_eval(ep, B, input, gp, NULL, &r), PF_OK);
        cr_assert_eq(pf_estimator_eval(eo, B, input, go, NULL, &r), PF_OK);
        for (size_t i = 0; i < n; i++) {
            double diff = gp[i] - go[i];
            s1[i] += diff;
            s2[i] += diff * diff;
        }
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double mean = s1[i] / n_batches;
        double se = sqrt((s2[i] / n_batches - mean * mean) / (n_batches - 1));
        double z = se > 0 ? fabs(mean) / se : 0;
        worst = fmax(worst, z);
        cr_assert_lt(z, 5.0, "%s: parameter %zu: mean difference %g, SE %g (z = %.2f)",
                     pf_objective_name(obj), i, mean, se, z);
    }
    cr_log_info("%s path vs %s: largest |z| over %zu parameters = %.2f",
                pf_objective_name(obj), pf_estimator_kind_name(other), n, worst);
    free(gp);
    free(go);
    free(s1);
    free(s2);
    pf_estimator_destroy(ep);
    pf_estimator_destroy(eo);
}

Test(estimators, path_and_total_have_the_same_mean_and_so_do_path_and_ml)
{
    double w[2] = {0.3, 0.7}, mu[4] = {-1, 0.5, 1.2, -0.3}, cov[8] = {0.6, 0.2, 0.2, 0.4, 0.3, 0, 0, 0.5};
    pf_target *t;
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_OK);
    pf_flow *flow = random_flow(2, 2, 0, 77);
    check_same_mean(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_TOTAL, t, flow, 20000, 4);
    check_same_mean(PF_OBJECTIVE_FORWARD, PF_ESTIMATOR_ML, t, flow, 20000, 4);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

/* ---- loss and log weights ----------------------------------------------------- */

Test(estimators, every_estimator_reports_the_plain_objective_and_the_same_log_weights)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(3, 1.0, 0.5, &t), PF_OK);
    pf_flow *flow = random_flow(3, 3, 0, 8);
    size_t n = pf_flow_n_params(flow);
    double *g = malloc(n * sizeof *g), input[6 * 3], lw[3][6];
    const pf_estimator_kind rev[3] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN};
    const pf_estimator_kind fwd[3] = {PF_ESTIMATOR_ML, PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN};
    for (int obj = 0; obj < 2; obj++) {
        make_input((pf_objective)obj, flow, t, 6, 50 + obj, input);
        double loss[3];
        for (int k = 0; k < 3; k++)
            loss[k] = gradient((pf_objective)obj, obj ? fwd[k] : rev[k], flow, t, 6, input, g, lw[k]);
        /* independent route: log q(x) by the inverse pass, S from the target */
        double x[6 * 3], z[6 * 3], ldj[6], ldj_inv[6], log_q0[6], S[6], ref = 0;
        if (obj == 0)
            pf_flow_forward(flow, 6, input, x, ldj, NULL, NULL);
        else
            memcpy(x, input, sizeof x);
        pf_flow_inverse(flow, 6, x, z, ldj_inv, NULL, NULL);
        pf_flow_base_log_prob(flow, 6, z, log_q0, NULL);
        pf_target_action(t, 6, x, S);
        for (int b = 0; b < 6; b++) {
            double log_q = log_q0[b] + ldj_inv[b];
            ref += (obj == 0 ? log_q + S[b] : -log_q) / 6;
            for (int k = 0; k < 3; k++)
                cr_assert_float_eq(lw[k][b], -S[b] - log_q, 1e-10, "log w[%d] of estimator %d", b, k);
        }
        for (int k = 0; k < 3; k++)
            cr_assert_float_eq(loss[k], ref, 1e-10, "%s estimator %d: loss %.14g vs %.14g",
                               pf_objective_name((pf_objective)obj), k, loss[k], ref);
    }
    free(g);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(estimators, names_are_parsed_and_invalid_pairs_refused)
{
    pf_objective obj;
    pf_estimator_kind k;
    cr_assert_eq(pf_objective_from_name("forward", &obj), PF_OK);
    cr_assert_eq(obj, PF_OBJECTIVE_FORWARD);
    cr_assert_eq(pf_objective_from_name("backward", &obj), PF_ERR_CONFIG);
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_REVERSE, "path-dropin", &k), PF_OK);
    cr_assert_eq(k, PF_ESTIMATOR_PATH_DROPIN);
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_REVERSE, "ml", &k), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "total, path, path-dropin"), "%s", pf_last_error());
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_FORWARD, "total", &k), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "ml, path, path-dropin"), "%s", pf_last_error());
}
