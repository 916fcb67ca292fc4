/* Dense layers and MLPs on batches. Every batched product is one GEMM:
 * forward z = u Wᵀ (+ b), input VJP ū = z̄ W, parameter gradient W̄ += z̄ᵀ u,
 * tangents ż = u̇ Wᵀ over B·T rows. docs/theory.md §4 (conditioners), §7 (tangents).
 * Row-major throughout: a batch is B×n, W_l is n_{l+1}×n_l, tangents are
 * B×T×n, i.e. a (B·T)×n matrix whose rows b·T … b·T+T−1 belong to sample b. */
#include "nn/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"

/* ---- description and parameters ------------------------------------------ */

static pf_status check_activation(pf_activation act, const char *field)
{
    if ((unsigned)act < PF_N_ACTIVATIONS)
        return PF_OK;
    return pf_fail(PF_ERR_ARG,
                   "mlp: %s = %d is not an activation (valid: " PF_VALID_ACTIVATIONS ")", field,
                   (int)act);
}

/* hidden: n_hidden widths. Everything is checked before *mlp is filled in. */
static pf_status check_description(int n_in, int n_hidden, const int *hidden, int n_out,
                                   pf_activation hidden_act, pf_activation output_act)
{
    if (n_hidden < 0 || n_hidden + 1 > PF_MLP_MAX_LAYERS)
        return pf_fail(PF_ERR_ARG, "mlp: n_hidden = %d outside [0, %d] (at most %d layers)",
                       n_hidden, PF_MLP_MAX_LAYERS - 1, PF_MLP_MAX_LAYERS);
    if (n_hidden > 0 && !hidden)
        return pf_fail(PF_ERR_ARG, "mlp: hidden is NULL but n_hidden = %d", n_hidden);
    if (n_in < 1)
        return pf_fail(PF_ERR_ARG, "mlp: n_in = %d, widths must be ≥ 1", n_in);
    for (int l = 0; l < n_hidden; l++)
        if (hidden[l] < 1)
            return pf_fail(PF_ERR_ARG, "mlp: hidden[%d] = %d, widths must be ≥ 1", l, hidden[l]);
    if (n_out < 1)
        return pf_fail(PF_ERR_ARG, "mlp: n_out = %d, widths must be ≥ 1", n_out);
    PF_TRY(check_activation(hidden_act, "hidden_act"));
    return check_activation(output_act, "output_act");
}

pf_status pf_mlp_init(pf_mlp *mlp, int n_in, int n_hidden, const int *hidden, int n_out,
                      pf_activation hidden_act, pf_activation output_act)
{
    memset(mlp, 0, sizeof *mlp);
    PF_TRY(check_description(n_in, n_hidden, hidden, n_out, hidden_act, output_act));
    mlp->n_layers = n_hidden + 1;
    mlp->width[0] = n_in;
    for (int l = 0; l < n_hidden; l++)
        mlp->width[l + 1] = hidden[l];
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

/* params: n_params. W_l ~ N(0, 1/n_l) (variance-preserving at initialisation), b_l = 0. */
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
    const double *x;                 /* B×n_0: input of the last forward */
    const double *xdot;              /* B×T×n_0: input tangents of the last tangent pass */
    double *z[PF_MLP_MAX_LAYERS];    /* B×n_{l+1}: pre-activations */
    double *a[PF_MLP_MAX_LAYERS];    /* B×n_{l+1}: activations (the last layer's only if
                                        σ' is computed from σ; y itself is the caller's) */
    double *ds[PF_MLP_MAX_LAYERS];   /* B×n_{l+1}: σ'(z), computed on first use after a forward */
    int ds_ready[PF_MLP_MAX_LAYERS]; /* ds[l] holds σ'(z_l) of the last forward */
    double *zdot[PF_MLP_MAX_LAYERS]; /* (B·T)×n_{l+1}: tangents of z */
    double *adot[PF_MLP_MAX_LAYERS]; /* (B·T)×n_{l+1}: tangents of a (l < L−1) */
    double *bar[2];                  /* B×max_width: activation cotangents (ping-pong) */
    double *zbar;                    /* B×max_width */
    double *d2s;                     /* B×max_width: σ''(z) */
    double *tbar[2];                 /* (B·T)×max_width: tangent cotangents (ping-pong) */
    double *zdotbar;                 /* (B·T)×max_width */
    pf_arena arena;
};

static pf_activation layer_act(const pf_mlp *mlp, int l)
{
    return l == mlp->n_layers - 1 ? mlp->output_act : mlp->hidden_act;
}

/* Hands every buffer of the tape out of `arena`, or, with arena NULL, only
 * counts the doubles needed: one routine, so the sizing cannot drift. */
