/* A chain of layers as a pf_flow. The chain keeps every intermediate state
 * u_0 = z, u_1, ..., u_L = x of the last pass for the layers' tapes, and two
 * ping-pong buffers for scores and cotangents. */
#include "flows/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/workspace.h"
#include "flows/flow_impl.h"

typedef struct chain {
    int n_layers;
    pf_layer **layers;
    double *states; /* (L+1)×B_max×d: u_0 .. u_L of the last pass */
    double *ping, *pong; /* B_max×d each: scores / cotangents between layers */
} chain;

static double *state(chain *c, int B_max, int d, int l) { return c->states + (size_t)l * B_max * d; }

static pf_status chain_reserve(pf_flow *flow, int B_max)
{
    chain *c = flow->content;
    size_t bd = (size_t)B_max * flow->dim;
    pf_free(c->states);
    pf_free(c->ping);
    pf_free(c->pong);
    c->states = pf_alloc_doubles((size_t)(c->n_layers + 1) * bd, "chain states");
    c->ping = pf_alloc_doubles(bd, "chain scores");
    c->pong = pf_alloc_doubles(bd, "chain scores");
    if (!c->states || !c->ping || !c->pong)
        return PF_ERR_NOMEM;
    for (int l = 0; l < c->n_layers; l++)
        PF_TRY(c->layers[l]->ops->reserve(c->layers[l], B_max));
    return PF_OK;
}

/* Runs layers first..last (step ±1) with `pass` = forward or inverse of each
 * layer, threading states through c->states and the score through ping/pong.
 * in: B×d, out: B×d, ldj: B, score_in/score_out: B×d or NULL. */
static pf_status chain_run(pf_flow *flow, int B, int forward, const double *in, double *out,
                           double *ldj, const double *score_in, double *score_out)
{
    chain *c = flow->content;
    const int d = flow->dim, L = c->n_layers, Bm = flow->B_max;
    const size_t bd = (size_t)B * d;
    memset(ldj, 0, (size_t)B * sizeof *ldj);
    memcpy(state(c, Bm, d, 0), in, bd * sizeof *in);
    const double *g = score_in;
    for (int k = 0; k < L; k++) {
        pf_layer *layer = c->layers[forward ? k : L - 1 - k];
        const double *params = flow->params + layer->param_offset;
        double *h = score_in ? (k % 2 == 0 ? c->ping : c->pong) : NULL;
        const double *u = state(c, Bm, d, k);
        double *v = state(c, Bm, d, k + 1);
        if (forward)
            PF_TRY(layer->ops->forward(layer, params, B, u, v, ldj, g, h));
        else
            PF_TRY(layer->ops->inverse(layer, params, B, u, v, ldj, g, h));
        g = h;
    }
    memcpy(out, state(c, Bm, d, L), bd * sizeof *out);
    if (score_in)
        memcpy(score_out, L > 0 ? g : score_in, bd * sizeof *score_out);
    return PF_OK;
}

static pf_status chain_forward(pf_flow *flow, int B, const double *z, double *x, double *ldj,
                               const double *score_in, double *score_out)
{
    return chain_run(flow, B, 1, z, x, ldj, score_in, score_out);
}

static pf_status chain_inverse(pf_flow *flow, int B, const double *x, double *z, double *ldj,
                               const double *score_in, double *score_out)
{
    return chain_run(flow, B, 0, x, z, ldj, score_in, score_out);
}

/* Back-propagates through the layers of the last pass in reverse order.
 * out_bar: B×d, ldj_bar: B (every layer's ldj adds to the total, so each gets
 * the same ldj_bar), grad: n_params (+=), in_bar: B×d (+=). */
static pf_status chain_backward(pf_flow *flow, int B, const double *out_bar,
                                const double *ldj_bar, double *grad, double *in_bar)
{
    chain *c = flow->content;
    const int d = flow->dim, L = c->n_layers;
    const size_t bd = (size_t)B * d;
    const int forward = flow->last_pass == 1;
    memcpy(c->ping, out_bar, bd * sizeof *out_bar);
    double *cur = c->ping, *next = c->pong;
    for (int k = L - 1; k >= 0; k--) {
        pf_layer *layer = c->layers[forward ? k : L - 1 - k];
        const double *params = flow->params + layer->param_offset;
        double *layer_grad = grad ? grad + layer->param_offset : NULL;
        PF_TRY(layer->ops->backward(layer, params, B, cur, ldj_bar, layer_grad, next));
        double *tmp = cur;
        cur = next;
        next = tmp;
    }
    if (in_bar)
        for (size_t i = 0; i < bd; i++)
            in_bar[i] += cur[i];
    return PF_OK;
}

static void chain_destroy(pf_flow *flow)
{
    chain *c = flow->content;
    if (!c)
        return;
    for (int l = 0; l < c->n_layers; l++)
        if (c->layers[l])
            c->layers[l]->ops->destroy(c->layers[l]);
    free(c->layers);
    pf_free(c->states);
    pf_free(c->ping);
    pf_free(c->pong);
    free(c);
}

static const pf_flow_ops chain_ops = {
    "chain", chain_reserve, chain_forward, chain_inverse, chain_backward, chain_destroy,
};

pf_status pf_chain_create(int dim, pf_base_kind base, pf_layer **layers, int n_layers,
                          const char *kind, pf_flow **out)
{
    *out = NULL;
    chain *c = calloc(1, sizeof *c);
    pf_layer **owned = calloc((size_t)(n_layers > 0 ? n_layers : 1), sizeof *owned);
    size_t n_params = 0;
    for (int l = 0; l < n_layers; l++) {
        layers[l]->param_offset = n_params;
        n_params += layers[l]->n_params;
    }
    pf_status st = (c && owned) ? PF_OK : pf_fail(PF_ERR_NOMEM, "chain: cannot allocate");
    if (st == PF_OK)
        st = pf_flow_alloc(&chain_ops, dim, base, n_params, out);
    if (st != PF_OK) {
        for (int l = 0; l < n_layers; l++)
            layers[l]->ops->destroy(layers[l]);
        free(c);
        free(owned);
        return st;
    }
    snprintf((*out)->kind, sizeof (*out)->kind, "%s", kind);
    memcpy(owned, layers, (size_t)n_layers * sizeof *owned);
    c->layers = owned;
    c->n_layers = n_layers;
    (*out)->content = c;
    return PF_OK;
}

pf_layer *pf_chain_layer(pf_flow *flow, int i) { return ((chain *)flow->content)->layers[i]; }
int pf_chain_n_layers(const pf_flow *flow) { return ((const chain *)flow->content)->n_layers; }
