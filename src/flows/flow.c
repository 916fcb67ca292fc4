/* The generic pf_flow: argument checks, dispatch, the base distribution. */
#include "flows/flow_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/workspace.h"

pf_status pf_flow_alloc(const pf_flow_ops *ops, int dim, pf_base_kind base, size_t n_params,
                        pf_flow **out)
{
    *out = NULL;
    pf_flow *flow = calloc(1, sizeof *flow);
    if (!flow)
        return pf_fail(PF_ERR_NOMEM, "flow: cannot allocate");
    flow->params = pf_alloc_doubles(n_params ? n_params : 1, "flow parameters");
    if (!flow->params) {
        free(flow);
        return PF_ERR_NOMEM;
    }
    flow->ops = ops;
    snprintf(flow->kind, sizeof flow->kind, "%s", ops->kind);
    flow->dim = dim;
    flow->base = base;
    flow->n_params = n_params;
    *out = flow;
    return PF_OK;
}

void pf_flow_destroy(pf_flow *flow)
{
    if (!flow)
        return;
    if (flow->ops && flow->ops->destroy)
        flow->ops->destroy(flow);
    pf_free(flow->params);
    free(flow);
}

int pf_flow_dim(const pf_flow *flow) { return flow->dim; }
const char *pf_flow_kind(const pf_flow *flow) { return flow->kind; }
pf_base_kind pf_flow_base(const pf_flow *flow) { return flow->base; }
double pf_flow_base_shift(const pf_flow *flow) { return flow->base_shift; }
size_t pf_flow_n_params(const pf_flow *flow) { return flow->n_params; }
double *pf_flow_params(pf_flow *flow) { return flow->params; }
const char *pf_flow_describe(const pf_flow *flow) { return flow->description; }
const pf_ode_stats *pf_flow_ode_stats(const pf_flow *flow) { return flow->ode_stats; }
long pf_flow_root_finder_calls(const pf_flow *flow) { return flow->root_calls; }

void pf_flow_set_noise(pf_flow *flow, uint64_t key, uint64_t first_row)
{
    flow->noise_set = 1;
    flow->noise_key = key;
    flow->noise_row = first_row;
}

void pf_flow_ode_stats_reset(pf_flow *flow)
{
    if (flow->ode_stats)
        memset(flow->ode_stats, 0, sizeof *flow->ode_stats);
}

pf_status pf_flow_reserve(pf_flow *flow, int B_max)
{
    if (!flow)
        return pf_fail(PF_ERR_ARG, "flow_reserve: flow is NULL");
    if (B_max < 1)
        return pf_fail(PF_ERR_ARG, "%s flow: batch size %d must be ≥ 1", flow->kind, B_max);
    if (B_max <= flow->B_max)
        return PF_OK;
    PF_TRY(flow->ops->reserve(flow, B_max));
    flow->B_max = B_max;
    return PF_OK;
}

static pf_status check_batch(const pf_flow *flow, const char *op, int B, const void *in,
                             const void *out)
{
    if (!flow)
        return pf_fail(PF_ERR_ARG, "%s: flow is NULL", op);
    if (B < 1 || B > flow->B_max)
        return pf_fail(PF_ERR_ARG,
                       "%s flow %s: batch size %d outside [1, %d] (call pf_flow_reserve first)",
                       flow->kind, op, B, flow->B_max);
    if (!in || !out)
        return pf_fail(PF_ERR_ARG, "%s flow %s: input or output array is NULL", flow->kind,
                       op);
    return PF_OK;
}

pf_status pf_flow_forward(pf_flow *flow, int B, const double *z, double *x, double *ldj,
                          const double *score_in, double *score_out)
{
    PF_TRY(check_batch(flow, "forward", B, z, x));
    if (!ldj || (score_in && !score_out))
        return pf_fail(PF_ERR_ARG, "%s flow forward: ldj or score_out is NULL", flow->kind);
    flow->last_pass = 0;
    PF_TRY(flow->ops->forward(flow, B, z, x, ldj, score_in, score_out));
    flow->last_pass = 1;
    flow->last_B = B;
    return PF_OK;
}

pf_status pf_flow_inverse(pf_flow *flow, int B, const double *x, double *z, double *ldj_inv,
                          const double *score_in, double *score_out)
{
    PF_TRY(check_batch(flow, "inverse", B, x, z));
    if (!ldj_inv || (score_in && !score_out))
        return pf_fail(PF_ERR_ARG, "%s flow inverse: ldj or score_out is NULL", flow->kind);
    flow->last_pass = 0;
    PF_TRY(flow->ops->inverse(flow, B, x, z, ldj_inv, score_in, score_out));
    flow->last_pass = -1;
    flow->last_B = B;
    return PF_OK;
}

