/* Tests for src/estimators/estimators.c (docs/theory.md §1–§4), the acceptance
 * criteria of the six estimators:
 *  - path = path-dropin to 1e-10 (reverse and forward KL);
 *  - total / ml = central finite differences of the loss at fixed base
 *    samples / fixed data; path and path-dropin = finite differences of the
 *    loss with the density held fixed (a frozen copy of the flow), which checks
 *    the recursion's score s_q inside the estimator;
 *  - sticking the landing: with p = q_θ every per-sample path gradient is 0;
 *  - unbiasedness: path and total (reverse), path and ml (forward) have the
 *    same mean within 5 standard errors over many independent batches;
 *  - the loss is the plain MC objective and log w = −S − log q for all.
 * References come from plain forward/inverse passes of the flow and the
 * target's action, never from the backward or score code under test. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "testutil.h"

#define B_MAX 32
#define D_MAX 6

static pf_flow *make_flow(int dim, int layers, pf_mask_kind mask, int zero_init,
                          unsigned long long seed)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = dim;
    o.n_layers = layers;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 8;
    o.mask = mask;
    if (mask == PF_MASK_CHECKERBOARD) {
        o.lattice[0] = 2;
        o.lattice[1] = dim / 2;
    }
    o.zero_init = zero_init;
    o.init_scale = 0.8;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, B_MAX), PF_OK, "%s", pf_last_error());
    return flow;
}

/* A random flow, checked to be far from the identity on normal samples. */
static pf_flow *random_flow(int dim, int layers, pf_mask_kind mask, unsigned long long seed)
{
    pf_flow *flow = make_flow(dim, layers, mask, 0, seed);
    double z[8 * D_MAX], x[8 * D_MAX], ldj[8];
    pft_fill_normal(seed + 1000, (size_t)8 * dim, z, 1.0);
    cr_assert_eq(pf_flow_forward(flow, 8, z, x, ldj, NULL, NULL), PF_OK);
    double moved = pft_rel_err((size_t)8 * dim, x, z, 1e-300);
    cr_assert_gt(moved, 0.2, "flow (d %d, seed %llu) too close to identity: ‖x−z‖ rel %g", dim,
                 seed, moved);
    return flow;
}

/* A second flow with the same architecture and the same parameters. */
static pf_flow *twin_of(pf_flow *flow, int dim, int layers, pf_mask_kind mask)
{
    pf_flow *twin = make_flow(dim, layers, mask, 0, 12345);
    memcpy(pf_flow_params(twin), pf_flow_params(flow), pf_flow_n_params(flow) * sizeof(double));
    return twin;
}

static pf_estimator *make(pf_objective obj, pf_estimator_kind kind, pf_flow *flow, pf_target *t)
{
    pf_estimator *e;
    cr_assert_eq(pf_estimator_create(obj, kind, flow, t, B_MAX, &e), PF_OK, "%s", pf_last_error());
    return e;
}

/* Gradient of one estimator on one input (B×d); returns the loss. grad is
 * pre-filled with garbage: eval must overwrite it. */
static double gradient(pf_objective obj, pf_estimator_kind kind, pf_flow *flow, pf_target *t, int B,
                       const double *input, double *grad, double *log_w)
{
    pf_estimator *e = make(obj, kind, flow, t);
    pf_estimate r;
    for (size_t i = 0; i < pf_flow_n_params(flow); i++)
        grad[i] = 1e3;
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
        cr_assert_eq(pf_target_sample(t, &rng, B, input), PF_OK, "%s", pf_last_error());
}

static const pf_estimator_kind FIRST[2] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_ML};
static const char *obj_name(int obj)
{
    return pf_objective_name((pf_objective)obj);
}

/* ---- path = path-dropin ------------------------------------------------------ */

