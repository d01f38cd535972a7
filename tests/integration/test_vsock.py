"""virtio-vsock on real VMs with the test guest's vsock workloads; the host
side speaks Firecracker's protocol over unix sockets (AF_UNIX): a host
client connects to the VM's socket and writes `CONNECT <port>\\n`, gets
`OK <hostport>\\n`; a guest connection to host port P reaches the unix
listener at `<socket>_<P>`.

On every connection, both ways, the sender sends a 16-byte preamble
('VSK1', u32 seed, u64 count, little endian) and count bytes of an
xorshift64* stream of that seed; the receiver checks every byte (the guest
for the host's connections, this file for the guest's) and echoes them;
the sender checks the echo. Half of the connections are half-closed by the
host (SHUT_WR) once its part is sent: the guest gets SHUTDOWN(SEND) and
carries on. Credit is checked by both ends (the guest
fails if the device exceeds its credit; the device resets a guest that
exceeds its own). Also: RST for ports nobody listens on (both directions),
a hostile guest flooding REQUESTs and ignoring credit (the VMM's RSS must
stay bounded), malformed transmit chains (hostile-ring), and bad --vsock
options refused before start."""
import os
import re
import socket
import struct
import threading
import time

import pytest

from conftest import GUEST, TIMEOUT, guest_args, run_vmm

M64 = (1 << 64) - 1
MAGIC = 0x314B5356           # "VSK1"
CID = 3
GUEST_PORT = 1234
HOST_PORT = 5000
NOPORT = 5001                # no listener: the guest must see RST
_patterns = {}


