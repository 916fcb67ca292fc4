/* Tests for src/train/{adam,schedule,metrics}.c against closed forms, and
 * for the checkpoint format (src/train/checkpoint.c, src/core/hash.h). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/flow.h>
#include <pathflow/train.h>

#include "core/hash.h"
#include "testutil.h"

Test(train, adam_first_step_moves_every_parameter_by_lr_against_the_gradient_sign)
{
    /* m̂ = g, v̂ = g² after one step, so Δθ = −lr·g/(|g| + ε). */
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(3, 0.9, 0.999, 1e-12, &adam), PF_OK);
    double theta[3] = {1, 2, 3}, g[3] = {0.5, -2e-3, 40};
    pf_adam_step(adam, theta, g, 0.1);
    const double expected[3] = {0.9, 2.1, 2.9};
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(theta[i], expected[i], 1e-9, "θ[%d] = %.12g", i, theta[i]);
    pf_adam_destroy(adam);
}

/* Bit for bit: the update's operations are each correctly rounded and unfused,
 * so the vectorised clones must equal the recurrence written out here (this
 * file has no FMA). n = 37: full 8- and 4-wide vectors and a ragged tail. */
Test(train, adam_matches_the_bias_corrected_recurrence_bit_for_bit_over_many_steps)
{
    enum { n = 37, steps = 25 };
    const double b1 = 0.8, b2 = 0.95, eps = 1e-6, lr = 0.03;
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(n, b1, b2, eps, &adam), PF_OK);
    double theta[n], ref[n], m[n] = {0}, v[n] = {0};
    pft_fill_normal(99, n, theta, 1.0);
    theta[3] = 0;
    for (int i = 0; i < n; i++)
        ref[i] = theta[i];
    for (int t = 1; t <= steps; t++) {
        double g[n];
        pft_fill_normal((uint64_t)t, n, g, t % 5 ? 1.0 : 1e-9); /* small gradients: eps matters */
        g[7] = 0;
        pf_adam_step(adam, theta, g, lr);
        for (int i = 0; i < n; i++) { /* the textbook recurrence, written out */
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            ref[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
        for (int i = 0; i < n; i++)
            cr_assert(memcmp(&theta[i], &ref[i], sizeof(double)) == 0,
                      "step %d, θ[%d] = %.17g, recurrence %.17g", t, i, theta[i], ref[i]);
    }
    pf_adam_destroy(adam);
}

Test(train, adam_minimises_a_quadratic)
{
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(2, 0.9, 0.999, 1e-8, &adam), PF_OK);
    double theta[2] = {3, -4};
    for (int t = 0; t < 3000; t++) {
        double g[2] = {2 * (theta[0] - 1), 20 * (theta[1] + 2)};
        pf_adam_step(adam, theta, g, 0.01);
    }
    cr_assert_float_eq(theta[0], 1.0, 1e-3, "θ0 = %g", theta[0]);
    cr_assert_float_eq(theta[1], -2.0, 1e-3, "θ1 = %g", theta[1]);
    pf_adam_destroy(adam);
}

Test(train, adam_refuses_invalid_hyperparameters)
{
    pf_adam *adam;
    cr_assert_eq(pf_adam_create(2, 1.0, 0.999, 1e-8, &adam), PF_ERR_ARG);
    cr_assert_eq(pf_adam_create(2, 0.9, 0.999, 0.0, &adam), PF_ERR_ARG);
}

Test(train, cosine_schedule_runs_from_lr_to_min_lr_and_warmup_is_linear)
{
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 0, 100, 0), 1e-3, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 50, 100, 0),
                       1e-5 + (1e-3 - 1e-5) / 2, 1e-15);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_COSINE, 1e-3, 1e-5, 100, 100, 0), 1e-5, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_CONSTANT, 2e-3, 0, 77, 100, 0), 2e-3, 1e-18);
    cr_assert_float_eq(pf_schedule_lr(PF_SCHEDULE_CONSTANT, 2e-3, 0, 4, 100, 10), 1e-3, 1e-18);
    pf_schedule s;
    cr_assert_eq(pf_schedule_from_name("cosine", &s), PF_OK);
    cr_assert_eq(s, PF_SCHEDULE_COSINE);
    cr_assert_eq(pf_schedule_from_name("cosin", &s), PF_ERR_CONFIG);
}

