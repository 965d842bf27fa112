/*
 * qmp_parse.c: one QMP message from bytes to a vms_qmp_msg (see the header).
 *
 * QEMU's output is untrusted: the tokener runs strict with a depth limit,
 * the size is bounded before parsing, and every member read is type-checked.
 */
#include "qemu/qmp_parse.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "util/error.h"

#define MALFORMED "QEMU sent a malformed QMP message: "
/* How much of a bad message an error quotes. */
#define EXCERPT_MAX 120

static void json_object_put_void(struct json_object *obj)
{
    json_object_put(obj);
}
typedef struct json_object vms_json;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_json, json_object_put_void)

const char *vms_qmp_msg_kind_name(vms_qmp_msg_kind kind)
{
    switch (kind) {
    case VMS_QMP_MSG_GREETING:
        return "greeting";
    case VMS_QMP_MSG_RETURN:
        return "return";
    case VMS_QMP_MSG_ERROR:
        return "error";
    case VMS_QMP_MSG_EVENT:
        return "event";
    }
    return "unknown";
}

void vms_qmp_msg_free(vms_qmp_msg *msg)
{
    if (!msg)
        return;
    g_free(msg->id_json);
    g_free(msg->version);
    g_free(msg->package);
    g_strfreev(msg->capabilities);
    g_free(msg->return_json);
    g_free(msg->error_class);
    g_free(msg->error_desc);
    g_free(msg->event);
    g_free(msg->data_json);
    g_free(msg);
}

/* The start of @text, printable ASCII kept and other bytes as \xNN, so an
 * error can show what QEMU sent without passing raw bytes on. */
static char *excerpt(const char *text, size_t len)
{
    GString *out = g_string_new(NULL);
    size_t n = MIN(len, (size_t)EXCERPT_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f)
            g_string_append_c(out, (char)c);
        else
            g_string_append_printf(out, "\\x%02x", c);
    }
    if (len > n)
        g_string_append(out, "...");
    return g_string_free(out, FALSE);
}

char *vms_qmp_json_to_text(struct json_object *obj)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    return g_strndup(text, len);
}

static void set_json_error(vmsnap_error **error, bool from_qemu, const char *text, size_t len,
                           const char *what)
{
    g_autofree char *quoted = excerpt(text, len);
    if (from_qemu)
        vms_error_set(error, VMSNAP_ERR_QEMU, MALFORMED "%s: %s", what, quoted);
    else
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "invalid JSON (%s): %s", what, quoted);
}

static bool only_whitespace(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", text[i]))
            return false;
    return true;
}

/* json-c reads NaN and Infinity even in strict mode; RFC 8259 has neither.
 * The depth limit bounds the recursion. */
static bool all_finite(struct json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_double:
        return isfinite(json_object_get_double(obj));
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(obj); i++)
            if (!all_finite(json_object_array_get_idx(obj, i)))
                return false;
        return true;
    case json_type_object: {
        json_object_object_foreach(obj, key, value)
        {
            (void)key;
            if (!all_finite(value))
                return false;
        }
        return true;
    }
    default:
        return true;
    }
}

