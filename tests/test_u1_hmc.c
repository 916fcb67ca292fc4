/* The U(1) flow as a sampler, through the command-line tool: `pathflow eval`'s
 * reweighted plaquette agrees with `pathflow hmc` and with the exact value on
 * the torus; eval warns when too few samples carry the weight; hmc writes
 * the data file a forward-KL config names without reading it first. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/target.h>

#include "core/npy.h"
#include "testutil.h"

/* Runs the tool with `args`; out gets its standard output, err (if not NULL)
 * its standard error. Returns the exit status. */
static int run(const char *args, char *out, size_t size, char *err, size_t err_size)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>u1_hmc_stderr.txt", PF_CLI_PATH, args);
    int status = pft_shell(cmd, out, size);
    if (err) {
        FILE *f = fopen("u1_hmc_stderr.txt", "r");
        size_t n = f ? fread(err, 1, err_size - 1, f) : 0;
        err[n] = '\0';
        if (f)
            fclose(f);
    }
    return status;
}

/* "| name | estimate | error |" of eval's reweighting table. */
static void table_row(const char *text, const char *name, double *est, double *err)
{
    char key[64];
    snprintf(key, sizeof key, "| %s | ", name);
    const char *row = strstr(text, key);
    cr_assert_not_null(row, "row '%s' missing in:\n%s", name, text);
    cr_assert_eq(sscanf(row + strlen(key), "%lf | %lf", est, err), 2, "%s", row);
}

/* Modified Bessel function I_n(x) by its power series (n ≥ 0, small x). */
static double bessel_i(int n, double x)
{
    double term = 1, sum = 0;
    for (int k = 1; k <= n; k++)
        term *= 0.5 * x / k; /* (x/2)^n / n! */
    for (int k = 0; k < 200 && term > 1e-300; k++) {
        sum += term;
        term *= 0.25 * x * x / ((k + 1.0) * (k + 1.0 + n));
    }
    return sum;
}

/* Exact ⟨cos P⟩ of 2-D U(1) with the Wilson action on a periodic lattice of
 * V plaquettes: Z ∝ Σ_n I_n(β)^V, so ⟨cos P⟩ = (1/V) ∂_β log Z
 * = Σ_n I_n^{V−1} I_n' / Σ_n I_n^V with I_n' = (I_{n−1} + I_{n+1})/2. */
static double exact_plaquette(double beta, int V)
{
    double num = 0, den = 0, i0 = bessel_i(0, beta);
    for (int n = -20; n <= 20; n++) {
        int m = abs(n);
        double in = bessel_i(m, beta) / i0, dn = 0.5 * (bessel_i(abs(n - 1), beta) +
                                                        bessel_i(abs(n + 1), beta)) / i0;
        num += pow(in, V - 1) * dn;
        den += pow(in, V);
    }
    return num / den;
}

/* Mean and error of a Markov chain by blocking: the standard error of the
 * block means for blocks of 1, 2, 4, ... up to N/16, the largest taken (the
 * plateau, or above it while it has not been reached). */
static void blocked_mean(int N, const double *v, double *mean, double *err)
{
    double m = 0;
    for (int i = 0; i < N; i++)
        m += v[i] / N;
    double worst = 0;
    for (int size = 1; N / size >= 16; size *= 2) {
        int nb = N / size;
        double var = 0;
        for (int b = 0; b < nb; b++) {
            double bm = 0;
            for (int i = 0; i < size; i++)
                bm += v[b * size + i] / size;
            var += (bm - m) * (bm - m);
        }
        double e = sqrt(var / ((double)nb * (nb - 1)));
        worst = e > worst ? e : worst;
    }
    *mean = m;
    *err = worst;
}

static void write_config(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(body, f);
    fclose(f);
}

