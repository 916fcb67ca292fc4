/* The six estimators of docs/theory.md §2. Each is a few calls of the flow interface
 * (forward / inverse / backward) and the target (action, force); none knows
 * which flow backend it runs on. Notation: c = cotangent, B = batch size. */
#include <pathflow/estimator.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"

struct pf_estimator {
    pf_objective objective;
    pf_estimator_kind kind;
    pf_flow *flow;
    pf_target *target;
    int B_max, d;
    size_t n_params;
    /* B_max×d */
    double *x, *z, *force, *score0, *score, *cot;
    /* B_max */
    double *ldj, *S, *log_q0, *ones;
};

static const char *OBJECTIVE_NAMES[] = {"reverse", "forward"};
static const char *KIND_NAMES[] = {"total", "ml", "path", "path-dropin"};

const char *pf_objective_name(pf_objective o) { return OBJECTIVE_NAMES[o]; }
const char *pf_estimator_kind_name(pf_estimator_kind k) { return KIND_NAMES[k]; }

pf_status pf_objective_from_name(const char *name, pf_objective *objective)
{
    for (int i = 0; i < 2; i++)
        if (name && strcmp(name, OBJECTIVE_NAMES[i]) == 0) {
            *objective = (pf_objective)i;
            return PF_OK;
        }
    return pf_fail(PF_ERR_CONFIG, "objective '%s' unknown (valid: reverse, forward)",
                   name ? name : "(null)");
}

pf_status pf_estimator_kind_from_name(pf_objective objective, const char *name,
                                      pf_estimator_kind *kind)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, KIND_NAMES[i]) == 0) {
            pf_estimator_kind k = (pf_estimator_kind)i;
            if ((objective == PF_OBJECTIVE_REVERSE && k == PF_ESTIMATOR_ML) ||
                (objective == PF_OBJECTIVE_FORWARD && k == PF_ESTIMATOR_TOTAL))
                break;
            *kind = k;
            return PF_OK;
        }
    return pf_fail(PF_ERR_CONFIG, "estimator '%s' unknown for the %s objective (valid: %s)",
                   name ? name : "(null)", OBJECTIVE_NAMES[objective],
                   objective == PF_OBJECTIVE_REVERSE ? "total, path, path-dropin"
                                                     : "ml, path, path-dropin");
}

void pf_estimator_destroy(pf_estimator *e)
{
    if (!e)
        return;
    double *bufs[] = {e->x, e->z, e->force, e->score0, e->score, e->cot,
                      e->ldj, e->S, e->log_q0, e->ones};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        pf_free(bufs[i]);
    free(e);
}

pf_status pf_estimator_create(pf_objective objective, pf_estimator_kind kind, pf_flow *flow,
                              pf_target *target, int B_max, pf_estimator **out)
{
    *out = NULL;
    if (!flow || !target)
        return pf_fail(PF_ERR_ARG, "estimator: flow or target is NULL");
    if (pf_flow_dim(flow) != pf_target_dim(target))
        return pf_fail(PF_ERR_ARG, "estimator: flow dimension %d ≠ target dimension %d",
                       pf_flow_dim(flow), pf_target_dim(target));
    pf_estimator_kind checked;
    PF_TRY(pf_estimator_kind_from_name(objective, KIND_NAMES[kind], &checked));
    PF_TRY(pf_flow_reserve(flow, B_max));
    pf_estimator *e = calloc(1, sizeof *e);
    if (!e)
        return pf_fail(PF_ERR_NOMEM, "estimator: cannot allocate");
    e->objective = objective;
    e->kind = kind;
    e->flow = flow;
    e->target = target;
    e->B_max = B_max;
    e->d = pf_flow_dim(flow);
    e->n_params = pf_flow_n_params(flow);
    size_t bd = (size_t)B_max * e->d;
    double **big[] = {&e->x, &e->z, &e->force, &e->score0, &e->score, &e->cot};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        *big[i] = pf_alloc_doubles(bd, "estimator workspace");
    double **small[] = {&e->ldj, &e->S, &e->log_q0, &e->ones};
    for (size_t i = 0; i < sizeof small / sizeof *small; i++)
        *small[i] = pf_alloc_doubles((size_t)B_max, "estimator workspace");
    if (!e->x || !e->z || !e->force || !e->score0 || !e->score || !e->cot || !e->ldj || !e->S ||
        !e->log_q0 || !e->ones) {
        pf_estimator_destroy(e);
        return PF_ERR_NOMEM;
    }
    *out = e;
    return PF_OK;
}

