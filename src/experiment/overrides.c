/* --set overrides: "section.key=value" texts parsed as libconfig values of
 * the key's type and stored in the configuration tree; defaults go through
 * the same path. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "experiment/experiment_impl.h"
#include "experiment/schema.h"

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

/* libconfig 1.5 wraps a decimal integer beyond 32 bits silently; read such a
 * value again as a 64-bit integer ("3000000000" → 3000000000L). */
static config_setting_t *widen_integer(config_t *tmp, config_setting_t *v, const char *text)
{
    if (config_setting_type(v) != CONFIG_TYPE_INT)
        return v;
    const int hex = strchr(text, 'x') || strchr(text, 'X'); /* 0xFFFFFFFF read as -1 too */
    char *end;
    errno = 0;
    long long full = strtoll(text, &end, hex ? 16 : 10);
    if (*end != '\0')
        return v;
    if (errno == ERANGE)
        return NULL; /* beyond 64 bits: not an integer we can hold */
    if (full == (long long)config_setting_get_int(v))
        return v;
    char buf[96];
    snprintf(buf, sizeof buf, "v = %lldL;", full);
    return config_read_string(tmp, buf) == CONFIG_TRUE ? config_lookup(tmp, "v") : NULL;
}

/* A bare word as a libconfig string literal: quotes and backslashes escaped. */
static void quote_bare_word(const char *text, char *buf, size_t size)
{
    size_t n = 0;
    buf[n++] = '"';
    for (const char *p = text; *p && n + 4 < size; p++) {
        if (*p == '"' || *p == '\\')
            buf[n++] = '\\';
        buf[n++] = *p;
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

/* Parses a value text ("256", "1e-3", "[64, 64]", "\"x\"", or a bare word
 * for string keys) into tmp; returns its setting or NULL. */
static config_setting_t *parse_value(config_t *tmp, const char *text, value_type type)
{
    char buf[2048], literal[1800];
    snprintf(buf, sizeof buf, "v = %s;", text);
    if (config_read_string(tmp, buf) == CONFIG_TRUE) {
        config_setting_t *v = widen_integer(tmp, config_lookup(tmp, "v"), text);
        if (v && (type != VALUE_STRING || config_setting_type(v) == CONFIG_TYPE_STRING))
            return v;
    }
    if (type != VALUE_STRING || text[0] == '"')
        return NULL;
    quote_bare_word(text, literal, sizeof literal);
    snprintf(buf, sizeof buf, "v = %s;", literal);
    return config_read_string(tmp, buf) == CONFIG_TRUE ? config_lookup(tmp, "v") : NULL;
}

config_setting_t *pf_config_section(pf_experiment *e, const char *section)
{
    config_setting_t *root = config_root_setting(&e->config);
    config_setting_t *s = config_setting_get_member(root, section);
    return s ? s : config_setting_add(root, section, CONFIG_TYPE_GROUP);
}

/* Puts `text` (of the spec's type) at section.key; the caller names errors. */
pf_status pf_config_set_text(pf_experiment *e, const key_spec *spec, const char *text,
                             const char *origin)
{
    config_t tmp;
    config_init(&tmp);
    config_setting_t *v = parse_value(&tmp, text, spec->type);
    pf_status st = PF_OK;
    if (!v || !pf_value_matches(v, spec->type))
        st = pf_fail(PF_ERR_CONFIG, "%s: key '%s.%s': expected %s, got '%s'", origin, spec->section,
                     spec->key, pf_value_type_name(spec->type), text);
    else if (!copy_value(pf_config_section(e, spec->section), spec->key, v))
        st =
            pf_fail(PF_ERR_NOMEM, "%s: cannot store key '%s.%s'", origin, spec->section, spec->key);
    config_destroy(&tmp);
    return st;
}

/* [begin, end) without surrounding blanks, into buf. */
static void trimmed(const char *begin, const char *end, char *buf, size_t size)
{
    while (begin < end && isspace((unsigned char)*begin))
        begin++;
    while (end > begin && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - begin) < size - 1 ? (size_t)(end - begin) : size - 1;
    memcpy(buf, begin, n);
    buf[n] = '\0';
}

/* "section.key=value" (blanks around the parts are ignored). */
pf_status pf_config_apply_override(pf_experiment *e, const char *text)
{
    char name[128], value[1800];
    const char *eq = strchr(text, '=');
    if (!eq || (size_t)(eq - text) >= sizeof name || strlen(eq + 1) >= sizeof value)
        return pf_fail(PF_ERR_CONFIG, "--set %s: expected section.key=value", text);
    trimmed(text, eq, name, sizeof name);
    trimmed(eq + 1, eq + 1 + strlen(eq + 1), value, sizeof value);
    char *dot = strchr(name, '.');
    if (!dot)
        return pf_fail(PF_ERR_CONFIG, "--set %s: expected section.key=value", text);
    *dot = '\0';
    const char *section = name, *key = dot + 1;
    const key_spec *spec = pf_schema_find(section, key);
    if (!spec) {
        char hint[96];
        const int known = pf_schema_is_section(section);
        pf_schema_suggest(known ? section : NULL, known ? key : section, hint, sizeof hint);
        return pf_fail(PF_ERR_CONFIG, "--set %s: unknown key '%s.%s'%s", text, section, key, hint);
    }
    char origin[2100];
    snprintf(origin, sizeof origin, "--set %s", text);
    return pf_config_set_text(e, spec, value, origin);
}
