/*
 * test_qcow2.c: the native qcow2 inspector (src/qcow2/) against images made
 * by the real qemu-img and qemu-io at test time: header fields, snapshot
 * table, mapping, refcounts, every byte of every point equal to what
 * `qemu-img convert -O raw` writes, diffs equal to a byte comparison of two
 * such conversions and to `qemu-img compare`, and clean errors for
 * corrupted copies.
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "qcow2/qcow2.h"
#include "testutil.h"

static char *tmpdir;

/* Run a shell command; the test fails if it does. Returns its stdout. */
static char *run(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    const char *argv[] = {"sh", "-ec", cmd, NULL};
    char *out = NULL, *err = NULL;
    int status = 0;
    g_autoptr(GError) gerr = NULL;
    if (!g_spawn_sync(tmpdir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                      &status, &gerr))
        g_error("cannot run '%s': %s", cmd, gerr->message);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("'%s' failed: %s%s", cmd, out, err);
    g_free(err);
    return out;
}

static char *path_of(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static char *read_file(const char *name, gsize *len)
{
    g_autofree char *p = path_of(name);
    char *data = NULL;
    g_assert_true(g_file_get_contents(p, &data, len, NULL));
    return data;
}

/* Every guest byte of @name at @tag equals qemu-img's raw conversion. */
static void assert_content(const char *name, const char *tag)
{
    g_autofree char *raw_name = g_strdup_printf("%s.%s.raw", name, tag ? tag : "active");
    if (tag)
        g_free(
            run("qemu-img convert -U -l 'snapshot.name=%s' -O raw %s '%s'", tag, name, raw_name));
    else
        g_free(run("qemu-img convert -U -O raw %s '%s'", name, raw_name));
    gsize raw_len = 0;
    g_autofree char *raw = read_file(raw_name, &raw_len);
    g_autofree char *p = path_of(name);
    vmsnap_error *err = NULL;
    g_autoptr(vms_qcow2_chain) chain = vms_qcow2_chain_open(p, NULL, tag, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(vms_qcow2_chain_size(chain), ==, raw_len);
    g_autofree uint8_t *buf = g_malloc(raw_len);
    g_assert_true(vms_qcow2_chain_read(chain, 0, raw_len, buf, &err));
    vms_test_assert_no_error(err);
    for (gsize i = 0; i < raw_len; i++) {
        if (buf[i] != (uint8_t)raw[i])
            g_error("%s@%s: byte %" G_GSIZE_FORMAT " is %u, qemu-img says %u", name,
                    tag ? tag : "active", i, buf[i], (uint8_t)raw[i]);
    }
}

static vms_qcow2 *open_ok(const char *name)
{
    g_autofree char *p = path_of(name);
    vmsnap_error *err = NULL;
    vms_qcow2 *img = vms_qcow2_open(p, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(img);
    return img;
}

/* Open @name expecting an error with @code whose message contains @text. */
static void assert_open_fails(const char *name, vmsnap_error_code code, const char *text)
{
    g_autofree char *p = path_of(name);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qcow2_open(p, &err));
    g_assert_nonnull(err);
    const char *msg = vmsnap_error_get_message(err);
    if (!strstr(msg, text))
        g_error("%s: expected a message with '%s', got: %s", name, text, msg);
    vms_test_assert_error(err, code);
}

static void test_header_v3(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=4096,lazy_refcounts=on h3.qcow2 3M"));
    g_free(run("qemu-img create -q -f qcow2 -b h3.qcow2 -F qcow2 h3top.qcow2"));
    g_autoptr(vms_qcow2) img = open_ok("h3.qcow2");
    const vms_qcow2_header *h = vms_qcow2_get_header(img);
    g_assert_cmpuint(h->version, ==, 3);
    g_assert_cmpuint(h->cluster_size, ==, 4096);
    g_assert_cmpuint(h->virtual_size, ==, 3 * 1024 * 1024);
    g_assert_true(h->lazy_refcounts);
    g_assert_false(h->dirty);
    g_assert_false(h->corrupt);
    g_assert_cmpuint(h->refcount_order, ==, 4);
    g_assert_null(h->backing_file);
    g_autoptr(vms_qcow2) top = open_ok("h3top.qcow2");
    g_assert_cmpstr(vms_qcow2_get_header(top)->backing_file, ==, "h3.qcow2");
    g_assert_cmpstr(vms_qcow2_get_header(top)->backing_format, ==, "qcow2");
    g_assert_cmpuint(vms_qcow2_get_header(top)->cluster_size, ==, 65536);
}

static void test_header_v2(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=512 h2.qcow2 1M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 0x5a 1000 3000' h2.qcow2 >/dev/null"));
    g_autoptr(vms_qcow2) img = open_ok("h2.qcow2");
    const vms_qcow2_header *h = vms_qcow2_get_header(img);
    g_assert_cmpuint(h->version, ==, 2);
    g_assert_cmpuint(h->cluster_bits, ==, 9);
    g_assert_cmpuint(h->header_length, ==, 72);
    assert_content("h2.qcow2", NULL);
}

static void test_snapshots_and_map(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=4096 s.qcow2 2M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 1 0 64k' -c 'write -P 2 1M 8k' s.qcow2 >/dev/null"));
    g_free(run("qemu-img snapshot -c first s.qcow2"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 3 4k 4k' -c 'write -z 32k 8k' s.qcow2 >/dev/null"));
    g_free(run("qemu-img snapshot -c 'second one' s.qcow2"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 4 1M 4k' s.qcow2 >/dev/null"));
    g_autoptr(vms_qcow2) img = open_ok("s.qcow2");
    g_assert_cmpuint(vms_qcow2_n_snapshots(img), ==, 2);
    const vms_qcow2_snapshot *s0 = vms_qcow2_get_snapshot(img, 0);
    g_assert_cmpstr(s0->id, ==, "1");
    g_assert_cmpstr(s0->name, ==, "first");
    g_assert_cmpuint(s0->vm_state_size, ==, 0);
    g_assert_cmpuint(s0->disk_size, ==, 2 * 1024 * 1024);
    g_assert_cmpint(vms_qcow2_find_snapshot(img, "second one"), ==, 1);
    g_assert_cmpint(vms_qcow2_find_snapshot(img, "none"), ==, -1);

    vmsnap_error *err = NULL;
    g_autoptr(vms_qcow2_map) map = vms_qcow2_map_new(img, -1, &err);
    vms_test_assert_no_error(err);
    vms_qcow2_extent ext;
    g_assert_true(vms_qcow2_map_lookup(map, 32768, &ext, &err));
    g_assert_cmpint(ext.kind, ==, VMS_QCOW2_ZERO);
    g_assert_cmpuint(ext.length, ==, 8192);
    g_assert_true(vms_qcow2_map_lookup(map, 128 * 1024, &ext, &err));
    g_assert_cmpint(ext.kind, ==, VMS_QCOW2_UNALLOCATED);
    /* Clusters shared by both snapshots have refcount 3, rewritten ones 1. */
    g_assert_true(vms_qcow2_map_lookup(map, 0, &ext, &err));
    g_assert_cmpint(ext.kind, ==, VMS_QCOW2_DATA);
    uint64_t rc = 0;
    g_assert_true(vms_qcow2_refcount(img, ext.host_offset, &rc, &err));
    g_assert_cmpuint(rc, ==, 3); /* both snapshots and the active layer */
    g_assert_true(vms_qcow2_map_lookup(map, 1024 * 1024, &ext, &err));
    g_assert_true(vms_qcow2_refcount(img, ext.host_offset, &rc, &err));
    g_assert_cmpuint(rc, ==, 1);
    vms_qcow2_alloc_stats st;
    g_assert_true(vms_qcow2_map_stats(map, &st, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpuint(st.data_bytes, ==, 56 * 1024 + 8 * 1024);
    g_assert_cmpuint(st.zero_bytes, ==, 8192);
    g_assert_cmpuint(st.zero_clusters, ==, 2);

    assert_content("s.qcow2", NULL);
    assert_content("s.qcow2", "first");
    assert_content("s.qcow2", "second one");
}

static void test_compressed_and_zstd(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=4096 plain.qcow2 1M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 9 0 100k' -c 'write -P 0 200k 4k' plain.qcow2 "
               ">/dev/null"));
    g_free(run("qemu-img convert -c -O qcow2 -o cluster_size=4096 plain.qcow2 cz.qcow2"));
    g_free(run("qemu-img convert -c -O qcow2 -o cluster_size=65536,compression_type=zstd "
               "plain.qcow2 cs.qcow2"));
    g_autoptr(vms_qcow2) img = open_ok("cz.qcow2");
    vmsnap_error *err = NULL;
    g_autoptr(vms_qcow2_map) map = vms_qcow2_map_new(img, -1, &err);
    vms_qcow2_alloc_stats st;
    g_assert_true(vms_qcow2_map_stats(map, &st, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpuint(st.compressed_clusters, ==, 25);
    g_autoptr(vms_qcow2) zimg = open_ok("cs.qcow2");
    g_assert_cmpuint(vms_qcow2_get_header(zimg)->compression_type, ==, 1);
    assert_content("cz.qcow2", NULL);
    assert_content("cs.qcow2", NULL);
}

static void test_extended_l2(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=65536,extended_l2=on x.qcow2 1M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 7 2k 4k' -c 'write -z 64k 6k' -c "
               "'write -P 8 200k 70k' x.qcow2 >/dev/null"));
    g_autoptr(vms_qcow2) img = open_ok("x.qcow2");
    g_assert_true(vms_qcow2_get_header(img)->extended_l2);
    assert_content("x.qcow2", NULL);
}

static void test_backing_chain(void)
{
    g_free(run("qemu-img create -q -f raw base.raw 1M"));
    g_free(run("qemu-io -f raw -c 'write -P 0x11 0 300k' base.raw >/dev/null"));
    g_free(run("qemu-img create -q -f qcow2 -b base.raw -F raw -o cluster_size=4096 mid.qcow2"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 0x22 100k 50k' -c 'write -z 8k 4k' mid.qcow2 "
               ">/dev/null"));
    g_free(run("qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 -o compat=0.10 top.qcow2 2M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 0x33 120k 10k' -c 'write -P 0x44 1500k 4k' "
               "top.qcow2 >/dev/null"));
    assert_content("top.qcow2", NULL);
    assert_content("mid.qcow2", NULL);
}

/* The sectors where two raw files differ, as merged ranges. */
static GArray *raw_diff(const char *a, const char *b)
{
    gsize la = 0, lb = 0;
    g_autofree char *x = read_file(a, &la);
    g_autofree char *y = read_file(b, &lb);
    gsize size = MAX(la, lb);
    GArray *out = g_array_new(FALSE, FALSE, sizeof(vms_qcow2_range));
    for (gsize s = 0; s < size; s += 512) {
        bool differ = false;
        for (gsize i = s; i < MIN(s + 512, size) && !differ; i++) {
            uint8_t cx = i < la ? (uint8_t)x[i] : 0, cy = i < lb ? (uint8_t)y[i] : 0;
            differ = cx != cy;
        }
        if (!differ)
            continue;
        vms_qcow2_range *last =
            out->len ? &g_array_index(out, vms_qcow2_range, out->len - 1) : NULL;
        if (last && last->offset + last->length == s)
            last->length = MIN(s + 512, size) - last->offset;
        else
            g_array_append_val(out, ((vms_qcow2_range){s, MIN(s + 512, size) - s}));
    }
    return out;
}

/* Diff two points; check against the raw conversions and qemu-img compare. */
static uint64_t check_diff(const char *file_a, const char *tag_a, const char *file_b,
                           const char *tag_b)
{
    g_autofree char *pa = path_of(file_a), *pb = path_of(file_b);
    vmsnap_error *err = NULL;
    g_autoptr(vms_qcow2_chain) a = vms_qcow2_chain_open(pa, NULL, tag_a, &err);
    vms_test_assert_no_error(err);
    g_autoptr(vms_qcow2_chain) b = vms_qcow2_chain_open(pb, NULL, tag_b, &err);
    vms_test_assert_no_error(err);
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(vms_qcow2_range));
    vms_qcow2_diff_stats st;
    g_assert_true(vms_qcow2_chain_diff(a, b, ranges, &st, &err));
    vms_test_assert_no_error(err);

    g_autofree char *ra = g_strdup_printf("%s.%s.cmp.raw", file_a, tag_a ? tag_a : "active");
    g_autofree char *rb = g_strdup_printf("%s.%s.cmp.raw", file_b, tag_b ? tag_b : "active");
    g_free(run("qemu-img convert -U %s%s -O raw %s %s", tag_a ? "-l snapshot.name=" : "",
               tag_a ? tag_a : "", file_a, ra));
    g_free(run("qemu-img convert -U %s%s -O raw %s %s", tag_b ? "-l snapshot.name=" : "",
               tag_b ? tag_b : "", file_b, rb));
    g_autoptr(GArray) expect = raw_diff(ra, rb);
    g_assert_cmpuint(ranges->len, ==, expect->len);
    for (guint i = 0; i < expect->len; i++) {
        g_assert_cmpuint(g_array_index(ranges, vms_qcow2_range, i).offset, ==,
                         g_array_index(expect, vms_qcow2_range, i).offset);
        g_assert_cmpuint(g_array_index(ranges, vms_qcow2_range, i).length, ==,
                         g_array_index(expect, vms_qcow2_range, i).length);
    }
    /* qemu-img compare on the raw conversions: same verdict, same first offset. */
    g_autofree char *verdict = run("qemu-img compare -f raw -F raw %s %s || true", ra, rb);
    if (ranges->len == 0) {
        g_assert_cmpstr(verdict, ==, "Images are identical.\n");
    } else {
        g_autofree char *want =
            g_strdup_printf("Content mismatch at offset %" G_GUINT64_FORMAT "!\n",
                            g_array_index(ranges, vms_qcow2_range, 0).offset);
        g_assert_cmpstr(verdict, ==, want);
    }
    return st.differing_bytes;
}

static void test_diff_random(void)
{
    GRand *rand = g_rand_new_with_seed(7);
    const char *opts[] = {"cluster_size=4096", "compat=0.10,cluster_size=512",
                          "cluster_size=65536,extended_l2=on", "cluster_size=16384"};
    for (guint round = 0; round < G_N_ELEMENTS(opts); round++) {
        g_autofree char *name = g_strdup_printf("r%u.qcow2", round);
        g_free(run("qemu-img create -q -f qcow2 -o %s %s 4M", opts[round], name));
        for (int snap = 0; snap < 3; snap++) {
            GString *cmd = g_string_new("qemu-io -f qcow2");
            for (int w = 0; w < 6; w++) {
                guint off = (guint)g_rand_int_range(rand, 0, 4 * 1024 * 1024 / 512 - 64) * 512;
                guint len = (guint)g_rand_int_range(rand, 1, 64) * 512;
                if (g_rand_boolean(rand))
                    g_string_append_printf(cmd, " -c 'write -P %d %u %u'",
                                           g_rand_int_range(rand, 0, 256), off, len);
                else
                    g_string_append_printf(cmd, " -c 'write -z %u %u'", off, len);
            }
            g_string_append_printf(cmd, " %s >/dev/null", name);
            g_free(run("%s", cmd->str));
            g_string_free(cmd, TRUE);
            g_free(run("qemu-img snapshot -c s%d %s", snap, name));
        }
        g_free(run("qemu-io -f qcow2 -c 'write -P 5 1000k 3k' %s >/dev/null", name));
        check_diff(name, "s0", name, "s1");
        check_diff(name, "s1", name, "s2");
        check_diff(name, "s0", name, NULL);
        g_assert_cmpuint(check_diff(name, "s2", name, "s2"), ==, 0);
    }
    /* External layers and compressed clusters. */
    g_free(run("qemu-img convert -c -O qcow2 -o cluster_size=4096 r0.qcow2 rc.qcow2"));
    g_free(run("qemu-img create -q -f qcow2 -b rc.qcow2 -F qcow2 ro.qcow2"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 3 8k 20k' -c 'write -z 2M 64k' ro.qcow2 >/dev/null"));
    check_diff("rc.qcow2", NULL, "ro.qcow2", NULL);
    check_diff("r0.qcow2", NULL, "rc.qcow2", NULL);
    check_diff("r1.qcow2", "s1", "ro.qcow2", NULL);
    /* Different sizes: the tail of the larger one is compared with zeros. */
    g_free(run("qemu-img create -q -f qcow2 small.qcow2 1M"));
    check_diff("small.qcow2", NULL, "ro.qcow2", NULL);
    g_rand_free(rand);
}

/* A full internal snapshot saved by QEMU (savevm): its VM state lives past
 * the end of the disk in the snapshot's tables; it is reported, and neither
 * read as disk content nor compared. */
static void test_savevm_snapshot(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=4096 vm.qcow2 4M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 3 0 1M' vm.qcow2 >/dev/null"));
    g_free(run("printf 'savevm full\\nquit\\n' | qemu-system-x86_64 -machine none -nodefaults "
               "-display none -monitor stdio -accel tcg "
               "-drive file=vm.qcow2,if=none,id=d0,format=qcow2 >/dev/null"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 4 64k 4k' vm.qcow2 >/dev/null"));
    g_autoptr(vms_qcow2) img = open_ok("vm.qcow2");
    g_assert_cmpuint(vms_qcow2_n_snapshots(img), ==, 1);
    const vms_qcow2_snapshot *s = vms_qcow2_get_snapshot(img, 0);
    g_assert_cmpstr(s->name, ==, "full");
    g_assert_cmpuint(s->vm_state_size, >, 0);
    g_assert_cmpuint(s->disk_size, ==, 4 * 1024 * 1024);
    g_autofree char *listed = run("qemu-img snapshot -l vm.qcow2");
    g_autofree char *size = g_strdup_printf(" %" G_GUINT64_FORMAT " B ", s->vm_state_size);
    if (!strstr(listed, size))
        g_error("qemu-img lists '%s', vmsnap read a VM state of %s", listed, size);
    assert_content("vm.qcow2", "full");
    g_assert_cmpuint(check_diff("vm.qcow2", "full", "vm.qcow2", NULL), ==, 4096);
}

/* A copy of @src with @len bytes at @offset replaced by @bytes. */
static void patch(const char *src, const char *dst, gsize offset, const void *bytes, gsize len)
{
    gsize n = 0;
    g_autofree char *data = read_file(src, &n);
    g_assert_cmpuint(offset + len, <=, n);
    memcpy(data + offset, bytes, len);
    g_autofree char *p = path_of(dst);
    g_assert_true(g_file_set_contents(p, data, (gssize)n, NULL));
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void test_corrupt(void)
{
    g_free(run("qemu-img create -q -f qcow2 -o cluster_size=4096 good.qcow2 1M"));
    g_free(run("qemu-io -f qcow2 -c 'write -P 1 0 8k' good.qcow2 >/dev/null"));
    g_free(run("qemu-img snapshot -c snap good.qcow2"));
    uint8_t b4[4];
    uint8_t b8[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};

    g_free(run("head -c 50 good.qcow2 > cut.qcow2"));
    assert_open_fails("cut.qcow2", VMSNAP_ERR_CORRUPT, "too short for a header");
    g_free(run("head -c 4096 good.qcow2 > trunc.qcow2"));
    assert_open_fails("trunc.qcow2", VMSNAP_ERR_CORRUPT, "not inside the file");
    g_free(run("printf 'hello, not an image' > text.img"));
    assert_open_fails("text.img", VMSNAP_ERR_UNSUPPORTED, "not a qcow2 image");

    patch("good.qcow2", "incompat.qcow2", 72, b8, 8); /* bit 7 */
    assert_open_fails("incompat.qcow2", VMSNAP_ERR_UNSUPPORTED,
                      "incompatible qcow2 features vmsnap does not know: bit 7");
    put_be32(b4, 22);
    patch("good.qcow2", "bits.qcow2", 20, b4, 4);
    assert_open_fails("bits.qcow2", VMSNAP_ERR_CORRUPT, "cluster_bits is 22");
    put_be32(b4, 0x7fffffff);
    patch("good.qcow2", "l1huge.qcow2", 36, b4, 4);
    assert_open_fails("l1huge.qcow2", VMSNAP_ERR_CORRUPT, "active L1 table has 2147483647");
    uint8_t far[8] = {0, 0, 0, 0x10, 0, 0, 0, 0};
    patch("good.qcow2", "l1far.qcow2", 40, far, 8);
    assert_open_fails("l1far.qcow2", VMSNAP_ERR_CORRUPT, "not inside the file");
    patch("good.qcow2", "snapfar.qcow2", 64, far, 8);
    assert_open_fails("snapfar.qcow2", VMSNAP_ERR_CORRUPT, "snapshot table offset");
    put_be32(b4, 70000);
    patch("good.qcow2", "snapmany.qcow2", 60, b4, 4);
    assert_open_fails("snapmany.qcow2", VMSNAP_ERR_CORRUPT, "nb_snapshots is 70000");
    put_be32(b4, 1);
    patch("good.qcow2", "crypt.qcow2", 32, b4, 4);
    assert_open_fails("crypt.qcow2", VMSNAP_ERR_UNSUPPORTED, "encrypted");
    g_free(run("qemu-img create -q -f qcow2 -o data_file=ext.data ext.qcow2 1M"));
    assert_open_fails("ext.qcow2", VMSNAP_ERR_UNSUPPORTED, "external data file ('ext.data')");

    /* The corrupt bit is reported, not refused. */
    uint8_t corrupt_bit[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    patch("good.qcow2", "flagged.qcow2", 72, corrupt_bit, 8);
    g_autoptr(vms_qcow2) img = open_ok("flagged.qcow2");
    g_assert_true(vms_qcow2_get_header(img)->corrupt);

    /* An L1 entry pointing beyond the file: the map names it. */
    g_autoptr(vms_qcow2) good = open_ok("good.qcow2");
    uint64_t l1 = vms_qcow2_get_header(good)->l1_offset;
    patch("good.qcow2", "l2far.qcow2", l1, far, 8);
    g_autoptr(vms_qcow2) bad = open_ok("l2far.qcow2");
    vmsnap_error *err = NULL;
    g_autoptr(vms_qcow2_map) map = vms_qcow2_map_new(bad, -1, &err);
    vms_test_assert_no_error(err);
    vms_qcow2_extent ext;
    g_assert_false(vms_qcow2_map_lookup(map, 0, &ext, &err));
    g_assert_nonnull(strstr(vmsnap_error_get_message(err), "L1 entry 0 points to an L2 table"));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = vms_test_make_tmpdir();
    g_test_add_func("/qcow2/header-v3", test_header_v3);
    g_test_add_func("/qcow2/header-v2", test_header_v2);
    g_test_add_func("/qcow2/snapshots-and-map", test_snapshots_and_map);
    g_test_add_func("/qcow2/compressed-zlib-zstd", test_compressed_and_zstd);
    g_test_add_func("/qcow2/extended-l2", test_extended_l2);
    g_test_add_func("/qcow2/backing-chain", test_backing_chain);
    g_test_add_func("/qcow2/diff-random", test_diff_random);
    g_test_add_func("/qcow2/savevm-snapshot", test_savevm_snapshot);
    g_test_add_func("/qcow2/corrupt", test_corrupt);
    int rc = g_test_run();
    g_free(tmpdir);
    return rc;
}
