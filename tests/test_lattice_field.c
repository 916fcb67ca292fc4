/* Tests for ode/lattice_field.c and the CNF with the lattice field: every
 * derivative against finite differences, the exact divergence against the
 * trace of a finite-difference Jacobian, equivariance under translations,
 * rotations/reflections and φ → −φ (of the field and of the whole flow's
 * density), path = path-dropin and total = FD of the loss through the CNF,
 * all six estimators on a φ⁴ target, and reweighted observables of a
 * briefly trained flow against HMC. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/experiment.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#include "ode/field.h"
#include "testutil.h"

enum { L0 = 5, L1 = 6, V = L0 * L1, B = 3 };

typedef struct lf {
    pf_field *field;
    double *params;
    double t;
} lf;

static pf_cnf_options lattice_options(int l0, int l1, int odd, int symmetric, double radius)
{
    pf_cnf_options o = pf_cnf_options_default();
    o.field = "lattice";
    o.n_lattice = 2;
    o.lattice[0] = l0;
    o.lattice[1] = l1;
    o.dim = l0 * l1;
    o.features = 3;
    o.frequency = 2.5;
    o.odd = odd;
    o.time_basis = 3;
    o.radius = radius;
    o.symmetric = symmetric;
    o.t1 = 1.3;
    return o;
}

static lf make_lf(int odd, int symmetric, double radius, uint64_t seed)
{
    lf f;
    pf_cnf_options o = lattice_options(L0, L1, odd, symmetric, radius);
    cr_assert_eq(pf_field_lattice_create(&o, &f.field), PF_OK, "%s", pf_last_error());
    cr_assert_eq(f.field->ops->reserve(f.field, B), PF_OK);
    f.params = malloc(f.field->n_params * sizeof *f.params);
    pft_fill_normal(seed, f.field->n_params, f.params, 0.5);
    f.t = 0.41;
    return f;
}

static void free_lf(lf *f)
{
    pf_field_destroy(f->field);
    free(f->params);
}

static void eval_f(lf *f, int n, const double *x, double *out)
{
    double div[B], *tmp = malloc((size_t)n * V * sizeof *tmp);
    f->field->ops->eval_div(f->field, f->params, n, f->t, x, tmp, div, NULL, NULL);
    memcpy(out, tmp, (size_t)n * V * sizeof *out);
    free(tmp);
}

static void f_one(void *ctx, const double *x, double *out)
{
    eval_f(ctx, 1, x, out);
}

/* The field configurations every derivative test runs over. */
static const struct {
    int odd, symmetric;
    double radius;
} CASES[] = {{1, 1, 1.0}, {0, 1, 1.5}, {1, 0, 2.0}, {0, 0, 0.0}};
enum { N_CASES = 4 };

Test(lattice_field, exact_divergence_is_the_trace_of_the_finite_difference_jacobian)
{
    for (int c = 0; c < N_CASES; c++) {
        lf f = make_lf(CASES[c].odd, CASES[c].symmetric, CASES[c].radius, 10 + c);
        double x[B * V], fx[B * V], div[B], *J = malloc(V * V * sizeof *J), scratch[4 * V];
        pft_fill_normal(20 + c, B * V, x, 1.0);
        f.field->ops->eval_div(f.field, f.params, B, f.t, x, fx, div, NULL, NULL);
        for (int b = 0; b < B; b++) {
            pft_fd_jacobian(f_one, &f, V, V, x + b * V, 1e-4, J, scratch);
            double trace = 0;
            for (int i = 0; i < V; i++)
                trace += J[i * V + i];
            cr_assert_float_eq(div[b], trace, 1e-8, "case %d sample %d: div %.12g vs tr J %.12g",
                               c, b, div[b], trace);
        }
        cr_assert_gt(fabs(div[0]), 1e-3, "the divergence should not vanish");
        free(J);
        free_lf(&f);
    }
}

/* Σ_b [λ_b·f(x_b) + w_b div f(x_b)]; FD perturbs θ or a copy of x. */
typedef struct scalar_ctx {
    lf *f;
    const double *x, *lambda, *w;
    double *xcopy;
    int wrt_params;
} scalar_ctx;

