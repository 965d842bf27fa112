/*
 * memstate_writer.c: writing memory-state files as the stream arrives.
 *
 * The compressor writes straight into one frame buffer of
 * VMS_MEMSTATE_FRAME_MAX bytes; a full buffer goes out as one frame
 * (u32 length + bytes), so the writer holds at most one frame whatever the
 * stream's size. zstd runs with worker threads when libzstd was built with
 * them (its own buffers then grow by a few MiB per worker).
 */
#include "memstate/memstate_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/error.h"

#define GZIP_DEFAULT_LEVEL 1
#define ZSTD_DEFAULT_LEVEL 1
#define ZSTD_MAX_WORKERS   4
#define ZSTD_JOB_SIZE      (2 * 1024 * 1024)
#define SAVE_READ_SIZE     (1024 * 1024)
#define PROGRESS_STEP      (16u * 1024 * 1024)
/* The fast levels used while the writer falls behind QEMU: gzip stores
 * (level 0), zstd runs one of its negative ("fast") levels. */
#define GZIP_FAST_LEVEL 0
#define ZSTD_FAST_LEVEL (-7)
/* The pipe from QEMU is grown to this, so how full it is says who waits. */
#define PIPE_SIZE (1024 * 1024)

struct vms_memstate_writer {
    int fd;
    vms_memstate_compression compression;
    uint8_t *frame; /* 4 length bytes, then up to VMS_MEMSTATE_FRAME_MAX data bytes */
    size_t fill;
    size_t peak;
    z_stream zs;
    bool zs_ready;
    int level;           /* the configured level (resolved default) */
    bool fast;           /* compressing at the fast level now */
    uint64_t fast_bytes; /* stream bytes compressed at the fast level */
    ZSTD_CCtx *zc;
    XXH3_state_t *payload_hash;
    XXH3_state_t *stream_hash;
    uint64_t bytes_in;
    uint64_t payload_len;
    uint64_t header_len;
    bool finished;
    uint8_t payload_sum[16]; /* once finished */
};

/* A reader that went away (QEMU died while loading) must give EPIPE, not
 * kill the process with SIGPIPE: the signal is blocked in this thread while
 * writing, and one it raised is taken back before unblocking. */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

bool vms_memstate_write_out(int fd, const void *buf, size_t len, const char *what,
                            vmsnap_error **error)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write_no_sigpipe(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EPIPE) {
            vms_error_set(error, VMSNAP_ERR_IO,
                          "%s: the reading end was closed (did QEMU exit? see its log)", what);
            return false;
        }
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "%s", what);
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool vms_memstate_write_all(int fd, const void *buf, size_t len, vmsnap_error **error)
{
    return vms_memstate_write_out(fd, buf, len, "writing the memory file", error);
}

/* Send the buffered frame (if any) and account for it. */
static bool emit_frame(vms_memstate_writer *w, vmsnap_error **error)
{
    if (w->fill == 0)
        return true;
    vms_memstate_put_le32(w->frame, (uint32_t)w->fill);
    if (!vms_memstate_write_all(w->fd, w->frame, 4 + w->fill, error))
        return false;
    XXH3_128bits_update(w->payload_hash, w->frame, 4 + w->fill);
    w->payload_len += 4 + w->fill;
    w->fill = 0;
    return true;
}

static void note_fill(vms_memstate_writer *w)
{
    if (w->fill > w->peak)
        w->peak = w->fill;
}

static bool setup_zstd(vms_memstate_writer *w, int level, vmsnap_error **error)
{
    w->zc = ZSTD_createCCtx();
    if (!w->zc) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "out of memory creating a zstd compressor");
        return false;
    }
    w->level = level ? level : ZSTD_DEFAULT_LEVEL;
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, w->level);
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 0);
    int workers = (int)MIN(g_get_num_processors(), ZSTD_MAX_WORKERS);
    /* A libzstd without threads refuses this; it then compresses inline. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, workers)))
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, 0);
    else /* smaller jobs than zstd's default: a few MiB per worker, not tens */
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
    return true;
}

static bool setup_gzip(vms_memstate_writer *w, int level, vmsnap_error **error)
{
    /* windowBits 15 + 16: a gzip wrapper, so `zcat` could read the payload. */
    w->level = level ? level : GZIP_DEFAULT_LEVEL;
    if (deflateInit2(&w->zs, w->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "cannot set up gzip compression (level %d)",
                      level);
        return false;
    }
    w->zs_ready = true;
    return true;
}

