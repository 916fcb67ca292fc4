/* Periodic 2-D convolutions (channels last): direct kernels for narrow layers,
 * im2col + GEMM for wide ones (conv2d.h). */
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
    cnn->direct_max = PF_CNN_DIRECT_MAX;
    return PF_OK;
}

pf_status pf_cnn_set_output_sites(pf_cnn *cnn, int n, const int *sites)
{
    const int V = cnn->L0 * cnn->L1;
    if (!sites) {
        cnn->out_sites = NULL;
        cnn->n_out_sites = 0;
        return PF_OK;
    }
    if (n < 1 || n > V)
        return pf_fail(PF_ERR_ARG, "cnn: %d output sites outside [1, %d]", n, V);
    for (int i = 0; i < n; i++)
        if (sites[i] < 0 || sites[i] >= V || (i > 0 && sites[i] <= sites[i - 1]))
            return pf_fail(PF_ERR_ARG, "cnn: output site %d (= %d) not increasing in [0, %d)", i,
                           sites[i], V);
    cnn->out_sites = sites;
    cnn->n_out_sites = n;
    return PF_OK;
}

int pf_cnn_layer_direct(const pf_cnn *cnn, int l)
{
    const int m = cnn->direct_max < PF_CNN_DIRECT_MAX ? cnn->direct_max : PF_CNN_DIRECT_MAX;
    return cnn->channels[l] <= m && cnn->channels[l + 1] <= m &&
           cnn->kernel * cnn->kernel <= PF_CNN_DIRECT_KK;
}

void pf_cnn_init_params(const pf_cnn *cnn, double *params, pf_rng *rng, int zero_last, double scale)
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

/* The vector width for w ≤ 16 channels: the power of two at or above it. */
static int padded_width(int w)
{
    return w <= 2 ? w : w <= 4 ? 4 : w <= 8 ? 8 : 16;
}

/* sites per block of the direct weight gradient */
#define PF_CNN_SITE_BLOCK 32

struct pf_cnn_tape {
    int B_max;
    int chunk; /* batch rows per chunk asked for (0: CHUNK_DOUBLES decides) */
    const double *x;
    double *cols[PF_CNN_MAX_LAYERS]; /* (B·V)×(k·k·C_l), GEMM layers only */
    double *z[PF_CNN_MAX_LAYERS];    /* (B·V)×C_{l+1}, l < L−1 (the last: y); = a[l]
                                        when σ' needs only σ (σ computed in place) */
    double *a[PF_CNN_MAX_LAYERS];    /* (B·V)×C_{l+1}, l < L−1 */
    double *bar[2], *zbar, *colbar;  /* scratch (colbar: GEMM layers only) */
    double *wt;     /* direct layers: Wᵀ or W rearranged, k·k·C_in·C_out */
    double *wbar[PF_CNN_MAX_LAYERS]; /* direct layers: W̄ᵀ and b̄, (k·k·C_in + 1)×padded C_out */
    const double **rows; /* direct weight gradient: the rows a block of sites reads */
    int *offset;    /* direct layers: V×k·k row offsets of one pass (direct_pass) */
    unsigned char *keep; /* V: the output sites, on the GEMM route */
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
        int direct = pf_cnn_layer_direct(cnn, l);
        t->cols[l] = direct ? NULL : pf_alloc_doubles(BV * kk * cin, "cnn columns");
        t->wbar[l] = direct ? pf_alloc_doubles((kk * cin + 1) * (size_t)padded_width((int)cout),
                                               "cnn weight gradient")
                            : NULL;
        ok = ok && (!direct || t->wbar[l]);
        if (l < cnn->n_layers - 1) { /* the last layer writes y and needs nothing stored */
            t->a[l] = pf_alloc_doubles(BV * cout, "cnn activations");
            t->z[l] = pf_activation_needs_input(cnn->hidden_act)
                          ? pf_alloc_doubles(BV * cout, "cnn pre-activations")
                          : t->a[l];
            ok = ok && t->z[l] && t->a[l];
        }
        ok = ok && (direct || t->cols[l]);
        max_c = cin > max_c ? cin : max_c;
        max_c = cout > max_c ? cout : max_c;
        if (!direct)
            max_cols = kk * cin > max_cols ? kk * cin : max_cols;
    }
    t->bar[0] = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->bar[1] = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->zbar = pf_alloc_doubles(BV * max_c, "cnn cotangents");
    t->colbar = max_cols ? pf_alloc_doubles(BV * max_cols, "cnn column cotangents") : NULL;
    t->wt = pf_alloc_doubles((kk * PF_CNN_DIRECT_MAX + 1) * PF_CNN_DIRECT_MAX, "cnn weights");
    t->rows = malloc(PF_CNN_SITE_BLOCK * kk * sizeof *t->rows);
    const int L0 = cnn->L0, L1 = cnn->L1, k = cnn->kernel, r = k / 2;
    t->neighbour = malloc((size_t)L0 * L1 * kk * sizeof *t->neighbour);
    t->offset = malloc((size_t)L0 * L1 * kk * sizeof *t->offset);
    t->keep = malloc((size_t)L0 * L1);
    if (t->neighbour)
        for (int x0 = 0, j = 0; x0 < L0; x0++)
            for (int x1 = 0; x1 < L1; x1++)
                for (int a = -r; a <= r; a++)
                    for (int c = -r; c <= r; c++)
                        t->neighbour[j++] = ((x0 + a + L0) % L0) * L1 + (x1 + c + L1) % L1;
    if (!ok || !t->bar[0] || !t->bar[1] || !t->zbar || (max_cols && !t->colbar) || !t->wt ||
        !t->rows || !t->neighbour || !t->offset || !t->keep) {
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
        pf_free(t->wbar[l]);
        if (t->z[l] != t->a[l])
            pf_free(t->z[l]);
        pf_free(t->a[l]);
    }
    pf_free(t->bar[0]);
    pf_free(t->bar[1]);
    pf_free(t->zbar);
    pf_free(t->colbar);
    pf_free(t->wt);
    free(t->rows);
    free(t->neighbour);
    free(t->offset);
    free(t->keep);
    free(t);
}

