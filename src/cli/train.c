/* `pathflow train CONFIG [--set key=value ...] [--out DIR]`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <pathflow/experiment.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/linalg.h"
#include "train/trainer_impl.h"

static const char USAGE[] =
    "usage: pathflow train CONFIG [--set section.key=value ...] [--out DIR] [--stop-at N]\n"
    "                [--force]\n"
    "       pathflow train --resume RUN [--set ...] [--stop-at N]\n"
    "  --stop-at N: stop after step N (the schedule still aims at training.steps);\n"
    "  --resume RUN: continue RUN from its checkpoint, bit for bit;\n"
    "  --force: replace the trained run DIR holds (its checkpoint, samples and plots)\n"
    "  --init-from RUN|CKPT: start from another run's parameters (same flow)\n"
    "  trains the flow CONFIG describes (see configs/README.md for every key) and writes\n"
    "  DIR (default: experiment.output_dir/experiment.name): config.cfg, metrics.csv,\n"
    "  checkpoint.pfc, samples.npy, log_weights.npy\n"
    "       pathflow train CONFIG --init-from RUN|CKPT [...]\n"
    "  pathflow train --help: every option, an example, the exit codes\n";

typedef struct train_args {
    const char *config, *out, *resume;
    long stop_at;
    int force;
    const char **overrides;
    int n_overrides;
    const char *init_from;
} train_args;

/* 0: parsed; 2: usage error (reported). */
static int parse_args(int argc, char **argv, train_args *a)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            a->overrides[a->n_overrides++] = argv[++i];
        else if (strncmp(argv[i], "--set=", 6) == 0)
            a->overrides[a->n_overrides++] = argv[i] + 6;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            a->out = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            a->force = 1;
        else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc)
            a->resume = argv[++i];
        else if (strcmp(argv[i], "--stop-at") == 0 && i + 1 < argc) {
            if (pf_cli_long_option("train", "--stop-at", argv[++i], 1, LONG_MAX, &a->stop_at))
                return 2;
        }
        else if (strcmp(argv[i], "--init-from") == 0 && i + 1 < argc)
            a->init_from = argv[++i];
        else if (strncmp(argv[i], "--out=", 6) == 0)
            a->out = argv[i] + 6;
        else if (argv[i][0] != '-' && !a->config)
            a->config = argv[i];
        else {
            fprintf(stderr, "pathflow train: unexpected argument '%s'%s\n%s", argv[i],
                    strcmp(argv[i], "--set") == 0 || strcmp(argv[i], "--out") == 0
                        ? " (it needs a value)"
                        : "",
                    USAGE);
            return 2;
        }
    }
    if (a->resume && (a->config || a->out || a->force || a->init_from)) {
        fprintf(stderr,
                "pathflow train: --resume RUN takes its config, directory and parameters from "
                "RUN (and replaces nothing: no --force)\n%s",
                USAGE);
        return 2;
    }
    if (a->resume) {
        static char config[4200];
        snprintf(config, sizeof config, "%s/config.cfg", a->resume);
        a->config = config;
        a->out = a->resume;
    }
    if (!a->config) {
        fprintf(stderr, "pathflow train: no configuration file given\n%s", USAGE);
        return 2;
    }
    return 0;
}

pf_status pf_make_directories(const char *path); /* src/experiment/run.c */

/* The run directory's lock: an flock on DIR/.pathflow.lock, released when
 * the process ends however it ends, with the holder's pid written in. The
 * descriptor, or -1 after a message naming the holder. */
static int lock_run_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.pathflow.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "pathflow train: %s: cannot open the run's lock: %s\n", path,
                strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr,
                "pathflow train: %s: another pathflow (pid %s) is writing this run directory; "
                "wait for it to end or stop it\n",
                dir, pid[0] ? pid : "unknown");
        close(fd);
        return -1;
    }
    char pid[24];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        fprintf(stderr, "pathflow train: warning: %s: cannot record this process's pid\n", path);
    return fd;
}

/* Temporaries of atomic writes (NAME.tmp.PID) a killed run left behind; with
 * the lock held no other process is writing them. */
static void remove_stale_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    static const char *const names[] = {"checkpoint.pfc", "config.cfg", "metrics.csv"};
    char path[4400];
    for (struct dirent *entry; (entry = readdir(d));) {
        for (int k = 0; k < 3; k++) {
            size_t len = strlen(names[k]);
            const char *tail = entry->d_name + len;
            if (strncmp(entry->d_name, names[k], len) != 0 || strncmp(tail, ".tmp.", 5) != 0 ||
                tail[5] == '\0' || strspn(tail + 5, "0123456789") != strlen(tail + 5))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
            if (remove(path) != 0)
                fprintf(stderr, "pathflow train: warning: %s: cannot remove: %s\n", path,
                        strerror(errno));
        }
    }
    closedir(d);
}

/* A new training refuses a directory holding a trained run unless forced;
 * forced (or after a failed start), the old plots go with the old results. */
static int clear_for_new_run(const char *dir, int force)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/checkpoint.pfc", dir);
    if (!force && access(path, F_OK) == 0) {
        fprintf(stderr,
                "pathflow train: %s holds a trained run (checkpoint.pfc); continue it with "
                "`pathflow train --resume %s` or replace it with --force\n",
                dir, dir);
        return 2;
    }
    static const char *const old[] = {
        "training.png",     "samples.png",      "observables.png",
        "training.gp",      "samples.gp",       "observables.gp",
        "samples_plot.dat", "density_plot.dat", "observables_plot.dat"};
    for (size_t k = 0; k < sizeof old / sizeof old[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, old[k]);
        remove(path);
    }
    return 0;
}

