/* `pathflow train --resume RUN` and `--init-from RUN|CKPT`: what may change
 * when a run continues, and starting a new run from another's parameters.
 *
 * A resumed run continues its trajectory only if every key that shapes
 * training is as it was; those that differ are named before anything starts.
 * training.steps may change (it is not in the settings hash): the steps still
 * to do then follow the schedule of a run of the new total — a cosine is
 * recomputed over it, so the rate jumps from where the old schedule left it
 * to the new schedule's value at that step and decays to min_lr at the new
 * end. Continuing at the old schedule's final rate instead would do nothing
 * with the default min_lr = 0; and a run stopped with --stop-at and resumed
 * with more steps follows the same rule. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/error.h"
#include "experiment/experiment_impl.h"

pf_status pf_cli_prepare_resume(const char *run, const char **overrides, int n_overrides)
{
    char config[4200];
    snprintf(config, sizeof config, "%s/config.cfg", run);
    pf_experiment *before = NULL, *after = NULL;
    PF_TRY(pf_experiment_load(config, NULL, 0, &before));
    pf_status st = pf_experiment_load(config, overrides, n_overrides, &after);
    char changed[2048];
    if (st == PF_OK && pf_experiment_compare_settings(before, after, changed, sizeof changed) > 0)
        st = pf_fail(PF_ERR_CONFIG,
                     "--resume %s: not resumed: these keys shape training and differ from the "
                     "run's: %s. A resumed run keeps them (training.steps may change); to train "
                     "on from this run's parameters with other settings, start a new run with "
                     "--init-from %s",
                     run, changed, run);
    pf_experiment_destroy(before);
    pf_experiment_destroy(after);
    return st;
}

pf_status pf_cli_init_from(pf_experiment *e, const char *source)
{
    char checkpoint[4200];
    struct stat sb;
    if (stat(source, &sb) != 0)
        return pf_fail(PF_ERR_IO, "--init-from %s: no such run directory or checkpoint", source);
    if (S_ISDIR(sb.st_mode))
        snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.pfc", source);
    else
        snprintf(checkpoint, sizeof checkpoint, "%s", source);
    pf_status st = pf_flow_load_checkpoint(pf_experiment_flow(e), checkpoint);
    if (st != PF_OK)
        return pf_fail_context(st, "--init-from %s: the flow of this configuration must be the "
                                   "one trained there",
                               source);
    snprintf(e->init_from, sizeof e->init_from, "%s", checkpoint); /* into config.cfg */
    return PF_OK;
}
