/* The lattice vector field of a CNF on a periodic scalar lattice:
 *
 *   fₓ(φ, t) = Σ_r Σ_g Wₜ_g(r) h_g(φ_{x−r}),   Wₜ_g(r) = Σ_k τ_k(t) W_{kg}(class(r)),
 *
 * with single-site features h_g (φ itself, sin(ω φ)/ω, and with non-odd
 * features also cos(ω φ)/ω), the time basis τ_k(t) = cos(kπt/T), and learned
 * kernels W on the displacements r with |r| ≤ radius — one weight per
 * displacement, or per orbit of the lattice's rotations and reflections.
 * The same kernel at every site makes f commute with lattice translations;
 * odd features make f(−φ) = −f(φ); the parameter count K·G·classes does not
 * depend on the lattice size. Since φ_y enters fₓ only through h_g(φ_y):
 *   ∂fₓ/∂φ_y     = Wₜ_g(x − y) h'_g(φ_y)                 (summed over g)
 *   div f        = Σₓ Σ_g Wₜ_g(0) h'_g(φₓ)               exact, O(V·G)
 *   ((∂f)ᵀa)_y   = Σ_g h'_g(φ_y) Σ_r Wₜ_g(r) a_{y+r}      a correlation
 *   (∇ div f)_y  = Σ_g Wₜ_g(0) h''_g(φ_y)
 *   ∂(aᵀf)/∂W_{kg}(c) = τ_k Σ_{r∈c} Σₓ aₓ h_g(φ_{x−r}),
 *   ∂ div f/∂W_{kg}(c) = τ_k [c ∋ 0] Σₓ h'_g(φₓ).
 * The sums run per weight class c: first Σ_g Wₜ_g(c) h_g(φ_y) (or h'_g)
 * at every site, then one gather per displacement, so a right-hand side
 * costs O(B · V · (G · classes + displacements)), linear in the volume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/vmath.h"
#include "core/workspace.h"
#include "ode/field.h"

#define PI 3.14159265358979323846

/* The per-site loops below are compiled for AVX-512, AVX2 + FMA and plain
 * x86-64, chosen by the CPU at load time (as the convolution kernels). */
#if defined(PATHFLOW_SIMD_X86) && defined(__GNUC__) && !defined(__clang__)
#define PF_FIELD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PF_FIELD_CLONES
#endif

typedef struct lattice_field {
    int D, V, shape[4];
    int G, K;            /* features, time functions */
    int n_freq, odd;     /* sine frequencies (ω_j = j ω₁), odd features only */
    double t1;
    int n_disp, n_class; /* displacements |r| ≤ radius and their weight classes */
    int disp0;           /* index of r = 0 */
    int *disp;           /* n_disp × D */
    int *disp_class;     /* n_disp */
    int *minus;          /* n_disp × V: the site x − r */
    int *plus;           /* n_disp × V: the site x + r */
    double *omega;       /* G: ω of each feature (1 for φ itself) */
    /* buffers of one right-hand side (one sample at a time) */
    double *H, *H1, *H2; /* G × V: h, h', h'' at every site */
    double *Q;           /* n_class × V: Σ_g Wₜ[g][c] h_g (or h'_g) */
    double *A;           /* n_class × V: Σ_{r∈c} a_{y+r} */
    double *Wt;          /* G × n_class: the kernel at time t */
    double *tau;         /* K */
    double *acc;         /* G × n_class: Σ_b Σ_{r∈c} Σₓ aₓ h_g(φ_{x−r}) */
    double *accd;        /* G: Σ_b w_b Σₓ h'_g(φₓ) */
    double *sin_1, *cos_1, *sin_j, *cos_j; /* V: sin, cos of ω₁φ and of jω₁φ */
} lattice_field;

/* Site index of x + s·r (periodic), x a flat row-major index. */
static int shifted(const lattice_field *L, int x, const int *r, int s)
{
    int coord[4], rem = x, out = 0;
    for (int i = L->D - 1; i >= 0; i--) {
        coord[i] = rem % L->shape[i];
        rem /= L->shape[i];
    }
    for (int i = 0; i < L->D; i++) {
        int c = ((coord[i] + s * r[i]) % L->shape[i] + L->shape[i]) % L->shape[i];
        out = out * L->shape[i] + c;
    }
    return out;
}

/* Sorted absolute coordinates: the orbit of r under axis permutations and
 * reflections (the hypercubic group), written into key (D ints). */
static void orbit_key(int D, const int *r, int *key)
{
    for (int i = 0; i < D; i++)
        key[i] = abs(r[i]);
    for (int i = 1; i < D; i++)
        for (int j = i; j > 0 && key[j] > key[j - 1]; j--) {
            int tmp = key[j];
            key[j] = key[j - 1];
            key[j - 1] = tmp;
        }
}

