/* Training: Adam, learning-rate schedules, gradient clipping, diagnostics
 * (docs/theory.md §8), checkpoints, and the trainer loop that ties a flow, a target and
 * an estimator together. */
#ifndef PATHFLOW_TRAIN_H
#define PATHFLOW_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/pathflow.h>
#include <pathflow/target.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Adam with bias correction ---------------------------------------------
 * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², t ← t+1,
 * θ ← θ − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε). */
typedef struct pf_adam pf_adam;
pf_status pf_adam_create(size_t n, double beta1, double beta2, double eps, pf_adam **out);
void pf_adam_destroy(pf_adam *adam);
void pf_adam_step(pf_adam *adam, double *params, const double *grad, double lr);
/* The state, for checkpoints: m and v (n each) and the step count t. */
void pf_adam_state(pf_adam *adam, double **m, double **v, long **t);

/* ---- schedules and clipping --------------------------------------------------- */
typedef enum pf_schedule { PF_SCHEDULE_CONSTANT = 0, PF_SCHEDULE_COSINE } pf_schedule;
pf_status pf_schedule_from_name(const char *name, pf_schedule *schedule);
const char *pf_schedule_name(pf_schedule schedule);

/* Learning rate at step (0-based) of total: constant → lr; cosine →
 * min_lr + (lr − min_lr)(1 + cos(π·step/total))/2. A linear warm-up over the
 * first `warmup` steps multiplies either. */
double pf_schedule_lr(pf_schedule schedule, double lr, double min_lr, long step, long total,
                      long warmup);

/* Scales grad (n) so that ‖grad‖₂ ≤ max_norm (no-op if max_norm ≤ 0 or
 * already smaller); returns the norm before clipping. */
double pf_clip_grad_norm(size_t n, double *grad, double max_norm);

/* ---- diagnostics (docs/theory.md §8) ------------------------------------------------------ */
/* Reverse ESS from log w of N flow samples: (Σw)²/(N Σw²) ∈ (0, 1]. */
double pf_reverse_ess(int N, const double *log_w);
/* Forward ESS from log w of N target samples: 1/(mean(w)·mean(1/w)) ∈ (0, 1]. */
double pf_forward_ess(int N, const double *log_w);
/* log((1/N) Σ exp(a_i)), stable. */
double pf_log_mean_exp(int N, const double *a);

/* ---- the trainer ------------------------------------------------------------------ */
typedef struct pf_train_options {
    pf_objective objective;
    pf_estimator_kind estimator;
    int batch;              /* samples per gradient step */
    long steps;             /* gradient steps */
    double lr, min_lr;      /* learning rate (and the cosine schedule's floor) */
    pf_schedule schedule;
    long warmup;            /* linear warm-up steps */
    double beta1, beta2, eps; /* Adam */
    double clip_norm;       /* 0: no clipping */
    double clip_relative;   /* spike guard: ‖g‖ ≤ clip_relative × RMS of recent norms
                               (from Adam's second moment); 0: off; default 5 */
    unsigned long long seed;
    long eval_every;        /* steps between metric rows (the last step always has one) */
    int eval_samples;       /* flow samples for reverse ESS / KL at each row */
    int max_bad_steps;      /* consecutive non-finite steps before training stops */
    /* Forward-KL training data (B×d rows). NULL: fresh exact samples from the
     * target every step (needs a sampler). Borrowed: must outlive the trainer. */
    const double *data;
    int n_data;
    /* Held-out target samples for NLL and forward ESS (NULL: drawn from the
     * exact sampler if there is one, else no NLL). */
    const double *holdout;
    int n_holdout;
    /* An identifier of the settings the run was configured with (0: none),
     * written into checkpoints; pf_trainer_load refuses a checkpoint written
     * under another nonzero identifier. Experiments set it from their
     * configuration; embedders may use any hash of theirs. */
    uint64_t settings_hash;
} pf_train_options;

pf_train_options pf_train_options_default(void);

/* One row of metrics; NaN where a figure does not apply. */
typedef struct pf_metrics {
    long step;        /* steps done */
    double loss;      /* mean loss over the steps since the previous row */
    double grad_norm; /* mean gradient norm over the same steps (before clipping) */
    double ess;       /* reverse ESS on eval_samples flow samples */
    double ess_forward; /* forward ESS on the held-out target samples */
    double nll;       /* mean −log q_θ on the held-out target samples */
    double kl;        /* KL(q_θ‖p) estimate, when the target's log Z is known */
    double seconds;   /* wall time since the trainer started */
    long skipped;     /* non-finite or failed-solve steps skipped so far */
    double nfe_forward, nfe_backward; /* CNF: right-hand-side evaluations of the training
                                         steps so far, forward/inverse and adjoint solves
                                         (NaN for discrete flows) */
} pf_metrics;

typedef struct pf_trainer pf_trainer;

/* Borrows flow and target (they must outlive the trainer). */
pf_status pf_trainer_create(pf_flow *flow, pf_target *target, const pf_train_options *options,
                            pf_trainer **out);
void pf_trainer_destroy(pf_trainer *trainer);

/* One gradient step (sampling, estimator, clipping, Adam). A non-finite loss
 * or gradient, or a failed ODE solve (PF_ERR_SOLVER: max_steps exceeded, a
 * non-finite right-hand side), skips the update (counted); after
 * max_bad_steps in a row the step returns that error. *loss and *grad_norm
 * may be NULL. */
pf_status pf_trainer_step(pf_trainer *trainer, double *loss, double *grad_norm);

