/*
 * main.c: global options, the command table and dispatch.
 *
 *   vmsnap [--dir DIR] COMMAND [ARGS...]
 *   vmsnap help [COMMAND] | --help | --version
 */
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <string.h>

#include "vmsnap-config.h"

#define OPT_DOMAIN                                                                                 \
    {                                                                                              \
        "domain", CLI_OPT_ARG, true, "DOM", "the domain's name"                                    \
    }
#define OPT_SNAP                                                                                   \
    {                                                                                              \
        "snapshotname", CLI_OPT_ARG, true, "SNAP", "the snapshot's name"                           \
    }
#define OPT_SNAP_OR_CURRENT(what)                                                                  \
    {"snapshotname", CLI_OPT_ARG, false, "SNAP", "the snapshot's name"},                           \
    {                                                                                              \
        "current", CLI_OPT_BOOL, false, NULL, what                                                 \
    }
#define OPT_JSON                                                                                   \
    {                                                                                              \
        "json", CLI_OPT_BOOL, false, NULL, "print JSON instead of text"                            \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, 0, false, NULL, NULL                                                                 \
    }

static const cli_opt opts_define[] = {
    {"file", CLI_OPT_ARG, true, "FILE", "<domain> XML file, or - for standard input"},
    OPT_END,
};

static const cli_opt opts_undefine[] = {
    OPT_DOMAIN,
    {"snapshots-metadata", CLI_OPT_BOOL, false, NULL,
     "also remove the domain's snapshot metadata (disk images are never touched)"},
    OPT_END,
};

static const cli_opt opts_list[] = {
    {"all", CLI_OPT_BOOL, false, NULL, "list inactive (shut off) domains too"},
    {"name", CLI_OPT_BOOL, false, NULL, "print only the names, one per line"},
    OPT_JSON,
    OPT_END,
};

static const cli_opt opts_dumpxml[] = {OPT_DOMAIN, OPT_END};

static const cli_opt opts_dominfo[] = {OPT_DOMAIN, OPT_JSON, OPT_END};

static const cli_opt opts_domain_only[] = {OPT_DOMAIN, OPT_END};

static const cli_opt opts_start[] = {
    OPT_DOMAIN,
    {"paused", CLI_OPT_BOOL, false, NULL, "start with the guest's CPUs stopped"},
    OPT_END,
};

static const cli_opt opts_shutdown[] = {
    OPT_DOMAIN,
    {"timeout", CLI_OPT_STRING, false, "SECONDS",
     "how long to wait for the guest to power off (default 120; 0: do not wait)"},
    OPT_END,
};

static const cli_opt opts_domstate[] = {
    OPT_DOMAIN,
    {"reason", CLI_OPT_BOOL, false, NULL, "say why, when there is more to say (crashed)"},
    OPT_END,
};

static const cli_opt opts_snapshot_create[] = {
    OPT_DOMAIN,
    {"xmlfile", CLI_OPT_ARG, true, "FILE",
     "<domainsnapshot> XML or an xl-style snapshot config, or - for standard input"},
    {"redefine", CLI_OPT_BOOL, false, NULL, "import the metadata of an existing snapshot"},
    {"current", CLI_OPT_BOOL, false, NULL, "with --redefine, make it the current snapshot"},
    {"validate", CLI_OPT_BOOL, false, NULL,
     "validate the definition (always done; accepted for virsh habits)"},
    {"no-metadata", CLI_OPT_BOOL, false, NULL, "take the snapshot but keep no metadata"},
    {"halt", CLI_OPT_BOOL, false, NULL, "stop the domain once the snapshot is taken"},
    {"disk-only", CLI_OPT_BOOL, false, NULL, "disks only, no memory state"},
    {"reuse-external", CLI_OPT_BOOL, false, NULL, "use existing external files"},
    {"atomic", CLI_OPT_BOOL, false, NULL, "all disks or none (always true)"},
    {"live", CLI_OPT_BOOL, false, NULL,
     "pause the guest only for milliseconds: its memory is saved in the background (the "
     "default for external memory of a running guest)"},
    OPT_END,
};

