/* Tests for src/train/parallel.c: data-parallel training through
 * pf_trainer_set_parallel, with threads standing in for processes (a sum over
 * threads with a barrier, in rank order, the same on every thread). The MPI
 * transport itself is tested by test_mpi.c.
 * - N = 2 and 3 processes give the parameters of one process with the same
 *   global batch (uneven splits), to summation order, for reverse KL on a
 *   coupling flow, forward KL on minibatches of data and a CNF with
 *   Hutchinson probes; every process holds identical parameters and metrics.
 * - a fatal failure on one process stops all with its message; a non-finite
 *   step on one process is skipped by all; too small a batch is refused. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>
#include <pathflow/train.h>

#include "testutil.h"

#define MAX_PROCS 4

/* ---- a sum over threads ---------------------------------------------------- */

typedef struct shared {
    int size;
    pthread_barrier_t barrier;
    double *slots[MAX_PROCS];
} shared;

typedef struct proc {
    shared *sh;
    int rank;
} proc;

static int thread_sum(void *ctx, double *data, int n)
{
    proc *p = ctx;
    shared *sh = p->sh;
    double *total = calloc((size_t)n, sizeof *total);
    if (!total)
        return -1;
    sh->slots[p->rank] = data;
    pthread_barrier_wait(&sh->barrier);
    for (int r = 0; r < sh->size; r++)
        for (int i = 0; i < n; i++)
            total[i] += sh->slots[r][i];
    pthread_barrier_wait(&sh->barrier); /* all have read every slot */
    memcpy(data, total, (size_t)n * sizeof *data);
    free(total);
    return 0;
}

/* ---- a Gaussian target from callbacks that can fail on one process --------- */

typedef struct gauss {
    int rank, fail_rank;
    long calls, fail_call; /* the action call (on fail_rank) that fails */
    int fatal;             /* 1: returns −1; 0: a NaN action (a skipped step) */
} gauss;

static int gauss_action(void *user, int B, const double *x, double *S)
{
    gauss *g = user;
    for (int b = 0; b < B; b++) {
        S[b] = 0;
        for (int i = 0; i < 3; i++)
            S[b] += 0.5 * (x[b * 3 + i] - 1) * (x[b * 3 + i] - 1) / (0.5 + i);
    }
    if (g->rank == g->fail_rank && ++g->calls == g->fail_call) {
        if (g->fatal)
            return -1;
        S[0] = NAN;
    }
    return 0;
}

static int gauss_force(void *user, int B, const double *x, double *F)
{
    (void)user;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 3; i++)
            F[b * 3 + i] = (x[b * 3 + i] - 1) / (0.5 + i);
    return 0;
}

/* ---- one training run (one "process") ------------------------------------- */

typedef enum setup { REVERSE_REALNVP, FORWARD_DATA, REVERSE_CNF } setup;

typedef struct run {
    setup kind;
    int rank, size;
    shared *sh;
    gauss g;
    long steps;
    int batch;
    /* results */
    pf_status status;
    char message[1024];
    double *params;
    size_t n_params;
    long skipped;
    pf_metrics last;
} run;

static double data_rows[40 * 3];
static double cnf_tolerance = 1e-6;

static pf_flow *make_flow(setup kind)
{
    pf_flow *flow;
    if (kind == REVERSE_CNF) {
        pf_cnf_options o = pf_cnf_options_default();
        o.dim = 3;
        o.n_hidden = 1;
        o.hidden[0] = 8;
        o.zero_init = 0;
        o.init_scale = 0.5;
        o.rtol = o.atol = cnf_tolerance;
        o.hutchinson = 1;
        o.seed = 4;
        cr_assert_eq(pf_flow_cnf_create(&o, &flow), PF_OK, "%s", pf_last_error());
        return flow;
    }
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 3;
    o.n_layers = 4;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 8;
    o.zero_init = 0;
    o.init_scale = 0.3;
    o.seed = 2;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    return flow;
}

