/* Gaussian mixture p(x) = Σ_c w_c N(x; μ_c, Σ_c), normalised: S = −log p,
 * log Z = 0 (docs/theory.md §5). Full covariances through Cholesky factors
 * Σ_c = L_c L_cᵀ; every solve is one dtrsm over the whole batch (BLAS-3), and
 * the sum over components is an online log-sum-exp, so S and ∇S each take
 * one pass over the components with O(B·d) scratch.
 * Shapes: B samples, d dimensions, C components. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "core/workspace.h"
#include "targets/target_impl.h"

#define LOG_2PI 1.8378770664093454835606594728112
#define GMM_MAX_DIM 64
#define MGM_MAX_DIM 100000

typedef struct gmm {
    int d, C;
    double *mean;       /* C×d */
    double *chol;       /* C×d×d: lower Cholesky factors L_c (upper zero) */
    double *log_norm;   /* C: log w_c − (d/2) log 2π − Σ_i log (L_c)_ii */
    double *cum_weight; /* C: cumulative normalised weights (sampler) */
} gmm;

/* Scratch for a batch: y (B×d), log_dens (B), max (B), sum (B). */
static double *gmm_scratch(pf_target *t, int B, double **y, double **log_dens, double **max,
                           double **sum)
{
    const size_t n = (size_t)B * (size_t)t->dim;
    double *s = pf_target_scratch(t, n + 3 * (size_t)B);
    if (s) {
        *y = s;
        *log_dens = s + n;
        *max = s + n + B;
        *sum = s + n + 2 * (size_t)B;
    }
    return s;
}

/* Component c over the batch: y = (X − μ_c) L_c⁻ᵀ (rows L_c⁻¹(x_b − μ_c), one
 * dtrsm) and log_dens_b = log w_c + log N(x_b; μ_c, Σ_c) = log_norm_c − |y_b|²/2.
 * x: B×d → y: B×d, log_dens: B. */
static void component_log_density(const gmm *g, int c, int B, const double *x, double *y,
                                  double *log_dens)
{
    const int d = g->d;
    const double *mu = g->mean + (size_t)c * d;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < d; i++)
            y[(size_t)b * d + i] = x[(size_t)b * d + i] - mu[i];
    pf_trsm_right_lower_t(B, d, g->chol + (size_t)c * d * d, y);
    for (int b = 0; b < B; b++) {
        const double *yb = y + (size_t)b * d;
        double sq = 0;
        for (int i = 0; i < d; i++)
            sq += yb[i] * yb[i];
        log_dens[b] = g->log_norm[c] - 0.5 * sq;
    }
}

/* One term of an online log-sum-exp: running max m and Σ exp(l − m) in s.
 * Returns exp(l − m) of the new term; *rescale is the factor by which the
 * earlier terms were multiplied (≠ 1 when l raised the max). */
static double lse_push(double l, double *m, double *s, double *rescale)
{
    *rescale = 1.0;
    if (l > *m) {
        *rescale = exp(*m - l);
        *s *= *rescale;
        *m = l;
    }
    double e = l > -INFINITY ? exp(l - *m) : 0.0;
    *s += e;
    return e;
}

/* S_b = −log Σ_c exp(log w_c + log N_c(x_b)). x: B×d → S: B. */
static pf_status gmm_action(pf_target *t, int B, const double *x, double *S)
{
    const gmm *g = t->content;
    double *y, *log_dens, *max, *sum, rescale;
    if (!gmm_scratch(t, B, &y, &log_dens, &max, &sum))
        return PF_ERR_NOMEM;
    for (int b = 0; b < B; b++) {
        max[b] = -INFINITY;
        sum[b] = 0;
    }
    for (int c = 0; c < g->C; c++) {
        component_log_density(g, c, B, x, y, log_dens);
        for (int b = 0; b < B; b++)
            lse_push(log_dens[b], &max[b], &sum[b], &rescale);
    }
    for (int b = 0; b < B; b++)
        S[b] = -(max[b] + log(sum[b]));
    return PF_OK;
}

/* docs/theory.md §5: ∇S = −∇log p = Σ_c r_c Σ_c⁻¹(x − μ_c), r_c = softmax_c(log w_c + log N_c).
 * Σ_c⁻¹(x − μ_c) = L_c⁻ᵀ y with y = L_c⁻¹(x − μ_c): a second dtrsm on the same
 * y. The softmax is accumulated online: force_b holds Σ_c exp(l_bc − m_b) z_bc,
 * rescaled whenever m_b grows, and is divided by Σ_c exp(l_bc − m_b) at the end.
 * x: B×d → force: B×d. */
