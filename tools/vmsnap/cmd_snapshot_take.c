/*
 * cmd_snapshot_take.c: snapshot-create-as (a snapshot described by options,
 * virsh's way), snapshot-revert and start-with-snapshot.
 */
#include "cli.h"

#include <string.h>

/* Text for XML content and single-quoted attributes. */
static void append_escaped(GString *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '\'':
            g_string_append(out, "&apos;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        default:
            g_string_append_c(out, *p);
        }
    }
}

/* Split a spec on single commas; ",," stands for a literal comma (virsh). */
static GPtrArray *split_spec(const char *spec)
{
    GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);
    for (const char *p = spec; *p; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',') {
            g_ptr_array_add(parts, g_string_free(cur, FALSE));
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_ptr_array_add(parts, g_string_free(cur, FALSE));
    return parts;
}

/* A file named on the command line, absolute: a relative name means the
 * shell's working directory, as for any command (the XML wants absolute
 * paths). */
static char *absolute_path(const char *file)
{
    return g_canonicalize_filename(file, NULL);
}

/* --diskspec DISK[,snapshot=KIND][,file=PATH] as a <disk> element. */
static int append_diskspec(cli_ctx *ctx, GString *xml, const char *spec)
{
    g_autoptr(GPtrArray) parts = split_spec(spec);
    const char *disk = g_ptr_array_index(parts, 0);
    if (!*disk)
        return cli_usage_error(ctx, "--diskspec '%s' names no disk", spec);
    const char *kind = NULL, *file = NULL;
    for (guint i = 1; i < parts->len; i++) {
        const char *part = g_ptr_array_index(parts, i);
        if (g_str_has_prefix(part, "snapshot="))
            kind = part + strlen("snapshot=");
        else if (g_str_has_prefix(part, "file="))
            file = part + strlen("file=");
        else
            return cli_usage_error(ctx,
                                   "--diskspec '%s': unknown part '%s' (use snapshot=KIND and "
                                   "file=PATH)",
                                   spec, part);
    }
    g_string_append(xml, "    <disk name='");
    append_escaped(xml, disk);
    g_string_append(xml, "'");
    if (kind) {
        g_string_append(xml, " snapshot='");
        append_escaped(xml, kind);
        g_string_append(xml, "'");
    }
    if (file) {
        g_autofree char *path = absolute_path(file);
        g_string_append(xml, ">\n      <source file='");
        append_escaped(xml, path);
        g_string_append(xml, "'/>\n    </disk>\n");
    } else {
        g_string_append(xml, "/>\n");
    }
    return 0;
}

/* --memspec [file=]PATH[,snapshot=KIND] as a <memory> element. */
static int append_memspec(cli_ctx *ctx, GString *xml, const char *spec)
{
    g_autoptr(GPtrArray) parts = split_spec(spec);
    const char *kind = NULL, *file = NULL;
    for (guint i = 0; i < parts->len; i++) {
        const char *part = g_ptr_array_index(parts, i);
        if (g_str_has_prefix(part, "snapshot="))
            kind = part + strlen("snapshot=");
        else if (g_str_has_prefix(part, "file="))
            file = part + strlen("file=");
        else if (i == 0 && *part)
            file = part;
        else
            return cli_usage_error(ctx,
                                   "--memspec '%s': unknown part '%s' (use file=PATH and "
                                   "snapshot=KIND)",
                                   spec, part);
    }
    g_string_append(xml, "  <memory");
    if (kind) {
        g_string_append(xml, " snapshot='");
        append_escaped(xml, kind);
        g_string_append(xml, "'");
    }
    if (file) {
        g_autofree char *path = absolute_path(file);
        g_string_append(xml, " file='");
        append_escaped(xml, path);
        g_string_append(xml, "'");
    }
    g_string_append(xml, "/>\n");
    return 0;
}

