/* `pathflow bench [--quick] [--out DIR]`: the wall time of one full gradient
 * step (sampling included, optimiser excluded) for each case and estimator,
 * measured interleaved in one run (so drift cancels), with ratios to the
 * standard estimator of the same objective, achieved GEMM GFLOP/s against
 * the machine's own DGEMM rate measured just before and after the case (rows
 * whose spread says the machine was busy are flagged), peak memory and, for
 * CNFs, RHS evaluations.
 * Markdown on stdout, bench.csv and bench.png (gnuplot) in DIR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/linalg.h"
#include "core/vmath.h"
#include "core/workspace.h"

pf_status pf_make_directories(const char *path); /* src/experiment/run.c */

#define N_EST 6
static const pf_objective OBJ[N_EST] = {PF_OBJECTIVE_REVERSE, PF_OBJECTIVE_REVERSE,
                                        PF_OBJECTIVE_REVERSE, PF_OBJECTIVE_FORWARD,
                                        PF_OBJECTIVE_FORWARD, PF_OBJECTIVE_FORWARD};
static const pf_estimator_kind KIND[N_EST] = {PF_ESTIMATOR_TOTAL,       PF_ESTIMATOR_PATH,
                                              PF_ESTIMATOR_PATH_DROPIN, PF_ESTIMATOR_ML,
                                              PF_ESTIMATOR_PATH,        PF_ESTIMATOR_PATH_DROPIN};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(int n, double *v)
{
    qsort(v, (size_t)n, sizeof *v, compare);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* DGEMM GFLOP/s through the same BLAS and thread policy (pf_gemm): the median
 * of 5 n×n products after 3 unmeasured ones (which also settle pf_gemm's
 * choice of threads for this size). Measured before and after every case, so
 * that each case is compared with the rate the machine gave at that time. */
static double dgemm_ceiling(int n)
{
    double *A = pf_alloc_doubles((size_t)n * n, "bench"),
           *B = pf_alloc_doubles((size_t)n * n, "bench");
    double *C = pf_alloc_doubles((size_t)n * n, "bench"), t[5];
    if (!A || !B || !C) {
        pf_free(A);
        pf_free(B);
        pf_free(C);
        return NAN;
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        A[i] = B[i] = 1.0 / (1.0 + (double)(i % 97));
    for (int r = 0; r < 3; r++)
        pf_gemm(0, 0, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        pf_gemm(0, 0, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
        t[r] = bench_now() - t0;
    }
    pf_free(A);
    pf_free(B);
    pf_free(C);
    return 2.0 * n * n * n / bench_median(5, t) * 1e-9;
}

typedef struct measurement {
    double seconds[64], flops, nfe_f, nfe_b, steps_f, steps_b;
    double gemm_only_ms; /* the step's products replayed alone (NAN: not measured) */
    int n;
} measurement;

/* One gradient step of estimator e (sampling included) into m. */
static pf_status time_step(bench_case *c, pf_estimator *e, int k, uint64_t step, const double *data,
                           double *input, double *grad, measurement *m)
{
    const int B = c->batch, d = pf_flow_dim(c->flow);
    const pf_ode_stats *ode = pf_flow_ode_stats(c->flow);
    long f0 = ode ? ode->rhs_evals : 0, b0 = ode ? ode->rhs_evals_b : 0;
    long s0 = ode ? ode->steps : 0, sb0 = ode ? ode->steps_b : 0;
    double flops0 = pf_gemm_flops(), t0 = bench_now();
    pf_rng rng = pf_rng_make(7, step);
    if (OBJ[k] == PF_OBJECTIVE_REVERSE)
        pf_flow_sample_base(c->flow, &rng, B, input);
    else if (pf_target_has_sampler(c->target))
        PF_TRY(pf_target_sample(c->target, &rng, B, input));
    else
        memcpy(input, data, (size_t)B * d * sizeof *input);
    pf_estimate r;
    pf_status st = pf_estimator_eval(e, B, input, grad, NULL, &r);
    m->seconds[m->n++] = bench_now() - t0;
    m->flops = pf_gemm_flops() - flops0;
    if (ode) {
        m->nfe_f = (double)(ode->rhs_evals - f0);
        m->nfe_b = (double)(ode->rhs_evals_b - b0);
        m->steps_f = (double)(ode->steps - s0);
        m->steps_b = (double)(ode->steps_b - sb0);
    }
    return st == PF_ERR_NUMERIC ? PF_OK : st; /* a random flow may give a non-finite step */
}

/* The step's own products alone: the pf_gemm calls of one step of e are
 * recorded and replayed in order on scratch operands that stay warm in the
 * cache, the same thread rule, the minimum over `reps` replays. No
 * implementation of the step on this BLAS can be faster; median / this is
 * what the rest of the step (element-wise work, sampling, copies) costs. */
static pf_status gemm_only(bench_case *c, pf_estimator *e, int k, const double *data,
                           double *input, double *grad, int reps, double *ms)
{
    enum { CAP = 4096 };
    *ms = NAN;
    pf_gemm_shape *calls = malloc(CAP * sizeof *calls);
    if (!calls)
        return pf_fail(PF_ERR_NOMEM, "bench: cannot allocate the GEMM record");
    measurement scratch;
    memset(&scratch, 0, sizeof scratch);
    pf_gemm_record(calls, CAP);
    pf_status st = time_step(c, e, k, 1u << 20, data, input, grad, &scratch);
    const size_t n = pf_gemm_recorded();
    pf_gemm_record(NULL, 0);
    size_t na = 1, nb = 1, nc = 1;
    for (size_t i = 0; i < n && i < CAP; i++) {
        const pf_gemm_shape *g = &calls[i];
        const size_t a = (size_t)(g->trans_a ? g->K : g->M) * g->lda,
                     b = (size_t)(g->trans_b ? g->N : g->K) * g->ldb, cc = (size_t)g->M * g->ldc;
        na = a > na ? a : na;
        nb = b > nb ? b : nb;
        nc = cc > nc ? cc : nc;
    }
    double *A = pf_alloc_doubles(na, "bench"), *B = pf_alloc_doubles(nb, "bench"),
           *C = pf_alloc_doubles(nc, "bench");
    if (st == PF_OK && n > 0 && n <= CAP && A && B && C) {
        for (size_t i = 0; i < na; i++)
            A[i] = 1e-3 * (double)(i % 7);
        for (size_t i = 0; i < nb; i++)
            B[i] = 1e-3 * (double)(i % 5);
        double best = INFINITY;
        for (int r = 0; r < reps; r++) {
            const double t0 = bench_now();
            for (size_t i = 0; i < n; i++) {
                const pf_gemm_shape *g = &calls[i];
                pf_gemm(g->trans_a, g->trans_b, g->M, g->N, g->K, 1.0, A, g->lda, B, g->ldb,
                        g->beta, C, g->ldc);
            }
            best = fmin(best, bench_now() - t0);
        }
        *ms = 1e3 * best;
    }
    pf_free(A);
    pf_free(B);
    pf_free(C);
    free(calls);
    return st;
}

/* Forward-KL data for targets without a sampler: flow samples (any do for timing). */
static pf_status make_data(bench_case *c, double *data, double *scratch)
{
    const int B = c->batch;
    double ldj[4096];
    pf_rng rng = pf_rng_make(3, 3);
    pf_flow_sample_base(c->flow, &rng, B, scratch);
    return pf_flow_forward(c->flow, B, scratch, data, ldj, NULL, NULL);
}

/* All six estimators of one case, interleaved over `rounds` after `warmup`. */
static pf_status measure_case(bench_case *c, int warmup, int rounds, measurement *m)
{
    const int B = c->batch, d = pf_flow_dim(c->flow);
    pf_estimator *est[N_EST] = {0};
    double *input = pf_alloc_doubles((size_t)B * d, "bench"),
           *data = pf_alloc_doubles((size_t)B * d, "bench");
    double *grad = pf_alloc_doubles(pf_flow_n_params(c->flow), "bench");
    pf_status st = (input && data && grad) ? PF_OK : PF_ERR_NOMEM;
    for (int k = 0; st == PF_OK && k < N_EST; k++)
        st = pf_estimator_create(OBJ[k], KIND[k], c->flow, c->target, B, &est[k]);
    if (st == PF_OK)
        st = make_data(c, data, input);
    memset(m, 0, N_EST * sizeof *m);
    for (int r = 0; st == PF_OK && r < warmup + rounds; r++)
        for (int k = 0; st == PF_OK && k < N_EST; k++) {
            st = time_step(c, est[k], k, (uint64_t)r, data, input, grad, &m[k]);
            if (r < warmup)
                m[k].n = 0;
        }
    for (int k = 0; k < N_EST; k++)
        m[k].gemm_only_ms = NAN;
    for (int k = 0; st == PF_OK && c->counts_flops && k < N_EST; k++)
        st = gemm_only(c, est[k], k, data, input, grad, rounds, &m[k].gemm_only_ms);
    for (int k = 0; k < N_EST; k++)
        pf_estimator_destroy(est[k]);
    pf_free(input);
    pf_free(data);
    pf_free(grad);
    return st;
}

/* Peak resident memory of this case: /proc/self/status VmHWM after resetting
 * it (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0) before the case; the
 * process-wide getrusage peak where /proc is not available. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            fclose(f);
            return atof(line + 6) / 1024.0;
        }
    if (f)
        fclose(f);
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

/* A row is flagged "busy" when its timings say the machine was not ours alone:
 * median > BUSY_SPREAD × minimum, or the DGEMM ceilings before and after the
 * case differ by more than BUSY_CEILING_DRIFT (relative to the larger). */
#define BUSY_SPREAD 2.0
#define BUSY_CEILING_DRIFT 0.25

/* One table row per estimator. ceiling[0..1]: DGEMM GFLOP/s before and after
 * the case; the case's GEMM rate is reported against their mean. */
static void report_case(FILE *csv, const bench_case *c, measurement *m, const double ceiling[2])
{
    double med[N_EST], mins[N_EST];
    for (int k = 0; k < N_EST; k++) {
        double sorted[64];
        memcpy(sorted, m[k].seconds, (size_t)m[k].n * sizeof *sorted);
        med[k] = 1e3 * bench_median(m[k].n, sorted);
        mins[k] = 1e3 * sorted[0];
    }
    const double adjacent = 0.5 * (ceiling[0] + ceiling[1]);
    const int drifted =
        fabs(ceiling[0] - ceiling[1]) > BUSY_CEILING_DRIFT * fmax(ceiling[0], ceiling[1]);
    for (int k = 0; k < N_EST; k++) {
        double ratio = med[k] / med[k < 3 ? 0 : 3], gflops = m[k].flops / (med[k] * 1e-3) * 1e-9;
        char flop_cell[64] = "", nfe_cell[128] = "", ratio_cell[96];
        /* a median far above its minimum means a noisy machine: then the
         * ratio of minima (noise only adds time), and say so */
        const int base = k < 3 ? 0 : 3;
        const double spread = fmax(med[k] / mins[k], med[base] / mins[base]);
        if (spread > 2)
            snprintf(ratio_cell, sizeof ratio_cell, "%.2f by minima (noisy: a median is %.1fx its "
                     "minimum)", mins[k] / mins[base], spread);
        else
            snprintf(ratio_cell, sizeof ratio_cell, "%.2f", ratio);
        const int busy = drifted || med[k] > BUSY_SPREAD * mins[k];
        char floor_cell[64] = "";
        if (c->counts_flops) {
            snprintf(flop_cell, sizeof flop_cell, "%.2f (%.0f%%)", gflops, 100 * gflops / adjacent);
            snprintf(floor_cell, sizeof floor_cell, "%.3f (%.0f%%)", m[k].gemm_only_ms,
                     100 * m[k].gemm_only_ms / med[k]);
        }
        if (pf_flow_ode_stats(c->flow))
            snprintf(nfe_cell, sizeof nfe_cell, "%.0f / %.0f (%.0f / %.0f steps; %.1f / %.1f per solver step)",
                     m[k].nfe_f, m[k].nfe_b, m[k].steps_f, m[k].steps_b,
                     m[k].nfe_f / fmax(m[k].steps_f, 1), m[k].nfe_b / fmax(m[k].steps_b, 1));
        printf("| %s | %s | %s | %.3f | %.3f | %s | %s | %s | %.1f / %.1f | %s | %.0f | %s |\n",
               c->name, pf_objective_name(OBJ[k]), pf_estimator_kind_name(KIND[k]), med[k], mins[k],
               ratio_cell, flop_cell, floor_cell, ceiling[0], ceiling[1], nfe_cell, peak_rss_mb(),
               busy ? "busy" : "");
        fprintf(
            csv, "%s,%s,%s,%.6g,%.6g,%.4f,%.4g,%.4g,%.4g,%.4g,%.4g,%.4g,%.4g,%.4g,%.1f,%d,%zu,%.6g\n",
            c->name, pf_objective_name(OBJ[k]), pf_estimator_kind_name(KIND[k]), med[k], mins[k],
            ratio, c->counts_flops ? gflops : NAN, c->counts_flops ? gflops / adjacent : NAN,
            ceiling[0], ceiling[1], pf_flow_ode_stats(c->flow) ? m[k].nfe_f : NAN,
            pf_flow_ode_stats(c->flow) ? m[k].nfe_b : NAN,
            pf_flow_ode_stats(c->flow) ? m[k].steps_f : NAN,
            pf_flow_ode_stats(c->flow) ? m[k].steps_b : NAN, peak_rss_mb(), busy,
            pf_flow_n_params(c->flow), m[k].gemm_only_ms);
    }
    fflush(stdout);
}

/* bench.png: time relative to the standard estimator, per case (gnuplot). */
static void plot(const char *dir)
{
    char script[4400];
    snprintf(script, sizeof script, "%s/bench.gp", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        return;
    fputs("set terminal pngcairo size 1200,600 noenhanced\nset output 'bench.png'\n"
          "set style data histograms\nset style histogram cluster gap 1\n"
          "set style fill solid border -1\n"
          "set ylabel 'wall time of a step / that of the standard estimator'\n"
          "set title 'Cost of one gradient step relative to total (reverse KL) or ml "
          "(forward KL); medians'\n"
          "set xtics rotate by -25 left font ',10'\nset bmargin 7\n"
          "set key below horizontal\nset grid ytics\nset yrange [0:*]\n"
          "plot 'bench_ratios.dat' using 2:xtic(1) title 'reverse total', '' using 3 title "
          "'reverse path', '' using 4 title 'reverse path-dropin', '' using 5 title "
          "'forward ml', '' using 6 title 'forward path', '' using 7 title "
          "'forward path-dropin'\n",
          f);
    fclose(f);
    if (!pf_cli_gnuplot(dir, "bench.gp", NULL))
        fprintf(stderr, "pathflow bench: gnuplot failed; no bench.png\n");
}

typedef struct bench_options {
    int quick, rounds, threads;
    const char *dir, *only; /* only: run the cases whose name contains it (NULL: all) */
} bench_options;

static int usage(const char *problem)
{
    if (problem)
        fprintf(stderr, "pathflow bench: %s\n", problem);
    fprintf(stderr, "usage: pathflow bench [--quick] [--out DIR] [--case NAME] [--rounds N]\n"
                    "                      [--threads N] [--simd scalar|avx2|avx512]\n"
                    "       mpirun -np N pathflow bench --mpi [--quick] [--out DIR]\n");
    return 2;
}

/* A whole number in [lo, hi] from `text` of option `name`, or -1 with a message. */
static int parse_count(const char *name, const char *text, int lo, int hi)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "pathflow bench: %s '%s' is not a whole number in [%d, %d]\n", name, text,
                lo, hi);
        return -1;
    }
    return (int)v;
}

/* 0 on success, else the exit status. */
static int parse_options(int argc, char **argv, bench_options *o)
{
    *o = (bench_options){0, 0, 0, "runs/bench", NULL};
    for (int i = 1; i < argc; i++) {
        const int has_value = i + 1 < argc;
        if (strcmp(argv[i], "--quick") == 0)
            o->quick = 1;
        else if (strcmp(argv[i], "--out") == 0 && has_value)
            o->dir = argv[++i];
        else if (strcmp(argv[i], "--case") == 0 && has_value)
            o->only = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && has_value) {
            if ((o->rounds = parse_count("--rounds", argv[++i], 1, 60)) < 0)
                return 2;
        } else if (strcmp(argv[i], "--threads") == 0 && has_value) {
            if ((o->threads = parse_count("--threads", argv[++i], 1, 1024)) < 0)
                return 2;
        } else if (strcmp(argv[i], "--simd") == 0 && has_value) {
            const char *want = argv[++i];
            int found = -1;
            for (int level = PF_SIMD_SCALAR; level <= PF_SIMD_AVX512; level++)
                if (strcmp(want, pf_simd_name((pf_simd)level)) == 0)
                    found = level;
            if (found < 0)
                return usage("--simd takes scalar, avx2 or avx512");
            if (pf_simd_use((pf_simd)found) != (pf_simd)found)
                fprintf(stderr, "pathflow bench: this CPU has no %s; using %s\n", want,
                        pf_simd_name(pf_simd_active()));
        } else
            return usage(NULL);
    }
    if (o->rounds == 0)
        o->rounds = o->quick ? 3 : 10;
    if (o->threads > 0)
        pf_blas_set_threads(o->threads);
    return 0;
}

