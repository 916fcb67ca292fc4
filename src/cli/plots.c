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
#include <sys/stat.h>
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

/* Data rows of metrics.csv, and whether column `name` has a value in any. */
static int metrics_rows(const char *csv, const char *name, int *has_value)
{
    FILE *f = fopen(csv, "r");
    char line[1024];
    int rows = 0, col = -1;
    *has_value = 0;
    if (f && fgets(line, sizeof line, f)) {
        int c = 0;
        for (char *p = line, *q; p; p = q ? q + 1 : NULL, c++) {
            q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strcspn(p, "\r\n");
            if (len == strlen(name) && strncmp(p, name, len) == 0)
                col = c;
        }
        while (fgets(line, sizeof line, f)) {
            const char *p = line;
            for (int c2 = 0; p && c2 < col; c2++)
                p = (p = strchr(p, ',')) ? p + 1 : NULL;
            *has_value |= col >= 0 && p && *p != ',' && *p != '\n' && *p != '\r' && *p;
            rows++;
        }
    }
    if (f)
        fclose(f);
    return rows;
}

/* training.png: loss; reverse (and forward) ESS and 1 − ESS on a log axis,
 * so that lattice ESS of 1e-3 and CNF ESS of 0.999 both read; gradient norm. */
static int plot_training(const char *dir, const char *name, int forward_ess)
{
    char script[4300];
    snprintf(script, sizeof script, "%s/training.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 0;
    fprintf(f, "set terminal pngcairo size 900,1000 noenhanced\nset output 'training.png'\n"
               "set datafile separator ','\nset datafile columnheaders\n"
               "set multiplot layout 3,1 title 'training of '.ARG1\nset grid\nset lmargin 12\n"
               "set rmargin 4\n"
               "data = 'metrics.csv'\n"
               "set ylabel 'loss (Monte-Carlo objective)'\n"
               "plot data using 'step':'loss' with linespoints lw 2 pt 7 ps 0.6 notitle\n"
               "set logscale y\nset format y '%%g'\n"
               "set ylabel 'ESS (log scale)'\nset yrange [*:3]\n"
               "set key below horizontal\n"
               "plot data using 'step':'ess' with linespoints lw 2 pt 7 ps 0.6 "
               "title 'reverse ESS', "
               "data using 'step':(1 - column('ess')) with linespoints lw 2 dt 2 pt 6 ps 0.6 "
               "title '1 - reverse ESS'%s\n"
               "set xlabel 'step'\nset ylabel 'mean gradient norm (log scale)'\nset yrange [*:*]\n"
               "plot data using 'step':'grad_norm' with linespoints lw 2 pt 7 ps 0.6 "
               "notitle\nunset multiplot\n",
            forward_ess ? ", data using 'step':'ess_forward' with linespoints lw 2 pt 5 ps 0.6 "
                          "title 'forward ESS (held out)'"
                        : "");
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
 * along an independence Metropolis chain through N samples x (N×d) with log
 * weights lw (proposal q_θ, acceptance min(1, w'/w)): flat, well-mixed
 * histories mean a good sampler; long plateaus mean rejections. */
int pf_cli_plot_observables(const char *dir, pf_experiment *e, int N, const double *x,
                            const double *lw)
{
    char data[4300];
    pf_target *t = pf_experiment_target(e);
    const int no = pf_target_n_observables(t);
    double *obs = malloc((size_t)(N > 0 ? N : 1) * no * sizeof *obs);
    int ok = obs && pf_target_observables(t, N, x, obs) == PF_OK;
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

/* The same for a run's samples.npy and log_weights.npy. */
static int plot_lattice_histories(const char *dir, pf_experiment *e)
{
    char path[4300];
    int ndim, nd2;
    size_t shape[PF_NPY_MAX_DIMS], shape2[PF_NPY_MAX_DIMS];
    double *x = NULL, *lw = NULL;
    snprintf(path, sizeof path, "%s/samples.npy", dir);
    int ok = pf_npy_read(path, &ndim, shape, &x) == PF_OK;
    snprintf(path, sizeof path, "%s/log_weights.npy", dir);
    ok = ok && pf_npy_read(path, &nd2, shape2, &lw) == PF_OK && shape2[0] == shape[0];
    ok = ok && pf_cli_plot_observables(dir, e, (int)shape[0], x, lw);
    free(x);
    free(lw);
    return ok;
}

void pf_cli_eval_redraw(const char *run, pf_experiment *e, int N, const double *x,
                        const double *lw)
{
    int shape[4];
    if (pf_target_dim(pf_experiment_target(e)) == 2 ||
        pf_target_shape(pf_experiment_target(e), shape) < 2)
        return;
    char dir[4300];
    const char *slash = strrchr(run, '/');
    struct stat sb;
    if (stat(run, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(dir, sizeof dir, "%s", run);
    else
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - run) : 1, slash ? run : ".");
    if (pf_cli_plot_observables(dir, e, N, x, lw))
        fprintf(stderr, "pathflow eval: %s/observables.png (observables.gp, observables_plot.dat) "
                        "redrawn from these %d samples\n", dir, N);
    else
        fprintf(stderr, "pathflow eval: warning: gnuplot did not draw %s/observables.png\n", dir);
}

/* Appends "name" to the list (", "-separated). */
static void list_add(char *list, size_t size, const char *name)
{
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s", used ? ", " : "", name);
}

void pf_cli_plot_run(const char *dir, pf_experiment *e)
{
    char csv[4300], drawn[512] = "", failed[256] = "";
    int shape[4], forward_ess;
    snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
    if (metrics_rows(csv, "ess_forward", &forward_ess) == 0)
        fprintf(stderr, "pathflow: no training.png: metrics.csv has no rows (no steps trained)\n");
    else if (plot_training(dir, pf_experiment_name(e), forward_ess))
        list_add(drawn, sizeof drawn, "training.png, training.gp");
    else
        list_add(failed, sizeof failed, "training.png");
    if (pf_target_dim(pf_experiment_target(e)) == 2) {
        if (plot_samples_2d(dir, e))
            list_add(drawn, sizeof drawn, "samples.png, samples.gp, samples_plot.dat, density_plot.dat");
        else
            list_add(failed, sizeof failed, "samples.png");
    } else if (pf_target_shape(pf_experiment_target(e), shape) >= 2) {
        if (plot_lattice_histories(dir, e))
            list_add(drawn, sizeof drawn, "observables.png, observables.gp, observables_plot.dat");
        else
            list_add(failed, sizeof failed, "observables.png");
    }
    if (failed[0])
        fprintf(stderr,
                "pathflow: warning: gnuplot did not draw %s (is it installed? its scripts are "
                "the .gp files in %s)\n",
                failed, dir);
    if (drawn[0])
        fprintf(stderr, "pathflow: results in %s also: %s\n", dir, drawn);
}
