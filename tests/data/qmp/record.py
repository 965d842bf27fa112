#!/usr/bin/env python3
"""record.py: record QMP exchanges with a real QEMU into tests/data/qmp/*.txt.

Usage: record.py [OUTDIR]   (default: this script's directory)

Each scenario starts its own `qemu-system-x86_64 -accel tcg -nodefaults
-display none -S -qmp unix:SOCK,server=on,wait=off`, sends commands exactly
as vmsnap's client writes them (compact JSON, keys execute/arguments/id, ids
counting from 1 on each connection) and writes what went over the socket in
the format of docs/qmp.md:

    # comment
    > {command sent by the client}
    >fd {command sent together with a file descriptor (SCM_RIGHTS)}
    < {line received from QEMU, without its CRLF}
    ! close          QEMU closed the connection
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


class Recorder:
    def __init__(self, extra_args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="qmp-record-")
        self.sock_path = os.path.join(self.tmp.name, "qmp.sock")
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
             "-qmp", f"unix:{self.sock_path},server=on,wait=off", *extra_args])
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(self.sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.buf = b""
        self.lines = []
        self.next_id = 1
        self.closed = False
        self.lines.append("< " + self.read_line())

    def read_line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                # QEMU exiting after 'quit' may reset the connection instead
                # of closing it: the client treats both the same.
                chunk = b""
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        assert line.endswith(b"\r"), line
        return line[:-1].decode()

    def command(self, execute, arguments=None, fd=None, until_close=False):
        msg = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        msg["id"] = self.next_id
        self.next_id += 1
        text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
        data = (text + "\n").encode()
        if fd is None:
            self.sock.sendall(data)
            self.lines.append("> " + text)
        else:
            socket.send_fds(self.sock, [data], [fd])
            self.lines.append(">fd " + text)
        while True:
            try:
                line = self.read_line()
            except EOFError:
                self.lines.append("! close")
                self.closed = True
                return
            self.lines.append("< " + line)
            reply = json.loads(line)
            if reply.get("id") == msg["id"] and not until_close:
                return reply

    def save(self, path):
        self.sock.close()
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def header(rec, text):
    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    # Comments go before the greeting, which the recorder has already read.
    rec.lines[0:0] = ["# " + text, f"# Recorded by tests/data/qmp/record.py from {version}."]


def session(out):
    rec = Recorder()
    header(rec, "A guest started with -S: capabilities, status, cont/stop with RESUME/STOP, quit.")
    rec.command("qmp_capabilities")
    rec.command("query-status")
    rec.command("cont")
    rec.command("query-status")
    rec.command("stop")
    rec.command("query-status")
    rec.command("quit", until_close=True)
    rec.save(os.path.join(out, "session.txt"))


def query_block(out):
    tmp = tempfile.TemporaryDirectory(prefix="qmp-record-img-")
    image = os.path.join(tmp.name, "disk0.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "64M"], check=True)
    rec = Recorder(["-blockdev",
                    f"driver=file,filename={image},node-name=disk0-file",
                    "-blockdev", "driver=qcow2,file=disk0-file,node-name=disk0",
                    "-device", "virtio-blk-pci,drive=disk0,id=vda"])
    header(rec, "One qcow2 disk attached with -blockdev: query-block.")
    rec.command("qmp_capabilities")
    rec.command("query-block")
    rec.save(os.path.join(out, "query-block.txt"))
    tmp.cleanup()


def errors(out):
    rec = Recorder()
    header(rec, "Error replies: an unknown command, an unexpected argument; HMP text and an HMP"
           " 'Error:' reply (a successful QMP reply).")
    rec.command("qmp_capabilities")
    rec.command("no-such-command")
    rec.command("query-status", {"verbose": True})
    rec.command("human-monitor-command", {"command-line": "info status"})
    rec.command("human-monitor-command", {"command-line": "device_del nosuch"})
    rec.save(os.path.join(out, "errors.txt"))


def getfd(out):
    rec = Recorder()
    header(rec, "getfd with a descriptor passed by SCM_RIGHTS, getfd without one, closefd.")
    rec.command("qmp_capabilities")
    r, w = os.pipe()
    rec.command("getfd", {"fdname": "migration"}, fd=w)
    os.close(r)
    os.close(w)
    rec.command("getfd", {"fdname": "nothing"})
    rec.command("closefd", {"fdname": "migration"})
    rec.save(os.path.join(out, "getfd.txt"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    session(out)
    query_block(out)
    errors(out)
    getfd(out)


if __name__ == "__main__":
    main()
