/* The trainer loop: sample (or take data), estimate the gradient, clip,
 * Adam; every eval_every steps a row of diagnostics. */
#include <pathflow/train.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"
#include "train/trainer_impl.h"

/* Evaluation draws its samples in chunks of max(batch, EVAL_CHUNK_MIN) rows,
 * so that the flow's tape, sized for the largest pass, is no larger than
 * training needs (a 16-layer conv flow on 8×8 keeps about 6 MB per row). */
#define EVAL_CHUNK_MIN 128

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pf_train_options pf_train_options_default(void)
{
    pf_train_options o;
    memset(&o, 0, sizeof o);
    o.objective = PF_OBJECTIVE_REVERSE;
    o.estimator = PF_ESTIMATOR_PATH;
    o.batch = 256;
    o.steps = 1000;
    o.lr = 1e-3;
    o.min_lr = 0.0;
    o.schedule = PF_SCHEDULE_COSINE;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.clip_relative = 5.0;
    o.seed = 1;
    o.eval_every = 100;
    o.eval_samples = 2000;
    o.max_bad_steps = 10;
    o.n_holdout = 2000;
    return o;
}

static pf_status check_options(const pf_train_options *o, const pf_target *target)
{
    if (o->batch < 1)
        return pf_fail(PF_ERR_ARG, "trainer: batch = %d must be ≥ 1", o->batch);
    if (o->steps < 0 || o->eval_every < 1 || o->eval_samples < 1 || o->max_bad_steps < 1)
        return pf_fail(PF_ERR_ARG, "trainer: steps ≥ 0, eval_every ≥ 1, eval_samples ≥ 1 and "
                                   "max_bad_steps ≥ 1 are required");
    if (!(o->clip_norm >= 0) || !(o->clip_relative >= 0))
        return pf_fail(PF_ERR_ARG, "trainer: clip_norm = %g and clip_relative = %g must be ≥ 0",
                       o->clip_norm, o->clip_relative);
    if (!(o->lr > 0) || !(o->min_lr >= 0))
        return pf_fail(PF_ERR_ARG, "trainer: lr = %g must be > 0, min_lr = %g ≥ 0", o->lr,
                       o->min_lr);
    if (o->objective == PF_OBJECTIVE_FORWARD && !o->data && !pf_target_has_sampler(target))
        return pf_fail(PF_ERR_ARG, "trainer: forward KL needs training data: the %s target has "
                                   "no exact sampler and no data was given",
                       pf_target_kind(target));
    if (o->data && o->n_data < 1)
        return pf_fail(PF_ERR_ARG, "trainer: n_data = %d must be ≥ 1", o->n_data);
    return PF_OK;
}

static pf_status allocate(pf_trainer *t)
{
    const pf_train_options *o = &t->options;
    const int chunk = o->batch > EVAL_CHUNK_MIN ? o->batch : EVAL_CHUNK_MIN;
    t->eval_chunk = o->eval_samples < chunk ? o->eval_samples : chunk;
    int n_log_w = o->eval_samples > t->n_holdout ? o->eval_samples : t->n_holdout;
    size_t chunk_d = (size_t)t->eval_chunk * t->d;
    t->grad = pf_alloc_doubles(t->n_params, "trainer gradient");
    t->good_params = pf_alloc_doubles(t->n_params, "trainer parameters");
    t->input = pf_alloc_doubles((size_t)o->batch * t->d, "trainer batch");
    t->eval_z = pf_alloc_doubles(chunk_d, "trainer evaluation");
    t->eval_x = pf_alloc_doubles(chunk_d, "trainer evaluation");
    t->eval_ldj = pf_alloc_doubles((size_t)t->eval_chunk, "trainer evaluation");
    t->eval_log_q0 = pf_alloc_doubles((size_t)t->eval_chunk, "trainer evaluation");
    t->eval_S = pf_alloc_doubles((size_t)t->eval_chunk, "trainer evaluation");
    t->eval_log_w = pf_alloc_doubles((size_t)n_log_w, "trainer evaluation");
    t->eval_log_q = pf_alloc_doubles((size_t)n_log_w, "trainer evaluation");
    if (!t->grad || !t->good_params || !t->input || !t->eval_z || !t->eval_x || !t->eval_ldj || !t->eval_log_q0 ||
        !t->eval_S || !t->eval_log_w || !t->eval_log_q)
        return PF_ERR_NOMEM;
    PF_TRY(pf_flow_reserve(t->flow, o->batch > t->eval_chunk ? o->batch : t->eval_chunk));
    PF_TRY(pf_estimator_create(o->objective, o->estimator, t->flow, t->target, o->batch,
                               &t->estimator));
    return pf_adam_create(t->n_params, o->beta1, o->beta2, o->eps, &t->adam);
}

