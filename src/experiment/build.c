/* Building an experiment's objects from its validated configuration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/npy.h"
#include "experiment/experiment_impl.h"

/* Stream of the fixed training set drawn from an exact sampler. */
#define STREAM_TRAINING_SET (4ULL << 40)

static double float_elem(const config_setting_t *array, int i)
{
    const config_setting_t *s = config_setting_get_elem(array, i);
    return config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                       : (double)config_setting_get_int(s);
}

static pf_status build_gmm(pf_experiment *e)
{
    const int d = (int)pf_config_int(e, "target.dim");
    const config_setting_t *w = pf_config_setting(e, "target.weights");
    const int C = config_setting_length(w);
    double *weights = malloc((size_t)C * sizeof *weights);
    double *means = malloc((size_t)C * d * sizeof *means);
    double *covs = malloc((size_t)C * d * d * sizeof *covs);
    pf_status st = (weights && means && covs) ? PF_OK : pf_fail(PF_ERR_NOMEM, "gmm: no memory");
    if (st == PF_OK) {
        for (int c = 0; c < C; c++)
            weights[c] = float_elem(w, c);
        for (int c = 0; c < C; c++) { /* elements may be written as integers */
            const config_setting_t *m =
                config_setting_get_elem(pf_config_setting(e, "target.means"), c);
            const config_setting_t *s =
                config_setting_get_elem(pf_config_setting(e, "target.covariances"), c);
            for (int i = 0; i < d; i++)
                means[(size_t)c * d + i] = float_elem(m, i);
            for (int i = 0; i < d * d; i++)
                covs[(size_t)c * d * d + i] = float_elem(s, i);
        }
        st = pf_target_gmm_create(d, C, weights, means, covs, &e->target);
        if (st != PF_OK)
            st = pf_config_fail(e, pf_config_setting(e, "target.covariances"), "%s",
                                pf_last_error());
    }
    free(weights);
    free(means);
    free(covs);
    return st;
}

static pf_status build_target(pf_experiment *e)
{
    const char *kind = pf_config_string(e, "target.kind");
    if (strcmp(kind, "gmm") == 0)
        return build_gmm(e);
    if (strcmp(kind, "mgm") == 0)
        return pf_target_mgm_create((int)pf_config_int(e, "target.dim"),
                                    pf_config_float(e, "target.loc"),
                                    pf_config_float(e, "target.scale"), &e->target);
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    int L0 = config_setting_get_int_elem(lat, 0), L1 = config_setting_get_int_elem(lat, 1);
    if (strcmp(kind, "u1") == 0)
        return pf_target_u1_create(L0, L1, pf_config_float(e, "target.beta"), &e->target);
    if (strcmp(pf_config_string(e, "target.form"), "mass") == 0)
        return pf_target_phi4_mass_create(L0, L1, pf_config_float(e, "target.m2"),
                                          pf_config_float(e, "target.lambda"), &e->target);
    return pf_target_phi4_create(L0, L1, pf_config_float(e, "target.kappa"),
                                 pf_config_float(e, "target.lambda"), &e->target);
}

static pf_status build_cnf(pf_experiment *e)
{
    pf_cnf_options o = pf_cnf_options_default();
    o.dim = pf_target_dim(e->target);
    const config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    o.n_hidden = config_setting_length(hidden);
    for (int i = 0; i < o.n_hidden; i++)
        o.hidden[i] = config_setting_get_int_elem(hidden, i);
    o.activation = pf_config_string(e, "flow.activation");
    o.zero_init = pf_config_bool(e, "flow.zero_init");
    o.init_scale = pf_config_float(e, "flow.init_scale");
    o.seed = (unsigned long long)pf_config_int(e, "experiment.seed");
    o.t1 = pf_config_float(e, "ode.t1");
    o.rtol = pf_config_float(e, "ode.rtol");
    o.atol = pf_config_float(e, "ode.atol");
    o.max_steps = pf_config_int(e, "ode.max_steps");
    o.checkpoint_steps = (int)pf_config_int(e, "ode.checkpoint_steps");
    o.bdf = strcmp(pf_config_string(e, "ode.method"), "bdf") == 0;
    o.hutchinson = strcmp(pf_config_string(e, "ode.divergence"), "hutchinson") == 0;
    o.field = pf_config_string(e, "flow.field");
    o.n_lattice = pf_target_shape(e->target, o.lattice);
    o.features = (int)pf_config_int(e, "flow.features");
    o.frequency = pf_config_float(e, "flow.frequency");
    o.odd = strcmp(pf_config_string(e, "flow.parity"), "odd") == 0;
    o.time_basis = (int)pf_config_int(e, "flow.time_basis");
    o.radius = pf_config_float(e, "flow.radius");
    o.symmetric = strcmp(pf_config_string(e, "flow.kernel_symmetry"), "hypercubic") == 0;
    return pf_flow_cnf_create(&o, &e->flow);
}

