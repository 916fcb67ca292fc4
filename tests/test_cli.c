/* Tests for the pathflow tool's sample and eval commands on a trained run of
 * the quick-start Gaussian mixture (exact mean 0). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/npy.h"
#include "testutil.h"

/* Runs the tool; out gets its standard output (and its errors, if errors). */
static int run_capture(const char *args, char *out, size_t size, int errors)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s", PF_CLI_PATH, args, errors ? "2>&1" : "2>/dev/null");
    return pft_shell(cmd, out, size);
}

static int run(const char *args, char *out, size_t size)
{
    return run_capture(args, out, size, 0);
}

/* Runs the tool with an argument vector (no shell between, so arguments may
 * hold quotes); out gets its standard output and errors. Returns its exit
 * status, -1 if it did not exit normally. */
static int run_argv(const char *const args[], char *out, size_t size)
{
    const char *argv[64] = {PF_CLI_PATH};
    int n = 1;
    while (args[n - 1] && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t used = 0;
    ssize_t got;
    while ((got = read(fd[0], out + used, size - 1 - used)) > 0 && used + (size_t)got < size - 1)
        used += (size_t)got;
    if (got > 0)
        used += (size_t)got;
    char sink[4096];
    while (read(fd[0], sink, sizeof sink) > 0) {
    }
    out[used] = '\0';
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

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
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg --out cli_run --force",
             PF_SOURCE_DIR);
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
    snprintf(args, sizeof args, "train %s/configs/quickstart.cfg %s --out resume_a --force",
             PF_SOURCE_DIR, set);
    cr_assert_eq(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args,
             "train %s/configs/quickstart.cfg %s --out resume_b --stop-at 100 --force",
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
    snprintf(args, sizeof args, "train %s/%s %s --out hutch_a --force", PF_SOURCE_DIR, cfg, set);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "train %s/%s %s --out hutch_b --stop-at 3 --force", PF_SOURCE_DIR,
             cfg, set);
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

/* A run directory, name or --out holding shell syntax reaches no shell: the
 * plots (when gnuplot is installed) are drawn in it all the same. */
Test(cli, shell_syntax_in_run_directory_names_runs_nothing)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const char *evil = "x'; id > PWNED; echo '";
    const int have_gnuplot = pft_shell("command -v gnuplot >/dev/null 2>&1", out, sizeof out) == 0;
    remove("PWNED");
    for (int variant = 0; variant < 3; variant++) {
        char dir_set[256], name_set[256], run_dir[512];
        snprintf(dir_set, sizeof dir_set, "experiment.output_dir=%s", variant == 0 ? evil : "inj");
        snprintf(name_set, sizeof name_set, "experiment.name=%s", variant == 1 ? evil : "plain");
        snprintf(run_dir, sizeof run_dir, "%s/%s", variant == 0 ? evil : "inj",
                 variant == 1 ? evil : "plain");
        const char *args[] = {"train",
                              "--force",
                              config,
                              "--set",
                              "training.steps=20",
                              "--set",
                              "eval.every=10",
                              "--set",
                              "eval.samples=500",
                              "--set",
                              dir_set,
                              "--set",
                              name_set,
                              variant == 2 ? "--out" : NULL,
                              evil,
                              NULL};
        if (variant == 2)
            snprintf(run_dir, sizeof run_dir, "%s", evil);
        cr_assert_eq(run_argv(args, out, sizeof out), 0, "%s", out);
        char path[1024];
        snprintf(path, sizeof path, "%s/checkpoint.pfc", run_dir);
        cr_assert(file_exists(path), "variant %d: no %s\n%s", variant, path, out);
        cr_assert(!file_exists("PWNED"), "variant %d: a shell ran the config's text", variant);
        snprintf(path, sizeof path, "%s/PWNED", run_dir);
        cr_assert(!file_exists(path), "variant %d: a shell ran the config's text", variant);
        snprintf(path, sizeof path, "%s/training.png", run_dir);
        if (have_gnuplot) {
            cr_assert(file_exists(path), "variant %d: no %s\n%s", variant, path, out);
            snprintf(path, sizeof path, "%s/samples.png", run_dir);
            cr_assert(file_exists(path), "variant %d: no %s\n%s", variant, path, out);
        }
    }
}

