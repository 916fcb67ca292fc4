/* Tests for the pathflow tool's sample and eval commands on a trained run of
 * the quick-start Gaussian mixture (exact mean 0). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "testutil.h"

/* Runs the tool; out gets its standard output (and its errors, if errors). */
static int run_capture(const char *args, char *out, size_t size, int errors)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s", PF_CLI_PATH, args, errors ? "2>&1" : "2>/dev/null");
    return pft_shell(cmd, out, size);
}

static int run(const char *args, char *out, size_t size) { return run_capture(args, out, size, 0); }

/* The value after `key` in text, e.g. "reverse ESS 0.99". */
static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    cr_assert_not_null(p, "'%s' missing in:\n%s", key, text);
    return atof(p + strlen(key));
}

Test(cli, eval_of_a_trained_mixture_recovers_the_exact_mean_and_the_training_ess)
{
    static char out[16384];
    char args[4200];
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg --out cli_run", PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 0);
    FILE *f = fopen("cli_run/metrics.csv", "r");
    char line[512], last[512] = "";
    while (fgets(line, sizeof line, f))
        strcpy(last, line);
    fclose(f);
    double train_ess;
    cr_assert_eq(sscanf(last, "%*[^,],%*[^,],%*[^,],%lf", &train_ess), 1, "%s", last);

    cr_assert_eq(run("eval cli_run -n 20000", out, sizeof out), 0, "%s", out);
    double ess = number_after(out, "reverse ESS ");
    cr_log_info("ESS: training %.4f, eval %.4f", train_ess, ess);
    cr_assert_lt(fabs(ess - train_ess), 0.05, "eval ESS %.4f vs training %.4f", ess, train_ess);
    for (int i = 0; i < 2; i++) { /* | mean x[i] | estimate | error | */
        char key[32];
        snprintf(key, sizeof key, "| mean x[%d] | ", i);
        const char *row = strstr(out, key);
        cr_assert_not_null(row, "%s", out);
        double est, err;
        cr_assert_eq(sscanf(row + strlen(key), "%lf | %lf", &est, &err), 2);
        cr_assert_gt(err, 0);
        cr_assert_lt(fabs(est), 5 * err, "mean x[%d] = %g ± %g, exact 0", i, est, err);
        snprintf(key, sizeof key, "| x[%d] | ", i);
        row = strstr(out, key);
        cr_assert_not_null(row, "%s", out);
        cr_assert_eq(sscanf(row + strlen(key), "%lf | %lf", &est, &err), 2);
        cr_assert_lt(fabs(est), 5 * err, "Metropolis x[%d] = %g ± %g, exact 0", i, est, err);
    }
    cr_assert_gt(number_after(out, "acceptance "), 0.8);

    cr_assert_eq(run("sample cli_run -n 300 -o cli_run/draws.npy", out, sizeof out), 0);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    cr_assert_eq(pf_npy_read("cli_run/draws.npy", &ndim, shape, &x), PF_OK, "%s", pf_last_error());
    cr_assert(ndim == 2 && shape[0] == 300 && shape[1] == 2);
    free(x);
    cr_assert_eq(pf_npy_read("cli_run/draws_log_weights.npy", &ndim, shape, &x), PF_OK);
    cr_assert(ndim == 1 && shape[0] == 300);
    free(x);
    cr_assert_neq(run("eval no_such_run", out, sizeof out), 0);
}

Test(cli, stopping_and_resuming_gives_the_same_checkpoint_bit_for_bit)
{
    static char out[8192];
    char args[4400];
    const char *set = "--set training.steps=300 --set eval.every=100";
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg %s --out resume_a", PF_SOURCE_DIR, set);
    cr_assert_eq(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg %s --out resume_b --stop-at 100",
             PF_SOURCE_DIR, set);
    cr_assert_eq(run(args, out, sizeof out), 0);
    cr_assert_eq(run("train --resume resume_b", out, sizeof out), 0);
    FILE *a = fopen("resume_a/checkpoint.pfc", "rb"), *b = fopen("resume_b/checkpoint.pfc", "rb");
    cr_assert(a && b);
    static unsigned char ba[1 << 20], bb[1 << 20];
    size_t na = fread(ba, 1, sizeof ba, a), nb = fread(bb, 1, sizeof bb, b);
    fclose(a);
    fclose(b);
    cr_assert_eq(na, nb);
    cr_assert(memcmp(ba, bb, na) == 0, "2N steps and N + resume + N differ");
    int rows = 0;
    FILE *m = fopen("resume_b/metrics.csv", "r");
    while (fgets(out, sizeof out, m))
        rows++;
    fclose(m);
    cr_assert_eq(rows, 4, "header + 3 rows after the resume appended, got %d lines", rows);
}

