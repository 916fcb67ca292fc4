/* The pathflow command-line tool: `pathflow <command> [options]`.
 * Maps library statuses to exit codes and prints pf_last_error() messages. */
#include <stdio.h>
#include <string.h>

#include <pathflow/pathflow.h>

#include "bench/bench.h"
#include "cli/commands.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        pf_cli_help(NULL, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return pf_cli_help(NULL, stdout);
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
    if (strcmp(argv[1], "export") == 0)
        return pf_cli_export(argc - 1, argv + 1);
    if (strcmp(argv[1], "bench") == 0)
        return pf_bench_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "variance") == 0)
        return pf_variance_main(argc - 1, argv + 1);
    fprintf(stderr, "pathflow: unknown command '%s' (try pathflow --help)\n", argv[1]);
    return 2;
}
