/* The CNF vector field: an MLP on (x, t) with exact or Hutchinson
 * divergences and their gradients (docs/theory.md §7). */
#include "ode/vector_field.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/workspace.h"

pf_status pf_vector_field_init(pf_vector_field *vf, int d, int n_hidden, const int *hidden,
                               pf_activation activation, int hutchinson)
{
    memset(vf, 0, sizeof *vf);
    if (d < 1)
        return pf_fail(PF_ERR_ARG, "cnf: dim = %d must be ≥ 1", d);
    vf->d = d;
    vf->hutchinson = hutchinson;
    vf->T = hutchinson ? 1 : d;
    return pf_mlp_init(&vf->mlp, d + 1, n_hidden, hidden, d, activation, PF_ACT_IDENTITY);
}

void pf_vector_field_free(pf_vector_field *vf)
{
    pf_mlp_tape_destroy(vf->tape);
    double *bufs[] = {vf->input, vf->f, vf->xdot, vf->ydot, vf->ydotbar, vf->xbar, vf->theta};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        pf_free(bufs[i]);
    vf->tape = NULL;
    vf->input = vf->f = vf->xdot = vf->ydot = vf->ydotbar = vf->xbar = vf->theta = NULL;
    vf->cached_B = 0;
}

pf_status pf_vector_field_reserve(pf_vector_field *vf, int B_max)
{
    pf_vector_field_free(vf);
    const size_t B = (size_t)B_max, d = (size_t)vf->d, T = (size_t)vf->T;
    vf->B_max = B_max;
    vf->input = pf_alloc_doubles(B * (d + 1), "cnf input");
    vf->f = pf_alloc_doubles(B * d, "cnf field");
    vf->xdot = pf_alloc_doubles(B * T * (d + 1), "cnf tangents");
    vf->ydot = pf_alloc_doubles(B * T * d, "cnf tangents");
    vf->ydotbar = pf_alloc_doubles(B * T * d, "cnf tangent cotangents");
    vf->xbar = pf_alloc_doubles(B * (d + 1), "cnf input cotangent");
    vf->theta = pf_alloc_doubles(vf->mlp.n_params, "cnf cached parameters");
    if (!vf->input || !vf->f || !vf->xdot || !vf->ydot || !vf->ydotbar || !vf->xbar || !vf->theta)
        return PF_ERR_NOMEM;
    if (!vf->hutchinson) /* exact: tangent i of every sample is e_i, zero on t */
        for (size_t b = 0; b < B; b++)
            for (size_t i = 0; i < d; i++)
                vf->xdot[(b * T + i) * (d + 1) + i] = 1.0;
    return pf_mlp_tape_create(&vf->mlp, B_max, vf->T, &vf->tape);
}

void pf_vector_field_set_probes(pf_vector_field *vf, int B, const double *eps)
{
    if (!vf->hutchinson)
        return;
    const int d = vf->d;
    vf->cached_B = 0; /* the cached tangents used the old probes */
    for (int b = 0; b < B; b++) {
        memcpy(vf->xdot + (size_t)b * (d + 1), eps + (size_t)b * d, (size_t)d * sizeof *eps);
        vf->xdot[(size_t)b * (d + 1) + d] = 0.0;
    }
}

/* input = (x, t) rows, then the forward pass. x: B×d. */
static void forward(pf_vector_field *vf, const double *params, int B, double t, const double *x,
                    double *f)
{
    const int d = vf->d;
    vf->cached_B = 0; /* the tape now holds this pass */
    for (int b = 0; b < B; b++) {
        memcpy(vf->input + (size_t)b * (d + 1), x + (size_t)b * d, (size_t)d * sizeof *x);
        vf->input[(size_t)b * (d + 1) + d] = t;
    }
    pf_mlp_forward(&vf->mlp, params, vf->tape, B, vf->input, f);
}

void pf_vector_field_eval(pf_vector_field *vf, const double *params, int B, double t,
                          const double *x, double *f)
{
    forward(vf, params, B, t, x, f);
}

/* ydotbar[b, k] = w_b · (probe k of sample b) on the x part: the cotangent
 * whose reverse pass gives w_b ∇ div f. */
