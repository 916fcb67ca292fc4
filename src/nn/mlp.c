/* Dense layers and MLPs on batches. Every batched product is one GEMM:
 * forward z = u Wᵀ (+ b), input VJP ū = z̄ W, parameter gradient W̄ += z̄ᵀ u,
 * tangents ż = u̇ Wᵀ over B·T rows. MATH.md §4 (conditioners), §7 (tangents). */
#include "nn/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"

#define LEAKY_SLOPE 0.01

static const char *ACTIVATION_NAMES[] = {"identity", "tanh", "softplus", "relu", "leaky_relu"};

const char *pf_activation_name(pf_activation act) { return ACTIVATION_NAMES[act]; }

pf_status pf_activation_from_name(const char *name, pf_activation *act)
{
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, ACTIVATION_NAMES[i]) == 0) {
            *act = (pf_activation)i;
            return PF_OK;
        }
    return pf_fail(PF_ERR_ARG,
                   "activation '%s' unknown (valid: identity, tanh, softplus, relu, leaky_relu)",
                   name ? name : "(null)");
}

/* Logistic function 1/(1 + e^{−z}) without overflow. */
static inline double logistic(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* z: n → s = σ(z), ds = σ'(z), d2s = σ''(z), each optional. */
void pf_activation_eval(pf_activation act, size_t n, const double *z, double *s, double *ds,
                        double *d2s)
{
    for (size_t i = 0; i < n; i++) {
        double zi = z[i], v, d1, d2;
        switch (act) {
        case PF_ACT_TANH:
            v = tanh(zi);
            d1 = 1.0 - v * v;
            d2 = -2.0 * v * d1;
            break;
        case PF_ACT_SOFTPLUS:
            v = fmax(zi, 0.0) + log1p(exp(-fabs(zi)));
            d1 = logistic(zi);
            d2 = d1 * (1.0 - d1);
            break;
        case PF_ACT_RELU:
            v = zi > 0 ? zi : 0.0;
            d1 = zi > 0 ? 1.0 : 0.0;
            d2 = 0.0;
            break;
        case PF_ACT_LEAKY_RELU:
            v = zi > 0 ? zi : LEAKY_SLOPE * zi;
            d1 = zi > 0 ? 1.0 : LEAKY_SLOPE;
            d2 = 0.0;
            break;
        default:
            v = zi;
            d1 = 1.0;
            d2 = 0.0;
        }
        if (s)
            s[i] = v;
        if (ds)
            ds[i] = d1;
        if (d2s)
            d2s[i] = d2;
    }
}

pf_status pf_mlp_init(pf_mlp *mlp, int n_in, int n_hidden, const int *hidden, int n_out,
                      pf_activation hidden_act, pf_activation output_act)
{
    memset(mlp, 0, sizeof *mlp);
    if (n_hidden < 0 || n_hidden + 1 > PF_MLP_MAX_LAYERS)
        return pf_fail(PF_ERR_ARG, "mlp: %d hidden layers outside [0, %d]", n_hidden,
                       PF_MLP_MAX_LAYERS - 1);
    if (n_in < 1 || n_out < 1)
        return pf_fail(PF_ERR_ARG, "mlp: input width %d and output width %d must be ≥ 1", n_in,
                       n_out);
    if ((unsigned)hidden_act > PF_ACT_LEAKY_RELU || (unsigned)output_act > PF_ACT_LEAKY_RELU)
        return pf_fail(PF_ERR_ARG, "mlp: unknown activation");
    mlp->n_layers = n_hidden + 1;
    mlp->width[0] = n_in;
    for (int l = 0; l < n_hidden; l++) {
        if (hidden[l] < 1)
            return pf_fail(PF_ERR_ARG, "mlp: hidden[%d] = %d, widths must be ≥ 1", l, hidden[l]);
        mlp->width[l + 1] = hidden[l];
    }
    mlp->width[mlp->n_layers] = n_out;
    mlp->hidden_act = hidden_act;
    mlp->output_act = output_act;
    size_t offset = 0;
    for (int l = 0; l < mlp->n_layers; l++) {
        mlp->w_offset[l] = offset;
        offset += (size_t)mlp->width[l + 1] * mlp->width[l];
        mlp->b_offset[l] = offset;
        offset += (size_t)mlp->width[l + 1];
    }
    mlp->n_params = offset;
    return PF_OK;
}

void pf_mlp_init_params(const pf_mlp *mlp, double *params, pf_rng *rng, int zero_last)
{
    for (int l = 0; l < mlp->n_layers; l++) {
        size_t n_w = (size_t)mlp->width[l + 1] * mlp->width[l];
        double *W = params + mlp->w_offset[l], *b = params + mlp->b_offset[l];
        memset(b, 0, (size_t)mlp->width[l + 1] * sizeof *b);
        if (zero_last && l == mlp->n_layers - 1) {
            memset(W, 0, n_w * sizeof *W);
            continue;
        }
        pf_rng_normal(rng, n_w, W);
        double scale = 1.0 / sqrt((double)mlp->width[l]);
        for (size_t i = 0; i < n_w; i++)
            W[i] *= scale;
    }
}

/* ---- the tape ------------------------------------------------------------- */

struct pf_mlp_tape {
    int B_max, T_max, max_width;
    const double *x;                  /* B×n_0: input of the last forward */
    const double *xdot;               /* B×T×n_0: input tangents of the last tangent pass */
    double *z[PF_MLP_MAX_LAYERS];     /* B×n_{l+1}: pre-activations */
    double *a[PF_MLP_MAX_LAYERS];     /* B×n_{l+1}: activations (l < L−1) */
    double *ds[PF_MLP_MAX_LAYERS];    /* B×n_{l+1}: σ'(z) */
    double *zdot[PF_MLP_MAX_LAYERS];  /* B·T×n_{l+1}: tangents of z */
    double *adot[PF_MLP_MAX_LAYERS];  /* B·T×n_{l+1}: tangents of a (l < L−1) */
    double *bar[2];                   /* B×max_width: activation cotangents (ping-pong) */
    double *zbar;                     /* B×max_width */
    double *d2s;                      /* B×max_width: σ''(z) */
    double *tbar[2];                  /* B·T×max_width: tangent cotangents (ping-pong) */
    double *zdotbar;                  /* B·T×max_width */
    pf_arena arena;
};

static pf_activation layer_act(const pf_mlp *mlp, int l)
{
    return l == mlp->n_layers - 1 ? mlp->output_act : mlp->hidden_act;
}

/* Takes every buffer of the tape from its arena (or, with arena NULL, only
 * counts the doubles needed). */
static size_t tape_layout(const pf_mlp *mlp, pf_mlp_tape *t, pf_arena *arena)
{
    size_t need = 0;
    const size_t B = (size_t)t->B_max, BT = (size_t)t->B_max * t->T_max, W = (size_t)t->max_width;
#define TAKE(ptr, n)                                   \
    do {                                               \
        need += pf_arena_cost(n);                      \
        if (arena)                                     \
            (ptr) = pf_arena_take(arena, (n));         \
    } while (0)
    for (int l = 0; l < mlp->n_layers; l++) {
        size_t n = (size_t)mlp->width[l + 1];
        TAKE(t->z[l], B * n);
        TAKE(t->a[l], B * n);
        TAKE(t->ds[l], B * n);
        if (BT) {
            TAKE(t->zdot[l], BT * n);
            TAKE(t->adot[l], BT * n);
        }
    }
    TAKE(t->bar[0], B * W);
    TAKE(t->bar[1], B * W);
    TAKE(t->zbar, B * W);
    TAKE(t->d2s, B * W);
    if (BT) {
        TAKE(t->tbar[0], BT * W);
        TAKE(t->tbar[1], BT * W);
        TAKE(t->zdotbar, BT * W);
    }
#undef TAKE
    return need;
}

pf_status pf_mlp_tape_create(const pf_mlp *mlp, int B_max, int T_max, pf_mlp_tape **out)
{
    *out = NULL;
    if (B_max < 1 || T_max < 0)
        return pf_fail(PF_ERR_ARG, "mlp tape: B_max = %d must be ≥ 1 and T_max = %d ≥ 0", B_max,
                       T_max);
    pf_mlp_tape *t = calloc(1, sizeof *t);
    if (!t)
        return pf_fail(PF_ERR_NOMEM, "mlp tape: cannot allocate");
    t->B_max = B_max;
    t->T_max = T_max;
    for (int l = 0; l <= mlp->n_layers; l++)
        if (mlp->width[l] > t->max_width)
            t->max_width = mlp->width[l];
    size_t need = tape_layout(mlp, t, NULL);
    pf_status st = pf_arena_init(&t->arena, need, "mlp tape");
    if (st != PF_OK) {
        free(t);
        return st;
    }
    tape_layout(mlp, t, &t->arena);
    *out = t;
    return PF_OK;
}

void pf_mlp_tape_destroy(pf_mlp_tape *tape)
{
    if (!tape)
        return;
    pf_arena_free(&tape->arena);
    free(tape);
}

/* ---- forward and its VJPs ------------------------------------------------------ */

/* x: B×n_0 → y: B×n_L. Layer l: z = u Wᵀ + b, a = σ(z); σ'(z) is kept. */
void pf_mlp_forward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                    const double *x, double *y)
{
    t->x = x;
    const double *u = x;
    for (int l = 0; l < mlp->n_layers; l++) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l], *b = params + mlp->b_offset[l];
        double *z = t->z[l];
        for (int r = 0; r < B; r++)
            memcpy(z + (size_t)r * n_out, b, (size_t)n_out * sizeof *z);
        pf_gemm(0, 1, B, n_out, n_in, 1.0, u, n_in, W, n_in, 1.0, z, n_out);
        double *a = (l == mlp->n_layers - 1) ? y : t->a[l];
        pf_activation_eval(layer_act(mlp, l), (size_t)B * n_out, z, a, t->ds[l], NULL);
        u = a;
    }
}