static void expect_same_file(const char *path_a, const char *path_b)
{
    FILE *a = fopen(path_a, "rb"), *b = fopen(path_b, "rb");
    cr_assert(a && b, "%s or %s missing", path_a, path_b);
    static unsigned char ba[1 << 20], bb[1 << 20];
    size_t na = fread(ba, 1, sizeof ba, a), nb = fread(bb, 1, sizeof bb, b);
    fclose(a);
    fclose(b);
    cr_assert(na == nb && memcmp(ba, bb, na) == 0, "%s and %s differ", path_a, path_b);
}

/* A CNF with Hutchinson probes resumes exactly too (the probes are keyed by
 * the step, not by a count of solves that restarts with the process), and a
 * resume under changed training settings is refused, naming them. */
Test(cli, resuming_a_cnf_with_hutchinson_probes_is_exact_and_changed_settings_are_refused)
{
    static char out[8192];
    char args[4400];
    const char *set = "--set training.steps=6 --set eval.every=3 --set eval.samples=64 "
                      "--set training.batch=16 --set data.n_holdout=64";
    const char *cfg = "configs/cnf_mgm6d_reverse_path_hutchinson.cfg";
    snprintf(args, sizeof args, "train %s/%s %s --out hutch_a", PF_SOURCE_DIR, cfg, set);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "train %s/%s %s --out hutch_b --stop-at 3", PF_SOURCE_DIR, cfg,
             set);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
    cr_assert_eq(run_capture("train --resume hutch_b --set training.lr=0.5", out, sizeof out, 1),
                 2);
    /* the refusal names the key and its two values, and nothing looks started */
    cr_assert_not_null(strstr(out, "training.lr = 0.5 (was "), "%s", out);
    cr_assert_null(strstr(out, "resuming at"), "%s", out);
    cr_assert_null(strstr(out, "step "), "%s", out);
    /* the refused resume left config.cfg as it was; a key that does not shape
     * training may change */
    cr_assert_eq(run("train --resume hutch_b --set eval.samples=32", out, sizeof out), 0, "%s",
                 out);
    expect_same_file("hutch_a/checkpoint.pfc", "hutch_b/checkpoint.pfc");
}

Test(cli, check_validates_a_config_without_training)
{
    static char out[8192];
    char args[4400];
    snprintf(args, sizeof args, "check %s/configs/u1_reverse_path.cfg", PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "ok"), "%s", out);
    snprintf(args, sizeof args, "check %s/configs/quickstart.cfg --set training.batch=-1",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 2);
}

/* The options a command's parser accepts: every "-x"/"--xyz" literal compared
 * with an argument (strcmp/strncmp) in its source files (NULL-terminated). */
static int parser_options(const char *const files[], char options[][32], int max)
{
    int n = 0;
    for (int k = 0; files[k]; k++) {
        char path[4200], line[1024];
        snprintf(path, sizeof path, "%s/%s", PF_SOURCE_DIR, files[k]);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        while (fgets(line, sizeof line, f)) {
            if (!strstr(line, "strcmp(") && !strstr(line, "strncmp("))
                continue;
            for (const char *p = strstr(line, "\"-"); p; p = strstr(p + 1, "\"-")) {
                size_t len = strcspn(p + 1, "\"=");
                if (len < 2 || len >= 32)
                    continue;
                char opt[32];
                memcpy(opt, p + 1, len);
                opt[len] = '\0';
                int seen = 0;
                for (int i = 0; i < n; i++)
                    seen |= strcmp(options[i], opt) == 0;
                if (!seen && n < max)
                    strcpy(options[n++], opt);
            }
        }
        fclose(f);
    }
    return n;
}

