/*
 * memstate_format.c: the header and trailer of memory-state files, encoded
 * and parsed with every field bounds-checked. docs/formats/memstate.md is
 * the reference; the tables are repeated here next to the code.
 *
 * Header (little-endian; H = 96 + N bytes):
 *
 *   offset  size  field          meaning
 *   0       8     magic          "VMSNAPMS"
 *   8       2     version        1; other versions are refused
 *   10      2     flags          0; any bit set is refused (a newer writer)
 *   12      4     header_len     H = 96 + N
 *   16      16    domain_uuid    binary; all zeros: no domain
 *   32      1     compression    0 none, 1 gzip, 2 zstd
 *   33      1     checksum_alg   1 = xxh3-128 (the only one)
 *   34      2     name_len       N, 1..240
 *   36      4     frame_max      largest stored frame, 4096..16 MiB
 *   40      8     size_hint      guest RAM size (about the stream's), 0 unknown
 *   48      8     created        unix seconds (signed)
 *   56      32    qemu_version   printable ASCII, NUL-padded, "" unknown
 *   88      N     snapshot_name  a valid vmsnap name, no NUL
 *   88+N    8     header_xxh64   xxh3-64 of bytes 0 .. 88+N-1
 *
 * Trailer (the last 64 bytes of the file):
 *
 *   offset  size  field             meaning
 *   0       8     magic             "VMSNAPTR"
 *   8       8     payload_len       bytes between header and trailer
 *   16      8     uncompressed_len  bytes of the stream QEMU wrote
 *   24      16    payload_xxh128    xxh3-128 of the payload bytes (low64, high64)
 *   40      16    stream_xxh128     xxh3-128 of the uncompressed stream
 *   56      8     trailer_xxh64     xxh3-64 of trailer bytes 0..55
 */
#include "memstate/memstate_internal.h"

#include <string.h>
#include <xxhash.h>

#include "util/error.h"

#define HEADER_FIXED     88
#define QEMU_VERSION_OFF 56
#define FRAME_MAX_MIN    4096u
#define FRAME_MAX_MAX    (16u * 1024 * 1024)

static const char header_magic[8] = {'V', 'M', 'S', 'N', 'A', 'P', 'M', 'S'};
static const char trailer_magic[8] = {'V', 'M', 'S', 'N', 'A', 'P', 'T', 'R'};

void vms_memstate_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void vms_memstate_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void vms_memstate_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t vms_memstate_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t vms_memstate_get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t vms_memstate_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void vms_memstate_put_hash128(uint8_t *p, const XXH128_hash_t *h)
{
    vms_memstate_put_le64(p, h->low64);
    vms_memstate_put_le64(p + 8, h->high64);
}

char *vms_memstate_hash_hex(const uint8_t *h16)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 16; i++)
        g_string_append_printf(s, "%02x", h16[i]);
    return g_string_free(s, FALSE);
}

const char *vms_memstate_compression_name(vms_memstate_compression c)
{
    switch (c) {
    case VMS_MEMSTATE_COMPRESS_NONE:
        return "none";
    case VMS_MEMSTATE_COMPRESS_GZIP:
        return "gzip";
    case VMS_MEMSTATE_COMPRESS_ZSTD:
        return "zstd";
    }
    return NULL;
}

bool vms_memstate_compression_from_name(const char *name, vms_memstate_compression *out)
{
    if (!name)
        return false;
    if (strcmp(name, "none") == 0 || strcmp(name, "raw") == 0)
        *out = VMS_MEMSTATE_COMPRESS_NONE;
    else if (strcmp(name, "gzip") == 0)
        *out = VMS_MEMSTATE_COMPRESS_GZIP;
    else if (strcmp(name, "zstd") == 0)
        *out = VMS_MEMSTATE_COMPRESS_ZSTD;
    else
        return false;
    return true;
}

bool vms_memstate_uuid_parse(const char *text, uint8_t out[16])
{
    memset(out, 0, 16);
    if (!text || !*text)
        return true;
    if (strlen(text) != VMS_MEMSTATE_UUID_STRLEN)
        return false;
    int n = 0;
    for (int i = 0; i < VMS_MEMSTATE_UUID_STRLEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return false;
            continue;
        }
        int hi = g_ascii_xdigit_value(text[i]), lo = g_ascii_xdigit_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return n == 16;
}

void vms_memstate_uuid_format(const uint8_t in[16], char out[VMS_MEMSTATE_UUID_STRLEN + 1])
{
    static const uint8_t zero[16];
    if (memcmp(in, zero, 16) == 0) {
        out[0] = '\0';
        return;
    }
    g_snprintf(out, VMS_MEMSTATE_UUID_STRLEN + 1,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", in[0], in[1],
               in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9], in[10], in[11], in[12],
               in[13], in[14], in[15]);
}

