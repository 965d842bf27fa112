#!/usr/bin/env python3
"""libvirt_tree.py DOMAIN N: write the snapshot tree bench/build_tree makes
(the same names, parents and creation times) as libvirt stores snapshot
metadata, /var/lib/libvirt/qemu/snapshot/DOMAIN/NAME.xml, for the libvirtd
bench/run.sh restarts next to load. The snapshots are internal, of the shut
off domain, each carrying the domain's definition (`virsh dumpxml`) as
libvirt's do; the last one is current.

One `virsh snapshot-create DOMAIN FILE --redefine` per snapshot stores the
same files; this is the bulk path to 10,000.
"""
import os
import subprocess
import sys


def rand_r(state):
    """glibc's rand_r, so the tree matches build_tree.c's."""
    nxt = state[0]
    nxt = (nxt * 1103515245 + 12345) & 0xFFFFFFFF
    result = (nxt // 65536) % 2048
    nxt = (nxt * 1103515245 + 12345) & 0xFFFFFFFF
    result = (result << 10) ^ ((nxt // 65536) % 1024)
    nxt = (nxt * 1103515245 + 12345) & 0xFFFFFFFF
    result = (result << 10) ^ ((nxt // 65536) % 1024)
    state[0] = nxt
    return result


def parents(count):
    """Snapshot i's parent index (None for the root), as build_tree.c picks."""
    seed = [42]
    out = [None]
    for i in range(1, count):
        out.append(i - 1 if rand_r(seed) % 5 != 0 else rand_r(seed) % i)
    return out


def main():
    dom, count = sys.argv[1], int(sys.argv[2])
    domain_xml = subprocess.run(["virsh", "dumpxml", "--inactive", "--security-info", dom],
                                check=True, capture_output=True, text=True).stdout
    domain_xml = "\n".join("  " + line for line in domain_xml.strip().splitlines())
    directory = f"/var/lib/libvirt/qemu/snapshot/{dom}"
    os.makedirs(directory, exist_ok=True)
    for i, p in enumerate(parents(count)):
        parent = f"  <parent>\n    <name>snap{p:06d}</name>\n  </parent>\n" if p is not None else ""
        active = 1 if i == count - 1 else 0
        with open(f"{directory}/snap{i:06d}.xml", "w") as f:
            f.write(f"<domainsnapshot>\n  <name>snap{i:06d}</name>\n  <state>shutoff</state>\n"
                    f"{parent}  <creationTime>{1700000000 + i}</creationTime>\n"
                    f"  <memory snapshot='no'/>\n  <disks>\n"
                    f"    <disk name='vda' snapshot='internal'/>\n  </disks>\n"
                    f"{domain_xml}\n  <active>{active}</active>\n</domainsnapshot>\n")


if __name__ == "__main__":
    main()
