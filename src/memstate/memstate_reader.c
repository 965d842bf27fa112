/*
 * memstate_reader.c: checking and restoring memory-state files.
 *
 * Both paths first check the header, the trailer and that the file's length
 * is what the trailer says, so a truncated or unfinished file is refused
 * before anything is streamed. They then walk the frames (u32 length,
 * bytes; a 0 length ends the payload exactly at the trailer), bounds-checking
 * each, and hash the payload. Verify stops there (no decompression: hashing
 * runs at memory speed); restore also decompresses each frame into a
 * bounded output buffer and hashes what it writes.
 */
#include "memstate/memstate_internal.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/error.h"

#define OUT_BUF_SIZE  (1024 * 1024)
#define PROGRESS_STEP (16u * 1024 * 1024)
/* Refuse zstd frames that need a window above 32 MiB (ours use 8 MiB at
 * most): keeps restore's memory bounded whatever the file says. */
#define ZSTD_WINDOW_LOG_MAX 25

#define DAMAGED_HINT "delete this snapshot or restore the file from a backup"

typedef struct {
    int fd;
    vms_memstate_info info;
    size_t header_len;
    uint32_t frame_max;
    uint64_t file_size;
    vms_memstate_trailer trailer;
} memfile;

bool vms_memstate_pread_all(int fd, void *buf, size_t len, uint64_t offset, vmsnap_error **error)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "reading the memory file");
            return false;
        }
        if (n == 0) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "memory file is truncated: it ended while being read (at byte %llu); "
                          "is something still writing it?",
                          (unsigned long long)offset);
            return false;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return true;
}

static bool stat_regular(int fd, uint64_t *size, vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "examining the memory file");
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "the memory file is not a regular file: give the path of a file vmsnap "
                      "wrote");
        return false;
    }
    *size = (uint64_t)st.st_size;
    return true;
}

static bool read_header_at_start(int fd, uint64_t size, memfile *mf, vmsnap_error **error)
{
    uint8_t buf[VMS_MEMSTATE_HEADER_MAX];
    size_t len = (size_t)MIN(size, (uint64_t)sizeof(buf));
    if (!vms_memstate_pread_all(fd, buf, len, 0, error))
        return false;
    return vms_memstate_parse_header_full(buf, len, &mf->info, &mf->header_len, &mf->frame_max,
                                          error);
}

bool vms_memstate_probe(int fd, bool *is_memstate, vmsnap_error **error)
{
    uint64_t size;
    uint8_t magic[8];
    if (!stat_regular(fd, &size, error))
        return false;
    *is_memstate = false;
    if (size < sizeof(magic))
        return true;
    if (!vms_memstate_pread_all(fd, magic, sizeof(magic), 0, error))
        return false;
    *is_memstate = memcmp(magic, "VMSNAPMS", sizeof(magic)) == 0;
    return true;
}

bool vms_memstate_read_header(int fd, vms_memstate_info *info, vmsnap_error **error)
{
    memfile mf = {.fd = fd};
    uint64_t size;
    if (!stat_regular(fd, &size, error) || !read_header_at_start(fd, size, &mf, error))
        return false;
    if (info)
        *info = mf.info;
    return true;
}

/* Header, trailer, and the length the trailer gives. */
static bool open_memfile(int fd, memfile *mf, vmsnap_error **error)
{
    mf->fd = fd;
    if (!stat_regular(fd, &mf->file_size, error) ||
        !read_header_at_start(fd, mf->file_size, mf, error))
        return false;
    uint64_t least = mf->header_len + 4 + VMS_MEMSTATE_TRAILER_LEN;
    if (mf->file_size < least) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file is truncated: it holds %llu bytes, less than a header, an "
                      "end frame and a trailer (%llu); the save did not complete: delete this "
                      "snapshot and take it again",
                      (unsigned long long)mf->file_size, (unsigned long long)least);
        return false;
    }
    uint8_t tbuf[VMS_MEMSTATE_TRAILER_LEN];
    if (!vms_memstate_pread_all(fd, tbuf, sizeof(tbuf), mf->file_size - sizeof(tbuf), error) ||
        !vms_memstate_parse_trailer(tbuf, &mf->trailer, error))
        return false;
    uint64_t held = mf->file_size - mf->header_len - VMS_MEMSTATE_TRAILER_LEN;
    if (mf->trailer.payload_len != held) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file has the wrong length: its trailer says %llu payload bytes, "
                      "the file holds %llu (it was cut or spliced); " DAMAGED_HINT,
                      (unsigned long long)mf->trailer.payload_len, (unsigned long long)held);
        return false;
    }
    return true;
}

