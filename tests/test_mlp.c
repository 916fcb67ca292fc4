/* Tests for src/nn/mlp.c: the forward against a naive loop over the documented
 * layout, every VJP, tangent and tangent-reverse pass against central finite
 * differences (for every activation, as hidden and as output activation, and
 * for several shapes: width 1 everywhere, batch 1, no hidden layer,
 * deep-and-narrow, wide), accumulation, initialisation and error messages. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/vmath.h"
#include "nn/mlp.h"
#include "testutil.h"

typedef struct shape {
    const char *name;
    int n_in, n_hidden, hidden[4], n_out, B;
} shape;

static const shape SHAPES[] = {
    {"1→1→1→1, B=3 (width 1 everywhere)", 1, 2, {1, 1}, 1, 3},
    {"4→6→3, B=1", 4, 1, {6}, 3, 1},
    {"3→2, B=4 (no hidden layer)", 3, 0, {0}, 2, 4},
    {"3→7→1→5→2, B=5", 3, 3, {7, 1, 5}, 2, 5},
    {"6→32→32→12, B=17", 6, 2, {32, 32}, 12, 17},
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])
#define WIDE_SHAPE (&SHAPES[N_SHAPES - 1])

static const pf_activation ACTS[] = {PF_ACT_IDENTITY, PF_ACT_TANH, PF_ACT_SOFTPLUS, PF_ACT_RELU,
                                     PF_ACT_LEAKY_RELU};
#define N_ACTS (int)(sizeof ACTS / sizeof ACTS[0])

/* Activation cases: each activation as the hidden one (identity output), then
 * each non-identity activation as the output one (tanh hidden). */
#define N_CASES (2 * N_ACTS - 1)
static pf_activation case_hidden(int c)
{
    return c < N_ACTS ? ACTS[c] : PF_ACT_TANH;
}
static pf_activation case_output(int c)
{
    return c < N_ACTS ? PF_ACT_IDENTITY : ACTS[c - N_ACTS + 1];
}

#define TOL 1e-6
/* Finite-difference step: 4th-order central stencil, truncation ~h⁴, rounding
 * ~1e-16/h ≈ 1e-11 relative. */
#define FD_STEP 1e-5
/* Floor of the norms in the relative errors. Some gradients are exactly 0
 * (a dead relu chain, x̄ of an affine map with ȳ = 0) while the stencil is
 * rounding noise of ~eps·|f|/h ≈ 1e-11·|f| even on a constant f; arrays of
 * norm below 1e-3 are therefore compared in absolute terms (to 1e-9). Real
 * gradient norms here are O(0.1–100), so the floor never hides an error. */
#define FLOOR 1e-3
/* Relu and leaky relu are not differentiable at z = 0. The points are drawn
 * until every pre-activation of the network satisfies |z| ≥ KINK_MARGIN. The
 * stencils move a parameter or an input by at most 2·FD_STEP = 2e-5 (the
 * directional ones move x by 2·FD_STEP·ẋ), and the sensitivities ∂z/∂(·) are
 * O(1–10) here, so no pre-activation changes sign within a stencil. The
 * seeds are fixed: a failure would be deterministic, never flaky. */
#define KINK_MARGIN 1e-3
#define REFERENCE_MAX_WIDTH 64

/* ---- an independent reference: the documented layout, looped naively ---- */

static double reference_activation(pf_activation act, double z)
{
    switch (act) {
    case PF_ACT_TANH: return tanh(z);
    case PF_ACT_SOFTPLUS: return z > 30 ? z + exp(-z) : log1p(exp(z));
    case PF_ACT_RELU: return z > 0 ? z : 0.0;
    case PF_ACT_LEAKY_RELU: return z > 0 ? z : 0.01 * z;
    default: return z;
    }
}

/* x: B×n_0 → y: B×n_L, one sample and one dot product at a time, with W_l
 * (n_{l+1}×n_l row-major) at w_offset[l] and b_l at b_offset[l]. Returns the
 * smallest |z| over all pre-activations (the distance to the relu kinks). */
static double reference_forward(const pf_mlp *mlp, const double *params, int B, const double *x,
                                double *y)
{
    double smallest = INFINITY, u[REFERENCE_MAX_WIDTH], a[REFERENCE_MAX_WIDTH];
    for (int b = 0; b < B; b++) {
        memcpy(u, x + (size_t)b * mlp->width[0], (size_t)mlp->width[0] * sizeof *u);
        for (int l = 0; l < mlp->n_layers; l++) {
            const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
            cr_assert_leq(n_out, REFERENCE_MAX_WIDTH);
            const pf_activation act = l == mlp->n_layers - 1 ? mlp->output_act : mlp->hidden_act;
            for (int i = 0; i < n_out; i++) {
                double z = params[mlp->b_offset[l] + i];
                for (int j = 0; j < n_in; j++)
                    z += params[mlp->w_offset[l] + (size_t)i * n_in + j] * u[j];
                smallest = fmin(smallest, fabs(z));
                a[i] = reference_activation(act, z);
            }
            memcpy(u, a, (size_t)n_out * sizeof *u);
        }
        memcpy(y + (size_t)b * mlp->width[mlp->n_layers], u,
               (size_t)mlp->width[mlp->n_layers] * sizeof *y);
    }
    return smallest;
}

/* ---- fixtures: a network, its tape, a point, cotangents ------------------ */

typedef struct fixture {
    const shape *shape;
    pf_mlp mlp;
    pf_mlp_tape *tape;
    int B, T;
    double *params, *x, *xdot, *ybar, *ydotbar, *y, *ydot;
} fixture;

static int has_kink(pf_activation act)
{
    return act == PF_ACT_RELU || act == PF_ACT_LEAKY_RELU;
}

/* Parameters as pf_mlp_init_params draws them, plus N(0, 0.5²) biases so that
 * the biases' gradients are tested at a generic point. */
