/* Tests for src/targets/gmm.c: force vs finite differences, the factorised
 * MGM vs the general mixture, exact sampler moments within 5 standard errors,
 * normalisation by quadrature, refusal of bad input. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "testutil.h"

/* A random SPD covariance A Aᵀ + 0.3 I (d×d). */
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

static pf_target *random_mixture(int d, int C, uint64_t seed, double *w, double *mu, double *cov)
{
    pft_fill_uniform(seed, (size_t)C, w, 0.2, 1.0);
    pft_fill_normal(seed + 1, (size_t)C * d, mu, 1.5);
    for (int c = 0; c < C; c++)
        random_spd(seed + 2 + c, d, cov + (size_t)c * d * d);
    pf_target *t;
    cr_assert_eq(pf_target_gmm_create(d, C, w, mu, cov, &t), PF_OK, "%s", pf_last_error());
    return t;
}

typedef struct one_sample {
    pf_target *t;
} one_sample;

static double action_of(void *ctx, const double *x)
{
    double S;
    cr_assert_eq(pf_target_action(((one_sample *)ctx)->t, 1, x, &S), PF_OK);
    return S;
}

/* Max relative error of the force against FD of S at B random points. */
static double force_fd_error(pf_target *t, int B, uint64_t seed, double scale)
{
    const int d = pf_target_dim(t);
    double *x = malloc((size_t)B * d * sizeof *x), *F = malloc((size_t)B * d * sizeof *F);
    double *fd = malloc((size_t)d * sizeof *fd), worst = 0;
    pft_fill_normal(seed, (size_t)B * d, x, scale);
    cr_assert_eq(pf_target_force(t, B, x, F), PF_OK, "%s", pf_last_error());
    one_sample ctx = {t};
    for (int b = 0; b < B; b++) {
        pft_fd_gradient(action_of, &ctx, (size_t)d, x + (size_t)b * d, 1e-4, fd);
        double e = pft_rel_err((size_t)d, F + (size_t)b * d, fd, 1e-6);
        worst = e > worst ? e : worst;
    }
    free(x);
    free(F);
    free(fd);
    return worst;
}

Test(gmm, force_matches_finite_differences_for_full_covariances)
{
    double w[4], mu[12], cov[36];
    pf_target *t = random_mixture(3, 4, 11, w, mu, cov);
    double e = force_fd_error(t, 20, 5, 1.5);
    cr_assert_lt(e, 1e-6, "worst force rel err %g", e);
    pf_target_destroy(t);
}

Test(gmm, mgm_force_matches_finite_differences)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(4, 1.0, 0.5, &t), PF_OK);
    double e = force_fd_error(t, 20, 6, 1.2);
    cr_assert_lt(e, 1e-6, "worst force rel err %g", e);
    pf_target_destroy(t);
}

Test(gmm, factorised_mgm_equals_the_general_mixture_with_explicit_corners)
{
    enum { d = 3, C = 8, B = 25 };
    double w[C], mu[C * d], cov[C * d * d] = {0};
    for (int c = 0; c < C; c++) {
        w[c] = 1;
        for (int i = 0; i < d; i++) {
            mu[c * d + i] = ((c >> i) & 1) ? 1.3 : -1.3;
            cov[c * d * d + i * d + i] = 0.4;
        }
    }
    pf_target *general, *mgm;
    cr_assert_eq(pf_target_gmm_create(d, C, w, mu, cov, &general), PF_OK);
    cr_assert_eq(pf_target_mgm_create(d, 1.3, 0.4, &mgm), PF_OK);
    double x[B * d], S1[B], S2[B], F1[B * d], F2[B * d];
    pft_fill_normal(9, B * d, x, 2.0);
    pf_target_action(general, B, x, S1);
    pf_target_action(mgm, B, x, S2);
    pf_target_force(general, B, x, F1);
    pf_target_force(mgm, B, x, F2);
    cr_assert_lt(pft_max_rel_err(B, S1, S2, 1e-12), 1e-12, "S");
    cr_assert_lt(pft_max_rel_err(B * d, F1, F2, 1e-12), 1e-11, "force: %g",
                 pft_max_rel_err(B * d, F1, F2, 1e-12));
    pf_target_destroy(general);
    pf_target_destroy(mgm);
}