static pf_status gmm_force(pf_target *t, int B, const double *x, double *force)
{
    const gmm *g = t->content;
    const int d = g->d;
    double *y, *log_dens, *max, *sum, rescale;
    if (!gmm_scratch(t, B, &y, &log_dens, &max, &sum))
        return PF_ERR_NOMEM;
    for (int b = 0; b < B; b++) {
        max[b] = -INFINITY;
        sum[b] = 0;
    }
    memset(force, 0, (size_t)B * d * sizeof *force);
    for (int c = 0; c < g->C; c++) {
        component_log_density(g, c, B, x, y, log_dens);
        pf_trsm_right_lower(B, d, g->chol + (size_t)c * d * d, y); /* y ← Σ_c⁻¹(x − μ_c) */
        for (int b = 0; b < B; b++) {
            double e = lse_push(log_dens[b], &max[b], &sum[b], &rescale);
            double *fb = force + (size_t)b * d;
            const double *zb = y + (size_t)b * d;
            for (int i = 0; i < d; i++)
                fb[i] = rescale * fb[i] + e * zb[i];
        }
    }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < d; i++)
            force[(size_t)b * d + i] /= sum[b];
    return PF_OK;
}

/* Per sample one uniform u_b picks the component (cumulative weights), and the
 * normals ε_b give x_b = μ_c + L_c ε_b. Uniform and normal draws come from
 * separate cursors, so drawing B at once equals drawing one at a time.
 * rng → x: B×d (ε is drawn into x and transformed in place). */
static pf_status gmm_sample(pf_target *t, pf_rng *rng, int B, double *x)
{
    const gmm *g = t->content;
    const int d = g->d;
    double *u = pf_target_scratch(t, (size_t)B);
    if (!u)
        return PF_ERR_NOMEM;
    pf_rng_uniform(rng, (size_t)B, u);
    pf_rng_normal(rng, (size_t)B * d, x);
    for (int b = 0; b < B; b++) {
        int c = 0, hi = g->C - 1; /* the first c with u_b ≤ cum_weight_c */
        while (c < hi) {
            int mid = c + (hi - c) / 2;
            if (u[b] > g->cum_weight[mid])
                c = mid + 1;
            else
                hi = mid;
        }
        const double *L = g->chol + (size_t)c * d * d, *mu = g->mean + (size_t)c * d;
        double *xb = x + (size_t)b * d;
        for (int i = d - 1; i >= 0; i--) { /* row i of L ε uses ε_0..ε_i: go downwards */
            double s = mu[i];
            for (int k = 0; k <= i; k++)
                s += L[(size_t)i * d + k] * xb[k];
            xb[i] = s;
        }
    }
    return PF_OK;
}

static void gmm_destroy(pf_target *t)
{
    gmm *g = t->content;
    if (!g)
        return;
    pf_free(g->mean);
    pf_free(g->chol);
    pf_free(g->log_norm);
    pf_free(g->cum_weight);
    free(g);
}

static const pf_target_ops gmm_ops = {
    .kind = "gmm",
    .action = gmm_action,
    .force = gmm_force,
    .sample = gmm_sample,
    .observables = pf_coordinate_observables,
    .summaries = pf_coordinate_summaries,
    .destroy = gmm_destroy,
};

/* Covariance c (d×d) finite and symmetric (to rounding: only the lower
 * triangle is used, so a visibly different upper one is a caller's bug). */
static pf_status check_covariance(int d, int c, const double *cov)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j <= i; j++) {
            double a = cov[(size_t)i * d + j], b = cov[(size_t)j * d + i];
            if (!isfinite(a) || !isfinite(b))
                return pf_fail(PF_ERR_ARG, "gmm: covariances[%d][%d][%d] is not finite", c,
                               isfinite(a) ? j : i, isfinite(a) ? i : j);
            if (fabs(a - b) > 1e-12 * (fabs(a) + fabs(b)))
                return pf_fail(PF_ERR_ARG,
                               "gmm: covariances[%d] is not symmetric: [%d][%d] = %g, "
                               "[%d][%d] = %g",
                               c, i, j, a, j, i, b);
        }
    return PF_OK;
}

