/* json_writer.c: see json_writer.h. */
#include "json_writer.h"

#include <string.h>

typedef struct {
    bool is_object;
    size_t count; /* values (or key/value pairs) written so far */
} json_level;

struct json_writer {
    GString *out;
    GArray *levels; /* json_level, innermost last */
    bool after_key; /* a key was written; its value comes next */
    bool done;      /* the top-level value is complete */
};

json_writer *json_writer_new(void)
{
    json_writer *w = g_new0(json_writer, 1);
    w->out = g_string_new(NULL);
    w->levels = g_array_new(FALSE, FALSE, sizeof(json_level));
    return w;
}

void json_writer_free(json_writer *w)
{
    if (!w)
        return;
    g_string_free(w->out, TRUE);
    g_array_unref(w->levels);
    g_free(w);
}

static json_level *top(json_writer *w)
{
    return w->levels->len ? &g_array_index(w->levels, json_level, w->levels->len - 1) : NULL;
}

static void newline_indent(json_writer *w, size_t depth)
{
    g_string_append_c(w->out, '\n');
    for (size_t i = 0; i < depth; i++)
        g_string_append(w->out, "  ");
}

/* Separator and indentation before a value (or before a key in an object). */
static void before_item(json_writer *w, bool is_key)
{
    json_level *lvl = top(w);
    g_assert(!w->done);
    if (w->after_key) {
        g_assert(!is_key);
        w->after_key = false;
        return;
    }
    if (!lvl)
        return;
    /* In an object every value must follow a key. */
    g_assert(lvl->is_object == is_key);
    if (lvl->count > 0)
        g_string_append_c(w->out, ',');
    newline_indent(w, w->levels->len);
    lvl->count++;
}

static void after_value(json_writer *w)
{
    if (w->levels->len == 0) {
        w->done = true;
        g_string_append_c(w->out, '\n');
    }
}

static void begin(json_writer *w, bool is_object)
{
    before_item(w, false);
    g_string_append_c(w->out, is_object ? '{' : '[');
    json_level lvl = {.is_object = is_object, .count = 0};
    g_array_append_val(w->levels, lvl);
}

static void end(json_writer *w, bool is_object)
{
    json_level *lvl = top(w);
    g_assert(lvl && lvl->is_object == is_object && !w->after_key);
    size_t count = lvl->count;
    g_array_set_size(w->levels, w->levels->len - 1);
    if (count > 0)
        newline_indent(w, w->levels->len);
    g_string_append_c(w->out, is_object ? '}' : ']');
    after_value(w);
}

void json_begin_object(json_writer *w)
{
    begin(w, true);
}

void json_end_object(json_writer *w)
{
    end(w, true);
}

void json_begin_array(json_writer *w)
{
    begin(w, false);
}

void json_end_array(json_writer *w)
{
    end(w, false);
}

void json_key(json_writer *w, const char *key)
{
    before_item(w, true);
    json_escape_string(w->out, key);
    g_string_append(w->out, ": ");
    w->after_key = true;
}

void json_string(json_writer *w, const char *value)
{
    before_item(w, false);
    if (value)
        json_escape_string(w->out, value);
    else
        g_string_append(w->out, "null");
    after_value(w);
}

void json_int(json_writer *w, long long value)
{
    before_item(w, false);
    g_string_append_printf(w->out, "%lld", value);
    after_value(w);
}

void json_bool(json_writer *w, bool value)
{
    before_item(w, false);
    g_string_append(w->out, value ? "true" : "false");
    after_value(w);
}

void json_null(json_writer *w)
{
    json_string(w, NULL);
}

const char *json_writer_get(const json_writer *w)
{
    g_assert(w->done);
    return w->out->str;
}

static void escape_char(GString *out, gunichar c)
{
    switch (c) {
    case '"':
        g_string_append(out, "\\\"");
        break;
    case '\\':
        g_string_append(out, "\\\\");
        break;
    case '\b':
        g_string_append(out, "\\b");
        break;
    case '\f':
        g_string_append(out, "\\f");
        break;
    case '\n':
        g_string_append(out, "\\n");
        break;
    case '\r':
        g_string_append(out, "\\r");
        break;
    case '\t':
        g_string_append(out, "\\t");
        break;
    default:
        if (c < 0x20 || c == 0x7f)
            g_string_append_printf(out, "\\u%04x", (unsigned)c);
        else
            g_string_append_unichar(out, c);
    }
}

void json_escape_string(GString *out, const char *value)
{
    const char *p = value;
    const char *end = value + strlen(value);

    g_string_append_c(out, '"');
    while (p < end) {
        gunichar c = g_utf8_get_char_validated(p, end - p);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append_unichar(out, 0xFFFD); /* not UTF-8: keep the output valid */
            p++;
            continue;
        }
        escape_char(out, c);
        p = g_utf8_next_char(p);
    }
    g_string_append_c(out, '"');
}
