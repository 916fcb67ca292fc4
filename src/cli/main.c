/* The pathflow command-line tool: `pathflow <command> [options]`.
 * Maps library statuses to exit codes and prints pf_last_error() messages. */
#include <stdio.h>
#include <string.h>

#include <pathflow/pathflow.h>

#include "bench/bench.h"
#include "cli/commands.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pathflow <command> [options]\n"
                 "commands:\n"
                 "  train CONFIG [--set key=value ...] [--out DIR]\n"
                 "                                train a flow as the config describes; writes\n"
                 "                                config.cfg, metrics.csv, checkpoint.pfc, samples\n"
                 "  hmc CONFIG -o FILE.npy [-n N] [--step E] [--leapfrog K] [--thermalize T] [--thin S]\n"
                 "                                reference samples of the config's target by HMC\n"
                 "  check CONFIG [--set key=value ...]   validate a config and build it, no training\n"
                 "  sample RUN|CKPT -n N -o FILE.npy   flow samples and log weights as .npy\n"
                 "  eval RUN|CKPT [-n N]          ESS, reweighted observables (jackknife) and an\n"
                 "                                independence Metropolis chain (tau_int, errors)\n"
                 "  bench [--quick] [--out DIR]  cost of every estimator on every flow kind\n"
                 "  bench --mpi [--quick] [--out DIR]  under mpirun: data-parallel scaling\n"
                 "  variance CONFIG [--checkpoint F] [--samples N] [--steps S] [--every K]\n"
                 "                                gradient variance of the estimators over training\n"
                 "  --version                     print the library version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pathflow %s\n", pf_version());
        return 0;
    }
    if (strcmp(argv[1], "train") == 0)
        return pf_cli_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "hmc") == 0)
        return pf_cli_hmc(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0)
        return pf_cli_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "sample") == 0)
        return pf_cli_sample(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0)
        return pf_cli_eval(argc - 1, argv + 1);
    if (strcmp(argv[1], "bench") == 0)
        return pf_bench_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "variance") == 0)
        return pf_variance_main(argc - 1, argv + 1);
    fprintf(stderr, "pathflow: unknown command '%s' (try pathflow --help)\n", argv[1]);
    return 2;
}
