/* Running an experiment: the run directory (config.cfg, metrics.csv,
 * checkpoint.pfc, samples.npy, log_weights.npy) and progress display. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/npy.h"
#include "experiment/experiment_impl.h"

#define STREAM_FINAL_SAMPLES (5ULL << 40)

typedef struct run_state {
    pf_experiment *e;
    pf_trainer *trainer;
    FILE *csv, *log;
    int tty;
    char checkpoint[4400];
    double start, last_draw, last_loss;
    pf_metrics last;
    long checkpoint_step; /* step of the last checkpoint written (-1: none yet) */
    long checkpoint_every; /* training.checkpoint_every: 0 = at every metrics row */
    long end;              /* the last step of this process's run (a stop or the end) */
    int checkpoint_due;    /* a checkpoint falls on a row's step: written after the row */
    pf_status failure;    /* a failure inside the callback (checkpoint write) */
    int root;             /* process 0 (or the only one): writes the run directory */
    char divergence[320]; /* the trainer's divergence warning, once given */
    char recovered[160];  /* and whether the run recovered since */
} run_state;

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pf_status pf_make_directories(const char *path);

pf_status pf_make_directories(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return pf_fail(PF_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return pf_fail(PF_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    return PF_OK;
}

/* A CSV cell: the number, or empty when it does not apply (NaN). */
static void cell(FILE *f, double v, const char *sep)
{
    if (isnan(v))
        fprintf(f, "%s", sep);
    else
        fprintf(f, "%.9g%s", v, sep);
}

/* "[####......] step/steps  loss  ess  elapsed, ETA", redrawn in place at
 * most 10 times a second; padded so that a shorter line hides a longer one. */
static void draw_bar(run_state *r, long step, int final)
{
    const long total = r->e->options.steps;
    const double now = wall_seconds();
    if (!final && now - r->last_draw < 0.1)
        return;
    r->last_draw = now;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1], ess[16], line[160];
    const int filled = total > 0 ? (int)(WIDTH * step / total) : WIDTH;
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    if (isnan(r->last.ess))
        snprintf(ess, sizeof ess, "-");
    else
        snprintf(ess, sizeof ess, "%.3f", r->last.ess);
    const double elapsed = now - r->start;
    const double eta = step > 0 ? elapsed / (double)step * (double)(total - step) : 0;
    snprintf(line, sizeof line, "[%s] %ld/%ld  loss %.4g  ess %s  %.0fs elapsed, %.0fs left", bar,
             step, total, r->last_loss, ess, elapsed, eta);
    fprintf(r->log, "\r%-100s%s", line, final ? "\n" : "");
    fflush(r->log);
}

static void save_checkpoint(run_state *r, long step)
{
    r->failure = pf_trainer_save(r->trainer, r->checkpoint);
    if (r->failure == PF_OK)
        r->checkpoint_step = step;
}

static void on_step(void *user, long step, double loss)
{
    run_state *r = user;
    if (!isnan(loss))
        r->last_loss = loss;
    else if (r->log) /* a skipped step: say which estimator failed and where */
        fprintf(r->log, "%sstep %ld skipped: %s\n", r->tty ? "\n" : "", step, pf_last_error());
    if (r->root && r->checkpoint_every > 0 && step % r->checkpoint_every == 0 &&
        r->failure == PF_OK) {
        if (step % r->e->options.eval_every == 0 || step == r->e->options.steps || step == r->end)
            r->checkpoint_due = 1; /* a checkpoint before its row's step would lose the row */
        else
            save_checkpoint(r, step);
    }
    if (r->log && r->tty)
        draw_bar(r, step, 0);
}

/* "%.*g" of v into buf, or "-" where metrics.csv has an empty cell (NaN). */
static const char *figure(char *buf, size_t size, double v, int digits)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.*g", digits, v);
    return buf;
}

/* The log line of a metrics row (not on a terminal, where the bar is drawn). */
static void log_row(FILE *log, const pf_metrics *m, long steps)
{
    char loss[32], grad[32], ess[32], ess_f[32], nll[32], kl[32];
    fprintf(log,
            "step %ld/%ld  loss %s  grad_norm %s  ess %s  ess_forward %s  nll %s  kl %s  %.1f s\n",
            m->step, steps, figure(loss, 32, m->loss, 6), figure(grad, 32, m->grad_norm, 4),
            figure(ess, 32, m->ess, 4), figure(ess_f, 32, m->ess_forward, 4),
            figure(nll, 32, m->nll, 6), figure(kl, 32, m->kl, 6), m->seconds);
}

