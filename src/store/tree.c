/* tree.c: the in-memory snapshot tree index (see tree.h).
 *
 * A node is "pending" from vms_tree_add() until its parent name is resolved:
 * it then sits in no children array and not among the roots. Adding a node
 * whose parent already exists links it at once (binary insertion);
 * vms_tree_link() resolves all pending nodes in one O(n log n) pass. Every
 * walk uses an explicit stack, so a 10,000-deep chain cannot overflow the C
 * stack.
 */
#include "store/tree.h"

#include <string.h>

#include "util/error.h"

struct vms_tree_node {
    char *name;
    char *parent_name; /* NULL for a root */
    gpointer payload;
    vms_tree_node *parent;
    GPtrArray *children; /* sorted by name */
    bool pending;
    guint walk; /* cycle detection: last vms_tree_link() walk that visited */
    vms_tree *tree;
};

struct vms_tree {
    GHashTable *nodes; /* name (borrowed from the node) -> node (owned) */
    GPtrArray *roots;  /* sorted by name */
    GDestroyNotify payload_free;
    size_t n_pending;
};

static void node_free(gpointer data)
{
    vms_tree_node *node = data;
    if (node->tree->payload_free && node->payload)
        node->tree->payload_free(node->payload);
    g_ptr_array_unref(node->children);
    g_free(node->parent_name);
    g_free(node->name);
    g_free(node);
}

vms_tree *vms_tree_new(GDestroyNotify payload_free)
{
    vms_tree *tree = g_new0(vms_tree, 1);
    tree->nodes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, node_free);
    tree->roots = g_ptr_array_new();
    tree->payload_free = payload_free;
    return tree;
}

void vms_tree_free(vms_tree *tree)
{
    if (!tree)
        return;
    g_hash_table_destroy(tree->nodes);
    g_ptr_array_unref(tree->roots);
    g_free(tree);
}

/* --- sorted sibling arrays ---------------------------------------------- */

/* Index of @name in sorted @arr, or where it would be inserted. */
static guint sorted_position(GPtrArray *arr, const char *name, bool *found)
{
    guint lo = 0, hi = arr->len;
    *found = false;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        int cmp = strcmp(((vms_tree_node *)g_ptr_array_index(arr, mid))->name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sorted_insert(GPtrArray *arr, vms_tree_node *node)
{
    bool found;
    guint pos = sorted_position(arr, node->name, &found);
    g_ptr_array_insert(arr, (gint)pos, node);
}

static void sorted_remove(GPtrArray *arr, vms_tree_node *node)
{
    bool found;
    guint pos = sorted_position(arr, node->name, &found);
    g_assert(found && g_ptr_array_index(arr, pos) == node);
    g_ptr_array_remove_index(arr, pos);
}

static int compare_nodes(gconstpointer a, gconstpointer b)
{
    const vms_tree_node *x = *(vms_tree_node *const *)a;
    const vms_tree_node *y = *(vms_tree_node *const *)b;
    return strcmp(x->name, y->name);
}

/* Merge sorted @src into sorted @dst in O(len(dst) + len(src)), from the back
 * so no second array is needed. */
static void sorted_merge(GPtrArray *dst, GPtrArray *src)
{
    guint a = dst->len, b = src->len;
    if (b == 0)
        return;
    g_ptr_array_set_size(dst, (gint)(a + b));
    gpointer *d = dst->pdata, *s = src->pdata;
    guint out = a + b;
    while (b > 0) {
        if (a > 0 && compare_nodes(&d[a - 1], &s[b - 1]) > 0)
            d[--out] = d[--a];
        else
            d[--out] = s[--b];
    }
}

/* The array a linked node sits in. */
static GPtrArray *siblings_of(vms_tree *tree, vms_tree_node *node)
{
    return node->parent ? node->parent->children : tree->roots;
}

/* Take @node out of its sibling array (or out of the pending set). */
static void detach(vms_tree *tree, vms_tree_node *node)
{
    if (node->pending) {
        node->pending = false;
        tree->n_pending--;
        return;
    }
    sorted_remove(siblings_of(tree, node), node);
    node->parent = NULL;
}

/* --- building ----------------------------------------------------------- */

vms_tree_node *vms_tree_add(vms_tree *tree, const char *name, const char *parent, gpointer payload,
                            vmsnap_error **error)
{
    if (g_hash_table_contains(tree->nodes, name)) {
        vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                      "snapshot '%s' already exists; choose another name", name);
        if (tree->payload_free && payload)
            tree->payload_free(payload);
        return NULL;
    }
    vms_tree_node *node = g_new0(vms_tree_node, 1);
    node->name = g_strdup(name);
    node->parent_name = g_strdup(parent);
    node->payload = payload;
    node->children = g_ptr_array_new();
    node->tree = tree;
    g_hash_table_insert(tree->nodes, node->name, node);

    vms_tree_node *p = parent ? g_hash_table_lookup(tree->nodes, parent) : NULL;
    if (!parent) {
        sorted_insert(tree->roots, node);
    } else if (p && p != node) {
        node->parent = p;
        sorted_insert(p->children, node);
    } else {
        node->pending = true;
        tree->n_pending++;
    }
    return node;
}

/* The first (by name) pending node whose parent is missing. */
static vms_tree_node *find_missing_parent(GPtrArray *pending, vms_tree *tree)
{
    for (guint i = 0; i < pending->len; i++) {
        vms_tree_node *node = g_ptr_array_index(pending, i);
        if (!g_hash_table_contains(tree->nodes, node->parent_name))
            return node;
    }
    return NULL;
}

/* Parent of @node counting pending name references, which are not links yet. */
static vms_tree_node *effective_parent(vms_tree *tree, vms_tree_node *node)
{
    if (node->pending)
        return g_hash_table_lookup(tree->nodes, node->parent_name);
    return node->parent;
}

/* Walk up from each pending node (in name order); meeting a node visited in
 * the same walk means a cycle. Nodes reached by an earlier walk are known to
 * lead to a root, so the whole check is O(n). Returns a description of the
 * first cycle found (rotated to start at its smallest name), or NULL. */
static char *find_cycle(vms_tree *tree, GPtrArray *pending)
{
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, tree->nodes);
    while (g_hash_table_iter_next(&it, NULL, &value))
        ((vms_tree_node *)value)->walk = 0;

    for (guint i = 0; i < pending->len; i++) {
        guint walk = i + 1;
        vms_tree_node *n = g_ptr_array_index(pending, i);
        while (n && n->walk == 0) {
            n->walk = walk;
            n = effective_parent(tree, n);
        }
        if (!n || n->walk != walk)
            continue;
        /* @n is on a cycle: collect it and start at the smallest name. */
        g_autoptr(GPtrArray) cycle = g_ptr_array_new();
        vms_tree_node *start = n;
        do {
            g_ptr_array_add(cycle, n);
            if (strcmp(n->name, start->name) < 0)
                start = n;
            n = effective_parent(tree, n);
        } while (n != g_ptr_array_index(cycle, 0));
        GString *text = g_string_new(NULL);
        n = start;
        do {
            g_string_append_printf(text, "'%s' -> ", n->name);
            n = effective_parent(tree, n);
        } while (n != start);
        g_string_append_printf(text, "'%s'", start->name);
        g_autofree char *path = g_string_free(text, FALSE);
        return g_strdup_printf("snapshot '%s' is its own ancestor (%s); give one of them "
                               "another parent",
                               start->name, path);
    }
    return NULL;
}