/* The displacements with |r| ≤ radius and their classes. */
static pf_status make_displacements(lattice_field *L, double radius, int symmetric)
{
    const int D = L->D, R = (int)floor(radius + 1e-9);
    int n = 1, r[4], key[4], keys[4 * 729];
    for (int i = 0; i < D; i++)
        n *= 2 * R + 1;
    L->disp = malloc((size_t)n * D * sizeof *L->disp);
    L->disp_class = malloc((size_t)n * sizeof *L->disp_class);
    if (!L->disp || !L->disp_class)
        return pf_fail(PF_ERR_NOMEM, "lattice field: no memory");
    L->n_disp = L->n_class = 0;
    for (int m = 0; m < n; m++) {
        int rem = m, norm2 = 0;
        for (int i = D - 1; i >= 0; i--) {
            r[i] = rem % (2 * R + 1) - R;
            rem /= 2 * R + 1;
            norm2 += r[i] * r[i];
        }
        if (norm2 > radius * radius + 1e-9)
            continue;
        int c = L->n_class;
        if (symmetric) {
            orbit_key(D, r, key);
            for (c = 0; c < L->n_class; c++)
                if (memcmp(keys + 4 * c, key, (size_t)D * sizeof *key) == 0)
                    break;
            if (c == L->n_class)
                memcpy(keys + 4 * c, key, (size_t)D * sizeof *key);
        }
        if (c == L->n_class)
            L->n_class++;
        if (norm2 == 0)
            L->disp0 = L->n_disp;
        memcpy(L->disp + (size_t)L->n_disp * D, r, (size_t)D * sizeof *r);
        L->disp_class[L->n_disp++] = c;
    }
    return PF_OK;
}

static pf_status make_neighbours(lattice_field *L)
{
    const size_t n = (size_t)L->n_disp * L->V;
    L->minus = malloc(n * sizeof *L->minus);
    L->plus = malloc(n * sizeof *L->plus);
    if (!L->minus || !L->plus)
        return pf_fail(PF_ERR_NOMEM, "lattice field: no memory");
    for (int j = 0; j < L->n_disp; j++)
        for (int x = 0; x < L->V; x++) {
            L->minus[(size_t)j * L->V + x] = shifted(L, x, L->disp + (size_t)j * L->D, -1);
            L->plus[(size_t)j * L->V + x] = shifted(L, x, L->disp + (size_t)j * L->D, 1);
        }
    return PF_OK;
}

/* h, h', h'' of every feature at every site of one sample φ (V). The
 * frequencies are multiples of ω₁, so one sin/cos per site (all sites in one
 * vector call) and the angle addition recurrence, site by site in the inner
 * loop, give every sin(jω₁u), cos(jω₁u). */
PF_FIELD_CLONES static void features(const lattice_field *L, const double *phi)
{
    const int V = L->V, N = L->n_freq;
    memcpy(L->H, phi, (size_t)V * sizeof *phi); /* feature 0: φ itself */
    for (int x = 0; x < V; x++)
        L->H1[x] = 1.0, L->H2[x] = 0.0;
    if (N == 0)
        return;
    const double w1 = L->omega[1];
    double *restrict s = L->sin_j, *restrict c = L->cos_j, *restrict s1 = L->sin_1,
                     *restrict c1 = L->cos_1;
    for (int x = 0; x < V; x++)
        s[x] = w1 * phi[x]; /* the angles, in s for the call */
    pf_vsincos((size_t)V, s, s1, c1);
    memcpy(s, s1, (size_t)V * sizeof *s);
    memcpy(c, c1, (size_t)V * sizeof *c);
    for (int j = 1; j <= N; j++) {
        const double w = L->omega[j];
        double *restrict h = L->H + (size_t)j * V, *restrict h1 = L->H1 + (size_t)j * V,
                         *restrict h2 = L->H2 + (size_t)j * V;
        for (int x = 0; x < V; x++)
            h[x] = s[x] / w, h1[x] = c[x], h2[x] = -w * s[x];
        if (!L->odd) {
            double *restrict g = L->H + (size_t)(N + j) * V, *restrict g1 = L->H1 + (size_t)(N + j) * V,
                             *restrict g2 = L->H2 + (size_t)(N + j) * V;
            for (int x = 0; x < V; x++)
                g[x] = c[x] / w, g1[x] = -s[x], g2[x] = -w * c[x];
        }
        for (int x = 0; x < V; x++) {
            const double sn = s[x] * c1[x] + c[x] * s1[x];
            c[x] = c[x] * c1[x] - s[x] * s1[x];
            s[x] = sn;
        }
    }
}