/* Held-out target samples: given, or drawn once from the exact sampler. */
static pf_status prepare_holdout(pf_trainer *t)
{
    const pf_train_options *o = &t->options;
    if (o->holdout) {
        t->holdout = o->holdout;
        t->n_holdout = o->n_holdout;
        return PF_OK;
    }
    t->n_holdout = pf_target_has_sampler(t->target) ? o->n_holdout : 0;
    if (t->n_holdout <= 0) {
        t->n_holdout = 0;
        return PF_OK;
    }
    t->holdout_owned = pf_alloc_doubles((size_t)t->n_holdout * t->d, "trainer holdout");
    if (!t->holdout_owned)
        return PF_ERR_NOMEM;
    pf_rng rng = pf_rng_make(o->seed, PF_STREAM_HOLDOUT);
    PF_TRY(pf_target_sample(t->target, &rng, t->n_holdout, t->holdout_owned));
    t->holdout = t->holdout_owned;
    return PF_OK;
}

pf_status pf_trainer_create(pf_flow *flow, pf_target *target, const pf_train_options *options,
                            pf_trainer **out)
{
    *out = NULL;
    if (!flow || !target || !options)
        return pf_fail(PF_ERR_ARG, "trainer: flow, target or options is NULL");
    PF_TRY(check_options(options, target));
    pf_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return pf_fail(PF_ERR_NOMEM, "trainer: cannot allocate");
    t->flow = flow;
    t->target = target;
    t->options = *options;
    t->d = pf_flow_dim(flow);
    t->n_params = pf_flow_n_params(flow);
    t->n_holdout = options->holdout ? options->n_holdout : 0;
    t->par.size = 1;
    pf_status st = prepare_holdout(t);
    if (st == PF_OK)
        st = allocate(t);
    if (st != PF_OK) {
        pf_trainer_destroy(t);
        return st;
    }
    t->start_time = now_seconds();
    t->best_loss = t->best_grad_norm = NAN;
    *out = t;
    return PF_OK;
}

void pf_trainer_destroy(pf_trainer *t)
{
    if (!t)
        return;
    pf_estimator_destroy(t->estimator);
    pf_adam_destroy(t->adam);
    double *bufs[] = {t->grad,        t->input,     t->eval_z,       t->eval_x,
                      t->eval_ldj,    t->eval_log_q0, t->eval_S,    t->eval_log_w,
                      t->eval_log_q,  t->holdout_owned, t->par_buf, t->par_gather,
                      t->good_params};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        pf_free(bufs[i]);
    free(t);
}

long pf_trainer_steps_done(const pf_trainer *t) { return t->step; }

void pf_trainer_set_elapsed(pf_trainer *t, double seconds)
{
    t->start_time = now_seconds() - seconds;
}

void pf_trainer_set_progress(pf_trainer *t, pf_train_progress progress, void *user)
{
    t->progress = progress;
    t->progress_user = user;
}

void pf_trainer_set_step_callback(pf_trainer *t, pf_train_step_callback callback, void *user)
{
    t->step_callback = callback;
    t->step_user = user;
}

/* This process's rows [*first, *first + *count) of the step's global batch of
 * *B rows (all of them for one process; *B is all the data when it is smaller
 * than batch): base samples (reverse) or target data (forward), drawn by
 * global row index so that they do not depend on the number of processes. */
