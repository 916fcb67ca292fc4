/* The output formats of `pathflow eval` (eval_format.c): the figures are
 * handed over in order — begin, summaries, acceptance, observables, end. */
#ifndef PF_CLI_EVAL_FORMAT_H
#define PF_CLI_EVAL_FORMAT_H

#include <stdio.h>

typedef enum pf_eval_format { PF_EVAL_TEXT, PF_EVAL_CSV, PF_EVAL_JSON } pf_eval_format;

typedef struct pf_eval_out {
    pf_eval_format format;
    FILE *out;
    int count;  /* rows written in the current section */
    int blocks; /* jackknife blocks */
} pf_eval_out;

/* "text", "csv", "json" → *format; 0 for another name. */
int pf_eval_format_parse(const char *name, pf_eval_format *format);

void pf_eval_begin(pf_eval_out *o, const char *run, const char *target, int N, double ess,
                   int blocks);
void pf_eval_summary(pf_eval_out *o, const char *name, double estimate, double error);
void pf_eval_acceptance(pf_eval_out *o, double acceptance, int proposals);
void pf_eval_observable(pf_eval_out *o, const char *name, double mean, double error, double tau);
void pf_eval_end(pf_eval_out *o);

#endif
