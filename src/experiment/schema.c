/* The configuration schema: every key pathflow reads, with its default;
 * look-ups, "did you mean" suggestions and type checks against it. */
#include "experiment/schema.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const PF_SECTIONS[] = {"experiment", "target", "flow", "ode",
                                   "training",   "data",   "eval"};
const int PF_N_SECTIONS = 7;

const key_spec PF_SCHEMA[] = {
    {"experiment", "name", VALUE_STRING, NULL, NULL, 1}, /* default: the file name */
    {"experiment", "seed", VALUE_INT, NULL, "1", 0},
    {"experiment", "output_dir", VALUE_STRING, NULL, "\"runs\"", 1},

    /* target keys: "kinds" lists the target kinds they apply to */
    {"target", "kind", VALUE_STRING, NULL, NULL, 0}, /* gmm, mgm, phi4, u1: required */
    {"target", "dim", VALUE_INT, "gmm mgm", NULL, 0},
    {"target", "loc", VALUE_FLOAT, "mgm", "1.0", 0},
    {"target", "scale", VALUE_FLOAT, "mgm", "0.5", 0},
    {"target", "weights", VALUE_FLOAT_ARRAY, "gmm", NULL, 0},
    {"target", "means", VALUE_ARRAY_LIST, "gmm", NULL, 0},
    {"target", "covariances", VALUE_ARRAY_LIST, "gmm", NULL, 0},
    {"target", "lattice", VALUE_INT_ARRAY, "phi4 u1", NULL, 0},
    {"target", "form", VALUE_STRING, "phi4", "\"hopping\"", 0},
    {"target", "kappa", VALUE_FLOAT, "phi4", NULL, 0},
    {"target", "m2", VALUE_FLOAT, "phi4", NULL, 0},
    {"target", "lambda", VALUE_FLOAT, "phi4", NULL, 0},
    {"target", "beta", VALUE_FLOAT, "u1", NULL, 0},

    /* flow keys: "kinds" lists the flow kinds they apply to */
    {"flow", "kind", VALUE_STRING, NULL, "\"realnvp\"", 0},
    {"flow", "layers", VALUE_INT, "realnvp u1", "4", 0},
    {"flow", "hidden", VALUE_INT_ARRAY, NULL, "[64, 64]", 0},
    {"flow", "activation", VALUE_STRING, NULL, "\"tanh\"", 0},
    {"flow", "mask", VALUE_STRING, "realnvp", "\"halves\"", 0},
    /* zero_init: default by flow kind, set in validate.c (u1 false, else true) */
    {"flow", "zero_init", VALUE_BOOL, NULL, NULL, 0},
    {"flow", "init_scale", VALUE_FLOAT, NULL, "1.0", 0},
    {"flow", "kernel", VALUE_INT, "realnvp u1", "3", 0},
    {"flow", "conditioner", VALUE_STRING, "realnvp", "\"dense\"", 0},
    {"flow", "symmetry", VALUE_STRING, "realnvp", "\"none\"", 0},
    /* added after 0.1.0: hashed only away from their defaults, so runs recorded
     * before still resume */
    {"flow", "base", VALUE_STRING, "realnvp", "\"normal\"", PF_KEY_HASHED_UNLESS_DEFAULT},
    {"flow", "base_shift", VALUE_FLOAT, "realnvp", "1.0", PF_KEY_HASHED_UNLESS_DEFAULT},
    {"flow", "mixture", VALUE_INT, "u1", "2", 0},
    {"flow", "tolerance", VALUE_FLOAT, "u1", "1e-10", 0},
    /* the vector field of a cnf: "mlp" (flow.hidden, flow.activation) or
     * "lattice" (the keys after it) */
    {"flow", "field", VALUE_STRING, "cnf", "\"mlp\"", 0},
    {"flow", "features", VALUE_INT, "cnf", "8", 0},
    {"flow", "frequency", VALUE_FLOAT, "cnf", "3.0", 0},
    {"flow", "parity", VALUE_STRING, "cnf", "\"odd\"", 0},
    {"flow", "time_basis", VALUE_INT, "cnf", "4", 0},
    {"flow", "radius", VALUE_FLOAT, "cnf", "1.0", 0},
    {"flow", "kernel_symmetry", VALUE_STRING, "cnf", "\"hypercubic\"", 0},

    /* ode: continuous flows (flow.kind = "cnf") only */
    {"ode", "t1", VALUE_FLOAT, NULL, "1.0", 0},
    {"ode", "rtol", VALUE_FLOAT, NULL, "1e-05", 0},
    {"ode", "atol", VALUE_FLOAT, NULL, "1e-05", 0},
    {"ode", "max_steps", VALUE_INT, NULL, "10000", 0},
    {"ode", "checkpoint_steps", VALUE_INT, NULL, "100", 0},
    {"ode", "method", VALUE_STRING, NULL, "\"adams\"", 0},
    {"ode", "divergence", VALUE_STRING, NULL, "\"exact\"", 0},

    {"training", "objective", VALUE_STRING, NULL, NULL, 0}, /* required */
    {"training", "estimator", VALUE_STRING, NULL, NULL, 0}, /* required */
    {"training", "batch", VALUE_INT, NULL, "256", 0},
    /* unhashed: a resumed run may be extended; the schedule then spans the new total */
    {"training", "steps", VALUE_INT, NULL, "1000", 1},
    {"training", "lr", VALUE_FLOAT, NULL, "0.001", 0},
    {"training", "min_lr", VALUE_FLOAT, NULL, "0.0", 0},
    {"training", "schedule", VALUE_STRING, NULL, "\"cosine\"", 0},
    {"training", "warmup", VALUE_INT, NULL, "0", 0},
    {"training", "beta1", VALUE_FLOAT, NULL, "0.9", 0},
    {"training", "beta2", VALUE_FLOAT, NULL, "0.999", 0},
    {"training", "eps", VALUE_FLOAT, NULL, "1e-08", 0},
    {"training", "clip_norm", VALUE_FLOAT, NULL, "0.0", 0},
    {"training", "clip_relative", VALUE_FLOAT, NULL, "5.0", 0},
    {"training", "max_bad_steps", VALUE_INT, NULL, "10", 1},
    {"training", "checkpoint_every", VALUE_INT, NULL, "0", 1},

    {"data", "source", VALUE_STRING, NULL, "\"exact\"", 0},
    {"data", "n_train", VALUE_INT, NULL, "0", 0},
    {"data", "n_holdout", VALUE_INT, NULL, "2000", 0},
    {"data", "file", VALUE_STRING, NULL, "\"\"", 0},
    {"data", "holdout_file", VALUE_STRING, NULL, "\"\"", 0},

    {"eval", "every", VALUE_INT, NULL, "100", 1},
    {"eval", "samples", VALUE_INT, NULL, "2000", 1},
};
const int PF_SCHEMA_SIZE = (int)(sizeof PF_SCHEMA / sizeof PF_SCHEMA[0]);