/* The input of layer l in the last forward: B×n_l. */
static const double *layer_input(const pf_mlp_tape *t, int l) { return l == 0 ? t->x : t->a[l - 1]; }

/* Shared reverse sweep: ȳ: B×n_L → grad (+=, if not NULL), x̄ (+=, if not NULL).
 * Per layer (restating z = u Wᵀ + b, a = σ(z)):
 *   z̄ = σ'(z) ⊙ ā;  W̄ += z̄ᵀ u;  b̄ += Σ_rows z̄;  ū = z̄ W. */
static void reverse_sweep(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                          const double *ybar, double *grad, double *xbar)
{
    const double *abar = ybar;
    for (int l = mlp->n_layers - 1; l >= 0; l--) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l], *ds = t->ds[l];
        const size_t n = (size_t)B * n_out;
        for (size_t i = 0; i < n; i++)
            t->zbar[i] = abar[i] * ds[i];
        if (grad) {
            pf_gemm(1, 0, n_out, n_in, B, 1.0, t->zbar, n_out, layer_input(t, l), n_in, 1.0,
                    grad + mlp->w_offset[l], n_in);
            double *gb = grad + mlp->b_offset[l];
            for (int r = 0; r < B; r++)
                for (int j = 0; j < n_out; j++)
                    gb[j] += t->zbar[(size_t)r * n_out + j];
        }
        if (l == 0) {
            if (xbar)
                pf_gemm(0, 0, B, n_in, n_out, 1.0, t->zbar, n_out, W, n_in, 1.0, xbar, n_in);
        } else {
            double *ubar = t->bar[l % 2];
            pf_gemm(0, 0, B, n_in, n_out, 1.0, t->zbar, n_out, W, n_in, 0.0, ubar, n_in);
            abar = ubar;
        }
    }
}

