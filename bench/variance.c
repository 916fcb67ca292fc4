/* `pathflow variance CONFIG [--checkpoint F] [--samples N] [--steps S]
 *  [--every K] [--out DIR] [--set key=value ...]`: gradient variance of the
 * estimators of the config's objective (docs/theory.md §8) — the trace of the
 * covariance of single-sample gradients at fixed parameters, and of batch
 * means (trace / batch) — first at the starting parameters, then every K
 * steps of a training run of the config's own estimator, to show sticking
 * the landing: `path` variance falls towards zero as q → p, `total` does not.
 * variance.csv and variance.png (gnuplot) in DIR. */
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>

#include "bench/bench.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"

pf_status pf_make_directories(const char *path); /* src/experiment/run.c */

/* Welford's running mean and summed squared deviations of a vector, so that no
 * difference of two large sums cancels (one sample repeated gives exactly 0). */
static void running_add(size_t n, int count, const double *g, double *mean, double *m2)
{
    for (size_t i = 0; i < n; i++) {
        const double delta = g[i] - mean[i];
        mean[i] += delta / count;
        m2[i] += delta * (g[i] - mean[i]);
    }
}

/* B inputs for the estimators, drawn as training draws them: flow samples for reverse
 * KL; for forward KL rows of the training data (uniform, with replacement) when the
 * config gives data (data.source = "file", or a fixed set drawn once), else fresh
 * exact samples of the target. */
static pf_status draw_input(const pf_train_options *o, pf_flow *flow, pf_target *t, pf_rng *rng,
                            int B, double *x)
{
    const size_t d = (size_t)pf_flow_dim(flow);
    if (o->objective == PF_OBJECTIVE_REVERSE) {
        pf_flow_sample_base(flow, rng, B, x);
        return PF_OK;
    }
    if (!(o->data && o->n_data > 0))
        return pf_target_sample(t, rng, B, x);
    for (int r = 0; r < B; r++) {
        double u;
        pf_rng_uniform(rng, 1, &u);
        size_t row = (size_t)(u * o->n_data);
        row = row < (size_t)o->n_data ? row : (size_t)o->n_data - 1;
        memcpy(x + (size_t)r * d, o->data + row * d, d * sizeof *x);
    }
    return PF_OK;
}

/* The three estimators of one measurement, for batches of B, with a gradient buffer
 * each. */
typedef struct trio {
    pf_estimator *est[3];
    double *g[3];
} trio;

static void trio_destroy(trio *t)
{
    for (int k = 0; k < 3; k++) {
        pf_estimator_destroy(t->est[k]);
        pf_free(t->g[k]);
    }
}

static pf_status trio_create(pf_experiment *e, const pf_train_options *o,
                             const pf_estimator_kind kinds[3], int B, trio *t)
{
    pf_flow *flow = pf_experiment_flow(e);
    memset(t, 0, sizeof *t);
    pf_status st = PF_OK;
    for (int k = 0; st == PF_OK && k < 3; k++) {
        t->g[k] = pf_alloc_doubles(pf_flow_n_params(flow), "variance");
        st = t->g[k] ? pf_estimator_create(o->objective, kinds[k], flow, pf_experiment_target(e),
                                           B, &t->est[k])
                     : PF_ERR_NOMEM;
    }
    if (st != PF_OK)
        trio_destroy(t);
    return st;
}

/* Input s of a measurement (draw_input from the stream (seed, stream)) and the three
 * gradients on it. *kept = 0 when an estimator met a non-finite value: such an input
 * is left out of all three, as the trainer leaves out such a step. */
static pf_status trio_eval(pf_experiment *e, const pf_train_options *o, trio *t, int B,
                           uint64_t seed, uint64_t stream, double *x, int *kept)
{
    pf_rng rng = pf_rng_make(seed, stream);
    pf_status st = draw_input(o, pf_experiment_flow(e), pf_experiment_target(e), &rng, B, x);
    for (int k = 0; st == PF_OK && k < 3; k++) {
        pf_estimate r;
        st = pf_estimator_eval(t->est[k], B, x, t->g[k], NULL, &r);
    }
    *kept = st == PF_OK;
    return st == PF_ERR_NUMERIC || st == PF_ERR_SOLVER ? PF_OK : st;
}

/* One point of the measurement: N single-sample gradients of each of the three
 * estimators on the same N samples; trace[k] is the trace of the covariance of
 * estimator k's gradients, on samples drawn as training draws them (draw_input). */
