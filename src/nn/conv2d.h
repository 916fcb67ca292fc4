/* Internal: periodic 2-D convolutional networks on L0×L1 lattices (batches,
 * channels last: a batch is (B·V)×C with V = L0·L1, site x0·L1 + x1):
 * forward, full backward (parameters and input).
 *
 * Two routes to the same layer. A layer whose input and output both have at
 * most `direct_max` channels (default PF_CNN_DIRECT_MAX), with a kernel of
 * at most 7×7, is computed directly,
 * site by site, vectorised over the channels of a compile-time width, with
 * nothing stored but its input and output; a wider layer by im2col + GEMM
 * (the k·k-fold column matrix is stored for the backward pass). The lattice
 * flows' conditioners (1–16 channels) are products of 8192 × 9·C_in × C_out,
 * tall and skinny, where BLAS spends its time packing and im2col in memory
 * traffic; the direct kernels avoid both. Their sums run in another order, so
 * the two routes agree to rounding (tests/test_conv2d.c checks both).
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
#define PF_CNN_DIRECT_MAX 16 /* widest channel count of the direct kernels */
#define PF_CNN_DIRECT_KK 49  /* and their largest k·k (kernels up to 7) */

typedef struct pf_cnn {
    int L0, L1, kernel, n_layers;
    int channels[PF_CNN_MAX_LAYERS + 1];
    pf_activation hidden_act;
    size_t w_offset[PF_CNN_MAX_LAYERS], b_offset[PF_CNN_MAX_LAYERS];
    size_t n_params;
    int direct_max; /* layers with ≤ this many channels in and out: direct */
    int n_out_sites;       /* pf_cnn_set_output_sites; 0: every site */
    const int *out_sites;
} pf_cnn;

pf_status pf_cnn_init(pf_cnn *cnn, int L0, int L1, int c_in, int n_hidden, const int *hidden,
                      int c_out, int kernel, pf_activation hidden_act);
/* The outputs are wanted at n sites of each batch row only (increasing, in
 * [0, V); referenced, not copied; NULL: at every site): the last layer is
 * then computed there alone, its outputs at the other sites set to 0, and
 * pf_cnn_backward reads ybar at the listed sites alone — the cotangent at the
 * others must be 0, as it is for outputs nobody uses. A coupling's
 * conditioner needs its outputs at the transformed sites only. */
pf_status pf_cnn_set_output_sites(pf_cnn *cnn, int n, const int *sites);
/* Route of layer l: 1 direct, 0 im2col + GEMM. direct_max may be lowered
 * (0: every layer by GEMM) after pf_cnn_init and before the tape is made. */
int pf_cnn_layer_direct(const pf_cnn *cnn, int l);
/* W, b ~ U(−a, a), a = scale/√(k·k·C_in) (fan-in uniform; scale 1 is the
 * common default of deep-learning libraries); zero_last: last layer 0. */
void pf_cnn_init_params(const pf_cnn *cnn, double *params, pf_rng *rng, int zero_last,
                        double scale);

typedef struct pf_cnn_tape pf_cnn_tape;
pf_status pf_cnn_tape_create(const pf_cnn *cnn, int B_max, pf_cnn_tape **out);
void pf_cnn_tape_destroy(pf_cnn_tape *tape);

/* When every layer is direct, the passes run the layer stack on chunks of
 * the batch (about 128 KB per array, whole blocks of the weight gradient's
 * sites), with the bits of one pass over the whole batch. Tests: ask for
 * `rows` per chunk (rounded to whole blocks; 0: the default); returns the
 * rows a chunk of a B_max batch will have. */
int pf_cnn_tape_set_chunk(pf_cnn_tape *tape, const pf_cnn *cnn, int rows);
/* x: (B·V)×C_0 → y: (B·V)×C_L; the pass is kept in the tape (x referenced). */
void pf_cnn_forward(const pf_cnn *cnn, const double *params, pf_cnn_tape *tape, int B,
                    const double *x, double *y);
/* VJP of the last forward: ybar (B·V)×C_L → grad += (NULL: skip), xbar += (NULL: skip). */
void pf_cnn_backward(const pf_cnn *cnn, const double *params, pf_cnn_tape *tape, int B,
                     const double *ybar, double *grad, double *xbar);

#endif
