/* Internal: the table of every configuration key — section, name, type,
 * the target kinds it applies to, and its default. configs/README.md
 * documents the same table for users. */
#ifndef PF_EXPERIMENT_SCHEMA_H
#define PF_EXPERIMENT_SCHEMA_H

typedef enum value_type {
    VALUE_INT,
    VALUE_FLOAT,       /* an integer is accepted too */
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
} key_spec;

extern const key_spec PF_SCHEMA[];
extern const int PF_SCHEMA_SIZE;
extern const char *const PF_SECTIONS[];
extern const int PF_N_SECTIONS;

const char *pf_value_type_name(value_type type);

#endif
