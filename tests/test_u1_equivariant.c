/* Tests for src/flows/u1_equivariant.c (docs/theory.md §6, §4.3): gauge equivariance,
 * inversion by root finding, log-determinants against finite-difference
 * Jacobians, the score recursion, and the estimators on an implicit flow. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>
#include <pathflow/train.h>

#include "core/linalg.h"
#include "targets/u1_lattice.h"
#include "testutil.h"

enum { L = 4, V = L * L, D = 2 * V, BMAX = 64 };
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

/* ---- physics: the exact plaquette of 2-D U(1) on a periodic lattice ----------
 * Z = Σ_{n∈ℤ} I_n(β)^V (character expansion), so
 * ⟨cos P⟩ = Σ_n I_n^{V−1} I_n' / Σ_n I_n^V with I_n' = (I_{n−1} + I_{n+1})/2. */
static double bessel_i(int n, double x)
{
    n = abs(n);
    double term = pow(x / 2, n), sum = 0;
    for (int k = 1; k <= n; k++)
        term /= k;
    for (int k = 0; k < 60; k++) {
        sum += term;
        term *= (x / 2) * (x / 2) / ((k + 1.0) * (k + 1.0 + n));
    }
    return sum;
}

static double exact_plaquette(double beta, int volume)
{
    double num = 0, den = 0;
    for (int n = -10; n <= 10; n++) {
        double In = bessel_i(n, beta), dIn = 0.5 * (bessel_i(n - 1, beta) + bessel_i(n + 1, beta));
        num += pow(In, volume - 1) * dIn;
        den += pow(In, volume);
    }
    return num / den;
}

/* Mean and standard error of a chain by binning (bins of `bin`). */
static void binned_mean(int n, const double *v, int bin, double *mean, double *se)
{
    int nb = n / bin;
    double s = 0, s2 = 0;
    for (int b = 0; b < nb; b++) {
        double m = 0;
        for (int i = 0; i < bin; i++)
            m += v[b * bin + i] / bin;
        s += m;
        s2 += m * m;
    }
    *mean = s / nb;
    *se = sqrt((s2 / nb - *mean * *mean) / (nb - 1));
}

Test(u1_equivariant, hmc_reproduces_the_exact_plaquette)
{
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, 1.5, &t), PF_OK);
    pf_hmc_options o = pf_hmc_options_default();
    o.n_samples = 4000;
    o.thin = 2;
    o.step_size = 0.15;
    double *x = malloc((size_t)o.n_samples * D * sizeof *x), *obs = malloc(2 * (size_t)o.n_samples * sizeof *obs);
    double acceptance, *plaq = malloc((size_t)o.n_samples * sizeof *plaq), mean, se;
    cr_assert_eq(pf_target_hmc(t, &o, NULL, x, &acceptance), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_target_observables(t, o.n_samples, x, obs), PF_OK);
    for (int i = 0; i < o.n_samples; i++)
        plaq[i] = obs[2 * i];
    binned_mean(o.n_samples, plaq, 100, &mean, &se);
    double exact = exact_plaquette(1.5, V);
    cr_log_info("HMC ⟨cos P⟩ = %.4f ± %.4f, exact %.4f, acceptance %.2f", mean, se, exact, acceptance);
    cr_assert_gt(acceptance, 0.5);
    cr_assert_lt(fabs(mean - exact), 5 * se, "HMC %.4f ± %.4f vs exact %.4f", mean, se, exact);
    free(x);
    free(obs);
    free(plaq);
    pf_target_destroy(t);
}

