/* Tests for src/train/trainer.c and checkpoint.c: exact resume from a
 * checkpoint, refusal of corrupt or mismatched checkpoints, skipping of
 * non-finite steps. (Trainings that reach stated ESS run from configs/ in
 * test_experiment.c.) */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>
#include <pathflow/train.h>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "testutil.h"
#include "train/trainer_impl.h"

#include <sys/wait.h>
#include <unistd.h>

static pf_flow *small_flow(int dim, unsigned long long seed)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = dim;
    o.n_layers = 4;
    o.n_hidden = 2;
    o.hidden[0] = o.hidden[1] = 16;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    return flow;
}

static pf_train_options quick_options(long steps)
{
    pf_train_options o = pf_train_options_default();
    o.batch = 64;
    o.steps = steps;
    o.lr = 3e-3;
    o.eval_every = 1000;
    o.eval_samples = 256;
    o.n_holdout = 256;
    return o;
}

Test(trainer, resuming_from_a_checkpoint_reproduces_uninterrupted_training_bit_for_bit)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_train_options o = quick_options(20);
    /* uninterrupted */
    pf_flow *f1 = small_flow(2, 3);
    pf_trainer *t1;
    cr_assert_eq(pf_trainer_create(f1, target, &o, &t1), PF_OK, "%s", pf_last_error());
    for (int k = 0; k < 20; k++)
        cr_assert_eq(pf_trainer_step(t1, NULL, NULL), PF_OK, "%s", pf_last_error());
    /* 10 steps, save, new objects, load, 10 more */
    pf_flow *f2 = small_flow(2, 3);
    pf_trainer *t2;
    cr_assert_eq(pf_trainer_create(f2, target, &o, &t2), PF_OK);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(pf_trainer_step(t2, NULL, NULL), PF_OK);
    cr_assert_eq(pf_trainer_save(t2, "resume.pfc"), PF_OK, "%s", pf_last_error());
    pf_trainer_destroy(t2);
    pf_flow_destroy(f2);
    pf_flow *f3 = small_flow(2, 99); /* other initial values: all must come from the file */
    pf_trainer *t3;
    cr_assert_eq(pf_trainer_create(f3, target, &o, &t3), PF_OK);
    cr_assert_eq(pf_trainer_load(t3, "resume.pfc"), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_steps_done(t3), 10);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(pf_trainer_step(t3, NULL, NULL), PF_OK);
    size_t n = pf_flow_n_params(f1);
    cr_assert(memcmp(pf_flow_params(f1), pf_flow_params(f3), n * sizeof(double)) == 0,
              "resumed parameters differ (max rel err %g)",
              pft_max_rel_err(n, pf_flow_params(f1), pf_flow_params(f3), 1e-300));
    pf_trainer_destroy(t1);
    pf_trainer_destroy(t3);
    pf_flow_destroy(f1);
    pf_flow_destroy(f3);
    pf_target_destroy(target);
    remove("resume.pfc");
}

static void expect_load_failure(pf_flow *flow, const char *path, const char *field)
{
    pf_status s = pf_flow_load_checkpoint(flow, path);
    cr_assert_neq(s, PF_OK, "%s should be refused", path);
    cr_assert_not_null(strstr(pf_last_error(), path), "message '%s' lacks the path",
                       pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), field), "message '%s' lacks '%s'",
                       pf_last_error(), field);
}

Test(trainer, corrupt_truncated_and_mismatched_checkpoints_are_refused_naming_the_field)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = small_flow(2, 1);
    pf_train_options o = quick_options(2);
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK);
    cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK);
    cr_assert_eq(pf_trainer_save(t, "good.pfc"), PF_OK);
    cr_assert_eq(pf_flow_load_checkpoint(flow, "good.pfc"), PF_OK, "%s", pf_last_error());

    FILE *f = fopen("good.pfc", "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    buf[size / 2] ^= 0x10; /* one flipped bit in the parameters */
    f = fopen("flipped.pfc", "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    expect_load_failure(flow, "flipped.pfc", "checksum");
    buf[size / 2] ^= 0x10;

    f = fopen("short.pfc", "wb");
    fwrite(buf, 1, (size_t)size - 100, f);
    fclose(f);
    expect_load_failure(flow, "short.pfc", "n_params");

    f = fopen("junk.pfc", "wb");
    fwrite("not a checkpoint at all", 1, 23, f);
    fclose(f);
    expect_load_failure(flow, "junk.pfc", "magic");

    cr_assert_eq(buf[8], 3); /* the version written */
    buf[8] = 4;              /* a future format version */
    f = fopen("v4.pfc", "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    expect_load_failure(flow, "v4.pfc", "version");
    remove("v4.pfc");
    buf[8] = 3;

    uint32_t huge_len = 0xFFFFFFFFu; /* found by fuzzing: 16 + L wrapped in 32 bits */
    memcpy(buf + 12, &huge_len, 4);
    f = fopen("long.pfc", "wb");
    fwrite(buf, 1, (size_t)size, f);
    fclose(f);
    expect_load_failure(flow, "long.pfc", "truncated");
    remove("long.pfc");
    uint32_t real_len = (uint32_t)strlen(pf_flow_describe(flow));
    memcpy(buf + 12, &real_len, 4);

    pf_flow *other = small_flow(3, 1);
    expect_load_failure(other, "good.pfc", "flow");
    expect_load_failure(flow, "missing.pfc", "cannot open");

    free(buf);
    pf_flow_destroy(other);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("good.pfc");
    remove("flipped.pfc");
    remove("short.pfc");
    remove("junk.pfc");
}

/* A trainer after `steps` steps, its checkpoint saved at `path`. */
static pf_trainer *trained_and_saved(pf_flow *flow, pf_target *target, const pf_train_options *o,
                                     int steps, const char *path)
{
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, o, &t), PF_OK, "%s", pf_last_error());
    for (int k = 0; k < steps; k++)
        cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_save(t, path), PF_OK, "%s", pf_last_error());
    return t;
}

