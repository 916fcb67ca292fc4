/* Range and consistency checks of a configuration whose names and types are
 * already right (config.c): required keys, ranges, names of kinds, and keys
 * that do not apply to the chosen target kind. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <pathflow/estimator.h>

#include "core/error.h"
#include "experiment/experiment_impl.h"
#include "experiment/schema.h"
#include "nn/mlp.h"

pf_status pf_config_validate(pf_experiment *e);

/* A required key: missing → named at its section (or the file). */
static pf_status need(pf_experiment *e, const char *section, const char *key, const char *why)
{
    char path[128];
    snprintf(path, sizeof path, "%s.%s", section, key);
    if (pf_config_setting(e, path))
        return PF_OK;
    config_setting_t *group = pf_config_setting(e, section);
    if (group && config_setting_source_file(group))
        return pf_fail(PF_ERR_CONFIG, "%s:%u: section '%s': missing key '%s'%s",
                       config_setting_source_file(group), config_setting_source_line(group),
                       section, key, why);
    return pf_fail(PF_ERR_CONFIG, "%s: missing key '%s'%s", e->path, path, why);
}

static pf_status at_least(pf_experiment *e, const char *path, long min)
{
    long v = pf_config_int(e, path);
    if (v < min)
        return pf_config_fail(e, pf_config_setting(e, path), "must be ≥ %ld, got %ld", min, v);
    return PF_OK;
}

/* min ≤ v ≤ max, for integers that the library keeps in an `int`. */
static pf_status int_within(pf_experiment *e, const char *path, long min, long max)
{
    PF_TRY(at_least(e, path, min));
    long v = pf_config_int(e, path);
    if (v > max)
        return pf_config_fail(e, pf_config_setting(e, path), "must be ≤ %ld, got %ld", max, v);
    return PF_OK;
}

/* lo ≤ v (or lo < v if open) and v < hi. */
static pf_status in_range(pf_experiment *e, const char *path, double lo, int open, double hi)
{
    double v = pf_config_float(e, path);
    if (!isfinite(v) || (open ? !(v > lo) : !(v >= lo)) || !(v < hi))
        return pf_config_fail(e, pf_config_setting(e, path), "must be in %s%g, %g), got %g",
                              open ? "(" : "[", lo, hi, v);
    return PF_OK;
}

static pf_status one_of(pf_experiment *e, const char *path, const char *const *names, int n,
                        int *index)
{
    const char *v = pf_config_string(e, path);
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *index = i;
            return PF_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    }
    return pf_config_fail(e, pf_config_setting(e, path), "'%s' unknown (valid: %s)", v, list);
}

/* Keys of `section` given for a kind they do not apply to are mistakes. */
static pf_status check_kind_keys(pf_experiment *e, const char *section, const char *kind)
{
    config_setting_t *group = pf_config_setting(e, section);
    for (int i = 0; group && i < config_setting_length(group); i++) {
        config_setting_t *s = config_setting_get_elem(group, i);
        const key_spec *spec = pf_schema_find(section, config_setting_name(s));
        if (spec && spec->kinds && !pf_key_applies(spec, kind))
            return pf_config_fail(e, s, "does not apply to %s kind '%s'", section, kind);
    }
    return PF_OK;
}

static pf_status check_lattice(pf_experiment *e)
{
    config_setting_t *s = pf_config_setting(e, "target.lattice");
    if (config_setting_length(s) != 2)
        return pf_config_fail(e, s, "expected [L0, L1], got %d entries", config_setting_length(s));
    for (int i = 0; i < 2; i++) {
        int L = config_setting_get_int_elem(s, i);
        if (L < 2 || L > 4096)
            return pf_config_fail(e, s, "extent %d outside [2, 4096]", L);
    }
    return PF_OK;
}

