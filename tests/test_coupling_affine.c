/* Tests for src/flows/coupling_affine.c and its conditioners
 * (src/flows/conditioner.c): one affine coupling layer (docs/theory.md §4.1, §4.2) with
 * random, far-from-identity conditioner weights and several masks
 * (contiguous, scattered, |A| = 1, |B| = 1) and conditioners (dense tanh,
 * softplus, a single affine layer; periodic CNNs on lattices; both
 * symmetrised under u → −u). The layer is run either directly through its
 * pf_layer_ops (to check the layer contract: ldj +=, in_bar =, grad +=) or as
 * a one-layer chain through the public pf_flow calls.
 *
 * Every reference is a central finite difference of forward/inverse passes
 * WITHOUT the score option and without backward, so the recursions and VJPs
 * are checked against plain function values. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>

#include "core/linalg.h"
#include "flows/chain.h"
#include "flows/coupling_affine.h"
#include "nn/mlp.h"
#include "testutil.h"

#define B_MAX 8
#define D_MAX 16

typedef struct layer_case {
    int dim;
    int mask[D_MAX]; /* 1 = A (conditions), 0 = B (transformed) */
    const char *activation;
    int n_hidden;
    int hidden[2];
    pf_conditioner_kind kind;
    pf_symmetry_kind symmetry;
    int L0, L1, kernel; /* conv: the lattice (L0·L1 = dim) and kernel */
} layer_case;

#define DENSE PF_CONDITIONER_DENSE
#define CONV PF_CONDITIONER_CONV
#define NONE PF_SYMMETRY_NONE
#define Z2 PF_SYMMETRY_Z2

/* Smooth conditioners only: FD steps must not straddle a ReLU kink. */
static const layer_case CASES[] = {
    {2, {1, 0}, "tanh", 2, {8, 8}, DENSE, NONE, 0, 0, 0},
    {5, {0, 1, 1, 0, 0}, "softplus", 1, {12, 0}, DENSE, NONE, 0, 0, 0}, /* scattered A */
    {4, {1, 1, 1, 0}, "tanh", 2, {8, 6}, DENSE, NONE, 0, 0, 0},         /* |B| = 1 */
    {4, {0, 1, 0, 0}, "identity", 0, {0, 0}, DENSE, NONE, 0, 0, 0},     /* |A| = 1, affine */
    {6, {1, 0, 0, 1, 1, 0}, "tanh", 2, {10, 10}, DENSE, NONE, 0, 0, 0},
    {6, {1, 0, 0, 1, 1, 0}, "tanh", 2, {10, 10}, DENSE, Z2, 0, 0, 0},
    {5, {0, 1, 1, 0, 0}, "softplus", 1, {12, 0}, DENSE, Z2, 0, 0, 0},
    {16, {1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1}, "tanh", 2, {4, 3}, CONV, NONE, 4, 4, 3},
    {12, {1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1}, "softplus", 1, {5, 0}, CONV, NONE, 3, 4, 3},
    {16, {1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1}, "tanh", 2, {4, 3}, CONV, Z2, 4, 4, 3},
    {12, {0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0}, "softplus", 1, {3, 0}, CONV, Z2, 4, 3, 3},
    {9, {1, 0, 1, 0, 1, 0, 1, 0, 1}, "identity", 0, {0, 0}, CONV, Z2, 3, 3, 3}, /* linear conv */
};
#define N_CASES (int)(sizeof CASES / sizeof CASES[0])

static pf_layer *make_layer(const layer_case *c)
{
    pf_conditioner_options o = {.kind = c->kind,
                                .symmetry = c->symmetry,
                                .n_hidden = c->n_hidden,
                                .hidden = c->hidden,
                                .kernel = c->kernel,
                                .L0 = c->L0,
                                .L1 = c->L1};
    cr_assert_eq(pf_activation_from_name(c->activation, &o.activation), PF_OK, "%s",
                 pf_last_error());
    pf_layer *layer;
    cr_assert_eq(pf_coupling_affine_create_with(c->dim, c->mask, &o, &layer), PF_OK, "%s",
                 pf_last_error());
    return layer;
}

/* A one-layer chain around the case's coupling, random weights × scale. */
static pf_flow *one_layer_flow(const layer_case *c, double scale, unsigned long long seed)
{
    pf_layer *layer = make_layer(c);
    pf_flow *flow;
    cr_assert_eq(pf_chain_create(c->dim, PF_BASE_NORMAL, &layer, 1, "coupling", &flow), PF_OK, "%s",
                 pf_last_error());
    pf_rng rng = pf_rng_make(seed, 7);
    /* a CNN sums k·k·C inputs per site and layer: smaller weights keep e^s sane */
    const int conv = c->kind == CONV;
    pf_coupling_affine_init_params(pf_chain_layer(flow, 0), pf_flow_params(flow), &rng, 0,
                                   conv ? 0.6 * scale : scale);
    /* random biases too: with zero biases an odd activation (tanh, identity)
     * makes the network odd, and a z2 conditioner's even part s would be 0 */
    const size_t np = pf_flow_n_params(flow);
    double *noise = malloc(np * sizeof *noise), *params = pf_flow_params(flow);
    pft_fill_normal(seed + 1000, np, noise, conv ? 0.1 : 0.3);
    for (size_t i = 0; i < np; i++)
        params[i] += noise[i];
    free(noise);
    cr_assert_eq(pf_flow_reserve(flow, B_MAX), PF_OK, "%s", pf_last_error());
    return flow;
}