static void draw_point(fixture *f, uint64_t seed)
{
    const size_t nx = (size_t)f->B * f->mlp.width[0], tt = f->T > 0 ? (size_t)f->T : 1;
    const size_t ny = (size_t)f->B * f->mlp.width[f->mlp.n_layers];
    pf_rng rng = pf_rng_make(seed, 7);
    pf_mlp_init_params(&f->mlp, f->params, &rng, 0);
    for (int l = 0; l < f->mlp.n_layers; l++)
        pft_fill_normal(seed + 100 + l, (size_t)f->mlp.width[l + 1], f->params + f->mlp.b_offset[l],
                        0.5);
    pft_fill_normal(seed + 1, nx, f->x, 1.0);
    pft_fill_normal(seed + 2, nx * tt, f->xdot, 1.0);
    pft_fill_normal(seed + 3, ny, f->ybar, 1.0);
    pft_fill_normal(seed + 4, ny * tt, f->ydotbar, 1.0);
}

static fixture make_fixture(const shape *s, pf_activation hidden_act, pf_activation output_act,
                            int T, uint64_t seed)
{
    fixture f;
    memset(&f, 0, sizeof f);
    f.shape = s;
    cr_assert_eq(
        pf_mlp_init(&f.mlp, s->n_in, s->n_hidden, s->hidden, s->n_out, hidden_act, output_act),
        PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_mlp_tape_create(&f.mlp, s->B, T, &f.tape), PF_OK, "%s", pf_last_error());
    f.B = s->B;
    f.T = T;
    const size_t nx = (size_t)s->B * s->n_in, ny = (size_t)s->B * s->n_out;
    const size_t tt = T > 0 ? (size_t)T : 1;
    f.params = calloc(f.mlp.n_params, sizeof(double));
    f.x = calloc(nx, sizeof(double));
    f.xdot = calloc(nx * tt, sizeof(double));
    f.ybar = calloc(ny, sizeof(double));
    f.ydotbar = calloc(ny * tt, sizeof(double));
    f.y = calloc(ny, sizeof(double));
    f.ydot = calloc(ny * tt, sizeof(double));
    const int kinked = has_kink(hidden_act) || has_kink(output_act);
    for (int attempt = 0;; attempt++) {
        cr_assert_lt(attempt, 50, "%s: no point with |z| ≥ %g found", s->name, KINK_MARGIN);
        draw_point(&f, seed + 1000 * (uint64_t)attempt);
        if (!kinked || reference_forward(&f.mlp, f.params, f.B, f.x, f.y) >= KINK_MARGIN)
            break;
    }
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

static size_t n_inputs(const fixture *f)
{
    return (size_t)f->B * f->mlp.width[0];
}
static size_t n_outputs(const fixture *f)
{
    return (size_t)f->B * f->mlp.width[f->mlp.n_layers];
}

/* Σ ȳ·y(x; θ) (+ Σ ẏ̄·ẏ when T > 0, ẏ recomputed by pf_mlp_tangent): the
 * scalar whose gradients the backward passes compute. */
static double objective(fixture *f)
{
    pf_mlp_forward(&f->mlp, f->params, f->tape, f->B, f->x, f->y);
    const size_t ny = n_outputs(f);
    double sum = 0;
    for (size_t i = 0; i < ny; i++)
        sum += f->ybar[i] * f->y[i];
    if (f->T > 0) {
        pf_mlp_tangent(&f->mlp, f->params, f->tape, f->B, f->T, f->xdot, f->ydot);
        for (size_t i = 0; i < ny * f->T; i++)
            sum += f->ydotbar[i] * f->ydot[i];
    }
    return sum;
}

/* The FD routines perturb one of the fixture's arrays in place. */
static double objective_fn(void *ctx, const double *unused)
{
    (void)unused;
    return objective(ctx);
}

/* FD gradient of the objective w.r.t. the fixture's array v (n values). */
static double *fd_gradient(fixture *f, double *v, size_t n)
{
    double *g = malloc(n * sizeof *g);
    pft_fd_gradient(objective_fn, f, n, v, FD_STEP, g);
    return g;
}

/* The worst relative error met in the current test (each test is a process). */
static double worst_error;

/* Fails unless err < TOL, naming the check and the network. */
static void expect_agreement(double err, const char *what, const fixture *f)
{
    if (!(err <= worst_error))
        worst_error = err;
    cr_assert_lt(err, TOL, "%s, %s, hidden %s, output %s, T = %d: relative error %.3g ≥ %g", what,
                 f->shape->name, pf_activation_name(f->mlp.hidden_act),
                 pf_activation_name(f->mlp.output_act), f->T, err, TOL);
}

#define REPORT_WORST(what) cr_log_info("%s: worst relative error %.3g", what, worst_error)

/* ---- the forward --------------------------------------------------------- */

Test(mlp, forward_matches_a_naive_loop_over_the_documented_parameter_layout)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int c = 0; c < N_CASES; c++) {
            fixture f = make_fixture(&SHAPES[si], case_hidden(c), case_output(c), 0, 10 * si + c);
            double *expected = malloc(n_outputs(&f) * sizeof *expected);
            reference_forward(&f.mlp, f.params, f.B, f.x, expected);
            pf_mlp_forward(&f.mlp, f.params, f.tape, f.B, f.x, f.y);
            /* relative to max(|y|, 1): y of O(1) terms may cancel to ~0 */
            double e = pft_max_rel_err(n_outputs(&f), f.y, expected, 1.0);
            cr_assert_lt(e, 1e-13, "%s, hidden %s, output %s: max relative error %.3g",
                         SHAPES[si].name, pf_activation_name(case_hidden(c)),
                         pf_activation_name(case_output(c)), e);
            free(expected);
            free_fixture(&f);
        }
}

/* GEMM kernels differ between 1 and 17 rows, so the last bits may differ
 * (errors are relative to max(|y|, 1): an element of O(1) terms may cancel to
 * ~0); a layout error would show as an O(1) difference. */
Test(mlp, batched_forward_and_tangents_equal_one_sample_at_a_time)
{
    const shape *s = WIDE_SHAPE;
    const int T = 3;
    fixture f = make_fixture(s, PF_ACT_TANH, PF_ACT_SOFTPLUS, T, 9);
    objective(&f);
    double y_one[12], ydot_one[3 * 12], worst = 0;
    for (int b = 0; b < f.B; b++) {
        pf_mlp_forward(&f.mlp, f.params, f.tape, 1, f.x + (size_t)b * s->n_in, y_one);
        pf_mlp_tangent(&f.mlp, f.params, f.tape, 1, T, f.xdot + (size_t)b * T * s->n_in, ydot_one);
        double e = pft_max_rel_err((size_t)s->n_out, y_one, f.y + (size_t)b * s->n_out, 1.0);
        double ed =
            pft_max_rel_err((size_t)T * s->n_out, ydot_one, f.ydot + (size_t)b * T * s->n_out, 1.0);
        cr_assert_lt(e, 1e-14, "sample %d: y max relative error %.3g", b, e);
        cr_assert_lt(ed, 1e-14, "sample %d: ẏ max relative error %.3g", b, ed);
        worst = fmax(worst, fmax(e, ed));
    }
    cr_log_info("batched vs one at a time: worst relative error %.3g", worst);
    free_fixture(&f);
}