static double adjoint_scalar(void *p, const double *unused)
{
    (void)unused;
    scalar_ctx *c = p;
    double fx[B * V], div[B], s = 0;
    const double *x = c->wrt_params ? c->x : c->xcopy;
    c->f->field->ops->eval_div(c->f->field, c->f->params, B, c->f->t, x, fx, div, NULL, NULL);
    for (int i = 0; i < B * V; i++)
        s += c->lambda[i] * fx[i];
    for (int b = 0; b < B; b++)
        s += c->w[b] * div[b];
    return s;
}

/* (∂f)ᵀλ, ∇ₓ div f and ∂_θ of both, against finite differences, with
 * per-sample weights w and with w = 0 (first order only). */
static void check_adjoint(int c)
{
    lf f = make_lf(CASES[c].odd, CASES[c].symmetric, CASES[c].radius, 30 + c);
    const size_t np = f.field->n_params;
    double x[B * V], lambda[B * V], w[B], zeros[B] = {0}, dl[B * V], fd_x[B * V], xcopy[B * V];
    double *grad = malloc(np * sizeof *grad), *fd_p = malloc(np * sizeof *fd_p);
    pft_fill_normal(40 + c, B * V, x, 1.0);
    pft_fill_normal(50 + c, B * V, lambda, 1.0);
    pft_fill_normal(60 + c, B, w, 1.0);
    for (int with_w = 0; with_w < 2; with_w++) {
        memcpy(xcopy, x, sizeof x);
        scalar_ctx cp = {&f, x, lambda, with_w ? w : zeros, NULL, 1};
        scalar_ctx cx = {&f, x, lambda, with_w ? w : zeros, xcopy, 0};
        pft_fd_gradient(adjoint_scalar, &cp, np, f.params, 1e-5, fd_p);
        pft_fd_gradient(adjoint_scalar, &cx, B * V, xcopy, 1e-5, fd_x);
        f.field->ops->adjoint(f.field, f.params, B, f.t, x, lambda, with_w ? w : NULL, dl, grad);
        for (size_t i = 0; i < np; i++)
            grad[i] = -grad[i];
        for (int i = 0; i < B * V; i++)
            dl[i] = -dl[i];
        double ep = pft_rel_err(np, grad, fd_p, 1e-8), ex = pft_rel_err(B * V, dl, fd_x, 1e-8);
        cr_assert_lt(ep, 1e-7, "case %d w %d: θ part rel err %g", c, with_w, ep);
        cr_assert_lt(ex, 1e-7, "case %d w %d: x part rel err %g", c, with_w, ex);
        cr_assert_gt(pft_max_abs(np, grad), 1e-3);
    }
    free(grad);
    free(fd_p);
    free_lf(&f);
}

Test(lattice_field, vjps_divergence_gradients_and_parameter_gradients_match_finite_differences)
{
    for (int c = 0; c < N_CASES; c++)
        check_adjoint(c);
}

/* The score term −(∂f)ᵀg − ∇ div f, from ∇ div f alone (FD of div in x,
 * g = 0) and from the first-order part alone (FD of g·f, ∇div removed). */
Test(lattice_field, score_term_matches_finite_differences_of_its_two_parts)
{
    for (int c = 0; c < N_CASES; c++) {
        lf f = make_lf(CASES[c].odd, CASES[c].symmetric, CASES[c].radius, 70 + c);
        double x[B * V], g[B * V], zero[B * V] = {0}, ones[B] = {1, 1, 1}, nw[B] = {0};
        double fx[B * V], div[B], dg[B * V], fd_div[B * V], fd_g[B * V], xcopy[B * V];
        pft_fill_normal(80 + c, B * V, x, 1.0);
        pft_fill_normal(90 + c, B * V, g, 1.0);
        memcpy(xcopy, x, sizeof x);
        scalar_ctx cd = {&f, x, zero, ones, xcopy, 0}, cg = {&f, x, g, nw, xcopy, 0};
        pft_fd_gradient(adjoint_scalar, &cd, B * V, xcopy, 1e-5, fd_div);
        pft_fd_gradient(adjoint_scalar, &cg, B * V, xcopy, 1e-5, fd_g);
        f.field->ops->eval_div(f.field, f.params, B, f.t, x, fx, div, g, dg);
        double want[B * V];
        for (int i = 0; i < B * V; i++)
            want[i] = -fd_g[i] - fd_div[i];
        double e = pft_rel_err(B * V, dg, want, 1e-8);
        cr_assert_lt(e, 1e-7, "case %d: score term rel err %g", c, e);
        cr_assert_gt(pft_max_abs(B * V, fd_div), 1e-3, "∇ div f should not vanish");
        free_lf(&f);
    }
}