static const cli_opt opts_snapshot_create_as[] = {
    OPT_DOMAIN,
    {"name", CLI_OPT_ARG, false, "NAME", "the snapshot's name (default: the time in seconds)"},
    {"description", CLI_OPT_STRING, false, "TEXT", "a description"},
    {"disk-only", CLI_OPT_BOOL, false, NULL, "disks only, no memory state"},
    {"diskspec", CLI_OPT_LIST, false, "SPEC",
     "DISK[,snapshot=internal|external|no][,file=PATH], once per disk (,, for a comma)"},
    {"memspec", CLI_OPT_STRING, false, "SPEC", "[file=]PATH[,snapshot=internal|external|no]"},
    {"print-xml", CLI_OPT_BOOL, false, NULL, "print the <domainsnapshot> XML, take nothing"},
    {"compress", CLI_OPT_STRING, false, "ALG",
     "the memory file's compression (<compression>): none (or raw), zstd or gzip"},
    {"atomic", CLI_OPT_BOOL, false, NULL, "all disks or none (always true)"},
    {"live", CLI_OPT_BOOL, false, NULL,
     "pause the guest only for milliseconds: its memory is saved in the background (the "
     "default for external memory of a running guest)"},
    {"halt", CLI_OPT_BOOL, false, NULL, "stop the domain once the snapshot is taken"},
    {"no-metadata", CLI_OPT_BOOL, false, NULL, "take the snapshot but keep no metadata"},
    {"reuse-external", CLI_OPT_BOOL, false, NULL, "use existing external files"},
    OPT_END,
};

static const cli_opt opts_snapshot_revert[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("revert to the current snapshot"),
    {"running", CLI_OPT_BOOL, false, NULL, "run the domain after reverting"},
    {"paused", CLI_OPT_BOOL, false, NULL, "leave the domain paused after reverting"},
    {"keep-as", CLI_OPT_STRING, false, "NAME",
     "first take a snapshot NAME of the state being left, so nothing is discarded"},
    {"force", CLI_OPT_BOOL, false, NULL,
     "load a full snapshot's memory file even if its checksums fail"},
    OPT_END,
};

static const cli_opt opts_start_with_snapshot[] = {
    OPT_DOMAIN,
    OPT_SNAP,
    {"paused", CLI_OPT_BOOL, false, NULL, "start with the guest's CPUs stopped"},
    OPT_END,
};

static const cli_opt opts_snapshot_list[] = {
    OPT_DOMAIN,
    {"parent", CLI_OPT_BOOL, false, NULL, "add a column with each snapshot's parent"},
    {"roots", CLI_OPT_BOOL, false, NULL, "list only snapshots without a parent"},
    {"leaves", CLI_OPT_BOOL, false, NULL, "list only snapshots without children"},
    {"no-leaves", CLI_OPT_BOOL, false, NULL, "list only snapshots with children"},
    {"inactive", CLI_OPT_BOOL, false, NULL, "list only snapshots of a shut off domain"},
    {"active", CLI_OPT_BOOL, false, NULL, "list only snapshots with memory state"},
    {"disk-only", CLI_OPT_BOOL, false, NULL, "list only disk-only snapshots"},
    {"internal", CLI_OPT_BOOL, false, NULL, "list only internal snapshots"},
    {"external", CLI_OPT_BOOL, false, NULL, "list only external snapshots"},
    {"tree", CLI_OPT_BOOL, false, NULL, "draw the snapshots as a tree"},
    {"from", CLI_OPT_STRING, false, "SNAP", "list only the children of SNAP"},
    {"current", CLI_OPT_BOOL, false, NULL, "list only the children of the current snapshot"},
    {"descendants", CLI_OPT_BOOL, false, NULL,
     "with --from or --current, list all descendants, not only children"},
    {"topological", CLI_OPT_BOOL, false, NULL, "list parents before their children"},
    {"name", CLI_OPT_BOOL, false, NULL, "print only the names, one per line"},
    OPT_JSON,
    OPT_END,
};