/* Scale 1.5: with zero biases and 1/n_in weight variance, smaller scales leave
 * a single layer close to the identity (|v − u| ~ 0.1). */
#define SCALE 1.5
static pf_flow *case_flow(int k)
{
    return one_layer_flow(&CASES[k], SCALE, 300 + k);
}

/* ---- the density whose score is pushed through the layer -------------------
 * f(u) = Σ_i [−½ a_i (u_i − m_i)² + κ sin(u_i) u_{i+1}] (indices mod d): an
 * unnormalised, non-Gaussian log-density with a closed-form gradient, so the
 * incoming score g of the recursion is not just −u. */
static double f_log_density(int d, const double *u)
{
    double f = 0;
    for (int i = 0; i < d; i++) {
        double a = 1.0 + 0.3 * i, m = 0.2 * (i - 1);
        f += -0.5 * a * (u[i] - m) * (u[i] - m) + 0.4 * sin(u[i]) * u[(i + 1) % d];
    }
    return f;
}

static void f_score(int d, const double *u, double *g)
{
    for (int j = 0; j < d; j++) {
        double a = 1.0 + 0.3 * j, m = 0.2 * (j - 1);
        g[j] = -a * (u[j] - m) + 0.4 * cos(u[j]) * u[(j + 1) % d] + 0.4 * sin(u[(j - 1 + d) % d]);
    }
}

typedef struct fd_ctx {
    pf_flow *flow;
} fd_ctx;

static void forward_map(void *p, const double *u, double *v)
{
    double ldj;
    cr_assert_eq(pf_flow_forward(((fd_ctx *)p)->flow, 1, u, v, &ldj, NULL, NULL), PF_OK);
}

/* Density of v = F(u) when u has log-density f, from the inverse pass only:
 * log ρ_v(v) = f(F⁻¹ v) + log|det ∂F⁻¹/∂v|. */
static double pushforward_log_density(void *p, const double *v)
{
    pf_flow *flow = ((fd_ctx *)p)->flow;
    double u[D_MAX], ldj_inv;
    cr_assert_eq(pf_flow_inverse(flow, 1, v, u, &ldj_inv, NULL, NULL), PF_OK);
    return f_log_density(pf_flow_dim(flow), u) + ldj_inv;
}

/* Density of x = F⁻¹(y) when y has log-density f, from the forward pass only:
 * log ρ_x(x) = f(F x) + log|det ∂F/∂x|. */
static double pullback_log_density(void *p, const double *x)
{
    pf_flow *flow = ((fd_ctx *)p)->flow;
    double y[D_MAX], ldj;
    cr_assert_eq(pf_flow_forward(flow, 1, x, y, &ldj, NULL, NULL), PF_OK);
    return f_log_density(pf_flow_dim(flow), y) + ldj;
}

/* ---- tests ------------------------------------------------------------------ */

