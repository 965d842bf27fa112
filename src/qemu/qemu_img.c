/*
 * qemu_img.c: every qemu-img call goes through run_qemu_img(), which runs
 * it with umask 077 (qemu-img creates files honouring the umask; images
 * hold guest data and must not be readable by others) and turns a failure
 * into an error that keeps qemu-img's own words.
 *
 * Images vmsnap edits are qcow2, so every editing call names the format
 * (-f qcow2) instead of letting qemu-img probe it: probing a raw image whose
 * guest wrote a qcow2 header would make qemu-img follow a guest-chosen
 * backing file.
 */
#include "qemu/qemu_img.h"
#include "qemu/qmp.h"

#include "util/error.h"
#include "util/subprocess.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QEMU_IMG "qemu-img"

/* qemu-img's text for an image another process holds (QEMU's image locks). */
static bool is_lock_error(const char *text)
{
    return strstr(text, "Failed to get ") && strstr(text, " lock");
}

/* What qemu-img said, on one or more lines, without the trailing newline. */
static char *reason(const vms_subprocess_result *res)
{
    const char *text = res->err && *res->err ? res->err : res->out;
    char *copy = g_strdup(text ? text : "");
    g_strstrip(copy);
    if (!*copy) {
        g_free(copy);
        if (res->timed_out)
            return g_strdup("no answer before the deadline");
        if (res->exit_status < 0)
            return g_strdup_printf("killed by signal %d", res->term_signal);
        return g_strdup_printf("exit status %d and no message", res->exit_status);
    }
    return copy;
}

static void set_failure(const char *op, const vms_subprocess_result *res, vmsnap_error **error)
{
    g_autofree char *why = reason(res);
    if (is_lock_error(why))
        vms_error_set(error, VMSNAP_ERR_BUSY,
                      "qemu-img %s failed: %s (a running QEMU has the image open; shut the "
                      "domain off first)",
                      op, why);
    else
        vms_error_set(error, VMSNAP_ERR_QEMU_IMG, "qemu-img %s failed: %s", op, why);
}

/* Run qemu-img @args (without the program name). true on exit status 0;
 * @res is filled either way once qemu-img ran (the caller clears it). */
static bool run_qemu_img(const char *const *args, int timeout_ms, vms_subprocess_result *res,
                         vmsnap_error **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)QEMU_IMG);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);

    vms_subprocess_options options = VMS_SUBPROCESS_OPTIONS_INIT;
    options.timeout_ms = timeout_ms;
    options.private_umask = true;
    if (!vms_subprocess_run_with((const char *const *)argv->pdata, &options, res, error)) {
        vms_error_prefix(error, "qemu-img %s failed: ", args[0] ? args[0] : "");
        return false;
    }
    if (res->exit_status != 0 || res->timed_out) {
        set_failure(args[0] ? args[0] : "", res, error);
        return false;
    }
    return true;
}

char *vms_qemu_img_run(const char *const *argv, int timeout_ms, vmsnap_error **error)
{
    vms_subprocess_result res;
    if (!run_qemu_img(argv, timeout_ms, &res, error)) {
        vms_subprocess_result_clear(&res);
        return NULL;
    }
    char *out = g_steal_pointer(&res.out);
    vms_subprocess_result_clear(&res);
    return out;
}

/* Run and discard the output. */
static bool run_simple(const char *const *argv, vmsnap_error **error)
{
    g_autofree char *out = vms_qemu_img_run(argv, 0, error);
    return out != NULL;
}

static bool check_absolute(const char *what, const char *path, vmsnap_error **error)
{
    if (!path || !g_path_is_absolute(path)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "%s path '%s' is not absolute; give the full path", what, path ? path : "");
        return false;
    }
    return true;
}

/* An existing image at an absolute path: caught here, the message is
 * clearer than qemu-img's. */
static bool check_image(const char *file, vmsnap_error **error)
{
    if (!check_absolute("image", file, error))
        return false;
    struct stat st;
    if (stat(file, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot use image '%s'", file);
        return false;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_IO, "image '%s' is not a regular file or block device",
                      file);
        return false;
    }
    return true;
}

