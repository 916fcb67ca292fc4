/* Tests for src/flows/{realnvp,chain}.c through the public flow interface
 * (docs/theory.md §4): round trips, log-determinants against finite-difference
 * Jacobians, both score recursions against finite differences of
 * log-densities, and backward (VJP) against finite differences — on random,
 * far-from-identity flows with every mask kind (halves, even/odd,
 * checkerboard on 2×3 and 4×4 lattices) and every conditioner (dense, conv;
 * plain and z2-symmetrised). Then the lattice properties of conv and z2
 * flows: odd maps and q(−x) = q(x), invariance of q under the checkerboard's
 * lattice shifts, one parameter vector for two lattice sizes, and the path
 * and path-dropin estimators agreeing on them. Finite-difference references use
 * plain forward/inverse passes only (no score option, no backward). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "core/linalg.h"
#include "testutil.h"

#define B_MAX 16
#define D_MAX 128 /* log_q of the 16×8 lattice flows */

typedef struct flow_case {
    int dim;
    pf_mask_kind mask;
    int L0, L1;
    const char *name;
    pf_conditioner_kind conditioner;
    pf_symmetry_kind symmetry;
    pf_base_kind base; /* PF_BASE_NORMAL unless given */
} flow_case;

static const flow_case CASES[] = {
    {2, PF_MASK_HALVES, 0, 0, "halves d=2", PF_CONDITIONER_DENSE, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {5, PF_MASK_HALVES, 0, 0, "halves d=5", PF_CONDITIONER_DENSE, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {6, PF_MASK_EVEN_ODD, 0, 0, "even_odd d=6", PF_CONDITIONER_DENSE, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {6, PF_MASK_CHECKERBOARD, 2, 3, "checkerboard 2x3", PF_CONDITIONER_DENSE, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {16, PF_MASK_CHECKERBOARD, 4, 4, "checkerboard 4x4", PF_CONDITIONER_DENSE, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {16, PF_MASK_CHECKERBOARD, 4, 4, "conv 4x4", PF_CONDITIONER_CONV, PF_SYMMETRY_NONE, PF_BASE_NORMAL},
    {16, PF_MASK_CHECKERBOARD, 4, 4, "conv z2 4x4", PF_CONDITIONER_CONV, PF_SYMMETRY_Z2, PF_BASE_NORMAL},
    {6, PF_MASK_EVEN_ODD, 0, 0, "dense z2 even_odd d=6", PF_CONDITIONER_DENSE, PF_SYMMETRY_Z2, PF_BASE_NORMAL},
    {12, PF_MASK_CHECKERBOARD, 4, 3, "conv z2 4x3", PF_CONDITIONER_CONV, PF_SYMMETRY_Z2, PF_BASE_NORMAL},
    {16, PF_MASK_CHECKERBOARD, 4, 4, "conv z2 4x4, z2_mixture base", PF_CONDITIONER_CONV,
     PF_SYMMETRY_Z2, PF_BASE_Z2_MIXTURE},
    {16, PF_MASK_CHECKERBOARD, 4, 4, "conv 4x4, z2_mixture base", PF_CONDITIONER_CONV,
     PF_SYMMETRY_NONE, PF_BASE_Z2_MIXTURE},
};
#define FIRST_LATTICE_CASE 5
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

/* A random RealNVP: zero_init off, so every coupling is far from identity. */
static pf_realnvp_options case_options(int k)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = CASES[k].dim;
    o.n_layers = 4;
    o.n_hidden = 2;
    o.hidden[0] = 9;
    o.hidden[1] = 7;
    o.activation = k % 2 ? "softplus" : "tanh";
    o.mask = CASES[k].mask;
    o.lattice[0] = CASES[k].L0;
    o.lattice[1] = CASES[k].L1;
    o.conditioner = CASES[k].conditioner;
    o.symmetry = CASES[k].symmetry;
    o.zero_init = 0;
    o.init_scale = o.conditioner == PF_CONDITIONER_CONV ? 0.5 : 0.8;
    if (CASES[k].base == PF_BASE_Z2_MIXTURE)
        o.init_scale = 0.7; /* seeds 109, 110 start nearer the identity */
    o.seed = 100 + k;
    o.base = CASES[k].base;
    o.base_shift = 1.3;
    return o;
}

static pf_flow *create(const pf_realnvp_options *o)
{
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, B_MAX), PF_OK, "%s", pf_last_error());
    return flow;
}

/* Adds N(0, σ²) to every parameter: nonzero biases, without which a tanh
 * network is odd and the even part s of a z2 conditioner vanishes. */
static void perturb(pf_flow *flow, unsigned long long seed, double sigma)
{
    const size_t np = pf_flow_n_params(flow);
    double *noise = malloc(np * sizeof *noise), *params = pf_flow_params(flow);
    pft_fill_normal(seed, np, noise, sigma);
    for (size_t i = 0; i < np; i++)
        params[i] += noise[i];
    free(noise);
}

static pf_flow *case_flow(int k)
{
    pf_realnvp_options o = case_options(k);
    pf_flow *flow = create(&o);
    if (k >= FIRST_LATTICE_CASE)
        perturb(flow, 200 + k, 0.1);
    return flow;
}

Test(realnvp, inverse_undoes_forward_and_log_determinants_are_opposite)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = B_MAX;
        const size_t bd = (size_t)B * d;
        double z[B_MAX * D_MAX], x[B_MAX * D_MAX], back[B_MAX * D_MAX], zz[B_MAX * D_MAX];
        double ldj[B_MAX], ldj_inv[B_MAX], ldj2[B_MAX];
        pft_fill_normal(k, bd, z, 1.0);
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, NULL, NULL), PF_OK);
        cr_assert_eq(pf_flow_inverse(flow, B, x, back, ldj_inv, NULL, NULL), PF_OK);
        double moved = pft_rel_err(bd, x, z, 1e-300), smallest_ldj = INFINITY, worst_ldj = 0;
        for (int b = 0; b < B; b++) {
            smallest_ldj = fmin(smallest_ldj, fabs(ldj[b]));
            worst_ldj = fmax(worst_ldj, fabs(ldj[b] + ldj_inv[b]));
        }
        double e = pft_max_rel_err(bd, back, z, 1.0);
        cr_log_info("%s: ‖x−z‖/max(‖x‖,‖z‖) = %.3g, min |ldj| = %.3g, round trip %.3g, "
                    "|ldj+ldj_inv| ≤ %.3g",
                    CASES[k].name, moved, smallest_ldj, e, worst_ldj);
        cr_assert_gt(moved, 0.2, "%s: flow too close to identity (‖x−z‖/max(‖x‖,‖z‖) = %g)",
                     CASES[k].name, moved);
        cr_assert_lt(e, 1e-12, "%s: inverse(forward(z)) − z: %g", CASES[k].name, e);
        cr_assert_lt(worst_ldj, 1e-12, "%s: |ldj + ldj_inv| up to %g", CASES[k].name, worst_ldj);
        /* the other way round, from points that are not flow samples. (Far in
         * the tails, |x| ≳ 6, a random softplus flow's inverse reaches
         * |z| ~ 1e4 with e^{−s} ~ 1e9, and the round trip loses all digits to
         * conditioning; N(0, 1) points stay in the well-conditioned region.) */
        pft_fill_normal(20 + k, bd, x, 1.0);
        cr_assert_eq(pf_flow_inverse(flow, B, x, zz, ldj_inv, NULL, NULL), PF_OK);
        cr_assert_eq(pf_flow_forward(flow, B, zz, back, ldj2, NULL, NULL), PF_OK);
        e = pft_max_rel_err(bd, back, x, 1.0);
        cr_assert_lt(e, 1e-12, "%s: forward(inverse(x)) − x: %g", CASES[k].name, e);
        worst_ldj = 0;
        for (int b = 0; b < B; b++)
            worst_ldj = fmax(worst_ldj, fabs(ldj2[b] + ldj_inv[b]));
        cr_assert_lt(worst_ldj, 1e-12, "%s: |ldj + ldj_inv| (from x) up to %g", CASES[k].name,
                     worst_ldj);
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
    double worst = 0;
    for (int k = 0; k < N_CASES; k++) {
        const int d = CASES[k].dim;
        if (d > 6)
            continue;
        pf_flow *flow = case_flow(k);
        double z[6], x[6], ldj, J[36], scratch[24], logdet;
        int sign;
        one ctx = {flow, NULL};
        for (int s = 0; s < 3; s++) {
            pft_fill_normal(50 + s, (size_t)d, z, 1.0);
            pft_fd_jacobian(forward_one, &ctx, (size_t)d, (size_t)d, z, 1e-4, J, scratch);
            cr_assert_eq(pf_logdet_lu(d, J, &logdet, &sign), PF_OK, "%s", pf_last_error());
            cr_assert_eq(pf_flow_forward(flow, 1, z, x, &ldj, NULL, NULL), PF_OK);
            double e = fabs(ldj - logdet);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-8, "%s: ldj %.12g vs FD log|det| %.12g (diff %g)", CASES[k].name,
                         ldj, logdet, e);
            cr_assert_eq(sign, 1, "%s: couplings preserve orientation (det sign %d)", CASES[k].name,
                         sign);
        }
        pf_flow_destroy(flow);
    }
    cr_log_info("ldj vs FD Jacobian: worst abs diff %g", worst);
}

