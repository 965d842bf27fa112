/*
 * tree.h: the in-memory snapshot tree index.
 *
 * Nodes are keyed by name (O(1) lookup through a hash table) and linked to
 * their parent and children; each carries an opaque payload the caller owns
 * through the destroy function given at creation. The tree knows nothing of
 * XML or snapshot definitions. Children are kept sorted by name so every
 * listing is deterministic; whole-tree walks are linear.
 */
#ifndef VMS_STORE_TREE_H
#define VMS_STORE_TREE_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

typedef struct vms_tree vms_tree;
typedef struct vms_tree_node vms_tree_node;

vms_tree *vms_tree_new(GDestroyNotify payload_free);
void vms_tree_free(vms_tree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_tree, vms_tree_free)

/* Add a node. @parent may name a node not added yet; call vms_tree_link()
 * after a bulk load. VMSNAP_ERR_SNAPSHOT_EXISTS on a duplicate name. The
 * tree owns @payload from here on, even on failure. */
vms_tree_node *vms_tree_add(vms_tree *tree, const char *name, const char *parent, gpointer payload,
                            vmsnap_error **error);

/* Resolve parent names into links. A node whose parent does not exist, or
 * that sits on a parent cycle, is an error naming it (VMSNAP_ERR_CORRUPT). */
bool vms_tree_link(vms_tree *tree, vmsnap_error **error);

vms_tree_node *vms_tree_lookup(const vms_tree *tree, const char *name);
size_t vms_tree_size(const vms_tree *tree);

const char *vms_tree_node_name(const vms_tree_node *node);
gpointer vms_tree_node_payload(const vms_tree_node *node);
vms_tree_node *vms_tree_node_parent(const vms_tree_node *node); /* NULL for a root */
size_t vms_tree_node_n_children(const vms_tree_node *node);
vms_tree_node *vms_tree_node_child(const vms_tree_node *node, size_t i); /* sorted by name */
size_t vms_tree_node_n_descendants(const vms_tree_node *node);
/* true if @ancestor is @node or one of its ancestors. */
bool vms_tree_node_is_ancestor(const vms_tree_node *ancestor, const vms_tree_node *node);

/* Roots sorted by name; borrowed array of vms_tree_node *. */
GPtrArray *vms_tree_roots(const vms_tree *tree);

/* All nodes, parents before children: depth-first pre-order from the sorted
 * roots through sorted children. New array of borrowed nodes. */
GPtrArray *vms_tree_topological(const vms_tree *tree);
/* The descendants of @node (not @node) in the same order. */
GPtrArray *vms_tree_descendants(const vms_tree_node *node);

/* Remove @node; its children move to its parent (or become roots). The
 * payload is destroyed. */
void vms_tree_remove(vms_tree *tree, vms_tree_node *node);
/* Remove @node's whole subtree (@node too). */
void vms_tree_remove_subtree(vms_tree *tree, vms_tree_node *node);
/* Rename; VMSNAP_ERR_SNAPSHOT_EXISTS if @new_name is taken. */
bool vms_tree_rename(vms_tree *tree, vms_tree_node *node, const char *new_name,
                     vmsnap_error **error);

#endif