/* Sample mean and covariance of N samples vs exact values, each within 5 SE
 * (SE of a covariance entry from the sample variance of the centred products). */
static void check_moments(pf_target *t, int N, const double *mean, const double *cov)
{
    const int d = pf_target_dim(t);
    double *x = malloc((size_t)N * d * sizeof *x);
    pf_rng rng = pf_rng_make(42, 0);
    cr_assert_eq(pf_target_sample(t, &rng, N, x), PF_OK);
    double worst = 0;
    for (int i = 0; i < d; i++) {
        double s = 0, s2 = 0;
        for (int n = 0; n < N; n++) {
            s += x[(size_t)n * d + i];
            s2 += x[(size_t)n * d + i] * x[(size_t)n * d + i];
        }
        double m = s / N, se = sqrt((s2 / N - m * m) / N), z = (m - mean[i]) / se;
        cr_assert_lt(fabs(z), 5.0, "mean[%d] = %g, exact %g, z = %g", i, m, mean[i], z);
        worst = fmax(worst, fabs(z));
        for (int j = 0; j <= i; j++) {
            double p = 0, p2 = 0;
            for (int n = 0; n < N; n++) {
                double v = (x[(size_t)n * d + i] - mean[i]) * (x[(size_t)n * d + j] - mean[j]);
                p += v;
                p2 += v * v;
            }
            double c = p / N, cse = sqrt((p2 / N - c * c) / N), cz = (c - cov[i * d + j]) / cse;
            cr_assert_lt(fabs(cz), 5.0, "cov[%d][%d] = %g, exact %g, z = %g", i, j, c,
                         cov[i * d + j], cz);
            worst = fmax(worst, fabs(cz));
        }
    }
    cr_log_info("largest |z| of %d moments: %.2f", d + d * (d + 1) / 2, worst);
    free(x);
}

Test(gmm, exact_sampler_moments_match_the_mixture_within_5_standard_errors)
{
    enum { d = 2, C = 3 };
    double w[C], mu[C * d], cov[C * d * d], mean[d] = {0}, total[d * d] = {0}, wsum = 0;
    pf_target *t = random_mixture(d, C, 21, w, mu, cov);
    for (int c = 0; c < C; c++)
        wsum += w[c];
    for (int c = 0; c < C; c++)
        for (int i = 0; i < d; i++)
            mean[i] += w[c] / wsum * mu[c * d + i];
    for (int c = 0; c < C; c++) /* Σ w_c (Σ_c + μ_c μ_cᵀ) − mean meanᵀ */
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                total[i * d + j] += w[c] / wsum * (cov[(c * d + i) * d + j] + mu[c * d + i] * mu[c * d + j]);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++)
            total[i * d + j] -= mean[i] * mean[j];
    check_moments(t, 200000, mean, total);
    pf_target_destroy(t);
}

Test(gmm, mgm_sampler_moments_match_within_5_standard_errors)
{
    enum { d = 3 };
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    double mean[d] = {0}, cov[d * d] = {0};
    for (int i = 0; i < d; i++)
        cov[i * d + i] = 0.5 + 1.0; /* scale + loc² */
    check_moments(t, 200000, mean, cov);
    pf_target_destroy(t);
}

