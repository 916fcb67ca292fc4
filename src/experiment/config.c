/* Reading a configuration: libconfig syntax, --set overrides, names and
 * types against the schema, defaults. Range and consistency checks are in
 * validate.c. Every failure names file and line (or the override) and key.
 *
 * Defaults (the table is PF_SCHEMA in schema.c; configs/README.md documents
 * it for users; a test checks that this block and the README name every key):
 *   experiment.name = the file name without .cfg
 *   experiment.seed = 1
 *   experiment.output_dir = "runs"
 *   target.kind: required (gmm, mgm, phi4, u1)
 *   target.dim: required for gmm and mgm
 *   target.loc = 1.0, target.scale = 0.5 (mgm)
 *   target.weights, target.means, target.covariances: required for gmm
 *   target.lattice: required for phi4 and u1
 *   target.form = "hopping" (phi4); target.kappa (hopping) or target.m2
 *   (mass), and target.lambda: required for phi4; target.beta: required for u1
 *   flow.kind = "realnvp"
 *   flow.layers = 4 (realnvp, u1)
 *   flow.hidden = [64, 64]
 *   flow.activation = "tanh"
 *   flow.mask = "halves" (realnvp)
 *   flow.zero_init = true (realnvp, cnf), false (u1)
 *   flow.init_scale = 1.0
 *   flow.conditioner = "dense", flow.symmetry = "none" (realnvp)
 *   flow.base = "normal", flow.base_shift = 1.0 (realnvp)
 *   flow.kernel = 3 (realnvp with conditioner "conv", u1)
 *   flow.mixture = 2, flow.tolerance = 1e-10 (u1)
 *   flow.field = "mlp" (cnf); with "lattice": flow.features = 8,
 *   flow.frequency = 3.0, flow.parity = "odd", flow.time_basis = 4,
 *   flow.radius = 1.0, flow.kernel_symmetry = "hypercubic"
 *   ode.t1 = 1.0, ode.rtol = 1e-05, ode.atol = 1e-05, ode.max_steps = 10000,
 *   ode.checkpoint_steps = 100, ode.method = "adams",
 *   ode.divergence = "exact" (cnf only)
 *   training.objective, training.estimator: required
 *   training.batch = 256
 *   training.steps = 1000
 *   training.lr = 0.001
 *   training.min_lr = 0.0
 *   training.schedule = "cosine"
 *   training.warmup = 0
 *   training.beta1 = 0.9
 *   training.beta2 = 0.999
 *   training.eps = 1e-08
 *   training.clip_norm = 0.0
 *   training.clip_relative = 5.0
 *   training.max_bad_steps = 10
 *   training.checkpoint_every = 0
 *   data.source = "exact"
 *   data.n_train = 0
 *   data.n_holdout = 2000
 *   data.file = ""
 *   data.holdout_file = ""
 *   eval.every = 100
 *   eval.samples = 2000
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "experiment/experiment_impl.h"
#include "experiment/schema.h"

pf_status pf_config_validate(pf_experiment *e); /* validate.c */

/* "section.key" of a setting (array elements report their array). */
static void setting_path(const config_setting_t *s, char *buf, size_t size)
{
    while (s && !config_setting_name(s))
        s = config_setting_parent(s);
    const config_setting_t *parent = s ? config_setting_parent(s) : NULL;
    if (parent && config_setting_name(parent))
        snprintf(buf, size, "%s.%s", config_setting_name(parent), config_setting_name(s));
    else
        snprintf(buf, size, "%s", s ? config_setting_name(s) : "?");
}

/* Does override "section.key=value" set `path` ("section.key", or a whole
 * "section")? Blanks around the key are ignored, as pf_config_apply_override does. */
static int override_sets(const char *override, const char *path)
{
    while (isspace((unsigned char)*override))
        override++;
    size_t len = strlen(path);
    if (strncmp(override, path, len) != 0)
        return 0;
    const char *rest = override + len;
    if (*rest == '.')
        return strchr(path, '.') == NULL; /* a key inside the section `path` */
    while (isspace((unsigned char)*rest))
        rest++;
    return *rest == '=';
}

void pf_config_where(const pf_experiment *e, const config_setting_t *s, char *buf, size_t size)
{
    const char *file = s ? config_setting_source_file(s) : NULL;
    if (file) {
        snprintf(buf, size, "%s:%u", file, config_setting_source_line(s));
        return;
    }
    char path[128];
    setting_path(s, path, sizeof path);
    for (int i = e->n_overrides - 1; i >= 0; i--)
        if (override_sets(e->overrides[i], path)) {
            snprintf(buf, size, "--set %s", e->overrides[i]);
            return;
        }
    snprintf(buf, size, "%s (default)", e->path);
}

