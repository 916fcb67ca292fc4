/* Coupling conditioners: dense or periodic-convolutional networks, plain or
 * symmetrised under u → −u. See conditioner.h for the maps. */
#include "flows/conditioner.h"

#include <string.h>

#include "core/error.h"
#include "core/workspace.h"

pf_status pf_conditioner_init(pf_conditioner *c, int d, int n_a, const int *idx_a, int n_b,
                              const int *idx_b, const pf_conditioner_options *o)
{
    memset(c, 0, sizeof *c);
    c->kind = o->kind;
    c->n_branches = o->symmetry == PF_SYMMETRY_Z2 ? 2 : 1;
    c->d = d;
    c->n_a = n_a;
    c->n_b = n_b;
    c->idx_a = idx_a;
    c->idx_b = idx_b;
    if ((unsigned)o->symmetry > PF_SYMMETRY_Z2)
        return pf_fail(PF_ERR_ARG, "conditioner: symmetry kind %d unknown (valid: none, z2)",
                       (int)o->symmetry);
    if (o->kind == PF_CONDITIONER_DENSE) {
        PF_TRY(pf_mlp_init(&c->mlp, n_a, o->n_hidden, o->hidden, 2 * n_b, o->activation,
                           PF_ACT_IDENTITY));
        c->n_params = c->mlp.n_params;
        return PF_OK;
    }
    if (o->kind != PF_CONDITIONER_CONV)
        return pf_fail(PF_ERR_ARG, "conditioner: kind %d unknown (valid: dense, conv)",
                       (int)o->kind);
    if (o->L0 < 1 || o->L1 < 1 || o->L0 * o->L1 != d)
        return pf_fail(PF_ERR_ARG, "conv conditioner: lattice %d×%d does not match dim %d", o->L0,
                       o->L1, d);
    c->V = d;
    PF_TRY(
        pf_cnn_init(&c->cnn, o->L0, o->L1, 1, o->n_hidden, o->hidden, 2, o->kernel, o->activation));
    /* (s, t) are read at the transformed sites only */
    PF_TRY(pf_cnn_set_output_sites(&c->cnn, n_b, idx_b));
    c->n_params = c->cnn.n_params;
    return PF_OK;
}

void pf_conditioner_free(pf_conditioner *c)
{
    for (int k = 0; k < 2; k++) {
        pf_mlp_tape_destroy(c->mlp_tape[k]);
        pf_cnn_tape_destroy(c->cnn_tape[k]);
        pf_free(c->input[k]);
        pf_free(c->raw[k]);
        c->mlp_tape[k] = NULL;
        c->cnn_tape[k] = NULL;
        c->input[k] = c->raw[k] = NULL;
    }
    pf_free(c->raw_bar);
    pf_free(c->field_out);
    pf_free(c->input_bar);
    c->raw_bar = c->field_out = c->input_bar = NULL;
}

pf_status pf_conditioner_reserve(pf_conditioner *c, int B_max)
{
    pf_conditioner_free(c);
    const int conv = c->kind == PF_CONDITIONER_CONV, z2 = c->n_branches == 2;
    const size_t n_in = conv ? (size_t)B_max * c->V : (size_t)B_max * c->n_a;
    const size_t n_st = (size_t)B_max * 2 * c->n_b;
    int ok = 1;
    for (int k = 0; k < c->n_branches; k++) {
        if (conv || k == 1)
            ok = ok && (c->input[k] = pf_alloc_doubles(n_in, "conditioner input"));
        if (z2)
            ok = ok && (c->raw[k] = pf_alloc_doubles(n_st, "conditioner branch output"));
        pf_status st = conv ? pf_cnn_tape_create(&c->cnn, B_max, &c->cnn_tape[k])
                            : pf_mlp_tape_create(&c->mlp, B_max, 0, &c->mlp_tape[k]);
        if (st != PF_OK)
            return st;
    }
    c->raw_bar = pf_alloc_doubles(n_st, "conditioner output cotangent");
    c->input_bar = pf_alloc_doubles(n_in, "conditioner input cotangent");
    if (conv)
        c->field_out = pf_alloc_doubles((size_t)B_max * c->V * 2, "conditioner field output");
    if (!ok || !c->raw_bar || !c->input_bar || (conv && !c->field_out))
        return PF_ERR_NOMEM;
    return PF_OK;
}

void pf_conditioner_init_params(const pf_conditioner *c, double *params, pf_rng *rng, int zero_last,
                                double scale)
{
    if (c->kind == PF_CONDITIONER_CONV) {
        pf_cnn_init_params(&c->cnn, params, rng, zero_last, scale);
        return;
    }
    pf_mlp_init_params(&c->mlp, params, rng, zero_last);
    for (size_t i = 0; i < c->mlp.n_params; i++)
        params[i] *= scale;
}

/* One network evaluation at sign·u_a (sign ±1): out (B×2n_b) = n(sign·u_a),
 * recorded in branch k's tape. */
