/* Subcommands of the pathflow tool; each returns the process exit code. */
#ifndef PF_CLI_COMMANDS_H
#define PF_CLI_COMMANDS_H

#include <stdint.h>

#include <pathflow/experiment.h>
#include <pathflow/pathflow.h>
#include <pathflow/train.h>

/* Exit code for a library status: 0 ok, 2 usage/config, 3 I/O, 4 numeric/solver, 1 other. */
int pf_cli_exit_code(pf_status status);
/* Prints "pathflow: <message>" for a failed status and returns its exit code. */
int pf_cli_report(pf_status status);

int pf_cli_train(int argc, char **argv);
int pf_cli_hmc(int argc, char **argv);
int pf_cli_sample(int argc, char **argv);
int pf_cli_check(int argc, char **argv);
int pf_cli_eval(int argc, char **argv);

/* parallel.c: under mpirun (and built with MPI) starts MPI and describes the
 * processes, else *par is one process; -1 (after a message) when MPI cannot
 * start or the build lacks it. any: is flag set on any process (collective).
 * end: MPI_Finalize if started. */
int pf_cli_parallel_begin(pf_parallel *par);
int pf_cli_parallel_any(const pf_parallel *par, int flag);
void pf_cli_parallel_end(void);

/* training.png (and samples.png for 2-D targets) in a finished run's directory. */
void pf_cli_plot_run(const char *dir, pf_experiment *e);

/* A trained run (directory or checkpoint) rebuilt with its parameters. */
pf_status pf_cli_load_run(const char *arg, pf_experiment **out);
/* The same with --set overrides of target keys (e.g. another lattice size for
 * a flow whose parameters do not depend on it; refused for other flows) and
 * of ode keys (e.g. tighter tolerances for sampling). */
pf_status pf_cli_load_run_with(const char *arg, const char *const *overrides, int n_overrides,
                               pf_experiment **out);
/* N flow samples (*x, N×d) and log weights (*log_w, N) from stream `seed`,
 * malloc'ed (the caller frees both, also on failure). */
pf_status pf_cli_draw(pf_experiment *e, uint64_t seed, int N, double **x, double **log_w);

#endif
