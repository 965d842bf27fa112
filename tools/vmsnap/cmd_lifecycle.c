/*
 * cmd_lifecycle.c: start, shutdown, destroy, suspend, resume, domstate,
 * serial-log — running domains, with virsh's wording.
 */
#include "cli.h"

#include <stdlib.h>

/* Default wait for an ACPI shutdown: TCG guests are slow to power off. */
#define SHUTDOWN_TIMEOUT_DEFAULT 120

int cmd_start(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    unsigned int flags = cli_args_has(args, "paused") ? VMSNAP_DOMAIN_START_PAUSED : 0;
    vmsnap_error *err = NULL;
    if (vmsnap_domain_start(dom, flags, &err) < 0)
        return cli_fail(err);
    printf("Domain '%s' started%s\n", vmsnap_domain_get_name(dom),
           (flags & VMSNAP_DOMAIN_START_PAUSED) ? " (paused)" : "");
    return CLI_EXIT_OK;
}

/* --timeout SECONDS: a whole number, 0 meaning "do not wait". */
static int parse_timeout(cli_ctx *ctx, const cli_args *args, unsigned int *seconds)
{
    const char *text = cli_args_get(args, "timeout");
    *seconds = SHUTDOWN_TIMEOUT_DEFAULT;
    if (!text)
        return 0;
    char *end = NULL;
    unsigned long value = strtoul(text, &end, 10);
    if (!*text || *end || text[0] == '-' || value > 86400)
        return cli_usage_error(ctx, "--timeout takes whole seconds from 0 to 86400, not '%s'",
                               text);
    *seconds = (unsigned int)value;
    return 0;
}

int cmd_shutdown(cli_ctx *ctx, const cli_args *args)
{
    unsigned int timeout;
    int rc = parse_timeout(ctx, args, &timeout);
    if (rc)
        return rc;
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    if (vmsnap_domain_shutdown(dom, timeout, 0, &err) < 0)
        return cli_fail(err);
    printf("Domain '%s' is being shutdown\n", vmsnap_domain_get_name(dom));
    if (timeout > 0)
        printf("Domain '%s' is shut off\n", vmsnap_domain_get_name(dom));
    return CLI_EXIT_OK;
}

/* A call on one domain that prints "Domain 'DOM' <done>" on success. */
static int simple_domain_call(cli_ctx *ctx, const cli_args *args,
                              int (*call)(vmsnap_domain *, unsigned int, vmsnap_error **),
                              const char *done)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    if (call(dom, 0, &err) < 0)
        return cli_fail(err);
    printf("Domain '%s' %s\n", vmsnap_domain_get_name(dom), done);
    return CLI_EXIT_OK;
}

int cmd_destroy(cli_ctx *ctx, const cli_args *args)
{
    return simple_domain_call(ctx, args, vmsnap_domain_destroy, "destroyed");
}

int cmd_suspend(cli_ctx *ctx, const cli_args *args)
{
    return simple_domain_call(ctx, args, vmsnap_domain_suspend, "suspended");
}

int cmd_resume(cli_ctx *ctx, const cli_args *args)
{
    return simple_domain_call(ctx, args, vmsnap_domain_resume, "resumed");
}

int cmd_domstate(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    vmsnap_domain_state state;
    g_autofree char *detail = NULL;
    if (vmsnap_domain_get_state(dom, &state, &detail, 0, &err) < 0)
        return cli_fail(err);
    if (cli_args_has(args, "reason") && detail)
        printf("%s (%s)\n", vmsnap_domain_state_to_string(state), detail);
    else
        printf("%s\n", vmsnap_domain_state_to_string(state));
    return CLI_EXIT_OK;
}

int cmd_serial_log(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_autofree char *log = vmsnap_domain_get_serial_log(dom, 0, &err);
    if (!log)
        return cli_fail(err);
    fputs(log, stdout);
    return CLI_EXIT_OK;
}