Test(train, clipping_rescales_only_large_gradients)
{
    double g[2] = {3, 4};
    cr_assert_float_eq(pf_clip_grad_norm(2, g, 1.0), 5.0, 1e-15);
    cr_assert_float_eq(g[0], 0.6, 1e-15);
    cr_assert_float_eq(g[1], 0.8, 1e-15);
    double h[2] = {3, 4};
    pf_clip_grad_norm(2, h, 10.0);
    cr_assert(h[0] == 3 && h[1] == 4);
    pf_clip_grad_norm(2, h, 0.0);
    cr_assert(h[0] == 3 && h[1] == 4, "max_norm 0 means no clipping");
}

Test(train, ess_is_one_for_equal_weights_and_one_over_n_for_a_single_dominant_weight)
{
    enum { N = 50 };
    double lw[N];
    for (int i = 0; i < N; i++)
        lw[i] = -123.4; /* a constant shift must not matter */
    cr_assert_float_eq(pf_reverse_ess(N, lw), 1.0, 1e-14);
    cr_assert_float_eq(pf_forward_ess(N, lw), 1.0, 1e-14);
    lw[7] = 900.0;
    cr_assert_float_eq(pf_reverse_ess(N, lw), 1.0 / N, 1e-12);
}

Test(train, ess_matches_direct_formulas_on_moderate_weights)
{
    enum { N = 40 };
    double lw[N], w[N];
    pft_fill_normal(3, N, lw, 0.7);
    double s1 = 0, s2 = 0, sinv = 0;
    for (int i = 0; i < N; i++) {
        w[i] = exp(lw[i]);
        s1 += w[i];
        s2 += w[i] * w[i];
        sinv += 1 / w[i];
    }
    cr_assert_float_eq(pf_reverse_ess(N, lw), s1 * s1 / (N * s2), 1e-13);
    cr_assert_float_eq(pf_forward_ess(N, lw), 1.0 / ((s1 / N) * (sinv / N)), 1e-13);
    cr_assert_float_eq(pf_log_mean_exp(N, lw), log(s1 / N), 1e-13);
    /* huge log weights: no overflow */
    for (int i = 0; i < N; i++)
        lw[i] += 1e4;
    cr_assert_float_eq(pf_log_mean_exp(N, lw), log(s1 / N) + 1e4, 1e-9);
    cr_assert_float_eq(pf_reverse_ess(N, lw), s1 * s1 / (N * s2), 1e-12);
}

/* The published FNV-1a 64-bit test vectors (Fowler, Noll, Vo; the reference
 * implementation's test suite). */
Test(train, fnv1a_matches_the_published_test_vectors)
{
    const struct {
        const char *text;
        uint64_t hash;
    } vectors[] = {{"", 0xcbf29ce484222325ULL},
                   {"a", 0xaf63dc4c8601ec8cULL},
                   {"b", 0xaf63df4c8601f1a5ULL},
                   {"foobar", 0x85944171f73967e8ULL}};
    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++) {
        uint64_t h = pf_fnv1a(PF_FNV1A_INIT, vectors[k].text, strlen(vectors[k].text));
        cr_assert_eq(h, vectors[k].hash, "FNV-1a(\"%s\") = %016llx, published %016llx",
                     vectors[k].text, (unsigned long long)h, (unsigned long long)vectors[k].hash);
    }
    /* byte by byte equals all at once */
    uint64_t h = PF_FNV1A_INIT;
    for (const char *p = "foobar"; *p; p++)
        h = pf_fnv1a(h, p, 1);
    cr_assert_eq(h, 0x85944171f73967e8ULL);
}