static pf_status build_u1_flow(pf_experiment *e)
{
    pf_u1_flow_options o = pf_u1_flow_options_default();
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    o.L0 = config_setting_get_int_elem(lat, 0);
    o.L1 = config_setting_get_int_elem(lat, 1);
    o.n_layers = (int)pf_config_int(e, "flow.layers");
    const config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    o.n_hidden = config_setting_length(hidden);
    for (int i = 0; i < o.n_hidden; i++)
        o.hidden[i] = config_setting_get_int_elem(hidden, i);
    o.kernel = (int)pf_config_int(e, "flow.kernel");
    o.n_mixture = (int)pf_config_int(e, "flow.mixture");
    o.activation = pf_config_string(e, "flow.activation");
    o.tolerance = pf_config_float(e, "flow.tolerance");
    o.zero_init = pf_config_bool(e, "flow.zero_init");
    o.init_scale = pf_config_float(e, "flow.init_scale");
    o.seed = (unsigned long long)pf_config_int(e, "experiment.seed");
    return pf_flow_u1_create(&o, &e->flow);
}

static pf_status build_flow(pf_experiment *e)
{
    if (strcmp(pf_config_string(e, "flow.kind"), "u1") == 0)
        return build_u1_flow(e);
    if (strcmp(pf_config_string(e, "flow.kind"), "cnf") == 0)
        return build_cnf(e);
    pf_realnvp_options o = pf_realnvp_options_default();
    o.dim = pf_target_dim(e->target);
    o.n_layers = (int)pf_config_int(e, "flow.layers");
    const config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    o.n_hidden = config_setting_length(hidden);
    for (int i = 0; i < o.n_hidden; i++)
        o.hidden[i] = config_setting_get_int_elem(hidden, i);
    o.activation = pf_config_string(e, "flow.activation");
    const char *mask = pf_config_string(e, "flow.mask");
    o.mask = strcmp(mask, "halves") == 0     ? PF_MASK_HALVES
             : strcmp(mask, "even_odd") == 0 ? PF_MASK_EVEN_ODD
                                             : PF_MASK_CHECKERBOARD;
    int shape[4];
    if (pf_target_shape(e->target, shape) == 2) {
        o.lattice[0] = shape[0];
        o.lattice[1] = shape[1];
    }
    o.conditioner = strcmp(pf_config_string(e, "flow.conditioner"), "conv") == 0
                        ? PF_CONDITIONER_CONV
                        : PF_CONDITIONER_DENSE;
    o.kernel = (int)pf_config_int(e, "flow.kernel");
    o.symmetry = strcmp(pf_config_string(e, "flow.symmetry"), "z2") == 0 ? PF_SYMMETRY_Z2
                                                                         : PF_SYMMETRY_NONE;
    o.zero_init = pf_config_bool(e, "flow.zero_init");
    o.init_scale = pf_config_float(e, "flow.init_scale");
    o.seed = (unsigned long long)pf_config_int(e, "experiment.seed");
    o.base = strcmp(pf_config_string(e, "flow.base"), "z2_mixture") == 0 ? PF_BASE_Z2_MIXTURE
                                                                         : PF_BASE_NORMAL;
    o.base_shift = pf_config_float(e, "flow.base_shift");
    return pf_flow_realnvp_create(&o, &e->flow);
}

/* Rows of an .npy file as samples of the target: shape (N, ...) with the
 * product of the trailing extents equal to the target's dimension. */
static pf_status load_samples(pf_experiment *e, const char *key, double **data, int *n)
{
    const char *path = pf_config_string(e, key);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    pf_status st = pf_npy_read(path, &ndim, shape, data);
    if (st != PF_OK) /* "cfg:12: key 'data.file': x.npy: cannot open: ..." */
        return pf_config_fail_status(e, st, pf_config_setting(e, key), "%s", pf_last_error());
    size_t per_row = 1;
    for (int i = 1; i < ndim; i++)
        per_row *= shape[i];
    if (ndim < 2 || per_row != (size_t)pf_target_dim(e->target) || shape[0] < 1 ||
        shape[0] > 1000000000) {
        free(*data);
        *data = NULL;
        return pf_config_fail(e, pf_config_setting(e, key),
                              "%s: shape: expected (N, %d) samples of the target, got %d "
                              "dimensions with %zu values per row",
                              path, pf_target_dim(e->target), ndim, per_row);
    }
    for (size_t i = 0; i < shape[0] * per_row; i++)
        if (!isfinite((*data)[i])) { /* else found only as a "non-finite loss" */
            const double v = (*data)[i];
            free(*data);
            *data = NULL;
            return pf_config_fail(e, pf_config_setting(e, key),
                                  "%s: row %zu (from 0), value %zu is %g: samples must be finite",
                                  path, i / per_row, i % per_row, v);
        }
    *n = (int)shape[0];
    return PF_OK;
}

