/* The experiment object: load, accessors, destroy. The resolved
 * configuration is written by resolved.c, the objects built by build.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "experiment/experiment_impl.h"

pf_status pf_experiment_load(const char *path, const char *const *overrides, int n_overrides,
                             pf_experiment **out)
{
    *out = NULL;
    if (!path)
        return pf_fail(PF_ERR_ARG, "experiment: no configuration file given");
    pf_experiment *e = calloc(1, sizeof *e);
    if (!e)
        return pf_fail(PF_ERR_NOMEM, "experiment: cannot allocate");
    config_init(&e->config);
    e->par.size = 1;
    pf_status st = pf_config_load(e, path, overrides, n_overrides);
    if (st != PF_OK) {
        pf_experiment_destroy(e);
        return st;
    }
    snprintf(e->name, sizeof e->name, "%s", pf_config_string(e, "experiment.name"));
    snprintf(e->out_dir, sizeof e->out_dir, "%s/%s", pf_config_string(e, "experiment.output_dir"),
             e->name);
    *out = e;
    return PF_OK;
}

void pf_experiment_destroy(pf_experiment *e)
{
    if (!e)
        return;
    config_destroy(&e->config);
    for (int i = 0; i < e->n_overrides; i++)
        free(e->overrides[i]);
    free(e->overrides);
    pf_flow_destroy(e->flow);
    pf_target_destroy(e->target);
    free(e->data);
    free(e->holdout);
    free(e);
}

pf_status pf_experiment_set_parallel(pf_experiment *e, const pf_parallel *p)
{
    if (!e || !p || p->size < 1 || p->rank < 0 || p->rank >= p->size || !p->sum)
        return pf_fail(PF_ERR_ARG, "experiment: parallel: need 0 ≤ rank < size and a sum function");
    e->par = *p;
    return PF_OK;
}

const char *pf_experiment_name(const pf_experiment *e)
{
    return e->name;
}
const char *pf_experiment_default_out_dir(const pf_experiment *e)
{
    return e->out_dir;
}
pf_target *pf_experiment_target(pf_experiment *e)
{
    return e->target;
}
pf_flow *pf_experiment_flow(pf_experiment *e)
{
    return e->flow;
}
const pf_train_options *pf_experiment_train_options(const pf_experiment *e)
{
    return &e->options;
}