/* log q_θ(x) = log q₀(T⁻¹x) + ldj_inv(x), from inverse passes only. */
static double log_q(void *ctx, const double *x)
{
    pf_flow *flow = ((one *)ctx)->flow;
    double z[D_MAX], ldj_inv, log_q0;
    cr_assert_eq(pf_flow_inverse(flow, 1, x, z, &ldj_inv, NULL, NULL), PF_OK);
    pf_flow_base_log_prob(flow, 1, z, &log_q0, NULL);
    return log_q0 + ldj_inv;
}

/* log p̃(z) = log p(T z) + ldj(z) = −S(T z) + ldj(z), from forward passes only. */
static double log_pullback(void *ctx, const double *z)
{
    one *c = ctx;
    double x[D_MAX], ldj, S;
    cr_assert_eq(pf_flow_forward(c->flow, 1, z, x, &ldj, NULL, NULL), PF_OK);
    cr_assert_eq(pf_target_action(c->target, 1, x, &S), PF_OK);
    return -S + ldj;
}

Test(realnvp, forward_recursion_gives_the_score_of_the_flow_density)
{
    double worst = 0;
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 4;
        double z[4 * D_MAX], x[4 * D_MAX], ldj[4], s0[4 * D_MAX], score[4 * D_MAX], fd[D_MAX];
        pft_fill_normal(60 + k, (size_t)B * d, z, 1.0);
        pf_flow_base_log_prob(flow, B, z, NULL, s0);
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, s0, score), PF_OK);
        one ctx = {flow, NULL};
        for (int b = 0; b < B; b++) {
            pft_fd_gradient(log_q, &ctx, (size_t)d, x + b * d, 1e-5, fd);
            double e = pft_rel_err((size_t)d, score + b * d, fd, 1e-8);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-6, "%s sample %d: score rel err %g", CASES[k].name, b, e);
        }
        pf_flow_destroy(flow);
    }
    cr_log_info("forward recursion vs FD of log q: worst rel err %g", worst);
}