/* ---- reverse passes ------------------------------------------------------ */

static void forward_fn(void *ctx, const double *x, double *y)
{
    fixture *f = ctx;
    pf_mlp_forward(&f->mlp, f->params, f->tape, f->B, x, y);
}

/* x̄ = Jᵀȳ with J (B·n_L × B·n_0) the finite-difference Jacobian of x ↦ y. */
static void check_vjp_input(fixture *f)
{
    const size_t m = n_outputs(f), n = n_inputs(f);
    double *J = malloc(m * n * sizeof *J), *scratch = malloc(4 * m * sizeof *scratch);
    double *fd_xbar = calloc(n, sizeof *fd_xbar), *xbar = calloc(n, sizeof *xbar);
    pft_fd_jacobian(forward_fn, f, m, n, f->x, FD_STEP, J, scratch);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            fd_xbar[j] += f->ybar[i] * J[i * n + j];
    pf_mlp_forward(&f->mlp, f->params, f->tape, f->B, f->x, f->y); /* the tape at x itself */
    pf_mlp_vjp_input(&f->mlp, f->params, f->tape, f->B, f->ybar, xbar);
    expect_agreement(pft_rel_err(n, xbar, fd_xbar, FLOOR), "input VJP vs Jᵀȳ", f);
    free(J);
    free(scratch);
    free(fd_xbar);
    free(xbar);
}

Test(mlp, vjp_input_matches_the_finite_difference_jacobian_for_every_activation_and_shape)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int c = 0; c < N_CASES; c++) {
            fixture f = make_fixture(&SHAPES[si], case_hidden(c), case_output(c), 0, 20 * si + c);
            check_vjp_input(&f);
            free_fixture(&f);
        }
    REPORT_WORST("input VJP");
}

/* grad and x̄ of Σ ȳ·y vs FD; the backward without x̄ gives the same grad. */
static void check_backward(fixture *f)
{
    const size_t nx = n_inputs(f), np = f->mlp.n_params;
    double *fd_x = fd_gradient(f, f->x, nx), *fd_p = fd_gradient(f, f->params, np);
    double *xbar = calloc(nx, sizeof *xbar), *grad = calloc(np, sizeof *grad);
    double *grad_only = calloc(np, sizeof *grad_only);
    objective(f);
    pf_mlp_backward(&f->mlp, f->params, f->tape, f->B, f->ybar, grad, xbar);
    pf_mlp_backward(&f->mlp, f->params, f->tape, f->B, f->ybar, grad_only, NULL);
    expect_agreement(pft_rel_err(np, grad, fd_p, FLOOR), "backward θ̄", f);
    expect_agreement(pft_rel_err(nx, xbar, fd_x, FLOOR), "backward x̄", f);
    cr_assert_eq(memcmp(grad, grad_only, np * sizeof *grad), 0, "θ̄ depends on xbar = NULL");
    free(fd_x);
    free(fd_p);
    free(xbar);
    free(grad);
    free(grad_only);
}

Test(mlp, backward_matches_finite_differences_in_parameters_and_inputs_for_every_activation)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int c = 0; c < N_CASES; c++) {
            fixture f = make_fixture(&SHAPES[si], case_hidden(c), case_output(c), 0, 30 * si + c);
            check_backward(&f);
            free_fixture(&f);
        }
    REPORT_WORST("backward");
}

/* ---- tangents ------------------------------------------------------------ */

typedef struct direction {
    fixture *f;
    pf_mlp_tape *tape; /* a second tape: f's holds the tangent pass under test */
    int t;
    double *x_moved;
} direction;

/* s (1 value) ↦ y(x + s·ẋ_t), where ẋ_t is tangent t of every sample. */
static void along_tangent_fn(void *ctx, const double *s, double *y)
{
    direction *d = ctx;
    const fixture *f = d->f;
    const int n_in = f->mlp.width[0];
    for (int b = 0; b < f->B; b++)
        for (int i = 0; i < n_in; i++)
            d->x_moved[(size_t)b * n_in + i] =
                f->x[(size_t)b * n_in + i] + s[0] * f->xdot[((size_t)b * f->T + d->t) * n_in + i];
    pf_mlp_forward(&f->mlp, f->params, d->tape, f->B, d->x_moved, y);
}

/* ẏ_t = J ẋ_t vs the FD derivative of y along ẋ_t, for each of the T tangents. */
static void check_tangent(fixture *f)
{
    const size_t m = n_outputs(f);
    const int n_out = f->mlp.width[f->mlp.n_layers];
    direction d = {f, NULL, 0, malloc(n_inputs(f) * sizeof(double))};
    cr_assert_eq(pf_mlp_tape_create(&f->mlp, f->B, 0, &d.tape), PF_OK);
    double *fd = malloc(m * sizeof *fd), *ours = malloc(m * sizeof *ours);
    double *scratch = malloc(4 * m * sizeof *scratch), s = 0.0;
    objective(f);
    for (d.t = 0; d.t < f->T; d.t++) {
        pft_fd_jacobian(along_tangent_fn, &d, m, 1, &s, FD_STEP, fd, scratch);
        for (int b = 0; b < f->B; b++)
            memcpy(ours + (size_t)b * n_out, f->ydot + ((size_t)b * f->T + d.t) * n_out,
                   (size_t)n_out * sizeof *ours);
        expect_agreement(pft_rel_err(m, ours, fd, FLOOR), "tangent vs FD directional derivative",
                         f);
    }
    pf_mlp_tape_destroy(d.tape);
    free(d.x_moved);
    free(fd);
    free(ours);
    free(scratch);
}

