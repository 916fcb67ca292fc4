/* The U(1) gauge-equivariant coupling of docs/theory.md §6 and its flow.
 *
 * Forward map at links u: plaquettes P(u) ∈ [0, 2π); the conditioner (a
 * periodic CNN on (cos P, sin P) of the frozen plaquettes, (1, 0) on the
 * others) gives K log-scales
 * s_k and a shift t per site; each active plaquette moves to
 *   P' = (H(P) + t) mod 2π,  H(P) = (1/K) Σ_k h(P; s_k),
 *   h(x; s) = 2·atan2(eˢ sin(x/2), cos(x/2))  (= 2 atan(eˢ tan(x/2)) mod 2π),
 * and its active link by σ(P' − P), σ = ±1 its sign in P. The layer is
 * triangular with diagonal D = H'(P) = (1/K) Σ h'(P; s_k),
 *   h'(x; s) = 1/(e^{−s} cos²(x/2) + eˢ sin²(x/2)),  log|det| = Σ log D.
 * Derivatives used below (checked by finite differences in the tests):
 *   ∂h/∂s = sin(x) h',  ∂h'/∂x = −h'² sin(x) sinh(s),
 *   ∂h'/∂s = −h'² (eˢ sin²(x/2) − e^{−s} cos²(x/2)). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/vmath.h"
#include "core/workspace.h"
#include "flows/chain.h"
#include "flows/flow_impl.h"
#include "nn/conv2d.h"
#include "targets/u1_lattice.h"

#define TWO_PI 6.283185307179586476925286766559
#define MAX_MIXTURE 16

typedef struct u1_layer {
    int L0, L1, V, K, n_active;
    double sigma;          /* sign of the active links in their plaquette */
    int *site;             /* n_active: site of each active plaquette */
    int *link;             /* n_active: its active link (μ·V + site) */
    unsigned char *frozen; /* V */
    pf_cnn cnn;            /* 2 → K + 1 channels */
    pf_cnn_tape *tape;
    double tolerance;
    long *root_calls;
    /* tape of the last pass (at the forward map's input u), B_max rows */
    double *u;            /* B×2V */
    double *P;            /* B×V, plaquettes of u in [0, 2π) */
    double *cin, *cin_bar;   /* (B·V)×2 */
    double *cout, *cout_bar; /* (B·V)×(K+1) */
    double *D;            /* B×n_active */
    /* at each active plaquette of the tape: cos, sin of P/2 (B×n_active×2),
     * eˢᵏ and h'_k(P) (B×n_active×K), so that the VJPs need no libm call */
    double *half_cs, *es, *hp;
    double *Pbar;         /* B×V */
    double *vbar, *ubar2; /* B×2V scratch */
    double *ones;         /* B_max ones: ldj cotangent of the score recursion */
    double *grad_scratch; /* n_params */
    int last;             /* 1 forward, −1 inverse */
} u1_layer;

static double wrap_2pi(double x)
{
    double y = fmod(x, TWO_PI);
    return y < 0 ? y + TWO_PI : y;
}

/* The mixture at x with log-scales s (K): H and D = H'. */
static void mixture(int K, const double *s, double x, double *H, double *D)
{
    double c = cos(0.5 * x), sn = sin(0.5 * x), sum_h = 0, sum_hp = 0;
    for (int k = 0; k < K; k++) {
        double es = exp(s[k]);
        sum_h += 2.0 * atan2(es * sn, c);
        sum_hp += 1.0 / (c * c / es + es * sn * sn);
    }
    *H = sum_h / K;
    *D = sum_hp / K;
}

/* The mixture at active plaquette j (= b·n_active + i) of the tape, at x:
 * H, and D into the tape with cos, sin of x/2, eˢᵏ and h'_k for the VJPs. */
static double mixture_taped(u1_layer *c, size_t j, const double *s, double x)
{
    const int K = c->K;
    double *cs = c->half_cs + 2 * j, *es = c->es + j * K, *hp = c->hp + j * K;
    double sum_h = 0, sum_hp = 0;
    cs[0] = cos(0.5 * x);
    cs[1] = sin(0.5 * x);
    for (int k = 0; k < K; k++) {
        es[k] = exp(s[k]);
        sum_h += 2.0 * atan2(es[k] * cs[1], cs[0]);
        hp[k] = 1.0 / (cs[0] * cs[0] / es[k] + es[k] * cs[1] * cs[1]);
        sum_hp += hp[k];
    }
    c->D[j] = sum_hp / K;
    return sum_h / K;
}