/* τ(t) and the kernel at time t per class: Wₜ[g][c] = Σ_k τ_k W_{kg}(c). */
static void kernel_at(lattice_field *L, const double *params, double t)
{
    const int G = L->G, C = L->n_class;
    for (int k = 0; k < L->K; k++)
        L->tau[k] = cos(k * PI * t / L->t1);
    for (int gc = 0; gc < G * C; gc++) {
        double s = 0;
        for (int k = 0; k < L->K; k++)
            s += L->tau[k] * params[(size_t)k * G * C + gc];
        L->Wt[gc] = s;
    }
}

/* Q[c][y] = Σ_g Wₜ[g][c] F_g(y) for features F (G × V): the per-class site
 * fields. */
PF_FIELD_CLONES static void class_fields(const lattice_field *L, const double *F, double *Q)
{
    const int V = L->V, C = L->n_class;
    memset(Q, 0, (size_t)C * V * sizeof *Q);
    for (int g = 0; g < L->G; g++)
        for (int c = 0; c < C; c++) {
            const double w = L->Wt[(size_t)g * C + c];
            const double *restrict h = F + (size_t)g * V;
            double *restrict q = Q + (size_t)c * V;
            for (int y = 0; y < V; y++)
                q[y] += w * h[y];
        }
}

/* fₓ = Σ_r Q[class r][x − r] for one sample: Q from h. */
static void apply_kernel(lattice_field *L, double *f)
{
    const int V = L->V;
    class_fields(L, L->H, L->Q);
    memset(f, 0, (size_t)V * sizeof *f);
    for (int j = 0; j < L->n_disp; j++) {
        const int *m = L->minus + (size_t)j * V;
        const double *q = L->Q + (size_t)L->disp_class[j] * V;
        for (int x = 0; x < V; x++)
            f[x] += q[m[x]];
    }
}

/* A[c][y] = Σ_{r ∈ c} a_{y+r}: the correlation of a with each class. */
static void class_correlations(lattice_field *L, const double *a)
{
    const int V = L->V;
    memset(L->A, 0, (size_t)L->n_class * V * sizeof *L->A);
    for (int j = 0; j < L->n_disp; j++) {
        const int *p = L->plus + (size_t)j * V;
        double *A = L->A + (size_t)L->disp_class[j] * V;
        for (int y = 0; y < V; y++)
            A[y] += a[p[y]];
    }
}

/* out_y = −Σ_c A[c][y] Σ_g Wₜ[g][c] h'_g(φ_y) − w Σ_g Wₜ[g][c₀] h''_g(φ_y):
 * −(∂f)ᵀa − w ∇ div f for one sample; leaves A for the gradient. */
PF_FIELD_CLONES static void transpose_kernel(lattice_field *L, const double *a, double w, double *out)
{
    const int V = L->V, C = L->n_class, c0 = L->disp_class[L->disp0];
    class_correlations(L, a);
    class_fields(L, L->H1, L->Q);
    memset(out, 0, (size_t)V * sizeof *out);
    for (int c = 0; c < C; c++) {
        const double *restrict A = L->A + (size_t)c * V, *restrict q = L->Q + (size_t)c * V;
        double *restrict o = out;
        for (int y = 0; y < V; y++)
            o[y] -= A[y] * q[y];
    }
    if (w == 0)
        return;
    for (int g = 0; g < L->G; g++) {
        const double w0 = w * L->Wt[(size_t)g * C + c0], *restrict h2 = L->H2 + (size_t)g * V;
        double *restrict o = out;
        for (int y = 0; y < V; y++)
            o[y] -= w0 * h2[y];
    }
}

static void lattice_eval_div(pf_field *field, const double *params, int B, double t,
                             const double *x, double *f, double *div, const double *g, double *dg)
{
    lattice_field *L = field->content;
    const int V = L->V, C = L->n_class, c0 = L->disp_class[L->disp0];
    kernel_at(L, params, t);
    for (int b = 0; b < B; b++) {
        features(L, x + (size_t)b * V);
        apply_kernel(L, f + (size_t)b * V);
        double s = 0;
        for (int gi = 0; gi < L->G; gi++) {
            const double *h1 = L->H1 + (size_t)gi * V;
            double sum = 0;
            for (int y = 0; y < V; y++)
                sum += h1[y];
            s += L->Wt[(size_t)gi * C + c0] * sum;
        }
        div[b] = s;
        if (g)
            transpose_kernel(L, g + (size_t)b * V, 1.0, dg + (size_t)b * V);
    }
}

