/* `mpirun -np N pathflow bench --mpi [--quick] [--out DIR]`: data-parallel
 * scaling of one training step (reverse KL, path estimator, Adam included)
 * on every bench case.
 *
 * Strong scaling, measured: the same global batch on N processes and, in
 * interleaved rounds, on process 0 alone (the others wait), so both see the
 * same machine state; speed-up = median(1 process) / median(N processes).
 *
 * Weak scaling, projected (a model, not a measurement): each process keeps
 * b = B/N rows, so its compute time T_c = median(N processes) − T_ar(N) stays,
 * and the Allreduce of the P + 3 + N doubles of a step grows as
 *     T_ar(M) = 2·log2(M)·α + 2·(M−1)/M · 8P/β      (Rabenseifner: reduce-
 *                                                     scatter + allgather)
 * with α (latency) and β (bandwidth) fitted to the Allreduce times measured
 * here at N: a 1-double sum gives 2·log2(N)·α, a P-double sum then β. The
 * efficiency T_c / (T_c + T_ar(M)) is given for M processes with these
 * (intra-node) figures and with an assumed inter-node network (α = 2 µs,
 * β = 10 GB/s, about 100 Gb/s InfiniBand). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/train.h>

#include "bench/bench.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/linalg.h"

pf_status pf_make_directories(const char *path); /* src/experiment/run.c */

#define MAX_ROUNDS 64
#define ASSUMED_ALPHA 2e-6
#define ASSUMED_BETA 10e9

static void barrier(const pf_parallel *par)
{
    double v = 0;
    if (par->size > 1)
        par->sum(par->ctx, &v, 1);
}

/* Median seconds of a sum of n doubles over the processes. */
static double time_sum(const pf_parallel *par, double *buf, int n, int reps)
{
    double t[MAX_ROUNDS];
    if (par->size <= 1)
        return 0;
    reps = reps > MAX_ROUNDS ? MAX_ROUNDS : reps;
    barrier(par);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        par->sum(par->ctx, buf, n);
        t[r] = bench_now() - t0;
    }
    return bench_median(reps, t);
}

typedef struct scaling {
    double one, many;   /* median step seconds: 1 process, N processes */
    double ar, latency; /* median Allreduce seconds: the step's doubles, one double */
    size_t n_params;
} scaling;

static pf_train_options step_options(const bench_case *c)
{
    pf_train_options o = pf_train_options_default();
    o.objective = PF_OBJECTIVE_REVERSE;
    o.estimator = PF_ESTIMATOR_PATH;
    o.batch = c->batch;
    o.steps = 1000000;
    o.eval_every = 1000000;
    o.eval_samples = 1;
    o.n_holdout = 0;
    return o;
}

static pf_status measure(bench_case *c, const pf_parallel *par, int warmup, int rounds,
                         scaling *s)
{
    pf_train_options o = step_options(c);
    pf_trainer *many = NULL, *one = NULL;
    pf_status st = pf_trainer_create(c->flow, c->target, &o, &many);
    if (st == PF_OK && par->size > 1)
        st = pf_trainer_set_parallel(many, par);
    if (st == PF_OK && par->rank == 0)
        st = pf_trainer_create(c->flow, c->target, &o, &one);
    double t_many[MAX_ROUNDS], t_one[MAX_ROUNDS];
    for (int r = 0; st == PF_OK && r < warmup + rounds; r++) {
        barrier(par);
        double t0 = bench_now();
        st = pf_trainer_step(many, NULL, NULL);
        double t1 = bench_now();
        barrier(par);
        if (st == PF_OK && one)
            st = pf_trainer_step(one, NULL, NULL);
        double t2 = bench_now();
        if (r >= warmup) {
            t_many[r - warmup] = t1 - t0;
            t_one[r - warmup] = t2 - t1;
        }
    }
    s->n_params = pf_flow_n_params(c->flow);
    if (st == PF_OK) {
        s->many = bench_median(rounds, t_many);
        s->one = bench_median(rounds, t_one);
        const int n = (int)s->n_params + 3 + par->size;
        double *buf = calloc((size_t)n, sizeof *buf);
        s->ar = buf ? time_sum(par, buf, n, 30) : 0;
        s->latency = buf ? time_sum(par, buf, 1, 60) : 0;
        free(buf);
    }
    pf_trainer_destroy(many);
    pf_trainer_destroy(one);
    return st;
}

/* Allreduce seconds of P doubles on M processes under the model. */
static double model_ar(double alpha, double beta, size_t P, int M)
{
    return 2 * log2((double)M) * alpha + 2.0 * (M - 1) / M * 8.0 * (double)P / beta;
}