static const cli_opt opts_snapshot_dumpxml[] = {
    OPT_DOMAIN,
    OPT_SNAP,
    {"no-domain", CLI_OPT_BOOL, false, NULL, "leave out the embedded <domain> definition"},
    OPT_END,
};

static const cli_opt opts_snapshot_info[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("describe the current snapshot"),
    OPT_JSON,
    OPT_END,
};

static const cli_opt opts_snapshot_parent[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("the parent of the current snapshot"),
    OPT_END,
};

static const cli_opt opts_snapshot_current[] = {
    OPT_DOMAIN,
    {"snapshotname", CLI_OPT_ARG, false, "SNAP",
     "make SNAP the current snapshot (metadata only, no revert)"},
    {"name", CLI_OPT_BOOL, false, NULL, "print the name instead of the XML"},
    OPT_END,
};

static const cli_opt opts_snapshot_rename[] = {
    OPT_DOMAIN,
    OPT_SNAP,
    {"newname", CLI_OPT_ARG, true, "NEW", "the new name"},
    OPT_END,
};

static const cli_opt opts_snapshot_desc[] = {
    OPT_DOMAIN,
    OPT_SNAP,
    {"text", CLI_OPT_ARG, false, "TEXT", "the new description"},
    {"remove", CLI_OPT_BOOL, false, NULL, "remove the description"},
    OPT_END,
};

static const cli_opt opts_snapshot_edit[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("edit the current snapshot"),
    OPT_END,
};

static const cli_opt opts_snapshot_delete[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("delete the current snapshot"),
    {"children", CLI_OPT_BOOL, false, NULL, "delete the snapshot and all its descendants"},
    {"children-only", CLI_OPT_BOOL, false, NULL, "delete the descendants but keep the snapshot"},
    {"metadata", CLI_OPT_BOOL, false, NULL,
     "remove only vmsnap's metadata, leaving disk and memory data alone"},
    OPT_END,
};

static const cli_opt opts_snapshot_deactivate[] = {
    OPT_DOMAIN,
    OPT_SNAP_OR_CURRENT("deactivate the current snapshot"),
    {"merge", CLI_OPT_BOOL, false, NULL, "fold the snapshot into its parent, keeping all else"},
    {"discard", CLI_OPT_BOOL, false, NULL,
     "remove the snapshot and the state built on it (descendants, current state)"},
    {"force", CLI_OPT_BOOL, false, NULL, "go ahead even though more than the snapshot goes"},
    OPT_END,
};

static const cli_opt opts_snapshot_verify[] = {
    OPT_DOMAIN,
    {"snapshotname", CLI_OPT_ARG, false, "SNAP", "the snapshot to check (default: every one)"},
    OPT_END,
};

static const cli_opt opts_image_info[] = {
    {"file", CLI_OPT_ARG, true, "FILE", "the image file (qcow2 or raw)"},
    {"backing-chain", CLI_OPT_BOOL, false, NULL,
     "also describe every backing file, down the chain"},
    OPT_JSON,
    OPT_END,
};

static const cli_opt opts_snapshot_diff[] = {
    OPT_DOMAIN,
    {"snapshotname", CLI_OPT_ARG, true, "SNAP_A", "the first point: a snapshot"},
    {"to", CLI_OPT_ARG, false, "SNAP_B", "the second point: a snapshot (default: --current)"},
    {"current", CLI_OPT_BOOL, false, NULL, "compare with the domain's current state"},
    OPT_JSON,
    OPT_END,
};

static const cli_opt opts_help[] = {
    {"command", CLI_OPT_ARG, false, "COMMAND", "the command to describe"},
    OPT_END,
};

static int cmd_help(cli_ctx *ctx, const cli_args *args);

