/*
 * qmp_parse.h: the parser of one QMP message, QEMU's untrusted output.
 *
 * Pure: bytes in, a plain C struct out; no I/O. JSON is read with a nesting
 * limit and a size limit, in json-c's strict mode (valid UTF-8, no trailing
 * commas or comments, no NaN or Infinity; it does still read single-quoted
 * strings, which QEMU never sends), and the message
 * must have one of the four shapes QEMU sends: a greeting, a command's
 * return, a command's error, or an event. Anything else is VMSNAP_ERR_QEMU
 * "QEMU sent a malformed QMP message: ...". The fuzz target
 * fuzz/fuzz_qmp_message.c drives this file.
 * Ownership: a vms_qmp_msg and all its strings belong to the caller.
 */
#ifndef VMS_QEMU_QMP_PARSE_H
#define VMS_QEMU_QMP_PARSE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vmsnap/vmsnap.h>

/* Limits on one message (one line on the socket). */
#define VMS_QMP_MAX_MESSAGE (16 * 1024 * 1024)
#define VMS_QMP_MAX_DEPTH   64

typedef enum {
    VMS_QMP_MSG_GREETING, /* {"QMP": {"version": ..., "capabilities": [...]}} */
    VMS_QMP_MSG_RETURN,   /* {"return": ANY, "id": ...} */
    VMS_QMP_MSG_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": ...} */
    VMS_QMP_MSG_EVENT,    /* {"event": ..., "data": {...}, "timestamp": {...}} */
} vms_qmp_msg_kind;

typedef struct {
    vms_qmp_msg_kind kind;
    char *id_json; /* RETURN/ERROR: the "id" as compact JSON ("7"); NULL if absent */

    /* GREETING */
    int64_t major, minor, micro;
    char *version;       /* "7.2.22" */
    char *package;       /* "Debian 1:7.2+dfsg-7", "" if absent */
    char **capabilities; /* NULL-terminated, e.g. {"oob", NULL} */

    /* RETURN */
    char *return_json; /* compact JSON of the "return" value */

    /* ERROR */
    char *error_class; /* "GenericError", "CommandNotFound", ... */
    char *error_desc;  /* QEMU's text, unchanged */

    /* EVENT */
    char *event;     /* "STOP" */
    char *data_json; /* compact JSON object, "{}" if absent */
    int64_t seconds, microseconds;
} vms_qmp_msg;

/* Parse the @len bytes at @text (no terminator needed; surrounding JSON
 * whitespace, including the line's CR LF, is allowed). */
vms_qmp_msg *vms_qmp_msg_parse(const char *text, size_t len, vmsnap_error **error);
void vms_qmp_msg_free(vms_qmp_msg *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qmp_msg, vms_qmp_msg_free)

/* The message as compact JSON in a fixed member order; parsing it gives the
 * same struct back (the fuzz target checks this). */
char *vms_qmp_msg_format(const vms_qmp_msg *msg);

/* Name of a kind, for messages: "greeting", "return", "error", "event". */
const char *vms_qmp_msg_kind_name(vms_qmp_msg_kind kind);

/* Internal to src/qemu: parse JSON text with the limits above into a json-c
 * value (struct json_object, declared here without including json-c) in
 * *@value, which is NULL for the JSON value null (as json-c has it). On
 * failure returns false with VMSNAP_ERR_QEMU "QEMU sent a malformed QMP
 * message: ..." when @from_qemu, else VMSNAP_ERR_INVALID_ARG "invalid JSON
 * ...". */
struct json_object;
bool vms_qmp_json_parse(const char *text, size_t len, bool from_qemu, struct json_object **value,
                        vmsnap_error **error);

/* Compact JSON text of @obj (plain, '/' not escaped). */
char *vms_qmp_json_to_text(struct json_object *obj);

#endif