void pf_mlp_vjp_input(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                      const double *ybar, double *xbar)
{
    reverse_sweep(mlp, params, t, B, ybar, NULL, xbar);
}

void pf_mlp_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                     const double *ybar, double *grad, double *xbar)
{
    reverse_sweep(mlp, params, t, B, ybar, grad, xbar);
}

/* ---- forward-mode tangents and their reverse pass (MATH §7) ------------------- */

/* xdot: B×T×n_0 → ydot: B×T×n_L. Per layer: ż = u̇ Wᵀ (one GEMM over B·T
 * rows), ȧ = σ'(z) ⊙ ż with σ'(z) of sample b broadcast over its T tangents. */
void pf_mlp_tangent(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B, int T,
                    const double *xdot, double *ydot)
{
    t->xdot = xdot;
    const double *udot = xdot;
    for (int l = 0; l < mlp->n_layers; l++) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l];
        double *zdot = t->zdot[l];
        pf_gemm(0, 1, B * T, n_out, n_in, 1.0, udot, n_in, W, n_in, 0.0, zdot, n_out);
        double *adot = (l == mlp->n_layers - 1) ? ydot : t->adot[l];
        for (int b = 0; b < B; b++) {
            const double *ds = t->ds[l] + (size_t)b * n_out;
            for (int k = 0; k < T; k++) {
                size_t row = ((size_t)b * T + k) * n_out;
                for (int j = 0; j < n_out; j++)
                    adot[row + j] = ds[j] * zdot[row + j];
            }
        }
        udot = adot;
    }
}