bool vms_memstate_read_trailer(int fd, vms_memstate_info *info, vms_memstate_trailer *trailer,
                               vmsnap_error **error)
{
    memfile mf;
    if (!open_memfile(fd, &mf, error))
        return false;
    if (info)
        *info = mf.info;
    if (trailer)
        *trailer = mf.trailer;
    return true;
}

/* --- frames -------------------------------------------------------------- */

typedef bool (*frame_fn)(void *opaque, const uint8_t *data, size_t len, vmsnap_error **error);

static bool frame_error(vmsnap_error **error, uint64_t offset, const char *what)
{
    vms_error_set(error, VMSNAP_ERR_CORRUPT,
                  "memory file is damaged: the frame at byte %llu %s; " DAMAGED_HINT,
                  (unsigned long long)offset, what);
    return false;
}

/* Walk the payload's frames, hashing them, calling @fn on each one's data.
 * Leaves the payload's hash in @hash_out. */
static bool walk_frames(const memfile *mf, frame_fn fn, void *opaque, const char *what,
                        const vms_progress *progress, uint64_t total, const uint64_t *done,
                        uint8_t hash_out[16], vmsnap_error **error)
{
    g_autofree uint8_t *buf = g_malloc(mf->frame_max);
    XXH3_state_t *hash = XXH3_createState();
    XXH3_128bits_reset(hash);
    uint64_t pos = mf->header_len;
    uint64_t end = mf->header_len + mf->trailer.payload_len; /* end marker's end */
    uint64_t reported = 0;
    bool ok = false;
    for (;;) {
        uint8_t lenbuf[4];
        if (end - pos < 4) {
            frame_error(error, pos, "is cut short: the payload ends without an end frame");
            goto out;
        }
        if (!vms_memstate_pread_all(mf->fd, lenbuf, 4, pos, error))
            goto out;
        XXH3_128bits_update(hash, lenbuf, 4);
        uint32_t flen = vms_memstate_get_le32(lenbuf);
        if (flen == 0) {
            if (pos + 4 != end) {
                frame_error(error, pos, "ends the payload before its end");
                goto out;
            }
            break;
        }
        if (flen > mf->frame_max) {
            g_autofree char *msg = g_strdup_printf(
                "claims %u bytes, more than the header's frame size %u", flen, mf->frame_max);
            frame_error(error, pos, msg);
            goto out;
        }
        if ((uint64_t)flen + 8 > end - pos) {
            g_autofree char *msg = g_strdup_printf("claims %u bytes, past the payload's end", flen);
            frame_error(error, pos, msg);
            goto out;
        }
        if (!vms_memstate_pread_all(mf->fd, buf, flen, pos + 4, error))
            goto out;
        XXH3_128bits_update(hash, buf, flen);
        if (fn && !fn(opaque, buf, flen, error))
            goto out;
        pos += 4 + (uint64_t)flen;
        uint64_t now = done ? *done : pos - mf->header_len;
        if (now - reported >= PROGRESS_STEP) {
            reported = now;
            vms_progress_report(progress, what, now, MAX(total, now));
        }
    }
    XXH128_hash_t h = XXH3_128bits_digest(hash);
    vms_memstate_put_hash128(hash_out, &h);
    ok = true;
out:
    XXH3_freeState(hash);
    return ok;
}

static bool check_hash(const uint8_t *want, const uint8_t *got, const char *what,
                       vmsnap_error **error)
{
    if (memcmp(want, got, 16) == 0)
        return true;
    g_autofree char *w = vms_memstate_hash_hex(want);
    g_autofree char *g = vms_memstate_hash_hex(got);
    vms_error_set(error, VMSNAP_ERR_CORRUPT,
                  "memory file is damaged: the checksum of its %s does not match (xxh3-128 %s, "
                  "trailer says %s); " DAMAGED_HINT,
                  what, g, w);
    return false;
}

bool vms_memstate_verify(int fd, const vms_progress *progress, vmsnap_error **error)
{
    memfile mf;
    if (!open_memfile(fd, &mf, error))
        return false;
    uint8_t got[16];
    uint64_t total = mf.trailer.payload_len;
    vms_progress_report(progress, "verifying memory", 0, total);
    if (!walk_frames(&mf, NULL, NULL, "verifying memory", progress, total, NULL, got, error))
        return false;
    if (!check_hash(mf.trailer.payload_xxh128, got, "stored data", error))
        return false;
    vms_progress_report(progress, "verifying memory", total, total);
    return true;
}

