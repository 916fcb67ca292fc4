/* The generic pf_target: argument checks, dispatch through the ops table,
 * self-normalised importance-weighted summaries. Kinds live in gmm.c, phi4.c,
 * u1.c and custom.c; this file knows none of them. */
#include "targets/target_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/workspace.h"

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
    size_t n = (size_t)n_observables + (size_t)n_summaries;
    t->names = calloc(n ? n : 1, PF_TARGET_NAME_SIZE);
    if (!t->names)
        return pf_fail(PF_ERR_NOMEM, "%s target: cannot allocate observable names", t->ops->kind);
    t->n_observables = n_observables;
    t->n_summaries = n_summaries;
    return PF_OK;
}

void pf_target_name_set(pf_target *t, int summary, int i, const char *fmt, ...)
{
    size_t slot = (size_t)(summary ? t->n_observables + i : i);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->names + slot * PF_TARGET_NAME_SIZE, PF_TARGET_NAME_SIZE, fmt, ap);
    va_end(ap);
}

/* Grow-once buffer: *buf holds *size doubles; replaced (not copied) when n is
 * larger than anything asked for before. */
static double *grow(const pf_target *t, double **buf, size_t *size, size_t n)
{
    if (n <= *size)
        return *buf;
    char what[64];
    snprintf(what, sizeof what, "%s target scratch", t->ops->kind);
    double *p = pf_alloc_doubles(n, what);
    if (!p)
        return NULL;
    pf_free(*buf);
    *buf = p;
    *size = n;
    return p;
}

double *pf_target_scratch(pf_target *t, size_t n)
{
    return grow(t, &t->scratch, &t->scratch_size, n);
}

void pf_target_destroy(pf_target *t)
{
    if (!t)
        return;
    if (t->ops->destroy)
        t->ops->destroy(t);
    pf_free(t->scratch);
    pf_free(t->summary_scratch);
    free(t->names);
    free(t);
}

/* ---- queries (NULL-safe: a NULL target has no dimension and no names) ---- */

int pf_target_dim(const pf_target *t)
{
    return t ? t->dim : 0;
}
const char *pf_target_kind(const pf_target *t)
{
    return t ? t->ops->kind : "null";
}

int pf_target_shape(const pf_target *t, int shape[4])
{
    if (!t || !shape)
        return 0;
    for (int i = 0; i < t->ndim_shape; i++)
        shape[i] = t->shape[i];
    return t->ndim_shape;
}

int pf_target_has_sampler(const pf_target *t)
{
    return t && t->ops->sample != NULL;
}
int pf_target_n_observables(const pf_target *t)
{
    return t ? t->n_observables : 0;
}
int pf_target_n_summaries(const pf_target *t)
{
    return t ? t->n_summaries : 0;
}

const char *pf_target_observable_name(const pf_target *t, int i)
{
    if (!t || i < 0 || i >= t->n_observables)
        return NULL;
    return t->names + (size_t)i * PF_TARGET_NAME_SIZE;
}

const char *pf_target_summary_name(const pf_target *t, int i)
{
    if (!t || i < 0 || i >= t->n_summaries)
        return NULL;
    return t->names + (size_t)(t->n_observables + i) * PF_TARGET_NAME_SIZE;
}

/* ---- evaluation: validate, then dispatch -------------------------------- */

/* The common checks of a batched call `op`: a target, B ≥ 1, and the input
 * and output arrays (named in_name, out_name in the message). */
static pf_status check(const pf_target *t, const char *op, int B, const char *in_name,
                       const void *in, const char *out_name, const void *out)
{
    if (!t)
        return pf_fail(PF_ERR_ARG, "pf_target_%s: target is NULL", op);
    const char *kind = t->ops->kind;
    if (B < 1)
        return pf_fail(PF_ERR_ARG, "%s target %s: batch size B = %d must be ≥ 1", kind, op, B);
    if (!in)
        return pf_fail(PF_ERR_ARG, "%s target %s: %s is NULL", kind, op, in_name);
    if (!out)
        return pf_fail(PF_ERR_ARG, "%s target %s: %s is NULL", kind, op, out_name);
    return PF_OK;
}

pf_status pf_target_action(pf_target *t, int B, const double *x, double *S)
{
    PF_TRY(check(t, "action", B, "x", x, "S", S));
    return t->ops->action(t, B, x, S);
}

