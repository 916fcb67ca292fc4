/* Tests for src/nn/mlp.c: every VJP, tangent and tangent-reverse pass against
 * central finite differences, for every activation and several shapes
 * (width 1, batch 1, no hidden layer, deep-and-narrow, wide). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/mlp.h"
#include "testutil.h"

typedef struct shape {
    int n_in, n_hidden, hidden[4], n_out, B;
} shape;

static const shape SHAPES[] = {
    {1, 1, {1}, 1, 1},          /* width 1 everywhere, batch 1 */
    {3, 0, {0}, 2, 4},          /* a single affine layer */
    {3, 3, {7, 1, 5}, 2, 5},    /* deep, with a width-1 bottleneck */
    {6, 2, {32, 32}, 12, 17},   /* wide */
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])
static const pf_activation ACTS[] = {PF_ACT_IDENTITY, PF_ACT_TANH, PF_ACT_SOFTPLUS, PF_ACT_RELU,
                                     PF_ACT_LEAKY_RELU};
#define N_ACTS 5
#define TOL 1e-6
/* Absolute floor of the relative errors: a dead relu unit makes a gradient
 * exactly 0 while its finite difference is rounding noise of ~1e-13. */
#define FLOOR 1e-6

/* Everything one FD check needs: the network, its tape, a point, cotangents. */
typedef struct fixture {
    pf_mlp mlp;
    pf_mlp_tape *tape;
    int B, T;
    double *params, *x, *xdot, *ybar, *ydotbar, *y, *ydot;
} fixture;

/* Random parameters (biases too, so that relu kinks sit away from the
 * points: the seeds are fixed, so a kink crossed by the FD stencil would fail
 * deterministically, never flakily). */
static fixture make_fixture(const shape *s, pf_activation act, pf_activation out_act, int T,
                            uint64_t seed)
{
    fixture f;
    memset(&f, 0, sizeof f);
    cr_assert_eq(pf_mlp_init(&f.mlp, s->n_in, s->n_hidden, s->hidden, s->n_out, act, out_act),
                 PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_mlp_tape_create(&f.mlp, s->B, T, &f.tape), PF_OK);
    f.B = s->B;
    f.T = T;
    size_t nx = (size_t)s->B * s->n_in, ny = (size_t)s->B * s->n_out, tt = T > 0 ? T : 1;
    f.params = malloc(f.mlp.n_params * sizeof(double));
    f.x = malloc(nx * sizeof(double));
    f.xdot = malloc(nx * tt * sizeof(double));
    f.ybar = malloc(ny * sizeof(double));
    f.ydotbar = malloc(ny * tt * sizeof(double));
    f.y = malloc(ny * sizeof(double));
    f.ydot = malloc(ny * tt * sizeof(double));
    pft_fill_normal(seed, f.mlp.n_params, f.params, 0.8);
    pft_fill_normal(seed + 1, nx, f.x, 1.0);
    pft_fill_normal(seed + 2, nx * tt, f.xdot, 1.0);
    pft_fill_normal(seed + 3, ny, f.ybar, 1.0);
    pft_fill_normal(seed + 4, ny * tt, f.ydotbar, 1.0);
    return f;
}

static void free_fixture(fixture *f)
{
    pf_mlp_tape_destroy(f->tape);
    free(f->params);
    free(f->x);
    free(f->xdot);
    free(f->ybar);
    free(f->ydotbar);
    free(f->y);
    free(f->ydot);
}

/* Σ ȳ·y(x; θ) (+ Σ ẏ̄·ẏ when T > 0): the scalar whose gradients we check. */
static double objective(fixture *f)
{
    pf_mlp_forward(&f->mlp, f->params, f->tape, f->B, f->x, f->y);
    size_t ny = (size_t)f->B * f->mlp.width[f->mlp.n_layers];
    double s = 0;
    for (size_t i = 0; i < ny; i++)
        s += f->ybar[i] * f->y[i];
    if (f->T > 0) {
        pf_mlp_tangent(&f->mlp, f->params, f->tape, f->B, f->T, f->xdot, f->ydot);
        for (size_t i = 0; i < ny * f->T; i++)
            s += f->ydotbar[i] * f->ydot[i];
    }
    return s;
}

/* The FD routines perturb one of the fixture's arrays in place. */
static double objective_fn(void *ctx, const double *unused)
{
    (void)unused;
    return objective(ctx);
}

