/*
 * cmd_snapshot_list.c: snapshot-list as a table, a tree, names or JSON.
 *
 * Option rules follow virsh: --tree shows the whole tree (or the tree under
 * --from/--current) and takes no filter; --parent, --roots and --tree
 * exclude each other; --roots excludes a starting point; --descendants
 * needs one. The library filters and sorts; this file only presents.
 */
#include "cli.h"
#include "json_writer.h"
#include "table.h"
#include "tree.h"

#include <string.h>

static const struct {
    const char *option;
    unsigned int flag;
} list_filters[] = {
    {"leaves", VMSNAP_SNAPSHOT_LIST_LEAVES},       {"no-leaves", VMSNAP_SNAPSHOT_LIST_NO_LEAVES},
    {"inactive", VMSNAP_SNAPSHOT_LIST_INACTIVE},   {"active", VMSNAP_SNAPSHOT_LIST_ACTIVE},
    {"disk-only", VMSNAP_SNAPSHOT_LIST_DISK_ONLY}, {"internal", VMSNAP_SNAPSHOT_LIST_INTERNAL},
    {"external", VMSNAP_SNAPSHOT_LIST_EXTERNAL},
};

/* Pairs of options that cannot be used together (--tree --json is fine:
 * it prints the tree as nested JSON). */
static const char *const exclusive_pairs[][2] = {
    {"tree", "name"},        {"tree", "parent"},  {"tree", "roots"},
    {"tree", "topological"}, {"parent", "roots"}, {"roots", "from"},
    {"roots", "current"},    {"from", "current"}, {"name", "json"},
};

static int check_options(const cli_ctx *ctx, const cli_args *args)
{
    for (size_t i = 0; i < G_N_ELEMENTS(exclusive_pairs); i++) {
        int rc = cli_exclusive(ctx, args, exclusive_pairs[i][0], exclusive_pairs[i][1]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(list_filters); i++) {
        int rc = cli_exclusive(ctx, args, "tree", list_filters[i].option);
        if (rc)
            return rc;
    }
    if (cli_args_has(args, "descendants") && !cli_args_has(args, "from") &&
        !cli_args_has(args, "current"))
        return cli_usage_error(ctx, "option --descendants needs --from or --current");
    return CLI_EXIT_OK;
}

static unsigned int list_flags(const cli_args *args)
{
    unsigned int flags = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(list_filters); i++) {
        if (cli_args_has(args, list_filters[i].option))
            flags |= list_filters[i].flag;
    }
    if (cli_args_has(args, "roots"))
        flags |= VMSNAP_SNAPSHOT_LIST_ROOTS;
    if (cli_args_has(args, "descendants"))
        flags |= VMSNAP_SNAPSHOT_LIST_DESCENDANTS;
    if (cli_args_has(args, "topological"))
        flags |= VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL;
    return flags;
}

/* The snapshot named by --from or --current; *start stays NULL without them. */
static bool find_start(const cli_args *args, vmsnap_domain *dom, vmsnap_snapshot **start)
{
    const char *from = cli_args_get(args, "from");
    *start = NULL;
    if (from) {
        *start = cli_snapshot(dom, from);
        return *start != NULL;
    }
    if (cli_args_has(args, "current")) {
        vmsnap_error *err = NULL;
        *start = vmsnap_domain_snapshot_current(dom, 0, &err);
        if (!*start)
            cli_fail(err);
        return *start != NULL;
    }
    return true;
}

/* The current snapshot's name (a copy), NULL if there is none. */
static bool current_name(vmsnap_domain *dom, char **name)
{
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot) current = vmsnap_domain_snapshot_current(dom, 0, &err);
    *name = NULL;
    if (current) {
        *name = g_strdup(vmsnap_snapshot_get_name(current));
        return true;
    }
    if (vmsnap_error_get_code(err) == VMSNAP_ERR_NO_CURRENT) {
        vmsnap_error_free(err);
        return true;
    }
    cli_fail(err);
    return false;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* Every field but "children". */
