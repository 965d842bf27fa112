/*
 * cmd_snapshot.c: the snapshot commands other than snapshot-list: create,
 * dumpxml, info, parent, current, rename, desc, edit, delete.
 * Messages follow virsh's wording where virsh has the command.
 */
#include "cli.h"
#include "json_writer.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static unsigned int create_flags(const cli_args *args)
{
    static const struct {
        const char *option;
        unsigned int flag;
    } map[] = {
        {"redefine", VMSNAP_SNAPSHOT_CREATE_REDEFINE},
        {"current", VMSNAP_SNAPSHOT_CREATE_CURRENT},
        {"no-metadata", VMSNAP_SNAPSHOT_CREATE_NO_METADATA},
        {"halt", VMSNAP_SNAPSHOT_CREATE_HALT},
        {"disk-only", VMSNAP_SNAPSHOT_CREATE_DISK_ONLY},
        {"reuse-external", VMSNAP_SNAPSHOT_CREATE_REUSE_EXT},
        {"atomic", VMSNAP_SNAPSHOT_CREATE_ATOMIC},
        {"live", VMSNAP_SNAPSHOT_CREATE_LIVE},
    };
    unsigned int flags = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
        if (cli_args_has(args, map[i].option))
            flags |= map[i].flag;
    }
    return flags;
}

int cmd_snapshot_create(cli_ctx *ctx, const cli_args *args)
{
    const char *path = cli_args_get(args, "xmlfile");
    unsigned int flags = create_flags(args);

    /* --validate: every definition is parsed and checked before anything is
     * recorded, so there is nothing extra to do. */
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autofree char *text = cli_read_input(path);
    if (!text)
        return CLI_EXIT_FAILED;

    vmsnap_error *err = NULL;
    g_auto(cli_string_list) warnings = NULL;
    g_autofree char *xml = vmsnap_snapshot_config_to_xml(text, &warnings, 0, &err);
    if (!xml)
        return cli_fail(err);
    for (size_t i = 0; warnings && warnings[i]; i++)
        cli_warning(warnings[i]);

    /* The original text goes to the library: an xl config's type= has no
     * XML form (it is the kind of the disks the config does not list). */
    g_autoptr(vmsnap_snapshot) snap = vmsnap_snapshot_create_xml(dom, text, flags, &err);
    if (!snap)
        return cli_fail(err);
    printf("Domain snapshot %s created from '%s'\n", vmsnap_snapshot_get_name(snap), path);
    return CLI_EXIT_OK;
}

int cmd_snapshot_dumpxml(cli_ctx *ctx, const cli_args *args)
{
    unsigned int flags = 0;
    if (cli_args_has(args, "no-domain"))
        flags |= VMSNAP_SNAPSHOT_XML_NO_DOMAIN;

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) snap = cli_snapshot(dom, cli_args_get(args, "snapshotname"));
    if (!snap)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_autofree char *xml = vmsnap_snapshot_get_xml_desc(snap, flags, &err);
    if (!xml)
        return cli_fail(err);
    cli_print_text(xml);
    return CLI_EXIT_OK;
}

typedef struct {
    int current;
    int children;
    int descendants;
} snapshot_counts;

static bool get_counts(vmsnap_snapshot *snap, snapshot_counts *counts)
{
    vmsnap_error *err = NULL;
    counts->current = vmsnap_snapshot_is_current(snap, 0, &err);
    if (counts->current >= 0)
        counts->children = vmsnap_snapshot_num_children(snap, 0, &err);
    if (counts->current >= 0 && counts->children >= 0)
        counts->descendants =
            vmsnap_snapshot_num_children(snap, VMSNAP_SNAPSHOT_LIST_DESCENDANTS, &err);
    if (err) {
        cli_fail(err);
        return false;
    }
    return true;
}

