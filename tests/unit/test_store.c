/* test_store.c: the state directory on disk: layout, modes, atomic writes,
 * symlink refusal, locks between processes, crash debris. */
#include "testutil.h"
#include "store/store.h"
#include "util/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOMAIN_XML "<domain><name>d</name></domain>\n"

/* --- helpers ------------------------------------------------------------ */

static char *make_root(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    return g_build_filename(tmp, "state", NULL);
}

static vms_store *open_store(const char *root)
{
    vmsnap_error *err = NULL;
    vms_store *store = vms_store_open(root, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(store);
    return store;
}

static char *path_in(vms_store *store, const char *rel)
{
    return g_build_filename(vms_store_root(store), rel, NULL);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        g_error("lstat %s: %s", path, g_strerror(errno));
    return st.st_mode & 07777;
}

static void assert_mode(vms_store *store, const char *rel, unsigned mode)
{
    g_autofree char *path = path_in(store, rel);
    g_assert_cmpuint(mode_of(path), ==, mode);
}

static gboolean exists_in(vms_store *store, const char *rel)
{
    g_autofree char *path = path_in(store, rel);
    struct stat st;
    return lstat(path, &st) == 0;
}

static int compare_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries of a directory, sorted, joined by spaces. */
static char *listing(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_str);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static void assert_listing(vms_store *store, const char *rel, const char *expected)
{
    g_autofree char *path = path_in(store, rel);
    g_autofree char *actual = listing(path);
    g_assert_cmpstr(actual, ==, expected);
}

static char *strv_join(char **strv)
{
    g_assert_nonnull(strv);
    char *joined = g_strjoinv(" ", strv);
    g_strfreev(strv);
    return joined;
}

static void write_raw(vms_store *store, const char *rel, const char *content)
{
    g_autofree char *path = path_in(store, rel);
    g_autoptr(GError) gerr = NULL;
    if (!g_file_set_contents(path, content, -1, &gerr))
        g_error("%s", gerr->message);
}

static char *read_raw(const char *path)
{
    char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    if (!g_file_get_contents(path, &text, NULL, &gerr))
        g_error("%s", gerr->message);
    return text;
}

static void define_domain(vms_store *store, const char *dom)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, dom, true, true, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(lock);
    g_assert_true(vms_store_write_domain_xml(store, dom, DOMAIN_XML, &err));
    vms_test_assert_no_error(err);
}

static void write_snapshot(vms_store *store, const char *dom, const char *snap)
{
    vmsnap_error *err = NULL;
    g_autofree char *xml =
        g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>\n", snap);
    g_assert_true(vms_store_write_snapshot_xml(store, dom, snap, xml, &err));
    vms_test_assert_no_error(err);
}

static void assert_error_message(vmsnap_error *err, vmsnap_error_code code, const char *message)
{
    g_assert_nonnull(err);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    g_assert_cmpstr(vmsnap_error_code_to_string(vmsnap_error_get_code(err)), ==,
                    vmsnap_error_code_to_string(code));
    vmsnap_error_free(err);
}

/* One byte through a pipe: the handshake between test processes. */
static void send_byte(int fd, char c)
{
    g_assert_cmpint(write(fd, &c, 1), ==, 1);
}

static char recv_byte(int fd)
{
    char c = 0;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? c : 0;
}

static int wait_child(pid_t pid)
{
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    return status;
}

/* A forked child ends with _exit (no atexit handlers: the parent owns the
 * temporary directories), skipping cleanup on purpose. Whatever it still
 * holds is parked here so valgrind sees it reachable, not leaked. */
static gpointer child_kept[8];

static G_GNUC_NORETURN G_GNUC_NULL_TERMINATED void child_exit(int code, ...)
{
    va_list ap;
    va_start(ap, code);
    gpointer p;
    for (size_t i = 0; (p = va_arg(ap, gpointer)) && i < G_N_ELEMENTS(child_kept); i++)
        child_kept[i] = p;
    va_end(ap);
    _exit(code);
}