/* Does text name option as a whole word ("--step" is not in "--steps")? */
static int mentions(const char *text, const char *option)
{
    for (const char *p = strstr(text, option); p; p = strstr(p + 1, option)) {
        char before = p == text ? ' ' : p[-1], after = p[strlen(option)];
        if (before != '-' && !(after == '-' || (after >= 'a' && after <= 'z')))
            return 1;
    }
    return 0;
}

/* Every command's --help exits 0 and explains every option its parser
 * accepts, with an example and the exit codes. */
Test(cli, every_command_has_a_help_naming_each_option_of_its_parser)
{
    static const struct {
        const char *command, *files[3];
        int min_options;
    } commands[] = {
        {"train", {"src/cli/train.c"}, 5},
        {"hmc", {"src/cli/hmc.c"}, 8},
        {"check", {"src/cli/check.c"}, 1},
        {"sample", {"src/cli/sample.c"}, 3},
        {"eval", {"src/cli/eval.c", "src/cli/eval_format.c"}, 4},
        {"export", {"src/cli/export.c"}, 1},
        {"bench", {"bench/bench.c", "bench/mpi_scaling.c"}, 3},
        {"variance", {"bench/variance.c"}, 6},
    };
    static char out[16384];
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
        char options[32][32], args[64];
        int n = parser_options(commands[c].files, options, 32);
        cr_assert_geq(n, commands[c].min_options, "%s: found %d options in its parser",
                      commands[c].command, n);
        for (int h = 0; h < 2; h++) {
            snprintf(args, sizeof args, "%s %s", commands[c].command, h ? "-h" : "--help");
            cr_assert_eq(run(args, out, sizeof out), 0, "pathflow %s", args);
            for (int i = 0; i < n; i++)
                cr_assert(mentions(out, options[i]), "pathflow %s does not explain %s:\n%s", args,
                          options[i], out);
            cr_assert_not_null(strstr(out, "example"), "pathflow %s: no example", args);
            cr_assert_not_null(strstr(out, "exit status"), "pathflow %s: no exit codes", args);
        }
    }
    /* the top-level help lists every command main.c dispatches */
    cr_assert_eq(run("--help", out, sizeof out), 0);
    FILE *f = fopen(PF_SOURCE_DIR "/src/cli/main.c", "r");
    char line[512];
    int dispatched = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "strcmp(argv[1], \"");
        char command[32];
        if (!p || sscanf(p, "strcmp(argv[1], \"%31[a-z]\"", command) != 1)
            continue;
        dispatched++;
        char listed[40];
        snprintf(listed, sizeof listed, "  %s ", command);
        cr_assert_not_null(strstr(out, listed), "pathflow --help does not list %s", command);
    }
    if (f)
        fclose(f);
    cr_assert_geq(dispatched, 8);
    cr_assert_not_null(strstr(run_capture("train --help", out, sizeof out, 0) == 0 ? out : "",
                              "docs/config.md"));
    /* a usage error still exits 2 */
    cr_assert_eq(run("hmc --no-such-option", out, sizeof out), 2);
}

/* pathflow export writes θ exactly as the checkpoint holds it: compared with
 * the checkpoint's bytes (θ, m, v are its last 3n doubles before the hash). */