/* Starts the tool with an argument vector, its output discarded; returns the pid. */
static pid_t spawn_tool(const char *const args[])
{
    const char *argv[64] = {PF_CLI_PATH};
    int n = 1;
    while (args[n - 1] && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* metrics.csv without its `seconds` column (wall time differs between runs). */
static void metrics_without_seconds(const char *dir, char *out, size_t size)
{
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s missing", path);
    int seconds = -1;
    size_t used = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char kept[1024] = "";
        size_t k = 0;
        int col = 0;
        for (char *cellp = line, *next; cellp; cellp = next, col++) {
            next = strpbrk(cellp, ",\n");
            size_t len = next ? (size_t)(next - cellp) : strlen(cellp);
            if (seconds < 0 && strncmp(cellp, "seconds", 7) == 0 && len == 7)
                seconds = col;
            if (col != seconds) {
                memcpy(kept + k, cellp, len + (next ? 1 : 0));
                k += len + (next ? 1 : 0);
                kept[k] = '\0';
            }
            next = next && *next == ',' ? next + 1 : NULL;
        }
        cr_assert_geq(seconds, 0, "%s: no seconds column in the header", path);
        used += (size_t)snprintf(out + used, size - used, "%s|", kept);
        cr_assert_lt(used, size);
    }
    fclose(f);
}

static void expect_same_metrics(const char *dir_a, const char *dir_b)
{
    static char a[1 << 16], b[1 << 16];
    metrics_without_seconds(dir_a, a, sizeof a);
    metrics_without_seconds(dir_b, b, sizeof b);
    cr_assert_str_eq(b, a, "%s/metrics.csv differs from the uninterrupted %s/metrics.csv", dir_b,
                     dir_a);
}

/* Stops by --stop-at at steps on and off the metrics grid, with checkpoints
 * at every row and every 7 steps: metrics.csv and the checkpoint after the
 * last resume equal the uninterrupted run's. */
Test(cli, metrics_after_stops_and_resumes_equal_the_uninterrupted_run)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    for (int every = 0; every <= 7; every += 7) {
        cr_assert_eq(pft_shell("rm -rf metrics_whole metrics_cut", out, sizeof out), 0);
        char ck[64];
        snprintf(ck, sizeof ck, "training.checkpoint_every=%d", every);
        const char *whole[] = {"train", config,
                               "--set", "training.steps=60",
                               "--set", "eval.every=10",
                               "--set", "eval.samples=200",
                               "--set", ck,
                               "--out", "metrics_whole",
                               NULL};
        cr_assert_eq(run_argv(whole, out, sizeof out), 0, "%s", out);
        const char *first[] = {"train",     config,
                               "--set",     "training.steps=60",
                               "--set",     "eval.every=10",
                               "--set",     "eval.samples=200",
                               "--set",     ck,
                               "--out",     "metrics_cut",
                               "--stop-at", "13",
                               NULL};
        cr_assert_eq(run_argv(first, out, sizeof out), 0, "%s", out);
        const char *stops[] = {"20", "27", "34", "35", "40", NULL};
        for (int k = 0; stops[k]; k++) {
            const char *resume[] = {"train",     "--resume", "metrics_cut",
                                    "--stop-at", stops[k],   NULL};
            cr_assert_eq(run_argv(resume, out, sizeof out), 0, "%s", out);
        }
        const char *last[] = {"train", "--resume", "metrics_cut", NULL};
        cr_assert_eq(run_argv(last, out, sizeof out), 0, "%s", out);
        expect_same_metrics("metrics_whole", "metrics_cut");
        expect_same_file("metrics_whole/checkpoint.pfc", "metrics_cut/checkpoint.pfc");
    }
}

/* kill -9 at random moments (seeded), then resume (or start again when no
 * checkpoint was written yet), until a run completes. The run is long (4000
 * steps, seconds on this machine) so that the kills land however fast the
 * library gets: with 400 steps a faster build finished before most of them. */