/* Guest RAM must not be readable by others: a regular file open to group
 * or others is refused (pipes and sockets are not files on disk). */
static bool check_private(int fd, vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "examining the memory file");
        return false;
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "the memory file has mode %04o, so others could read the guest's memory: "
                      "create it with mode 0600",
                      (unsigned int)(st.st_mode & 07777));
        return false;
    }
    return true;
}

vms_memstate_writer *vms_memstate_writer_new(int out_fd, const vms_memstate_info *info,
                                             vmsnap_error **error)
{
    if (!vms_memstate_check_info(info, error) || !check_private(out_fd, error))
        return NULL;
    g_autoptr(vms_memstate_writer) w = g_new0(vms_memstate_writer, 1);
    w->fd = out_fd;
    w->compression = info->compression;
    w->frame = g_malloc(4 + VMS_MEMSTATE_FRAME_MAX);
    w->payload_hash = XXH3_createState();
    w->stream_hash = XXH3_createState();
    XXH3_128bits_reset(w->payload_hash);
    XXH3_128bits_reset(w->stream_hash);
    if (info->compression == VMS_MEMSTATE_COMPRESS_ZSTD && !setup_zstd(w, info->level, error))
        return NULL;
    if (info->compression == VMS_MEMSTATE_COMPRESS_GZIP && !setup_gzip(w, info->level, error))
        return NULL;

    vms_memstate_info stamped = *info;
    if (stamped.created == 0)
        stamped.created = (int64_t)time(NULL);
    uint8_t header[VMS_MEMSTATE_HEADER_MAX];
    size_t hlen = vms_memstate_header_encode(&stamped, VMS_MEMSTATE_FRAME_MAX, header);
    if (!vms_memstate_write_all(out_fd, header, hlen, error))
        return NULL;
    w->header_len = hlen;
    return g_steal_pointer(&w);
}

static bool write_none(vms_memstate_writer *w, const uint8_t *p, size_t len, vmsnap_error **error)
{
    while (len > 0) {
        size_t n = MIN(len, VMS_MEMSTATE_FRAME_MAX - w->fill);
        memcpy(w->frame + 4 + w->fill, p, n);
        w->fill += n;
        note_fill(w);
        p += n;
        len -= n;
        if (w->fill == VMS_MEMSTATE_FRAME_MAX && !emit_frame(w, error))
            return false;
    }
    return true;
}

/* Run zstd with @mode until it has taken all input (and, for ZSTD_e_end,
 * flushed everything). */
static bool run_zstd(vms_memstate_writer *w, const uint8_t *p, size_t len, ZSTD_EndDirective mode,
                     vmsnap_error **error)
{
    ZSTD_inBuffer in = {p, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->frame + 4 + w->fill, VMS_MEMSTATE_FRAME_MAX - w->fill, 0};
        size_t left = ZSTD_compressStream2(w->zc, &out, &in, mode);
        if (ZSTD_isError(left)) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "zstd compression failed: %s",
                          ZSTD_getErrorName(left));
            return false;
        }
        w->fill += out.pos;
        note_fill(w);
        if (w->fill == VMS_MEMSTATE_FRAME_MAX && !emit_frame(w, error))
            return false;
        bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
        if (done)
            return true;
    }
}

/* One deflate() call after another until the piece is consumed (and, with
 * Z_FINISH, the stream ended), each output going into the frame buffer. */
static bool deflate_piece(vms_memstate_writer *w, int mode, vmsnap_error **error)
{
    for (;;) {
        w->zs.next_out = w->frame + 4 + w->fill;
        w->zs.avail_out = (uInt)(VMS_MEMSTATE_FRAME_MAX - w->fill);
        size_t before = w->zs.avail_out;
        int ret = deflate(&w->zs, mode);
        if (ret == Z_STREAM_ERROR) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "gzip compression failed");
            return false;
        }
        bool out_full = w->zs.avail_out == 0;
        w->fill += before - w->zs.avail_out;
        note_fill(w);
        if (w->fill == VMS_MEMSTATE_FRAME_MAX && !emit_frame(w, error))
            return false;
        if (mode == Z_FINISH ? ret == Z_STREAM_END : w->zs.avail_in == 0 && !out_full)
            return true;
    }
}

static bool run_gzip(vms_memstate_writer *w, const uint8_t *p, size_t len, int flush,
                     vmsnap_error **error)
{
    do {
        /* avail_in is 32-bit: feed huge buffers in pieces. */
        size_t piece = MIN(len, (size_t)1 << 30);
        w->zs.next_in = (Bytef *)p;
        w->zs.avail_in = (uInt)piece;
        if (!deflate_piece(w, piece == len ? flush : Z_NO_FLUSH, error))
            return false;
        p += piece;
        len -= piece;
    } while (len > 0);
    return true;
}

