/*
 * journal_conf.c: the journal record's text form (docs/formats/journal.md).
 *
 *   vmsnap-journal 1
 *   KEY FIELD...        one per line; fields percent-encoded, so a field
 *                       holds no space, newline or '%' of its own
 *
 * | key            | fields     | repeat | meaning                                  |
 * |----------------|------------|--------|------------------------------------------|
 * | op             | 1          | once   | create, revert, delete, discard          |
 * | name           | 1          | many   | a snapshot the operation works on        |
 * | flags          | 1 (number) | once   | the operation's API flags                |
 * | phase          | 1          | once   | begun / how far it got                   |
 * | was-running    | 1 (0 or 1) | once   | the guest ran when it began              |
 * | domain-before  | 1 (text)   | once   | domain.xml as it was                     |
 * | current-before | 1          | once   | the current snapshot as it was           |
 * | created        | 1 (path)   | many   | an image file the operation made         |
 * | tag            | 2          | many   | file, internal snapshot tag it made      |
 * | memory-file    | 1 (path)   | once   | the memory file it writes                |
 * | candidate      | 1 (path)   | many   | a file to remove once nothing uses it    |
 */
#include "conf/journal_conf.h"

#include <string.h>

#include "util/error.h"
#include "util/names.h"

#define MAGIC      "vmsnap-journal"
#define MAX_LINES  200000
#define MAX_FIELDS 2

static void free_array(GPtrArray **array)
{
    g_clear_pointer(array, g_ptr_array_unref);
}

vms_journal *vms_journal_new(const char *op)
{
    vms_journal *j = g_new0(vms_journal, 1);
    j->op = g_strdup(op);
    j->phase = g_strdup("begun");
    j->names = g_ptr_array_new_with_free_func(g_free);
    j->created = g_ptr_array_new_with_free_func(g_free);
    j->tags = g_ptr_array_new_with_free_func(g_free);
    j->candidates = g_ptr_array_new_with_free_func(g_free);
    return j;
}

void vms_journal_free(vms_journal *j)
{
    if (!j)
        return;
    g_free(j->op);
    g_free(j->phase);
    g_free(j->domain_before);
    g_free(j->current_before);
    g_free(j->memory_file);
    free_array(&j->names);
    free_array(&j->created);
    free_array(&j->tags);
    free_array(&j->candidates);
    g_free(j);
}

/* --- writing ------------------------------------------------------------------ */

static void put_field(GString *out, const char *value)
{
    g_string_append_c(out, ' ');
    if (!*value) {
        g_string_append(out, "%00"); /* an empty field still takes a place */
        return;
    }
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p <= ' ' || *p == '%' || *p == 0x7f)
            g_string_append_printf(out, "%%%02x", *p);
        else
            g_string_append_c(out, (char)*p);
    }
}

static void put_line(GString *out, const char *key, const char *value, const char *second)
{
    if (!value)
        return;
    g_string_append(out, key);
    put_field(out, value);
    if (second)
        put_field(out, second);
    g_string_append_c(out, '\n');
}

static void put_all(GString *out, const char *key, const GPtrArray *values)
{
    for (guint i = 0; i < values->len; i++)
        put_line(out, key, g_ptr_array_index(values, i), NULL);
}

char *vms_journal_format(const vms_journal *j)
{
    GString *out = g_string_new(MAGIC " 1\n");
    put_line(out, "op", j->op, NULL);
    put_all(out, "name", j->names);
    g_autofree char *flags = g_strdup_printf("%u", j->flags);
    put_line(out, "flags", flags, NULL);
    put_line(out, "phase", j->phase, NULL);
    put_line(out, "was-running", j->was_running ? "1" : "0", NULL);
    put_line(out, "domain-before", j->domain_before, NULL);
    put_line(out, "current-before", j->current_before, NULL);
    put_all(out, "created", j->created);
    for (guint i = 0; i + 1 < j->tags->len; i += 2)
        put_line(out, "tag", g_ptr_array_index(j->tags, i), g_ptr_array_index(j->tags, i + 1));
    put_line(out, "memory-file", j->memory_file, NULL);
    put_all(out, "candidate", j->candidates);
    return g_string_free(out, FALSE);
}

/* --- reading ------------------------------------------------------------------ */

/* Decode one percent-encoded field; NULL if malformed. "%00" alone is the
 * empty string; a NUL anywhere else is refused. */