/* Diagnostics at the current parameters into *m (step, ess, nll, kl, seconds). */
pf_status pf_trainer_evaluate(pf_trainer *trainer, pf_metrics *m);

/* Called with each metrics row; return nonzero to stop training early. */
typedef int (*pf_train_callback)(void *user, const pf_metrics *m);

/* Runs the remaining steps, calling `callback` (may be NULL) every eval_every
 * steps and after the last one. */
pf_status pf_trainer_run(pf_trainer *trainer, pf_train_callback callback, void *user);

/* The same, stopping after step `stop_at` (< the configured steps: a job cut
 * short; the schedule still runs to the configured total, so a later resume
 * continues exactly). stop_at ≤ 0 or ≥ steps: run to the end. */
pf_status pf_trainer_run_until(pf_trainer *trainer, long stop_at, pf_train_callback callback,
                               void *user);

/* Asks a running pf_trainer_run_until, anywhere in the process, to stop at
 * the next step boundary as a stop_at there would (a metrics row for that
 * step, then PF_OK). Async-signal-safe: for signal handlers. The request
 * stays; pf_train_stop_requested says whether one was made. */
void pf_train_request_stop(void);
int pf_train_stop_requested(void);

long pf_trainer_steps_done(const pf_trainer *trainer);

/* NULL, or a message once the run's metrics rows say it diverges: three rows
 * in a row with the mean loss well above its best row (by more than 4 of its
 * standard errors) or the mean gradient norm above 10× its lowest. Set by
 * pf_trainer_run/_until; it stays set. */
const char *pf_trainer_divergence(const pf_trainer *trainer);
/* NULL, or "; it recovered later: ..." when, after the warning, three rows in
 * a row were back near the best (and the run has not diverged again since). */
const char *pf_trainer_recovery(const pf_trainer *trainer);

/* Training seconds spent before this trainer was created (the earlier
 * sessions of a resumed run): the metrics' `seconds` count on from them. */
void pf_trainer_set_elapsed(pf_trainer *trainer, double seconds);

/* Called after every step with the steps done and that step's loss (NaN if
 * it was skipped); for progress displays. NULL removes it. */
typedef void (*pf_train_progress)(void *user, long step, double loss);
void pf_trainer_set_progress(pf_trainer *trainer, pf_train_progress progress, void *user);

/* Called after every step of pf_trainer_run/_run_until (after the progress
 * function) with the steps done and that step's loss (NaN if it was skipped);
 * return nonzero to end the run after this step, which then gets a metrics
 * row and a call of the run's callback as the last step of a run does. NULL
 * removes it. In data-parallel runs the request is agreed every step (one
 * sum), so every process must set one; any process's request stops all. */
typedef int (*pf_train_step_callback)(void *user, long step, double loss);
void pf_trainer_set_step_callback(pf_trainer *trainer, pf_train_step_callback callback,
                                  void *user);

/* ---- data-parallel training ----------------------------------------------------------
 * `size` processes each run a trainer on their own copies of the same flow,
 * target and options. Process `rank` takes rows [B·rank/size, B·(rank+1)/size)
 * of every global batch of B rows (uneven splits allowed), drawn from the
 * counter-based streams by global row index, so the samples do not depend on
 * size; gradients, losses and evaluation results are combined through `sum`
 * and every process takes the same optimiser step. A failure on any process
 * stops all of them, each returning the failing process's status and message
 * ("process R of N: ..."). The callback's stop request is agreed the same
 * way. pathflow/mpi.h makes a pf_parallel from an MPI communicator; the
 * result equals one process's up to the order of summation (CNFs: up to the
 * solver tolerance, since each process's CVODES picks its own steps).
 * pf_trainer_step, _evaluate, _run, _run_until and _agree are then collective:
 * every process calls them in the same order. */
typedef struct pf_parallel {
    int rank, size;
    /* Element-wise sum of data[0..n) over all processes, in place, with the
     * same result on every process; returns 0 on success. Collective: every
     * process calls it with the same n. */
    int (*sum)(void *ctx, double *data, int n);
    void *ctx;
} pf_parallel;

/* Call before the first step; copies *parallel. Fails (PF_ERR_ARG) if a
 * batch (or the training data, when smaller) has fewer rows than processes. */
pf_status pf_trainer_set_parallel(pf_trainer *trainer, const pf_parallel *parallel);

/* Collective: every process passes its status; all return PF_OK, or the
 * status of the lowest-ranked failing process with its message ("process R
 * of N: ..."). For failures outside the trainer (a file only process 0
 * writes). Without parallel processes it returns st. */
pf_status pf_trainer_agree(pf_trainer *trainer, pf_status st);

/* ---- checkpoints -------------------------------------------------------------------
 * Binary, little-endian: "PFCKPT\0\1", u32 version, u32 header bytes, then
 * the flow description, n_params, step, Adam t, θ, Adam m, Adam v, and a
 * trailing FNV-1a 64-bit checksum of everything before it. Written to a
 * temporary file and renamed, so a crash never leaves a half-written file. */
pf_status pf_trainer_save(pf_trainer *trainer, const char *path);
/* Restores θ, Adam state and the step count; the file must describe the same
 * flow (errors name the path and the field that disagrees). */
pf_status pf_trainer_load(pf_trainer *trainer, const char *path);
/* Loads only θ into a flow (for sampling/evaluation), same checks. */
pf_status pf_flow_load_checkpoint(pf_flow *flow, const char *path);

#ifdef __cplusplus
}
#endif

#endif