static pf_status prepare_input(pf_trainer *t, long *B, long *first, long *count)
{
    const pf_train_options *o = &t->options;
    const size_t d = (size_t)t->d;
    *B = o->data && o->n_data <= o->batch ? o->n_data : o->batch;
    pf_train_share(t, *B, first, count);
    if (o->objective == PF_OBJECTIVE_REVERSE) {
        pf_rng rng = pf_rng_make(o->seed, PF_STREAM_BASE_SAMPLES + (uint64_t)t->step);
        rng.next_normal = rng.next_uniform = (uint64_t)*first * d; /* d draws per row */
        rng.next_rademacher = (uint64_t)*first; /* a z2_mixture base: one per row */
        pf_flow_sample_base(t->flow, &rng, (int)*count, t->input);
        return PF_OK;
    }
    pf_rng rng = pf_rng_make(o->seed, PF_STREAM_DATA + (uint64_t)t->step);
    if (!o->data) {
        /* a sampler's draws per row may vary: each process draws the whole
         * batch (O(B·d), small next to the flow) and keeps its rows */
        PF_TRY(pf_target_sample(t->target, &rng, (int)*B, t->input));
        memmove(t->input, t->input + (size_t)*first * d, (size_t)*count * d * sizeof *t->input);
        return PF_OK;
    }
    if (o->n_data <= o->batch) { /* full-batch training on a small data set */
        memcpy(t->input, o->data + (size_t)*first * d, (size_t)*count * d * sizeof *t->input);
        return PF_OK;
    }
    for (long b = 0; b < *count; b++) { /* minibatch drawn with replacement */
        double u;
        pf_rng_uniform_at(&rng, (uint64_t)(*first + b), 1, &u);
        size_t row = (size_t)(u * o->n_data);
        if (row >= (size_t)o->n_data)
            row = (size_t)o->n_data - 1;
        memcpy(t->input + (size_t)b * d, o->data + row * d, d * sizeof(double));
    }
    return PF_OK;
}

/* The spike guard: ‖g‖ at most clip_relative × √(Σᵢ v̂ᵢ), Adam's bias-corrected
 * second moment summed, i.e. the RMS of the last ~1/(1 − β₂) gradient norms.
 * A single wild batch then moves the parameters no further than a typical
 * one and does not inflate v (which would stall the following steps). It
 * keeps no state of its own, so checkpoints resume it exactly. */
#define CLIP_RELATIVE_AFTER 20 /* steps of history before it acts */

static void clip_relative(pf_trainer *t)
{
    const double c = t->options.clip_relative;
    double *m, *v;
    long *steps;
    pf_adam_state(t->adam, &m, &v, &steps);
    if (!(c > 0) || *steps < CLIP_RELATIVE_AFTER)
        return;
    const double sum_v = pf_sum_abs(t->n_params, v); /* v ≥ 0 */
    const double rms = sqrt(sum_v / (1.0 - pow(t->options.beta2, (double)*steps)));
    if (rms > 0)
        pf_clip_grad_norm(t->n_params, t->grad, c * rms);
}

