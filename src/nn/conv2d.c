/* Periodic 2-D convolutions by im2col + GEMM (channels last). */
#include "nn/conv2d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"

pf_status pf_cnn_init(pf_cnn *cnn, int L0, int L1, int c_in, int n_hidden, const int *hidden,
                      int c_out, int kernel, pf_activation hidden_act)
{
    memset(cnn, 0, sizeof *cnn);
    if (kernel < 1 || kernel % 2 == 0 || kernel > L0 || kernel > L1)
        return pf_fail(PF_ERR_ARG, "cnn: kernel %d must be odd and fit the %d×%d lattice", kernel,
                       L0, L1);
    if (n_hidden < 0 || n_hidden + 1 > PF_CNN_MAX_LAYERS)
        return pf_fail(PF_ERR_ARG, "cnn: %d hidden layers outside [0, %d]", n_hidden,
                       PF_CNN_MAX_LAYERS - 1);
    cnn->L0 = L0;
    cnn->L1 = L1;
    cnn->kernel = kernel;
    cnn->n_layers = n_hidden + 1;
    cnn->hidden_act = hidden_act;
    cnn->channels[0] = c_in;
    for (int l = 0; l < n_hidden; l++) {
        if (hidden[l] < 1)
            return pf_fail(PF_ERR_ARG, "cnn: hidden[%d] = %d channels must be ≥ 1", l, hidden[l]);
        cnn->channels[l + 1] = hidden[l];
    }
    cnn->channels[cnn->n_layers] = c_out;
    size_t off = 0;
    for (int l = 0; l < cnn->n_layers; l++) {
        cnn->w_offset[l] = off;
        off += (size_t)cnn->channels[l + 1] * kernel * kernel * cnn->channels[l];
        cnn->b_offset[l] = off;
        off += (size_t)cnn->channels[l + 1];
    }
    cnn->n_params = off;
    return PF_OK;
}

void pf_cnn_init_params(const pf_cnn *cnn, double *params, pf_rng *rng, int zero_last,
                        double scale)
{
    const int kk = cnn->kernel * cnn->kernel;
    for (int l = 0; l < cnn->n_layers; l++) {
        const size_t n_w = (size_t)cnn->channels[l + 1] * kk * cnn->channels[l];
        const size_t n_b = (size_t)cnn->channels[l + 1];
        double *W = params + cnn->w_offset[l], *b = params + cnn->b_offset[l];
        if (zero_last && l == cnn->n_layers - 1) {
            memset(W, 0, n_w * sizeof *W);
            memset(b, 0, n_b * sizeof *b);
            continue;
        }
        /* U(−a, a), a = scale/√fan_in, weights and biases alike */
        const double a = scale / sqrt((double)kk * cnn->channels[l]);
        pf_rng_uniform(rng, n_w, W);
        pf_rng_uniform(rng, n_b, b);
        for (size_t i = 0; i < n_w; i++)
            W[i] = a * (2.0 * W[i] - 1.0);
        for (size_t i = 0; i < n_b; i++)
            b[i] = a * (2.0 * b[i] - 1.0);
    }
}

struct pf_cnn_tape {
    int B_max;
    const double *x;
    double *cols[PF_CNN_MAX_LAYERS]; /* (B·V)×(k·k·C_l) */
    double *z[PF_CNN_MAX_LAYERS];    /* (B·V)×C_{l+1} */
    double *a[PF_CNN_MAX_LAYERS];    /* (B·V)×C_{l+1}, l < L−1 */
    double *ds[PF_CNN_MAX_LAYERS];   /* σ'(z) */
    double *bar[2], *zbar, *colbar;  /* scratch */
    int *neighbour; /* V×k·k: the site at offset (a, c) of each site, periodic */
};

