/* Shared by the subcommands: statuses to exit codes and messages, strict
 * parsing of numeric options. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"

int pf_cli_exit_code(pf_status status)
{
    switch (status) {
    case PF_OK: return 0;
    case PF_ERR_ARG:
    case PF_ERR_CONFIG: return 2;
    case PF_ERR_IO:
    case PF_ERR_FORMAT: return 3;
    case PF_ERR_NUMERIC:
    case PF_ERR_SOLVER: return 4;
    default: return 1;
    }
}

int pf_cli_report(pf_status status)
{
    if (status != PF_OK) {
        const char *msg = pf_last_error();
        fprintf(stderr, "pathflow: %s\n", msg[0] ? msg : pf_strerror(status));
    }
    return pf_cli_exit_code(status);
}

/* The whole text must be the number: no sign or space in front (strto*
 * would skip spaces and accept "-" for unsigned), nothing after. */
static int refuse(const char *cmd, const char *option, const char *text, const char *why)
{
    fprintf(stderr, "pathflow %s: %s: '%s' %s\n", cmd, option, text, why);
    return -1;
}

int pf_cli_long_option(const char *cmd, const char *option, const char *text, long lo, long hi,
                       long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
        return refuse(cmd, option, text, "is not a whole number");
    if (errno == ERANGE || v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof why, "is out of range (%ld to %ld)", lo, hi);
        return refuse(cmd, option, text, why);
    }
    *out = v;
    return 0;
}

int pf_cli_int_option(const char *cmd, const char *option, const char *text, int lo, int hi,
                      int *out)
{
    long v;
    if (pf_cli_long_option(cmd, option, text, lo, hi, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int pf_cli_seed_option(const char *cmd, const char *option, const char *text,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || *end != '\0')
        return refuse(cmd, option, text, "is not a whole number ≥ 0");
    if (errno == ERANGE)
        return refuse(cmd, option, text, "is out of range (0 to 2^64 − 1)");
    *out = v;
    return 0;
}

int pf_cli_positive_option(const char *cmd, const char *option, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
        return refuse(cmd, option, text, "is not a number");
    if (!isfinite(v) || !(v > 0))
        return refuse(cmd, option, text, "must be a finite number > 0");
    *out = v;
    return 0;
}
