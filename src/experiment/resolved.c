/* The resolved configuration: every key the run used, defaults filled in and
 * --set applied, written as a libconfig file that `pathflow train` reads back
 * to the same values. Sections and keys come in schema order, floats with the
 * fewest digits that read back to the same double (libconfig's own writer
 * keeps only 15), and a comment says where the values came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "experiment/experiment_impl.h"
#include "experiment/schema.h"

/* Shortest of %.15g, %.16g, %.17g that reads back exactly, always with a '.'
 * or an exponent so that libconfig reads a float, not an integer. */
static void write_float(FILE *f, double v)
{
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
    if (!strpbrk(buf, ".eEni")) /* "2" → "2.0"; inf/nan never pass validation */
        fputs(".0", f);
}

/* A libconfig string literal. */
static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void write_value(FILE *f, const config_setting_t *s)
{
    const int n = config_setting_length(s);
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: fprintf(f, "%d", config_setting_get_int(s)); break;
    case CONFIG_TYPE_INT64: fprintf(f, "%lldL", config_setting_get_int64(s)); break;
    case CONFIG_TYPE_FLOAT: write_float(f, config_setting_get_float(s)); break;
    case CONFIG_TYPE_BOOL: fputs(config_setting_get_bool(s) ? "true" : "false", f); break;
    case CONFIG_TYPE_STRING: write_string(f, config_setting_get_string(s)); break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        const int list = config_setting_type(s) == CONFIG_TYPE_LIST;
        fputs(list ? "(" : "[", f);
        for (int i = 0; i < n; i++) {
            fputs(i ? ", " : "", f);
            write_value(f, config_setting_get_elem(s, i));
        }
        fputs(list ? ")" : "]", f);
        break;
    }
    default: break; /* groups hold no values of the schema */
    }
}

/* "# ..." lines: the source file and the overrides (newlines flattened). */
static void write_header(FILE *f, const pf_experiment *e)
{
    fprintf(f,
            "# Resolved configuration (pathflow %s): every default filled in.\n"
            "# `pathflow train` on this file repeats the run.\n# from: ",
            pf_version());
    for (const char *p = e->path; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, f);
    for (int i = 0; i < e->n_overrides; i++) {
        fputs("\n# --set ", f);
        for (const char *p = e->overrides[i]; *p; p++)
            fputc(*p == '\n' ? ' ' : *p, f);
    }
    fputc('\n', f);
    if (e->init_from[0]) {
        fputs("# parameters at the start from ", f);
        for (const char *p = e->init_from; *p; p++)
            fputc(*p == '\n' ? ' ' : *p, f);
        fputs(" (`pathflow train --init-from`: repeat the run with it)\n", f);
    }
}

/* The text write_value gives setting s, in buf ("?" if it does not fit). */
static const char *setting_text(const config_setting_t *s, char *buf, size_t size)
{
    FILE *f = fmemopen(buf, size, "w");
    if (!f) {
        snprintf(buf, size, "?");
        return buf;
    }
    write_value(f, s);
    if (fclose(f) != 0 || !memchr(buf, '\0', size))
        buf[size - 1] = '\0';
    return buf;
}

/* Is key k left out of the settings hash with the value s? */
static int unhashed_value(const key_spec *k, const config_setting_t *s)
{
    if (k->unhashed != PF_KEY_HASHED_UNLESS_DEFAULT)
        return k->unhashed;
    char text[256];
    return k->fallback && strcmp(setting_text(s, text, sizeof text), k->fallback) == 0;
}

/* hashed_only: only the keys that shape training (for the settings hash). */
static void write_section(FILE *f, const config_setting_t *group, const char *section,
                          int hashed_only)
{
    fprintf(f, "%s: {\n", section);
    for (int i = 0; i < PF_SCHEMA_SIZE; i++) {
        if (strcmp(PF_SCHEMA[i].section, section) != 0)
            continue;
        const config_setting_t *s = config_setting_get_member(group, PF_SCHEMA[i].key);
        if (!s || (hashed_only && unhashed_value(&PF_SCHEMA[i], s)))
            continue;
        fprintf(f, "  %s = ", PF_SCHEMA[i].key);
        write_value(f, s);
        fputs(";\n", f);
    }
    fputs("};\n", f);
}

static void write_sections(FILE *f, const pf_experiment *e, int hashed_only)
{
    const config_setting_t *root = config_root_setting(&e->config);
    for (int i = 0; i < PF_N_SECTIONS; i++) {
        const config_setting_t *group = config_setting_get_member(root, PF_SECTIONS[i]);
        if (group)
            write_section(f, group, PF_SECTIONS[i], hashed_only);
    }
}

pf_status pf_experiment_write_config(const pf_experiment *e, const char *path)
{
    char tmp[4400];
    FILE *f = pf_atomic_open(path, tmp, sizeof tmp);
    if (!f)
        return PF_ERR_IO;
    write_header(f, e);
    write_sections(f, e, 0);
    return pf_atomic_commit(f, tmp, path, !ferror(f));
}

/* FNV-1a of the resolved text of every key that shapes training; 0 only if
 * memory runs out (then checkpoints carry no settings check). Seeded with the
 * legacy basis: the identifier must stay what earlier runs recorded. */
uint64_t pf_experiment_settings_hash(const pf_experiment *e)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return 0;
    write_sections(f, e, 1);
    uint64_t h = fclose(f) == 0 ? pf_fnv1a(PF_FNV1A_LEGACY_INIT, text, size) : 0;
    free(text);
    return h;
}

/* The text of setting path in e ("(absent)" if e lacks it), in buf. */
static const char *value_text(const pf_experiment *e, const char *path, char *buf, size_t size)
{
    const config_setting_t *s = config_lookup(&e->config, path);
    if (!s) {
        snprintf(buf, size, "(absent)");
        return buf;
    }
    return setting_text(s, buf, size);
}

int pf_experiment_compare_settings(const pf_experiment *a, const pf_experiment *b, char *buf,
                                   size_t size)
{
    int n = 0;
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (int i = 0; i < PF_SCHEMA_SIZE; i++) {
        const key_spec *k = &PF_SCHEMA[i];
        char path[128], va[256], vb[256];
        snprintf(path, sizeof path, "%s.%s", k->section, k->key);
        if (k->unhashed == 1 || strcmp(value_text(a, path, va, sizeof va),
                                  value_text(b, path, vb, sizeof vb)) == 0)
            continue;
        if (used < size) { /* once cut, the list stays as far as it got */
            int w = snprintf(buf + used, size - used, "%s%s = %s (was %s)", n ? ", " : "", path,
                             vb, va);
            used = (w < 0 || used + (size_t)w >= size) ? size : used + (size_t)w;
        }
        n++;
    }
    return n;
}