pf_status pf_trainer_step(pf_trainer *t, double *loss, double *grad_norm)
{
    const pf_train_options *o = &t->options;
    long B, first, count;
    pf_estimate r = {NAN, NAN};
    double nfe_forward = 0, nfe_backward = 0;
    pf_status st = prepare_input(t, &B, &first, &count);
    if (st == PF_OK) {
        pf_flow_set_noise(t->flow, PF_STREAM_BASE_SAMPLES + (uint64_t)t->step, (uint64_t)first);
        const pf_ode_stats *ode = pf_flow_ode_stats(t->flow);
        long f0 = ode ? ode->rhs_evals : 0, b0 = ode ? ode->rhs_evals_b : 0;
        st = pf_estimator_eval(t->estimator, (int)count, t->input, t->grad, NULL, &r);
        if (ode) {
            nfe_forward = (double)(ode->rhs_evals - f0);
            nfe_backward = (double)(ode->rhs_evals_b - b0);
        }
    }
    st = pf_train_reduce_step(t, st, count, B, &r.loss, &r.grad_norm, &nfe_forward,
                              &nfe_backward);
    t->nfe_forward += nfe_forward;
    t->nfe_backward += nfe_backward;
    if (loss)
        *loss = st == PF_OK ? r.loss : NAN;
    if (grad_norm)
        *grad_norm = st == PF_OK ? r.grad_norm : NAN;
    if (st == PF_ERR_NUMERIC || st == PF_ERR_SOLVER) {
        /* skip the update, count it, stop after too many in a row */
        t->step++;
        t->skipped++;
        if (++t->nonfinite_run >= o->max_bad_steps) {
            /* the failures were computed at the current parameters: back to
             * those of the last finite loss */
            if (t->has_good_params)
                memcpy(pf_flow_params(t->flow), t->good_params, t->n_params * sizeof(double));
            return pf_fail_context(st, "training stopped at step %ld after %d failed "
                                       "(non-finite or unsolved) steps in a row",
                                   t->step, t->nonfinite_run);
        }
        return PF_OK;
    }
    PF_TRY(st);
    t->nonfinite_run = 0;
    if (o->clip_norm > 0) /* the norm costs a pass over the parameters */
        pf_clip_grad_norm(t->n_params, t->grad, o->clip_norm);
    memcpy(t->good_params, pf_flow_params(t->flow), t->n_params * sizeof(double));
    t->has_good_params = 1;
    clip_relative(t);
    double lr = pf_schedule_lr(o->schedule, o->lr, o->min_lr, t->step, o->steps, o->warmup);
    pf_adam_step(t->adam, pf_flow_params(t->flow), t->grad, lr);
    t->step++;
    t->loss_sum += r.loss;
    t->loss_sq_sum += r.loss * r.loss;
    t->grad_norm_sum += r.grad_norm;
    t->rows_steps++;
    return PF_OK;
}

/* log w of this process's rows [first, first + count) of the N evaluation
 * samples, drawn by global row index; rows in chunks of eval_chunk. */
static pf_status reverse_rows(pf_trainer *t, long first, long count)
{
    const uint64_t d = (uint64_t)t->d;
    pf_rng rng = pf_rng_make(t->options.seed, PF_STREAM_EVAL + (uint64_t)t->step);
    for (long off = first; off < first + count; off += t->eval_chunk) {
        int n = (int)(first + count - off < t->eval_chunk ? first + count - off : t->eval_chunk);
        rng.next_normal = rng.next_uniform = (uint64_t)off * d;
        rng.next_rademacher = (uint64_t)off;
        pf_flow_sample_base(t->flow, &rng, n, t->eval_z);
        pf_flow_set_noise(t->flow, PF_STREAM_EVAL + (uint64_t)t->step, (uint64_t)off);
        PF_TRY(pf_flow_forward(t->flow, n, t->eval_z, t->eval_x, t->eval_ldj, NULL, NULL));
        pf_flow_base_log_prob(t->flow, n, t->eval_z, t->eval_log_q0, NULL);
        PF_TRY(pf_target_action(t->target, n, t->eval_x, t->eval_S));
        for (int i = 0; i < n; i++)
            t->eval_log_w[off + i] = -t->eval_S[i] - (t->eval_log_q0[i] - t->eval_ldj[i]);
    }
    return PF_OK;
}

/* Reverse diagnostics on eval_samples fresh flow samples: ESS, and KL(q‖p)
 * when log Z is known (KL = mean(log q + S) + log Z = mean(−log w) + log Z). */
