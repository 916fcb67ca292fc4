/* Internal: the conditioner of an affine coupling, the map from the frozen
 * coordinates u_A (B×n_A) to the coupling's (s, t) (B×2n_B, a row is
 * s_0..s_{nB−1}, t_0..t_{nB−1}), with one backward that serves both the score
 * recursion (input cotangent only) and training (parameters too).
 *
 * Two networks compute (s, t):
 *  - dense: an MLP on u_A;
 *  - conv: a periodic CNN on the L0×L1 field with the transformed sites set
 *    to zero (one input channel) whose two output channels, read at the
 *    transformed sites, are s and t. Its weights are shared by all sites, so
 *    their number does not depend on the lattice, and the conditioner
 *    commutes with the lattice shifts that map the mask onto itself.
 * Either can be symmetrised under u → −u (z2): with n the network,
 *   s(u) = ½[n_s(u) + n_s(−u)],  t(u) = ½[n_t(u) − n_t(−u)],
 * so s is even and t odd for any weights (biases included); a coupling with
 * such a conditioner satisfies T(−u) = −T(u). The two evaluations have their
 * own tapes; their VJPs add, the −u branch's input cotangent with a minus.
 *
 * After pf_conditioner_reserve nothing allocates. */
#ifndef PF_FLOWS_CONDITIONER_H
#define PF_FLOWS_CONDITIONER_H

#include <stddef.h>

#include <pathflow/flow.h>
#include <pathflow/rng.h>

#include "nn/conv2d.h"
#include "nn/mlp.h"

typedef struct pf_conditioner_options {
    pf_conditioner_kind kind;
    pf_symmetry_kind symmetry;
    int n_hidden;      /* hidden layers (dense) or hidden conv layers (conv) */
    const int *hidden; /* their widths / channels */
    pf_activation activation;
    int kernel; /* conv: odd kernel size */
    int L0, L1; /* conv: the lattice, L0·L1 = d, site x0·L1 + x1 */
} pf_conditioner_options;

typedef struct pf_conditioner {
    pf_conditioner_kind kind;
    int n_branches; /* 1, or 2 for z2 (branch 1 evaluates at −u_A) */
    int d, n_a, n_b, V;
    const int *idx_a, *idx_b; /* n_a, n_b site indices, borrowed from the coupling */
    pf_mlp mlp;
    pf_cnn cnn;
    size_t n_params;
    pf_mlp_tape *mlp_tape[2];
    pf_cnn_tape *cnn_tape[2];
    double *input[2];  /* network input of branch 1 (dense B×n_a) or of both (conv B·V) */
    double *raw[2];    /* B×2n_b: (n_s, n_t) of each branch (z2 only) */
    double *raw_bar;   /* B×2n_b: cotangent of one branch's output */
    double *field_out; /* conv: (B·V)×2 network output or its cotangent */
    double *input_bar; /* dense B×n_a, conv B·V: one branch's input cotangent */
} pf_conditioner;

/* Describes the network for the coupling's split (idx_a: n_a frozen, idx_b:
 * n_b transformed coordinates of d; both arrays must outlive c). PF_ERR_ARG
 * with a message naming the bad option otherwise. */
pf_status pf_conditioner_init(pf_conditioner *c, int d, int n_a, const int *idx_a, int n_b,
                              const int *idx_b, const pf_conditioner_options *o);
pf_status pf_conditioner_reserve(pf_conditioner *c, int B_max);
void pf_conditioner_free(pf_conditioner *c);

/* Random weights (× scale); zero_last zeroes the network's last layer, so
 * s = t = 0 and the coupling is the identity. params: n_params. */
void pf_conditioner_init_params(const pf_conditioner *c, double *params, pf_rng *rng, int zero_last,
                                double scale);

/* u_a: B×n_a → st: B×2n_b. u_a is referenced by the tape until the next
 * forward: it must stay unchanged while backward calls follow. */
void pf_conditioner_forward(pf_conditioner *c, const double *params, int B, const double *u_a,
                            double *st);

/* VJP of the last forward: st_bar (B×2n_b) → u_a_bar (B×n_a, overwritten)
 * and, if grad != NULL, grad += (n_params). */
void pf_conditioner_backward(pf_conditioner *c, const double *params, int B, const double *st_bar,
                             double *grad, double *u_a_bar);

#endif