/* ---- direct kernels: layers of at most PF_CNN_DIRECT_MAX channels ---------
 * Each is written for a compile-time vector width W (a channel count: the
 * outputs of the "axpy" form and of the weight gradient, the inputs of the
 * "dot" form), inlined into a dispatcher over W = 1..16, and that dispatcher
 * is compiled for AVX-512, AVX2 + FMA and plain x86-64, chosen by the CPU at
 * load time (GCC's target_clones). nb: the V×k·k neighbour table; sites run
 * b·V + s. */
#if defined(PATHFLOW_SIMD_X86) && defined(__GNUC__) && !defined(__clang__)
#define PF_CNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PF_CNN_CLONES
#endif
/* The loops over the W channels are unrolled completely, so that the
 * accumulators live in registers (at -O2 GCC would keep short loops rolled). */
#if defined(__GNUC__) && !defined(__clang__)
#define PF_UNROLL _Pragma("GCC unroll 16")
#else
#define PF_UNROLL
#endif

/* fn(args..., W) with W a compile-time constant, for 1 ≤ W ≤ 16. */
#define PF_CNN_WIDTHS(fn, W, ...)                                                                  \
    switch (W) {                                                                                   \
    case 1: fn(__VA_ARGS__, 1); break;                                                             \
    case 2: fn(__VA_ARGS__, 2); break;                                                             \
    case 3: fn(__VA_ARGS__, 3); break;                                                             \
    case 4: fn(__VA_ARGS__, 4); break;                                                             \
    case 5: fn(__VA_ARGS__, 5); break;                                                             \
    case 6: fn(__VA_ARGS__, 6); break;                                                             \
    case 7: fn(__VA_ARGS__, 7); break;                                                             \
    case 8: fn(__VA_ARGS__, 8); break;                                                             \
    case 9: fn(__VA_ARGS__, 9); break;                                                             \
    case 10: fn(__VA_ARGS__, 10); break;                                                           \
    case 11: fn(__VA_ARGS__, 11); break;                                                           \
    case 12: fn(__VA_ARGS__, 12); break;                                                           \
    case 13: fn(__VA_ARGS__, 13); break;                                                           \
    case 14: fn(__VA_ARGS__, 14); break;                                                           \
    case 15: fn(__VA_ARGS__, 15); break;                                                           \
    default: fn(__VA_ARGS__, 16); break;                                                           \
    }