static int open_lock_file(vms_store *store, const char *dom)
{
    g_autofree char *rel = g_build_filename("domains", dom, "lock", NULL);
    g_autofree char *path = path_in(store, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* --- layout ------------------------------------------------------------- */

static void test_layout_and_modes(void)
{
    g_autofree char *root = make_root();
    /* Modes are set explicitly: even a umask that removes every bit does
     * not change them. */
    mode_t old_umask = umask(0777);
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    write_snapshot(store, "d", "s1");
    vmsnap_error *err = NULL;
    g_assert_true(vms_store_write_current(store, "d", "s1", &err));
    umask(old_umask);

    g_assert_cmpstr(vms_store_root(store), ==, root);
    assert_mode(store, ".", 0700);
    assert_listing(store, ".", "domains run");
    assert_mode(store, "domains", 0700);
    assert_mode(store, "run", 0700);
    assert_mode(store, "domains/d", 0700);
    assert_mode(store, "domains/d/snapshots", 0700);
    assert_mode(store, "domains/d/lock", 0600);
    assert_mode(store, "domains/d/domain.xml", 0600);
    assert_mode(store, "domains/d/current", 0600);
    assert_mode(store, "domains/d/snapshots/s1.xml", 0600);
    /* No temporary file is left behind by any of the writes. */
    assert_listing(store, "domains/d", "current domain.xml lock snapshots");
    assert_listing(store, "domains/d/snapshots", "s1.xml");

    g_autofree char *cur_path = path_in(store, "domains/d/current");
    g_autofree char *cur = read_raw(cur_path);
    g_assert_cmpstr(cur, ==, "s1\n");
    g_autofree char *xml_path = path_in(store, "domains/d/domain.xml");
    g_autofree char *xml = read_raw(xml_path);
    g_assert_cmpstr(xml, ==, DOMAIN_XML);
}

static void test_relative_root_made_absolute(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autofree char *old_cwd = g_get_current_dir();
    g_assert_cmpint(chdir(tmp), ==, 0);
    vmsnap_error *err = NULL;
    g_autoptr(vms_store) store = vms_store_open("./rel/state", &err);
    g_assert_cmpint(chdir(old_cwd), ==, 0);
    vms_test_assert_no_error(err);
    g_autofree char *expected = g_build_filename(tmp, "rel", "state", NULL);
    g_assert_cmpstr(vms_store_root(store), ==, expected);
}

static void test_root_refused(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    vmsnap_error *err = NULL;

    g_autofree char *loose = g_build_filename(tmp, "loose", NULL);
    g_assert_cmpint(g_mkdir(loose, 0700), ==, 0);
    g_assert_cmpint(chmod(loose, 0755), ==, 0);
    g_assert_null(vms_store_open(loose, &err));
    g_autofree char *msg = g_strdup_printf(
        "state directory '%s' has mode 0755, but it may hold guest memory and must be private: "
        "run 'chmod 700 %s' or use another directory",
        loose, loose);
    assert_error_message(err, VMSNAP_ERR_OPERATION_DENIED, msg);
    /* Refused, not changed. */
    g_assert_cmpuint(mode_of(loose), ==, 0755);

    g_autofree char *link = g_build_filename(tmp, "link", NULL);
    g_assert_cmpint(symlink(tmp, link), ==, 0);
    err = NULL;
    g_assert_null(vms_store_open(link, &err));
    g_autofree char *msg2 = g_strdup_printf(
        "state directory '%s' is a symbolic link; give the directory it points to", link);
    assert_error_message(err, VMSNAP_ERR_INVALID_ARG, msg2);

    g_autofree char *file = g_build_filename(tmp, "file", NULL);
    g_assert_true(g_file_set_contents(file, "x", -1, NULL));
    err = NULL;
    g_assert_null(vms_store_open(file, &err));
    g_autofree char *msg3 = g_strdup_printf(
        "state directory '%s' exists but is not a directory; choose another path", file);
    assert_error_message(err, VMSNAP_ERR_INVALID_ARG, msg3);
}

/* --- atomic writes and symlinks ----------------------------------------- */

static void test_atomic_overwrite(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    vmsnap_error *err = NULL;
    g_assert_true(vms_store_write_domain_xml(store, "d", "<domain>new</domain>", &err));
    g_autofree char *xml = vms_store_read_domain_xml(store, "d", &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(xml, ==, "<domain>new</domain>");
    assert_listing(store, "domains/d", "domain.xml lock snapshots");
}

static void test_symlinked_file_not_followed(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    g_autofree char *outside = vms_test_make_tmpdir();
    g_autofree char *victim = g_build_filename(outside, "victim", NULL);
    g_assert_true(g_file_set_contents(victim, "precious", -1, NULL));
    g_autofree char *xml_path = path_in(store, "domains/d/domain.xml");
    g_assert_cmpint(g_unlink(xml_path), ==, 0);
    g_assert_cmpint(symlink(victim, xml_path), ==, 0);

    vmsnap_error *err = NULL;
    g_assert_null(vms_store_read_domain_xml(store, "d", &err));
    g_autofree char *msg = g_strdup_printf("'%s' is a symbolic link; vmsnap never follows links "
                                           "inside its state directory: remove the link",
                                           xml_path);
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);

    /* A write replaces the link itself and never writes through it. */
    err = NULL;
    g_assert_true(vms_store_write_domain_xml(store, "d", DOMAIN_XML, &err));
    vms_test_assert_no_error(err);
    g_autofree char *kept = read_raw(victim);
    g_assert_cmpstr(kept, ==, "precious");
    struct stat st;
    g_assert_cmpint(lstat(xml_path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
}

static void test_symlinked_domain_dir_refused(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    /* domains/evil -> a directory outside, as if someone pointed it at /etc. */
    g_autofree char *outside = vms_test_make_tmpdir();
    g_autofree char *target = g_build_filename(outside, "domain.xml", NULL);
    g_assert_true(g_file_set_contents(target, "victim", -1, NULL));
    g_autofree char *evil = path_in(store, "domains/evil");
    g_assert_cmpint(symlink(outside, evil), ==, 0);
    g_autofree char *msg = g_strdup_printf("'%s' is a symbolic link; vmsnap never follows links "
                                           "inside its state directory: remove the link",
                                           evil);

    vmsnap_error *err = NULL;
    g_assert_null(vms_store_lock_domain(store, "evil", true, true, &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    err = NULL;
    g_assert_null(vms_store_lock_domain(store, "evil", false, false, &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    err = NULL;
    g_assert_false(vms_store_write_domain_xml(store, "evil", "<domain/>", &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    err = NULL;
    g_assert_false(vms_store_write_snapshot_xml(store, "evil", "s", "<x/>", &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    err = NULL;
    g_assert_false(vms_store_write_current(store, "evil", "s", &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    err = NULL;
    g_assert_null(vms_store_read_domain_xml(store, "evil", &err));
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);

    g_assert_false(vms_store_domain_exists(store, "evil"));
    g_autofree char *domains = strv_join(vms_store_list_domains(store, NULL));
    g_assert_cmpstr(domains, ==, "");
    /* The target is untouched and nothing was added next to it. */
    g_autofree char *kept = read_raw(target);
    g_assert_cmpstr(kept, ==, "victim");
    g_autofree char *listed = listing(outside);
    g_assert_cmpstr(listed, ==, "domain.xml");
}

static void test_symlinked_snapshots_dir_refused(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    g_autofree char *outside = vms_test_make_tmpdir();
    g_autofree char *snaps = path_in(store, "domains/d/snapshots");
    g_assert_cmpint(g_rmdir(snaps), ==, 0);
    g_assert_cmpint(symlink(outside, snaps), ==, 0);
    vmsnap_error *err = NULL;
    g_assert_false(vms_store_write_snapshot_xml(store, "d", "s", "<x/>", &err));
    g_autofree char *msg = g_strdup_printf("'%s' is a symbolic link; vmsnap never follows links "
                                           "inside its state directory: remove the link",
                                           snaps);
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
    g_autofree char *listed = listing(outside);
    g_assert_cmpstr(listed, ==, "");
}

static void test_names_refused(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    vmsnap_error *err = NULL;

    g_assert_null(vms_store_lock_domain(store, "../x", true, true, &err));
    assert_error_message(err, VMSNAP_ERR_INVALID_NAME,
                         "domain name '../x' starts with '.'; names may not start with a dot");
    err = NULL;
    g_assert_false(vms_store_write_domain_xml(store, "a/../../x", "<d/>", &err));
    assert_error_message(err, VMSNAP_ERR_INVALID_NAME,
                         "domain name 'a/../../x' contains '/'; names may not contain slashes");
    err = NULL;
    g_assert_false(vms_store_write_snapshot_xml(store, "d", "../../../x", "<x/>", &err));
    assert_error_message(err, VMSNAP_ERR_INVALID_NAME,
                         "snapshot name '../../../x' starts with '.'; names may not start with "
                         "a dot");
    err = NULL;
    g_assert_false(vms_store_write_current(store, "d", "../x", &err));
    assert_error_message(err, VMSNAP_ERR_INVALID_NAME,
                         "snapshot name '../x' starts with '.'; names may not start with a dot");
    err = NULL;
    g_assert_false(vms_store_rename_snapshot(store, "d", "s", "../x", &err));
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_NAME);
    g_assert_null(vms_store_read_snapshot_xml(store, "d", "../domain", &err));
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_NAME);

    /* Nothing appeared anywhere. */
    assert_listing(store, ".", "domains run");
    assert_listing(store, "domains", "d");
    assert_listing(store, "domains/d", "domain.xml lock snapshots");
    assert_listing(store, "domains/d/snapshots", "");
    g_autofree char *parent = g_path_get_dirname(root);
    g_autofree char *beside = listing(parent);
    g_assert_cmpstr(beside, ==, "state");
}

/* --- locks between processes -------------------------------------------- */

static void test_lock_exclusive_excludes(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    int locked[2], go[2];
    g_assert_cmpint(pipe(locked), ==, 0);
    g_assert_cmpint(pipe(go), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", true, false, NULL);
        send_byte(locked[1], lock ? 'L' : 'E');
        recv_byte(go[0]);
        child_exit(0, root, store, lock, NULL);
    }
    g_assert_cmpint(recv_byte(locked[0]), ==, 'L');

    int fd = open_lock_file(store, "d");
    g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, -1);
    g_assert_cmpint(errno, ==, EWOULDBLOCK);
    g_assert_cmpint(flock(fd, LOCK_SH | LOCK_NB), ==, -1);
    g_assert_cmpint(errno, ==, EWOULDBLOCK);
    vmsnap_error *err = NULL;
    g_assert_false(vms_lock_fd(fd, false, false, "the lock", &err));
    assert_error_message(err, VMSNAP_ERR_BUSY,
                         "'the lock' is locked by another vmsnap command; wait for it to finish");

    send_byte(go[1], 'G');
    g_assert_cmpint(wait_child(pid), ==, 0);
    /* The child's exit released it. */
    g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, 0);
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(locked[i]);
        close(go[i]);
    }
}

static void test_lock_shared_shares(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    int locked[2], go[2];
    g_assert_cmpint(pipe(locked), ==, 0);
    g_assert_cmpint(pipe(go), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", false, false, NULL);
        send_byte(locked[1], lock ? 'L' : 'E');
        recv_byte(go[0]);
        child_exit(0, root, store, lock, NULL);
    }
    g_assert_cmpint(recv_byte(locked[0]), ==, 'L');
    int fd = open_lock_file(store, "d");
    g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, -1);
    g_assert_cmpint(flock(fd, LOCK_SH | LOCK_NB), ==, 0);
    send_byte(go[1], 'G');
    g_assert_cmpint(wait_child(pid), ==, 0);
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(locked[i]);
        close(go[i]);
    }
}

/* The waiter gets the lock only after the holder let go: the holder writes
 * a marker before releasing, and the waiter must find it once it holds the
 * lock. The parent locks after the fork: a forked child shares the parent's
 * open lock file, and with it the lock. */
static void test_lock_blocking_order(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autofree char *marker = g_build_filename(tmp, "marker", NULL);

    int held[2], waiting[2];
    g_assert_cmpint(pipe(held), ==, 0);
    g_assert_cmpint(pipe(waiting), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        recv_byte(held[0]);
        send_byte(waiting[1], 'W');
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", true, false, NULL);
        char *text = NULL;
        gboolean ok =
            lock && g_file_get_contents(marker, &text, NULL, NULL) && strcmp(text, "released") == 0;
        child_exit(ok ? 0 : 1, root, store, lock, tmp, marker, text, NULL);
    }
    vmsnap_error *err = NULL;
    vms_domain_lock *lock = vms_store_lock_domain(store, "d", true, false, &err);
    vms_test_assert_no_error(err);
    send_byte(held[1], 'H');
    g_assert_cmpint(recv_byte(waiting[0]), ==, 'W');
    g_assert_true(g_file_set_contents(marker, "released", -1, NULL));
    vms_domain_lock_release(lock);
    int status = wait_child(pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    for (int i = 0; i < 2; i++) {
        close(held[i]);
        close(waiting[i]);
    }
}

static void test_lock_released_when_holder_killed(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    int locked[2], never[2];
    g_assert_cmpint(pipe(locked), ==, 0);
    g_assert_cmpint(pipe(never), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", true, false, NULL);
        send_byte(locked[1], lock ? 'L' : 'E');
        recv_byte(never[0]); /* blocks until killed */
        child_exit(0, root, store, lock, NULL);
    }
    g_assert_cmpint(recv_byte(locked[0]), ==, 'L');
    int fd = open_lock_file(store, "d");
    g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, -1);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    int status = wait_child(pid);
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, 0);
    close(fd);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, "d", true, false, &err);
    g_assert_nonnull(lock);
    vms_test_assert_no_error(err);
    g_assert_nonnull(lock);
    for (int i = 0; i < 2; i++) {
        close(locked[i]);
        close(never[i]);
    }
}

/* A waiter for a domain that is undefined meanwhile must not end up
 * holding the lock of a deleted file. */
static void test_lock_undefine_race(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    int a_locked[2], a_go[2], b_waiting[2];
    g_assert_cmpint(pipe(a_locked), ==, 0);
    g_assert_cmpint(pipe(a_go), ==, 0);
    g_assert_cmpint(pipe(b_waiting), ==, 0);

    pid_t a = fork();
    g_assert_cmpint(a, >=, 0);
    if (a == 0) { /* the undefiner */
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", true, false, NULL);
        send_byte(a_locked[1], lock ? 'L' : 'E');
        recv_byte(a_go[0]);
        bool ok = vms_store_remove_domain(store, "d", NULL);
        vms_domain_lock_release(lock);
        child_exit(ok ? 0 : 1, root, store, NULL);
    }
    g_assert_cmpint(recv_byte(a_locked[0]), ==, 'L');

    pid_t b = fork();
    g_assert_cmpint(b, >=, 0);
    if (b == 0) { /* a reader waiting for the lock */
        send_byte(b_waiting[1], 'W');
        vmsnap_error *err = NULL;
        vms_domain_lock *lock = vms_store_lock_domain(store, "d", false, false, &err);
        bool ok = !lock && vmsnap_error_get_code(err) == VMSNAP_ERR_NO_DOMAIN &&
                  strcmp(vmsnap_error_get_message(err), "domain 'd' does not exist") == 0;
        child_exit(ok ? 0 : 1, root, store, err, NULL);
    }
    g_assert_cmpint(recv_byte(b_waiting[0]), ==, 'W');
    send_byte(a_go[1], 'G');
    int sa = wait_child(a), sb = wait_child(b);
    g_assert_true(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    g_assert_true(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    assert_listing(store, "domains", "");

    /* A define after the undefine gets a fresh lock file at the path. */
    define_domain(store, "d");
    assert_listing(store, "domains/d", "domain.xml lock snapshots");
    int pipes[] = {a_locked[0], a_locked[1], a_go[0], a_go[1], b_waiting[0], b_waiting[1]};
    for (size_t i = 0; i < G_N_ELEMENTS(pipes); i++)
        close(pipes[i]);
}

/* --- crash debris ------------------------------------------------------- */

static void test_tmp_files_cleaned(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    write_snapshot(store, "d", "s1");
    /* What writers killed between create and rename leave behind: every
     * temporary is made in the domain directory, snapshots' included. */
    write_raw(store, "domains/d/.tmp-Ab12Cd", "<domain>half");
    write_raw(store, "domains/d/snapshots/.other.xml", "not a snapshot");

    vmsnap_error *err = NULL;
    {
        /* A reader leaves them: it may not change anything. */
        g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, "d", false, false, &err);
        g_assert_nonnull(lock);
        vms_test_assert_no_error(err);
        assert_listing(store, "domains/d", ".tmp-Ab12Cd domain.xml lock snapshots");
    }
    g_autofree char *snaps = strv_join(vms_store_list_snapshots(store, "d", &err));
    g_assert_cmpstr(snaps, ==, "s1");
    {
        g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, "d", true, false, &err);
        g_assert_nonnull(lock);
        vms_test_assert_no_error(err);
    }
    assert_listing(store, "domains/d", "domain.xml lock snapshots");
    assert_listing(store, "domains/d/snapshots", ".other.xml s1.xml");
}

static void test_dead_domain_cleared_on_define(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    write_snapshot(store, "d", "old");
    vmsnap_error *err = NULL;
    g_assert_true(vms_store_write_current(store, "d", "old", &err));
    /* An undefine killed right after removing domain.xml. */
    g_autofree char *xml = path_in(store, "domains/d/domain.xml");
    g_assert_cmpint(g_unlink(xml), ==, 0);
    g_assert_false(vms_store_domain_exists(store, "d"));
    g_autofree char *domains = strv_join(vms_store_list_domains(store, &err));
    g_assert_cmpstr(domains, ==, "");

    /* A new define of the name does not inherit the old snapshots. */
    define_domain(store, "d");
    assert_listing(store, "domains/d", "domain.xml lock snapshots");
    assert_listing(store, "domains/d/snapshots", "");
}

static void test_oversized_file_refused(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    g_autofree char *big = path_in(store, "domains/d/snapshots/big.xml");
    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)VMS_STORE_FILE_MAX_BYTES + 1), ==, 0);
    close(fd);
    vmsnap_error *err = NULL;
    g_assert_null(vms_store_read_snapshot_xml(store, "d", "big", &err));
    g_autofree char *msg = g_strdup_printf(
        "'%s' is 16777217 bytes; the limit is 16777216 bytes (is it really vmsnap's file?)", big);
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);

    /* Exactly at the limit is fine. */
    g_autofree char *text = g_strnfill(VMS_STORE_FILE_MAX_BYTES, 'x');
    write_snapshot(store, "d", "edge");
    err = NULL;
    g_assert_true(vms_store_write_snapshot_xml(store, "d", "edge", text, &err));
    g_autofree char *back = vms_store_read_snapshot_xml(store, "d", "edge", &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(strlen(back), ==, VMS_STORE_FILE_MAX_BYTES);
}

static void test_nul_byte_refused(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    g_autofree char *path = path_in(store, "domains/d/snapshots/nul.xml");
    g_assert_true(g_file_set_contents(path, "<a>\0</a>", 8, NULL));
    vmsnap_error *err = NULL;
    g_assert_null(vms_store_read_snapshot_xml(store, "d", "nul", &err));
    g_autofree char *msg = g_strdup_printf(
        "'%s' contains a NUL byte, so it is not a text file vmsnap wrote; remove or repair it",
        path);
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);
}