static const cli_command commands[] = {
    {"help", cmd_help, "[COMMAND]", "print help",
     "Print the list of commands, or one command's help.", opts_help},
    {"define", cmd_define, "FILE", "define a domain from an XML file",
     "Define (or redefine) a domain from libvirt-style <domain> XML. Redefining keeps the "
     "domain's snapshots.",
     opts_define},
    {"undefine", cmd_undefine, "DOM [--snapshots-metadata]", "undefine a domain",
     "Remove a domain's definition. A domain with snapshots is refused unless "
     "--snapshots-metadata is given. Disk images are never touched.",
     opts_undefine},
    {"list", cmd_list, "[--all] [--name] [--json]", "list domains",
     "List running and paused domains, or all domains with --all, with their run state.",
     opts_list},
    {"dumpxml", cmd_dumpxml, "DOM", "print a domain's XML definition",
     "Print the domain's definition as canonical XML.", opts_dumpxml},
    {"dominfo", cmd_dominfo, "DOM [--json]", "domain information",
     "Print a domain's name, UUID, memory, CPUs, state and snapshot summary.", opts_dominfo},
    {"start", cmd_start, "DOM [--paused]", "start a domain",
     "Start the domain's QEMU from the disks' active layers (the most recently used state). "
     "Returns once QEMU answers; the guest boots on its own.",
     opts_start},
    {"shutdown", cmd_shutdown, "DOM [--timeout SECONDS]", "shut a domain down gracefully",
     "Press the guest's ACPI power button and wait until QEMU has exited. A guest that does "
     "not power off within the timeout keeps running; 'destroy' stops it at once.",
     opts_shutdown},
    {"destroy", cmd_destroy, "DOM", "stop a domain at once",
     "Stop the domain's QEMU immediately, like pulling the power cord. Also clears the "
     "leftovers of a crashed domain.",
     opts_domain_only},
    {"suspend", cmd_suspend, "DOM", "pause a domain", "Stop the guest's CPUs; memory stays.",
     opts_domain_only},
    {"resume", cmd_resume, "DOM", "resume a paused domain", "Run a paused guest's CPUs again.",
     opts_domain_only},
    {"domstate", cmd_domstate, "DOM [--reason]", "print a domain's run state",
     "Print 'running', 'paused', 'shut off' or 'crashed' (QEMU ended without a shutdown). "
     "With --reason, say what was found for a crashed domain, with the end of QEMU's log.",
     opts_domstate},
    {"serial-log", cmd_serial_log, "DOM", "print the guest's serial output",
     "Print what the guest wrote to its serial port since it was last started.", opts_domain_only},
    {"snapshot-create", cmd_snapshot_create,
     "DOM FILE [--redefine [--current]] [--validate] [--disk-only] [--no-metadata] [--halt] "
     "[--reuse-external] [--atomic] [--live]",
     "create a snapshot from XML or an xl-style config",
     "Create a snapshot from <domainsnapshot> XML or an xl-style snapshot config (KEY=VALUE "
     "lines). With --redefine, import the metadata of a snapshot whose data already exists "
     "(the way libvirt users move snapshot trees). FILE - reads standard input. Warnings "
     "about the definition (such as ignored keys) go to standard error.",
     opts_snapshot_create},
    {"snapshot-create-as", cmd_snapshot_create_as,
     "DOM [NAME] [--description TEXT] [--disk-only] [--diskspec SPEC]... [--memspec SPEC] "
     "[--halt] [--live] [--reuse-external] [--no-metadata] [--atomic] [--compress ALG] "
     "[--print-xml]",
     "create a snapshot from options",
     "Take a snapshot described by options instead of a file. Each disk is external (a new "
     "overlay takes further writes) unless --diskspec says otherwise; the snapshot becomes "
     "current. A running or paused domain's snapshot holds its memory too unless --disk-only "
     "(external memory in a file, internal memory with internal disks); all disks change at "
     "one instant. External memory of a running guest is saved in the background: the guest "
     "pauses for milliseconds and the file holds its memory as it was at that pause "
     "(--compress zstd makes the file about half the size).",
     opts_snapshot_create_as},
    {"snapshot-revert", cmd_snapshot_revert,
     "DOM {SNAP | --current} [--running | --paused] [--keep-as NAME] [--force]",
     "revert a domain to a snapshot",
     "Make the snapshot's state the domain's. External disks get a fresh overlay on the "
     "snapshot's frozen files, so no other snapshot changes; the state being left is "
     "discarded unless a snapshot still uses it (--keep-as snapshots it first). A full "
     "snapshot resumes the guest at its instant, running or paused as it was; a disk-only one "
     "leaves the domain shut off unless --running or --paused. Works from any run state.",
     opts_snapshot_revert},
    {"start-with-snapshot", cmd_start_with_snapshot, "DOM SNAP [--paused]",
     "revert to a snapshot and start",
     "The 2010 snapshot RFC's command: snapshot-revert DOM SNAP --running in one step. `start` "
     "alone always resumes from the most recently used state.",
     opts_start_with_snapshot},
    {"snapshot-list", cmd_snapshot_list,
     "DOM [--parent | --roots | --tree] [{--from SNAP | --current} [--descendants]] "
     "[--leaves] [--no-leaves] [--inactive] [--active] [--disk-only] [--internal] "
     "[--external] [--topological] [--name | --json]",
     "list a domain's snapshots",
     "List the snapshots of a domain as a table (Name, Creation Time, State), a tree, names "
     "or JSON. Filters in one group (leaves; state; location) combine with OR, groups with "
     "AND. --from SNAP and --current start the list at that snapshot: its children, or all "
     "its descendants with --descendants (or with --tree, where the start is the root).",
     opts_snapshot_list},
    {"snapshot-dumpxml", cmd_snapshot_dumpxml, "DOM SNAP [--no-domain]", "print a snapshot's XML",
     "Print the snapshot as canonical <domainsnapshot> XML.", opts_snapshot_dumpxml},
    {"snapshot-info", cmd_snapshot_info, "DOM {SNAP | --current} [--json]", "snapshot information",
     "Print a snapshot's name, domain, whether it is current, state, location, parent, "
     "number of children and descendants, and whether vmsnap keeps metadata for it.",
     opts_snapshot_info},
    {"snapshot-parent", cmd_snapshot_parent, "DOM {SNAP | --current}",
     "print the name of a snapshot's parent",
     "Print the name of the snapshot's parent; a root has none (exit status 1).",
     opts_snapshot_parent},
    {"snapshot-current", cmd_snapshot_current, "DOM [--name | SNAP]",
     "get or set the current snapshot",
     "Without SNAP, print the current snapshot's XML (or its name with --name). With SNAP, "
     "make it the current snapshot without reverting the domain to it.",
     opts_snapshot_current},
    {"snapshot-rename", cmd_snapshot_rename, "DOM SNAP NEW", "rename a snapshot",
     "Give a snapshot a new name; its children and the current-snapshot record follow.",
     opts_snapshot_rename},
    {"snapshot-desc", cmd_snapshot_desc, "DOM SNAP [TEXT | --remove]",
     "get or set a snapshot's description",
     "Without TEXT, print the description (nothing if there is none). With TEXT, replace "
     "it; --remove removes it.",
     opts_snapshot_desc},
    {"snapshot-edit", cmd_snapshot_edit, "DOM {SNAP | --current}",
     "edit a snapshot's XML in an editor",
     "Open the snapshot's XML in $VISUAL, else $EDITOR, else vi. Only <name> and "
     "<description> may be changed; any other change is refused and nothing changes.",
     opts_snapshot_edit},
    {"snapshot-delete", cmd_snapshot_delete,
     "DOM {SNAP | --current} [--children | --children-only] [--metadata]", "delete a snapshot",
     "Delete a snapshot; its children move to its parent. Its data merges into what was built "
     "on it, so every other snapshot and the current state keep their contents, whether the "
     "domain runs or not. --children deletes the descendants too, --children-only only the "
     "descendants; --metadata leaves the data alone.",
     opts_snapshot_delete},
    {"snapshot-deactivate", cmd_snapshot_deactivate,
     "DOM {SNAP | --current} {--merge | --discard} [--force]",
     "merge or discard a snapshot (the 2010 RFC's Deactivate)",
     "--merge folds the snapshot into its parent: its point disappears, every other snapshot "
     "and the current state keep their contents (snapshot-delete SNAP). --discard removes the "
     "snapshot and the state built on it: its descendants and, if the current snapshot is it "
     "or below it, the current state (the domain reverts to the snapshot's parent). Either "
     "refuses, naming what would be lost besides the snapshot (descendants, the current "
     "state, a snapshot's memory state), unless --force is given.",
     opts_snapshot_deactivate},
    {"recover", cmd_recover, "DOM", "finish what an interrupted vmsnap left",
     "Complete or undo the operation a vmsnap process that died (killed, or the machine lost "
     "power) left in the domain's journal, and say which. Every command that changes or reads "
     "the domain does this by itself first; this command does only that.",
     opts_domain_only},
    {"snapshot-verify", cmd_snapshot_verify, "DOM [SNAP]", "check snapshots' data for damage",
     "Check every snapshot of DOM (or only SNAP), changing nothing, while the domain runs or "
     "not: an external memory file must belong to the domain, be the file the snapshot saved "
     "and pass its checksums; each disk file must pass qemu-img check (leaked clusters are "
     "not damage), have its backing chain, and hold the snapshot's internal qcow2 snapshot. "
     "Prints one line per snapshot, 'ok' or 'DAMAGED: what', and exits 1 if any is damaged.",
     opts_snapshot_verify},
    {"image-info", cmd_image_info, "FILE [--backing-chain] [--json]",
     "describe an image file (qemu-img info, natively)",
     "Read an image's metadata without QEMU: format, virtual and disk size, cluster size, "
     "compat, lazy refcounts, corrupt and dirty flags, backing file and format, the internal "
     "snapshot table (id, tag, VM state size, date, VM clock, icount), and how much of the disk "
     "this file stores (data, zero and compressed clusters). A file that is not qcow2 is "
     "described as raw. --backing-chain describes every backing file too; --json uses "
     "qemu-img's key names. Reads without locks, so a running domain's images work (a best "
     "effort while QEMU writes them).",
     opts_image_info},
    {"snapshot-diff", cmd_snapshot_diff, "DOM SNAP_A [SNAP_B | --current] [--json]",
     "which disk bytes differ between two snapshots",
     "For each disk, list the guest byte ranges whose contents differ between snapshot SNAP_A "
     "and snapshot SNAP_B, or the current state (the default), with totals. Internal "
     "snapshots are compared through their qcow2 tables, external ones through the layers of "
     "their chains; data is read only where the metadata cannot tell, so the ranges are "
     "exactly what `qemu-img compare` would find different, in 512-byte sectors. Changes "
     "nothing; on a running domain the current state is a best effort.",
     opts_snapshot_diff},
};