bool vms_memstate_writer_write(vms_memstate_writer *w, const void *buf, size_t len,
                               vmsnap_error **error)
{
    if (w->finished) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "memory file written after it was finished");
        return false;
    }
    if (len == 0)
        return true;
    XXH3_128bits_update(w->stream_hash, buf, len);
    w->bytes_in += len;
    if (w->fast)
        w->fast_bytes += len;
    switch (w->compression) {
    case VMS_MEMSTATE_COMPRESS_NONE:
        return write_none(w, buf, len, error);
    case VMS_MEMSTATE_COMPRESS_GZIP:
        return run_gzip(w, buf, len, Z_NO_FLUSH, error);
    case VMS_MEMSTATE_COMPRESS_ZSTD:
        return run_zstd(w, buf, len, ZSTD_e_continue, error);
    }
    return false;
}

/* deflateParams() first compresses what deflate holds with the old level
 * (a Z_BLOCK flush), which needs room in the frame buffer. */
static bool gzip_set_level(vms_memstate_writer *w, int level, vmsnap_error **error)
{
    for (;;) {
        w->zs.next_in = NULL;
        w->zs.avail_in = 0;
        w->zs.next_out = w->frame + 4 + w->fill;
        w->zs.avail_out = (uInt)(VMS_MEMSTATE_FRAME_MAX - w->fill);
        size_t before = w->zs.avail_out;
        int ret = deflateParams(&w->zs, level, Z_DEFAULT_STRATEGY);
        w->fill += before - w->zs.avail_out;
        note_fill(w);
        if (ret == Z_OK)
            return true;
        if (ret != Z_BUF_ERROR || w->fill == 0) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "cannot change the gzip level to %d", level);
            return false;
        }
        if (!emit_frame(w, error)) /* out of room: send the frame and go on */
            return false;
    }
}

bool vms_memstate_writer_set_fast(vms_memstate_writer *w, bool fast, vmsnap_error **error)
{
    if (fast == w->fast || w->finished || w->compression == VMS_MEMSTATE_COMPRESS_NONE)
        return true;
    if (w->compression == VMS_MEMSTATE_COMPRESS_GZIP &&
        !gzip_set_level(w, fast ? GZIP_FAST_LEVEL : w->level, error))
        return false;
    /* zstd takes a new level mid-stream only with worker threads (from its
     * next job on); inline, it keeps its level. */
    if (w->compression == VMS_MEMSTATE_COMPRESS_ZSTD &&
        ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
                                            fast ? ZSTD_FAST_LEVEL : w->level)))
        return true;
    w->fast = fast;
    return true;
}

uint64_t vms_memstate_writer_fast_bytes(const vms_memstate_writer *w)
{
    return w->fast_bytes;
}

static bool fsync_if_file(int fd, vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
        return true;
    if (fsync(fd) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "flushing the memory file to disk");
        return false;
    }
    return true;
}

bool vms_memstate_writer_finish(vms_memstate_writer *w, vmsnap_error **error)
{
    if (w->finished) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "memory file finished twice");
        return false;
    }
    if (w->compression == VMS_MEMSTATE_COMPRESS_GZIP && !run_gzip(w, NULL, 0, Z_FINISH, error))
        return false;
    if (w->compression == VMS_MEMSTATE_COMPRESS_ZSTD && !run_zstd(w, NULL, 0, ZSTD_e_end, error))
        return false;
    if (!emit_frame(w, error))
        return false;
    uint8_t end[4] = {0, 0, 0, 0};
    if (!vms_memstate_write_all(w->fd, end, sizeof(end), error))
        return false;
    XXH3_128bits_update(w->payload_hash, end, sizeof(end));
    w->payload_len += sizeof(end);

    vms_memstate_trailer t = {.payload_len = w->payload_len, .uncompressed_len = w->bytes_in};
    XXH128_hash_t ph = XXH3_128bits_digest(w->payload_hash);
    XXH128_hash_t sh = XXH3_128bits_digest(w->stream_hash);
    vms_memstate_put_hash128(t.payload_xxh128, &ph);
    memcpy(w->payload_sum, t.payload_xxh128, 16);
    vms_memstate_put_hash128(t.stream_xxh128, &sh);
    uint8_t buf[VMS_MEMSTATE_TRAILER_LEN];
    vms_memstate_trailer_encode(&t, buf);
    if (!vms_memstate_write_all(w->fd, buf, sizeof(buf), error))
        return false;
    if (!fsync_if_file(w->fd, error))
        return false;
    w->finished = true;
    return true;
}