/* A metrics row: CSV, a log line or the bar, and a checkpoint. */
static int on_metrics(void *user, const pf_metrics *m)
{
    run_state *r = user;
    r->last = *m;
    if (!r->root)
        return 0;
    fprintf(r->csv, "%ld,", m->step);
    cell(r->csv, m->loss, ",");
    cell(r->csv, m->grad_norm, ",");
    cell(r->csv, m->ess, ",");
    cell(r->csv, m->nll, ",");
    cell(r->csv, m->kl, ",");
    cell(r->csv, m->ess_forward, ",");
    if (pf_flow_ode_stats(r->e->flow)) {
        cell(r->csv, m->seconds, ",");
        cell(r->csv, m->nfe_forward, ",");
        cell(r->csv, m->nfe_backward, "\n");
    } else {
        cell(r->csv, m->seconds, "\n");
    }
    fflush(r->csv);
    if (r->log && !r->tty)
        log_row(r->log, m, r->e->options.steps);
    const char *diverging = pf_trainer_divergence(r->trainer);
    if (diverging && !r->divergence[0]) {
        snprintf(r->divergence, sizeof r->divergence, "%s", diverging);
        if (r->log)
            fprintf(r->log, "%spathflow: warning: %s\n", r->tty ? "\n" : "", diverging);
    }
    const char *recovered = pf_trainer_recovery(r->trainer);
    snprintf(r->recovered, sizeof r->recovered, "%s", recovered ? recovered : "");
    if ((r->checkpoint_every == 0 || r->checkpoint_due) && r->failure == PF_OK)
        save_checkpoint(r, m->step);
    r->checkpoint_due = 0;
    return r->failure != PF_OK;
}

/* Training stopped on failed steps (non-finite, unsolved): the parameters are
 * those of the last good step, since failed steps are skipped; save them and
 * keep the training error as the message. Other failures leave the last
 * checkpoint written at a metrics row. */
static void checkpoint_after_failure(run_state *r, pf_status st)
{
    if (!r->root)
        return;
    char message[1024];
    snprintf(message, sizeof message, "%s", pf_last_error());
    const long step = pf_trainer_steps_done(r->trainer);
    if ((st == PF_ERR_NUMERIC || st == PF_ERR_SOLVER) &&
        pf_trainer_save(r->trainer, r->checkpoint) == PF_OK) {
        if (r->log)
            fprintf(r->log,
                    "pathflow: training stopped at step %ld; %s holds the parameters "
                    "of the last successful step\n",
                    step, r->checkpoint);
    } else if (r->log && r->checkpoint_step >= 0) {
        fprintf(r->log, "pathflow: training failed at step %ld; %s holds step %ld\n", step,
                r->checkpoint, r->checkpoint_step);
    }
    pf_fail(st, "%s", message);
}

/* eval.samples flow samples and their log weights, as .npy files. */
static pf_status write_samples(pf_experiment *e, const char *dir)
{
    const int N = e->options.eval_samples, d = pf_flow_dim(e->flow);
    const int chunk = e->options.batch;
    double *z = malloc((size_t)N * d * sizeof *z), *x = malloc((size_t)N * d * sizeof *x);
    double *ldj = malloc((size_t)N * sizeof *ldj), *lq0 = malloc((size_t)N * sizeof *lq0);
    double *S = malloc((size_t)N * sizeof *S);
    pf_status st =
        (z && x && ldj && lq0 && S) ? PF_OK : pf_fail(PF_ERR_NOMEM, "samples: no memory");
    pf_rng rng = pf_rng_make(e->options.seed, STREAM_FINAL_SAMPLES);
    for (int off = 0; st == PF_OK && off < N; off += chunk) {
        int n = N - off < chunk ? N - off : chunk;
        size_t o = (size_t)off * d;
        pf_flow_sample_base(e->flow, &rng, n, z + o);
        st = pf_flow_forward(e->flow, n, z + o, x + o, ldj + off, NULL, NULL);
        if (st == PF_OK)
            st = pf_target_action(e->target, n, x + o, S + off);
        pf_flow_base_log_prob(e->flow, n, z + o, lq0 + off, NULL);
    }
    long bad = 0;
    for (int i = 0; st == PF_OK && i < N; i++) {
        S[i] = -S[i] - (lq0[i] - ldj[i]); /* log w = −S − log q */
        int ok = !isnan(S[i]) && S[i] != INFINITY;
        for (int j = 0; j < d; j++)
            ok = ok && isfinite(x[(size_t)i * d + j]);
        bad += !ok;
    }
    if (st == PF_OK && bad)
        st = pf_fail(PF_ERR_NUMERIC,
                     "%s/samples.npy: %ld of %d flow samples or their log weights are non-finite "
                     "(the flow has diverged); not written",
                     dir, bad, N);
    char path[4400];
    size_t shape[2] = {(size_t)N, (size_t)d};
    snprintf(path, sizeof path, "%s/samples.npy", dir);
    if (st == PF_OK)
        st = pf_npy_write(path, 2, shape, x);
    snprintf(path, sizeof path, "%s/log_weights.npy", dir);
    if (st == PF_OK)
        st = pf_npy_write(path, 1, shape, S);
    free(z);
    free(x);
    free(ldj);
    free(lq0);
    free(S);
    return st;
}