Test(mlp, tangents_match_finite_difference_directional_derivatives_with_one_and_three_tangents)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int c = 0; c < N_CASES; c++)
            for (int T = 1; T <= 3; T += 2) {
                fixture f = make_fixture(&SHAPES[si], case_hidden(c), case_output(c), T,
                                         40 * si + c + 7 * T);
                check_tangent(&f);
                free_fixture(&f);
            }
    REPORT_WORST("tangents");
}

/* grad, x̄ and ẋ̄ of Σ ȳ·y + Σ ẏ̄·ẏ vs FD (ȳ = 0 passed as NULL if !with_ybar). */
static void check_tangent_backward(fixture *f, int with_ybar)
{
    const size_t nx = n_inputs(f), np = f->mlp.n_params, nxd = nx * f->T;
    if (!with_ybar)
        memset(f->ybar, 0, n_outputs(f) * sizeof *f->ybar);
    double *fd_p = fd_gradient(f, f->params, np), *fd_x = fd_gradient(f, f->x, nx);
    double *fd_xd = fd_gradient(f, f->xdot, nxd);
    double *grad = calloc(np, sizeof *grad), *xbar = calloc(nx, sizeof *xbar);
    double *xdotbar = calloc(nxd, sizeof *xdotbar);
    objective(f);
    pf_mlp_tangent_backward(&f->mlp, f->params, f->tape, f->B, f->T, with_ybar ? f->ybar : NULL,
                            f->ydotbar, grad, xbar, xdotbar);
    expect_agreement(pft_rel_err(np, grad, fd_p, FLOOR), "tangent backward θ̄", f);
    expect_agreement(pft_rel_err(nx, xbar, fd_x, FLOOR), "tangent backward x̄", f);
    expect_agreement(pft_rel_err(nxd, xdotbar, fd_xd, FLOOR), "tangent backward ẋ̄", f);
    free(fd_p);
    free(fd_x);
    free(fd_xd);
    free(grad);
    free(xbar);
    free(xdotbar);
}

Test(mlp, tangent_backward_matches_finite_differences_in_parameters_inputs_and_tangents)
{
    for (int si = 0; si < N_SHAPES; si++)
        for (int c = 0; c < N_CASES; c++) {
            const int T = c % 2 ? 3 : 1, with_ybar = c % 4 != 3;
            fixture f = make_fixture(&SHAPES[si], case_hidden(c), case_output(c), T, 50 * si + c);
            check_tangent_backward(&f, with_ybar);
            free_fixture(&f);
        }
    REPORT_WORST("tangent backward");
}

Test(mlp, tangent_backward_with_zero_tangent_cotangents_equals_backward)
{
    fixture f = make_fixture(&SHAPES[3], PF_ACT_SOFTPLUS, PF_ACT_TANH, 2, 11);
    const size_t nx = n_inputs(&f), np = f.mlp.n_params;
    memset(f.ydotbar, 0, n_outputs(&f) * f.T * sizeof *f.ydotbar);
    double *g1 = calloc(np, sizeof *g1), *g2 = calloc(np, sizeof *g2);
    double *x1 = calloc(nx, sizeof *x1), *x2 = calloc(nx, sizeof *x2);
    double *xdotbar = calloc(nx * f.T, sizeof *xdotbar);
    objective(&f);
    pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, g1, x1);
    pf_mlp_tangent_backward(&f.mlp, f.params, f.tape, f.B, f.T, f.ybar, f.ydotbar, g2, x2, xdotbar);
    double eg = pft_max_rel_err(np, g2, g1, 1e-12), ex = pft_max_rel_err(nx, x2, x1, 1e-12);
    cr_assert_lt(eg, 1e-13, "θ̄: max relative error %.3g", eg);
    cr_assert_lt(ex, 1e-13, "x̄: max relative error %.3g", ex);
    cr_assert_eq(pft_max_abs(nx * f.T, xdotbar), 0.0);
    free(g1);
    free(g2);
    free(x1);
    free(x2);
    free(xdotbar);
    free_fixture(&f);
}

/* ---- accumulation -------------------------------------------------------- */

/* buffer (n) must hold start + 2·once, up to rounding. */
static void expect_start_plus_twice(size_t n, const double *buffer, const double *start,
                                    const double *once, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double expected = start[i] + 2 * once[i];
        cr_assert_float_eq(buffer[i], expected, 1e-13 * (fabs(start[i]) + fabs(once[i]) + 1e-300),
                           "%s[%zu] = %.17g, expected start + 2·once = %.17g", what, i, buffer[i],
                           expected);
    }
}

/* Each pass called once into zeroed buffers gives `once`; called twice into
 * buffers holding random `start` values it must give start + 2·once. */
Test(mlp, every_gradient_accumulates_into_caller_buffers)
{
    fixture f = make_fixture(&SHAPES[3], PF_ACT_TANH, PF_ACT_SOFTPLUS, 2, 7);
    const size_t nx = n_inputs(&f), np = f.mlp.n_params, nxd = nx * f.T;
    double *once[3], *start[3], *twice[3];
    const size_t sizes[3] = {np, nx, nxd};
    for (int k = 0; k < 3; k++) {
        once[k] = calloc(sizes[k], sizeof(double));
        start[k] = malloc(sizes[k] * sizeof(double));
        twice[k] = malloc(sizes[k] * sizeof(double));
        pft_fill_normal(60 + k, sizes[k], start[k], 1.0);
    }
    objective(&f);
    for (int pass = 0; pass < 3; pass++) {
        for (int k = 0; k < 3; k++) {
            memset(once[k], 0, sizes[k] * sizeof(double));
            memcpy(twice[k], start[k], sizes[k] * sizeof(double));
        }
        for (int call = 0; call < 3; call++) {
            double **out = call == 0 ? once : twice;
            if (pass == 0)
                pf_mlp_vjp_input(&f.mlp, f.params, f.tape, f.B, f.ybar, out[1]);
            else if (pass == 1)
                pf_mlp_backward(&f.mlp, f.params, f.tape, f.B, f.ybar, out[0], out[1]);
            else
                pf_mlp_tangent_backward(&f.mlp, f.params, f.tape, f.B, f.T, f.ybar, f.ydotbar,
                                        out[0], out[1], out[2]);
        }
        const char *names[3] = {"vjp_input", "backward", "tangent_backward"};
        cr_log_info("checking %s", names[pass]);
        expect_start_plus_twice(nx, twice[1], start[1], once[1], "x̄");
        if (pass >= 1)
            expect_start_plus_twice(np, twice[0], start[0], once[0], "θ̄");
        if (pass == 2)
            expect_start_plus_twice(nxd, twice[2], start[2], once[2], "ẋ̄");
        cr_assert_gt(pft_max_abs(nx, once[1]), 0.0, "%s: x̄ is all zero", names[pass]);
    }
    for (int k = 0; k < 3; k++) {
        free(once[k]);
        free(start[k]);
        free(twice[k]);
    }
    free_fixture(&f);
}