bool vms_tree_link(vms_tree *tree, vmsnap_error **error)
{
    if (tree->n_pending == 0)
        return true;
    g_autoptr(GPtrArray) pending = g_ptr_array_new();
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, tree->nodes);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (((vms_tree_node *)value)->pending)
            g_ptr_array_add(pending, value);
    /* Name order makes the reported node the same whatever the load order. */
    g_ptr_array_sort(pending, compare_nodes);

    /* Validate everything before changing anything: on error the tree is
     * as it was. */
    vms_tree_node *orphan = find_missing_parent(pending, tree);
    if (orphan) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "snapshot '%s' names parent '%s', which does not exist", orphan->name,
                      orphan->parent_name);
        return false;
    }
    g_autofree char *cycle = find_cycle(tree, pending);
    if (cycle) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT, "%s", cycle);
        return false;
    }

    /* Group the pending nodes by parent (they are in name order, so each
     * group is sorted) and merge each group into the parent's children. */
    g_autoptr(GHashTable) groups =
        g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_ptr_array_unref);
    for (guint i = 0; i < pending->len; i++) {
        vms_tree_node *node = g_ptr_array_index(pending, i);
        vms_tree_node *parent = g_hash_table_lookup(tree->nodes, node->parent_name);
        GPtrArray *group = g_hash_table_lookup(groups, parent);
        if (!group) {
            group = g_ptr_array_new();
            g_hash_table_insert(groups, parent, group);
        }
        g_ptr_array_add(group, node);
        node->parent = parent;
        node->pending = false;
    }
    GHashTableIter git;
    gpointer key;
    g_hash_table_iter_init(&git, groups);
    while (g_hash_table_iter_next(&git, &key, &value))
        sorted_merge(((vms_tree_node *)key)->children, value);
    tree->n_pending = 0;
    return true;
}

/* --- queries ------------------------------------------------------------ */

vms_tree_node *vms_tree_lookup(const vms_tree *tree, const char *name)
{
    return name ? g_hash_table_lookup(tree->nodes, name) : NULL;
}

size_t vms_tree_size(const vms_tree *tree)
{
    return g_hash_table_size(tree->nodes);
}

const char *vms_tree_node_name(const vms_tree_node *node)
{
    return node->name;
}

gpointer vms_tree_node_payload(const vms_tree_node *node)
{
    return node->payload;
}

