/* Internal: thin wrappers over CBLAS/LAPACKE, row-major throughout. */
#ifndef PF_CORE_LINALG_H
#define PF_CORE_LINALG_H

#include <stddef.h>
#include <pathflow/pathflow.h>

/* C = alpha·op(A)·op(B) + beta·C, row-major; op(A) is M×K, op(B) is K×N, C is M×N.
 * trans_a/trans_b: 0 = as stored, 1 = transposed. lda/ldb/ldc are row strides. */
void pf_gemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A,
             int lda, const double *B, int ldb, double beta, double *C, int ldc);

/* y = alpha·op(A)·x + beta·y, A is M×N row-major. */
void pf_gemv(int trans_a, int M, int N, double alpha, const double *A, int lda,
             const double *x, double beta, double *y);

double pf_dot(int n, const double *x, const double *y);
/* Σ xᵢ² and Σ |xᵢ| over n values of any size (BLAS ddot / dasum, in pieces
 * of at most 2³⁰): the reductions over parameter vectors. */
double pf_sum_squares(size_t n, const double *x);
double pf_sum_abs(size_t n, const double *x);
void pf_axpy(int n, double alpha, const double *x, double *y);

/* Cholesky A = L Lᵀ in place (lower triangle holds L, upper is zeroed).
 * PF_ERR_NUMERIC if A is not positive definite; `what` names the matrix. */
pf_status pf_cholesky(int n, double *A, const char *what);

/* Solve X·Lᵀ = B for X in place (B is M×n row-major, L lower n×n): the rows
 * of X are L⁻¹ b for each row b. BLAS-3 (dtrsm). */
void pf_trsm_right_lower_t(int M, int n, const double *L, double *B);

/* Solve X·L = B for X in place (B is M×n, L lower n×n): the rows of X are
 * L⁻ᵀ b for each row b. BLAS-3 (dtrsm). */
void pf_trsm_right_lower(int M, int n, const double *L, double *B);

/* log|det A| and sign by LU (dgetrf), A n×n row-major, destroyed.
 * PF_ERR_NUMERIC if singular. */
pf_status pf_logdet_lu(int n, double *A, double *logabsdet, int *sign);

/* Floating-point operations issued through pf_gemm in this thread since the
 * start (2·M·N·K per call): the benchmarks' achieved-GFLOP/s figures. */
double pf_gemm_flops(void);

/* The shape of one pf_gemm call, as recorded by pf_gemm_record. */
typedef struct pf_gemm_shape {
    int trans_a, trans_b, M, N, K, lda, ldb, ldc;
    double beta;
} pf_gemm_shape;
/* Records the shapes of this thread's pf_gemm calls into buf (at most cap)
 * from now on; buf = NULL stops. pf_gemm_recorded: the calls since the start
 * (may exceed cap). The benchmark replays a step's products alone with them. */
void pf_gemm_record(pf_gemm_shape *buf, size_t cap);
size_t pf_gemm_recorded(void);

/* The most threads a product may use (OpenBLAS's count at the first product,
 * i.e. OPENBLAS_NUM_THREADS or the cores, or what pf_blas_set_threads set).
 * pf_gemm runs products below 4·10⁶ flops on one thread and larger ones on
 * all of them: a rule by size alone, so that runs are reproducible (linalg.c). */
int pf_blas_threads(void);
void pf_blas_set_threads(int n);
/* The thread count pf_gemm used for this thread's last product. */
int pf_gemm_last_threads(void);

#endif
