/* Internal: the pf_target object — an ops table filled by each target kind,
 * like a SUNDIALS N_Vector: generic code (target.c) checks arguments and calls
 * the table; kinds (gmm.c, phi4.c, u1.c, custom.c) fill it and keep their own
 * data behind `content`. Kinds may assume validated arguments (t, x, outputs
 * non-NULL, B ≥ 1). */
#ifndef PF_TARGETS_TARGET_IMPL_H
#define PF_TARGETS_TARGET_IMPL_H

#include <stddef.h>

#include <pathflow/target.h>

typedef struct pf_target_ops {
    const char *kind; /* "gmm", "phi4", "u1", "custom" */
    /* x: B×d → S: B */
    pf_status (*action)(pf_target *t, int B, const double *x, double *S);
    /* x: B×d → force: B×d (NULL: not offered) */
    pf_status (*force)(pf_target *t, int B, const double *x, double *force);
    /* rng → x: B×d (NULL: no exact sampler) */
    pf_status (*sample)(pf_target *t, pf_rng *rng, int B, double *x);
    /* x: B×d → obs: B×n_observables */
    pf_status (*observables)(pf_target *t, int B, const double *x, double *obs);
    /* obs: B×n_observables, w: B (normalised, Σ w = 1) → values: n_summaries */
    void (*summaries)(const pf_target *t, int B, const double *obs, const double *w,
                      double *values);
    void (*destroy)(pf_target *t); /* frees content (may be NULL) */
} pf_target_ops;

#define PF_TARGET_NAME_SIZE 24

struct pf_target {
    const pf_target_ops *ops;
    void *content;
    int dim;
    int ndim_shape, shape[4];
    int has_log_z;
    double log_z;
    int n_observables, n_summaries;
    char *names; /* (n_observables + n_summaries) × PF_TARGET_NAME_SIZE */
    /* Kind-owned scratch (pf_target_scratch): grows to the largest request. */
    double *scratch;
    size_t scratch_size;
    /* Scratch of pf_target_summaries (weights B, observables B×n), separate so
     * that a kind's observables may use pf_target_scratch freely. */
    double *summary_scratch;
    size_t summary_scratch_size;
};

/* Allocates a target of the given kind and dimension (content NULL, shape (d)). */
pf_status pf_target_alloc(const pf_target_ops *ops, int dim, pf_target **out);

/* Allocates the name table; names are then set with pf_target_name_set. */
pf_status pf_target_names_alloc(pf_target *t, int n_observables, int n_summaries);
/* Name of observable i (summary = 0) or summary i (summary = 1), printf-style. */
void pf_target_name_set(pf_target *t, int summary, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A scratch buffer of at least n doubles (64-byte aligned) owned by the
 * target; reallocated only when more than ever before is asked for, so steady
 * state does not allocate. Contents are not preserved across growth. NULL
 * (with a message) on failure. */
double *pf_target_scratch(pf_target *t, size_t n);

/* Weighted mean Σ_b w_b obs[b][j]. obs: B×n_obs, w: B (Σ w = 1). */
double pf_weighted_mean(int B, int n_obs, const double *obs, int j, const double *w);

/* Observables "x[i]" (the coordinates) and their weighted means "mean x[i]",
 * for targets with no physics-specific observables (gmm, custom). */
pf_status pf_coordinate_observables(pf_target *t, int B, const double *x, double *obs);
void pf_coordinate_summaries(const pf_target *t, int B, const double *obs, const double *w,
                             double *values);
pf_status pf_coordinate_names(pf_target *t);

#endif