pf_status pf_target_force(pf_target *t, int B, const double *x, double *force)
{
    PF_TRY(check(t, "force", B, "x", x, "force", force));
    if (!t->ops->force)
        return pf_fail(PF_ERR_UNSUPPORTED,
                       "%s target: no force (gradient of the action) is offered", t->ops->kind);
    return t->ops->force(t, B, x, force);
}

pf_status pf_target_sample(pf_target *t, pf_rng *rng, int B, double *x)
{
    PF_TRY(check(t, "sample", B, "rng", rng, "x", x));
    if (!t->ops->sample)
        return pf_fail(PF_ERR_UNSUPPORTED,
                       "%s target: no exact sampler (use samples from a file or HMC)",
                       t->ops->kind);
    return t->ops->sample(t, rng, B, x);
}

pf_status pf_target_log_z(const pf_target *t, double *log_z)
{
    if (!t)
        return pf_fail(PF_ERR_ARG, "pf_target_log_z: target is NULL");
    if (!log_z)
        return pf_fail(PF_ERR_ARG, "%s target log_z: log_z is NULL", t->ops->kind);
    if (!t->has_log_z)
        return pf_fail(PF_ERR_UNSUPPORTED, "%s target: log Z is not known exactly", t->ops->kind);
    *log_z = t->log_z;
    return PF_OK;
}

pf_status pf_target_observables(pf_target *t, int B, const double *x, double *obs)
{
    PF_TRY(check(t, "observables", B, "x", x, "obs", obs));
    return t->ops->observables(t, B, x, obs);
}

/* ---- weighted summaries ------------------------------------------------- */

double pf_weighted_mean(int B, int n_obs, const double *obs, int j, const double *w)
{
    double s = 0;
    for (int b = 0; b < B; b++)
        s += w[b] * obs[(size_t)b * n_obs + j];
    return s;
}

/* Self-normalised importance weights w_b = exp(log_w_b − max) / Σ_b' (same);
 * subtracting the max keeps exp in range and cancels in the ratio. log_w NULL:
 * w_b = 1/B. An entry −∞ is a zero weight; NaN or +∞ is refused.
 * log_w: B → w: B. */
static pf_status normalised_weights(const pf_target *t, int B, const double *log_w, double *w)
{
    double max = -INFINITY, sum = 0;
    for (int b = 0; log_w && b < B; b++) {
        if (isnan(log_w[b]) || log_w[b] == INFINITY)
            return pf_fail(PF_ERR_NUMERIC, "%s target summaries: log_w[%d] = %g must be finite",
                           t->ops->kind, b, log_w[b]);
        max = log_w[b] > max ? log_w[b] : max;
    }
    if (log_w && max == -INFINITY)
        return pf_fail(PF_ERR_NUMERIC,
                       "%s target summaries: all %d log_w are −inf (no sample has weight)",
                       t->ops->kind, B);
    for (int b = 0; b < B; b++) {
        w[b] = log_w ? exp(log_w[b] - max) : 1.0;
        sum += w[b];
    }
    for (int b = 0; b < B; b++)
        w[b] /= sum;
    return PF_OK;
}

/* x: B×d, log_w: B or NULL → values: n_summaries. */
pf_status pf_target_summaries(pf_target *t, int B, const double *x, const double *log_w,
                              double *values)
{
    PF_TRY(check(t, "summaries", B, "x", x, "values", values));
    const size_t need = (size_t)B * ((size_t)t->n_observables + 1);
    double *w = grow(t, &t->summary_scratch, &t->summary_scratch_size, need);
    if (!w)
        return PF_ERR_NOMEM;
    double *obs = w + B;
    PF_TRY(normalised_weights(t, B, log_w, w));
    PF_TRY(t->ops->observables(t, B, x, obs));
    t->ops->summaries(t, B, obs, w, values);
    return PF_OK;
}

/* ---- coordinates as observables (gmm, custom) --------------------------- */

/* x: B×d → obs: B×d. */
pf_status pf_coordinate_observables(pf_target *t, int B, const double *x, double *obs)
{
    memcpy(obs, x, (size_t)B * (size_t)t->dim * sizeof *obs);
    return PF_OK;
}

/* obs: B×d, w: B → values: d (weighted mean of each coordinate). */
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
