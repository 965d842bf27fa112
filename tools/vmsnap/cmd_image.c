/*
 * cmd_image.c: image-info (what `qemu-img info` shows, read natively, plus
 * allocation) and snapshot-diff (which guest bytes differ between two
 * points of a domain's disks).
 *
 * image-info --json uses qemu-img's key names for the fields both show, so
 * scripts written for `qemu-img info --output=json` keep working, and adds
 * "allocation".
 */
#include "cli.h"
#include "json_writer.h"

#include <string.h>
#include <time.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_image_info, vmsnap_image_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_snapshot_diff_result, vmsnap_snapshot_diff_result_free)

#define NSEC_PER_SEC 1000000000ull

/* Three significant digits and a binary unit ("324 KiB", "1.5 GiB"), the
 * way qemu-img prints sizes. */
static char *human_size(unsigned long long bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < G_N_ELEMENTS(units)) {
        value /= 1024;
        unit++;
    }
    return g_strdup_printf("%0.3g %s", value, units[unit]);
}

/* "HHHH:MM:SS.mmm" of a guest clock in nanoseconds, as qemu-img prints it. */
static char *format_vm_clock(unsigned long long nsec)
{
    unsigned long long secs = nsec / NSEC_PER_SEC;
    return g_strdup_printf("%04llu:%02llu:%02llu.%03llu", secs / 3600, secs / 60 % 60, secs % 60,
                           nsec % NSEC_PER_SEC / 1000000);
}

