/*
 * cli.h: what the vmsnap command modules share: the command table entry,
 * parsed arguments, the per-run context and the error/exit helpers.
 *
 * Exit codes: 0 success, 1 the operation failed ("error: MESSAGE" on
 * stderr), 2 the command line was wrong (message plus the command's usage).
 */
#ifndef VMSNAP_CLI_H
#define VMSNAP_CLI_H

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <vmsnap/vmsnap.h>

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,
    CLI_EXIT_USAGE = 2,
};

typedef enum {
    CLI_OPT_BOOL,   /* --name */
    CLI_OPT_STRING, /* --name VALUE or --name=VALUE */
    CLI_OPT_ARG,    /* positional, in table order; also accepted as --name VALUE */
    CLI_OPT_LIST,   /* --name VALUE, repeatable */
} cli_opt_type;

typedef struct {
    const char *name; /* option name without "--" */
    cli_opt_type type;
    bool required;       /* CLI_OPT_ARG only */
    const char *metavar; /* shown in help: "DOM", "SNAP", "FILE" */
    const char *help;
} cli_opt;

typedef struct cli_args cli_args;
typedef struct cli_ctx cli_ctx;

typedef struct {
    const char *name;
    int (*handler)(cli_ctx *ctx, const cli_args *args);
    const char *synopsis; /* what follows "vmsnap NAME " in the usage line */
    const char *summary;  /* one line, for `vmsnap help` */
    const char *help;     /* a paragraph, for `vmsnap help NAME` */
    const cli_opt *opts;  /* terminated by an entry with name NULL */
} cli_command;

struct cli_ctx {
    const char *state_dir; /* --dir; NULL: VMSNAP_DIR or the library default */
    vmsnap_conn *conn;     /* opened on first use by cli_conn() */
    const cli_command *cmd;
};

/* args.c: parse argv (after the command name) against cmd->opts. On a usage
 * error returns NULL and sets *message. */
cli_args *cli_args_parse(const cli_command *cmd, int argc, char **argv, char **message);
void cli_args_free(cli_args *args);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cli_args, cli_args_free)
/* Whether a BOOL option was given (or a STRING/ARG option has a value). */
bool cli_args_has(const cli_args *args, const char *name);
/* The value of a STRING or ARG option, NULL if absent. */
const char *cli_args_get(const cli_args *args, const char *name);
/* Every value of a LIST option, in order; NULL-terminated, never NULL. */
const char *const *cli_args_get_list(const cli_args *args, const char *name);
bool cli_args_wants_help(const cli_args *args);

/* main.c */
const cli_command *cli_find_command(const char *name);
void cli_print_command_help(FILE *out, const cli_command *cmd);

/* common.c: errors and exit codes */
int cli_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2); /* prints, returns 1 */
int cli_fail(vmsnap_error *error);                       /* prints, frees, returns 1 */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Usage error (returns 2) if both options are given, else 0. */
int cli_exclusive(const cli_ctx *ctx, const cli_args *args, const char *a, const char *b);
void cli_warning(const char *message);

/* common.c: lookups that print their error and return NULL */
vmsnap_conn *cli_conn(cli_ctx *ctx);
vmsnap_domain *cli_domain(cli_ctx *ctx, const char *name);
vmsnap_snapshot *cli_snapshot(vmsnap_domain *dom, const char *name);
/* SNAP argument or --current, exactly one (usage error 2 otherwise); the
 * snapshot goes to *snap. Returns the exit code to use, 0 if found. */
int cli_snapshot_arg(cli_ctx *ctx, const cli_args *args, vmsnap_domain *dom,
                     vmsnap_snapshot **snap);

/* DOM, then SNAP or --current: both looked up (errors printed). Returns
 * the exit code to use, 0 if both were found. */
int cli_domain_snapshot_args(cli_ctx *ctx, const cli_args *args, vmsnap_domain **dom,
                             vmsnap_snapshot **snap);

/* common.c: input and output */
/* Read a whole file, or standard input for "-". Prints the error. */
char *cli_read_input(const char *path);
/* Print text followed by a newline unless it already ends with one. */
void cli_print_text(const char *text);
/* "%Y-%m-%d %H:%M:%S %z" in local time (TZ is honoured). */
char *cli_format_time(long long seconds);

/* command handlers */
int cmd_define(cli_ctx *ctx, const cli_args *args);
int cmd_undefine(cli_ctx *ctx, const cli_args *args);
int cmd_list(cli_ctx *ctx, const cli_args *args);
int cmd_dumpxml(cli_ctx *ctx, const cli_args *args);
int cmd_dominfo(cli_ctx *ctx, const cli_args *args);
int cmd_start(cli_ctx *ctx, const cli_args *args);
int cmd_shutdown(cli_ctx *ctx, const cli_args *args);
int cmd_destroy(cli_ctx *ctx, const cli_args *args);
int cmd_suspend(cli_ctx *ctx, const cli_args *args);
int cmd_resume(cli_ctx *ctx, const cli_args *args);
int cmd_domstate(cli_ctx *ctx, const cli_args *args);
int cmd_serial_log(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_create(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_create_as(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_revert(cli_ctx *ctx, const cli_args *args);
int cmd_start_with_snapshot(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_list(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_dumpxml(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_info(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_parent(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_current(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_rename(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_desc(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_edit(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_delete(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_deactivate(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_verify(cli_ctx *ctx, const cli_args *args);
int cmd_recover(cli_ctx *ctx, const cli_args *args);
int cmd_image_info(cli_ctx *ctx, const cli_args *args);
int cmd_snapshot_diff(cli_ctx *ctx, const cli_args *args);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_error, vmsnap_error_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_domain, vmsnap_domain_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_snapshot, vmsnap_snapshot_free)

/* NULL-terminated lists returned by the library, for g_auto(). */
typedef vmsnap_snapshot **cli_snapshot_list;
typedef vmsnap_domain **cli_domain_list;
typedef char **cli_string_list;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(cli_snapshot_list, vmsnap_snapshot_list_free, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(cli_domain_list, vmsnap_domain_list_free, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(cli_string_list, vmsnap_string_list_free, NULL)

#endif
