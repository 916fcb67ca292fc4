/* Lattice flows in experiments: the flow.conditioner / flow.symmetry /
 * flow.kernel keys (validation naming the key, the resolved configuration,
 * checkpoints that refuse another conditioner), and the sampler a short
 * training gives, judged as a lattice physicist would: its reweighted ⟨|M|⟩
 * and χ on a small φ⁴ lattice agree with Hybrid Monte Carlo within three
 * combined standard errors, while the same comparison flags an untrained
 * flow's unweighted samples. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/experiment.h>
#include <pathflow/flow.h>
#include <pathflow/target.h>
#include <pathflow/train.h>

#include "testutil.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* φ⁴ on 4×4 at the couplings of the shipped symmetric-phase config (κ = 0.25,
 * λ = 0.5); conv couplings, z2-symmetrised. */
static const char *SMALL =
    "experiment: { name = \"lattice\"; seed = 3; }\n"
    "target: { kind = \"phi4\"; lattice = [4, 4]; kappa = 0.25; lambda = 0.5; }\n"
    "flow: { kind = \"realnvp\"; layers = 6; hidden = [8]; kernel = 3;\n"
    "        activation = \"leaky_relu\"; mask = \"checkerboard\"; conditioner = \"conv\";\n"
    "        symmetry = \"z2\"; zero_init = false; init_scale = 0.1; }\n"
    "training: { objective = \"reverse\"; estimator = \"path\"; batch = 64; steps = 600;\n"
    "            lr = 1e-2; schedule = \"cosine\"; }\n"
    "eval: { every = 600; samples = 256; }\n";

/* The broken phase of the shipped broken-phase config (κ = 0.3, λ = 0.022:
 * vacua near φ = ±2.1) on 6×6: the same flow from the two-mode base. On 4×4
 * the two vacua are joined: an HMC chain crosses between them and 0.7% of
 * its samples have |M| < 1, mass a flow from two separated modes misses (its
 * χ came out 2.4–4.6 errors low). On 6×6 that fraction is 1e-4 and no chain
 * of 40 000 crosses, as on the shipped 8×8 lattice. */
static const char *BROKEN =
    "experiment: { name = \"broken\"; seed = 3; }\n"
    "target: { kind = \"phi4\"; lattice = [6, 6]; kappa = 0.3; lambda = 0.022; }\n"
    "flow: { kind = \"realnvp\"; layers = 6; hidden = [8]; kernel = 3;\n"
    "        activation = \"leaky_relu\"; mask = \"checkerboard\"; conditioner = \"conv\";\n"
    "        symmetry = \"z2\"; zero_init = false; init_scale = 0.1;\n"
    "        base = \"z2_mixture\"; base_shift = 2.0; }\n"
    "training: { objective = \"reverse\"; estimator = \"path\"; batch = 64; steps = 600;\n"
    "            lr = 1e-2; schedule = \"cosine\"; }\n"
    "eval: { every = 600; samples = 256; }\n";

static void expect_refused(const char *const *overrides, int n, const char *key,
                           const char *fragment)
{
    pf_experiment *e = NULL;
    pf_status st = pf_experiment_load("lattice.cfg", overrides, n, &e);
    cr_assert_neq(st, PF_OK, "%s: accepted", overrides[n - 1]);
    cr_assert_not_null(strstr(pf_last_error(), key), "%s: message lacks %s: %s", overrides[n - 1],
                       key, pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), fragment), "%s: message lacks '%s': %s",
                       overrides[n - 1], fragment, pf_last_error());
    pf_experiment_destroy(e);
}

Test(lattice_flows, bad_conditioner_settings_are_refused_naming_the_key)
{
    write_file("lattice.cfg", SMALL);
    const char *kind[] = {"flow.conditioner=\"cnn\""};
    expect_refused(kind, 1, "key 'flow.conditioner'", "'cnn' unknown (valid: dense, conv)");
    const char *sym[] = {"flow.symmetry=\"u1\""};
    expect_refused(sym, 1, "key 'flow.symmetry'", "'u1' unknown (valid: none, z2)");
    const char *mask[] = {"flow.mask=\"even_odd\""};
    expect_refused(mask, 1, "key 'flow.conditioner'", "needs mask = \"checkerboard\"");
    const char *even[] = {"flow.kernel=2"};
    expect_refused(even, 1, "key 'flow.kernel'", "must be odd and fit the lattice, got 2");
    const char *big[] = {"flow.kernel=5"};
    expect_refused(big, 1, "key 'flow.kernel'", "got 5");
    const char *deep[] = {"flow.hidden=[2,2,2,2,2,2,2,2]"};
    expect_refused(deep, 1, "key 'flow.hidden'", "at most 7 hidden conv layers");
    const char *cnf[] = {"flow.kind=\"cnf\""};
    expect_refused(cnf, 1, "key 'flow.", "does not apply to flow kind 'cnf'");
    const char *base[] = {"flow.base=\"bimodal\""};
    expect_refused(base, 1, "key 'flow.base'", "'bimodal' unknown (valid: normal, z2_mixture)");
    const char *shift[] = {"flow.base=\"z2_mixture\"", "flow.base_shift=0"};
    expect_refused(shift, 2, "key 'flow.base_shift'", "");
    remove("lattice.cfg");
}