/* weights (C, positive), means (C arrays of d), covariances (C arrays of d·d). */
static pf_status check_gmm(pf_experiment *e)
{
    PF_TRY(need(e, "target", "weights", " (required for kind 'gmm')"));
    PF_TRY(need(e, "target", "means", " (required for kind 'gmm')"));
    PF_TRY(need(e, "target", "covariances", " (required for kind 'gmm')"));
    const long d = pf_config_int(e, "target.dim");
    config_setting_t *w = pf_config_setting(e, "target.weights");
    config_setting_t *m = pf_config_setting(e, "target.means");
    config_setting_t *c = pf_config_setting(e, "target.covariances");
    const int C = config_setting_length(w);
    if (C < 1)
        return pf_config_fail(e, w, "needs at least one component");
    for (int i = 0; i < C; i++) {
        const config_setting_t *wi = config_setting_get_elem(w, i);
        double v = config_setting_type(wi) == CONFIG_TYPE_FLOAT
                       ? config_setting_get_float(wi)
                       : (double)config_setting_get_int(wi);
        if (!(v > 0) || !isfinite(v))
            return pf_config_fail(e, w, "weight %d is %g, must be > 0", i, v);
    }
    if (config_setting_length(m) != C)
        return pf_config_fail(e, m, "%d means for %d weights", config_setting_length(m), C);
    if (config_setting_length(c) != C)
        return pf_config_fail(e, c, "%d covariances for %d weights", config_setting_length(c), C);
    for (int i = 0; i < C; i++) {
        if (config_setting_length(config_setting_get_elem(m, i)) != d)
            return pf_config_fail(e, m, "mean %d has %d entries, dim is %ld", i,
                                  config_setting_length(config_setting_get_elem(m, i)), d);
        if (config_setting_length(config_setting_get_elem(c, i)) != d * d)
            return pf_config_fail(e, c, "covariance %d has %d entries, expected dim² = %ld", i,
                                  config_setting_length(config_setting_get_elem(c, i)), d * d);
    }
    return PF_OK;
}

static pf_status check_target(pf_experiment *e)
{
    static const char *const kinds[] = {"gmm", "mgm", "phi4", "u1"};
    int k;
    PF_TRY(need(e, "target", "kind", " (gmm, mgm, phi4 or u1)"));
    PF_TRY(one_of(e, "target.kind", kinds, 4, &k));
    PF_TRY(check_kind_keys(e, "target", kinds[k]));
    const char *why[] = {" (required for kind 'gmm')", " (required for kind 'mgm')",
                         " (required for kind 'phi4')", " (required for kind 'u1')"};
    if (k <= 1) {
        PF_TRY(need(e, "target", "dim", why[k]));
        PF_TRY(at_least(e, "target.dim", 1));
        if (pf_config_int(e, "target.dim") > (k == 0 ? 64 : 100000))
            return pf_config_fail(e, pf_config_setting(e, "target.dim"), "must be ≤ %d",
                                  k == 0 ? 64 : 100000);
    } else {
        PF_TRY(need(e, "target", "lattice", why[k]));
        PF_TRY(check_lattice(e));
    }
    if (k == 0)
        return check_gmm(e);
    if (k == 1)
        return in_range(e, "target.scale", 0, 1, INFINITY);
    if (k == 3) {
        PF_TRY(need(e, "target", "beta", why[3]));
        return in_range(e, "target.beta", -INFINITY, 0, INFINITY);
    }
    static const char *const forms[] = {"hopping", "mass"};
    int form;
    PF_TRY(one_of(e, "target.form", forms, 2, &form));
    PF_TRY(need(e, "target", "lambda", why[2]));
    PF_TRY(in_range(e, "target.lambda", 0, 0, INFINITY));
    const char *other = form == 0 ? "target.m2" : "target.kappa";
    if (pf_config_setting(e, other))
        return pf_config_fail(e, pf_config_setting(e, other), "does not apply to form '%s'",
                              forms[form]);
    PF_TRY(need(e, "target", form == 0 ? "kappa" : "m2",
                form == 0 ? " (required for form 'hopping')" : " (required for form 'mass')"));
    return form == 0 ? in_range(e, "target.kappa", -INFINITY, 0, INFINITY)
                     : in_range(e, "target.m2", -4, 1, INFINITY);
}

/* The lattice field of a cnf: a phi4 target, its keys in range, a kernel
 * that fits the lattice. */