/* --- files -------------------------------------------------------------- */

static void test_current(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    vmsnap_error *err = NULL;
    g_assert_null(vms_store_read_current(store, "d", &err));
    g_assert_null(err);

    g_assert_true(vms_store_write_current(store, "d", "s 1", &err));
    g_autofree char *cur = vms_store_read_current(store, "d", &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(cur, ==, "s 1");

    g_assert_true(vms_store_write_current(store, "d", NULL, &err));
    g_assert_false(exists_in(store, "domains/d/current"));
    g_assert_null(vms_store_read_current(store, "d", &err));
    g_assert_null(err);
    /* Clearing twice is fine (idempotent step). */
    g_assert_true(vms_store_write_current(store, "d", NULL, &err));
    vms_test_assert_no_error(err);

    write_raw(store, "domains/d/current", "../x\n");
    g_assert_null(vms_store_read_current(store, "d", &err));
    g_autofree char *path = path_in(store, "domains/d/current");
    g_autofree char *msg = g_strdup_printf(
        "'%s' does not hold a snapshot name (snapshot name '../x' starts with '.'; names may not "
        "start with a dot); set the current snapshot again or remove the file",
        path);
    assert_error_message(err, VMSNAP_ERR_CORRUPT, msg);

    err = NULL;
    g_assert_null(vms_store_read_current(store, "nope", &err));
    assert_error_message(err, VMSNAP_ERR_NO_DOMAIN, "domain 'nope' does not exist");
}

static void test_snapshot_files(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    write_snapshot(store, "d", "a");
    write_snapshot(store, "d", "b");
    vmsnap_error *err = NULL;
    g_assert_true(vms_store_snapshot_exists(store, "d", "a"));
    g_assert_false(vms_store_snapshot_exists(store, "d", "zz"));
    g_autofree char *a = vms_store_read_snapshot_xml(store, "d", "a", &err);
    g_assert_cmpstr(a, ==, "<domainsnapshot><name>a</name></domainsnapshot>\n");

    g_assert_null(vms_store_read_snapshot_xml(store, "d", "nope", &err));
    assert_error_message(err, VMSNAP_ERR_NO_SNAPSHOT, "domain 'd' has no snapshot named 'nope'");
    err = NULL;
    g_assert_null(vms_store_read_snapshot_xml(store, "nodom", "a", &err));
    assert_error_message(err, VMSNAP_ERR_NO_DOMAIN, "domain 'nodom' does not exist");

    err = NULL;
    g_assert_true(vms_store_rename_snapshot(store, "d", "a", "c", &err));
    vms_test_assert_no_error(err);
    assert_listing(store, "domains/d/snapshots", "b.xml c.xml");
    g_assert_false(vms_store_rename_snapshot(store, "d", "c", "b", &err));
    assert_error_message(err, VMSNAP_ERR_SNAPSHOT_EXISTS,
                         "domain 'd' already has a snapshot named 'b'; choose another name");
    err = NULL;
    g_assert_false(vms_store_rename_snapshot(store, "d", "a", "x", &err));
    assert_error_message(err, VMSNAP_ERR_NO_SNAPSHOT, "domain 'd' has no snapshot named 'a'");
    assert_listing(store, "domains/d/snapshots", "b.xml c.xml");

    err = NULL;
    g_assert_true(vms_store_remove_snapshot(store, "d", "b", &err));
    g_assert_true(vms_store_remove_snapshot(store, "d", "b", &err));
    vms_test_assert_no_error(err);
    assert_listing(store, "domains/d/snapshots", "c.xml");
}

static void test_lists(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "web");
    define_domain(store, "db");
    define_domain(store, "app");
    vmsnap_error *err = NULL;
    /* A directory without domain.xml (a define that did not finish) and
     * dot-entries are not domains. */
    vms_domain_lock *half = vms_store_lock_domain(store, "half", true, true, &err);
    vms_domain_lock_release(half);
    g_autofree char *dot = path_in(store, "domains/.tmp-x");
    g_assert_cmpint(g_mkdir(dot, 0700), ==, 0);
    g_autofree char *doms = strv_join(vms_store_list_domains(store, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpstr(doms, ==, "app db web");
    g_assert_true(vms_store_domain_exists(store, "db"));
    g_assert_false(vms_store_domain_exists(store, "half"));
    g_assert_false(vms_store_domain_exists(store, "../web"));

    g_autofree char *none = strv_join(vms_store_list_snapshots(store, "web", &err));
    g_assert_cmpstr(none, ==, "");
    write_snapshot(store, "web", "one");
    write_snapshot(store, "web", "two");
    write_raw(store, "domains/web/snapshots/.tmp-abcdef", "x");
    write_raw(store, "domains/web/snapshots/notes.txt", "x");
    char **snaps = vms_store_list_snapshots(store, "web", &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(snaps), ==, 2);
    g_assert_true(g_strv_contains((const char *const *)snaps, "one"));
    g_assert_true(g_strv_contains((const char *const *)snaps, "two"));
    g_strfreev(snaps);

    /* A domain whose snapshots/ is missing simply has none. */
    g_autofree char *snapdir = path_in(store, "domains/db/snapshots");
    g_assert_cmpint(g_rmdir(snapdir), ==, 0);
    g_autofree char *empty = strv_join(vms_store_list_snapshots(store, "db", &err));
    vms_test_assert_no_error(err);
    g_assert_cmpstr(empty, ==, "");
    g_assert_null(vms_store_list_snapshots(store, "nodom", &err));
    assert_error_message(err, VMSNAP_ERR_NO_DOMAIN, "domain 'nodom' does not exist");
}

static void test_remove_domain(void)
{
    g_autofree char *root = make_root();
    g_autoptr(vms_store) store = open_store(root);
    define_domain(store, "d");
    define_domain(store, "keep");
    write_snapshot(store, "d", "a");
    write_snapshot(store, "d", "b");
    vmsnap_error *err = NULL;
    g_assert_true(vms_store_write_current(store, "d", "b", &err));
    g_autofree char *mem = path_in(store, "domains/d/memory");
    g_assert_cmpint(g_mkdir(mem, 0700), ==, 0);
    write_raw(store, "domains/d/memory/a.vmstate", "RAM");

    {
        g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, "d", true, false, &err);
        g_assert_nonnull(lock);
        g_assert_false(vms_store_remove_domain(store, "d", &err));
        g_autofree char *msg = g_strdup_printf("'%s' still holds memory files (for example "
                                               "'a.vmstate'); delete the snapshots that own "
                                               "them first",
                                               mem);
        assert_error_message(err, VMSNAP_ERR_OPERATION_DENIED, msg);
        err = NULL;
        /* Refused before anything was removed. */
        assert_listing(store, "domains/d", "current domain.xml lock memory snapshots");
    }
    g_autofree char *vmstate = path_in(store, "domains/d/memory/a.vmstate");
    g_assert_cmpint(g_unlink(vmstate), ==, 0);
    {
        g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, "d", true, false, &err);
        g_assert_nonnull(lock);
        g_assert_true(vms_store_remove_domain(store, "d", &err));
        vms_test_assert_no_error(err);
    }
    assert_listing(store, "domains", "keep");
    g_assert_false(vms_store_domain_exists(store, "d"));
    g_assert_null(vms_store_read_domain_xml(store, "d", &err));
    assert_error_message(err, VMSNAP_ERR_NO_DOMAIN, "domain 'd' does not exist");
    err = NULL;
    g_assert_null(vms_store_lock_domain(store, "d", false, false, &err));
    assert_error_message(err, VMSNAP_ERR_NO_DOMAIN, "domain 'd' does not exist");
}