/* ∂ log D/∂x and ∂ log D/∂s_k (K) at active plaquette j of the tape, from
 * its stored half-angle cos, sin, eˢᵏ and h'_k (sin x = 2 sin(x/2) cos(x/2),
 * sinh s = (eˢ − e⁻ˢ)/2). */
static void log_d_derivatives(const u1_layer *c, size_t j, double *d_dx, double *d_ds)
{
    const int K = c->K;
    const double *cs = c->half_cs + 2 * j, *es = c->es + j * K, *hp = c->hp + j * K;
    double cc = cs[0] * cs[0], ss = cs[1] * cs[1], sx = 2.0 * cs[0] * cs[1], D = c->D[j];
    double acc = 0;
    for (int k = 0; k < K; k++) {
        double h2 = hp[k] * hp[k];
        acc += -h2 * sx * 0.5 * (es[k] - 1.0 / es[k]);
        d_ds[k] = -h2 * (es[k] * ss - cc / es[k]) / (K * D);
    }
    *d_dx = acc / (K * D);
}

/* The conditioner at links u (B×2V): plaquettes into the tape and the CNN
 * on (cos P, sin P) of the frozen plaquettes and (1, 0) elsewhere, the value
 * of P = 0, as the reference implementation feeds it (the constant marks
 * where the unfrozen sites lie; with (0, 0) there the flow learns measurably
 * slower). */
static void condition(u1_layer *c, const double *params, int B, const double *u)
{
    const int V = c->V;
    const size_t BV = (size_t)B * V;
    for (int b = 0; b < B; b++) {
        double *P = c->P + (size_t)b * V;
        pf_u1_plaquettes(c->L0, c->L1, u + (size_t)b * 2 * V, P);
        for (int x = 0; x < V; x++)
            P[x] = wrap_2pi(P[x]);
    }
    /* sin P, cos P of every plaquette at once, in vbar (free until the
     * VJPs, which overwrite it) */
    double *sin_P = c->vbar, *cos_P = c->vbar + BV;
    pf_vsincos(BV, c->P, sin_P, cos_P);
    for (size_t i = 0; i < BV; i++) {
        const int frozen = c->frozen[i % (size_t)V];
        c->cin[2 * i] = frozen ? cos_P[i] : 1.0;
        c->cin[2 * i + 1] = frozen ? sin_P[i] : 0.0;
    }
    pf_cnn_forward(&c->cnn, params, c->tape, B, c->cin, c->cout);
}

/* (s_1..s_K, t) of active plaquette i of sample b. */
static const double *conditioner_out(const u1_layer *c, int b, int i)
{
    return c->cout + ((size_t)b * c->V + c->site[i]) * (c->K + 1);
}

/* VJP of the forward map v = F(u), ldj(u) at the tape's u: given vbar
 * (B×2V) and ldj_bar (B or NULL), ubar (B×2V) = Jᵀ vbar + ldj_bar ∇_u ldj
 * (overwritten) and grad += (∂_θ v)ᵀ vbar + ldj_bar ∂_θ ldj (NULL: skip). */
