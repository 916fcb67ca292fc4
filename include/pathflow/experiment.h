/* Experiments described by libconfig files (docs/config.md lists every key).
 *
 * Sections: experiment, target, flow, ode (continuous flows only), training,
 * data, eval; every key, its type, default and range are listed in
 * configs/README.md. Unknown sections or keys (with the closest valid name
 * suggested), wrong types (an integer is accepted where a number goes) and
 * out-of-range or inconsistent values are refused with PF_ERR_CONFIG and a
 * message "FILE:LINE: key 'section.key': ..."; values given with --set are
 * named by their override ("--set training.batch=abc: key 'training.batch':
 * ..."), syntax errors keep libconfig's "FILE:LINE: text". Paths inside a
 * configuration (data.file, ...) are relative to the working directory.
 *
 * Typical use (what `pathflow train` does):
 *     pf_experiment *e;
 *     pf_status st = pf_experiment_load("cfg", overrides, n, &e);
 *     if (st == PF_OK) st = pf_experiment_run(e, NULL, stderr, NULL);
 *     pf_experiment_destroy(e);
 */
#ifndef PATHFLOW_EXPERIMENT_H
#define PATHFLOW_EXPERIMENT_H

#include <stdio.h>

#include <pathflow/flow.h>
#include <pathflow/pathflow.h>
#include <pathflow/target.h>
#include <pathflow/train.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pf_experiment pf_experiment;

/* Reads and validates `path`, applies the n_overrides `overrides`
 * ("section.key=value", e.g. "training.steps=100", later ones win; the value
 * is read as an integer, float, true/false, array, or string — quoted or
 * bare — and checked like a value in the file) and fills in every default.
 * Nothing is built yet. On success *out is a new experiment the caller
 * destroys; on failure *out is NULL and the status is PF_ERR_CONFIG (bad
 * content, or a bad override) or PF_ERR_IO (the file cannot be opened; the
 * message names the path). */
pf_status pf_experiment_load(const char *path, const char *const *overrides, int n_overrides,
                             pf_experiment **out);
/* Frees the experiment and everything it built (NULL is allowed). */
void pf_experiment_destroy(pf_experiment *experiment);

/* experiment.name, and the default run directory experiment.output_dir/name.
 * The strings belong to the experiment. */
const char *pf_experiment_name(const pf_experiment *experiment);
const char *pf_experiment_default_out_dir(const pf_experiment *experiment);

/* Writes the resolved configuration (defaults and overrides applied, keys in
 * a fixed order, floats exact) to `path`, atomically: `pathflow train` on this
 * file repeats the run, and loading it gives the same resolved configuration. */
pf_status pf_experiment_write_config(const pf_experiment *experiment, const char *path);

/* The keys that shape training (those in the settings hash of checkpoints)
 * whose resolved values differ between `before` and `after`: their number,
 * and in buf "training.lr = 0.002 (was 0.001), ..." (truncated to size). */
int pf_experiment_compare_settings(const pf_experiment *before, const pf_experiment *after,
                                   char *buf, size_t size);

/* Builds the target, the flow (its initial parameters from experiment.seed),
 * the forward-KL training data and held-out samples, and the trainer options.
 * Idempotent; after a failure nothing stays built. Errors in a data file or a
 * constructor name the key or section at fault (a missing data file keeps
 * PF_ERR_IO). */
pf_status pf_experiment_build(pf_experiment *experiment);
/* Builds the target alone (idempotent): for commands that need no flow and
 * no training data, such as sampling the target by HMC. */
pf_status pf_experiment_build_target(pf_experiment *experiment);
/* The built objects (NULL before a successful pf_experiment_build). They stay
 * owned by the experiment: do not destroy them. The options borrow the
 * experiment's training data. */
pf_target *pf_experiment_target(pf_experiment *experiment);
pf_flow *pf_experiment_flow(pf_experiment *experiment);
const pf_train_options *pf_experiment_train_options(const pf_experiment *experiment);

/* Builds if needed, trains the flow in place and writes the run directory
 * `out_dir` (created with its parents; NULL: the default):
 *   config.cfg       the resolved configuration
 *   metrics.csv      "step,loss,grad_norm,ess,nll,kl,seconds" (CNFs add
 *                    nfe_forward,nfe_backward), one row per metrics row of the
 *                    trainer, an empty cell where a figure does not apply
 *   checkpoint.pfc   written at every metrics row and at the end; when
 *                    training stops on failed steps it holds the last good
 *                    parameters (pf_trainer_save's format)
 *   samples.npy      eval.samples flow samples (N, d), after training
 *   log_weights.npy  their log importance weights −S(x) − log q(x), (N,)
 * Results of an earlier run in the same directory are removed first.
 * Progress goes to `log` (NULL: silent): on a terminal a bar redrawn at most
 * 10 times a second (step, loss, ESS, elapsed, ETA); otherwise one line per
 * metrics row; the last line names the directory. *last receives the final
 * metrics row (may be NULL). Calling it again continues training the same
 * flow with a fresh optimiser. */
pf_status pf_experiment_run(pf_experiment *experiment, const char *out_dir, FILE *log,
                            pf_metrics *last);

/* pf_experiment_run with two more controls. stop_at > 0: stop after that
 * step (a job cut short; the schedule still aims at training.steps) and
 * leave the checkpoint. resume: continue the run in out_dir from its
 * checkpoint.pfc — parameters, Adam state and step — appending to its
 * metrics.csv; N steps + resume + N steps give the same parameters as 2N
 * steps in one go, bit for bit (same build, same thread count). */
pf_status pf_experiment_run_with(pf_experiment *experiment, const char *out_dir, FILE *log,
                                 pf_metrics *last, long stop_at, int resume);

/* Data-parallel runs (see pf_trainer_set_parallel): every process loads the
 * same configuration, calls this, then pf_experiment_run_with together.
 * Process 0 alone writes the run directory (and should alone pass a log);
 * the others only compute. A resumed run reads the checkpoint on every
 * process (a shared file system). Copies *parallel. */
pf_status pf_experiment_set_parallel(pf_experiment *experiment, const pf_parallel *parallel);

#ifdef __cplusplus
}
#endif

#endif
