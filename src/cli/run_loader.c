/* Shared by `pathflow sample` and `pathflow eval`: rebuild a trained flow
 * from a run directory (DIR/config.cfg + DIR/checkpoint.pfc) or from a
 * checkpoint file (with the config.cfg beside it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/error.h"

/* The trained run's target, and whether the flow may be rebuilt on another
 * lattice: only a flow whose parameters do not depend on the lattice size. */
static pf_status check_other_lattice(const char *config, const pf_experiment *e)
{
    pf_experiment *trained;
    PF_TRY(pf_experiment_load(config, NULL, 0, &trained));
    pf_status st = pf_experiment_build(trained);
    if (st == PF_OK) {
        int s0[4] = {0}, s1[4] = {0};
        const int n0 = pf_target_shape(pf_experiment_target(trained), s0);
        const int n1 = pf_target_shape(pf_experiment_target((pf_experiment *)e), s1);
        const int same = n0 == n1 && memcmp(s0, s1, sizeof s0) == 0 &&
                         pf_target_dim(pf_experiment_target(trained)) ==
                             pf_target_dim(pf_experiment_target((pf_experiment *)e));
        if (!same && !pf_flow_size_independent(pf_experiment_flow(trained)))
            st = pf_fail(PF_ERR_CONFIG,
                         "--set target.*: %s was trained on another size (dimension %d, now %d) "
                         "and its flow (%s) has parameters that depend on the size; only "
                         "flow.kind = \"cnf\" with flow.field = \"lattice\" can be used on "
                         "another lattice",
                         config, pf_target_dim(pf_experiment_target(trained)),
                         pf_target_dim(pf_experiment_target((pf_experiment *)e)),
                         pf_flow_kind(pf_experiment_flow(trained)));
    }
    pf_experiment_destroy(trained);
    return st;
}

pf_status pf_cli_load_run(const char *arg, pf_experiment **out)
{
    return pf_cli_load_run_with(arg, NULL, 0, out);
}

pf_status pf_cli_load_run_with(const char *arg, const char *const *overrides, int n_overrides,
                               pf_experiment **out)
{
    char config[4200], checkpoint[4200];
    struct stat st;
    *out = NULL;
    for (int i = 0; i < n_overrides; i++)
        if (strncmp(overrides[i], "target.", 7) != 0 && strncmp(overrides[i], "ode.", 4) != 0)
            return pf_fail(PF_ERR_CONFIG,
                           "--set %s: only target and ode keys may change (the flow's keys are "
                           "fixed by its checkpoint)", overrides[i]);
    if (stat(arg, &st) != 0)
        return pf_fail(PF_ERR_IO, "%s: no such run directory or checkpoint", arg);
    if (S_ISDIR(st.st_mode)) {
        snprintf(config, sizeof config, "%s/config.cfg", arg);
        snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.pfc", arg);
    } else {
        const char *slash = strrchr(arg, '/');
        int dir_len = slash ? (int)(slash - arg) : 1;
        snprintf(config, sizeof config, "%.*s/config.cfg", dir_len, slash ? arg : ".");
        snprintf(checkpoint, sizeof checkpoint, "%s", arg);
    }
    pf_experiment *e;
    PF_TRY(pf_experiment_load(config, overrides, n_overrides, &e));
    pf_status s = pf_experiment_build(e);
    if (s == PF_OK && n_overrides > 0)
        s = check_other_lattice(config, e);
    if (s == PF_OK)
        s = pf_flow_load_checkpoint(pf_experiment_flow(e), checkpoint);
    if (s != PF_OK) {
        pf_experiment_destroy(e);
        return s;
    }
    *out = e;
    return PF_OK;
}

/* Samples must be finite and log weights not NaN or +inf (−inf: weight 0),
 * else the flow has diverged: nothing of it is written. */
static pf_status check_finite(int N, int d, const double *x, const double *log_w)
{
    long bad = 0, first = -1;
    for (long i = 0; i < N; i++) {
        int ok = !isnan(log_w[i]) && log_w[i] != INFINITY;
        for (int j = 0; j < d; j++)
            ok = ok && isfinite(x[i * d + j]);
        if (!ok && bad++ == 0)
            first = i;
    }
    if (bad)
        return pf_fail(PF_ERR_NUMERIC,
                       "%ld of %d flow samples or their log weights are non-finite (the first: "
                       "sample %ld); the flow's parameters are finite but it has diverged",
                       bad, N, first);
    return PF_OK;
}

/* N flow samples x (N×d) and their log weights −S − log q, in chunks. */
pf_status pf_cli_draw(pf_experiment *e, uint64_t seed, int N, double **xs, double **log_ws)
{
    pf_flow *flow = pf_experiment_flow(e);
    pf_target *t = pf_experiment_target(e);
    const int d = pf_flow_dim(flow), chunk = 256;
    double *z = malloc((size_t)chunk * d * sizeof *z), ldj[256], lq0[256];
    double *x = *xs = malloc((size_t)N * d * sizeof *x);
    double *log_w = *log_ws = malloc((size_t)N * sizeof *log_w);
    if (!z || !x || !log_w) {
        free(z);
        return pf_fail(PF_ERR_NOMEM, "sampling: cannot allocate %d samples", N);
    }
    pf_status st = pf_flow_reserve(flow, chunk);
    pf_rng rng = pf_rng_make(seed, 0x5A3B1E);
    for (int off = 0; st == PF_OK && off < N; off += chunk) {
        int n = N - off < chunk ? N - off : chunk;
        pf_flow_sample_base(flow, &rng, n, z);
        st = pf_flow_forward(flow, n, z, x + (size_t)off * d, ldj, NULL, NULL);
        pf_flow_base_log_prob(flow, n, z, lq0, NULL);
        if (st == PF_OK)
            st = pf_target_action(t, n, x + (size_t)off * d, log_w + off);
        for (int i = 0; st == PF_OK && i < n; i++)
            log_w[off + i] = -log_w[off + i] - (lq0[i] - ldj[i]);
    }
    free(z);
    return st == PF_OK ? check_finite(N, d, x, log_w) : st;
}
