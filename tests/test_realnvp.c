/* Tests for src/flows/{realnvp,chain,coupling_affine}.c through the flow
 * interface: round trips, log-determinants against finite-difference
 * Jacobians, both score recursions against finite differences of log-
 * densities, and backward (VJP) against finite differences — on random,
 * far-from-identity flows with every mask kind. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "core/linalg.h"
#include "testutil.h"

/* A random RealNVP: zero_init off, so every coupling is far from identity. */
static pf_flow *random_flow(int dim, pf_mask_kind mask, int L0, int L1, unsigned long long seed)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = dim;
    o.n_layers = 4;
    o.n_hidden = 2;
    o.hidden[0] = 9;
    o.hidden[1] = 7;
    o.mask = mask;
    o.lattice[0] = L0;
    o.lattice[1] = L1;
    o.zero_init = 0;
    o.init_scale = 0.6;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, 16), PF_OK);
    return flow;
}

typedef struct flow_case {
    int dim;
    pf_mask_kind mask;
    int L0, L1;
} flow_case;

static const flow_case CASES[] = {
    {2, PF_MASK_HALVES, 0, 0},
    {5, PF_MASK_HALVES, 0, 0},
    {6, PF_MASK_EVEN_ODD, 0, 0},
    {6, PF_MASK_CHECKERBOARD, 2, 3},
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static pf_flow *case_flow(int k) { return random_flow(CASES[k].dim, CASES[k].mask, CASES[k].L0, CASES[k].L1, 100 + k); }

Test(realnvp, inverse_undoes_forward_and_log_determinants_are_opposite)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 16;
        double z[16 * 6], x[16 * 6], back[16 * 6], ldj[16], ldj_inv[16];
        pft_fill_normal(k, (size_t)B * d, z, 1.0);
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_OK);
        cr_assert_eq(pf_flow_inverse(flow, B, x, back, ldj_inv, NULL, NULL), PF_OK);
        double moved = pft_rel_err((size_t)B * d, x, z, 1e-300);
        cr_assert_gt(moved, 0.1, "case %d: flow too close to identity (%g)", k, moved);
        double e = pft_max_rel_err((size_t)B * d, back, z, 1.0);
        cr_assert_lt(e, 1e-12, "case %d: inverse(forward(z)) − z: %g", k, e);
        for (int b = 0; b < B; b++) {
            cr_assert_gt(fabs(ldj[b]), 1e-3, "ldj should be non-trivial");
            cr_assert_lt(fabs(ldj[b] + ldj_inv[b]), 1e-12, "case %d: ldj %g vs ldj_inv %g", k,
                         ldj[b], ldj_inv[b]);
        }
        pf_flow_destroy(flow);
    }
}

/* x = T(z) for one sample, for the FD Jacobian. */
typedef struct one {
    pf_flow *flow;
    pf_target *target;
} one;

static void forward_one(void *ctx, const double *z, double *x)
{
    double ldj;
    cr_assert_eq(pf_flow_forward(((one *)ctx)->flow, 1, z, x, &ldj, NULL, NULL), PF_OK);
}

Test(realnvp, log_determinant_matches_the_finite_difference_jacobian)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim;
        double z[6], x[6], ldj, J[36], scratch[24], logdet;
        int sign;
        one ctx = {flow, NULL};
        for (int s = 0; s < 3; s++) {
            pft_fill_normal(50 + s, (size_t)d, z, 1.0);
            pft_fd_jacobian(forward_one, &ctx, (size_t)d, (size_t)d, z, 1e-4, J, scratch);
            cr_assert_eq(pf_logdet_lu(d, J, &logdet, &sign), PF_OK);
            cr_assert_eq(pf_flow_forward(flow, 1, z, x, &ldj, NULL, NULL), PF_OK);
            cr_assert_float_eq(ldj, logdet, 1e-8, "case %d: ldj %.12g vs FD %.12g", k, ldj, logdet);
            cr_assert_eq(sign, 1, "couplings preserve orientation");
        }
        pf_flow_destroy(flow);
    }
}

