/* Gaussian mixture p(x) = Σ_c w_c N(x; μ_c, Σ_c), normalised: S = −log p,
 * log Z = 0. Full covariances through Cholesky factors Σ_c = L_c L_cᵀ; every
 * batched solve is one dtrsm over the batch (BLAS-3). MATH.md §5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/linalg.h"
#include "targets/target_impl.h"

typedef struct gmm {
    int d, C;
    double *log_weight; /* C: log w_c (normalised) */
    double *mean;       /* C×d */
    double *chol;       /* C×d×d: lower Cholesky factors L_c */
    double *log_norm;   /* C: log w_c − (d/2) log 2π − Σ_i log L_c,ii */
    double *cum_weight; /* C: cumulative weights for the sampler */
} gmm;

/* Scratch layout for a batch of B: diff (B×d), solve (B×d), log_dens (B×C). */
static double *scratch_for(pf_target *t, int B, double **diff, double **solve, double **log_dens)
{
    gmm *g = t->content;
    double *s = pf_target_scratch(t, (size_t)B * (2 * g->d + g->C));
    if (s) {
        *diff = s;
        *solve = s + (size_t)B * g->d;
        *log_dens = s + (size_t)2 * B * g->d;
    }
    return s;
}

/* Y = (X − μ_c) L_c⁻ᵀ: rows y_b = L_c⁻¹(x_b − μ_c). x, y: B×d. */
static void whiten(const gmm *g, int c, int B, const double *x, double *y)
{
    const int d = g->d;
    const double *mu = g->mean + (size_t)c * d;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < d; i++)
            y[(size_t)b * d + i] = x[(size_t)b * d + i] - mu[i];
    pf_trsm_right_lower_t(B, d, g->chol + (size_t)c * d * d, y);
}

/* log_dens (B×C): log w_c + log N(x_b; μ_c, Σ_c); returns log p in S (B). */
static void log_densities(const gmm *g, int B, const double *x, double *y, double *log_dens,
                          double *log_p)
{
    const int d = g->d, C = g->C;
    for (int c = 0; c < C; c++) {
        whiten(g, c, B, x, y);
        for (int b = 0; b < B; b++) {
            double sq = 0;
            for (int i = 0; i < d; i++)
                sq += y[(size_t)b * d + i] * y[(size_t)b * d + i];
            log_dens[(size_t)b * C + c] = g->log_norm[c] - 0.5 * sq;
        }
    }
    for (int b = 0; b < B; b++) { /* log-sum-exp over components */
        const double *row = log_dens + (size_t)b * C;
        double max = row[0], sum = 0;
        for (int c = 1; c < C; c++)
            max = row[c] > max ? row[c] : max;
        for (int c = 0; c < C; c++)
            sum += exp(row[c] - max);
        log_p[b] = max + log(sum);
    }
}

static pf_status gmm_action(pf_target *t, int B, const double *x, double *S)
{
    double *diff, *solve, *log_dens;
    if (!scratch_for(t, B, &diff, &solve, &log_dens))
        return PF_ERR_NOMEM;
    log_densities(t->content, B, x, solve, log_dens, S);
    for (int b = 0; b < B; b++)
        S[b] = -S[b];
    return PF_OK;
}

/* ∇S = −∇log p = Σ_c r_c Σ_c⁻¹(x − μ_c), r_c = softmax_c(log w_c + log N_c);
 * Σ_c⁻¹(x − μ_c) = L_c⁻ᵀ y with y = L_c⁻¹(x − μ_c): a second dtrsm. */