def pattern(seed, n):
    """The guest's stream (wl_vsock.c vsk_stream_*): xorshift64* words,
    little endian, state seed * 0x9e37... + 0x632b... (never 0)."""
    key = (seed, n)
    if key not in _patterns:
        s = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & M64 or 1
        words = []
        for _ in range((n + 7) // 8):
            s ^= s >> 12
            s ^= (s << 25) & M64
            s ^= s >> 27
            words.append((s * 0x2545F4914F6CDD1D) & M64)
        _patterns[key] = struct.pack(f"<{len(words)}Q", *words)[:n]
    return _patterns[key]


def stream(seed, count):
    return struct.pack("<IIQ", MAGIC, seed, count) + pattern(seed, count)


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        data = s.recv(min(n - len(buf), 1 << 20))
        if not data:
            break
        buf += data
    return bytes(buf)


def expect_eof(s):
    """The peer must close its side without sending anything more."""
    rest = s.recv(4096)
    assert rest == b"", f"{len(rest)} unexpected bytes before EOF"


def vsock_connect(path, port, timeout=TIMEOUT):
    """Firecracker's host-initiated connection: returns (socket, the
    answer line or None when the VMM closed the connection instead)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        ch = s.recv(1)            # byte by byte: nothing after the line is taken
        if not ch:
            return s, None
        line += ch
    return s, line


class Threads:
    """Run functions in threads; join() re-raises the first failure."""

    def __init__(self):
        self.threads, self.errors = [], []

    def start(self, fn, *args):
        def run():
            try:
                fn(*args)
            except BaseException as e:          # noqa: B902 - reported by join()
                self.errors.append(e)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
            assert not t.is_alive(), "a host-side thread hung"
        if self.errors:
            raise self.errors[0]


class EchoListener:
    """The unix listener at <socket>_<port> for guest-initiated
    connections: checks each connection's stream, echoes it, then waits
    for the guest's close (EOF)."""

    def __init__(self, path, threads, echo=True):
        self.path, self.threads, self.echo = path, threads, echo
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.done, self.held = [], []
        threads.start(self.accept_loop)

    def accept_loop(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            conn.settimeout(TIMEOUT)
            if self.echo:
                self.threads.start(self.serve, conn)
            else:
                self.held.append(conn)      # accepted, never read

    def serve(self, conn):
        with conn:
            pre = recv_exact(conn, 16)
            assert len(pre) == 16, f"guest connection closed after {len(pre)} bytes"
            magic, seed, count = struct.unpack("<IIQ", pre)
            assert magic == MAGIC, pre
            want = pattern(seed, count)
            conn.sendall(pre)
            got = 0
            while got < count:
                data = conn.recv(min(count - got, 1 << 18))
                assert data, f"guest stream {seed} ended after {got} of {count} bytes"
                assert data == want[got:got + len(data)], \
                    f"guest stream {seed}: wrong bytes at {got}"
                conn.sendall(data)
                got += len(data)
            if seed % 2:
                conn.shutdown(socket.SHUT_WR)   # half-close: SHUTDOWN(SEND) to the guest
            expect_eof(conn)
            self.done.append(seed)

    def close(self):
        self.stop.set()
        for c in self.held:
            c.close()
        self.sock.close()


def host_client(path, seed, count, done):
    """One host-initiated connection to the guest's port: send the stream,
    read the echo concurrently, compare, then expect the guest's close."""
    s, line = vsock_connect(path, GUEST_PORT)
    with s:
        assert line is not None and re.fullmatch(rb"OK \d+\n", line), line
        data = stream(seed, count)

        def send():
            s.sendall(data)
            if seed % 2:
                s.shutdown(socket.SHUT_WR)      # half-close: SHUTDOWN(SEND) to the guest
        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        echo = recv_exact(s, len(data))
        writer.join(TIMEOUT)
        assert len(echo) == len(data), f"stream {seed}: echo ended after {len(echo)} bytes"
        assert echo == data, f"stream {seed}: echo differs"
        expect_eof(s)
        done.append(seed)


def refused_probe(path, port):
    """A host connection to a guest port nobody listens on gets no OK: the
    VMM closes it (after the guest's RST)."""
    s, line = vsock_connect(path, port)
    s.close()
    assert line is None, f"CONNECT {port} answered {line!r}"


def run_both_ways(vm_factory, tmp_path, conns, nbytes, extra=""):
    sock = str(tmp_path / "v.sock")
    threads = Threads()
    listener = EchoListener(f"{sock}_{HOST_PORT}", threads)
    try:
        cmdline = (f"workload=vsock port={GUEST_PORT} host-port={HOST_PORT} conns={conns} "
                   f"bytes={nbytes} noport={NOPORT} {extra}")
        vm = vm_factory(guest_args(cmdline, memory="128M",
                                   extra=["--vsock", f"cid={CID},socket={sock}"]))
        vm.wait_serial("vsock: listening on port")
        refused_probe(sock, GUEST_PORT + 1)
        done = []
        for i in range(conns):
            threads.start(host_client, sock, 100 + i, nbytes, done)
        assert vm.wait() == 0, vm.serial() + vm.stderr()
        listener.stop.set()
        threads.join()
    finally:
        listener.close()
    out = vm.serial()
    print("".join(l + "\n" for l in out.splitlines() if "vsock" in l))
    assert "testguest: vsock: PASS" in out, out
    assert sorted(done) == list(range(100, 100 + conns))
    assert len(listener.done) == conns, (listener.done, out)
    assert f"host port {NOPORT} (no listener) refused our REQUEST with RST" in out
    m = re.search(r"vsock: (\d+) host connections checked\+echoed \((\d+) bytes\), (\d+) ours "
                  r"sent\+checked \((\d+) bytes\)", out)
    assert m, out
    total = conns * (16 + nbytes)
    assert [int(x) for x in m.groups()] == [conns, total, conns, total], out
    # Half of the connections on each side are half-closed by the host.
    m = re.search(r"the host shut down sending first on (\d+)", out)
    assert m and 0 < int(m.group(1)) <= conns, out
    return out


def test_vsock_both_ways(vm_factory, tmp_path):
    """10 host connections and 10 guest connections at once, 1 MiB each
    way on each, every byte checked on both ends and echoed."""
    out = run_both_ways(vm_factory, tmp_path, 10, 1 << 20)
    # 1 MiB through a 64 KiB window cannot go without credit updates.
    m = re.search(r"credit: updates in (\d+) out (\d+)", out)
    assert m and int(m.group(1)) + int(m.group(2)) > 0, out


def test_vsock_small_windows(vm_factory, tmp_path):
    """Tiny guest receive rings (4 KiB: the credit runs out all the time),
    odd packet and receive buffer sizes. The guest never asks for credit
    (credit-wait=0): the device's own CREDIT_UPDATEs must keep every
    connection going."""
    out = run_both_ways(vm_factory, tmp_path, 4, 300000,
                        "buf=4096 pkt=1000 rxbuf=700 credit-wait=0")
    assert "buf 4096, pkt 1000" in out
    assert re.search(r"credit: updates in [1-9]\d* out \d+, requests in \d+ out 0,", out), out


def vm_rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_vsock_flood_rss(vm_factory, tmp_path, monkeypatch):
    """A guest that floods REQUESTs (without reading its receive ring for a
    while) and then sends 256 MiB ignoring the host's credit to a host
    listener that never reads: the VMM's RSS grows by less than 64 MiB and
    a new connection still opens afterwards."""
    # ASan keeps freed memory in quarantine (256 MiB by default): that is
    # not growth the VMM could be blamed for.
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:quarantine_size_mb=8")
    sock = str(tmp_path / "v.sock")
    threads = Threads()
    listener = EchoListener(f"{sock}_{HOST_PORT}", threads, echo=False)
    try:
        vm = vm_factory(guest_args(f"workload=vsock-flood host-port={HOST_PORT} "
                                   f"bytes={256 << 20} requests=10000", memory="128M",
                                   extra=["--vsock", f"cid={CID},socket={sock}"]))
        vm.wait_serial("vsock-flood: 10000 REQUESTs to host ports")
        base = vm_rss_kib(vm.proc.pid)
        peak = base
        while vm.proc.poll() is None:
            try:
                peak = max(peak, vm_rss_kib(vm.proc.pid))
            except (OSError, AssertionError):
                break
            time.sleep(0.02)
        status = vm.wait()
    finally:
        listener.close()
    out = vm.serial()
    print("".join(l + "\n" for l in out.splitlines() if "vsock" in l))
    assert status == 0, out + vm.stderr()
    assert "testguest: vsock-flood: PASS" in out, out
    assert "a new connection to host port" in out, out
    assert len(listener.held) >= 2, "the flood connection and the one after it"
    growth_mib = (peak - base) / 1024
    print(f"VMM RSS: {base // 1024} MiB after set-up, peak {peak // 1024} MiB "
          f"(growth {growth_mib:.1f} MiB)")
    assert growth_mib < 64, f"VMM RSS grew by {growth_mib:.1f} MiB during the flood"


def test_vsock_hostile_ring(vm_factory, tmp_path):
    """Every kind of malformed transmit chain: NEEDS_RESET + configuration
    interrupt (the guest checks both), the rng next to it keeps working,
    and after a reset the vsock device answers a REQUEST to a port without
    listener with RST again."""
    sock = str(tmp_path / "v.sock")
    vm = vm_factory(guest_args("workload=hostile-ring devs=vsock,rng", memory="256M",
                               extra=["--rng", "--vsock", f"cid={CID},socket={sock}"]))
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    out = vm.serial()
    assert "testguest: hostile-ring: PASS" in out, out
    oks = re.findall(r"hostile-ring: vsock0 (\S+) ok", out)
    assert len(oks) >= 10, out


def check_refused(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "testguest" not in r.stdout       # the guest never ran


BAD = {
    "cid-2": (["--vsock", "cid=2,socket={d}/v.sock"], ["--vsock", "cid"]),
    "cid-0": (["--vsock", "cid=0,socket={d}/v.sock"], ["--vsock", "cid"]),
    "cid-1": (["--vsock", "cid=1,socket={d}/v.sock"], ["--vsock", "cid"]),
    "cid-reserved": (["--vsock", "cid=4294967295,socket={d}/v.sock"], ["--vsock", "cid"]),
    "cid-junk": (["--vsock", "cid=three,socket={d}/v.sock"], ["--vsock", "three"]),
    "no-cid": (["--vsock", "socket={d}/v.sock"], ["--vsock", "cid"]),
    "no-socket": (["--vsock", "cid=3"], ["--vsock", "socket"]),
    "socket-too-long": (["--vsock", "cid=3,socket=/tmp/" + "s" * 120], ["--vsock", "socket"]),
    "two": (["--vsock", "cid=3,socket={d}/a.sock", "--vsock", "cid=4,socket={d}/b.sock"],
            ["--vsock"]),
    "unknown-key": (["--vsock", "cid=3,socket={d}/v.sock,colour=red"], ["--vsock", "colour"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_vsock_bad_options(name, tmp_path):
    args, words = BAD[name]
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    r = run_vmm(["--kernel", GUEST, "--cmdline", "workload=hello"] + args, timeout=60)
    check_refused(r, *words)
    assert os.listdir(tmp_path) == [], "nothing may be created before start"