/* FD gradient of the objective w.r.t. array v (n values) of the fixture. */
static double *fd_gradient(fixture *f, double *v, size_t n)
{
    double *g = malloc(n * sizeof *g);
    pft_fd_gradient(objective_fn, f, n, v, 1e-5, g);
    return g;
}

Test(mlp, vjp_input_and_full_backward_match_finite_differences_for_every_activation)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int ai = 0; ai < N_ACTS; ai++) {
            const shape *s = &SHAPES[si];
            fixture f = make_fixture(s, ACTS[ai], PF_ACT_IDENTITY, 0, 10 * si + ai);
            size_t nx = (size_t)s->B * s->n_in;
            double *fd_x = fd_gradient(&f, f.x, nx);
            double *fd_p = fd_gradient(&f, f.params, f.mlp.n_params);
            double *xbar = calloc(nx, sizeof *xbar), *xbar2 = calloc(nx, sizeof *xbar2);
            double *grad = calloc(f.mlp.n_params, sizeof *grad);
            objective(&f);
            pf_mlp_vjp_input(&f.mlp, f.params, f.tape, f.B, f.ybar, xbar);
            pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, grad, xbar2);
            double e_vjp = pft_rel_err(nx, xbar, fd_x, FLOOR);
            double e_x = pft_rel_err(nx, xbar2, fd_x, FLOOR);
            double e_p = pft_rel_err(f.mlp.n_params, grad, fd_p, FLOOR);
            cr_assert_lt(e_vjp, TOL, "shape %d, %s: input VJP rel err %g", si,
                         pf_activation_name(ACTS[ai]), e_vjp);
            cr_assert_lt(e_x, TOL, "shape %d, %s: backward x̄ rel err %g", si,
                         pf_activation_name(ACTS[ai]), e_x);
            cr_assert_lt(e_p, TOL, "shape %d, %s: backward θ̄ rel err %g", si,
                         pf_activation_name(ACTS[ai]), e_p);
            free(fd_x);
            free(fd_p);
            free(xbar);
            free(xbar2);
            free(grad);
            free_fixture(&f);
        }
}

Test(mlp, output_activations_are_differentiated_too)
{
    const shape *s = &SHAPES[2];
    for (int ai = 1; ai < N_ACTS; ai++) {
        fixture f = make_fixture(s, PF_ACT_TANH, ACTS[ai], 0, 100 + ai);
        double *fd_p = fd_gradient(&f, f.params, f.mlp.n_params);
        double *grad = calloc(f.mlp.n_params, sizeof *grad);
        objective(&f);
        pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, grad, NULL);
        double e = pft_rel_err(f.mlp.n_params, grad, fd_p, FLOOR);
        cr_assert_lt(e, TOL, "output %s: θ̄ rel err %g", pf_activation_name(ACTS[ai]), e);
        free(fd_p);
        free(grad);
        free_fixture(&f);
    }
}

/* ẏ = J ẋ checked against (y(x + hẋ) − ...)/h by the 4th-order stencil. */
static void check_tangent(const shape *s, pf_activation act, int T, uint64_t seed)
{
    fixture f = make_fixture(s, act, PF_ACT_IDENTITY, T, seed);
    const int n_in = s->n_in, n_out = s->n_out;
    pf_mlp_forward(&f.mlp, f.params, f.tape, f.B, f.x, f.y);
    pf_mlp_tangent(&f.mlp, f.params, f.tape, f.B, T, f.xdot, f.ydot);
    double *xp = malloc((size_t)f.B * n_in * sizeof *xp);
    double *yk[4], fd_dir[64], ours[64];
    for (int k = 0; k < 4; k++)
        yk[k] = malloc((size_t)f.B * n_out * sizeof(double));
    const double h = 1e-4, steps[4] = {-2, -1, 1, 2};
    pf_mlp_tape *scratch;
    cr_assert_eq(pf_mlp_tape_create(&f.mlp, f.B, 0, &scratch), PF_OK);
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 4; k++) {
            for (int b = 0; b < f.B; b++)
                for (int i = 0; i < n_in; i++)
                    xp[b * n_in + i] = f.x[b * n_in + i] +
                                       steps[k] * h * f.xdot[((size_t)b * T + t) * n_in + i];
            pf_mlp_forward(&f.mlp, f.params, scratch, f.B, xp, yk[k]);
        }
        for (int b = 0; b < f.B; b++) {
            for (int j = 0; j < n_out; j++) {
                size_t i = (size_t)b * n_out + j;
                fd_dir[j] = (yk[0][i] - 8 * yk[1][i] + 8 * yk[2][i] - yk[3][i]) / (12 * h);
                ours[j] = f.ydot[((size_t)b * T + t) * n_out + j];
            }
            double e = pft_rel_err((size_t)n_out, ours, fd_dir, FLOOR);
            cr_assert_lt(e, TOL, "%s, T=%d, tangent %d, sample %d: rel err %g",
                         pf_activation_name(act), T, t, b, e);
        }
    }
    pf_mlp_tape_destroy(scratch);
    for (int k = 0; k < 4; k++)
        free(yk[k]);
    free(xp);
    free_fixture(&f);
}