/* --- restore ------------------------------------------------------------- */

typedef struct {
    vms_memstate_compression compression;
    int out_fd;
    uint8_t *out;
    z_stream zs;
    bool zs_ready;
    ZSTD_DCtx *zd;
    bool stream_ended;
    uint64_t written;
    uint64_t limit; /* the trailer's uncompressed length */
    XXH3_state_t *hash;
} restorer;

static bool emit(restorer *r, const uint8_t *data, size_t len, vmsnap_error **error)
{
    if (len == 0)
        return true;
    if (len > r->limit - r->written) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file is damaged: its data decompresses to more than the %llu "
                      "bytes its trailer gives; " DAMAGED_HINT,
                      (unsigned long long)r->limit);
        return false;
    }
    XXH3_128bits_update(r->hash, data, len);
    r->written += len;
    return vms_memstate_write_out(r->out_fd, data, len, "passing the memory stream on", error);
}

static bool after_end(vmsnap_error **error)
{
    vms_error_set(
        error, VMSNAP_ERR_CORRUPT,
        "memory file is damaged: data follows the end of its compressed stream; " DAMAGED_HINT);
    return false;
}

static bool feed_gzip(restorer *r, const uint8_t *data, size_t len, vmsnap_error **error)
{
    if (r->stream_ended)
        return after_end(error);
    r->zs.next_in = (Bytef *)data;
    r->zs.avail_in = (uInt)len;
    while (r->zs.avail_in > 0) {
        r->zs.next_out = r->out;
        r->zs.avail_out = OUT_BUF_SIZE;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
            vms_error_set(
                error, VMSNAP_ERR_CORRUPT,
                "memory file is damaged: its gzip data does not decompress (%s); " DAMAGED_HINT,
                r->zs.msg ? r->zs.msg : "zlib error");
            return false;
        }
        if (!emit(r, r->out, OUT_BUF_SIZE - r->zs.avail_out, error))
            return false;
        if (ret == Z_STREAM_END) {
            r->stream_ended = true;
            if (r->zs.avail_in > 0)
                return after_end(error);
        }
    }
    return true;
}

static bool feed_zstd(restorer *r, const uint8_t *data, size_t len, vmsnap_error **error)
{
    ZSTD_inBuffer in = {data, len, 0};
    /* A full output buffer may hide more output; but once a frame is
     * done (0) with all input taken, a further call would only report the
     * next frame's header as missing. */
    bool more_output = false;
    while (in.pos < in.size || more_output) {
        ZSTD_outBuffer out = {r->out, OUT_BUF_SIZE, 0};
        size_t ret = ZSTD_decompressStream(r->zd, &out, &in);
        if (ZSTD_isError(ret)) {
            vms_error_set(
                error, VMSNAP_ERR_CORRUPT,
                "memory file is damaged: its zstd data does not decompress (%s); " DAMAGED_HINT,
                ZSTD_getErrorName(ret));
            return false;
        }
        if (!emit(r, r->out, out.pos, error))
            return false;
        more_output = out.pos == out.size && ret != 0;
        r->stream_ended = ret == 0;
    }
    return true;
}

static bool restore_frame(void *opaque, const uint8_t *data, size_t len, vmsnap_error **error)
{
    restorer *r = opaque;
    switch (r->compression) {
    case VMS_MEMSTATE_COMPRESS_NONE:
        return emit(r, data, len, error);
    case VMS_MEMSTATE_COMPRESS_GZIP:
        return feed_gzip(r, data, len, error);
    case VMS_MEMSTATE_COMPRESS_ZSTD:
        return feed_zstd(r, data, len, error);
    }
    return false;
}

static bool check_expected(const memfile *mf, const vms_memstate_info *expected,
                           vmsnap_error **error)
{
    if (!expected)
        return true;
    if (expected->domain_uuid[0] &&
        g_ascii_strcasecmp(expected->domain_uuid, mf->info.domain_uuid) != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file belongs to domain %s, not to this domain (%s): it was copied "
                      "or linked from another domain's snapshot; give this domain's memory file",
                      mf->info.domain_uuid[0] ? mf->info.domain_uuid : "(none)",
                      expected->domain_uuid);
        return false;
    }
    if (expected->snapshot_name[0] &&
        strcmp(expected->snapshot_name, mf->info.snapshot_name) != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file belongs to snapshot '%s', not to '%s': give the memory file "
                      "of snapshot '%s'",
                      mf->info.snapshot_name, expected->snapshot_name, expected->snapshot_name);
        return false;
    }
    return true;
}