Test(realnvp, inverse_recursion_gives_the_score_of_the_pullback_of_a_gaussian_mixture)
{
    double worst = 0;
    for (int k = 0; k < N_CASES; k++) {
        const int d = CASES[k].dim, B = 4;
        pf_target *target;
        cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &target), PF_OK, "%s", pf_last_error());
        pf_flow *flow = case_flow(k);
        double x[4 * D_MAX], z[4 * D_MAX], ldj[4], s_p[4 * D_MAX], score[4 * D_MAX], fd[D_MAX];
        pft_fill_normal(70 + k, (size_t)B * d, x, 1.3);
        cr_assert_eq(pf_target_force(target, B, x, s_p), PF_OK);
        for (int i = 0; i < B * d; i++)
            s_p[i] = -s_p[i]; /* ∂ₓ log p = −∇S */
        cr_assert_eq(pf_flow_inverse(flow, B, x, z, ldj, s_p, score), PF_OK);
        one ctx = {flow, target};
        for (int b = 0; b < B; b++) {
            pft_fd_gradient(log_pullback, &ctx, (size_t)d, z + b * d, 1e-5, fd);
            double e = pft_rel_err((size_t)d, score + b * d, fd, 1e-8);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-6, "%s sample %d: pullback score rel err %g", CASES[k].name, b, e);
        }
        pf_flow_destroy(flow);
        pf_target_destroy(target);
    }
    cr_log_info("inverse recursion vs FD of log p̃: worst rel err %g", worst);
}

/* Σ out_bar·T(in) + Σ ldj_bar·ldj(in) after a forward (dir 1) or inverse (−1)
 * pass, as a function of the parameters or of the input (ldj_bar NULL = 0). */
typedef struct vjp_ctx {
    pf_flow *flow;
    int dir, B;
    double *in;
    const double *out_bar, *ldj_bar;
} vjp_ctx;

static double vjp_objective(void *p, const double *unused)
{
    (void)unused;
    vjp_ctx *c = p;
    const int d = pf_flow_dim(c->flow);
    double out[B_MAX * D_MAX], ldj[B_MAX], s = 0;
    if (c->dir == 1)
        cr_assert_eq(pf_flow_forward(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    else
        cr_assert_eq(pf_flow_inverse(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    for (int i = 0; i < c->B * d; i++)
        s += c->out_bar[i] * out[i];
    for (int b = 0; c->ldj_bar && b < c->B; b++)
        s += c->ldj_bar[b] * ldj[b];
    return s;
}

/* Each case, both directions, ldj_bar random and NULL, with the score
 * recursion run during the pass or not (the estimators differentiate passes
 * of both kinds). grad and in_bar start from random contents: backward must
 * add to them. Then the input-only call (grad == NULL) and the parameter-only
 * call (in_bar == NULL) add the same amounts once more. */
Test(realnvp, backward_matches_finite_differences_after_forward_and_inverse_passes)
{
    double worst_p = 0, worst_in = 0;
    for (int k = 0; k < N_CASES; k++)
        for (int dir = -1; dir <= 1; dir += 2)
            for (int variant = 0; variant < 2; variant++) {
                const int with_ldj_bar = variant == 0, with_score = variant == 1;
                pf_flow *flow = case_flow(k);
                const int d = CASES[k].dim, B = 3;
                const size_t np = pf_flow_n_params(flow), bd = (size_t)B * d;
                double in[3 * D_MAX], out_bar[3 * D_MAX], ldj_bar[3], out[3 * D_MAX], ldj[3];
                double g[3 * D_MAX], h[3 * D_MAX], fd_in[3 * D_MAX], in_bar[3 * D_MAX];
                double prior_in[3 * D_MAX];
                pft_fill_normal(80 + k, bd, in, 1.0);
                pft_fill_normal(90 + k, bd, out_bar, 1.0);
                pft_fill_normal(95 + k, (size_t)B, ldj_bar, 1.0);
                pft_fill_normal(96 + k, bd, prior_in, 1.0);
                pft_fill_normal(97 + k, bd, g, 1.0);
                vjp_ctx c = {flow, dir, B, in, out_bar, with_ldj_bar ? ldj_bar : NULL};
                double *fd_p = malloc(np * sizeof *fd_p), *grad = malloc(np * sizeof *grad);
                double *prior_p = malloc(np * sizeof *prior_p);
                pft_fill_normal(98 + k, np, prior_p, 1.0);
                pft_fd_gradient(vjp_objective, &c, np, pf_flow_params(flow), 1e-5, fd_p);
                pft_fd_gradient(vjp_objective, &c, bd, in, 1e-5, fd_in);

                const double *score_in = with_score ? g : NULL;
                pf_status st = dir == 1 ? pf_flow_forward(flow, B, in, out, ldj, score_in, h)
                                        : pf_flow_inverse(flow, B, in, out, ldj, score_in, h);
                cr_assert_eq(st, PF_OK, "%s", pf_last_error());
                memcpy(grad, prior_p, np * sizeof *grad);
                memcpy(in_bar, prior_in, bd * sizeof *in_bar);
                cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, grad, in_bar), PF_OK);
                for (size_t i = 0; i < np; i++)
                    grad[i] -= prior_p[i];
                for (size_t i = 0; i < bd; i++)
                    in_bar[i] -= prior_in[i];
                double ep = pft_rel_err(np, grad, fd_p, 1e-8);
                double ei = pft_rel_err(bd, in_bar, fd_in, 1e-8);
                worst_p = fmax(worst_p, ep);
                worst_in = fmax(worst_in, ei);
                cr_assert_lt(ep, 1e-6, "%s dir %d variant %d: θ̄ rel err %g", CASES[k].name, dir,
                             variant, ep);
                cr_assert_lt(ei, 1e-6, "%s dir %d variant %d: input cotangent rel err %g",
                             CASES[k].name, dir, variant, ei);
                /* input only: adds the same cotangent again */
                cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, NULL, in_bar), PF_OK);
                for (size_t i = 0; i < bd; i++)
                    in_bar[i] *= 0.5;
                double e2 = pft_rel_err(bd, in_bar, fd_in, 1e-8);
                cr_assert_lt(e2, 1e-6, "%s dir %d: input-only VJP, accumulated: rel err %g",
                             CASES[k].name, dir, e2);
                /* parameters only: adds the same gradient again */
                cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, grad, NULL), PF_OK);
                for (size_t i = 0; i < np; i++)
                    grad[i] *= 0.5;
                double e3 = pft_rel_err(np, grad, fd_p, 1e-8);
                cr_assert_lt(e3, 1e-6, "%s dir %d: parameter-only VJP, accumulated: rel err %g",
                             CASES[k].name, dir, e3);
                free(fd_p);
                free(grad);
                free(prior_p);
                pf_flow_destroy(flow);
            }
    cr_log_info("backward vs FD: worst rel err θ̄ %g, input cotangent %g", worst_p, worst_in);
}