Test(estimators, path_and_path_dropin_agree_to_1e_10_for_both_objectives)
{
    const pf_mask_kind masks[3] = {PF_MASK_HALVES, PF_MASK_EVEN_ODD, PF_MASK_CHECKERBOARD};
    const int dims[3] = {4, 5, 6};
    double worst[2] = {0, 0};
    for (int m = 0; m < 3; m++) {
        pf_target *t;
        cr_assert_eq(pf_target_mgm_create(dims[m], 1.0, 0.5, &t), PF_OK, "%s", pf_last_error());
        for (int obj = 0; obj < 2; obj++)
            for (int trial = 0; trial < 2; trial++) {
                pf_flow *flow = random_flow(dims[m], 4, masks[m], 10 + 3 * m + trial);
                size_t n = pf_flow_n_params(flow);
                double input[16 * D_MAX], *g_path = malloc(n * sizeof(double));
                double *g_drop = malloc(n * sizeof(double));
                make_input((pf_objective)obj, flow, t, 16, 20 + trial, input);
                gradient((pf_objective)obj, PF_ESTIMATOR_PATH, flow, t, 16, input, g_path, NULL);
                gradient((pf_objective)obj, PF_ESTIMATOR_PATH_DROPIN, flow, t, 16, input, g_drop,
                         NULL);
                double e = pft_rel_err(n, g_path, g_drop, 1e-300);
                worst[obj] = fmax(worst[obj], e);
                cr_assert_lt(e, 1e-10, "%s, mask %d, trial %d: path vs path-dropin rel err %g",
                             obj_name(obj), m, trial, e);
                double norm = pft_max_abs(n, g_path);
                cr_assert_gt(norm, 1e-3, "%s: path gradient should be non-trivial (max %g)",
                             obj_name(obj), norm);
                free(g_path);
                free(g_drop);
                pf_flow_destroy(flow);
            }
        pf_target_destroy(t);
    }
    cr_log_info("path vs path-dropin: worst rel err reverse %g, forward %g", worst[0], worst[1]);
}

/* ---- total and ml = FD of the loss -------------------------------------------- */

/* The plain MC loss at fixed input, from passes of the flow only:
 * reverse  L = mean(log q₀(z) − ldj(z) + S(T z)),
 * forward  L = mean(−log q₀(T⁻¹x) − ldj_inv(x)). */
typedef struct loss_ctx {
    pf_flow *flow;
    pf_target *target;
    int objective, B;
    const double *input;
} loss_ctx;

static double plain_loss(void *p, const double *unused)
{
    (void)unused;
    loss_ctx *c = p;
    double out[B_MAX * D_MAX], ldj[B_MAX], log_q0[B_MAX], S[B_MAX], sum = 0;
    if (c->objective == PF_OBJECTIVE_REVERSE) {
        cr_assert_eq(pf_flow_forward(c->flow, c->B, c->input, out, ldj, NULL, NULL), PF_OK);
        pf_flow_base_log_prob(c->flow, c->B, c->input, log_q0, NULL);
        cr_assert_eq(pf_target_action(c->target, c->B, out, S), PF_OK);
        for (int b = 0; b < c->B; b++)
            sum += log_q0[b] - ldj[b] + S[b];
    } else {
        cr_assert_eq(pf_flow_inverse(c->flow, c->B, c->input, out, ldj, NULL, NULL), PF_OK);
        pf_flow_base_log_prob(c->flow, c->B, out, log_q0, NULL);
        for (int b = 0; b < c->B; b++)
            sum += -log_q0[b] - ldj[b];
    }
    return sum / c->B;
}

Test(estimators, total_and_ml_equal_finite_differences_of_the_loss)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(3, 1.0, 0.5, &t), PF_OK, "%s", pf_last_error());
    for (int obj = 0; obj < 2; obj++)
        for (int trial = 0; trial < 2; trial++) {
            pf_mask_kind mask = trial ? PF_MASK_EVEN_ODD : PF_MASK_HALVES;
            pf_flow *flow = random_flow(3, 3, mask, 30 + 2 * obj + trial);
            const int B = 8;
            size_t n = pf_flow_n_params(flow);
            double input[8 * 3], *g = malloc(n * sizeof(double)), *fd = malloc(n * sizeof(double));
            make_input((pf_objective)obj, flow, t, B, 40 + obj + 2 * trial, input);
            gradient((pf_objective)obj, FIRST[obj], flow, t, B, input, g, NULL);
            loss_ctx c = {flow, t, obj, B, input};
            pft_fd_gradient(plain_loss, &c, n, pf_flow_params(flow), 1e-5, fd);
            double err = pft_rel_err(n, g, fd, 1e-8);
            cr_log_info("%s vs FD of the loss (trial %d): rel err %g",
                        pf_estimator_kind_name(FIRST[obj]), trial, err);
            cr_assert_lt(err, 1e-6, "%s: gradient vs FD of the loss: rel err %g",
                         pf_estimator_kind_name(FIRST[obj]), err);
            free(g);
            free(fd);
            pf_flow_destroy(flow);
        }
    pf_target_destroy(t);
}