Test(coupling_affine, inverse_undoes_forward_and_leaves_the_conditioning_part_untouched)
{
    /* A linear conditioner with hidden layers at this scale reaches e^{±s} ~ 1e4,
     * where the round trip loses digits to conditioning, not to a bug; case 3
     * covers the affine conditioner. */
    const char *acts[] = {"tanh", "softplus", "relu", "leaky_relu"};
    for (int k = 0; k < N_CASES; k++)
        for (int a = 0; a < 4; a++) {
            layer_case c = CASES[k];
            c.activation = acts[a];
            pf_flow *flow = one_layer_flow(&c, SCALE, 400 + 10 * k + a);
            const int d = c.dim, B = B_MAX;
            double u[B_MAX * D_MAX], v[B_MAX * D_MAX], back[B_MAX * D_MAX];
            double ldj[B_MAX], ldj_inv[B_MAX];
            pft_fill_normal(500 + k, (size_t)B * d, u, 1.0);
            cr_assert_eq(pf_flow_forward(flow, B, u, v, ldj, NULL, NULL), PF_OK);
            cr_assert_eq(pf_flow_inverse(flow, B, v, back, ldj_inv, NULL, NULL), PF_OK);
            double moved = 0, worst_ldj = 0, smallest_ldj = INFINITY;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < d; i++) {
                    size_t j = (size_t)b * d + i;
                    if (c.mask[i])
                        cr_assert(v[j] == u[j] && back[j] == v[j],
                                  "case %d %s: A-coordinate %d changed (%.17g → %.17g)", k, acts[a],
                                  i, u[j], v[j]);
                    else
                        moved = fmax(moved, fabs(v[j] - u[j]));
                }
            for (int b = 0; b < B; b++) {
                worst_ldj = fmax(worst_ldj, fabs(ldj[b] + ldj_inv[b]));
                smallest_ldj = fmin(smallest_ldj, fabs(ldj[b]));
            }
            double e = pft_max_rel_err((size_t)B * d, back, u, 1.0);
            cr_log_info("case %d %s: max |v − u| = %.3g, |ldj| ≥ %.3g, round trip %.3g, "
                        "|ldj + ldj_inv| ≤ %.3g",
                        k, acts[a], moved, smallest_ldj, e, worst_ldj);
            cr_assert_gt(moved, 0.3, "case %d %s: layer too close to identity (max |v−u| %g)", k,
                         acts[a], moved);
            cr_assert_lt(e, 1e-12, "case %d %s: inverse(forward(u)) − u: %g", k, acts[a], e);
            cr_assert_lt(worst_ldj, 1e-12, "case %d %s: |ldj + ldj_inv| up to %g", k, acts[a],
                         worst_ldj);
            cr_assert_gt(smallest_ldj, 1e-3, "case %d %s: ldj trivial (smallest |ldj| %g)", k,
                         acts[a], smallest_ldj);
            pf_flow_destroy(flow);
        }
}

Test(coupling_affine, log_determinant_matches_the_finite_difference_jacobian_which_is_triangular)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim;
        const int *mask = CASES[k].mask;
        fd_ctx ctx = {flow};
        double u[D_MAX], v[D_MAX], J[D_MAX * D_MAX], scratch[4 * D_MAX], ldj, logdet;
        for (int s = 0; s < 3; s++) {
            pft_fill_normal(600 + 10 * k + s, (size_t)d, u, 1.2);
            pft_fd_jacobian(forward_map, &ctx, (size_t)d, (size_t)d, u, 1e-4, J, scratch);
            /* v_A = u_A: rows of A are unit rows; v_B depends on u_B only
             * through its own coordinate (element-wise transform). */
            double off = 0;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) {
                    double expected_zero = (mask[i] || !mask[j]) && i != j;
                    if (expected_zero)
                        off = fmax(off, fabs(J[i * d + j]));
                    if (mask[i] && i == j)
                        off = fmax(off, fabs(J[i * d + j] - 1.0));
                }
            cr_assert_lt(off, 1e-9, "case %d: Jacobian not of the coupling's triangular form: %g",
                         k, off);
            int sign;
            cr_assert_eq(pf_logdet_lu(d, J, &logdet, &sign), PF_OK, "%s", pf_last_error());
            cr_assert_eq(pf_flow_forward(flow, 1, u, v, &ldj, NULL, NULL), PF_OK);
            cr_assert_lt(fabs(ldj - logdet), 1e-9,
                         "case %d: ldj %.15g vs FD log|det| %.15g (diff %g)", k, ldj, logdet,
                         fabs(ldj - logdet));
            cr_assert_eq(sign, 1, "case %d: an affine coupling preserves orientation", k);
        }
        pf_flow_destroy(flow);
    }
}

/* §4.1 / §4.2: score of the pass's output density, given the score g of its
 * input density f, vs FD of the output log-density (built from the OTHER pass
 * so that the reference never runs the code under test with the score on). */
static void check_score_recursion(int forward)
{
    double worst = 0;
    for (int k = 0; k < N_CASES; k++) {
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 3;
        double in[3 * D_MAX], out[3 * D_MAX], ldj[3], g[3 * D_MAX], h[3 * D_MAX], fd[D_MAX];
        pft_fill_normal(700 + k + 20 * forward, (size_t)B * d, in, 1.0);
        for (int b = 0; b < B; b++)
            f_score(d, in + b * d, g + b * d);
        if (forward)
            cr_assert_eq(pf_flow_forward(flow, B, in, out, ldj, g, h), PF_OK);
        else
            cr_assert_eq(pf_flow_inverse(flow, B, in, out, ldj, g, h), PF_OK);
        fd_ctx ctx = {flow};
        for (int b = 0; b < B; b++) {
            pft_fd_gradient(forward ? pushforward_log_density : pullback_log_density, &ctx,
                            (size_t)d, out + b * d, 1e-4, fd);
            double e = pft_rel_err((size_t)d, h + b * d, fd, 1e-8);
            worst = fmax(worst, e);
            cr_assert_lt(e, 1e-7, "%s pass, case %d sample %d: score rel err %g",
                         forward ? "forward" : "inverse", k, b, e);
        }
        pf_flow_destroy(flow);
    }
    cr_log_info("%s score recursion: worst rel err %g", forward ? "forward" : "inverse", worst);
}

