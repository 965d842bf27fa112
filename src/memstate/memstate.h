/*
 * memstate.h: vmsnap's memory-state files (docs/formats/memstate.md).
 *
 * A memory-state file wraps QEMU's migration stream: a small header (magic,
 * version, domain uuid, snapshot name, compression, sizes), the stream
 * compressed (none, gzip or zstd) and cut into length-prefixed frames, and a
 * trailer with the lengths and two xxh3-128 checksums (of the stored bytes,
 * so verify never decompresses, and of the stream QEMU wrote).
 *
 * Everything here works on file descriptors the caller opened: the caller
 * creates memory files with mode 0600 (they hold guest RAM), names them, and
 * unlinks a file whose save failed. Memory use is bounded whatever the size
 * of the stream (a few MiB of buffers, plus zstd's own state: see
 * vms_memstate_writer_memory()).
 *
 * This layer uses src/util only.
 */
#ifndef VMS_MEMSTATE_MEMSTATE_H
#define VMS_MEMSTATE_MEMSTATE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vmsnap/vmsnap.h>

#include "util/names.h"
#include "util/progress.h"

#define VMS_MEMSTATE_VERSION          1
#define VMS_MEMSTATE_UUID_STRLEN      36
#define VMS_MEMSTATE_QEMU_VERSION_MAX 31
/* Largest stored frame; also the size of the writer's output buffer. */
#define VMS_MEMSTATE_FRAME_MAX   (1024 * 1024)
#define VMS_MEMSTATE_TRAILER_LEN 64

typedef enum {
    VMS_MEMSTATE_COMPRESS_NONE = 0,
    VMS_MEMSTATE_COMPRESS_GZIP = 1,
    VMS_MEMSTATE_COMPRESS_ZSTD = 2,
} vms_memstate_compression;

/* What a header says. On write, @domain_uuid may be "" (written as all
 * zeros: no domain), @level 0 picks the default (gzip 1, zstd 1; see
 * docs/formats/memstate.md), @created 0 means now. As an expectation
 * (restore), "" fields are not checked. */
typedef struct {
    char domain_uuid[VMS_MEMSTATE_UUID_STRLEN + 1]; /* lowercase 8-4-4-4-12 */
    char snapshot_name[VMS_NAME_MAX + 1];
    vms_memstate_compression compression;
    int level;          /* writer only; not stored */
    uint64_t size_hint; /* guest RAM size (the stream is about as long), 0 if unknown */
    char qemu_version[VMS_MEMSTATE_QEMU_VERSION_MAX + 1]; /* e.g. "7.2.19", "" if unknown */
    int64_t created;                                      /* unix seconds */
} vms_memstate_info;

/* The trailer's content. */
typedef struct {
    uint64_t payload_len;      /* bytes between the header and the trailer */
    uint64_t uncompressed_len; /* bytes of the stream QEMU wrote */
    uint8_t payload_xxh128[16];
    uint8_t stream_xxh128[16];
} vms_memstate_trailer;

/* "none", "gzip", "zstd"; NULL for other values. */
const char *vms_memstate_compression_name(vms_memstate_compression c);
/* Parse "none" / "raw" / "gzip" / "zstd"; false (no error) if unknown. */
bool vms_memstate_compression_from_name(const char *name, vms_memstate_compression *out);

/* Parsers of untrusted bytes (fuzzed). parse_header: @buf holds the first
 * @len bytes of a file; on success *@header_len is the header's length.
 * If @len is too short for the header, fails with VMSNAP_ERR_CORRUPT
 * ("truncated"). Never reads beyond @len. */
bool vms_memstate_parse_header(const uint8_t *buf, size_t len, vms_memstate_info *info,
                               size_t *header_len, vmsnap_error **error);
/* @buf: exactly VMS_MEMSTATE_TRAILER_LEN bytes, the end of the file. */
bool vms_memstate_parse_trailer(const uint8_t *buf, vms_memstate_trailer *trailer,
                                vmsnap_error **error);

/* --- writing ------------------------------------------------------------- */

typedef struct vms_memstate_writer vms_memstate_writer;

/* Write the header to @out_fd (at its current position; a pipe works) and
 * return a writer. @out_fd stays the caller's. A regular file whose mode
 * lets group or others in is refused (VMSNAP_ERR_INVALID_ARG). */
vms_memstate_writer *vms_memstate_writer_new(int out_fd, const vms_memstate_info *info,
                                             vmsnap_error **error);
/* Compress and write @len bytes of the stream. */
bool vms_memstate_writer_write(vms_memstate_writer *w, const void *buf, size_t len,
                               vmsnap_error **error);