static int keep_last(void *user, const pf_metrics *m)
{
    ((run *)user)->last = *m;
    return 0;
}

static void *train(void *arg)
{
    run *r = arg;
    pf_target *target;
    pf_flow *flow = make_flow(r->kind);
    r->g.rank = r->rank;
    cr_assert_eq(pf_target_custom_create(3, gauss_action, gauss_force, &r->g, &target), PF_OK);
    pf_train_options o = pf_train_options_default();
    o.objective = r->kind == FORWARD_DATA ? PF_OBJECTIVE_FORWARD : PF_OBJECTIVE_REVERSE;
    o.estimator = PF_ESTIMATOR_PATH;
    o.batch = r->batch;
    o.steps = r->steps;
    o.lr = 1e-2;
    o.seed = 11;
    o.eval_every = 5;
    o.eval_samples = 23;
    if (r->kind == FORWARD_DATA) {
        o.data = data_rows;
        o.n_data = 40; /* > batch: minibatches drawn with replacement */
    }
    o.holdout = data_rows;
    o.n_holdout = 17;
    pf_trainer *t = NULL;
    r->status = pf_trainer_create(flow, target, &o, &t);
    if (r->status == PF_OK && r->size > 1) {
        proc *p = malloc(sizeof *p);
        p->sh = r->sh;
        p->rank = r->rank;
        pf_parallel par = {r->rank, r->size, thread_sum, p};
        r->status = pf_trainer_set_parallel(t, &par);
        if (r->status == PF_OK)
            r->status = pf_trainer_run(t, keep_last, r);
        free(p);
    } else if (r->status == PF_OK) {
        r->status = pf_trainer_run(t, keep_last, r);
    }
    snprintf(r->message, sizeof r->message, "%s", pf_last_error());
    r->n_params = pf_flow_n_params(flow);
    r->params = malloc(r->n_params * sizeof *r->params);
    memcpy(r->params, pf_flow_params(flow), r->n_params * sizeof *r->params);
    r->skipped = r->last.skipped;
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    return NULL;
}

/* Runs `size` processes as threads; runs[0..size) hold their results. */
static void run_parallel(run *runs, int size, setup kind, long steps, int batch, gauss g)
{
    shared sh = {.size = size};
    pthread_barrier_init(&sh.barrier, NULL, (unsigned)size);
    pthread_t th[MAX_PROCS];
    for (int r = 0; r < size; r++) {
        runs[r] = (run){.kind = kind, .rank = r, .size = size, .sh = &sh, .g = g,
                        .steps = steps, .batch = batch};
        pthread_create(&th[r], NULL, train, &runs[r]);
    }
    for (int r = 0; r < size; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh.barrier);
}

static void free_runs(run *runs, int size)
{
    for (int r = 0; r < size; r++)
        free(runs[r].params);
}

static void fill_data(void)
{
    double z[40 * 3];
    pft_fill_normal(5, 40 * 3, z, 1.0);
    for (int i = 0; i < 40 * 3; i++)
        data_rows[i] = 1 + sqrt(0.5 + i % 3) * z[i];
}