/* Rows of a batch are independent: a batch of B gives, row by row, what B
 * single-sample passes give, and the batch VJP is the sum of the per-sample
 * ones (catches strides that mix B and the reserved B_max). */
Test(realnvp, a_batch_is_processed_as_its_samples_one_at_a_time)
{
    const int k = 3, B = 5, d = CASES[k].dim;
    pf_flow *flow = case_flow(k);
    const size_t np = pf_flow_n_params(flow);
    double z[5 * 6], x[5 * 6], ldj[5], s0[5 * 6], sc[5 * 6], bar[5 * 6], zbar[5 * 6] = {0};
    double x1[6], ldj1, sc1[6], zbar1[6];
    double *grad = calloc(np, sizeof *grad), *sum = calloc(np, sizeof *sum);
    pft_fill_normal(7, (size_t)B * d, z, 1.0);
    pft_fill_normal(8, (size_t)B * d, bar, 1.0);
    pf_flow_base_log_prob(flow, B, z, NULL, s0);
    cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, s0, sc), PF_OK);
    cr_assert_eq(pf_flow_backward(flow, B, bar, NULL, grad, zbar), PF_OK);
    double worst = 0;
    for (int b = 0; b < B; b++) {
        cr_assert_eq(pf_flow_forward(flow, 1, z + b * d, x1, &ldj1, s0 + b * d, sc1), PF_OK);
        memset(zbar1, 0, sizeof zbar1);
        cr_assert_eq(pf_flow_backward(flow, 1, bar + b * d, NULL, sum, zbar1), PF_OK);
        worst = fmax(worst, pft_max_rel_err((size_t)d, x1, x + b * d, 1.0));
        worst = fmax(worst, pft_max_rel_err((size_t)d, sc1, sc + b * d, 1.0));
        worst = fmax(worst, pft_max_rel_err((size_t)d, zbar1, zbar + b * d, 1.0));
        worst = fmax(worst, fabs(ldj1 - ldj[b]));
    }
    double eg = pft_rel_err(np, grad, sum, 1e-300);
    cr_assert_lt(worst, 1e-13, "batch row vs single sample: worst difference %g", worst);
    cr_assert_lt(eg, 1e-12, "batch θ̄ vs sum of single-sample θ̄: rel err %g", eg);
    free(grad);
    free(sum);
    pf_flow_destroy(flow);
}

/* n_params from the architecture: each coupling's conditioner is an MLP
 * |A| → 9 → 7 → 2|B| (weights and biases), or a 3×3 CNN with 1 → 9 → 7 → 2
 * channels whatever the lattice; z2 evaluates the same network twice. */
Test(realnvp, parameter_count_and_description_follow_the_options)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_realnvp_options o = case_options(k);
        pf_flow *flow = create(&o);
        const int d = o.dim;
        size_t expected = 0;
        for (int l = 0; l < o.n_layers; l++) {
            /* halves: A = first ⌊d/2⌋ in even layers; even/odd and checkerboard
             * split evenly here (d even) */
            int n_a = o.mask == PF_MASK_HALVES ? (l % 2 ? d - d / 2 : d / 2) : d / 2;
            int n_b = d - n_a;
            if (o.conditioner == PF_CONDITIONER_CONV)
                expected += (9 * 1 + 1) * 9 + (9 * 9 + 1) * 7 + (9 * 7 + 1) * 2;
            else
                expected += (size_t)(9 * n_a + 9) + (7 * 9 + 7) + (size_t)(2 * n_b * 7 + 2 * n_b);
        }
        cr_assert_eq(pf_flow_n_params(flow), expected, "%s: n_params %zu, expected %zu",
                     CASES[k].name, pf_flow_n_params(flow), expected);
        cr_assert_eq(pf_flow_dim(flow), d, "%s: dim %d", CASES[k].name, pf_flow_dim(flow));
        cr_assert_eq(pf_flow_base(flow), CASES[k].base, "%s: base %d", CASES[k].name,
                     (int)pf_flow_base(flow));
        cr_assert_eq(pf_flow_base_shift(flow), CASES[k].base == PF_BASE_Z2_MIXTURE ? 1.3 : 0.0);
        cr_assert_str_eq(pf_flow_kind(flow), "realnvp");
        const char *text = pf_flow_describe(flow);
        cr_assert_not_null(strstr(text, "layers=4"), "%s", text);
        /* a checkpoint of one conditioner must not load into another */
        cr_assert_eq(strstr(text, "conditioner=conv kernel=3") != NULL,
                     o.conditioner == PF_CONDITIONER_CONV, "%s: %s", CASES[k].name, text);
        cr_assert_eq(strstr(text, "symmetry=z2") != NULL, o.symmetry == PF_SYMMETRY_Z2, "%s: %s",
                     CASES[k].name, text);
        /* nor one of another base or base shift */
        cr_assert_eq(strstr(text, "base=z2_mixture shift=1.3") != NULL,
                     o.base == PF_BASE_Z2_MIXTURE, "%s: %s", CASES[k].name, text);
        pf_flow_destroy(flow);
    }
}