/* The <domainsnapshot> the options describe; NULL after a usage error. */
static char *build_xml(cli_ctx *ctx, const cli_args *args, int *rc)
{
    g_autoptr(GString) xml = g_string_new("<domainsnapshot>\n");
    const char *name = cli_args_get(args, "name");
    const char *description = cli_args_get(args, "description");
    const char *memspec = cli_args_get(args, "memspec");
    if (name) {
        g_string_append(xml, "  <name>");
        append_escaped(xml, name);
        g_string_append(xml, "</name>\n");
    }
    if (description) {
        g_string_append(xml, "  <description>");
        append_escaped(xml, description);
        g_string_append(xml, "</description>\n");
    }
    const char *compress = cli_args_get(args, "compress");
    if (compress && cli_args_has(args, "disk-only")) {
        *rc = cli_usage_error(ctx, "--compress applies to a memory file; a --disk-only snapshot "
                                   "has none");
        return NULL;
    }
    if (memspec && (*rc = append_memspec(ctx, xml, memspec)))
        return NULL;
    /* Only a memory file is compressed: --compress alone asks for one. */
    if (compress && !memspec)
        g_string_append(xml, "  <memory snapshot='external'/>\n");
    if (compress) {
        /* The RFC's <compression> element (where "raw" means none); the
         * library checks the name. */
        g_string_append(xml, "  <compression>");
        append_escaped(xml, g_strcmp0(compress, "none") == 0 ? "raw" : compress);
        g_string_append(xml, "</compression>\n");
    }
    const char *const *disks = cli_args_get_list(args, "diskspec");
    if (disks[0]) {
        g_string_append(xml, "  <disks>\n");
        for (size_t i = 0; disks[i]; i++)
            if ((*rc = append_diskspec(ctx, xml, disks[i])))
                return NULL;
        g_string_append(xml, "  </disks>\n");
    }
    g_string_append(xml, "</domainsnapshot>\n");
    return g_string_free(g_steal_pointer(&xml), FALSE);
}

/* Print an error about XML this command built from options: the user wrote
 * no XML, so "line N: " would point nowhere and goes. */
static int fail_on_built_xml(vmsnap_error *err)
{
    const char *message = err ? vmsnap_error_get_message(err) : NULL;
    if (!message)
        return cli_fail(err);
    const char *rest = message;
    if (g_str_has_prefix(rest, "line ")) {
        const char *digits = rest + strlen("line ");
        const char *p = digits;
        while (g_ascii_isdigit(*p))
            p++;
        if (p > digits && p[0] == ':' && p[1] == ' ')
            rest = p + 2;
    }
    int rc = cli_error("%s", rest);
    vmsnap_error_free(err);
    return rc;
}

int cmd_snapshot_create_as(cli_ctx *ctx, const cli_args *args)
{
    int rc = cli_exclusive(ctx, args, "disk-only", "memspec");
    if (rc)
        return rc;
    g_autofree char *xml = build_xml(ctx, args, &rc);
    if (!xml)
        return rc;
    if (cli_args_has(args, "print-xml")) {
        fputs(xml, stdout);
        return CLI_EXIT_OK;
    }
    unsigned int flags = 0;
    if (cli_args_has(args, "disk-only"))
        flags |= VMSNAP_SNAPSHOT_CREATE_DISK_ONLY;
    if (cli_args_has(args, "atomic"))
        flags |= VMSNAP_SNAPSHOT_CREATE_ATOMIC;
    if (cli_args_has(args, "live"))
        flags |= VMSNAP_SNAPSHOT_CREATE_LIVE;
    if (cli_args_has(args, "halt"))
        flags |= VMSNAP_SNAPSHOT_CREATE_HALT;
    if (cli_args_has(args, "no-metadata"))
        flags |= VMSNAP_SNAPSHOT_CREATE_NO_METADATA;
    if (cli_args_has(args, "reuse-external"))
        flags |= VMSNAP_SNAPSHOT_CREATE_REUSE_EXT;

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot) snap = vmsnap_snapshot_create_xml(dom, xml, flags, &err);
    if (!snap)
        return fail_on_built_xml(err);
    printf("Domain snapshot %s created\n", vmsnap_snapshot_get_name(snap));
    return CLI_EXIT_OK;
}