static pf_status check_cnf_field(pf_experiment *e)
{
    static const char *const fields[] = {"mlp", "lattice"};
    static const char *const parities[] = {"odd", "any"};
    static const char *const symmetries[] = {"hypercubic", "none"};
    int k;
    PF_TRY(one_of(e, "flow.field", fields, 2, &k));
    if (k == 0)
        return PF_OK; /* the lattice keys (in every resolved config) are unused */
    if (strcmp(pf_config_string(e, "target.kind"), "phi4") != 0)
        return pf_config_fail(e, pf_config_setting(e, "flow.field"),
                              "the lattice field needs a phi4 target (a scalar field on sites)");
    if (strcmp(pf_config_string(e, "ode.divergence"), "exact") != 0)
        return pf_config_fail(e, pf_config_setting(e, "ode.divergence"),
                              "the lattice field's divergence is exact and cheap: Hutchinson's "
                              "estimator applies to flow.field = \"mlp\" only");
    PF_TRY(int_within(e, "flow.features", 0, 256));
    PF_TRY(in_range(e, "flow.frequency", 0, 1, 1e6));
    PF_TRY(one_of(e, "flow.parity", parities, 2, &k));
    PF_TRY(int_within(e, "flow.time_basis", 1, 64));
    PF_TRY(in_range(e, "flow.radius", 0, 0, 4.000001));
    PF_TRY(one_of(e, "flow.kernel_symmetry", symmetries, 2, &k));
    const int width = 2 * (int)floor(pf_config_float(e, "flow.radius") + 1e-9) + 1;
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    for (int i = 0; i < config_setting_length(lat); i++)
        if (config_setting_get_int_elem(lat, i) < width)
            return pf_config_fail(e, pf_config_setting(e, "flow.radius"),
                                  "the kernel (width %d) does not fit the lattice extent %d",
                                  width, config_setting_get_int_elem(lat, i));
    return PF_OK;
}

/* A continuous flow: its conditioner-free keys and the ode section. */
static pf_status check_cnf(pf_experiment *e)
{
    static const char *const methods[] = {"adams", "bdf"};
    static const char *const divergences[] = {"exact", "hutchinson"};
    int k;
    config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    if (config_setting_length(hidden) > 16)
        return pf_config_fail(e, hidden, "at most 16 hidden layers");
    for (int i = 0; i < config_setting_length(hidden); i++)
        if (config_setting_get_int_elem(hidden, i) < 1)
            return pf_config_fail(e, hidden, "widths must be ≥ 1, entry %d is %d", i,
                                  config_setting_get_int_elem(hidden, i));
    const char *act = pf_config_string(e, "flow.activation");
    if (strcmp(act, "tanh") != 0 && strcmp(act, "softplus") != 0)
        return pf_config_fail(e, pf_config_setting(e, "flow.activation"),
                              "'%s': a cnf needs a smooth activation (tanh or softplus)", act);
    PF_TRY(in_range(e, "flow.init_scale", 0, 0, INFINITY));
    PF_TRY(in_range(e, "ode.t1", 0, 1, INFINITY));
    PF_TRY(in_range(e, "ode.rtol", 0, 1, 1));
    PF_TRY(in_range(e, "ode.atol", 0, 1, INFINITY));
    PF_TRY(at_least(e, "ode.max_steps", 1));
    PF_TRY(int_within(e, "ode.checkpoint_steps", 1, INT_MAX));
    PF_TRY(one_of(e, "ode.method", methods, 2, &k));
    PF_TRY(one_of(e, "ode.divergence", divergences, 2, &k));
    return check_cnf_field(e);
}

/* The gauge-equivariant flow: a U(1) target with extents divisible by 4. */
static pf_status check_u1_flow(pf_experiment *e)
{
    config_setting_t *ode = pf_config_setting(e, "ode");
    if (ode)
        return pf_config_fail(e, ode, "the ode section applies to flow kind 'cnf' only");
    if (strcmp(pf_config_string(e, "target.kind"), "u1") != 0)
        return pf_config_fail(e, pf_config_setting(e, "flow.kind"),
                              "flow kind 'u1' needs a u1 target");
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    for (int i = 0; i < 2; i++)
        if (config_setting_get_int_elem(lat, i) % 4 != 0)
            return pf_config_fail(e, lat, "the u1 flow needs extents divisible by 4");
    PF_TRY(int_within(e, "flow.layers", 1, 1000));
    config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    if (config_setting_length(hidden) > 7)
        return pf_config_fail(e, hidden, "at most 7 hidden conv layers");
    for (int i = 0; i < config_setting_length(hidden); i++)
        if (config_setting_get_int_elem(hidden, i) < 1)
            return pf_config_fail(e, hidden, "channels must be ≥ 1");
    long kernel = pf_config_int(e, "flow.kernel");
    if (kernel < 1 || kernel % 2 == 0 || kernel > config_setting_get_int_elem(lat, 0) ||
        kernel > config_setting_get_int_elem(lat, 1))
        return pf_config_fail(e, pf_config_setting(e, "flow.kernel"),
                              "must be odd and fit the lattice, got %ld", kernel);
    long K = pf_config_int(e, "flow.mixture");
    if (K < 1 || K > 16)
        return pf_config_fail(e, pf_config_setting(e, "flow.mixture"),
                              "must be in [1, 16], got %ld", K);
    pf_activation act;
    if (pf_activation_from_name(pf_config_string(e, "flow.activation"), &act) != PF_OK)
        return pf_config_fail(e, pf_config_setting(e, "flow.activation"), "%s", pf_last_error());
    PF_TRY(in_range(e, "flow.tolerance", 0, 1, 1));
    return in_range(e, "flow.init_scale", 0, 0, INFINITY);
}