bool vms_qmp_json_parse(const char *text, size_t len, bool from_qemu, struct json_object **value,
                        vmsnap_error **error)
{
    *value = NULL;
    if (len > VMS_QMP_MAX_MESSAGE) {
        g_autofree char *what =
            g_strdup_printf("%zu bytes; the limit is %d bytes (16 MiB)", len, VMS_QMP_MAX_MESSAGE);
        set_json_error(error, from_qemu, text, len, what);
        return false;
    }
    if (only_whitespace(text, len)) {
        set_json_error(error, from_qemu, text, len, "an empty message");
        return false;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        g_autofree char *what = g_strdup_printf("a NUL byte at offset %td", nul - text);
        set_json_error(error, from_qemu, text, len, what);
        return false;
    }

    /* json-c finishes a trailing number or literal only when it sees a NUL,
     * so parse a terminated copy. One more depth level: json-c counts the
     * limit itself as too deep. */
    g_autofree char *copy = g_strndup(text, len);
    struct json_tokener *tok = json_tokener_new_ex(VMS_QMP_MAX_DEPTH + 1);
    if (!tok)
        g_error("json_tokener_new_ex failed: out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *obj = json_tokener_parse_ex(tok, copy, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    g_autofree char *what = NULL;
    if (jerr == json_tokener_success && end >= len) {
        if (all_finite(obj)) {
            *value = obj;
            return true;
        }
        what = g_strdup("NaN or Infinity, which JSON does not have");
    }
    json_object_put(obj);
    if (what)
        ; /* set above */
    else if (jerr == json_tokener_error_depth)
        what = g_strdup_printf("JSON nested deeper than %d levels", VMS_QMP_MAX_DEPTH);
    else if (jerr == json_tokener_success)
        what = g_strdup_printf("text after the JSON value at byte %zu", end);
    else if (jerr == json_tokener_error_parse_eof || jerr == json_tokener_continue)
        what = g_strdup("the JSON value is incomplete");
    else
        what = g_strdup_printf("invalid JSON at byte %zu (%s)", end, json_tokener_error_desc(jerr));
    set_json_error(error, from_qemu, text, len, what);
    return false;
}

/* Shape checks: each returns false after setting a "malformed" error. */
typedef struct {
    const char *text;
    size_t len;
    vmsnap_error **error;
} shape_ctx;

static bool shape_fail(const shape_ctx *ctx, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool shape_fail(const shape_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_json_error(ctx->error, true, ctx->text, ctx->len, what);
    return false;
}

static bool member_typed(const shape_ctx *ctx, struct json_object *obj, const char *where,
                         const char *key, enum json_type type, bool required,
                         struct json_object **out)
{
    *out = NULL;
    struct json_object *value = NULL;
    if (!json_object_object_get_ex(obj, key, &value)) {
        if (required)
            return shape_fail(ctx, "%s has no member '%s'", where, key);
        return true;
    }
    if (!json_object_is_type(value, type))
        return shape_fail(ctx, "%s member '%s' is a %s, not a %s", where, key,
                          json_type_to_name(json_object_get_type(value)), json_type_to_name(type));
    *out = value;
    return true;
}

/* A JSON string as a C string; "\u0000" inside would silently cut it. */
static bool c_string(const shape_ctx *ctx, struct json_object *value, const char *where, char **out)
{
    const char *text = json_object_get_string(value);
    if (strlen(text) != (size_t)json_object_get_string_len(value))
        return shape_fail(ctx, "%s contains a NUL character", where);
    *out = g_strdup(text);
    return true;
}

static bool member_string(const shape_ctx *ctx, struct json_object *obj, const char *where,
                          const char *key, bool required, char **out)
{
    struct json_object *value;
    *out = NULL;
    if (!member_typed(ctx, obj, where, key, json_type_string, required, &value))
        return false;
    if (!value)
        return true;
    g_autofree char *what = g_strdup_printf("%s member '%s'", where, key);
    return c_string(ctx, value, what, out);
}

static bool member_int(const shape_ctx *ctx, struct json_object *obj, const char *where,
                       const char *key, int64_t *out)
{
    struct json_object *value;
    if (!member_typed(ctx, obj, where, key, json_type_int, true, &value))
        return false;
    *out = json_object_get_int64(value);
    return true;
}

static bool parse_greeting(const shape_ctx *ctx, struct json_object *qmp, vms_qmp_msg *msg)
{
    struct json_object *version, *qemu, *caps;
    if (!json_object_is_type(qmp, json_type_object))
        return shape_fail(ctx, "'QMP' is a %s, not an object",
                          json_type_to_name(json_object_get_type(qmp)));
    if (!member_typed(ctx, qmp, "'QMP'", "version", json_type_object, true, &version) ||
        !member_typed(ctx, version, "'QMP.version'", "qemu", json_type_object, true, &qemu) ||
        !member_int(ctx, qemu, "'QMP.version.qemu'", "major", &msg->major) ||
        !member_int(ctx, qemu, "'QMP.version.qemu'", "minor", &msg->minor) ||
        !member_int(ctx, qemu, "'QMP.version.qemu'", "micro", &msg->micro) ||
        !member_string(ctx, version, "'QMP.version'", "package", false, &msg->package) ||
        !member_typed(ctx, qmp, "'QMP'", "capabilities", json_type_array, true, &caps))
        return false;
    if (!msg->package)
        msg->package = g_strdup("");
    msg->version = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                                   msg->major, msg->minor, msg->micro);
    size_t n = json_object_array_length(caps);
    msg->capabilities = g_new0(char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        struct json_object *cap = json_object_array_get_idx(caps, i);
        if (!json_object_is_type(cap, json_type_string))
            return shape_fail(ctx, "'QMP.capabilities' holds a %s, not a string",
                              json_type_to_name(json_object_get_type(cap)));
        if (!c_string(ctx, cap, "a capability", &msg->capabilities[i]))
            return false;
    }
    return true;
}

static bool parse_error(const shape_ctx *ctx, struct json_object *err, vms_qmp_msg *msg)
{
    if (!json_object_is_type(err, json_type_object))
        return shape_fail(ctx, "'error' is a %s, not an object",
                          json_type_to_name(json_object_get_type(err)));
    return member_string(ctx, err, "'error'", "class", true, &msg->error_class) &&
           member_string(ctx, err, "'error'", "desc", true, &msg->error_desc);
}

static bool parse_event(const shape_ctx *ctx, struct json_object *top, struct json_object *name,
                        vms_qmp_msg *msg)
{
    struct json_object *stamp, *data;
    if (!json_object_is_type(name, json_type_string))
        return shape_fail(ctx, "'event' is a %s, not a string",
                          json_type_to_name(json_object_get_type(name)));
    if (json_object_get_string_len(name) == 0)
        return shape_fail(ctx, "an event with an empty name");
    if (!c_string(ctx, name, "the event name", &msg->event))
        return false;
    if (!member_typed(ctx, top, "the event", "timestamp", json_type_object, true, &stamp) ||
        !member_int(ctx, stamp, "'timestamp'", "seconds", &msg->seconds) ||
        !member_int(ctx, stamp, "'timestamp'", "microseconds", &msg->microseconds) ||
        !member_typed(ctx, top, "the event", "data", json_type_object, false, &data))
        return false;
    msg->data_json = data ? vms_qmp_json_to_text(data) : g_strdup("{}");
    return true;
}

/* Which of the four shapes @top has; exactly one of its keys must be there. */
static bool classify(const shape_ctx *ctx, struct json_object *top, vms_qmp_msg_kind *kind,
                     struct json_object **body)
{
    static const struct {
        const char *key;
        vms_qmp_msg_kind kind;
    } shapes[] = {
        {"QMP", VMS_QMP_MSG_GREETING},
        {"return", VMS_QMP_MSG_RETURN},
        {"error", VMS_QMP_MSG_ERROR},
        {"event", VMS_QMP_MSG_EVENT},
    };
    const char *found = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
        struct json_object *value;
        if (!json_object_object_get_ex(top, shapes[i].key, &value))
            continue;
        if (found)
            return shape_fail(ctx, "an object with both '%s' and '%s'", found, shapes[i].key);
        found = shapes[i].key;
        *kind = shapes[i].kind;
        *body = value;
    }
    if (!found)
        return shape_fail(ctx, "an object with none of 'QMP', 'return', 'error' or 'event'");
    return true;
}