/* weights: C, means: C×d, covariances: C×d×d. */
static pf_status check_gmm_input(int d, int C, const double *weights, const double *means,
                                 const double *covariances)
{
    if (d < 1 || d > GMM_MAX_DIM)
        return pf_fail(PF_ERR_ARG, "gmm: d = %d must be in [1, %d]", d, GMM_MAX_DIM);
    if (C < 1)
        return pf_fail(PF_ERR_ARG, "gmm: n_components = %d must be ≥ 1", C);
    if (!weights || !means || !covariances)
        return pf_fail(PF_ERR_ARG, "gmm: %s is NULL",
                       !weights ? "weights"
                       : !means ? "means"
                                : "covariances");
    for (int c = 0; c < C; c++) {
        if (!(weights[c] > 0) || !isfinite(weights[c]))
            return pf_fail(PF_ERR_ARG, "gmm: weights[%d] = %g must be > 0 and finite", c,
                           weights[c]);
        for (int i = 0; i < d; i++)
            if (!isfinite(means[(size_t)c * d + i]))
                return pf_fail(PF_ERR_ARG, "gmm: means[%d][%d] = %g is not finite", c, i,
                               means[(size_t)c * d + i]);
        PF_TRY(check_covariance(d, c, covariances + (size_t)c * d * d));
    }
    return PF_OK;
}

/* Fills g from validated input: Cholesky factors (a non-SPD covariance is
 * refused naming its component), log normalisers with the normalised log
 * weights folded in, cumulative weights. */
static pf_status gmm_fill(gmm *g, const double *weights, const double *means,
                          const double *covariances)
{
    const int d = g->d, C = g->C;
    double total = 0, cum = 0;
    for (int c = 0; c < C; c++)
        total += weights[c];
    memcpy(g->mean, means, (size_t)C * d * sizeof *means);
    memcpy(g->chol, covariances, (size_t)C * d * d * sizeof *covariances);
    for (int c = 0; c < C; c++) {
        char what[64];
        snprintf(what, sizeof what, "gmm: covariances[%d] (component %d)", c, c);
        double *L = g->chol + (size_t)c * d * d;
        PF_TRY(pf_cholesky(d, L, what));
        double log_det_half = 0; /* log det Σ_c / 2 = Σ_i log L_ii */
        for (int i = 0; i < d; i++)
            log_det_half += log(L[(size_t)i * d + i]);
        g->log_norm[c] = log(weights[c] / total) - 0.5 * d * LOG_2PI - log_det_half;
        cum += weights[c] / total;
        g->cum_weight[c] = cum;
    }
    g->cum_weight[C - 1] = 1.0;
    return PF_OK;
}

static pf_status gmm_alloc(gmm *g, int d, int C)
{
    const size_t c = (size_t)C;
    g->d = d;
    g->C = C;
    g->mean = pf_alloc_doubles(c * d, "gmm: means");
    g->chol = pf_alloc_doubles(c * d * d, "gmm: Cholesky factors");
    g->log_norm = pf_alloc_doubles(c, "gmm: normalisers");
    g->cum_weight = pf_alloc_doubles(c, "gmm: weights");
    return (g->mean && g->chol && g->log_norm && g->cum_weight) ? PF_OK : PF_ERR_NOMEM;
}

pf_status pf_target_gmm_create(int d, int n_components, const double *weights, const double *means,
                               const double *covariances, pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "gmm: out is NULL");
    *out = NULL;
    PF_TRY(check_gmm_input(d, n_components, weights, means, covariances));
    pf_target *t;
    PF_TRY(pf_target_alloc(&gmm_ops, d, &t));
    gmm *g = calloc(1, sizeof *g);
    t->content = g;
    pf_status st = g ? gmm_alloc(g, d, n_components) : pf_fail(PF_ERR_NOMEM, "gmm: no memory");
    if (st == PF_OK)
        st = gmm_fill(g, weights, means, covariances);
    if (st == PF_OK)
        st = pf_coordinate_names(t);
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    t->has_log_z = 1;
    t->log_z = 0.0;
    *out = t;
    return PF_OK;
}

/* ---- the paper's MGM: 2^d corners {−loc, +loc}^d, covariance scale·I, equal
 * weights. With equal weights and isotropic covariances the sum over corners
 * factorises: p(x) = Π_i [½N(x_i; −loc, s) + ½N(x_i; +loc, s)], so S and ∇S
 * cost O(d) per sample instead of O(2^d d). The general path above gives the
 * same numbers (a test). */
