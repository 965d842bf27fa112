/*
 * qemu_process.h: one QEMU process per running domain — its command line,
 * launch, discovery and termination.
 *
 * This layer sits below src/conf (DESIGN.md): it does not know the domain
 * XML. Core translates a vms_domain_def into the plain vms_qemu_config
 * below. Files of a running domain live in its run directory
 * (<state>/run/<dom>/): qmp.sock, qemu.pid, serial.log, qemu.log.
 */
#ifndef VMS_QEMU_QEMU_PROCESS_H
#define VMS_QEMU_QEMU_PROCESS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

typedef struct {
    char *file;   /* absolute path of the image QEMU opens as the active layer */
    char *format; /* "qcow2" or "raw" */
    bool readonly;
    char *node_name; /* stable -blockdev node name of the format node, e.g. "vms-vda" */
    char *device_id; /* the -device id, e.g. "vms-dev-vda" */
} vms_qemu_disk;

typedef struct {
    char *name;    /* -name guest=NAME */
    char *uuid;    /* -uuid */
    char *binary;  /* NULL: qemu-system-x86_64 found on PATH */
    char *accel;   /* "tcg" (default when NULL) or "kvm" */
    char *machine; /* NULL: QEMU's default for the binary */
    uint64_t memory_mib;
    unsigned int vcpus;
    char *kernel, *initrd, *cmdline; /* direct kernel boot; NULL for disk boot */
    vms_qemu_disk *disks;            /* ndisks entries, attached as virtio-blk in order */
    size_t ndisks;
    bool paused; /* start with the CPUs stopped (-S) */
    /* Wait for a VM state instead of booting (-incoming defer): the state
     * comes with QMP 'migrate-incoming' (vms_qemu_load_state_from_fd()). */
    bool incoming;
} vms_qemu_config;

void vms_qemu_config_clear(vms_qemu_config *config);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vms_qemu_config, vms_qemu_config_clear)

typedef struct {
    char *run_dir; /* absolute */
    char *qmp_socket;
    char *pid_file;
    char *serial_log;
    char *qemu_log;
} vms_qemu_paths;

/* The file names inside @run_dir (which must be absolute). */
vms_qemu_paths *vms_qemu_paths_new(const char *run_dir);
void vms_qemu_paths_free(vms_qemu_paths *paths);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qemu_paths, vms_qemu_paths_free)

/* The argument vector (NULL-terminated, argv[0] the binary) that runs
 * @config with QMP, serial output and logs in @paths, daemonized. All paths
 * absolute (-daemonize moves QEMU to /). */
char **vms_qemu_build_argv(const vms_qemu_config *config, const vms_qemu_paths *paths,
                           vmsnap_error **error);

/* Launch QEMU and wait (up to @timeout_ms) until it has daemonized and its
 * QMP socket accepts connections. Returns the pid, 0 on failure; then nothing is left
 * running, and the error message ends with the last lines of qemu.log
 * (VMSNAP_ERR_QEMU: "QEMU failed to start: <lines>"). The run directory must
 * exist; serial.log is truncated, qemu.log appended to (both 0600). A QEMU
 * still running for @paths is VMSNAP_ERR_INVALID_STATE. */
pid_t vms_qemu_launch(const vms_qemu_config *config, const vms_qemu_paths *paths, int timeout_ms,
                      vmsnap_error **error);

/* The pid of the QEMU recorded in @paths if that process is alive and is
 * QEMU for this run directory (checked against /proc/PID/cmdline, so a
 * recycled pid is not mistaken for it); 0 when none runs. */
pid_t vms_qemu_find(const vms_qemu_paths *paths);

/* Terminate @pid: SIGTERM, then SIGKILL after @grace_ms; returns once the
 * process is gone (waiting on /proc, since it is not our child). */
bool vms_qemu_terminate(pid_t pid, int grace_ms, vmsnap_error **error);

/* Wait until @pid has exited, up to @timeout_ms. true if it has. */
bool vms_qemu_wait_exit(pid_t pid, int timeout_ms);

/* The last @max_lines lines of qemu.log, or "" if there is none. */
char *vms_qemu_log_tail(const vms_qemu_paths *paths, unsigned int max_lines);

/* Remove the pid file and socket left by a QEMU that is gone (nothing is
 * removed while the QEMU of @paths still runs). */
void vms_qemu_cleanup_run_dir(const vms_qemu_paths *paths);

/* The node name of the file (protocol) node under format node @node_name:
 * "vms-vda" -> "vms-file-vda", any other "x" -> "file-x". Newly allocated. */
char *vms_qemu_file_node_name(const char *node_name);

/* Connect a SOCK_STREAM socket (close-on-exec) to the UNIX socket @path,
 * also when @path is longer than sun_path's 108 bytes (it is then reached
 * through /proc/self/fd/N/ of its directory). Returns the fd or -1
 * (VMSNAP_ERR_QEMU). QEMU binds qmp.sock by a relative name, so deep run
 * directories work; clients should connect through this. */
int vms_qemu_unix_connect(const char *path, vmsnap_error **error);

#endif