Test(coupling_affine, sampling_score_recursion_matches_finite_differences_of_the_pushforward)
{
    check_score_recursion(1);
}

Test(coupling_affine, inverse_score_recursion_matches_finite_differences_of_the_pullback)
{
    check_score_recursion(0);
}

/* Σ out_bar·out(in; θ) + Σ ldj_bar·ldj(in; θ) for one pass direction, with
 * ldj_bar NULL meaning 0 — the scalar whose gradient backward returns. */
typedef struct vjp_ctx {
    pf_flow *flow;
    int forward, B;
    double *in;
    const double *out_bar, *ldj_bar;
} vjp_ctx;

static double vjp_objective(void *p, const double *unused)
{
    (void)unused;
    vjp_ctx *c = p;
    const int d = pf_flow_dim(c->flow);
    double out[B_MAX * D_MAX], ldj[B_MAX], s = 0;
    if (c->forward)
        cr_assert_eq(pf_flow_forward(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    else
        cr_assert_eq(pf_flow_inverse(c->flow, c->B, c->in, out, ldj, NULL, NULL), PF_OK);
    for (int i = 0; i < c->B * d; i++)
        s += c->out_bar[i] * out[i];
    for (int b = 0; c->ldj_bar && b < c->B; b++)
        s += c->ldj_bar[b] * ldj[b];
    return s;
}

/* For every case, both ldj_bar ≠ 0 and NULL, with and without the score
 * recursion run during the pass (it shares the conditioner tape): grad and
 * in_bar against FD, accumulating onto random prior contents; then the
 * input-only path (grad == NULL) adds the same in_bar once more. */
static void check_backward(int forward)
{
    double worst_p = 0, worst_in = 0;
    for (int k = 0; k < N_CASES; k++)
        for (int variant = 0; variant < 4; variant++) {
            const int with_ldj_bar = variant & 1, with_score = variant & 2;
            pf_flow *flow = case_flow(k);
            const int d = CASES[k].dim, B = 3;
            const size_t np = pf_flow_n_params(flow), bd = (size_t)B * d;
            double in[3 * D_MAX], out_bar[3 * D_MAX], ldj_bar[3], out[3 * D_MAX], ldj[3];
            double g[3 * D_MAX], h[3 * D_MAX], fd_in[3 * D_MAX], in_bar[3 * D_MAX];
            double prior_in[3 * D_MAX];
            pft_fill_normal(800 + k, bd, in, 1.0);
            pft_fill_normal(810 + k, bd, out_bar, 1.0);
            pft_fill_normal(820 + k, (size_t)B, ldj_bar, 1.0);
            pft_fill_normal(830 + k, bd, prior_in, 1.0);
            pft_fill_normal(840 + k, bd, g, 1.0);
            double *fd_p = malloc(np * sizeof *fd_p), *grad = malloc(np * sizeof *grad);
            double *prior_p = malloc(np * sizeof *prior_p);
            pft_fill_normal(850 + k, np, prior_p, 1.0);
            vjp_ctx c = {flow, forward, B, in, out_bar, with_ldj_bar ? ldj_bar : NULL};
            pft_fd_gradient(vjp_objective, &c, np, pf_flow_params(flow), 1e-5, fd_p);
            pft_fd_gradient(vjp_objective, &c, bd, in, 1e-5, fd_in);

            pf_status st = forward
                               ? pf_flow_forward(flow, B, in, out, ldj, with_score ? g : NULL, h)
                               : pf_flow_inverse(flow, B, in, out, ldj, with_score ? g : NULL, h);
            cr_assert_eq(st, PF_OK, "%s", pf_last_error());
            memcpy(grad, prior_p, np * sizeof *grad);
            memcpy(in_bar, prior_in, sizeof in_bar);
            cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, grad, in_bar), PF_OK);
            for (size_t i = 0; i < np; i++)
                grad[i] -= prior_p[i];
            for (size_t i = 0; i < bd; i++)
                in_bar[i] -= prior_in[i];
            double ep = pft_rel_err(np, grad, fd_p, 1e-8);
            double ei = pft_rel_err(bd, in_bar, fd_in, 1e-8);
            worst_p = fmax(worst_p, ep);
            worst_in = fmax(worst_in, ei);
            const char *dir = forward ? "forward" : "inverse";
            cr_assert_lt(ep, 1e-7, "%s, case %d, variant %d: parameter VJP rel err %g", dir, k,
                         variant, ep);
            cr_assert_lt(ei, 1e-7, "%s, case %d, variant %d: input VJP rel err %g", dir, k, variant,
                         ei);

            /* input-only: the same cotangent again, added onto what is there */
            cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, NULL, in_bar), PF_OK);
            for (size_t i = 0; i < bd; i++)
                in_bar[i] *= 0.5;
            double e2 = pft_rel_err(bd, in_bar, fd_in, 1e-8);
            worst_in = fmax(worst_in, e2);
            cr_assert_lt(e2, 1e-7, "%s, case %d, variant %d: input-only VJP rel err %g", dir, k,
                         variant, e2);
            /* parameter-only (in_bar == NULL) accumulates into grad */
            cr_assert_eq(pf_flow_backward(flow, B, out_bar, c.ldj_bar, grad, NULL), PF_OK);
            for (size_t i = 0; i < np; i++)
                grad[i] *= 0.5;
            double e3 = pft_rel_err(np, grad, fd_p, 1e-8);
            cr_assert_lt(e3, 1e-7, "%s, case %d, variant %d: accumulated parameter VJP rel err %g",
                         dir, k, variant, e3);
            free(fd_p);
            free(grad);
            free(prior_p);
            pf_flow_destroy(flow);
        }
    cr_log_info("%s backward: worst rel err θ̄ %g, input cotangent %g",
                forward ? "forward" : "inverse", worst_p, worst_in);
}

