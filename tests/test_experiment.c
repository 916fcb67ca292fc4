/* Tests for src/experiment: refusal of bad configurations with file, line
 * and key; defaults and --set overrides; every shipped config validates; an
 * end-to-end run writes the documented run directory; the CLI exit codes. */
#include <criterion/criterion.h>
#include <unistd.h>
#include <sys/stat.h>
#include <errno.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pathflow/experiment.h>

#include "core/npy.h"
#include "experiment/experiment_impl.h" /* pf_config_* getters of resolved values */
#include "experiment/schema.h"

static const char *GOOD = "experiment: { name = \"t\"; seed = 2; }\n" /* line 1 */
                          "target: { kind = \"mgm\"; dim = 2; }\n"    /* line 2 */
                          "flow: { layers = 2; hidden = [8]; }\n"     /* line 3 */
                          "training: {\n"                             /* line 4 */
                          "  objective = \"reverse\";\n"              /* line 5 */
                          "  estimator = \"path\";\n"                 /* line 6 */
                          "  batch = 32;\n"                           /* line 7 */
                          "  steps = 50;\n"                           /* line 8 */
                          "};\n"
                          "eval: { every = 25; samples = 100; }\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* GOOD with line `line` (1-based) replaced by `replacement`. */
static void write_variant(const char *path, int line, const char *replacement)
{
    char buf[2048] = "";
    const char *p = GOOD;
    for (int l = 1; *p; l++) {
        const char *end = strchr(p, '\n');
        size_t n = (size_t)(end - p) + 1;
        if (l == line)
            strcat(buf, replacement);
        else
            strncat(buf, p, n);
        p += n;
    }
    write_file(path, buf);
}

static void expect_refused(const char *path, const char *const *overrides, int n,
                           const char *needle1, const char *needle2)
{
    pf_experiment *e = NULL;
    pf_status s = pf_experiment_load(path, overrides, n, &e);
    cr_assert_eq(s, PF_ERR_CONFIG, "status %d for %s: %s", s, path, pf_last_error());
    cr_assert_null(e);
    cr_assert_not_null(strstr(pf_last_error(), needle1), "'%s' lacks '%s'", pf_last_error(),
                       needle1);
    cr_assert_not_null(strstr(pf_last_error(), needle2), "'%s' lacks '%s'", pf_last_error(),
                       needle2);
}

/* Every field of two option sets (not memcmp: the struct has padding). */
static void assert_same_options(const pf_train_options *a, const pf_train_options *b)
{
    cr_assert(a->objective == b->objective && a->estimator == b->estimator);
    cr_assert(a->batch == b->batch && a->steps == b->steps && a->warmup == b->warmup);
    cr_assert(a->lr == b->lr && a->min_lr == b->min_lr && a->schedule == b->schedule);
    cr_assert(a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->eps == b->eps);
    cr_assert(a->clip_norm == b->clip_norm && a->seed == b->seed);
    cr_assert(a->eval_every == b->eval_every && a->eval_samples == b->eval_samples);
    cr_assert(a->max_bad_steps == b->max_bad_steps && a->n_data == b->n_data);
    cr_assert(a->n_holdout == b->n_holdout);
}