/* Compress at the format's fastest level (gzip: stored blocks; zstd: a
 * negative level, with worker threads only) or back at the configured one.
 * The pump switches by itself when it falls behind the stream; readers see
 * one stream either way. No-op for uncompressed files. */
bool vms_memstate_writer_set_fast(vms_memstate_writer *w, bool fast, vmsnap_error **error);
/* Stream bytes written while at the fast level. */
uint64_t vms_memstate_writer_fast_bytes(const vms_memstate_writer *w);

/* Flush, write the end frame and the trailer, fsync @out_fd (a pipe or
 * socket is not fsync'd). Until this succeeds the file has no trailer and
 * every reader refuses it. */
bool vms_memstate_writer_finish(vms_memstate_writer *w, vmsnap_error **error);
void vms_memstate_writer_free(vms_memstate_writer *w);
/* Bytes written so far: stream bytes in, file bytes out. */
uint64_t vms_memstate_writer_bytes_in(const vms_memstate_writer *w);
uint64_t vms_memstate_writer_bytes_out(const vms_memstate_writer *w);
/* The most the writer held in its own buffer at any time (never above
 * VMS_MEMSTATE_FRAME_MAX), and its memory now including the compressor's. */
size_t vms_memstate_writer_peak_buffered(const vms_memstate_writer *w);
/* After finish: the trailer's checksum of the stored data, as 32 hex
 * digits (for the snapshot's XML); false before. */
bool vms_memstate_writer_checksum(const vms_memstate_writer *w, char hex[33]);
size_t vms_memstate_writer_memory(const vms_memstate_writer *w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_memstate_writer, vms_memstate_writer_free)

/* Read @in_fd (the read end of the pipe QEMU migrates into) to EOF through
 * @w, reporting "saving memory" progress against @total (0: unknown). A
 * pipe is grown to 1 MiB; when it is half full or more after a read (QEMU
 * waits for this process), the writer compresses at its fast level until
 * the pipe runs nearly empty, so compression never slows the save down. Does
 * not finish: EOF also comes when QEMU dies or the migration fails, so the
 * caller finishes only once QEMU reported the migration completed, and
 * otherwise frees the writer and unlinks the file. */
bool vms_memstate_writer_pump(vms_memstate_writer *w, int in_fd, const vms_progress *progress,
                              uint64_t total, vmsnap_error **error);

/* writer_new + writer_pump + writer_finish: for a stream whose EOF means
 * it is complete. */
bool vms_memstate_save_from_fd(int in_fd, int out_fd, const vms_memstate_info *info,
                               const vms_progress *progress, vmsnap_error **error);

/* --- reading ------------------------------------------------------------- */

/* Whether the regular file @fd starts with the memstate magic (false: an
 * older raw QEMU stream, "QEVM...", or anything else). I/O errors only. */
bool vms_memstate_probe(int fd, bool *is_memstate, vmsnap_error **error);

/* Read and check the header of the memory file @fd (pread from offset 0).
 * @info may be NULL. */
bool vms_memstate_read_header(int fd, vms_memstate_info *info, vmsnap_error **error);

/* Read and check header and trailer of the regular file @fd, and that its
 * length is the trailer's (no payload read). Either output may be NULL. */
bool vms_memstate_read_trailer(int fd, vms_memstate_info *info, vms_memstate_trailer *trailer,
                               vmsnap_error **error);

/* vms_memstate_restore_to_fd() without the checksums (a forced revert of a
 * file the user chose to trust): the structure and lengths still must be
 * right. */
bool vms_memstate_restore_unchecked_to_fd(int in_fd, int out_fd, const vms_progress *progress,
                                          vmsnap_error **error);

/* The trailer's checksum of the stored data of the memory file @fd as 32
 * hex digits (what vms_memstate_writer_checksum() gave when it was
 * written), from header and trailer only. */
bool vms_memstate_file_checksum(int fd, char hex[33], vmsnap_error **error);

/* Check header, trailer, frame structure and the stored-bytes checksum of
 * the regular file @fd, without decompressing ("verifying memory"). */
bool vms_memstate_verify(int fd, const vms_progress *progress, vmsnap_error **error);

/* Stream the memory file @in_fd (a regular file) decompressed into @out_fd
 * (e.g. a pipe into QEMU -incoming), "loading memory". Refuses before
 * writing anything if the header is bad, the trailer missing or the length
 * wrong, or @expected (may be NULL; "" fields unchecked) does not match.
 * Both checksums are checked as the data goes; a mismatch is reported at
 * the end, after the data was written: callers that must not feed damaged
 * data to QEMU call vms_memstate_verify() first (it is fast). */
bool vms_memstate_restore_to_fd(int in_fd, int out_fd, const vms_memstate_info *expected,
                                const vms_progress *progress, vmsnap_error **error);

#endif
