/* Affine coupling u ↦ v: v_A = u_A, v_B = u_B ⊙ eˢ + t with (s, t) = NN(u_A).
 * Forward, inverse, both score recursions (docs/theory.md §4.1, §4.2) and the VJP of
 * either pass. The conditioner output row is (s_0..s_{nB−1}, t_0..t_{nB−1});
 * whatever network computes it (conditioner.h), this file only asks it for
 * (s, t) and for the VJP of (s, t). */
#include "flows/coupling_affine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/vmath.h"
#include "core/workspace.h"

typedef struct coupling {
    int d, n_a, n_b;
    int *idx_a, *idx_b; /* n_a, n_b coordinate indices */
    pf_conditioner cond;
    double *u_a;   /* B×n_a: conditioner input of the last pass */
    double *y_b;   /* B×n_b: forward: u_B; inverse: the output x_B */
    double *st;    /* B×2n_b: conditioner output (s | t) */
    double *e;     /* B×n_b: forward eˢ, inverse e^{−s} */
    double *cot;   /* B×2n_b: cotangent on the conditioner output */
    double *bar_a; /* B×n_a: conditioner input cotangent */
    int last;      /* 1 forward, −1 inverse */
} coupling;

static void gather(int B, int d, int n, const int *idx, const double *in, double *out)
{
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n; j++)
            out[(size_t)b * n + j] = in[(size_t)b * d + idx[j]];
}

static void scatter(int B, int d, int n, const int *idx, const double *in, double *out)
{
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n; j++)
            out[(size_t)b * d + idx[j]] = in[(size_t)b * n + j];
}

static pf_status coupling_reserve(pf_layer *layer, int B_max)
{
    coupling *c = layer->content;
    pf_free(c->u_a);
    pf_free(c->y_b);
    pf_free(c->st);
    pf_free(c->e);
    pf_free(c->cot);
    pf_free(c->bar_a);
    size_t bna = (size_t)B_max * c->n_a, bnb = (size_t)B_max * c->n_b;
    c->u_a = pf_alloc_doubles(bna, "coupling u_A");
    c->y_b = pf_alloc_doubles(bnb, "coupling y_B");
    c->st = pf_alloc_doubles(2 * bnb, "coupling (s, t)");
    c->e = pf_alloc_doubles(bnb, "coupling exp(s)");
    c->cot = pf_alloc_doubles(2 * bnb, "coupling cotangent");
    c->bar_a = pf_alloc_doubles(bna, "coupling input cotangent");
    if (!c->u_a || !c->y_b || !c->st || !c->e || !c->cot || !c->bar_a)
        return PF_ERR_NOMEM;
    return pf_conditioner_reserve(&c->cond, B_max);
}

/* The score recursion of the last pass (c->last: 1 forward, −1 inverse).
 * g (B×d): score w.r.t. the pass's input → h (B×d): w.r.t. its output.
 * In both directions h_B = g_B / e with e = eˢ (forward) or e^{−s} (inverse):
 *   docs/theory.md §4.1: h_A = g_A − J_sᵀ(1 + u_B ⊙ g_B) − J_tᵀ h_B,
 *   docs/theory.md §4.2: h_A = g_A + J_sᵀ(1 + x_B ⊙ h_B) + J_tᵀ g_B,
 * one input-only VJP of the conditioner with cotangent (s̄, t̄) either way. */
static void coupling_score(coupling *c, const double *params, int B, const double *g, double *h)
{
    const int d = c->d, na = c->n_a, nb = c->n_b, forward = c->last == 1;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < nb; j++) {
            size_t i = (size_t)b * nb + j;
            double gb = g[(size_t)b * d + c->idx_b[j]], hb = gb / c->e[i];
            h[(size_t)b * d + c->idx_b[j]] = hb;
            c->cot[(size_t)b * 2 * nb + j] = 1.0 + c->y_b[i] * (forward ? gb : hb);
            c->cot[(size_t)b * 2 * nb + nb + j] = forward ? hb : gb;
        }
    pf_conditioner_backward(&c->cond, params, B, c->cot, NULL, c->bar_a);
    const double sign = forward ? -1.0 : 1.0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < na; j++) {
            size_t i = (size_t)b * d + c->idx_a[j];
            h[i] = g[i] + sign * c->bar_a[(size_t)b * na + j];
        }
}