Test(cli, export_writes_the_checkpoints_parameters)
{
    static char out[8192];
    char args[4400];
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=20 --set eval.every=10 "
             "--out export_run",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 0);
    cr_assert_eq(run("export export_run -o export_run/params.npy", out, sizeof out), 0);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *theta;
    cr_assert_eq(pf_npy_read("export_run/params.npy", &ndim, shape, &theta), PF_OK, "%s",
                 pf_last_error());
    cr_assert_eq(ndim, 1);
    FILE *f = fopen("export_run/checkpoint.pfc", "rb");
    static unsigned char buf[1 << 20];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint32_t L;
    uint64_t n;
    memcpy(&L, buf + 12, 4);
    memcpy(&n, buf + 16 + L, 8);
    cr_assert_eq(n, shape[0], "checkpoint n_params %llu, export %zu", (unsigned long long)n,
                 shape[0]);
    cr_assert_gt(n, 1000);
    cr_assert(memcmp(buf + size - 8 - 24 * n, theta, 8 * n) == 0, "θ differs");
    free(theta);
    /* a run directory that does not exist: exit 3, no file */
    cr_assert_eq(run("export no_such_run -o export_run/none.npy", out, sizeof out), 3);
    cr_assert_null(fopen("export_run/none.npy", "rb"));
}

/* eval --format csv and json carry the same figures as the text tables (one
 * seed, one set of samples), to full precision; the JSON parses. */
Test(cli, eval_formats_agree_with_the_text_tables)
{
    static char text[16384], csv[16384], json[16384];
    char args[4400];
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=40 --set eval.every=20 "
             "--out format_run",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, text, sizeof text), 0);
    cr_assert_eq(run("eval format_run -n 500 --format text", text, sizeof text), 0);
    cr_assert_eq(run("eval format_run -n 500 --format csv", csv, sizeof csv), 0);
    cr_assert_eq(run("eval format_run -n 500 --format json", json, sizeof json), 0);
    cr_assert_eq(strncmp(csv, "section,name,value,error,tau_int\n", 33), 0, "%s", csv);
    double ess_text = number_after(text, "reverse ESS ");
    double ess_csv = number_after(csv, "ess,reverse_ess,");
    double ess_json = number_after(json, "\"reverse_ess\": ");
    cr_assert_eq(ess_csv, ess_json, "csv %.17g, json %.17g", ess_csv, ess_json);
    cr_assert_lt(fabs(ess_text - ess_csv), 5e-5, "text %g (4 decimals), csv %.17g", ess_text,
                 ess_csv);
    /* a Metropolis row: | x[1] | mean | error | tau | vs observable,x[1],... */
    double m_text, e_text, t_text, m_csv, e_csv, t_csv;
    const char *row = strstr(text, "| x[1] | ");
    cr_assert_not_null(row);
    cr_assert_eq(sscanf(row, "| x[1] | %lf | %lf | %lf", &m_text, &e_text, &t_text), 3);
    row = strstr(csv, "observable,x[1],");
    cr_assert_not_null(row, "%s", csv);
    cr_assert_eq(sscanf(row, "observable,x[1],%lf,%lf,%lf", &m_csv, &e_csv, &t_csv), 3);
    cr_assert_lt(fabs(m_text - m_csv), 1e-5 * fmax(1, fabs(m_csv)));
    cr_assert_lt(fabs(t_text - t_csv), 0.006);
    cr_assert_eq(m_csv, number_after(strstr(json, "\"name\": \"x[1]\""), "\"mean\": "));
    /* valid JSON, if a Python is at hand to say so */
    if (system("python3 -c 'import json' 2>/dev/null") == 0) {
        FILE *f = fopen("format_run/eval.json", "w");
        fputs(json, f);
        fclose(f);
        cr_assert_eq(system("python3 -c 'import json; json.load(open(\"format_run/eval.json\"))'"),
                     0, "%s", json);
    }
    cr_assert_eq(run("eval format_run --format xml", text, sizeof text), 2);
}

/* The last `seconds` and step of a metrics.csv (seconds: column 8). */
static void last_row(const char *path, long *step, double *seconds, int *rows)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512];
    *rows = 0;
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(strstr(line, ",ess_forward,seconds"), "%s", line);
    while (fgets(line, sizeof line, f)) {
        (*rows)++;
        cr_assert_eq(sscanf(line, "%ld,%*[^,],%*[^,],%*[^,],%*[^,],%*[^,],%*[^,],%lf", step, seconds),
                     2, "%s", line);
    }
    fclose(f);
}

/* A finished run extended by --resume with more steps continues its rows and
 * its clock; a new run started --init-from a trained one begins where that
 * one ended (ESS of its first row ≈ the trained run's last, far above a
 * fresh start's); a different flow is refused and leaves nothing behind. */
