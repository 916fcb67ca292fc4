/* Tests for ode/vector_field.c: exact divergence against the trace of the
 * finite-difference Jacobian, Hutchinson's estimate in expectation, and the
 * score transport and adjoint right-hand sides against finite differences. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ode/vector_field.h"
#include "testutil.h"

enum { D = 3, B = 4 };

typedef struct field {
    pf_vector_field vf;
    double *params;
    double t;
} field;

static field make_field(int hutchinson, const char *act_name, uint64_t seed)
{
    field f;
    int hidden[2] = {7, 5};
    pf_activation act;
    cr_assert_eq(pf_activation_from_name(act_name, &act), PF_OK);
    cr_assert_eq(pf_vector_field_init(&f.vf, D, 2, hidden, act, hutchinson), PF_OK);
    cr_assert_eq(pf_vector_field_reserve(&f.vf, B), PF_OK);
    f.params = malloc(f.vf.mlp.n_params * sizeof *f.params);
    pft_fill_normal(seed, f.vf.mlp.n_params, f.params, 0.8);
    f.t = 0.37;
    return f;
}

static void free_field(field *f)
{
    pf_vector_field_free(&f->vf);
    free(f->params);
}

/* f(x) of one sample, for the FD Jacobian. */
static void f_one(void *ctx, const double *x, double *out)
{
    field *f = ctx;
    pf_vector_field_eval(&f->vf, f->params, 1, f->t, x, out);
}

/* Σ_b [λ_b·f(x_b) + w_b div f(x_b)] with the exact divergence. */
typedef struct scalar_ctx {
    field *f;
    const double *x, *lambda, *w;
    double *theta_or_x; /* what the FD perturbs (params or a copy of x) */
    int wrt_params;
} scalar_ctx;

static double adjoint_scalar(void *p, const double *unused)
{
    (void)unused;
    scalar_ctx *c = p;
    double fx[B * D], div[B], s = 0;
    const double *x = c->wrt_params ? c->x : c->theta_or_x;
    pf_vector_field_eval_div(&c->f->vf, c->f->params, B, c->f->t, x, fx, div, NULL, NULL);
    for (int i = 0; i < B * D; i++)
        s += c->lambda[i] * fx[i];
    for (int b = 0; b < B; b++)
        s += c->w[b] * div[b];
    return s;
}

Test(vector_field, exact_divergence_is_the_trace_of_the_finite_difference_jacobian)
{
    const char *acts[2] = {"tanh", "softplus"};
    for (int a = 0; a < 2; a++) {
        field f = make_field(0, acts[a], 1 + a);
        double x[B * D], fx[B * D], div[B], J[D * D], scratch[4 * D];
        pft_fill_normal(2, B * D, x, 1.0);
        pf_vector_field_eval_div(&f.vf, f.params, B, f.t, x, fx, div, NULL, NULL);
        for (int b = 0; b < B; b++) {
            pft_fd_jacobian(f_one, &f, D, D, x + b * D, 1e-4, J, scratch);
            double trace = J[0] + J[4] + J[8];
            cr_assert_float_eq(div[b], trace, 1e-8, "%s sample %d: div %.12g vs tr J %.12g",
                               acts[a], b, div[b], trace);
        }
        free_field(&f);
    }
}

Test(vector_field, hutchinson_divergence_equals_the_exact_one_in_expectation)
{
    field exact = make_field(0, "tanh", 3), hutch = make_field(1, "tanh", 3);
    double x[B * D], fx[B * D], div[B], est[B], s1[B] = {0}, s2[B] = {0}, eps[B * D];
    pft_fill_normal(4, B * D, x, 1.0);
    pf_vector_field_eval_div(&exact.vf, exact.params, B, exact.t, x, fx, div, NULL, NULL);
    const int N = 20000;
    pf_rng rng = pf_rng_make(9, 9);
    for (int k = 0; k < N; k++) {
        pf_rng_rademacher(&rng, B * D, eps);
        pf_vector_field_set_probes(&hutch.vf, B, eps);
        pf_vector_field_eval_div(&hutch.vf, hutch.params, B, hutch.t, x, fx, est, NULL, NULL);
        for (int b = 0; b < B; b++) {
            s1[b] += est[b];
            s2[b] += est[b] * est[b];
        }
    }
    for (int b = 0; b < B; b++) {
        double mean = s1[b] / N, se = sqrt((s2[b] / N - mean * mean) / N);
        cr_assert_lt(fabs(mean - div[b]), 5 * se, "sample %d: mean %g ± %g vs exact %g", b, mean,
                     se, div[b]);
        cr_assert_gt(se, 0, "Hutchinson estimates should vary");
    }
    free_field(&exact);
    free_field(&hutch);
}