Test(cli, metrics_after_kills_and_resumes_equal_the_uninterrupted_run)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const char *sets[] = {"--set", "training.steps=4000", "--set", "eval.every=10",
                          "--set", "eval.samples=200",   "--set", "training.checkpoint_every=3"};
    const char *whole[] = {"train", config,  sets[0], sets[1], sets[2],      sets[3],   sets[4],
                           sets[5], sets[6], sets[7], "--out", "kill_whole", "--force", NULL};
    cr_assert_eq(run_argv(whole, out, sizeof out), 0, "%s", out);
    const char *fresh[] = {"train", config,  sets[0], sets[1], sets[2],    sets[3], sets[4],
                           sets[5], sets[6], sets[7], "--out", "kill_cut", NULL};
    const char *resume[] = {"train", "--resume", "kill_cut", NULL};
    cr_assert_eq(pft_shell("rm -rf kill_cut", out, sizeof out), 0);
    srand(2026);
    int kills = 0, completed = 0;
    for (int trial = 0; trial < 40 && !completed; trial++) {
        const int started = file_exists("kill_cut/checkpoint.pfc");
        pid_t pid = spawn_tool(started ? resume : fresh);
        struct timespec wait = {0, (long)(20000 + rand() % 600000) * 1000};
        nanosleep(&wait, NULL);
        int status;
        if (trial < 12 && waitpid(pid, &status, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            kills++;
        }
        waitpid(pid, &status, 0);
        completed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    cr_assert(completed, "no run completed");
    cr_log_info("%d kills", kills);
    cr_assert_geq(kills, 6, "only %d kills landed", kills);
    expect_same_metrics("kill_whole", "kill_cut");
    expect_same_file("kill_whole/checkpoint.pfc", "kill_cut/checkpoint.pfc");
}

/* One writer per run directory: a second train or resume is refused naming
 * the first one's pid; a finished run is not overwritten without --force,
 * and --force clears its old results and plots. */
Test(cli, a_run_directory_has_one_writer_and_is_replaced_only_with_force)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    cr_assert_eq(pft_shell("rm -rf locked", out, sizeof out), 0);
    const char *longer[] = {"train", config,   "--set", "training.steps=100000",
                            "--out", "locked", NULL};
    pid_t first = spawn_tool(longer);
    for (int i = 0; i < 200 && !file_exists("locked/metrics.csv"); i++) {
        struct timespec wait = {0, 20 * 1000 * 1000};
        nanosleep(&wait, NULL);
    }
    cr_assert(file_exists("locked/metrics.csv"), "the first run did not start");
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "pid %ld", (long)first);
    const char *second[] = {"train", config,   "--set",   "training.steps=10",
                            "--out", "locked", "--force", NULL};
    int code = run_argv(second, out, sizeof out);
    const char *resume[] = {"train", "--resume", "locked", NULL};
    static char out2[16384];
    int code2 = run_argv(resume, out2, sizeof out2);
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    cr_assert_neq(code, 0, "a second writer was let in:\n%s", out);
    cr_assert_not_null(strstr(out, pid_text), "the holder (%s) is not named:\n%s", pid_text, out);
    cr_assert_neq(code2, 0, "a resume was let in beside a writer:\n%s", out2);
    cr_assert_not_null(strstr(out2, pid_text), "%s", out2);

    /* a finished run: refused without --force, untouched */
    const char *done[] = {"train",         config,  "--set",    "training.steps=20", "--set",
                          "eval.every=10", "--out", "finished", "--force",           NULL};
    cr_assert_eq(run_argv(done, out, sizeof out), 0, "%s", out);
    FILE *f = fopen("finished/observables.png", "w"); /* a plot this run does not draw */
    fclose(f);
    const char *again[] = {"train", config,     "--set", "training.steps=30",
                           "--out", "finished", NULL};
    cr_assert_eq(run_argv(again, out, sizeof out), 2, "%s", out);
    cr_assert_not_null(strstr(out, "--force"), "%s", out);
    cr_assert_not_null(strstr(out, "finished"), "%s", out);
    char metrics[1 << 14];
    metrics_without_seconds("finished", metrics, sizeof metrics);
    cr_assert_not_null(strstr(metrics, "|20,"), "the refused run touched metrics.csv: %s", metrics);
    const char *forced[] = {"train",         config,  "--set",    "training.steps=30", "--set",
                            "eval.every=10", "--out", "finished", "--force",           NULL};
    cr_assert_eq(run_argv(forced, out, sizeof out), 0, "%s", out);
    cr_assert(!file_exists("finished/observables.png"), "--force left an old plot");
    metrics_without_seconds("finished", metrics, sizeof metrics);
    cr_assert_not_null(strstr(metrics, "|30,"), "%s", metrics);
}

/* Temporaries a kill -9 left in the middle of an atomic write are removed
 * when the run is resumed; other files stay. */
