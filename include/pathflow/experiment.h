/* Experiments described by libconfig files (DESIGN.md "Configuration").
 *
 * Sections: experiment, target, flow, training, data, eval; every key, its
 * type, default and range are listed in configs/README.md. Unknown keys,
 * wrong types and out-of-range values are refused with PF_ERR_CONFIG and a
 * message "FILE:LINE: key 'section.key': ..."; values given with --set are
 * named by their override instead of a file line. */
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

/* Reads and validates `path`, applies overrides ("training.steps=100", ...,
 * each checked like a value in the file), fills in every default. Nothing is
 * built yet. The caller destroys the experiment. */
pf_status pf_experiment_load(const char *path, const char *const *overrides, int n_overrides,
                             pf_experiment **out);
void pf_experiment_destroy(pf_experiment *experiment);

/* experiment.name, and the default run directory output_dir/name. */
const char *pf_experiment_name(const pf_experiment *experiment);
const char *pf_experiment_default_out_dir(const pf_experiment *experiment);

/* Writes the resolved configuration (defaults and overrides applied):
 * `pathflow train` on this file reproduces the run. */
pf_status pf_experiment_write_config(const pf_experiment *experiment, const char *path);

/* Builds the target, the flow, the training data and the trainer options.
 * Idempotent. The objects stay owned by the experiment. */
pf_status pf_experiment_build(pf_experiment *experiment);
pf_target *pf_experiment_target(pf_experiment *experiment);
pf_flow *pf_experiment_flow(pf_experiment *experiment);
const pf_train_options *pf_experiment_train_options(const pf_experiment *experiment);

/* Trains and writes the run directory `out_dir` (created if needed; NULL:
 * the default): config.cfg, metrics.csv (step,loss,grad_norm,ess,nll,kl,
 * seconds; empty cells where a figure does not apply), checkpoint.pfc,
 * samples.npy and log_weights.npy (eval.samples flow samples and their log
 * importance weights). Progress goes to `log` (NULL: silent): a redrawn bar
 * when it is a terminal, one line per metrics row otherwise. *last receives
 * the final metrics row (may be NULL). */
pf_status pf_experiment_run(pf_experiment *experiment, const char *out_dir, FILE *log,
                            pf_metrics *last);

#ifdef __cplusplus
}
#endif

#endif
