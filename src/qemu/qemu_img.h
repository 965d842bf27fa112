/*
 * qemu_img.h: running qemu-img, the reference implementation for editing
 * images that no QEMU has open. One runner captures the exit status,
 * stdout and stderr of every call; failures become VMSNAP_ERR_QEMU_IMG with
 * qemu-img's own message kept. Callers must hold the domain's lock and must
 * not call these on an image a running QEMU has open for writing (qemu-img
 * refuses too, through QEMU's image locks, and that refusal is reported as
 * VMSNAP_ERR_BUSY with qemu-img's text).
 *
 * Paths must be absolute (VMSNAP_ERR_INVALID_ARG otherwise); an image that
 * does not exist is VMSNAP_ERR_IO before qemu-img runs. qemu-img runs with
 * umask 077; editing calls name the format (qcow2) rather than let qemu-img
 * probe it. See docs/qemu.md.
 */
#ifndef VMS_QEMU_QEMU_IMG_H
#define VMS_QEMU_QEMU_IMG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmsnap/vmsnap.h>

/* Run `qemu-img ARGS...` (@argv without the program name, NULL-terminated).
 * Returns stdout on exit status 0. @timeout_ms 0: no deadline. */
char *vms_qemu_img_run(const char *const *argv, int timeout_ms, vmsnap_error **error);

/* create -f FORMAT [-b BACKING -F BACKING_FORMAT] FILE [SIZE]; new files are
 * created 0600. @size_bytes 0 with a backing file: the backing file's size.
 * An existing @file is never overwritten (VMSNAP_ERR_OPERATION_DENIED). */
bool vms_qemu_img_create(const char *file, const char *format, uint64_t size_bytes,
                         const char *backing, const char *backing_format, vmsnap_error **error);

/* info --output=json [--backing-chain] FILE: the JSON text (an object, or
 * with @backing_chain an array from @file down to the base). qemu-img
 * probes the format here: use it on images vmsnap created. */
char *vms_qemu_img_info_json(const char *file, bool backing_chain, vmsnap_error **error);

/* The backing file of @file (absolute, as qemu-img resolves it) and its
 * format; both NULL when @file has no backing file. */
bool vms_qemu_img_get_backing(const char *file, char **backing, char **backing_format,
                              vmsnap_error **error);

/* The image at the bottom of @file's backing chain (@file itself when it
 * has no backing file), from one qemu-img call however deep the chain. */
char *vms_qemu_img_chain_base(const char *file, vmsnap_error **error);

/* snapshot -c / -a / -d NAME FILE; snapshot -l FILE as NULL-terminated names. */
bool vms_qemu_img_snapshot_create(const char *file, const char *name, vmsnap_error **error);
bool vms_qemu_img_snapshot_apply(const char *file, const char *name, vmsnap_error **error);
bool vms_qemu_img_snapshot_delete(const char *file, const char *name, vmsnap_error **error);
char **vms_qemu_img_snapshot_list(const char *file, vmsnap_error **error);

/* A new qcow2 @dest holding internal snapshot @name of @file as its
 * contents, on @backing (the backing file @file had when the snapshot was
 * taken; NULL: a whole image). @file is not changed. Mode 0600. */
bool vms_qemu_img_convert_snapshot(const char *file, const char *name, const char *dest,
                                   const char *backing, const char *backing_format,
                                   vmsnap_error **error);

/* commit FILE (into its backing file); rebase -u|-b. */
bool vms_qemu_img_commit(const char *file, vmsnap_error **error);
bool vms_qemu_img_rebase(const char *file, const char *backing, const char *backing_format,
                         bool unsafe, vmsnap_error **error);

/* check FILE: true when clean (leaked clusters only waste space and count as
 * clean); a corrupt image, or one qemu-img cannot open as qcow2, is
 * VMSNAP_ERR_CORRUPT with qemu-img's report. @shared (-U): also an image a
 * running QEMU has open (QEMU orders its metadata writes so that what is on
 * disk has leaks at worst, never corruption). */
bool vms_qemu_img_check(const char *file, bool shared, vmsnap_error **error);

#endif