Test(cli, a_resume_removes_the_temporaries_of_killed_writes)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const char *first[] = {"train", config,      "--set", "training.steps=20", "--out",
                           "stale", "--stop-at", "10",    "--force",           NULL};
    cr_assert_eq(run_argv(first, out, sizeof out), 0, "%s", out);
    const char *stale[] = {"stale/checkpoint.pfc.tmp.4242", "stale/checkpoint.pfc.tmp.99999",
                           "stale/config.cfg.tmp.17"};
    const char *kept = "stale/checkpoint.pfc.tmp.mine";
    for (int k = 0; k < 3; k++)
        fclose(fopen(stale[k], "w"));
    fclose(fopen(kept, "w"));
    const char *resume[] = {"train", "--resume", "stale", NULL};
    cr_assert_eq(run_argv(resume, out, sizeof out), 0, "%s", out);
    for (int k = 0; k < 3; k++)
        cr_assert(!file_exists(stale[k]), "%s left behind", stale[k]);
    cr_assert(file_exists(kept), "a file that is no temporary of ours was removed");
}

/* A copy of run `from`'s checkpoint as `to` with every parameter set to
 * `value` (checksum recomputed: a forged or diverged file). */
static void checkpoint_with_params(const char *from, const char *to, double value)
{
    static unsigned char buf[1 << 20];
    FILE *f = fopen(from, "rb");
    cr_assert_not_null(f, "%s", from);
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint32_t L;
    uint64_t n;
    memcpy(&L, buf + 12, 4);
    memcpy(&n, buf + 16 + L, 8);
    cr_assert_eq(size, 16 + L + 88 + 24 * n + 8);
    for (uint64_t i = 0; i < n; i++)
        memcpy(buf + 16 + L + 88 + 8 * i, &value, 8);
    uint64_t sum = pf_fnv1a(PF_FNV1A_INIT, buf, size - 8);
    memcpy(buf + size - 8, &sum, 8);
    f = fopen(to, "wb");
    fwrite(buf, 1, size, f);
    fclose(f);
}

/* NaN parameters are refused on load; finite parameters whose samples are
 * not finite are refused on output, and nothing is written. */
Test(cli, non_finite_parameters_and_samples_are_refused)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const char *train[] = {"train", config,      "--set",   "training.steps=10",
                           "--out", "nonfinite", "--force", NULL};
    cr_assert_eq(run_argv(train, out, sizeof out), 0, "%s", out);
    checkpoint_with_params("nonfinite/checkpoint.pfc", "nonfinite/nan.pfc", NAN);
    remove("nonfinite/nan.npy");
    const char *nan_sample[] = {"sample", "nonfinite/nan.pfc", "-n", "10",
                                "-o",     "nonfinite/nan.npy", NULL};
    cr_assert_neq(run_argv(nan_sample, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "nonfinite/nan.pfc: parameters: value 0 is nan"), "%s", out);
    cr_assert(!file_exists("nonfinite/nan.npy"));
    checkpoint_with_params("nonfinite/checkpoint.pfc", "nonfinite/huge.pfc", 1e300);
    remove("nonfinite/huge.npy");
    const char *huge_sample[] = {"sample", "nonfinite/huge.pfc", "-n", "10",
                                 "-o",     "nonfinite/huge.npy", NULL};
    cr_assert_neq(run_argv(huge_sample, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "non-finite"), "%s", out);
    cr_assert(!file_exists("nonfinite/huge.npy"), "non-finite samples were written");
}

/* Every numeric option is read whole, in range, without overflow; a bad
 * one is refused (exit 2) naming the option and the text. */
