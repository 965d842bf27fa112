/*
 * fuzz_memstate.c: memory-state files (src/memstate/), which vmsnap reads
 * back from disk where anything may have happened to them. The input is
 * parsed as a header and (its last 64 bytes) a trailer, then put in a
 * memfd and verified and restored into /dev/null. Every failure must be one
 * VMSNAP_ERR_CORRUPT error with a message; a restore that succeeds implies
 * a verify that succeeded (restore checks all verify does, and more).
 *
 * Checksums stop almost every mutation at the header, so each input also
 * runs a second time "repaired": header checksum, trailer magic, length
 * and checksums recomputed. That run reaches the frame walker and the
 * decompressors with arbitrary frames, and must verify whenever the frames
 * are well formed.
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <glib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memstate/memstate.h"
#include "memstate/memstate_internal.h"

static void check_corrupt(const char *what, vmsnap_error *err)
{
    fuzz_check_failure(what, err);
    if (vmsnap_error_get_code(err) != VMSNAP_ERR_CORRUPT)
        fuzz_fail("%s failed with %s, not corrupt: %s", what,
                  vmsnap_error_code_to_string(vmsnap_error_get_code(err)),
                  vmsnap_error_get_message(err));
}

/* Run @ok's call's result through the error convention; returns @ok. */
static bool judge(const char *what, bool ok, vmsnap_error **err)
{
    if (ok)
        fuzz_check_success(what, *err);
    else
        check_corrupt(what, *err);
    g_clear_pointer(err, vmsnap_error_free);
    return ok;
}

static void parse_buffers(const uint8_t *data, size_t size)
{
    vmsnap_error *err = NULL;
    vms_memstate_info info;
    size_t header_len = 0;
    if (judge("vms_memstate_parse_header",
              vms_memstate_parse_header(data, size, &info, &header_len, &err), &err)) {
        if (header_len > size || strlen(info.snapshot_name) == 0)
            fuzz_fail("header of %zu bytes parsed from %zu bytes, name '%s'", header_len, size,
                      info.snapshot_name);
    }
    if (size >= VMS_MEMSTATE_TRAILER_LEN) {
        vms_memstate_trailer trailer;
        judge("vms_memstate_parse_trailer",
              vms_memstate_parse_trailer(data + size - VMS_MEMSTATE_TRAILER_LEN, &trailer, &err),
              &err);
    }
}

/* Make the header's and trailer's checksums and lengths match the bytes. */
static void repair(uint8_t *buf, size_t size)
{
    if (size < 88)
        return;
    size_t name_len = vms_memstate_get_le16(buf + 34);
    size_t h = 88 + name_len + 8;
    if (h > size)
        return;
    vms_memstate_put_le32(buf + 12, (uint32_t)h);
    vms_memstate_put_le64(buf + h - 8, XXH3_64bits(buf, h - 8));
    if (size < h + VMS_MEMSTATE_TRAILER_LEN)
        return;
    uint8_t *t = buf + size - VMS_MEMSTATE_TRAILER_LEN;
    memcpy(t, "VMSNAPTR", 8);
    vms_memstate_put_le64(t + 8, size - h - VMS_MEMSTATE_TRAILER_LEN);
    XXH128_hash_t ph = XXH3_128bits(buf + h, size - h - VMS_MEMSTATE_TRAILER_LEN);
    vms_memstate_put_hash128(t + 24, &ph);
    vms_memstate_put_le64(t + 56, XXH3_64bits(t, 56));
}

/* Read header, verify, restore the file holding @data. */
static void run_file(const uint8_t *data, size_t size, int devnull)
{
    int fd = memfd_create("fuzz-memstate", MFD_CLOEXEC);
    if (fd < 0)
        fuzz_fail("cannot create a memfd");
    if (size > 0 && !vms_memstate_write_all(fd, data, size, NULL))
        fuzz_fail("cannot fill the memfd");
    vmsnap_error *err = NULL;
    judge("vms_memstate_read_header", vms_memstate_read_header(fd, NULL, &err), &err);
    bool verified = judge("vms_memstate_verify", vms_memstate_verify(fd, NULL, &err), &err);
    bool restored = judge("vms_memstate_restore_to_fd",
                          vms_memstate_restore_to_fd(fd, devnull, NULL, NULL, &err), &err);
    if (restored && !verified)
        fuzz_fail("restore accepted a file that verify refused");
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int devnull = -1;
    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        fuzz_fail("cannot open /dev/null");
    parse_buffers(data, size);
    run_file(data, size, devnull);
    uint8_t *copy = g_memdup2(data, size);
    repair(copy, size);
    run_file(copy, size, devnull);
    g_free(copy);
    return 0;
}