static pf_status measure_point(pf_experiment *e, const pf_train_options *o,
                               const pf_estimator_kind kinds[3], int N, uint64_t seed,
                               double trace[3])
{
    const size_t n = pf_flow_n_params(pf_experiment_flow(e));
    double *mean[3], *m2[3];
    double *x = pf_alloc_doubles((size_t)pf_flow_dim(pf_experiment_flow(e)), "variance");
    trio t;
    pf_status st = x ? trio_create(e, o, kinds, 1, &t) : PF_ERR_NOMEM;
    const int have_trio = st == PF_OK;
    for (int k = 0; k < 3; k++) {
        mean[k] = pf_alloc_doubles(n, "variance");
        m2[k] = pf_alloc_doubles(n, "variance");
        if (st == PF_OK && !(mean[k] && m2[k]))
            st = PF_ERR_NOMEM;
    }
    int used = 0;
    for (int s = 0; st == PF_OK && s < N; s++) {
        int kept;
        st = trio_eval(e, o, &t, 1, seed, (uint64_t)s, x, &kept);
        if (st != PF_OK || !kept)
            continue;
        used++;
        for (int k = 0; k < 3; k++)
            running_add(n, used, t.g[k], mean[k], m2[k]);
    }
    for (int k = 0; k < 3; k++) {
        double sum = 0;
        for (size_t i = 0; st == PF_OK && i < n; i++)
            sum += m2[k][i];
        trace[k] = used > 1 ? sum / (used - 1) : NAN;
        pf_free(mean[k]);
        pf_free(m2[k]);
    }
    if (have_trio)
        trio_destroy(&t);
    pf_free(x);
    return st;
}

enum { N_PROJ = 32 }; /* random directions of the test of the means */

/* Hotelling's test that G vectors y (G×m) have mean 0: F = T²·(G − m)/(m(G − 1)),
 * T² = G ȳᵀS⁻¹ȳ with S their sample covariance; F follows F(m, G − m) when y is
 * Gaussian of mean 0. *p: its upper tail (Paulson's normal approximation). Both
 * NaN when S is singular (the difference spans fewer than m directions). */
static void hotelling(int G, int m, const double *y, double *F, double *p)
{
    double mean[N_PROJ] = {0}, S[N_PROJ * N_PROJ] = {0};
    *F = *p = NAN;
    if (G <= m + 2)
        return;
    for (int b = 0; b < G; b++)
        for (int j = 0; j < m; j++)
            mean[j] += y[(size_t)b * m + j] / G;
    for (int b = 0; b < G; b++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j <= i; j++)
                S[i * m + j] += (y[(size_t)b * m + i] - mean[i]) *
                                (y[(size_t)b * m + j] - mean[j]) / (G - 1);
    if (pf_cholesky(m, S, "projected gradient differences") != PF_OK) {
        pf_clear_error();
        return;
    }
    pf_trsm_right_lower_t(1, m, S, mean); /* w = L⁻¹ȳ in place, T² = G |w|² */
    double t2 = 0;
    for (int i = 0; i < m; i++)
        t2 += G * mean[i] * mean[i];
    const double d1 = m, d2 = G - m;
    *F = t2 * d2 / (d1 * (G - 1));
    const double a = 2 / (9 * d1), b = 2 / (9 * d2), c = cbrt(*F);
    *p = 0.5 * erfc(((1 - b) * c - (1 - a)) / sqrt(2 * (b * c * c + a)));
}

/* Do estimators 1 and 2 have estimator 0's expectation? G gradients of each on
 * the same G batches of the training batch size, drawn as training draws them;
 * the paired differences projected onto N_PROJ fixed random directions of
 * parameter space (sparse: the parameters split at random into N_PROJ groups,
 * each with random signs — orthogonal directions in O(n) memory) and tested by
 * Hotelling's T² (F[k], p[k] for k = 1, 2). Batch means, not single samples:
 * single-sample gradients are too skewed for the test at a few hundred samples.
 * For forward KL on data a disagreement also says that the data are not samples of
 * the target: the term `path` drops has mean zero only under the target itself. */