const double *pf_estimator_samples(const pf_estimator *e) { return e->x; }

/* out[i] = scale · (a[i] + sign_b · b[i]) over n values. */
static void combine(size_t n, double scale, const double *a, double sign_b, const double *b,
                    double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = scale * (a[i] + sign_b * b[i]);
}

static void fill(size_t n, double value, double *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = value;
}

/* s_q(x) = ∂ₓ log q_θ(x) by inverting the flow and back-propagating
 * (the "drop-in" route): z = T⁻¹x, log q = log q₀(z) + ldj_inv.
 * x: B×d → e->z, e->ldj (ldj_inv), e->log_q0, e->score (= s_q). */
static pf_status score_by_inversion(pf_estimator *e, int B, const double *x)
{
    const size_t bd = (size_t)B * e->d;
    PF_TRY(pf_flow_inverse(e->flow, B, x, e->z, e->ldj, NULL, NULL));
    pf_flow_base_log_prob(e->flow, B, e->z, e->log_q0, e->score0);
    fill((size_t)B, 1.0, e->ones);
    memset(e->score, 0, bd * sizeof *e->score);
    return pf_flow_backward(e->flow, B, e->score0, e->ones, NULL, e->score);
}

/* Reverse KL: z (B×d) → grad, e->x, e->S, e->log_q0 − ldj = log q. */
static pf_status reverse_eval(pf_estimator *e, int B, const double *z, double *grad)
{
    const size_t bd = (size_t)B * e->d;
    const double inv_b = 1.0 / B;
    memcpy(e->z, z, bd * sizeof *z);
    pf_flow_base_log_prob(e->flow, B, z, e->log_q0, e->score0);
    int with_score = e->kind == PF_ESTIMATOR_PATH;
    PF_TRY(pf_flow_forward(e->flow, B, z, e->x, e->ldj, with_score ? e->score0 : NULL,
                           e->score));
    PF_TRY(pf_target_action(e->target, B, e->x, e->S));
    PF_TRY(pf_target_force(e->target, B, e->x, e->force));
    if (e->kind == PF_ESTIMATOR_TOTAL) {
        /* L = mean(log q₀(z) − ldj + S(x)): x̄ = ∇S/B, ldj̄ = −1/B. */
        combine(bd, inv_b, e->force, 0.0, e->force, e->cot);
        fill((size_t)B, -inv_b, e->ones);
        return pf_flow_backward(e->flow, B, e->cot, e->ones, grad, NULL);
    }
    if (e->kind == PF_ESTIMATOR_PATH_DROPIN) {
        /* Alg. 2: s_q by inversion, then the sampling pass again for its tape
         * (which also restores ldj and log q₀(z) for the loss). */
        double *x_saved = e->cot;
        memcpy(x_saved, e->x, bd * sizeof *x_saved);
        PF_TRY(score_by_inversion(e, B, x_saved));
        PF_TRY(pf_flow_forward(e->flow, B, z, e->x, e->ldj, NULL, NULL));
        pf_flow_base_log_prob(e->flow, B, z, e->log_q0, NULL);
    }
    /* Path gradient (docs/theory.md §2): c = (s_q + ∇S)/B, one VJP of the sampling map. */
    combine(bd, inv_b, e->score, 1.0, e->force, e->cot);
    return pf_flow_backward(e->flow, B, e->cot, NULL, grad, NULL);
}

