/*
 * fuzz_qmp_message.c: the QMP message parser (src/qemu/qmp_parse.c), which
 * reads QEMU's untrusted output. The whole input is parsed as one message,
 * then each of its lines (a leading "< " dropped, so recorded sessions from
 * tests/data/qmp/ are seeds as they are). Whatever parses must format as
 * JSON that parses to the same message; whatever fails must say why, as a
 * "malformed QMP message" error.
 */
#include "fuzz_common.h"

#include <glib.h>

#include "qemu/qmp.h"
#include "qemu/qmp_parse.h"

#define MALFORMED "QEMU sent a malformed QMP message: "

static void check_fields(const vms_qmp_msg *msg)
{
    switch (msg->kind) {
    case VMS_QMP_MSG_GREETING:
        if (!msg->version || !msg->package || !msg->capabilities)
            fuzz_fail("a greeting without version, package or capabilities");
        break;
    case VMS_QMP_MSG_RETURN:
        if (!msg->return_json)
            fuzz_fail("a return without its value");
        break;
    case VMS_QMP_MSG_ERROR:
        if (!msg->error_class || !msg->error_desc)
            fuzz_fail("an error without class or desc");
        break;
    case VMS_QMP_MSG_EVENT:
        if (!msg->event || !*msg->event || !msg->data_json || msg->data_json[0] != '{')
            fuzz_fail("an event without a name or a data object");
        break;
    default:
        fuzz_fail("a message of unknown kind %d", (int)msg->kind);
    }
}

/* The helpers callers use on returned JSON must cope with any value; each
 * call parses, so a few paths cover the lookups (object, array, nested). */
static void poke_helpers(const char *json)
{
    int64_t n;
    bool b;
    size_t len;
    g_free(vms_qmp_json_get_string(json, "status"));
    g_free(vms_qmp_json_get_json(json, "0.inserted"));
    (void)vms_qmp_json_get_int(json, "a.0", &n);
    (void)vms_qmp_json_get_bool(json, "", &b);
    (void)vms_qmp_json_get_length(json, NULL, &len);
}

static void parse_one(const char *text, size_t len)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_qmp_msg) msg = vms_qmp_msg_parse(text, len, &err);
    if (!msg) {
        fuzz_check_failure("vms_qmp_msg_parse", err);
        if (vmsnap_error_get_code(err) != VMSNAP_ERR_QEMU ||
            !g_str_has_prefix(vmsnap_error_get_message(err), MALFORMED))
            fuzz_fail("parse error of the wrong kind: %s", vmsnap_error_get_message(err));
        vmsnap_error_free(err);
        return;
    }
    fuzz_check_success("vms_qmp_msg_parse", err);
    check_fields(msg);

    g_autofree char *first = vms_qmp_msg_format(msg);
    g_autoptr(vms_qmp_msg) again = vms_qmp_msg_parse(first, strlen(first), &err);
    if (!again)
        fuzz_fail("formatted message does not parse: %s\n%s", vmsnap_error_get_message(err), first);
    if (again->kind != msg->kind)
        fuzz_fail("formatted %s reparses as %s", vms_qmp_msg_kind_name(msg->kind),
                  vms_qmp_msg_kind_name(again->kind));
    g_autofree char *second = vms_qmp_msg_format(again);
    fuzz_check_same("a formatted QMP message", first, second);
    if (msg->return_json)
        poke_helpers(msg->return_json);
    if (msg->data_json)
        poke_helpers(msg->data_json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    parse_one(text, size);
    if (!memchr(text, '\n', size))
        return 0;
    size_t start = 0;
    while (start < size) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - text) : size;
        const char *line = text + start;
        size_t len = end - start;
        if (len >= 2 && line[0] == '<' && line[1] == ' ') {
            line += 2;
            len -= 2;
        }
        parse_one(line, len);
        start = end + 1;
    }
    return 0;
}
