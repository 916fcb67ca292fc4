/* Subcommands of the pathflow tool; each returns the process exit code. */
#ifndef PF_CLI_COMMANDS_H
#define PF_CLI_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include <pathflow/experiment.h>
#include <pathflow/pathflow.h>
#include <pathflow/train.h>

/* Exit code for a library status: 0 ok, 2 usage/config, 3 I/O, 4 numeric/solver, 1 other. */
int pf_cli_exit_code(pf_status status);
/* Prints "pathflow: <message>" for a failed status and returns its exit code. */
int pf_cli_report(pf_status status);

/* help.c: is --help or -h among argv[1..]? The text of `command` (NULL: the
 * whole tool) with the exit codes on out; returns the exit code 0. */
int pf_cli_wants_help(int argc, char **argv);
int pf_cli_help(const char *command, FILE *out);

int pf_cli_train(int argc, char **argv);
int pf_cli_hmc(int argc, char **argv);
int pf_cli_sample(int argc, char **argv);
int pf_cli_check(int argc, char **argv);
int pf_cli_eval(int argc, char **argv);
int pf_cli_export(int argc, char **argv);

/* parallel.c: under mpirun (and built with MPI) starts MPI and describes the
 * processes, else *par is one process; -1 (after a message) when MPI cannot
 * start or the build lacks it. any: is flag set on any process (collective).
 * end: MPI_Finalize if started. */
int pf_cli_parallel_begin(pf_parallel *par);
int pf_cli_parallel_any(const pf_parallel *par, int flag);
void pf_cli_parallel_end(void);

/* plots.c. text made safe inside a gnuplot '...' string (quotes doubled,
 * control characters, which would end the command, as spaces), in out. */
const char *pf_cli_gnuplot_text(const char *text, char *out, size_t size);
/* training.png (and samples.png for 2-D targets, observables.png for
 * lattice targets) in a finished run's directory, with their scripts and
 * data; names the files drawn, warns about those gnuplot did not draw. */
void pf_cli_plot_run(const char *dir, pf_experiment *e);
/* observables.png (+ .gp, _plot.dat) in dir from N samples x (N×d) and their
 * log weights; 1 if drawn. */
int pf_cli_plot_observables(const char *dir, pf_experiment *e, int N, const double *x,
                            const double *lw);
/* For lattice targets, `eval RUN|CKPT` redraws RUN's observables.png from its
 * own samples (the directory of CKPT for a checkpoint). */
void pf_cli_eval_redraw(const char *run, pf_experiment *e, int N, const double *x,
                        const double *lw);

/* resume.c. Before `train --resume RUN`: refuses, naming them, changes to
 * the keys that shape training. Before training a new run with --init-from:
 * the parameters of RUN|CKPT into e's built flow, which must be the same. */
pf_status pf_cli_prepare_resume(const char *run, const char **overrides, int n_overrides);
pf_status pf_cli_init_from(pf_experiment *e, const char *source);

/* A trained run (directory or checkpoint) rebuilt with its parameters. */
pf_status pf_cli_load_run(const char *arg, pf_experiment **out);
/* N flow samples (*x, N×d) and log weights (*log_w, N) from stream `seed`,
 * malloc'ed (the caller frees both, also on failure). */
pf_status pf_cli_draw(pf_experiment *e, uint64_t seed, int N, double **x, double **log_w);

#endif