Test(cli, a_finished_run_is_extended_and_a_new_run_starts_from_its_parameters)
{
    static char out[16384];
    char args[4400];
    const char *set = "--set training.steps=100 --set eval.every=50 --set eval.samples=2000";
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg %s --out extend_a", PF_SOURCE_DIR,
             set);
    cr_assert_eq(run(args, out, sizeof out), 0);
    long step;
    double seconds, before;
    int rows;
    last_row("extend_a/metrics.csv", &step, &before, &rows);
    cr_assert(step == 100 && rows == 2);
    cr_assert_eq(run_capture("train --resume extend_a --set training.steps=200", out, sizeof out, 1),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "resuming at step 100"), "%s", out);
    last_row("extend_a/metrics.csv", &step, &seconds, &rows);
    cr_assert(step == 200 && rows == 4, "step %ld, %d rows", step, rows);
    cr_assert_gt(seconds, before, "seconds restarted on resume: %g after %g", seconds, before);
    /* shortening is refused, leaving the run as it was */
    cr_assert_eq(run_capture("train --resume extend_a --set training.steps=150", out, sizeof out, 1),
                 2, "%s", out);
    cr_assert_not_null(strstr(out, "training.steps = 150, but the run has done 200 steps"), "%s",
                       out);
    last_row("extend_a/metrics.csv", &step, &seconds, &rows);
    cr_assert(step == 200 && rows == 4, "step %ld, %d rows", step, rows);
    FILE *f = fopen("extend_a/config.cfg", "r");
    int steps_200 = 0;
    while (fgets(out, sizeof out, f))
        steps_200 |= strstr(out, "steps = 200;") != NULL;
    fclose(f);
    cr_assert(steps_200, "config.cfg does not record the new total");

    /* fine-tuning: a new run from extend_a's parameters, and a fresh one */
    double ess_trained, ess_from, ess_fresh;
    cr_assert_eq(run("eval extend_a -n 4000 --format csv", out, sizeof out), 0);
    ess_trained = number_after(out, "ess,reverse_ess,");
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=1 --set eval.samples=4000 "
             "--set training.lr=1e-6 --init-from extend_a --out extend_b",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 0);
    FILE *cfg = fopen("extend_b/config.cfg", "r");
    int recorded = 0;
    while (fgets(out, sizeof out, cfg))
        recorded |= strstr(out, "# parameters at the start from extend_a/checkpoint.pfc") == out;
    fclose(cfg);
    cr_assert(recorded, "config.cfg does not say where the parameters came from");
    cr_assert_eq(run("eval extend_b -n 4000 --format csv", out, sizeof out), 0);
    ess_from = number_after(out, "ess,reverse_ess,");
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=1 --set training.lr=1e-6 "
             "--out extend_c",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out), 0);
    cr_assert_eq(run("eval extend_c -n 4000 --format csv", out, sizeof out), 0);
    ess_fresh = number_after(out, "ess,reverse_ess,");
    cr_log_info("ESS: trained %.4f, --init-from + 1 step %.4f, fresh + 1 step %.4f", ess_trained,
                ess_from, ess_fresh);
    cr_assert_lt(fabs(ess_from - ess_trained), 0.01);
    cr_assert_lt(ess_fresh, ess_trained - 0.1);

    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set flow.layers=2 --init-from extend_a/checkpoint.pfc "
             "--out extend_d",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 3);
    cr_assert_not_null(strstr(out, "--init-from extend_a/checkpoint.pfc"), "%s", out);
    cr_assert_not_null(strstr(out, "layers=4"), "%s", out);
    cr_assert_null(fopen("extend_d/config.cfg", "r"), "a refused run left a directory");
    cr_assert_eq(run("train --resume extend_a --init-from extend_a", out, sizeof out), 2);
}

/* Cells that do not apply are empty in metrics.csv and "-" in the log, never
 * "nan" (phi4: no known log Z, so no KL; no sampler, so no NLL). */