/* y[x] = x[(x0 + a, x1 + b)] on an l0×l1 lattice (periodic). */
static void shift(int l0, int l1, const double *in, int a, int b, double *out)
{
    for (int i = 0; i < l0; i++)
        for (int j = 0; j < l1; j++)
            out[i * l1 + j] = in[((i + a) % l0) * l1 + (j + b) % l1];
}

/* y[(i, j)] = x[(j, −i)]: a quarter turn of a square lattice. */
static void rotate(int l, const double *in, double *out)
{
    for (int i = 0; i < l; i++)
        for (int j = 0; j < l; j++)
            out[i * l + j] = in[j * l + (l - i) % l];
}

Test(lattice_field, shifted_input_gives_shifted_output_and_odd_features_an_odd_field)
{
    lf f = make_lf(1, 0, 2.0, 100);
    double x[B * V], y[B * V], fx[B * V], fy[B * V], sfx[B * V], div[B], divy[B];
    pft_fill_normal(101, B * V, x, 1.0);
    for (int b = 0; b < B; b++)
        shift(L0, L1, x + b * V, 2, 5, y + b * V);
    f.field->ops->eval_div(f.field, f.params, B, f.t, x, fx, div, NULL, NULL);
    f.field->ops->eval_div(f.field, f.params, B, f.t, y, fy, divy, NULL, NULL);
    for (int b = 0; b < B; b++)
        shift(L0, L1, fx + b * V, 2, 5, sfx + b * V);
    cr_assert_lt(pft_max_rel_err(B * V, fy, sfx, 1e-12), 1e-13);
    cr_assert_lt(pft_max_rel_err(B, div, divy, 1e-12), 1e-12);
    for (int i = 0; i < B * V; i++) /* φ → −φ */
        y[i] = -x[i];
    f.field->ops->eval_div(f.field, f.params, B, f.t, y, fy, divy, NULL, NULL);
    for (int i = 0; i < B * V; i++)
        fy[i] = -fy[i];
    cr_assert_lt(pft_max_rel_err(B * V, fy, fx, 1e-12), 1e-13);
    cr_assert_lt(pft_max_rel_err(B, div, divy, 1e-12), 1e-12);
    free_lf(&f);
    /* with cosine features the field is not odd: the check can fail */
    lf g = make_lf(0, 0, 2.0, 100);
    g.field->ops->eval_div(g.field, g.params, B, g.t, x, fx, div, NULL, NULL);
    g.field->ops->eval_div(g.field, g.params, B, g.t, y, fy, divy, NULL, NULL);
    for (int i = 0; i < B * V; i++)
        fy[i] = -fy[i];
    cr_assert_gt(pft_max_rel_err(B * V, fy, fx, 1e-12), 1e-3);
    free_lf(&g);
}