static pf_status agreement(pf_experiment *e, const pf_train_options *o,
                           const pf_estimator_kind kinds[3], int G, uint64_t seed, double F[3],
                           double p[3])
{
    const size_t n = pf_flow_n_params(pf_experiment_flow(e));
    const int d = pf_flow_dim(pf_experiment_flow(e)), m = N_PROJ, B = o->batch;
    double *x = pf_alloc_doubles((size_t)B * d, "variance");
    /* direction j: ±1 on the parameters of group j, 0 elsewhere; parameter i is in
     * group |code[i]| − 1 with the sign of code[i] (one byte per parameter) */
    signed char *code = pf_alloc_bytes(n, "variance");
    double *y = pf_alloc_doubles(2 * (size_t)G * m, "variance"); /* for k = 1, 2 */
    trio t;
    pf_status st = x && code && y ? trio_create(e, o, kinds, B, &t) : PF_ERR_NOMEM;
    const int have_trio = st == PF_OK;
    if (st == PF_OK) {
        pf_rng directions = pf_rng_make(seed, 1u << 20);
        for (size_t i = 0; i < n; i++) {
            double u[2];
            pf_rng_uniform(&directions, 2, u);
            const int j = u[0] * m < m ? (int)(u[0] * m) : m - 1;
            code[i] = (signed char)(u[1] < 0.5 ? -(j + 1) : j + 1);
        }
    }
    int used = 0;
    for (int b = 0; st == PF_OK && b < G; b++) {
        int kept;
        st = trio_eval(e, o, &t, B, seed, (1u << 21) + (uint64_t)b, x, &kept);
        if (st != PF_OK || !kept)
            continue;
        for (int k = 1; k < 3; k++) {
            double *row = y + ((size_t)(k - 1) * G + used) * m;
            for (size_t i = 0; i < n; i++) {
                const double diff = t.g[k][i] - t.g[0][i];
                const int c = code[i];
                row[(c > 0 ? c : -c) - 1] += c > 0 ? diff : -diff;
            }
        }
        used++;
    }
    F[0] = p[0] = NAN;
    for (int k = 1; k < 3; k++) {
        /* the rows of k = 2 start at G·m whatever `used` is */
        F[k] = p[k] = NAN;
        if (st == PF_OK)
            hotelling(used, m, y + (size_t)(k - 1) * G * m, &F[k], &p[k]);
    }
    if (have_trio)
        trio_destroy(&t);
    pf_free(x);
    pf_free(code);
    pf_free(y);
    return st;
}

typedef struct variance_args {
    const char *config, *checkpoint, *dir;
    const char *overrides[64];
    int n_overrides, samples, every, agreement;
    long steps;
} variance_args;

static int parse(int argc, char **argv, variance_args *a)
{
    memset(a, 0, sizeof *a);
    a->dir = "runs/variance";
    a->samples = 500;
    a->every = 100;
    a->steps = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--checkpoint") == 0 && next)
            a->checkpoint = argv[++i];
        else if (strcmp(s, "--samples") == 0 && next) {
            if (pf_cli_int_option("variance", s, argv[++i], 2, INT_MAX, &a->samples))
                return -1;
        } else if (strcmp(s, "--steps") == 0 && next) {
            if (pf_cli_long_option("variance", s, argv[++i], 0, LONG_MAX, &a->steps))
                return -1;
        } else if (strcmp(s, "--agreement") == 0 && next) {
            if (pf_cli_int_option("variance", s, argv[++i], 4 * N_PROJ, INT_MAX, &a->agreement))
                return -1;
        } else if (strcmp(s, "--every") == 0 && next) {
            if (pf_cli_int_option("variance", s, argv[++i], 1, INT_MAX, &a->every))
                return -1;
        }
        else if (strcmp(s, "--out") == 0 && next)
            a->dir = argv[++i];
        else if (strcmp(s, "--set") == 0 && next && a->n_overrides < 64)
            a->overrides[a->n_overrides++] = argv[++i];
        else if (s[0] != '-' && !a->config)
            a->config = s;
        else
            return 0;
    }
    return a->config && a->samples > 1 && a->every > 0;
}

