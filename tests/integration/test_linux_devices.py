"""Linux's own drivers against every vmkit virtio device, in one boot (the
`make check` Linux device boot): three virtio-blk disks (raw, qcow2, ext4),
virtio-net on a TAP in a network namespace this test creates, virtio-console
on a unix socket, virtio-rng, virtio-vsock and virtio-balloon. /init runs
the blk, net, console, rng, vsock and balloon directives (guest/linux/init)
on 2 vCPUs (so virtio-blk has two queues); the host plays its part of the
console, vsock and balloon directives while the guest runs and then checks
the images.

vsock (both directions, with /bin/vmhelper in the guest): the guest listens
on VSOCK_GUEST_PORT and the host connects through the VMM's socket
(`CONNECT <port>`) and sends random bytes; the guest connects to the host's
VSOCK_HOST_PORT (the VMM connects it to `<socket>_<port>`) and sends its
pattern. Each side answers the other's "LEN\n" + LEN bytes with "LEN CRC32\n".

balloon: the VM runs with --mem-prealloc (Linux never touches most of its
free memory, and a page the host never allocated frees nothing when given
back). When the guest says `ready` the host sets the target to RAM minus
BALLOON_MIB, waits for the device's actual to reach it and for the VMM's
resident anonymous memory (guest RAM) to drop by at least 0.9 x BALLOON_MIB, then sets the target back to all of RAM; the
guest waits for its memory to come back and writes BALLOON_MIB MiB again."""
import os
import socket
import subprocess
import threading
import time
import zlib

import pytest

from conftest import Vm, console_responder, linux_artifact, rss_anon, tap_netns

PATTERN_OFF = 1 << 20
PATTERN_LEN = 1 << 20
MAC = "52:54:00:0a:4d:02"
LINUX_TIMEOUT = float(os.environ.get("VMKIT_LINUX_TIMEOUT", "400"))
MEMORY = 256 << 20
VSOCK_CID = 7
VSOCK_GUEST_PORT = 5001
VSOCK_HOST_PORT = 5002
VSOCK_BYTES = 256 << 10    # more than one credit window of either side
BALLOON_MIB = 16
# How long the host waits for the device and the host memory to follow the guest
# (generous: ASan and the emulated guest ring 0 are slow; never a criterion).
HOST_WAIT = 120