static void print_header(const bench_options *o)
{
    printf(
        "# pathflow bench%s\n\nBLAS threads: up to %d (products below 4 MFLOP on one, larger "
        "ones on all; CNN layers of at most 16 channels by direct single-threaded kernels); "
        "activations: %s. Times in ms per gradient step "
        "(sampling included, optimiser excluded), medians and minima over %d interleaved "
        "rounds; ratio = median / median of the standard estimator (total for reverse, ml for "
        "forward) in the same run. DGEMM GFLOP/s through the same BLAS measured before / after "
        "each case; a case's GEMM rate is given against their mean. GEMM-only: the step's own "
        "products replayed alone on warm operands (the fastest of the rounds), a floor for any "
        "implementation on this BLAS. busy: median > %.0f× "
        "minimum or the two DGEMM rates differ by > %.0f%% (the machine was not ours alone).\n\n",
        o->quick ? " --quick" : "", pf_blas_threads(), pf_simd_name(pf_simd_active()), o->rounds,
        BUSY_SPREAD, 100 * BUSY_CEILING_DRIFT);
    printf("| case | objective | estimator | median ms | min ms | ratio | GEMM GFLOP/s (of DGEMM) "
           "| GEMM-only ms (of median) | DGEMM before / after | RHS evals fwd / adjoint per step "
           "| peak RSS MB of the case | flag |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
}

/* One case: measure, report, append its ratios. */
static pf_status run_case(const bench_options *o, bench_case *c, FILE *csv, FILE *ratios)
{
    measurement m[N_EST];
    double ceiling[2];
    const int n = o->quick ? 256 : 512;
    ceiling[0] = dgemm_ceiling(n);
    reset_peak_rss();
    PF_TRY(measure_case(c, o->quick ? 1 : 2, o->rounds, m));
    ceiling[1] = dgemm_ceiling(n);
    report_case(csv, c, m, ceiling);
    fprintf(ratios, "\"%s\"", c->name);
    double base[2] = {0, 0};
    for (int k = 0; k < N_EST; k++) {
        double sorted[64];
        memcpy(sorted, m[k].seconds, (size_t)m[k].n * sizeof *sorted);
        double med = bench_median(m[k].n, sorted);
        if (k == 0 || k == 3)
            base[k / 3] = med;
        fprintf(ratios, " %.4f", med / base[k / 3]);
    }
    fprintf(ratios, "\n");
    return PF_OK;
}

/* Whether --case selects case i (every case without --case). */
static int selected(const bench_options *o, const bench_case *c)
{
    return !o->only || strstr(c->name, o->only) != NULL;
}

int pf_bench_main(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("bench", stdout);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--mpi") == 0)
            return pf_bench_mpi_main(argc, argv);
    bench_options o;
    int bad = parse_options(argc, argv, &o);
    if (bad)
        return bad;
    bench_case cases[BENCH_MAX_CASES];
    int n = 0, n_selected = 0;
    pf_status st = bench_make_cases(o.quick, cases, &n);
    for (int i = 0; st == PF_OK && i < n; i++)
        n_selected += selected(&o, &cases[i]);
    if (st == PF_OK && n_selected == 0) {
        bench_free_cases(cases, n);
        return usage("no case name contains the --case text");
    }
    if (st == PF_OK)
        st = pf_make_directories(o.dir);
    if (st != PF_OK) {
        fprintf(stderr, "pathflow: %s\n", pf_last_error());
        bench_free_cases(cases, n);
        return 3;
    }
    char path[4400], ratios_path[4400];
    snprintf(path, sizeof path, "%s/bench.csv", o.dir);
    snprintf(ratios_path, sizeof ratios_path, "%s/bench_ratios.dat", o.dir);
    FILE *csv = fopen(path, "w"), *ratios = fopen(ratios_path, "w");
    if (!csv || !ratios) {
        fprintf(stderr, "pathflow bench: cannot write into %s\n", o.dir);
        if (csv)
            fclose(csv);
        if (ratios)
            fclose(ratios);
        bench_free_cases(cases, n);
        return 3;
    }
    dgemm_ceiling(o.quick ? 256 : 512); /* unreported: the first products of a process run cold */
    print_header(&o);
    fprintf(csv, "case,objective,estimator,median_ms,min_ms,ratio,gflops,fraction_of_dgemm,"
                 "dgemm_before,dgemm_after,nfe_forward,nfe_backward,steps_forward,steps_backward,"
                 "peak_rss_mb,busy,n_params,gemm_only_ms\n");
    for (int i = 0; st == PF_OK && i < n; i++)
        if (selected(&o, &cases[i]))
            st = run_case(&o, &cases[i], csv, ratios);
    bench_free_cases(cases, n);
    fclose(csv);
    fclose(ratios);
    if (st != PF_OK) {
        fprintf(stderr, "pathflow: %s\n", pf_last_error());
        return 1;
    }
    plot(o.dir);
    printf("\nCSV: %s/bench.csv, chart: %s/bench.png\n", o.dir, o.dir);
    return 0;
}
