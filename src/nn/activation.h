/* Internal: element-wise activations σ and their derivatives σ', σ'' on arrays,
 * vectorised (tanh, exp and log1p from core/vmath.h), each pass computing only
 * what it needs: the forward only σ, the reverse and tangent passes σ' from the
 * stored σ or z, the second-order pass σ'' from σ and σ'.
 *
 * Definitions: tanh; softplus(z) = log(1 + e^z), evaluated as
 * max(z, 0) + log1p(e^{−|z|}) (finite for every finite z), σ' = logistic(z),
 * σ'' = e^{−|z|} / (1 + e^{−|z|})² (no cancellation for large |z|); relu and
 * leaky_relu (slope 0.01 for z < 0) take σ'(0) from the left (0, resp. 0.01),
 * σ'' = 0; identity. Accuracy: σ of tanh and softplus within 1–2 ulp of the
 * exact value (vmath.h: the transcendental functions to PF_VMATH_MAX_ULP). */
#ifndef PF_NN_ACTIVATION_H
#define PF_NN_ACTIVATION_H

#include <stddef.h>
#include <pathflow/pathflow.h>

typedef enum pf_activation {
    PF_ACT_IDENTITY = 0,
    PF_ACT_TANH,
    PF_ACT_SOFTPLUS,
    PF_ACT_RELU,
    PF_ACT_LEAKY_RELU /* slope 0.01 for z < 0 */
} pf_activation;
#define PF_N_ACTIVATIONS 5
#define PF_VALID_ACTIVATIONS "identity, tanh, softplus, relu, leaky_relu"

/* Name ↔ enum ("identity", "tanh", "softplus", "relu", "leaky_relu").
 * pf_activation_name of a value outside the enum gives "(not an activation)";
 * pf_activation_from_name fails with PF_ERR_ARG and a message naming the
 * string and listing the valid names. */
const char *pf_activation_name(pf_activation act);
pf_status pf_activation_from_name(const char *name, pf_activation *act);

/* σ(z), σ'(z), σ''(z) element-wise on n values (any of the outputs may be NULL). */
void pf_activation_eval(pf_activation act, size_t n, const double *z, double *s, double *ds,
                        double *d2s);

/* The pieces of pf_activation_eval, for passes that need only one of them.
 * z, s = σ(z) (as computed by pf_activation_value), ds, d2s: n each. */
void pf_activation_value(pf_activation act, size_t n, const double *z, double *s);
/* ds = σ'(z). s is read only for tanh (σ' = 1 − σ²); it may be NULL otherwise. */
void pf_activation_slope(pf_activation act, size_t n, const double *z, const double *s, double *ds);
/* d2s = σ''(z). s and ds are read only for tanh (σ'' = −2σσ'); may be NULL otherwise. */
void pf_activation_curvature(pf_activation act, size_t n, const double *z, const double *s,
                             const double *ds, double *d2s);
/* The backward of s = σ(z): zbar = sbar ⊙ σ'(z), n each, σ' formed block by
 * block in L1 (nothing stored). Every activation but softplus reads only the
 * sign of z, which is the sign of σ(z), or σ(z) itself: for those, z may be
 * the storage of s (σ computed in place; pf_activation_needs_input = 0). */
void pf_activation_backward(pf_activation act, size_t n, const double *z, const double *s,
                            const double *sbar, double *zbar);
/* Whether σ' needs z besides σ(z) (softplus); otherwise σ may overwrite z. */
int pf_activation_needs_input(pf_activation act);
/* Whether pf_activation_slope reads s (the forward must keep σ(z)). */
int pf_activation_slope_needs_value(pf_activation act);
/* σ'' ≢ 0 (tanh, softplus): the second-order terms do not vanish. */
int pf_activation_has_curvature(pf_activation act);

#endif
