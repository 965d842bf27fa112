/*
 * qemu_blockjob.h: QEMU block jobs that move data between the layers of a
 * running disk's backing chain — block-stream (a layer's data copied up into
 * a file above it) and block-commit (copied down into a file below it, the
 * active layer included) — with deadlines and progress (docs/qemu.md,
 * "Block jobs").
 *
 * Disks are named by their -device id ("vms-dev-vda"); layers by their file
 * name, looked up in QEMU's chain for that device at every call. Each call
 * starts one job, reports its progress to @progress (may be NULL) as
 * "@what" with bytes done and total (polled every 100 ms), and returns once
 * the job is over and gone from QEMU. A deadline passing cancels the job
 * and fails; QEMU leaves the chain as it was when a job fails or is
 * cancelled (unless it finished just before the cancel arrived).
 * Returned strings and arrays are the caller's.
 */
#ifndef VMS_QEMU_QEMU_BLOCKJOB_H
#define VMS_QEMU_QEMU_BLOCKJOB_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "qemu/qmp.h"
#include "util/progress.h"

/* The files of @device_id's chain as QEMU has it open, active layer first,
 * then each backing file down to the base; NULL-terminated. */
char **vms_qemu_device_chain(vms_qmp *qmp, const char *device_id, vmsnap_error **error);

/* Every file open in QEMU as part of some disk's chain (a set of paths). */
GHashTable *vms_qemu_open_files(vms_qmp *qmp, vmsnap_error **error);

/* block-stream: copy into @top_file (the active layer or any file below it
 * in @device_id's chain) the data it reads from the layers between it and
 * @base_file, then make @base_file its backing file (NULL: the whole chain
 * below @top_file, which is left without a backing file). QEMU rewrites
 * @top_file's backing file name; the layers in between are no longer open
 * in QEMU afterwards (unless something else uses them). */
bool vms_qemu_blockjob_stream(vms_qmp *qmp, const char *device_id, const char *top_file,
                              const char *base_file, const char *what, const vms_progress *progress,
                              int timeout_ms, vmsnap_error **error);

/* block-commit: copy the data of @top_file and every layer between it and
 * @base_file down into @base_file, which must be below @top_file in
 * @device_id's chain and is changed. When @top_file is the active layer
 * (active commit) QEMU mirrors the guest's new writes until the job is
 * ready, vmsnap completes it, and the device then writes to @base_file.
 * Otherwise the file above @top_file gets @base_file as its backing file. */
bool vms_qemu_blockjob_commit(vms_qmp *qmp, const char *device_id, const char *top_file,
                              const char *base_file, const char *what, const vms_progress *progress,
                              int timeout_ms, vmsnap_error **error);

/* Jobs a vmsnap that died left in QEMU: block jobs (stream, commit) are
 * cancelled — one stopped half-way leaves every file's contents as they
 * were, and an active commit waiting to switch stays on its top file —
 * other jobs (snapshot-save, -load, -delete) run to their end; returns
 * once QEMU runs none, concluded ones dismissed. */
bool vms_qemu_jobs_settle(vms_qmp *qmp, int timeout_ms, vmsnap_error **error);

#endif