const cli_command *cli_find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static void print_wrapped(FILE *out, const char *text, size_t indent)
{
    g_auto(GStrv) words = g_strsplit(text, " ", -1);
    size_t col = indent;
    fprintf(out, "%*s", (int)indent, "");
    for (size_t i = 0; words[i]; i++) {
        size_t len = strlen(words[i]);
        if (col > indent && col + 1 + len > 78) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        }
        if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fputs(words[i], out);
        col += len;
    }
    fputc('\n', out);
}

void cli_print_command_help(FILE *out, const cli_command *cmd)
{
    fprintf(out, "usage: vmsnap %s %s\n\n", cmd->name, cmd->synopsis);
    print_wrapped(out, cmd->help, 2);
    if (!cmd->opts[0].name)
        return;
    fputs("\noptions:\n", out);
    for (size_t i = 0; cmd->opts[i].name; i++) {
        const cli_opt *opt = &cmd->opts[i];
        g_autofree char *left = NULL;
        if (opt->type == CLI_OPT_ARG)
            left = g_strdup_printf("%s", opt->metavar);
        else if (opt->type == CLI_OPT_STRING || opt->type == CLI_OPT_LIST)
            left = g_strdup_printf("--%s %s", opt->name, opt->metavar);
        else
            left = g_strdup_printf("--%s", opt->name);
        fprintf(out, "  %-22s %s\n", left, opt->help);
    }
}