/* N processes against one with the same global batch. */
static void expect_same_as_one_process(setup kind, long steps, int batch, double tol)
{
    fill_data();
    gauss none = {.fail_rank = -1};
    run one[1], many[3];
    run_parallel(one, 1, kind, steps, batch, none);
    cr_assert_eq(one[0].status, PF_OK, "%s", one[0].message);
    for (int size = 2; size <= 3; size++) {
        run_parallel(many, size, kind, steps, batch, none);
        for (int r = 0; r < size; r++) {
            cr_assert_eq(many[r].status, PF_OK, "rank %d: %s", r, many[r].message);
            cr_assert(memcmp(many[r].params, many[0].params,
                             many[0].n_params * sizeof(double)) == 0,
                      "rank %d's parameters differ from rank 0's", r);
            cr_assert(memcmp(&many[r].last.ess, &many[0].last.ess, sizeof(double)) == 0);
        }
        double err = pft_rel_err(one[0].n_params, many[0].params, one[0].params, 1e-300);
        cr_assert_leq(err, tol, "%d processes vs one: relative difference %g", size, err);
        cr_assert(fabs(many[0].last.ess - one[0].last.ess) <= tol,
                  "ESS %.15g vs %.15g", many[0].last.ess, one[0].last.ess);
        cr_assert(fabs(many[0].last.nll - one[0].last.nll) <= tol * fabs(one[0].last.nll),
                  "NLL %.15g vs %.15g", many[0].last.nll, one[0].last.nll);
        cr_assert(fabs(many[0].last.loss - one[0].last.loss) <= tol * (fabs(one[0].last.loss) + 1));
        /* the run moved away from the initial parameters */
        pf_flow *init = make_flow(kind);
        cr_assert_gt(pft_rel_err(one[0].n_params, pf_flow_params(init), one[0].params, 1e-300), 1e-3);
        pf_flow_destroy(init);
        free_runs(many, size);
    }
    free_runs(one, 1);
}

Test(parallel, reverse_kl_on_a_coupling_flow_matches_one_process_with_uneven_splits)
{
    expect_same_as_one_process(REVERSE_REALNVP, 20, 7, 1e-12);
}

Test(parallel, forward_kl_on_minibatches_of_data_matches_one_process)
{
    expect_same_as_one_process(FORWARD_DATA, 20, 7, 1e-12);
}

/* Each process's CVODES solves choose their steps from their own rows, so
 * the split changes the solution within the solver tolerance: the difference
 * to one process is at the tolerance's level and shrinks with it. */
Test(parallel, a_cnf_with_hutchinson_probes_matches_one_process_to_the_solver_tolerance)
{
    cnf_tolerance = 1e-6;
    expect_same_as_one_process(REVERSE_CNF, 6, 5, 1e-5);
    cnf_tolerance = 1e-11;
    expect_same_as_one_process(REVERSE_CNF, 6, 5, 1e-9);
}

Test(parallel, a_fatal_failure_on_one_process_stops_all_with_its_message)
{
    fill_data();
    gauss g = {.fail_rank = 1, .fail_call = 4, .fatal = 1};
    run runs[2];
    run_parallel(runs, 2, REVERSE_REALNVP, 20, 8, g);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(runs[r].status, PF_ERR_CALLBACK, "rank %d: %s", r, runs[r].message);
        cr_assert_not_null(strstr(runs[r].message, "process 1 of 2: "), "%s", runs[r].message);
        cr_assert_not_null(strstr(runs[r].message, "-1"), "%s", runs[r].message);
    }
    free_runs(runs, 2);
}

Test(parallel, a_non_finite_step_on_one_process_is_skipped_by_all)
{
    fill_data();
    gauss g = {.fail_rank = 1, .fail_call = 2, .fatal = 0};
    run runs[2];
    run_parallel(runs, 2, REVERSE_REALNVP, 10, 8, g);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(runs[r].status, PF_OK, "rank %d: %s", r, runs[r].message);
        cr_assert_eq(runs[r].skipped, 1, "rank %d skipped %ld steps", r, runs[r].skipped);
    }
    cr_assert(memcmp(runs[0].params, runs[1].params, runs[0].n_params * sizeof(double)) == 0);
    free_runs(runs, 2);
}

Test(parallel, a_batch_smaller_than_the_number_of_processes_is_refused)
{
    fill_data();
    gauss none = {.fail_rank = -1};
    run runs[3];
    run_parallel(runs, 3, REVERSE_REALNVP, 2, 2, none);
    for (int r = 0; r < 3; r++) {
        cr_assert_eq(runs[r].status, PF_ERR_ARG);
        cr_assert_not_null(strstr(runs[r].message, "training.batch"), "%s", runs[r].message);
    }
    free_runs(runs, 3);
}
