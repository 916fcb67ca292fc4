/* Internal: dense layers and MLPs on batches (BLAS-3), with forward, input-only
 * VJP, full backward, and forward-mode tangents. docs/theory.md §4 (conditioners) and
 * §7 (tangents for divergences).
 *
 * Shapes (row-major): a batch of inputs is B×n_in, outputs B×n_out.
 * Layer l (0 ≤ l < L) maps width n_l → n_{l+1}: z = u Wᵀ + b, a = σ_l(z), with
 * W of shape n_{l+1}×n_l (row-major) and b of n_{l+1}. σ_l is the hidden
 * activation for l < L−1 and the output activation for l = L−1.
 *
 * Parameters live outside the MLP in one flat double[] of pf_mlp.n_params
 * (the flow's parameter vector, so optimiser, checkpoints and MPI see one
 * array): layer l's W at w_offset[l], then its b at b_offset[l].
 * Gradients accumulate (+=) into caller-owned buffers; the caller zeroes.
 *
 * Calls after pf_mlp_tape_create never allocate and check nothing: B ≤ B_max
 * and T ≤ T_max of the tape, a forward before any VJP/backward/tangent call,
 * and a tangent pass before pf_mlp_tangent_backward are the caller's
 * preconditions. */
#ifndef PF_NN_MLP_H
#define PF_NN_MLP_H

#include <stddef.h>
#include <pathflow/pathflow.h>
#include <pathflow/rng.h>

#include "nn/activation.h"

#define PF_MLP_MAX_LAYERS 32

typedef struct pf_mlp {
    int n_layers;                     /* L ≥ 1 dense layers */
    int width[PF_MLP_MAX_LAYERS + 1]; /* n_0 = input, ..., n_L = output */
    pf_activation hidden_act, output_act;
    size_t w_offset[PF_MLP_MAX_LAYERS];
    size_t b_offset[PF_MLP_MAX_LAYERS];
    size_t n_params;
} pf_mlp;

/* Describe an MLP: n_in → hidden[0] → ... → hidden[n_hidden−1] → n_out.
 * n_hidden may be 0 (a single affine layer), at most PF_MLP_MAX_LAYERS − 1.
 * Widths ≥ 1. PF_ERR_ARG with a message naming the bad field otherwise. */
pf_status pf_mlp_init(pf_mlp *mlp, int n_in, int n_hidden, const int *hidden, int n_out,
                      pf_activation hidden_act, pf_activation output_act);

/* Initialise parameters: W ~ N(0, gain²/n_in) (gain 1), b = 0; if zero_last,
 * the last layer's W and b are 0 (a coupling built on it is the identity).
 * Draws from the normal cursor of rng. params: n_params. */
void pf_mlp_init_params(const pf_mlp *mlp, double *params, pf_rng *rng, int zero_last);

/* The tape remembers one forward pass (pre-activations z_l and activations a_l
 * for every layer) and, after pf_mlp_tangent, the tangents; plus scratch for
 * the backward passes. Sized once for batches up to B_max and tangents up to
 * T_max per sample (T_max may be 0 if tangents are never used). */
typedef struct pf_mlp_tape pf_mlp_tape;
pf_status pf_mlp_tape_create(const pf_mlp *mlp, int B_max, int T_max, pf_mlp_tape **out);
void pf_mlp_tape_destroy(pf_mlp_tape *tape);

/* x: B×n_in → y: B×n_out, B ≤ B_max. Records the pass in the tape (x is
 * referenced, not copied: it must stay unchanged until the backward/VJP calls
 * are done; y is not needed by them). */
void pf_mlp_forward(const pf_mlp *mlp, const double *params, pf_mlp_tape *tape, int B,
                    const double *x, double *y);

/* Input-only VJP of the last forward: x̄ += (∂y/∂x)ᵀ ȳ. ybar: B×n_out, xbar: B×n_in.
 * No parameter gradient is formed (the score recursion needs only this). */
void pf_mlp_vjp_input(const pf_mlp *mlp, const double *params, pf_mlp_tape *tape, int B,
                      const double *ybar, double *xbar);

/* Full backward of the last forward: grad += (∂y/∂θ)ᵀ ȳ (grad: n_params) and,
 * if xbar != NULL, x̄ += (∂y/∂x)ᵀ ȳ. */
void pf_mlp_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *tape, int B,
                     const double *ybar, double *grad, double *xbar);

/* Forward-mode tangents of the last forward: T tangents per sample, batched as
 * GEMMs. xdot: B×T×n_in → ydot: B×T×n_out, ydot[b,t] = (∂y/∂x)(x_b) xdot[b,t].
 * T ≤ T_max of the tape. Records the tangents for pf_mlp_tangent_backward
 * (xdot is referenced, not copied, like x in the forward). */
void pf_mlp_tangent(const pf_mlp *mlp, const double *params, pf_mlp_tape *tape, int B, int T,
                    const double *xdot, double *ydot);

/* Reverse pass through the last forward and tangent passes (docs/theory.md §7): given
 * cotangents ȳ (B×n_out, may be NULL = 0) of y and ẏ̄ (B×T×n_out) of ydot,
 * accumulate grad += ∂/∂θ (may be NULL), xbar += ∂/∂x (may be NULL), xdotbar +=
 * ∂/∂ẋ (may be NULL), of the scalar Σ ȳ·y + Σ ẏ̄·ẏ. T must equal the T of the
 * last pf_mlp_tangent. */
void pf_mlp_tangent_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *tape, int B,
                             int T, const double *ybar, const double *ydotbar, double *grad,
                             double *xbar, double *xdotbar);

#endif