Test(cli, numeric_options_are_parsed_strictly)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const struct {
        const char *args[12];
        const char *option, *text;
    } cases[] = {
        {{"train", config, "--out", "strict", "--stop-at", "1e3"}, "--stop-at", "1e3"},
        {{"train", config, "--out", "strict", "--stop-at", "abc"}, "--stop-at", "abc"},
        {{"train", config, "--out", "strict", "--stop-at", "-5"}, "--stop-at", "-5"},
        {{"train", config, "--out", "strict", "--stop-at", "0"}, "--stop-at", "0"},
        {{"train", config, "--out", "strict", "--stop-at", "99999999999999999999"},
         "--stop-at",
         "99999999999999999999"},
        {{"sample", "no_run", "-o", "x.npy", "-n", "4294967297"}, "-n", "4294967297"},
        {{"sample", "no_run", "-o", "x.npy", "-n", "10x"}, "-n", "10x"},
        {{"sample", "no_run", "-o", "x.npy", "-n", ""}, "-n", "''"},
        {{"sample", "no_run", "-o", "x.npy", "--seed", "-1"}, "--seed", "-1"},
        {{"sample", "no_run", "-o", "x.npy", "--seed", "18446744073709551616"},
         "--seed",
         "18446744073709551616"},
        {{"eval", "no_run", "-n", "5e3"}, "-n", "5e3"},
        {{"eval", "no_run", "--blocks", " 7"}, "--blocks", " 7"},
        {{"eval", "no_run", "--seed", "1.5"}, "--seed", "1.5"},
        {{"hmc", config, "-o", "x.npy", "-n", "x"}, "-n", "x"},
        {{"hmc", config, "-o", "x.npy", "--step", "nan"}, "--step", "nan"},
        {{"hmc", config, "-o", "x.npy", "--step", "-1"}, "--step", "-1"},
        {{"hmc", config, "-o", "x.npy", "--step", "0.1s"}, "--step", "0.1s"},
        {{"hmc", config, "-o", "x.npy", "--leapfrog", "0"}, "--leapfrog", "0"},
        {{"hmc", config, "-o", "x.npy", "--thermalize", "-1"}, "--thermalize", "-1"},
        {{"hmc", config, "-o", "x.npy", "--thin", "2.5"}, "--thin", "2.5"},
        {{"hmc", config, "-o", "x.npy", "--seed", "abc"}, "--seed", "abc"},
        {{"variance", config, "--samples", "1e3"}, "--samples", "1e3"},
        {{"variance", config, "--steps", "x"}, "--steps", "x"},
        {{"variance", config, "--every", "0"}, "--every", "0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int code = run_argv(cases[k].args, out, sizeof out);
        cr_assert_eq(code, 2, "%s %s %s: exit %d\n%s", cases[k].args[0], cases[k].option,
                     cases[k].text, code, out);
        char expect[128];
        snprintf(expect, sizeof expect, "%s: '%s'", cases[k].option,
                 strcmp(cases[k].text, "''") == 0 ? "" : cases[k].text);
        cr_assert_not_null(strstr(out, expect), "'%s' not in:\n%s", expect, out);
    }
    cr_assert(!file_exists("strict/checkpoint.pfc"), "a refused option started a training");
}

/* Waits (at most ~10 s) for path to exist. */
static void wait_for_file(const char *path)
{
    for (int i = 0; i < 500 && !file_exists(path); i++) {
        struct timespec wait = {0, 20 * 1000 * 1000};
        nanosleep(&wait, NULL);
    }
    cr_assert(file_exists(path), "%s never appeared", path);
}

/* SIGTERM or SIGINT: training stops at the next step boundary, writes a
 * checkpoint of that step, says so and exits non-zero; a resume continues
 * from it. A second signal ends the process at once. */
Test(cli, a_signal_stops_training_with_a_checkpoint_and_a_second_one_at_once)
{
    static char out[16384];
    char config[4200];
    snprintf(config, sizeof config, "%s/configs/quickstart.cfg", PF_SOURCE_DIR);
    const int signals[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(pft_shell("rm -rf signalled signalled.log", out, sizeof out), 0);
        char argv0[4400];
        snprintf(argv0, sizeof argv0,
                 "exec %s train %s --set training.steps=1000000 --set eval.every=20 --out "
                 "signalled > signalled.log 2>&1",
                 PF_CLI_PATH, config);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", argv0, (char *)NULL);
            _exit(127);
        }
        wait_for_file("signalled/checkpoint.pfc");
        kill(pid, signals[k]);
        int status;
        waitpid(pid, &status, 0);
        FILE *f = fopen("signalled.log", "r");
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = '\0';
        fclose(f);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                  "signal %d: status %d, expected a non-zero exit\n%s", signals[k], status, out);
        cr_assert_not_null(strstr(out, "signalled/checkpoint.pfc"), "%s", out);
        cr_assert_not_null(strstr(out, "--resume"), "%s", out);
        static unsigned char buf[1 << 16];
        f = fopen("signalled/checkpoint.pfc", "rb");
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        uint32_t L;
        int64_t step;
        memcpy(&L, buf + 12, 4);
        memcpy(&step, buf + 16 + L + 8, 8);
        char said[64];
        snprintf(said, sizeof said, "step %lld", (long long)step);
        cr_assert_not_null(strstr(out, said), "the checkpoint holds %s:\n%s", said, out);
        char stop[32];
        snprintf(stop, sizeof stop, "%lld", (long long)step + 5);
        const char *resume[] = {"train", "--resume", "signalled", "--stop-at", stop, NULL};
        cr_assert_eq(run_argv(resume, out, sizeof out), 0, "%s", out);
    }
    /* the second signal: while the first stop evaluates a million samples */
    cr_assert_eq(pft_shell("rm -rf signalled", out, sizeof out), 0);
    const char *slow[] = {"train", config,
                          "--set", "training.steps=1000000",
                          "--set", "eval.every=1000000",
                          "--set", "eval.samples=2000000",
                          "--set", "training.checkpoint_every=1",
                          "--out", "signalled",
                          NULL};
    pid_t pid = spawn_tool(slow);
    wait_for_file("signalled/checkpoint.pfc");
    kill(pid, SIGTERM);
    struct timespec wait = {0, 100 * 1000 * 1000};
    nanosleep(&wait, NULL);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
              "a second SIGTERM did not end the process at once (status %d)", status);
}