pf_status pf_cnn_tape_create(const pf_cnn *cnn, int B_max, pf_cnn_tape **out)
{
    *out = NULL;
    pf_cnn_tape *t = calloc(1, sizeof *t);
    if (!t)
        return pf_fail(PF_ERR_NOMEM, "cnn tape: cannot allocate");
    t->B_max = B_max;
    const size_t BV = (size_t)B_max * cnn->L0 * cnn->L1, kk = (size_t)cnn->kernel * cnn->kernel;
    size_t max_c = 0, max_cols = 0;
    int ok = 1;
    for (int l = 0; l < cnn->n_layers; l++) {
        size_t cin = (size_t)cnn->channels[l], cout = (size_t)cnn->channels[l + 1];
        t->cols[l] = pf_alloc_doubles(BV * kk * cin, "cnn columns");
        t->z[l] = pf_alloc_doubles(BV * cout, "cnn pre-activations");
        t->a[l] = pf_alloc_doubles(BV * cout, "cnn activations");
        t->ds[l] = pf_alloc_doubles(BV * cout, "cnn derivatives");
        ok = ok && t->cols[l] && t->z[l] && t->a[l] && t->ds[l];
        max_c = cin > max_c ? cin : max_c;
        max_c = cout > max_c ? cout : max_c;
        max_cols = kk * cin > max_cols ? kk * cin : max_cols;
    }
    t->bar[0] = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->bar[1] = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->zbar = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->colbar = pf_alloc_doubles(BV * max_cols, "cnn column cotangents");
    const int L0 = cnn->L0, L1 = cnn->L1, k = cnn->kernel, r = k / 2;
    t->neighbour = malloc((size_t)L0 * L1 * kk * sizeof *t->neighbour);
    if (t->neighbour)
        for (int x0 = 0, j = 0; x0 < L0; x0++)
            for (int x1 = 0; x1 < L1; x1++)
                for (int a = -r; a <= r; a++)
                    for (int c = -r; c <= r; c++)
                        t->neighbour[j++] = ((x0 + a + L0) % L0) * L1 + (x1 + c + L1) % L1;
    if (!ok || !t->bar[0] || !t->bar[1] || !t->zbar || !t->colbar || !t->neighbour) {
        pf_cnn_tape_destroy(t);
        return PF_ERR_NOMEM;
    }
    *out = t;
    return PF_OK;
}

void pf_cnn_tape_destroy(pf_cnn_tape *t)
{
    if (!t)
        return;
    for (int l = 0; l < PF_CNN_MAX_LAYERS; l++) {
        pf_free(t->cols[l]);
        pf_free(t->z[l]);
        pf_free(t->a[l]);
        pf_free(t->ds[l]);
    }
    pf_free(t->bar[0]);
    pf_free(t->bar[1]);
    pf_free(t->zbar);
    pf_free(t->colbar);
    free(t->neighbour);
    free(t);
}

/* Periodic im2col: x (B·V)×C → cols (B·V)×(k·k·C), through the neighbour
 * table. Inlined into a dispatcher below, so that the channel loops of the
 * common channel counts have a constant trip count and are unrolled. */
static inline __attribute__((always_inline)) void
im2col_c(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C, const double *x,
         double *restrict cols)
{
    const int V = cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    for (int b = 0; b < B; b++) {
        const double *xb = x + (size_t)b * V * C;
        for (int s = 0; s < V; s++) {
            const int *nb = t->neighbour + (size_t)s * kk;
            double *row = cols + ((size_t)b * V + s) * kk * C;
            for (int j = 0; j < kk; j++) {
                const double *src = xb + (size_t)nb[j] * C;
                for (int ch = 0; ch < C; ch++)
                    row[j * C + ch] = src[ch];
            }
        }
    }
}

/* Its adjoint, accumulating: x += col2im(cols). */
static inline __attribute__((always_inline)) void
col2im_c(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C, const double *restrict cols,
         double *x)
{
    const int V = cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    for (int b = 0; b < B; b++) {
        double *xb = x + (size_t)b * V * C;
        for (int s = 0; s < V; s++) {
            const int *nb = t->neighbour + (size_t)s * kk;
            const double *row = cols + ((size_t)b * V + s) * kk * C;
            for (int j = 0; j < kk; j++) {
                double *dst = xb + (size_t)nb[j] * C;
                for (int ch = 0; ch < C; ch++)
                    dst[ch] += row[j * C + ch];
            }
        }
    }
}

