/* `pathflow hmc CONFIG -o FILE.npy [-n N] [--step E] [--leapfrog K]
 *  [--thermalize T] [--thin S] [--seed SEED] [--set key=value ...]`:
 * reference samples of the config's target by Hybrid Monte Carlo, written as
 * an (N, d) float64 .npy (training data for forward KL on φ⁴ and U(1)). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>

#include "cli/commands.h"
#include "core/npy.h"

static int usage(void)
{
    fprintf(stderr, "usage: pathflow hmc CONFIG -o FILE.npy [-n N] [--step E] [--leapfrog K]\n"
                    "                    [--thermalize T] [--thin S] [--seed SEED] [--set key=value ...]\n");
    return 2;
}

int pf_cli_hmc(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("hmc", stdout);
    const char *config = NULL, *out = NULL;
    const char **overrides = calloc((size_t)argc, sizeof *overrides);
    int n_overrides = 0;
    pf_hmc_options o = pf_hmc_options_default();
    unsigned long long seed = o.seed;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-o") == 0 && next)
            out = argv[++i];
        else if (strcmp(a, "-n") == 0 && next)
            bad = pf_cli_int_option("hmc", a, argv[++i], 1, INT_MAX, &o.n_samples);
        else if (strcmp(a, "--step") == 0 && next)
            bad = pf_cli_positive_option("hmc", a, argv[++i], &o.step_size);
        else if (strcmp(a, "--leapfrog") == 0 && next)
            bad = pf_cli_int_option("hmc", a, argv[++i], 1, INT_MAX, &o.n_leapfrog);
        else if (strcmp(a, "--thermalize") == 0 && next)
            bad = pf_cli_int_option("hmc", a, argv[++i], 0, INT_MAX, &o.thermalize);
        else if (strcmp(a, "--thin") == 0 && next)
            bad = pf_cli_int_option("hmc", a, argv[++i], 1, INT_MAX, &o.thin);
        else if (strcmp(a, "--seed") == 0 && next)
            bad = pf_cli_seed_option("hmc", a, argv[++i], &seed);
        else if (strcmp(a, "--set") == 0 && next)
            overrides[n_overrides++] = argv[++i];
        else if (a[0] != '-' && !config)
            config = a;
        else {
            fprintf(stderr, "pathflow hmc: unexpected argument '%s'\n", a);
            free(overrides);
            return usage();
        }
    }
    o.seed = seed;
    if (bad) {
        free(overrides);
        return 2;
    }
    if (!config || !out) {
        free(overrides);
        return usage();
    }
    pf_experiment *e = NULL;
    pf_status st = pf_experiment_load(config, overrides, n_overrides, &e);
    free(overrides);
    if (st == PF_OK) /* the target only: data.file may be the file about to be written */
        st = pf_experiment_build_target(e);
    double *x = NULL, acceptance = 0;
    int d = 0;
    if (st == PF_OK) {
        pf_target *t = pf_experiment_target(e);
        d = pf_target_dim(t);
        x = malloc((size_t)(o.n_samples > 0 ? o.n_samples : 1) * d * sizeof *x);
        st = x ? pf_target_hmc(t, &o, NULL, x, &acceptance) : PF_ERR_NOMEM;
    }
    if (st == PF_OK) {
        size_t shape[2] = {(size_t)o.n_samples, (size_t)d};
        st = pf_npy_write(out, 2, shape, x);
    }
    if (st == PF_OK)
        fprintf(stderr, "pathflow hmc: %d samples of the %s target (acceptance %.3f) in %s\n",
                o.n_samples, pf_target_kind(pf_experiment_target(e)), acceptance, out);
    free(x);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