Test(u1_equivariant, short_training_raises_ess_and_the_reweighted_plaquette_matches_hmc)
{
    const double beta = 1.5;
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, beta, &t), PF_OK);
    pf_u1_flow_options fo = pf_u1_flow_options_default();
    fo.L0 = fo.L1 = L;
    fo.n_layers = 8;
    fo.seed = 3;
    pf_flow *flow;
    cr_assert_eq(pf_flow_u1_create(&fo, &flow), PF_OK);
    pf_train_options to = pf_train_options_default();
    to.batch = 64;
    to.steps = 300;
    to.lr = 3e-3;
    to.eval_samples = 4000;
    to.eval_every = 300;
    pf_trainer *tr;
    cr_assert_eq(pf_trainer_create(flow, t, &to, &tr), PF_OK, "%s", pf_last_error());
    pf_metrics before, after;
    cr_assert_eq(pf_trainer_evaluate(tr, &before), PF_OK);
    cr_assert_eq(pf_trainer_run(tr, NULL, NULL), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_evaluate(tr, &after), PF_OK);
    cr_log_info("U(1) 4×4 β = %.1f: reverse ESS %.3f untrained → %.3f after %ld steps", beta,
                before.ess, after.ess, to.steps);
    cr_assert_gt(after.ess, fmax(0.1, 10 * before.ess), "ESS %.3f → %.3f", before.ess, after.ess);
    /* reweighted ⟨cos P⟩ from flow samples vs HMC (and the exact value) */
    enum { N = 4096 }; /* a multiple of the 64-row chunks below */
    double *z = malloc((size_t)N * D * sizeof *z), *x = malloc((size_t)N * D * sizeof *x);
    double *ldj = malloc(N * sizeof *ldj), *lq0 = malloc(N * sizeof *lq0), *S = malloc(N * sizeof *S);
    double *obs = malloc(2 * N * sizeof *obs), lw_max = -INFINITY;
    pf_rng rng = pf_rng_make(77, 0);
    for (int off = 0; off < N; off += BMAX) { /* the flow is reserved for 64 rows */
        pf_flow_sample_base(flow, &rng, BMAX, z + (size_t)off * D);
        pf_flow_forward(flow, BMAX, z + (size_t)off * D, x + (size_t)off * D, ldj + off, NULL, NULL);
    }
    pf_flow_base_log_prob(flow, N, z, lq0, NULL);
    pf_target_action(t, N, x, S);
    pf_target_observables(t, N, x, obs);
    for (int i = 0; i < N; i++) {
        S[i] = -S[i] - (lq0[i] - ldj[i]); /* log w */
        lw_max = fmax(lw_max, S[i]);
    }
    double sw = 0, swf = 0;
    for (int i = 0; i < N; i++) {
        double w = exp(S[i] - lw_max);
        sw += w;
        swf += w * obs[2 * i];
    }
    double mu = swf / sw, var = 0;
    for (int i = 0; i < N; i++) {
        double w = exp(S[i] - lw_max) / sw;
        var += w * w * (obs[2 * i] - mu) * (obs[2 * i] - mu);
    }
    double se_flow = sqrt(var);
    pf_hmc_options ho = pf_hmc_options_default();
    ho.n_samples = 4000;
    ho.thin = 2;
    ho.step_size = 0.15;
    double *xh = malloc((size_t)ho.n_samples * D * sizeof *xh), *oh = malloc(2 * (size_t)ho.n_samples * sizeof *oh);
    double *ph = malloc((size_t)ho.n_samples * sizeof *ph), acc, mu_h, se_h;
    cr_assert_eq(pf_target_hmc(t, &ho, NULL, xh, &acc), PF_OK);
    pf_target_observables(t, ho.n_samples, xh, oh);
    for (int i = 0; i < ho.n_samples; i++)
        ph[i] = oh[2 * i];
    binned_mean(ho.n_samples, ph, 100, &mu_h, &se_h);
    double se = sqrt(se_flow * se_flow + se_h * se_h);
    cr_log_info("⟨cos P⟩: flow %.4f ± %.4f, HMC %.4f ± %.4f, exact %.4f", mu, se_flow, mu_h, se_h,
                exact_plaquette(beta, V));
    cr_assert_lt(fabs(mu - mu_h), 5 * se, "flow %.4f vs HMC %.4f (combined SE %.4f)", mu, mu_h, se);
    free(z); free(x); free(ldj); free(lq0); free(S); free(obs); free(xh); free(oh); free(ph);
    pf_trainer_destroy(tr);
    pf_flow_destroy(flow);
    pf_target_destroy(t);
}