Test(vector_field, score_transport_and_adjoint_match_finite_differences)
{
    field f = make_field(0, "tanh", 5);
    const size_t np = f.vf.mlp.n_params;
    double x[B * D], lambda[B * D], w[B], fx[B * D], div[B], dg[B * D], dl[B * D];
    pft_fill_normal(6, B * D, x, 1.0);
    pft_fill_normal(7, B * D, lambda, 1.0);
    pft_fill_normal(8, B, w, 1.0);
    double *grad = malloc(np * sizeof *grad), *fd_p = malloc(np * sizeof *fd_p), fd_x[B * D];
    /* reference: FD of Σ λ·f + Σ w·div in θ and in x */
    double xcopy[B * D];
    memcpy(xcopy, x, sizeof x);
    scalar_ctx cp = {&f, x, lambda, w, f.params, 1}, cx = {&f, x, lambda, w, xcopy, 0};
    pft_fd_gradient(adjoint_scalar, &cp, np, f.params, 1e-5, fd_p);
    pft_fd_gradient(adjoint_scalar, &cx, B * D, xcopy, 1e-5, fd_x);
    pf_vector_field_adjoint(&f.vf, f.params, B, f.t, x, lambda, w, dl, grad);
    for (size_t i = 0; i < np; i++)
        grad[i] = -grad[i];
    for (int i = 0; i < B * D; i++)
        dl[i] = -dl[i];
    double ep = pft_rel_err(np, grad, fd_p, 1e-8), ex = pft_rel_err(B * D, dl, fd_x, 1e-8);
    cr_assert_lt(ep, 1e-6, "adjoint θ part rel err %g", ep);
    cr_assert_lt(ex, 1e-6, "adjoint x part rel err %g", ex);
    /* score transport: dg = −(Jᵀg + ∇ₓdiv) is the adjoint x part with w = 1 */
    double ones[B] = {1, 1, 1, 1}, dl1[B * D];
    pf_vector_field_eval_div(&f.vf, f.params, B, f.t, x, fx, div, lambda, dg);
    pf_vector_field_adjoint(&f.vf, f.params, B, f.t, x, lambda, ones, dl1, NULL);
    cr_assert_lt(pft_max_rel_err(B * D, dg, dl1, 1e-12), 1e-12);
    /* and w = NULL leaves only the first-order term: FD with w = 0 */
    double zeros[B] = {0};
    scalar_ctx c0 = {&f, x, lambda, zeros, xcopy, 0};
    pft_fd_gradient(adjoint_scalar, &c0, B * D, xcopy, 1e-5, fd_x);
    pf_vector_field_adjoint(&f.vf, f.params, B, f.t, x, lambda, NULL, dl, NULL);
    for (int i = 0; i < B * D; i++)
        dl[i] = -dl[i];
    cr_assert_lt(pft_rel_err(B * D, dl, fd_x, 1e-8), 1e-6);
    free(grad);
    free(fd_p);
    free_field(&f);
}

/* One adjoint call of g after a forward elsewhere (so g holds no reusable
 * pass): the reference for the calls of f, which may reuse theirs. */
static void fresh_adjoint(field *g, const double *params, double t, const double *x,
                          const double *lambda, const double *w, double *dl, double *grad)
{
    double elsewhere[D] = {9, -9, 9}, out[D];
    pf_vector_field_eval(&g->vf, params, 1, 0.5, elsewhere, out);
    if (grad)
        memset(grad, 0, g->vf.mlp.n_params * sizeof *grad);
    pf_vector_field_adjoint(&g->vf, params, B, t, x, lambda, w, dl, grad);
}

/* The adjoint reuses its forward and tangent passes between calls at one
 * (t, x, θ): every call equals a call without reuse bit for bit, and a change
 * of θ, t, x or the probes is seen. */
Test(vector_field, adjoint_calls_at_one_point_equal_calls_without_reuse)
{
    for (int hutchinson = 0; hutchinson < 2; hutchinson++) {
        field f = make_field(hutchinson, "tanh", 11), g = make_field(hutchinson, "tanh", 11);
        const size_t np = f.vf.mlp.n_params;
        double x[B * D], l1[B * D], l2[B * D], w[B], eps[B * D];
        double dl[B * D], dl_ref[B * D], *grad = malloc(np * sizeof *grad),
                                          *grad_ref = malloc(np * sizeof *grad_ref);
        pft_fill_normal(12, B * D, x, 1.0);
        pft_fill_normal(13, B * D, l1, 1.0);
        pft_fill_normal(14, B * D, l2, 1.0);
        pft_fill_normal(15, B, w, 1.0);
        for (int i = 0; i < B * D; i++)
            eps[i] = (i * 7 % 3) ? 1.0 : -1.0;
        pf_vector_field_set_probes(&f.vf, B, eps);
        pf_vector_field_set_probes(&g.vf, B, eps);
        double t = f.t;
        /* w, no w, gradient or not, in an order that reuses both passes */
        const double *lams[4] = {l2, l1, l2, l1}, *ws[4] = {NULL, w, w, NULL};
        for (int step = 0; step < 9; step++) {
            if (step == 4)
                f.params[np / 2] += 0.25; /* in place, as an optimiser does */
            if (step == 5)
                t = nextafter(t, 1.0);
            if (step == 6)
                x[B * D - 1] += 1e-3;
            if (step == 7) {
                eps[0] = -eps[0];
                pf_vector_field_set_probes(&f.vf, B, eps);
                pf_vector_field_set_probes(&g.vf, B, eps);
            }
            const double *lam = lams[step % 4], *ww = step == 8 ? w : ws[step % 4];
            double *gr = step % 2 ? grad : NULL, *gr_ref = step % 2 ? grad_ref : NULL;
            if (gr)
                memset(gr, 0, np * sizeof *gr);
            pf_vector_field_adjoint(&f.vf, f.params, B, t, x, lam, ww, dl, gr);
            fresh_adjoint(&g, f.params, t, x, lam, ww, dl_ref, gr_ref);
            cr_assert_eq(memcmp(dl, dl_ref, sizeof dl), 0, "call %d (hutchinson %d): λ part",
                         step, hutchinson);
            if (gr)
                cr_assert_eq(memcmp(gr, gr_ref, np * sizeof *gr), 0,
                             "call %d (hutchinson %d): θ part", step, hutchinson);
        }
        free(grad);
        free(grad_ref);
        free_field(&f);
        free_field(&g);
    }
}
