/* test_tree.c: the in-memory snapshot tree index. */
#include "testutil.h"
#include "store/tree.h"

#include <string.h>

/* Names of @nodes joined by spaces. */
static char *join_nodes(GPtrArray *nodes)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < nodes->len; i++) {
        if (i)
            g_string_append_c(s, ' ');
        g_string_append(s, vms_tree_node_name(g_ptr_array_index(nodes, i)));
    }
    return g_string_free(s, FALSE);
}

static char *topo_string(vms_tree *tree)
{
    g_autoptr(GPtrArray) nodes = vms_tree_topological(tree);
    return join_nodes(nodes);
}

static char *children_string(vms_tree_node *node)
{
    g_autoptr(GPtrArray) arr = g_ptr_array_new();
    for (size_t i = 0; i < vms_tree_node_n_children(node); i++)
        g_ptr_array_add(arr, vms_tree_node_child(node, i));
    return join_nodes(arr);
}

static char *roots_string(vms_tree *tree)
{
    return join_nodes(vms_tree_roots(tree));
}

static void add_ok(vms_tree *tree, const char *name, const char *parent)
{
    vmsnap_error *err = NULL;
    /* The payload is a string so valgrind sees it freed through the tree. */
    g_assert_nonnull(vms_tree_add(tree, name, parent, g_strdup(name), &err));
    vms_test_assert_no_error(err);
}

static void link_ok(vms_tree *tree)
{
    vmsnap_error *err = NULL;
    g_assert_true(vms_tree_link(tree, &err));
    vms_test_assert_no_error(err);
}

/*        root
 *       /    \
 *      b      a
 *     / \     |
 *    d   c    e
 * added children before parents, so link does the work. */
static vms_tree *sample_tree(void)
{
    vms_tree *tree = vms_tree_new(g_free);
    add_ok(tree, "e", "a");
    add_ok(tree, "d", "b");
    add_ok(tree, "c", "b");
    add_ok(tree, "b", "root");
    add_ok(tree, "a", "root");
    add_ok(tree, "root", NULL);
    link_ok(tree);
    return tree;
}

static void assert_str_free(char *actual, const char *expected)
{
    g_assert_cmpstr(actual, ==, expected);
    g_free(actual);
}

static void test_link(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    g_assert_cmpuint(vms_tree_size(tree), ==, 6);
    assert_str_free(roots_string(tree), "root");
    vms_tree_node *root = vms_tree_lookup(tree, "root");
    vms_tree_node *b = vms_tree_lookup(tree, "b");
    g_assert_null(vms_tree_node_parent(root));
    g_assert_true(vms_tree_node_parent(b) == root);
    g_assert_cmpstr(vms_tree_node_payload(b), ==, "b");
    assert_str_free(children_string(root), "a b");
    assert_str_free(children_string(b), "c d");
    g_assert_null(vms_tree_lookup(tree, "zz"));
    g_assert_null(vms_tree_lookup(tree, NULL));
    /* Linking again without pending nodes changes nothing. */
    link_ok(tree);
    assert_str_free(topo_string(tree), "root a e b c d");
}

static void test_add_linked_at_once(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    add_ok(tree, "r", NULL);
    add_ok(tree, "m", "r");
    add_ok(tree, "c", "r");
    add_ok(tree, "x", "r");
    /* Parents existed: no link call needed for these to show up. */
    assert_str_free(children_string(vms_tree_lookup(tree, "r")), "c m x");
    add_ok(tree, "b", NULL);
    assert_str_free(roots_string(tree), "b r");
}

static void test_duplicate(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    vmsnap_error *err = NULL;
    /* The payload is freed by the tree even on failure (valgrind checks). */
    g_assert_null(vms_tree_add(tree, "b", NULL, g_strdup("dup"), &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "snapshot 'b' already exists; choose another name");
    vms_test_assert_error(err, VMSNAP_ERR_SNAPSHOT_EXISTS);
    g_assert_cmpuint(vms_tree_size(tree), ==, 6);
}

static void test_missing_parent(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    add_ok(tree, "a", NULL);
    add_ok(tree, "c", "yy");
    add_ok(tree, "b", "zz");
    vmsnap_error *err = NULL;
    g_assert_false(vms_tree_link(tree, &err));
    /* The first offender by name, whatever the load order. */
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "snapshot 'b' names parent 'zz', which does not exist");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    /* Nothing was linked: pending nodes are in no listing. */
    assert_str_free(topo_string(tree), "a");
    /* Supplying the parents repairs it. */
    add_ok(tree, "zz", "a");
    add_ok(tree, "yy", "a");
    link_ok(tree);
    assert_str_free(topo_string(tree), "a yy c zz b");
}