/* The file without its '#' comment lines (the header names the source). */
static void read_uncommented(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[1024];
    buf[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (line[0] != '#')
            strncat(buf, line, size - strlen(buf) - 1);
    fclose(f);
}

/* Writes e's resolved config, loads it back, writes that, and checks that
 * both files and the options agree: the resolved file reproduces the run. */
static void assert_round_trip(pf_experiment *e, const char *path)
{
    char again_path[256], first[8192], second[8192];
    snprintf(again_path, sizeof again_path, "%s.again", path);
    cr_assert_eq(pf_experiment_write_config(e, path), PF_OK, "%s", pf_last_error());
    pf_experiment *again;
    cr_assert_eq(pf_experiment_load(path, NULL, 0, &again), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_write_config(again, again_path), PF_OK);
    read_uncommented(path, first, sizeof first);
    read_uncommented(again_path, second, sizeof second);
    cr_assert_str_eq(first, second);
    cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(again), PF_OK, "%s", pf_last_error());
    assert_same_options(pf_experiment_train_options(e), pf_experiment_train_options(again));
    pf_experiment_destroy(again);
    remove(again_path);
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

Test(experiment, misspelled_keys_wrong_types_and_negative_batches_name_file_line_and_key)
{
    write_variant("bad1.cfg", 7, "  batchsize = 32;\n");
    expect_refused("bad1.cfg", NULL, 0, "bad1.cfg:7: key 'training.batchsize'",
                   "did you mean 'batch'");
    write_variant("bad2.cfg", 7, "  batch = \"many\";\n");
    expect_refused("bad2.cfg", NULL, 0, "bad2.cfg:7: key 'training.batch'", "expected an integer");
    write_variant("bad3.cfg", 7, "  batch = -5;\n");
    expect_refused("bad3.cfg", NULL, 0, "bad3.cfg:7: key 'training.batch'", "must be ≥ 1, got -5");
    write_variant("bad4.cfg", 4, "trainig: {\n");
    expect_refused("bad4.cfg", NULL, 0, "bad4.cfg:4", "did you mean 'training'");
    write_variant("bad5.cfg", 6, "  estimator = \"ml\";\n");
    expect_refused("bad5.cfg", NULL, 0, "bad5.cfg:6: key 'training.estimator'",
                   "total, path, path-dropin");
    write_variant("bad6.cfg", 2, "target: { kind = \"mgm\"; dim = 2; kappa = 0.3; }\n");
    expect_refused("bad6.cfg", NULL, 0, "bad6.cfg:2: key 'target.kappa'", "does not apply");
    write_variant("bad7.cfg", 7, "  batch == 32;\n");
    expect_refused("bad7.cfg", NULL, 0, "bad7.cfg:7", "syntax error");
    write_variant("bad8.cfg", 5, "\n");
    expect_refused("bad8.cfg", NULL, 0, "bad8.cfg:4: section 'training'",
                   "missing key 'objective'");
    write_variant("bad9.cfg", 2,
                  "target: { kind = \"phi4\"; lattice = [8, 8]; kappa = 0.3; lambda = 0.02; }\n");
    const char *forward[] = {"training.objective=forward", "training.estimator=ml"};
    expect_refused("bad9.cfg", forward, 2, "key 'data.source'", "no exact sampler");
    const char *ode_on_realnvp[] = {"ode.t1=2.0"};
    write_file("bad10.cfg", GOOD);
    expect_refused("bad10.cfg", ode_on_realnvp, 1, "key 'ode'", "flow kind 'cnf' only");
    const char *to_cnf[] = {"flow.kind=cnf"};
    expect_refused("bad10.cfg", to_cnf, 1, "bad10.cfg:3: key 'flow.layers'",
                   "does not apply to flow kind 'cnf'");
    write_variant("bad11.cfg", 3, "flow: { hidden = [8]; }\n");
    const char *cnf_relu[] = {"flow.kind=cnf", "flow.activation=relu"};
    expect_refused("bad11.cfg", cnf_relu, 2, "key 'flow.activation'", "smooth activation");
    const char *cnf_rtol[] = {"flow.kind=cnf", "ode.rtol=0"};
    expect_refused("bad11.cfg", cnf_rtol, 2, "--set ode.rtol=0: key 'ode.rtol'", "must be in");
    const char *u1_on_mgm[] = {"flow.kind=u1"};
    expect_refused("bad11.cfg", u1_on_mgm, 1, "key 'flow.kind'", "needs a u1 target");
    remove("bad10.cfg");
    remove("bad11.cfg");
    for (int i = 1; i <= 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "bad%d.cfg", i);
        remove(name);
    }
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("no-such.cfg", NULL, 0, &e), PF_ERR_IO);
    cr_assert_not_null(strstr(pf_last_error(), "no-such.cfg"), "%s", pf_last_error());
}

