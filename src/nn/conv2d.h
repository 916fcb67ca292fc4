/* Internal: periodic 2-D convolutional networks on L0×L1 lattices (batches,
 * channels last: a batch is (B·V)×C with V = L0·L1, site x0·L1 + x1), by
 * im2col + GEMM: forward, full backward (parameters and input).
 *
 * Layer l: odd k×k kernel W (C_{l+1} × k·k·C_l, row-major, input index
 * ((a+r)·k + (c+r))·C_l + channel for offset (a, c) ∈ [−r, r]², r = k/2) and
 * bias b (C_{l+1}); hidden activation between layers, identity output.
 * Parameters live outside in one flat array; gradients accumulate (+=). */
#ifndef PF_NN_CONV2D_H
#define PF_NN_CONV2D_H

#include <stddef.h>

#include <pathflow/pathflow.h>
#include <pathflow/rng.h>

#include "nn/mlp.h"

#define PF_CNN_MAX_LAYERS 8

typedef struct pf_cnn {
    int L0, L1, kernel, n_layers;
    int channels[PF_CNN_MAX_LAYERS + 1];
    pf_activation hidden_act;
    size_t w_offset[PF_CNN_MAX_LAYERS], b_offset[PF_CNN_MAX_LAYERS];
    size_t n_params;
} pf_cnn;

pf_status pf_cnn_init(pf_cnn *cnn, int L0, int L1, int c_in, int n_hidden, const int *hidden,
                      int c_out, int kernel, pf_activation hidden_act);
/* W, b ~ U(−a, a), a = scale/√(k·k·C_in) (fan-in uniform; scale 1 is the
 * common default of deep-learning libraries); zero_last: last layer 0. */
void pf_cnn_init_params(const pf_cnn *cnn, double *params, pf_rng *rng, int zero_last,
                        double scale);

typedef struct pf_cnn_tape pf_cnn_tape;
pf_status pf_cnn_tape_create(const pf_cnn *cnn, int B_max, pf_cnn_tape **out);
void pf_cnn_tape_destroy(pf_cnn_tape *tape);

/* x: (B·V)×C_0 → y: (B·V)×C_L; the pass is kept in the tape (x referenced). */
void pf_cnn_forward(const pf_cnn *cnn, const double *params, pf_cnn_tape *tape, int B,
                    const double *x, double *y);
/* VJP of the last forward: ybar (B·V)×C_L → grad += (NULL: skip), xbar += (NULL: skip). */
void pf_cnn_backward(const pf_cnn *cnn, const double *params, pf_cnn_tape *tape, int B,
                     const double *ybar, double *grad, double *xbar);

#endif