static void forward_map_vjp(u1_layer *c, const double *params, int B, const double *vbar,
                            const double *ldj_bar, double *grad, double *ubar)
{
    const int V = c->V, K = c->K;
    memcpy(ubar, vbar, (size_t)B * 2 * V * sizeof *ubar);
    memset(c->Pbar, 0, (size_t)B * V * sizeof *c->Pbar);
    memset(c->cout_bar, 0, (size_t)B * V * (K + 1) * sizeof *c->cout_bar);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->n_active; i++) {
            size_t j = (size_t)b * c->n_active + i;
            const double *hp = c->hp + j * K, *cs = c->half_cs + 2 * j;
            double D = c->D[j], dP, ds[MAX_MIXTURE], sin_P = 2.0 * cs[0] * cs[1];
            double vb = c->sigma * vbar[(size_t)b * 2 * V + c->link[i]], lb = ldj_bar ? ldj_bar[b] : 0;
            log_d_derivatives(c, j, &dP, ds);
            /* v_l = u_l + σ(P' − P), P' = H(P) + t; ldj += log D(P, s) */
            c->Pbar[(size_t)b * V + c->site[i]] += vb * (D - 1.0) + lb * dP;
            double *sb = c->cout_bar + ((size_t)b * V + c->site[i]) * (K + 1);
            for (int k = 0; k < K; k++)
                sb[k] = vb * sin_P * hp[k] / K + lb * ds[k];
            sb[K] = vb;
        }
    memset(c->cin_bar, 0, (size_t)B * V * 2 * sizeof *c->cin_bar);
    pf_cnn_backward(&c->cnn, params, c->tape, B, c->cout_bar, grad, c->cin_bar);
    for (int b = 0; b < B; b++) {
        for (int x = 0; x < V; x++) {
            if (!c->frozen[x])
                continue;
            size_t j = (size_t)b * V + x;
            /* cin holds (cos P, sin P) at the frozen sites */
            c->Pbar[j] += -c->cin_bar[2 * j] * c->cin[2 * j + 1] + c->cin_bar[2 * j + 1] * c->cin[2 * j];
        }
        /* P(x) = θ₀(x) + θ₁(x+0̂) − θ₀(x+1̂) − θ₁(x): the plaquette adjoint */
        const double *Pb = c->Pbar + (size_t)b * V;
        double *ub = ubar + (size_t)b * 2 * V;
        for (int x0 = 0; x0 < c->L0; x0++)
            for (int x1 = 0; x1 < c->L1; x1++) {
                int x = x0 * c->L1 + x1;
                ub[x] += Pb[x];
                ub[V + ((x0 + 1) % c->L0) * c->L1 + x1] += Pb[x];
                ub[x0 * c->L1 + (x1 + 1) % c->L1] -= Pb[x];
                ub[V + x] -= Pb[x];
            }
    }
}

/* Solves Jᵀ out = r − w ∇_u ldj for the triangular J of the forward map at the
 * tape's u (J = [[I, 0], [C, D]] over (A, B)): out_B = (r_B − w ∂_u ldj) / D
 * (∂_u ldj is local on the active links), then out_A = r_A − (Cᵀ out_B + w
 * ∇_u ldj)_A in one VJP with v̄ = (0, out_B), ldj̄ = w. The same solve is the
 * score recursion (docs/theory.md §4.3, w = 1) and the VJP of the inverse pass (w =
 * ldj̄); grad (NULL: skip) receives (∂_θ v)ᵀ out + w ∂_θ ldj. r, out: B×2V. */
static void transpose_solve(u1_layer *c, const double *params, int B, const double *r,
                            const double *w, double *grad, double *out)
{
    const int V = c->V;
    double *vbar = c->vbar;
    memset(vbar, 0, (size_t)B * 2 * V * sizeof *vbar);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->n_active; i++) {
            size_t j = (size_t)b * c->n_active + i;
            double dP, ds[MAX_MIXTURE];
            log_d_derivatives(c, j, &dP, ds);
            double D = c->D[j];
            size_t l = (size_t)b * 2 * V + c->link[i];
            vbar[l] = (r[l] - (w ? w[b] : 0.0) * c->sigma * dP) / D;
        }
    forward_map_vjp(c, params, B, vbar, w, grad, c->ubar2);
    for (size_t j = 0; j < (size_t)B * 2 * V; j++)
        out[j] = r[j] - c->ubar2[j];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->n_active; i++) {
            size_t l = (size_t)b * 2 * V + c->link[i];
            out[l] = vbar[l];
        }
}

/* Sampling direction. u, v, g, h: B×2V; ldj: B (+= Σ log D). The score
 * (docs/theory.md §4.3): r = g − ∂_u log D (local on the active links), h_B = r_B / D,
 * h_A = g_A − (Jᵀ(0, h_B) + ∇_u ldj)_A — forward quantities only. */
static pf_status u1_forward(pf_layer *layer, const double *params, int B, const double *u,
                            double *v, double *ldj, const double *g, double *h)
{
    u1_layer *c = layer->content;
    const int V = c->V, K = c->K;
    memcpy(c->u, u, (size_t)B * 2 * V * sizeof *u);
    condition(c, params, B, u);
    memcpy(v, u, (size_t)B * 2 * V * sizeof *u);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->n_active; i++) {
            const double *st = conditioner_out(c, b, i);
            double P = c->P[(size_t)b * V + c->site[i]];
            size_t j = (size_t)b * c->n_active + i;
            double P_new = wrap_2pi(mixture_taped(c, j, st, P) + st[K]);
            size_t l = (size_t)b * 2 * V + c->link[i];
            v[l] = wrap_2pi(u[l] + c->sigma * (P_new - P));
            ldj[b] += log(c->D[j]);
        }
    c->last = 1;
    if (g)
        transpose_solve(c, params, B, g, c->ones, NULL, h); /* docs/theory.md §4.3 */
    return PF_OK;
}

