/* Reading a configuration: libconfig syntax, --set overrides, names and
 * types against the schema, defaults. Range and consistency checks are in
 * validate.c. Every failure names file and line (or the override) and key. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void pf_config_where(const pf_experiment *e, const config_setting_t *s, char *buf, size_t size)
{
    const char *file = s ? config_setting_source_file(s) : NULL;
    if (file) {
        snprintf(buf, size, "%s:%u", file, config_setting_source_line(s));
        return;
    }
    char path[128];
    setting_path(s, path, sizeof path);
    size_t len = strlen(path);
    for (int i = e->n_overrides - 1; i >= 0; i--)
        if (strncmp(e->overrides[i], path, len) == 0 && e->overrides[i][len] == '=') {
            snprintf(buf, size, "--set %s", e->overrides[i]);
            return;
        }
    snprintf(buf, size, "%s (default)", e->path);
}

pf_status pf_config_fail(const pf_experiment *e, const config_setting_t *s, const char *fmt, ...)
{
    char where[4200], path[128], msg[768];
    pf_config_where(e, s, where, sizeof where);
    setting_path(s, path, sizeof path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pf_fail(PF_ERR_CONFIG, "%s: key '%s': %s", where, path, msg);
}

static const key_spec *find_spec(const char *section, const char *key)
{
    for (int i = 0; i < PF_SCHEMA_SIZE; i++)
        if (strcmp(PF_SCHEMA[i].section, section) == 0 && strcmp(PF_SCHEMA[i].key, key) == 0)
            return &PF_SCHEMA[i];
    return NULL;
}

static int is_section(const char *name)
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
static void suggestion(const char *section, const char *name, char *buf, size_t size)
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
static int type_matches(const config_setting_t *s, value_type type)
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
            if (type == VALUE_INT_ARRAY ? !is_integer(config_setting_get_elem(s, i))
                                        : !is_number(config_setting_get_elem(s, i)))
                return 0;
        return 1;
    case VALUE_ARRAY_LIST:
        if (t != CONFIG_TYPE_LIST)
            return 0;
        for (int i = 0; i < n; i++)
            if (!type_matches(config_setting_get_elem(s, i), VALUE_FLOAT_ARRAY))
                return 0;
        return 1;
    }
    return 0;
}

/* Every section known, every key known and of its type. */
static pf_status check_names_and_types(pf_experiment *e)
{
    config_setting_t *root = config_root_setting(&e->config);
    char hint[96];
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *section = config_setting_get_elem(root, i);
        const char *name = config_setting_name(section);
        if (!is_section(name)) {
            suggestion(NULL, name, hint, sizeof hint);
            return pf_config_fail(e, section, "unknown section%s (sections: experiment, target, "
                                              "flow, ode, training, data, eval)", hint);
        }
        if (config_setting_type(section) != CONFIG_TYPE_GROUP)
            return pf_config_fail(e, section, "expected a group { ... }");
        for (int j = 0; j < config_setting_length(section); j++) {
            config_setting_t *s = config_setting_get_elem(section, j);
            const key_spec *spec = find_spec(name, config_setting_name(s));
            if (!spec) {
                suggestion(name, config_setting_name(s), hint, sizeof hint);
                return pf_config_fail(e, s, "unknown key%s", hint);
            }
            if (!type_matches(s, spec->type))
                return pf_config_fail(e, s, "expected %s", pf_value_type_name(spec->type));
        }
    }
    return PF_OK;
}

/* Copies the value of src into parent under `name`, replacing any old one. */
static config_setting_t *copy_value(config_setting_t *parent, const char *name,
                                    const config_setting_t *src)
{
    if (name && config_setting_get_member(parent, name))
        config_setting_remove(parent, name);
    int type = config_setting_type(src);
    config_setting_t *dst = config_setting_add(parent, name, type);
    if (!dst)
        return NULL;
    switch (type) {
    case CONFIG_TYPE_INT: config_setting_set_int(dst, config_setting_get_int(src)); break;
    case CONFIG_TYPE_INT64: config_setting_set_int64(dst, config_setting_get_int64(src)); break;
    case CONFIG_TYPE_FLOAT: config_setting_set_float(dst, config_setting_get_float(src)); break;
    case CONFIG_TYPE_BOOL: config_setting_set_bool(dst, config_setting_get_bool(src)); break;
    case CONFIG_TYPE_STRING: config_setting_set_string(dst, config_setting_get_string(src)); break;
    default: /* arrays and lists, element by element */
        for (int i = 0; i < config_setting_length(src); i++)
            if (!copy_value(dst, NULL, config_setting_get_elem(src, i)))
                return NULL;
    }
    return dst;
}

/* Parses a value text ("256", "1e-3", "[64, 64]", "\"x\"", or a bare word
 * for string keys) into tmp; returns its setting or NULL. */