/* The tangent input of layer l in the last tangent pass: B·T×n_l. */
static const double *layer_tangent_input(const pf_mlp_tape *t, int l)
{
    return l == 0 ? t->xdot : t->adot[l - 1];
}

/* One layer of the reverse pass through (a, ȧ) = (σ(z), σ'(z) ⊙ ż):
 *   z̄ = σ'(z) ⊙ ā + Σ_t σ''(z) ⊙ ż_t ⊙ ǡ_t,   ż̄_t = σ'(z) ⊙ ǡ_t.
 * abar: B×n_out (NULL = 0), adotbar: B·T×n_out → t->zbar, t->zdotbar. */
static void tangent_layer_cotangents(const pf_mlp *mlp, pf_mlp_tape *t, int l, int B, int T,
                                     const double *abar, const double *adotbar)
{
    const int n_out = mlp->width[l + 1];
    const double *ds = t->ds[l], *zdot = t->zdot[l];
    pf_activation_eval(layer_act(mlp, l), (size_t)B * n_out, t->z[l], NULL, NULL, t->d2s);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n_out; j++) {
            size_t i = (size_t)b * n_out + j;
            double acc = abar ? ds[i] * abar[i] : 0.0;
            for (int k = 0; k < T; k++) {
                size_t it = ((size_t)b * T + k) * n_out + j;
                acc += t->d2s[i] * zdot[it] * adotbar[it];
                t->zdotbar[it] = ds[i] * adotbar[it];
            }
            t->zbar[i] = acc;
        }
}

/* ybar: B×n_L (NULL = 0), ydotbar: B×T×n_L → grad += (if not NULL),
 * xbar += (B×n_0, if not NULL), xdotbar += (B×T×n_0, if not NULL).
 * Per layer: W̄ += z̄ᵀu + ż̄ᵀu̇, b̄ += Σ z̄, ū = z̄ W, u̇̄ = ż̄ W. */
void pf_mlp_tangent_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                             int T, const double *ybar, const double *ydotbar, double *grad,
                             double *xbar, double *xdotbar)
{
    const double *abar = ybar, *adotbar = ydotbar;
    for (int l = mlp->n_layers - 1; l >= 0; l--) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l];
        tangent_layer_cotangents(mlp, t, l, B, T, abar, adotbar);
        if (grad) {
            double *gW = grad + mlp->w_offset[l], *gb = grad + mlp->b_offset[l];
            pf_gemm(1, 0, n_out, n_in, B, 1.0, t->zbar, n_out, layer_input(t, l), n_in, 1.0,
                    gW, n_in);
            pf_gemm(1, 0, n_out, n_in, B * T, 1.0, t->zdotbar, n_out, layer_tangent_input(t, l),
                    n_in, 1.0, gW, n_in);
            for (int r = 0; r < B; r++)
                for (int j = 0; j < n_out; j++)
                    gb[j] += t->zbar[(size_t)r * n_out + j];
        }
        if (l == 0) {
            if (xbar)
                pf_gemm(0, 0, B, n_in, n_out, 1.0, t->zbar, n_out, W, n_in, 1.0, xbar, n_in);
            if (xdotbar)
                pf_gemm(0, 0, B * T, n_in, n_out, 1.0, t->zdotbar, n_out, W, n_in, 1.0, xdotbar,
                        n_in);
        } else {
            double *ubar = t->bar[l % 2], *udotbar = t->tbar[l % 2];
            pf_gemm(0, 0, B, n_in, n_out, 1.0, t->zbar, n_out, W, n_in, 0.0, ubar, n_in);
            pf_gemm(0, 0, B * T, n_in, n_out, 1.0, t->zdotbar, n_out, W, n_in, 0.0, udotbar,
                    n_in);
            abar = ubar;
            adotbar = udotbar;
        }
    }
}