static void test_cycle(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    add_ok(tree, "root", NULL);
    add_ok(tree, "x", "q");
    add_ok(tree, "q", "p");
    add_ok(tree, "p", "x");
    add_ok(tree, "tail", "q");
    vmsnap_error *err = NULL;
    g_assert_false(vms_tree_link(tree, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "snapshot 'p' is its own ancestor ('p' -> 'x' -> 'q' -> 'p'); give one of "
                    "them another parent");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
}

static void test_self_parent(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    add_ok(tree, "s", "s");
    vmsnap_error *err = NULL;
    g_assert_false(vms_tree_link(tree, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "snapshot 's' is its own ancestor ('s' -> 's'); give one of them another "
                    "parent");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
}

static void test_topological(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    add_ok(tree, "0-other-root", NULL);
    add_ok(tree, "f", "0-other-root");
    assert_str_free(topo_string(tree), "0-other-root f root a e b c d");
    g_autoptr(GPtrArray) desc = vms_tree_descendants(vms_tree_lookup(tree, "root"));
    assert_str_free(join_nodes(desc), "a e b c d");
    g_autoptr(GPtrArray) none = vms_tree_descendants(vms_tree_lookup(tree, "e"));
    g_assert_cmpuint(none->len, ==, 0);
}

static void test_descendants(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    g_assert_cmpuint(vms_tree_node_n_descendants(vms_tree_lookup(tree, "root")), ==, 5);
    g_assert_cmpuint(vms_tree_node_n_descendants(vms_tree_lookup(tree, "b")), ==, 2);
    g_assert_cmpuint(vms_tree_node_n_descendants(vms_tree_lookup(tree, "d")), ==, 0);
    vms_tree_node *root = vms_tree_lookup(tree, "root");
    vms_tree_node *b = vms_tree_lookup(tree, "b");
    vms_tree_node *d = vms_tree_lookup(tree, "d");
    vms_tree_node *e = vms_tree_lookup(tree, "e");
    g_assert_true(vms_tree_node_is_ancestor(root, d));
    g_assert_true(vms_tree_node_is_ancestor(b, d));
    g_assert_true(vms_tree_node_is_ancestor(d, d));
    g_assert_false(vms_tree_node_is_ancestor(d, b));
    g_assert_false(vms_tree_node_is_ancestor(b, e));
}

static void test_remove_reparents(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    vms_tree_remove(tree, vms_tree_lookup(tree, "b"));
    g_assert_null(vms_tree_lookup(tree, "b"));
    g_assert_cmpuint(vms_tree_size(tree), ==, 5);
    vms_tree_node *root = vms_tree_lookup(tree, "root");
    /* c and d merged into root's children in name order. */
    assert_str_free(children_string(root), "a c d");
    g_assert_true(vms_tree_node_parent(vms_tree_lookup(tree, "c")) == root);
    assert_str_free(topo_string(tree), "root a e c d");

    /* Removing a root makes its children roots. */
    vms_tree_remove(tree, root);
    assert_str_free(roots_string(tree), "a c d");
    g_assert_null(vms_tree_node_parent(vms_tree_lookup(tree, "a")));
    assert_str_free(topo_string(tree), "a e c d");
}

static void test_remove_subtree(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    vms_tree_remove_subtree(tree, vms_tree_lookup(tree, "b"));
    g_assert_cmpuint(vms_tree_size(tree), ==, 3);
    g_assert_null(vms_tree_lookup(tree, "c"));
    g_assert_null(vms_tree_lookup(tree, "d"));
    assert_str_free(topo_string(tree), "root a e");
    vms_tree_remove_subtree(tree, vms_tree_lookup(tree, "root"));
    g_assert_cmpuint(vms_tree_size(tree), ==, 0);
    g_assert_cmpuint(vms_tree_roots(tree)->len, ==, 0);
}

static void test_rename(void)
{
    g_autoptr(vms_tree) tree = sample_tree();
    vms_tree_node *c = vms_tree_lookup(tree, "c");
    vmsnap_error *err = NULL;
    g_assert_true(vms_tree_rename(tree, c, "z", &err));
    vms_test_assert_no_error(err);
    g_assert_null(vms_tree_lookup(tree, "c"));
    g_assert_true(vms_tree_lookup(tree, "z") == c);
    g_assert_cmpstr(vms_tree_node_name(c), ==, "z");
    /* Re-sorted among its siblings. */
    assert_str_free(children_string(vms_tree_lookup(tree, "b")), "d z");
    /* A renamed parent keeps its children. */
    g_assert_true(vms_tree_rename(tree, vms_tree_lookup(tree, "b"), "0b", &err));
    assert_str_free(topo_string(tree), "root 0b d z a e");
    /* Renaming to the same name is a no-op. */
    g_assert_true(vms_tree_rename(tree, c, "z", &err));
    g_assert_false(vms_tree_rename(tree, c, "a", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "snapshot 'a' already exists; choose another name");
    vms_test_assert_error(err, VMSNAP_ERR_SNAPSHOT_EXISTS);
    g_assert_cmpstr(vms_tree_node_name(c), ==, "z");
}

#define BIG 10000

static char *numbered(int i)
{
    return g_strdup_printf("s%05d", i);
}

/* s00000 <- s00001 <- ... added leaf first, so every link is pending. */
static void test_deep_chain(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    for (int i = BIG - 1; i >= 0; i--) {
        g_autofree char *name = numbered(i);
        g_autofree char *parent = i ? numbered(i - 1) : NULL;
        add_ok(tree, name, parent);
    }
    link_ok(tree);
    vms_tree_node *first = vms_tree_lookup(tree, "s00000");
    vms_tree_node *last = vms_tree_lookup(tree, "s09999");
    g_assert_cmpuint(vms_tree_node_n_descendants(first), ==, BIG - 1);
    g_assert_true(vms_tree_node_is_ancestor(first, last));
    g_autoptr(GPtrArray) topo = vms_tree_topological(tree);
    g_assert_cmpuint(topo->len, ==, BIG);
    for (int i = 0; i < BIG; i++) {
        g_autofree char *name = numbered(i);
        g_assert_cmpstr(vms_tree_node_name(g_ptr_array_index(topo, i)), ==, name);
    }
    /* Remove from the middle: the chain closes up. */
    vms_tree_remove(tree, vms_tree_lookup(tree, "s05000"));
    g_assert_true(vms_tree_node_parent(vms_tree_lookup(tree, "s05001")) ==
                  vms_tree_lookup(tree, "s04999"));
    vms_tree_remove_subtree(tree, first);
    g_assert_cmpuint(vms_tree_size(tree), ==, 0);
}

/* A 10,000-long cycle is found without recursion as well. */
static void test_deep_cycle(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    for (int i = 0; i < BIG; i++) {
        g_autofree char *name = numbered(i);
        g_autofree char *parent = numbered((i + 1) % BIG);
        add_ok(tree, name, parent);
    }
    vmsnap_error *err = NULL;
    g_assert_false(vms_tree_link(tree, &err));
    g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err),
                                   "snapshot 's00000' is its own ancestor ('s00000' -> 's00001' "
                                   "-> "));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
}

