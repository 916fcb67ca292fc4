/* PNGs of a finished run, drawn by gnuplot from files in the run directory:
 * training.png (loss and reverse ESS against steps) for every run, and
 * samples.png for 2-D targets (flow samples over the target density).
 * A missing or failing gnuplot is a warning, never an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/npy.h"

const char *pf_cli_gnuplot_text(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 3 < size; p++) {
        if (*p == '\'')
            out[n++] = '\'';
        out[n++] = *p < 0x20 ? ' ' : (char)*p;
    }
    out[n] = '\0';
    return out;
}

static int run_gnuplot(const char *script)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    return system(cmd) == 0;
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
    fprintf(f, "set terminal pngcairo size 900,1000 noenhanced\nset output '%s/training.png'\n"
               "set datafile separator ','\nset datafile columnheaders\n"
               "set multiplot layout 3,1 title 'training of %s'\nset grid\nset lmargin 12\n"
               "set rmargin 4\n"
               "data = '%s/metrics.csv'\n"
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
            dir, name, dir,
            forward_ess ? ", data using 'step':'ess_forward' with linespoints lw 2 pt 5 ps 0.6 "
                          "title 'forward ESS (held out)'"
                        : "");
    fclose(f);
    return run_gnuplot(script);
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
    char script[4300], name[600];
    snprintf(script, sizeof script, "%s/samples.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return 0;
    fprintf(f, "set terminal pngcairo size 700,650\nset output '%s/samples.png'\n"
               "set title '%s: flow samples over the target density exp(-S)' noenhanced\n"
               "set xlabel 'x_0'\nset ylabel 'x_1'\nset size ratio -1\nset key below\n"
               "set xrange [%g:%g]\nset yrange [%g:%g]\nset cblabel 'exp(-S)'\n"
               "plot '%s' with image title '', '%s' with points pt 7 ps 0.25 lc rgb 'white' "
               "title '%zu flow samples'\n",
            dir, pf_cli_gnuplot_text(pf_experiment_name(e), name, sizeof name), lo, hi, lo, hi,
            grid, data, n);
    fclose(f);
    return run_gnuplot(script);
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
    char script[4300], name[600];
    snprintf(script, sizeof script, "%s/observables.gp", dir);
    f = fopen(script, "w");
    if (!f)
        return 0;
    fprintf(f, "set terminal pngcairo size 900,600 noenhanced\nset output '%s/observables.png'\n"
               "set multiplot layout 2,1 title '%s: observables along an independence Metropolis "
               "chain (proposal: the flow)'\nset grid\nset xlabel 'chain step'\n"
               "set ylabel '%s'\nplot '%s' using 1:2 with lines notitle\n"
               "set ylabel '%s'\nplot '%s' using 1:3 with lines notitle\nunset multiplot\n",
            dir, pf_cli_gnuplot_text(pf_experiment_name(e), name, sizeof name),
            pf_target_observable_name(t, 0), data,
            pf_target_observable_name(t, no > 1), data);
    fclose(f);
    return run_gnuplot(script);
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

/* Can dir stand in a gnuplot '...' string as it is (its scripts name files in it)? */
static int plain_dir(const char *dir)
{
    for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
        if (*p == '\'' || *p < 0x20) {
            fprintf(stderr, "pathflow: warning: no plots: the directory name %s holds a quote or "
                            "a control character\n", dir);
            return 0;
        }
    return 1;
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
    if (!plain_dir(dir))
        return;
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
    char csv[4300], drawn[512] = "", failed[256] = "", name[600];
    int shape[4], forward_ess;
    if (!plain_dir(dir))
        return;
    snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
    if (metrics_rows(csv, "ess_forward", &forward_ess) == 0)
        fprintf(stderr, "pathflow: no training.png: metrics.csv has no rows (no steps trained)\n");
    else if (plot_training(dir, pf_cli_gnuplot_text(pf_experiment_name(e), name, sizeof name),
                           forward_ess))
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
