/* Tests for src/targets/gmm.c: force against finite differences (general and
 * MGM paths), the factorised MGM against the general mixture with explicit
 * corners, exact-sampler moments within 5 standard errors, normalisation by
 * quadrature, batched vs one-at-a-time evaluation, refusal of bad input. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

/* A random SPD covariance A Aᵀ + 0.3 I. cov: d×d. */
static void random_spd(uint64_t seed, int d, double *cov)
{
    double A[64];
    pft_fill_normal(seed, (size_t)d * d, A, 0.7);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = i == j ? 0.3 : 0.0;
            for (int k = 0; k < d; k++)
                s += A[i * d + k] * A[j * d + k];
            cov[i * d + j] = s;
        }
}

/* Random weights (not normalised), means and covariances. w: C, mu: C×d, cov: C×d×d. */
static pf_target *random_mixture(int d, int C, uint64_t seed, double *w, double *mu, double *cov)
{
    pft_fill_uniform(seed, (size_t)C, w, 0.2, 3.0);
    pft_fill_normal(seed + 1, (size_t)C * d, mu, 1.5);
    for (int c = 0; c < C; c++)
        random_spd(seed + 2 + c, d, cov + (size_t)c * d * d);
    pf_target *t;
    cr_assert_eq(pf_target_gmm_create(d, C, w, mu, cov, &t), PF_OK, "%s", pf_last_error());
    return t;
}

/* The 2^d corners {−loc, +loc}^d with covariance scale·I and equal weights,
 * written out explicitly for the general constructor. */
static pf_target *explicit_corners(int d, double loc, double scale)
{
    const int C = 1 << d;
    double *w = malloc(C * sizeof *w), *mu = malloc((size_t)C * d * sizeof *mu);
    double *cov = calloc((size_t)C * d * d, sizeof *cov);
    for (int c = 0; c < C; c++) {
        w[c] = 1;
        for (int i = 0; i < d; i++) {
            mu[c * d + i] = ((c >> i) & 1) ? loc : -loc;
            cov[(size_t)c * d * d + i * d + i] = scale;
        }
    }
    pf_target *t;
    cr_assert_eq(pf_target_gmm_create(d, C, w, mu, cov, &t), PF_OK, "%s", pf_last_error());
    free(w);
    free(mu);
    free(cov);
    return t;
}

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(ctx, 1, x, &S), PF_OK, "%s", pf_last_error());
    return S;
}

/* Worst (over B random points, x ~ scale·N(0, I)) relative error of the force
 * against fourth-order central differences of S. */
static double force_fd_error(pf_target *t, int B, uint64_t seed, double scale)
{
    const int d = pf_target_dim(t);
    double *x = malloc((size_t)B * d * sizeof *x), *F = malloc((size_t)B * d * sizeof *F);
    double *fd = malloc((size_t)d * sizeof *fd), worst = 0;
    pft_fill_normal(seed, (size_t)B * d, x, scale);
    cr_assert_eq(pf_target_force(t, B, x, F), PF_OK, "%s", pf_last_error());
    for (int b = 0; b < B; b++) {
        pft_fd_gradient(action_of, t, (size_t)d, x + (size_t)b * d, 1e-4, fd);
        worst = fmax(worst, pft_rel_err((size_t)d, F + (size_t)b * d, fd, 1e-6));
    }
    free(x);
    free(F);
    free(fd);
    return worst;
}

Test(gmm, force_matches_finite_differences_for_full_covariances_and_random_weights)
{
    double w[4], mu[12], cov[36];
    pf_target *t = random_mixture(3, 4, 11, w, mu, cov);
    double e = force_fd_error(t, 30, 5, 1.5);
    cr_log_info("gmm d=3 C=4: worst force FD rel err %.3g (tolerance 1e-6)", e);
    cr_assert_lt(e, 1e-6, "worst force rel err %.3g ≥ 1e-6", e);
    pf_target_destroy(t);
}

Test(gmm, mgm_force_matches_finite_differences_in_four_dimensions)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(4, 1.0, 0.5, &t), PF_OK, "%s", pf_last_error());
    double e = force_fd_error(t, 30, 6, 1.2);
    cr_log_info("mgm d=4: worst force FD rel err %.3g (tolerance 1e-6)", e);
    cr_assert_lt(e, 1e-6, "worst force rel err %.3g ≥ 1e-6", e);
    pf_target_destroy(t);
}

