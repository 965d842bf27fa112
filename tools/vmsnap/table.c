/* table.c: see table.h. */
#include "table.h"

#include <string.h>

struct cli_table {
    size_t ncols;
    GPtrArray *rows; /* of char ** (g_strfreev); rows[0] is the header */
};

cli_table *cli_table_new(const char *const *headers)
{
    cli_table *table = g_new0(cli_table, 1);
    table->ncols = g_strv_length((char **)headers);
    table->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    cli_table_add_row(table, headers);
    return table;
}

void cli_table_free(cli_table *table)
{
    if (!table)
        return;
    g_ptr_array_unref(table->rows);
    g_free(table);
}

void cli_table_add_row(cli_table *table, const char *const *cells)
{
    char **row = g_new0(char *, table->ncols + 1);
    for (size_t i = 0; i < table->ncols; i++)
        row[i] = g_strdup(cells[i] ? cells[i] : "");
    g_ptr_array_add(table->rows, row);
}

size_t cli_display_width(const char *text)
{
    if (!g_utf8_validate(text, -1, NULL))
        return strlen(text);
    size_t width = 0;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_iszerowidth(c))
            continue;
        width += g_unichar_iswide(c) ? 2 : 1;
    }
    return width;
}

static void print_row(const cli_table *table, char **row, const size_t *widths, FILE *out)
{
    for (size_t col = 0; col < table->ncols; col++) {
        fputc(' ', out);
        fputs(row[col], out);
        if (col + 1 < table->ncols) {
            size_t pad = widths[col] - cli_display_width(row[col]) + 2;
            for (size_t i = 0; i < pad; i++)
                fputc(' ', out);
        }
    }
    fputc('\n', out);
}

void cli_table_print(const cli_table *table, FILE *out)
{
    g_autofree size_t *widths = g_new0(size_t, table->ncols);
    for (size_t r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);
        for (size_t col = 0; col < table->ncols; col++)
            widths[col] = MAX(widths[col], cli_display_width(row[col]));
    }

    print_row(table, g_ptr_array_index(table->rows, 0), widths, out);
    for (size_t col = 0; col < table->ncols; col++) {
        for (size_t i = 0; i < widths[col] + 3; i++)
            fputc('-', out);
    }
    fputc('\n', out);
    for (size_t r = 1; r < table->rows->len; r++)
        print_row(table, g_ptr_array_index(table->rows, r), widths, out);
}