/* "qemu-img snapshot" has no -f: name the format through --image-opts
 * (a QemuOpts string, so a comma in the path is written twice). */
static char *qcow2_image_opts(const char *file)
{
    GString *opts = g_string_new("driver=qcow2,file.driver=file,file.filename=");
    for (const char *p = file; *p; p++) {
        if (*p == ',')
            g_string_append_c(opts, ',');
        g_string_append_c(opts, *p);
    }
    return g_string_free(opts, FALSE);
}

/* run_simple() for a call naming the image by @opts; qemu-img's messages
 * then quote @opts, which the user never wrote: show @file instead. */
static bool run_with_image_opts(const char *const *argv, const char *file, const char *opts,
                                vmsnap_error **error)
{
    vmsnap_error *local = NULL;
    if (run_simple(argv, &local))
        return true;
    g_auto(GStrv) parts = g_strsplit(local->message, opts, -1);
    g_free(local->message);
    local->message = g_strjoinv(file, parts);
    vms_error_propagate(error, local);
    return false;
}

static bool check_snapshot_name(const char *name, vmsnap_error **error)
{
    if (!name || !*name) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "an internal snapshot needs a name");
        return false;
    }
    return true;
}

bool vms_qemu_img_create(const char *file, const char *format, uint64_t size_bytes,
                         const char *backing, const char *backing_format, vmsnap_error **error)
{
    if (!check_absolute("image", file, error) ||
        (backing && !check_absolute("backing file", backing, error)))
        return false;
    if (!format || !*format) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no format given for new image '%s'", file);
        return false;
    }
    if (backing && (!backing_format || !*backing_format)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "no format given for backing file '%s' of '%s' (qemu-img needs -F)", backing,
                      file);
        return false;
    }
    /* qemu-img create would truncate an existing image. */
    if (access(file, F_OK) == 0 || errno != ENOENT) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "image '%s' already exists; vmsnap does not overwrite images (remove it or "
                      "choose another path)",
                      file);
        return false;
    }
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, size_bytes);
    const char *argv[12];
    size_t n = 0;
    argv[n++] = "create";
    argv[n++] = "-q";
    argv[n++] = "-f";
    argv[n++] = format;
    if (backing) {
        argv[n++] = "-b";
        argv[n++] = backing;
        argv[n++] = "-F";
        argv[n++] = backing_format;
    }
    argv[n++] = file;
    if (!backing || size_bytes > 0)
        argv[n++] = size;
    argv[n] = NULL;
    if (!run_simple(argv, error))
        return false;
    /* umask 077 made it 0600 already; chmod says so whatever qemu-img did. */
    if (chmod(file, 0600) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make image '%s' private", file);
        return false;
    }
    return true;
}

char *vms_qemu_img_info_json(const char *file, bool backing_chain, vmsnap_error **error)
{
    if (!check_image(file, error))
        return NULL;
    /* -U: reading the header is safe while our own QEMU has the image open. */
    const char *argv[] = {"info",
                          "--output=json",
                          "-U",
                          backing_chain ? "--backing-chain" : file,
                          backing_chain ? file : NULL,
                          NULL};
    return vms_qemu_img_run(argv, 0, error);
}

bool vms_qemu_img_snapshot_create(const char *file, const char *name, vmsnap_error **error)
{
    if (!check_image(file, error) || !check_snapshot_name(name, error))
        return false;
    g_autofree char *opts = qcow2_image_opts(file);
    const char *argv[] = {"snapshot", "-q", "--image-opts", "-c", name, opts, NULL};
    return run_with_image_opts(argv, file, opts, error);
}

bool vms_qemu_img_snapshot_apply(const char *file, const char *name, vmsnap_error **error)
{
    if (!check_image(file, error) || !check_snapshot_name(name, error))
        return false;
    g_autofree char *opts = qcow2_image_opts(file);
    const char *argv[] = {"snapshot", "-q", "--image-opts", "-a", name, opts, NULL};
    return run_with_image_opts(argv, file, opts, error);
}