static void json_snapshot_fields(json_writer *w, vmsnap_snapshot *snap, const char *current)
{
    const char *name = vmsnap_snapshot_get_name(snap);
    json_key(w, "name");
    json_string(w, name);
    json_key(w, "parent");
    json_string(w, vmsnap_snapshot_get_parent_name(snap));
    json_key(w, "state");
    json_string(w, vmsnap_snapshot_state_to_string(vmsnap_snapshot_get_state(snap)));
    json_key(w, "creation_time");
    json_int(w, vmsnap_snapshot_get_creation_time(snap));
    json_key(w, "description");
    json_string(w, vmsnap_snapshot_get_description(snap));
    json_key(w, "current");
    json_bool(w, current && strcmp(current, name) == 0);
    json_key(w, "location");
    json_string(w, vmsnap_snapshot_location_to_string(vmsnap_snapshot_get_location(snap)));
    json_key(w, "memory");
    json_bool(w, vmsnap_snapshot_has_memory(snap));
}

/* Children per snapshot name, counted over the whole tree (not the
 * filtered list), so the count is the same whatever filter is used.
 * @listed: the snapshots already listed if they are the whole tree, else
 * NULL (the whole tree is fetched: one more pass over the store). */
static GHashTable *count_children(vmsnap_domain *dom, vmsnap_snapshot **listed)
{
    vmsnap_error *err = NULL;
    g_auto(cli_snapshot_list) fetched = NULL;
    if (!listed && vmsnap_domain_list_all_snapshots(dom, &fetched, 0, &err) < 0) {
        cli_fail(err);
        return NULL;
    }
    vmsnap_snapshot **all = listed ? listed : fetched;
    GHashTable *counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; all[i]; i++) {
        const char *parent = vmsnap_snapshot_get_parent_name(all[i]);
        if (!parent)
            continue;
        gpointer old = g_hash_table_lookup(counts, parent);
        g_hash_table_insert(counts, g_strdup(parent), GINT_TO_POINTER(GPOINTER_TO_INT(old) + 1));
    }
    return counts;
}

static int print_flat_json(vmsnap_domain *dom, vmsnap_snapshot **snaps, bool whole_tree,
                           const char *current)
{
    g_autoptr(GHashTable) counts = count_children(dom, whole_tree ? snaps : NULL);
    if (!counts)
        return CLI_EXIT_FAILED;
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_array(w);
    for (size_t i = 0; snaps[i]; i++) {
        json_begin_object(w);
        json_snapshot_fields(w, snaps[i], current);
        json_key(w, "children");
        json_int(w,
                 GPOINTER_TO_INT(g_hash_table_lookup(counts, vmsnap_snapshot_get_name(snaps[i]))));
        json_end_object(w);
    }
    json_end_array(w);
    fputs(json_writer_get(w), stdout);
    return CLI_EXIT_OK;
}

typedef struct {
    json_writer *w;
    vmsnap_snapshot *const *nodes;
    const char *current;
} tree_json_state;

static void tree_json_enter(size_t node, void *opaque)
{
    tree_json_state *st = opaque;
    json_begin_object(st->w);
    json_snapshot_fields(st->w, st->nodes[node], st->current);
    json_key(st->w, "children");
    json_begin_array(st->w);
}

static void tree_json_leave(size_t node, void *opaque)
{
    tree_json_state *st = opaque;
    json_end_array(st->w);
    json_end_object(st->w);
}

/* ------------------------------------------------------------------ */
/* Tree                                                                */
/* ------------------------------------------------------------------ */

/* The nodes of the tree: the start snapshot (if any) first, then the
 * listed snapshots in name order. Returns a borrowed-pointer array. */
static GPtrArray *tree_nodes(vmsnap_snapshot *start, vmsnap_snapshot **listed)
{
    GPtrArray *nodes = g_ptr_array_new();
    if (start)
        g_ptr_array_add(nodes, start);
    for (size_t i = 0; listed[i]; i++)
        g_ptr_array_add(nodes, listed[i]);
    return nodes;
}

