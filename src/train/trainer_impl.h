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
    double *good_params; /* n_params: those of the last finite loss (before its update) */
    int has_good_params;
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
    double loss_sum, grad_norm_sum, loss_sq_sum;
    long rows_steps; /* steps accumulated since the last metrics row */
    double start_time;
    double nfe_forward, nfe_backward; /* CNF right-hand sides spent in training steps */
    /* divergence watch over the metrics rows (not checkpointed: a resumed
     * run watches afresh) */
    double best_loss, best_grad_norm; /* lowest row means so far (NaN: none yet) */
    long best_step;
    int rising_rows;                  /* consecutive rows well above the best */
    char divergence[320];             /* "" or the warning */
    int calm_rows;                    /* consecutive rows not worse */
    char recovered[160];              /* "" or how the run recovered after it */
    pf_train_progress progress;
    void *progress_user;
    pf_train_step_callback step_callback; /* may end a run after any step */
    void *step_user;
    pf_parallel par;    /* {0, 1, NULL, NULL}: one process */
    double *par_buf;    /* n_params + 4 + size doubles: one reduction per step */
    double *par_gather; /* max(eval_samples, n_holdout): results gathered by sum */
    double *eval_log_q; /* max(eval_samples, n_holdout) */
};

/* parallel.c. Rows [*first, *first + *count) of `total` are this process's. */
void pf_train_share(const pf_trainer *t, long total, long *first, long *count);

/* Collective: is flag nonzero on any process? */
int pf_train_any(pf_trainer *t, int flag);

/* Collective: v[0..total) holds this process's rows [first, first + count);
 * afterwards every process holds all rows (the others' entries are overwritten). */
pf_status pf_train_gather(pf_trainer *t, double *v, long total, long first, long count);

/* Collective, after a step's estimate: combines the processes' gradients
 * (means over their rows, weighted by rows/B), losses and CNF counts into t,
 * agreeing on failure first. *loss and *grad_norm become the global ones. */
pf_status pf_train_reduce_step(pf_trainer *t, pf_status st, long rows, long B, double *loss,
                               double *grad_norm, double *nfe_forward, double *nfe_backward);

/* checkpoint.c: the BLAS thread count a checkpoint was written with (0:
 * unknown, files before version 3). */
pf_status pf_checkpoint_blas_threads(const char *path, long *threads);

#endif