/* Bit-exact resume needs the BLAS thread count the checkpoint was written
 * with (sums split over threads round differently): warn if it differs. */
static void compare_blas_threads(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/checkpoint.pfc", dir);
    long written;
    const int now = pf_blas_threads();
    if (pf_checkpoint_blas_threads(path, &written) == PF_OK && written > 0 && written != now)
        fprintf(stderr,
                "pathflow train: warning: %s was written with %ld BLAS threads, this process "
                "uses %d: the resumed run may differ from an uninterrupted one in the last bits "
                "(OPENBLAS_NUM_THREADS=%ld resumes bit for bit)\n",
                path, written, now, written);
}

/* Process 0 takes the run directory: creates it, locks it (*lock_fd, held
 * until exit), refuses a second writer or an unforced replacement, clears
 * leftovers. 0 or an exit code. */
static int claim_run_dir(const char *dir, const train_args *a, int *lock_fd)
{
    if (!a->resume && pf_make_directories(dir) != PF_OK)
        return pf_cli_report(PF_ERR_IO);
    *lock_fd = lock_run_dir(dir);
    if (*lock_fd < 0)
        return 3;
    remove_stale_temporaries(dir);
    if (a->resume)
        compare_blas_threads(dir);
    return a->resume ? 0 : clear_for_new_run(dir, a->force);
}

static volatile sig_atomic_t signal_received;

/* The first SIGTERM/SIGINT asks training to stop at the next step boundary;
 * a second one ends the process at once, by that signal. */
static void on_signal(int sig)
{
    if (signal_received) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    signal_received = sig;
    pf_train_request_stop();
    static const char msg[] = "\npathflow train: signal received: stopping after this step with "
                              "a checkpoint (a second signal stops at once)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

/* Handlers for SIGTERM and SIGINT, unless the signal is ignored (a job
 * started in the background with SIGINT ignored keeps it so). */
static void catch_signals(void)
{
    const int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[k], &sa, NULL);
    }
}

/* Loading and building happen on every process on its own: if they failed
 * everywhere (a bad config) process 0 says why; if only somewhere (a file one
 * node cannot read) those processes say why. All stop if any failed. */
static int report_setup(const pf_parallel *par, pf_status st)
{
    const int failed_somewhere = pf_cli_parallel_any(par, st != PF_OK);
    if (!failed_somewhere)
        return 0;
    const int failed_everywhere = !pf_cli_parallel_any(par, st == PF_OK);
    if (st == PF_OK)
        return 1;
    if (par->size > 1 && !failed_everywhere)
        pf_fail_context(st, "process %d of %d", par->rank, par->size);
    return par->rank == 0 || !failed_everywhere ? pf_cli_report(st) : pf_cli_exit_code(st);
}

int pf_cli_train(int argc, char **argv)
{
    if (pf_cli_wants_help(argc, argv))
        return pf_cli_help("train", stdout);
    train_args a = {NULL, NULL, NULL, 0, 0, calloc((size_t)argc + 1, sizeof(const char *)), 0,
                    NULL};
    if (!a.overrides) {
        fprintf(stderr, "pathflow train: out of memory\n");
        return 1;
    }
    int parsed = parse_args(argc, argv, &a);
    if (parsed != 0) {
        free(a.overrides);
        return parsed == 1 ? 0 : 2;
    }
    pf_parallel par;
    if (pf_cli_parallel_begin(&par) != 0) {
        free(a.overrides);
        return 1;
    }
    pf_experiment *e = NULL;
    pf_status st = a.resume ? pf_cli_prepare_resume(a.resume, a.overrides, a.n_overrides) : PF_OK;
    if (st == PF_OK)
        st = pf_experiment_load(a.config, a.overrides, a.n_overrides, &e);
    free(a.overrides);
    if (st == PF_OK && par.size > 1)
        st = pf_experiment_set_parallel(e, &par);
    if (st == PF_OK)
        st = pf_experiment_build(e);
    if (st == PF_OK && a.init_from)
        st = pf_cli_init_from(e, a.init_from);
    int code = report_setup(&par, st), lock_fd = -1;
    const char *dir = a.out ? a.out : (e ? pf_experiment_default_out_dir(e) : NULL);
    if (code == 0) {
        int claimed = par.rank == 0 ? claim_run_dir(dir, &a, &lock_fd) : 0;
        if (pf_cli_parallel_any(&par, claimed != 0))
            code = par.rank == 0 ? claimed : 1;
    }
    if (code == 0 && a.init_from && par.rank == 0)
        fprintf(stderr, "pathflow: starting from the parameters in %s\n", a.init_from);
    if (code == 0) {
        /* from here on failures are agreed: process 0 reports them */
        pf_metrics last;
        last.step = -1;
        catch_signals();
        st = pf_experiment_run_with(e, a.out, par.rank == 0 ? stderr : NULL, &last, a.stop_at,
                                    a.resume != NULL);
        if (st == PF_OK && pf_train_stop_requested()) {
            if (par.rank == 0)
                fprintf(stderr,
                        "pathflow train: stopped by %s at step %ld: %s/checkpoint.pfc holds it; "
                        "continue with `pathflow train --resume %s`\n",
                        signal_received == SIGINT ? "SIGINT" : "SIGTERM", last.step, dir, dir);
            code = 128 + (signal_received ? signal_received : SIGTERM);
        } else {
            if (st == PF_OK && par.rank == 0)
                pf_cli_plot_run(dir, e);
            code = par.rank == 0 ? pf_cli_report(st) : pf_cli_exit_code(st);
        }
    }
    pf_experiment_destroy(e);
    pf_cli_parallel_end();
    if (lock_fd >= 0)
        close(lock_fd);
    return code;
}