/* ---- path gradients = FD with the density held fixed -------------------------
 * A frozen copy (twin) of the flow at θ₀ supplies log q_θ₀ and T_θ₀; the flow
 * under FD moves only the sample path:
 *   reverse           F(θ) = mean[log q_θ₀(T_θ z) + S(T_θ z)]           (docs/theory.md §2)
 *   forward, pullback F(θ) = mean[log p̃_θ₀(ζ) − log q₀(ζ)], ζ = T_θ⁻¹ x,
 *                     log p̃_θ₀(ζ) = −S(T_θ₀ ζ) + ldj_θ₀(ζ)             (docs/theory.md §3)
 *   forward, drop-in  F(θ) = mean[log q_θ₀(T_θ z) + S(T_θ z)], z = T_θ₀⁻¹ x
 * ∇F(θ₀) is the path gradient; the two forward forms agree (docs/theory.md §3). */
typedef struct path_ctx {
    pf_flow *flow, *twin;
    pf_target *target;
    int form, B; /* 0 reverse / drop-in, 1 pullback */
    const double *input;
} path_ctx;

static double frozen_loss(void *p, const double *unused)
{
    (void)unused;
    path_ctx *c = p;
    const int B = c->B;
    double a[B_MAX * D_MAX], b_[B_MAX * D_MAX], ldj[B_MAX], ldj2[B_MAX], lq0[B_MAX], S[B_MAX];
    double sum = 0;
    if (c->form == 0) {
        cr_assert_eq(pf_flow_forward(c->flow, B, c->input, a, ldj, NULL, NULL), PF_OK);
        cr_assert_eq(pf_target_action(c->target, B, a, S), PF_OK);
        cr_assert_eq(pf_flow_inverse(c->twin, B, a, b_, ldj2, NULL, NULL), PF_OK);
        pf_flow_base_log_prob(c->twin, B, b_, lq0, NULL);
        for (int b = 0; b < B; b++)
            sum += lq0[b] + ldj2[b] + S[b];
    } else {
        cr_assert_eq(pf_flow_inverse(c->flow, B, c->input, a, ldj, NULL, NULL), PF_OK);
        pf_flow_base_log_prob(c->flow, B, a, lq0, NULL);
        cr_assert_eq(pf_flow_forward(c->twin, B, a, b_, ldj2, NULL, NULL), PF_OK);
        cr_assert_eq(pf_target_action(c->target, B, b_, S), PF_OK);
        for (int b = 0; b < B; b++)
            sum += -S[b] + ldj2[b] - lq0[b];
    }
    return sum / B;
}

Test(estimators, path_gradients_equal_finite_differences_of_the_loss_with_the_density_frozen)
{
    const int d = 4, layers = 3, B = 6;
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK, "%s", pf_last_error());
    double worst = 0;
    for (int obj = 0; obj < 2; obj++) {
        pf_flow *flow = random_flow(d, layers, PF_MASK_EVEN_ODD, 60 + obj);
        pf_flow *twin = twin_of(flow, d, layers, PF_MASK_EVEN_ODD);
        const size_t n = pf_flow_n_params(flow);
        double input[6 * 4], z0[6 * 4], ldj[6];
        double *fd = malloc(n * sizeof *fd), *fd2 = malloc(n * sizeof *fd2);
        double *g = malloc(n * sizeof *g);
        make_input((pf_objective)obj, flow, t, B, 70 + obj, input);
        if (obj == PF_OBJECTIVE_REVERSE) {
            path_ctx c = {flow, twin, t, 0, B, input};
            pft_fd_gradient(frozen_loss, &c, n, pf_flow_params(flow), 1e-5, fd);
        } else {
            path_ctx c = {flow, twin, t, 1, B, input};
            pft_fd_gradient(frozen_loss, &c, n, pf_flow_params(flow), 1e-5, fd);
            cr_assert_eq(pf_flow_inverse(twin, B, input, z0, ldj, NULL, NULL), PF_OK);
            path_ctx c2 = {flow, twin, t, 0, B, z0};
            pft_fd_gradient(frozen_loss, &c2, n, pf_flow_params(flow), 1e-5, fd2);
            double e = pft_rel_err(n, fd, fd2, 1e-8);
            cr_assert_lt(e, 1e-7, "forward: pullback and drop-in FD references differ: %g", e);
        }
        for (int k = 0; k < 2; k++) {
            pf_estimator_kind kind = k ? PF_ESTIMATOR_PATH_DROPIN : PF_ESTIMATOR_PATH;
            gradient((pf_objective)obj, kind, flow, t, B, input, g, NULL);
            double e = pft_rel_err(n, g, fd, 1e-8);
            worst = fmax(worst, e);
            cr_log_info("%s %s vs FD with frozen density: rel err %g", obj_name(obj),
                        pf_estimator_kind_name(kind), e);
            cr_assert_lt(e, 1e-6, "%s %s vs FD with the density frozen: rel err %g", obj_name(obj),
                         pf_estimator_kind_name(kind), e);
        }
        /* and the path gradient is not the total one: the dropped score term matters */
        gradient((pf_objective)obj, FIRST[obj], flow, t, B, input, g, NULL);
        double diff = pft_rel_err(n, g, fd, 1e-8);
        cr_assert_gt(diff, 1e-2, "%s: path and %s coincide on one batch (rel diff %g)",
                     obj_name(obj), pf_estimator_kind_name(FIRST[obj]), diff);
        free(fd);
        free(fd2);
        free(g);
        pf_flow_destroy(flow);
        pf_flow_destroy(twin);
    }
    pf_target_destroy(t);
}