static pf_flow *tiny_flow(unsigned long long seed)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = 2;
    o.n_layers = 2;
    o.n_hidden = 1;
    o.hidden[0] = 8;
    o.seed = seed;
    pf_flow *flow;
    cr_assert_eq(pf_flow_realnvp_create(&o, &flow), PF_OK, "%s", pf_last_error());
    return flow;
}

static pf_train_options tiny_options(void)
{
    pf_train_options o = pf_train_options_default();
    o.batch = 32;
    o.steps = 100;
    o.eval_every = 1000;
    o.eval_samples = 64;
    o.n_holdout = 64;
    o.settings_hash = 0x55;
    return o;
}

typedef struct ckpt_file {
    unsigned char buf[1 << 16];
    size_t size;
    uint32_t L;
} ckpt_file;

static void read_ckpt(const char *path, ckpt_file *c)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    c->size = fread(c->buf, 1, sizeof c->buf, f);
    fclose(f);
    cr_assert(c->size > 100 && c->size < sizeof c->buf);
    memcpy(&c->L, c->buf + 12, 4);
}

/* Writes c with its checksum recomputed from `basis`. */
static void write_ckpt(const char *path, ckpt_file *c, uint64_t basis)
{
    uint64_t sum = pf_fnv1a(basis, c->buf, c->size - 8);
    memcpy(c->buf + c->size - 8, &sum, 8);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(c->buf, 1, c->size, f), c->size);
    fclose(f);
}

/* A trainer after 3 steps of the mixture, saved at path. */
static pf_trainer *saved_trainer(pf_flow *flow, pf_target *target, const char *path)
{
    pf_train_options o = tiny_options();
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK, "%s", pf_last_error());
    for (int k = 0; k < 3; k++)
        cr_assert_eq(pf_trainer_step(t, NULL, NULL), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_trainer_save(t, path), PF_OK, "%s", pf_last_error());
    return t;
}

/* Version 3 is written, checksummed with the published basis; the metrics row
 * in progress travels with it (a resumed run's next row averages the same
 * steps). */
Test(train, checkpoints_are_version_3_with_an_fnv1a_checksum_and_the_row_in_progress)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = tiny_flow(1), *other = tiny_flow(7);
    pf_trainer *t = saved_trainer(flow, target, "v3.pfc");
    ckpt_file c;
    read_ckpt("v3.pfc", &c);
    uint32_t version;
    memcpy(&version, c.buf + 8, 4);
    cr_assert_eq(version, 3);
    uint64_t stored, h = 0xcbf29ce484222325ULL; /* spelled out: the published basis */
    for (size_t i = 0; i + 8 < c.size; i++)
        h = (h ^ c.buf[i]) * 0x100000001b3ULL;
    memcpy(&stored, c.buf + c.size - 8, 8);
    cr_assert_eq(stored, h, "checksum %016llx, FNV-1a %016llx", (unsigned long long)stored,
                 (unsigned long long)h);

    pf_train_options o = tiny_options();
    pf_trainer *u;
    cr_assert_eq(pf_trainer_create(other, target, &o, &u), PF_OK);
    cr_assert_eq(pf_trainer_load(u, "v3.pfc"), PF_OK, "%s", pf_last_error());
    pf_metrics a, b;
    cr_assert_eq(pf_trainer_evaluate(t, &a), PF_OK);
    cr_assert_eq(pf_trainer_evaluate(u, &b), PF_OK);
    cr_assert(isfinite(a.loss) && isfinite(a.grad_norm));
    cr_assert_eq(a.loss, b.loss, "loss of the row in progress %.17g, resumed %.17g", a.loss,
                 b.loss);
    cr_assert_eq(a.grad_norm, b.grad_norm);
    pf_trainer_destroy(u);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_flow_destroy(other);
    pf_target_destroy(target);
    remove("v3.pfc");
}

/* Versions 1 and 2 (checksums seeded with the old basis) load with the same
 * values: built from a version 3 file by dropping the newer fields. */