Test(coupling_affine, backward_of_the_forward_pass_matches_finite_differences)
{
    check_backward(1);
}

Test(coupling_affine, backward_of_the_inverse_pass_matches_finite_differences)
{
    check_backward(0);
}

/* The pf_layer_ops contract the chain relies on (chain.h): ldj accumulates,
 * the layer's in_bar is overwritten, grad accumulates, g == NULL skips the
 * score and leaves h alone. */
Test(coupling_affine, layer_accumulates_ldj_and_grad_and_overwrites_its_input_cotangent)
{
    const layer_case *c = &CASES[4];
    const int d = c->dim, B = 2;
    const size_t bd = (size_t)B * d;
    pf_layer *layer = make_layer(c);
    const size_t np = layer->n_params;
    double *params = malloc(np * sizeof *params), *grad = malloc(np * sizeof *grad);
    double *fd_p = malloc(np * sizeof *fd_p);
    pf_rng rng = pf_rng_make(41, 7);
    pf_coupling_affine_init_params(layer, params, &rng, 0, SCALE);
    cr_assert_eq(layer->ops->reserve(layer, B), PF_OK, "%s", pf_last_error());
    /* the same layer inside a flow, for FD references through pf_flow calls */
    pf_flow *flow = one_layer_flow(c, SCALE, 1);
    memcpy(pf_flow_params(flow), params, np * sizeof *params);

    double u[2 * 6], v[2 * 6], ldj[2] = {1.5, -2.0}, ldj_ref[2], v_ref[2 * 6];
    double h[2 * 6], in_bar[2 * 6], fd_in[2 * 6], out_bar[2 * 6], ldj_bar[2] = {0.7, -1.3};
    pft_fill_normal(42, bd, u, 1.0);
    pft_fill_normal(43, bd, out_bar, 1.0);
    for (size_t i = 0; i < bd; i++)
        h[i] = 123.0;
    cr_assert_eq(layer->ops->forward(layer, params, B, u, v, ldj, NULL, h), PF_OK);
    cr_assert_eq(pf_flow_forward(flow, B, u, v_ref, ldj_ref, NULL, NULL), PF_OK);
    for (size_t i = 0; i < bd; i++) {
        cr_assert_eq(v[i], v_ref[i], "output %zu: %.17g vs %.17g", i, v[i], v_ref[i]);
        cr_assert_eq(h[i], 123.0, "h touched without a score (h[%zu] = %g)", i, h[i]);
    }
    cr_assert_lt(fabs(ldj[0] - 1.5 - ldj_ref[0]), 1e-14,
                 "ldj not accumulated: %.17g vs 1.5 + %.17g", ldj[0], ldj_ref[0]);
    cr_assert_lt(fabs(ldj[1] + 2.0 - ldj_ref[1]), 1e-14, "ldj not accumulated: %.17g vs −2 + %.17g",
                 ldj[1], ldj_ref[1]);

    vjp_ctx ctx = {flow, 1, B, u, out_bar, ldj_bar};
    pft_fd_gradient(vjp_objective, &ctx, np, pf_flow_params(flow), 1e-5, fd_p);
    pft_fd_gradient(vjp_objective, &ctx, bd, u, 1e-5, fd_in);
    for (size_t i = 0; i < bd; i++)
        in_bar[i] = NAN; /* the layer overwrites: no NaN may survive */
    for (size_t i = 0; i < np; i++)
        grad[i] = 1.0;
    cr_assert_eq(layer->ops->forward(layer, params, B, u, v, ldj, NULL, NULL), PF_OK);
    cr_assert_eq(layer->ops->backward(layer, params, B, out_bar, ldj_bar, grad, in_bar), PF_OK);
    for (size_t i = 0; i < np; i++)
        grad[i] -= 1.0;
    double ei = pft_rel_err(bd, in_bar, fd_in, 1e-8), ep = pft_rel_err(np, grad, fd_p, 1e-8);
    cr_assert_lt(ei, 1e-7, "layer input cotangent (overwritten) rel err %g", ei);
    cr_assert_lt(ep, 1e-7, "layer parameter gradient (accumulated) rel err %g", ep);
    free(params);
    free(grad);
    free(fd_p);
    layer->ops->destroy(layer);
    pf_flow_destroy(flow);
}