Test(u1_hmc, eval_reweighted_plaquette_agrees_with_hmc_and_the_exact_value)
{
    const double beta = 2.0;
    const int L = 4;
    write_config("u1_hmc_small.cfg",
                 "experiment: { name = \"u1_small\"; seed = 3; }\n"
                 "target: { kind = \"u1\"; lattice = [4, 4]; beta = 2.0; }\n"
                 "flow: { kind = \"u1\"; layers = 8; hidden = [8, 8]; kernel = 3; mixture = 2; "
                 "activation = \"leaky_relu\"; }\n"
                 "training: { objective = \"reverse\"; estimator = \"path\"; batch = 64; "
                 "steps = 300; lr = 3e-3; schedule = \"cosine\"; }\n"
                 "eval: { every = 300; samples = 256; }\n");
    static char out[32768], err[8192];
    cr_assert_eq(run("train u1_hmc_small.cfg --force --out u1_hmc_run", out, sizeof out, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(run("eval u1_hmc_run -n 4000", out, sizeof out, err, sizeof err), 0, "%s", err);
    double flow_p, flow_err;
    table_row(out, "plaquette", &flow_p, &flow_err);
    const double ess = atof(strstr(out, "reverse ESS ") + strlen("reverse ESS "));
    cr_assert_gt(ess, 0.05, "the short training must give a usable sampler:\n%s", out);
    cr_assert_null(strstr(err, "warning"), "ESS·N = %.0f needs no warning: %s", ess * 4000, err);

    cr_assert_eq(run("hmc u1_hmc_small.cfg -o u1_hmc_run/hmc.npy -n 4000 --thin 2 --seed 5", out,
                     sizeof out, err, sizeof err),
                 0, "%s", err);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    cr_assert_eq(pf_npy_read("u1_hmc_run/hmc.npy", &ndim, shape, &x), PF_OK);
    cr_assert(ndim == 2 && shape[0] == 4000 && shape[1] == (size_t)2 * L * L);
    pf_target *t;
    cr_assert_eq(pf_target_u1_create(L, L, beta, &t), PF_OK);
    double *obs = malloc(4000 * 2 * sizeof *obs), *plaq = malloc(4000 * sizeof *plaq);
    cr_assert_eq(pf_target_observables(t, 4000, x, obs), PF_OK);
    for (int i = 0; i < 4000; i++)
        plaq[i] = obs[2 * i];
    double hmc_p, hmc_err;
    blocked_mean(4000, plaq, &hmc_p, &hmc_err);
    const double exact = exact_plaquette(beta, L * L);
    cr_log_info("plaquette: flow %.5f ± %.5f (ESS %.3f), HMC %.5f ± %.5f, exact %.5f", flow_p,
                flow_err, ess, hmc_p, hmc_err, exact);
    const double combined = sqrt(flow_err * flow_err + hmc_err * hmc_err);
    cr_assert_lt(fabs(flow_p - hmc_p), 3 * combined, "flow %.5f ± %.5f vs HMC %.5f ± %.5f",
                 flow_p, flow_err, hmc_p, hmc_err);
    cr_assert_lt(fabs(flow_p - exact), 3 * flow_err, "flow %.5f ± %.5f vs exact %.5f", flow_p,
                 flow_err, exact);
    cr_assert_lt(fabs(hmc_p - exact), 3 * hmc_err, "HMC %.5f ± %.5f vs exact %.5f", hmc_p,
                 hmc_err, exact);
    /* the errors are small enough for the comparison to mean something */
    cr_assert_lt(combined, 0.02);
    free(x);
    free(obs);
    free(plaq);
    pf_target_destroy(t);
}

Test(u1_hmc, eval_warns_when_the_effective_sample_size_is_too_small)
{
    static char out[32768], err[8192];
    char args[4200];
    /* an untrained 16-layer flow on 8×8 at β = 2: ESS ~ 1e-3 */
    snprintf(args, sizeof args,
             "train %s/configs/u1_reverse_path.cfg --force --set training.steps=0 --set eval.samples=64 --out u1_untrained",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run("eval u1_untrained -n 300", out, sizeof out, err, sizeof err), 0, "%s", err);
    const double ess = atof(strstr(out, "reverse ESS ") + strlen("reverse ESS "));
    cr_assert_lt(ess * 300, 100, "the untrained flow should have ESS·N < 100: %g", ess * 300);
    cr_assert_not_null(strstr(err, "warning: ESS·N"), "no warning on stderr: '%s'", err);
    cr_assert_not_null(strstr(err, "unreliable"), "%s", err);
    cr_assert_null(strstr(out, "warning"), "the warning belongs on stderr, not in the table");
}

Test(u1_hmc, hmc_writes_the_data_file_a_forward_config_names_without_reading_it)
{
    static char out[4096], err[8192];
    char args[4200];
    remove("u1_hmc_data.npy");
    snprintf(args, sizeof args,
             "hmc %s/configs/u1_forward_path.cfg -o u1_hmc_data.npy -n 50 "
             "--set data.file=u1_hmc_data.npy",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    cr_assert_eq(pf_npy_read("u1_hmc_data.npy", &ndim, shape, &x), PF_OK, "%s", pf_last_error());
    cr_assert(ndim == 2 && shape[0] == 50 && shape[1] == 128, "shape %zu×%zu", shape[0], shape[1]);
    for (size_t i = 0; i < 50 * 128; i++)
        cr_assert(x[i] >= 0 && x[i] < 6.283185307179586, "link %zu = %g outside [0, 2π)", i, x[i]);
    free(x);
    /* the config as shipped, whose data file does not exist here either */
    remove("runs/u1_hmc200k.npy");
    snprintf(args, sizeof args, "hmc %s/configs/u1_forward_path.cfg -o u1_hmc_data2.npy -n 50",
             PF_SOURCE_DIR);
    cr_assert_eq(run(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    /* training from it still checks the data file */
    snprintf(args, sizeof args,
             "train %s/configs/u1_forward_path.cfg --set data.file=no_such.npy --out u1_fw",
             PF_SOURCE_DIR);
    cr_assert_neq(run(args, out, sizeof out, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "data.file"), "%s", err);
}
