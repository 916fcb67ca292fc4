/* Shared by the subcommands: statuses to exit codes and messages. */
#include <stdio.h>

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