/* A coupling's conditioner: a conv one reads the lattice field, so it needs
 * the checkerboard (hence a phi4 target) and a kernel that fits the lattice. */
static pf_status check_conditioner(pf_experiment *e, int checkerboard)
{
    static const char *const conditioners[] = {"dense", "conv"}, *const symmetries[] = {"none", "z2"};
    int conv, z2;
    PF_TRY(one_of(e, "flow.conditioner", conditioners, 2, &conv));
    PF_TRY(one_of(e, "flow.symmetry", symmetries, 2, &z2));
    if (!conv)
        return PF_OK;
    if (!checkerboard)
        return pf_config_fail(e, pf_config_setting(e, "flow.conditioner"),
                              "'conv' needs mask = \"checkerboard\" on a lattice target (phi4), "
                              "the mask is \"%s\"", pf_config_string(e, "flow.mask"));
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    long kernel = pf_config_int(e, "flow.kernel");
    if (kernel < 1 || kernel % 2 == 0 || kernel > config_setting_get_int_elem(lat, 0) ||
        kernel > config_setting_get_int_elem(lat, 1))
        return pf_config_fail(e, pf_config_setting(e, "flow.kernel"),
                              "must be odd and fit the lattice, got %ld", kernel);
    config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    if (config_setting_length(hidden) > 7)
        return pf_config_fail(e, hidden, "at most 7 hidden conv layers with conditioner \"conv\"");
    return PF_OK;
}

static pf_status check_flow(pf_experiment *e)
{
    static const char *const kinds[] = {"realnvp", "cnf", "u1"};
    static const char *const masks[] = {"halves", "even_odd", "checkerboard"};
    int k;
    PF_TRY(one_of(e, "flow.kind", kinds, 3, &k));
    PF_TRY(check_kind_keys(e, "flow", kinds[k]));
    /* the U(1) flow learns fastest from a random start (its conditioners'
     * last layers random, as in the reference implementation); coupling
     * flows and CNFs start as the identity */
    if (!pf_config_setting(e, "flow.zero_init"))
        PF_TRY(pf_config_set_text(e, pf_schema_find("flow", "zero_init"), k == 2 ? "false" : "true",
                                  "default"));
    if (k == 1)
        return check_cnf(e);
    if (k == 2)
        return check_u1_flow(e);
    config_setting_t *ode = pf_config_setting(e, "ode");
    if (ode)
        return pf_config_fail(e, ode, "the ode section applies to flow kind 'cnf' only");
    PF_TRY(int_within(e, "flow.layers", 1, 1000));
    config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    if (config_setting_length(hidden) > 16)
        return pf_config_fail(e, hidden, "at most 16 hidden layers, got %d",
                              config_setting_length(hidden));
    for (int i = 0; i < config_setting_length(hidden); i++)
        if (config_setting_get_int_elem(hidden, i) < 1)
            return pf_config_fail(e, hidden, "widths must be ≥ 1, entry %d is %d", i,
                                  config_setting_get_int_elem(hidden, i));
    pf_activation act;
    if (pf_activation_from_name(pf_config_string(e, "flow.activation"), &act) != PF_OK)
        return pf_config_fail(e, pf_config_setting(e, "flow.activation"), "%s", pf_last_error());
    PF_TRY(one_of(e, "flow.mask", masks, 3, &k));
    if (k == 2 && strcmp(pf_config_string(e, "target.kind"), "phi4") != 0)
        return pf_config_fail(e, pf_config_setting(e, "flow.mask"),
                              "checkerboard needs a lattice target (phi4)");
    PF_TRY(check_conditioner(e, k == 2));
    static const char *const bases[] = {"normal", "z2_mixture"};
    PF_TRY(one_of(e, "flow.base", bases, 2, &k));
    PF_TRY(in_range(e, "flow.base_shift", 0, 1, 1e6));
    long dim = pf_config_setting(e, "target.dim") ? pf_config_int(e, "target.dim") : 4;
    if (dim < 2)
        return pf_config_fail(e, pf_config_setting(e, "target.dim"),
                              "a coupling flow needs dim ≥ 2");
    return in_range(e, "flow.init_scale", 0, 0, INFINITY);
}

