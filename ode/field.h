/* Internal: the vector field of a CNF behind a small table of operations, so
 * that ode/cnf.c runs the same solves whichever field it has (the dense MLP of
 * ode/vector_field.c or the lattice field of ode/lattice_field.c).
 *
 * Every operation works on a batch x (B×d) at one time t with the parameter
 * vector θ (n_params doubles, owned by the flow). */
#ifndef PF_ODE_FIELD_H
#define PF_ODE_FIELD_H

#include <stddef.h>

#include <pathflow/flow.h>
#include <pathflow/rng.h>

#include "nn/mlp.h"

typedef struct pf_field pf_field;

typedef struct pf_field_ops {
    /* Sizes the buffers for batches of up to B_max (allocates). */
    pf_status (*reserve)(pf_field *field, int B_max);
    /* Hutchinson probes of one solve (B×d of ±1); fields with a cheap exact
     * divergence ignore them. */
    void (*set_probes)(pf_field *field, int B, const double *eps);
    /* → f (B×d), div f (B); if g (B×d) is given also the score transport
     * dg = −(∂ₓf)ᵀg − ∇ₓ div f (B×d). */
    void (*eval_div)(pf_field *field, const double *params, int B, double t, const double *x,
                     double *f, double *div, const double *g, double *dg);
    /* The adjoint right-hand side: for λ (B×d) and per-sample weights w (B, or
     * NULL = 0) of div f: dlambda = −(∂ₓf)ᵀλ − w ∇ₓ div f and, if grad is
     * given, grad = −(∂_θ f)ᵀλ − w ∇_θ div f (n_params, overwritten). */
    void (*adjoint)(pf_field *field, const double *params, int B, double t, const double *x,
                    const double *lambda, const double *w, double *dlambda, double *grad);
    /* Initial parameters: zero_last = 1 makes f ≡ 0 (the identity flow). */
    void (*init_params)(const pf_field *field, double *params, pf_rng *rng, int zero_last,
                        double scale);
    void (*destroy)(pf_field *field);
} pf_field_ops;

struct pf_field {
    const pf_field_ops *ops;
    int d;
    size_t n_params;
    int size_independent; /* the parameters do not depend on the lattice size */
    void *content;
};

/* The dense MLP on (x, t), exact (d tangents) or Hutchinson divergence. */
pf_status pf_field_mlp_create(int d, int n_hidden, const int *hidden, pf_activation activation,
                              int hutchinson, pf_field **out);

/* The lattice field; options as in pf_cnf_options (lattice shape, features,
 * time basis, radius, symmetry). */
pf_status pf_field_lattice_create(const pf_cnf_options *o, pf_field **out);

void pf_field_destroy(pf_field *field);

#endif
