/*
 * args.c: command-line parsing driven by each command's option table.
 *
 * virsh habits: options and positional arguments may come in any order,
 * a positional argument may also be given by name (--domain DOM), values
 * may be attached (--from=SNAP), and "--" ends the options.
 */
#include "cli.h"

#include <string.h>
#include <sys/types.h>

struct cli_args {
    const cli_command *cmd;
    size_t nopts;
    bool *present;
    const char **values; /* borrowed from argv */
    GPtrArray **lists;   /* CLI_OPT_LIST values (borrowed), NULL-terminated */
    bool help;
};

void cli_args_free(cli_args *args)
{
    if (!args)
        return;
    for (size_t i = 0; args->lists && i < args->nopts; i++)
        if (args->lists[i])
            g_ptr_array_unref(args->lists[i]);
    g_free(args->lists);
    g_free(args->present);
    g_free(args->values);
    g_free(args);
}

static ssize_t find_option(const cli_command *cmd, const char *name, size_t len)
{
    for (size_t i = 0; cmd->opts[i].name; i++) {
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* The next positional slot that has no value yet. */
static ssize_t next_positional(const cli_args *args)
{
    for (size_t i = 0; i < args->nopts; i++) {
        if (args->cmd->opts[i].type == CLI_OPT_ARG && !args->present[i])
            return (ssize_t)i;
    }
    return -1;
}

static bool store_value(cli_args *args, size_t idx, const char *value, char **message)
{
    const cli_opt *opt = &args->cmd->opts[idx];
    if (opt->type == CLI_OPT_LIST) {
        if (!args->lists[idx]) {
            args->lists[idx] = g_ptr_array_new();
            g_ptr_array_add(args->lists[idx], NULL);
        }
        /* Keep the array NULL-terminated: the new value goes before the NULL. */
        g_ptr_array_insert(args->lists[idx], (gint)args->lists[idx]->len - 1, (gpointer)value);
        args->present[idx] = true;
        return true;
    }
    if (args->present[idx]) {
        if (opt->type == CLI_OPT_ARG)
            *message = g_strdup_printf("%s was given more than once", opt->metavar);
        else
            *message = g_strdup_printf("option --%s was given more than once", opt->name);
        return false;
    }
    args->present[idx] = true;
    args->values[idx] = value;
    return true;
}

static bool parse_long_option(cli_args *args, int argc, char **argv, int *pos, char **message)
{
    const char *word = argv[*pos] + 2;
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : strlen(word);

    if (len == 4 && strncmp(word, "help", 4) == 0 && !eq) {
        args->help = true;
        return true;
    }
    ssize_t idx = find_option(args->cmd, word, len);
    if (idx < 0) {
        *message = g_strdup_printf("unknown option --%.*s", (int)len, word);
        return false;
    }
    const cli_opt *opt = &args->cmd->opts[idx];
    if (opt->type == CLI_OPT_BOOL) {
        if (eq) {
            *message = g_strdup_printf("option --%s takes no value", opt->name);
            return false;
        }
        return store_value(args, (size_t)idx, NULL, message);
    }
    if (eq)
        return store_value(args, (size_t)idx, eq + 1, message);
    if (*pos + 1 >= argc) {
        *message = g_strdup_printf("option --%s needs a value (%s)", opt->name, opt->metavar);
        return false;
    }
    (*pos)++;
    return store_value(args, (size_t)idx, argv[*pos], message);
}

static bool parse_positional(cli_args *args, const char *word, char **message)
{
    ssize_t idx = next_positional(args);
    if (idx < 0) {
        *message = g_strdup_printf("unexpected argument '%s'", word);
        return false;
    }
    return store_value(args, (size_t)idx, word, message);
}

static bool check_required(const cli_args *args, char **message)
{
    for (size_t i = 0; i < args->nopts; i++) {
        const cli_opt *opt = &args->cmd->opts[i];
        if (opt->type == CLI_OPT_ARG && opt->required && !args->present[i]) {
            *message = g_strdup_printf("missing argument %s", opt->metavar);
            return false;
        }
    }
    return true;
}

cli_args *cli_args_parse(const cli_command *cmd, int argc, char **argv, char **message)
{
    g_autoptr(cli_args) args = g_new0(cli_args, 1);
    args->cmd = cmd;
    while (cmd->opts[args->nopts].name)
        args->nopts++;
    args->present = g_new0(bool, args->nopts + 1);
    args->values = g_new0(const char *, args->nopts + 1);
    args->lists = g_new0(GPtrArray *, args->nopts + 1);

    bool options_done = false;
    for (int pos = 0; pos < argc; pos++) {
        const char *word = argv[pos];
        bool ok;
        if (!options_done && strcmp(word, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && g_str_has_prefix(word, "--"))
            ok = parse_long_option(args, argc, argv, &pos, message);
        else if (!options_done && word[0] == '-' && word[1] != '\0') {
            *message = g_strdup_printf("unknown option %s (options are spelled --name)", word);
            ok = false;
        } else
            ok = parse_positional(args, word, message);
        if (!ok)
            return NULL;
    }
    /* "--help" wins over missing arguments. */
    if (!args->help && !check_required(args, message))
        return NULL;
    return g_steal_pointer(&args);
}

static size_t option_index(const cli_args *args, const char *name)
{
    ssize_t idx = find_option(args->cmd, name, strlen(name));
    /* Asking for an option the command does not declare is a bug in vmsnap. */
    g_assert(idx >= 0);
    return (size_t)idx;
}

bool cli_args_has(const cli_args *args, const char *name)
{
    return args->present[option_index(args, name)];
}

const char *cli_args_get(const cli_args *args, const char *name)
{
    return args->values[option_index(args, name)];
}

const char *const *cli_args_get_list(const cli_args *args, const char *name)
{
    GPtrArray *list = args->lists[option_index(args, name)];
    static const char *const empty[] = {NULL};
    return list ? (const char *const *)list->pdata : empty;
}

bool cli_args_wants_help(const cli_args *args)
{
    return args->help;
}