static void branch_forward(pf_conditioner *c, int k, const double *params, int B, const double *u_a,
                           double sign, double *out)
{
    const int na = c->n_a, nb = c->n_b, V = c->V;
    if (c->kind == PF_CONDITIONER_DENSE) {
        const double *x = u_a;
        if (sign < 0) {
            for (size_t i = 0; i < (size_t)B * na; i++)
                c->input[k][i] = -u_a[i];
            x = c->input[k];
        }
        pf_mlp_forward(&c->mlp, params, c->mlp_tape[k], B, x, out);
        return;
    }
    /* conv: the field (B·V, one channel) with the transformed sites at 0 */
    double *field = c->input[k];
    memset(field, 0, (size_t)B * V * sizeof *field);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < na; j++)
            field[(size_t)b * V + c->idx_a[j]] = sign * u_a[(size_t)b * na + j];
    pf_cnn_forward(&c->cnn, params, c->cnn_tape[k], B, field, c->field_out);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < nb; j++) {
            const double *y = c->field_out + ((size_t)b * V + c->idx_b[j]) * 2;
            out[(size_t)b * 2 * nb + j] = y[0];      /* channel 0: s */
            out[(size_t)b * 2 * nb + nb + j] = y[1]; /* channel 1: t */
        }
}

/* VJP of branch k: out_bar (B×2n_b) → u_a_bar += sign · (∂n/∂x)ᵀ out_bar
 * (the chain rule through x = sign·u_a), grad += (∂n/∂θ)ᵀ out_bar (NULL: skip). */
static void branch_backward(pf_conditioner *c, int k, const double *params, int B,
                            const double *out_bar, double *grad, double sign, double *u_a_bar)
{
    const int na = c->n_a, nb = c->n_b, V = c->V;
    double *xbar = c->input_bar;
    if (c->kind == PF_CONDITIONER_DENSE) {
        memset(xbar, 0, (size_t)B * na * sizeof *xbar);
        if (grad)
            pf_mlp_backward(&c->mlp, params, c->mlp_tape[k], B, out_bar, grad, xbar);
        else
            pf_mlp_vjp_input(&c->mlp, params, c->mlp_tape[k], B, out_bar, xbar);
        for (size_t i = 0; i < (size_t)B * na; i++)
            u_a_bar[i] += sign * xbar[i];
        return;
    }
    /* conv: the cotangent lives on the transformed sites of both channels */
    double *ybar = c->field_out;
    memset(ybar, 0, (size_t)B * V * 2 * sizeof *ybar);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < nb; j++) {
            double *y = ybar + ((size_t)b * V + c->idx_b[j]) * 2;
            y[0] = out_bar[(size_t)b * 2 * nb + j];
            y[1] = out_bar[(size_t)b * 2 * nb + nb + j];
        }
    memset(xbar, 0, (size_t)B * V * sizeof *xbar);
    pf_cnn_backward(&c->cnn, params, c->cnn_tape[k], B, ybar, grad, xbar);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < na; j++)
            u_a_bar[(size_t)b * na + j] += sign * xbar[(size_t)b * V + c->idx_a[j]];
}

/* z2: s = ½(n_s(u) + n_s(−u)), t = ½(n_t(u) − n_t(−u)). */
void pf_conditioner_forward(pf_conditioner *c, const double *params, int B, const double *u_a,
                            double *st)
{
    if (c->n_branches == 1) {
        branch_forward(c, 0, params, B, u_a, 1.0, st);
        return;
    }
    const int nb = c->n_b;
    branch_forward(c, 0, params, B, u_a, 1.0, c->raw[0]);
    branch_forward(c, 1, params, B, u_a, -1.0, c->raw[1]);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < 2 * nb; j++) {
            size_t i = (size_t)b * 2 * nb + j;
            st[i] = 0.5 * (j < nb ? c->raw[0][i] + c->raw[1][i] : c->raw[0][i] - c->raw[1][i]);
        }
}

/* Under the z2 forward: n̄(u) = ½(s̄, t̄), n̄(−u) = ½(s̄, −t̄), and the −u
 * branch's input cotangent enters u_a_bar with a minus. */
void pf_conditioner_backward(pf_conditioner *c, const double *params, int B, const double *st_bar,
                             double *grad, double *u_a_bar)
{
    memset(u_a_bar, 0, (size_t)B * c->n_a * sizeof *u_a_bar);
    if (c->n_branches == 1) {
        branch_backward(c, 0, params, B, st_bar, grad, 1.0, u_a_bar);
        return;
    }
    const int nb = c->n_b;
    for (int k = 0; k < 2; k++) {
        const double t_sign = k == 0 ? 0.5 : -0.5;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < 2 * nb; j++) {
                size_t i = (size_t)b * 2 * nb + j;
                c->raw_bar[i] = (j < nb ? 0.5 : t_sign) * st_bar[i];
            }
        branch_backward(c, k, params, B, c->raw_bar, grad, k == 0 ? 1.0 : -1.0, u_a_bar);
    }
}