Test(coupling_affine, zeroed_last_conditioner_layer_gives_exactly_the_identity)
{
    for (int k = 0; k < N_CASES; k++) {
        pf_layer *layer = make_layer(&CASES[k]);
        pf_flow *flow;
        cr_assert_eq(pf_chain_create(CASES[k].dim, PF_BASE_NORMAL, &layer, 1, "coupling", &flow),
                     PF_OK);
        pf_rng rng = pf_rng_make(5, 7);
        pf_coupling_affine_init_params(pf_chain_layer(flow, 0), pf_flow_params(flow), &rng, 1, 0.8);
        cr_assert_eq(pf_flow_reserve(flow, 4), PF_OK);
        const int d = CASES[k].dim;
        double u[4 * D_MAX], v[4 * D_MAX], ldj[4], g[4 * D_MAX], h[4 * D_MAX];
        pft_fill_normal(900 + k, (size_t)4 * d, u, 1.0);
        pft_fill_normal(910 + k, (size_t)4 * d, g, 1.0);
        cr_assert_eq(pf_flow_forward(flow, 4, u, v, ldj, g, h), PF_OK);
        for (int i = 0; i < 4 * d; i++) {
            cr_assert_eq(v[i], u[i], "case %d: v[%d] = %.17g ≠ u = %.17g", k, i, v[i], u[i]);
            /* identity layer: h = g (J = I, ldj constant) */
            cr_assert_eq(h[i], g[i], "case %d: score %d changed: %.17g vs %.17g", k, i, h[i], g[i]);
        }
        for (int b = 0; b < 4; b++)
            cr_assert_eq(ldj[b], 0.0, "case %d: ldj[%d] = %g", k, b, ldj[b]);
        pf_flow_destroy(flow);
    }
}

Test(coupling_affine, mask_without_two_nonempty_parts_is_refused_with_a_message)
{
    const int all_a[3] = {1, 1, 1}, all_b[3] = {0, 0, 0}, hidden[1] = {4};
    pf_layer *layer = (pf_layer *)1;
    cr_assert_eq(pf_coupling_affine_create(3, all_a, 1, hidden, PF_ACT_TANH, &layer), PF_ERR_ARG);
    cr_assert_null(layer, "output not cleared on failure");
    cr_assert_not_null(strstr(pf_last_error(), "mask"), "message: %s", pf_last_error());
    cr_assert_eq(pf_coupling_affine_create(3, all_b, 1, hidden, PF_ACT_TANH, &layer), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "|A| = 0"), "message: %s", pf_last_error());
    const int zero_width[1] = {0}, ok[3] = {1, 0, 0};
    cr_assert_eq(pf_coupling_affine_create(3, ok, 1, zero_width, PF_ACT_TANH, &layer), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "hidden"), "message: %s", pf_last_error());
}

/* ---- lattice conditioners: symmetries and lattice-size independence -------- */

#define LAT_MAX 128

/* A coupling on an L0×L1 checkerboard (A = even sites when parity 0) with a
 * conv conditioner (hidden [5, 4], kernel 3) and the given symmetry, as a
 * one-layer flow; the weights come from `seed` and do not depend on L. */
static pf_flow *lattice_flow(int L0, int L1, int parity, pf_symmetry_kind symmetry,
                             unsigned long long seed)
{
    const int d = L0 * L1, hidden[2] = {5, 4};
    int mask[LAT_MAX];
    for (int i = 0; i < d; i++)
        mask[i] = ((i / L1 + i % L1) % 2 == 0) != parity;
    pf_conditioner_options o = {.kind = CONV,
                                .symmetry = symmetry,
                                .n_hidden = 2,
                                .hidden = hidden,
                                .activation = PF_ACT_TANH,
                                .kernel = 3,
                                .L0 = L0,
                                .L1 = L1};
    pf_layer *layer;
    cr_assert_eq(pf_coupling_affine_create_with(d, mask, &o, &layer), PF_OK, "%s", pf_last_error());
    pf_flow *flow;
    cr_assert_eq(pf_chain_create(d, PF_BASE_NORMAL, &layer, 1, "coupling", &flow), PF_OK);
    pf_rng rng = pf_rng_make(seed, 7);
    pf_coupling_affine_init_params(pf_chain_layer(flow, 0), pf_flow_params(flow), &rng, 0, 1.0);
    const size_t np = pf_flow_n_params(flow);
    double noise[512], *params = pf_flow_params(flow);
    cr_assert_leq(np, 512);
    pft_fill_normal(seed + 1, np, noise, 0.2); /* biases ≠ 0 (see one_layer_flow) */
    for (size_t i = 0; i < np; i++)
        params[i] += noise[i];
    cr_assert_eq(pf_flow_reserve(flow, 4), PF_OK, "%s", pf_last_error());
    return flow;
}