static config_setting_t *parse_value(config_t *tmp, const char *text, value_type type)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "v = %s;", text);
    if (config_read_string(tmp, buf) == CONFIG_TRUE) {
        config_setting_t *v = config_lookup(tmp, "v");
        if (type != VALUE_STRING || config_setting_type(v) == CONFIG_TYPE_STRING)
            return v;
    }
    if (type != VALUE_STRING || strchr(text, '"') || strchr(text, '\\'))
        return NULL;
    snprintf(buf, sizeof buf, "v = \"%s\";", text);
    return config_read_string(tmp, buf) == CONFIG_TRUE ? config_lookup(tmp, "v") : NULL;
}

static config_setting_t *section_of(pf_experiment *e, const char *section)
{
    config_setting_t *root = config_root_setting(&e->config);
    config_setting_t *s = config_setting_get_member(root, section);
    return s ? s : config_setting_add(root, section, CONFIG_TYPE_GROUP);
}

/* Puts `text` (of the spec's type) at section.key; the caller names errors. */
static pf_status set_from_text(pf_experiment *e, const key_spec *spec, const char *text,
                               const char *origin)
{
    config_t tmp;
    config_init(&tmp);
    config_setting_t *v = parse_value(&tmp, text, spec->type);
    pf_status st = PF_OK;
    if (!v || !type_matches(v, spec->type))
        st = pf_fail(PF_ERR_CONFIG, "%s: key '%s.%s': expected %s, got '%s'", origin,
                     spec->section, spec->key, pf_value_type_name(spec->type), text);
    else if (!copy_value(section_of(e, spec->section), spec->key, v))
        st = pf_fail(PF_ERR_NOMEM, "%s: cannot store key '%s.%s'", origin, spec->section,
                     spec->key);
    config_destroy(&tmp);
    return st;
}

static pf_status apply_override(pf_experiment *e, const char *text)
{
    char key[128], section[64];
    const char *eq = strchr(text, '=');
    const char *dot = eq ? memchr(text, '.', (size_t)(eq - text)) : NULL;
    if (!eq || !dot || (size_t)(eq - text) >= sizeof key || (size_t)(dot - text) >= sizeof section)
        return pf_fail(PF_ERR_CONFIG, "--set %s: expected section.key=value", text);
    memcpy(key, dot + 1, (size_t)(eq - dot - 1));
    key[eq - dot - 1] = '\0';
    memcpy(section, text, (size_t)(dot - text));
    section[dot - text] = '\0';
    const key_spec *spec = find_spec(section, key);
    if (!spec) {
        char hint[96];
        suggestion(is_section(section) ? section : NULL, is_section(section) ? key : section,
                   hint, sizeof hint);
        return pf_fail(PF_ERR_CONFIG, "--set %s: unknown key '%s.%s'%s", text, section, key,
                       hint);
    }
    char origin[300];
    snprintf(origin, sizeof origin, "--set %s", text);
    return set_from_text(e, spec, eq + 1, origin);
}

static int applies_to(const key_spec *spec, const char *kind)
{
    if (!spec->kinds || !kind)
        return spec->kinds == NULL;
    size_t n = strlen(kind);
    for (const char *p = strstr(spec->kinds, kind); p; p = strstr(p + 1, kind))
        if ((p == spec->kinds || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
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
        if (!spec->fallback || !applies_to(spec, which) || config_lookup(&e->config, path))
            continue;
        PF_TRY(set_from_text(e, spec, spec->fallback, "default"));
    }
    if (!config_lookup(&e->config, "experiment.name")) {
        const char *base = strrchr(e->path, '/');
        char name[256];
        snprintf(name, sizeof name, "%.200s", base ? base + 1 : e->path);
        char *ext = strstr(name, ".cfg");
        if (ext && ext[4] == '\0')
            *ext = '\0';
        config_setting_t *s = config_setting_add(section_of(e, "experiment"), "name",
                                                 CONFIG_TYPE_STRING);
        config_setting_set_string(s, name);
    }
    return PF_OK;
}

pf_status pf_config_load(pf_experiment *e, const char *path, const char *const *overrides,
                         int n_overrides)
{
    snprintf(e->path, sizeof e->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return pf_fail(PF_ERR_IO, "%s: cannot open the configuration file", path);
    fclose(f);
    if (config_read_file(&e->config, path) != CONFIG_TRUE)
        return pf_fail(PF_ERR_CONFIG, "%s:%d: %s", config_error_file(&e->config)
                                                       ? config_error_file(&e->config) : path,
                       config_error_line(&e->config), config_error_text(&e->config));
    e->overrides = calloc((size_t)(n_overrides > 0 ? n_overrides : 1), sizeof *e->overrides);
    if (!e->overrides)
        return pf_fail(PF_ERR_NOMEM, "cannot allocate overrides");
    for (int i = 0; i < n_overrides; i++) {
        e->overrides[i] = strdup(overrides[i]);
        e->n_overrides++;
    }
    PF_TRY(check_names_and_types(e));
    for (int i = 0; i < n_overrides; i++)
        PF_TRY(apply_override(e, overrides[i]));
    PF_TRY(fill_defaults(e));
    return pf_config_validate(e);
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