Test(experiment, defaults_are_filled_in_and_overrides_replace_values_of_every_type)
{
    write_file("good.cfg", GOOD);
    const char *overrides[] = {"training.lr=0.0012345678901234567",
                               "training.steps=7",
                               "flow.zero_init=false",
                               "training.estimator=path-dropin",
                               "flow.hidden=[4, 5]",
                               "experiment.name=\"renamed\"",
                               "training.clip_norm=2",
                               "training.schedule=constant",
                               " eval.every = 3 ",
                               "flow.activation=softplus",
                               "training.steps=5000000000"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("good.cfg", overrides, 11, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
    const pf_train_options *o = pf_experiment_train_options(e);
    cr_assert_eq(o->lr, 0.0012345678901234567, "float, every digit kept");
    cr_assert_eq(o->steps, 5000000000L, "the later override wins, read as a 64-bit integer");
    cr_assert_eq(o->estimator, PF_ESTIMATOR_PATH_DROPIN, "quoted-less string");
    cr_assert_eq(pf_config_bool(e, "flow.zero_init"), 0, "bool");
    cr_assert_float_eq(o->clip_norm, 2.0, 0, "an integer where a float goes");
    cr_assert_eq(o->schedule, PF_SCHEDULE_CONSTANT, "bare string");
    cr_assert_eq(o->eval_every, 3, "blanks around key and value");
    cr_assert_eq(o->batch, 32, "from the file");
    cr_assert_eq(o->seed, 2, "from the file");
    /* defaults */
    cr_assert_float_eq(o->beta1, 0.9, 0);
    cr_assert_float_eq(o->beta2, 0.999, 0);
    cr_assert_float_eq(o->eps, 1e-8, 0);
    cr_assert_float_eq(o->min_lr, 0.0, 0);
    cr_assert_eq(o->warmup, 0);
    cr_assert_eq(o->max_bad_steps, 10);
    cr_assert_eq(o->n_holdout, 2000);
    cr_assert_eq(o->data, NULL, "reverse KL has no training data");
    cr_assert_str_eq(pf_config_string(e, "flow.kind"), "realnvp");
    cr_assert_str_eq(pf_config_string(e, "flow.mask"), "halves");
    cr_assert_str_eq(pf_config_string(e, "data.source"), "exact");
    cr_assert_float_eq(pf_config_float(e, "target.loc"), 1.0, 0);
    cr_assert_float_eq(pf_config_float(e, "target.scale"), 0.5, 0);
    cr_assert_str_eq(pf_experiment_name(e), "renamed");
    cr_assert_str_eq(pf_experiment_default_out_dir(e), "runs/renamed");
    cr_assert_not_null(strstr(pf_flow_describe(pf_experiment_flow(e)), "hidden=[4,5]"), "%s",
                       pf_flow_describe(pf_experiment_flow(e)));
    assert_round_trip(e, "resolved.cfg");
    pf_experiment_destroy(e);
    const char *bad_type[] = {"training.batch=abc"};
    expect_refused("good.cfg", bad_type, 1, "--set training.batch=abc: key 'training.batch'",
                   "expected an integer");
    const char *float_for_int[] = {"training.batch=1.5"};
    expect_refused("good.cfg", float_for_int, 1, "--set training.batch=1.5", "expected an integer");
    const char *bad_bool[] = {"flow.zero_init=yes"};
    expect_refused("good.cfg", bad_bool, 1, "--set flow.zero_init=yes", "expected true or false");
    const char *bad_key[] = {"training.bacth=3"};
    expect_refused("good.cfg", bad_key, 1, "--set training.bacth=3", "did you mean 'batch'");
    const char *bad_section[] = {"trainig.batch=3"};
    expect_refused("good.cfg", bad_section, 1, "--set trainig.batch=3", "did you mean 'training'");
    const char *no_equals[] = {"training.batch"};
    expect_refused("good.cfg", no_equals, 1, "--set training.batch", "section.key=value");
    const char *bad_range[] = {"training.lr=-1"};
    expect_refused("good.cfg", bad_range, 1, "--set training.lr=-1: key 'training.lr'",
                   "must be in");
    const char *too_big[] = {"training.batch=3000000000"};
    expect_refused("good.cfg", too_big, 1, "--set training.batch=3000000000",
                   "must be ≤ 2147483647");
    remove("good.cfg");
    remove("resolved.cfg");
}

Test(experiment, inconsistent_or_unreadable_values_are_refused_naming_the_key)
{
    write_variant("inc1.cfg", 8, "  steps = 5000000000;\n");
    expect_refused("inc1.cfg", NULL, 0, "inc1.cfg:8: key 'training.steps'",
                   "write it as 5000000000L");
    write_variant("inc2.cfg", 8, "  steps = 50; lr = 1e-3; min_lr = 0.1;\n");
    expect_refused("inc2.cfg", NULL, 0, "inc2.cfg:8: key 'training.min_lr'",
                   "must be ≤ training.lr");
    write_variant("inc3.cfg", 1, "experiment: { name = \"\"; }\n");
    expect_refused("inc3.cfg", NULL, 0, "inc3.cfg:1: key 'experiment.name'", "non-empty");
    write_variant("inc4.cfg", 2,
                  "target: { kind = \"gmm\"; dim = 1; weights = [1.0, -1.0];\n"
                  "  means = ([0.0], [1.0]); covariances = ([1.0], [1.0]); }\n");
    expect_refused("inc4.cfg", NULL, 0, "inc4.cfg:2: key 'target.weights'", "weight 1 is -1");
    const char *exact_with_file[] = {"data.file=x.npy"};
    write_file("inc5.cfg", GOOD);
    expect_refused("inc5.cfg", exact_with_file, 1, "--set data.file=x.npy: key 'data.file'",
                   "applies to data.source = \"file\" only");
    const char *checkerboard[] = {"flow.mask=checkerboard"};
    expect_refused("inc5.cfg", checkerboard, 1, "key 'flow.mask'", "lattice target");
    const char *missing_data[] = {"training.objective=forward", "training.estimator=ml",
                                  "data.source=file", "data.file=no-such-data.npy"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("inc5.cfg", missing_data, 4, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_ERR_IO);
    cr_assert_not_null(strstr(pf_last_error(), "--set data.file=no-such-data.npy: key 'data.file': "
                                               "no-such-data.npy"),
                       "%s", pf_last_error());
    cr_assert_null(pf_experiment_flow(e), "a failed build leaves nothing built");
    pf_experiment_destroy(e);
    for (int i = 1; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "inc%d.cfg", i);
        remove(name);
    }
}

Test(experiment, docs_and_config_c_document_every_key_and_default)
{
    char path[4096];
    static char readme[65536], source[65536];
    snprintf(path, sizeof path, "%s/docs/config.md", PF_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    readme[fread(readme, 1, sizeof readme - 1, f)] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "%s/src/experiment/config.c", PF_SOURCE_DIR);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    source[fread(source, 1, sizeof source - 1, f)] = '\0';
    fclose(f);
    char *end_of_comment = strstr(source, "*/");
    cr_assert_not_null(end_of_comment);
    *end_of_comment = '\0'; /* the comment block at the top */
    for (int i = 0; i < PF_SCHEMA_SIZE; i++) {
        char key[128], with_default[256];
        snprintf(key, sizeof key, "%s.%s", PF_SCHEMA[i].section, PF_SCHEMA[i].key);
        cr_expect_not_null(strstr(readme, key), "docs/config.md lacks %s", key);
        cr_expect_not_null(strstr(source, key), "config.c's comment lacks %s", key);
        if (!PF_SCHEMA[i].fallback)
            continue;
        snprintf(with_default, sizeof with_default, "%s = %s", key, PF_SCHEMA[i].fallback);
        cr_expect_not_null(strstr(source, with_default), "config.c's comment lacks '%s'",
                           with_default);
    }
}

Test(experiment, every_shipped_config_loads_and_builds)
{
    DIR *dir = opendir(PF_SOURCE_DIR "/configs");
    cr_assert_not_null(dir);
    struct dirent *entry;
    int n = 0;
    while ((entry = readdir(dir))) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 4, ".cfg") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/configs/%s", PF_SOURCE_DIR, entry->d_name);
        pf_experiment *e;
        cr_assert_eq(pf_experiment_load(path, NULL, 0, &e), PF_OK, "%s", pf_last_error());
        pf_status st = pf_experiment_build(e);
        /* configs that train on HMC samples name a file the user makes first */
        if (st == PF_ERR_IO && strstr(pf_last_error(), "runs/u1_hmc"))
            cr_log_info("%s: validated; its data file is made by `pathflow hmc`", entry->d_name);
        else
            cr_assert_eq(st, PF_OK, "%s: %s", path, pf_last_error());
        pf_experiment_destroy(e);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 10, "found only %d configs", n);
}