/* acc[g][c] += Σ_y h_g(φ_y) A[c][y] (= Σ_{r∈c} Σₓ aₓ h_g(φ_{x−r})),
 * accd[g] += w Σₓ h'_g(φₓ), for one sample after transpose_kernel. */
PF_FIELD_CLONES static void accumulate_grad(lattice_field *L, double w)
{
    const int V = L->V, C = L->n_class;
    for (int gi = 0; gi < L->G; gi++) {
        const double *h = L->H + (size_t)gi * V, *h1 = L->H1 + (size_t)gi * V;
        for (int c = 0; c < C; c++) {
            const double *A = L->A + (size_t)c * V;
            double s = 0;
            for (int y = 0; y < V; y++)
                s += A[y] * h[y];
            L->acc[(size_t)gi * C + c] += s;
        }
        if (w != 0) {
            double s = 0;
            for (int y = 0; y < V; y++)
                s += h1[y];
            L->accd[gi] += w * s;
        }
    }
}

static void lattice_adjoint(pf_field *field, const double *params, int B, double t,
                            const double *x, const double *lambda, const double *w,
                            double *dlambda, double *grad)
{
    lattice_field *L = field->content;
    const int V = L->V, G = L->G, C = L->n_class, c0 = L->disp_class[L->disp0];
    kernel_at(L, params, t);
    if (grad) {
        memset(L->acc, 0, (size_t)G * C * sizeof *L->acc);
        memset(L->accd, 0, (size_t)G * sizeof *L->accd);
    }
    for (int b = 0; b < B; b++) {
        const double wb = w ? w[b] : 0.0;
        features(L, x + (size_t)b * V);
        transpose_kernel(L, lambda + (size_t)b * V, wb, dlambda + (size_t)b * V);
        if (grad)
            accumulate_grad(L, wb);
    }
    if (!grad)
        return;
    for (int g = 0; g < G; g++)
        for (int c = 0; c < C; c++) {
            const double a = L->acc[(size_t)g * C + c] + (c == c0 ? L->accd[g] : 0.0);
            for (int k = 0; k < L->K; k++)
                grad[((size_t)k * G + g) * C + c] = -L->tau[k] * a;
        }
}

static void free_buffers(lattice_field *L)
{
    double *bufs[] = {L->H,   L->H1,  L->H2,    L->Q,     L->A,     L->Wt,   L->tau,
                      L->acc, L->accd, L->sin_1, L->cos_1, L->sin_j, L->cos_j};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        pf_free(bufs[i]);
    L->H = L->H1 = L->H2 = L->Q = L->A = L->Wt = L->tau = L->acc = L->accd = NULL;
    L->sin_1 = L->cos_1 = L->sin_j = L->cos_j = NULL;
}

static pf_status lattice_reserve(pf_field *field, int B_max)
{
    lattice_field *L = field->content;
    const size_t GV = (size_t)L->G * L->V, Gd = (size_t)L->G * L->n_class;
    const size_t CV = (size_t)L->n_class * L->V;
    free_buffers(L);
    L->H = pf_alloc_doubles(GV, "lattice field features");
    L->H1 = pf_alloc_doubles(GV, "lattice field features");
    L->H2 = pf_alloc_doubles(GV, "lattice field features");
    L->Q = pf_alloc_doubles(CV, "lattice field class fields");
    L->A = pf_alloc_doubles(CV, "lattice field correlations");
    L->Wt = pf_alloc_doubles(Gd, "lattice field kernel");
    L->tau = pf_alloc_doubles((size_t)L->K, "lattice field time basis");
    L->acc = pf_alloc_doubles(Gd, "lattice field gradient");
    L->accd = pf_alloc_doubles((size_t)L->G, "lattice field gradient");
    double **trig[] = {&L->sin_1, &L->cos_1, &L->sin_j, &L->cos_j};
    for (size_t i = 0; i < sizeof trig / sizeof *trig; i++)
        *trig[i] = pf_alloc_doubles((size_t)L->V, "lattice field features");
    if (!L->H || !L->H1 || !L->H2 || !L->Q || !L->A || !L->Wt || !L->tau || !L->acc || !L->accd ||
        !L->sin_1 || !L->cos_1 || !L->sin_j || !L->cos_j)
        return PF_ERR_NOMEM;
    return PF_OK;
}

static void lattice_set_probes(pf_field *field, int B, const double *eps)
{
    (void)field, (void)B, (void)eps; /* the divergence is exact */
}

/* Zero (the identity flow) or normal with standard deviation
 * scale / √(G · displacements), so that f is O(scale) for O(1) fields. */