/* Solves H(P) = y on [0, 2π) (H increasing from 0 to 2π): Newton steps
 * safeguarded by a shrinking bracket, to |H(P) − y| ≤ tol. */
static double invert_mixture(int K, const double *s, double y, double tol)
{
    double lo = 0.0, hi = TWO_PI, P = y;
    for (int it = 0; it < 200; it++) {
        double H, D;
        mixture(K, s, P, &H, &D);
        double F = H - y;
        if (fabs(F) <= tol || hi - lo <= tol * 1e-3)
            break;
        if (F < 0)
            lo = P;
        else
            hi = P;
        double next = P - F / D;
        P = (next > lo && next < hi) ? next : 0.5 * (lo + hi);
    }
    return P;
}

/* Density direction: v ↦ u with one root solve per active plaquette. The
 * frozen plaquettes, hence the conditioner, are the same at v and at u, and
 * the plaquette of an active link at v is P'. The tape then holds the
 * forward map at u. v, u, g, h: B×2V; ldj: B (+= −Σ log D). */
static pf_status u1_inverse(pf_layer *layer, const double *params, int B, const double *v,
                            double *u, double *ldj, const double *g, double *h)
{
    u1_layer *c = layer->content;
    const int V = c->V, K = c->K;
    condition(c, params, B, v); /* c->P = plaquettes of v (= P' on active sites) */
    memcpy(u, v, (size_t)B * 2 * V * sizeof *v);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->n_active; i++) {
            const double *st = conditioner_out(c, b, i);
            double P_new = c->P[(size_t)b * V + c->site[i]];
            double P = invert_mixture(K, st, wrap_2pi(P_new - st[K]), c->tolerance);
            (*c->root_calls)++;
            size_t l = (size_t)b * 2 * V + c->link[i];
            u[l] = wrap_2pi(v[l] - c->sigma * (P_new - P));
            size_t j = (size_t)b * c->n_active + i;
            mixture_taped(c, j, st, P);
            c->P[(size_t)b * V + c->site[i]] = P; /* the tape now describes u */
            ldj[b] -= log(c->D[j]);
        }
    memcpy(c->u, u, (size_t)B * 2 * V * sizeof *u);
    c->last = -1;
    if (g) /* score through the inverse layer: h = Jᵀ g + ∇_u ldj at u */
        forward_map_vjp(c, params, B, g, c->ones, NULL, h);
    return PF_OK;
}

/* VJP of the last pass. Forward pass: ū = Jᵀ v̄ + ldj̄ ∇ldj, θ̄ += ….
 * Inverse pass u = F⁻¹(v): with w = ū − ldj̄ ∇_u ldj, v̄ = J⁻ᵀ w solved by the
 * triangular structure (v̄_B = w_B / D, v̄_A = w_A − Cᵀ v̄_B), and
 * θ̄ −= (∂_θ v)ᵀ v̄ + ldj̄ ∂_θ ldj (the implicit-function rule). */
static pf_status u1_backward(pf_layer *layer, const double *params, int B, const double *out_bar,
                             const double *ldj_bar, double *grad, double *in_bar)
{
    u1_layer *c = layer->content;
    if (c->last == 1) {
        forward_map_vjp(c, params, B, out_bar, ldj_bar, grad, in_bar);
        return PF_OK;
    }
    double *g_tmp = grad ? c->grad_scratch : NULL;
    if (g_tmp)
        memset(g_tmp, 0, c->cnn.n_params * sizeof *g_tmp);
    transpose_solve(c, params, B, out_bar, ldj_bar, g_tmp, in_bar);
    if (grad)
        for (size_t k = 0; k < c->cnn.n_params; k++)
            grad[k] -= g_tmp[k];
    return PF_OK;
}