/* ---- sticking the landing --------------------------------------------------- */

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

/* The density of a flow as a target: S = −log q_θ(x) through the inverse
 * pass of a second copy of the flow; ∇S = −∂ₓ log q_θ(x) either by
 * back-propagating through that inverse pass (route 0, the drop-in route)
 * or by the forward recursion run from z = T⁻¹x (route 1, the path route), so
 * each estimator also meets a force computed by the route it does not use. */
typedef struct flow_density {
    pf_flow *twin;
    int route;
} flow_density;

static int flow_action(void *user, int B, const double *x, double *S)
{
    pf_flow *flow = ((flow_density *)user)->twin;
    double z[B_MAX * D_MAX], ldj_inv[B_MAX], log_q0[B_MAX];
    if (pf_flow_inverse(flow, B, x, z, ldj_inv, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, log_q0, NULL);
    for (int b = 0; b < B; b++)
        S[b] = -(log_q0[b] + ldj_inv[b]);
    return 0;
}

static int flow_force(void *user, int B, const double *x, double *F)
{
    flow_density *fd = user;
    pf_flow *flow = fd->twin;
    const int d = pf_flow_dim(flow);
    double z[B_MAX * D_MAX], ldj[B_MAX], s0[B_MAX * D_MAX], ones[B_MAX], x2[B_MAX * D_MAX];
    if (pf_flow_inverse(flow, B, x, z, ldj, NULL, NULL) != PF_OK)
        return -1;
    pf_flow_base_log_prob(flow, B, z, NULL, s0);
    if (fd->route == 0) {
        for (int b = 0; b < B; b++)
            ones[b] = 1.0;
        memset(F, 0, (size_t)B * d * sizeof *F);
        if (pf_flow_backward(flow, B, s0, ones, NULL, F) != PF_OK)
            return -1;
    } else if (pf_flow_forward(flow, B, z, x2, ldj, s0, F) != PF_OK) {
        return -1;
    }
    for (int i = 0; i < B * d; i++)
        F[i] = -F[i];
    return 0;
}

/* Over single-sample batches (B = 1): the largest |entry| of any path or
 * path-dropin gradient, and the smallest max-|entry| of the other estimator. */
static void per_sample_gradients(pf_objective obj, pf_flow *flow, pf_target *t,
                                 const double *inputs, int n_samples, double *max_path,
                                 double *min_other)
{
    const int d = pf_flow_dim(flow);
    size_t n = pf_flow_n_params(flow);
    double *g = malloc(n * sizeof *g);
    *max_path = 0;
    *min_other = INFINITY;
    for (int s = 0; s < n_samples; s++) {
        gradient(obj, PF_ESTIMATOR_PATH, flow, t, 1, inputs + s * d, g, NULL);
        *max_path = fmax(*max_path, pft_max_abs(n, g));
        gradient(obj, PF_ESTIMATOR_PATH_DROPIN, flow, t, 1, inputs + s * d, g, NULL);
        *max_path = fmax(*max_path, pft_max_abs(n, g));
        gradient(obj, FIRST[obj], flow, t, 1, inputs + s * d, g, NULL);
        *min_other = fmin(*min_other, pft_max_abs(n, g));
    }
    free(g);
}

Test(estimators, path_gradients_stick_the_landing_for_an_identity_flow_on_a_normal_target)
{
    int d = 3;
    pf_target *t;
    cr_assert_eq(pf_target_custom_create(d, normal_action, normal_force, &d, &t), PF_OK);
    pf_flow *flow = make_flow(d, 2, PF_MASK_HALVES, 1, 1); /* zero_init: the identity */
    double input[10 * 3], max_path, min_other;
    for (int obj = 0; obj < 2; obj++) {
        /* reverse: base samples; forward: data from p = N(0, I) = q_θ */
        pft_fill_normal(3 + obj, 10 * 3, input, 1.0);
        per_sample_gradients((pf_objective)obj, flow, t, input, 10, &max_path, &min_other);
        cr_log_info("identity flow, %s: max |path entry| %g, min max |%s entry| %g", obj_name(obj),
                    max_path, pf_estimator_kind_name(FIRST[obj]), min_other);
        cr_assert_lt(max_path, 1e-12, "%s path: largest per-sample gradient entry %g",
                     obj_name(obj), max_path);
        cr_assert_gt(min_other, 1e-3, "%s %s should not vanish (smallest max entry %g)",
                     obj_name(obj), pf_estimator_kind_name(FIRST[obj]), min_other);
    }
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(estimators, path_gradients_stick_the_landing_when_the_target_is_the_flows_own_density)
{
    const int d = 4, layers = 4;
    pf_flow *flow = random_flow(d, layers, PF_MASK_HALVES, 5);
    pf_flow *twin = twin_of(flow, d, layers, PF_MASK_HALVES);
    double z[8 * 4], x[8 * 4], ldj[8], max_path, min_other;
    pft_fill_normal(6, 8 * 4, z, 1.0);
    /* data for forward KL: exact samples of q_θ = p, drawn through the twin */
    cr_assert_eq(pf_flow_forward(twin, 8, z, x, ldj, NULL, NULL), PF_OK);
    for (int route = 0; route < 2; route++) {
        flow_density user = {twin, route};
        pf_target *t;
        cr_assert_eq(pf_target_custom_create(d, flow_action, flow_force, &user, &t), PF_OK);
        for (int obj = 0; obj < 2; obj++) {
            per_sample_gradients((pf_objective)obj, flow, t, obj ? x : z, 8, &max_path, &min_other);
            cr_log_info("p = q_θ, force route %d, %s: max |path entry| %g, min max |%s| %g", route,
                        obj_name(obj), max_path, pf_estimator_kind_name(FIRST[obj]), min_other);
            cr_assert_lt(max_path, 1e-12,
                         "%s path/path-dropin (force route %d): largest per-sample entry %g",
                         obj_name(obj), route, max_path);
            cr_assert_gt(min_other, 1e-3, "%s %s should not vanish (%g)", obj_name(obj),
                         pf_estimator_kind_name(FIRST[obj]), min_other);
        }
        pf_target_destroy(t);
    }
    pf_flow_destroy(flow);
    pf_flow_destroy(twin);
}

/* ---- unbiasedness ---------------------------------------------------------- */

/* Mean of path − other over many independent small batches. Both estimators
 * see the SAME batch, so we test the per-batch difference: its mean is the
 * mean of the dropped score term, E[∂_θ log q_θ(x)|ₓ] = 0 (reverse) or
 * E[∂_θ log p̃_θ(z)|_z] = 0 (forward), and the standard error of its mean is
 * the sample SD of the differences / √n — far smaller than that of two
 * independent means, so the test is sharper; the differences of distinct
 * batches are independent, so the SE is proper. Every coordinate must have
 * |z| < 5. To show the test has power, the path mean itself must be many SEs
 * away from 0 in some coordinate (the flow is not at the optimum). */
static void check_same_mean(pf_objective obj, pf_target *t, pf_flow *flow, int n_batches, int B,
                            const char *label)
{
    const int d = pf_flow_dim(flow);
    size_t n = pf_flow_n_params(flow);
    pf_estimator *ep = make(obj, PF_ESTIMATOR_PATH, flow, t), *eo = make(obj, FIRST[obj], flow, t);
    double *gp = malloc(n * sizeof *gp), *go = malloc(n * sizeof *go);
    double *s1 = calloc(n, sizeof *s1), *s2 = calloc(n, sizeof *s2);
    double *p1 = calloc(n, sizeof *p1), *p2 = calloc(n, sizeof *p2);
    double *input = malloc((size_t)B * d * sizeof *input);
    pf_rng rng = pf_rng_make(2024 + obj, 1);
    for (int k = 0; k < n_batches; k++) {
        if (obj == PF_OBJECTIVE_REVERSE)
            pf_flow_sample_base(flow, &rng, B, input);
        else
            cr_assert_eq(pf_target_sample(t, &rng, B, input), PF_OK);
        pf_estimate r;
        cr_assert_eq(pf_estimator_eval(ep, B, input, gp, NULL, &r), PF_OK, "%s", pf_last_error());
        cr_assert_eq(pf_estimator_eval(eo, B, input, go, NULL, &r), PF_OK, "%s", pf_last_error());
        for (size_t i = 0; i < n; i++) {
            double diff = gp[i] - go[i];
            s1[i] += diff;
            s2[i] += diff * diff;
            p1[i] += gp[i];
            p2[i] += gp[i] * gp[i];
        }
    }
    double worst = 0, power = 0, sum_z2 = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double mean = s1[i] / n_batches;
        double se = sqrt(fmax(s2[i] / n_batches - mean * mean, 0) / (n_batches - 1));
        double z = se > 0 ? fabs(mean) / se : (mean == 0 ? 0 : INFINITY);
        sum_z2 += z * z;
        if (z > worst) {
            worst = z;
            worst_i = i;
        }
        cr_assert_lt(z, 5.0, "%s %s: parameter %zu: mean(path − %s) %g, SE %g (z = %.2f)", label,
                     obj_name(obj), i, pf_estimator_kind_name(FIRST[obj]), mean, se, z);
        double pm = p1[i] / n_batches;
        double pse = sqrt(fmax(p2[i] / n_batches - pm * pm, 0) / (n_batches - 1));
        if (pse > 0)
            power = fmax(power, fabs(pm) / pse);
    }
    cr_log_info("%s %s: path vs %s over %d batches of %d: largest |z| = %.2f (parameter %zu of "
                "%zu), rms z = %.2f; largest |mean path|/SE = %.1f",
                label, obj_name(obj), pf_estimator_kind_name(FIRST[obj]), n_batches, B, worst,
                worst_i, n, sqrt(sum_z2 / n), power);
    cr_assert_gt(power, 20.0, "%s %s: the path mean is within %.1f SE of 0 everywhere: no power",
                 label, obj_name(obj), power);
    free(gp);
    free(go);
    free(s1);
    free(s2);
    free(p1);
    free(p2);
    free(input);
    pf_estimator_destroy(ep);
    pf_estimator_destroy(eo);
}

Test(estimators, path_and_total_have_the_same_mean_and_so_do_path_and_ml)
{
    double w[2] = {0.3, 0.7}, mu[4] = {-1, 0.5, 1.2, -0.3};
    double cov[8] = {0.6, 0.2, 0.2, 0.4, 0.3, 0, 0, 0.5};
    pf_target *gmm, *mgm;
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &gmm), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_target_mgm_create(4, 1.0, 0.5, &mgm), PF_OK, "%s", pf_last_error());
    pf_flow *flow2 = random_flow(2, 2, PF_MASK_HALVES, 77);
    pf_flow *flow4 = random_flow(4, 4, PF_MASK_EVEN_ODD, 78);
    for (int obj = 0; obj < 2; obj++) {
        check_same_mean((pf_objective)obj, gmm, flow2, 20000, 4, "2-D gmm");
        check_same_mean((pf_objective)obj, mgm, flow4, 5000, 4, "4-D mgm");
    }
    pf_flow_destroy(flow2);
    pf_flow_destroy(flow4);
    pf_target_destroy(gmm);
    pf_target_destroy(mgm);
}

