/*
 * test_memstate.c: memory-state files (src/memstate/): round trips for each
 * compression and size that matters, through files and through pipes as
 * QEMU would write and read them, bounded buffers, and every kind of damage
 * with the exact error a user sees.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memstate/memstate.h"
#include "memstate/memstate_internal.h"

#define FRAME        VMS_MEMSTATE_FRAME_MAX
#define UUID         "0b4f1d7e-52a1-4c0a-9f6e-1d2c3b4a5f60"
#define DAMAGED_HINT "delete this snapshot or restore the file from a backup"

static const vms_memstate_compression all_compressions[] = {
    VMS_MEMSTATE_COMPRESS_NONE, VMS_MEMSTATE_COMPRESS_GZIP, VMS_MEMSTATE_COMPRESS_ZSTD};

/* Data resembling guest RAM: zero pages, random pages, text pages. With
 * @random_only every byte is random (incompressible). */
static uint8_t *make_data(size_t len, gboolean random_only, guint32 seed)
{
    uint8_t *p = g_malloc(len ? len : 1);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    static const char text[] = "the quick brown fox jumps over the lazy vmsnap guest; ";
    for (size_t page = 0; page < len; page += 4096) {
        size_t n = MIN(4096, len - page);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64: cheap under valgrind */
        unsigned int kind = random_only ? 1 : (unsigned int)(x >> 60) % 4;
        for (size_t i = 0; i < n; i++) {
            if (kind == 1 || kind == 2) {
                if (i % 8 == 0)
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                p[page + i] = (uint8_t)(x >> (8 * (i % 8)));
            } else {
                p[page + i] = kind == 0 ? 0 : (uint8_t)text[i % (sizeof(text) - 1)];
            }
        }
    }
    return p;
}

static int new_memfile(void)
{
    int fd = memfd_create("memstate-test", MFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fchmod(fd, 0600), ==, 0);
    return fd;
}

static vms_memstate_info make_info(vms_memstate_compression c, const char *name, uint64_t hint)
{
    vms_memstate_info info = {.compression = c, .size_hint = hint, .created = 1700000000};
    g_strlcpy(info.domain_uuid, UUID, sizeof(info.domain_uuid));
    g_strlcpy(info.snapshot_name, name, sizeof(info.snapshot_name));
    g_strlcpy(info.qemu_version, "7.2.19", sizeof(info.qemu_version));
    return info;
}

/* Write @data into a new memory file in pieces of @piece bytes. */
static int write_file(vms_memstate_compression c, const uint8_t *data, size_t len, size_t piece)
{
    int fd = new_memfile();
    vms_memstate_info info = make_info(c, "snap1", len);
    vmsnap_error *err = NULL;
    g_autoptr(vms_memstate_writer) w = vms_memstate_writer_new(fd, &info, &err);
    vms_test_assert_no_error(err);
    for (size_t off = 0; off < len; off += piece) {
        g_assert_true(vms_memstate_writer_write(w, data + off, MIN(piece, len - off), &err));
        vms_test_assert_no_error(err);
    }
    char sum[33];
    g_assert_false(vms_memstate_writer_checksum(w, sum));
    g_assert_true(vms_memstate_writer_finish(w, &err));
    vms_test_assert_no_error(err);
    g_assert_true(vms_memstate_writer_checksum(w, sum));
    vms_memstate_trailer t;
    g_assert_true(vms_memstate_read_trailer(fd, NULL, &t, &err));
    vms_test_assert_no_error(err);
    g_autofree char *hex = vms_memstate_hash_hex(t.payload_xxh128);
    g_assert_cmpstr(sum, ==, hex);
    g_assert_cmpuint(t.uncompressed_len, ==, len);
    g_assert_cmpuint(vms_memstate_writer_peak_buffered(w), <=, FRAME);
    g_assert_cmpuint(vms_memstate_writer_bytes_in(w), ==, len);
    g_assert_cmpuint(vms_memstate_writer_bytes_out(w), ==, (uint64_t)lseek(fd, 0, SEEK_END));
    return fd;
}

