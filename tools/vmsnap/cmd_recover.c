/*
 * cmd_recover.c: recover DOM — complete or undo the operation a vmsnap
 * process that died left in the domain's journal, and say what was done.
 */
#include "cli.h"

int cmd_recover(cli_ctx *ctx, const cli_args *args)
{
    /* Not through a domain handle: looking the domain up would recover it
     * silently first. */
    vmsnap_conn *conn = cli_conn(ctx);
    if (!conn)
        return CLI_EXIT_FAILED;
    const char *name = cli_args_get(args, "domain");
    char *report = NULL;
    vmsnap_error *err = NULL;
    int recovered = vmsnap_conn_recover_domain(conn, name, 0, &report, &err);
    if (recovered < 0)
        return cli_fail(err);
    if (recovered)
        printf("Domain '%s': %s\n", name, report);
    else
        printf("Domain '%s' has no interrupted operation\n", name);
    vmsnap_string_free(report);
    return CLI_EXIT_OK;
}