/* Forward-KL training data and held-out samples into the trainer options. */
static pf_status build_data(pf_experiment *e, pf_train_options *o)
{
    o->n_holdout = (int)pf_config_int(e, "data.n_holdout");
    if (pf_config_string(e, "data.holdout_file")[0] != '\0') {
        PF_TRY(load_samples(e, "data.holdout_file", &e->holdout, &o->n_holdout));
        o->holdout = e->holdout;
    }
    if (o->objective != PF_OBJECTIVE_FORWARD)
        return PF_OK;
    if (strcmp(pf_config_string(e, "data.source"), "file") == 0) {
        PF_TRY(load_samples(e, "data.file", &e->data, &o->n_data));
        o->data = e->data;
        return PF_OK;
    }
    int n = (int)pf_config_int(e, "data.n_train");
    if (n == 0)
        return PF_OK; /* fresh exact samples every step */
    e->data = malloc((size_t)n * pf_target_dim(e->target) * sizeof *e->data);
    if (!e->data)
        return pf_fail(PF_ERR_NOMEM, "cannot allocate %d training samples", n);
    pf_rng rng = pf_rng_make(o->seed, STREAM_TRAINING_SET);
    PF_TRY(pf_target_sample(e->target, &rng, n, e->data));
    o->data = e->data;
    o->n_data = n;
    return PF_OK;
}

static void build_options(pf_experiment *e, pf_train_options *o)
{
    *o = pf_train_options_default();
    pf_objective_from_name(pf_config_string(e, "training.objective"), &o->objective);
    pf_estimator_kind_from_name(o->objective, pf_config_string(e, "training.estimator"),
                                &o->estimator);
    pf_schedule_from_name(pf_config_string(e, "training.schedule"), &o->schedule);
    o->batch = (int)pf_config_int(e, "training.batch");
    o->steps = pf_config_int(e, "training.steps");
    o->lr = pf_config_float(e, "training.lr");
    o->min_lr = pf_config_float(e, "training.min_lr");
    o->warmup = pf_config_int(e, "training.warmup");
    o->beta1 = pf_config_float(e, "training.beta1");
    o->beta2 = pf_config_float(e, "training.beta2");
    o->eps = pf_config_float(e, "training.eps");
    o->clip_norm = pf_config_float(e, "training.clip_norm");
    o->clip_relative = pf_config_float(e, "training.clip_relative");
    o->max_bad_steps = (int)pf_config_int(e, "training.max_bad_steps");
    o->seed = (unsigned long long)pf_config_int(e, "experiment.seed");
    o->eval_every = pf_config_int(e, "eval.every");
    o->eval_samples = (int)pf_config_int(e, "eval.samples");
    o->settings_hash = pf_experiment_settings_hash(e);
}

/* Failures of a constructor name the section that described the object
 * (messages already naming a key are kept). */
static pf_status in_section(pf_experiment *e, const char *section, pf_status st)
{
    if (st == PF_OK || st == PF_ERR_NOMEM || st == PF_ERR_CONFIG)
        return st;
    return pf_config_fail_status(e, st, pf_config_setting(e, section), "%s", pf_last_error());
}

/* Undoes a partial build, so that a later call starts afresh. */
static void unbuild(pf_experiment *e)
{
    pf_flow_destroy(e->flow);
    pf_target_destroy(e->target);
    free(e->data);
    free(e->holdout);
    e->flow = NULL;
    e->target = NULL;
    e->data = e->holdout = NULL;
    e->options.data = e->options.holdout = NULL;
    e->options.n_data = e->options.n_holdout = 0;
}

pf_status pf_experiment_build_target(pf_experiment *e)
{
    if (e->target)
        return PF_OK;
    pf_status st = in_section(e, "target", build_target(e));
    if (st != PF_OK)
        unbuild(e);
    return st;
}

pf_status pf_experiment_build(pf_experiment *e)
{
    if (e->built)
        return PF_OK;
    build_options(e, &e->options);
    pf_status st = pf_experiment_build_target(e);
    if (st == PF_OK)
        st = in_section(e, "flow", build_flow(e));
    if (st == PF_OK)
        st = build_data(e, &e->options);
    if (st != PF_OK) {
        unbuild(e);
        return st;
    }
    e->built = 1;
    return PF_OK;
}