static void lattice_init_params(const pf_field *field, double *params, pf_rng *rng, int zero_last,
                                double scale)
{
    const lattice_field *L = field->content;
    if (zero_last) {
        memset(params, 0, field->n_params * sizeof *params);
        return;
    }
    pf_rng_normal(rng, field->n_params, params);
    const double s = scale / sqrt((double)L->G * L->n_disp);
    for (size_t i = 0; i < field->n_params; i++)
        params[i] *= s;
}

static void lattice_destroy(pf_field *field)
{
    lattice_field *L = field->content;
    if (L) {
        free_buffers(L);
        free(L->disp);
        free(L->disp_class);
        free(L->minus);
        free(L->plus);
        free(L->omega);
        free(L);
    }
    free(field);
}

static const pf_field_ops lattice_ops = {lattice_reserve,  lattice_set_probes,
                                         lattice_eval_div, lattice_adjoint,
                                         lattice_init_params, lattice_destroy};

static pf_status check_lattice_options(const pf_cnf_options *o)
{
    if (o->n_lattice < 1 || o->n_lattice > 4)
        return pf_fail(PF_ERR_ARG, "cnf lattice field: %d lattice extents, need 1..4",
                       o->n_lattice);
    long V = 1;
    for (int i = 0; i < o->n_lattice; i++)
        V *= o->lattice[i] > 0 ? o->lattice[i] : 0;
    if (V != o->dim)
        return pf_fail(PF_ERR_ARG, "cnf lattice field: the lattice has %ld sites, dim is %d", V,
                       o->dim);
    if (o->features < 0 || o->features > 256)
        return pf_fail(PF_ERR_ARG, "cnf lattice field: features = %d outside [0, 256]",
                       o->features);
    if (!(o->frequency > 0) || !isfinite(o->frequency))
        return pf_fail(PF_ERR_ARG, "cnf lattice field: frequency = %g must be > 0", o->frequency);
    if (o->time_basis < 1 || o->time_basis > 64)
        return pf_fail(PF_ERR_ARG, "cnf lattice field: time_basis = %d outside [1, 64]",
                       o->time_basis);
    if (!(o->radius >= 0) || o->radius > 4)
        return pf_fail(PF_ERR_ARG, "cnf lattice field: radius = %g outside [0, 4]", o->radius);
    const int R = (int)floor(o->radius + 1e-9);
    for (int i = 0; i < o->n_lattice; i++)
        if (o->lattice[i] < 2 * R + 1)
            return pf_fail(PF_ERR_ARG,
                           "cnf lattice field: extent %d is smaller than the kernel's width %d "
                           "(radius %g)", o->lattice[i], 2 * R + 1, o->radius);
    return PF_OK;
}

/* Features: φ, then sin(ω_j φ)/ω_j, then (not odd) cos(ω_j φ)/ω_j, with
 * ω_j = frequency · j / features. */
static void make_features(lattice_field *L, const pf_cnf_options *o)
{
    L->omega[0] = 1.0;
    for (int j = 1; j <= o->features; j++) {
        L->omega[j] = o->frequency * j / o->features;
        if (!o->odd)
            L->omega[o->features + j] = L->omega[j];
    }
}

pf_status pf_field_lattice_create(const pf_cnf_options *o, pf_field **out)
{
    *out = NULL;
    PF_TRY(check_lattice_options(o));
    pf_field *field = calloc(1, sizeof *field);
    lattice_field *L = calloc(1, sizeof *L);
    if (!field || !L) {
        free(field);
        free(L);
        return pf_fail(PF_ERR_NOMEM, "cnf lattice field: no memory");
    }
    field->ops = &lattice_ops;
    field->content = L;
    field->d = o->dim;
    field->size_independent = 1;
    L->D = o->n_lattice;
    L->V = o->dim;
    memcpy(L->shape, o->lattice, sizeof L->shape);
    L->G = 1 + o->features * (o->odd ? 1 : 2);
    L->n_freq = o->features;
    L->odd = o->odd;
    L->K = o->time_basis;
    L->t1 = o->t1;
    L->omega = malloc((size_t)L->G * sizeof *L->omega);
    pf_status st = L->omega ? PF_OK : pf_fail(PF_ERR_NOMEM, "lattice field: no memory");
    if (st == PF_OK)
        st = make_displacements(L, o->radius, o->symmetric);
    if (st == PF_OK)
        st = make_neighbours(L);
    if (st != PF_OK) {
        lattice_destroy(field);
        return st;
    }
    make_features(L, o);
    field->n_params = (size_t)L->K * L->G * L->n_class;
    *out = field;
    return PF_OK;
}
