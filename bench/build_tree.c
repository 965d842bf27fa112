/*
 * build_tree.c: build a domain with N snapshots through the public API, for
 * the metadata benchmarks (bench/bench-metadata.sh).
 *
 *   build_tree STATE_DIR DOMAIN_XML N
 *
 * The tree is deterministic: snapshot i's parent is snapshot i-1 four times
 * in five (long chains, as made by taking snapshots one after another) and
 * an earlier snapshot otherwise (branches, as made by reverting first).
 * Prints the seconds the whole import took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vmsnap/vmsnap.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: build_tree STATE_DIR DOMAIN_XML N\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    char *domain_xml = read_file(argv[2]);
    if (!domain_xml) {
        perror(argv[2]);
        return 1;
    }
    vmsnap_error *err = NULL;
    vmsnap_conn *conn = vmsnap_conn_open(argv[1], 0, &err);
    vmsnap_domain *dom = conn ? vmsnap_domain_define_xml(conn, domain_xml, 0, &err) : NULL;
    if (!dom) {
        fprintf(stderr, "error: %s\n", vmsnap_error_get_message(err));
        return 1;
    }
    unsigned int seed = 42;
    double start = now();
    for (long i = 0; i < count; i++) {
        char xml[512], parent[64] = "";
        if (i > 0) {
            long p = (rand_r(&seed) % 5 != 0) ? i - 1 : rand_r(&seed) % i;
            snprintf(parent, sizeof(parent), "<parent><name>snap%06ld</name></parent>", p);
        }
        snprintf(xml, sizeof(xml),
                 "<domainsnapshot><name>snap%06ld</name><state>running</state>%s"
                 "<creationTime>%ld</creationTime><memory snapshot='internal'/>"
                 "<disks><disk name='vda' snapshot='internal'/></disks></domainsnapshot>",
                 i, parent, 1700000000L + i);
        unsigned int flags = VMSNAP_SNAPSHOT_CREATE_REDEFINE;
        if (i == count - 1)
            flags |= VMSNAP_SNAPSHOT_CREATE_CURRENT;
        vmsnap_snapshot *snap = vmsnap_snapshot_create_xml(dom, xml, flags, &err);
        if (!snap) {
            fprintf(stderr, "error: %s\n", vmsnap_error_get_message(err));
            return 1;
        }
        vmsnap_snapshot_free(snap);
    }
    printf("%.3f\n", now() - start);
    vmsnap_domain_free(dom);
    vmsnap_conn_free(conn);
    free(domain_xml);
    return 0;
}
