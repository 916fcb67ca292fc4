/* `mpirun -np 2 pathflow train CONFIG` against one process with the same
 * global batch (issue: same parameters after 20 steps to 1e-10 relative):
 * a coupling flow (reverse KL, uneven split 51/50), forward KL on fresh
 * target samples, the U(1) flow, and a CNF (solved to 1e-12, since each
 * process's CVODES chooses its own steps); and a configuration that cannot
 * be split is refused once, by process 0, on every process; a run stopped
 * and resumed on two processes equals one process's.
 * Registered only when pathflow was built with MPI (else ctest reports the
 * test skipped, saying why). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>
#include <pathflow/flow.h>
#include <pathflow/train.h>

#include "testutil.h"

#define MPIRUN PF_MPIEXEC " --allow-run-as-root --oversubscribe -np 2 "

/* The parameters in RUN/checkpoint.pfc, through the run's own config. */
static double *load_params(const char *run, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.cfg", run);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load(path, NULL, 0, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
    snprintf(path, sizeof path, "%s/checkpoint.pfc", run);
    pf_flow *flow = pf_experiment_flow(e);
    cr_assert_eq(pf_flow_load_checkpoint(flow, path), PF_OK, "%s", pf_last_error());
    *n = pf_flow_n_params(flow);
    double *p = malloc(*n * sizeof *p);
    memcpy(p, pf_flow_params(flow), *n * sizeof *p);
    pf_experiment_destroy(e);
    return p;
}

static void expect_same_params(const char *one, const char *two, const char *what)
{
    size_t n1, n2;
    double *p1 = load_params(one, &n1), *p2 = load_params(two, &n2);
    cr_assert_eq(n1, n2);
    double err = pft_rel_err(n1, p2, p1, 1e-300);
    cr_assert_leq(err, 1e-10, "%s: 2 processes vs 1: relative difference %g", what, err);
    cr_assert_gt(pft_max_abs(n1, p1), 0, "%s: no training happened", what);
    free(p1);
    free(p2);
}

static void expect_two_equal_one(const char *config, const char *set, const char *name)
{
    static char out[1 << 16];
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s train %s/configs/%s --set training.steps=20 %s --out %s_one --force 2>&1",
             PF_CLI_PATH, PF_SOURCE_DIR, config, set, name);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd,
             MPIRUN "%s train %s/configs/%s --set training.steps=20 %s --out %s_two --force 2>&1",
             PF_CLI_PATH, PF_SOURCE_DIR, config, set, name);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "on 2 processes"), "%s", out);
    char one[256], two[256];
    snprintf(one, sizeof one, "%s_one", name);
    snprintf(two, sizeof two, "%s_two", name);
    expect_same_params(one, two, config);
}

Test(mpi, coupling_flow_reverse_kl_with_an_uneven_split)
{
    expect_two_equal_one("quickstart.cfg", "--set training.batch=101 --set eval.every=10",
                         "mpi_realnvp");
}

Test(mpi, coupling_flow_forward_kl_on_fresh_target_samples)
{
    expect_two_equal_one("mgm_forward_path.cfg",
                         "--set training.batch=63 --set eval.every=10 --set data.n_holdout=500",
                         "mpi_forward");
}

Test(mpi, u1_gauge_equivariant_flow)
{
    expect_two_equal_one("u1_reverse_path.cfg",
                         "--set target.lattice=[4,4] --set flow.layers=4 --set training.batch=9 "
                         "--set eval.every=10 --set eval.samples=64",
                         "mpi_u1");
}

Test(mpi, cnf_solved_tightly)
{
    expect_two_equal_one("cnf_gmm2d_reverse_path.cfg",
                         "--set training.batch=11 --set eval.every=10 --set eval.samples=64 "
                         "--set ode.rtol=1e-12 --set ode.atol=1e-12 --set ode.max_steps=100000",
                         "mpi_cnf");
}

/* Every process reads the checkpoint on resume; 10 + 10 steps on two
 * processes equal 20 on one. */
Test(mpi, stopping_and_resuming_on_two_processes_equals_one_process)
{
    static char out[1 << 16];
    char cmd[4096];
    const char *set = "--set training.steps=20 --set eval.every=10";
    snprintf(cmd, sizeof cmd,
             "%s train %s/configs/quickstart.cfg %s --out mpi_resume_one --force 2>&1", PF_CLI_PATH,
             PF_SOURCE_DIR, set);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd,
             MPIRUN
             "%s train %s/configs/quickstart.cfg %s --out mpi_resume_two --stop-at 10 --force 2>&1",
             PF_CLI_PATH, PF_SOURCE_DIR, set);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, MPIRUN "%s train --resume mpi_resume_two 2>&1", PF_CLI_PATH);
    cr_assert_eq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    expect_same_params("mpi_resume_one", "mpi_resume_two", "resumed");
}

Test(mpi, a_batch_that_cannot_be_split_is_refused_once)
{
    static char out[1 << 16];
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             MPIRUN "%s train %s/configs/quickstart.cfg --set training.batch=1 --out mpi_bad 2>&1",
             PF_CLI_PATH, PF_SOURCE_DIR);
    cr_assert_neq(pft_shell(cmd, out, sizeof out), 0, "%s", out);
    const char *hit = strstr(out, "cannot be split over 2 processes");
    cr_assert_not_null(hit, "%s", out);
    cr_assert_null(strstr(hit + 1, "cannot be split over 2 processes"), "reported twice:\n%s", out);
}
