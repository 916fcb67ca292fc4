/* PNGs of a finished run, drawn by gnuplot from files in the run directory:
 * training.png (loss and reverse ESS against steps) for every run, and
 * samples.png for 2-D targets (flow samples over the target density).
 * A missing or failing gnuplot is a warning, never an error. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/npy.h"

/* Runs `gnuplot -c script args...` in directory dir: no shell, and the
 * scripts name their files relative to dir, so no path reaches gnuplot's
 * parser; texts from the configuration (the run's name) reach the script as
 * ARG1, ARG2, ... (string variables, never parsed as gnuplot code). */
int pf_cli_gnuplot(const char *dir, const char *script, const char *const args[])
{
    const char *argv[8] = {"gnuplot", "-c", script};
    int n = 3;
    for (int i = 0; args && args[i] && n < 7; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) { /* the child: quiet, in dir, gnuplot or nothing */
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        if (chdir(dir) == 0)
            execvp("gnuplot", (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int plot_training(const char *dir, const char *name)
{
    char script[4300];
    snprintf(script, sizeof script, "%s/training.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 0;
    fprintf(f, "set terminal pngcairo size 900,500 noenhanced\nset output 'training.png'\n"
               "set datafile separator ','\nset key autotitle columnhead\n"
               "set title 'training of '.ARG1\nset xlabel 'step'\n"
               "set ylabel 'loss (Monte-Carlo objective)'\nset y2label 'reverse ESS'\n"
               "set y2range [0:1]\nset ytics nomirror\nset y2tics\nset grid\n"
               "set key outside bottom center horizontal\n"
               "plot 'metrics.csv' using 1:2 with linespoints lw 2 title 'loss', "
               "'' using 1:4 axes x1y2 with linespoints lw 2 title 'reverse ESS'\n");
    fclose(f);
    const char *args[] = {name, NULL};
    return pf_cli_gnuplot(dir, "training.gp", args);
}

/* samples.png: exp(−S) on a grid as a heat map, 2000 flow samples on top. */
static int plot_samples_2d(const char *dir, pf_experiment *e)
{
    char path[4300], data[4300], grid[4300];
    snprintf(path, sizeof path, "%s/samples.npy", dir);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    if (pf_npy_read(path, &ndim, shape, &x) != PF_OK || ndim != 2 || shape[1] != 2) {
        free(x);
        return 0;
    }
    double lo = -3, hi = 3;
    size_t n = shape[0] < 2000 ? shape[0] : 2000;
    for (size_t i = 0; i < 2 * shape[0]; i++) { /* the frame holds the samples */
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
    }
    snprintf(data, sizeof data, "%s/samples_plot.dat", dir);
    snprintf(grid, sizeof grid, "%s/density_plot.dat", dir);
    FILE *fd = fopen(data, "w"), *fg = fopen(grid, "w");
    for (size_t i = 0; fd && i < n; i++)
        fprintf(fd, "%g %g\n", x[2 * i], x[2 * i + 1]);
    enum { G = 120 };
    double pts[2 * G], S[G];
    for (int a = 0; fg && a < G; a++) {
        for (int b = 0; b < G; b++) {
            pts[2 * b] = lo + (hi - lo) * (b + 0.5) / G;
            pts[2 * b + 1] = lo + (hi - lo) * (a + 0.5) / G;
        }
        pf_target_action(pf_experiment_target(e), G, pts, S);
        for (int b = 0; b < G; b++)
            fprintf(fg, "%g %g %g\n", pts[2 * b], pts[2 * b + 1], exp(-S[b]));
        fprintf(fg, "\n");
    }
    if (fd)
        fclose(fd);
    if (fg)
        fclose(fg);
    free(x);
    char script[4300];
    snprintf(script, sizeof script, "%s/samples.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 0;
    fprintf(f,
            "set terminal pngcairo size 700,650\nset output 'samples.png'\n"
            "set title ARG1.': flow samples over the target density exp(-S)' noenhanced\n"
            "set xlabel 'x_0'\nset ylabel 'x_1'\nset size ratio -1\nset key below\n"
            "set xrange [%g:%g]\nset yrange [%g:%g]\nset cblabel 'exp(-S)'\n"
            "plot 'density_plot.dat' with image title '', 'samples_plot.dat' with points pt 7 "
            "ps 0.25 lc rgb 'white' title '%zu flow samples'\n",
            lo, hi, lo, hi, n);
    fclose(f);
    const char *args[] = {pf_experiment_name(e), NULL};
    return pf_cli_gnuplot(dir, "samples.gp", args);
}

/* observables.png for lattice targets: the first two per-sample observables
 * along an independence Metropolis chain through samples.npy (proposal q_θ,
 * acceptance by log_weights.npy): flat, well-mixed histories mean a good
 * sampler; long plateaus mean rejections. */
static int plot_lattice_histories(const char *dir, pf_experiment *e)
{
    char path[4300], data[4300];
    int ndim, nd2;
    size_t shape[PF_NPY_MAX_DIMS], shape2[PF_NPY_MAX_DIMS];
    double *x = NULL, *lw = NULL;
    snprintf(path, sizeof path, "%s/samples.npy", dir);
    int ok = pf_npy_read(path, &ndim, shape, &x) == PF_OK;
    snprintf(path, sizeof path, "%s/log_weights.npy", dir);
    ok = ok && pf_npy_read(path, &nd2, shape2, &lw) == PF_OK && shape2[0] == shape[0];
    pf_target *t = pf_experiment_target(e);
    const int no = pf_target_n_observables(t), N = ok ? (int)shape[0] : 0;
    double *obs = ok ? malloc((size_t)N * no * sizeof *obs) : NULL;
    ok = ok && obs && pf_target_observables(t, N, x, obs) == PF_OK;
    snprintf(data, sizeof data, "%s/observables_plot.dat", dir);
    FILE *f = ok ? fopen(data, "w") : NULL;
    pf_rng rng = pf_rng_make(5, 5);
    for (int i = 0, state = 0; f && i < N; i++) {
        double u;
        pf_rng_uniform(&rng, 1, &u);
        if (i > 0 && log(u) < lw[i] - lw[state])
            state = i;
        fprintf(f, "%d %g %g\n", i, obs[(size_t)state * no], obs[(size_t)state * no + (no > 1)]);
    }
    if (f)
        fclose(f);
    free(x);
    free(lw);
    free(obs);
    if (!f)
        return 0;
    char script[4300];
    snprintf(script, sizeof script, "%s/observables.gp", dir);
    f = fopen(script, "w");
    if (!f)
        return 0;
    fputs("set terminal pngcairo size 900,600 noenhanced\nset output 'observables.png'\n"
          "set multiplot layout 2,1 title ARG1.': observables along an independence Metropolis "
          "chain (proposal: the flow)'\nset grid\nset xlabel 'chain step'\n"
          "set ylabel ARG2\nplot 'observables_plot.dat' using 1:2 with lines notitle\n"
          "set ylabel ARG3\nplot 'observables_plot.dat' using 1:3 with lines notitle\n"
          "unset multiplot\n",
          f);
    fclose(f);
    const char *args[] = {pf_experiment_name(e), pf_target_observable_name(t, 0),
                          pf_target_observable_name(t, no > 1), NULL};
    return pf_cli_gnuplot(dir, "observables.gp", args);
}

void pf_cli_plot_run(const char *dir, pf_experiment *e)
{
    int shape[4];
    int ok = plot_training(dir, pf_experiment_name(e));
    if (pf_target_dim(pf_experiment_target(e)) == 2)
        ok = plot_samples_2d(dir, e) && ok;
    else if (pf_target_shape(pf_experiment_target(e), shape) >= 2)
        ok = plot_lattice_histories(dir, e) && ok;
    if (!ok)
        fprintf(stderr, "pathflow: warning: plots not drawn (is gnuplot installed?)\n");
}
