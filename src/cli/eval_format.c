/* The output of `pathflow eval` as Markdown text (for people), CSV (one row per
 * figure) or JSON (one object), written as the figures are computed.
 *
 * CSV: header section,name,value,error,tau_int; sections ess (reverse_ess),
 * summary (importance reweighting, jackknife error), metropolis (acceptance,
 * proposals) and observable (chain mean, error, tau_int); empty cells where a
 * figure has no error or tau_int.
 * JSON: {"run", "target", "samples", "reverse_ess", "jackknife_blocks",
 * "summaries": [{"name", "estimate", "error"}], "metropolis": {"acceptance",
 * "proposals", "observables": [{"name", "mean", "error", "tau_int"}]}};
 * non-finite numbers as null. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/eval_format.h"

int pf_eval_format_parse(const char *name, pf_eval_format *format)
{
    static const char *const names[] = {"text", "csv", "json"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *format = (pf_eval_format)i;
            return 1;
        }
    return 0;
}

/* A JSON string literal. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* A JSON number (17 significant digits: reads back to the same double). */
static void json_number(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.17g", v);
    else
        fputs("null", out);
}

/* A CSV cell: quoted when it holds a comma, quote or newline. */
static void csv_text(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void csv_row(FILE *out, const char *section, const char *name, double value, double error,
                    double tau)
{
    fprintf(out, "%s,", section);
    csv_text(out, name);
    const double cells[3] = {value, error, tau};
    for (int i = 0; i < 3; i++) {
        fputc(',', out);
        if (isfinite(cells[i]))
            fprintf(out, "%.17g", cells[i]);
    }
    fputc('\n', out);
}

void pf_eval_begin(pf_eval_out *o, const char *run, const char *target, int N, double ess,
                   int blocks)
{
    o->count = 0;
    o->blocks = blocks;
    switch (o->format) {
    case PF_EVAL_TEXT:
        fprintf(o->out, "# pathflow eval %s (%s target, %d flow samples)\n\nreverse ESS %.4f\n",
                run, target, N, ess);
        break;
    case PF_EVAL_CSV:
        fputs("section,name,value,error,tau_int\n", o->out);
        csv_row(o->out, "ess", "reverse_ess", ess, NAN, NAN);
        break;
    case PF_EVAL_JSON:
        fputs("{\"run\": ", o->out);
        json_string(o->out, run);
        fputs(", \"target\": ", o->out);
        json_string(o->out, target);
        fprintf(o->out, ", \"samples\": %d, \"reverse_ess\": ", N);
        json_number(o->out, ess);
        fprintf(o->out, ", \"jackknife_blocks\": %d,\n \"summaries\": [", blocks);
        break;
    }
}

void pf_eval_summary(pf_eval_out *o, const char *name, double estimate, double error)
{
    switch (o->format) {
    case PF_EVAL_TEXT:
        if (o->count == 0)
            fprintf(o->out,
                    "\n| summary (importance reweighting) | estimate | jackknife error (%d "
                    "blocks) |\n|---|---|---|\n",
                    o->blocks);
        fprintf(o->out, "| %s | %.6g | %.2g |\n", name, estimate, error);
        break;
    case PF_EVAL_CSV: csv_row(o->out, "summary", name, estimate, error, NAN); break;
    case PF_EVAL_JSON:
        fputs(o->count ? ",\n  {\"name\": " : "\n  {\"name\": ", o->out);
        json_string(o->out, name);
        fputs(", \"estimate\": ", o->out);
        json_number(o->out, estimate);
        fputs(", \"error\": ", o->out);
        json_number(o->out, error);
        fputc('}', o->out);
        break;
    }
    o->count++;
}

void pf_eval_acceptance(pf_eval_out *o, double acceptance, int proposals)
{
    o->count = 0;
    switch (o->format) {
    case PF_EVAL_TEXT:
        fprintf(o->out,
                "\nindependence Metropolis: acceptance %.3f over %d proposals\n\n"
                "| observable (Metropolis chain) | mean | error | tau_int |\n|---|---|---|---|\n",
                acceptance, proposals);
        break;
    case PF_EVAL_CSV:
        csv_row(o->out, "metropolis", "acceptance", acceptance, NAN, NAN);
        csv_row(o->out, "metropolis", "proposals", proposals, NAN, NAN);
        break;
    case PF_EVAL_JSON:
        fputs("],\n \"metropolis\": {\"acceptance\": ", o->out);
        json_number(o->out, acceptance);
        fprintf(o->out, ", \"proposals\": %d, \"observables\": [", proposals);
        break;
    }
}

void pf_eval_observable(pf_eval_out *o, const char *name, double mean, double error, double tau)
{
    switch (o->format) {
    case PF_EVAL_TEXT:
        fprintf(o->out, "| %s | %.6g | %.2g | %.2f |\n", name, mean, error, tau);
        break;
    case PF_EVAL_CSV: csv_row(o->out, "observable", name, mean, error, tau); break;
    case PF_EVAL_JSON:
        fputs(o->count ? ",\n  {\"name\": " : "\n  {\"name\": ", o->out);
        json_string(o->out, name);
        fputs(", \"mean\": ", o->out);
        json_number(o->out, mean);
        fputs(", \"error\": ", o->out);
        json_number(o->out, error);
        fputs(", \"tau_int\": ", o->out);
        json_number(o->out, tau);
        fputc('}', o->out);
        break;
    }
    o->count++;
}

void pf_eval_end(pf_eval_out *o)
{
    if (o->format == PF_EVAL_JSON)
        fputs("]}}\n", o->out);
    fflush(o->out);
}
