/* RealNVP: a chain of affine couplings with alternating masks (halves,
 * even/odd, or a checkerboard on an L0×L1 lattice). The
 * conditioners are dense MLPs or, on a checkerboard, periodic CNNs; either
 * may be z2-symmetrised (flows/conditioner.h). With a z2 conditioner every
 * coupling is odd, T(−z) = −T(z), and the symmetric base makes q(−x) = q(x).
 * The base is N(0, I) or the two-mode mixture ½N(m·1, I) + ½N(−m·1, I)
 * (PF_BASE_Z2_MIXTURE), for targets with two vacua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flows/coupling_affine.h"
#include "flows/flow_impl.h"

pf_realnvp_options pf_realnvp_options_default(void)
{
    pf_realnvp_options o;
    memset(&o, 0, sizeof o);
    o.dim = 2;
    o.n_layers = 4;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 32;
    o.activation = "tanh";
    o.mask = PF_MASK_HALVES;
    o.zero_init = 1;
    o.init_scale = 1.0;
    o.conditioner = PF_CONDITIONER_DENSE;
    o.kernel = 3;
    o.symmetry = PF_SYMMETRY_NONE;
    o.seed = 0;
    o.base = PF_BASE_NORMAL;
    o.base_shift = 1.0;
    return o;
}

/* mask (d) of layer `layer`: 1 = conditioning part A. Odd layers swap A and B. */
static void make_mask(const pf_realnvp_options *o, int layer, int *mask)
{
    const int d = o->dim, swap = layer % 2;
    for (int i = 0; i < d; i++) {
        int in_a;
        if (o->mask == PF_MASK_HALVES)
            in_a = i < d / 2;
        else if (o->mask == PF_MASK_EVEN_ODD)
            in_a = i % 2 == 0;
        else
            in_a = ((i / o->lattice[1]) + (i % o->lattice[1])) % 2 == 0;
        mask[i] = swap ? !in_a : in_a;
    }
}

static pf_status check_options(const pf_realnvp_options *o, pf_activation *act)
{
    if (o->dim < 2)
        return pf_fail(PF_ERR_ARG, "realnvp: dim = %d, a coupling needs dim ≥ 2", o->dim);
    if (o->n_layers < 1)
        return pf_fail(PF_ERR_ARG, "realnvp: layers = %d must be ≥ 1", o->n_layers);
    /* Fix (test_realnvp): an out-of-range mask kind used to reach make_mask's
     * checkerboard branch with lattice 0 (division by zero, SIGFPE) and index
     * past mask_names in describe(). */
    if ((unsigned)o->mask > PF_MASK_CHECKERBOARD)
        return pf_fail(PF_ERR_ARG,
                       "realnvp: mask kind %d unknown (valid: halves, even_odd, checkerboard)",
                       (int)o->mask);
    if (o->n_hidden < 0 || o->n_hidden > 16)
        return pf_fail(PF_ERR_ARG, "realnvp: %d hidden layers outside [0, 16]", o->n_hidden);
    if (o->mask == PF_MASK_CHECKERBOARD &&
        (o->lattice[0] < 2 || o->lattice[1] < 2 || o->lattice[0] * o->lattice[1] != o->dim))
        return pf_fail(PF_ERR_ARG, "realnvp: checkerboard lattice %d×%d does not match dim %d",
                       o->lattice[0], o->lattice[1], o->dim);
    if (!(o->init_scale >= 0))
        return pf_fail(PF_ERR_ARG, "realnvp: init_scale must be ≥ 0");
    if ((unsigned)o->conditioner > PF_CONDITIONER_CONV)
        return pf_fail(PF_ERR_ARG, "realnvp: conditioner kind %d unknown (valid: dense, conv)",
                       (int)o->conditioner);
    if ((unsigned)o->symmetry > PF_SYMMETRY_Z2)
        return pf_fail(PF_ERR_ARG, "realnvp: symmetry kind %d unknown (valid: none, z2)",
                       (int)o->symmetry);
    if (o->base != PF_BASE_NORMAL && o->base != PF_BASE_Z2_MIXTURE)
        return pf_fail(PF_ERR_ARG, "realnvp: base kind %d unknown (valid: normal, z2_mixture)",
                       (int)o->base);
    if (o->base == PF_BASE_Z2_MIXTURE && !(o->base_shift > 0 && o->base_shift < 1e6))
        return pf_fail(PF_ERR_ARG, "realnvp: base_shift %g of the z2_mixture base must be in (0, 1e6)",
                       o->base_shift);
    if (o->conditioner == PF_CONDITIONER_CONV && o->mask != PF_MASK_CHECKERBOARD)
        return pf_fail(PF_ERR_ARG, "realnvp: the conv conditioner needs the checkerboard mask");
    if (o->conditioner == PF_CONDITIONER_CONV &&
        (o->kernel < 1 || o->kernel % 2 == 0 || o->kernel > o->lattice[0] ||
         o->kernel > o->lattice[1]))
        return pf_fail(PF_ERR_ARG, "realnvp: kernel %d must be odd and fit the %d×%d lattice",
                       o->kernel, o->lattice[0], o->lattice[1]);
    if (o->conditioner == PF_CONDITIONER_CONV && o->n_hidden > PF_CNN_MAX_LAYERS - 1)
        return pf_fail(PF_ERR_ARG, "realnvp: %d hidden conv layers, at most %d", o->n_hidden,
                       PF_CNN_MAX_LAYERS - 1);
    return pf_activation_from_name(o->activation ? o->activation : "tanh", act);
}