/* Checkpoints carry the settings hash; a trainer configured otherwise refuses
 * to resume from it, one configured alike (or a flow only) loads it. */
Test(trainer, a_checkpoint_written_under_other_settings_is_refused_on_resume)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = small_flow(2, 1);
    pf_train_options o = quick_options(4);
    o.settings_hash = 0x1234;
    pf_trainer *t = trained_and_saved(flow, target, &o, 1, "settings.pfc");
    pf_trainer_destroy(t);

    o.settings_hash = 0x1235;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK);
    cr_assert_eq(pf_trainer_load(t, "settings.pfc"), PF_ERR_FORMAT);
    cr_assert_not_null(strstr(pf_last_error(), "settings.pfc: settings: "), "%s",
                       pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "0000000000001234"), "%s", pf_last_error());
    cr_assert_eq(pf_trainer_steps_done(t), 0, "a refused checkpoint changed the trainer");
    pf_trainer_destroy(t);

    o.settings_hash = 0x1234;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK);
    cr_assert_eq(pf_trainer_load(t, "settings.pfc"), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_steps_done(t), 1);
    pf_trainer_destroy(t);
    cr_assert_eq(pf_flow_load_checkpoint(flow, "settings.pfc"), PF_OK, "%s", pf_last_error());
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("settings.pfc");
}

/* An action that is NaN everywhere: every step is non-finite. */
static int nan_action(void *user, int B, const double *x, double *S)
{
    (void)user;
    (void)x;
    for (int b = 0; b < B; b++)
        S[b] = NAN;
    return 0;
}

static int nan_force(void *user, int B, const double *x, double *F)
{
    (void)user;
    for (int i = 0; i < 2 * B; i++)
        F[i] = NAN * x[i];
    return 0;
}

Test(trainer, non_finite_steps_are_skipped_and_training_stops_after_too_many_in_a_row)
{
    pf_target *target;
    cr_assert_eq(pf_target_custom_create(2, nan_action, nan_force, NULL, &target), PF_OK);
    pf_flow *flow = small_flow(2, 1);
    size_t n = pf_flow_n_params(flow);
    double *before = malloc(n * sizeof *before);
    memcpy(before, pf_flow_params(flow), n * sizeof *before);
    pf_train_options o = quick_options(100);
    o.max_bad_steps = 5;
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK, "step %d: %s", k, pf_last_error());
    cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_ERR_NUMERIC);
    cr_assert_not_null(strstr(pf_last_error(), "non-finite"), "%s", pf_last_error());
    cr_assert(memcmp(before, pf_flow_params(flow), n * sizeof *before) == 0,
              "skipped steps must not change the parameters");
    free(before);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
}

Test(trainer, a_crash_in_the_middle_of_a_checkpoint_write_leaves_the_previous_one_loadable)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = small_flow(2, 4);
    pf_train_options o = quick_options(3);
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK);
    cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK);
    cr_assert_eq(pf_trainer_save(t, "crash.pfc"), PF_OK);
    pid_t child = fork();
    if (child == 0) { /* a second save dies after writing half a temporary file */
        char tmp[256];
        FILE *f = pf_atomic_open("crash.pfc", tmp, sizeof tmp);
        if (f) {
            fputs("PFCKPT half a checkpoint", f);
            fflush(f);
        }
        _exit(137);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert_eq(pf_flow_load_checkpoint(flow, "crash.pfc"), PF_OK, "%s", pf_last_error());
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("crash.pfc");
}

/* A Gaussian S = |x − c|²/2 whose centre c runs away by `drift` along (1, 1)
 * at every action call: the flow cannot follow at a small rate, so the loss
 * rises row after row, as in a run that diverges. */