pf_status pf_flow_backward(pf_flow *flow, int B, const double *out_bar, const double *ldj_bar,
                           double *grad, double *in_bar)
{
    PF_TRY(check_batch(flow, "backward", B, out_bar, out_bar));
    if (flow->last_pass == 0)
        return pf_fail(PF_ERR_ARG, "%s flow backward: no forward or inverse pass to differentiate",
                       flow->kind);
    if (B != flow->last_B)
        return pf_fail(PF_ERR_ARG, "%s flow backward: batch %d differs from the last pass's %d",
                       flow->kind, B, flow->last_B);
    return flow->ops->backward(flow, B, out_bar, ldj_bar, grad, in_bar);
}

void pf_flow_sample_base(const pf_flow *flow, pf_rng *rng, int B, double *z)
{
    const int d = flow->dim;
    size_t n = (size_t)B * (size_t)d;
    if (flow->base == PF_BASE_UNIFORM) {
        const double two_pi = 6.283185307179586476925286766559;
        pf_rng_uniform(rng, n, z);
        for (size_t i = 0; i < n; i++)
            z[i] *= two_pi;
        return;
    }
    pf_rng_normal(rng, n, z);
    if (flow->base != PF_BASE_Z2_MIXTURE)
        return;
    /* the mode of row b: one Rademacher draw per row (its own counter domain,
     * so the normals are those of a PF_BASE_NORMAL flow) */
    for (int b = 0; b < B; b++) {
        double sign;
        pf_rng_rademacher(rng, 1, &sign);
        double *zb = z + (size_t)b * d, shift = sign * flow->base_shift;
        for (int i = 0; i < d; i++)
            zb[i] += shift;
    }
}

/* log cosh u without overflow: |u| + log1p(e^{−2|u|}) − log 2. */
static double log_cosh(double u)
{
    const double a = fabs(u);
    return a + log1p(exp(-2.0 * a)) - 0.69314718055994530941723212145818;
}

/* One row of the Gaussian or the z2 mixture base: log q₀ and (score != NULL) its score. */
static double gaussian_row(const pf_flow *flow, const double *zb, double *score)
{
    const int d = flow->dim;
    const double log_2pi = 1.8378770664093454835606594728112, m = flow->base_shift;
    double sq = 0, sum = 0;
    for (int i = 0; i < d; i++) {
        sq += zb[i] * zb[i];
        sum += zb[i];
    }
    double log_q0 = -0.5 * sq - 0.5 * d * log_2pi, pull = 0;
    if (flow->base == PF_BASE_Z2_MIXTURE) {
        log_q0 += -0.5 * d * m * m + log_cosh(m * sum);
        pull = m * tanh(m * sum); /* ∂/∂zᵢ log cosh(m Σz) */
    }
    if (score)
        for (int i = 0; i < d; i++)
            score[i] = -zb[i] + pull;
    return log_q0;
}

/* z: B×d → log_q0: B, score: B×d (optional). */
void pf_flow_base_log_prob(const pf_flow *flow, int B, const double *z, double *log_q0,
                           double *score)
{
    const int d = flow->dim;
    for (int b = 0; b < B; b++) {
        const double *zb = z + (size_t)b * d;
        double *sb = score ? score + (size_t)b * d : NULL;
        if (flow->base != PF_BASE_UNIFORM) {
            double l = gaussian_row(flow, zb, sb);
            if (log_q0)
                log_q0[b] = l;
        } else {
            if (log_q0)
                log_q0[b] = -d * log(6.283185307179586476925286766559);
            if (sb)
                for (int i = 0; i < d; i++)
                    sb[i] = 0.0;
        }
    }
}

void pf_flow_describe_widths(pf_flow *flow, int n, const int *widths)
{
    size_t used = strlen(flow->description), size = sizeof flow->description;
    int k = snprintf(flow->description + used, size - used, "hidden=[");
    for (int i = 0; i < n && k >= 0 && used + (size_t)k < size; i++)
        k += snprintf(flow->description + used + k, size - used - (size_t)k, "%s%d", i ? "," : "",
                      widths[i]);
    if (k >= 0 && used + (size_t)k < size)
        snprintf(flow->description + used + k, size - used - (size_t)k, "]");
}
