/* The configuration schema: every key pathflow reads, with its default. */
#include "experiment/schema.h"

#include <stddef.h>

const char *const PF_SECTIONS[] = {"experiment", "target", "flow", "ode", "training", "data", "eval"};
const int PF_N_SECTIONS = 7;

const key_spec PF_SCHEMA[] = {
    {"experiment", "name", VALUE_STRING, NULL, NULL}, /* default: the file name */
    {"experiment", "seed", VALUE_INT, NULL, "1"},
    {"experiment", "output_dir", VALUE_STRING, NULL, "\"runs\""},

    /* target keys: "kinds" lists the target kinds they apply to */
    {"target", "kind", VALUE_STRING, NULL, NULL}, /* gmm, mgm, phi4, u1: required */
    {"target", "dim", VALUE_INT, "gmm mgm", NULL},
    {"target", "loc", VALUE_FLOAT, "mgm", "1.0"},
    {"target", "scale", VALUE_FLOAT, "mgm", "0.5"},
    {"target", "weights", VALUE_FLOAT_ARRAY, "gmm", NULL},
    {"target", "means", VALUE_ARRAY_LIST, "gmm", NULL},
    {"target", "covariances", VALUE_ARRAY_LIST, "gmm", NULL},
    {"target", "lattice", VALUE_INT_ARRAY, "phi4 u1", NULL},
    {"target", "form", VALUE_STRING, "phi4", "\"hopping\""},
    {"target", "kappa", VALUE_FLOAT, "phi4", NULL},
    {"target", "m2", VALUE_FLOAT, "phi4", NULL},
    {"target", "lambda", VALUE_FLOAT, "phi4", NULL},
    {"target", "beta", VALUE_FLOAT, "u1", NULL},

    /* flow keys: "kinds" lists the flow kinds they apply to */
    {"flow", "kind", VALUE_STRING, NULL, "\"realnvp\""},
    {"flow", "layers", VALUE_INT, "realnvp u1", "4"},
    {"flow", "hidden", VALUE_INT_ARRAY, NULL, "[64, 64]"},
    {"flow", "activation", VALUE_STRING, NULL, "\"tanh\""},
    {"flow", "mask", VALUE_STRING, "realnvp", "\"halves\""},
    {"flow", "zero_init", VALUE_BOOL, NULL, "true"},
    {"flow", "init_scale", VALUE_FLOAT, NULL, "1.0"},
    {"flow", "kernel", VALUE_INT, "u1", "3"},
    {"flow", "mixture", VALUE_INT, "u1", "2"},
    {"flow", "tolerance", VALUE_FLOAT, "u1", "1e-10"},

    /* ode: continuous flows (flow.kind = "cnf") only */
    {"ode", "t1", VALUE_FLOAT, NULL, "1.0"},
    {"ode", "rtol", VALUE_FLOAT, NULL, "1e-05"},
    {"ode", "atol", VALUE_FLOAT, NULL, "1e-05"},
    {"ode", "max_steps", VALUE_INT, NULL, "10000"},
    {"ode", "checkpoint_steps", VALUE_INT, NULL, "100"},
    {"ode", "method", VALUE_STRING, NULL, "\"adams\""},
    {"ode", "divergence", VALUE_STRING, NULL, "\"exact\""},

    {"training", "objective", VALUE_STRING, NULL, NULL}, /* required */
    {"training", "estimator", VALUE_STRING, NULL, NULL}, /* required */
    {"training", "batch", VALUE_INT, NULL, "256"},
    {"training", "steps", VALUE_INT, NULL, "1000"},
    {"training", "lr", VALUE_FLOAT, NULL, "0.001"},
    {"training", "min_lr", VALUE_FLOAT, NULL, "0.0"},
    {"training", "schedule", VALUE_STRING, NULL, "\"cosine\""},
    {"training", "warmup", VALUE_INT, NULL, "0"},
    {"training", "beta1", VALUE_FLOAT, NULL, "0.9"},
    {"training", "beta2", VALUE_FLOAT, NULL, "0.999"},
    {"training", "eps", VALUE_FLOAT, NULL, "1e-08"},
    {"training", "clip_norm", VALUE_FLOAT, NULL, "0.0"},
    {"training", "max_nonfinite", VALUE_INT, NULL, "10"},

    {"data", "source", VALUE_STRING, NULL, "\"exact\""},
    {"data", "n_train", VALUE_INT, NULL, "0"},
    {"data", "n_holdout", VALUE_INT, NULL, "2000"},
    {"data", "file", VALUE_STRING, NULL, "\"\""},
    {"data", "holdout_file", VALUE_STRING, NULL, "\"\""},

    {"eval", "every", VALUE_INT, NULL, "100"},
    {"eval", "samples", VALUE_INT, NULL, "2000"},
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