Test(gmm, density_integrates_to_one_in_1d_and_2d)
{
    double w1[3] = {0.2, 0.5, 0.3}, mu1[3] = {-2, 0.5, 3}, cov1[3] = {0.3, 1.2, 0.6};
    pf_target *t1, *t2;
    cr_assert_eq(pf_target_gmm_create(1, 3, w1, mu1, cov1, &t1), PF_OK);
    enum { N1 = 4001 }; /* Simpson on [−15, 15] */
    double *x = malloc(N1 * sizeof *x), *S = malloc(N1 * sizeof *S), h = 30.0 / (N1 - 1), sum = 0;
    for (int i = 0; i < N1; i++)
        x[i] = -15 + i * h;
    pf_target_action(t1, N1, x, S);
    for (int i = 0; i < N1; i++)
        sum += (i == 0 || i == N1 - 1 ? 1 : (i % 2 ? 4 : 2)) * exp(-S[i]);
    double integral = sum * h / 3;
    cr_assert_float_eq(integral, 1.0, 1e-8, "1-D integral %.12f", integral);

    double w2[2] = {1, 2}, mu2[4] = {-1, 0.5, 1.5, -1}, cov2[8] = {0.5, 0.2, 0.2, 0.3, 1.0, -0.4, -0.4, 0.8};
    cr_assert_eq(pf_target_gmm_create(2, 2, w2, mu2, cov2, &t2), PF_OK);
    enum { N2 = 601 }; /* tensor trapezoid on [−9, 9]²: spectrally accurate for smooth decaying f */
    double h2 = 18.0 / (N2 - 1), *xy = malloc(2 * N2 * sizeof *xy), *S2 = malloc(N2 * sizeof *S2);
    double sum2 = 0;
    for (int i = 0; i < N2; i++) {
        for (int j = 0; j < N2; j++) {
            xy[2 * j] = -9 + i * h2;
            xy[2 * j + 1] = -9 + j * h2;
        }
        pf_target_action(t2, N2, xy, S2);
        for (int j = 0; j < N2; j++)
            sum2 += exp(-S2[j]);
    }
    double integral2 = sum2 * h2 * h2;
    cr_assert_float_eq(integral2, 1.0, 1e-6, "2-D integral %.12f", integral2);
    double log_z;
    cr_assert_eq(pf_target_log_z(t2, &log_z), PF_OK);
    cr_assert_eq(log_z, 0.0);
    free(x);
    free(S);
    free(xy);
    free(S2);
    pf_target_destroy(t1);
    pf_target_destroy(t2);
}

Test(gmm, bad_weights_covariances_and_sizes_are_refused_naming_the_field)
{
    double w[2] = {1, -0.2}, mu[4] = {0, 0, 1, 1}, cov[8] = {1, 0, 0, 1, 1, 2, 2, 1};
    pf_target *t;
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "weights[1]"), "%s", pf_last_error());
    w[1] = 0.5;
    cr_assert_neq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_OK);
    cr_assert_not_null(strstr(pf_last_error(), "covariances[1]"), "%s", pf_last_error());
    cov[5] = 0.3;
    cr_assert_eq(pf_target_gmm_create(2, 2, w, mu, cov, &t), PF_ERR_ARG, "asymmetric");
    cr_assert_eq(pf_target_gmm_create(0, 2, w, mu, cov, &t), PF_ERR_ARG);
    cr_assert_eq(pf_target_mgm_create(2, 1.0, -0.5, &t), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "scale"), "%s", pf_last_error());
}

Test(gmm, summaries_are_weighted_means_and_ignore_a_constant_shift_of_log_weights)
{
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &t), PF_OK);
    double x[6] = {1, 2, 3, 4, 5, 6}, lw[3] = {0.1, -0.4, 0.9}, v[2], v_shift[2], plain[2];
    cr_assert_eq(pf_target_summaries(t, 3, x, NULL, plain), PF_OK);
    cr_assert_float_eq(plain[0], 3.0, 1e-15);
    cr_assert_float_eq(plain[1], 4.0, 1e-15);
    pf_target_summaries(t, 3, x, lw, v);
    for (int i = 0; i < 3; i++)
        lw[i] += 500;
    pf_target_summaries(t, 3, x, lw, v_shift);
    double w0 = exp(0.1), w1 = exp(-0.4), w2 = exp(0.9), z = w0 + w1 + w2;
    cr_assert_float_eq(v[0], (1 * w0 + 3 * w1 + 5 * w2) / z, 1e-14);
    cr_assert_float_eq(v_shift[0], v[0], 1e-12); /* (a + 500) − (b + 500) rounds */
    cr_assert_str_eq(pf_target_summary_name(t, 1), "mean x[1]");
    cr_assert_eq(pf_target_action(t, 0, x, v), PF_ERR_ARG);
    cr_assert_not_null(strstr(pf_last_error(), "B = 0"), "%s", pf_last_error());
    pf_target_destroy(t);
}