Test(realnvp, zero_initialised_flow_is_exactly_the_identity)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_realnvp_options o = case_options(k);
        o.zero_init = 1;
        pf_flow *flow = create(&o);
        const int d = o.dim, B = 4;
        const size_t bd = (size_t)B * d;
        double z[4 * D_MAX], x[4 * D_MAX], ldj[4], g[4 * D_MAX], h[4 * D_MAX];
        pft_fill_normal(3 + k, bd, z, 1.0);
        pft_fill_normal(13 + k, bd, g, 1.0);
        for (int dir = 0; dir < 2; dir++) {
            if (dir == 0)
                cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, g, h), PF_OK);
            else
                cr_assert_eq(pf_flow_inverse(flow, B, z, x, ldj, g, h), PF_OK);
            for (size_t i = 0; i < bd; i++) {
                cr_assert_eq(x[i], z[i], "%s %s: x[%zu] = %.17g ≠ z = %.17g", CASES[k].name,
                             dir ? "inverse" : "forward", i, x[i], z[i]);
                cr_assert_eq(h[i], g[i], "%s %s: score[%zu] = %.17g ≠ %.17g", CASES[k].name,
                             dir ? "inverse" : "forward", i, h[i], g[i]);
            }
            for (int b = 0; b < B; b++)
                cr_assert_eq(ldj[b], 0.0, "%s %s: ldj[%d] = %g", CASES[k].name,
                             dir ? "inverse" : "forward", b, ldj[b]);
        }
        pf_flow_destroy(flow);
    }
}

static void expect_refused(const pf_realnvp_options *o, const char *fragment)
{
    pf_flow *flow = (pf_flow *)1;
    pf_status st = pf_flow_realnvp_create(o, &flow);
    cr_assert_eq(st, PF_ERR_ARG, "expected PF_ERR_ARG (%s), got %d: %s", fragment, st,
                 pf_last_error());
    cr_assert_null(flow, "output not cleared on failure (%s)", fragment);
    cr_assert_not_null(strstr(pf_last_error(), fragment), "message lacks '%s': %s", fragment,
                       pf_last_error());
}

Test(realnvp, bad_options_are_refused_with_messages_naming_the_option)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 1;
    expect_refused(&o, "dim = 1");
    o = pf_realnvp_options_default();
    o.dim = 6;
    o.mask = PF_MASK_CHECKERBOARD;
    o.lattice[0] = 2;
    o.lattice[1] = 2;
    expect_refused(&o, "lattice 2×2");
    o.lattice[0] = 3;
    o.lattice[1] = 2;
    o.activation = "tanhh";
    expect_refused(&o, "tanhh");
    o = pf_realnvp_options_default();
    o.n_layers = 0;
    expect_refused(&o, "layers = 0");
    o = pf_realnvp_options_default();
    o.hidden[1] = 0;
    expect_refused(&o, "hidden[1] = 0");
    o = pf_realnvp_options_default();
    o.init_scale = -1;
    expect_refused(&o, "init_scale");
    o = pf_realnvp_options_default();
    o.mask = (pf_mask_kind)7; /* used to divide by zero building the masks */
    expect_refused(&o, "mask kind 7");
    o = case_options(5); /* conv 4×4 */
    o.mask = PF_MASK_EVEN_ODD;
    expect_refused(&o, "conv conditioner needs the checkerboard");
    o = case_options(5);
    o.kernel = 2;
    expect_refused(&o, "kernel 2");
    o.kernel = 5;
    expect_refused(&o, "kernel 5 must be odd and fit the 4×4 lattice");
    o = case_options(5);
    o.conditioner = (pf_conditioner_kind)5;
    expect_refused(&o, "conditioner kind 5");
    o = case_options(5);
    o.symmetry = (pf_symmetry_kind)3;
    expect_refused(&o, "symmetry kind 3");
    o = pf_realnvp_options_default();
    o.base = PF_BASE_UNIFORM;
    expect_refused(&o, "base kind 1 unknown");
    o.base = PF_BASE_Z2_MIXTURE;
    o.base_shift = 0;
    expect_refused(&o, "base_shift 0 of the z2_mixture base");
    o.base_shift = NAN;
    expect_refused(&o, "base_shift nan");
}

/* log q₀ of the z2 mixture written as the mixture itself (no log cosh). */
static double mixture_direct(int d, double m, const double *z)
{
    double a = 0, b = 0;
    for (int i = 0; i < d; i++) {
        a += (z[i] - m) * (z[i] - m);
        b += (z[i] + m) * (z[i] + m);
    }
    return log(0.5 * exp(-0.5 * a) + 0.5 * exp(-0.5 * b)) - 0.5 * d * log(2 * 3.14159265358979323846);
}

typedef struct base_ctx {
    pf_flow *flow;
} base_ctx;

static double base_log_q0(void *ctx, const double *z)
{
    double l;
    pf_flow_base_log_prob(((base_ctx *)ctx)->flow, 1, z, &l, NULL);
    return l;
}

/* The two-mode base ½N(m·1, I) + ½N(−m·1, I): its log-density equals the
 * mixture written out, integrates to 1 (d = 2, on a grid), stays finite where
 * the written-out form overflows, its score matches finite differences, and
 * its draws are the normal base's draws shifted by ±m per row, each sign with
 * probability ½ (binomial test, 5σ). */