Test(gmm, general_mixture_of_sixteen_corners_matches_finite_differences)
{
    pf_target *t = explicit_corners(4, 1.0, 0.5);
    double e = force_fd_error(t, 30, 7, 1.2);
    cr_log_info("general path, 16 corners: worst force FD rel err %.3g (tolerance 1e-6)", e);
    cr_assert_lt(e, 1e-6, "worst force rel err %.3g ≥ 1e-6", e);
    pf_target_destroy(t);
}

Test(gmm, factorised_mgm_equals_the_general_mixture_with_explicit_corners)
{
    enum { d = 4, B = 40 };
    pf_target *general = explicit_corners(d, 1.3, 0.4), *mgm;
    cr_assert_eq(pf_target_mgm_create(d, 1.3, 0.4, &mgm), PF_OK, "%s", pf_last_error());
    double x[B * d], S1[B], S2[B], F1[B * d], F2[B * d];
    pft_fill_normal(9, B * d, x, 2.0);
    cr_assert_eq(pf_target_action(general, B, x, S1), PF_OK);
    cr_assert_eq(pf_target_action(mgm, B, x, S2), PF_OK);
    cr_assert_eq(pf_target_force(general, B, x, F1), PF_OK);
    cr_assert_eq(pf_target_force(mgm, B, x, F2), PF_OK);
    /* floor 1: S and ∇S are O(1) here; a force component that is 0 by
     * symmetry must not blow the relative error up */
    double eS = pft_max_rel_err(B, S1, S2, 1.0), eF = pft_max_rel_err(B * d, F1, F2, 1.0);
    cr_log_info("mgm vs general: S max rel err %.3g, force %.3g (tolerance 1e-12)", eS, eF);
    cr_assert_lt(eS, 1e-12, "S: max rel err %.3g", eS);
    cr_assert_lt(eF, 1e-12, "force: max rel err %.3g", eF);
    /* each reports the kind the configuration names */
    cr_assert_str_eq(pf_target_kind(general), "gmm");
    cr_assert_str_eq(pf_target_kind(mgm), "mgm");
    pf_target_destroy(general);
    pf_target_destroy(mgm);
}

/* Sample mean and covariance of N samples vs exact values, each within 5
 * standard errors. The covariance entries are means of the products
 * v = (x_i − m_i)(x_j − m_j) about the exact mean m, so E v = Σ_ij exactly and
 * the SE of each entry is the sample standard deviation of v over √N.
 * mean: d, cov: d×d. Returns the largest |z|. */
static double check_moments(pf_target *t, int N, const double *mean, const double *cov)
{
    const int d = pf_target_dim(t);
    double *x = malloc((size_t)N * d * sizeof *x), worst = 0;
    pf_rng rng = pf_rng_make(42, 0);
    cr_assert_eq(pf_target_sample(t, &rng, N, x), PF_OK, "%s", pf_last_error());
    for (int i = 0; i < d; i++) {
        double s = 0, s2 = 0;
        for (int n = 0; n < N; n++) {
            s += x[(size_t)n * d + i];
            s2 += x[(size_t)n * d + i] * x[(size_t)n * d + i];
        }
        double m = s / N, se = sqrt((s2 / N - m * m) / (N - 1)), z = (m - mean[i]) / se;
        cr_assert_lt(fabs(z), 5.0, "mean[%d] = %.5g, exact %.5g, z = %.2g", i, m, mean[i], z);
        worst = fmax(worst, fabs(z));
        for (int j = 0; j <= i; j++) {
            double p = 0, p2 = 0;
            for (int n = 0; n < N; n++) {
                double v = (x[(size_t)n * d + i] - mean[i]) * (x[(size_t)n * d + j] - mean[j]);
                p += v;
                p2 += v * v;
            }
            double c = p / N, cse = sqrt((p2 / N - c * c) / (N - 1));
            double cz = (c - cov[i * d + j]) / cse;
            cr_assert_lt(fabs(cz), 5.0, "cov[%d][%d] = %.5g, exact %.5g, z = %.2g", i, j, c,
                         cov[i * d + j], cz);
            worst = fmax(worst, fabs(cz));
        }
    }
    free(x);
    return worst;
}