vms_tree_node *vms_tree_node_parent(const vms_tree_node *node)
{
    return node->parent;
}

size_t vms_tree_node_n_children(const vms_tree_node *node)
{
    return node->children->len;
}

vms_tree_node *vms_tree_node_child(const vms_tree_node *node, size_t i)
{
    g_return_val_if_fail(i < node->children->len, NULL);
    return g_ptr_array_index(node->children, i);
}

size_t vms_tree_node_n_descendants(const vms_tree_node *node)
{
    size_t count = 0;
    g_autoptr(GPtrArray) stack = g_ptr_array_new();
    g_ptr_array_add(stack, (gpointer)node);
    while (stack->len > 0) {
        vms_tree_node *n = g_ptr_array_steal_index_fast(stack, stack->len - 1);
        count += n->children->len;
        for (guint i = 0; i < n->children->len; i++)
            g_ptr_array_add(stack, g_ptr_array_index(n->children, i));
    }
    return count;
}

bool vms_tree_node_is_ancestor(const vms_tree_node *ancestor, const vms_tree_node *node)
{
    for (const vms_tree_node *n = node; n; n = n->parent)
        if (n == ancestor)
            return true;
    return false;
}

GPtrArray *vms_tree_roots(const vms_tree *tree)
{
    return tree->roots;
}

/* Pre-order walk of the nodes in @start (sorted), appended to @out.
 * Children are pushed in reverse so the smallest name is popped first. */
static void preorder(GPtrArray *start, GPtrArray *out)
{
    g_autoptr(GPtrArray) stack = g_ptr_array_new();
    for (guint i = start->len; i > 0; i--)
        g_ptr_array_add(stack, g_ptr_array_index(start, i - 1));
    while (stack->len > 0) {
        vms_tree_node *n = g_ptr_array_steal_index(stack, stack->len - 1);
        g_ptr_array_add(out, n);
        for (guint i = n->children->len; i > 0; i--)
            g_ptr_array_add(stack, g_ptr_array_index(n->children, i - 1));
    }
}

GPtrArray *vms_tree_topological(const vms_tree *tree)
{
    GPtrArray *out = g_ptr_array_sized_new(g_hash_table_size(tree->nodes));
    preorder(tree->roots, out);
    return out;
}

GPtrArray *vms_tree_descendants(const vms_tree_node *node)
{
    GPtrArray *out = g_ptr_array_new();
    preorder(node->children, out);
    return out;
}

/* --- changes ------------------------------------------------------------ */

void vms_tree_remove(vms_tree *tree, vms_tree_node *node)
{
    bool was_pending = node->pending;
    vms_tree_node *parent = node->parent;
    GPtrArray *siblings = was_pending ? NULL : siblings_of(tree, node);
    detach(tree, node);
    for (guint i = 0; i < node->children->len; i++) {
        vms_tree_node *child = g_ptr_array_index(node->children, i);
        g_free(child->parent_name);
        child->parent_name = g_strdup(node->parent_name);
        child->parent = parent;
        if (was_pending) {
            /* Still waiting for the grandparent's name to resolve. */
            child->pending = true;
            tree->n_pending++;
        }
    }
    if (siblings)
        sorted_merge(siblings, node->children);
    g_ptr_array_set_size(node->children, 0);
    g_hash_table_remove(tree->nodes, node->name);
}

void vms_tree_remove_subtree(vms_tree *tree, vms_tree_node *node)
{
    detach(tree, node);
    GPtrArray *doomed = g_ptr_array_new();
    g_ptr_array_add(doomed, node);
    preorder(node->children, doomed);
    /* Pending nodes that name a removed node stay pending (and will fail
     * vms_tree_link, as they should). */
    for (guint i = 0; i < doomed->len; i++) {
        vms_tree_node *n = g_ptr_array_index(doomed, i);
        g_hash_table_remove(tree->nodes, n->name);
    }
    g_ptr_array_unref(doomed);
}

bool vms_tree_rename(vms_tree *tree, vms_tree_node *node, const char *new_name,
                     vmsnap_error **error)
{
    if (strcmp(node->name, new_name) == 0)
        return true;
    if (g_hash_table_contains(tree->nodes, new_name)) {
        vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                      "snapshot '%s' already exists; choose another name", new_name);
        return false;
    }
    bool pending = node->pending;
    if (!pending)
        sorted_remove(siblings_of(tree, node), node);
    g_hash_table_steal(tree->nodes, node->name);
    g_free(node->name);
    node->name = g_strdup(new_name);
    g_hash_table_insert(tree->nodes, node->name, node);
    if (!pending)
        sorted_insert(siblings_of(tree, node), node);
    for (guint i = 0; i < node->children->len; i++) {
        vms_tree_node *child = g_ptr_array_index(node->children, i);
        g_free(child->parent_name);
        child->parent_name = g_strdup(new_name);
    }
    return true;
}