/* Restore @fd into another memfd and return its bytes. */
static uint8_t *restore_file(int fd, const vms_memstate_info *expected, size_t *len,
                             vmsnap_error **err)
{
    int out = new_memfile();
    if (!vms_memstate_restore_to_fd(fd, out, expected, NULL, err)) {
        close(out);
        return NULL;
    }
    off_t size = lseek(out, 0, SEEK_END);
    uint8_t *buf = g_malloc(size ? (size_t)size : 1);
    g_assert_true(vms_memstate_pread_all(out, buf, (size_t)size, 0, NULL) || size == 0);
    close(out);
    *len = (size_t)size;
    return buf;
}

static void round_trip(vms_memstate_compression c, size_t len, gboolean random_only)
{
    g_autofree uint8_t *data = make_data(len, random_only, (guint32)len);
    int fd = write_file(c, data, len, 7777);
    vmsnap_error *err = NULL;

    vms_memstate_info got;
    g_assert_true(vms_memstate_read_header(fd, &got, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpstr(got.domain_uuid, ==, UUID);
    g_assert_cmpstr(got.snapshot_name, ==, "snap1");
    g_assert_cmpint(got.compression, ==, c);
    g_assert_cmpuint(got.size_hint, ==, len);
    g_assert_cmpint(got.created, ==, 1700000000);
    g_assert_cmpstr(got.qemu_version, ==, "7.2.19");

    g_assert_true(vms_memstate_verify(fd, NULL, &err));
    vms_test_assert_no_error(err);

    size_t out_len = 0;
    vms_memstate_info expected = make_info(c, "snap1", 0);
    g_autofree uint8_t *out = restore_file(fd, &expected, &out_len, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpmem(out, out_len, data, len);
    close(fd);
}

static void test_round_trip(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    const size_t sizes[] = {0, 1, 4095, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME + 17};
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_test_message("size %zu", sizes[i]);
        round_trip(c, sizes[i], TRUE);
        round_trip(c, sizes[i], FALSE);
    }
}

/* A compressed file of memory-like data is smaller; random data grows a
 * little at most (one frame length per MiB, plus the compressor's own). */
/* Switching to the fast level and back mid-stream (what the pump does when
 * it falls behind QEMU) still gives one stream that restores byte for byte,
 * and what went at the fast level is counted. */
static void test_fast_level_switches(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    const size_t len = 6 * FRAME + 12345, piece = FRAME / 2 + 3;
    g_autofree uint8_t *data = make_data(len, FALSE, 99);
    int fd = new_memfile();
    vms_memstate_info info = make_info(c, "snap1", len);
    vmsnap_error *err = NULL;
    g_autoptr(vms_memstate_writer) w = vms_memstate_writer_new(fd, &info, &err);
    vms_test_assert_no_error(err);
    uint64_t expect_fast = 0;
    bool fast = false;
    for (size_t off = 0, i = 0; off < len; off += piece, i++) {
        if (i % 3 == 1) { /* every third piece flips the level */
            fast = !fast;
            g_assert_true(vms_memstate_writer_set_fast(w, fast, &err));
            vms_test_assert_no_error(err);
        }
        size_t n = MIN(piece, len - off);
        if (fast)
            expect_fast += n;
        g_assert_true(vms_memstate_writer_write(w, data + off, n, &err));
        vms_test_assert_no_error(err);
    }
    g_assert_true(vms_memstate_writer_finish(w, &err));
    vms_test_assert_no_error(err);
    /* Uncompressed files have no levels; zstd without worker threads keeps
     * its level (libzstd here has them). */
    g_assert_cmpuint(vms_memstate_writer_fast_bytes(w), ==,
                     c == VMS_MEMSTATE_COMPRESS_NONE ? 0 : expect_fast);
    g_assert_true(vms_memstate_verify(fd, NULL, &err));
    vms_test_assert_no_error(err);
    size_t out_len = 0;
    g_autofree uint8_t *out = restore_file(fd, NULL, &out_len, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpmem(out, out_len, data, len);
    close(fd);
}

static void test_sizes(void)
{
    size_t len = 8 * FRAME;
    g_autofree uint8_t *data = make_data(len, FALSE, 5);
    for (size_t i = 0; i < G_N_ELEMENTS(all_compressions); i++) {
        int fd = write_file(all_compressions[i], data, len, len);
        off_t size = lseek(fd, 0, SEEK_END);
        if (all_compressions[i] == VMS_MEMSTATE_COMPRESS_NONE)
            g_assert_cmpint(size, ==, (off_t)(len + 101 + 8 * 4 + 4 + 64));
        else
            g_assert_cmpint(size, <, (off_t)(len * 6 / 10));
        close(fd);
    }
}

/* --- through pipes, as QEMU writes and reads -------------------------------- */

typedef struct {
    int fd;
    const uint8_t *data;
    size_t len;
    uint8_t *got;
    size_t got_len;
} pipe_job;

static void *feed_pipe(void *opaque)
{
    pipe_job *job = opaque;
    g_assert_true(vms_memstate_write_all(job->fd, job->data, job->len, NULL));
    close(job->fd);
    return NULL;
}

static void *drain_pipe(void *opaque)
{
    pipe_job *job = opaque;
    job->got = g_malloc(job->len + 1);
    for (;;) {
        g_assert_cmpuint(job->got_len, <=, job->len);
        ssize_t n = read(job->fd, job->got + job->got_len, job->len + 1 - job->got_len);
        if (n < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(n, >=, 0);
        if (n == 0)
            break;
        job->got_len += (size_t)n;
    }
    close(job->fd);
    return NULL;
}

typedef struct {
    char what[32];
    uint64_t last_done, last_total;
    unsigned int calls;
} progress_log;

static void log_progress(const char *what, uint64_t done, uint64_t total, void *opaque)
{
    progress_log *log = opaque;
    g_strlcpy(log->what, what, sizeof(log->what));
    g_assert_cmpuint(done, >=, log->last_done);
    log->last_done = done;
    log->last_total = total;
    log->calls++;
}

static void test_pipes(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    size_t len = 64 * FRAME + 123;
    g_autofree uint8_t *data = make_data(len, FALSE, 64);
    int qemu_out[2], qemu_in[2];
    g_assert_cmpint(pipe(qemu_out), ==, 0);
    g_assert_cmpint(pipe(qemu_in), ==, 0);
    int file = new_memfile();
    vmsnap_error *err = NULL;

    pipe_job writer = {.fd = qemu_out[1], .data = data, .len = len};
    pthread_t thread;
    pthread_create(&thread, NULL, feed_pipe, &writer);
    vms_memstate_info info = make_info(c, "live", len);
    progress_log save_log = {0};
    vms_progress save_progress = {log_progress, &save_log};
    g_assert_true(vms_memstate_save_from_fd(qemu_out[0], file, &info, &save_progress, &err));
    vms_test_assert_no_error(err);
    pthread_join(thread, NULL);
    close(qemu_out[0]);
    g_assert_cmpstr(save_log.what, ==, "saving memory");
    g_assert_cmpuint(save_log.last_done, ==, len);
    g_assert_cmpuint(save_log.last_total, ==, len);
    g_assert_cmpuint(save_log.calls, >=, 3);

    progress_log verify_log = {0};
    vms_progress verify_progress = {log_progress, &verify_log};
    g_assert_true(vms_memstate_verify(file, &verify_progress, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpstr(verify_log.what, ==, "verifying memory");
    g_assert_cmpuint(verify_log.last_done, ==, verify_log.last_total);

    pipe_job reader = {.fd = qemu_in[0], .len = len};
    pthread_create(&thread, NULL, drain_pipe, &reader);
    progress_log load_log = {0};
    vms_progress load_progress = {log_progress, &load_log};
    g_assert_true(vms_memstate_restore_to_fd(file, qemu_in[1], &info, &load_progress, &err));
    vms_test_assert_no_error(err);
    close(qemu_in[1]);
    pthread_join(thread, NULL);
    g_assert_cmpmem(reader.got, reader.got_len, data, len);
    g_assert_cmpstr(load_log.what, ==, "loading memory");
    g_assert_cmpuint(load_log.last_done, ==, len);
    g_free(reader.got);
    close(file);
}

/* The writer holds one frame at most, and its whole memory (zstd's workers
 * included) stays far below the size of what it wrote. */
static void test_bounded_memory(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    size_t piece = 4 * FRAME;
    g_autofree uint8_t *data = make_data(piece, TRUE, 9);
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    vms_memstate_info info = make_info(c, "big", 0);
    vmsnap_error *err = NULL;
    g_autoptr(vms_memstate_writer) w = vms_memstate_writer_new(fd, &info, &err);
    vms_test_assert_no_error(err);
    size_t most = 0;
    for (int i = 0; i < 8; i++) {
        g_assert_true(vms_memstate_writer_write(w, data, piece, &err));
        most = MAX(most, vms_memstate_writer_memory(w));
    }
    g_assert_true(vms_memstate_writer_finish(w, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpuint(vms_memstate_writer_bytes_in(w), ==, 8 * piece);
    g_assert_cmpuint(vms_memstate_writer_peak_buffered(w), ==, FRAME);
    g_assert_cmpuint(most, <, 48 * 1024 * 1024);
    g_test_message("%s writer memory: %zu KiB", vms_memstate_compression_name(c), most / 1024);
    close(fd);
}

/* --- damage ------------------------------------------------------------------ */

/* A small valid file of @c, 2.5 frames of random data. */
static int small_file(vms_memstate_compression c, size_t *size)
{
    size_t len = 2 * FRAME + FRAME / 2;
    g_autofree uint8_t *data = make_data(len, TRUE, 3);
    int fd = write_file(c, data, len, len);
    *size = (size_t)lseek(fd, 0, SEEK_END);
    return fd;
}

static void flip_byte(int fd, uint64_t offset)
{
    uint8_t b;
    g_assert_true(vms_memstate_pread_all(fd, &b, 1, offset, NULL));
    b ^= 0x40;
    g_assert_cmpint(pwrite(fd, &b, 1, (off_t)offset), ==, 1);
}

static void put_bytes(int fd, uint64_t offset, const void *p, size_t len)
{
    g_assert_cmpint(pwrite(fd, p, len, (off_t)offset), ==, (ssize_t)len);
}

/* verify and restore both fail with exactly @message (or, with @prefix
 * set, a message starting with it and ending with the hint). */
static void assert_refused(int fd, const char *message, gboolean prefix)
{
    for (int pass = 0; pass < 2; pass++) {
        vmsnap_error *err = NULL;
        int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        bool ok = pass == 0 ? vms_memstate_verify(fd, NULL, &err)
                            : vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err);
        close(out);
        g_assert_false(ok);
        g_assert_nonnull(err);
        const char *got = vmsnap_error_get_message(err);
        if (prefix) {
            if (!g_str_has_prefix(got, message) || !g_str_has_suffix(got, DAMAGED_HINT))
                g_error("expected \"%s...\", got \"%s\"", message, got);
        } else {
            g_assert_cmpstr(got, ==, message);
        }
        vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    }
}

static void test_flipped_payload(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    size_t size;
    int fd = small_file(c, &size);
    /* header 101 bytes ("snap1"), then the first frame's length, then data */
    flip_byte(fd, 101 + 4 + 1000);
    vmsnap_error *err = NULL;
    g_assert_false(vms_memstate_verify(fd, NULL, &err));
    if (!g_str_has_prefix(vmsnap_error_get_message(err),
                          "memory file is damaged: the checksum of its stored data does not "
                          "match (xxh3-128 "))
        g_error("unexpected: %s", vmsnap_error_get_message(err));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    /* Restore notices too: in the decompressor or at the end. */
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    g_assert_false(vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err));
    g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err), "memory file is damaged: "));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    close(out);
    close(fd);
}

static void test_flipped_header(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    flip_byte(fd, 90); /* inside the name */
    assert_refused(fd,
                   "memory file header is damaged (its checksum does not match); the file "
                   "cannot be used: " DAMAGED_HINT,
                   FALSE);
    vmsnap_error *err = NULL;
    g_assert_false(vms_memstate_read_header(fd, NULL, &err));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    close(fd);

    fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    flip_byte(fd, 20); /* inside the uuid */
    assert_refused(fd,
                   "memory file header is damaged (its checksum does not match); the file "
                   "cannot be used: " DAMAGED_HINT,
                   FALSE);
    close(fd);
}

static void test_flipped_trailer(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_ZSTD, &size);
    flip_byte(fd, size - 64 + 9);
    assert_refused(fd,
                   "memory file trailer is damaged (its checksum does not match); the file "
                   "cannot be trusted: " DAMAGED_HINT,
                   FALSE);
    close(fd);
}

static void test_flipped_frame_length(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    flip_byte(fd, 101 + 2); /* 0x00100000 becomes 0x00500000 */
    assert_refused(fd,
                   "memory file is damaged: the frame at byte 101 claims 5242880 bytes, more "
                   "than the header's frame size 1048576; " DAMAGED_HINT,
                   FALSE);
    close(fd);
}

static void test_truncated(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_GZIP, &size);
    g_autofree uint8_t *orig = g_malloc(size);
    g_assert_true(vms_memstate_pread_all(fd, orig, size, 0, NULL));
    struct {
        size_t at;
        const char *message;
    } cases[] = {
        {0, "memory file is truncated: it ends after 0 bytes, inside its header (96 bytes); the "
            "save did not complete: delete this snapshot and take it again"},
        {5, "memory file is truncated: it ends after 5 bytes, inside its header (96 bytes); the "
            "save did not complete: delete this snapshot and take it again"},
        {40, "memory file is truncated: it ends after 40 bytes, inside its header (96 bytes); "
             "the save did not complete: delete this snapshot and take it again"},
        {95, "memory file is truncated: it ends after 95 bytes, inside its header (101 bytes); "
             "the save did not complete: delete this snapshot and take it again"},
        {101, "memory file is truncated: it holds 101 bytes, less than a header, an end frame "
              "and a trailer (169); the save did not complete: delete this snapshot and take it "
              "again"},
        {size / 2, "memory file is truncated or unfinished: it has no trailer (\"VMSNAPTR\") at "
                   "its end, so the save did not complete; delete this snapshot and take it "
                   "again"},
        {size - 1, "memory file is truncated or unfinished: it has no trailer (\"VMSNAPTR\") at "
                   "its end, so the save did not complete; delete this snapshot and take it "
                   "again"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_cmpint(ftruncate(fd, (off_t)cases[i].at), ==, 0);
        assert_refused(fd, cases[i].message, FALSE);
        put_bytes(fd, 0, orig, size);
    }
    /* Cut out of the middle with the trailer kept: the length gives it away. */
    g_assert_cmpint(ftruncate(fd, 0), ==, 0);
    put_bytes(fd, 0, orig, 1000);
    put_bytes(fd, 1000, orig + size - 64, 64);
    assert_refused(fd, "memory file has the wrong length: its trailer says ", TRUE);
    close(fd);
}

static void test_wrong_magic_version_flags(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    put_bytes(fd, 0, "QEVM", 4);
    assert_refused(fd,
                   "not a vmsnap memory file (no \"VMSNAPMS\" magic at its start); it may be a "
                   "raw QEMU migration stream or another file: check the path",
                   FALSE);
    put_bytes(fd, 0, "VMSN", 4);
    put_bytes(fd, 8, "\x02\x00", 2);
    assert_refused(fd,
                   "memory file format version 2 is not supported (this vmsnap reads version "
                   "1): use the vmsnap that wrote it, or a newer one",
                   FALSE);
    put_bytes(fd, 8, "\x01\x00\x04\x00", 4);
    assert_refused(fd,
                   "memory file has unknown flags 0x0004 (this vmsnap knows none): it was "
                   "written by a newer vmsnap; use that one",
                   FALSE);
    close(fd);
}

static void test_wrong_domain_and_name(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    vms_memstate_info expected = make_info(VMS_MEMSTATE_COMPRESS_NONE, "", 0);
    g_strlcpy(expected.domain_uuid, "11111111-2222-3333-4444-555555555555",
              sizeof(expected.domain_uuid));
    vmsnap_error *err = NULL;
    size_t len;
    g_assert_null(restore_file(fd, &expected, &len, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file belongs to domain " UUID ", not to this domain "
                    "(11111111-2222-3333-4444-555555555555): it was copied or linked from "
                    "another domain's snapshot; give this domain's memory file");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    expected = make_info(VMS_MEMSTATE_COMPRESS_NONE, "other", 0);
    g_assert_null(restore_file(fd, &expected, &len, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file belongs to snapshot 'snap1', not to 'other': give the memory "
                    "file of snapshot 'other'");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    /* Upper-case hex names the same domain. */
    expected = make_info(VMS_MEMSTATE_COMPRESS_NONE, "snap1", 0);
    g_autofree char *upper = g_ascii_strup(UUID, -1);
    g_strlcpy(expected.domain_uuid, upper, sizeof(expected.domain_uuid));
    g_autofree uint8_t *out = restore_file(fd, &expected, &len, &err);
    vms_test_assert_no_error(err);
    close(fd);
}

static void test_bad_info(void)
{
    int fd = new_memfile();
    vmsnap_error *err = NULL;
    vms_memstate_info info = make_info(VMS_MEMSTATE_COMPRESS_NONE, "", 0);
    memset(info.snapshot_name, 'x', sizeof(info.snapshot_name)); /* no NUL: 241+ bytes */
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "snapshot name is longer than 240 bytes");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_NAME);

    info = make_info(VMS_MEMSTATE_COMPRESS_NONE, "ok", 0);
    g_strlcpy(info.domain_uuid, "not-a-uuid", sizeof(info.domain_uuid));
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "'not-a-uuid' is not a domain UUID (expected 8-4-4-4-12 hex digits)");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);

    info = make_info(VMS_MEMSTATE_COMPRESS_NONE, "ok", 0);
    g_strlcpy(info.qemu_version, "7.2\n", sizeof(info.qemu_version));
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "QEMU version for the memory file is not printable ASCII of at most 31 "
                    "characters");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);

    info = make_info(VMS_MEMSTATE_COMPRESS_NONE, "ok", 0);
    g_assert_cmpint(fchmod(fd, 0644), ==, 0);
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "the memory file has mode 0644, so others could read the guest's memory: "
                    "create it with mode 0600");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_cmpint(fchmod(fd, 0600), ==, 0);

    info = make_info((vms_memstate_compression)7, "ok", 0);
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "unknown memory compression 7: use none, gzip or zstd");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_cmpint(lseek(fd, 0, SEEK_END), ==, 0);
    close(fd);
}