Test(gmm, exact_sampler_moments_match_the_mixture_within_5_standard_errors)
{
    enum { d = 3, C = 4 };
    double w[C], mu[C * d], cov[C * d * d], mean[d] = {0}, total[d * d] = {0}, wsum = 0;
    pf_target *t = random_mixture(d, C, 21, w, mu, cov);
    for (int c = 0; c < C; c++)
        wsum += w[c];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < d; i++)
            mean[i] += w[c] / wsum * mu[c * d + i];
    for (int c = 0; c < C; c++) /* Σ_c w_c (Σ_c + μ_c μ_cᵀ) − mean meanᵀ */
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                total[i * d + j] +=
                    w[c] / wsum * (cov[(c * d + i) * d + j] + mu[c * d + i] * mu[c * d + j]);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            total[i * d + j] -= mean[i] * mean[j];
    double z = check_moments(t, 200000, mean, total);
    cr_log_info("gmm d=3 C=4 sampler: largest |z| of 9 moments %.2f (limit 5)", z);
    pf_target_destroy(t);
}

Test(gmm, mgm_sampler_moments_match_within_5_standard_errors)
{
    enum { d = 3 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    double mean[d] = {0}, cov[d * d] = {0};
    for (int i = 0; i < d; i++)
        cov[i * d + i] = 0.5 + 1.0 * 1.0; /* scale + loc² */
    double z = check_moments(t, 200000, mean, cov);
    cr_log_info("mgm d=3 sampler: largest |z| of 9 moments %.2f (limit 5)", z);
    pf_target_destroy(t);
}

Test(gmm, sampling_in_pieces_equals_sampling_at_once_from_the_same_cursor)
{
    enum { d = 3, C = 4, B = 12 };
    double w[C], mu[C * d], cov[C * d * d], once[B * d], pieces[B * d];
    pf_target *t = random_mixture(d, C, 31, w, mu, cov);
    pf_rng a = pf_rng_make(5, 3), b = pf_rng_make(5, 3);
    cr_assert_eq(pf_target_sample(t, &a, B, once), PF_OK);
    cr_assert_eq(pf_target_sample(t, &b, 5, pieces), PF_OK);
    cr_assert_eq(pf_target_sample(t, &b, B - 5, pieces + 5 * d), PF_OK);
    for (int i = 0; i < B * d; i++)
        cr_assert_eq(once[i], pieces[i], "entry %d: %.17g vs %.17g", i, once[i], pieces[i]);
    cr_assert_eq(pf_target_sample(t, &a, B, pieces), PF_OK); /* the cursor moved on */
    cr_assert_neq(once[0], pieces[0], "a second batch repeated the first");
    pf_target_destroy(t);
}

/* exp(−S) on a tensor grid, Simpson weights per axis: ∫ p over [lo, hi]^d,
 * d = 1 or 2, n odd points per axis. */
static double integrate(pf_target *t, double lo, double hi, int n)
{
    const int d = pf_target_dim(t), rows = d == 1 ? 1 : n;
    const double h = (hi - lo) / (n - 1);
    double *x = malloc((size_t)n * d * sizeof *x), *S = malloc(n * sizeof *S), sum = 0;
    for (int i = 0; i < rows; i++) {
        double wi = d == 1 ? 1 : (i == 0 || i == n - 1 ? 1 : (i % 2 ? 4 : 2)) * h / 3;
        for (int j = 0; j < n; j++) {
            x[(size_t)j * d] = lo + j * h;
            if (d == 2) {
                x[(size_t)j * d] = lo + i * h;
                x[(size_t)j * d + 1] = lo + j * h;
            }
        }
        cr_assert_eq(pf_target_action(t, n, x, S), PF_OK, "%s", pf_last_error());
        for (int j = 0; j < n; j++)
            sum += wi * (j == 0 || j == n - 1 ? 1 : (j % 2 ? 4 : 2)) * h / 3 * exp(-S[j]);
    }
    free(x);
    free(S);
    return sum;
}

Test(gmm, density_integrates_to_one_in_1d_and_2d)
{
    /* 1-D: σ ≤ 1.1, means in [−2, 3]: ±15 covers more than ±10σ */
    double w1[3] = {0.2, 0.5, 0.3}, mu1[3] = {-2, 0.5, 3}, cov1[3] = {0.3, 1.2, 0.6};
    pf_target *t1, *t2;
    cr_assert_eq(pf_target_gmm_create(1, 3, w1, mu1, cov1, &t1), PF_OK, "%s", pf_last_error());
    double i1 = integrate(t1, -15, 15, 4001);
    cr_log_info("1-D integral of exp(-S) − 1 = %+.2e (tolerance 1e-8)", i1 - 1);
    cr_assert_lt(fabs(i1 - 1), 1e-8, "1-D integral %.12f (tolerance 1e-8)", i1);

    /* 2-D: correlated covariances, largest σ ≈ 1.1: ±10 covers ±9σ */
    double w2[2] = {1, 2}, mu2[4] = {-1, 0.5, 1.5, -1};
    double cov2[8] = {0.5, 0.2, 0.2, 0.3, 1.0, -0.4, -0.4, 0.8};
    cr_assert_eq(pf_target_gmm_create(2, 2, w2, mu2, cov2, &t2), PF_OK, "%s", pf_last_error());
    double i2 = integrate(t2, -10, 10, 801);
    cr_log_info("2-D integral of exp(-S) − 1 = %+.2e (tolerance 1e-6)", i2 - 1);
    cr_assert_lt(fabs(i2 - 1), 1e-6, "2-D integral %.12f (tolerance 1e-6)", i2);
    double log_z = 1;
    cr_assert_eq(pf_target_log_z(t2, &log_z), PF_OK);
    cr_assert_eq(log_z, 0.0, "log Z = %g", log_z);
    pf_target_destroy(t1);
    pf_target_destroy(t2);
}

Test(gmm, batched_evaluation_equals_one_sample_at_a_time_as_the_scratch_grows)
{
    enum { d = 3, C = 4, B = 50 };
    double w[C], mu[C * d], cov[C * d * d], x[B * d], S[B], F[B * d], S1, F1[d];
    pf_target *t = random_mixture(d, C, 41, w, mu, cov);
    pft_fill_normal(42, B * d, x, 2.0);
    const int sizes[3] = {7, B, 3}; /* small, larger (scratch grows), smaller again */
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(pf_target_action(t, sizes[k], x, S), PF_OK);
        cr_assert_eq(pf_target_force(t, sizes[k], x, F), PF_OK);
        for (int b = 0; b < sizes[k]; b++) {
            cr_assert_eq(pf_target_action(t, 1, x + b * d, &S1), PF_OK);
            cr_assert_eq(pf_target_force(t, 1, x + b * d, F1), PF_OK);
            double eS = pft_max_rel_err(1, &S1, S + b, 1e-300);
            double eF = pft_max_rel_err(d, F1, F + b * d, 1e-12);
            cr_assert_lt(eS, 1e-13, "B = %d, sample %d: S rel err %.3g", sizes[k], b, eS);
            cr_assert_lt(eF, 1e-13, "B = %d, sample %d: force rel err %.3g", sizes[k], b, eF);
        }
    }
    pf_target_destroy(t);
}

