/* `pathflow check CONFIG [--set key=value ...]`: validates a configuration and
 * builds its target, flow and data without training; exit 0 and a one-line
 * summary, or the message naming file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

int pf_cli_check(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("check", stdout);
    const char *config = NULL;
    const char **overrides = calloc((size_t)argc + 1, sizeof *overrides);
    int n = 0;
    for (int i = 1; overrides && i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            overrides[n++] = argv[++i];
        else if (argv[i][0] != '-' && !config)
            config = argv[i];
        else
            config = NULL, i = argc;
    }
    if (!config) {
        fprintf(stderr, "usage: pathflow check CONFIG [--set key=value ...]\n");
        free(overrides);
        return 2;
    }
    pf_experiment *e = NULL;
    pf_status st = pf_experiment_load(config, overrides, n, &e);
    free(overrides);
    if (st == PF_OK)
        st = pf_experiment_build(e);
    if (st == PF_OK) {
        pf_flow *flow = pf_experiment_flow(e);
        printf("%s: ok — %s target (d = %d), %s flow with %zu parameters (%s)\n", config,
               pf_target_kind(pf_experiment_target(e)), pf_target_dim(pf_experiment_target(e)),
               pf_flow_kind(flow), pf_flow_n_params(flow), pf_flow_describe(flow));
    }
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