def pattern(dev):
    line = f"vmkit-blk-{dev}\n".encode()
    return (line * (PATTERN_LEN // len(line) + 1))[:PATTERN_LEN]


def read_at(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def read_line(s):
    """Bytes up to and without the first newline, read one at a time so
    nothing after it is consumed; what arrived if the stream ends first."""
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            return line
        line += b
    return line[:-1]


def receive_and_answer(s):
    """The receiver's half of the vmhelper exchange: "LEN\n" + LEN bytes in,
    "LEN CRC\n" out; returns (LEN, CRC)."""
    n = int(read_line(s))
    crc, got = 0, 0
    while got < n:
        data = s.recv(min(65536, n - got))
        assert data, f"vsock: the guest's stream ended after {got} of {n} bytes"
        crc = zlib.crc32(data, crc)
        got += len(data)
    s.sendall(b"%d %08x\n" % (n, crc))
    return n, crc


def vsock_host_listener(path, stop, seen):
    """The host end of the guest's connection (a thread): the VMM connects
    guest connections to port P to the unix socket PATH_P."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(0.5)
    try:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(HOST_WAIT)
                try:
                    seen.append(receive_and_answer(conn))
                except (OSError, ValueError, AssertionError) as e:
                    seen.append(e)
            return
    finally:
        srv.close()


def vsock_host_connect(path, port, data):
    """Connect to the guest's vsock port through the VMM's unix socket
    (Firecracker's `CONNECT <port>` / `OK <hostport>`), send data as the
    vmhelper sender, return the guest's answer line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(HOST_WAIT)
    with s:
        s.connect(path)
        s.sendall(b"CONNECT %d\n" % port)
        ok = read_line(s)
        assert ok.startswith(b"OK "), f"vsock: CONNECT {port} answered {ok!r}"
        s.sendall(b"%d\n" % len(data) + data)
        return read_line(s)


def balloon_state(vm):
    r = vm.qmp.cmd("query-balloon")
    assert "return" in r, r
    ret = r["return"]
    return ret[0] if isinstance(ret, list) else ret


class HostSide:
    """What the host does when the guest's directives reach it; each step
    runs when its line appears in the serial output, in order."""

    def __init__(self, vm, sock):
        self.vm, self.sock = vm, sock
        self.vsock_data = os.urandom(VSOCK_BYTES)
        self.vsock_answer = None
        self.rss_before = self.rss_inflated = None
        self.balloon = None

    def steps(self):
        return [(f"vmhelper: listening on vsock port {VSOCK_GUEST_PORT}", self.vsock_connect),
                ("linux: balloon: ready", self.balloon_inflate),
                ("linux: balloon: inflated", self.balloon_deflate)]

    def vsock_connect(self):
        self.vsock_answer = vsock_host_connect(self.sock, VSOCK_GUEST_PORT, self.vsock_data)

    def balloon_inflate(self):
        self.rss_before = rss_anon(self.vm.proc.pid)
        r = self.vm.qmp.cmd("balloon-set", target=MEMORY - (BALLOON_MIB << 20))
        assert r == {"return": {}}, r

    def balloon_deflate(self):
        """Wait until the device holds the whole balloon and guest RAM has
        shrunk (the last page frames may still be on their way when the
        guest's MemFree has dropped), then give the memory back."""
        deadline = time.monotonic() + HOST_WAIT
        want = 0.9 * (BALLOON_MIB << 20)
        while True:
            self.balloon = balloon_state(self.vm)
            self.rss_inflated = rss_anon(self.vm.proc.pid)
            done = self.balloon.get("actual-pages") == self.balloon.get("num-pages")
            if done and self.rss_before - self.rss_inflated >= want:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        r = self.vm.qmp.cmd("balloon-set", target=MEMORY)
        assert r == {"return": {}}, r

    def check(self):
        n, crc = len(self.vsock_data), zlib.crc32(self.vsock_data)
        assert self.vsock_answer == b"%d %08x" % (n, crc), self.vsock_answer
        assert self.balloon is not None, "the guest never said its balloon inflated"
        assert self.balloon["num-pages"] == BALLOON_MIB << 8, self.balloon
        assert self.balloon["actual-pages"] == self.balloon["num-pages"], self.balloon
        dropped = self.rss_before - self.rss_inflated
        assert dropped >= 0.9 * (BALLOON_MIB << 20), (
            f"guest RAM shrank by {dropped >> 10} KiB while the balloon held "
            f"{BALLOON_MIB} MiB (from {self.rss_before >> 10} KiB)")


def run_steps(vm, steps, timeout):
    """Run each (line, action) step once its line is in the serial output
    (steps whose lines have all appeared run in list order; one directive
    that never gets to its line holds up no other), until the VMM exits;
    returns its exit status."""
    deadline = time.monotonic() + timeout
    while vm.proc.poll() is None:
        out = vm.serial()
        for step in [s for s in steps if s[0] in out]:
            steps.remove(step)
            step[1]()
        if time.monotonic() > deadline:
            pytest.fail(f"no end within {timeout:.0f} s; serial output ends:\n"
                        + "\n".join(out.splitlines()[-40:]))
        time.sleep(0.2)
    return vm.proc.returncode


def make_disks(tmp_path):
    raw = tmp_path / "vda.raw"
    with open(raw, "wb") as f:
        f.truncate(8 << 20)
    qcow = tmp_path / "vdb.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "8M"], check=True)
    root = tmp_path / "ext4root"
    root.mkdir()
    (root / "hello.txt").write_text("vmkit ext4 hello\n")
    ext4 = tmp_path / "vdc.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(ext4), "8M"], check=True)
    return str(raw), str(qcow), str(ext4)


def test_linux_virtio_devices(kvm, tmp_path):
    raw, qcow, ext4 = make_disks(tmp_path)
    con = str(tmp_path / "con.sock")
    vsock = str(tmp_path / "vsock.sock")
    with open(linux_artifact("cmdline")) as f:
        cmdline = (f.read().strip() + " rdinit=/init"
                   " vmkit.test=blk,net,console,rng,vsock,balloon"
                   " vmkit.blk_pattern=vda,vdb vmkit.blk_ext4=vdc"
                   f" vmkit.net_ip=10.77.0.2/24 vmkit.net_peer=10.77.0.1 vmkit.net_mac={MAC}"
                   f" vmkit.vsock_cid={VSOCK_CID} vmkit.vsock_port={VSOCK_GUEST_PORT}"
                   f" vmkit.vsock_host_port={VSOCK_HOST_PORT} vmkit.vsock_bytes={VSOCK_BYTES}"
                   f" vmkit.balloon_mib={BALLOON_MIB}")
    stop, seen, vseen = threading.Event(), [], []
    with tap_netns("10.77.0.1/24") as (ns, tap):
        threads = [threading.Thread(target=console_responder, args=(con, stop, seen),
                                    daemon=True),
                   threading.Thread(target=vsock_host_listener,
                                    args=(f"{vsock}_{VSOCK_HOST_PORT}", stop, vseen),
                                    daemon=True)]
        for t in threads:
            t.start()
        vm = Vm(tmp_path, ["--kernel", linux_artifact("vmlinux"),
                           "--initrd", linux_artifact("initramfs.cpio"),
                           "--memory", str(MEMORY >> 20) + "M", "--cpus", "2",
                           "--cmdline", cmdline,
                           "--disk", f"path={raw},format=raw",
                           "--disk", f"path={qcow},format=qcow2,cache=none",
                           "--disk", f"path={ext4},format=raw",
                           "--net", f"tap={tap},mac={MAC}",
                           "--console", "unix:" + con, "--rng",
                           "--vsock", f"cid={VSOCK_CID},socket={vsock}", "--balloon",
                           "--mem-prealloc"],
                prefix=["ip", "netns", "exec", ns])
        host = HostSide(vm, vsock)
        try:
            rc = run_steps(vm, host.steps(), LINUX_TIMEOUT)
        finally:
            stop.set()
            for t in threads:
                t.join(5)
            vm.kill()
    out = vm.serial()
    tail = "\n".join(out.splitlines()[-40:])
    for d in ("blk", "net", "console", "rng", "vsock", "balloon"):
        assert f"linux: {d}: PASS" in out, tail + vm.stderr()
    assert rc == 0, vm.stderr()
    assert seen, "the console never carried the ping"
    assert len(vseen) == 1 and not isinstance(vseen[0], Exception), vseen
    assert vseen[0][0] == VSOCK_BYTES, vseen
    host.check()
    # What Linux wrote is in the host's images.
    assert read_at(raw, PATTERN_OFF, PATTERN_LEN) == pattern("vda")
    conv = str(tmp_path / "vdb.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", qcow, conv], check=True)
    assert read_at(conv, PATTERN_OFF, PATTERN_LEN) == pattern("vdb")
    r = subprocess.run(["qemu-img", "check", qcow], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["debugfs", "-R", "cat /from-linux.txt", ext4],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "written by linux", r.stdout + r.stderr
    r = subprocess.run(["e2fsck", "-fn", ext4], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