Test(mlp, tangents_match_finite_difference_directional_derivatives)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int ai = 0; ai < N_ACTS; ai++) {
            check_tangent(&SHAPES[si], ACTS[ai], 1, 200 + 10 * si + ai);
            check_tangent(&SHAPES[si], ACTS[ai], 3, 300 + 10 * si + ai);
        }
}

Test(mlp, tangent_backward_matches_finite_differences_in_parameters_inputs_and_tangents)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int ai = 0; ai < N_ACTS; ai++) {
            const shape *s = &SHAPES[si];
            const int T = 1 + si % 3;
            fixture f = make_fixture(s, ACTS[ai], PF_ACT_IDENTITY, T, 400 + 10 * si + ai);
            size_t nx = (size_t)s->B * s->n_in, np = f.mlp.n_params;
            double *fd_p = fd_gradient(&f, f.params, np);
            double *fd_x = fd_gradient(&f, f.x, nx);
            double *fd_xd = fd_gradient(&f, f.xdot, nx * T);
            double *grad = calloc(np, sizeof *grad), *xbar = calloc(nx, sizeof *xbar);
            double *xdotbar = calloc(nx * T, sizeof *xdotbar);
            objective(&f);
            pf_mlp_tangent_backward(&f.mlp, f.params, f.tape, f.B, T, f.ybar, f.ydotbar, grad,
                                    xbar, xdotbar);
            const char *name = pf_activation_name(ACTS[ai]);
            double ep = pft_rel_err(np, grad, fd_p, 1e-8), ex = pft_rel_err(nx, xbar, fd_x, FLOOR);
            double ed = pft_rel_err(nx * T, xdotbar, fd_xd, FLOOR);
            cr_assert_lt(ep, TOL, "shape %d, %s: θ̄ rel err %g", si, name, ep);
            cr_assert_lt(ex, TOL, "shape %d, %s: x̄ rel err %g", si, name, ex);
            cr_assert_lt(ed, TOL, "shape %d, %s: ẋ̄ rel err %g", si, name, ed);
            free(fd_p);
            free(fd_x);
            free(fd_xd);
            free(grad);
            free(xbar);
            free(xdotbar);
            free_fixture(&f);
        }
}

Test(mlp, gradients_accumulate_into_caller_buffers)
{
    fixture f = make_fixture(&SHAPES[2], PF_ACT_TANH, PF_ACT_IDENTITY, 0, 7);
    size_t nx = (size_t)f.B * f.mlp.width[0], np = f.mlp.n_params;
    double *g1 = calloc(np, sizeof *g1), *g2 = calloc(np, sizeof *g2);
    double *x1 = calloc(nx, sizeof *x1), *x2 = calloc(nx, sizeof *x2);
    objective(&f);
    pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, g1, x1);
    pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, g2, x2);
    pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, g2, x2);
    for (size_t i = 0; i < np; i++)
        cr_assert_float_eq(g2[i], 2 * g1[i], 1e-14 * (1 + fabs(g1[i])), "θ̄[%zu]", i);
    for (size_t i = 0; i < nx; i++)
        cr_assert_float_eq(x2[i], 2 * x1[i], 1e-14 * (1 + fabs(x1[i])), "x̄[%zu]", i);
    free(g1);
    free(g2);
    free(x1);
    free(x2);
    free_fixture(&f);
}