Test(experiment, a_run_writes_config_metrics_checkpoint_and_samples)
{
    const char *shorter[] = {"training.steps=50", "eval.every=25", "eval.samples=300"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load(PF_SOURCE_DIR "/configs/quickstart.cfg", shorter, 3, &e), PF_OK,
                 "%s", pf_last_error());
    pf_metrics last;
    cr_assert_eq(pf_experiment_run(e, "run_out/nested", NULL, &last), PF_OK, "%s", pf_last_error());
    cr_assert_eq(last.step, 50);
    FILE *f = fopen("run_out/nested/metrics.csv", "r");
    cr_assert_not_null(f);
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "step,loss,grad_norm,ess,nll,kl,ess_forward,seconds\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        double v[8];
        cr_assert_eq(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3],
                            &v[4], &v[5], &v[6], &v[7]),
                     8, "row %s: every figure applies here", line);
        cr_assert(v[6] > 0 && v[6] <= 1, "ess_forward %g", v[6]);
        cr_assert_eq(v[0], 25 * rows);
        cr_assert(v[3] > 0 && v[3] <= 1, "ess %g", v[3]);
    }
    fclose(f);
    cr_assert_eq(rows, 2);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    cr_assert_eq(pf_npy_read("run_out/nested/samples.npy", &ndim, shape, &x), PF_OK);
    cr_assert(ndim == 2 && shape[0] == 300 && shape[1] == 2);
    free(x);
    cr_assert_eq(pf_npy_read("run_out/nested/log_weights.npy", &ndim, shape, &x), PF_OK);
    cr_assert(ndim == 1 && shape[0] == 300);
    for (int i = 0; i < 300; i++)
        cr_assert(isfinite(x[i]));
    free(x);
    cr_assert_eq(pf_flow_load_checkpoint(pf_experiment_flow(e), "run_out/nested/checkpoint.pfc"),
                 PF_OK, "%s", pf_last_error());
    /* the written config.cfg reloads to the same resolved configuration */
    char written[8192], rewritten[8192];
    pf_experiment *again;
    cr_assert_eq(pf_experiment_load("run_out/nested/config.cfg", NULL, 0, &again), PF_OK, "%s",
                 pf_last_error());
    cr_assert_eq(pf_experiment_write_config(again, "run_again.cfg"), PF_OK);
    read_uncommented("run_out/nested/config.cfg", written, sizeof written);
    read_uncommented("run_again.cfg", rewritten, sizeof rewritten);
    cr_assert_str_eq(written, rewritten);
    cr_assert_not_null(strstr(written, "steps = 50;"), "%s", written);
    cr_assert_not_null(strstr(written, "beta2 = 0.999;"), "defaults are written: %s", written);
    cr_assert_eq(pf_experiment_build(again), PF_OK);
    assert_same_options(pf_experiment_train_options(again), pf_experiment_train_options(e));
    pf_experiment_destroy(again);
    pf_experiment_destroy(e);
    remove("run_again.cfg");
}

