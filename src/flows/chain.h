/* Internal: a flow made of a chain of discrete layers, each u ↦ v of
 * dimension d. The chain composes the layers' passes, runs the score
 * recursion (docs/theory.md §4 (R)) layer by layer, and back-propagates through them.
 * A layer kind is one file that fills pf_layer_ops. */
#ifndef PF_FLOWS_CHAIN_H
#define PF_FLOWS_CHAIN_H

#include <stddef.h>

#include <pathflow/flow.h>

typedef struct pf_layer pf_layer;

typedef struct pf_layer_ops {
    /* Size the layer's tape for batches of B_max. */
    pf_status (*reserve)(pf_layer *layer, int B_max);
    /* Sampling direction u: B×d → v: B×d, ldj: B (+= log|det ∂v/∂u|).
     * If g (B×d, score w.r.t. u) is given, h (B×d) gets the score w.r.t. v. */
    pf_status (*forward)(pf_layer *layer, const double *params, int B, const double *u,
                         double *v, double *ldj, const double *g, double *h);
    /* Density direction v: B×d → u: B×d, ldj: B (+= log|det ∂u/∂v|); score
     * g w.r.t. v → h w.r.t. u. */
    pf_status (*inverse)(pf_layer *layer, const double *params, int B, const double *v,
                         double *u, double *ldj, const double *g, double *h);
    /* VJP of this layer's last pass: out_bar (B×d) and ldj_bar (B, NULL = 0)
     * → grad (+=, this layer's parameters; NULL to skip), in_bar (B×d, =). */
    pf_status (*backward)(pf_layer *layer, const double *params, int B, const double *out_bar,
                          const double *ldj_bar, double *grad, double *in_bar);
    void (*destroy)(pf_layer *layer);
} pf_layer_ops;

struct pf_layer {
    const pf_layer_ops *ops;
    void *content;
    size_t n_params;
    size_t param_offset; /* into the flow's parameter vector, set by the chain */
};

/* A flow owning `layers` (n_layers pointers; ownership moves to the flow,
 * also on failure). Parameter offsets are assigned in layer order. */
pf_status pf_chain_create(int dim, pf_base_kind base, pf_layer **layers, int n_layers,
                          const char *kind, pf_flow **out);

/* The i-th layer of a chain flow (for initialisation and tests). */
pf_layer *pf_chain_layer(pf_flow *flow, int i);
int pf_chain_n_layers(const pf_flow *flow);

#endif