/* Sampling direction (docs/theory.md §4.1). u, v, g, h: B×d; ldj: B (+= Σ s). */
static pf_status coupling_forward(pf_layer *layer, const double *params, int B, const double *u,
                                  double *v, double *ldj, const double *g, double *h)
{
    coupling *c = layer->content;
    const int d = c->d, na = c->n_a, nb = c->n_b;
    gather(B, d, na, c->idx_a, u, c->u_a);
    gather(B, d, nb, c->idx_b, u, c->y_b);
    pf_conditioner_forward(&c->cond, params, B, c->u_a, c->st);
    for (int b = 0; b < B; b++) {
        const double *s = c->st + (size_t)b * 2 * nb, *t = s + nb;
        double *e = c->e + (size_t)b * nb;
        const double *ub = c->y_b + (size_t)b * nb;
        double sum_s = 0;
        pf_vexp((size_t)nb, s, e);
        for (int j = 0; j < nb; j++) {
            v[(size_t)b * d + c->idx_b[j]] = ub[j] * e[j] + t[j]; /* v_B = u_B ⊙ eˢ + t */
            sum_s += s[j];
        }
        ldj[b] += sum_s;
    }
    scatter(B, d, na, c->idx_a, c->u_a, v);
    c->last = 1;
    if (g)
        coupling_score(c, params, B, g, h);
    return PF_OK;
}

/* Density direction (docs/theory.md §4.2): y ↦ x, x_A = y_A, x_B = (y_B − t) ⊙ e^{−s}.
 * y, x, g, h: B×d; ldj: B (+= −Σ s). */
static pf_status coupling_inverse(pf_layer *layer, const double *params, int B, const double *y,
                                  double *x, double *ldj, const double *g, double *h)
{
    coupling *c = layer->content;
    const int d = c->d, na = c->n_a, nb = c->n_b;
    gather(B, d, na, c->idx_a, y, c->u_a);
    pf_conditioner_forward(&c->cond, params, B, c->u_a, c->st);
    for (int b = 0; b < B; b++) {
        const double *s = c->st + (size_t)b * 2 * nb, *t = s + nb;
        double *e = c->e + (size_t)b * nb, *xb = c->y_b + (size_t)b * nb;
        double sum_s = 0;
        for (int j = 0; j < nb; j++)
            e[j] = -s[j];
        pf_vexp((size_t)nb, e, e);
        for (int j = 0; j < nb; j++) {
            xb[j] = (y[(size_t)b * d + c->idx_b[j]] - t[j]) * e[j];
            x[(size_t)b * d + c->idx_b[j]] = xb[j];
            sum_s += s[j];
        }
        ldj[b] -= sum_s;
    }
    scatter(B, d, na, c->idx_a, c->u_a, x);
    c->last = -1;
    if (g)
        coupling_score(c, params, B, g, h);
    return PF_OK;
}

/* Cotangents on (s, t) and on the B-part of the input, from out_bar (B×d)
 * and ldj_bar (B or NULL), for the last pass. Writes c->cot and in_bar's B-part. */
static void coupling_output_cotangents(coupling *c, int B, const double *out_bar,
                                       const double *ldj_bar, double *in_bar)
{
    const int d = c->d, nb = c->n_b;
    for (int b = 0; b < B; b++) {
        double lb = ldj_bar ? ldj_bar[b] : 0.0;
        for (int j = 0; j < nb; j++) {
            size_t i = (size_t)b * nb + j, k = (size_t)b * d + c->idx_b[j];
            double *cs = c->cot + (size_t)b * 2 * nb + j, *ct = cs + nb;
            if (c->last == 1) { /* v_B = u_B eˢ + t, ldj = Σ s */
                in_bar[k] = out_bar[k] * c->e[i];
                *cs = out_bar[k] * c->y_b[i] * c->e[i] + lb;
                *ct = out_bar[k];
            } else { /* x_B = (y_B − t) e^{−s}, ldj = −Σ s */
                in_bar[k] = out_bar[k] * c->e[i];
                *cs = -out_bar[k] * c->y_b[i] - lb;
                *ct = -out_bar[k] * c->e[i];
            }
        }
    }
}