void vms_memstate_writer_free(vms_memstate_writer *w)
{
    if (!w)
        return;
    if (w->zs_ready)
        deflateEnd(&w->zs);
    ZSTD_freeCCtx(w->zc);
    XXH3_freeState(w->payload_hash);
    XXH3_freeState(w->stream_hash);
    g_free(w->frame);
    g_free(w);
}

bool vms_memstate_writer_checksum(const vms_memstate_writer *w, char hex[33])
{
    if (!w->finished)
        return false;
    g_autofree char *text = vms_memstate_hash_hex(w->payload_sum);
    g_strlcpy(hex, text, 33);
    return true;
}

uint64_t vms_memstate_writer_bytes_in(const vms_memstate_writer *w)
{
    return w->bytes_in;
}

uint64_t vms_memstate_writer_bytes_out(const vms_memstate_writer *w)
{
    return w->header_len + w->payload_len + (w->finished ? VMS_MEMSTATE_TRAILER_LEN : 0);
}

size_t vms_memstate_writer_peak_buffered(const vms_memstate_writer *w)
{
    return w->peak;
}

size_t vms_memstate_writer_memory(const vms_memstate_writer *w)
{
    size_t total =
        sizeof(*w) + 4 + VMS_MEMSTATE_FRAME_MAX + 2 * 1024 /* two XXH3 states, 576 bytes each */;
    if (w->zc)
        total += ZSTD_sizeof_CCtx(w->zc);
    if (w->zs_ready) /* zlib.h: deflate needs (1 << (windowBits+2)) + (1 << (memLevel+9)) */
        total += (1u << 17) + (1u << 17);
    return total;
}

/* The capacity of the pipe @fd, grown to PIPE_SIZE if it can be; 0 if @fd
 * is not a pipe. */
static int pipe_capacity(int fd)
{
    int size = fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
    if (size < 0)
        size = fcntl(fd, F_GETPIPE_SZ);
    return MAX(size, 0);
}

/* Compressing must never make the save slower than storing would: when
 * the pipe from QEMU is half full or more after a read, QEMU is waiting for
 * this process, so the next data goes at the fast level until the pipe
 * runs nearly empty again. */
static bool adapt_level(vms_memstate_writer *w, int in_fd, int capacity, vmsnap_error **error)
{
    int waiting = 0;
    if (capacity == 0 || w->compression == VMS_MEMSTATE_COMPRESS_NONE ||
        ioctl(in_fd, FIONREAD, &waiting) < 0)
        return true;
    if (!w->fast && waiting >= capacity / 2)
        return vms_memstate_writer_set_fast(w, true, error);
    if (w->fast && waiting <= capacity / 8)
        return vms_memstate_writer_set_fast(w, false, error);
    return true;
}

bool vms_memstate_writer_pump(vms_memstate_writer *w, int in_fd, const vms_progress *progress,
                              uint64_t total, vmsnap_error **error)
{
    g_autofree uint8_t *buf = g_malloc(SAVE_READ_SIZE);
    int capacity = pipe_capacity(in_fd);
    uint64_t reported = w->bytes_in;
    vms_progress_report(progress, "saving memory", w->bytes_in, MAX(total, w->bytes_in));
    for (;;) {
        ssize_t n = read(in_fd, buf, SAVE_READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "reading the memory stream from QEMU");
            return false;
        }
        if (n == 0)
            break;
        if (!vms_memstate_writer_write(w, buf, (size_t)n, error) ||
            !adapt_level(w, in_fd, capacity, error))
            return false;
        if (w->bytes_in - reported >= PROGRESS_STEP) {
            reported = w->bytes_in;
            vms_progress_report(progress, "saving memory", w->bytes_in, MAX(total, w->bytes_in));
        }
    }
    vms_progress_report(progress, "saving memory", w->bytes_in, w->bytes_in);
    return true;
}

bool vms_memstate_save_from_fd(int in_fd, int out_fd, const vms_memstate_info *info,
                               const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_memstate_writer) w = vms_memstate_writer_new(out_fd, info, error);
    return w && vms_memstate_writer_pump(w, in_fd, progress, info->size_hint, error) &&
           vms_memstate_writer_finish(w, error);
}
