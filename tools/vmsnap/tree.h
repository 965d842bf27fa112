/*
 * tree.h: a forest of labelled nodes, drawn the way `virsh snapshot-list
 * --tree` draws it:
 *
 *     root
 *       |
 *       +- child1
 *       |   |
 *       |   +- grandchild
 *       |
 *       +- child2
 *
 * (each "last" leaf is followed by a line holding only the indentation, so
 * every root's drawing ends with a blank line, as in virsh). Roots and each
 * node's children come in index order. Drawing and walking are iterative,
 * so a chain of 10,000 snapshots does not exhaust the stack.
 */
#ifndef VMSNAP_TREE_H
#define VMSNAP_TREE_H

#include <glib.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct cli_tree cli_tree;

/* @labels: @n labels (borrowed, must outlive the tree); @parents: for each
 * node the index of its parent, or -1 for a root. */
cli_tree *cli_tree_new(const char *const *labels, const ssize_t *parents, size_t n);
void cli_tree_free(cli_tree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cli_tree, cli_tree_free)

void cli_tree_print(const cli_tree *tree, FILE *out);

/* Depth-first walk: enter(node) before its children, leave(node) after. */
typedef void (*cli_tree_visit)(size_t node, void *opaque);
void cli_tree_walk(const cli_tree *tree, cli_tree_visit enter, cli_tree_visit leave, void *opaque);

#endif
