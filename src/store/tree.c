/* tree.c: see tree.h (being written). */