Test(experiment, a_run_stopped_by_failed_steps_leaves_a_checkpoint_and_no_stale_results)
{
    write_file("diverge.cfg", GOOD);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("diverge.cfg", NULL, 0, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_run(e, "diverge_out", NULL, NULL), PF_OK, "%s", pf_last_error());
    pf_experiment_destroy(e);
    cr_assert(file_exists("diverge_out/samples.npy"));
    /* huge random initial weights: exp of the coupling scales overflows */
    const char *diverge[] = {"flow.zero_init=false", "flow.init_scale=1000",
                             "training.max_bad_steps=3"};
    cr_assert_eq(pf_experiment_load("diverge.cfg", diverge, 3, &e), PF_OK, "%s", pf_last_error());
    FILE *log = tmpfile();
    cr_assert_eq(pf_experiment_run(e, "diverge_out", log, NULL), PF_ERR_NUMERIC);
    cr_assert_not_null(strstr(pf_last_error(), "3 failed"), "the trainer's message: %s",
                       pf_last_error());
    char text[4096];
    rewind(log);
    text[fread(text, 1, sizeof text - 1, log)] = '\0';
    fclose(log);
    cr_assert_not_null(strstr(text, "diverge_out/checkpoint.pfc holds"), "log: %s", text);
    cr_assert_eq(pf_flow_load_checkpoint(pf_experiment_flow(e), "diverge_out/checkpoint.pfc"),
                 PF_OK, "%s", pf_last_error());
    cr_assert(!file_exists("diverge_out/samples.npy"), "the earlier run's samples are gone");
    pf_experiment_destroy(e);
    remove("diverge.cfg");
}

Test(experiment, forward_kl_without_an_nll_figure_leaves_empty_cells)
{
    /* phi4 has no exact sampler and no log Z: nll and kl cells are empty */
    write_file(
        "phi.cfg",
        "target: { kind = \"phi4\"; lattice = [4, 4]; kappa = 0.2; lambda = 0.02; }\n"
        "flow: { layers = 2; hidden = [8]; mask = \"checkerboard\"; }\n"
        "training: { objective = \"reverse\"; estimator = \"total\"; batch = 16; steps = 4; }\n"
        "eval: { every = 4; samples = 32; }\n");
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("phi.cfg", NULL, 0, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_run(e, "phi_out", NULL, NULL), PF_OK, "%s", pf_last_error());
    FILE *f = fopen("phi_out/metrics.csv", "r");
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert_not_null(strstr(line, ",,,"), "nll and kl should be empty: %s", line);
    pf_experiment_destroy(e);
    remove("phi.cfg");
}

static int run_cli(const char *args, char *err, size_t size)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>cli_err.txt >/dev/null", PF_CLI_PATH, args);
    int status = system(cmd);
    FILE *f = fopen("cli_err.txt", "r");
    size_t n = f ? fread(err, 1, size - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(experiment, the_cli_refuses_a_bad_config_with_a_message_and_a_nonzero_exit)
{
    write_variant("cli_bad.cfg", 7, "  batch = -5;\n");
    char err[2048];
    int code = run_cli("train cli_bad.cfg --out cli_out", err, sizeof err);
    cr_assert_eq(code, 2, "exit %d, stderr: %s", code, err);
    cr_assert_not_null(strstr(err, "cli_bad.cfg:7: key 'training.batch'"), "stderr: %s", err);
    code = run_cli("train cli_missing.cfg", err, sizeof err);
    cr_assert_eq(code, 3, "missing file: exit %d", code);
    code = run_cli("train", err, sizeof err);
    cr_assert_eq(code, 2);
    cr_assert_not_null(strstr(err, "usage"), "%s", err);
    write_file("cli_good.cfg", GOOD);
    code = run_cli(
        "train cli_good.cfg --set training.steps=10 --set eval.every=5 --out cli_out --force", err,
        sizeof err);
    cr_assert_eq(code, 0, "stderr: %s", err);
    cr_assert_not_null(strstr(err, "step 5/10"), "plain lines when not a terminal: %s", err);
    cr_assert_not_null(strstr(err, "step 10/10"), "%s", err);
    cr_assert_null(strchr(err, '\r'), "no bar redraws when not a terminal");
    cr_assert_not_null(strstr(err, "results in cli_out"), "%s", err);
    code = run_cli("train cli_good.cfg --set training.batch=abc", err, sizeof err);
    cr_assert_eq(code, 2);
    cr_assert_not_null(strstr(err, "--set training.batch=abc: key 'training.batch'"), "%s", err);
    code = run_cli("train cli_good.cfg --out", err, sizeof err);
    cr_assert_eq(code, 2);
    cr_assert_not_null(strstr(err, "needs a value"), "%s", err);
    code = run_cli("train --help", err, sizeof err);
    cr_assert_eq(code, 0);
    remove("cli_bad.cfg");
    remove("cli_good.cfg");
}

/* Trains a shipped config (with overrides) and returns the final reverse ESS. */
static double train_config(const char *name, const char *const *overrides, int n)
{
    char path[4096], out[256];
    snprintf(path, sizeof path, "%s/configs/%s", PF_SOURCE_DIR, name);
    snprintf(out, sizeof out, "trained_%s", name);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load(path, overrides, n, &e), PF_OK, "%s", pf_last_error());
    pf_metrics last;
    cr_assert_eq(pf_experiment_run(e, out, NULL, &last), PF_OK, "%s", pf_last_error());
    cr_log_info("%s: ESS %.3f, KL %.4f, NLL %.4f after %ld steps (%.1f s)", name, last.ess, last.kl,
                last.nll, last.step, last.seconds);
    pf_experiment_destroy(e);
    return last.ess;
}