static void print_global_help(FILE *out)
{
    fputs("usage: vmsnap [--dir DIR] COMMAND [ARGS...]\n"
          "       vmsnap help [COMMAND] | --help | --version\n"
          "\n"
          "Manage snapshots of QEMU virtual machines, the virsh way.\n"
          "\n"
          "global options:\n"
          "  --dir DIR              state directory (default: $VMSNAP_DIR, else\n"
          "                         /var/lib/vmsnap for root, else $XDG_DATA_HOME/vmsnap)\n"
          "  --help                 print this help\n"
          "  --version              print the version\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-22s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'vmsnap help COMMAND' for a command's options.\n", out);
}

static int cmd_help(cli_ctx *ctx, const cli_args *args)
{
    const char *name = cli_args_get(args, "command");
    if (!name) {
        print_global_help(stdout);
        return CLI_EXIT_OK;
    }
    const cli_command *cmd = cli_find_command(name);
    if (!cmd)
        return cli_usage_error(ctx, "unknown command '%s'; run 'vmsnap help' for the list", name);
    cli_print_command_help(stdout, cmd);
    return CLI_EXIT_OK;
}

static int run_command(cli_ctx *ctx, const cli_command *cmd, int argc, char **argv)
{
    g_autofree char *message = NULL;
    ctx->cmd = cmd;
    g_autoptr(cli_args) args = cli_args_parse(cmd, argc, argv, &message);
    if (!args)
        return cli_usage_error(ctx, "%s", message);
    if (cli_args_wants_help(args)) {
        cli_print_command_help(stdout, cmd);
        return CLI_EXIT_OK;
    }
    int status = cmd->handler(ctx, args);
    cli_progress_finish();
    return status;
}