/* ---- initialisation ------------------------------------------------------ */

Test(mlp, zero_last_layer_outputs_the_output_activation_of_zero_for_any_input)
{
    const double at_zero[] = {0.0, 0.0, log(2.0), 0.0, 0.0}; /* σ(0) in the order of ACTS */
    for (int ai = 0; ai < N_ACTS; ai++) {
        fixture f = make_fixture(WIDE_SHAPE, PF_ACT_SOFTPLUS, ACTS[ai], 2, 8 + ai);
        pf_rng rng = pf_rng_make(1, 2);
        pf_mlp_init_params(&f.mlp, f.params, &rng, 1);
        pft_fill_normal(80 + ai, n_inputs(&f), f.x, 10.0);
        objective(&f);
        for (size_t i = 0; i < n_outputs(&f); i++)
            cr_assert_float_eq(f.y[i], at_zero[ai], 1e-15, "%s: y[%zu] = %.17g",
                               pf_activation_name(ACTS[ai]), i, f.y[i]);
        cr_assert_eq(pft_max_abs(n_outputs(&f) * f.T, f.ydot), 0.0, "tangents of a zero layer");
        if (ACTS[ai] == PF_ACT_IDENTITY)
            cr_assert_eq(pft_max_abs(n_outputs(&f), f.y), 0.0, "identity output is exactly 0");
        free_fixture(&f);
    }
}

Test(mlp, init_params_draws_weights_of_variance_one_over_fan_in_and_zero_biases)
{
    pf_mlp mlp;
    const shape *s = WIDE_SHAPE;
    cr_assert_eq(
        pf_mlp_init(&mlp, s->n_in, s->n_hidden, s->hidden, s->n_out, PF_ACT_TANH, PF_ACT_IDENTITY),
        PF_OK);
    double *p = malloc(mlp.n_params * sizeof *p), *q = malloc(mlp.n_params * sizeof *q);
    pft_fill_normal(3, mlp.n_params, p, 1.0); /* garbage the init must overwrite */
    pf_rng rng = pf_rng_make(5, 0), same = pf_rng_make(5, 0);
    pf_mlp_init_params(&mlp, p, &rng, 0);
    pf_mlp_init_params(&mlp, q, &same, 0);
    cr_assert_eq(memcmp(p, q, mlp.n_params * sizeof *p), 0, "not reproducible from the rng");
    cr_assert_gt(rng.next_normal, 0, "the normal cursor did not advance");
    for (int l = 0; l < mlp.n_layers; l++) {
        const size_t n_w = (size_t)mlp.width[l + 1] * mlp.width[l];
        double sum_sq = 0;
        for (size_t i = 0; i < n_w; i++)
            sum_sq += p[mlp.w_offset[l] + i] * p[mlp.w_offset[l] + i];
        /* the variance estimate from ≥ 192 draws is within ±40 % with ≥ 4σ margin */
        const double ratio = sum_sq / n_w * mlp.width[l];
        cr_assert(ratio > 0.6 && ratio < 1.4, "layer %d: variance · n_in = %g", l, ratio);
        cr_assert_eq(pft_max_abs((size_t)mlp.width[l + 1], p + mlp.b_offset[l]), 0.0,
                     "layer %d: biases not zero", l);
    }
    free(p);
    free(q);
}

/* ---- activations --------------------------------------------------------- */

Test(mlp, activation_derivatives_match_finite_differences)
{
    const double z[7] = {-3.1, -0.7, -0.2, 0.3, 0.9, 2.5, 6.0}, h = 1e-5;
    double worst = 0;
    for (int ai = 0; ai < N_ACTS; ai++) {
        double s[7], ds[7], d2s[7];
        pf_activation_eval(ACTS[ai], 7, z, s, ds, d2s);
        for (int i = 0; i < 7; i++) {
            double zz[4] = {z[i] - 2 * h, z[i] - h, z[i] + h, z[i] + 2 * h}, sv[4], dv[4];
            pf_activation_eval(ACTS[ai], 4, zz, sv, dv, NULL);
            double fd1 = (sv[0] - 8 * sv[1] + 8 * sv[2] - sv[3]) / (12 * h);
            double fd2 = (dv[0] - 8 * dv[1] + 8 * dv[2] - dv[3]) / (12 * h);
            const char *name = pf_activation_name(ACTS[ai]);
            cr_assert_float_eq(s[i], reference_activation(ACTS[ai], z[i]), 1e-15, "%s(%g)", name,
                               z[i]);
            cr_assert_float_eq(ds[i], fd1, 1e-9, "%s'(%g) = %.17g, FD %.17g", name, z[i], ds[i],
                               fd1);
            cr_assert_float_eq(d2s[i], fd2, 1e-9, "%s''(%g) = %.17g, FD %.17g", name, z[i], d2s[i],
                               fd2);
            worst = fmax(worst, fmax(fabs(ds[i] - fd1), fabs(d2s[i] - fd2)));
        }
    }
    cr_log_info("σ', σ'' vs FD: worst absolute error %.3g", worst);
}

Test(mlp, relu_derivative_at_the_kink_is_the_left_derivative)
{
    const double zero = 0.0;
    double s, ds, d2s;
    pf_activation_eval(PF_ACT_RELU, 1, &zero, &s, &ds, &d2s);
    cr_assert(s == 0.0 && ds == 0.0 && d2s == 0.0, "relu at 0: %g %g %g", s, ds, d2s);
    pf_activation_eval(PF_ACT_LEAKY_RELU, 1, &zero, &s, &ds, &d2s);
    cr_assert(s == 0.0 && ds == 0.01 && d2s == 0.0, "leaky relu at 0: %g %g %g", s, ds, d2s);
}

