/* `pathflow eval RUN|CKPT [-n N] [--seed S] [--blocks K]`: diagnostics of a
 * trained flow as a sampler of its target (docs/theory.md §8): reverse ESS; the target's
 * summaries by self-normalised importance reweighting with jackknife errors
 * (K blocks); its per-sample observables along an independence Metropolis
 * chain (proposal q_θ, acceptance min(1, w'/w)) with the acceptance rate,
 * integrated autocorrelation times and errors √(2τ var / N). */
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/train.h>

#include "cli/commands.h"
#include "cli/eval_format.h"
#include "core/error.h"

/* Fewer effective samples than this and the jackknife and Metropolis errors
 * describe the few dominant weights, not the target: eval warns. */
#define EFFECTIVE_MIN 100

/* Summaries on all samples but block j (j < 0: all of them). x: N×d. */
static pf_status summaries_without(pf_target *t, int N, int d, const double *x, const double *lw,
                                   int K, int j, double *xs, double *lws, double *values)
{
    int n = 0, lo = j < 0 ? N : (int)((long)N * j / K), hi = j < 0 ? N : (int)((long)N * (j + 1) / K);
    for (int i = 0; i < N; i++) {
        if (i >= lo && i < hi)
            continue;
        memcpy(xs + (size_t)n * d, x + (size_t)i * d, (size_t)d * sizeof *x);
        lws[n++] = lw[i];
    }
    return pf_target_summaries(t, n, xs, lws, values);
}

/* Integrated autocorrelation time of a chain v (N) by Sokal's window (c = 5). */
static double tau_int(int N, const double *v, double *variance)
{
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++)
        mean += v[i] / N;
    for (int i = 0; i < N; i++)
        var += (v[i] - mean) * (v[i] - mean) / N;
    *variance = var;
    if (var <= 0)
        return 0.5;
    double tau = 0.5;
    for (int lag = 1; lag < N / 2; lag++) {
        double c = 0;
        for (int i = 0; i + lag < N; i++)
            c += (v[i] - mean) * (v[i + lag] - mean);
        tau += c / ((N - lag) * var);
        if (lag >= 5 * tau)
            break;
    }
    return tau;
}

static pf_status reweighted_table(pf_eval_out *o, pf_target *t, int N, int d, const double *x,
                                  const double *lw, int K)
{
    const int ns = pf_target_n_summaries(t);
    double *xs = malloc((size_t)N * d * sizeof *xs), *lws = malloc((size_t)N * sizeof *lws);
    double *all = malloc((size_t)ns * sizeof *all), *jk = malloc((size_t)K * ns * sizeof *jk);
    pf_status st = (xs && lws && all && jk) ? PF_OK : pf_fail(PF_ERR_NOMEM, "eval: no memory");
    if (st == PF_OK)
        st = summaries_without(t, N, d, x, lw, K, -1, xs, lws, all);
    for (int j = 0; st == PF_OK && j < K; j++)
        st = summaries_without(t, N, d, x, lw, K, j, xs, lws, jk + (size_t)j * ns);
    if (st == PF_OK) {
        for (int s = 0; s < ns; s++) {
            double mean = 0, var = 0;
            for (int j = 0; j < K; j++)
                mean += jk[(size_t)j * ns + s] / K;
            for (int j = 0; j < K; j++)
                var += pow(jk[(size_t)j * ns + s] - mean, 2);
            pf_eval_summary(o, pf_target_summary_name(t, s), all[s], sqrt(var * (K - 1) / K));
        }
    }
    free(xs);
    free(lws);
    free(all);
    free(jk);
    return st;
}

