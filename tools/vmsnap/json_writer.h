/*
 * json_writer.h: a small streaming JSON writer for the CLI's --json output.
 *
 * Output is indented by two spaces per level; strings are escaped per
 * RFC 8259 (quote, backslash, control characters), and bytes that are not
 * valid UTF-8 become U+FFFD so the output is always valid JSON.
 * Misuse (a value where a key is expected, unbalanced ends) is a bug in the
 * caller and aborts.
 */
#ifndef VMSNAP_JSON_WRITER_H
#define VMSNAP_JSON_WRITER_H

#include <glib.h>
#include <stdbool.h>

typedef struct json_writer json_writer;

json_writer *json_writer_new(void);
void json_writer_free(json_writer *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_writer, json_writer_free)

void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
/* Inside an object: the key of the next value. */
void json_key(json_writer *w, const char *key);
/* NULL writes null. */
void json_string(json_writer *w, const char *value);
void json_int(json_writer *w, long long value);
void json_bool(json_writer *w, bool value);
void json_null(json_writer *w);

/* The document, ending with a newline; only once every container is closed. */
const char *json_writer_get(const json_writer *w);

/* Append @value as a quoted, escaped JSON string. */
void json_escape_string(GString *out, const char *value);

#endif
