/* The benchmark cases of issue "bench/": each a target, a flow and a batch.
 * --quick shrinks every case so that the whole table takes seconds. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "core/error.h"

static pf_status realnvp_case(bench_case *c, const char *name, pf_target *t, int layers,
                              int n_hidden, int width, pf_mask_kind mask, int batch)
{
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = pf_target_dim(t);
    o.n_layers = layers;
    o.n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++)
        o.hidden[i] = width;
    o.mask = mask;
    int shape[4];
    if (pf_target_shape(t, shape) == 2) {
        o.lattice[0] = shape[0];
        o.lattice[1] = shape[1];
    }
    o.zero_init = 0;
    o.init_scale = 0.5;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->target = t;
    c->batch = batch;
    c->counts_flops = 1;
    return pf_flow_realnvp_create(&o, &c->flow);
}

static pf_status cnf_case(bench_case *c, const char *name, pf_target *t, int width,
                          int hutchinson, int batch)
{
    pf_cnf_options o = pf_cnf_options_default();
    o.dim = pf_target_dim(t);
    o.hidden[0] = o.hidden[1] = width;
    o.zero_init = 0;
    o.init_scale = 0.5;
    o.hutchinson = hutchinson;
    o.rtol = o.atol = 1e-5;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->target = t;
    c->batch = batch;
    return pf_flow_cnf_create(&o, &c->flow);
}

/* The lattice vector field on a φ⁴ target (radius 2, 8 odd features, 4 time
 * functions): the row to read next to the MLP field on the same lattice. */
static pf_status cnf_lattice_case(bench_case *c, const char *name, pf_target *t, int batch)
{
    pf_cnf_options o = pf_cnf_options_default();
    o.dim = pf_target_dim(t);
    o.field = "lattice";
    o.n_lattice = pf_target_shape(t, o.lattice);
    o.radius = 2.0;
    o.zero_init = 0;
    o.init_scale = 0.5;
    o.rtol = o.atol = 1e-5;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->target = t;
    c->batch = batch;
    return pf_flow_cnf_create(&o, &c->flow);
}

static pf_status u1_case(bench_case *c, const char *name, pf_target *t, int L, int layers,
                         int batch)
{
    pf_u1_flow_options o = pf_u1_flow_options_default();
    o.L0 = o.L1 = L;
    o.n_layers = layers;
    o.zero_init = 0;
    o.init_scale = 0.5;
    o.tolerance = 1e-10;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->target = t;
    c->batch = batch;
    return pf_flow_u1_create(&o, &c->flow);
}

/* Fills cases[] (at most BENCH_MAX_CASES); *n receives the count. */
pf_status bench_make_cases(int quick, bench_case *cases, int *n)
{
    pf_target *t;
    *n = 0;
    memset(cases, 0, BENCH_MAX_CASES * sizeof *cases);
    PF_TRY(pf_target_mgm_create(2, 1.0, 0.5, &t));
    PF_TRY(realnvp_case(&cases[(*n)++], "RealNVP small", t, 4, 2, 32, PF_MASK_HALVES, quick ? 100 : 500));
    PF_TRY(pf_target_mgm_create(6, 1.0, 0.5, &t));
    PF_TRY(realnvp_case(&cases[(*n)++], "RealNVP MGM", t, 4, 6, quick ? 64 : 500, PF_MASK_HALVES,
                        quick ? 100 : 500));
    PF_TRY(pf_target_phi4_create(8, 8, 0.3, 0.022, &t));
    PF_TRY(realnvp_case(&cases[(*n)++], "RealNVP lattice", t, 8, 2, quick ? 64 : 256,
                        PF_MASK_CHECKERBOARD, quick ? 64 : 256));
    PF_TRY(pf_target_u1_create(quick ? 4 : 8, quick ? 4 : 8, 2.0, &t));
    PF_TRY(u1_case(&cases[(*n)++], "U(1) 8x8", t, quick ? 4 : 8, quick ? 4 : 16, quick ? 16 : 64));
    PF_TRY(pf_target_mgm_create(2, 1.0, 0.5, &t));
    PF_TRY(cnf_case(&cases[(*n)++], "CNF 2-D", t, 32, 0, quick ? 32 : 128));
    PF_TRY(pf_target_mgm_create(quick ? 4 : 16, 1.0, 0.5, &t));
    PF_TRY(cnf_case(&cases[(*n)++], "CNF 16-D", t, 64, 1, quick ? 32 : 128));
    const int L = quick ? 6 : 8;
    char name[32];
    PF_TRY(pf_target_phi4_create(L, L, 0.25, 0.5, &t));
    snprintf(name, sizeof name, "CNF MLP %dx%d", L, L);
    PF_TRY(cnf_case(&cases[(*n)++], name, t, quick ? 32 : 64, 0, quick ? 16 : 64));
    PF_TRY(pf_target_phi4_create(L, L, 0.25, 0.5, &t));
    snprintf(name, sizeof name, "CNF lattice %dx%d", L, L);
    PF_TRY(cnf_lattice_case(&cases[(*n)++], name, t, quick ? 16 : 64));
    if (quick)
        snprintf(cases[3].name, sizeof cases[3].name, "U(1) 4x4");
    if (quick)
        snprintf(cases[5].name, sizeof cases[5].name, "CNF 4-D");
    return PF_OK;
}

void bench_free_cases(bench_case *cases, int n)
{
    for (int i = 0; i < n; i++) {
        pf_flow_destroy(cases[i].flow);
        pf_target_destroy(cases[i].target);
    }
}
