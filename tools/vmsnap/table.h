/*
 * table.h: column-aligned tables in virsh's layout: every cell is preceded
 * by one space and padded to its column's width plus two spaces (the last
 * column is not padded); the header is followed by a line of dashes as
 * wide as the columns plus three each. Widths count display columns, so
 * wide (CJK) characters count two.
 */
#ifndef VMSNAP_TABLE_H
#define VMSNAP_TABLE_H

#include <glib.h>
#include <stdio.h>

typedef struct cli_table cli_table;

/* @headers: NULL-terminated column titles. */
cli_table *cli_table_new(const char *const *headers);
void cli_table_free(cli_table *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cli_table, cli_table_free)

/* @cells: one string per column (copied). */
void cli_table_add_row(cli_table *table, const char *const *cells);
void cli_table_print(const cli_table *table, FILE *out);

/* The number of terminal columns @text occupies. */
size_t cli_display_width(const char *text);

#endif
