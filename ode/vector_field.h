/* Internal: the CNF vector field f_θ(x, t), an MLP on the concatenated input
 * (x, t) (d + 1 → d), on batches. Each entry point is one fused pass through
 * the network for what one ODE right-hand side needs. docs/theory.md §7.
 *
 * Divergence: exact, div f = Σᵢ eᵢᵀ(∂ₓf)eᵢ with d forward-mode tangents per
 * sample (one GEMM over B·d rows per layer), or Hutchinson, εᵀ(∂ₓf)ε with one
 * Rademacher probe ε per sample that the caller keeps fixed for a whole solve
 * and its adjoint. Gradients of the divergence come from the reverse pass
 * through the tangent propagation (pf_mlp_tangent_backward). */
#ifndef PF_ODE_VECTOR_FIELD_H
#define PF_ODE_VECTOR_FIELD_H

#include "nn/mlp.h"

typedef struct pf_vector_field {
    int d;
    int hutchinson;     /* 0: exact divergence (T = d tangents), 1: one probe */
    int T;              /* tangents per sample */
    pf_mlp mlp;         /* (d + 1) → d */
    int B_max;
    pf_mlp_tape *tape;
    double *input;      /* B×(d+1): (x, t) */
    double *f;          /* B×d */
    double *xdot;       /* B×T×(d+1): tangent inputs (probes, zero on t) */
    double *ydot;       /* B×T×d: J·tangents */
    double *ydotbar;    /* B×T×d */
    double *xbar;       /* B×(d+1) */
    /* The adjoint's pass cache: every right-hand side of one adjoint solver
     * step reads the forward state at the same t, so the forward (and tangent)
     * pass of the last adjoint call is reused when B, t, x and θ equal those of
     * that call bit for bit. Any other pass and new probes drop it. */
    double *theta;      /* n_params: θ of the cached pass */
    int cached_B;       /* 0: nothing cached */
    double cached_t;
    int cached_tangent; /* the tangent pass is cached too */
} pf_vector_field;

pf_status pf_vector_field_init(pf_vector_field *vf, int d, int n_hidden, const int *hidden,
                               pf_activation activation, int hutchinson);
void pf_vector_field_free(pf_vector_field *vf);
/* Sizes the buffers for batches of up to B_max. */
pf_status pf_vector_field_reserve(pf_vector_field *vf, int B_max);

/* The probes of one solve: exact → eᵢ (set once); Hutchinson → eps (B×d of
 * ±1, drawn by the caller). */
void pf_vector_field_set_probes(pf_vector_field *vf, int B, const double *eps);

/* x: B×d at time t → f: B×d. */
void pf_vector_field_eval(pf_vector_field *vf, const double *params, int B, double t,
                          const double *x, double *f);

/* → f: B×d, div: B; if g (B×d) is given, also dg = −(∂ₓf)ᵀg − ∇ₓ div f
 * (B×d): the score transport of docs/theory.md §7. */
void pf_vector_field_eval_div(pf_vector_field *vf, const double *params, int B, double t,
                              const double *x, double *f, double *div, const double *g,
                              double *dg);

/* The adjoint right-hand side: for λ (B×d) and per-sample weights w (B, or
 * NULL = 0) of the log-determinant, dlambda = −(∂ₓf)ᵀλ − w ∇ₓ div f (B×d) and,
 * if grad != NULL, grad = −(∂_θ f)ᵀλ − w ∇_θ div f (n_params, overwritten). */
void pf_vector_field_adjoint(pf_vector_field *vf, const double *params, int B, double t,
                             const double *x, const double *lambda, const double *w,
                             double *dlambda, double *grad);

#endif
