/* Row-major CBLAS/LAPACKE wrappers. */
#include "core/linalg.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "core/error.h"

static _Thread_local double gemm_flops;

double pf_gemm_flops(void) { return gemm_flops; }

static _Thread_local pf_gemm_shape *record_buf;
static _Thread_local size_t record_cap, record_n;

void pf_gemm_record(pf_gemm_shape *buf, size_t cap)
{
    record_buf = buf;
    record_cap = buf ? cap : 0;
    record_n = 0;
}

size_t pf_gemm_recorded(void) { return record_n; }

/* ---- threads per product --------------------------------------------------
 * OpenBLAS splits every product with M·N·K > 2.6·10⁵ over all its threads. On
 * a 2-core machine that costs more than it gains for most products of the
 * flows (measured 0.3–0.9× for 128×64×64 up to 256×256×256 while the other
 * core was busy), and an idle worker spins in sched_yield meanwhile. So
 * pf_gemm runs products below PARALLEL_MIN_FLOPS on one thread and larger
 * ones on all of them. The rule depends on the product's size alone, never on
 * a timing: OpenBLAS's results depend on its thread count, so a choice by
 * measured speed made two runs of the same configuration differ in the last
 * bits (and resumed runs differ from uninterrupted ones). Switching
 * OpenBLAS's count costs ~10 ns (measured). */
#define PARALLEL_MIN_FLOPS 4.0e6 /* ~100 µs on one core: below, synchronising dominates */

static _Thread_local int last_threads = 1;
static atomic_int max_threads; /* 0 until the first product or pf_blas_set_threads */

static int blas_max_threads(void)
{
    int n = atomic_load_explicit(&max_threads, memory_order_relaxed);
    if (n == 0) {
        n = openblas_get_num_threads();
        atomic_store_explicit(&max_threads, n > 0 ? n : 1, memory_order_relaxed);
    }
    return n > 0 ? n : 1;
}

int pf_gemm_last_threads(void) { return last_threads; }

void pf_gemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A,
             int lda, const double *B, int ldb, double beta, double *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
    const double flops = 2.0 * M * N * K;
    gemm_flops += flops;
    if (record_buf) {
        if (record_n < record_cap)
            record_buf[record_n] = (pf_gemm_shape){trans_a, trans_b, M, N, K, lda, ldb, ldc, beta};
        record_n++;
    }
    const int most = blas_max_threads(); /* read before this call changes OpenBLAS's count */
    last_threads = flops >= PARALLEL_MIN_FLOPS ? most : 1;
    openblas_set_num_threads(last_threads);
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void pf_gemv(int trans_a, int M, int N, double alpha, const double *A, int lda,
             const double *x, double beta, double *y)
{
    cblas_dgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1,
                beta, y, 1);
}

double pf_dot(int n, const double *x, const double *y) { return cblas_ddot(n, x, 1, y, 1); }

enum { BLAS_PIECE = 1 << 30 };

double pf_sum_squares(size_t n, const double *x)
{
    double s = 0;
    for (size_t i = 0; i < n; i += BLAS_PIECE) {
        const int m = (int)(n - i < BLAS_PIECE ? n - i : BLAS_PIECE);
        s += cblas_ddot(m, x + i, 1, x + i, 1);
    }
    return s;
}

double pf_sum_abs(size_t n, const double *x)
{
    double s = 0;
    for (size_t i = 0; i < n; i += BLAS_PIECE) {
        const int m = (int)(n - i < BLAS_PIECE ? n - i : BLAS_PIECE);
        s += cblas_dasum(m, x + i, 1);
    }
    return s;
}

void pf_axpy(int n, double alpha, const double *x, double *y)
{
    cblas_daxpy(n, alpha, x, 1, y, 1);
}

pf_status pf_cholesky(int n, double *A, const char *what)
{
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, A, n);
    if (info > 0)
        return pf_fail(PF_ERR_NUMERIC,
                       "%s: not positive definite (Cholesky fails at leading minor %d)", what,
                       (int)info);
    if (info < 0)
        return pf_fail(PF_ERR_ARG, "%s: dpotrf argument %d invalid", what, (int)-info);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            A[i * n + j] = 0.0;
    return PF_OK;
}

void pf_trsm_right_lower_t(int M, int n, const double *L, double *B)
{
    if (M == 0)
        return;
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, M, n, 1.0, L,
                n, B, n);
}

void pf_trsm_right_lower(int M, int n, const double *L, double *B)
{
    if (M == 0)
        return;
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, M, n, 1.0, L,
                n, B, n);
}

pf_status pf_logdet_lu(int n, double *A, double *logabsdet, int *sign)
{
    lapack_int *pivots = malloc((size_t)(n > 0 ? n : 1) * sizeof *pivots);
    if (!pivots)
        return pf_fail(PF_ERR_NOMEM, "logdet: cannot allocate %d pivots", n);
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, A, n, pivots);
    if (info != 0) {
        free(pivots);
        return pf_fail(info > 0 ? PF_ERR_NUMERIC : PF_ERR_ARG,
                       "logdet: LU factorisation failed (dgetrf info %d)", (int)info);
    }
    double sum = 0;
    int s = 1;
    for (int i = 0; i < n; i++) {
        double u = A[i * n + i];
        sum += log(fabs(u));
        if (u < 0)
            s = -s;
        if (pivots[i] != i + 1)
            s = -s;
    }
    free(pivots);
    *logabsdet = sum;
    *sign = s;
    return PF_OK;
}

int pf_blas_threads(void) { return blas_max_threads(); }

void pf_blas_set_threads(int n)
{
    n = n > 0 ? n : 1;
    atomic_store_explicit(&max_threads, n, memory_order_relaxed);
    openblas_set_num_threads(n);
}