Test(realnvp, the_z2_mixture_base_is_normalised_with_the_right_score_and_draws)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.base = PF_BASE_Z2_MIXTURE;
    o.base_shift = 1.3;
    pf_flow *flow = create(&o); /* d = 2 */
    double z[2], l, sc[2], fd[2], mass = 0;
    const double h = 0.02;
    for (double a = -10; a <= 10; a += h)
        for (double b = -10; b <= 10; b += h) {
            z[0] = a;
            z[1] = b;
            pf_flow_base_log_prob(flow, 1, z, &l, NULL);
            mass += exp(l) * h * h;
        }
    cr_assert_lt(fabs(mass - 1), 1e-6, "∫q₀ = %.10f", mass);
    base_ctx ctx = {flow};
    const double points[4][2] = {{0.3, -0.7}, {1.1, 2.0}, {-2.5, -0.4}, {0.05, -0.02}};
    for (int p = 0; p < 4; p++) {
        memcpy(z, points[p], sizeof z);
        pf_flow_base_log_prob(flow, 1, z, &l, sc);
        cr_assert_lt(fabs(l - mixture_direct(2, 1.3, z)), 1e-13, "log q₀ at point %d", p);
        pft_fd_gradient(base_log_q0, &ctx, 2, z, 1e-5, fd);
        cr_assert_lt(pft_rel_err(2, sc, fd, 1e-8), 1e-8, "score at point %d", p);
    }
    z[0] = z[1] = 400; /* exp(−|z + m1|²/2) underflows; exp(m Σz) would overflow */
    pf_flow_base_log_prob(flow, 1, z, &l, sc);
    const double one_mode = -0.5 * 2 * (400 - 1.3) * (400 - 1.3) - log(2 * 3.14159265358979323846) - log(2.0);
    cr_assert_lt(fabs(l - one_mode) / fabs(one_mode), 1e-15, "log q₀ far out %.17g", l);
    cr_assert_lt(fabs(sc[0] - (-400 + 1.3)), 1e-12, "score far out %.17g", sc[0]);
    pf_flow_destroy(flow);

    o.dim = 16;
    o.mask = PF_MASK_EVEN_ODD;
    pf_flow *mix = create(&o);
    o.base = PF_BASE_NORMAL;
    pf_flow *normal = create(&o);
    enum { N = 4000 };
    double *zm = malloc(sizeof(double) * N * 16), *zn = malloc(sizeof(double) * N * 16);
    pf_rng r1 = pf_rng_make(9, 1), r2 = pf_rng_make(9, 1);
    pf_flow_sample_base(mix, &r1, N, zm);
    pf_flow_sample_base(normal, &r2, N, zn);
    int plus = 0;
    for (int b = 0; b < N; b++) {
        const double shift = zm[b * 16] - zn[b * 16];
        cr_assert(fabs(fabs(shift) - 1.3) < 1e-12, "row %d shifted by %g", b, shift);
        for (int i = 1; i < 16; i++)
            cr_assert_lt(fabs(zm[b * 16 + i] - zn[b * 16 + i] - shift), 1e-12, "row %d", b);
        plus += shift > 0;
    }
    cr_assert_lt(fabs(plus - N / 2.0), 5 * sqrt(N / 4.0), "%d of %d rows in the + mode", plus, N);
    free(zm);
    free(zn);
    pf_flow_destroy(mix);
    pf_flow_destroy(normal);
}

Test(realnvp, misuse_of_passes_is_refused_with_messages)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 6;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    double z[18] = {0}, x[18], ldj[3], s[18];
    cr_assert_eq(pf_flow_forward(flow, 2, z, x, ldj, NULL, NULL), PF_ERR_ARG, "not reserved");
    cr_assert_not_null(strstr(pf_last_error(), "pf_flow_reserve"), "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, 0), PF_ERR_ARG, "B_max 0 accepted");
    cr_assert_eq(pf_flow_reserve(flow, 2), PF_OK);
    cr_assert_eq(pf_flow_backward(flow, 2, z, NULL, NULL, x), PF_ERR_ARG, "backward before a pass");
    cr_assert_not_null(strstr(pf_last_error(), "no forward or inverse pass"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_flow_forward(flow, 3, z, x, ldj, NULL, NULL), PF_ERR_ARG,
                 "forward B > reserved");
    cr_assert_not_null(strstr(pf_last_error(), "batch size 3 outside [1, 2]"), "%s",
                       pf_last_error());
    cr_assert_eq(pf_flow_inverse(flow, 3, z, x, ldj, NULL, NULL), PF_ERR_ARG,
                 "inverse B > reserved");
    cr_assert_eq(pf_flow_forward(flow, 0, z, x, ldj, NULL, NULL), PF_ERR_ARG, "B = 0 accepted");
    cr_assert_eq(pf_flow_forward(flow, 2, z, x, NULL, NULL, NULL), PF_ERR_ARG, "ldj NULL accepted");
    cr_assert_eq(pf_flow_forward(flow, 2, z, x, ldj, z, NULL), PF_ERR_ARG,
                 "score_in without score_out accepted");
    cr_assert_eq(pf_flow_forward(flow, 2, z, x, ldj, z, s), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_backward(flow, 3, z, NULL, NULL, x), PF_ERR_ARG, "backward B > reserved");
    /* a call refused by its argument checks leaves the last pass's tape alone */
    cr_assert_eq(pf_flow_inverse(flow, 3, z, x, ldj, NULL, NULL), PF_ERR_ARG);
    cr_assert_eq(pf_flow_backward(flow, 2, z, NULL, NULL, x), PF_OK,
                 "a refused call must not disturb the tape: %s", pf_last_error());
    pf_flow_destroy(flow);
}

Test(realnvp, backward_refuses_a_batch_size_other_than_the_last_passs)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 2;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK);
    cr_assert_eq(pf_flow_reserve(flow, 4), PF_OK);
    double z[8] = {0}, x[8], ldj[4], bar[8] = {0};
    cr_assert_eq(pf_flow_forward(flow, 1, z, x, ldj, NULL, NULL), PF_OK);
    cr_assert_eq(pf_flow_backward(flow, 4, bar, NULL, NULL, bar), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "differs from the last pass"), "%s",
                       pf_last_error());
    pf_flow_destroy(flow);
}

/* ---- lattice flows ------------------------------------------------------------ */

/* A chain of z2 couplings is odd, T(−z) = −T(z), and with the symmetric base
 * q(−x) = q(x): log q (from the inverse pass) is even and the score (from the
 * forward recursion) odd. The plain flows of the same cases are not. */