Test(experiment, quickstart_config_reaches_reverse_ess_0_9_on_the_2d_mixture)
{
    double ess = train_config("quickstart.cfg", NULL, 0);
    cr_assert_geq(ess, 0.9, "reverse ESS %.3f < 0.9", ess);
}

Test(experiment, mgm_reverse_path_config_reaches_reverse_ess_0_5_on_the_6d_mixture)
{
    const char *shorter[] = {"training.steps=1500", "eval.every=1500"};
    double ess = train_config("mgm_reverse_path.cfg", shorter, 2);
    cr_assert_geq(ess, 0.5, "reverse ESS %.3f < 0.5", ess);
}

Test(experiment, forward_kl_trains_on_samples_from_an_npy_file_and_checks_their_shape)
{
    enum { N = 64, d = 2 };
    double x[N * d];
    pf_target *t;
    cr_assert_eq(pf_target_mgm_create(d, 1.0, 0.5, &t), PF_OK);
    pf_rng rng = pf_rng_make(5, 5);
    cr_assert_eq(pf_target_sample(t, &rng, N, x), PF_OK);
    pf_target_destroy(t);
    size_t shape[2] = {N, d}, wrong[2] = {N / 2, 2 * d};
    cr_assert_eq(pf_npy_write("train.npy", 2, shape, x), PF_OK);
    cr_assert_eq(pf_npy_write("wrong.npy", 2, wrong, x), PF_OK);
    write_file("fwd.cfg", GOOD);
    const char *use_file[] = {"training.objective=forward", "training.estimator=path",
                              "data.source=file", "data.file=train.npy", "data.n_holdout=100"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("fwd.cfg", use_file, 5, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
    const pf_train_options *o = pf_experiment_train_options(e);
    cr_assert_eq(o->n_data, N);
    cr_assert_eq(memcmp(o->data, x, sizeof x), 0, "training data differ from the file");
    pf_metrics last;
    cr_assert_eq(pf_experiment_run(e, "fwd_out", NULL, &last), PF_OK, "%s", pf_last_error());
    cr_assert(isfinite(last.nll) && isfinite(last.ess_forward), "nll %g", last.nll);
    pf_experiment_destroy(e);
    const char *use_wrong[] = {"training.objective=forward", "training.estimator=ml",
                               "data.source=file", "data.file=wrong.npy"};
    cr_assert_eq(pf_experiment_load("fwd.cfg", use_wrong, 4, &e), PF_OK);
    cr_assert_eq(pf_experiment_build(e), PF_ERR_CONFIG);
    cr_assert_not_null(strstr(pf_last_error(), "wrong.npy: shape"), "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "key 'data.file'"), "%s", pf_last_error());
    pf_experiment_destroy(e);
    remove("train.npy");
    remove("wrong.npy");
    remove("fwd.cfg");
}

Test(experiment, cnf_reverse_path_config_reaches_reverse_ess_0_8_on_the_2d_mixture)
{
    const char *shorter[] = {"training.steps=100", "eval.every=100"};
    double ess = train_config("cnf_gmm2d_reverse_path.cfg", shorter, 2);
    cr_assert_geq(ess, 0.8, "reverse ESS %.3f < 0.8", ess);
}

Test(experiment, cnf_forward_path_config_improves_held_out_nll_over_training)
{
    /* The untrained CNF is the identity: q = N(0, I), whose NLL on the
     * mixture is E|x|²/2 + log 2π = 1.5 + 1.8379 = 3.338. */
    const char *shorter[] = {"training.steps=60", "eval.every=10", "data.n_holdout=1000"};
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/cnf_gmm2d_forward_path.cfg", PF_SOURCE_DIR);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load(path, shorter, 3, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_run(e, "trained_cnf_forward", NULL, NULL), PF_OK, "%s",
                 pf_last_error());
    pf_experiment_destroy(e);
    FILE *f = fopen("trained_cnf_forward/metrics.csv", "r");
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_str_eq(line,
                     "step,loss,grad_norm,ess,nll,kl,ess_forward,seconds,nfe_forward,nfe_backward\n");
    double first = NAN, last = NAN, nfe_f = 0, nfe_b = 0;
    while (fgets(line, sizeof line, f)) {
        double v[10];
        cr_assert_eq(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]),
                     10, "row %s", line);
        cr_assert(v[6] > 0 && v[6] <= 1, "ess_forward %g", v[6]);
        if (isnan(first))
            first = v[4];
        last = v[4];
        cr_assert_gt(v[8], nfe_f, "nfe_forward grows");
        cr_assert_gt(v[9], nfe_b, "nfe_backward grows");
        nfe_f = v[8];
        nfe_b = v[9];
    }
    fclose(f);
    cr_log_info("CNF forward path: held-out NLL %.4f after 10 steps, %.4f after 60", first, last);
    cr_assert_lt(last, first, "NLL should fall over training: %g → %g", first, last);
    cr_assert_lt(last, 3.338 - 0.05, "NLL %g should beat the identity flow's 3.338", last);
}