Test(train, version_1_and_2_checkpoints_still_load)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = tiny_flow(1);
    pf_trainer *t = saved_trainer(flow, target, "legacy_src.pfc");
    for (uint32_t version = 1; version <= 2; version++) {
        ckpt_file c, old;
        read_ckpt("legacy_src.pfc", &c);
        const size_t fields_at = 16 + (size_t)c.L, keep = version == 1 ? 32 : 40, drop = 88 - keep;
        memcpy(old.buf, c.buf, fields_at + keep);
        memcpy(old.buf + fields_at + keep, c.buf + fields_at + 88, c.size - fields_at - 88);
        old.size = c.size - drop;
        memcpy(old.buf + 8, &version, 4);
        write_ckpt("legacy.pfc", &old, PF_FNV1A_LEGACY_INIT);
        pf_flow *other = tiny_flow(5);
        pf_train_options o = tiny_options();
        pf_trainer *u;
        cr_assert_eq(pf_trainer_create(other, target, &o, &u), PF_OK);
        cr_assert_eq(pf_trainer_load(u, "legacy.pfc"), PF_OK, "version %u: %s", version,
                     pf_last_error());
        cr_assert_eq(pf_trainer_steps_done(u), 3);
        cr_assert(memcmp(pf_flow_params(flow), pf_flow_params(other),
                         pf_flow_n_params(flow) * sizeof(double)) == 0);
        pf_trainer_destroy(u);
        pf_flow_destroy(other);
        /* the new basis on an old version is a checksum mismatch */
        write_ckpt("legacy.pfc", &old, PF_FNV1A_INIT);
        cr_assert_eq(pf_flow_load_checkpoint(flow, "legacy.pfc"), PF_ERR_FORMAT);
        cr_assert_not_null(strstr(pf_last_error(), "checksum"), "%s", pf_last_error());
    }
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("legacy_src.pfc");
    remove("legacy.pfc");
}

/* A forged file with a valid checksum: one field changed at `offset`
 * (from the fields after the description) to `bytes`. */
static void expect_forged_refused(pf_flow *flow, size_t offset, const void *bytes, size_t n,
                                  const char *field)
{
    ckpt_file c;
    read_ckpt("ranges.pfc", &c);
    memcpy(c.buf + 16 + c.L + offset, bytes, n);
    write_ckpt("forged.pfc", &c, PF_FNV1A_INIT);
    cr_assert_eq(pf_flow_load_checkpoint(flow, "forged.pfc"), PF_ERR_FORMAT, "forged %s accepted",
                 field);
    cr_assert_not_null(strstr(pf_last_error(), field), "'%s' lacks %s", pf_last_error(), field);
}

Test(train, checkpoint_fields_are_range_checked_after_the_checksum)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = tiny_flow(1);
    pf_trainer *t = saved_trainer(flow, target, "ranges.pfc");
    const int64_t negative = -5;
    const double nan = NAN, inf = INFINITY, minus = -1.0;
    expect_forged_refused(flow, 8, &negative, 8, "step");     /* steps */
    expect_forged_refused(flow, 16, &negative, 8, "step");    /* Adam steps */
    expect_forged_refused(flow, 24, &negative, 8, "step");    /* skipped */
    expect_forged_refused(flow, 40, &nan, 8, "metrics");      /* loss sum */
    expect_forged_refused(flow, 56, &negative, 8, "metrics"); /* steps in the row */
    expect_forged_refused(flow, 88, &nan, 8, "parameters: value 0 is nan");
    expect_forged_refused(flow, 88 + 8, &inf, 8, "parameters: value 1 is inf");
    const size_t n = pf_flow_n_params(flow);
    expect_forged_refused(flow, 88 + 8 * n, &nan, 8, "adam_m");
    expect_forged_refused(flow, 88 + 16 * n + 8, &minus, 8, "adam_v: value 1");
    cr_assert_eq(pf_flow_load_checkpoint(flow, "ranges.pfc"), PF_OK, "%s", pf_last_error());
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("ranges.pfc");
    remove("forged.pfc");
}

