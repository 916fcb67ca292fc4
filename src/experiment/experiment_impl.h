/* Internal: the experiment object and the validated specification. */
#ifndef PF_EXPERIMENT_EXPERIMENT_IMPL_H
#define PF_EXPERIMENT_EXPERIMENT_IMPL_H

#include <stdint.h>

#include <libconfig.h>

#include <pathflow/experiment.h>

struct pf_experiment {
    config_t config; /* the resolved configuration tree */
    char path[4096]; /* the file it came from */
    char name[256];
    char out_dir[4352];
    char **overrides; /* the --set strings, to name them in messages */
    int n_overrides;
    char init_from[4200]; /* where the initial parameters came from ("": initialised) */
    /* built by pf_experiment_build */
    int built;
    pf_target *target;
    pf_flow *flow;
    pf_train_options options;
    double *data, *holdout; /* owned training / held-out samples (or NULL) */
    pf_parallel par;        /* size 1: one process */
};

/* Reads, applies overrides, checks names/types, fills defaults, checks ranges. */
pf_status pf_config_load(pf_experiment *e, const char *path, const char *const *overrides,
                         int n_overrides);

/* "FILE:LINE" or "--set key=value" for a setting: where a value came from. */
void pf_config_where(const pf_experiment *e, const config_setting_t *s, char *buf, size_t size);

/* Fails with PF_ERR_CONFIG: "<where>: key 'section.key': <message>". */
pf_status pf_config_fail(const pf_experiment *e, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with another status (a data file that cannot be read: PF_ERR_IO). */
pf_status pf_config_fail_status(const pf_experiment *e, pf_status status, const config_setting_t *s,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* overrides.c: stores the value written as `text` at spec's section.key
 * (failures are named by `origin`: "--set ..." or "default"); applies one
 * "section.key=value" override; the group of a section, created if absent. */
struct key_spec;
pf_status pf_config_set_text(pf_experiment *e, const struct key_spec *spec, const char *text,
                             const char *origin);
pf_status pf_config_apply_override(pf_experiment *e, const char *text);
config_setting_t *pf_config_section(pf_experiment *e, const char *section);

/* resolved.c: an identifier of the settings that shape training (every key
 * not marked unhashed in the schema), written into checkpoints. */
uint64_t pf_experiment_settings_hash(const pf_experiment *e);

/* elapsed.c: the training seconds a run in `dir` had spent up to `step`, from
 * the last row of its metrics.csv at or before that step (0 if none). */
double pf_run_elapsed_seconds(const char *dir, long step);

/* Typed getters of validated keys ("training.batch"); the key must exist. */
long pf_config_int(const pf_experiment *e, const char *path);
double pf_config_float(const pf_experiment *e, const char *path);
int pf_config_bool(const pf_experiment *e, const char *path);
const char *pf_config_string(const pf_experiment *e, const char *path);
config_setting_t *pf_config_setting(const pf_experiment *e, const char *path);

#endif
