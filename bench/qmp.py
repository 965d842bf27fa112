#!/usr/bin/env python3
"""qmp.py: the benchmark's QMP side (bench/run.sh).

  qmp.py migrate SOCK FILE        save a bare QEMU's running guest to FILE the
                                  way a user would: raise the bandwidth limit,
                                  migrate "exec:cat > FILE", wait, cont. Prints
                                  "TOTAL_MS PAUSE_MS DOWNTIME_MS".
  qmp.py quit SOCK                quit a bare QEMU
  qmp.py migrate-bg SOCK FILE      the same with QEMU's background-snapshot
  qmp.py pause-strace LOG         the guest pause seen in an strace of vmsnap
                                  reading its QMP socket: QEMU's STOP and
                                  RESUME event timestamps. Prints ms or "-".
  qmp.py pause-virsh LOG SKIP     the same from `virsh qemu-monitor-event
                                  --timestamp` output, after line SKIP.

A pause is measured from QEMU's own event timestamps for every tool, so the
figures compare; several STOP/RESUME pairs add up.
"""
import json
import re
import socket
import sys
import time
from datetime import datetime


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit(f"qmp.py: cannot connect to {path}")
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        self.events = []
        self.file.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.file.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.file.flush()
        while True:
            msg = json.loads(self.file.readline())
            if "event" in msg:
                self.events.append(msg)
            elif "error" in msg:
                raise SystemExit(f"qmp.py: {name}: {msg['error']['desc']}")
            elif "return" in msg:
                return msg["return"]


def event_time(msg):
    ts = msg["timestamp"]
    return ts["seconds"] + ts["microseconds"] / 1e6


def pause_ms(pairs):
    """Sum of STOP -> RESUME intervals in a list of (name, seconds)."""
    total, stopped = 0.0, None
    for name, t in pairs:
        if name == "STOP" and stopped is None:
            stopped = t
        elif name == "RESUME" and stopped is not None:
            total += t - stopped
            stopped = None
    if stopped is not None:
        return None
    return total * 1000


def migrate(sock, path, background=False):
    """Bare QEMU's migration of the running guest to a file: precopy (the
    guest pauses for the last pass), or with @background QEMU's background
    snapshot (the memory as at the start; QEMU resumes the guest itself)."""
    q = Qmp(sock)
    q.cmd("migrate-set-capabilities",
          capabilities=[{"capability": "background-snapshot", "state": background}])
    q.cmd("migrate-set-parameters", **{"max-bandwidth": 10**12})
    start = time.time()
    q.cmd("migrate", uri=f"exec:cat > {path}")
    deadline = start + 600
    while True:
        info = q.cmd("query-migrate")
        if info.get("status") == "completed":
            break
        if info.get("status") == "failed" or time.time() > deadline:
            raise SystemExit(f"qmp.py: migration {info.get('status')}: {info.get('error-desc', '')}")
        time.sleep(0.005)
    if not background:
        q.cmd("cont")
    total = (time.time() - start) * 1000
    # The RESUME event may come just after cont's return.
    q.cmd("query-status")
    pause = pause_ms([(m["event"], event_time(m)) for m in q.events])
    print(f"{total:.1f} {'-' if pause is None else f'{pause:.1f}'} {info.get('downtime', '-')}")


def pause_strace(log):
    text = open(log, errors="replace").read().replace('\\"', '"')
    pairs = []
    stamp = r'"timestamp": ?\{"seconds": ?(?P<s>\d+), ?"microseconds": ?(?P<us>\d+)\}'
    event = r'"event": ?"(?P<e>STOP|RESUME)"'
    for pattern in (stamp + r', ?' + event, event + r', ?' + stamp):
        for m in re.finditer(pattern, text):
            pairs.append((m.group("e"), int(m.group("s")) + int(m.group("us")) / 1e6))
    # The same bytes may show in more than one traced read: keep each once.
    pairs = sorted(set(pairs), key=lambda p: p[1])
    if not pairs:  # no pause at all, if QMP traffic was seen
        print("0.0" if '"return"' in text else "-")
        return
    pause = pause_ms(pairs)
    print("-" if pause is None else f"{pause:.1f}")


def pause_virsh(log, skip):
    pairs = []
    for line in open(log, errors="replace").read().splitlines()[skip:]:
        m = re.match(r"(\S+ \S+?)\+0000: event (STOP|RESUME) ", line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            pairs.append((m.group(2), t))
    pause = pause_ms(pairs) if pairs else 0.0
    print("-" if pause is None else f"{pause:.1f}")


def main():
    cmd = sys.argv[1]
    if cmd == "migrate":
        migrate(sys.argv[2], sys.argv[3])
    elif cmd == "migrate-bg":
        migrate(sys.argv[2], sys.argv[3], background=True)
    elif cmd == "quit":
        try:
            Qmp(sys.argv[2], timeout=2).cmd("quit")
        except (OSError, SystemExit, ValueError):
            pass
    elif cmd == "pause-strace":
        pause_strace(sys.argv[2])
    elif cmd == "pause-virsh":
        pause_virsh(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(f"qmp.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