/* --- header -------------------------------------------------------------- */

/* Printable ASCII, then NULs only, with at least one NUL in @len bytes. */
static bool qemu_version_ok(const uint8_t *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] >= 0x20 && p[n] < 0x7f)
        n++;
    if (n >= len)
        return false;
    for (; n < len; n++)
        if (p[n] != 0)
            return false;
    return true;
}

bool vms_memstate_check_info(const vms_memstate_info *info, vmsnap_error **error)
{
    uint8_t uuid[16];
    if (!vms_memstate_compression_name(info->compression)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "unknown memory compression %d: use none, gzip or zstd",
                      (int)info->compression);
        return false;
    }
    if (!vms_memstate_uuid_parse(info->domain_uuid, uuid)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "'%s' is not a domain UUID (expected 8-4-4-4-12 hex digits)",
                      info->domain_uuid);
        return false;
    }
    if (!qemu_version_ok((const uint8_t *)info->qemu_version, sizeof(info->qemu_version))) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "QEMU version for the memory file is not printable ASCII of at most %d "
                      "characters",
                      VMS_MEMSTATE_QEMU_VERSION_MAX);
        return false;
    }
    if (memchr(info->snapshot_name, '\0', sizeof(info->snapshot_name)) == NULL) {
        vms_error_set(error, VMSNAP_ERR_INVALID_NAME, "snapshot name is longer than %d bytes",
                      VMS_NAME_MAX);
        return false;
    }
    return vms_name_validate("snapshot", info->snapshot_name, error);
}

size_t vms_memstate_header_encode(const vms_memstate_info *info, uint32_t frame_max, uint8_t *buf)
{
    size_t n = strlen(info->snapshot_name);
    size_t h = HEADER_FIXED + n + 8;
    uint8_t uuid[16];
    vms_memstate_uuid_parse(info->domain_uuid, uuid);
    memset(buf, 0, h);
    memcpy(buf, header_magic, 8);
    vms_memstate_put_le16(buf + 8, VMS_MEMSTATE_VERSION);
    vms_memstate_put_le16(buf + 10, 0);
    vms_memstate_put_le32(buf + 12, (uint32_t)h);
    memcpy(buf + 16, uuid, 16);
    buf[32] = (uint8_t)info->compression;
    buf[33] = VMS_MEMSTATE_CHECKSUM_XXH3_128;
    vms_memstate_put_le16(buf + 34, (uint16_t)n);
    vms_memstate_put_le32(buf + 36, frame_max);
    vms_memstate_put_le64(buf + 40, info->size_hint);
    vms_memstate_put_le64(buf + 48, (uint64_t)info->created);
    memcpy(buf + QEMU_VERSION_OFF, info->qemu_version, strlen(info->qemu_version));
    memcpy(buf + HEADER_FIXED, info->snapshot_name, n);
    vms_memstate_put_le64(buf + HEADER_FIXED + n, XXH3_64bits(buf, HEADER_FIXED + n));
    return h;
}

static bool truncated_header(size_t len, size_t need, vmsnap_error **error)
{
    vms_error_set(error, VMSNAP_ERR_CORRUPT,
                  "memory file is truncated: it ends after %zu bytes, inside its header (%zu "
                  "bytes); the save did not complete: delete this snapshot and take it again",
                  len, need);
    return false;
}