typedef struct {
    double c, drift;
    int calls, back_after; /* the centre returns to 0 after back_after calls (0: never) */
} moving_gaussian;

static int moving_action(void *user, int B, const double *x, double *S)
{
    moving_gaussian *g = user;
    g->c += g->drift;
    if (g->back_after > 0 && ++g->calls >= g->back_after)
        g->c = 0;
    for (int b = 0; b < B; b++)
        S[b] = 0.5 * (pow(x[2 * b] - g->c, 2) + pow(x[2 * b + 1] - g->c, 2));
    return 0;
}

static int moving_force(void *user, int B, const double *x, double *F)
{
    moving_gaussian *g = user;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 2; i++)
            F[2 * b + i] = x[2 * b + i] - g->c;
    return 0;
}

/* Trains 400 steps with a metrics row every 20 and returns the divergence
 * warning (copied into msg, "" if none) and the recovery note (rec). */
static void divergence_after_training(double drift, double lr, int back_after, char *msg,
                                      size_t size, char *rec)
{
    moving_gaussian g = {0.0, drift, 0, back_after};
    pf_target *target;
    cr_assert_eq(pf_target_custom_create(2, moving_action, moving_force, &g, &target), PF_OK);
    pf_flow *flow = small_flow(2, 7);
    pf_train_options o = quick_options(400);
    o.lr = lr;
    o.schedule = PF_SCHEDULE_CONSTANT;
    o.eval_every = 20;
    o.n_holdout = 0;
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK, "%s", pf_last_error());
    cr_assert_null(pf_trainer_divergence(t));
    cr_assert_eq(pf_trainer_run(t, NULL, NULL), PF_OK, "%s", pf_last_error());
    const char *w = pf_trainer_divergence(t), *r = pf_trainer_recovery(t);
    snprintf(msg, size, "%s", w ? w : "");
    snprintf(rec, size, "%s", r ? r : "");
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
}

Test(trainer, a_run_whose_loss_keeps_rising_is_reported_as_diverging_and_a_converging_one_is_not)
{
    char msg[512], rec[512];
    /* the centre moves ~4 units over the run: the loss rises by ~10 nats */
    divergence_after_training(0.01, 1e-4, 0, msg, sizeof msg, rec);
    cr_assert_neq(msg[0], '\0', "a rising loss must be reported");
    cr_assert_not_null(strstr(msg, "diverging"), "%s", msg);
    cr_assert_not_null(strstr(msg, "training.lr"), "the warning says what to change: %s", msg);
    cr_assert_eq(rec[0], '\0', "it never recovers: %s", rec);
    /* the same, but the centre returns home after ~190 steps: reported, then
     * the recovery too */
    divergence_after_training(0.01, 1e-4, 200, msg, sizeof msg, rec);
    cr_assert_neq(msg[0], '\0', "the excursion must be reported");
    cr_assert_not_null(strstr(rec, "recovered"), "the recovery must be noted: '%s' after %s", rec, msg);
    /* fixed target, converging then on a noisy plateau for most of the run */
    divergence_after_training(0.0, 3e-3, 0, msg, sizeof msg, rec);
    cr_assert_eq(msg[0], '\0', "false alarm: %s", msg);
}

/* Extending a finished run (a trainer with more steps loading its
 * checkpoint): the remaining steps follow the cosine schedule of the new
 * total. Route 1: cosine over 2N from step N. Route 2: a constant rate equal
 * to that schedule's value at step N, for one step — the same parameters.
 * A constant min_lr (what "continue at the old schedule's end" would use)
 * gives others. */
Test(trainer, an_extended_run_follows_the_cosine_schedule_of_its_new_total)
{
    enum { N = 10 };
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_train_options o = quick_options(N);
    o.min_lr = 1e-4;
    pf_flow *flow = small_flow(2, 5);
    pf_trainer *t = trained_and_saved(flow, target, &o, N, "extend.pfc");
    pf_trainer_destroy(t);
    const size_t n = pf_flow_n_params(flow);
    static double after[3][4096];
    cr_assert_leq(n, 4096);
    const double lr_at_n = pf_schedule_lr(PF_SCHEDULE_COSINE, o.lr, o.min_lr, N, 2 * N, 0);
    cr_assert_gt(lr_at_n, 10 * o.min_lr, "the new schedule restarts above min_lr");
    for (int route = 0; route < 3; route++) {
        pf_train_options e = o;
        e.steps = 2 * N;
        if (route > 0) {
            e.schedule = PF_SCHEDULE_CONSTANT;
            e.lr = route == 1 ? lr_at_n : o.min_lr;
        }
        cr_assert_eq(pf_trainer_create(flow, target, &e, &t), PF_OK, "%s", pf_last_error());
        cr_assert_eq(pf_trainer_load(t, "extend.pfc"), PF_OK, "%s", pf_last_error());
        cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK, "%s", pf_last_error());
        memcpy(after[route], pf_flow_params(flow), n * sizeof(double));
        pf_trainer_destroy(t);
    }
    cr_assert(memcmp(after[0], after[1], n * sizeof(double)) == 0,
              "step N+1 of the extended run is not at the 2N-step cosine rate (max rel err %g)",
              pft_max_rel_err(n, after[0], after[1], 1e-300));
    cr_assert_gt(pft_max_rel_err(n, after[0], after[2], 1e-300), 1e-8,
                 "min_lr gives the same step: the test cannot tell the schedules apart");
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("extend.pfc");
}

