/* The six gradient estimators of docs/theory.md §2, written once against pf_flow.
 *
 * | objective | estimator     | name in the paper            |
 * | reverse   | "total"       | RepQP                        |
 * | reverse   | "path"        | fastPathQP (Alg. 1)          |
 * | reverse   | "path-dropin" | DropInQP (Alg. 2)            |
 * | forward   | "ml"          | maximum likelihood           |
 * | forward   | "path"        | fastPathPQ (pullback, §3)    |
 * | forward   | "path-dropin" | FastDropInPQ (Alg. 3)        |
 *
 * An estimator holds its workspace for batches up to B_max (no allocation per
 * step); it borrows the flow and the target, which must outlive it. */
#ifndef PATHFLOW_ESTIMATOR_H
#define PATHFLOW_ESTIMATOR_H

#include <pathflow/flow.h>
#include <pathflow/pathflow.h>
#include <pathflow/target.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pf_objective {
    PF_OBJECTIVE_REVERSE = 0, /* KL(q_θ‖p), self-sampling */
    PF_OBJECTIVE_FORWARD      /* KL(p‖q_θ), maximum likelihood on target samples */
} pf_objective;

typedef enum pf_estimator_kind {
    PF_ESTIMATOR_TOTAL = 0,   /* reverse only */
    PF_ESTIMATOR_ML,          /* forward only */
    PF_ESTIMATOR_PATH,        /* both */
    PF_ESTIMATOR_PATH_DROPIN  /* both */
} pf_estimator_kind;

/* Parses "reverse"/"forward" and "total"/"ml"/"path"/"path-dropin"; refuses
 * unknown names and pairs that do not exist (reverse ml, forward total) with
 * a message listing the valid ones. */
pf_status pf_objective_from_name(const char *name, pf_objective *objective);
pf_status pf_estimator_kind_from_name(pf_objective objective, const char *name,
                                      pf_estimator_kind *kind);
const char *pf_objective_name(pf_objective objective);
const char *pf_estimator_kind_name(pf_estimator_kind kind);

typedef struct pf_estimator pf_estimator;

pf_status pf_estimator_create(pf_objective objective, pf_estimator_kind kind, pf_flow *flow,
                              pf_target *target, int B_max, pf_estimator **out);
void pf_estimator_destroy(pf_estimator *estimator);

/* The result of one gradient evaluation. */
typedef struct pf_estimate {
    double loss;      /* plain Monte-Carlo value of the objective (docs/theory.md §2), whatever the estimator */
    double grad_norm; /* ‖grad‖₂ */
} pf_estimate;

/* One gradient evaluation on a batch of B ≤ B_max:
 * input: reverse objective — base samples z (B×d) drawn by the caller
 *        (pf_flow_sample_base); forward objective — target samples x (B×d).
 * grad (n_params) is overwritten with the batch-mean gradient;
 * log_w (B, optional) receives log w = −S(x) − log q_θ(x) for each sample
 * x (the flow's samples for reverse, the data for forward).
 * PF_ERR_NUMERIC (with a message) if the loss or the gradient is not finite. */
pf_status pf_estimator_eval(pf_estimator *estimator, int B, const double *input, double *grad,
                            double *log_w, pf_estimate *result);

/* The flow samples x (B×d) of the last reverse evaluation (the data for forward). */
const double *pf_estimator_samples(const pf_estimator *estimator);

#ifdef __cplusplus
}
#endif

#endif