/* log q_θ(x) = log q₀(T⁻¹x) + ldj_inv(x), from inverse passes only. */
static double log_q(void *ctx, const double *x)
{
    pf_flow *flow = ((one *)ctx)->flow;
    double z[64], ldj_inv, log_q0;
    cr_assert_eq(pf_flow_inverse(flow, 1, x, z, &ldj_inv, NULL, NULL), PF_OK);
    pf_flow_base_log_prob(flow, 1, z, &log_q0, NULL);
    return log_q0 + ldj_inv;
}

/* log p̃(z) = log p(T z) + ldj(z) = −S(T z) + ldj(z), from forward passes only. */
static double log_pullback(void *ctx, const double *z)
{
    one *c = ctx;
    double x[64], ldj, S;
    cr_assert_eq(pf_flow_forward(c->flow, 1, z, x, &ldj, NULL, NULL), PF_OK);
    cr_assert_eq(pf_target_action(c->target, 1, x, &S), PF_OK);
    return -S + ldj;
}

Test(realnvp, forward_recursion_gives_the_score_of_the_flow_density)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 4;
        double z[4 * 6], x[4 * 6], ldj[4], s0[4 * 6], score[4 * 6], fd[6];
        pft_fill_normal(60 + k, (size_t)B * d, z, 1.0);
        pf_flow_base_log_prob(flow, B, z, NULL, s0);
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, s0, score), PF_OK);
        one ctx = {flow, NULL};
        for (int b = 0; b < B; b++) {
            pft_fd_gradient(log_q, &ctx, (size_t)d, x + b * d, 1e-5, fd);
            double e = pft_rel_err((size_t)d, score + b * d, fd, 1e-8);
            cr_assert_lt(e, 1e-6, "case %d sample %d: score rel err %g", k, b, e);
        }
        pf_flow_destroy(flow);
    }
}

Test(realnvp, inverse_recursion_gives_the_score_of_the_pullback_of_the_target)
{
    pf_target *target;
    for (int k = 0; k < N_CASES; k++) {
        const int d = CASES[k].dim, B = 4;
        cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &target), PF_OK);
        pf_flow *flow = case_flow(k);
        double x[4 * 6], z[4 * 6], ldj[4], force[4 * 6], score[4 * 6], fd[6];
        pft_fill_normal(70 + k, (size_t)B * d, x, 1.3);
        pf_target_force(target, B, x, force);
        for (int i = 0; i < B * d; i++)
            force[i] = -force[i]; /* ∂ₓ log p = −∇S */
        cr_assert_eq(pf_flow_inverse(flow, B, x, z, ldj, force, score), PF_OK);
        one ctx = {flow, target};
        for (int b = 0; b < B; b++) {
            pft_fd_gradient(log_pullback, &ctx, (size_t)d, z + b * d, 1e-5, fd);
            double e = pft_rel_err((size_t)d, score + b * d, fd, 1e-8);
            cr_assert_lt(e, 1e-6, "case %d sample %d: pullback score rel err %g", k, b, e);
        }
        pf_flow_destroy(flow);
        pf_target_destroy(target);
    }
}

/* Σ out_bar·T(in) + Σ ldj_bar·ldj(in) after a forward (dir 1) or inverse (−1)
 * pass, as a function of the parameters or of the input. */
typedef struct vjp_ctx {
    pf_flow *flow;
    int dir, B, wrt_params;
    double *in, *out_bar, *ldj_bar;
} vjp_ctx;

