/* The generic pf_target: argument checks, dispatch, weighted summaries. */
#include "targets/target_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

pf_status pf_target_alloc(const pf_target_ops *ops, int dim, pf_target **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return pf_fail(PF_ERR_NOMEM, "%s target: cannot allocate", ops->kind);
    (*out)->ops = ops;
    (*out)->dim = dim;
    (*out)->ndim_shape = 1;
    (*out)->shape[0] = dim;
    return PF_OK;
}

pf_status pf_target_names_alloc(pf_target *t, int n_observables, int n_summaries)
{
    size_t n = (size_t)(n_observables + n_summaries);
    t->names = calloc(n ? n : 1, PF_TARGET_NAME_SIZE);
    if (!t->names)
        return pf_fail(PF_ERR_NOMEM, "%s target: cannot allocate observable names", t->ops->kind);
    t->n_observables = n_observables;
    t->n_summaries = n_summaries;
    return PF_OK;
}

void pf_target_name_set(pf_target *t, int summary, int i, const char *fmt, ...)
{
    char *slot = t->names + (size_t)(summary ? t->n_observables + i : i) * PF_TARGET_NAME_SIZE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot, PF_TARGET_NAME_SIZE, fmt, ap);
    va_end(ap);
}

double *pf_target_scratch(pf_target *t, size_t n)
{
    if (n > t->scratch_size) {
        double *p = realloc(t->scratch, n * sizeof *p);
        if (!p) {
            pf_fail(PF_ERR_NOMEM, "%s target: cannot allocate %zu doubles of scratch",
                    t->ops->kind, n);
            return NULL;
        }
        t->scratch = p;
        t->scratch_size = n;
    }
    return t->scratch;
}

void pf_target_destroy(pf_target *t)
{
    if (!t)
        return;
    if (t->ops->destroy)
        t->ops->destroy(t);
    free(t->scratch);
    free(t->names);
    free(t);
}

int pf_target_dim(const pf_target *t) { return t->dim; }
const char *pf_target_kind(const pf_target *t) { return t->ops->kind; }

int pf_target_shape(const pf_target *t, int shape[4])
{
    for (int i = 0; i < t->ndim_shape; i++)
        shape[i] = t->shape[i];
    return t->ndim_shape;
}

static pf_status check(const pf_target *t, const char *op, int B, const void *in, const void *out)
{
    if (!t)
        return pf_fail(PF_ERR_ARG, "target %s: target is NULL", op);
    if (B < 1)
        return pf_fail(PF_ERR_ARG, "%s target %s: batch size B = %d must be ≥ 1", t->ops->kind,
                       op, B);
    if (!in || !out)
        return pf_fail(PF_ERR_ARG, "%s target %s: input or output array is NULL", t->ops->kind,
                       op);
    return PF_OK;
}

pf_status pf_target_action(pf_target *t, int B, const double *x, double *S)
{
    PF_TRY(check(t, "action", B, x, S));
    return t->ops->action(t, B, x, S);
}

pf_status pf_target_force(pf_target *t, int B, const double *x, double *force)
{
    PF_TRY(check(t, "force", B, x, force));
    if (!t->ops->force)
        return pf_fail(PF_ERR_UNSUPPORTED, "%s target: no force (gradient of the action) given",
                       t->ops->kind);
    return t->ops->force(t, B, x, force);
}

int pf_target_has_sampler(const pf_target *t) { return t && t->ops->sample != NULL; }

pf_status pf_target_sample(pf_target *t, pf_rng *rng, int B, double *x)
{
    PF_TRY(check(t, "sample", B, rng, x));
    if (!t->ops->sample)
        return pf_fail(PF_ERR_UNSUPPORTED, "%s target: no exact sampler", t->ops->kind);
    return t->ops->sample(t, rng, B, x);
}

pf_status pf_target_log_z(const pf_target *t, double *log_z)
{
    if (!t || !t->has_log_z)
        return pf_fail(PF_ERR_UNSUPPORTED, "%s target: log Z is not known exactly",
                       t ? t->ops->kind : "NULL");
    *log_z = t->log_z;
    return PF_OK;
}

int pf_target_n_observables(const pf_target *t) { return t->n_observables; }
int pf_target_n_summaries(const pf_target *t) { return t->n_summaries; }

const char *pf_target_observable_name(const pf_target *t, int i)
{
    return (i >= 0 && i < t->n_observables) ? t->names + (size_t)i * PF_TARGET_NAME_SIZE : NULL;
}

const char *pf_target_summary_name(const pf_target *t, int i)
{
    return (i >= 0 && i < t->n_summaries)
               ? t->names + (size_t)(t->n_observables + i) * PF_TARGET_NAME_SIZE
               : NULL;
}

pf_status pf_target_observables(pf_target *t, int B, const double *x, double *obs)
{
    PF_TRY(check(t, "observables", B, x, obs));
    return t->ops->observables(t, B, x, obs);
}

double pf_weighted_mean(int B, int n_obs, const double *obs, int j, const double *w)
{
    double s = 0;
    for (int b = 0; b < B; b++)
        s += w[b] * obs[(size_t)b * n_obs + j];
    return s;
}

/* Self-normalised weights w_b ∝ exp(log_w_b) (max-shifted), or 1/B. */
static void normalised_weights(int B, const double *log_w, double *w)
{
    double max = -INFINITY, sum = 0;
    for (int b = 0; b < B; b++)
        max = log_w && log_w[b] > max ? log_w[b] : max;
    for (int b = 0; b < B; b++) {
        w[b] = log_w ? exp(log_w[b] - max) : 1.0;
        sum += w[b];
    }
    for (int b = 0; b < B; b++)
        w[b] /= sum;
}

pf_status pf_target_summaries(pf_target *t, int B, const double *x, const double *log_w,
                              double *values)
{
    PF_TRY(check(t, "summaries", B, x, values));
    size_t n_obs = (size_t)t->n_observables;
    double *scratch = pf_target_scratch(t, (size_t)B * (n_obs + 1));
    if (!scratch)
        return PF_ERR_NOMEM;
    double *w = scratch, *obs = scratch + B;
    PF_TRY(t->ops->observables(t, B, x, obs));
    normalised_weights(B, log_w, w);
    if (!isfinite(w[0]))
        return pf_fail(PF_ERR_NUMERIC, "%s target summaries: log weights are not finite",
                       t->ops->kind);
    t->ops->summaries(t, B, obs, w, values);
    return PF_OK;
}

pf_status pf_coordinate_observables(pf_target *t, int B, const double *x, double *obs)
{
    memcpy(obs, x, (size_t)B * t->dim * sizeof *obs);
    return PF_OK;
}

void pf_coordinate_summaries(const pf_target *t, int B, const double *obs, const double *w,
                             double *values)
{
    for (int j = 0; j < t->dim; j++)
        values[j] = pf_weighted_mean(B, t->dim, obs, j, w);
}

pf_status pf_coordinate_names(pf_target *t)
{
    PF_TRY(pf_target_names_alloc(t, t->dim, t->dim));
    for (int i = 0; i < t->dim; i++) {
        pf_target_name_set(t, 0, i, "x[%d]", i);
        pf_target_name_set(t, 1, i, "mean x[%d]", i);
    }
    return PF_OK;
}