/* The keys reach the flow (its description names them), the resolved
 * configuration repeats them, and a checkpoint of a conv z2 flow does not
 * load into a dense flow or a plain conv flow of the same target. */
Test(lattice_flows, conditioner_keys_reach_the_flow_the_resolved_config_and_checkpoints)
{
    write_file("lattice.cfg", SMALL);
    pf_experiment *e;
    const char *short_run[] = {"training.steps=2", "eval.every=2", "eval.samples=16"};
    cr_assert_eq(pf_experiment_load("lattice.cfg", short_run, 3, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_run(e, "lattice_out", NULL, NULL), PF_OK, "%s", pf_last_error());
    const char *text = pf_flow_describe(pf_experiment_flow(e));
    cr_assert_not_null(strstr(text, "conditioner=conv kernel=3 symmetry=z2"), "%s", text);
    pf_experiment_destroy(e);

    FILE *f = fopen("lattice_out/config.cfg", "r");
    cr_assert_not_null(f);
    static char resolved[16384];
    resolved[fread(resolved, 1, sizeof resolved - 1, f)] = '\0';
    fclose(f);
    cr_assert_not_null(strstr(resolved, "conditioner = \"conv\";"), "%s", resolved);
    cr_assert_not_null(strstr(resolved, "symmetry = \"z2\";"), "%s", resolved);
    cr_assert_not_null(strstr(resolved, "kernel = 3;"), "%s", resolved);

    const char *others[3][1] = {{"flow.conditioner=\"dense\""}, {"flow.symmetry=\"none\""},
                                {"flow.base=\"z2_mixture\""}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pf_experiment_load("lattice.cfg", others[i], 1, &e), PF_OK, "%s",
                     pf_last_error());
        cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
        pf_status st = pf_flow_load_checkpoint(pf_experiment_flow(e), "lattice_out/checkpoint.pfc");
        cr_assert_neq(st, PF_OK, "%s: a conv z2 checkpoint loaded", others[i][0]);
        cr_assert_not_null(strstr(pf_last_error(), "checkpoint.pfc"), "%s", pf_last_error());
        pf_experiment_destroy(e);
    }
    remove("lattice.cfg");
}

/* ---- agreement with HMC ------------------------------------------------------ */

/* Per configuration of a 4×4 field: |M| and M² (M = Σφ/V). */
static void magnetisation(int V, int N, const double *x, double *abs_m, double *m2)
{
    for (int i = 0; i < N; i++) {
        double m = 0;
        for (int s = 0; s < V; s++)
            m += x[(size_t)i * V + s];
        m /= V;
        abs_m[i] = fabs(m);
        m2[i] = m * m;
    }
}

/* ⟨|M|⟩ and χ = V(⟨M²⟩ − ⟨|M|⟩²) with weights w (NULL: equal) over rows
 * [0, N) except [skip_lo, skip_hi). */
static void estimate(int V, int N, const double *abs_m, const double *m2, const double *w,
                     int skip_lo, int skip_hi, double out[2])
{
    double sw = 0, sa = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        if (i >= skip_lo && i < skip_hi)
            continue;
        double wi = w ? w[i] : 1.0;
        sw += wi;
        sa += wi * abs_m[i];
        s2 += wi * m2[i];
    }
    out[0] = sa / sw;
    out[1] = V * (s2 / sw - out[0] * out[0]);
}

/* Estimates and jackknife errors over K contiguous blocks: for a Markov chain
 * blocks much longer than the autocorrelation time make the errors honest. */