static pf_status check_training(pf_experiment *e)
{
    PF_TRY(need(e, "training", "objective", " (reverse or forward)"));
    PF_TRY(need(e, "training", "estimator", " (total, ml, path or path-dropin)"));
    pf_objective objective;
    pf_estimator_kind kind;
    if (pf_objective_from_name(pf_config_string(e, "training.objective"), &objective) != PF_OK)
        return pf_config_fail(e, pf_config_setting(e, "training.objective"), "%s", pf_last_error());
    if (pf_estimator_kind_from_name(objective, pf_config_string(e, "training.estimator"), &kind) !=
        PF_OK)
        return pf_config_fail(e, pf_config_setting(e, "training.estimator"), "%s", pf_last_error());
    PF_TRY(int_within(e, "training.batch", 1, INT_MAX));
    PF_TRY(at_least(e, "training.steps", 0));
    PF_TRY(at_least(e, "training.warmup", 0));
    PF_TRY(int_within(e, "training.max_bad_steps", 1, INT_MAX));
    PF_TRY(int_within(e, "training.checkpoint_every", 0, INT_MAX));
    PF_TRY(in_range(e, "training.lr", 0, 1, INFINITY));
    PF_TRY(in_range(e, "training.min_lr", 0, 0, INFINITY));
    if (pf_config_float(e, "training.min_lr") > pf_config_float(e, "training.lr"))
        return pf_config_fail(
            e, pf_config_setting(e, "training.min_lr"), "must be ≤ training.lr = %g, got %g",
            pf_config_float(e, "training.lr"), pf_config_float(e, "training.min_lr"));
    PF_TRY(in_range(e, "training.beta1", 0, 0, 1));
    PF_TRY(in_range(e, "training.beta2", 0, 0, 1));
    PF_TRY(in_range(e, "training.eps", 0, 1, INFINITY));
    PF_TRY(in_range(e, "training.clip_norm", 0, 0, INFINITY));
    PF_TRY(in_range(e, "training.clip_relative", 0, 0, INFINITY));
    static const char *const schedules[] = {"constant", "cosine"};
    int s;
    return one_of(e, "training.schedule", schedules, 2, &s);
}

/* data.file belongs to source "file", data.n_train to source "exact". */
static pf_status check_data_source(pf_experiment *e, int from_file)
{
    if (from_file && pf_config_string(e, "data.file")[0] == '\0')
        return pf_config_fail(e, pf_config_setting(e, "data.file"),
                              "data.source is \"file\" but no file is given");
    if (!from_file && pf_config_string(e, "data.file")[0] != '\0')
        return pf_config_fail(e, pf_config_setting(e, "data.file"),
                              "applies to data.source = \"file\" only (the source is \"exact\")");
    if (from_file && pf_config_int(e, "data.n_train") != 0)
        return pf_config_fail(e, pf_config_setting(e, "data.n_train"),
                              "applies to data.source = \"exact\" only (every row of "
                              "data.file is trained on)");
    return PF_OK;
}

static pf_status check_data_and_eval(pf_experiment *e)
{
    static const char *const sources[] = {"exact", "file"};
    int source;
    PF_TRY(one_of(e, "data.source", sources, 2, &source));
    PF_TRY(int_within(e, "data.n_train", 0, INT_MAX));
    PF_TRY(int_within(e, "data.n_holdout", 0, INT_MAX));
    PF_TRY(at_least(e, "eval.every", 1));
    PF_TRY(int_within(e, "eval.samples", 1, INT_MAX));
    PF_TRY(check_data_source(e, source == 1));
    const char *kind = pf_config_string(e, "target.kind");
    int has_sampler = strcmp(kind, "gmm") == 0 || strcmp(kind, "mgm") == 0;
    int forward = strcmp(pf_config_string(e, "training.objective"), "forward") == 0;
    if (forward && source == 0 && !has_sampler)
        return pf_config_fail(e, pf_config_setting(e, "data.source"),
                              "forward KL needs target samples: the %s target has no exact "
                              "sampler, give data.source = \"file\" and data.file",
                              kind);
    return PF_OK;
}