Test(realnvp, z2_flows_are_odd_and_their_density_is_symmetric)
{
    for (int k = FIRST_LATTICE_CASE; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 4, z2 = CASES[k].symmetry == PF_SYMMETRY_Z2;
        double z[4 * D_MAX], mz[4 * D_MAX], x[4 * D_MAX], mx[4 * D_MAX], ldj[4], mldj[4];
        double s0[4 * D_MAX], ms0[4 * D_MAX], sc[4 * D_MAX], msc[4 * D_MAX];
        pft_fill_normal(300 + k, (size_t)B * d, z, 1.0);
        for (int i = 0; i < B * d; i++)
            mz[i] = -z[i];
        pf_flow_base_log_prob(flow, B, z, NULL, s0);
        pf_flow_base_log_prob(flow, B, mz, NULL, ms0);
        cr_assert_eq(pf_flow_forward(flow, B, z, x, ldj, s0, sc), PF_OK);
        cr_assert_eq(pf_flow_forward(flow, B, mz, mx, mldj, ms0, msc), PF_OK);
        double odd = 0, odd_score = 0, even_lq = 0;
        for (int i = 0; i < B * d; i++) {
            odd = fmax(odd, fabs(mx[i] + x[i]) / (1 + fabs(x[i])));
            odd_score = fmax(odd_score, fabs(msc[i] + sc[i]) / (1 + fabs(sc[i])));
        }
        one ctx = {flow, NULL};
        for (int b = 0; b < B; b++)
            even_lq = fmax(even_lq, fabs(log_q(&ctx, x + b * d) - log_q(&ctx, mx + b * d)));
        if (z2) {
            cr_assert_lt(odd, 1e-13, "%s: T(−z) + T(z) up to %g", CASES[k].name, odd);
            cr_assert_lt(odd_score, 1e-12, "%s: score(−x) + score(x) up to %g", CASES[k].name,
                         odd_score);
            cr_assert_lt(even_lq, 1e-12, "%s: log q(−x) − log q(x) up to %g", CASES[k].name,
                         even_lq);
        } else {
            cr_assert_gt(even_lq, 1e-3, "%s: a plain flow with q(−x) = q(x)?", CASES[k].name);
        }
        pf_flow_destroy(flow);
    }
}

static void shift_field(int L0, int L1, int a0, int a1, const double *x, double *y)
{
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++)
            y[((x0 + a0 + 2 * L0) % L0) * L1 + (x1 + a1 + 2 * L1) % L1] = x[x0 * L1 + x1];
}

/* Conv flows on 4×4: shifts with a0 + a1 even map both checkerboards onto
 * themselves, so every coupling commutes with them and log q is invariant;
 * (1, 0) swaps the halves and is no symmetry of the flow (the check's teeth). */
Test(realnvp, conv_flow_density_is_invariant_under_the_checkerboard_shifts)
{
    const int shifts[5][2] = {{2, 0}, {0, 2}, {1, 1}, {3, 1}, {1, 0}};
    for (int k = 5; k <= 6; k++) {
        pf_flow *flow = case_flow(k);
        one ctx = {flow, NULL};
        double x[16], sx[16];
        pft_fill_normal(310 + k, 16, x, 1.0);
        const double lq = log_q(&ctx, x);
        for (int i = 0; i < 5; i++) {
            shift_field(4, 4, shifts[i][0], shifts[i][1], x, sx);
            double diff = fabs(log_q(&ctx, sx) - lq);
            if (i < 4)
                cr_assert_lt(diff, 1e-12, "%s, shift (%d, %d): log q changes by %g", CASES[k].name,
                             shifts[i][0], shifts[i][1], diff);
            else
                cr_assert_gt(diff, 1e-3, "%s: log q invariant under an odd shift (%g)",
                             CASES[k].name, diff);
        }
        pf_flow_destroy(flow);
    }
}

/* One parameter vector, two lattices: a conv flow built for 8×8 and one for
 * 16×8 have the same parameters; on a 16×8 field made of two copies of an 8×8
 * field the larger flow gives two copies of the smaller one's output, twice
 * its ldj, and log q₁₆ₓ₈ = 2 log q₈ₓ₈. */
Test(realnvp, conv_flow_parameters_work_on_8x8_and_16x8)
{
    for (int sym = 0; sym < 2; sym++) {
        pf_realnvp_options o = case_options(5);
        o.symmetry = sym ? PF_SYMMETRY_Z2 : PF_SYMMETRY_NONE;
        o.dim = 64;
        o.lattice[0] = o.lattice[1] = 8;
        pf_flow *small = create(&o);
        perturb(small, 400 + sym, 0.1);
        o.dim = 128;
        o.lattice[0] = 16;
        o.seed = 999;
        pf_flow *large = create(&o);
        cr_assert_eq(pf_flow_n_params(large), pf_flow_n_params(small), "%zu vs %zu parameters",
                     pf_flow_n_params(large), pf_flow_n_params(small));
        memcpy(pf_flow_params(large), pf_flow_params(small),
               pf_flow_n_params(small) * sizeof(double));
        double z[64], x[64], z2[128], x2[128], ldj, ldj2;
        pft_fill_normal(410 + sym, 64, z, 1.0);
        memcpy(z2, z, sizeof z);
        memcpy(z2 + 64, z, sizeof z);
        cr_assert_eq(pf_flow_forward(small, 1, z, x, &ldj, NULL, NULL), PF_OK);
        cr_assert_eq(pf_flow_forward(large, 1, z2, x2, &ldj2, NULL, NULL), PF_OK);
        double e = fmax(pft_max_rel_err(64, x2, x, 1.0), pft_max_rel_err(64, x2 + 64, x, 1.0));
        cr_assert_gt(pft_rel_err(64, x, z, 1e-300), 0.1, "flow too close to identity");
        cr_assert_lt(e, 1e-12, "z2 %d: 16×8 output of a tiled field differs by %g", sym, e);
        cr_assert_lt(fabs(ldj2 - 2 * ldj), 1e-11 * (1 + fabs(ldj)), "z2 %d: ldj %.17g vs 2 × %.17g",
                     sym, ldj2, ldj);
        one cs = {small, NULL}, cl = {large, NULL};
        double lq = log_q(&cs, x), lq2 = log_q(&cl, x2);
        cr_assert_lt(fabs(lq2 - 2 * lq), 1e-10 * (1 + fabs(lq)), "z2 %d: log q %.17g vs 2 × %.17g",
                     sym, lq2, lq);
        pf_flow_destroy(small);
        pf_flow_destroy(large);
    }
}