/* y = x shifted by (a0, a1) on the periodic L0×L1 lattice: y(x0 + a0, x1 + a1) = x(x0, x1). */
static void shift_field(int L0, int L1, int a0, int a1, const double *x, double *y)
{
    for (int x0 = 0; x0 < L0; x0++)
        for (int x1 = 0; x1 < L1; x1++)
            y[((x0 + a0 + 2 * L0) % L0) * L1 + (x1 + a1 + 2 * L1) % L1] = x[x0 * L1 + x1];
}

/* A shift by (a0, a1) with a0 + a1 even maps the checkerboard onto itself, and
 * the conditioner's weights are the same at every site: the coupling then
 * commutes with it (F(shift u) = shift F(u)) and its ldj is invariant, in
 * both directions. A shift by an odd amount swaps the two halves, so it must
 * not commute: that part of the test shows the check can fail. */
Test(coupling_affine, conv_coupling_commutes_with_the_lattice_shifts_of_the_checkerboard)
{
    const int L0 = 4, L1 = 6, d = L0 * L1;
    const int shifts[6][2] = {{2, 0}, {0, 2}, {1, 1}, {-1, 1}, {2, 4}, {1, 0}};
    for (int sym = 0; sym < 2; sym++) {
        pf_flow *flow = lattice_flow(L0, L1, 0, sym ? Z2 : NONE, 61 + sym);
        double u[LAT_MAX], su[LAT_MAX], v[LAT_MAX], sv[LAT_MAX], v_of_su[LAT_MAX], ldj, ldj_s;
        pft_fill_normal(62, (size_t)d, u, 1.0);
        for (int dir = 0; dir < 2; dir++)
            for (int k = 0; k < 6; k++) {
                shift_field(L0, L1, shifts[k][0], shifts[k][1], u, su);
                if (dir == 0) {
                    cr_assert_eq(pf_flow_forward(flow, 1, u, v, &ldj, NULL, NULL), PF_OK);
                    cr_assert_eq(pf_flow_forward(flow, 1, su, v_of_su, &ldj_s, NULL, NULL), PF_OK);
                } else {
                    cr_assert_eq(pf_flow_inverse(flow, 1, u, v, &ldj, NULL, NULL), PF_OK);
                    cr_assert_eq(pf_flow_inverse(flow, 1, su, v_of_su, &ldj_s, NULL, NULL), PF_OK);
                }
                shift_field(L0, L1, shifts[k][0], shifts[k][1], v, sv);
                double e = pft_max_rel_err((size_t)d, sv, v_of_su, 1.0);
                const char *what = dir ? "inverse" : "forward";
                if (k < 5) {
                    cr_assert_lt(e, 1e-13,
                                 "%s, z2 %d, shift (%d, %d): F(shift u) ≠ shift F(u) (%g)", what,
                                 sym, shifts[k][0], shifts[k][1], e);
                    cr_assert_lt(fabs(ldj - ldj_s), 1e-12 * (1 + fabs(ldj)),
                                 "%s, z2 %d, shift (%d, %d): ldj %.17g vs %.17g", what, sym,
                                 shifts[k][0], shifts[k][1], ldj, ldj_s);
                } else {
                    cr_assert_gt(e, 1e-3,
                                 "%s, z2 %d: an odd shift commutes (%g): the check is blind", what,
                                 sym, e);
                }
            }
        pf_flow_destroy(flow);
    }
}

/* s even and t odd make the coupling odd: F(−u) = −F(u), ldj(−u) = ldj(u),
 * for dense and conv conditioners, in both directions, with nonzero biases.
 * The same networks without the symmetrisation are not odd. */