Test(gmm, bad_weights_means_covariances_and_sizes_are_refused_naming_the_field)
{
    double w[2] = {1, -0.2}, mu[4] = {0, 0, 1, 1}, cov[8] = {1, 0, 0, 1, 1, 2, 2, 1};
    pf_target *t = (pf_target *)&t; /* must be reset to NULL on failure */
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_null(t);
    cr_assert_not_null(strstr(pf_last_error(), "weights[1] = -0.2"), "%s", pf_last_error());
    w[1] = 0.5; /* component 1: [[1, 2], [2, 1]] has eigenvalue −1 */
    pf_status st = pf_target_gmm_create(2, 2, w, mu, cov, &t);
    cr_assert(st == PF_ERR_NUMERIC || st == PF_ERR_ARG, "non-SPD gave %d", st);
    cr_assert_not_null(strstr(pf_last_error(), "covariances[1]"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "positive definite"), "%s", pf_last_error());
    cov[5] = 0.3; /* [0.. asymmetric: (0,1) = 0.3, (1,0) = 2 */
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "symmetric"), "%s", pf_last_error());
    cov[5] = 0.2;
    cov[6] = 0.2;
    mu[3] = NAN;
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "means[1][1]"), "%s", pf_last_error());
    mu[3] = 1;
    cr_assert_eq(pf_target_gmm_create(0, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "d = 0"), "%s", pf_last_error());
    cr_assert_eq(pf_target_gmm_create(2, 0, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "n_components"), "%s", pf_last_error());
    cr_assert_eq(pf_target_gmm_create(2, 2, w, NULL, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "means"), "%s", pf_last_error());
    cr_assert_eq(pf_target_mgm_create(2, 1.0, -0.5, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "scale"), "%s", pf_last_error());
    cr_assert_eq(pf_target_mgm_create(2, INFINITY, 0.5, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "loc"), "%s", pf_last_error());
    cr_assert_eq(pf_target_mgm_create(0, 1.0, 0.5, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "d = 0"), "%s", pf_last_error());
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_OK, "%s", pf_last_error());
    pf_target_destroy(t);
}