static void report(FILE *csv, const bench_case *c, const pf_parallel *par, const scaling *s)
{
    const int N = par->size;
    const double alpha = N > 1 ? s->latency / (2 * log2((double)N)) : ASSUMED_ALPHA;
    const double bw_time = s->ar - 2 * log2((double)N) * alpha;
    const double beta = N > 1 && bw_time > 0 ? 2.0 * (N - 1) / N * 8.0 * (double)s->n_params / bw_time
                                              : ASSUMED_BETA;
    const double t_c = s->many - s->ar;
    static const int M[] = {8, 64, 512, 4096};
    printf("| %s | %zu | %d | %.2f | %.2f | %.2f | %.3f | %.1f |", c->name, s->n_params, c->batch,
           1e3 * s->one, 1e3 * s->many, s->one / s->many, 1e3 * s->ar, 1e6 * s->latency);
    fprintf(csv, "%s,%zu,%d,%d,%.6g,%.6g,%.4f,%.6g,%.6g,%.6g,%.6g", c->name, s->n_params, c->batch,
            N, 1e3 * s->one, 1e3 * s->many, s->one / s->many, 1e3 * s->ar, 1e6 * s->latency,
            alpha * 1e6, beta * 1e-9);
    for (int k = 0; k < 4; k++) {
        double e_here = t_c / (t_c + model_ar(alpha, beta, s->n_params, M[k]));
        double e_net = t_c / (t_c + model_ar(ASSUMED_ALPHA, ASSUMED_BETA, s->n_params, M[k]));
        printf(" %.2f / %.2f |", e_here, e_net);
        fprintf(csv, ",%.4f,%.4f", e_here, e_net);
    }
    printf("\n");
    fprintf(csv, "\n");
}

int pf_bench_mpi_main(int argc, char **argv)
{
    int quick = 0;
    const char *dir = "runs/bench";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--mpi") != 0) {
            fprintf(stderr, "usage: mpirun -np N pathflow bench --mpi [--quick] [--out DIR]\n");
            return 2;
        }
    }
    pf_parallel par;
    if (pf_cli_parallel_begin(&par) != 0)
        return 1;
    const int root = par.rank == 0;
    FILE *csv = NULL;
    pf_status st = root ? pf_make_directories(dir) : PF_OK;
    char path[4400];
    snprintf(path, sizeof path, "%s/mpi_scaling.csv", dir);
    if (st == PF_OK && root && !(csv = fopen(path, "w")))
        st = pf_fail(PF_ERR_IO, "%s: cannot open for writing", path);
    if (pf_cli_parallel_any(&par, st != PF_OK)) {
        if (root)
            fprintf(stderr, "pathflow: %s\n", pf_last_error());
        pf_cli_parallel_end();
        return 3;
    }
    if (root) {
        printf("# pathflow bench --mpi%s: %d process%s, %d BLAS thread%s each\n\n"
               "One training step (reverse KL, path estimator, Adam), ms: medians over %d "
               "interleaved rounds of the global batch on 1 process and on %d. Allreduce: the "
               "step's P + 3 + N doubles, and 1 double (latency). Projected weak-scaling "
               "efficiency at M processes (b = B/%d rows each): fitted α, β of this machine / "
               "assumed network (α = 2 µs, β = 10 GB/s); model in bench/mpi_scaling.c.\n\n",
               quick ? " --quick" : "", par.size, par.size > 1 ? "es" : "", pf_blas_threads(),
               pf_blas_threads() > 1 ? "s" : "", quick ? 3 : 10, par.size, par.size);
        if (par.size == 1)
            printf("(one process: run under `mpirun -np 2` to measure the scaling)\n\n");
        printf("| case | P | B | 1 process ms | %d process%s ms | speed-up | Allreduce ms | "
               "latency µs | M = 8 | M = 64 | M = 512 | M = 4096 |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
               par.size, par.size > 1 ? "es" : "");
        fprintf(csv, "case,n_params,batch,processes,one_ms,many_ms,speedup,allreduce_ms,"
                     "latency_us,alpha_us,beta_GBps,eff8,eff8_net,eff64,eff64_net,eff512,"
                     "eff512_net,eff4096,eff4096_net\n");
    }
    bench_case cases[BENCH_MAX_CASES];
    int n = 0;
    st = bench_make_cases(quick, cases, &n);
    for (int i = 0; st == PF_OK && i < n; i++) {
        scaling s;
        st = measure(&cases[i], &par, quick ? 1 : 2, quick ? 3 : 10, &s);
        if (st == PF_OK && root)
            report(csv, &cases[i], &par, &s);
        fflush(stdout);
    }
    bench_free_cases(cases, n);
    if (csv)
        fclose(csv);
    if (root && st == PF_OK)
        printf("\nCSV: %s\n", path);
    else if (root)
        fprintf(stderr, "pathflow: %s\n", pf_last_error());
    pf_cli_parallel_end();
    return st == PF_OK ? 0 : 1;
}