/* The neighbourhood of site s in batch row xb (C channels): g[j·C + c] =
 * xb(nb(s, j))_c, j < k·k; rev: neighbour k·k − 1 − j instead (the opposite
 * offset). */
static inline __attribute__((always_inline)) void gather_c(int kk, const int *n, const double *xb,
                                                           int rev, double *restrict g, const int C)
{
    for (int j = 0; j < kk; j++) {
        const double *src = xb + (size_t)n[rev ? kk - 1 - j : j] * C;
        PF_UNROLL
        for (int c = 0; c < C; c++)
            g[j * C + c] = src[c];
    }
}

#define GATHER_ARGS(kk, n, xb, rev, g, C) gather_c(kk, n, xb, rev, g, C)
static void gather(int kk, const int *n, int C, const double *xb, int rev, double *restrict g)
{
    if (C > PF_CNN_DIRECT_MAX) { /* im2col of a wide layer: no constant width */
        gather_c(kk, n, xb, rev, g, C);
        return;
    }
    PF_CNN_WIDTHS(GATHER_ARGS, C, kk, n, xb, rev, g)
}

/* Periodic im2col (GEMM layers): x (B·V)×C → cols (B·V)×(k·k·C), row b·V + s
 * the neighbourhood of site s. */
static void im2col(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C, const double *x,
                   double *restrict cols)
{
    const int V = cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < V; s++)
            gather(kk, t->neighbour + (size_t)s * kk, C, x + (size_t)b * V * C, 0,
                   cols + ((size_t)b * V + s) * kk * C);
}

/* Its adjoint, accumulating: x += col2im(cols). */
static void col2im(const pf_cnn *cnn, const pf_cnn_tape *t, int B, int C,
                   const double *restrict cols, double *x)
{
    const int V = cnn->L0 * cnn->L1, kk = cnn->kernel * cnn->kernel;
    for (int b = 0; b < B; b++) {
        double *xb = x + (size_t)b * V * C;
        for (int s = 0; s < V; s++) {
            const int *nb = t->neighbour + (size_t)s * kk;
            const double *row = cols + ((size_t)b * V + s) * kk * C;
            for (int j = 0; j < kk; j++)
                for (int ch = 0; ch < C; ch++)
                    xb[(size_t)nb[j] * C + ch] += row[j * C + ch];
        }
    }
}

/* the i-th site of a pass: of the list `sites`, or every site in order */
#define SITE(i) (sites ? sites[i] : (i))
#define PF_CAT_(a, b) a##b
#define PF_CAT(a, b) PF_CAT_(a, b)
/* 8 doubles, for kernels that run along 8 channels whatever their WD */
typedef double pf_cnn_v8 __attribute__((vector_size(64), aligned(8), may_alias));
#define WD 1
#include "nn/conv2d_direct.inc"
#undef WD
#define WD 2
#include "nn/conv2d_direct.inc"
#undef WD
#define WD 4
#include "nn/conv2d_direct.inc"
#undef WD
#define WD 8
#include "nn/conv2d_direct.inc"
#undef WD
#define WD 16
#include "nn/conv2d_direct.inc"
#undef WD

/* fn<Wp>(args...) for a padded width Wp. */
#define PF_CNN_PADDED(fn, Wp, ...)                                                                 \
    switch (Wp) {                                                                                  \
    case 1: PF_CAT(fn, 1)(__VA_ARGS__); break;                                                     \
    case 2: PF_CAT(fn, 2)(__VA_ARGS__); break;                                                     \
    case 4: PF_CAT(fn, 4)(__VA_ARGS__); break;                                                     \
    case 8: PF_CAT(fn, 8)(__VA_ARGS__); break;                                                     \
    default: PF_CAT(fn, 16)(__VA_ARGS__); break;                                                   \
    }

/* t->offset[s·k·k + j] = C × the site at tap j of site s (rev: at the
 * opposite offset, tap k·k − 1 − j): where, in doubles, a batch row of C
 * channels holds the row that tap reads. */