static void print_info_json(vmsnap_snapshot *snap, const snapshot_counts *counts)
{
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_object(w);
    json_key(w, "name");
    json_string(w, vmsnap_snapshot_get_name(snap));
    json_key(w, "domain");
    json_string(w, vmsnap_domain_get_name(vmsnap_snapshot_get_domain(snap)));
    json_key(w, "current");
    json_bool(w, counts->current > 0);
    json_key(w, "state");
    json_string(w, vmsnap_snapshot_state_to_string(vmsnap_snapshot_get_state(snap)));
    json_key(w, "location");
    json_string(w, vmsnap_snapshot_location_to_string(vmsnap_snapshot_get_location(snap)));
    json_key(w, "parent");
    json_string(w, vmsnap_snapshot_get_parent_name(snap));
    json_key(w, "children");
    json_int(w, counts->children);
    json_key(w, "descendants");
    json_int(w, counts->descendants);
    json_key(w, "metadata");
    json_bool(w, true);
    json_key(w, "creation_time");
    json_int(w, vmsnap_snapshot_get_creation_time(snap));
    json_key(w, "description");
    json_string(w, vmsnap_snapshot_get_description(snap));
    json_key(w, "memory");
    json_bool(w, vmsnap_snapshot_has_memory(snap));
    json_end_object(w);
    fputs(json_writer_get(w), stdout);
}

int cmd_snapshot_info(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    int rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    snapshot_counts counts = {0};
    if (!get_counts(snap, &counts))
        return CLI_EXIT_FAILED;

    if (cli_args_has(args, "json")) {
        print_info_json(snap, &counts);
        return CLI_EXIT_OK;
    }
    const char *parent = vmsnap_snapshot_get_parent_name(snap);
    printf("%-15s %s\n", "Name:", vmsnap_snapshot_get_name(snap));
    printf("%-15s %s\n", "Domain:", vmsnap_domain_get_name(dom));
    printf("%-15s %s\n", "Current:", counts.current > 0 ? "yes" : "no");
    printf("%-15s %s\n",
           "State:", vmsnap_snapshot_state_to_string(vmsnap_snapshot_get_state(snap)));
    printf("%-15s %s\n",
           "Location:", vmsnap_snapshot_location_to_string(vmsnap_snapshot_get_location(snap)));
    printf("%-15s %s\n", "Parent:", parent ? parent : "-");
    printf("%-15s %d\n", "Children:", counts.children);
    printf("%-15s %d\n", "Descendants:", counts.descendants);
    /* Every snapshot vmsnap lists is one it keeps metadata for. */
    printf("%-15s %s\n", "Metadata:", "yes");
    return CLI_EXIT_OK;
}

int cmd_snapshot_parent(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    int rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot) parent = vmsnap_snapshot_get_parent(snap, 0, &err);
    if (!parent)
        return cli_fail(err);
    printf("%s\n", vmsnap_snapshot_get_name(parent));
    return CLI_EXIT_OK;
}

int cmd_snapshot_current(cli_ctx *ctx, const cli_args *args)
{
    const char *name = cli_args_get(args, "snapshotname");
    if (name && cli_args_has(args, "name"))
        return cli_usage_error(ctx, "SNAP and --name are mutually exclusive");

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;

    if (name) {
        g_autoptr(vmsnap_snapshot) snap = cli_snapshot(dom, name);
        if (!snap)
            return CLI_EXIT_FAILED;
        if (vmsnap_snapshot_set_current(snap, 0, &err) < 0)
            return cli_fail(err);
        printf("Snapshot %s set as current\n", vmsnap_snapshot_get_name(snap));
        return CLI_EXIT_OK;
    }

    g_autoptr(vmsnap_snapshot) current = vmsnap_domain_snapshot_current(dom, 0, &err);
    if (!current)
        return cli_fail(err);
    if (cli_args_has(args, "name")) {
        printf("%s\n", vmsnap_snapshot_get_name(current));
        return CLI_EXIT_OK;
    }
    g_autofree char *xml = vmsnap_snapshot_get_xml_desc(current, 0, &err);
    if (!xml)
        return cli_fail(err);
    cli_print_text(xml);
    return CLI_EXIT_OK;
}