/* A description holding terminal escapes is printed escaped. */
Test(train, a_foreign_flow_description_is_printed_escaped)
{
    pf_target *target;
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &target), PF_OK);
    pf_flow *flow = tiny_flow(1);
    pf_trainer *t = saved_trainer(flow, target, "escape_src.pfc");
    ckpt_file c;
    read_ckpt("escape_src.pfc", &c);
    memcpy(c.buf + 16, "\x1b]0;x\x07\x1b[31m", 11);
    write_ckpt("escaped.pfc", &c, PF_FNV1A_INIT);
    cr_assert_eq(pf_flow_load_checkpoint(flow, "escaped.pfc"), PF_ERR_FORMAT);
    const char *msg = pf_last_error();
    cr_assert_not_null(strstr(msg, "flow: checkpoint holds '\\x1b]0;x\\x07\\x1b[31m"), "%s", msg);
    for (const char *p = msg; *p; p++)
        cr_assert((unsigned char)*p >= 0x20 || *p == '\n', "raw control byte in '%s'", msg);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_target_destroy(target);
    remove("escape_src.pfc");
    remove("escaped.pfc");
}

/* The mixture's action for the first `finite` calls, NaN after: a run that
 * diverges at a known step. */
typedef struct turning_target {
    pf_target *inner;
    int calls, finite;
} turning_target;

static int turning_action(void *user, int B, const double *x, double *S)
{
    turning_target *tt = user;
    pf_target_action(tt->inner, B, x, S);
    if (++tt->calls > tt->finite)
        for (int b = 0; b < B; b++)
            S[b] = NAN;
    return 0;
}

static int turning_force(void *user, int B, const double *x, double *F)
{
    turning_target *tt = user;
    pf_target_force(tt->inner, B, x, F);
    if (tt->calls > tt->finite)
        for (int i = 0; i < 2 * B; i++)
            F[i] = NAN;
    return 0;
}

/* Stopped after max_bad_steps failures, the trainer holds (and saves) the
 * parameters at which the last finite loss was computed: not the ones the
 * last update produced, which are those the failures were computed at. */
Test(train, a_stopped_run_keeps_the_parameters_of_its_last_finite_loss)
{
    turning_target tt = {NULL, 0, 4};
    cr_assert_eq(pf_target_mgm_create(2, 1.0, 0.5, &tt.inner), PF_OK);
    pf_target *target;
    cr_assert_eq(pf_target_custom_create(2, turning_action, turning_force, &tt, &target), PF_OK);
    pf_flow *flow = tiny_flow(1);
    const size_t n = pf_flow_n_params(flow);
    double *before = malloc(n * sizeof *before), *last_good = malloc(n * sizeof *last_good);
    pf_train_options o = tiny_options();
    o.n_holdout = 0;
    o.max_bad_steps = 3;
    pf_trainer *t;
    cr_assert_eq(pf_trainer_create(flow, target, &o, &t), PF_OK, "%s", pf_last_error());
    pf_status st = PF_OK;
    for (int k = 0; k < 20 && st == PF_OK; k++) {
        memcpy(before, pf_flow_params(flow), n * sizeof *before);
        double loss;
        st = pf_trainer_step(t, &loss, NULL);
        if (st == PF_OK && isfinite(loss))
            memcpy(last_good, before, n * sizeof *before);
    }
    cr_assert_eq(st, PF_ERR_NUMERIC, "%s", pf_last_error());
    cr_assert(memcmp(pf_flow_params(flow), last_good, n * sizeof *before) == 0,
              "the stopped trainer does not hold the parameters of its last finite loss");
    cr_assert_eq(pf_trainer_save(t, "stopped.pfc"), PF_OK, "%s", pf_last_error());
    pf_flow *other = tiny_flow(9);
    cr_assert_eq(pf_flow_load_checkpoint(other, "stopped.pfc"), PF_OK, "%s", pf_last_error());
    cr_assert(memcmp(pf_flow_params(other), last_good, n * sizeof *before) == 0);
    free(before);
    free(last_good);
    pf_trainer_destroy(t);
    pf_flow_destroy(flow);
    pf_flow_destroy(other);
    pf_target_destroy(target);
    pf_target_destroy(tt.inner);
    remove("stopped.pfc");
}
