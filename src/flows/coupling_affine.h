/* Internal: the affine coupling layer (RealNVP) with a dense or convolutional,
 * plain or z2-symmetrised conditioner (flows/conditioner.h).
 * docs/theory.md §4.1 (sampling direction) and §4.2 (inverse direction). */
#ifndef PF_FLOWS_COUPLING_AFFINE_H
#define PF_FLOWS_COUPLING_AFFINE_H

#include <pathflow/rng.h>

#include "flows/chain.h"
#include "flows/conditioner.h"

/* mask: d ints, nonzero = coordinate in A (conditions, passes unchanged),
 * 0 = in B (transformed). Both parts must be non-empty. The conditioner maps
 * u_A (|A|) through hidden layers to (s, t) (2|B|), identity output. */
pf_status pf_coupling_affine_create(int dim, const int *mask, int n_hidden, const int *hidden,
                                    pf_activation activation, pf_layer **out);

/* The same with any conditioner (options: conditioner.h). A conv conditioner
 * reads the whole L0×L1 field, so any mask works; translation equivariance
 * needs one that the lattice shifts map onto itself (the checkerboard). */
pf_status pf_coupling_affine_create_with(int dim, const int *mask,
                                         const pf_conditioner_options *conditioner, pf_layer **out);

/* Random conditioner weights (scaled by `scale`); zero_last makes the layer
 * the identity. params: the layer's n_params. */
void pf_coupling_affine_init_params(const pf_layer *layer, double *params, pf_rng *rng,
                                    int zero_last, double scale);

#endif