Test(mlp, softplus_is_finite_and_accurate_for_large_arguments)
{
    /* softplus(−40) = log1p(e^−40) = e^−40 (1 − e^−40/2 …) = e^−40 to double
     * precision; softplus(40) = 40 + e^−40 = 40; e^−800 underflows to 0, which is
     * the correctly rounded softplus(−800) and logistic(−800). */
    const double z[6] = {800, -800, 40, -40, 0, 1e-300};
    const double s_true[6] = {800, 0, 40, exp(-40), log(2.0), log(2.0)};
    const double ds_true[6] = {1, 0, 1, exp(-40), 0.5, 0.5};
    double s[6], ds[6], d2s[6];
    pf_activation_eval(PF_ACT_SOFTPLUS, 6, z, s, ds, d2s);
    for (int i = 0; i < 6; i++) {
        cr_assert(isfinite(s[i]) && isfinite(ds[i]) && isfinite(d2s[i]),
                  "softplus(%g) = %g, σ' = %g, σ'' = %g", z[i], s[i], ds[i], d2s[i]);
        cr_assert_float_eq(s[i], s_true[i], 1e-15 * fabs(s_true[i]) + 1e-300,
                           "softplus(%g) = %.17g, expected %.17g", z[i], s[i], s_true[i]);
        cr_assert_float_eq(ds[i], ds_true[i], 1e-15 * fabs(ds_true[i]) + 1e-300,
                           "softplus'(%g) = %.17g, expected %.17g", z[i], ds[i], ds_true[i]);
        cr_assert(d2s[i] >= 0 && d2s[i] <= 0.25, "softplus''(%g) = %g", z[i], d2s[i]);
    }
}

/* σ, σ', σ'' of tanh and softplus in long double: the references. softplus
 * through e = e^{−|z|}, σ'' = e / (1 + e)², so that no reference cancels. */
static void exact_activation(pf_activation act, double z, long double out[3])
{
    const long double x = z;
    if (act == PF_ACT_TANH) {
        const long double t = tanhl(x), c = coshl(x), slope = 1.0L / (c * c);
        out[0] = t;
        out[1] = slope;
        out[2] = -2.0L * t * slope;
        return;
    }
    const long double e = expl(-fabsl(x));
    out[0] = (x > 0 ? x : 0.0L) + log1pl(e);
    out[1] = (x >= 0 ? 1.0L : e) / (1.0L + e);
    out[2] = e / ((1.0L + e) * (1.0L + e));
}

/* |got − exact| in units of DBL_EPSILON · max(|exact|, floor): relative error
 * in ulps-like units where the value is large, absolute below `floor`. */
static double scaled_error(double got, long double exact, double floor)
{
    if (isinf((double)exact) || isinf(got))
        return got == (double)exact ? 0.0 : INFINITY;
    const long double scale = fmaxl(fabsl(exact), floor) * DBL_EPSILON;
    return (double)(fabsl((long double)got - exact) / (scale > 0 ? scale : DBL_TRUE_MIN));
}

/* Bounds of the test below, in units of DBL_EPSILON (2.2e-16), for the SIMD
 * levels (twice them for the scalar glibc level): σ relative to its value; σ'
 * and σ'' of tanh relative to max(|σ'|, 1), i.e. absolute (they are formed as
 * 1 − σ² and −2σσ', which cancel where they are tiny, harmlessly for a
 * gradient); σ' and σ'' of softplus relative (absolute below DBL_MIN, where
 * they are subnormal). Measured on an AVX-512 machine (logged): tanh 0.50 /
 * 1.00 / 2.00 (glibc 1.08 / 1.07 / 1.48), softplus 0.98 / 1.41 / 2.25. */
static const double ACTIVATION_BOUND[2][3] = {{1.5, 3.0, 6.0}, {2.0, 2.0, 4.0}};

Test(mlp, activations_and_their_derivatives_are_accurate_at_every_simd_level)
{
    enum { N_GRID = 20001, N_EXTRA = 20 };
    static const double extra[N_EXTRA] = {0.0,   -0.0,  1e-300,  -1e-300,  5e-324,   -5e-324,  1e-8,
                                          -1e-8, 700,   -700,    740,      -740,     800,      -800,
                                          1e10,  -1e10, DBL_MAX, -DBL_MAX, INFINITY, -INFINITY};
    static double z[N_GRID + N_EXTRA], s[N_GRID + N_EXTRA], ds[N_GRID + N_EXTRA],
        d2s[N_GRID + N_EXTRA];
    const size_t n = N_GRID + N_EXTRA;
    for (int i = 0; i < N_GRID; i++)
        z[i] = -40.0 + 80.0 * i / (N_GRID - 1);
    memcpy(z + N_GRID, extra, sizeof extra);
    const pf_simd saved = pf_simd_active();
    const pf_activation acts[2] = {PF_ACT_TANH, PF_ACT_SOFTPLUS};
    for (int level = PF_SIMD_SCALAR; level <= (int)pf_simd_best(); level++) {
        pf_simd_use((pf_simd)level);
        for (int a = 0; a < 2; a++) {
            pf_activation_eval(acts[a], n, z, s, ds, d2s);
            double worst[3] = {0, 0, 0};
            for (size_t i = 0; i < n; i++) {
                long double ex[3];
                exact_activation(acts[a], z[i], ex);
                const double got[3] = {s[i], ds[i], d2s[i]};
                for (int k = 0; k < 3; k++) {
                    const double floor = (a == 0 && k > 0) ? 1.0 : DBL_MIN;
                    const double e = scaled_error(got[k], ex[k], floor);
                    cr_assert_leq(e, ACTIVATION_BOUND[a][k] * (level == PF_SIMD_SCALAR ? 2 : 1),
                                  "%s %s: derivative %d at z = %.17g: %.17g, exact %.17Lg (%.3g ε)",
                                  pf_simd_name((pf_simd)level), pf_activation_name(acts[a]), k,
                                  z[i], got[k], ex[k], e);
                    worst[k] = fmax(worst[k], e);
                }
            }
            cr_log_info("%s %s: worst σ %.2f ε, σ' %.2f ε, σ'' %.2f ε (%zu points)",
                        pf_simd_name((pf_simd)level), pf_activation_name(acts[a]), worst[0],
                        worst[1], worst[2], n);
        }
    }
    pf_simd_use(saved);
}