vms_qmp_msg *vms_qmp_msg_parse(const char *text, size_t len, vmsnap_error **error)
{
    g_autoptr(vms_json) top = NULL;
    if (!vms_qmp_json_parse(text, len, true, &top, error))
        return NULL;
    shape_ctx ctx = {text, len, error};
    if (!json_object_is_type(top, json_type_object)) {
        shape_fail(&ctx, "a JSON %s, not an object", json_type_to_name(json_object_get_type(top)));
        return NULL;
    }
    g_autoptr(vms_qmp_msg) msg = g_new0(vms_qmp_msg, 1);
    struct json_object *body = NULL;
    if (!classify(&ctx, top, &msg->kind, &body))
        return NULL;

    bool ok = true;
    switch (msg->kind) {
    case VMS_QMP_MSG_GREETING:
        ok = parse_greeting(&ctx, body, msg);
        break;
    case VMS_QMP_MSG_RETURN:
        msg->return_json = vms_qmp_json_to_text(body);
        break;
    case VMS_QMP_MSG_ERROR:
        ok = parse_error(&ctx, body, msg);
        break;
    case VMS_QMP_MSG_EVENT:
        ok = parse_event(&ctx, top, body, msg);
        break;
    }
    if (!ok)
        return NULL;
    struct json_object *id;
    if ((msg->kind == VMS_QMP_MSG_RETURN || msg->kind == VMS_QMP_MSG_ERROR) &&
        json_object_object_get_ex(top, "id", &id))
        msg->id_json = vms_qmp_json_to_text(id);
    return g_steal_pointer(&msg);
}

static void append_quoted(GString *out, const char *text)
{
    g_autoptr(vms_json) str = json_object_new_string(text);
    g_autofree char *quoted = vms_qmp_json_to_text(str);
    g_string_append(out, quoted);
}

static void append_id(GString *out, const vms_qmp_msg *msg)
{
    if (msg->id_json)
        g_string_append_printf(out, ",\"id\":%s", msg->id_json);
}

char *vms_qmp_msg_format(const vms_qmp_msg *msg)
{
    GString *out = g_string_new(NULL);
    switch (msg->kind) {
    case VMS_QMP_MSG_GREETING:
        g_string_append_printf(out,
                               "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":%" G_GINT64_FORMAT
                               ",\"minor\":%" G_GINT64_FORMAT ",\"major\":%" G_GINT64_FORMAT
                               "},\"package\":",
                               msg->micro, msg->minor, msg->major);
        append_quoted(out, msg->package);
        g_string_append(out, "},\"capabilities\":[");
        for (size_t i = 0; msg->capabilities[i]; i++) {
            if (i)
                g_string_append_c(out, ',');
            append_quoted(out, msg->capabilities[i]);
        }
        g_string_append(out, "]}}");
        break;
    case VMS_QMP_MSG_RETURN:
        g_string_append_printf(out, "{\"return\":%s", msg->return_json);
        append_id(out, msg);
        g_string_append_c(out, '}');
        break;
    case VMS_QMP_MSG_ERROR:
        g_string_append(out, "{\"error\":{\"class\":");
        append_quoted(out, msg->error_class);
        g_string_append(out, ",\"desc\":");
        append_quoted(out, msg->error_desc);
        g_string_append_c(out, '}');
        append_id(out, msg);
        g_string_append_c(out, '}');
        break;
    case VMS_QMP_MSG_EVENT:
        g_string_append(out, "{\"event\":");
        append_quoted(out, msg->event);
        g_string_append_printf(out,
                               ",\"data\":%s,\"timestamp\":{\"seconds\":%" G_GINT64_FORMAT
                               ",\"microseconds\":%" G_GINT64_FORMAT "}}",
                               msg->data_json, msg->seconds, msg->microseconds);
        break;
    }
    return g_string_free(out, FALSE);
}