/* One root with 10,000 children, added in a scrambled order. */
static void test_wide_tree(void)
{
    g_autoptr(vms_tree) tree = vms_tree_new(g_free);
    for (int k = 0; k < BIG; k++) {
        int i = (int)(((long)k * 7919) % BIG); /* 7919 is prime: a permutation */
        g_autofree char *name = numbered(i);
        add_ok(tree, name, "root");
    }
    add_ok(tree, "root", NULL);
    link_ok(tree);
    vms_tree_node *root = vms_tree_lookup(tree, "root");
    g_assert_cmpuint(vms_tree_node_n_children(root), ==, BIG);
    g_assert_cmpuint(vms_tree_node_n_descendants(root), ==, BIG);
    for (int i = 0; i < BIG; i++) {
        g_autofree char *name = numbered(i);
        g_assert_cmpstr(vms_tree_node_name(vms_tree_node_child(root, (size_t)i)), ==, name);
    }
    g_autoptr(GPtrArray) topo = vms_tree_topological(tree);
    g_assert_cmpuint(topo->len, ==, BIG + 1);
    /* Removing the root turns 10,000 children into sorted roots. */
    vms_tree_remove(tree, root);
    GPtrArray *roots = vms_tree_roots(tree);
    g_assert_cmpuint(roots->len, ==, BIG);
    g_assert_cmpstr(vms_tree_node_name(g_ptr_array_index(roots, 0)), ==, "s00000");
    g_assert_cmpstr(vms_tree_node_name(g_ptr_array_index(roots, BIG - 1)), ==, "s09999");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tree/link", test_link);
    g_test_add_func("/tree/add-linked-at-once", test_add_linked_at_once);
    g_test_add_func("/tree/duplicate", test_duplicate);
    g_test_add_func("/tree/missing-parent", test_missing_parent);
    g_test_add_func("/tree/cycle", test_cycle);
    g_test_add_func("/tree/self-parent", test_self_parent);
    g_test_add_func("/tree/topological", test_topological);
    g_test_add_func("/tree/descendants", test_descendants);
    g_test_add_func("/tree/remove-reparents", test_remove_reparents);
    g_test_add_func("/tree/remove-subtree", test_remove_subtree);
    g_test_add_func("/tree/rename", test_rename);
    g_test_add_func("/tree/deep-chain", test_deep_chain);
    g_test_add_func("/tree/deep-cycle", test_deep_cycle);
    g_test_add_func("/tree/wide-tree", test_wide_tree);
    return g_test_run();
}
