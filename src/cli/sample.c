/* `pathflow sample RUN|CKPT -n N -o FILE.npy [--seed S] [--set target.k=v]`:
 * N flow samples (N×d float64) in FILE.npy and their log importance weights
 * −S − log q in FILE_log_weights.npy. --set changes the target (e.g. its
 * lattice, for flows whose parameters do not depend on the size). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/npy.h"

int pf_cli_sample(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("sample", stdout);
    const char *run = NULL, *out = NULL;
    int N = 10000;
    const char *sets[16];
    int n_sets = 0;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            if (pf_cli_int_option("sample", "-n", argv[++i], 1, INT_MAX, &N))
                return 2;
        }
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            if (pf_cli_seed_option("sample", "--seed", argv[++i], &seed))
                return 2;
        }
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && n_sets < 16)
            sets[n_sets++] = argv[++i];
        else if (argv[i][0] != '-' && !run)
            run = argv[i];
        else
            run = NULL, i = argc;
    }
    if (!run || !out || N < 1) {
        fprintf(stderr, "usage: pathflow sample RUN|CKPT -n N -o FILE.npy [--seed S] [--set target.|ode.key=value ...]\n");
        return 2;
    }
    pf_experiment *e;
    pf_status st = pf_cli_load_run_with(run, sets, n_sets, &e);
    if (st != PF_OK)
        return pf_cli_report(st);
    const int d = pf_flow_dim(pf_experiment_flow(e));
    double *x, *lw;
    st = pf_cli_draw(e, seed, N, &x, &lw);
    size_t shape[2] = {(size_t)N, (size_t)d};
    if (st == PF_OK)
        st = pf_npy_write(out, 2, shape, x);
    char path[4200];
    snprintf(path, sizeof path, "%.*s_log_weights.npy",
             (int)(strlen(out) > 4 && strcmp(out + strlen(out) - 4, ".npy") == 0 ? strlen(out) - 4 : strlen(out)), out);
    if (st == PF_OK)
        st = pf_npy_write(path, 1, shape, lw);
    if (st == PF_OK)
        fprintf(stderr, "pathflow sample: %d samples in %s, log weights in %s\n", N, out, path);
    free(x);
    free(lw);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