Test(lattice_field, symmetric_kernels_commute_with_quarter_turns_plain_ones_do_not)
{
    enum { L = 6, N = L * L };
    for (int sym = 0; sym < 2; sym++) {
        pf_cnf_options o = lattice_options(L, L, 1, sym, 2.0);
        pf_field *field;
        cr_assert_eq(pf_field_lattice_create(&o, &field), PF_OK);
        cr_assert_eq(field->ops->reserve(field, 1), PF_OK);
        double *p = malloc(field->n_params * sizeof *p), x[N], y[N], fx[N], fy[N], rfx[N], d[1];
        pft_fill_normal(110 + sym, field->n_params, p, 0.5);
        pft_fill_normal(120, N, x, 1.0);
        rotate(L, x, y);
        field->ops->eval_div(field, p, 1, 0.3, x, fx, d, NULL, NULL);
        field->ops->eval_div(field, p, 1, 0.3, y, fy, d, NULL, NULL);
        rotate(L, fx, rfx);
        double e = pft_max_rel_err(N, fy, rfx, 1e-12);
        if (sym)
            cr_assert_lt(e, 1e-13, "symmetric kernel: rotation error %g", e);
        else
            cr_assert_gt(e, 1e-3, "a plain kernel should not be rotation symmetric");
        free(p);
        pf_field_destroy(field);
    }
}

Test(lattice_field, parameter_count_does_not_depend_on_the_lattice_size)
{
    pf_cnf_options a = lattice_options(6, 6, 1, 1, 2.0), b = lattice_options(16, 12, 1, 1, 2.0);
    pf_field *fa, *fb;
    cr_assert_eq(pf_field_lattice_create(&a, &fa), PF_OK);
    cr_assert_eq(pf_field_lattice_create(&b, &fb), PF_OK);
    cr_assert_eq(fa->n_params, fb->n_params);
    /* radius 2 in 2D: classes (0,0), (1,0), (1,1), (2,0); G = 1 + 3; K = 3 */
    cr_assert_eq(fa->n_params, 4 * 4 * 3);
    pf_field_destroy(fa);
    pf_field_destroy(fb);
    pf_cnf_options c = lattice_options(4, 8, 1, 1, 2.0);
    pf_field *fc;
    cr_assert_neq(pf_field_lattice_create(&c, &fc), PF_OK, "a width-5 kernel on extent 4");
    cr_assert(strstr(pf_last_error(), "extent 4") != NULL, "%s", pf_last_error());
}

/* ---- the CNF with the lattice field ------------------------------------- */

static pf_flow *make_lattice_cnf(int l0, int l1, double tol, unsigned long long seed)
{
    pf_cnf_options o = lattice_options(l0, l1, 1, 1, 1.0);
    o.zero_init = 0;
    o.init_scale = 0.8;
    o.seed = seed;
    o.rtol = o.atol = tol;
    o.max_steps = 100000;
    pf_flow *flow;
    cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_reserve(flow, 16), PF_OK);
    cr_assert(pf_flow_size_independent(flow));
    return flow;
}

Test(lattice_cnf, log_density_is_invariant_under_shifts_and_sign_flips)
{
    enum { l0 = 4, l1 = 5, d = l0 * l1, N = 4 };
    pf_flow *flow = make_lattice_cnf(l0, l1, 1e-10, 3);
    double x[N * d], y[N * d], z[N * d], zy[N * d], sz[N * d], ldj[N], ldjy[N];
    pft_fill_normal(130, N * d, x, 1.2);
    for (int b = 0; b < N; b++)
        shift(l0, l1, x + b * d, 1, 3, y + b * d);
    cr_assert_eq(pf_flow_inverse(flow, N, x, z, ldj, NULL, NULL), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_flow_inverse(flow, N, y, zy, ldjy, NULL, NULL), PF_OK);
    for (int b = 0; b < N; b++)
        shift(l0, l1, z + b * d, 1, 3, sz + b * d);
    cr_assert_gt(pft_rel_err(N * d, z, x, 1e-300), 0.05, "the field should move the samples");
    cr_assert_lt(pft_max_rel_err(N * d, zy, sz, 1e-6), 1e-7);
    for (int b = 0; b < N; b++) /* the base is shift invariant: equal log-densities */
        cr_assert_float_eq(ldj[b], ldjy[b], 1e-8 * (1 + fabs(ldj[b])));
    for (int i = 0; i < N * d; i++)
        y[i] = -x[i];
    cr_assert_eq(pf_flow_inverse(flow, N, y, zy, ldjy, NULL, NULL), PF_OK);
    for (int i = 0; i < N * d; i++)
        zy[i] = -zy[i];
    cr_assert_lt(pft_max_rel_err(N * d, zy, z, 1e-6), 1e-7);
    for (int b = 0; b < N; b++)
        cr_assert_float_eq(ldj[b], ldjy[b], 1e-8 * (1 + fabs(ldj[b])));
    pf_flow_destroy(flow);
}

