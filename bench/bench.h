/* The benchmarks behind `pathflow bench` and `pathflow variance`. */
#ifndef PF_BENCH_BENCH_H
#define PF_BENCH_BENCH_H

#include <pathflow/estimator.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>

#define BENCH_MAX_CASES 8

typedef struct bench_case {
    char name[48];
    pf_target *target; /* owned */
    pf_flow *flow;     /* owned */
    int batch;
    int counts_flops;  /* coupling flows: achieved GFLOP/s is meaningful */
} bench_case;

pf_status bench_make_cases(int quick, bench_case *cases, int *n);

/* Monotonic seconds; the median of v[0..n) (sorts v). */
double bench_now(void);
double bench_median(int n, double *v);
void bench_free_cases(bench_case *cases, int n);

int pf_bench_main(int argc, char **argv);
/* `pathflow bench --mpi`: data-parallel scaling (mpi_scaling.c). */
int pf_bench_mpi_main(int argc, char **argv);
int pf_variance_main(int argc, char **argv);

#endif