/* ---- loss, log weights, samples ----------------------------------------------- */

Test(estimators, every_estimator_reports_the_plain_objective_and_the_same_log_weights)
{
    const int d = 3, B = 6;
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK, "%s", pf_last_error());
    pf_flow *flow = random_flow(d, 3, PF_MASK_HALVES, 8);
    size_t n = pf_flow_n_params(flow);
    double *g = malloc(n * sizeof *g), input[6 * 3], lw[3][6];
    const pf_estimator_kind kinds[2][3] = {
        {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN},
        {PF_ESTIMATOR_ML, PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN}};
    double worst_loss = 0, worst_lw = 0;
    for (int obj = 0; obj < 2; obj++) {
        make_input((pf_objective)obj, flow, t, B, 50 + obj, input);
        double loss[3], samples[3][6 * 3];
        for (int k = 0; k < 3; k++) {
            pf_estimator *e = make((pf_objective)obj, kinds[obj][k], flow, t);
            pf_estimate r;
            cr_assert_eq(pf_estimator_eval(e, B, input, g, lw[k], &r), PF_OK, "%s",
                         pf_last_error());
            loss[k] = r.loss;
            double norm = 0;
            for (size_t i = 0; i < n; i++)
                norm += g[i] * g[i];
            cr_assert_lt(fabs(r.grad_norm - sqrt(norm)), 1e-12 * sqrt(norm),
                         "grad_norm %g vs ‖grad‖ %g", r.grad_norm, sqrt(norm));
            memcpy(samples[k], pf_estimator_samples(e), sizeof samples[k]);
            pf_estimator_destroy(e);
        }
        /* independent route: log q(x) = log q₀(z) − ldj(z) with a forward pass
         * from z (reverse: the base samples; forward: z = T⁻¹x, then forward) */
        double x[6 * 3], z[6 * 3], ldj[6], ldj_inv[6], log_q0[6], S[6], ref = 0;
        if (obj == 0) {
            memcpy(z, input, sizeof z);
        } else {
            cr_assert_eq(pf_flow_inverse(flow, B, input, z, ldj_inv, NULL, NULL), PF_OK);
        }
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_OK);
        if (obj == 1)
            memcpy(x, input, sizeof x); /* the data themselves, not T(T⁻¹x) */
        pf_flow_base_log_prob(flow, B, z, log_q0, NULL);
        cr_assert_eq(pf_target_action(t, B, x, S), PF_OK);
        for (int b = 0; b < B; b++) {
            double log_q = log_q0[b] - ldj[b];
            ref += (obj == 0 ? log_q + S[b] : -log_q) / B;
            for (int k = 0; k < 3; k++) {
                double e = fabs(lw[k][b] - (-S[b] - log_q));
                worst_lw = fmax(worst_lw, e);
                cr_assert_lt(e, 1e-10, "%s %s: log w[%d] = %.14g vs −S − log q = %.14g",
                             obj_name(obj), pf_estimator_kind_name(kinds[obj][k]), b, lw[k][b],
                             -S[b] - log_q);
            }
        }
        for (int k = 0; k < 3; k++) {
            double e = fabs(loss[k] - ref);
            worst_loss = fmax(worst_loss, e);
            cr_assert_lt(e, 1e-10, "%s %s: loss %.14g vs plain MC objective %.14g", obj_name(obj),
                         pf_estimator_kind_name(kinds[obj][k]), loss[k], ref);
            double es = pft_max_rel_err((size_t)B * d, samples[k], x, 1.0);
            cr_assert_lt(es, 1e-12, "%s %s: pf_estimator_samples differs from %s by %g",
                         obj_name(obj), pf_estimator_kind_name(kinds[obj][k]),
                         obj ? "the data" : "T(z)", es);
        }
    }
    cr_log_info("loss vs plain MC objective: worst %g; log w: worst %g", worst_loss, worst_lw);
    free(g);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(estimators, names_are_parsed_and_invalid_pairs_refused_with_the_valid_names)
{
    pf_objective obj;
    pf_estimator_kind k;
    const char *rev[3] = {"total", "path", "path-dropin"}, *fwd[3] = {"ml", "path", "path-dropin"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_REVERSE, rev[i], &k), PF_OK,
                     "reverse %s: %s", rev[i], pf_last_error());
        cr_assert_str_eq(pf_estimator_kind_name(k), rev[i]);
        cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_FORWARD, fwd[i], &k), PF_OK,
                     "forward %s: %s", fwd[i], pf_last_error());
        cr_assert_str_eq(pf_estimator_kind_name(k), fwd[i]);
    }
    cr_assert_eq(pf_objective_from_name("reverse", &obj), PF_OK);
    cr_assert_eq(obj, PF_OBJECTIVE_REVERSE);
    cr_assert_eq(pf_objective_from_name("forward", &obj), PF_OK);
    cr_assert_eq(obj, PF_OBJECTIVE_FORWARD);
    cr_assert_str_eq(pf_objective_name(PF_OBJECTIVE_FORWARD), "forward");
    cr_assert_eq(pf_objective_from_name("backward", &obj), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "reverse, forward"), "%s", pf_last_error());
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_REVERSE, "ml", &k), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "'ml'"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "total, path, path-dropin"), "%s", pf_last_error());
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_FORWARD, "total", &k), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "'total'"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "ml, path, path-dropin"), "%s", pf_last_error());
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_FORWARD, "Path", &k), PF_ERR_CONFIG);
    cr_assert_eq(pf_estimator_kind_from_name(PF_OBJECTIVE_FORWARD, NULL, &k), PF_ERR_CONFIG);
}