static void estimator_gradient(pf_objective obj, pf_estimator_kind kind, pf_flow *flow,
                               pf_target *t, int n, const double *in, double *grad,
                               pf_estimate *r)
{
    pf_estimator *e;
    cr_assert_eq(pf_estimator_create(obj, kind, flow, t, 16, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_estimator_eval(e, n, in, grad, NULL, r), PF_OK, "%s", pf_last_error());
    pf_estimator_destroy(e);
}

Test(lattice_cnf, path_equals_path_dropin_for_both_objectives_and_all_six_estimators_run)
{
    enum { l0 = 4, l1 = 4, d = l0 * l1, N = 6 };
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(l0, l1, 0.25, 0.5, &t), PF_OK);
    pf_flow *flow = make_lattice_cnf(l0, l1, 1e-10, 5);
    const size_t n = pf_flow_n_params(flow);
    double *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2), in[N * d];
    pf_estimate r;
    for (int obj = 0; obj < 2; obj++) {
        pf_rng rng = pf_rng_make(140 + obj, 0);
        pf_flow_sample_base(flow, &rng, N, in); /* forward: any points serve as data */
        estimator_gradient((pf_objective)obj, PF_ESTIMATOR_PATH, flow, t, N, in, g1, &r);
        estimator_gradient((pf_objective)obj, PF_ESTIMATOR_PATH_DROPIN, flow, t, N, in, g2, &r);
        double e = pft_rel_err(n, g1, g2, 1e-300);
        cr_log_info("lattice %s: path vs path-dropin rel err %.3g", obj ? "forward" : "reverse", e);
        cr_assert_lt(e, 1e-6, "%s: path vs path-dropin rel err %g", obj ? "forward" : "reverse", e);
        cr_assert_gt(pft_max_abs(n, g1), 1e-3);
        pf_estimator_kind other = obj ? PF_ESTIMATOR_ML : PF_ESTIMATOR_TOTAL;
        estimator_gradient((pf_objective)obj, other, flow, t, N, in, g2, &r);
        cr_assert(isfinite(r.loss) && pft_max_abs(n, g2) > 1e-3 && isfinite(pft_max_abs(n, g2)));
    }
    free(g1);
    free(g2);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

typedef struct loss_ctx {
    pf_estimator *e;
    int n;
    const double *in;
    double *scratch;
} loss_ctx;

static double loss_of_params(void *p, const double *unused)
{
    (void)unused;
    loss_ctx *c = p;
    pf_estimate r;
    cr_assert_eq(pf_estimator_eval(c->e, c->n, c->in, c->scratch, NULL, &r), PF_OK);
    return r.loss;
}

Test(lattice_cnf, total_and_ml_gradients_match_finite_differences_of_the_loss)
{
    enum { l0 = 3, l1 = 4, d = l0 * l1, N = 4 };
    pf_target *t;
    cr_assert_eq(pf_target_phi4_create(l0, l1, 0.25, 0.5, &t), PF_OK);
    pf_flow *flow = make_lattice_cnf(l0, l1, 1e-11, 7);
    const size_t n = pf_flow_n_params(flow);
    const pf_estimator_kind kinds[2] = {PF_ESTIMATOR_TOTAL, PF_ESTIMATOR_ML};
    double *g = malloc(n * sizeof *g), *fd = malloc(n * sizeof *fd), *s = malloc(n * sizeof *s);
    for (int obj = 0; obj < 2; obj++) {
        double in[N * d];
        pf_rng rng = pf_rng_make(150 + obj, 0);
        pf_flow_sample_base(flow, &rng, N, in);
        pf_estimator *e;
        cr_assert_eq(pf_estimator_create((pf_objective)obj, kinds[obj], flow, t, N, &e), PF_OK);
        pf_estimate r;
        cr_assert_eq(pf_estimator_eval(e, N, in, g, NULL, &r), PF_OK, "%s", pf_last_error());
        loss_ctx c = {e, N, in, s};
        pft_fd_gradient(loss_of_params, &c, n, pf_flow_params(flow), 1e-4, fd);
        double err = pft_rel_err(n, g, fd, 1e-8);
        cr_log_info("lattice %s vs FD: rel err %.3g", pf_estimator_kind_name(kinds[obj]), err);
        cr_assert_lt(err, 1e-5, "%s vs FD: rel err %g", pf_estimator_kind_name(kinds[obj]), err);
        pf_estimator_destroy(e);
    }
    free(g);
    free(fd);
    free(s);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}