static void plot_history(const char *dir, const char *const names[3], const char *title)
{
    char script[4400];
    snprintf(script, sizeof script, "%s/variance.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return;
    fputs("set terminal pngcairo size 1000,560 noenhanced\nset output 'variance.png'\n"
          "set title ARG4\n"
          "set datafile separator ','\nset logscale y\nset format y '%g'\nset grid\n"
          "set key below horizontal\n"
          "set xlabel 'training step'\nset ylabel 'trace of the single-sample gradient covariance'\n"
          "data = 'variance.csv'\n"
          "plot data skip 1 every 3::0 using 1:4 with linespoints lw 2 pt 5 ps 1 title ARG1, "
          "data skip 1 every 3::1 using 1:4 with linespoints lw 4 pt 7 ps 1 title ARG2, "
          "data skip 1 every 3::2 using 1:4 with linespoints lw 2 dt 2 pt 6 ps 2.2 "
          "title ARG3.' (the same gradient as '.ARG2.': drawn dashed over it)'\n",
          f);
    fclose(f);
    const char *args[] = {names[0], names[1], names[2], title, NULL};
    if (!pf_cli_gnuplot(dir, "variance.gp", args))
        fprintf(stderr, "pathflow variance: gnuplot failed; no variance.png\n");
}

/* One row per estimator at the current parameters; with `agreement` batches, the
 * test of the means too. */
static pf_status measure_row(pf_experiment *e, const pf_train_options *o, FILE *csv, long step,
                             int samples, int n_agree, const pf_estimator_kind kinds[3])
{
    const int batch = o->batch;
    double trace[3], F[3] = {NAN, NAN, NAN}, p[3] = {NAN, NAN, NAN};
    PF_TRY(measure_point(e, o, kinds, samples, 1000 + (uint64_t)step, trace));
    if (n_agree > 0)
        PF_TRY(agreement(e, o, kinds, n_agree, 1000 + (uint64_t)step, F, p));
    for (int k = 0; k < 3; k++) {
        const char *name = pf_estimator_kind_name(kinds[k]);
        printf("| %ld | %s | %.4g | %.4g |", step, name, trace[k], trace[k] / batch);
        if (n_agree > 0 && k == 0)
            printf(" (the reference) |");
        else if (n_agree > 0)
            printf(" F = %.3g, p = %.2g |", F[k], p[k]);
        printf("\n");
        fprintf(csv, "%ld,%d,%s,%.6g,%.6g,%.6g,%.6g\n", step, k, name, trace[k], trace[k] / batch,
                F[k], p[k]);
    }
    fflush(csv);
    fflush(stdout);
    return PF_OK;
}

int pf_variance_main(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("variance", stdout);
    variance_args a;
    const int parsed = parse(argc, argv, &a);
    if (parsed <= 0) { /* -1: a bad number, already reported */
        if (parsed == 0)
            fprintf(stderr, "usage: pathflow variance CONFIG [--checkpoint F] [--samples N] "
                            "[--steps S] [--every K] [--agreement G] [--out DIR] "
                            "[--set key=value ...]\n");
        return 2;
    }
    pf_experiment *e = NULL;
    pf_trainer *tr = NULL;
    FILE *csv = NULL;
    pf_status st = pf_experiment_load(a.config, a.overrides, a.n_overrides, &e);
    if (st == PF_OK)
        st = pf_experiment_build(e);
    if (st == PF_OK && a.checkpoint)
        st = pf_flow_load_checkpoint(pf_experiment_flow(e), a.checkpoint);
    if (st == PF_OK)
        st = pf_make_directories(a.dir);
    pf_train_options o = st == PF_OK ? *pf_experiment_train_options(e) : pf_train_options_default();
    if (a.steps >= 0)
        o.steps = a.steps;
    const int reverse = o.objective == PF_OBJECTIVE_REVERSE;
    const pf_estimator_kind kinds[3] = {reverse ? PF_ESTIMATOR_TOTAL : PF_ESTIMATOR_ML,
                                        PF_ESTIMATOR_PATH, PF_ESTIMATOR_PATH_DROPIN};
    const char *names[3] = {reverse ? "total" : "ml", "path", "path-dropin"};
    char path[4400];
    snprintf(path, sizeof path, "%s/variance.csv", a.dir);
    if (st == PF_OK && !(csv = fopen(path, "w")))
        st = pf_fail(PF_ERR_IO, "%s: cannot open for writing", path);
    if (st == PF_OK) {
        fprintf(csv, "step,index,estimator,trace_single,trace_batch_mean,agreement_F,agreement_p\n");
        printf("# gradient variance, %s objective, %d single-sample gradients per point, batch %d"
               "\n\n",
               pf_objective_name(o.objective), a.samples, o.batch);
        if (a.agreement > 0)
            printf("Same mean as %s: Hotelling's T² of the paired differences of %d batch "
                   "gradients, projected onto %d random directions; F is about 1 when the means "
                   "agree, and a small p says they do not.\n\n",
                   names[0], a.agreement, N_PROJ);
        printf("| step | estimator | trace of covariance (single sample) | of batch means |%s\n"
               "|---|---|---|---|%s\n",
               a.agreement > 0 ? " same mean? |" : "", a.agreement > 0 ? "---|" : "");
        st = pf_trainer_create(pf_experiment_flow(e), pf_experiment_target(e), &o, &tr);
    }
    if (st == PF_OK)
        st = measure_row(e, &o, csv, 0, a.samples, a.agreement, kinds);
    while (st == PF_OK && pf_trainer_steps_done(tr) < o.steps) {
        st = pf_trainer_step(tr, NULL, NULL);
        long done = pf_trainer_steps_done(tr);
        if (st == PF_OK && (done % a.every == 0 || done == o.steps))
            st = measure_row(e, &o, csv, done, a.samples, a.agreement, kinds);
    }
    if (csv)
        fclose(csv);
    if (st == PF_OK) {
        char title[1200];
        snprintf(title, sizeof title,
                 "gradient variance over training: %s, %s objective, %d single-sample gradients "
                 "per point",
                 pf_experiment_name(e),
                 pf_objective_name(o.objective), a.samples);
        plot_history(a.dir, names, title);
        printf("\nCSV: %s/variance.csv, chart: %s/variance.png\n", a.dir, a.dir);
    }
    pf_trainer_destroy(tr);
    pf_experiment_destroy(e);
    return pf_cli_report(st);
}