static char *decode_field(const char *field)
{
    if (strcmp(field, "%00") == 0)
        return g_strdup("");
    GString *out = g_string_sized_new(strlen(field));
    for (const char *p = field; *p; p++) {
        if (*p != '%') {
            g_string_append_c(out, *p);
            continue;
        }
        int hi = g_ascii_xdigit_value(p[1]);
        int lo = hi < 0 ? -1 : g_ascii_xdigit_value(p[2]);
        if (lo < 0 || (hi == 0 && lo == 0)) {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_c(out, (char)(hi * 16 + lo));
        p += 2;
    }
    return g_string_free(out, FALSE);
}

static bool bad_line(vmsnap_error **error, size_t line, const char *why)
{
    vms_error_set(error, VMSNAP_ERR_CORRUPT, "journal line %zu: %s", line, why);
    return false;
}

/* A scalar set once. */
static bool set_once(char **slot, char *value, size_t line, vmsnap_error **error)
{
    if (*slot) {
        g_free(value);
        return bad_line(error, line, "the key appears twice");
    }
    *slot = value;
    return true;
}

static bool check_path(const char *path, size_t line, vmsnap_error **error)
{
    return path[0] == '/' || bad_line(error, line, "a file must be an absolute path");
}

static bool parse_line(vms_journal *j, char **fields, size_t n, size_t line, bool *seen_flags,
                       bool *seen_running, vmsnap_error **error)
{
    const char *key = fields[0];
    size_t want = strcmp(key, "tag") == 0 ? 2 : 1;
    if (n - 1 != want)
        return bad_line(error, line, "wrong number of fields");
    g_autofree char *a = decode_field(fields[1]);
    g_autofree char *b = want == 2 ? decode_field(fields[2]) : NULL;
    if (!a || (want == 2 && !b))
        return bad_line(error, line, "a field is not percent-encoded text");
    if (strcmp(key, "op") == 0)
        return set_once(&j->op, g_steal_pointer(&a), line, error);
    if (strcmp(key, "phase") == 0)
        return set_once(&j->phase, g_steal_pointer(&a), line, error);
    if (strcmp(key, "name") == 0 || strcmp(key, "current-before") == 0) {
        vmsnap_error *bad = NULL;
        if (!vms_name_validate("snapshot", a, &bad)) {
            vmsnap_error_free(bad);
            return bad_line(error, line, "not a snapshot name");
        }
        if (strcmp(key, "name") == 0) {
            g_ptr_array_add(j->names, g_steal_pointer(&a));
            return true;
        }
        return set_once(&j->current_before, g_steal_pointer(&a), line, error);
    }
    if (strcmp(key, "flags") == 0 || strcmp(key, "was-running") == 0) {
        bool *seen = strcmp(key, "flags") == 0 ? seen_flags : seen_running;
        guint64 v = 0;
        guint64 max = seen == seen_flags ? G_MAXUINT : 1;
        if (*seen)
            return bad_line(error, line, "the key appears twice");
        if (!g_ascii_string_to_unsigned(a, 10, 0, max, &v, NULL))
            return bad_line(error, line, "not a number in range");
        *seen = true;
        if (seen == seen_flags)
            j->flags = (unsigned int)v;
        else
            j->was_running = v == 1;
        return true;
    }
    if (strcmp(key, "domain-before") == 0)
        return set_once(&j->domain_before, g_steal_pointer(&a), line, error);
    if (strcmp(key, "memory-file") == 0)
        return check_path(a, line, error) &&
               set_once(&j->memory_file, g_steal_pointer(&a), line, error);
    if (strcmp(key, "created") == 0 || strcmp(key, "candidate") == 0) {
        if (!check_path(a, line, error))
            return false;
        g_ptr_array_add(strcmp(key, "created") == 0 ? j->created : j->candidates,
                        g_steal_pointer(&a));
        return true;
    }
    if (strcmp(key, "tag") == 0) {
        vmsnap_error *bad = NULL;
        if (!check_path(a, line, error))
            return false;
        if (!vms_name_validate("internal snapshot tag", b, &bad)) {
            vmsnap_error_free(bad);
            return bad_line(error, line, "not an internal snapshot tag");
        }
        g_ptr_array_add(j->tags, g_steal_pointer(&a));
        g_ptr_array_add(j->tags, g_steal_pointer(&b));
        return true;
    }
    return bad_line(error, line, "unknown key");
}

vms_journal *vms_journal_parse(const char *text, vmsnap_error **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", MAX_LINES + 2);
    if (g_strv_length(lines) > MAX_LINES + 1) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT, "journal has more than %d lines", MAX_LINES);
        return NULL;
    }
    if (!lines[0] || strcmp(lines[0], MAGIC " 1") != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "not a vmsnap journal of version %d (the first line is not '" MAGIC " 1')",
                      VMS_JOURNAL_VERSION);
        return NULL;
    }
    g_autoptr(vms_journal) j = vms_journal_new(NULL);
    g_clear_pointer(&j->phase, g_free); /* the file says */
    bool seen_flags = false, seen_running = false;
    for (size_t i = 1; lines[i]; i++) {
        if (!lines[i][0] && !lines[i + 1])
            break; /* the newline ending the last line */
        g_auto(GStrv) fields = g_strsplit(lines[i], " ", MAX_FIELDS + 2);
        size_t n = g_strv_length(fields);
        if (n < 2 || !fields[0][0]) {
            bad_line(error, i + 1, "expected KEY FIELD...");
            return NULL;
        }
        if (!parse_line(j, fields, n, i + 1, &seen_flags, &seen_running, error))
            return NULL;
    }
    if (!j->op || !j->phase) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT, "journal has no '%s' line",
                      j->op ? "phase" : "op");
        return NULL;
    }
    return g_steal_pointer(&j);
}