Test(lattice_cnf, one_set_of_parameters_defines_the_flow_on_two_lattice_sizes)
{
    /* The same θ on 4×4 and 8×8: an 8×8 field that repeats a 4×4 one twice in
     * each direction is mapped to the repetition of the 4×4 image. */
    pf_flow *small = make_lattice_cnf(4, 4, 1e-10, 9), *large = make_lattice_cnf(8, 8, 1e-10, 9);
    cr_assert_eq(pf_flow_n_params(small), pf_flow_n_params(large));
    memcpy(pf_flow_params(large), pf_flow_params(small), pf_flow_n_params(small) * sizeof(double));
    double z[16], x[16], big_z[64], big_x[64], ldj[1], big_ldj[1];
    pft_fill_normal(160, 16, z, 1.0);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            big_z[i * 8 + j] = z[(i % 4) * 4 + j % 4];
    cr_assert_eq(pf_flow_forward(small, 1, z, x, ldj, NULL, NULL), PF_OK);
    cr_assert_eq(pf_flow_forward(large, 1, big_z, big_x, big_ldj, NULL, NULL), PF_OK);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            cr_assert_float_eq(big_x[i * 8 + j], x[(i % 4) * 4 + j % 4], 1e-7);
    cr_assert_float_eq(big_ldj[0], 4 * ldj[0], 1e-7 * (1 + fabs(ldj[0])));
    pf_flow_destroy(small);
    pf_flow_destroy(large);
}

/* ---- a trained lattice CNF against HMC ------------------------------------ */

/* Mean and error of column k of obs (N×n): reweighted by w with a jackknife
 * over K blocks (w = NULL: plain means of a Markov chain, blocks long enough
 * to absorb its autocorrelation). */
static void block_estimate(int N, int n, const double *obs, const double *w, int k, int K,
                           double *mean, double *err)
{
    double sw = 0, swx = 0, bw[64] = {0}, bwx[64] = {0};
    for (int i = 0; i < N; i++) {
        const int blk = (int)((long)i * K / N);
        const double wi = w ? w[i] : 1.0;
        bw[blk] += wi;
        bwx[blk] += wi * obs[(size_t)i * n + k];
        sw += wi;
        swx += wi * obs[(size_t)i * n + k];
    }
    *mean = swx / sw;
    double s2 = 0;
    for (int b = 0; b < K; b++) {
        const double loo = (swx - bwx[b]) / (sw - bw[b]);
        s2 += (loo - *mean) * (loo - *mean);
    }
    *err = sqrt(s2 * (K - 1) / K);
}

/* A short reverse-KL training of the lattice CNF on 4×4 φ⁴ (κ = 0.25,
 * λ = 0.5); its importance-reweighted observables must agree with an HMC
 * chain of the same target within 3 combined errors (unweighted flow
 * samples do not: |M| is off by many errors). */