bool vms_memstate_parse_header_full(const uint8_t *buf, size_t len, vms_memstate_info *info,
                                    size_t *header_len, uint32_t *frame_max, vmsnap_error **error)
{
    vms_memstate_info tmp = {0};
    if (len < 8 && (len == 0 || memcmp(buf, header_magic, len) == 0))
        return truncated_header(len, HEADER_FIXED + 8, error);
    if (len < 8 || memcmp(buf, header_magic, 8) != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "not a vmsnap memory file (no \"VMSNAPMS\" magic at its start); it may be "
                      "a raw QEMU migration stream or another file: check the path");
        return false;
    }
    if (len < 16)
        return truncated_header(len, HEADER_FIXED + 8, error);
    uint16_t version = vms_memstate_get_le16(buf + 8);
    if (version != VMS_MEMSTATE_VERSION) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file format version %u is not supported (this vmsnap reads "
                      "version %d): use the vmsnap that wrote it, or a newer one",
                      version, VMS_MEMSTATE_VERSION);
        return false;
    }
    uint16_t flags = vms_memstate_get_le16(buf + 10);
    if (flags != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file has unknown flags 0x%04x (this vmsnap knows none): it was "
                      "written by a newer vmsnap; use that one",
                      flags);
        return false;
    }
    if (len < HEADER_FIXED)
        return truncated_header(len, HEADER_FIXED + 8, error);
    uint32_t hlen = vms_memstate_get_le32(buf + 12);
    uint16_t name_len = vms_memstate_get_le16(buf + 34);
    if (name_len == 0 || name_len > VMS_NAME_MAX || hlen != HEADER_FIXED + name_len + 8u) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file header is damaged: header length %u and name length %u "
                      "do not fit (names are 1..%d bytes); the file cannot be used: delete "
                      "this snapshot or restore the file from a backup",
                      hlen, name_len, VMS_NAME_MAX);
        return false;
    }
    if (len < hlen)
        return truncated_header(len, hlen, error);
    uint64_t want = vms_memstate_get_le64(buf + HEADER_FIXED + name_len);
    if (XXH3_64bits(buf, HEADER_FIXED + name_len) != want) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file header is damaged (its checksum does not match); the file "
                      "cannot be used: delete this snapshot or restore the file from a backup");
        return false;
    }
    /* The checksum matched: what follows are a writer's bugs, or forgery. */
    if (!vms_memstate_compression_name((vms_memstate_compression)buf[32])) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file uses unknown compression %u (this vmsnap knows none, gzip, "
                      "zstd): use the vmsnap that wrote it",
                      buf[32]);
        return false;
    }
    if (buf[33] != VMS_MEMSTATE_CHECKSUM_XXH3_128) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file uses unknown checksum algorithm %u (this vmsnap knows 1, "
                      "xxh3-128): use the vmsnap that wrote it",
                      buf[33]);
        return false;
    }
    uint32_t fmax = vms_memstate_get_le32(buf + 36);
    if (fmax < FRAME_MAX_MIN || fmax > FRAME_MAX_MAX) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file header gives a frame size of %u bytes (allowed: %u..%u); "
                      "the file cannot be used",
                      fmax, FRAME_MAX_MIN, FRAME_MAX_MAX);
        return false;
    }
    memcpy(tmp.snapshot_name, buf + HEADER_FIXED, name_len);
    tmp.snapshot_name[name_len] = '\0';
    g_autoptr(vmsnap_error) name_err = NULL;
    if (strlen(tmp.snapshot_name) != name_len ||
        !vms_name_validate("snapshot", tmp.snapshot_name, &name_err)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file header holds an invalid snapshot name%s%s; the file cannot "
                      "be used",
                      name_err ? ": " : "", name_err ? vmsnap_error_get_message(name_err) : "");
        return false;
    }
    if (!qemu_version_ok(buf + QEMU_VERSION_OFF, 32)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file header holds an invalid QEMU version (not printable ASCII); "
                      "the file cannot be used");
        return false;
    }
    memcpy(tmp.qemu_version, buf + QEMU_VERSION_OFF, 32);
    vms_memstate_uuid_format(buf + 16, tmp.domain_uuid);
    tmp.compression = (vms_memstate_compression)buf[32];
    tmp.size_hint = vms_memstate_get_le64(buf + 40);
    tmp.created = (int64_t)vms_memstate_get_le64(buf + 48);
    if (info)
        *info = tmp;
    if (header_len)
        *header_len = hlen;
    if (frame_max)
        *frame_max = fmax;
    return true;
}

bool vms_memstate_parse_header(const uint8_t *buf, size_t len, vms_memstate_info *info,
                               size_t *header_len, vmsnap_error **error)
{
    return vms_memstate_parse_header_full(buf, len, info, header_len, NULL, error);
}

/* --- trailer ------------------------------------------------------------- */

void vms_memstate_trailer_encode(const vms_memstate_trailer *t, uint8_t *buf)
{
    memcpy(buf, trailer_magic, 8);
    vms_memstate_put_le64(buf + 8, t->payload_len);
    vms_memstate_put_le64(buf + 16, t->uncompressed_len);
    memcpy(buf + 24, t->payload_xxh128, 16);
    memcpy(buf + 40, t->stream_xxh128, 16);
    vms_memstate_put_le64(buf + 56, XXH3_64bits(buf, 56));
}

bool vms_memstate_parse_trailer(const uint8_t *buf, vms_memstate_trailer *trailer,
                                vmsnap_error **error)
{
    if (memcmp(buf, trailer_magic, 8) != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file is truncated or unfinished: it has no trailer (\"VMSNAPTR\") "
                      "at its end, so the save did not complete; delete this snapshot and "
                      "take it again");
        return false;
    }
    if (XXH3_64bits(buf, 56) != vms_memstate_get_le64(buf + 56)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "memory file trailer is damaged (its checksum does not match); the file "
                      "cannot be trusted: delete this snapshot or restore the file from a "
                      "backup");
        return false;
    }
    trailer->payload_len = vms_memstate_get_le64(buf + 8);
    trailer->uncompressed_len = vms_memstate_get_le64(buf + 16);
    memcpy(trailer->payload_xxh128, buf + 24, 16);
    memcpy(trailer->stream_xxh128, buf + 40, 16);
    return true;
}