static size_t tape_layout(const pf_mlp *mlp, pf_mlp_tape *t, pf_arena *arena)
{
    size_t need = 0;
    const size_t B = (size_t)t->B_max, BT = (size_t)t->B_max * t->T_max, W = (size_t)t->max_width;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        need += pf_arena_cost(n);                                                                  \
        if (arena)                                                                                 \
            (ptr) = pf_arena_take(arena, (n));                                                     \
    } while (0)
    for (int l = 0; l < mlp->n_layers; l++) {
        const size_t n = (size_t)mlp->width[l + 1];
        const int hidden = l < mlp->n_layers - 1;
        TAKE(t->z[l], B * n);
        TAKE(t->ds[l], B * n);
        if (hidden || pf_activation_slope_needs_value(mlp->output_act))
            TAKE(t->a[l], B * n);
        if (BT)
            TAKE(t->zdot[l], BT * n);
        if (BT && hidden)
            TAKE(t->adot[l], BT * n);
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
    if (mlp->n_layers < 1)
        return pf_fail(PF_ERR_ARG, "mlp tape: the MLP has no layers (was pf_mlp_init called?)");
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
    pf_status st = pf_arena_init(&t->arena, tape_layout(mlp, t, NULL), "mlp tape");
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

/* ---- forward and its VJPs ------------------------------------------------- */

/* x: B×n_0 → y: B×n_L; tape: z_l, a_l: B×n_{l+1}. W_l: n_{l+1}×n_l, b_l: n_{l+1}.
 * Layer l: z = u Wᵀ + b (bias broadcast, then one GEMM with beta = 1), a = σ(z).
 * σ'(z) is left to the first pass that needs it (layer_slope): a forward that
 * is not differentiated (sampling, most ODE right-hand sides) never pays for it. */
void pf_mlp_forward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B, const double *x,
                    double *y)
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
        const int last = l == mlp->n_layers - 1;
        double *a = last ? y : t->a[l];
        pf_activation_value(layer_act(mlp, l), (size_t)B * n_out, z, a);
        if (last && t->a[l]) /* σ' of the output layer is computed from σ */
            memcpy(t->a[l], y, (size_t)B * n_out * sizeof *y);
        t->ds_ready[l] = 0;
        u = a;
    }
}

/* σ'(z_l) of the last forward (B×n_{l+1}), computed on the first call after it. */
static const double *layer_slope(const pf_mlp *mlp, pf_mlp_tape *t, int l, int B)
{
    if (!t->ds_ready[l]) {
        pf_activation_slope(layer_act(mlp, l), (size_t)B * mlp->width[l + 1], t->z[l], t->a[l],
                            t->ds[l]);
        t->ds_ready[l] = 1;
    }
    return t->ds[l];
}

/* The input of layer l in the last forward: B×n_l. */
static const double *layer_input(const pf_mlp_tape *t, int l)
{
    return l == 0 ? t->x : t->a[l - 1];
}

/* Derivative of z = u Wᵀ + b in W and b, over `rows` rows:
 * W̄ += z̄ᵀ u (one GEMM, beta = 1), and b̄ += Σ_rows z̄ if gb is not NULL.
 * zbar: rows×n_out, u: rows×n_in, gW: n_out×n_in, gb: n_out. */
static void accumulate_dense_gradient(int rows, int n_in, int n_out, const double *zbar,
                                      const double *u, double *gW, double *gb)
{
    pf_gemm(1, 0, n_out, n_in, rows, 1.0, zbar, n_out, u, n_in, 1.0, gW, n_in);
    if (!gb)
        return;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n_out; j++)
            gb[j] += zbar[(size_t)r * n_out + j];
}

/* Shared reverse sweep: ȳ: B×n_L → grad (n_params, +=, if not NULL), x̄ (B×n_0,
 * +=, if not NULL). Per layer, restating z = u Wᵀ + b, a = σ(z):
 *   z̄ = σ'(z) ⊙ ā;  W̄ += z̄ᵀ u;  b̄ += Σ_rows z̄;  ū = z̄ W. */
static void reverse_sweep(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                          const double *ybar, double *grad, double *xbar)
{
    const double *abar = ybar;
    for (int l = mlp->n_layers - 1; l >= 0; l--) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l], *ds = layer_slope(mlp, t, l, B);
        const size_t n = (size_t)B * n_out;
        for (size_t i = 0; i < n; i++)
            t->zbar[i] = ds[i] * abar[i];
        if (grad)
            accumulate_dense_gradient(B, n_in, n_out, t->zbar, layer_input(t, l),
                                      grad + mlp->w_offset[l], grad + mlp->b_offset[l]);
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

/* ybar: B×n_L, xbar: B×n_0 (+=). */
void pf_mlp_vjp_input(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                      const double *ybar, double *xbar)
{
    reverse_sweep(mlp, params, t, B, ybar, NULL, xbar);
}

