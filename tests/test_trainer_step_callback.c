/* Tests for pf_trainer_set_step_callback (src/train/trainer.c): a function
 * called after every step of pf_trainer_run that may end the run.
 * - it sees every step with the loss pf_trainer_step returns for it (a second
 *   trainer stepped by hand is the other route), and a stop request at step k
 *   ends the run there with a metrics row for step k and the parameters of k
 *   hand-made steps, bit for bit;
 *   - without a request the run goes to the end; NULL removes the function;
 * - in a data-parallel run (threads as processes) one process's request stops
 *   both at the same step. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>
#include <pathflow/train.h>

static pf_flow *small_flow(void)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 2;
    o.n_layers = 2;
    o.n_hidden = 1;
    o.hidden[0] = 8;
    o.seed = 5;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    return flow;
}

static pf_train_options options(long steps)
{
    pf_train_options o = pf_train_options_default();
    o.batch = 32;
    o.steps = steps;
    o.lr = 3e-3;
    o.eval_every = 5;
    o.eval_samples = 64;
    o.n_holdout = 0;
    return o;
}

typedef struct record {
    long stop_at;      /* request a stop after this step (0: never) */
    long n_steps;      /* calls of the step function */
    long steps[32];
    double losses[32];
    long n_rows;       /* metrics rows */
    long rows[32];
} record;

static int on_step(void *user, long step, double loss)
{
    record *r = user;
    if (r->n_steps < 32) {
        r->steps[r->n_steps] = step;
        r->losses[r->n_steps] = loss;
    }
    r->n_steps++;
    return step == r->stop_at;
}

static int on_row(void *user, const pf_metrics *m)
{
    record *r = user;
    if (r->n_rows < 32)
        r->rows[r->n_rows] = m->step;
    r->n_rows++;
    return 0;
}

Test(step_callback, sees_every_step_and_stops_the_run_where_it_asks)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_train_options o = options(20);
    pf_flow *f1 = small_flow(), *f2 = small_flow();
    pf_trainer *t1, *t2;
    cr_assert_eq(pf_trainer_create(f1, target, &o, &t1), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_create(f2, target, &o, &t2), PF_OK, "%s", pf_last_error());
    record r = {.stop_at = 7};
    pf_trainer_set_step_callback(t1, on_step, &r);
    cr_assert_eq(pf_trainer_run(t1, on_row, &r), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_steps_done(t1), 7);
    cr_assert_eq(r.n_steps, 7);
    cr_assert_eq(r.n_rows, 2, "metrics rows: %ld", r.n_rows);
    cr_assert_eq(r.rows[0], 5);
    cr_assert_eq(r.rows[1], 7, "the stopped step gets a metrics row");
    for (int k = 0; k < 7; k++) {
        double loss;
        cr_assert_eq(pf_trainer_step(t2, &loss, NULL), PF_OK);
        cr_assert_eq(r.steps[k], k + 1);
        cr_assert(loss == r.losses[k], "step %d: loss %.17g by hand, %.17g seen", k + 1, loss,
                  r.losses[k]);
    }
    size_t n = pf_flow_n_params(f1);
    cr_assert(memcmp(pf_flow_params(f1), pf_flow_params(f2), n * sizeof(double)) == 0);

    /* no request: the run continues to the end; the function sees 13 more steps */
    r.stop_at = 0;
    r.n_steps = r.n_rows = 0;
    cr_assert_eq(pf_trainer_run(t1, on_row, &r), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_steps_done(t1), 20);
    cr_assert_eq(r.n_steps, 13);
    cr_assert_eq(r.rows[r.n_rows - 1], 20);

    /* removed: nothing is called */
    pf_train_options o2 = options(3);
    pf_trainer *t3;
    pf_flow *f3 = small_flow();
    cr_assert_eq(pf_trainer_create(f3, target, &o2, &t3), PF_OK);
    record r3 = {.stop_at = 1};
    pf_trainer_set_step_callback(t3, on_step, &r3);
    pf_trainer_set_step_callback(t3, NULL, NULL);
    cr_assert_eq(pf_trainer_run(t3, NULL, NULL), PF_OK);
    cr_assert_eq(pf_trainer_steps_done(t3), 3);
    cr_assert_eq(r3.n_steps, 0);
    pf_trainer_destroy(t1);
    pf_trainer_destroy(t2);
    pf_trainer_destroy(t3);
    pf_flow_destroy(f1);
    pf_flow_destroy(f2);
    pf_flow_destroy(f3);
    pf_target_destroy(target);
}

/* ---- two threads standing in for two processes ------------------------------ */

typedef struct pair {
    pthread_barrier_t barrier;
    double *slots[2];
} pair;

typedef struct proc {
    pair *p;
    int rank;
    record r;
    pf_status status;
    long steps_done;
} proc;

static int pair_sum(void *ctx, double *data, int n)
{
    proc *q = ctx;
    double *total = malloc((size_t)n * sizeof *total);
    if (!total)
        return -1;
    q->p->slots[q->rank] = data;
    pthread_barrier_wait(&q->p->barrier);
    for (int i = 0; i < n; i++)
        total[i] = q->p->slots[0][i] + q->p->slots[1][i];
    pthread_barrier_wait(&q->p->barrier);
    memcpy(data, total, (size_t)n * sizeof *data);
    free(total);
    return 0;
}

static void *run_process(void *arg)
{
    proc *q = arg;
    pf_target *target;
    pf_flow *flow = NULL;
    pf_trainer *t = NULL;
    pf_train_options o = options(20);
    q->status = pf_target_mgm_create(2, 1.0, 0.5, &target);
    if (q->status == PF_OK) {
        flow = small_flow();
        q->status = pf_trainer_create(flow, target, &o, &t);
    }
    pf_parallel par = {.rank = q->rank, .size = 2, .sum = pair_sum, .ctx = q};
    if (q->status == PF_OK)
        q->status = pf_trainer_set_parallel(t, &par);
    if (q->status == PF_OK) {
        pf_trainer_set_step_callback(t, on_step, &q->r);
        q->status = pf_trainer_run(t, on_row, &q->r);
        q->steps_done = pf_trainer_steps_done(t);
    }
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    return NULL;
}

Test(step_callback, one_process_request_stops_every_process)
{
    pair p;
    pthread_barrier_init(&p.barrier, NULL, 2);
    proc q[2] = {{.p = &p, .rank = 0, .r = {.stop_at = 0}},
                 {.p = &p, .rank = 1, .r = {.stop_at = 3}}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        cr_assert_eq(pthread_create(&th[k], NULL, run_process, &q[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&p.barrier);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(q[k].status, PF_OK, "process %d: %s", k, pf_strerror(q[k].status));
        cr_assert_eq(q[k].steps_done, 3, "process %d stopped after %ld steps", k,
                     q[k].steps_done);
        cr_assert_eq(q[k].r.n_rows, 1);
        cr_assert_eq(q[k].r.rows[0], 3);
    }
}
