/*
 * cmd_domain.c: define, undefine, list, dumpxml, dominfo.
 */
#include "cli.h"
#include "json_writer.h"
#include "table.h"

int cmd_define(cli_ctx *ctx, const cli_args *args)
{
    const char *path = cli_args_get(args, "file");
    g_autofree char *xml = cli_read_input(path);
    if (!xml)
        return CLI_EXIT_FAILED;
    vmsnap_conn *conn = cli_conn(ctx);
    if (!conn)
        return CLI_EXIT_FAILED;

    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_domain) dom = vmsnap_domain_define_xml(conn, xml, 0, &err);
    if (!dom)
        return cli_fail(err);
    printf("Domain '%s' defined from %s\n", vmsnap_domain_get_name(dom), path);
    return CLI_EXIT_OK;
}

int cmd_undefine(cli_ctx *ctx, const cli_args *args)
{
    unsigned int flags = 0;
    if (cli_args_has(args, "snapshots-metadata"))
        flags |= VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autofree char *name = g_strdup(vmsnap_domain_get_name(dom));
    vmsnap_error *err = NULL;
    if (vmsnap_domain_undefine(dom, flags, &err) < 0)
        return cli_fail(err);
    printf("Domain '%s' has been undefined\n", name);
    return CLI_EXIT_OK;
}

int cmd_dumpxml(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_autofree char *xml = vmsnap_domain_get_xml_desc(dom, 0, &err);
    if (!xml)
        return cli_fail(err);
    cli_print_text(xml);
    return CLI_EXIT_OK;
}

static void json_domain_summary(json_writer *w, vmsnap_domain *dom, const char *state, int nsnaps)
{
    json_begin_object(w);
    json_key(w, "name");
    json_string(w, vmsnap_domain_get_name(dom));
    json_key(w, "uuid");
    json_string(w, vmsnap_domain_get_uuid_string(dom));
    json_key(w, "state");
    json_string(w, state);
    json_key(w, "snapshots");
    json_int(w, nsnaps);
    json_end_object(w);
}

int cmd_list(cli_ctx *ctx, const cli_args *args)
{
    bool all = cli_args_has(args, "all");
    bool names_only = cli_args_has(args, "name");
    bool json = cli_args_has(args, "json");
    int rc = cli_exclusive(ctx, args, "name", "json");
    if (rc)
        return rc;

    vmsnap_conn *conn = cli_conn(ctx);
    if (!conn)
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_auto(cli_domain_list) doms = NULL;
    int n = vmsnap_conn_list_all_domains(conn, &doms, 0, &err);
    if (n < 0)
        return cli_fail(err);
    /* Like virsh, plain `list` shows only domains whose QEMU runs. */
    g_autofree const char **states = g_new0(const char *, n + 1);
    g_autofree int *counts = g_new0(int, n + 1);
    int shown = 0;
    for (int i = 0; i < n; i++) {
        vmsnap_domain_state state;
        if (vmsnap_domain_get_state(doms[i], &state, NULL, 0, &err) < 0)
            return cli_fail(err);
        bool live = state == VMSNAP_DOMAIN_STATE_RUNNING || state == VMSNAP_DOMAIN_STATE_PAUSED;
        if (!all && !live)
            continue;
        int count = vmsnap_domain_snapshot_count(doms[i], 0, &err);
        if (count < 0)
            return cli_fail(err);
        /* Compact the list to what is shown, keeping its order. */
        vmsnap_domain *keep = doms[i];
        doms[i] = doms[shown];
        doms[shown] = keep;
        states[shown] = vmsnap_domain_state_to_string(state);
        counts[shown] = count;
        shown++;
    }
    n = shown;

    if (names_only) {
        for (int i = 0; i < n; i++)
            printf("%s\n", vmsnap_domain_get_name(doms[i]));
    } else if (json) {
        g_autoptr(json_writer) w = json_writer_new();
        json_begin_array(w);
        for (int i = 0; i < n; i++)
            json_domain_summary(w, doms[i], states[i], counts[i]);
        json_end_array(w);
        fputs(json_writer_get(w), stdout);
    } else {
        const char *headers[] = {"Name", "State", "Snapshots", NULL};
        g_autoptr(cli_table) table = cli_table_new(headers);
        for (int i = 0; i < n; i++) {
            g_autofree char *count = g_strdup_printf("%d", counts[i]);
            const char *row[] = {vmsnap_domain_get_name(doms[i]), states[i], count};
            cli_table_add_row(table, row);
        }
        cli_table_print(table, stdout);
    }
    return CLI_EXIT_OK;
}

int cmd_dominfo(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;

    vmsnap_error *err = NULL;
    int nsnaps = vmsnap_domain_snapshot_count(dom, 0, &err);
    if (nsnaps < 0)
        return cli_fail(err);
    int has_current = vmsnap_domain_has_current_snapshot(dom, 0, &err);
    if (has_current < 0)
        return cli_fail(err);
    g_autoptr(vmsnap_snapshot) current = NULL;
    if (has_current) {
        current = vmsnap_domain_snapshot_current(dom, 0, &err);
        if (!current)
            return cli_fail(err);
    }
    const char *current_name = current ? vmsnap_snapshot_get_name(current) : NULL;
    vmsnap_domain_state run_state;
    if (vmsnap_domain_get_state(dom, &run_state, NULL, 0, &err) < 0)
        return cli_fail(err);
    const char *state = vmsnap_domain_state_to_string(run_state);

    if (cli_args_has(args, "json")) {
        g_autoptr(json_writer) w = json_writer_new();
        json_begin_object(w);
        json_key(w, "name");
        json_string(w, vmsnap_domain_get_name(dom));
        json_key(w, "uuid");
        json_string(w, vmsnap_domain_get_uuid_string(dom));
        json_key(w, "max_memory_kib");
        json_int(w, (long long)vmsnap_domain_get_memory_kib(dom));
        json_key(w, "vcpus");
        json_int(w, vmsnap_domain_get_vcpus(dom));
        json_key(w, "state");
        json_string(w, state);
        json_key(w, "snapshots");
        json_int(w, nsnaps);
        json_key(w, "current_snapshot");
        json_string(w, current_name);
        json_end_object(w);
        fputs(json_writer_get(w), stdout);
        return CLI_EXIT_OK;
    }

    printf("%-17s %s\n", "Name:", vmsnap_domain_get_name(dom));
    printf("%-17s %s\n", "UUID:", vmsnap_domain_get_uuid_string(dom));
    printf("%-17s %llu KiB\n", "Max memory:", vmsnap_domain_get_memory_kib(dom));
    printf("%-17s %u\n", "CPU(s):", vmsnap_domain_get_vcpus(dom));
    printf("%-17s %s\n", "State:", state);
    printf("%-17s %d\n", "Snapshots:", nsnaps);
    printf("%-17s %s\n", "Current snapshot:", current_name ? current_name : "-");
    return CLI_EXIT_OK;
}