const char *pf_value_type_name(value_type type)
{
    switch (type) {
    case VALUE_INT: return "an integer";
    case VALUE_FLOAT: return "a number";
    case VALUE_BOOL: return "true or false";
    case VALUE_STRING: return "a string";
    case VALUE_INT_ARRAY: return "an array of integers";
    case VALUE_FLOAT_ARRAY: return "an array of numbers";
    case VALUE_ARRAY_LIST: return "a list of arrays of numbers";
    }
    return "?";
}

const key_spec *pf_schema_find(const char *section, const char *key)
{
    for (int i = 0; i < PF_SCHEMA_SIZE; i++)
        if (strcmp(PF_SCHEMA[i].section, section) == 0 && strcmp(PF_SCHEMA[i].key, key) == 0)
            return &PF_SCHEMA[i];
    return NULL;
}

int pf_schema_is_section(const char *name)
{
    for (int i = 0; i < PF_N_SECTIONS; i++)
        if (strcmp(PF_SECTIONS[i], name) == 0)
            return 1;
    return 0;
}

/* Levenshtein distance of short names, for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b), row[64];
    if (la > 62 || lb > 62)
        return 99;
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diagonal + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            diagonal = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* " (did you mean 'batch'?)" for the closest known name within 2 edits, or
 * one that is a prefix of the other. */
void pf_schema_suggest(const char *section, const char *name, char *buf, size_t size)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < (section ? PF_SCHEMA_SIZE : PF_N_SECTIONS); i++) {
        if (section && strcmp(PF_SCHEMA[i].section, section) != 0)
            continue;
        const char *candidate = section ? PF_SCHEMA[i].key : PF_SECTIONS[i];
        int d = edit_distance(name, candidate);
        size_t lc = strlen(candidate), ln = strlen(name);
        if (d >= 3 && (strncmp(name, candidate, lc < ln ? lc : ln) == 0))
            d = 2; /* one is a prefix of the other: "batchsize" → "batch" */
        if (d < best_d) {
            best_d = d;
            best = candidate;
        }
    }
    if (best)
        snprintf(buf, size, " (did you mean '%s'?)", best);
    else
        buf[0] = '\0';
}

static int is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static int is_integer(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* Does setting s have the spec's type? */
int pf_value_matches(const config_setting_t *s, value_type type)
{
    int t = config_setting_type(s), n = config_setting_length(s);
    switch (type) {
    case VALUE_INT: return is_integer(s);
    case VALUE_FLOAT: return is_number(s);
    case VALUE_BOOL: return t == CONFIG_TYPE_BOOL;
    case VALUE_STRING: return t == CONFIG_TYPE_STRING;
    case VALUE_INT_ARRAY:
    case VALUE_FLOAT_ARRAY:
        if (t != CONFIG_TYPE_ARRAY)
            return 0;
        for (int i = 0; i < n; i++)
            if (type == VALUE_INT_ARRAY /* extents and widths: 32-bit */
                    ? config_setting_type(config_setting_get_elem(s, i)) != CONFIG_TYPE_INT
                    : !is_number(config_setting_get_elem(s, i)))
                return 0;
        return 1;
    case VALUE_ARRAY_LIST:
        if (t != CONFIG_TYPE_LIST)
            return 0;
        for (int i = 0; i < n; i++)
            if (!pf_value_matches(config_setting_get_elem(s, i), VALUE_FLOAT_ARRAY))
                return 0;
        return 1;
    }
    return 0;
}

/* Is `kind` one of the space-separated kinds the key applies to? Keys with no
 * kinds apply to every kind. */
int pf_key_applies(const key_spec *spec, const char *kind)
{
    if (!spec->kinds || !kind)
        return spec->kinds == NULL;
    size_t n = strlen(kind);
    if (n == 0) /* an empty kind matches nothing (strstr would match everywhere: found by fuzzing) */
        return 0;
    for (const char *p = strstr(spec->kinds, kind); p; p = strstr(p + 1, kind))
        if ((p == spec->kinds || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}
