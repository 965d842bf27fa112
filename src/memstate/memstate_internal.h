/*
 * memstate_internal.h: helpers shared by the memstate files (not for other
 * layers).
 */
#ifndef VMS_MEMSTATE_INTERNAL_H
#define VMS_MEMSTATE_INTERNAL_H

#include <xxhash.h>

#include "memstate/memstate.h"

#define VMS_MEMSTATE_CHECKSUM_XXH3_128 1
/* The longest header: 88 fixed bytes, the name, its checksum. */
#define VMS_MEMSTATE_HEADER_MAX (88 + VMS_NAME_MAX + 8)

void vms_memstate_put_le16(uint8_t *p, uint16_t v);
void vms_memstate_put_le32(uint8_t *p, uint32_t v);
void vms_memstate_put_le64(uint8_t *p, uint64_t v);
uint16_t vms_memstate_get_le16(const uint8_t *p);
uint32_t vms_memstate_get_le32(const uint8_t *p);
uint64_t vms_memstate_get_le64(const uint8_t *p);
void vms_memstate_put_hash128(uint8_t *p, const XXH128_hash_t *h);
/* 32 hex digits, for messages. */
char *vms_memstate_hash_hex(const uint8_t *h16);

/* "" parses as all zeros. */
bool vms_memstate_uuid_parse(const char *text, uint8_t out[16]);
/* All zeros formats as "". */
void vms_memstate_uuid_format(const uint8_t in[16], char out[VMS_MEMSTATE_UUID_STRLEN + 1]);

bool vms_memstate_check_info(const vms_memstate_info *info, vmsnap_error **error);
/* @buf holds VMS_MEMSTATE_HEADER_MAX bytes; returns the header's length. */
size_t vms_memstate_header_encode(const vms_memstate_info *info, uint32_t frame_max, uint8_t *buf);
bool vms_memstate_parse_header_full(const uint8_t *buf, size_t len, vms_memstate_info *info,
                                    size_t *header_len, uint32_t *frame_max, vmsnap_error **error);
void vms_memstate_trailer_encode(const vms_memstate_trailer *t, uint8_t *buf);

/* Full writes and reads, retrying on EINTR and short counts. A closed
 * pipe is an error naming @what, never a SIGPIPE. */
bool vms_memstate_write_out(int fd, const void *buf, size_t len, const char *what,
                            vmsnap_error **error);
bool vms_memstate_write_all(int fd, const void *buf, size_t len, vmsnap_error **error);
bool vms_memstate_pread_all(int fd, void *buf, size_t len, uint64_t offset, vmsnap_error **error);

#endif