Test(coupling_affine, z2_coupling_is_odd_and_its_log_determinant_even)
{
    const int z2_cases[] = {5, 6, 9, 10, 11}, plain_cases[] = {4, 1, 7, 8};
    for (int n = 0; n < 9; n++) {
        const int z2 = n < 5, k = z2 ? z2_cases[n] : plain_cases[n - 5];
        cr_assert_eq(CASES[k].symmetry == Z2, z2, "case %d has the wrong symmetry", k);
        pf_flow *flow = case_flow(k);
        const int d = CASES[k].dim, B = 4;
        double u[4 * D_MAX], mu[4 * D_MAX], v[4 * D_MAX], mv[4 * D_MAX], ldj[4], mldj[4];
        pft_fill_normal(70 + k, (size_t)B * d, u, 1.0);
        for (int i = 0; i < B * d; i++)
            mu[i] = -u[i];
        for (int dir = 0; dir < 2; dir++) {
            pf_status (*pass)(pf_flow *, int, const double *, double *, double *, const double *,
                              double *) = dir ? pf_flow_inverse : pf_flow_forward;
            cr_assert_eq(pass(flow, B, u, v, ldj, NULL, NULL), PF_OK);
            cr_assert_eq(pass(flow, B, mu, mv, mldj, NULL, NULL), PF_OK);
            double odd = 0, even = 0;
            for (int i = 0; i < B * d; i++)
                odd = fmax(odd, fabs(mv[i] + v[i]) / (1 + fabs(v[i])));
            for (int b = 0; b < B; b++)
                even = fmax(even, fabs(mldj[b] - ldj[b]) / (1 + fabs(ldj[b])));
            if (z2) {
                cr_assert_lt(odd, 1e-14, "case %d dir %d: F(−u) + F(u) up to %g", k, dir, odd);
                cr_assert_lt(even, 1e-14, "case %d dir %d: ldj(−u) − ldj(u) up to %g", k, dir,
                             even);
            } else {
                cr_assert_gt(odd + even, 1e-3, "case %d dir %d: a plain coupling is odd?", k, dir);
            }
        }
        pf_flow_destroy(flow);
    }
}

/* (k·k·C_l + 1)·C_{l+1} per conv layer, 1 → 5 → 4 → 2 channels, kernel 3. */
Test(coupling_affine, conv_conditioner_parameter_count_does_not_depend_on_the_lattice)
{
    const size_t expected = (9 * 1 + 1) * 5 + (9 * 5 + 1) * 4 + (9 * 4 + 1) * 2;
    const int lattices[4][2] = {{4, 4}, {8, 8}, {16, 8}, {6, 10}};
    for (int i = 0; i < 4; i++)
        for (int sym = 0; sym < 2; sym++) {
            pf_flow *flow = lattice_flow(lattices[i][0], lattices[i][1], 0, sym ? Z2 : NONE, 5);
            cr_assert_eq(pf_flow_n_params(flow), expected, "%d×%d z2 %d: %zu parameters, not %zu",
                         lattices[i][0], lattices[i][1], sym, pf_flow_n_params(flow), expected);
            pf_flow_destroy(flow);
        }
}

/* The same weights on 8×8 and on 16×8: a 16×8 field made of two copies of an
 * 8×8 field is mapped to two copies of the 8×8 output (kernel 3 sees the same
 * neighbourhoods on the periodic lattices), with twice the ldj. */
Test(coupling_affine, conv_coupling_weights_work_on_another_lattice_size)
{
    for (int sym = 0; sym < 2; sym++)
        for (int dir = 0; dir < 2; dir++) {
            pf_flow *small = lattice_flow(8, 8, 1, sym ? Z2 : NONE, 9);
            pf_flow *large = lattice_flow(16, 8, 1, sym ? Z2 : NONE, 10);
            cr_assert_eq(pf_flow_n_params(small), pf_flow_n_params(large));
            memcpy(pf_flow_params(large), pf_flow_params(small),
                   pf_flow_n_params(small) * sizeof(double));
            double u[64], v[64], u2[128], v2[128], ldj, ldj2;
            pft_fill_normal(11 + dir, 64, u, 1.0);
            memcpy(u2, u, sizeof u);
            memcpy(u2 + 64, u, sizeof u);
            pf_status (*pass)(pf_flow *, int, const double *, double *, double *, const double *,
                              double *) = dir ? pf_flow_inverse : pf_flow_forward;
            cr_assert_eq(pass(small, 1, u, v, &ldj, NULL, NULL), PF_OK);
            cr_assert_eq(pass(large, 1, u2, v2, &ldj2, NULL, NULL), PF_OK);
            double e = fmax(pft_max_rel_err(64, v2, v, 1.0), pft_max_rel_err(64, v2 + 64, v, 1.0));
            cr_assert_lt(e, 1e-13, "z2 %d dir %d: tiled output differs (%g)", sym, dir, e);
            cr_assert_gt(pft_max_rel_err(64, v, u, 1.0), 0.1, "layer near identity");
            cr_assert_lt(fabs(ldj2 - 2 * ldj), 1e-12 * (1 + fabs(ldj)),
                         "z2 %d dir %d: ldj %.17g on 16×8 vs 2 × %.17g", sym, dir, ldj2, ldj);
            pf_flow_destroy(small);
            pf_flow_destroy(large);
        }
}