static void test_default_root(void)
{
    g_autofree char *saved = g_strdup(g_getenv("VMSNAP_DIR"));
    g_setenv("VMSNAP_DIR", "/some/where", TRUE);
    g_autofree char *env_root = vms_store_default_root();
    g_assert_cmpstr(env_root, ==, "/some/where");
    g_unsetenv("VMSNAP_DIR");
    g_autofree char *root = vms_store_default_root();
    if (geteuid() == 0)
        g_assert_cmpstr(root, ==, "/var/lib/vmsnap");
    else {
        g_autofree char *expected = g_build_filename(g_get_user_data_dir(), "vmsnap", NULL);
        g_assert_cmpstr(root, ==, expected);
    }
    if (saved)
        g_setenv("VMSNAP_DIR", saved, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/store/layout-and-modes", test_layout_and_modes);
    g_test_add_func("/store/relative-root", test_relative_root_made_absolute);
    g_test_add_func("/store/root-refused", test_root_refused);
    g_test_add_func("/store/atomic-overwrite", test_atomic_overwrite);
    g_test_add_func("/store/symlinked-file-not-followed", test_symlinked_file_not_followed);
    g_test_add_func("/store/symlinked-domain-dir-refused", test_symlinked_domain_dir_refused);
    g_test_add_func("/store/symlinked-snapshots-dir-refused", test_symlinked_snapshots_dir_refused);
    g_test_add_func("/store/names-refused", test_names_refused);
    g_test_add_func("/store/lock/exclusive-excludes", test_lock_exclusive_excludes);
    g_test_add_func("/store/lock/shared-shares", test_lock_shared_shares);
    g_test_add_func("/store/lock/blocking-order", test_lock_blocking_order);
    g_test_add_func("/store/lock/released-when-killed", test_lock_released_when_holder_killed);
    g_test_add_func("/store/lock/undefine-race", test_lock_undefine_race);
    g_test_add_func("/store/tmp-files-cleaned", test_tmp_files_cleaned);
    g_test_add_func("/store/dead-domain-cleared", test_dead_domain_cleared_on_define);
    g_test_add_func("/store/oversized-file-refused", test_oversized_file_refused);
    g_test_add_func("/store/nul-byte-refused", test_nul_byte_refused);
    g_test_add_func("/store/current", test_current);
    g_test_add_func("/store/snapshot-files", test_snapshot_files);
    g_test_add_func("/store/lists", test_lists);
    g_test_add_func("/store/remove-domain", test_remove_domain);
    g_test_add_func("/store/default-root", test_default_root);
    return g_test_run();
}
