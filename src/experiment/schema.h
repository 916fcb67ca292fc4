/* Internal: the table of every configuration key — section, name, type,
 * the target kinds it applies to, and its default. configs/README.md
 * documents the same table for users. */
#ifndef PF_EXPERIMENT_SCHEMA_H
#define PF_EXPERIMENT_SCHEMA_H

#include <stddef.h>

#include <libconfig.h>

typedef enum value_type {
    VALUE_INT,
    VALUE_FLOAT, /* an integer is accepted too */
    VALUE_BOOL,
    VALUE_STRING,
    VALUE_INT_ARRAY,   /* [8, 8] */
    VALUE_FLOAT_ARRAY, /* [0.5, 0.5] */
    VALUE_ARRAY_LIST   /* ( [..], [..] ): one array per mixture component */
} value_type;

typedef struct key_spec {
    const char *section;
    const char *key;
    value_type type;
    const char *kinds;    /* target kinds the key applies to ("gmm mgm"); NULL: all */
    const char *fallback; /* default as libconfig text; NULL: none (required or optional) */
    int unhashed; /* 1: does not shape the training trajectory (names, output, cadence),
                   * so it is left out of the settings hash and may change on resume;
                   * PF_KEY_HASHED_UNLESS_DEFAULT: shapes training, but enters the hash
                   * only when it differs from its default, so that adding the key did
                   * not change the hash of runs recorded before it existed */
} key_spec;

#define PF_KEY_HASHED_UNLESS_DEFAULT 2

extern const key_spec PF_SCHEMA[];
extern const int PF_SCHEMA_SIZE;
extern const char *const PF_SECTIONS[];
extern const int PF_N_SECTIONS;

/* "an integer", "a number", ...: for messages. */
const char *pf_value_type_name(value_type type);

/* Does the key apply to this target or flow kind (kinds NULL: to every kind)? */
int pf_key_applies(const key_spec *spec, const char *kind);

/* The spec of section.key, or NULL if there is no such key. */
const key_spec *pf_schema_find(const char *section, const char *key);
int pf_schema_is_section(const char *name);

/* " (did you mean 'batch'?)" for the known key of `section` (or, section
 * NULL, the known section) closest to `name`, or "" if none is close. */
void pf_schema_suggest(const char *section, const char *name, char *buf, size_t size);

/* Does setting s hold a value of `type` (an integer counts as a number)? */
int pf_value_matches(const config_setting_t *s, value_type type);

#endif