/* The channel counts of the shipped flows: 1 and 2 inputs (φ⁴, U(1)), K + 1
 * = 3 outputs, 8 and 16 hidden channels. */
#define PF_CONV_DISPATCH(fn, C, ...)                                                            \
    switch (C) {                                                                                 \
    case 1: fn(__VA_ARGS__, 1); break;                                                           \
    case 2: fn(__VA_ARGS__, 2); break;                                                           \
    case 3: fn(__VA_ARGS__, 3); break;                                                           \
    case 8: fn(__VA_ARGS__, 8); break;                                                           \
    case 16: fn(__VA_ARGS__, 16); break;                                                         \
    default: fn(__VA_ARGS__, C); break;                                                          \
    }
#define IM2COL_ARGS(cnn, t, B, x, cols, C) im2col_c(cnn, t, B, C, x, cols)
#define COL2IM_ARGS(cnn, t, B, cols, x, C) col2im_c(cnn, t, B, C, cols, x)

static void im2col(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C, const double *x,
                   double *restrict cols)
{
    PF_CONV_DISPATCH(IM2COL_ARGS, C, cnn, t, B, x, cols)
}

static void col2im(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C,
                   const double *restrict cols, double *x)
{
    PF_CONV_DISPATCH(COL2IM_ARGS, C, cnn, t, B, cols, x)
}

void pf_cnn_forward(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int B,
                    const double *x, double *y)
{
    const int BV = B * cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    t->x = x;
    const double *u = x;
    for (int l = 0; l < cnn->n_layers; l++) {
        const int cin = cnn->channels[l], cout = cnn->channels[l + 1];
        im2col(cnn, t, B, cin, u, t->cols[l]);
        double *z = t->z[l];
        for (int i = 0; i < BV; i++)
            memcpy(z + (size_t)i * cout, params + cnn->b_offset[l], (size_t)cout * sizeof *z);
        pf_gemm(0, 1, BV, cout, kk * cin, 1.0, t->cols[l], kk * cin, params + cnn->w_offset[l],
                kk * cin, 1.0, z, cout);
        int last = l == cnn->n_layers - 1;
        pf_activation act = last ? PF_ACT_IDENTITY : cnn->hidden_act;
        double *a = last ? y : t->a[l];
        pf_activation_eval(act, (size_t)BV * cout, z, a, t->ds[l], NULL);
        u = a;
    }
}

/* z̄ = σ'(z) ⊙ ā; W̄ += z̄ᵀ cols; b̄ += Σ z̄; cols̄ = z̄ W; ū = col2im(cols̄). */
void pf_cnn_backward(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int B,
                     const double *ybar, double *grad, double *xbar)
{
    const int BV = B * cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    const double *abar = ybar;
    for (int l = cnn->n_layers - 1; l >= 0; l--) {
        const int cin = cnn->channels[l], cout = cnn->channels[l + 1];
        const size_t n = (size_t)BV * cout;
        for (size_t i = 0; i < n; i++)
            t->zbar[i] = abar[i] * t->ds[l][i];
        if (grad) {
            pf_gemm(1, 0, cout, kk * cin, BV, 1.0, t->zbar, cout, t->cols[l], kk * cin, 1.0,
                    grad + cnn->w_offset[l], kk * cin);
            double *gb = grad + cnn->b_offset[l];
            for (int i = 0; i < BV; i++)
                for (int j = 0; j < cout; j++)
                    gb[j] += t->zbar[(size_t)i * cout + j];
        }
        if (l == 0 && !xbar)
            break;
        pf_gemm(0, 0, BV, kk * cin, cout, 1.0, t->zbar, cout, params + cnn->w_offset[l], kk * cin,
                0.0, t->colbar, kk * cin);
        double *ubar = l == 0 ? xbar : t->bar[l % 2];
        if (l > 0)
            memset(ubar, 0, (size_t)BV * cin * sizeof *ubar);
        col2im(cnn, t, B, cin, t->colbar, ubar);
        abar = ubar;
    }
}
