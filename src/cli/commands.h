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

/* Numeric options, read strictly: the whole text, in [lo, hi], no overflow.
 * 0, or -1 after "pathflow CMD: OPTION: 'TEXT' ..." on stderr. seed: any
 * unsigned 64-bit decimal; positive: a finite double > 0. */
int pf_cli_long_option(const char *cmd, const char *option, const char *text, long lo, long hi,
                       long *out);
int pf_cli_int_option(const char *cmd, const char *option, const char *text, int lo, int hi,
                      int *out);
int pf_cli_seed_option(const char *cmd, const char *option, const char *text,
                       unsigned long long *out);
int pf_cli_positive_option(const char *cmd, const char *option, const char *text, double *out);

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

/* Runs `gnuplot -c script args...` (args NULL-terminated, at most 4) with dir
 * as its working directory, without a shell and with its output discarded;
 * 1 if it ran and succeeded. Scripts name their files relative to dir and
 * take every text from outside as ARG1, ARG2, ... */
int pf_cli_gnuplot(const char *dir, const char *script, const char *const args[]);

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
/* The same with --set overrides of target keys (e.g. another lattice size for
 * a flow whose parameters do not depend on it; refused for other flows) and
 * of ode keys (e.g. tighter tolerances for sampling). */
pf_status pf_cli_load_run_with(const char *arg, const char *const *overrides, int n_overrides,
                               pf_experiment **out);
/* N flow samples (*x, N×d) and log weights (*log_w, N) from stream `seed`,
 * malloc'ed (the caller frees both, also on failure). */
pf_status pf_cli_draw(pf_experiment *e, uint64_t seed, int N, double **x, double **log_w);

#endif