static void jackknife(int V, int N, const double *abs_m, const double *m2, const double *w, int K,
                      double value[2], double error[2])
{
    double jk[64][2], mean[2] = {0, 0};
    estimate(V, N, abs_m, m2, w, 0, 0, value);
    for (int j = 0; j < K; j++) {
        estimate(V, N, abs_m, m2, w, (int)((long)N * j / K), (int)((long)N * (j + 1) / K), jk[j]);
        mean[0] += jk[j][0] / K;
        mean[1] += jk[j][1] / K;
    }
    for (int q = 0; q < 2; q++) {
        double var = 0;
        for (int j = 0; j < K; j++)
            var += (jk[j][q] - mean[q]) * (jk[j][q] - mean[q]);
        error[q] = sqrt(var * (K - 1) / K);
    }
}

/* N flow samples of the experiment's flow: x (N×V) and weights w ∝ p/q, drawn
 * in chunks of 1024 (a tape for all N at once would take gigabytes). */
static double draw(pf_experiment *e, int N, double *x, double *w)
{
    pf_flow *flow = pf_experiment_flow(e);
    pf_target *t = pf_experiment_target(e);
    const int V = pf_flow_dim(flow), C = N < 1024 ? N : 1024;
    double *z = malloc((size_t)C * V * sizeof *z), *ldj = malloc((size_t)C * sizeof *ldj);
    double *lq0 = malloc((size_t)C * sizeof *lq0), *lw = malloc((size_t)N * sizeof *lw);
    cr_assert_eq(pf_flow_reserve(flow, C), PF_OK, "%s", pf_last_error());
    pf_rng rng = pf_rng_make(77, 1);
    for (int first = 0; first < N; first += C) {
        const int n = N - first < C ? N - first : C;
        double *xc = x + (size_t)first * V;
        pf_flow_sample_base(flow, &rng, n, z);
        cr_assert_eq(pf_flow_forward(flow, n, z, xc, ldj, NULL, NULL), PF_OK, "%s",
                     pf_last_error());
        pf_flow_base_log_prob(flow, n, z, lq0, NULL);
        cr_assert_eq(pf_target_action(t, n, xc, lw + first), PF_OK);
        for (int i = 0; i < n; i++)
            lw[first + i] = -lw[first + i] - (lq0[i] - ldj[i]);
    }
    double top = -INFINITY;
    for (int i = 0; i < N; i++)
        top = fmax(top, lw[i]);
    for (int i = 0; i < N; i++)
        w[i] = exp(lw[i] - top);
    double ess = pf_reverse_ess(N, lw);
    free(z);
    free(ldj);
    free(lq0);
    free(lw);
    return ess;
}

/* |a − b| in units of the combined standard error. */
static double pull(double a, double ea, double b, double eb)
{
    return fabs(a - b) / sqrt(ea * ea + eb * eb);
}

/* Trains the config `text` (V sites), then compares the flow's reweighted ⟨|M|⟩ and
 * χ with an HMC chain's (3 combined errors), requires ESS > 0.2, and checks
 * that an untrained flow's unweighted samples fail the same comparison. With
 * two vacua (broken) the flow's samples must also fill both: half of them on
 * each side and ⟨M⟩ = 0 within 4 errors. */
