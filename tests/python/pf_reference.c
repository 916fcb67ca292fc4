/* The C side of the Python bindings' tests: the same computations through the
 * C API, for the tests to compare with what the binding returns.
 *
 *   pf_reference layout
 *     prints "struct field offset" and "struct sizeof size" for every public
 *     structure the binding mirrors with ctypes;
 *   pf_reference grad FLOW TARGET OBJECTIVE ESTIMATOR IN.npy OUT.npy
 *     builds the flow and target below, evaluates the estimator once on the
 *     batch IN.npy (B×d: base samples for reverse, data for forward) and
 *     writes [loss, grad_norm, grad (n_params), log_w (B)] to OUT.npy; prints
 *     the flow's description.
 *
 * Flows (parameters from seed 11, not zero-initialised, so that every
 * gradient is generic): realnvp (2 couplings, [8, 8], checkerboard on
 * lattices), cnf (d 2, [8], rtol = atol = 1e-8), u1 (4×4, 2 couplings, [4]).
 * Targets: mgm (d 2), gmm (2 components, full covariances), phi4 and
 * phi4_mass (4×4), u1 (4×4, β 1), custom (the double well
 * S = 2(x₀² − 1)² + x₁²/2 as C callbacks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/train.h>

#include "core/npy.h"

static int dw_action(void *user, int B, const double *x, double *S)
{
    (void)user;
    for (int b = 0; b < B; b++) {
        double u = x[2 * b] * x[2 * b] - 1.0;
        S[b] = 2.0 * u * u + 0.5 * x[2 * b + 1] * x[2 * b + 1];
    }
    return 0;
}

static int dw_force(void *user, int B, const double *x, double *F)
{
    (void)user;
    for (int b = 0; b < B; b++) {
        F[2 * b] = 8.0 * x[2 * b] * (x[2 * b] * x[2 * b] - 1.0);
        F[2 * b + 1] = x[2 * b + 1];
    }
    return 0;
}

static pf_status make_target(const char *kind, pf_target **t)
{
    if (strcmp(kind, "mgm") == 0)
        return pf_target_mgm_create(2, 1.0, 0.5, t);
    if (strcmp(kind, "gmm") == 0) {
        const double w[2] = {0.3, 0.7}, mu[4] = {-1.0, 0.5, 1.5, -0.5};
        const double cov[8] = {0.5, 0.1, 0.1, 0.3, 0.4, -0.2, -0.2, 0.6};
        return pf_target_gmm_create(2, 2, w, mu, cov, t);
    }
    if (strcmp(kind, "phi4") == 0)
        return pf_target_phi4_create(4, 4, 0.3, 0.02, t);
    if (strcmp(kind, "phi4_mass") == 0)
        return pf_target_phi4_mass_create(4, 4, -1.0, 0.5, t);
    if (strcmp(kind, "u1") == 0)
        return pf_target_u1_create(4, 4, 1.0, t);
    if (strcmp(kind, "custom") == 0)
        return pf_target_custom_create(2, dw_action, dw_force, NULL, t);
    fprintf(stderr, "pf_reference: unknown target '%s'\n", kind);
    return PF_ERR_ARG;
}

static pf_status make_flow(const char *kind, int dim, int lattice, pf_flow **f)
{
    if (strcmp(kind, "realnvp") == 0) {
        pf_realnvp_options o = pf_realnvp_options_default();
        o.dim = dim;
        o.n_layers = 2;
        o.n_hidden = 2;
        o.hidden[0] = o.hidden[1] = 8;
        o.zero_init = 0;
        o.init_scale = 0.5;
        o.seed = 11;
        if (lattice) {
            o.mask = PF_MASK_CHECKERBOARD;
            o.lattice[0] = o.lattice[1] = 4;
        }
        return pf_flow_realnvp_create(&o, f);
    }
    if (strcmp(kind, "cnf") == 0) {
        pf_cnf_options o = pf_cnf_options_default();
        o.dim = dim;
        o.n_hidden = 1;
        o.hidden[0] = 8;
        o.zero_init = 0;
        o.init_scale = 0.5;
        o.seed = 11;
        o.rtol = o.atol = 1e-8;
        return pf_flow_cnf_create(&o, f);
    }
    if (strcmp(kind, "u1") == 0) {
        pf_u1_flow_options o = pf_u1_flow_options_default();
        o.L0 = o.L1 = 4;
        o.n_layers = 2;
        o.n_hidden = 1;
        o.hidden[0] = 4;
        o.zero_init = 0;
        o.init_scale = 0.5;
        o.seed = 11;
        return pf_flow_u1_create(&o, f);
    }
    fprintf(stderr, "pf_reference: unknown flow '%s'\n", kind);
    return PF_ERR_ARG;
}

#define FIELD(s, f) printf("%s %s %zu\n", #s, #f, offsetof(s, f))
#define SIZE(s) printf("%s sizeof %zu\n", #s, sizeof(s))

static int layout(void)
{
    SIZE(pf_rng);
    FIELD(pf_rng, next_rademacher);
    SIZE(pf_hmc_options);
    FIELD(pf_hmc_options, step_size);
    FIELD(pf_hmc_options, seed);
    SIZE(pf_realnvp_options);
    FIELD(pf_realnvp_options, hidden);
    FIELD(pf_realnvp_options, activation);
    FIELD(pf_realnvp_options, mask);
    FIELD(pf_realnvp_options, lattice);
    FIELD(pf_realnvp_options, init_scale);
    FIELD(pf_realnvp_options, seed);
    SIZE(pf_u1_flow_options);
    FIELD(pf_u1_flow_options, hidden);
    FIELD(pf_u1_flow_options, activation);
    FIELD(pf_u1_flow_options, tolerance);
    FIELD(pf_u1_flow_options, init_scale);
    FIELD(pf_u1_flow_options, seed);
    SIZE(pf_cnf_options);
    FIELD(pf_cnf_options, activation);
    FIELD(pf_cnf_options, seed);
    FIELD(pf_cnf_options, t1);
    FIELD(pf_cnf_options, max_steps);
    FIELD(pf_cnf_options, checkpoint_steps);
    FIELD(pf_cnf_options, hutchinson);
    SIZE(pf_ode_stats);
    FIELD(pf_ode_stats, failures);
    SIZE(pf_estimate);
    FIELD(pf_estimate, grad_norm);
    SIZE(pf_train_options);
    FIELD(pf_train_options, batch);
    FIELD(pf_train_options, steps);
    FIELD(pf_train_options, schedule);
    FIELD(pf_train_options, warmup);
    FIELD(pf_train_options, clip_norm);
    FIELD(pf_train_options, eval_every);
    FIELD(pf_train_options, max_bad_steps);
    FIELD(pf_train_options, data);
    FIELD(pf_train_options, n_data);
    FIELD(pf_train_options, holdout);
    FIELD(pf_train_options, n_holdout);
    FIELD(pf_train_options, settings_hash);
    SIZE(pf_metrics);
    FIELD(pf_metrics, loss);
    FIELD(pf_metrics, seconds);
    FIELD(pf_metrics, skipped);
    FIELD(pf_metrics, nfe_backward);
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "pf_reference: %s: %s\n", what, pf_last_error());
    return 1;
}

static int grad(char **argv)
{
    pf_target *t = NULL;
    pf_flow *f = NULL;
    pf_estimator *e = NULL;
    pf_objective obj;
    pf_estimator_kind kind;
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *in = NULL, *out = NULL;
    if (make_target(argv[1], &t) != PF_OK)
        return fail("target");
    const int lattice = strncmp(argv[1], "phi4", 4) == 0;
    if (make_flow(argv[0], pf_target_dim(t), lattice, &f) != PF_OK)
        return fail("flow");
    if (pf_objective_from_name(argv[2], &obj) != PF_OK ||
        pf_estimator_kind_from_name(obj, argv[3], &kind) != PF_OK)
        return fail("estimator name");
    if (pf_npy_read(argv[4], &ndim, shape, &in) != PF_OK)
        return fail("input");
    const int B = (int)shape[0];
    const size_t n = pf_flow_n_params(f);
    out = malloc((2 + n + (size_t)B) * sizeof *out);
    pf_estimate r;
    if (!out || pf_estimator_create(obj, kind, f, t, B, &e) != PF_OK ||
        pf_estimator_eval(e, B, in, out + 2, out + 2 + n, &r) != PF_OK)
        return fail("estimator");
    out[0] = r.loss;
    out[1] = r.grad_norm;
    size_t out_shape[1] = {2 + n + (size_t)B};
    if (pf_npy_write(argv[5], 1, out_shape, out) != PF_OK)
        return fail("output");
    printf("%s\n", pf_flow_describe(f));
    free(in);
    free(out);
    pf_estimator_destroy(e);
    pf_flow_destroy(f);
    pf_target_destroy(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "layout") == 0)
        return layout();
    if (argc == 8 && strcmp(argv[1], "grad") == 0)
        return grad(argv + 2);
    fprintf(stderr, "usage: pf_reference layout | grad FLOW TARGET OBJECTIVE ESTIMATOR IN.npy OUT.npy\n");
    return 2;
}