static void print_image_text(const vmsnap_image_info *info)
{
    g_autofree char *vsize = human_size(info->virtual_size);
    g_autofree char *dsize = human_size(info->actual_size);
    printf("image: %s\n", info->filename);
    printf("file format: %s\n", info->format);
    printf("virtual size: %s (%llu bytes)\n", vsize, info->virtual_size);
    printf("disk size: %s\n", dsize);
    if (strcmp(info->format, "qcow2") != 0) {
        g_autofree char *alloc = human_size(info->allocated_bytes);
        printf("allocated: %s (%llu bytes)\n", alloc, info->allocated_bytes);
        return;
    }
    printf("cluster_size: %u\n", info->cluster_size);
    if (info->backing_file) {
        printf("backing file: %s", info->backing_file);
        if (strcmp(info->backing_file, info->backing_file_full) != 0)
            printf(" (actual path: %s)", info->backing_file_full);
        putchar('\n');
        if (info->backing_format)
            printf("backing file format: %s\n", info->backing_format);
    }
    if (info->nsnapshots) {
        printf("Snapshot list:\n");
        printf("%-10s%-17s%8s%20s%15s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
        for (size_t i = 0; i < info->nsnapshots; i++) {
            const vmsnap_image_snapshot *s = &info->snapshots[i];
            g_autofree char *vm = human_size(s->vm_state_size);
            g_autofree char *date = cli_format_time((long long)s->date_sec);
            g_autofree char *clock = format_vm_clock(s->vm_clock_nsec);
            g_autofree char *icount =
                s->icount >= 0 ? g_strdup_printf("%lld", s->icount) : g_strdup("--");
            /* cli_format_time() ends with the zone; the table has no room for it. */
            char *zone = strrchr(date, ' ');
            if (zone)
                *zone = '\0';
            printf("%-10s%-17s%8s%20s%15s%11s\n", s->id, s->name, vm, date, clock, icount);
        }
    }
    printf("Format specific information:\n");
    printf("    compat: %s\n", info->compat);
    printf("    compression type: %s\n", info->compression_type);
    printf("    lazy refcounts: %s\n", info->lazy_refcounts ? "true" : "false");
    printf("    refcount bits: %u\n", info->refcount_bits);
    printf("    corrupt: %s\n", info->corrupt ? "true" : "false");
    printf("    extended l2: %s\n", info->extended_l2 ? "true" : "false");
    if (info->dirty)
        printf("    dirty: true (refcounts may be stale; `qemu-img check -r leaks` fixes them)\n");
    if (info->has_bitmaps)
        printf("    bitmaps: present\n");
    printf("Allocation in this file:\n");
    printf("    data: %llu bytes in %llu clusters (%llu compressed: %llu bytes)\n",
           info->allocated_bytes, info->data_clusters + info->compressed_clusters,
           info->compressed_clusters, info->compressed_bytes);
    printf("    zero: %llu bytes in %llu clusters\n", info->zero_bytes, info->zero_clusters);
}

static void json_u64(json_writer *w, const char *key, unsigned long long v)
{
    json_key(w, key);
    json_int(w, (long long)v);
}

static void print_image_json(json_writer *w, const vmsnap_image_info *info)
{
    json_begin_object(w);
    json_key(w, "filename");
    json_string(w, info->filename);
    json_key(w, "format");
    json_string(w, info->format);
    json_u64(w, "virtual-size", info->virtual_size);
    json_u64(w, "actual-size", info->actual_size);
    bool qcow2 = strcmp(info->format, "qcow2") == 0;
    if (qcow2)
        json_u64(w, "cluster-size", info->cluster_size);
    json_key(w, "dirty-flag");
    json_bool(w, info->dirty);
    if (info->backing_file) {
        json_key(w, "backing-filename");
        json_string(w, info->backing_file);
        json_key(w, "full-backing-filename");
        json_string(w, info->backing_file_full);
        if (info->backing_format) {
            json_key(w, "backing-filename-format");
            json_string(w, info->backing_format);
        }
    }
    if (info->nsnapshots) {
        json_key(w, "snapshots");
        json_begin_array(w);
        for (size_t i = 0; i < info->nsnapshots; i++) {
            const vmsnap_image_snapshot *s = &info->snapshots[i];
            json_begin_object(w);
            json_key(w, "id");
            json_string(w, s->id);
            json_key(w, "name");
            json_string(w, s->name);
            json_u64(w, "vm-state-size", s->vm_state_size);
            json_u64(w, "date-sec", s->date_sec);
            json_u64(w, "date-nsec", s->date_nsec);
            json_u64(w, "vm-clock-sec", s->vm_clock_nsec / NSEC_PER_SEC);
            json_u64(w, "vm-clock-nsec", s->vm_clock_nsec % NSEC_PER_SEC);
            if (s->icount >= 0) {
                json_key(w, "icount");
                json_int(w, s->icount);
            }
            json_u64(w, "disk-size", s->disk_size);
            json_end_object(w);
        }
        json_end_array(w);
    }
    if (qcow2) {
        json_key(w, "format-specific");
        json_begin_object(w);
        json_key(w, "type");
        json_string(w, "qcow2");
        json_key(w, "data");
        json_begin_object(w);
        json_key(w, "compat");
        json_string(w, info->compat);
        json_key(w, "compression-type");
        json_string(w, info->compression_type);
        /* As qemu-img: version 2 has no feature bits to show. */
        bool v3 = strcmp(info->compat, "0.10") != 0;
        if (v3) {
            json_key(w, "lazy-refcounts");
            json_bool(w, info->lazy_refcounts);
        }
        json_u64(w, "refcount-bits", info->refcount_bits);
        if (v3) {
            json_key(w, "corrupt");
            json_bool(w, info->corrupt);
            json_key(w, "extended-l2");
            json_bool(w, info->extended_l2);
        }
        json_key(w, "bitmaps-extension");
        json_bool(w, info->has_bitmaps);
        json_end_object(w);
        json_end_object(w);
    }
    json_key(w, "allocation");
    json_begin_object(w);
    json_u64(w, "data-bytes", info->allocated_bytes);
    json_u64(w, "zero-bytes", info->zero_bytes);
    json_u64(w, "compressed-bytes", info->compressed_bytes);
    json_u64(w, "data-clusters", info->data_clusters);
    json_u64(w, "zero-clusters", info->zero_clusters);
    json_u64(w, "compressed-clusters", info->compressed_clusters);
    json_end_object(w);
    json_end_object(w);
}

int cmd_image_info(cli_ctx *ctx, const cli_args *args)
{
    const char *path = cli_args_get(args, "file");
    bool chain = cli_args_has(args, "backing-chain");
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_image_info) info =
        vmsnap_image_inspect(path, chain ? VMSNAP_IMAGE_INSPECT_BACKING_CHAIN : 0, &err);
    if (!info)
        return cli_fail(err);
    if (cli_args_has(args, "json")) {
        g_autoptr(json_writer) w = json_writer_new();
        if (chain)
            json_begin_array(w);
        for (const vmsnap_image_info *i = info; i; i = chain ? i->backing : NULL)
            print_image_json(w, i);
        if (chain)
            json_end_array(w);
        fputs(json_writer_get(w), stdout);
        return CLI_EXIT_OK;
    }
    for (const vmsnap_image_info *i = info; i; i = chain ? i->backing : NULL) {
        if (i != info)
            putchar('\n');
        print_image_text(i);
    }
    return CLI_EXIT_OK;
}