static void describe(const pf_realnvp_options *o, pf_flow *flow)
{
    static const char *mask_names[] = {"halves", "even_odd", "checkerboard"};
    snprintf(flow->description, sizeof flow->description,
             "realnvp dim=%d layers=%d mask=%s activation=%s ", o->dim, o->n_layers,
             mask_names[o->mask], o->activation ? o->activation : "tanh");
    pf_flow_describe_widths(flow, o->n_hidden, o->hidden);
    /* dense, no symmetry: the text of earlier versions, so their checkpoints load */
    size_t used = strlen(flow->description), size = sizeof flow->description;
    if (o->conditioner == PF_CONDITIONER_CONV && used < size)
        used += (size_t)snprintf(flow->description + used, size - used,
                                 " conditioner=conv kernel=%d", o->kernel);
    if (o->symmetry == PF_SYMMETRY_Z2 && used < size)
        used += (size_t)snprintf(flow->description + used, size - used, " symmetry=z2");
    /* the base shift is part of the map from base to x: a checkpoint of another m is another flow */
    if (o->base == PF_BASE_Z2_MIXTURE && used < size)
        snprintf(flow->description + used, size - used, " base=z2_mixture shift=%.17g",
                 o->base_shift);
}

pf_status pf_flow_realnvp_create(const pf_realnvp_options *o, pf_flow **out)
{
    *out = NULL;
    pf_conditioner_options cond = {.kind = o->conditioner, .symmetry = o->symmetry,
                                   .n_hidden = o->n_hidden, .hidden = o->hidden,
                                   .kernel = o->kernel, .L0 = o->lattice[0], .L1 = o->lattice[1]};
    PF_TRY(check_options(o, &cond.activation));
    pf_layer **layers = calloc((size_t)o->n_layers, sizeof *layers);
    int *mask = malloc((size_t)o->dim * sizeof *mask);
    pf_status st = (layers && mask) ? PF_OK : pf_fail(PF_ERR_NOMEM, "realnvp: cannot allocate");
    int built = 0;
    for (; st == PF_OK && built < o->n_layers; built++) {
        make_mask(o, built, mask);
        st = pf_coupling_affine_create_with(o->dim, mask, &cond, &layers[built]);
        if (st != PF_OK)
            pf_fail_context(st, "realnvp layer %d", built);
    }
    free(mask);
    if (st != PF_OK) {
        for (int l = 0; l < built; l++)
            if (layers[l])
                layers[l]->ops->destroy(layers[l]);
        free(layers);
        return st;
    }
    st = pf_chain_create(o->dim, o->base, layers, o->n_layers, "realnvp", out);
    free(layers);
    PF_TRY(st);
    (*out)->base_shift = o->base == PF_BASE_Z2_MIXTURE ? o->base_shift : 0.0;
    pf_rng rng = pf_rng_make(o->seed, 0x5EED);
    for (int l = 0; l < o->n_layers; l++) {
        pf_layer *layer = pf_chain_layer(*out, l);
        pf_coupling_affine_init_params(layer, (*out)->params + layer->param_offset, &rng,
                                       o->zero_init, o->init_scale);
    }
    describe(o, *out);
    return PF_OK;
}
