/* Tests for src/core/linalg.c against naive loops and exact references. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "core/linalg.h"
#include "testutil.h"

Test(linalg, gemm_matches_naive_loops_for_all_transpositions)
{
    enum { M = 5, N = 7, K = 3 };
    double A[M * K], B[K * N], C[M * N], ref[M * N];
    pft_fill_normal(1, M * K, A, 1);
    pft_fill_normal(2, K * N, B, 1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* op(A) is M×K: stored M×K (lda K) or K×M (lda M). */
            int lda = ta ? M : K, ldb = tb ? K : N;
            pft_fill_normal(3, M * N, C, 1);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++)
                        s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                    ref[i * N + j] = 2.0 * s + 0.5 * C[i * N + j];
                }
            pf_gemm(ta, tb, M, N, K, 2.0, A, lda, B, ldb, 0.5, C, N);
            cr_assert_lt(pft_max_rel_err(M * N, C, ref, 1e-300), 1e-14, "ta %d tb %d", ta, tb);
        }
}

Test(linalg, cholesky_factor_reproduces_the_matrix_and_refuses_indefinite_ones)
{
    enum { n = 4 };
    double G[n * n], A[n * n], L[n * n], back[n * n];
    pft_fill_normal(4, n * n, G, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = (i == j) ? 0.5 : 0.0;
            for (int k = 0; k < n; k++)
                s += G[i * n + k] * G[j * n + k];
            A[i * n + j] = s;
        }
    memcpy(L, A, sizeof A);
    cr_assert_eq(pf_cholesky(n, L, "A"), PF_OK);
    pf_gemm(0, 1, n, n, n, 1.0, L, n, L, n, 0.0, back, n);
    cr_assert_lt(pft_max_rel_err(n * n, back, A, 1e-12), 1e-13);
    double bad[4] = {1, 2, 2, 1};
    cr_assert_eq(pf_cholesky(2, bad, "covariance[3]"), PF_ERR_NUMERIC);
    cr_assert_not_null(strstr(pf_last_error(), "covariance[3]"), "%s", pf_last_error());
}

Test(linalg, triangular_solve_inverts_multiplication_by_the_factor)
{
    enum { n = 3, M = 6 };
    double L[n * n] = {2, 0, 0, -1, 1.5, 0, 0.3, 0.7, 0.9};
    double Y[M * n], X[M * n];
    pft_fill_normal(5, M * n, Y, 1);
    /* X rows = L y: then solving X Lᵀ... rows L⁻¹x must give back y. */
    for (int r = 0; r < M; r++)
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += L[i * n + k] * Y[r * n + k];
            X[r * n + i] = s;
        }
    pf_trsm_right_lower_t(M, n, L, X);
    cr_assert_lt(pft_max_rel_err(M * n, X, Y, 1e-12), 1e-14);
}

Test(linalg, log_determinant_and_sign_match_exact_values)
{
    double A[9] = {0, 2, 0, 3, 0, 0, 0, 0, -5}; /* det = −(2·3)·(−5) = 30 */
    double logabs;
    int sign;
    cr_assert_eq(pf_logdet_lu(3, A, &logabs, &sign), PF_OK);
    cr_assert_float_eq(logabs, log(30.0), 1e-14);
    cr_assert_eq(sign, 1);
    double B[4] = {1, 2, 3, 4}; /* det = −2 */
    cr_assert_eq(pf_logdet_lu(2, B, &logabs, &sign), PF_OK);
    cr_assert_float_eq(logabs, log(2.0), 1e-14);
    cr_assert_eq(sign, -1);
    double S[4] = {1, 2, 2, 4};
    cr_assert_eq(pf_logdet_lu(2, S, &logabs, &sign), PF_ERR_NUMERIC);
}

/* pf_gemm runs products below 4e6 flops on one thread and larger ones on all
 * the allowed threads, by size alone (so that runs are reproducible); every
 * result equals the naive loop, and repeating a product repeats its bits. */