Test(mlp, zero_last_layer_gives_zero_output_for_any_input)
{
    const shape *s = &SHAPES[3];
    fixture f = make_fixture(s, PF_ACT_SOFTPLUS, PF_ACT_IDENTITY, 0, 8);
    pf_rng rng = pf_rng_make(1, 2);
    pf_mlp_init_params(&f.mlp, f.params, &rng, 1);
    pf_mlp_forward(&f.mlp, f.params, f.tape, f.B, f.x, f.y);
    cr_assert_eq(pft_max_abs((size_t)f.B * s->n_out, f.y), 0.0);
    /* and the other layers are random with variance 1/n_in */
    double sq = 0;
    size_t nw = (size_t)s->hidden[0] * s->n_in;
    for (size_t i = 0; i < nw; i++)
        sq += f.params[f.mlp.w_offset[0] + i] * f.params[f.mlp.w_offset[0] + i];
    double var = sq / nw;
    cr_assert(var > 0.5 / s->n_in && var < 2.0 / s->n_in, "first-layer variance %g", var);
    free_fixture(&f);
}

Test(mlp, batched_forward_equals_one_sample_at_a_time)
{
    const shape *s = &SHAPES[3];
    fixture f = make_fixture(s, PF_ACT_TANH, PF_ACT_IDENTITY, 0, 9);
    pf_mlp_forward(&f.mlp, f.params, f.tape, f.B, f.x, f.y);
    double one[12];
    for (int b = 0; b < f.B; b++) {
        pf_mlp_forward(&f.mlp, f.params, f.tape, 1, f.x + (size_t)b * s->n_in, one);
        /* GEMM kernels differ for 1 and 17 rows, so rounding differs slightly;
         * a layout error would be O(1). */
        double e = pft_max_rel_err((size_t)s->n_out, one, f.y + (size_t)b * s->n_out, 1e-9);
        cr_assert_lt(e, 1e-12, "sample %d: rel err %g", b, e);
    }
    free_fixture(&f);
}

Test(mlp, activation_derivatives_match_finite_differences_and_softplus_is_stable)
{
    double z[7] = {-3.1, -0.7, -0.2, 0.3, 0.9, 2.5, 6.0};
    for (int ai = 0; ai < N_ACTS; ai++) {
        double s[7], ds[7], d2s[7];
        pf_activation_eval(ACTS[ai], 7, z, s, ds, d2s);
        for (int i = 0; i < 7; i++) {
            const double h = 1e-5;
            double zz[4] = {z[i] - 2 * h, z[i] - h, z[i] + h, z[i] + 2 * h}, sv[4], dv[4];
            pf_activation_eval(ACTS[ai], 4, zz, sv, dv, NULL);
            double fd1 = (sv[0] - 8 * sv[1] + 8 * sv[2] - sv[3]) / (12 * h);
            double fd2 = (dv[0] - 8 * dv[1] + 8 * dv[2] - dv[3]) / (12 * h);
            cr_assert_float_eq(ds[i], fd1, 1e-9, "%s'(%g)", pf_activation_name(ACTS[ai]), z[i]);
            cr_assert_float_eq(d2s[i], fd2, 1e-9, "%s''(%g)", pf_activation_name(ACTS[ai]), z[i]);
        }
    }
    double big[2] = {800, -800}, s[2], ds[2];
    pf_activation_eval(PF_ACT_SOFTPLUS, 2, big, s, ds, NULL);
    cr_assert_eq(s[0], 800.0);
    cr_assert(s[1] >= 0 && s[1] < 1e-300, "softplus(-800) = %g", s[1]);
    cr_assert_eq(ds[0], 1.0);
    cr_assert(isfinite(ds[1]) && ds[1] < 1e-300);
}

Test(mlp, bad_names_and_widths_are_refused_with_messages)
{
    pf_activation act;
    cr_assert_eq(pf_activation_from_name("tanhh", &act), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "tanhh"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "softplus"), "lists valid names: %s",
                       pf_last_error());
    cr_assert_eq(pf_activation_from_name("leaky_relu", &act), PF_OK);
    cr_assert_eq(act, PF_ACT_LEAKY_RELU);
    pf_mlp mlp;
    int hidden[3] = {4, 0, 4};
    cr_assert_eq(pf_mlp_init(&mlp, 2, 3, hidden, 1, PF_ACT_TANH, PF_ACT_IDENTITY), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "hidden[1]"), "%s", pf_last_error());
}
