/* `pathflow export RUN|CKPT -o PARAMS.npy`: a trained flow's parameters as
 * a 1-D float64 .npy in the flow's flat layout (docs/formats.md), so that
 * other tools can read a trained flow without parsing checkpoints. */
#include <stdio.h>
#include <string.h>

#include <pathflow/npy.h>

#include "cli/commands.h"

int pf_cli_export(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("export", stdout);
    const char *run = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && !run)
            run = argv[i];
        else {
            fprintf(stderr, "pathflow export: unexpected argument '%s'\n", argv[i]);
            run = NULL;
            break;
        }
    }
    if (!run || !out) {
        fprintf(stderr, "usage: pathflow export RUN|CKPT -o PARAMS.npy (pathflow export --help)\n");
        return 2;
    }
    pf_experiment *e;
    pf_status st = pf_cli_load_run(run, &e);
    if (st != PF_OK)
        return pf_cli_report(st);
    pf_flow *flow = pf_experiment_flow(e);
    size_t shape[1] = {pf_flow_n_params(flow)};
    st = pf_npy_write(out, 1, shape, pf_flow_params(flow));
    if (st == PF_OK)
        fprintf(stderr, "pathflow export: %zu parameters of the %s flow (%s) in %s\n", shape[0],
                pf_flow_kind(flow), pf_flow_describe(flow), out);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