static void set_offsets(const pf_cnn_tape *t, int V, int kk, int rev, int C)
{
    for (int s = 0; s < V; s++)
        for (int j = 0; j < kk; j++)
            t->offset[s * kk + j] = t->neighbour[s * kk + (rev ? kk - 1 - j : j)] * C;
}

/* One direct pass: out (B·V)×P (+)= conv(in (B·V)×C) with taps
 * T(p, j, c) = w[p·wp + j·wj + c·wc], at the n sites `sites` of each batch
 * row (NULL: all V, n = V), in the form that fits C and P, the weights laid
 * out for it in scratch, and the row offsets of the neighbours (rev: the
 * opposite ones) in t->offset. */
static void direct_pass(const pf_cnn_tape *t, int B, int V, int kk, int rev, int n,
                        const int *sites, int C, int P, const double *w, size_t wp, size_t wj,
                        size_t wc, const double *in, const double *base, int accumulate,
                        double *scratch, double *out)
{
    set_offsets(t, V, kk, rev, C);
    if (P >= C) { /* axpy: scratch[(j·C + c)·Wp + p] */
        const int Wp = padded_width(P);
        for (int j = 0; j < kk; j++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < Wp; p++)
                    scratch[((size_t)j * C + c) * Wp + p] = p < P ? w[p * wp + j * wj + c * wc] : 0;
        PF_CNN_PADDED(axpy, Wp, B, V, kk, t->offset, n, sites, C, in, scratch, base, accumulate,
                      P, out);
    } else { /* dot: scratch[(p·k·k + j)·Wp + c] */
        const int Wp = padded_width(C);
        for (int p = 0; p < P; p++)
            for (int j = 0; j < kk; j++)
                for (int c = 0; c < Wp; c++)
                    scratch[((size_t)p * kk + j) * Wp + c] =
                        c < C ? w[p * wp + j * wj + c * wc] : 0;
        PF_CNN_PADDED(dot, Wp, B, V, kk, t->offset, n, sites, C, P, in, scratch, base,
                      accumulate, out);
    }
}

/* Batch rows per chunk: when every layer is direct, a pass runs the whole
 * layer stack on CHUNK_DOUBLES-sized slices of each array (about V·C ≤ 2¹⁴
 * doubles: 128 KB), so that a layer's output is still in the cache when the
 * next layer, the activation and the backward's element-wise steps read it,
 * instead of streaming (B·V)×C arrays of megabytes through memory layer by
 * layer. A chunk holds whole blocks of the weight gradient's sites
 * (PF_CNN_SITE_BLOCK at every layer's site count), so the sums run in the
 * order of one call on the whole batch: the results are the same bits for
 * every chunk size. A layer on the GEMM route keeps the whole batch (one
 * product). */
#define CHUNK_DOUBLES 16384