/* Independence Metropolis through the samples in order; obs: N×n_obs. */
static pf_status metropolis_table(pf_eval_out *o, pf_target *t, int N, const double *x,
                                  const double *lw, uint64_t seed)
{
    const int no = pf_target_n_observables(t);
    double *obs = malloc((size_t)N * no * sizeof *obs), *chain = malloc((size_t)N * sizeof *chain);
    int *state = malloc((size_t)N * sizeof *state);
    pf_status st = (obs && chain && state) ? pf_target_observables(t, N, x, obs)
                                            : pf_fail(PF_ERR_NOMEM, "eval: no memory");
    long accepted = 0;
    pf_rng rng = pf_rng_make(seed, 0x1AB);
    state[0] = 0;
    for (int i = 1; st == PF_OK && i < N; i++) {
        double u;
        pf_rng_uniform(&rng, 1, &u);
        int accept = log(u) < lw[i] - lw[state[i - 1]];
        state[i] = accept ? i : state[i - 1];
        accepted += accept;
    }
    if (st == PF_OK) {
        pf_eval_acceptance(o, (double)accepted / (N - 1), N - 1);
        for (int k = 0; k < no; k++) {
            double mean = 0, var;
            for (int i = 0; i < N; i++) {
                chain[i] = obs[(size_t)state[i] * no + k];
                mean += chain[i] / N;
            }
            double tau = tau_int(N, chain, &var);
            pf_eval_observable(o, pf_target_observable_name(t, k), mean, sqrt(2 * tau * var / N),
                               tau);
        }
    }
    free(obs);
    free(chain);
    free(state);
    return st;
}

int pf_cli_eval(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("eval", stdout);
    const char *run = NULL;
    int N = 10000, K = 20;
    const char *sets[16];
    int n_sets = 0;
    unsigned long long seed = 2;
    pf_eval_out o = {PF_EVAL_TEXT, stdout, 0, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            if (pf_cli_int_option("eval", "-n", argv[++i], 10, INT_MAX, &N))
                return 2;
        } else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc) {
            if (pf_cli_int_option("eval", "--blocks", argv[++i], 2, INT_MAX, &K))
                return 2;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            if (pf_cli_seed_option("eval", "--seed", argv[++i], &seed))
                return 2;
        }
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && n_sets < 16)
            sets[n_sets++] = argv[++i];
        else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc &&
                 pf_eval_format_parse(argv[i + 1], &o.format))
            i++;
        else if (argv[i][0] != '-' && !run)
            run = argv[i];
        else
            run = NULL, i = argc;
    }
    if (!run || N < 10 || K < 2 || K > N) {
        fprintf(stderr, "usage: pathflow eval RUN|CKPT [-n N ≥ 10] [--seed S] [--blocks K ≥ 2] "
                        "[--format text|csv|json] [--set target.|ode.key=value ...]\n");
        return 2;
    }
    pf_experiment *e;
    pf_status st = pf_cli_load_run_with(run, sets, n_sets, &e);
    if (st != PF_OK)
        return pf_cli_report(st);
    pf_target *t = pf_experiment_target(e);
    const int d = pf_target_dim(t);
    double *x, *lw;
    st = pf_cli_draw(e, seed, N, &x, &lw);
    if (st == PF_OK) {
        const double ess = pf_reverse_ess(N, lw);
        pf_eval_begin(&o, pf_experiment_name(e), pf_target_kind(t), N, ess, K);
        if (!(ess * N >= EFFECTIVE_MIN)) /* NaN too */
            fprintf(stderr,
                    "pathflow eval: warning: ESS·N = %.1f effective samples (< %d): a few "
                    "weights dominate, so the reweighted estimates and all error bars below "
                    "are unreliable; train longer or draw more samples (-n)\n",
                    ess * N, EFFECTIVE_MIN);
        st = reweighted_table(&o, t, N, d, x, lw, K);
    }
    if (st == PF_OK)
        st = metropolis_table(&o, t, N, x, lw, seed);
    if (st == PF_OK)
        pf_eval_end(&o);
    if (st == PF_OK)
        pf_cli_eval_redraw(run, e, N, x, lw);
    free(x);
    free(lw);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