static pf_status evaluate_reverse(pf_trainer *t, double *ess, double *kl)
{
    const int N = t->options.eval_samples;
    long first, count;
    pf_train_share(t, N, &first, &count);
    PF_TRY(pf_trainer_agree(t, reverse_rows(t, first, count)));
    PF_TRY(pf_train_gather(t, t->eval_log_w, N, first, count));
    double sum_neg_log_w = 0;
    for (int i = 0; i < N; i++)
        sum_neg_log_w -= t->eval_log_w[i];
    *ess = pf_reverse_ess(N, t->eval_log_w);
    double log_z;
    *kl = pf_target_log_z(t->target, &log_z) == PF_OK ? sum_neg_log_w / N + log_z : NAN;
    pf_clear_error();
    return PF_OK;
}

/* log q and log w of this process's rows of the held-out samples. */
static pf_status holdout_rows(pf_trainer *t, long first, long count)
{
    const int d = t->d;
    for (long off = first; off < first + count; off += t->eval_chunk) {
        int n = (int)(first + count - off < t->eval_chunk ? first + count - off : t->eval_chunk);
        const double *x = t->holdout + (size_t)off * d;
        pf_flow_set_noise(t->flow, PF_STREAM_HOLDOUT + (uint64_t)t->step, (uint64_t)off);
        PF_TRY(pf_flow_inverse(t->flow, n, x, t->eval_z, t->eval_ldj, NULL, NULL));
        pf_flow_base_log_prob(t->flow, n, t->eval_z, t->eval_log_q0, NULL);
        PF_TRY(pf_target_action(t->target, n, x, t->eval_S));
        for (int i = 0; i < n; i++) {
            t->eval_log_q[off + i] = t->eval_log_q0[i] + t->eval_ldj[i];
            t->eval_log_w[off + i] = -t->eval_S[i] - t->eval_log_q[off + i];
        }
    }
    return PF_OK;
}

/* Held-out diagnostics: NLL = mean(−log q(x)) and forward ESS on target samples. */
static pf_status evaluate_holdout(pf_trainer *t, double *nll, double *ess_forward)
{
    const int N = t->n_holdout;
    long first, count;
    pf_train_share(t, N, &first, &count);
    PF_TRY(pf_trainer_agree(t, holdout_rows(t, first, count)));
    PF_TRY(pf_train_gather(t, t->eval_log_q, N, first, count));
    PF_TRY(pf_train_gather(t, t->eval_log_w, N, first, count));
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum -= t->eval_log_q[i];
    *nll = sum / N;
    *ess_forward = pf_forward_ess(N, t->eval_log_w);
    return PF_OK;
}

pf_status pf_trainer_evaluate(pf_trainer *t, pf_metrics *m)
{
    m->step = t->step;
    m->loss = t->rows_steps ? t->loss_sum / t->rows_steps : NAN;
    m->grad_norm = t->rows_steps ? t->grad_norm_sum / t->rows_steps : NAN;
    m->skipped = t->skipped;
    PF_TRY(evaluate_reverse(t, &m->ess, &m->kl));
    m->nll = m->ess_forward = NAN;
    if (t->n_holdout > 0)
        PF_TRY(evaluate_holdout(t, &m->nll, &m->ess_forward));
    m->seconds = now_seconds() - t->start_time;
    const int cnf = pf_flow_ode_stats(t->flow) != NULL;
    m->nfe_forward = cnf ? t->nfe_forward : NAN;
    m->nfe_backward = cnf ? t->nfe_backward : NAN;
    return PF_OK;
}

static volatile sig_atomic_t stop_requested;

void pf_train_request_stop(void) { stop_requested = 1; }

int pf_train_stop_requested(void) { return stop_requested != 0; }

/* A run diverges when its metrics rows keep getting worse: DIVERGE_ROWS rows
 * in a row whose mean loss lies more than DIVERGE_SE standard errors of that
 * row's mean (plus 0.01 + 1e-4·|best|) above the best row so far, or whose
 * mean gradient norm exceeds DIVERGE_GRAD times the lowest so far. Noise
 * around a plateau rarely does either three times running; a run away does it
 * every row. As many calm rows after the warning count as a recovery. */
#define DIVERGE_ROWS 3
#define DIVERGE_SE 4.0
#define DIVERGE_GRAD 10.0