static pf_status gmm_force(pf_target *t, int B, const double *x, double *force)
{
    gmm *g = t->content;
    const int d = g->d, C = g->C;
    double *diff, *solve, *log_dens;
    if (!scratch_for(t, B, &diff, &solve, &log_dens))
        return PF_ERR_NOMEM;
    double *log_p = diff; /* B values; diff is free until the second pass */
    log_densities(g, B, x, solve, log_dens, log_p);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            log_dens[(size_t)b * C + c] = exp(log_dens[(size_t)b * C + c] - log_p[b]);
    memset(force, 0, (size_t)B * d * sizeof *force);
    for (int c = 0; c < C; c++) {
        whiten(g, c, B, x, solve);
        pf_trsm_right_lower(B, d, g->chol + (size_t)c * d * d, solve);
        for (int b = 0; b < B; b++) {
            double r = log_dens[(size_t)b * C + c];
            for (int i = 0; i < d; i++)
                force[(size_t)b * d + i] += r * solve[(size_t)b * d + i];
        }
    }
    return PF_OK;
}

/* One uniform picks the component, d normals ε give x = μ_c + L_c ε. x: B×d. */
static pf_status gmm_sample(pf_target *t, pf_rng *rng, int B, double *x)
{
    gmm *g = t->content;
    const int d = g->d;
    for (int b = 0; b < B; b++) {
        double u, eps[64];
        pf_rng_uniform(rng, 1, &u);
        int c = 0;
        while (c < g->C - 1 && u > g->cum_weight[c])
            c++;
        const double *L = g->chol + (size_t)c * d * d, *mu = g->mean + (size_t)c * d;
        double *xb = x + (size_t)b * d;
        pf_rng_normal(rng, (size_t)d, eps);
        for (int i = 0; i < d; i++) {
            double s = mu[i];
            for (int k = 0; k <= i; k++)
                s += L[i * d + k] * eps[k];
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
    free(g->log_weight);
    free(g->mean);
    free(g->chol);
    free(g->log_norm);
    free(g->cum_weight);
    free(g);
}

static const pf_target_ops gmm_ops = {"gmm",
                                      gmm_action,
                                      gmm_force,
                                      gmm_sample,
                                      pf_coordinate_observables,
                                      pf_coordinate_summaries,
                                      gmm_destroy};

static pf_status check_gmm_input(int d, int C, const double *weights, const double *means,
                                 const double *covariances)
{
    if (d < 1 || d > 64)
        return pf_fail(PF_ERR_ARG, "gmm: dim = %d outside [1, 64]", d);
    if (C < 1)
        return pf_fail(PF_ERR_ARG, "gmm: n_components = %d must be ≥ 1", C);
    if (!weights || !means || !covariances)
        return pf_fail(PF_ERR_ARG, "gmm: weights, means or covariances is NULL");
    for (int c = 0; c < C; c++) {
        if (!(weights[c] > 0) || !isfinite(weights[c]))
            return pf_fail(PF_ERR_ARG, "gmm: weights[%d] = %g must be > 0 and finite", c,
                           weights[c]);
        for (int i = 0; i < d; i++)
            if (!isfinite(means[(size_t)c * d + i]))
                return pf_fail(PF_ERR_ARG, "gmm: means[%d][%d] is not finite", c, i);
        for (int i = 0; i < d * d; i++) {
            const double *S = covariances + (size_t)c * d * d;
            if (!isfinite(S[i]) || S[i] != S[(i % d) * d + i / d])
                return pf_fail(PF_ERR_ARG, "gmm: covariances[%d] is not finite and symmetric "
                                           "(entry %d, %d)", c, i / d, i % d);
        }
    }
    return PF_OK;
}

/* Fills g from validated input: normalised log weights, Cholesky factors
 * (a non-SPD covariance is refused naming its component), log normalisers. */
static pf_status gmm_fill(gmm *g, const double *weights, const double *means,
                          const double *covariances)
{
    const int d = g->d, C = g->C;
    const double log_2pi = 1.8378770664093454835606594728112;
    double total = 0, cum = 0;
    for (int c = 0; c < C; c++)
        total += weights[c];
    memcpy(g->mean, means, (size_t)C * d * sizeof *means);
    memcpy(g->chol, covariances, (size_t)C * d * d * sizeof *covariances);
    for (int c = 0; c < C; c++) {
        char what[48];
        snprintf(what, sizeof what, "gmm: covariances[%d]", c);
        double *L = g->chol + (size_t)c * d * d;
        PF_TRY(pf_cholesky(d, L, what));
        double log_det_half = 0;
        for (int i = 0; i < d; i++)
            log_det_half += log(L[i * d + i]);
        g->log_weight[c] = log(weights[c] / total);
        g->log_norm[c] = g->log_weight[c] - 0.5 * d * log_2pi - log_det_half;
        cum += weights[c] / total;
        g->cum_weight[c] = cum;
    }
    g->cum_weight[C - 1] = 1.0;
    return PF_OK;
}

pf_status pf_target_gmm_create(int d, int n_components, const double *weights,
                               const double *means, const double *covariances, pf_target **out)
{
    *out = NULL;
    PF_TRY(check_gmm_input(d, n_components, weights, means, covariances));
    pf_target *t;
    PF_TRY(pf_target_alloc(&gmm_ops, d, &t));
    gmm *g = calloc(1, sizeof *g);
    t->content = g;
    const size_t C = (size_t)n_components;
    if (g) {
        g->d = d;
        g->C = n_components;
        g->log_weight = malloc(C * sizeof(double));
        g->mean = malloc(C * d * sizeof(double));
        g->chol = malloc(C * d * d * sizeof(double));
        g->log_norm = malloc(C * sizeof(double));
        g->cum_weight = malloc(C * sizeof(double));
    }
    pf_status st = (g && g->log_weight && g->mean && g->chol && g->log_norm && g->cum_weight)
                       ? PF_OK
                       : pf_fail(PF_ERR_NOMEM, "gmm: cannot allocate %zu components", C);
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
 * weights. With equal weights the sum over corners factorises into a product
 * of d one-dimensional mixtures ½N(x_i; −loc, s) + ½N(x_i; +loc, s), so S and
 * ∇S cost O(d) per sample instead of O(2^d d). The general path above gives
 * the same numbers (a test). */
typedef struct mgm {
    double loc, scale;
} mgm;

/* One coordinate: log(½N(x; −m, s) + ½N(x; m, s)) and its derivative. */
static double mgm_log_density_1d(const mgm *g, double x, double *derivative)
{
    const double log_2pi = 1.8378770664093454835606594728112;
    double a = -0.5 * (x + g->loc) * (x + g->loc) / g->scale;
    double b = -0.5 * (x - g->loc) * (x - g->loc) / g->scale;
    double max = a > b ? a : b;
    double ea = exp(a - max), eb = exp(b - max);
    if (derivative) /* responsibilities r_a, r_b times −(x ∓ m)/s */
        *derivative = -(ea * (x + g->loc) + eb * (x - g->loc)) / ((ea + eb) * g->scale);
    return max + log(0.5 * (ea + eb)) - 0.5 * log_2pi - 0.5 * log(g->scale);
}

static pf_status mgm_action(pf_target *t, int B, const double *x, double *S)
{
    const mgm *g = t->content;
    for (int b = 0; b < B; b++) {
        double log_p = 0;
        for (int i = 0; i < t->dim; i++)
            log_p += mgm_log_density_1d(g, x[(size_t)b * t->dim + i], NULL);
        S[b] = -log_p;
    }
    return PF_OK;
}

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

/* Per coordinate: one uniform picks the sign, one normal the offset. x: B×d. */
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

static void mgm_destroy(pf_target *t) { free(t->content); }

static const pf_target_ops mgm_ops = {"gmm",
                                      mgm_action,
                                      mgm_force,
                                      mgm_sample,
                                      pf_coordinate_observables,
                                      pf_coordinate_summaries,
                                      mgm_destroy};

pf_status pf_target_mgm_create(int d, double loc, double scale, pf_target **out)
{
    *out = NULL;
    if (d < 1 || d > 100000)
        return pf_fail(PF_ERR_ARG, "mgm: dim = %d outside [1, 100000]", d);
    if (!(scale > 0) || !isfinite(scale) || !isfinite(loc))
        return pf_fail(PF_ERR_ARG, "mgm: scale = %g must be a finite variance > 0, loc finite",
                       scale);
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