static double vjp_objective(void *p, const double *unused)
{
    (void)unused;
    vjp_ctx *c = p;
    const int d = pf_flow_dim(c->flow);
    double out[16 * 6], ldj[16], s = 0;
    if (c->dir == 1)
        cr_assert_eq(pf_flow_forward(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    else
        cr_assert_eq(pf_flow_inverse(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    for (int i = 0; i < c->B * d; i++)
        s += c->out_bar[i] * out[i];
    for (int b = 0; b < c->B; b++)
        s += c->ldj_bar[b] * ldj[b];
    return s;
}

Test(realnvp, backward_matches_finite_differences_after_forward_and_inverse_passes)
{
    for (int k = 0; k < N_CASES; k++)
        for (int dir = -1; dir <= 1; dir += 2) {
            pf_flow *flow = case_flow(k);
            const int d = CASES[k].dim, B = 3;
            const size_t np = pf_flow_n_params(flow);
            double in[3 * 6], out_bar[3 * 6], ldj_bar[3], out[3 * 6], ldj[3];
            pft_fill_normal(80 + k, (size_t)B * d, in, 1.0);
            pft_fill_normal(90 + k, (size_t)B * d, out_bar, 1.0);
            pft_fill_normal(95 + k, (size_t)B, ldj_bar, 1.0);
            vjp_ctx c = {flow, dir, B, 1, in, out_bar, ldj_bar};
            double *fd_p = malloc(np * sizeof *fd_p), *grad = calloc(np, sizeof *grad);
            double fd_in[3 * 6], in_bar[3 * 6] = {0};
            pft_fd_gradient(vjp_objective, &c, np, pf_flow_params(flow), 1e-5, fd_p);
            pft_fd_gradient(vjp_objective, &c, (size_t)B * d, in, 1e-5, fd_in);
            if (dir == 1)
                pf_flow_forward(flow, B, in, out, ldj, NULL, NULL);
            else
                pf_flow_inverse(flow, B, in, out, ldj, NULL, NULL);
            cr_assert_eq(pf_flow_backward(flow, B, out_bar, ldj_bar, grad, in_bar), PF_OK);
            double ep = pft_rel_err(np, grad, fd_p, 1e-8);
            double ei = pft_rel_err((size_t)B * d, in_bar, fd_in, 1e-8);
            cr_assert_lt(ep, 1e-6, "case %d dir %d: θ̄ rel err %g", k, dir, ep);
            cr_assert_lt(ei, 1e-6, "case %d dir %d: input cotangent rel err %g", k, dir, ei);
            /* input-only: grad == NULL gives the same input cotangent, += semantics */
            cr_assert_eq(pf_flow_backward(flow, B, out_bar, ldj_bar, NULL, in_bar), PF_OK);
            for (int i = 0; i < B * d; i++)
                cr_assert_float_eq(in_bar[i], 2 * fd_in[i], 1e-6 * (1 + fabs(fd_in[i])));
            free(fd_p);
            free(grad);
            pf_flow_destroy(flow);
        }
}

Test(realnvp, zero_initialised_flow_is_exactly_the_identity)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 5;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK);
    cr_assert_eq(pf_flow_reserve(flow, 4), PF_OK);
    double z[20], x[20], ldj[4];
    pft_fill_normal(3, 20, z, 1.0);
    pf_flow_forward(flow, 4, z, x, ldj, NULL, NULL);
    cr_assert(memcmp(z, x, sizeof z) == 0);
    for (int b = 0; b < 4; b++)
        cr_assert_eq(ldj[b], 0.0);
    pf_flow_destroy(flow);
}

Test(realnvp, bad_options_and_misuse_are_refused_with_messages)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    pf_flow *flow;
    o.dim = 1;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "dim"), "%s", pf_last_error());
    o.dim = 6;
    o.mask = PF_MASK_CHECKERBOARD;
    o.lattice[0] = 2;
    o.lattice[1] = 2;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "lattice"), "%s", pf_last_error());
    o.mask = PF_MASK_HALVES;
    o.activation = "tanhh";
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "tanhh"), "%s", pf_last_error());
    o.activation = "tanh";
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK);
    double z[12] = {0}, x[12], ldj[2];
    cr_assert_eq(pf_flow_forward(flow, 2, z, x, ldj, NULL, NULL), PF_ERR_ARG, "not reserved");
    cr_assert_eq(pf_flow_reserve(flow, 2), PF_OK);
    cr_assert_eq(pf_flow_backward(flow, 2, z, NULL, NULL, x), PF_ERR_ARG, "no pass yet");
    cr_assert_not_null(strstr(pf_last_error(), "no forward or inverse pass"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_flow_forward(flow, 3, z, x, ldj, NULL, NULL), PF_ERR_ARG, "batch > reserved");
    cr_assert_str_eq(pf_flow_kind(flow), "realnvp");
    cr_assert_not_null(strstr(pf_flow_describe(flow), "layers=4"), "%s", pf_flow_describe(flow));
    pf_flow_destroy(flow);
}
