/* `pathflow train CONFIG [--set key=value ...] [--out DIR]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>

#include "cli/commands.h"
#include "core/error.h"

static const char USAGE[] =
    "usage: pathflow train CONFIG [--set section.key=value ...] [--out DIR] [--stop-at N]\n"
    "       pathflow train --resume RUN [--set ...] [--stop-at N]\n"
    "       pathflow train CONFIG --init-from RUN|CKPT [...]\n"
    "  pathflow train --help: every option, an example, the exit codes\n";

typedef struct train_args {
    const char *config, *out, *resume;
    long stop_at;
    const char **overrides;
    int n_overrides;
    const char *init_from;
} train_args;

/* 0: parsed; 2: usage error (reported). */
static int parse_args(int argc, char **argv, train_args *a)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            a->overrides[a->n_overrides++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0)
            a->overrides[a->n_overrides++] = argv[i] + 6;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            a->out = argv[++i];
        else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc)
            a->resume = argv[++i];
        else if (strcmp(argv[i], "--stop-at") == 0 && i + 1 < argc)
            a->stop_at = atol(argv[++i]);
        else if (strcmp(argv[i], "--init-from") == 0 && i + 1 < argc)
            a->init_from = argv[++i];
        else if (strncmp(argv[i], "--out=", 6) == 0)
            a->out = argv[i] + 6;
        else if (argv[i][0] != '-' && !a->config)
            a->config = argv[i];
        else {
            fprintf(stderr, "pathflow train: unexpected argument '%s'%s\n%s", argv[i],
                    strcmp(argv[i], "--set") == 0 || strcmp(argv[i], "--out") == 0
                        ? " (it needs a value)"
                        : "",
                    USAGE);
            return 2;
        }
    }
    if (a->resume && (a->config || a->out || a->init_from)) {
        fprintf(stderr, "pathflow train: --resume RUN takes its config, directory and parameters "
                        "from RUN\n%s",
                USAGE);
        return 2;
    }
    if (a->resume) {
        static char config[4200];
        snprintf(config, sizeof config, "%s/config.cfg", a->resume);
        a->config = config;
        a->out = a->resume;
    }
    if (!a->config) {
        fprintf(stderr, "pathflow train: no configuration file given\n%s", USAGE);
        return 2;
    }
    return 0;
}

/* Loading and building happen on every process on its own: if they failed
 * everywhere (a bad config) process 0 says why; if only somewhere (a file one
 * node cannot read) those processes say why. All stop if any failed. */
static int report_setup(const pf_parallel *par, pf_status st)
{
    const int failed_somewhere = pf_cli_parallel_any(par, st != PF_OK);
    if (!failed_somewhere)
        return 0;
    const int failed_everywhere = !pf_cli_parallel_any(par, st == PF_OK);
    if (st == PF_OK)
        return 1;
    if (par->size > 1 && !failed_everywhere)
        pf_fail_context(st, "process %d of %d", par->rank, par->size);
    return par->rank == 0 || !failed_everywhere ? pf_cli_report(st) : pf_cli_exit_code(st);
}

int pf_cli_train(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("train", stdout);
    train_args a = {NULL, NULL, NULL, 0, calloc((size_t)argc + 1, sizeof(const char *)), 0, NULL};
    if (!a.overrides) {
        fprintf(stderr, "pathflow train: out of memory\n");
        return 1;
    }
    int parsed = parse_args(argc, argv, &a);
    if (parsed != 0) {
        free(a.overrides);
        return parsed == 1 ? 0 : 2;
    }
    pf_parallel par;
    if (pf_cli_parallel_begin(&par) != 0) {
        free(a.overrides);
        return 1;
    }
    pf_experiment *e = NULL;
    pf_status st = a.resume ? pf_cli_prepare_resume(a.resume, a.overrides, a.n_overrides) : PF_OK;
    if (st == PF_OK)
        st = pf_experiment_load(a.config, a.overrides, a.n_overrides, &e);
    free(a.overrides);
    if (st == PF_OK && par.size > 1)
        st = pf_experiment_set_parallel(e, &par);
    if (st == PF_OK)
        st = pf_experiment_build(e);
    if (st == PF_OK && a.init_from)
        st = pf_cli_init_from(e, a.init_from);
    int code = report_setup(&par, st);
    if (code == 0 && a.init_from && par.rank == 0)
        fprintf(stderr, "pathflow: starting from the parameters in %s\n", a.init_from);
    if (code == 0) {
        /* from here on failures are agreed: process 0 reports them */
        st = pf_experiment_run_with(e, a.out, par.rank == 0 ? stderr : NULL, NULL, a.stop_at,
                                    a.resume != NULL);
        if (st == PF_OK && par.rank == 0)
            pf_cli_plot_run(a.out ? a.out : pf_experiment_default_out_dir(e), e);
        code = par.rank == 0 ? pf_cli_report(st) : pf_cli_exit_code(st);
    }
    pf_experiment_destroy(e);
    pf_cli_parallel_end();
    return code;
}
