/*
 * common.c: helpers every command uses: error reporting with the exit code
 * to return, lookups that report their own failure, file input, time.
 */
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    cli_progress_finish();
    fflush(stdout); /* keep stdout and stderr in order on a terminal */
    fprintf(stderr, "error: %s\n", msg);
    return CLI_EXIT_FAILED;
}

int cli_fail(vmsnap_error *error)
{
    if (!error)
        return cli_error("the operation failed without saying why (a bug in vmsnap)");
    cli_error("%s", vmsnap_error_get_message(error));
    vmsnap_error_free(error);
    return CLI_EXIT_FAILED;
}

void cli_warning(const char *message)
{
    cli_progress_finish();
    fflush(stdout);
    fprintf(stderr, "warning: %s\n", message);
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "error: %s\n", msg);
    if (ctx && ctx->cmd)
        fprintf(stderr, "usage: vmsnap %s %s\n", ctx->cmd->name, ctx->cmd->synopsis);
    return CLI_EXIT_USAGE;
}

int cli_exclusive(const cli_ctx *ctx, const cli_args *args, const char *a, const char *b)
{
    if (cli_args_has(args, a) && cli_args_has(args, b))
        return cli_usage_error(ctx, "options --%s and --%s are mutually exclusive", a, b);
    return 0;
}

vmsnap_conn *cli_conn(cli_ctx *ctx)
{
    if (ctx->conn)
        return ctx->conn;
    vmsnap_error *err = NULL;
    ctx->conn = vmsnap_conn_open(ctx->state_dir, 0, &err);
    if (!ctx->conn)
        cli_fail(err);
    else
        cli_progress_attach(ctx->conn);
    return ctx->conn;
}

vmsnap_domain *cli_domain(cli_ctx *ctx, const char *name)
{
    vmsnap_conn *conn = cli_conn(ctx);
    if (!conn)
        return NULL;
    vmsnap_error *err = NULL;
    vmsnap_domain *dom = vmsnap_domain_lookup_by_name(conn, name, &err);
    if (!dom)
        cli_fail(err);
    return dom;
}

vmsnap_snapshot *cli_snapshot(vmsnap_domain *dom, const char *name)
{
    vmsnap_error *err = NULL;
    vmsnap_snapshot *snap = vmsnap_snapshot_lookup_by_name(dom, name, 0, &err);
    if (!snap)
        cli_fail(err);
    return snap;
}

int cli_snapshot_arg(cli_ctx *ctx, const cli_args *args, vmsnap_domain *dom, vmsnap_snapshot **snap)
{
    const char *name = cli_args_get(args, "snapshotname");
    bool current = cli_args_has(args, "current");

    if (name && current)
        return cli_usage_error(ctx, "SNAP and --current are mutually exclusive");
    if (!name && !current)
        return cli_usage_error(ctx, "a snapshot name or --current is required");
    if (name) {
        *snap = cli_snapshot(dom, name);
    } else {
        vmsnap_error *err = NULL;
        *snap = vmsnap_domain_snapshot_current(dom, 0, &err);
        if (!*snap)
            cli_fail(err);
    }
    return *snap ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int cli_domain_snapshot_args(cli_ctx *ctx, const cli_args *args, vmsnap_domain **dom,
                             vmsnap_snapshot **snap)
{
    *dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!*dom)
        return CLI_EXIT_FAILED;
    return cli_snapshot_arg(ctx, args, *dom, snap);
}

static char *read_stream(FILE *in, const char *shown)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        g_string_append_len(buf, chunk, (gssize)n);
    if (ferror(in)) {
        cli_error("cannot read %s: %s", shown, g_strerror(errno));
        return NULL;
    }
    if (memchr(buf->str, '\0', buf->len)) {
        cli_error("%s contains a NUL byte; it is not a text file", shown);
        return NULL;
    }
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

char *cli_read_input(const char *path)
{
    if (strcmp(path, "-") == 0)
        return read_stream(stdin, "standard input");

    g_autofree char *shown = g_strdup_printf("'%s'", path);
    FILE *in = fopen(path, "rb");
    if (!in) {
        cli_error("cannot open '%s': %s", path, g_strerror(errno));
        return NULL;
    }
    char *text = read_stream(in, shown);
    fclose(in);
    return text;
}

void cli_print_text(const char *text)
{
    size_t len = strlen(text);
    fputs(text, stdout);
    if (len == 0 || text[len - 1] != '\n')
        fputc('\n', stdout);
}

char *cli_format_time(long long seconds)
{
    time_t t = (time_t)seconds;
    struct tm tm;
    char buf[64];

    if ((long long)t != seconds || !localtime_r(&t, &tm))
        return g_strdup_printf("%lld", seconds);
    if (strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
        return g_strdup_printf("%lld", seconds);
    return g_strdup(buf);
}