Test(lattice_cnf, reweighted_observables_of_a_trained_flow_agree_with_hmc, .timeout = 120)
{
    enum { L = 4, d = L * L, N = 4096, CHUNK = 256, K = 32 };
    FILE *f = fopen("lattice_cnf_hmc.cfg", "w");
    cr_assert_not_null(f);
    fputs("target: { kind = \"phi4\"; lattice = [4, 4]; kappa = 0.25; lambda = 0.5; }\n"
          "flow: { kind = \"cnf\"; field = \"lattice\"; features = 6; radius = 1.5; }\n"
          "ode: { rtol = 1e-4; atol = 1e-4; }\n"
          "training: { objective = \"reverse\"; estimator = \"path\"; batch = 64; steps = 60;\n"
          "            lr = 1e-2; }\n"
          "eval: { every = 1000; samples = 256; }\n",
          f);
    fclose(f);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("lattice_cnf_hmc.cfg", NULL, 0, &e), PF_OK, "%s",
                 pf_last_error());
    cr_assert_eq(pf_experiment_run(e, "lattice_cnf_hmc_run", NULL, NULL), PF_OK, "%s",
                 pf_last_error());
    pf_flow *flow = pf_experiment_flow(e);
    pf_target *t = pf_experiment_target(e);
    const int n = pf_target_n_observables(t);
    double *x = malloc((size_t)N * d * sizeof *x), *lw = malloc(N * sizeof *lw);
    double *w = malloc(N * sizeof *w), *obs = malloc((size_t)N * n * sizeof *obs);
    double *hmc_obs = malloc((size_t)N * n * sizeof *hmc_obs), ldj[CHUNK], lq0[CHUNK];
    cr_assert_eq(pf_flow_reserve(flow, CHUNK), PF_OK);
    pf_rng rng = pf_rng_make(170, 0);
    for (int off = 0; off < N; off += CHUNK) {
        double *xo = x + (size_t)off * d;
        pf_flow_sample_base(flow, &rng, CHUNK, xo);
        pf_flow_base_log_prob(flow, CHUNK, xo, lq0, NULL);
        cr_assert_eq(pf_flow_forward(flow, CHUNK, xo, xo, ldj, NULL, NULL), PF_OK);
        cr_assert_eq(pf_target_action(t, CHUNK, xo, lw + off), PF_OK);
        for (int i = 0; i < CHUNK; i++)
            lw[off + i] = -lw[off + i] - (lq0[i] - ldj[i]);
    }
    const double ess = pf_reverse_ess(N, lw);
    cr_log_info("4x4 lattice CNF after 60 steps: reverse ESS %.3f", ess);
    cr_assert_gt(ess, 0.3, "the short training should give a usable sampler, ESS %g", ess);
    double lmax = lw[0];
    for (int i = 0; i < N; i++)
        lmax = fmax(lmax, lw[i]);
    for (int i = 0; i < N; i++)
        w[i] = exp(lw[i] - lmax);
    cr_assert_eq(pf_target_observables(t, N, x, obs), PF_OK);
    pf_hmc_options ho = pf_hmc_options_default();
    ho.n_samples = N;
    ho.thermalize = 200;
    ho.thin = 2;
    ho.seed = 171;
    double acceptance;
    cr_assert_eq(pf_target_hmc(t, &ho, NULL, x, &acceptance), PF_OK, "%s", pf_last_error());
    cr_assert_gt(acceptance, 0.5);
    cr_assert_eq(pf_target_observables(t, N, x, hmc_obs), PF_OK);
    for (int k = 0; k < n; k++) {
        double m1, e1, m2, e2;
        block_estimate(N, n, obs, w, k, K, &m1, &e1);
        block_estimate(N, n, hmc_obs, NULL, k, K, &m2, &e2);
        const double tol = 3 * sqrt(e1 * e1 + e2 * e2);
        cr_log_info("%s: flow %.4f ± %.4f, hmc %.4f ± %.4f", pf_target_observable_name(t, k), m1,
                    e1, m2, e2);
        cr_assert_gt(e1, 0);
        cr_assert_lt(fabs(m1 - m2), tol, "%s: flow %.5f ± %.5f vs hmc %.5f ± %.5f",
                     pf_target_observable_name(t, k), m1, e1, m2, e2);
    }
    free(x);
    free(lw);
    free(w);
    free(obs);
    free(hmc_obs);
    pf_experiment_destroy(e);
}