/* The run directory is output_dir/name: both must name something. */
static pf_status check_experiment(pf_experiment *e)
{
    const char *name = pf_config_string(e, "experiment.name");
    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return pf_config_fail(e, pf_config_setting(e, "experiment.name"),
                              "must be a non-empty name without '/', got \"%s\"", name);
    if (pf_config_string(e, "experiment.output_dir")[0] == '\0')
        return pf_config_fail(e, pf_config_setting(e, "experiment.output_dir"),
                              "must not be empty (\".\" is the working directory)");
    return at_least(e, "experiment.seed", 0);
}

/* The target's dimension from validated keys. */
static double target_dim(pf_experiment *e)
{
    const char *kind = pf_config_string(e, "target.kind");
    if (strcmp(kind, "gmm") == 0 || strcmp(kind, "mgm") == 0)
        return (double)pf_config_int(e, "target.dim");
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    double V = (double)config_setting_get_int_elem(lat, 0) * config_setting_get_int_elem(lat, 1);
    return strcmp(kind, "u1") == 0 ? 2 * V : V;
}

/* A rough count of the doubles the flow's parameters and tapes need, so that
 * a huge dimension or width is refused with a message, not an out-of-memory
 * kill: parameters plus activations of every layer for one batch (times d
 * tangents for a CNN with exact divergence). */
static pf_status check_size(pf_experiment *e)
{
    const double d = target_dim(e), B = (double)pf_config_int(e, "training.batch");
    const char *kind = pf_config_string(e, "flow.kind");
    const config_setting_t *hidden = pf_config_setting(e, "flow.hidden");
    double widths = 0, params = 0, prev = strcmp(kind, "realnvp") == 0 ? d / 2 : d + 1;
    for (int i = 0; i < config_setting_length(hidden); i++) {
        double h = config_setting_get_int_elem(hidden, i);
        params += prev * h;
        widths += h;
        prev = h;
    }
    params += prev * d;
    double layers = strcmp(kind, "cnf") == 0 ? 1 : (double)pf_config_int(e, "flow.layers");
    double tangents = strcmp(kind, "cnf") == 0 &&
                              strcmp(pf_config_string(e, "ode.divergence"), "exact") == 0
                          ? d
                          : 1;
    if (strcmp(kind, "cnf") == 0 && strcmp(pf_config_string(e, "flow.field"), "lattice") == 0)
        return PF_OK; /* a few kernels and per-site features: tiny */
    if (strcmp(kind, "realnvp") == 0 &&
        strcmp(pf_config_string(e, "flow.conditioner"), "conv") == 0) {
        /* per site and branch: columns k·k·C_l and three C_{l+1} arrays per layer */
        double k = (double)pf_config_int(e, "flow.kernel");
        double branches = strcmp(pf_config_string(e, "flow.symmetry"), "z2") == 0 ? 2 : 1;
        params = 0;
        widths = branches * d * (k * k * (1 + widths) + 3 * (widths + 2)) / 4 - 2 * d;
    }
    if (strcmp(kind, "u1") == 0) { /* convolutions: tiny parameters, per-site tapes */
        double k = (double)pf_config_int(e, "flow.kernel"), V = d / 2;
        double out = (double)pf_config_int(e, "flow.mixture") + 1;
        params = 0;
        widths = V * (k * k * (2 + widths) + 3 * (widths + out)) / 4 - 2 * d;
    }
    double doubles = layers * (params + 4 * B * (widths + 2 * d) * tangents);
    const double limit = 2e9; /* 16 GB of the machine's 24 */
    if (doubles > limit)
        return pf_config_fail(e, hidden,
                              "this flow needs about %.0f GB for dimension %.0f and batch %.0f "
                              "(limit %.0f GB): reduce the dimension, the widths or the batch",
                              doubles * 8 / 1e9, d, B, limit * 8 / 1e9);
    return PF_OK;
}

pf_status pf_config_validate(pf_experiment *e)
{
    PF_TRY(check_target(e));
    PF_TRY(check_flow(e));
    PF_TRY(check_training(e));
    PF_TRY(check_data_and_eval(e));
    PF_TRY(check_size(e));
    return check_experiment(e);
}