static int gcd(int a, int b)
{
    while (b) {
        const int r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static int chunk_rows(const pf_cnn *cnn, const pf_cnn_tape *t, int B)
{
    const int V = cnn->L0 * cnn->L1;
    int max_c = 1, step = 1;
    for (int l = 0; l < cnn->n_layers; l++) {
        if (!pf_cnn_layer_direct(cnn, l))
            return B;
        const int n = l == cnn->n_layers - 1 && cnn->out_sites ? cnn->n_out_sites : V;
        const int need = PF_CNN_SITE_BLOCK / gcd(PF_CNN_SITE_BLOCK, n); /* rows·n ≡ 0 */
        step = step / gcd(step, need) * need;
        for (int k = l; k <= l + 1; k++)
            max_c = cnn->channels[k] > max_c ? cnn->channels[k] : max_c;
    }
    int rows = t->chunk > 0 ? t->chunk : CHUNK_DOUBLES / (V * max_c);
    rows = rows < step ? step : rows - rows % step;
    return rows < B ? rows : B;
}

/* The forward of batch rows [b0, b0 + B) of x (n rows in all: t->x). */
static void forward_rows(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int b0, int B,
                         double *y)
{
    const int V = cnn->L0 * cnn->L1, BV = B * V, kk = cnn->kernel * cnn->kernel;
    const size_t r0 = (size_t)b0 * V; /* the chunk's first site row */
    const double *u = t->x + r0 * cnn->channels[0];
    for (int l = 0; l < cnn->n_layers; l++) {
        const int cin = cnn->channels[l], cout = cnn->channels[l + 1];
        const int last = l == cnn->n_layers - 1;
        const int *sites = last ? cnn->out_sites : NULL;
        const int n_at = sites ? cnn->n_out_sites : V;
        double *z = (last ? y : t->z[l]) + r0 * cout; /* the last layer's activation is the identity */
        if (pf_cnn_layer_direct(cnn, l)) {
            if (sites)
                memset(z, 0, (size_t)BV * cout * sizeof *z);
            /* tap (o, j, i) = W[o][j·cin + i] */
            direct_pass(t, B, V, kk, 0, n_at, sites, cin, cout, params + cnn->w_offset[l],
                        (size_t)kk * cin, (size_t)cin, 1, u, params + cnn->b_offset[l], 0, t->wt,
                        z);
        } else {
            double *cols = t->cols[l] + r0 * kk * cin;
            im2col(cnn, t, B, cin, u, cols);
            for (int i = 0; i < BV; i++)
                memcpy(z + (size_t)i * cout, params + cnn->b_offset[l], (size_t)cout * sizeof *z);
            pf_gemm(0, 1, BV, cout, kk * cin, 1.0, cols, kk * cin, params + cnn->w_offset[l],
                    kk * cin, 1.0, z, cout);
            if (sites) { /* every site computed; the others set to 0 as on the direct route */
                memset(t->keep, 0, (size_t)V);
                for (int i = 0; i < n_at; i++)
                    t->keep[sites[i]] = 1;
                for (int b = 0; b < B; b++)
                    for (int s = 0; s < V; s++)
                        if (!t->keep[s])
                            memset(z + ((size_t)b * V + s) * cout, 0, (size_t)cout * sizeof *z);
            }
        }
        if (last)
            break;
        pf_activation_value(cnn->hidden_act, (size_t)BV * cout, z, t->a[l] + r0 * cout);
        u = t->a[l] + r0 * cout;
    }
}

int pf_cnn_tape_set_chunk(pf_cnn_tape *t, const pf_cnn *cnn, int rows)
{
    t->chunk = rows > 0 ? rows : 0;
    return chunk_rows(cnn, t, t->B_max);
}

void pf_cnn_forward(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int B, const double *x,
                    double *y)
{
    t->x = x;
    const int rows = chunk_rows(cnn, t, B);
    for (int b0 = 0; b0 < B; b0 += rows)
        forward_rows(cnn, params, t, b0, B - b0 < rows ? B - b0 : rows, y);
}

/* The backward of batch rows [b0, b0 + B): z̄ = σ'(z) ⊙ ā; W̄ += z̄ᵀ cols;
 * b̄ += Σ z̄; cols̄ = z̄ W; ū = col2im(cols̄). A direct layer's W̄ᵀ and b̄ go to
 * t->wbar[l] (pf_cnn_backward adds them to grad after the last chunk). */
static void backward_rows(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int b0, int B,
                          const double *ybar, double *grad, double *xbar)
{
    const int V = cnn->L0 * cnn->L1, BV = B * V, kk = cnn->kernel * cnn->kernel;
    const size_t r0 = (size_t)b0 * V; /* the chunk's first site row */
    const double *abar = ybar + r0 * cnn->channels[cnn->n_layers];
    for (int l = cnn->n_layers - 1; l >= 0; l--) {
        const int cin = cnn->channels[l], cout = cnn->channels[l + 1];
        const size_t n = (size_t)BV * cout;
        const double *zbar = abar; /* the last layer's activation is the identity */
        if (l < cnn->n_layers - 1) {
            pf_activation_backward(cnn->hidden_act, n, t->z[l] + r0 * cout, t->a[l] + r0 * cout,
                                   abar, t->zbar);
            zbar = t->zbar;
        }
        const double *in = (l == 0 ? t->x : t->a[l - 1]) + r0 * cin;
        double *ubar = l == 0 ? (xbar ? xbar + r0 * cin : NULL) : t->bar[l % 2];
        if (pf_cnn_layer_direct(cnn, l)) {
            const int *sites = l == cnn->n_layers - 1 ? cnn->out_sites : NULL;
            const int n_at = sites ? cnn->n_out_sites : V;
            if (grad) {
                set_offsets(t, V, kk, 0, cin);
                PF_CNN_PADDED(wgrad, padded_width(cout), B, V, kk, t->offset, n_at, sites, cin,
                              cout, in, zbar, t->rows, t->wbar[l]);
            }
            if (!ubar)
                break;
            if (sites) {
                /* z̄ lives on the listed sites: ū(nb_j(s))_i += Σ_o z̄(s)_o W[o][j·cin + i] */
                const int Wp = padded_width(cin);
                if (l > 0)
                    memset(ubar, 0, (size_t)BV * cin * sizeof *ubar);
                set_offsets(t, V, kk, 0, cin);
                const double *w = params + cnn->w_offset[l];
                for (int j = 0; j < kk; j++)
                    for (int o = 0; o < cout; o++)
                        for (int i = 0; i < Wp; i++)
                            t->wt[((size_t)j * cout + o) * Wp + i] =
                                i < cin ? w[(size_t)o * kk * cin + j * cin + i] : 0;
                PF_CNN_PADDED(scatter, Wp, B, V, kk, t->offset, n_at, sites, cout, zbar, t->wt, cin,
                              ubar);
                abar = ubar;
                continue;
            }
            /* ū(t)_i = Σ_j Σ_o z̄(t − offset_j)_o W[o][j·cin + i]: the opposite
             * offsets (rev), tap (i, j, o) = W[o][j·cin + i] */
            direct_pass(t, B, V, kk, 1, V, NULL, cout, cin, params + cnn->w_offset[l], 1,
                        (size_t)cin, (size_t)kk * cin, zbar, NULL, l == 0, t->wt, ubar);
            abar = ubar;
            continue;
        }
        if (grad) {
            pf_gemm(1, 0, cout, kk * cin, BV, 1.0, zbar, cout, t->cols[l] + r0 * kk * cin, kk * cin,
                    1.0, grad + cnn->w_offset[l], kk * cin);
            double *gb = grad + cnn->b_offset[l];
            for (int i = 0; i < BV; i++)
                for (int j = 0; j < cout; j++)
                    gb[j] += zbar[(size_t)i * cout + j];
        }
        if (!ubar)
            break;
        pf_gemm(0, 0, BV, kk * cin, cout, 1.0, zbar, cout, params + cnn->w_offset[l], kk * cin,
                0.0, t->colbar, kk * cin);
        if (l > 0)
            memset(ubar, 0, (size_t)BV * cin * sizeof *ubar);
        col2im(cnn, t, B, cin, t->colbar, ubar);
        abar = ubar;
    }
}

void pf_cnn_backward(const pf_cnn *cnn, const double *params, pf_cnn_tape *t, int B,
                     const double *ybar, double *grad, double *xbar)
{
    const int kk = cnn->kernel * cnn->kernel;
    if (grad)
        for (int l = 0; l < cnn->n_layers; l++)
            if (pf_cnn_layer_direct(cnn, l))
                memset(t->wbar[l], 0,
                       ((size_t)kk * cnn->channels[l] + 1) * padded_width(cnn->channels[l + 1]) *
                           sizeof *t->wbar[l]);
    const int rows = chunk_rows(cnn, t, B);
    for (int b0 = 0; b0 < B; b0 += rows)
        backward_rows(cnn, params, t, b0, B - b0 < rows ? B - b0 : rows, ybar, grad, xbar);
    if (!grad)
        return;
    for (int l = cnn->n_layers - 1; l >= 0; l--) {
        if (!pf_cnn_layer_direct(cnn, l))
            continue;
        const int cin = cnn->channels[l], cout = cnn->channels[l + 1], Wp = padded_width(cout);
        const double *wt = t->wbar[l];
        double *gw = grad + cnn->w_offset[l], *gb = grad + cnn->b_offset[l];
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < kk * cin; i++)
                gw[(size_t)o * kk * cin + i] += wt[(size_t)i * Wp + o];
        for (int o = 0; o < cout; o++)
            gb[o] += wt[(size_t)kk * cin * Wp + o];
    }
}