static int nan_action(void *user, int B, const double *x, double *S)
{
    for (int b = 0; b < B; b++)
        S[b] = b == 0 ? NAN : 0.0;
    return 0;
}

static int failing_force(void *user, int B, const double *x, double *F)
{
    return -3;
}

Test(estimators, misuse_and_failing_targets_are_reported_with_messages)
{
    int d = 3;
    pf_target *t3, *t4, *nan_t, *fail_t;
    cr_assert_eq(pf_target_custom_create(d, normal_action, normal_force, &d, &t3), PF_OK);
    cr_assert_eq(pf_target_mgm_create(4, 1.0, 0.5, &t4), PF_OK);
    cr_assert_eq(pf_target_custom_create(d, nan_action, normal_force, &d, &nan_t), PF_OK);
    cr_assert_eq(pf_target_custom_create(d, normal_action, failing_force, &d, &fail_t), PF_OK);
    pf_flow *flow = random_flow(d, 2, PF_MASK_HALVES, 9);
    pf_estimator *e = (pf_estimator *)1;
    cr_assert_eq(pf_estimator_create(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_ML, flow, t3, 4, &e),
                 PF_ERR_CONFIG, "reverse ml accepted");
    cr_assert_null(e);
    cr_assert_eq(pf_estimator_create(PF_OBJECTIVE_FORWARD, PF_ESTIMATOR_TOTAL, flow, t3, 4, &e),
                 PF_ERR_CONFIG, "forward total accepted");
    cr_assert_eq(pf_estimator_create(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH, flow, t4, 4, &e),
                 PF_ERR_ARG, "dimension mismatch accepted");
    cr_assert_not_null(strstr(pf_last_error(), "3 ≠ target dimension 4"), "%s", pf_last_error());

    size_t n = pf_flow_n_params(flow);
    double z[8 * 3], *g = malloc(n * sizeof *g);
    pft_fill_normal(1, 8 * 3, z, 1.0);
    pf_estimate r;
    e = make(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_PATH, flow, t3);
    cr_assert_eq(pf_estimator_eval(e, B_MAX + 1, z, g, NULL, &r), PF_ERR_ARG, "B > B_max");
    cr_assert_eq(pf_estimator_eval(e, 0, z, g, NULL, &r), PF_ERR_ARG, "B = 0");
    pf_estimator_destroy(e);

    e = make(PF_OBJECTIVE_REVERSE, PF_ESTIMATOR_TOTAL, flow, nan_t);
    cr_assert_eq(pf_estimator_eval(e, 2, z, g, NULL, &r), PF_ERR_NUMERIC, "NaN action: %s",
                 pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "non-finite loss"), "%s", pf_last_error());
    pf_estimator_destroy(e);

    for (int obj = 0; obj < 2; obj++) {
        e = make((pf_objective)obj, PF_ESTIMATOR_PATH, flow, fail_t);
        cr_assert_eq(pf_estimator_eval(e, 2, z, g, NULL, &r), PF_ERR_CALLBACK,
                     "%s: failing force not reported: %s", obj_name(obj), pf_last_error());
        cr_assert_not_null(strstr(pf_last_error(), "-3"), "%s", pf_last_error());
        pf_estimator_destroy(e);
    }
    free(g);
    pf_flow_destroy(flow);
    pf_target_destroy(t3);
    pf_target_destroy(t4);
    pf_target_destroy(nan_t);
    pf_target_destroy(fail_t);
}