/* ybar: B×n_L, grad: n_params (+=), xbar: B×n_0 (+=, may be NULL). */
void pf_mlp_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B,
                     const double *ybar, double *grad, double *xbar)
{
    reverse_sweep(mlp, params, t, B, ybar, grad, xbar);
}

/* ---- forward-mode tangents and their reverse pass (docs/theory.md §7) --------------- */

/* xdot: B×T×n_0 → ydot: B×T×n_L; tape: ż_l, ȧ_l: (B·T)×n_{l+1}. Per layer:
 * ż = u̇ Wᵀ (one GEMM over B·T rows), ȧ = σ'(z) ⊙ ż with σ'(z_b) of sample b
 * broadcast over its T tangents. */
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
        const double *slope = layer_slope(mlp, t, l, B);
        for (int b = 0; b < B; b++) {
            const double *ds = slope + (size_t)b * n_out;
            for (int k = 0; k < T; k++) {
                const size_t row = ((size_t)b * T + k) * n_out;
                for (int j = 0; j < n_out; j++)
                    adot[row + j] = ds[j] * zdot[row + j];
            }
        }
        udot = adot;
    }
}

/* The tangent input of layer l in the last tangent pass: (B·T)×n_l. */
static const double *layer_tangent_input(const pf_mlp_tape *t, int l)
{
    return l == 0 ? t->xdot : t->adot[l - 1];
}

/* Reverse of one layer's (a, ȧ_t) = (σ(z), σ'(z) ⊙ ż_t), docs/theory.md §7:
 *   z̄ = σ'(z) ⊙ ā + Σ_t σ''(z) ⊙ ż_t ⊙ ā̇_t,   ż̄_t = σ'(z) ⊙ ā̇_t.
 * abar: B×n_out (NULL = 0), adotbar: (B·T)×n_out → t->zbar: B×n_out,
 * t->zdotbar: (B·T)×n_out. */
static void tangent_layer_cotangents(const pf_mlp *mlp, pf_mlp_tape *t, int l, int B, int T,
                                     const double *abar, const double *adotbar)
{
    const int n_out = mlp->width[l + 1];
    const size_t n = (size_t)B * n_out;
    const double *ds = layer_slope(mlp, t, l, B), *zdot = t->zdot[l];
    double *zbar = t->zbar, *zdotbar = t->zdotbar, *d2s = t->d2s;
    const int curved = pf_activation_has_curvature(layer_act(mlp, l));
    if (curved)
        pf_activation_curvature(layer_act(mlp, l), n, t->z[l], t->a[l], ds, d2s);
    for (size_t i = 0; i < n; i++)
        zbar[i] = abar ? ds[i] * abar[i] : 0.0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            const size_t row = ((size_t)b * T + k) * n_out, i0 = (size_t)b * n_out;
            for (int j = 0; j < n_out; j++) {
                zdotbar[row + j] = ds[i0 + j] * adotbar[row + j];
                if (curved)
                    zbar[i0 + j] += d2s[i0 + j] * zdot[row + j] * adotbar[row + j];
            }
        }
}

/* ybar: B×n_L (NULL = 0), ydotbar: B×T×n_L → grad: n_params (+=, if not NULL),
 * xbar: B×n_0 (+=, if not NULL), xdotbar: B×T×n_0 (+=, if not NULL). Per layer:
 * W̄ += z̄ᵀu + Σ_t ż̄_tᵀu̇_t, b̄ += Σ z̄, ū = z̄ W, u̇̄_t = ż̄_t W (docs/theory.md §7, with
 * GEMMs over B and B·T rows). */
void pf_mlp_tangent_backward(const pf_mlp *mlp, const double *params, pf_mlp_tape *t, int B, int T,
                             const double *ybar, const double *ydotbar, double *grad, double *xbar,
                             double *xdotbar)
{
    const double *abar = ybar, *adotbar = ydotbar;
    for (int l = mlp->n_layers - 1; l >= 0; l--) {
        const int n_in = mlp->width[l], n_out = mlp->width[l + 1];
        const double *W = params + mlp->w_offset[l];
        tangent_layer_cotangents(mlp, t, l, B, T, abar, adotbar);
        if (grad) {
            double *gW = grad + mlp->w_offset[l];
            accumulate_dense_gradient(B, n_in, n_out, t->zbar, layer_input(t, l), gW,
                                      grad + mlp->b_offset[l]);
            accumulate_dense_gradient(B * T, n_in, n_out, t->zdotbar, layer_tangent_input(t, l), gW,
                                      NULL);
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
            pf_gemm(0, 0, B * T, n_in, n_out, 1.0, t->zdotbar, n_out, W, n_in, 0.0, udotbar, n_in);
            abar = ubar;
            adotbar = udotbar;
        }
    }
}