/* Global options come before the command. Returns the index of the command
 * word, or -1 with *exit_code set when the run ends here. */
static int parse_global_options(cli_ctx *ctx, int argc, char **argv, int *exit_code)
{
    int i = 1;
    for (; i < argc && g_str_has_prefix(argv[i], "-"); i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_global_help(stdout);
            *exit_code = CLI_EXIT_OK;
            return -1;
        } else if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            printf("vmsnap %s\n", VMSNAP_VERSION);
            *exit_code = CLI_EXIT_OK;
            return -1;
        } else if (strcmp(arg, "--dir") == 0) {
            if (i + 1 >= argc) {
                *exit_code = cli_usage_error(ctx, "option --dir needs a value (DIR)");
                return -1;
            }
            ctx->state_dir = argv[++i];
        } else if (g_str_has_prefix(arg, "--dir=")) {
            ctx->state_dir = arg + strlen("--dir=");
        } else {
            *exit_code =
                cli_usage_error(ctx, "unknown global option '%s'; run 'vmsnap --help'", arg);
            return -1;
        }
    }
    if (ctx->state_dir && !*ctx->state_dir) {
        *exit_code = cli_usage_error(ctx, "option --dir needs a non-empty directory name");
        return -1;
    }
    if (i >= argc) {
        fputs("error: no command given\n", stderr);
        fputs("usage: vmsnap [--dir DIR] COMMAND [ARGS...]; run 'vmsnap help' for the commands\n",
              stderr);
        *exit_code = CLI_EXIT_USAGE;
        return -1;
    }
    return i;
}

/* Output that could not be written (a full disk, a closed pipe) is a failure. */
static int finish_output(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: cannot write the output: %s\n", g_strerror(errno));
        return code == CLI_EXIT_OK ? CLI_EXIT_FAILED : code;
    }
    return code;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    int code = CLI_EXIT_OK;

    int cmd_index = parse_global_options(&ctx, argc, argv, &code);
    if (cmd_index < 0)
        return finish_output(code);

    const cli_command *cmd = cli_find_command(argv[cmd_index]);
    if (!cmd) {
        code = cli_usage_error(&ctx, "unknown command '%s'; run 'vmsnap help' for the list",
                               argv[cmd_index]);
        return finish_output(code);
    }
    code = run_command(&ctx, cmd, argc - cmd_index - 1, argv + cmd_index + 1);
    vmsnap_conn_free(ctx.conn);
    return finish_output(code);
}