bool vms_qemu_img_snapshot_delete(const char *file, const char *name, vmsnap_error **error)
{
    if (!check_image(file, error) || !check_snapshot_name(name, error))
        return false;
    g_autofree char *opts = qcow2_image_opts(file);
    const char *argv[] = {"snapshot", "-q", "--image-opts", "-d", name, opts, NULL};
    return run_with_image_opts(argv, file, opts, error);
}

/* The names in qemu-img info's "snapshots" array ("snapshot -l" prints a
 * table meant for people). */
static char **snapshot_names(const char *info_json, const char *file, vmsnap_error **error)
{
    json_object *root = json_tokener_parse(info_json);
    json_object *list = NULL;
    if (!root || !json_object_is_type(root, json_type_object)) {
        vms_error_set(error, VMSNAP_ERR_QEMU_IMG,
                      "qemu-img info printed something that is not a JSON object for '%s'", file);
        json_object_put(root);
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new();
    if (json_object_object_get_ex(root, "snapshots", &list) &&
        json_object_is_type(list, json_type_array)) {
        size_t len = json_object_array_length(list);
        for (size_t i = 0; i < len; i++) {
            json_object *name = NULL;
            json_object *item = json_object_array_get_idx(list, i);
            if (json_object_object_get_ex(item, "name", &name) &&
                json_object_is_type(name, json_type_string))
                g_ptr_array_add(names, g_strdup(json_object_get_string(name)));
        }
    }
    json_object_put(root);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char **vms_qemu_img_snapshot_list(const char *file, vmsnap_error **error)
{
    if (!check_image(file, error))
        return NULL;
    /* -U: reading the header is safe while our own QEMU has the image open. */
    const char *argv[] = {"info", "--output=json", "-U", "-f", "qcow2", file, NULL};
    g_autofree char *json = vms_qemu_img_run(argv, 0, error);
    if (!json) {
        vms_error_prefix(error, "listing snapshots: ");
        return NULL;
    }
    return snapshot_names(json, file, error);
}

bool vms_qemu_img_commit(const char *file, vmsnap_error **error)
{
    if (!check_image(file, error))
        return false;
    const char *argv[] = {"commit", "-q", "-f", "qcow2", file, NULL};
    return run_simple(argv, error);
}

bool vms_qemu_img_rebase(const char *file, const char *backing, const char *backing_format,
                         bool unsafe, vmsnap_error **error)
{
    if (!check_image(file, error) || (backing && !check_absolute("backing file", backing, error)))
        return false;
    if (backing && (!backing_format || !*backing_format)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "no format given for new backing file '%s' of '%s'", backing, file);
        return false;
    }
    const char *argv[12];
    size_t n = 0;
    argv[n++] = "rebase";
    argv[n++] = "-q";
    argv[n++] = "-f";
    argv[n++] = "qcow2";
    if (unsafe)
        argv[n++] = "-u";
    argv[n++] = "-b";
    argv[n++] = backing ? backing : ""; /* "": no backing file, its data copied in */
    if (backing) {
        argv[n++] = "-F";
        argv[n++] = backing_format;
    }
    argv[n++] = file;
    argv[n] = NULL;
    return run_simple(argv, error);
}

/* qemu-img check's exit statuses (see its manual). */
enum {
    CHECK_CLEAN = 0,
    CHECK_NOT_COMPLETED = 1,
    CHECK_CORRUPT = 2,
    CHECK_LEAKS_ONLY = 3,
    CHECK_UNSUPPORTED = 63,
};

bool vms_qemu_img_check(const char *file, bool shared, vmsnap_error **error)
{
    if (!check_image(file, error))
        return false;
    const char *argv[] = {QEMU_IMG, "check", "-f", "qcow2", file, NULL, NULL};
    if (shared) {
        argv[4] = "-U";
        argv[5] = file;
    }
    vms_subprocess_options options = VMS_SUBPROCESS_OPTIONS_INIT;
    options.private_umask = true;
    vms_subprocess_result res;
    if (!vms_subprocess_run_with(argv, &options, &res, error)) {
        vms_error_prefix(error, "qemu-img check failed: ");
        return false;
    }
    g_autofree char *report = NULL;
    bool ok = false;
    switch (res.exit_status) {
    case CHECK_CLEAN:
    case CHECK_LEAKS_ONLY: /* wasted space, no harm to data */
        ok = true;
        break;
    case CHECK_CORRUPT:
        report = g_strconcat(res.out ? res.out : "", res.err ? res.err : "", NULL);
        g_strstrip(report);
        vms_error_set(error, VMSNAP_ERR_CORRUPT, "image '%s' is corrupt: %s", file, report);
        break;
    case CHECK_NOT_COMPLETED:
        report = reason(&res);
        /* Locked or unreadable is not corrupt; an image qemu-img cannot
         * even open as qcow2 is. */
        if (is_lock_error(report) || strstr(report, "Permission denied"))
            set_failure("check", &res, error);
        else
            vms_error_set(error, VMSNAP_ERR_CORRUPT, "image '%s' is corrupt: %s", file, report);
        break;
    default:
        set_failure("check", &res, error);
        break;
    }
    vms_subprocess_result_clear(&res);
    return ok;
}

bool vms_qemu_img_get_backing(const char *file, char **backing, char **backing_format,
                              vmsnap_error **error)
{
    *backing = NULL;
    if (backing_format)
        *backing_format = NULL;
    g_autofree char *info = vms_qemu_img_info_json(file, false, error);
    if (!info)
        return false;
    /* "full-backing-filename" is the backing file resolved against the
     * image's directory, which is what vmsnap compares with. */
    *backing = vms_qmp_json_get_string(info, "full-backing-filename");
    if (!*backing)
        *backing = vms_qmp_json_get_string(info, "backing-filename");
    if (backing_format)
        *backing_format = vms_qmp_json_get_string(info, "backing-filename-format");
    return true;
}

char *vms_qemu_img_chain_base(const char *file, vmsnap_error **error)
{
    g_autofree char *chain = vms_qemu_img_info_json(file, true, error);
    if (!chain)
        return NULL;
    char *base = NULL;
    for (unsigned int i = 0;; i++) {
        g_autofree char *key = g_strdup_printf("%u.filename", i);
        char *name = vms_qmp_json_get_string(chain, key);
        if (!name)
            break;
        g_free(base);
        base = name;
    }
    if (!base)
        vms_error_set(error, VMSNAP_ERR_QEMU_IMG, "qemu-img info on '%s' listed no image", file);
    return base;
}

bool vms_qemu_img_convert_snapshot(const char *file, const char *name, const char *dest,
                                   const char *backing, const char *backing_format,
                                   vmsnap_error **error)
{
    if (!check_image(file, error) || !check_snapshot_name(name, error) ||
        !check_absolute("new image", dest, error) ||
        (backing && !check_absolute("backing file", backing, error)))
        return false;
    /* -l takes QEMU options, where a comma is written twice. */
    GString *selector = g_string_new("snapshot.name=");
    for (const char *p = name; *p; p++) {
        if (*p == ',')
            g_string_append_c(selector, ',');
        g_string_append_c(selector, *p);
    }
    g_autofree char *snapshot = g_string_free(selector, FALSE);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "convert";
    argv[n++] = "-q";
    argv[n++] = "-f";
    argv[n++] = "qcow2";
    argv[n++] = "-O";
    argv[n++] = "qcow2";
    argv[n++] = "-l";
    argv[n++] = snapshot;
    if (backing) {
        /* Only what differs from @backing is copied. */
        argv[n++] = "-B";
        argv[n++] = backing;
        argv[n++] = "-F";
        argv[n++] = backing_format ? backing_format : "qcow2";
    }
    argv[n++] = file;
    argv[n++] = dest;
    argv[n] = NULL;
    if (!run_simple(argv, error))
        return false;
    if (chmod(dest, 0600) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make '%s' private", dest);
        return false;
    }
    return true;
}