/* Lengths no writer produces, with the checksums made to match, so the
 * bounds checks behind them are what answers. */
static void test_absurd_lengths(void)
{
    uint8_t buf[VMS_MEMSTATE_HEADER_MAX];
    vms_memstate_info info = make_info(VMS_MEMSTATE_COMPRESS_NONE, "snap1", 0);
    size_t hlen = vms_memstate_header_encode(&info, FRAME, buf);
    vmsnap_error *err = NULL;

    vms_memstate_put_le16(buf + 34, 241); /* name length above the limit */
    g_assert_false(vms_memstate_parse_header(buf, hlen, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file header is damaged: header length 101 and name length 241 do not "
                    "fit (names are 1..240 bytes); the file cannot be used: delete this "
                    "snapshot or restore the file from a backup");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    hlen = vms_memstate_header_encode(&info, FRAME, buf);
    buf[56 + 10] = 'x'; /* text after the NUL padding began */
    vms_memstate_put_le64(buf + hlen - 8, XXH3_64bits(buf, hlen - 8));
    g_assert_false(vms_memstate_parse_header(buf, hlen, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file header holds an invalid QEMU version (not printable ASCII); the "
                    "file cannot be used");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    hlen = vms_memstate_header_encode(&info, 0x7fffffff, buf); /* frame size */
    g_assert_false(vms_memstate_parse_header(buf, hlen, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file header gives a frame size of 2147483647 bytes (allowed: "
                    "4096..16777216); the file cannot be used");
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    /* A trailer claiming fewer decompressed bytes than there are. */
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_ZSTD, &size);
    uint8_t tbuf[64];
    g_assert_true(vms_memstate_pread_all(fd, tbuf, 64, size - 64, NULL));
    vms_memstate_trailer t;
    g_assert_true(vms_memstate_parse_trailer(tbuf, &t, NULL));
    t.uncompressed_len = 100;
    vms_memstate_trailer_encode(&t, tbuf);
    put_bytes(fd, size - 64, tbuf, 64);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    g_assert_false(vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file is damaged: its data decompresses to more than the 100 bytes "
                    "its trailer gives; " DAMAGED_HINT);
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    /* ... and a payload length near 2^64. */
    t.payload_len = UINT64_MAX - 10;
    vms_memstate_trailer_encode(&t, tbuf);
    put_bytes(fd, size - 64, tbuf, 64);
    g_autofree char *want = g_strdup_printf(
        "memory file has the wrong length: its trailer says %llu payload bytes, the file holds "
        "%zu (it was cut or spliced); " DAMAGED_HINT,
        (unsigned long long)(UINT64_MAX - 10), size - 101 - 64);
    assert_refused(fd, want, FALSE);
    close(out);
    close(fd);
}

static void test_not_regular(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    vmsnap_error *err = NULL;
    g_assert_false(vms_memstate_verify(fds[0], NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "the memory file is not a regular file: give the path of a file vmsnap "
                    "wrote");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    close(fds[0]);
    close(fds[1]);
}

/* A save cut off before finish (vmsnap or QEMU killed) leaves a file every
 * reader refuses. */
static void test_unfinished(gconstpointer p)
{
    vms_memstate_compression c = (vms_memstate_compression)GPOINTER_TO_INT(p);
    g_autofree uint8_t *data = make_data(3 * FRAME, FALSE, 11);
    int fd = new_memfile();
    vms_memstate_info info = make_info(c, "cut", 0);
    vmsnap_error *err = NULL;
    vms_memstate_writer *w = vms_memstate_writer_new(fd, &info, &err);
    g_assert_true(vms_memstate_writer_write(w, data, 3 * FRAME, &err));
    vms_memstate_writer_free(w);
    /* zstd's workers may not have passed anything on yet: then the file
     * holds the header alone, which is truncated too. */
    for (int pass = 0; pass < 2; pass++) {
        int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        g_assert_false(pass == 0 ? vms_memstate_verify(fd, NULL, &err)
                                 : vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err));
        close(out);
        const char *msg = vmsnap_error_get_message(err);
        if (!g_str_has_prefix(msg, "memory file is truncated") ||
            !g_str_has_suffix(msg, "delete this snapshot and take it again"))
            g_error("unexpected: %s", msg);
        vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    }
    close(fd);
}

static void test_disk_full(void)
{
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    vms_memstate_info info = make_info(VMS_MEMSTATE_COMPRESS_ZSTD, "full", 0);
    vmsnap_error *err = NULL;
    g_assert_null(vms_memstate_writer_new(fd, &info, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "writing the memory file: No space left on device");
    vms_test_assert_error(err, VMSNAP_ERR_IO);
    close(fd);
}

/* Recompute the trailer's payload checksum (and its own) after an edit, as
 * only a forger would: verify then passes, restore still catches it. */
static void reseal(int fd, size_t size, size_t header_len)
{
    g_autofree uint8_t *buf = g_malloc(size);
    g_assert_true(vms_memstate_pread_all(fd, buf, size, 0, NULL));
    vms_memstate_trailer t;
    g_assert_true(vms_memstate_parse_trailer(buf + size - 64, &t, NULL));
    t.payload_len = size - header_len - 64;
    XXH128_hash_t h = XXH3_128bits(buf + header_len, t.payload_len);
    vms_memstate_put_hash128(t.payload_xxh128, &h);
    vms_memstate_trailer_encode(&t, buf + size - 64);
    put_bytes(fd, size - 64, buf + size - 64, 64);
}

static void test_resealed_payload(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    flip_byte(fd, 101 + 4 + 5000);
    reseal(fd, size, 101);
    vmsnap_error *err = NULL;
    g_assert_true(vms_memstate_verify(fd, NULL, &err));
    vms_test_assert_no_error(err);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    g_assert_false(vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err));
    const char *msg = vmsnap_error_get_message(err);
    if (!g_str_has_prefix(msg, "memory file is damaged: the checksum of its decompressed stream "
                               "does not match (xxh3-128 ") ||
        !g_str_has_suffix(msg, DAMAGED_HINT))
        g_error("unexpected: %s", msg);
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    close(out);
    close(fd);
}

/* A zstd file whose last data frame is dropped (end frame moved up, sums
 * resealed): the compressed stream ends too early. */
static void test_resealed_cut_stream(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_ZSTD, &size);
    g_autofree uint8_t *buf = g_malloc(size);
    g_assert_true(vms_memstate_pread_all(fd, buf, size, 0, NULL));
    /* Frames: 1 MiB, 1 MiB, the rest; keep the first two. */
    size_t cut = 101 + 2 * (4 + FRAME);
    g_assert_cmpuint(vms_memstate_get_le32(buf + 101), ==, FRAME);
    g_assert_cmpuint(cut + 4 + 64, <, size);
    g_assert_cmpint(ftruncate(fd, 0), ==, 0);
    put_bytes(fd, 0, buf, cut);
    put_bytes(fd, cut, "\0\0\0\0", 4);
    put_bytes(fd, cut + 4, buf + size - 64, 64);
    reseal(fd, cut + 4 + 64, 101);
    vmsnap_error *err = NULL;
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    g_assert_false(vms_memstate_restore_to_fd(fd, out, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "memory file is damaged: its compressed stream is cut short; " DAMAGED_HINT);
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
    close(out);
    close(fd);
}

/* QEMU dying while it loads: its end of the pipe closes. An error, and
 * no SIGPIPE (which would kill the test). */
static void test_reader_gone(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_ZSTD, &size);
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[0]);
    vmsnap_error *err = NULL;
    g_assert_false(vms_memstate_restore_to_fd(fd, fds[1], NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "passing the memory stream on: the reading end was closed (did QEMU exit? "
                    "see its log)");
    vms_test_assert_error(err, VMSNAP_ERR_IO);
    close(fds[1]);
    close(fd);
}

static void test_probe(void)
{
    size_t size;
    int fd = small_file(VMS_MEMSTATE_COMPRESS_NONE, &size);
    bool is_memstate = false;
    vmsnap_error *err = NULL;
    g_assert_true(vms_memstate_probe(fd, &is_memstate, &err));
    g_assert_true(is_memstate);
    put_bytes(fd, 0, "QEVM\0\0\0\3", 8); /* an older snapshot's raw QEMU stream */
    g_assert_true(vms_memstate_probe(fd, &is_memstate, &err));
    g_assert_false(is_memstate);
    g_assert_cmpint(ftruncate(fd, 3), ==, 0);
    g_assert_true(vms_memstate_probe(fd, &is_memstate, &err));
    g_assert_false(is_memstate);
    vms_test_assert_no_error(err);
    close(fd);
}

static void test_compression_names(void)
{
    vms_memstate_compression c;
    g_assert_true(vms_memstate_compression_from_name("raw", &c));
    g_assert_cmpint(c, ==, VMS_MEMSTATE_COMPRESS_NONE);
    g_assert_true(vms_memstate_compression_from_name("zstd", &c));
    g_assert_cmpint(c, ==, VMS_MEMSTATE_COMPRESS_ZSTD);
    g_assert_false(vms_memstate_compression_from_name("lzo", &c));
    g_assert_cmpstr(vms_memstate_compression_name(VMS_MEMSTATE_COMPRESS_GZIP), ==, "gzip");
}

static void add_per_compression(const char *path, GTestDataFunc fn)
{
    for (size_t i = 0; i < G_N_ELEMENTS(all_compressions); i++) {
        g_autofree char *name =
            g_strdup_printf("%s/%s", path, vms_memstate_compression_name(all_compressions[i]));
        g_test_add_data_func(name, GINT_TO_POINTER(all_compressions[i]), fn);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    add_per_compression("/memstate/round-trip", test_round_trip);
    add_per_compression("/memstate/pipes-64mib", test_pipes);
    add_per_compression("/memstate/bounded-memory", test_bounded_memory);
    add_per_compression("/memstate/flipped-payload-byte", test_flipped_payload);
    add_per_compression("/memstate/unfinished", test_unfinished);
    add_per_compression("/memstate/fast-level-switches", test_fast_level_switches);
    g_test_add_func("/memstate/disk-full", test_disk_full);
    g_test_add_func("/memstate/reader-gone", test_reader_gone);
    g_test_add_func("/memstate/resealed-payload", test_resealed_payload);
    g_test_add_func("/memstate/resealed-cut-stream", test_resealed_cut_stream);
    g_test_add_func("/memstate/sizes", test_sizes);
    g_test_add_func("/memstate/flipped-header-byte", test_flipped_header);
    g_test_add_func("/memstate/flipped-trailer-byte", test_flipped_trailer);
    g_test_add_func("/memstate/flipped-frame-length", test_flipped_frame_length);
    g_test_add_func("/memstate/truncated", test_truncated);
    g_test_add_func("/memstate/wrong-magic-version-flags", test_wrong_magic_version_flags);
    g_test_add_func("/memstate/wrong-domain-and-name", test_wrong_domain_and_name);
    g_test_add_func("/memstate/bad-info", test_bad_info);
    g_test_add_func("/memstate/absurd-lengths", test_absurd_lengths);
    g_test_add_func("/memstate/not-regular", test_not_regular);
    g_test_add_func("/memstate/compression-names", test_compression_names);
    g_test_add_func("/memstate/probe", test_probe);
    return g_test_run();
}