static bool restorer_init(restorer *r, const memfile *mf, int out_fd, vmsnap_error **error)
{
    r->compression = mf->info.compression;
    r->out_fd = out_fd;
    r->limit = mf->trailer.uncompressed_len;
    r->hash = XXH3_createState();
    XXH3_128bits_reset(r->hash);
    if (r->compression == VMS_MEMSTATE_COMPRESS_NONE) {
        r->stream_ended = true;
        return true;
    }
    r->out = g_malloc(OUT_BUF_SIZE);
    if (r->compression == VMS_MEMSTATE_COMPRESS_GZIP) {
        if (inflateInit2(&r->zs, 15 + 16) != Z_OK) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "cannot set up gzip decompression");
            return false;
        }
        r->zs_ready = true;
        return true;
    }
    r->zd = ZSTD_createDCtx();
    if (!r->zd) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "out of memory creating a zstd decompressor");
        return false;
    }
    ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
    return true;
}

static void restorer_clear(restorer *r)
{
    if (r->zs_ready)
        inflateEnd(&r->zs);
    ZSTD_freeDCtx(r->zd);
    XXH3_freeState(r->hash);
    g_free(r->out);
}

static bool restore_checks_at_end(const memfile *mf, restorer *r, const uint8_t *payload_hash,
                                  bool check_sums, vmsnap_error **error)
{
    if (check_sums && !check_hash(mf->trailer.payload_xxh128, payload_hash, "stored data", error))
        return false;
    if (!r->stream_ended) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file is damaged: its compressed stream is cut short; " DAMAGED_HINT);
        return false;
    }
    if (r->written != mf->trailer.uncompressed_len) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file is damaged: it decompresses to %llu bytes, its trailer "
                      "says %llu; " DAMAGED_HINT,
                      (unsigned long long)r->written,
                      (unsigned long long)mf->trailer.uncompressed_len);
        return false;
    }
    XXH128_hash_t h = XXH3_128bits_digest(r->hash);
    uint8_t got[16];
    vms_memstate_put_hash128(got, &h);
    return !check_sums || check_hash(mf->trailer.stream_xxh128, got, "decompressed stream", error);
}

static bool restore(int in_fd, int out_fd, const vms_memstate_info *expected, bool check_sums,
                    const vms_progress *progress, vmsnap_error **error)
{
    memfile mf;
    if (!open_memfile(in_fd, &mf, error) || !check_expected(&mf, expected, error))
        return false;
    restorer r = {0};
    bool ok = false;
    uint64_t total = mf.trailer.uncompressed_len;
    uint8_t payload_hash[16];
    if (!restorer_init(&r, &mf, out_fd, error))
        goto out;
    vms_progress_report(progress, "loading memory", 0, total);
    if (!walk_frames(&mf, restore_frame, &r, "loading memory", progress, total, &r.written,
                     payload_hash, error))
        goto out;
    if (!restore_checks_at_end(&mf, &r, payload_hash, check_sums, error))
        goto out;
    vms_progress_report(progress, "loading memory", total, total);
    ok = true;
out:
    restorer_clear(&r);
    return ok;
}

bool vms_memstate_restore_to_fd(int in_fd, int out_fd, const vms_memstate_info *expected,
                                const vms_progress *progress, vmsnap_error **error)
{
    return restore(in_fd, out_fd, expected, true, progress, error);
}

bool vms_memstate_restore_unchecked_to_fd(int in_fd, int out_fd, const vms_progress *progress,
                                          vmsnap_error **error)
{
    return restore(in_fd, out_fd, NULL, false, progress, error);
}

bool vms_memstate_file_checksum(int fd, char hex[33], vmsnap_error **error)
{
    vms_memstate_trailer trailer;
    if (!vms_memstate_read_trailer(fd, NULL, &trailer, error))
        return false;
    g_autofree char *text = vms_memstate_hash_hex(trailer.payload_xxh128);
    g_strlcpy(hex, text, 33);
    return true;
}