static int print_tree(vmsnap_domain *dom, vmsnap_snapshot *start, vmsnap_snapshot **listed,
                      bool json)
{
    g_autoptr(GPtrArray) nodes = tree_nodes(start, listed);
    size_t n = nodes->len;
    g_autofree const char **labels = g_new0(const char *, n + 1);
    g_autofree ssize_t *parents = g_new0(ssize_t, n + 1);
    g_autoptr(GHashTable) index = g_hash_table_new(g_str_hash, g_str_equal);

    for (size_t i = 0; i < n; i++) {
        labels[i] = vmsnap_snapshot_get_name(g_ptr_array_index(nodes, i));
        g_hash_table_insert(index, (gpointer)labels[i], GSIZE_TO_POINTER(i + 1));
    }
    /* A snapshot whose parent is not shown (the start's) is drawn as a root. */
    for (size_t i = 0; i < n; i++) {
        const char *parent = vmsnap_snapshot_get_parent_name(g_ptr_array_index(nodes, i));
        gsize found = parent ? GPOINTER_TO_SIZE(g_hash_table_lookup(index, parent)) : 0;
        parents[i] = (start && i == 0) ? -1 : (ssize_t)found - 1;
    }
    g_autoptr(cli_tree) tree = cli_tree_new(labels, parents, n);

    if (!json) {
        cli_tree_print(tree, stdout);
        return CLI_EXIT_OK;
    }
    g_autofree char *current = NULL;
    if (!current_name(dom, &current))
        return CLI_EXIT_FAILED;
    g_autoptr(json_writer) w = json_writer_new();
    tree_json_state st = {w, (vmsnap_snapshot *const *)nodes->pdata, current};
    json_begin_array(w);
    cli_tree_walk(tree, tree_json_enter, tree_json_leave, &st);
    json_end_array(w);
    fputs(json_writer_get(w), stdout);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Table                                                               */
/* ------------------------------------------------------------------ */

static void print_table(vmsnap_snapshot **snaps, bool with_parent)
{
    const char *headers[] = {"Name", "Creation Time", "State", with_parent ? "Parent" : NULL, NULL};
    g_autoptr(cli_table) table = cli_table_new(headers);
    for (size_t i = 0; snaps[i]; i++) {
        g_autofree char *when = cli_format_time(vmsnap_snapshot_get_creation_time(snaps[i]));
        const char *parent = vmsnap_snapshot_get_parent_name(snaps[i]);
        const char *row[] = {
            vmsnap_snapshot_get_name(snaps[i]),
            when,
            vmsnap_snapshot_state_to_string(vmsnap_snapshot_get_state(snaps[i])),
            parent ? parent : "",
        };
        cli_table_add_row(table, row);
    }
    cli_table_print(table, stdout);
}

/* ------------------------------------------------------------------ */

static int collect(vmsnap_domain *dom, vmsnap_snapshot *start, unsigned int flags,
                   vmsnap_snapshot ***snaps)
{
    vmsnap_error *err = NULL;
    int n = start ? vmsnap_snapshot_list_all_children(start, snaps, flags, &err)
                  : vmsnap_domain_list_all_snapshots(dom, snaps, flags, &err);
    if (n < 0)
        cli_fail(err);
    return n;
}

int cmd_snapshot_list(cli_ctx *ctx, const cli_args *args)
{
    int rc = check_options(ctx, args);
    if (rc)
        return rc;
    bool tree = cli_args_has(args, "tree");
    bool json = cli_args_has(args, "json");

    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) start = NULL;
    if (!find_start(args, dom, &start))
        return CLI_EXIT_FAILED;

    /* Under a starting point the tree holds all its descendants. */
    unsigned int flags = tree ? (start ? VMSNAP_SNAPSHOT_LIST_DESCENDANTS : 0) : list_flags(args);
    g_auto(cli_snapshot_list) snaps = NULL;
    if (collect(dom, start, flags, &snaps) < 0)
        return CLI_EXIT_FAILED;

    if (tree)
        return print_tree(dom, start, snaps, json);
    if (cli_args_has(args, "name")) {
        for (size_t i = 0; snaps[i]; i++)
            printf("%s\n", vmsnap_snapshot_get_name(snaps[i]));
        return CLI_EXIT_OK;
    }
    if (json) {
        g_autofree char *current = NULL;
        if (!current_name(dom, &current))
            return CLI_EXIT_FAILED;
        bool whole_tree = !start && (flags & ~VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL) == 0;
        return print_flat_json(dom, snaps, whole_tree, current);
    }
    print_table(snaps, cli_args_has(args, "parent"));
    return CLI_EXIT_OK;
}