Test(experiment, a_flow_too_large_for_memory_is_refused_before_anything_is_allocated)
{
    write_file("huge.cfg", GOOD);
    const char *huge[] = {"target.dim=100000", "flow.hidden=[8192, 8192]"};
    expect_refused("huge.cfg", huge, 2, "key 'flow.hidden'", "GB");
    const char *fine[] = {"target.dim=8"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("huge.cfg", fine, 1, &e), PF_OK, "%s", pf_last_error());
    pf_experiment_destroy(e);
    remove("huge.cfg");
}

Test(experiment, an_empty_kind_is_refused_not_read_past)
{
    /* found by fuzzing: an empty target kind made the defaults loop read past a string */
    write_variant("empty_kind.cfg", 2, "target: { kind = \"\"; dim = 2; }\n");
    expect_refused("empty_kind.cfg", NULL, 0, "key 'target.kind'", "unknown");
    write_variant("empty_flow.cfg", 3, "flow: { kind = \"\"; }\n");
    expect_refused("empty_flow.cfg", NULL, 0, "key 'flow.kind'", "unknown");
    remove("empty_kind.cfg");
    remove("empty_flow.cfg");
}

Test(experiment, checkpoints_follow_checkpoint_every_and_a_stopped_run_keeps_the_last_one)
{
    write_file("ckev.cfg", GOOD);
    const char *every[] = {"training.checkpoint_every=7", "eval.every=1000"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("ckev.cfg", every, 2, &e), PF_OK, "%s", pf_last_error());
    /* stop after 20 of 50 steps with a checkpoint every 7 steps (none at the
     * metrics rows): the file left is the end-of-job one, at step 20 */
    cr_assert_eq(pf_experiment_run_with(e, "ckev_out", NULL, NULL, 20, 0), PF_OK, "%s",
                 pf_last_error());
    pf_experiment_destroy(e);
    FILE *f = fopen("ckev_out/checkpoint.pfc", "rb");
    cr_assert_not_null(f);
    unsigned char head[16];
    cr_assert_eq(fread(head, 1, 16, f), 16);
    uint32_t L;
    memcpy(&L, head + 12, 4);
    fseek(f, 16 + L + 8, SEEK_SET);
    int64_t step;
    cr_assert_eq(fread(&step, 8, 1, f), 1);
    fclose(f);
    cr_assert_eq(step, 20);
    const char *bad[] = {"training.checkpoint_every=-1"};
    expect_refused("ckev.cfg", bad, 1, "key 'training.checkpoint_every'", "must be");
    remove("ckev.cfg");
}

/* Includes are switched off (the libconfig this builds against has no hook
 * to vet them, and its scanner exits the process on an included directory
 * and blocks on a FIFO): any @include is refused naming file and line, as is
 * a configuration that is a directory, and a --set value spanning lines
 * (which could smuggle one in). */
Test(experiment, includes_and_configurations_that_are_not_files_are_refused)
{
    cr_assert(mkdir("include_dir", 0777) == 0 || errno == EEXIST);
    write_file("included.cfg", "eval: { every = 5; };\n");
    write_variant("inc_dir.cfg", 3, "  @include \"include_dir\"\n");
    expect_refused("inc_dir.cfg", NULL, 0, "inc_dir.cfg:3: @include", "switched off");
    write_variant("inc_file.cfg", 10, "@include \"included.cfg\"\n");
    expect_refused("inc_file.cfg", NULL, 0, "inc_file.cfg:10: @include", "switched off");
    expect_refused("include_dir", NULL, 0, "include_dir", "not a regular file");
    write_file("inc_set.cfg", GOOD);
    const char *smuggled[] = {"eval.every=5;\n@include \"include_dir\"\n"};
    expect_refused("inc_set.cfg", smuggled, 1, "--set eval.every=5;", "line break");
    remove("included.cfg");
    remove("inc_dir.cfg");
    remove("inc_file.cfg");
    remove("inc_set.cfg");
    rmdir("include_dir");
}

/* The keys that would make a resume diverge are named with both values; keys
 * that do not shape training, training.steps among them, are not. */