static char *point_name(const char *file, const char *tag)
{
    return tag ? g_strdup_printf("%s, internal snapshot '%s'", file, tag) : g_strdup(file);
}

static void print_diff_text(const vmsnap_snapshot_diff_result *r)
{
    for (size_t i = 0; i < r->ndisks; i++) {
        const vmsnap_disk_diff *d = &r->disks[i];
        if (d->skipped) {
            printf("disk %s: not compared: %s\n", d->disk, d->skipped);
            continue;
        }
        g_autofree char *from = point_name(d->from_file, d->from_tag);
        g_autofree char *to = point_name(d->to_file, d->to_tag);
        printf("disk %s: %llu bytes differ in %zu range%s (of %llu bytes)\n", d->disk,
               d->differing_bytes, d->nranges, d->nranges == 1 ? "" : "s", d->size);
        printf("  from: %s\n  to:   %s\n", from, to);
        for (size_t j = 0; j < d->nranges; j++)
            printf("  %llu +%llu\n", d->ranges[j].offset, d->ranges[j].length);
    }
    printf("total: %llu bytes differ\n", r->differing_bytes);
}

static void json_point(json_writer *w, const char *key, const char *file, const char *tag)
{
    json_key(w, key);
    json_begin_object(w);
    json_key(w, "file");
    json_string(w, file);
    json_key(w, "tag");
    json_string(w, tag);
    json_end_object(w);
}

static void print_diff_json(const vmsnap_snapshot_diff_result *r, const char *from, const char *to)
{
    g_autoptr(json_writer) w = json_writer_new();
    json_begin_object(w);
    json_key(w, "from");
    json_string(w, from);
    json_key(w, "to");
    json_string(w, to);
    json_key(w, "disks");
    json_begin_array(w);
    for (size_t i = 0; i < r->ndisks; i++) {
        const vmsnap_disk_diff *d = &r->disks[i];
        json_begin_object(w);
        json_key(w, "disk");
        json_string(w, d->disk);
        json_key(w, "skipped");
        json_string(w, d->skipped);
        if (!d->skipped) {
            json_point(w, "from", d->from_file, d->from_tag);
            json_point(w, "to", d->to_file, d->to_tag);
            json_u64(w, "size", d->size);
            json_u64(w, "differing-bytes", d->differing_bytes);
            json_u64(w, "compared-bytes", d->compared_bytes);
            json_key(w, "ranges");
            json_begin_array(w);
            for (size_t j = 0; j < d->nranges; j++) {
                json_begin_object(w);
                json_u64(w, "offset", d->ranges[j].offset);
                json_u64(w, "length", d->ranges[j].length);
                json_end_object(w);
            }
            json_end_array(w);
        }
        json_end_object(w);
    }
    json_end_array(w);
    json_u64(w, "differing-bytes", r->differing_bytes);
    json_end_object(w);
    fputs(json_writer_get(w), stdout);
}

int cmd_snapshot_diff(cli_ctx *ctx, const cli_args *args)
{
    const char *to_name = cli_args_get(args, "to");
    if (to_name && cli_args_has(args, "current"))
        return cli_usage_error(ctx, "give either SNAP_B or --current, not both");
    g_autoptr(vmsnap_domain) dom = cli_domain(ctx, cli_args_get(args, "domain"));
    if (!dom)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) from = cli_snapshot(dom, cli_args_get(args, "snapshotname"));
    if (!from)
        return CLI_EXIT_FAILED;
    g_autoptr(vmsnap_snapshot) to = NULL;
    if (to_name && !(to = cli_snapshot(dom, to_name)))
        return CLI_EXIT_FAILED;
    vmsnap_error *err = NULL;
    g_autoptr(vmsnap_snapshot_diff_result) r = NULL;
    if (vmsnap_snapshot_diff(from, to, &r, 0, &err) < 0)
        return cli_fail(err);
    if (cli_args_has(args, "json"))
        print_diff_json(r, vmsnap_snapshot_get_name(from), to_name);
    else
        print_diff_text(r);
    return CLI_EXIT_OK;
}