static void divergence_cotangent(pf_vector_field *vf, int B, const double *w)
{
    const int d = vf->d, T = vf->T;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            const double *probe = vf->xdot + ((size_t)b * T + k) * (d + 1);
            double *out = vf->ydotbar + ((size_t)b * T + k) * d;
            for (int j = 0; j < d; j++)
                out[j] = (w ? w[b] : 1.0) * probe[j];
        }
}

void pf_vector_field_eval_div(pf_vector_field *vf, const double *params, int B, double t,
                              const double *x, double *f, double *div, const double *g,
                              double *dg)
{
    const int d = vf->d, T = vf->T;
    forward(vf, params, B, t, x, f);
    pf_mlp_tangent(&vf->mlp, params, vf->tape, B, T, vf->xdot, vf->ydot);
    for (int b = 0; b < B; b++) { /* div = Σ_k probe_kᵀ (J probe_k) */
        double s = 0;
        for (int k = 0; k < T; k++) {
            const double *probe = vf->xdot + ((size_t)b * T + k) * (d + 1);
            const double *jp = vf->ydot + ((size_t)b * T + k) * d;
            for (int j = 0; j < d; j++)
                s += probe[j] * jp[j];
        }
        div[b] = s;
    }
    if (!g)
        return;
    /* dg = −(Jᵀg + ∇ₓ div f): one reverse pass with ȳ = g, ẏ̄ = probes. */
    divergence_cotangent(vf, B, NULL);
    memset(vf->xbar, 0, (size_t)B * (d + 1) * sizeof *vf->xbar);
    pf_mlp_tangent_backward(&vf->mlp, params, vf->tape, B, T, g, vf->ydotbar, NULL, vf->xbar,
                            NULL);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++)
            dg[(size_t)b * d + j] = -vf->xbar[(size_t)b * (d + 1) + j];
}

/* The tape holds the pass of the last adjoint call at (B, t, x, θ): compared
 * bit for bit (B·d + n_params doubles, against a pass of O(B · width²)). */
static int pass_cached(const pf_vector_field *vf, const double *params, int B, double t,
                       const double *x)
{
    if (vf->cached_B != B || memcmp(&vf->cached_t, &t, sizeof t) != 0)
        return 0;
    const int d = vf->d;
    for (int b = 0; b < B; b++)
        if (memcmp(vf->input + (size_t)b * (d + 1), x + (size_t)b * d, (size_t)d * sizeof *x))
            return 0;
    return memcmp(vf->theta, params, vf->mlp.n_params * sizeof *params) == 0;
}

void pf_vector_field_adjoint(pf_vector_field *vf, const double *params, int B, double t,
                             const double *x, const double *lambda, const double *w,
                             double *dlambda, double *grad)
{
    const int d = vf->d, T = vf->T;
    if (!pass_cached(vf, params, B, t, x)) {
        forward(vf, params, B, t, x, vf->f);
        memcpy(vf->theta, params, vf->mlp.n_params * sizeof *params);
        vf->cached_B = B;
        vf->cached_t = t;
        vf->cached_tangent = 0;
    }
    memset(vf->xbar, 0, (size_t)B * (d + 1) * sizeof *vf->xbar);
    if (grad)
        memset(grad, 0, vf->mlp.n_params * sizeof *grad);
    if (w) { /* the log-determinant's terms need the tangent pass */
        if (!vf->cached_tangent)
            pf_mlp_tangent(&vf->mlp, params, vf->tape, B, T, vf->xdot, vf->ydot);
        vf->cached_tangent = 1;
        divergence_cotangent(vf, B, w);
        pf_mlp_tangent_backward(&vf->mlp, params, vf->tape, B, T, lambda, vf->ydotbar, grad,
                                vf->xbar, NULL);
    } else {
        pf_mlp_backward(&vf->mlp, params, vf->tape, B, lambda, grad, vf->xbar);
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++)
            dlambda[(size_t)b * d + j] = -vf->xbar[(size_t)b * (d + 1) + j];
    if (grad)
        for (size_t i = 0; i < vf->mlp.n_params; i++)
            grad[i] = -grad[i];
}