Test(mlp, activations_of_nan_are_nan_and_the_passes_equal_the_whole_evaluation)
{
    enum { N = 1031 }; /* > 2 blocks, ragged */
    static double z[N], s[N], ds[N], d2s[N], s2[N], ds2[N], d2s2[N];
    pft_fill_normal(21, N, z, 3.0);
    z[N - 1] = NAN;
    for (int ai = 0; ai < N_ACTS; ai++) {
        const pf_activation act = ACTS[ai];
        pf_activation_eval(act, N, z, s, ds, d2s);
        pf_activation_value(act, N, z, s2);
        pf_activation_slope(act, N, z, s2, ds2);
        pf_activation_curvature(act, N, z, s2, ds2, d2s2);
        cr_assert_eq(memcmp(s, s2, (N - 1) * sizeof *s), 0, "%s: σ", pf_activation_name(act));
        cr_assert_eq(memcmp(ds, ds2, (N - 1) * sizeof *s), 0, "%s: σ'", pf_activation_name(act));
        cr_assert_eq(memcmp(d2s, d2s2, (N - 1) * sizeof *s), 0, "%s: σ''", pf_activation_name(act));
        if (act == PF_ACT_TANH || act == PF_ACT_SOFTPLUS || act == PF_ACT_IDENTITY)
            cr_assert(isnan(s[N - 1]) && isnan(s2[N - 1]), "%s(NaN) = %g", pf_activation_name(act),
                      s[N - 1]);
        if (act == PF_ACT_TANH || act == PF_ACT_SOFTPLUS)
            cr_assert(isnan(ds[N - 1]) && isnan(d2s[N - 1]), "%s'(NaN) = %g",
                      pf_activation_name(act), ds[N - 1]);
        double only_ds[N];
        pf_activation_eval(act, N, z, NULL, only_ds, NULL); /* σ' without storing σ */
        cr_assert_eq(memcmp(ds, only_ds, (N - 1) * sizeof *s), 0, "%s: σ' alone",
                     pf_activation_name(act));
        memcpy(s2, z, sizeof s2);
        pf_activation_value(act, N, s2, s2); /* in place */
        cr_assert_eq(memcmp(s, s2, (N - 1) * sizeof *s), 0, "%s: in place",
                     pf_activation_name(act));
    }
}

/* The MLP passes at the scalar level and at the best SIMD level agree to a
 * few ulps (the gradient tests above run at the best level). */
Test(mlp, every_pass_agrees_between_the_scalar_and_the_simd_activations)
{
    const shape *s = WIDE_SHAPE;
    const pf_simd saved = pf_simd_active();
    for (int c = 0; c < N_CASES; c++) {
        double *out[2][4];
        for (int level = 0; level < 2; level++) {
            pf_simd_use(level ? pf_simd_best() : PF_SIMD_SCALAR);
            fixture f = make_fixture(s, case_hidden(c), case_output(c), 3, 31);
            double *grad = calloc(f.mlp.n_params, sizeof *grad);
            double *xbar = calloc(n_inputs(&f), sizeof *xbar);
            double *xdotbar = calloc(n_inputs(&f) * 3, sizeof *xdotbar);
            objective(&f);
            pf_mlp_tangent_backward(&f.mlp, f.params, f.tape, f.B, 3, f.ybar, f.ydotbar, grad, xbar,
                                    xdotbar);
            out[level][0] = malloc(n_outputs(&f) * 3 * sizeof(double));
            memcpy(out[level][0], f.ydot, n_outputs(&f) * 3 * sizeof(double));
            out[level][1] = grad;
            out[level][2] = xbar;
            out[level][3] = xdotbar;
            const size_t sizes[4] = {n_outputs(&f) * 3, f.mlp.n_params, n_inputs(&f),
                                     n_inputs(&f) * 3};
            if (level == 1)
                for (int k = 0; k < 4; k++) {
                    const double err = pft_rel_err(sizes[k], out[0][k], out[1][k], 1e-300);
                    cr_assert_lt(err, 1e-13, "hidden %s, output %s, output %d: %.3g",
                                 pf_activation_name(case_hidden(c)),
                                 pf_activation_name(case_output(c)), k, err);
                }
            free_fixture(&f);
        }
        for (int level = 0; level < 2; level++)
            for (int k = 0; k < 4; k++)
                free(out[level][k]);
    }
    pf_simd_use(saved);
}

/* A second forward replaces what the first left in the tape (σ' is computed
 * on demand and must not be reused from the first). */
Test(mlp, a_new_forward_invalidates_the_derivatives_of_the_previous_one)
{
    for (int c = 0; c < N_CASES; c++) {
        fixture f = make_fixture(WIDE_SHAPE, case_hidden(c), case_output(c), 2, 41);
        fixture g = make_fixture(WIDE_SHAPE, case_hidden(c), case_output(c), 2, 41);
        const size_t nx = n_inputs(&f);
        double *x_other = malloc(nx * sizeof *x_other), *xbar_f = calloc(nx, sizeof(double));
        double *xbar_g = calloc(nx, sizeof(double));
        double *gf = calloc(f.mlp.n_params, sizeof(double)),
               *gg = calloc(g.mlp.n_params, sizeof(double));
        pft_fill_normal(43, nx, x_other, 2.0);
        pf_mlp_forward(&f.mlp, f.params, f.tape, f.B, x_other, f.y); /* first point */
        pf_mlp_tangent(&f.mlp, f.params, f.tape, f.B, 2, f.xdot, f.ydot);
        pf_mlp_vjp_input(&f.mlp, f.params, f.tape, f.B, f.ybar, xbar_f);
        memset(xbar_f, 0, nx * sizeof *xbar_f);
        objective(&f); /* second point: the fixture's x */
        pf_mlp_tangent_backward(&f.mlp, f.params, f.tape, f.B, 2, f.ybar, f.ydotbar, gf, xbar_f,
                                NULL);
        objective(&g); /* a fresh tape at the second point */
        pf_mlp_tangent_backward(&g.mlp, g.params, g.tape, g.B, 2, g.ybar, g.ydotbar, gg, xbar_g,
                                NULL);
        cr_assert_eq(memcmp(gf, gg, f.mlp.n_params * sizeof *gf), 0, "case %d: θ̄ differs", c);
        cr_assert_eq(memcmp(xbar_f, xbar_g, nx * sizeof *xbar_f), 0, "case %d: x̄ differs", c);
        free(x_other);
        free(xbar_f);
        free(xbar_g);
        free(gf);
        free(gg);
        free_fixture(&f);
        free_fixture(&g);
    }
}

