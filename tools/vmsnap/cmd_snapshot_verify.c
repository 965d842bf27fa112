/*
 * cmd_snapshot_verify.c: snapshot-verify DOM [SNAP] — check snapshots'
 * memory files and disk files, one line per snapshot, without changing
 * anything. Exit status 1 if any snapshot is damaged.
 */
#include "cli.h"

int cmd_snapshot_verify(cli_ctx *ctx, const cli_args *args)
{
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    const char *name = cli_args_get(args, "snapshotname");
    vmsnap_snapshot **snaps = NULL;
    vmsnap_error *err = NULL;
    if (name) {
        snaps = g_new0(vmsnap_snapshot *, 2);
        snaps[0] = cli_snapshot(dom, name);
        if (!snaps[0]) {
            vmsnap_snapshot_list_free(snaps);
            return CLI_EXIT_FAILED;
        }
    } else if (vmsnap_domain_list_all_snapshots(dom, &snaps, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL,
                                                &err) < 0) {
        return cli_fail(err);
    }
    int checked = 0, damaged = 0;
    for (vmsnap_snapshot **s = snaps; *s; s++) {
        if (vmsnap_snapshot_verify(*s, 0, &err) == 0) {
            checked++;
            printf("%s: ok\n", vmsnap_snapshot_get_name(*s));
            continue;
        }
        /* Deleted by another command since the list was read: nothing to
         * check any more (a snapshot named on the command line is not). */
        if (!name && vmsnap_error_get_code(err) == VMSNAP_ERR_NO_SNAPSHOT) {
            vmsnap_error_free(err);
            err = NULL;
            continue;
        }
        checked++;
        if (vmsnap_error_get_code(err) != VMSNAP_ERR_CORRUPT) {
            vmsnap_snapshot_list_free(snaps);
            return cli_fail(err);
        }
        damaged++;
        printf("%s: DAMAGED\n  %s\n", vmsnap_snapshot_get_name(*s), vmsnap_error_get_message(err));
        vmsnap_error_free(err);
        err = NULL;
    }
    vmsnap_snapshot_list_free(snaps);
    if (checked == 0)
        printf("Domain '%s' has no snapshots\n", vmsnap_domain_get_name(dom));
    else if (damaged == 0)
        printf("%d snapshot%s verified, all intact\n", checked, checked == 1 ? "" : "s");
    else
        printf("%d snapshot%s verified, %d damaged\n", checked, checked == 1 ? "" : "s", damaged);
    return damaged ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
