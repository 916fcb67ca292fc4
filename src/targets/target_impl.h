/* Internal: the pf_target object — an ops table filled by each target kind,
 * like a SUNDIALS N_Vector: generic code calls the table, kinds fill it. */
#ifndef PF_TARGETS_TARGET_IMPL_H
#define PF_TARGETS_TARGET_IMPL_H

#include <pathflow/target.h>

typedef struct pf_target_ops {
    const char *kind;
    /* x: B×d → S: B */
    pf_status (*action)(pf_target *t, int B, const double *x, double *S);
    /* x: B×d → force: B×d (NULL: not offered) */
    pf_status (*force)(pf_target *t, int B, const double *x, double *force);
    /* rng → x: B×d (NULL: no exact sampler) */
    pf_status (*sample)(pf_target *t, pf_rng *rng, int B, double *x);
    /* x: B×d → obs: B×n_observables */
    pf_status (*observables)(pf_target *t, int B, const double *x, double *obs);
    /* weighted means of the observables (B×n_obs, weights w: B summing to 1)
     * → values: n_summaries */
    void (*summaries)(const pf_target *t, int B, const double *obs, const double *w,
                      double *values);
    void (*destroy)(pf_target *t); /* frees content */
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
    double *scratch; /* grows to the largest batch seen (observables, weights) */
    size_t scratch_size;
};

/* Allocates a target of the given kind and dimension (content NULL). */
pf_status pf_target_alloc(const pf_target_ops *ops, int dim, pf_target **out);

/* Allocates the name table; names are then set with pf_target_name_set. */
pf_status pf_target_names_alloc(pf_target *t, int n_observables, int n_summaries);
/* Name of observable i (summary = 0) or summary i (summary = 1), printf-style. */
void pf_target_name_set(pf_target *t, int summary, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A scratch buffer of at least n doubles owned by the target; grows only when
 * a larger batch than ever before arrives. NULL (with a message) on failure. */
double *pf_target_scratch(pf_target *t, size_t n);

/* Weighted mean of column j of obs (B×n_obs) with weights w (B, Σ = 1). */
double pf_weighted_mean(int B, int n_obs, const double *obs, int j, const double *w);



/* Observables "x[i]" (the coordinates) and their weighted means, for targets
 * with no physics-specific observables (gmm, custom). */
pf_status pf_coordinate_observables(pf_target *t, int B, const double *x, double *obs);
void pf_coordinate_summaries(const pf_target *t, int B, const double *obs, const double *w,
                             double *values);
pf_status pf_coordinate_names(pf_target *t);
#endif