/* The BLAS thread count travels with the checkpoint; a resume under another
 * count is warned about (bit-exact resume needs the same), under the same
 * count not. */
Test(cli, a_resume_with_another_blas_thread_count_is_warned_about)
{
    static char out[16384];
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=1 %s train %s/configs/quickstart.cfg --set training.steps=20 "
             "--out threads --stop-at 5 --force 2>&1",
             PF_CLI_PATH, PF_SOURCE_DIR);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=1 %s train --resume threads --stop-at 10 2>&1", PF_CLI_PATH);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_null(strstr(out, "BLAS threads"), "a warning under the same count:\n%s", out);
    snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=2 %s train --resume threads 2>&1",
             PF_CLI_PATH);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "threads/checkpoint.pfc was written with 1 BLAS threads, "
                                   "this process uses 2"),
                       "%s", out);
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
    snprintf(args, sizeof args, "train --force %s/configs/quickstart.cfg %s --out extend_a", PF_SOURCE_DIR,
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
             "train --force %s/configs/quickstart.cfg --set training.steps=1 --set eval.samples=4000 "
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
             "train --force %s/configs/quickstart.cfg --set training.steps=1 --set training.lr=1e-6 "
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
             "train --force %s/configs/quickstart.cfg --set flow.layers=2 --init-from extend_a/checkpoint.pfc "
             "--out extend_d",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 3);
    cr_assert_not_null(strstr(out, "--init-from extend_a/checkpoint.pfc"), "%s", out);
    cr_assert_not_null(strstr(out, "layers=4"), "%s", out);
    cr_assert_null(fopen("extend_d/config.cfg", "r"), "a refused run left a directory");
    cr_assert_eq(run("train --resume extend_a --init-from extend_a", out, sizeof out), 2);
}

/* An experiment name is text in the gnuplot scripts, never commands: a name
 * that would close the title's string and start a line of its own (gnuplot
 * has a `system` command) is drawn as text; a run directory with a quote in
 * its name still gets its plots. */
