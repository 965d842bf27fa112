/* tree.c: see tree.h. */
#include "tree.h"

#include <stdbool.h>

struct cli_tree {
    size_t n;
    const char *const *labels;
    ssize_t *first_child;
    ssize_t *next_sibling;
    ssize_t *parents;
};

cli_tree *cli_tree_new(const char *const *labels, const ssize_t *parents, size_t n)
{
    cli_tree *tree = g_new0(cli_tree, 1);
    tree->n = n;
    tree->labels = labels;
    tree->first_child = g_new(ssize_t, n ? n : 1);
    tree->next_sibling = g_new(ssize_t, n ? n : 1);
    tree->parents = g_memdup2(parents, sizeof(ssize_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        tree->first_child[i] = tree->next_sibling[i] = -1;
    /* Prepending in reverse index order leaves every child list in index order. */
    for (size_t i = n; i-- > 0;) {
        ssize_t p = parents[i];
        if (p >= 0) {
            tree->next_sibling[i] = tree->first_child[p];
            tree->first_child[p] = (ssize_t)i;
        }
    }
    return tree;
}

void cli_tree_free(cli_tree *tree)
{
    if (!tree)
        return;
    g_free(tree->first_child);
    g_free(tree->next_sibling);
    g_free(tree->parents);
    g_free(tree);
}

typedef struct {
    size_t node;
    ssize_t next_child; /* the child to visit next, -1 when done */
} walk_frame;

void cli_tree_walk(const cli_tree *tree, cli_tree_visit enter, cli_tree_visit leave, void *opaque)
{
    g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(walk_frame));

    for (size_t root = 0; root < tree->n; root++) {
        if (tree->parents[root] >= 0)
            continue;
        walk_frame first = {root, tree->first_child[root]};
        g_array_append_val(stack, first);
        enter(root, opaque);
        while (stack->len) {
            walk_frame *top = &g_array_index(stack, walk_frame, stack->len - 1);
            if (top->next_child < 0) {
                size_t done = top->node;
                g_array_set_size(stack, stack->len - 1);
                leave(done, opaque);
                continue;
            }
            size_t child = (size_t)top->next_child;
            top->next_child = tree->next_sibling[child];
            walk_frame frame = {child, tree->first_child[child]};
            g_array_append_val(stack, frame);
            enter(child, opaque);
        }
    }
}

typedef struct {
    const cli_tree *tree;
    FILE *out;
    GString *indent;
} print_state;

static bool is_root(const cli_tree *tree, size_t node)
{
    return tree->parents[node] < 0;
}

/* A root counts as the last of its siblings, as in virsh. */
static bool is_last(const cli_tree *tree, size_t node)
{
    return is_root(tree, node) || tree->next_sibling[node] < 0;
}

static void print_enter(size_t node, void *opaque)
{
    print_state *st = opaque;
    const cli_tree *tree = st->tree;
    bool root = is_root(tree, node);

    fprintf(st->out, "%s%s%s\n", st->indent->str, root ? "" : "+- ", tree->labels[node]);
    /* Below a non-root, a vertical bar continues while later siblings follow. */
    if (!root)
        g_string_append(st->indent, is_last(tree, node) ? "  " : "| ");
    if (tree->first_child[node] >= 0)
        fprintf(st->out, "%s  |\n", st->indent->str);
    g_string_append(st->indent, "  ");
}

static void print_leave(size_t node, void *opaque)
{
    print_state *st = opaque;
    const cli_tree *tree = st->tree;

    g_string_truncate(st->indent, st->indent->len - 2);
    if (tree->first_child[node] < 0 && is_last(tree, node))
        fprintf(st->out, "%s\n", st->indent->str);
    if (!is_root(tree, node))
        g_string_truncate(st->indent, st->indent->len - 2);
}

void cli_tree_print(const cli_tree *tree, FILE *out)
{
    print_state st = {tree, out, g_string_new(NULL)};
    cli_tree_walk(tree, print_enter, print_leave, &st);
    g_string_free(st.indent, TRUE);
}