/* VJP of the last pass. out_bar, in_bar: B×d; ldj_bar: B or NULL; grad: +=. */
static pf_status coupling_backward(pf_layer *layer, const double *params, int B,
                                   const double *out_bar, const double *ldj_bar, double *grad,
                                   double *in_bar)
{
    coupling *c = layer->content;
    const int d = c->d, na = c->n_a;
    coupling_output_cotangents(c, B, out_bar, ldj_bar, in_bar);
    pf_conditioner_backward(&c->cond, params, B, c->cot, grad, c->bar_a);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < na; j++) {
            size_t k = (size_t)b * d + c->idx_a[j];
            in_bar[k] = out_bar[k] + c->bar_a[(size_t)b * na + j];
        }
    return PF_OK;
}

static void coupling_destroy(pf_layer *layer)
{
    coupling *c = layer->content;
    if (c) {
        pf_conditioner_free(&c->cond);
        free(c->idx_a);
        free(c->idx_b);
        pf_free(c->u_a);
        pf_free(c->y_b);
        pf_free(c->st);
        pf_free(c->e);
        pf_free(c->cot);
        pf_free(c->bar_a);
        free(c);
    }
    free(layer);
}

static const pf_layer_ops coupling_ops = {coupling_reserve, coupling_forward, coupling_inverse,
                                          coupling_backward, coupling_destroy};

pf_status pf_coupling_affine_create(int dim, const int *mask, int n_hidden, const int *hidden,
                                    pf_activation activation, pf_layer **out)
{
    pf_conditioner_options o = {.kind = PF_CONDITIONER_DENSE, .symmetry = PF_SYMMETRY_NONE,
                                .n_hidden = n_hidden, .hidden = hidden, .activation = activation};
    return pf_coupling_affine_create_with(dim, mask, &o, out);
}

pf_status pf_coupling_affine_create_with(int dim, const int *mask,
                                         const pf_conditioner_options *conditioner,
                                         pf_layer **out)
{
    *out = NULL;
    int n_a = 0;
    for (int i = 0; i < dim; i++)
        n_a += mask[i] != 0;
    if (n_a == 0 || n_a == dim)
        return pf_fail(PF_ERR_ARG, "affine coupling: mask must split the %d coordinates into "
                                   "two non-empty parts (|A| = %d)", dim, n_a);
    coupling *c = calloc(1, sizeof *c);
    pf_layer *layer = calloc(1, sizeof *layer);
    if (c) {
        c->idx_a = malloc((size_t)n_a * sizeof(int));
        c->idx_b = malloc((size_t)(dim - n_a) * sizeof(int));
    }
    if (!c || !layer || !c->idx_a || !c->idx_b) {
        if (c) {
            free(c->idx_a);
            free(c->idx_b);
        }
        free(c);
        free(layer);
        return pf_fail(PF_ERR_NOMEM, "affine coupling: cannot allocate");
    }
    c->d = dim;
    for (int i = 0; i < dim; i++) {
        if (mask[i])
            c->idx_a[c->n_a++] = i;
        else
            c->idx_b[c->n_b++] = i;
    }
    layer->ops = &coupling_ops;
    layer->content = c;
    pf_status st =
        pf_conditioner_init(&c->cond, dim, c->n_a, c->idx_a, c->n_b, c->idx_b, conditioner);
    if (st != PF_OK) {
        coupling_destroy(layer);
        return pf_fail_context(st, "affine coupling conditioner");
    }
    layer->n_params = c->cond.n_params;
    *out = layer;
    return PF_OK;
}

void pf_coupling_affine_init_params(const pf_layer *layer, double *params, pf_rng *rng,
                                    int zero_last, double scale)
{
    const coupling *c = layer->content;
    pf_conditioner_init_params(&c->cond, params, rng, zero_last, scale);
}