/* S = k|x − 1|²/2 with k = 1, or `spike` on the action and force calls of
 * one chosen step: a single wild batch. */
typedef struct {
    int calls, spike_call;
    double spike;
} spiky_gaussian;

static double spiky_scale(spiky_gaussian *g) { return g->calls == g->spike_call ? g->spike : 1.0; }

static int spiky_action(void *user, int B, const double *x, double *S)
{
    spiky_gaussian *g = user;
    for (int b = 0; b < B; b++)
        S[b] = 0.5 * spiky_scale(g) * (pow(x[2 * b] - 1, 2) + pow(x[2 * b + 1] - 1, 2));
    return 0;
}

static int spiky_force(void *user, int B, const double *x, double *F)
{
    spiky_gaussian *g = user;
    for (int i = 0; i < 2 * B; i++)
        F[i] = spiky_scale(g) * (x[i] - 1);
    g->calls++; /* one force call per reverse `path` step */
    return 0;
}

/* The gradient Adam received at the last step, from its first moment:
 * g = (m_t − β₁ m_{t−1}) / (1 − β₁). */
static double applied_norm(pf_trainer *t, const double *m_before, double beta1)
{
    double *m, *v, sq = 0;
    long *steps;
    pf_adam_state(t->adam, &m, &v, &steps);
    for (size_t i = 0; i < t->n_params; i++)
        sq += pow((m[i] - beta1 * m_before[i]) / (1 - beta1), 2);
    return sqrt(sq);
}

/* Trains 40 steps with step 30 spiking by 1e4; returns the raw and the applied
 * gradient norms of steps 29 and 30 and the bound c·√Σv̂ before step 30. */
static void spike_run(double c, double raw[2], double applied[2], double *bound)
{
    spiky_gaussian g = {0, 30, 1e4};
    pf_target *target;
    cr_assert_eq(pf_target_custom_create(2, spiky_action, spiky_force, &g, &target), PF_OK);
    pf_flow *flow = small_flow(2, 5);
    pf_train_options o = quick_options(40);
    o.clip_relative = c;
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK, "%s", pf_last_error());
    double *m_before = malloc(t->n_params * sizeof *m_before), *m, *v;
    long *steps;
    pf_adam_state(t->adam, &m, &v, &steps);
    for (int k = 0; k < 31; k++) {
        memcpy(m_before, m, t->n_params * sizeof *m);
        if (k == 30) {
            double sum_v = 0;
            for (size_t i = 0; i < t->n_params; i++)
                sum_v += v[i];
            *bound = c * sqrt(sum_v / (1 - pow(o.beta2, (double)*steps)));
        }
        double norm;
        cr_assert_eq(pf_trainer_step(t, NULL, &norm), PF_OK, "%s", pf_last_error());
        if (k >= 29) {
            raw[k - 29] = norm;
            applied[k - 29] = applied_norm(t, m_before, o.beta1);
        }
    }
    free(m_before);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
}

Test(trainer, the_spike_guard_scales_a_wild_gradient_to_its_bound_and_leaves_ordinary_ones_alone)
{
    double raw[2], applied[2], bound;
    spike_run(5.0, raw, applied, &bound);
    cr_log_info("step 29 |g| %.4g applied %.4g; step 30 |g| %.4g applied %.4g, bound %.4g", raw[0],
                applied[0], raw[1], applied[1], bound);
    /* an ordinary step passes unchanged (the two routes to its norm agree) */
    cr_assert_lt(fabs(applied[0] - raw[0]), 1e-9 * raw[0], "%g vs %g", applied[0], raw[0]);
    cr_assert_gt(raw[1], 100 * bound, "the spike must exceed the bound: %g vs %g", raw[1], bound);
    cr_assert_lt(fabs(applied[1] - bound), 1e-9 * bound, "applied %g, bound %g", applied[1], bound);
    /* off: the spike reaches Adam whole */
    spike_run(0.0, raw, applied, &bound);
    cr_assert_lt(fabs(applied[1] - raw[1]), 1e-9 * raw[1], "%g vs %g", applied[1], raw[1]);
}