/* ---- errors -------------------------------------------------------------- */

Test(mlp, activation_names_round_trip_and_a_misspelt_name_is_refused_naming_it)
{
    pf_activation act;
    for (int ai = 0; ai < N_ACTS; ai++) {
        cr_assert_eq(pf_activation_from_name(pf_activation_name(ACTS[ai]), &act), PF_OK);
        cr_assert_eq(act, ACTS[ai]);
    }
    cr_assert_eq(pf_activation_from_name("tanhh", &act), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "tanhh"), "names the string: %s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "leaky_relu"), "lists the valid names: %s",
                       pf_last_error());
    cr_assert_eq(pf_activation_from_name(NULL, &act), PF_ERR_ARG);
    cr_assert_str_eq(pf_activation_name((pf_activation)42), "(not an activation)");
}

/* pf_mlp_init must refuse the description and name `field` in its message. */
static void expect_refused(int n_in, int n_hidden, const int *hidden, int n_out,
                           pf_activation hidden_act, pf_activation output_act, const char *field)
{
    pf_mlp mlp;
    cr_assert_eq(pf_mlp_init(&mlp, n_in, n_hidden, hidden, n_out, hidden_act, output_act),
                 PF_ERR_ARG, "accepted a description with a bad %s", field);
    cr_assert_not_null(strstr(pf_last_error(), field), "message should name %s: %s", field,
                       pf_last_error());
    cr_assert_eq(mlp.n_layers, 0, "a refused description leaves n_layers = 0");
}

Test(mlp, invalid_descriptions_are_refused_with_a_message_naming_the_field)
{
    const int hidden[4] = {4, 4, 0, 4};
    int fine[PF_MLP_MAX_LAYERS];
    for (int l = 0; l < PF_MLP_MAX_LAYERS; l++)
        fine[l] = 2;
    const pf_activation tanh_act = PF_ACT_TANH, id = PF_ACT_IDENTITY;
    expect_refused(2, 4, hidden, 1, tanh_act, id, "hidden[2] = 0");
    expect_refused(0, 1, fine, 1, tanh_act, id, "n_in = 0");
    expect_refused(2, 1, fine, -3, tanh_act, id, "n_out = -3");
    expect_refused(2, PF_MLP_MAX_LAYERS, fine, 1, tanh_act, id, "n_hidden");
    expect_refused(2, -1, fine, 1, tanh_act, id, "n_hidden");
    expect_refused(2, 2, NULL, 1, tanh_act, id, "hidden is NULL");
    expect_refused(2, 1, fine, 1, (pf_activation)17, id, "hidden_act = 17");
    expect_refused(2, 1, fine, 1, tanh_act, (pf_activation)-1, "output_act");
    pf_mlp mlp;
    cr_assert_eq(pf_mlp_init(&mlp, 2, PF_MLP_MAX_LAYERS - 1, fine, 1, tanh_act, id), PF_OK,
                 "the deepest allowed MLP: %s", pf_last_error());
    cr_assert_eq(mlp.n_layers, PF_MLP_MAX_LAYERS);
}

Test(mlp, tape_creation_refuses_bad_sizes_and_uninitialised_mlps)
{
    pf_mlp mlp;
    pf_mlp_tape *tape = (pf_mlp_tape *)&mlp; /* must be reset to NULL on failure */
    cr_assert_eq(pf_mlp_init(&mlp, 2, 0, NULL, 1, PF_ACT_TANH, PF_ACT_IDENTITY), PF_OK);
    cr_assert_eq(pf_mlp_tape_create(&mlp, 0, 0, &tape), PF_ERR_ARG);
    cr_assert_null(tape);
    cr_assert_not_null(strstr(pf_last_error(), "B_max = 0"), "%s", pf_last_error());
    cr_assert_eq(pf_mlp_tape_create(&mlp, 4, -1, &tape), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "T_max = -1"), "%s", pf_last_error());
    pf_mlp empty;
    memset(&empty, 0, sizeof empty);
    cr_assert_eq(pf_mlp_tape_create(&empty, 4, 0, &tape), PF_ERR_ARG);
    cr_assert_eq(pf_mlp_tape_create(&mlp, 4, 0, &tape), PF_OK);
    pf_mlp_tape_destroy(tape);
    pf_mlp_tape_destroy(NULL);
}

/* pf_activation_backward: z̄ = s̄ ⊙ σ'(z) bit for bit against the slope pass,
 * over more than one block and a ragged tail, at z with both signs, zeros,
 * subnormals and infinities; for activations that need no z
 * (pf_activation_needs_input = 0), also with σ computed in place over z. */
Test(mlp, activation_backward_equals_the_slope_times_the_cotangent_and_works_in_place)
{
    enum { N = 1301 };
    static double z[N], s[N], inplace[N], sbar[N], ds[N], expected[N], got[N], got_inplace[N];
    for (int act = 0; act < PF_N_ACTIVATIONS; act++) {
        pft_fill_normal(70u + (unsigned)act, N, z, 3.0);
        pft_fill_normal(80u + (unsigned)act, N, sbar, 1.0);
        z[0] = 0.0; z[1] = -0.0; z[2] = 5e-324; z[3] = -5e-324; z[4] = INFINITY; z[5] = -INFINITY;
        pf_activation_value((pf_activation)act, N, z, s);
        pf_activation_slope((pf_activation)act, N, z, s, ds);
        for (int i = 0; i < N; i++)
            expected[i] = sbar[i] * ds[i];
        pf_activation_backward((pf_activation)act, N, z, s, sbar, got);
        cr_assert(memcmp(got, expected, sizeof got) == 0, "%s",
                  pf_activation_name((pf_activation)act));
        if (pf_activation_needs_input((pf_activation)act))
            continue;
        memcpy(inplace, z, sizeof inplace);
        pf_activation_value((pf_activation)act, N, inplace, inplace);
        pf_activation_backward((pf_activation)act, N, inplace, inplace, sbar, got_inplace);
        cr_assert(memcmp(got_inplace, expected, sizeof got) == 0, "%s in place",
                  pf_activation_name((pf_activation)act));
    }
}