Test(experiment, compare_settings_names_only_the_keys_that_shape_training)
{
    const char *changed[] = {"training.lr=0.002", "eval.every=7", "training.steps=9000",
                             "flow.layers=6"};
    pf_experiment *a, *b;
    cr_assert_eq(pf_experiment_load(PF_SOURCE_DIR "/configs/quickstart.cfg", NULL, 0, &a), PF_OK);
    cr_assert_eq(pf_experiment_load(PF_SOURCE_DIR "/configs/quickstart.cfg", changed, 4, &b),
                 PF_OK, "%s", pf_last_error());
    char buf[1024];
    cr_assert_eq(pf_experiment_compare_settings(a, a, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(pf_experiment_compare_settings(a, b, buf, sizeof buf), 2, "%s", buf);
    cr_assert_str_eq(buf, "flow.layers = 6 (was 4), training.lr = 0.002 (was 0.005)");
    /* a buffer too small is cut, never overrun */
    char small[12];
    cr_assert_eq(pf_experiment_compare_settings(a, b, small, sizeof small), 2);
    cr_assert_str_eq(small, "flow.layers");
    pf_experiment_destroy(a);
    pf_experiment_destroy(b);
}

/* A path of about 3000 bytes does not push the reason out of the message. */
Test(experiment, a_long_path_leaves_the_reason_of_a_failure_visible)
{
    char dir[4096] = ".";
    char name[201];
    memset(name, 'd', 200);
    name[200] = '\0';
    for (int k = 0; k < 15; k++) {
        strcat(dir, "/");
        strcat(dir, name);
        cr_assert(mkdir(dir, 0777) == 0 || errno == EEXIST, "%s", strerror(errno));
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/long.cfg", dir);
    write_variant(path, 7, "  batch = -5;\n");
    expect_refused(path, NULL, 0, "long.cfg:7: key 'training.batch'", "must be ≥ 1, got -5");
    remove(path);
    for (int k = 15; k > 0; k--) {
        rmdir(dir);
        *strrchr(dir, '/') = '\0';
    }
}

/* Values libconfig 1.5 reads wrongly or reports without a name: a hex
 * literal beyond 31 bits (read as -1), a key given twice. */
Test(experiment, hex_beyond_31_bits_and_duplicate_keys_are_reported_as_written)
{
    write_variant("hex.cfg", 7, "  batch = 0xFFFFFFFF;\n");
    expect_refused("hex.cfg", NULL, 0, "hex.cfg:7: key 'training.batch'", "4294967295");
    const char *hex[] = {"training.batch=0xFFFFFFFF"};
    write_file("hex2.cfg", GOOD);
    pf_experiment *e = NULL;
    cr_assert_neq(pf_experiment_load("hex2.cfg", hex, 1, &e), PF_OK);
    cr_assert_not_null(strstr(pf_last_error(), "4294967295"), "%s", pf_last_error());
    cr_assert_null(strstr(pf_last_error(), "-1"), "%s", pf_last_error());
    write_variant("dup.cfg", 8, "  steps = 50; steps = 60;\n");
    expect_refused("dup.cfg", NULL, 0, "dup.cfg:8", "'steps'");
    write_variant("dup2.cfg", 7, "  batch = 32;\n  lr = 1e-3;\n  lr = 2e-3;\n");
    expect_refused("dup2.cfg", NULL, 0, "dup2.cfg:9", "'lr'");
    remove("hex.cfg");
    remove("hex2.cfg");
    remove("dup.cfg");
    remove("dup2.cfg");
}

/* Sizes that training could not allocate are refused when the
 * configuration loads (so by `pathflow check`), naming the key. */
Test(experiment, sample_counts_training_cannot_allocate_are_refused_naming_the_key)
{
    write_file("sizes.cfg", GOOD);
    const char *eval[] = {"eval.samples=2000000000"};
    expect_refused("sizes.cfg", eval, 1, "key 'eval.samples'", "GB");
    const char *holdout[] = {"data.n_holdout=2000000000"};
    expect_refused("sizes.cfg", holdout, 1, "key 'data.n_holdout'", "GB");
    const char *train[] = {"training.objective=forward", "training.estimator=ml",
                           "data.n_train=2000000000"};
    expect_refused("sizes.cfg", train, 3, "key 'data.n_train'", "GB");
    const char *fine[] = {"eval.samples=100000", "data.n_holdout=100000"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("sizes.cfg", fine, 2, &e), PF_OK, "%s", pf_last_error());
    pf_experiment_destroy(e);
    remove("sizes.cfg");
}

/* A NaN or an infinity in a data file is found when it loads, by file and row. */
Test(experiment, non_finite_values_in_a_data_file_are_reported_by_file_and_row)
{
    enum { N = 32, d = 2 };
    double x[N * d];
    for (int i = 0; i < N * d; i++)
        x[i] = 0.01 * i;
    x[2 * 17 + 1] = NAN;
    size_t shape[2] = {N, d};
    cr_assert_eq(pf_npy_write("nan.npy", 2, shape, x), PF_OK);
    x[2 * 17 + 1] = 0;
    x[2 * 5] = -INFINITY;
    cr_assert_eq(pf_npy_write("inf.npy", 2, shape, x), PF_OK);
    write_file("nandata.cfg", GOOD);
    const char *nan_data[] = {"training.objective=forward", "training.estimator=ml",
                              "data.source=file", "data.file=nan.npy"};
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load("nandata.cfg", nan_data, 4, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_ERR_CONFIG, "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "key 'data.file': nan.npy: row 17"), "%s",
                       pf_last_error());
    pf_experiment_destroy(e);
    const char *inf_holdout[] = {"data.holdout_file=inf.npy"};
    cr_assert_eq(pf_experiment_load("nandata.cfg", inf_holdout, 1, &e), PF_OK, "%s",
                 pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_ERR_CONFIG, "%s", pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), "key 'data.holdout_file': inf.npy: row 5"), "%s",
                       pf_last_error());
    pf_experiment_destroy(e);
    remove("nan.npy");
    remove("inf.npy");
    remove("nandata.cfg");
}
