/* Tests for `pathflow sample` and `pathflow eval` with --set target.lattice:
 * a lattice CNF trained on 4×4 samples a 6×6 lattice; a flow whose
 * parameters depend on the size is refused with a message, as are flow keys
 * (ode keys, e.g. tolerances, may change). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "testutil.h"

static int run(const char *args, char *out, size_t size)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", PF_CLI_PATH, args);
    return pft_shell(cmd, out, size);
}

static void write_config(const char *path, const char *flow)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "target: { kind = \"phi4\"; lattice = [4, 4]; kappa = 0.25; lambda = 0.5; }\n"
            "flow: { %s }\n"
            "ode: { rtol = 1e-4; atol = 1e-4; }\n"
            "training: { objective = \"reverse\"; estimator = \"path\"; batch = 32; steps = 20;\n"
            "            lr = 1e-2; }\n"
            "eval: { every = 1000; samples = 64; }\n",
            flow);
    fclose(f);
}

Test(lattice_cli, a_lattice_cnf_trained_on_4x4_samples_6x6_other_flows_are_refused)
{
    static char out[16384];
    write_config("lcli_lattice.cfg", "kind = \"cnf\"; field = \"lattice\"; features = 4;");
    cr_assert_eq(run("train lcli_lattice.cfg --force --out lcli_lattice", out, sizeof out), 0, "%s", out);
    cr_assert_eq(run("eval lcli_lattice -n 256 --set target.lattice=[6,6]", out, sizeof out), 0,
                 "%s", out);
    const char *ess = strstr(out, "reverse ESS ");
    cr_assert_not_null(ess, "%s", out);
    cr_assert_gt(atof(ess + 12), 0.01, "%s", out);
    cr_assert_not_null(strstr(out, "Gc(5)"), "the 6×6 target's correlator: %s", out);
    cr_assert_eq(run("sample lcli_lattice -n 40 -o lcli_6x6.npy --set target.lattice=[6,6]", out,
                     sizeof out),
                 0, "%s", out);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *x;
    cr_assert_eq(pf_npy_read("lcli_6x6.npy", &ndim, shape, &x), PF_OK, "%s", pf_last_error());
    cr_assert_eq(ndim, 2);
    cr_assert_eq(shape[0], 40);
    cr_assert_eq(shape[1], 36);
    free(x);
    /* ode keys (tolerances) may change too; flow keys may not */
    cr_assert_eq(run("eval lcli_lattice -n 64 --set ode.rtol=1e-6 --set ode.atol=1e-6", out,
                     sizeof out),
                 0, "%s", out);
    cr_assert_neq(run("eval lcli_lattice -n 64 --set flow.radius=2.0", out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "flow.radius"), "%s", out);
    /* the MLP field's parameters depend on the size */
    write_config("lcli_mlp.cfg", "kind = \"cnf\"; hidden = [8];");
    cr_assert_eq(run("train lcli_mlp.cfg --force --set training.steps=2 --out lcli_mlp", out, sizeof out),
                 0, "%s", out);
    cr_assert_eq(run("eval lcli_mlp -n 64", out, sizeof out), 0, "%s", out);
    cr_assert_neq(run("eval lcli_mlp -n 64 --set target.lattice=[6,6]", out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "depend on the size"), "%s", out);
    cr_assert_neq(run("sample lcli_mlp -n 8 -o lcli_bad.npy --set target.lattice=[6,6]", out,
                      sizeof out),
                  0);
    cr_assert_not_null(strstr(out, "depend on the size"), "%s", out);
}

/* Bad lattice-field settings are refused with the key named, exit status 2. */
Test(lattice_cli, bad_lattice_field_settings_name_their_key)
{
    static char out[16384];
    const struct {
        const char *target, *flow, *ode, *key;
    } cases[] = {
        {"kind = \"mgm\"; dim = 4;", "field = \"lattice\";", "", "flow.field"},
        {"kind = \"phi4\"; lattice = [4, 4]; kappa = 0.25; lambda = 0.5;",
         "field = \"lattice\"; radius = 2.0;", "", "flow.radius"},
        {"kind = \"phi4\"; lattice = [6, 6]; kappa = 0.25; lambda = 0.5;",
         "field = \"lattice\";", "divergence = \"hutchinson\";", "ode.divergence"},
        {"kind = \"phi4\"; lattice = [6, 6]; kappa = 0.25; lambda = 0.5;",
         "field = \"lattice\"; parity = \"even\";", "", "flow.parity"},
        {"kind = \"phi4\"; lattice = [6, 6]; kappa = 0.25; lambda = 0.5;",
         "field = \"lattice\"; kernel_symmetry = \"d4\";", "", "flow.kernel_symmetry"},
        {"kind = \"phi4\"; lattice = [6, 6]; kappa = 0.25; lambda = 0.5;",
         "field = \"lattice\"; time_basis = 0;", "", "flow.time_basis"},
        {"kind = \"phi4\"; lattice = [6, 6]; kappa = 0.25; lambda = 0.5;",
         "field = \"conv\";", "", "flow.field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen("lcli_bad.cfg", "w");
        cr_assert_not_null(f);
        fprintf(f,
                "target: { %s }\nflow: { kind = \"cnf\"; %s }\node: { %s }\n"
                "training: { objective = \"reverse\"; estimator = \"path\"; steps = 1; }\n",
                cases[i].target, cases[i].flow, cases[i].ode);
        fclose(f);
        int rc = run("train lcli_bad.cfg --out lcli_bad", out, sizeof out);
        cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, out);
        cr_assert_not_null(strstr(out, cases[i].key), "case %zu should name %s: %s", i,
                           cases[i].key, out);
    }
}