/* Forward KL: data x (B×d) → grad, e->z, e->ldj (= ldj_inv), e->log_q0, e->S. */
static pf_status forward_eval(pf_estimator *e, int B, const double *x, double *grad)
{
    const size_t bd = (size_t)B * e->d;
    const double inv_b = 1.0 / B;
    memcpy(e->x, x, bd * sizeof *x);
    PF_TRY(pf_target_action(e->target, B, x, e->S));
    if (e->kind == PF_ESTIMATOR_ML) {
        /* L = mean(−log q₀(z) − ldj_inv): z̄ = −∇log q₀(z)/B, ldj̄ = −1/B. */
        PF_TRY(pf_flow_inverse(e->flow, B, x, e->z, e->ldj, NULL, NULL));
        pf_flow_base_log_prob(e->flow, B, e->z, e->log_q0, e->score0);
        combine(bd, -inv_b, e->score0, 0.0, e->score0, e->cot);
        fill((size_t)B, -inv_b, e->ones);
        return pf_flow_backward(e->flow, B, e->cot, e->ones, grad, NULL);
    }
    PF_TRY(pf_target_force(e->target, B, x, e->force));
    if (e->kind == PF_ESTIMATOR_PATH) {
        /* docs/theory.md §3: pullback score s_p̃(z) by the recursion through the inverse,
         * started at −∇S(x); c = (s_p̃ − ∇log q₀(z))/B on T⁻¹. */
        combine(bd, -1.0, e->force, 0.0, e->force, e->cot);
        PF_TRY(pf_flow_inverse(e->flow, B, x, e->z, e->ldj, e->cot, e->score));
        pf_flow_base_log_prob(e->flow, B, e->z, e->log_q0, e->score0);
        combine(bd, inv_b, e->score, -1.0, e->score0, e->cot);
        return pf_flow_backward(e->flow, B, e->cot, NULL, grad, NULL);
    }
    /* Alg. 3: s_q(x) by back-propagation through the inverse, then the
     * sampling pass from z = T⁻¹x and c = (s_q + ∇S)/B on T. */
    PF_TRY(score_by_inversion(e, B, x));
    double *ldj_inv = e->ones;
    memcpy(ldj_inv, e->ldj, (size_t)B * sizeof *ldj_inv);
    double *x_again = e->cot;
    PF_TRY(pf_flow_forward(e->flow, B, e->z, x_again, e->ldj, NULL, NULL));
    memcpy(e->ldj, ldj_inv, (size_t)B * sizeof *ldj_inv);
    combine(bd, inv_b, e->score, 1.0, e->force, e->cot);
    return pf_flow_backward(e->flow, B, e->cot, NULL, grad, NULL);
}

pf_status pf_estimator_eval(pf_estimator *e, int B, const double *input, double *grad,
                            double *log_w, pf_estimate *result)
{
    if (!e || !input || !grad || !result)
        return pf_fail(PF_ERR_ARG, "estimator: NULL argument");
    if (B < 1 || B > e->B_max)
        return pf_fail(PF_ERR_ARG, "estimator: batch %d outside [1, %d]", B, e->B_max);
    memset(grad, 0, e->n_params * sizeof *grad);
    int reverse = e->objective == PF_OBJECTIVE_REVERSE;
    PF_TRY(reverse ? reverse_eval(e, B, input, grad) : forward_eval(e, B, input, grad));
    /* log q(x) = log q₀(z) − ldj (reverse: ldj of T) or + ldj_inv (forward). */
    double loss = 0;
    for (int b = 0; b < B; b++) {
        double log_q = reverse ? e->log_q0[b] - e->ldj[b] : e->log_q0[b] + e->ldj[b];
        loss += reverse ? log_q + e->S[b] : -log_q;
        if (log_w)
            log_w[b] = -e->S[b] - log_q;
    }
    result->loss = loss / B;
    const double sq = pf_sum_squares(e->n_params, grad);
    result->grad_norm = sqrt(sq);
    if (!isfinite(result->loss) || !isfinite(sq))
        return pf_fail(PF_ERR_NUMERIC, "%s %s estimator: non-finite %s",
                       OBJECTIVE_NAMES[e->objective], KIND_NAMES[e->kind],
                       isfinite(result->loss) ? "gradient" : "loss");
    return PF_OK;
}