/* On resume, metrics.csv back in step with the checkpoint at `step`: the
 * header, then the rows before it, and its own row if it is on the grid of
 * rows (a stop's extra row is not in an uninterrupted run). Rows a killed or
 * failed run wrote after its checkpoint, duplicates and a cut last line go. */
static pf_status trim_metrics(const char *path, const char *header, long step,
                              const pf_train_options *o)
{
    char tmp[4500];
    FILE *in = fopen(path, "r"), *out = pf_atomic_open(path, tmp, sizeof tmp);
    if (!out) {
        if (in)
            fclose(in);
        return PF_ERR_IO;
    }
    fputs(header, out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long last = -1;
    while (in && (len = getline(&line, &cap, in)) > 0) {
        char *end;
        errno = 0;
        const long s = strtol(line, &end, 10);
        if (line[len - 1] != '\n' || end == line || *end != ',' || errno || s <= last)
            continue; /* the header, a cut line, a repeated row */
        if (s < step || (s == step && (s % o->eval_every == 0 || s == o->steps))) {
            fputs(line, out);
            last = s;
        }
    }
    free(line);
    if (in)
        fclose(in);
    return pf_atomic_commit(out, tmp, path, !ferror(out));
}

/* Once the run can start (a resumed checkpoint has loaded: a refused resume
 * must leave the run as it was), on process 0: the directory, no results a
 * failed run must not leave behind, the resolved configuration, metrics.csv. */
static pf_status prepare_outputs(run_state *r, const char *dir, int resume)
{
    const pf_experiment *e = r->e;
    PF_TRY(pf_make_directories(dir));
    char path[4400];
    static const char *const stale[] = {"checkpoint.pfc", "samples.npy", "log_weights.npy"};
    for (int i = resume ? 1 : 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stale[i]);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/config.cfg", dir);
    PF_TRY(pf_experiment_write_config(e, path));
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char header[128];
    snprintf(header, sizeof header, "step,loss,grad_norm,ess,nll,kl,ess_forward,seconds%s\n",
             pf_flow_ode_stats(e->flow) ? ",nfe_forward,nfe_backward" : "");
    if (resume)
        PF_TRY(trim_metrics(path, header, pf_trainer_steps_done(r->trainer), &e->options));
    r->csv = fopen(path, resume ? "a" : "w");
    if (!r->csv)
        return pf_fail(PF_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (!resume)
        fputs(header, r->csv);
    return PF_OK;
}

/* "training NAME (...) into DIR", or "resuming NAME at step S ..." */
static void announce(const run_state *r, const char *dir, int resume)
{
    const pf_experiment *e = r->e;
    char processes[48] = "", start[64] = "training";
    if (e->par.size > 1)
        snprintf(processes, sizeof processes, " on %d processes", e->par.size);
    if (resume)
        snprintf(start, sizeof start, "resuming at step %ld:", pf_trainer_steps_done(r->trainer));
    fprintf(r->log, "pathflow: %s %s (%s %s, %ld steps, batch %d%s) %s %s\n", start, e->name,
            pf_objective_name(e->options.objective), pf_estimator_kind_name(e->options.estimator),
            e->options.steps, e->options.batch, processes, resume ? "in" : "into", dir);
}

/* Every failure after the trainer exists is agreed between processes, so
 * that all stop together with the failing one's message. */
static pf_status train(run_state *r, const char *dir, long stop_at, int resume)
{
    pf_experiment *e = r->e;
    snprintf(r->checkpoint, sizeof r->checkpoint, "%s/checkpoint.pfc", dir);
    r->end = (stop_at > 0 && stop_at < e->options.steps) ? stop_at : e->options.steps;
    pf_status st = pf_trainer_create(e->flow, e->target, &e->options, &r->trainer);
    if (e->par.size > 1) { /* no trainer to agree through yet: a flag over the processes */
        double failed = st != PF_OK;
        if (e->par.sum(e->par.ctx, &failed, 1) != 0 || (failed != 0 && st == PF_OK)) {
            pf_trainer_destroy(r->trainer);
            return pf_fail(PF_ERR_PARALLEL, "another process could not set up its trainer");
        }
    }
    if (st != PF_OK)
        return st;
    if (e->par.size > 1)
        st = pf_trainer_set_parallel(r->trainer, &e->par);
    if (st == PF_OK && resume)
        st = pf_trainer_load(r->trainer, r->checkpoint);
    if (st == PF_OK && resume && pf_trainer_steps_done(r->trainer) > e->options.steps)
        st = pf_fail(PF_ERR_CONFIG,
                     "%s: training.steps = %ld, but the run has done %ld steps (a resumed run "
                     "continues or is extended, never shortened)",
                     r->checkpoint, e->options.steps, pf_trainer_steps_done(r->trainer));
    if (st == PF_OK && resume) /* seconds count from the run's start */
        pf_trainer_set_elapsed(r->trainer,
                               pf_run_elapsed_seconds(dir, pf_trainer_steps_done(r->trainer)));
    if (st == PF_OK && r->root)
        st = prepare_outputs(r, dir, resume);
    st = pf_trainer_agree(r->trainer, st);
    const int started = st == PF_OK;
    if (started && r->log) /* only now: a refused resume must not look started */
        announce(r, dir, resume);
    if (st == PF_OK) {
        pf_trainer_set_progress(r->trainer, on_step, r);
        st = pf_trainer_run_until(r->trainer, stop_at, on_metrics, r);
        if (st == PF_OK)
            st = pf_trainer_agree(r->trainer, r->failure);
        if (st == PF_OK)
            st = pf_trainer_agree(r->trainer,
                                  r->root ? pf_trainer_save(r->trainer, r->checkpoint) : PF_OK);
    }
    if (started && r->log && r->tty)
        draw_bar(r, pf_trainer_steps_done(r->trainer), 1);
    if (st != PF_OK)
        checkpoint_after_failure(r, st);
    pf_trainer_destroy(r->trainer);
    if (r->csv && fclose(r->csv) != 0 && st == PF_OK)
        st = pf_fail(PF_ERR_IO, "%s/metrics.csv: write failed", dir);
    return st;
}

pf_status pf_experiment_run(pf_experiment *e, const char *out_dir, FILE *log, pf_metrics *last)
{
    return pf_experiment_run_with(e, out_dir, log, last, 0, 0);
}

pf_status pf_experiment_run_with(pf_experiment *e, const char *out_dir, FILE *log,
                                 pf_metrics *last, long stop_at, int resume)
{
    const char *dir = out_dir ? out_dir : pf_experiment_default_out_dir(e);
    PF_TRY(pf_experiment_build(e));
    run_state r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.log = log;
    r.tty = log && isatty(fileno(log));
    r.last.ess = NAN;
    r.last_loss = NAN;
    r.start = wall_seconds();
    r.last_draw = r.start - 1;
    r.checkpoint_step = -1;
    r.checkpoint_every = pf_config_int(e, "training.checkpoint_every");
    r.root = e->par.rank == 0;
    PF_TRY(train(&r, dir, stop_at, resume));
    if (pf_train_stop_requested()) { /* asked to stop (a signal): the checkpoint is enough */
        if (last)
            *last = r.last;
        return PF_OK;
    }
    if (r.root)
        PF_TRY(write_samples(e, dir));
    if (last)
        *last = r.last;
    if (log && r.divergence[0])
        fprintf(log, "pathflow: warning: %s%s\n", r.divergence, r.recovered);
    if (log)
        fprintf(log,
                "pathflow: results in %s (config.cfg, metrics.csv, checkpoint.pfc, samples.npy, "
                "log_weights.npy)\n",
                dir);
    return PF_OK;
}