Test(linalg, gemm_threads_follow_the_product_size_and_results_do_not_depend_on_them)
{
    enum { n = 160 }; /* 2·160³ = 8.2 MFLOP */
    static double A[n * n], B[n * n], C[n * n], C0[n * n], ref[n * n];
    pft_fill_normal(7, n * n, A, 1);
    pft_fill_normal(8, n * n, B, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += A[i * n + k] * B[k * n + j];
            ref[i * n + j] = s;
        }
    const int saved = pf_blas_threads();
    pf_blas_set_threads(2);
    cr_assert_eq(pf_blas_threads(), 2);
    for (int r = 0; r < 8; r++) {
        pf_gemm(0, 0, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
        cr_assert_eq(pf_gemm_last_threads(), 2, "product %d: a large product uses both threads", r);
        cr_assert_lt(pft_rel_err(n * n, C, ref, 1e-300), 1e-14, "product %d", r);
        if (r == 0)
            memcpy(C0, C, sizeof C);
        else
            cr_assert(memcmp(C, C0, sizeof C) == 0, "product %d differs from the first", r);
    }
    pf_gemm(0, 0, 20, 20, 20, 1.0, A, n, B, n, 0.0, C, n); /* 16 kFLOP */
    cr_assert_eq(pf_gemm_last_threads(), 1, "a small product runs on one thread");
    pf_blas_set_threads(1);
    pf_gemm(0, 0, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
    cr_assert_eq(pf_gemm_last_threads(), 1, "with one thread allowed, never more");
    pf_blas_set_threads(saved);
}

/* The parameter-vector reductions against long-double sums: Σ x² and Σ |x|
 * within 1e-14 relative (BLAS sums in another order), at lengths around the
 * vector widths and one of 10⁶ + 3. */
Test(linalg, sum_squares_and_sum_abs_match_long_double_sums)
{
    static const size_t lengths[] = {0, 1, 3, 8, 17, 1000003};
    double *x = malloc(1000003 * sizeof *x);
    cr_assert(x);
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        const size_t n = lengths[k];
        pft_fill_normal(40 + k, n, x, 1.5);
        long double sq = 0, ab = 0;
        for (size_t i = 0; i < n; i++)
            sq += (long double)x[i] * x[i], ab += fabsl((long double)x[i]);
        cr_assert_leq(fabsl(pf_sum_squares(n, x) - sq), 1e-14L * sq, "n = %zu", n);
        cr_assert_leq(fabsl(pf_sum_abs(n, x) - ab), 1e-14L * ab, "n = %zu", n);
    }
    free(x);
}

/* pf_gemm_record: every call's shape and beta in order while recording, the
 * count beyond the buffer's capacity, nothing after the stop; replaying a
 * recorded call on the same operands gives the same product. */
Test(linalg, gemm_record_lists_each_call_and_replays_to_the_same_products)
{
    double A[6 * 5], B[5 * 4], C[2][6 * 4] = {{0}}, R[2][6 * 4] = {{0}}, scratch[6 * 4] = {0};
    pft_fill_normal(41, 30, A, 1.0);
    pft_fill_normal(42, 20, B, 1.0);
    const double *a[2] = {A, B}, *b[2] = {B, A};
    pf_gemm_shape rec[2];
    pf_gemm_record(rec, 2);
    pf_gemm(0, 0, 6, 4, 5, 1.0, A, 5, B, 4, 0.0, C[0], 4);
    pf_gemm(1, 1, 4, 6, 5, 1.0, B, 4, A, 5, 0.5, C[1], 6);
    pf_gemm(0, 0, 2, 2, 2, 1.0, A, 5, B, 4, 1.0, scratch, 4); /* beyond the capacity: counted */
    cr_assert_eq(pf_gemm_recorded(), 3);
    pf_gemm_record(NULL, 0);
    pf_gemm(0, 0, 6, 4, 5, 1.0, A, 5, B, 4, 0.0, scratch, 4);
    cr_assert_eq(pf_gemm_recorded(), 0);
    const pf_gemm_shape want[2] = {{0, 0, 6, 4, 5, 5, 4, 4, 0.0}, {1, 1, 4, 6, 5, 4, 5, 6, 0.5}};
    for (int i = 0; i < 2; i++) {
        const pf_gemm_shape *g = &rec[i];
        cr_assert(g->trans_a == want[i].trans_a && g->trans_b == want[i].trans_b &&
                      g->M == want[i].M && g->N == want[i].N && g->K == want[i].K &&
                      g->lda == want[i].lda && g->ldb == want[i].ldb && g->ldc == want[i].ldc &&
                      g->beta == want[i].beta,
                  "call %d recorded wrongly", i);
        pf_gemm(g->trans_a, g->trans_b, g->M, g->N, g->K, 1.0, a[i], g->lda, b[i], g->ldb,
                g->beta, R[i], g->ldc);
        cr_assert(memcmp(R[i], C[i], sizeof R[i]) == 0, "replay of call %d", i);
    }
}
