/* qemu_vm.h: fixtures shared by the unit tests that run a real QEMU
 * (test_qemu_process, test_qemu_snapshot, test_qemu_blockjob): disk images
 * checked with qemu-io, and a QEMU started with stopped CPUs and no guest.
 *
 * Every helper asserts: a failure aborts the test with the reason, so none
 * returns an error. Returned strings are the caller's (g_free). A QEMU
 * started with vm_start() is a daemon, not the test's child: install
 * kill_qemu_on_abort() for SIGABRT so a failing assertion does not leave it
 * running. */
#ifndef VMS_TEST_QEMU_VM_H
#define VMS_TEST_QEMU_VM_H

#include "qemu/qemu_process.h"
#include "qemu/qmp.h"

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

/* Deadlines: QEMU's start and quit, one QMP command, one job. */
#define LAUNCH_MS 30000
#define QMP_MS    5000
#define JOB_MS    60000

/* Fail the test, saying what to install, when @name is not on PATH. */
void require_program(const char *name);
/* qemu-system-x86_64, qemu-img and qemu-io. */
void require_qemu(void);

/* ---- images (QEMU not running) ----------------------------------------- */

/* @dir/@name. */
char *image_path(const char *dir, const char *name);

/* A new image at @path in @format: 1 MiB, or with @backing (a qcow2, may be
 * NULL) its size. */
void make_image(const char *path, const char *format, const char *backing);

/* qemu-io writes @pattern (a byte) at @where ("OFFSET LENGTH", "0 64k"). */
void write_pattern(const char *file, const char *format, int pattern, const char *where);

/* The file reads @pattern at @where, through its backing chain. */
void assert_pattern(const char *file, const char *format, int pattern, const char *where);

/* The file does not read @pattern at @where. */
void assert_no_pattern(const char *file, const char *format, int pattern, const char *where);

/* The backing file named in @file's header, or NULL if it has none. */
char *backing_of(const char *file);

/* ---- a QEMU with disks -------------------------------------------------- */

/* SIGABRT handler: kills the QEMU of the running test, then aborts. */
void kill_qemu_on_abort(int sig);

typedef struct {
    char *dir;              /* a temporary directory for the test's files */
    vms_qemu_config config; /* what vm_start() launches; set before it */
    vms_qemu_paths *paths;  /* under dir/run */
    pid_t pid;              /* 0 when not running */
    vms_qmp *qmp;           /* connected while running */
} vm;

/* A VM not started yet: @memory_mib of RAM, 1 vCPU, CPUs stopped, no disks. */
vm *vm_new(uint64_t memory_mib);

/* Attach @file (in @format) as the virtio disk @target ("vda"): node
 * "vms-@target", device "vms-dev-@target". */
void vm_add_disk(vm *v, const char *file, const char *format, const char *target);

/* Launch QEMU and connect to its monitor. */
void vm_start(vm *v);

/* QEMU quits (flushing its images) and is gone; nothing if not running. */
void vm_quit(vm *v);

/* Kill QEMU if it still runs, and free @v. */
void vm_free(vm *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vm, vm_free)

/* Run a QMP command that must succeed; returns its reply. */
char *vm_command(vm *v, const char *command, const char *args);

/* query-status's "status" ("prelaunch", "running", ...). */
char *vm_status(vm *v);

/* ---- assertions --------------------------------------------------------- */

/* *@err is set with @code and exactly @message; frees it. */
void assert_error_message(vmsnap_error **err, vmsnap_error_code code, const char *message);

/* Milliseconds since @start (g_get_monotonic_time()). */
double elapsed_ms(gint64 start);

#endif