Test(cli, the_log_prints_a_dash_where_metrics_csv_has_an_empty_cell)
{
    static char out[16384];
    char args[4400];
    snprintf(args, sizeof args,
             "train %s/configs/phi4_reverse_path.cfg --set training.steps=4 --set eval.every=2 "
             "--set eval.samples=64 --set training.batch=16 --out dash_run",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_null(strstr(out, "nan"), "%s", out);
    cr_assert_not_null(strstr(out, "kl -"), "%s", out);
    cr_assert_not_null(strstr(out, "ess_forward -"), "%s", out);
    FILE *f = fopen("dash_run/metrics.csv", "r");
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert_not_null(strstr(line, ",,"), "%s", line);
    cr_assert_null(strstr(line, "nan"), "%s", line);
}

/* An experiment name is text in the gnuplot scripts, never commands: a name
 * that would close the title's string and start a line of its own (gnuplot
 * has a `system` command) is drawn as text; a run directory that cannot stand
 * in a script's string gets no plots. */
Test(cli, an_experiment_name_cannot_inject_gnuplot_commands)
{
    static char out[16384];
    char args[4400];
    remove("injected_marker");
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=4 --set eval.every=2 "
             "--set 'experiment.name=\"a'\"'\"'\\nsystem(\\\"touch injected_marker\\\")\\n#\"' "
             "--out inject_run",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_null(fopen("injected_marker", "r"), "the name ran a gnuplot command");
    FILE *f = fopen("inject_run/config.cfg", "r");
    cr_assert_not_null(f);
    int named = 0;
    while (fgets(out, sizeof out, f))
        named |= strstr(out, "touch injected_marker") != NULL;
    fclose(f);
    cr_assert(named, "the test's name did not reach the run");
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg --set training.steps=4 --set eval.every=2 "
             "--set 'experiment.name=\"b'\"'\"'c\"' --set experiment.output_dir=\"inject_dirs\"",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "no plots"), "%s", out);
}

/* Plots (when gnuplot is there): training.png with ESS on a log axis and the
 * gradient norm; no false "gnuplot" warning for a run of 0 steps, whose
 * metrics.csv has no rows; eval redraws a lattice run's observables.png. */
Test(cli, plots_say_what_happened_and_eval_redraws_the_observables)
{
    if (system("gnuplot --version >/dev/null 2>&1") != 0) {
        cr_skip_test("gnuplot is not installed");
        return;
    }
    static char out[16384];
    char args[4400];
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg --set training.steps=0 --out plot_zero",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "no training.png: metrics.csv has no rows"), "%s", out);
    cr_assert_null(strstr(out, "gnuplot did not draw"), "%s", out);
    cr_assert_not_null(strstr(out, "samples.png, samples.gp, samples_plot.dat, density_plot.dat"),
                       "%s", out);

    snprintf(args, sizeof args,
             "train %s/configs/phi4_reverse_path.cfg --set training.steps=4 --set eval.every=2 "
             "--set eval.samples=64 --set training.batch=16 --out plot_phi4",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "training.png, training.gp, observables.png"), "%s", out);
    FILE *f = fopen("plot_phi4/training.gp", "r");
    cr_assert_not_null(f);
    int log_ess = 0, grad = 0, forward = 0;
    while (fgets(out, sizeof out, f)) {
        log_ess |= strstr(out, "set logscale y") != NULL;
        grad |= strstr(out, "'grad_norm'") != NULL;
        forward |= strstr(out, "'ess_forward'") != NULL;
    }
    fclose(f);
    cr_assert(log_ess && grad, "training.gp: log axis %d, gradient norm %d", log_ess, grad);
    cr_assert(!forward, "phi4 has no held-out samples: no forward ESS curve (gnuplot would fail)");
    cr_assert_eq(remove("plot_phi4/observables.png"), 0);
    cr_assert_eq(run_capture("eval plot_phi4 -n 200", out, sizeof out, 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "redrawn from these 200 samples"), "%s", out);
    f = fopen("plot_phi4/observables.png", "rb");
    cr_assert_not_null(f, "eval did not redraw observables.png");
    fclose(f);
}