/* The two path-gradient implementations (docs/theory.md §2: the recursion vs the
 * frozen-copy drop-in) are one estimator computed two ways: on conv and z2
 * flows and a φ⁴ target they must agree, for both objectives (forward: the
 * flow's own samples from another seed stand in for data). */
Test(realnvp, path_and_path_dropin_agree_on_conv_and_z2_flows)
{
    for (int k = FIRST_LATTICE_CASE; k < N_CASES; k++) {
        if (CASES[k].mask != PF_MASK_CHECKERBOARD)
            continue;
        pf_target *t;
        cr_assert_eq(pf_target_phi4_create(CASES[k].L0, CASES[k].L1, 0.3, 0.05, &t), PF_OK, "%s",
                     pf_last_error());
        pf_flow *flow = case_flow(k);
        const size_t np = pf_flow_n_params(flow);
        const int B = 8, d = CASES[k].dim;
        double *g_path = malloc(np * sizeof *g_path), *g_drop = malloc(np * sizeof *g_drop);
        double input[8 * D_MAX];
        for (int obj = 0; obj < 2; obj++) {
            pf_rng rng = pf_rng_make(500 + k, (uint64_t)obj);
            pf_flow_sample_base(flow, &rng, B, input);
            if (obj == 1) { /* forward KL: points x from the flow itself */
                double x[8 * D_MAX], ldj[8];
                cr_assert_eq(pf_flow_forward(flow, B, input, x, ldj, NULL, NULL), PF_OK);
                memcpy(input, x, (size_t)B * d * sizeof *x);
            }
            for (int e = 0; e < 2; e++) {
                pf_estimator *est;
                cr_assert_eq(pf_estimator_create((pf_objective)obj,
                                                 e ? PF_ESTIMATOR_PATH_DROPIN : PF_ESTIMATOR_PATH,
                                                 flow, t, B, &est),
                             PF_OK, "%s", pf_last_error());
                pf_estimate r;
                cr_assert_eq(pf_estimator_eval(est, B, input, e ? g_drop : g_path, NULL, &r), PF_OK,
                             "%s", pf_last_error());
                pf_estimator_destroy(est);
            }
            double err = pft_rel_err(np, g_path, g_drop, 1e-300);
            cr_assert_lt(err, 1e-10, "%s, %s: path vs path-dropin rel err %g", CASES[k].name,
                         obj ? "forward" : "reverse", err);
            cr_assert_gt(pft_max_abs(np, g_path), 1e-3, "%s: trivial gradient", CASES[k].name);
        }
        free(g_path);
        free(g_drop);
        pf_flow_destroy(flow);
        pf_target_destroy(t);
    }
}

/* docs/formats.md's flat layout, read by an independent forward pass: per
 * coupling an MLP |A| → hidden → 2|B| stored as (W row-major, b) per layer,
 * outputs (s, t) for the B coordinates in increasing order; even_odd masks,
 * odd couplings swapped. Equal to pf_flow_forward on random parameters. */
Test(realnvp, the_documented_parameter_layout_reproduces_the_flow)
{
    enum { D = 5, LAYERS = 3, H = 4 };
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = D;
    o.n_layers = LAYERS;
    o.n_hidden = 1;
    o.hidden[0] = H;
    o.mask = PF_MASK_EVEN_ODD;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, 1), PF_OK);
    const size_t n = pf_flow_n_params(flow);
    double *theta = pf_flow_params(flow);
    pft_fill_normal(21, n, theta, 0.4);
    double z[D], x[D], ldj = 0;
    pft_fill_normal(22, D, z, 1.0);
    cr_assert_eq(pf_flow_forward(flow, 1, z, x, &ldj, NULL, NULL), PF_OK, "%s", pf_last_error());

    double u[D], ldj_hand = 0;
    memcpy(u, z, sizeof u);
    const double *p = theta;
    for (int k = 0; k < LAYERS; k++) {
        int a[D], b[D], na = 0, nb = 0;
        for (int i = 0; i < D; i++) {
            int in_a = (i % 2 == 0) != (k % 2 == 1);
            if (in_a)
                a[na++] = i;
            else
                b[nb++] = i;
        }
        double hid[H], out[2 * D];
        const double *W0 = p, *b0 = W0 + H * na, *W1 = b0 + H, *b1 = W1 + 2 * nb * H;
        for (int i = 0; i < H; i++) {
            double s = b0[i];
            for (int j = 0; j < na; j++)
                s += W0[i * na + j] * u[a[j]];
            hid[i] = tanh(s);
        }
        for (int i = 0; i < 2 * nb; i++) {
            double s = b1[i];
            for (int j = 0; j < H; j++)
                s += W1[i * H + j] * hid[j];
            out[i] = s;
        }
        for (int j = 0; j < nb; j++) {
            u[b[j]] = u[b[j]] * exp(out[j]) + out[nb + j];
            ldj_hand += out[j];
        }
        p = b1 + 2 * nb;
    }
    cr_assert_eq((size_t)(p - theta), n, "the layout covers %td of %zu parameters", p - theta, n);
    double err = pft_max_rel_err(D, x, u, 1e-12);
    cr_assert_lt(err, 1e-13, "forward by the documented layout differs: %g", err);
    cr_assert_lt(fabs(ldj - ldj_hand), 1e-13 * fmax(1, fabs(ldj)));
    pf_flow_destroy(flow);
}