int cmd_snapshot_rename(cli_ctx *ctx, const cli_args *args)
{
    const char *new_name = cli_args_get(args, "newname");
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) snap = cli_snapshot(dom, cli_args_get(args, "snapshotname"));
    if (!snap)
        return CLI_EXIT_FAILED;
    g_autofree char *old_name = g_strdup(vmsnap_snapshot_get_name(snap));
    vmsnap_error *err = NULL;
    if (vmsnap_snapshot_rename(snap, new_name, 0, &err) < 0)
        return cli_fail(err);
    printf("Domain snapshot %s renamed to %s\n", old_name, new_name);
    return CLI_EXIT_OK;
}

int cmd_snapshot_desc(cli_ctx *ctx, const cli_args *args)
{
    const char *text = cli_args_get(args, "text");
    bool remove = cli_args_has(args, "remove");
    if (text && remove)
        return cli_usage_error(ctx, "TEXT and --remove are mutually exclusive");

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) snap = cli_snapshot(dom, cli_args_get(args, "snapshotname"));
    if (!snap)
        return CLI_EXIT_FAILED;

    if (!text && !remove) {
        const char *desc = vmsnap_snapshot_get_description(snap);
        if (desc)
            cli_print_text(desc);
        return CLI_EXIT_OK;
    }
    vmsnap_error *err = NULL;
    if (vmsnap_snapshot_set_description(snap, remove ? NULL : text, 0, &err) < 0)
        return cli_fail(err);
    if (remove || !*text)
        printf("Description of snapshot %s removed\n", vmsnap_snapshot_get_name(snap));
    else
        printf("Description of snapshot %s updated\n", vmsnap_snapshot_get_name(snap));
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* snapshot-edit                                                       */
/* ------------------------------------------------------------------ */

static const char *editor_command(void)
{
    const char *editor = g_getenv("VISUAL");
    if (!editor || !*editor)
        editor = g_getenv("EDITOR");
    if (!editor || !*editor)
        editor = "vi";
    return editor;
}

/* Run the editor through the shell, so "EDITOR='emacs -nw'" works; the
 * file name travels as $1 and is never parsed by the shell. */
static bool run_editor(const char *path)
{
    const char *editor = editor_command();
    g_autofree char *script = g_strdup_printf("%s \"$1\"", editor);
    char *argv[] = {"/bin/sh", "-c", script, "sh", (char *)path, NULL};
    GError *gerr = NULL;
    int status = 0;

    fflush(stdout);
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL, NULL,
                      &status, &gerr)) {
        cli_error("cannot run the editor '%s': %s", editor, gerr->message);
        g_error_free(gerr);
        return false;
    }
    if (!g_spawn_check_wait_status(status, &gerr)) {
        cli_error("the editor '%s' failed (%s); the snapshot was not changed", editor,
                  gerr->message);
        g_error_free(gerr);
        return false;
    }
    return true;
}

