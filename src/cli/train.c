/* `pathflow train CONFIG [--set key=value ...] [--out DIR]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>

#include "cli/commands.h"

int pf_cli_train(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    const char **overrides = calloc((size_t)argc, sizeof *overrides);
    int n_overrides = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            overrides[n_overrides++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0)
            overrides[n_overrides++] = argv[i] + 6;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && !config)
            config = argv[i];
        else {
            fprintf(stderr, "pathflow train: unexpected argument '%s'\n"
                            "usage: pathflow train CONFIG [--set key=value ...] [--out DIR]\n",
                    argv[i]);
            free(overrides);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "usage: pathflow train CONFIG [--set key=value ...] [--out DIR]\n");
        free(overrides);
        return 2;
    }
    pf_experiment *e = NULL;
    pf_status st = pf_experiment_load(config, overrides, n_overrides, &e);
    free(overrides);
    if (st == PF_OK)
        st = pf_experiment_run(e, out, stderr, NULL);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