Test(cli, an_experiment_name_cannot_inject_gnuplot_commands)
{
    static char out[16384];
    char args[4400];
    remove("injected_marker");
    snprintf(args, sizeof args,
             "train --force %s/configs/quickstart.cfg --set training.steps=4 --set eval.every=2 "
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
             "train --force %s/configs/quickstart.cfg --set training.steps=4 --set eval.every=2 "
             "--set 'experiment.name=\"b'\"'\"'c\"' --set experiment.output_dir=\"inject_dirs\"",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    /* gnuplot runs in the run directory and names its files relatively, so a
     * quote in the directory needs no escaping: the plots are drawn */
    cr_assert_null(fopen("injected_marker", "r"), "the name ran a gnuplot command");
    char probe[256];
    if (pft_shell("command -v gnuplot >/dev/null 2>&1", probe, sizeof probe) == 0)
        cr_assert_not_null(strstr(out, "also: training.png"), "%s", out);
}

/* eval --format csv and json carry the same figures as the text tables (one
 * seed, one set of samples), to full precision; the JSON parses. */
Test(cli, eval_formats_agree_with_the_text_tables)
{
    static char text[16384], csv[16384], json[16384];
    char args[4400];
    snprintf(args, sizeof args,
             "train --force %s/configs/quickstart.cfg --set training.steps=40 --set eval.every=20 "
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
    char probe[512];
    if (pft_shell("python3 -c 'import json' 2>/dev/null", probe, sizeof probe) == 0) {
        FILE *f = fopen("format_run/eval.json", "w");
        fputs(json, f);
        fclose(f);
        cr_assert_eq(pft_shell("python3 -c 'import json; json.load(open(\"format_run/eval.json\"))' 2>&1",
                               probe, sizeof probe),
                     0, "%s\n%s", probe, json);
    }
    cr_assert_eq(run("eval format_run --format xml", text, sizeof text), 2);
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
             "train --force %s/configs/quickstart.cfg --set training.steps=20 --set eval.every=10 "
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

/* Plots (when gnuplot is there): training.png with ESS on a log axis and the
 * gradient norm; no false "gnuplot" warning for a run of 0 steps, whose
 * metrics.csv has no rows; eval redraws a lattice run's observables.png. */
Test(cli, plots_say_what_happened_and_eval_redraws_the_observables)
{
    char probe[256];
    if (pft_shell("gnuplot --version >/dev/null 2>&1", probe, sizeof probe) != 0) {
        cr_skip_test("gnuplot is not installed");
        return;
    }
    static char out[16384];
    char args[4400];
    snprintf(args, sizeof args, "train --force %s/configs/quickstart.cfg --set training.steps=0 --out plot_zero",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "no training.png: metrics.csv has no rows"), "%s", out);
    cr_assert_null(strstr(out, "gnuplot did not draw"), "%s", out);
    cr_assert_not_null(strstr(out, "samples.png, samples.gp, samples_plot.dat, density_plot.dat"),
                       "%s", out);

    snprintf(args, sizeof args,
             "train --force %s/configs/phi4_reverse_path.cfg --set training.steps=4 --set eval.every=2 "
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

/* Cells that do not apply are empty in metrics.csv and "-" in the log, never
 * "nan" (phi4: no known log Z, so no KL; no sampler, so no NLL). */
Test(cli, the_log_prints_a_dash_where_metrics_csv_has_an_empty_cell)
{
    static char out[16384];
    char args[4400];
    snprintf(args, sizeof args,
             "train --force %s/configs/phi4_reverse_path.cfg --set training.steps=4 --set eval.every=2 "
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

/* Two threads, products large enough to use both (≥ 4e6 flops): the thread
 * count of each product follows from its size alone, so two runs of one
 * configuration write the same checkpoint, byte for byte (a choice by
 * measured speed made them differ in the last bits). */
Test(cli, runs_with_two_blas_threads_are_reproducible)
{
    static char out[8192];
    char args[4400];
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args,
                 "env OPENBLAS_NUM_THREADS=2 %s train --force %s/configs/quickstart.cfg "
                 "--set training.steps=4 --set eval.every=2 --set eval.samples=64 "
                 "--set training.batch=256 --set 'flow.hidden=[512, 512]' --out threads_%d "
                 "> /dev/null 2>&1",
                 PF_CLI_PATH, PF_SOURCE_DIR, i);
        cr_assert_eq(pft_shell(args, out, sizeof out), 0, "%s", out);
    }
    expect_same_file("threads_0/checkpoint.pfc", "threads_1/checkpoint.pfc");
}

/* tests/data/run_0.1.0 was written by pathflow 0.1.0, before flow.base and
 * flow.base_shift existed. Keys added since enter the settings hash only away
 * from their defaults, so that run still resumes (and extends), while a
 * resume that changes the new key is refused. */
Test(cli, a_run_written_before_keys_were_added_still_resumes)
{
    static char out[16384];
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf old_run && cp -r %s/tests/data/run_0.1.0 old_run",
             PF_SOURCE_DIR);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    const char *changed[] = {"train", "--resume", "old_run", "--set", "flow.base=\"z2_mixture\"",
                             "--set", "training.steps=20", NULL};
    cr_assert_eq(run_argv(changed, out, sizeof out), 2, "%s", out);
    cr_assert_not_null(strstr(out, "flow.base = \"z2_mixture\" (was \"normal\")"), "%s", out);
    cr_assert_eq(run_capture("train --resume old_run --set training.steps=20", out, sizeof out, 1), 0,
                 "%s", out);
    cr_assert_not_null(strstr(out, "resuming at step 10"), "%s", out);
    long step;
    double seconds;
    int rows;
    last_row("old_run/metrics.csv", &step, &seconds, &rows);
    cr_assert(step == 20 && rows == 2, "step %ld, %d rows", step, rows);
}

/* `pathflow variance` of a forward-KL config draws its single samples as the
 * trainer does: rows of the config's data file, not the target's exact sampler.
 * On a file whose rows are all one point every single-sample gradient is the
 * same, so each estimator's covariance trace is zero up to rounding; on a file
 * of two points it is not. (Before, the exact sampler of the mixture was used,
 * and targets without one, such as U(1), were refused.) */
static double variance_trace(const char *text, const char *estimator)
{
    char key[64];
    snprintf(key, sizeof key, "| 0 | %s | ", estimator);
    return number_after(text, key);
}

Test(cli, variance_of_a_forward_config_draws_from_its_data_file)
{
    static char out[8192];
    char args[4400];
    double rows[2 * 40];
    for (int i = 0; i < 40; i++) {
        rows[2 * i] = 0.7;
        rows[2 * i + 1] = -0.4;
    }
    size_t shape[2] = {40, 2};
    cr_assert_eq(pf_npy_write("variance_one_point.npy", 2, shape, rows), PF_OK);
    for (int i = 20; i < 40; i++)
        rows[2 * i] = -1.1;
    cr_assert_eq(pf_npy_write("variance_two_points.npy", 2, shape, rows), PF_OK);
    const char *files[2] = {"variance_one_point.npy", "variance_two_points.npy"};
    const char *names[3] = {"ml", "path", "path-dropin"};
    for (int f = 0; f < 2; f++) {
        snprintf(args, sizeof args,
                 "variance %s/configs/quickstart.cfg --steps 0 --samples 30 --out variance_%d "
                 "--set training.objective=forward --set training.estimator=ml "
                 "--set data.source=file --set data.file=%s",
                 PF_SOURCE_DIR, f, files[f]);
        cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
        for (int k = 0; k < 3; k++) {
            double trace = variance_trace(out, names[k]);
            if (f == 0)
                cr_assert_lt(fabs(trace), 1e-20, "%s: trace %g on one point\n%s", names[k],
                             trace, out);
            else
                cr_assert_gt(trace, 1e-6, "%s: trace %g on two points\n%s", names[k], trace,
                             out);
        }
    }
}

/* `variance --agreement G`: the means of path and ml agree on exact samples of
 * the target (F near 1) and disagree on data that are not (here N(0, 0.8²) for a
 * mixture of four N(±1, 0.5)): the term path drops has mean zero only under the
 * target, so F grows with G, into the hundreds at G = 256. */
static double agreement_F(const char *text)
{
    const char *row = strstr(text, "| 0 | path |");
    cr_assert_not_null(row, "%s", text);
    return number_after(row, "F = ");
}

Test(cli, variance_agreement_tells_target_samples_from_other_data)
{
    static char out[16384];
    char args[4400];
    double rows[2 * 4000];
    pft_fill_normal(5, 2 * 4000, rows, 0.8);
    size_t shape[2] = {4000, 2};
    cr_assert_eq(pf_npy_write("agreement_wrong.npy", 2, shape, rows), PF_OK);
    const char *common = "--steps 0 --samples 2 --agreement 256 --set training.objective=forward "
                         "--set training.estimator=ml --set flow.zero_init=false";
    snprintf(args, sizeof args, "variance %s/configs/quickstart.cfg %s --out agreement_exact",
             PF_SOURCE_DIR, common);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    double exact = agreement_F(out);
    snprintf(args, sizeof args,
             "variance %s/configs/quickstart.cfg %s --set data.source=file "
             "--set data.file=agreement_wrong.npy --out agreement_wrong",
             PF_SOURCE_DIR, common);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 0, "%s", out);
    double wrong = agreement_F(out);
    cr_assert(exact > 0.3 && exact < 2.5, "F = %g on exact samples", exact);
    cr_assert_gt(wrong, 50, "F = %g on data that are not the target's", wrong);
    /* fewer batches than 4 × the 32 directions: refused, naming the option */
    snprintf(args, sizeof args, "variance %s/configs/quickstart.cfg --agreement 100",
             PF_SOURCE_DIR);
    cr_assert_eq(run_capture(args, out, sizeof out, 1), 2, "%s", out);
    cr_assert_not_null(strstr(out, "--agreement"), "%s", out);
}