static char *write_temp_copy(const char *xml)
{
    GError *gerr = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("vmsnap-snapshot-XXXXXX.xml", &path, &gerr);
    if (fd < 0) {
        cli_error("cannot create a temporary file to edit: %s", gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    close(fd);
    if (!g_file_set_contents(path, xml, -1, &gerr)) {
        cli_error("cannot write the temporary file '%s': %s", path, gerr->message);
        g_error_free(gerr);
        unlink(path);
        g_free(path);
        return NULL;
    }
    return path;
}

static char *read_back(const char *path)
{
    GError *gerr = NULL;
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        cli_error("cannot read back the edited file '%s': %s", path, gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    return text;
}

/* Apply the edited XML; on failure the user's edit is kept for another try. */
static int apply_edit(vmsnap_snapshot *snap, const char *old_name, const char *edited,
                      const char *path)
{
    vmsnap_error *err = NULL;
    int changed = vmsnap_snapshot_update_xml(snap, edited, 0, &err);
    if (changed < 0) {
        cli_fail(err);
        fprintf(stderr, "note: your edited XML is kept in %s\n", path);
        return CLI_EXIT_FAILED;
    }
    unlink(path);
    const char *new_name = vmsnap_snapshot_get_name(snap);
    if (changed == 0)
        printf("Snapshot %s XML configuration not changed.\n", old_name);
    else if (strcmp(old_name, new_name) != 0)
        printf("Snapshot %s edited and renamed to %s.\n", old_name, new_name);
    else
        printf("Snapshot %s edited.\n", old_name);
    return CLI_EXIT_OK;
}

int cmd_snapshot_edit(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    int rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    g_autofree char *old_name = g_strdup(vmsnap_snapshot_get_name(snap));

    vmsnap_error *err = NULL;
    g_autofree char *xml = vmsnap_snapshot_get_xml_desc(snap, 0, &err);
    if (!xml)
        return cli_fail(err);
    g_autofree char *path = write_temp_copy(xml);
    if (!path)
        return CLI_EXIT_FAILED;
    g_autofree char *edited = NULL;
    if (!run_editor(path) || !(edited = read_back(path))) {
        unlink(path);
        return CLI_EXIT_FAILED;
    }
    if (strcmp(edited, xml) == 0) {
        unlink(path);
        printf("Snapshot %s XML configuration not changed.\n", old_name);
        return CLI_EXIT_OK;
    }
    return apply_edit(snap, old_name, edited, path);
}

/* ------------------------------------------------------------------ */
/* snapshot-delete                                                     */
/* ------------------------------------------------------------------ */

int cmd_snapshot_delete(cli_ctx *ctx, const cli_args *args)
{
    int rc = cli_exclusive(ctx, args, "children", "children-only");
    if (rc)
        return rc;
    unsigned int flags = 0;
    if (cli_args_has(args, "children"))
        flags |= VMSNAP_SNAPSHOT_DELETE_CHILDREN;
    if (cli_args_has(args, "children-only"))
        flags |= VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY;
    if (cli_args_has(args, "metadata"))
        flags |= VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY;

    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    g_autofree char *name = g_strdup(vmsnap_snapshot_get_name(snap));
    vmsnap_error *err = NULL;
    if (vmsnap_snapshot_delete(snap, flags, &err) < 0)
        return cli_fail(err);
    if (flags & VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY)
        printf("Domain snapshot %s children deleted\n", name);
    else
        printf("Domain snapshot %s deleted\n", name);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* snapshot-deactivate                                                 */
/* ------------------------------------------------------------------ */

/* The current snapshot's name, or NULL. */
static char *current_name(vmsnap_domain *dom)
{
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot) current = vmsnap_domain_snapshot_current(dom, 0, &err);
    vmsnap_error_free(err);
    return current ? g_strdup(vmsnap_snapshot_get_name(current)) : NULL;
}

int cmd_snapshot_deactivate(cli_ctx *ctx, const cli_args *args)
{
    int rc = cli_exclusive(ctx, args, "merge", "discard");
    if (rc)
        return rc;
    bool discard = cli_args_has(args, "discard");
    if (!discard && !cli_args_has(args, "merge"))
        return cli_usage_error(ctx, "say what to do: --merge or --discard");
    unsigned int flags =
        discard ? VMSNAP_SNAPSHOT_DEACTIVATE_DISCARD : VMSNAP_SNAPSHOT_DEACTIVATE_MERGE;
    if (cli_args_has(args, "force"))
        flags |= VMSNAP_SNAPSHOT_DEACTIVATE_FORCE;

    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    g_autofree char *name = g_strdup(vmsnap_snapshot_get_name(snap));
    g_autofree char *parent = g_strdup(vmsnap_snapshot_get_parent_name(snap));
    g_autofree char *current_before = current_name(dom);
    vmsnap_error *err = NULL;
    int gone = vmsnap_snapshot_deactivate(snap, flags, &err);
    if (gone < 0)
        return cli_fail(err);
    if (!discard)
        printf("Domain snapshot %s merged\n", name);
    else if (gone == 1)
        printf("Domain snapshot %s discarded\n", name);
    else
        printf("Domain snapshot %s and %d descendant%s discarded\n", name, gone - 1,
               gone == 2 ? "" : "s");
    g_autofree char *current_after = current_name(dom);
    if (discard && current_before && g_strcmp0(current_before, current_after) != 0)
        printf("The current state was discarded too; domain '%s' is at snapshot '%s' now\n",
               vmsnap_domain_get_name(dom), parent);
    return CLI_EXIT_OK;
}