static void check_against_hmc(const char *file, const char *text, int V, int N, int broken)
{
    enum { K = 16 };
    write_file(file, text);
    char out_dir[256];
    snprintf(out_dir, sizeof out_dir, "%s.run", file);
    pf_experiment *e;
    cr_assert_eq(pf_experiment_load(file, NULL, 0, &e), PF_OK, "%s", pf_last_error());
    pf_metrics last;
    cr_assert_eq(pf_experiment_run(e, out_dir, NULL, &last), PF_OK, "%s", pf_last_error());

    /* reference: an HMC chain, thinned, errors from 16 blocks of 512 */
    double *hmc = malloc((size_t)2 * N * V * sizeof *hmc), acceptance;
    pf_hmc_options o = pf_hmc_options_default();
    o.n_samples = 2 * N;
    o.thermalize = 500;
    o.thin = 2;
    o.step_size = 0.15;
    o.seed = 11;
    cr_assert_eq(pf_target_hmc(pf_experiment_target(e), &o, NULL, hmc, &acceptance), PF_OK, "%s",
                 pf_last_error());
    cr_assert_gt(acceptance, 0.6, "HMC acceptance %g: the reference is poor", acceptance);
    double *a_h = malloc(2 * N * sizeof *a_h), *m2_h = malloc(2 * N * sizeof *m2_h);
    magnetisation(V, 2 * N, hmc, a_h, m2_h);
    double ref[2], ref_err[2];
    jackknife(V, 2 * N, a_h, m2_h, NULL, K, ref, ref_err);

    /* the trained flow, reweighted; errors from 16 blocks of i.i.d. samples */
    double *x = malloc((size_t)N * V * sizeof *x), *w = malloc(N * sizeof *w);
    double *a_f = malloc(N * sizeof *a_f), *m2_f = malloc(N * sizeof *m2_f);
    double ess = draw(e, N, x, w);
    magnetisation(V, N, x, a_f, m2_f);
    double flow[2], flow_err[2];
    jackknife(V, N, a_f, m2_f, w, K, flow, flow_err);
    const char *names[2] = {"<|M|>", "chi"};
    cr_log_info("HMC acceptance %.3f; flow ESS %.3f after %ld steps", acceptance, ess, last.step);
    for (int q = 0; q < 2; q++) {
        double p = pull(flow[q], flow_err[q], ref[q], ref_err[q]);
        cr_log_info("%s: flow %.4f ± %.4f, HMC %.4f ± %.4f, %.2f σ", names[q], flow[q], flow_err[q],
                    ref[q], ref_err[q], p);
        cr_assert_lt(p, 3.0, "%s: flow %.4f ± %.4f vs HMC %.4f ± %.4f (%.2f σ)", names[q], flow[q],
                     flow_err[q], ref[q], ref_err[q], p);
        /* errors small enough that the comparison means something */
        cr_assert_lt(ref_err[q] + flow_err[q], 0.1 * fabs(ref[q]), "%s: errors too large",
                     names[q]);
    }
    cr_assert_gt(ess, 0.2, "ESS %.3f: the short training did not give a usable sampler", ess);
    if (broken) {
        double sw = 0, sm = 0, sm2 = 0, plus = 0;
        for (int i = 0; i < N; i++) {
            double m = 0;
            for (int j = 0; j < V; j++)
                m += x[(size_t)i * V + j] / V;
            sw += w[i];
            sm += w[i] * m;
            sm2 += w[i] * w[i] * m * m;
            plus += m > 0;
        }
        /* ⟨M⟩ = Σwm/Σw, its error about √(Σw²m²)/Σw */
        cr_assert_lt(fabs(sm / sw), 4 * sqrt(sm2) / sw, "<M> = %g ± %g: one vacuum favoured",
                     sm / sw, sqrt(sm2) / sw);
        cr_assert_lt(fabs(plus - N / 2.0), 5 * sqrt(N / 4.0), "%g of %d samples at M > 0", plus, N);
        cr_assert_gt(ref[0], 1.0, "HMC <|M|> = %g: not the broken phase", ref[0]);
    }

    /* teeth: an untrained (identity) flow's samples, unweighted, are N(0, 1)
     * fields and the same test must reject them */
    const char *identity[] = {"flow.zero_init=true", "training.steps=0"};
    pf_experiment_destroy(e);
    cr_assert_eq(pf_experiment_load(file, identity, 2, &e), PF_OK, "%s", pf_last_error());
    cr_assert_eq(pf_experiment_build(e), PF_OK, "%s", pf_last_error());
    draw(e, N, x, w);
    magnetisation(V, N, x, a_f, m2_f);
    jackknife(V, N, a_f, m2_f, NULL, K, flow, flow_err);
    double worst = fmax(pull(flow[0], flow_err[0], ref[0], ref_err[0]),
                        pull(flow[1], flow_err[1], ref[1], ref_err[1]));
    cr_assert_gt(worst, 5.0, "unweighted N(0, 1) fields pass the comparison (%.2f σ)", worst);
    pf_experiment_destroy(e);
    free(hmc);
    free(a_h);
    free(m2_h);
    free(x);
    free(w);
    free(a_f);
    free(m2_f);
    remove(file);
}

Test(lattice_flows, reweighted_magnetisation_and_susceptibility_agree_with_hmc, .timeout = 120)
{
    check_against_hmc("hmc_symmetric.cfg", SMALL, 16, 4096, 0);
}

/* The broken phase: the HMC chain stays in one vacuum (|M| and χ from |M| do
 * not care which), the flow's samples fill both. */
Test(lattice_flows, broken_phase_observables_agree_with_hmc_and_both_vacua_are_sampled,
     .timeout = 120)
{
    /* 16 384 samples: with 4096 the flow's χ came out 2.2 errors low (its
     * weights are heavy-tailed; on 50 000 samples it is 1.569 ± 0.065 against
     * HMC's 1.570 ± 0.035) */
    check_against_hmc("hmc_broken.cfg", BROKEN, 36, 16384, 1);
}
