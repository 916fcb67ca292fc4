/* Internal: the trainer's state, shared by trainer.c and checkpoint.c. */
#ifndef PF_TRAIN_TRAINER_IMPL_H
#define PF_TRAIN_TRAINER_IMPL_H

#include <pathflow/train.h>

/* Random streams of a run: stream (seed, base + step) for each purpose, so
 * that draw n of step k depends only on (seed, k, n). */
#define PF_STREAM_BASE_SAMPLES 0ULL
#define PF_STREAM_DATA (1ULL << 40)
#define PF_STREAM_EVAL (2ULL << 40)
#define PF_STREAM_HOLDOUT (3ULL << 40)

struct pf_trainer {
    pf_flow *flow;
    pf_target *target;
    pf_train_options options;
    pf_estimator *estimator;
    pf_adam *adam;
    int d, eval_chunk;
    size_t n_params;
    double *grad;      /* n_params */
    double *input;     /* batch×d: base samples or data */
    double *eval_z, *eval_x; /* eval_chunk×d */
    double *eval_ldj, *eval_log_q0, *eval_S; /* eval_chunk */
    double *eval_log_w; /* max(eval_samples, n_holdout) */
    double *holdout_owned; /* n_holdout×d when drawn from the sampler */
    const double *holdout;
    int n_holdout;
    long step;
    long skipped;
    int nonfinite_run;
    double loss_sum, grad_norm_sum;
    long rows_steps; /* steps accumulated since the last metrics row */
    double start_time;
    double nfe_forward, nfe_backward; /* CNF right-hand sides spent in training steps */
    pf_train_progress progress;
    void *progress_user;
};

#endif
