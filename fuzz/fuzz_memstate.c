/*
 * fuzz_memstate.c: memory-state files (src/memstate/), which vmsnap reads
 * back from disk where anything may have happened to them. The input is
 * parsed as a header and (its last 64 bytes) a trailer, then put in a
 * memfd and verified and restored into /dev/null. Every failure must be one
 * VMSNAP_ERR_CORRUPT error with a message; a restore that succeeds implies
 * a verify that succeeded (restore checks all verify does, and more).
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <glib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memstate/memstate.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int devnull = -1;
    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    parse_buffers(data, size);

    int fd = memfd_create("fuzz-memstate", MFD_CLOEXEC);
    if (fd < 0 || devnull < 0)
        fuzz_fail("cannot create a memfd or open /dev/null");
    const uint8_t *p = data;
    for (size_t left = size; left > 0;) {
        ssize_t n = write(fd, p, left);
        if (n <= 0)
            fuzz_fail("cannot fill the memfd");
        p += n;
        left -= (size_t)n;
    }
    vmsnap_error *err = NULL;
    judge("vms_memstate_read_header", vms_memstate_read_header(fd, NULL, &err), &err);
    bool verified = judge("vms_memstate_verify", vms_memstate_verify(fd, NULL, &err), &err);
    bool restored = judge("vms_memstate_restore_to_fd",
                          vms_memstate_restore_to_fd(fd, devnull, NULL, NULL, &err), &err);
    if (restored && !verified)
        fuzz_fail("restore accepted a file that verify refused");
    close(fd);
    return 0;
}