static void u1_free_buffers(u1_layer *c)
{
    pf_cnn_tape_destroy(c->tape);
    c->tape = NULL;
    double **bufs[] = {&c->u, &c->P, &c->cin, &c->cin_bar, &c->cout, &c->cout_bar, &c->D,
                       &c->half_cs, &c->es, &c->hp, &c->Pbar, &c->vbar, &c->ubar2, &c->grad_scratch, &c->ones};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        pf_free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

static pf_status u1_reserve(pf_layer *layer, int B_max)
{
    u1_layer *c = layer->content;
    const size_t B = (size_t)B_max, V = (size_t)c->V, K1 = (size_t)c->K + 1;
    u1_free_buffers(c);
    c->u = pf_alloc_doubles(B * 2 * V, "u1 layer");
    c->P = pf_alloc_doubles(B * V, "u1 layer");
    c->cin = pf_alloc_doubles(B * V * 2, "u1 layer");
    c->cin_bar = pf_alloc_doubles(B * V * 2, "u1 layer");
    c->cout = pf_alloc_doubles(B * V * K1, "u1 layer");
    c->cout_bar = pf_alloc_doubles(B * V * K1, "u1 layer");
    c->D = pf_alloc_doubles(B * (size_t)c->n_active, "u1 layer");
    c->half_cs = pf_alloc_doubles(B * (size_t)c->n_active * 2, "u1 layer");
    c->es = pf_alloc_doubles(B * (size_t)c->n_active * (K1 - 1), "u1 layer");
    c->hp = pf_alloc_doubles(B * (size_t)c->n_active * (K1 - 1), "u1 layer");
    c->Pbar = pf_alloc_doubles(B * V, "u1 layer");
    c->vbar = pf_alloc_doubles(B * 2 * V, "u1 layer");
    c->ubar2 = pf_alloc_doubles(B * 2 * V, "u1 layer");
    c->grad_scratch = pf_alloc_doubles(c->cnn.n_params, "u1 layer");
    c->ones = pf_alloc_doubles(B, "u1 layer");
    if (!c->u || !c->P || !c->cin || !c->cin_bar || !c->cout || !c->cout_bar || !c->D ||
        !c->half_cs || !c->es || !c->hp || !c->Pbar || !c->vbar || !c->ubar2 || !c->grad_scratch || !c->ones)
        return PF_ERR_NOMEM;
    for (size_t b = 0; b < B; b++)
        c->ones[b] = 1.0;
    return pf_cnn_tape_create(&c->cnn, B_max, &c->tape);
}

static void u1_destroy(pf_layer *layer)
{
    u1_layer *c = layer->content;
    if (c) {
        u1_free_buffers(c);
        free(c->site);
        free(c->link);
        free(c->frozen);
        free(c);
    }
    free(layer);
}

static const pf_layer_ops u1_ops = {u1_reserve, u1_forward, u1_inverse, u1_backward, u1_destroy};

/* Masks of layer `index` (docs/theory.md §6): direction μ = index mod 2, offset
 * o = ⌊index/2⌋ mod 4 along the coordinate across the μ-links' two
 * plaquettes (x1 for μ = 0, x0 for μ = 1): active plaquettes on lines ≡ o,
 * frozen on lines ≡ o+1, o+2 (mod 4), passive on o+3. */
static pf_status u1_masks(u1_layer *c, int index)
{
    const int mu = index % 2, o = (index / 2) % 4, V = c->V;
    c->sigma = mu == 0 ? 1.0 : -1.0;
    c->site = malloc((size_t)V * sizeof *c->site);
    c->link = malloc((size_t)V * sizeof *c->link);
    c->frozen = calloc((size_t)V, 1);
    if (!c->site || !c->link || !c->frozen)
        return pf_fail(PF_ERR_NOMEM, "u1 layer: cannot allocate masks");
    for (int x0 = 0; x0 < c->L0; x0++)
        for (int x1 = 0; x1 < c->L1; x1++) {
            int x = x0 * c->L1 + x1, line = (mu == 0 ? x1 : x0) % 4;
            if (line == o) {
                c->site[c->n_active] = x;
                c->link[c->n_active++] = mu * V + x;
            }
            c->frozen[x] = line == (o + 1) % 4 || line == (o + 2) % 4;
        }
    return PF_OK;
}

static pf_status u1_layer_create(const pf_u1_flow_options *o, int index, pf_activation act,
                                 pf_layer **out)
{
    *out = NULL;
    u1_layer *c = calloc(1, sizeof *c);
    pf_layer *layer = calloc(1, sizeof *layer);
    if (!c || !layer) {
        free(c);
        free(layer);
        return pf_fail(PF_ERR_NOMEM, "u1 layer: cannot allocate");
    }
    layer->ops = &u1_ops;
    layer->content = c;
    c->L0 = o->L0;
    c->L1 = o->L1;
    c->V = o->L0 * o->L1;
    c->K = o->n_mixture;
    c->tolerance = o->tolerance;
    pf_status st = u1_masks(c, index);
    if (st == PF_OK)
        st = pf_cnn_init(&c->cnn, o->L0, o->L1, 2, o->n_hidden, o->hidden, o->n_mixture + 1,
                         o->kernel, act);
    if (st == PF_OK) /* (s, t) are read at the active plaquettes only */
        st = pf_cnn_set_output_sites(&c->cnn, c->n_active, c->site);
    if (st != PF_OK) {
        u1_destroy(layer);
        return st;
    }
    layer->n_params = c->cnn.n_params;
    *out = layer;
    return PF_OK;
}

pf_u1_flow_options pf_u1_flow_options_default(void)
{
    pf_u1_flow_options o;
    memset(&o, 0, sizeof o);
    o.L0 = o.L1 = 8;
    o.n_layers = 16;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 8;
    o.kernel = 3;
    o.n_mixture = 2;
    o.activation = "leaky_relu";
    o.tolerance = 1e-10;
    o.zero_init = 0;
    o.init_scale = 1.0;
    return o;
}

static pf_status check_u1_options(const pf_u1_flow_options *o, pf_activation *act)
{
    if (o->L0 < 4 || o->L1 < 4 || o->L0 % 4 || o->L1 % 4)
        return pf_fail(PF_ERR_ARG, "u1 flow: lattice %d×%d, extents must be multiples of 4 "
                                   "(the stripe masks repeat every 4 lines)", o->L0, o->L1);
    if (o->n_layers < 1 || o->n_mixture < 1 || o->n_mixture > MAX_MIXTURE)
        return pf_fail(PF_ERR_ARG, "u1 flow: layers = %d ≥ 1 and mixture K = %d in [1, %d]",
                       o->n_layers, o->n_mixture, MAX_MIXTURE);
    if (o->n_hidden < 0 || o->n_hidden > 7)
        return pf_fail(PF_ERR_ARG, "u1 flow: %d hidden conv layers outside [0, 7]", o->n_hidden);
    if (!(o->tolerance > 0) || !(o->init_scale >= 0))
        return pf_fail(PF_ERR_ARG, "u1 flow: tolerance = %g must be > 0, init_scale ≥ 0",
                       o->tolerance);
    return pf_activation_from_name(o->activation ? o->activation : "leaky_relu", act);
}

pf_status pf_flow_u1_create(const pf_u1_flow_options *o, pf_flow **out)
{
    *out = NULL;
    pf_activation act;
    PF_TRY(check_u1_options(o, &act));
    pf_layer **layers = calloc((size_t)o->n_layers, sizeof *layers);
    if (!layers)
        return pf_fail(PF_ERR_NOMEM, "u1 flow: cannot allocate");
    pf_status st = PF_OK;
    int built = 0;
    for (; st == PF_OK && built < o->n_layers; built++)
        st = u1_layer_create(o, built, act, &layers[built]);
    if (st != PF_OK) {
        for (int l = 0; l < built; l++)
            if (layers[l])
                layers[l]->ops->destroy(layers[l]);
        free(layers);
        return st;
    }
    st = pf_chain_create(2 * o->L0 * o->L1, PF_BASE_UNIFORM, layers, o->n_layers, "u1", out);
    free(layers);
    PF_TRY(st);
    pf_rng rng = pf_rng_make(o->seed, 0x5EED);
    for (int l = 0; l < o->n_layers; l++) {
        pf_layer *layer = pf_chain_layer(*out, l);
        u1_layer *c = layer->content;
        c->root_calls = &(*out)->root_calls;
        pf_cnn_init_params(&c->cnn, (*out)->params + layer->param_offset, &rng, o->zero_init,
                           o->init_scale);
    }
    snprintf((*out)->description, sizeof (*out)->description,
             "u1 lattice=%dx%d layers=%d K=%d kernel=%d activation=%s unfrozen=(1,0) ", o->L0,
             o->L1, o->n_layers, o->n_mixture, o->kernel,
             o->activation ? o->activation : "leaky_relu");
    pf_flow_describe_widths(*out, o->n_hidden, o->hidden);
    return PF_OK;
}