Test(gmm, batch_calls_refuse_bad_sizes_and_null_arrays_naming_the_argument)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &t), PF_OK);
    double x[2] = {0}, S, F[2], lz;
    pf_rng rng = pf_rng_make(1, 1);
    cr_assert_eq(pf_target_action(t, 0, x, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "B = 0"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "mgm target"), "%s", pf_last_error());
    cr_assert_eq(pf_target_force(t, 1, NULL, F), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "x is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_force(t, 1, x, NULL), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "force is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_sample(t, NULL, 1, x), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "rng is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_sample(t, &rng, -3, x), PF_ERR_ARG);
    cr_assert_eq(pf_target_action(NULL, 1, x, &S), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "target is NULL"), "%s", pf_last_error());
    cr_assert_eq(pf_target_log_z(t, NULL), PF_ERR_ARG);
    cr_assert_eq(pf_target_log_z(NULL, &lz), PF_ERR_ARG);
    cr_assert_eq(pf_target_has_sampler(t), 1);
    cr_assert_eq(pf_target_dim(NULL), 0);
    pf_target_destroy(t);
    pf_target_destroy(NULL);
}

Test(gmm, summaries_are_weighted_means_and_ignore_a_constant_shift_of_log_weights)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &t), PF_OK);
    double x[6] = {1, 2, 3, 4, 5, 6}, lw[3] = {0.1, -0.4, 0.9}, v[2], v_shift[2], plain[2];
    cr_assert_eq(pf_target_summaries(t, 3, x, NULL, plain), PF_OK);
    cr_assert_float_eq(plain[0], 3.0, 1e-15, "plain mean %.17g", plain[0]);
    cr_assert_float_eq(plain[1], 4.0, 1e-15, "plain mean %.17g", plain[1]);
    cr_assert_eq(pf_target_summaries(t, 3, x, lw, v), PF_OK);
    for (int i = 0; i < 3; i++)
        lw[i] += 800; /* exp(800) overflows: only the max-shift keeps this finite */
    cr_assert_eq(pf_target_summaries(t, 3, x, lw, v_shift), PF_OK, "%s", pf_last_error());
    double w0 = exp(0.1), w1 = exp(-0.4), w2 = exp(0.9), z = w0 + w1 + w2;
    cr_assert_float_eq(v[0], (1 * w0 + 3 * w1 + 5 * w2) / z, 1e-14, "%.17g", v[0]);
    cr_assert_float_eq(v[1], (2 * w0 + 4 * w1 + 6 * w2) / z, 1e-14, "%.17g", v[1]);
    /* (a + 800) − (b + 800) rounds at the 1e-13 level */
    cr_assert_float_eq(v_shift[0], v[0], 1e-12, "%.17g vs %.17g", v_shift[0], v[0]);
    lw[1] = -INFINITY; /* a zero weight is allowed */
    cr_assert_eq(pf_target_summaries(t, 3, x, lw, v), PF_OK, "%s", pf_last_error());
    cr_assert_float_eq(v[0], (1 * w0 + 5 * w2) / (w0 + w2), 1e-12, "%.17g", v[0]);
    lw[2] = NAN;
    cr_assert_eq(pf_target_summaries(t, 3, x, lw, v), PF_ERR_NUMERIC);
    cr_assert_not_null(strstr(pf_last_error(), "log_w[2]"), "%s", pf_last_error());
    cr_assert_str_eq(pf_target_summary_name(t, 1), "mean x[1]");
    cr_assert_str_eq(pf_target_observable_name(t, 0), "x[0]");
    cr_assert_null(pf_target_observable_name(t, 2));
    pf_target_destroy(t);
}