typedef struct mgm {
    double loc, scale; /* scale is the variance s */
} mgm;

/* One coordinate: log(½N(x; −m, s) + ½N(x; +m, s)); *derivative (if not NULL)
 * is its x-derivative. */
static double mgm_log_density_1d(const mgm *g, double x, double *derivative)
{
    double lo = -0.5 * (x + g->loc) * (x + g->loc) / g->scale;
    double hi = -0.5 * (x - g->loc) * (x - g->loc) / g->scale;
    double max = lo > hi ? lo : hi;
    double e_lo = exp(lo - max), e_hi = exp(hi - max);
    /* d/dx: responsibilities r_∓ = e_∓/(e_− + e_+) times −(x ± m)/s (docs/theory.md §5) */
    if (derivative)
        *derivative = -(e_lo * (x + g->loc) + e_hi * (x - g->loc)) / ((e_lo + e_hi) * g->scale);
    return max + log(0.5 * (e_lo + e_hi)) - 0.5 * LOG_2PI - 0.5 * log(g->scale);
}

/* x: B×d → S: B. */
static pf_status mgm_action(pf_target *t, int B, const double *x, double *S)
{
    const mgm *g = t->content;
    const int d = t->dim;
    for (int b = 0; b < B; b++) {
        double log_p = 0;
        for (int i = 0; i < d; i++)
            log_p += mgm_log_density_1d(g, x[(size_t)b * d + i], NULL);
        S[b] = -log_p;
    }
    return PF_OK;
}

/* docs/theory.md §5, factorised: ∂S/∂x_i = −∂/∂x_i log p_1d(x_i). x: B×d → force: B×d. */
static pf_status mgm_force(pf_target *t, int B, const double *x, double *force)
{
    const mgm *g = t->content;
    const size_t n = (size_t)B * t->dim;
    for (size_t i = 0; i < n; i++) {
        double derivative;
        mgm_log_density_1d(g, x[i], &derivative);
        force[i] = -derivative;
    }
    return PF_OK;
}

/* Per coordinate one uniform picks the sign (together: a uniformly chosen
 * corner), one normal the offset. rng → x: B×d. */
static pf_status mgm_sample(pf_target *t, pf_rng *rng, int B, double *x)
{
    const mgm *g = t->content;
    const size_t n = (size_t)B * t->dim;
    double *u = pf_target_scratch(t, n);
    if (!u)
        return PF_ERR_NOMEM;
    pf_rng_uniform(rng, n, u);
    pf_rng_normal(rng, n, x);
    const double sd = sqrt(g->scale);
    for (size_t i = 0; i < n; i++)
        x[i] = (u[i] < 0.5 ? -g->loc : g->loc) + sd * x[i];
    return PF_OK;
}

static void mgm_destroy(pf_target *t)
{
    free(t->content);
}

static const pf_target_ops mgm_ops = {
    .kind = "mgm",
    .action = mgm_action,
    .force = mgm_force,
    .sample = mgm_sample,
    .observables = pf_coordinate_observables,
    .summaries = pf_coordinate_summaries,
    .destroy = mgm_destroy,
};

pf_status pf_target_mgm_create(int d, double loc, double scale, pf_target **out)
{
    if (!out)
        return pf_fail(PF_ERR_ARG, "mgm: out is NULL");
    *out = NULL;
    if (d < 1 || d > MGM_MAX_DIM)
        return pf_fail(PF_ERR_ARG, "mgm: d = %d must be in [1, %d]", d, MGM_MAX_DIM);
    if (!isfinite(loc))
        return pf_fail(PF_ERR_ARG, "mgm: loc = %g must be finite", loc);
    if (!(scale > 0) || !isfinite(scale))
        return pf_fail(PF_ERR_ARG, "mgm: scale = %g must be a finite variance > 0", scale);
    pf_target *t;
    PF_TRY(pf_target_alloc(&mgm_ops, d, &t));
    mgm *g = malloc(sizeof *g);
    t->content = g;
    pf_status st = g ? pf_coordinate_names(t) : pf_fail(PF_ERR_NOMEM, "mgm: cannot allocate");
    if (st != PF_OK) {
        pf_target_destroy(t);
        return st;
    }
    g->loc = loc;
    g->scale = scale;
    t->has_log_z = 1;
    t->log_z = 0.0;
    *out = t;
    return PF_OK;
}