static pf_status fail_at(const pf_experiment *e, pf_status status, const config_setting_t *s,
                         const char *fmt, va_list ap)
{
    char where[4200], path[128], msg[768];
    pf_config_where(e, s, where, sizeof where);
    setting_path(s, path, sizeof path);
    vsnprintf(msg, sizeof msg, fmt, ap); /* first: the arguments may be pf_last_error() */
    return pf_fail(status, "%s: key '%s': %s", where, path, msg);
}

pf_status pf_config_fail(const pf_experiment *e, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pf_status status = fail_at(e, PF_ERR_CONFIG, s, fmt, ap);
    va_end(ap);
    return status;
}

pf_status pf_config_fail_status(const pf_experiment *e, pf_status status, const config_setting_t *s,
                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    status = fail_at(e, status, s, fmt, ap);
    va_end(ap);
    return status;
}

/* Line `number` (1-based) of `path` into buf; 0 if absent or too long. */
static int read_line(const char *path, unsigned number, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    int found = 0;
    for (unsigned l = 1; f && fgets(buf, (int)size, f); l++) {
        if (!strchr(buf, '\n') && !feof(f))
            break; /* longer than buf: give up */
        if (l == number) {
            found = 1;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* libconfig 1.5 silently wraps a decimal integer beyond 32 bits
 * ("steps = 5000000000" reads as 705032704): find the key's text on its
 * line and refuse a value that did not survive. */
static pf_status check_integer_text(pf_experiment *e, const config_setting_t *s)
{
    char line[4096];
    const char *file = config_setting_source_file(s), *name = config_setting_name(s);
    if (config_setting_type(s) != CONFIG_TYPE_INT || !file ||
        !read_line(file, config_setting_source_line(s), line, sizeof line))
        return PF_OK;
    const size_t n = strlen(name);
    for (const char *p = strstr(line, name); p; p = strstr(p + 1, name)) {
        if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-'))
            continue; /* "max_steps" when looking for "steps" */
        const char *q = p + n;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '=' && *q != ':')
            continue;
        for (q++; isspace((unsigned char)*q);)
            q++;
        char *end;
        errno = 0;
        long long v = strtoll(q, &end, 10);
        if (end == q + 1 && *q == '0' && (*end == 'x' || *end == 'X')) {
            /* hexadecimal: libconfig keeps the low 32 bits (0xFFFFFFFF → -1) */
            unsigned long long u = strtoull(q, &end, 16);
            if (errno == ERANGE || u != (unsigned long long)(long long)config_setting_get_int(s))
                return pf_config_fail(e, s,
                                      "%.*s is %llu, beyond a 32-bit int (read as %d): write it "
                                      "as %.*sL",
                                      (int)(end - q), q, u, config_setting_get_int(s),
                                      (int)(end - q), q);
            return PF_OK;
        }
        if (end == q)
            return PF_OK; /* not a number */
        if (errno == ERANGE || v != (long long)config_setting_get_int(s))
            return pf_config_fail(e, s, "%.*s does not fit in 32 bits: write it as %.*sL",
                                  (int)(end - q), q, (int)(end - q), q);
        return PF_OK;
    }
    return PF_OK;
}

/* Every section known, every key known and of its type. */
static pf_status check_names_and_types(pf_experiment *e)
{
    config_setting_t *root = config_root_setting(&e->config);
    char hint[96];
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *section = config_setting_get_elem(root, i);
        const char *name = config_setting_name(section);
        if (!pf_schema_is_section(name)) {
            pf_schema_suggest(NULL, name, hint, sizeof hint);
            return pf_config_fail(e, section,
                                  "unknown section%s (sections: experiment, target, "
                                  "flow, ode, training, data, eval)",
                                  hint);
        }
        if (config_setting_type(section) != CONFIG_TYPE_GROUP)
            return pf_config_fail(e, section, "expected a group { ... }");
        for (int j = 0; j < config_setting_length(section); j++) {
            config_setting_t *s = config_setting_get_elem(section, j);
            const key_spec *spec = pf_schema_find(name, config_setting_name(s));
            if (!spec) {
                pf_schema_suggest(name, config_setting_name(s), hint, sizeof hint);
                return pf_config_fail(e, s, "unknown key%s", hint);
            }
            if (!pf_value_matches(s, spec->type))
                return pf_config_fail(e, s, "expected %s", pf_value_type_name(spec->type));
            PF_TRY(check_integer_text(e, s));
        }
    }
    return PF_OK;
}

/* Missing keys with a default (for this target kind) get it; experiment.name
 * defaults to the file's base name. */
static pf_status fill_defaults(pf_experiment *e)
{
    const char *kind = NULL, *flow_kind = "realnvp";
    config_lookup_string(&e->config, "target.kind", &kind);
    config_lookup_string(&e->config, "flow.kind", &flow_kind);
    const int cnf = strcmp(flow_kind, "cnf") == 0;
    for (int i = 0; i < PF_SCHEMA_SIZE; i++) {
        const key_spec *spec = &PF_SCHEMA[i];
        if (strcmp(spec->section, "ode") == 0 && !cnf)
            continue; /* the ode section belongs to continuous flows */
        char path[128];
        snprintf(path, sizeof path, "%s.%s", spec->section, spec->key);
        const char *which = strcmp(spec->section, "flow") == 0 ? flow_kind : kind;
        if (!spec->fallback || !pf_key_applies(spec, which) || config_lookup(&e->config, path))
            continue;
        PF_TRY(pf_config_set_text(e, spec, spec->fallback, "default"));
    }
    if (!config_lookup(&e->config, "experiment.name")) {
        const char *base = strrchr(e->path, '/');
        char name[256];
        snprintf(name, sizeof name, "%.200s", base ? base + 1 : e->path);
        char *ext = strstr(name, ".cfg");
        if (ext && ext[4] == '\0')
            *ext = '\0';
        config_setting_t *s =
            config_setting_add(pf_config_section(e, "experiment"), "name", CONFIG_TYPE_STRING);
        config_setting_set_string(s, name);
    }
    return PF_OK;
}

/* The whole configuration into a malloc'ed string; anything but a regular
 * file is refused here (libconfig's scanner exits the process on a read
 * error, e.g. of a directory, and a FIFO would not survive a second read). */
static pf_status read_config_text(const char *path, char **text)
{
    *text = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return pf_fail(PF_ERR_IO, "%s: cannot open the configuration file: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return pf_fail(PF_ERR_CONFIG, "%s: not a regular file (a configuration is a file)", path);
    }
    size_t size = 0, cap = 4096;
    char *buf = malloc(cap);
    for (size_t got = 1; buf && got > 0;) {
        if (size + 1 == cap) {
            char *bigger = cap < ((size_t)1 << 26) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        got = fread(buf + size, 1, cap - 1 - size, f);
        size += got;
    }
    const int failed = ferror(f);
    fclose(f);
    if (!buf)
        return pf_fail(PF_ERR_CONFIG, "%s: larger than 64 MiB or out of memory", path);
    if (failed) {
        free(buf);
        return pf_fail(PF_ERR_IO, "%s: cannot read the configuration file", path);
    }
    buf[size] = '\0';
    *text = buf;
    return PF_OK;
}

/* Includes are switched off: libconfig (1.5 here) has no hook to vet the
 * included file, and its scanner exits the process on a directory and
 * blocks on a FIFO. Its scanner takes `@include` only as the first word of a
 * line; any such line is refused. */
static pf_status refuse_includes(const char *path, const char *text)
{
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *q = p + strspn(p, " \t");
        if (strncmp(q, "@include", 8) == 0)
            return pf_fail(PF_ERR_CONFIG,
                           "%s:%d: @include: includes are switched off; put the settings in "
                           "the file or pass them with --set",
                           path, line);
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return PF_OK;
}

/* libconfig 1.5 reports "duplicate setting name" without the name: the key
 * on that line given twice there, else its last key (" 'name'" into buf). */
static void duplicate_name(const char *path, int number, char *buf, size_t size)
{
    char line[4096], keys[16][64];
    int n = 0;
    if (number < 1 || !read_line(path, (unsigned)number, line, sizeof line))
        return;
    for (const char *p = line; *p && n < 16;) {
        if (!isalpha((unsigned char)*p) && *p != '_') {
            p++;
            continue;
        }
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*");
        const char *q = p + len;
        while (*q == ' ' || *q == '\t')
            q++;
        if ((*q == '=' || *q == ':') && len < sizeof keys[0])
            snprintf(keys[n++], sizeof keys[0], "%.*s", (int)len, p);
        p += len;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(keys[i], keys[j]) == 0) {
                snprintf(buf, size, " '%s' (a key given twice)", keys[i]);
                return;
            }
    if (n > 0)
        snprintf(buf, size, " '%s' (given before in its section)", keys[n - 1]);
}

/* The dimension of the target from validated keys. */
static double configured_dim(pf_experiment *e)
{
    const char *kind = pf_config_string(e, "target.kind");
    if (strcmp(kind, "gmm") == 0 || strcmp(kind, "mgm") == 0)
        return (double)pf_config_int(e, "target.dim");
    const config_setting_t *lat = pf_config_setting(e, "target.lattice");
    double V = (double)config_setting_get_int_elem(lat, 0) * config_setting_get_int_elem(lat, 1);
    return strcmp(kind, "u1") == 0 ? 2 * V : V;
}

/* Sample counts training would allocate for (doubles per sample: samples.npy
 * and its log weights, the evaluation buffers; held-out and training sets),
 * against the same 16 GB as the flow's size check, so that `check` refuses
 * what `train` could not allocate. */
static pf_status check_sample_counts(pf_experiment *e)
{
    const double d = configured_dim(e), limit = 2e9;
    const struct {
        const char *key;
        double per_sample;
    } counts[] = {{"eval.samples", 2 * d + 6}, {"data.n_holdout", d + 3}, {"data.n_train", d}};
    for (int k = 0; k < 3; k++) {
        const config_setting_t *s = pf_config_setting(e, counts[k].key);
        if (!s)
            continue;
        const double n = (double)pf_config_int(e, counts[k].key);
        if (n * counts[k].per_sample > limit)
            return pf_config_fail(e, s,
                                  "%.0f samples of dimension %.0f need about %.0f GB (limit %.0f "
                                  "GB): use fewer",
                                  n, d, n * counts[k].per_sample * 8 / 1e9, limit * 8 / 1e9);
    }
    return PF_OK;
}

pf_status pf_config_load(pf_experiment *e, const char *path, const char *const *overrides,
                         int n_overrides)
{
    snprintf(e->path, sizeof e->path, "%s", path);
    char *text;
    PF_TRY(read_config_text(path, &text));
    pf_status st = refuse_includes(path, text);
    free(text);
    PF_TRY(st);
    /* read again by libconfig, for the file name in its settings' sources */
    if (config_read_file(&e->config, path) != CONFIG_TRUE) {
        char name[80] = "";
        if (strcmp(config_error_text(&e->config), "duplicate setting name") == 0)
            duplicate_name(path, config_error_line(&e->config), name, sizeof name);
        return pf_fail(PF_ERR_CONFIG, "%s:%d: %s%s",
                       config_error_file(&e->config) ? config_error_file(&e->config) : path,
                       config_error_line(&e->config), config_error_text(&e->config), name);
    }
    e->overrides = calloc((size_t)(n_overrides > 0 ? n_overrides : 1), sizeof *e->overrides);
    if (!e->overrides)
        return pf_fail(PF_ERR_NOMEM, "cannot allocate overrides");
    for (int i = 0; i < n_overrides; i++) {
        if (strpbrk(overrides[i], "\n\r"))
            return pf_fail(PF_ERR_CONFIG,
                           "--set %.*s: a value may not contain a line break (it could carry "
                           "an @include past the check)",
                           (int)strcspn(overrides[i], "\n\r"), overrides[i]);
        e->overrides[i] = strdup(overrides[i]);
        if (!e->overrides[i])
            return pf_fail(PF_ERR_NOMEM, "cannot copy --set %s", overrides[i]);
        e->n_overrides++;
    }
    PF_TRY(check_names_and_types(e));
    for (int i = 0; i < n_overrides; i++)
        PF_TRY(pf_config_apply_override(e, overrides[i]));
    PF_TRY(fill_defaults(e));
    PF_TRY(pf_config_validate(e));
    return check_sample_counts(e);
}

config_setting_t *pf_config_setting(const pf_experiment *e, const char *path)
{
    return config_lookup((config_t *)&e->config, path);
}

long pf_config_int(const pf_experiment *e, const char *path)
{
    config_setting_t *s = pf_config_setting(e, path);
    return config_setting_type(s) == CONFIG_TYPE_INT64 ? (long)config_setting_get_int64(s)
                                                       : config_setting_get_int(s);
}

double pf_config_float(const pf_experiment *e, const char *path)
{
    config_setting_t *s = pf_config_setting(e, path);
    return config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                       : (double)pf_config_int(e, path);
}

int pf_config_bool(const pf_experiment *e, const char *path)
{
    return config_setting_get_bool(pf_config_setting(e, path));
}

const char *pf_config_string(const pf_experiment *e, const char *path)
{
    return config_setting_get_string(pf_config_setting(e, path));
}