/* After a revert: say so when the state being left is gone, since it
 * cannot come back. */
static void print_discarded(int discarded)
{
    if (discarded > 0)
        printf("The state the domain was in was not a snapshot and has been discarded (%d "
               "file%s)\n",
               discarded, discarded == 1 ? "" : "s");
}

/* --keep-as NAME: snapshot the state about to be left (with its memory if
 * the domain runs) and stop the domain there (--halt), so nothing is written
 * after it: the revert then discards only the snapshot's fresh, empty
 * overlays, and nothing the guest wrote. */
static int keep_current_state(vmsnap_domain *dom, const char *name, const char *target)
{
    g_autoptr(GString) xml = g_string_new("<domainsnapshot>\n  <name>");
    append_escaped(xml, name);
    g_string_append(xml, "</name>\n  <description>the state left when reverting to ");
    append_escaped(xml, target);
    g_string_append(xml, "</description>\n</domainsnapshot>\n");
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot) kept =
        vmsnap_snapshot_create_xml(dom, xml->str, VMSNAP_SNAPSHOT_CREATE_HALT, &err);
    if (!kept)
        return fail_on_built_xml(err);
    printf("Domain snapshot %s created\n", vmsnap_snapshot_get_name(kept));
    return CLI_EXIT_OK;
}

int cmd_snapshot_revert(cli_ctx *ctx, const cli_args *args)
{
    int rc = cli_exclusive(ctx, args, "running", "paused");
    if (rc)
        return rc;
    g_autoptr(vmsnap_domain) dom = NULL;
    g_autoptr(vmsnap_snapshot) snap = NULL;
    rc = cli_domain_snapshot_args(ctx, args, &dom, &snap);
    if (rc)
        return rc;
    unsigned int flags = 0;
    if (cli_args_has(args, "running"))
        flags |= VMSNAP_SNAPSHOT_REVERT_RUNNING;
    if (cli_args_has(args, "paused"))
        flags |= VMSNAP_SNAPSHOT_REVERT_PAUSED;
    if (cli_args_has(args, "force"))
        flags |= VMSNAP_SNAPSHOT_REVERT_FORCE;
    const char *keep_as = cli_args_get(args, "keep-as");
    if (keep_as && (rc = keep_current_state(dom, keep_as, vmsnap_snapshot_get_name(snap))))
        return rc;
    vmsnap_error *err = NULL;
    int discarded = vmsnap_snapshot_revert(snap, flags, &err);
    if (discarded < 0)
        return cli_fail(err);
    printf("Domain '%s' reverted to snapshot '%s'\n", vmsnap_domain_get_name(dom),
           vmsnap_snapshot_get_name(snap));
    if (!keep_as)
        print_discarded(discarded);
    return CLI_EXIT_OK;
}

/* The 2010 RFC's start-with-snapshot: revert to SNAP and run. */
int cmd_start_with_snapshot(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) snap = cli_snapshot(dom, cli_args_get(args, "snapshotname"));
    if (!snap)
        return CLI_EXIT_FAILED;
    unsigned int flags = cli_args_has(args, "paused") ? VMSNAP_SNAPSHOT_START_PAUSED : 0;
    vmsnap_error *err = NULL;
    int discarded = vmsnap_snapshot_start(snap, flags, &err);
    if (discarded < 0)
        return cli_fail(err);
    printf("Domain '%s' started from snapshot '%s'\n", vmsnap_domain_get_name(dom),
           vmsnap_snapshot_get_name(snap));
    print_discarded(discarded);
    return CLI_EXIT_OK;
}