static void watch_divergence(pf_trainer *t, const pf_metrics *m)
{
    const long n = t->rows_steps;
    if (n < 2 || !isfinite(m->loss) || !isfinite(m->grad_norm))
        return;
    double var = (t->loss_sq_sum - n * m->loss * m->loss) / (double)(n - 1);
    double se = sqrt(var > 0 ? var / n : 0);
    /* the margin: noise of the row's mean, and a floor for rows without noise
     * (a path gradient near q = p has almost none) */
    const double margin = DIVERGE_SE * se + 0.01 + 1e-4 * fabs(t->best_loss);
    int worse = !isnan(t->best_loss) &&
                (m->loss > t->best_loss + margin ||
                 m->grad_norm > DIVERGE_GRAD * t->best_grad_norm);
    t->rising_rows = worse ? t->rising_rows + 1 : 0;
    t->calm_rows = worse ? 0 : t->calm_rows + 1;
    if (t->divergence[0] && t->rising_rows >= DIVERGE_ROWS)
        t->recovered[0] = '\0'; /* diverging again */
    else if (t->divergence[0] && t->calm_rows == DIVERGE_ROWS)
        snprintf(t->recovered, sizeof t->recovered,
                 "; it recovered later: %d rows in a row back near its best, to step %ld "
                 "(loss %.6g)",
                 DIVERGE_ROWS, m->step, m->loss);
    if (!t->divergence[0] && t->rising_rows >= DIVERGE_ROWS) {
        snprintf(t->divergence, sizeof t->divergence,
                 "training is diverging: for %d metrics rows (to step %ld) the loss stayed "
                 "well above its best %.6g (step %ld), now %.6g, or the gradient norm above "
                 "10x its lowest %.4g, now %.4g; lower training.lr or set training.warmup / "
                 "training.clip_norm",
                 t->rising_rows, m->step, t->best_loss, t->best_step, m->loss,
                 t->best_grad_norm, m->grad_norm);
    }
    if (isnan(t->best_loss) || m->loss < t->best_loss) {
        t->best_loss = m->loss;
        t->best_step = m->step;
    }
    if (isnan(t->best_grad_norm) || m->grad_norm < t->best_grad_norm)
        t->best_grad_norm = m->grad_norm;
}

const char *pf_trainer_divergence(const pf_trainer *t)
{
    return t->divergence[0] ? t->divergence : NULL;
}

const char *pf_trainer_recovery(const pf_trainer *t)
{
    return t->recovered[0] ? t->recovered : NULL;
}

pf_status pf_trainer_run_until(pf_trainer *t, long stop_at, pf_train_callback callback,
                               void *user)
{
    const pf_train_options *o = &t->options;
    long end = (stop_at > 0 && stop_at < o->steps) ? stop_at : o->steps;
    while (t->step < end) {
        double loss;
        PF_TRY(pf_trainer_step(t, &loss, NULL));
        if (t->progress)
            t->progress(t->progress_user, t->step, loss);
        if (pf_train_any(t, stop_requested != 0)) { /* all processes stop at one step */
            stop_requested = 1;
            end = t->step;
        }
        const int stop =
            t->step_callback && pf_train_any(t, t->step_callback(t->step_user, t->step, loss));
        if (stop)
            end = t->step;
        if (t->step % o->eval_every != 0 && t->step != end)
            continue;
        pf_metrics m;
        PF_TRY(pf_trainer_evaluate(t, &m));
        if (t->step % o->eval_every == 0 || t->step == o->steps) {
            /* a row off the grid (a stop) leaves its steps in the sums: a
             * resumed run's next row averages what an uninterrupted one does */
            watch_divergence(t, &m);
            t->loss_sum = t->grad_norm_sum = t->loss_sq_sum = 0;
            t->rows_steps = 0;
        }
        if (pf_train_any(t, callback ? callback(user, &m) : 0) || stop)
            break;
    }
    return PF_OK;
}

pf_status pf_trainer_run(pf_trainer *t, pf_train_callback callback, void *user)
{
    return pf_trainer_run_until(t, 0, callback, user);
}
