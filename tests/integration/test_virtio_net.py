"""virtio-net on real VMs, on TAPs in network namespaces the tests create
(and always delete, whatever happens): the test guest's net workload with
frames both ways (echoed by guest/tests/vnet_host.c on the TAP's host end),
the net-bench workload (short: counts on both ends, receive kicks in
batches), an already-open TAP passed as fd=N, set-link (the guest reads the link down
after a reset; query-netstats counts the dropped frames), the hostile-ring
workload on virtio-net and virtio-console, a TAP that does not exist (one
error line, exit status 2, no TAP created). Linux pinging the TAP's host end:
test_linux_devices.py.

Needs root (network namespaces, TAPs) and iproute2."""
import itertools
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import GUEST, ROOT, TIMEOUT, VMM, Qmp, guest_args, vmm_env
from test_bad_input import check_refused

TAP = "vmkt0"
MAC = "52:54:00:12:34:56"
# guest/tests/vnet_host.c, built next to the guest it serves.
VNET_HOST = os.path.join(os.path.dirname(GUEST), "vnet_host")
_seq = itertools.count()

# Opens TAP argv[1] (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and execs argv[2:]
# with "FD" replaced by the fd: the fd=N path of --net.
FD_WRAPPER = r"""
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
os.set_inheritable(fd, True)
args = [a.replace("FD", str(fd)) for a in sys.argv[2:]]
os.execv(args[0], args)
"""


class Netns:
    """A network namespace with one TAP (up) and the processes run in it."""

    def __init__(self, name):
        self.name = name
        self.procs = []

    def cmd(self, args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def ip(self, *args, check=True):
        return subprocess.run(["ip", "-n", self.name] + list(args), capture_output=True,
                              text=True, check=check, timeout=30)

    def has_link(self, name):
        return self.ip("link", "show", name, check=False).returncode == 0

    def packet_sockets(self):
        r = subprocess.run(self.cmd(["cat", "/proc/net/packet"]), capture_output=True,
                           text=True, timeout=30)
        return len(r.stdout.splitlines()) - 1

    def start_echo(self):
        """vnet_host on the TAP; returns once its packet socket is bound."""
        before = self.packet_sockets()
        p = subprocess.Popen(self.cmd([VNET_HOST, TAP, "--timeout", "900"]),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        deadline = time.monotonic() + 30
        while self.packet_sockets() <= before:
            assert p.poll() is None, p.stdout.read()
            assert time.monotonic() < deadline, "vnet_host did not start"
            time.sleep(0.05)
        return p

    def run_vmm(self, args, timeout=TIMEOUT):
        return subprocess.run(self.cmd([VMM] + list(args)), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace",
                              timeout=timeout, env=vmm_env())

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def netns(kvm):
    if os.geteuid() != 0:
        pytest.fail("virtio-net tests create network namespaces and TAPs: run them as root")
    if shutil.which("ip") is None:
        pytest.fail("iproute2's `ip` is missing")
    ns = Netns(f"vmkt-{os.getpid()}-{next(_seq)}")
    subprocess.run(["ip", "netns", "add", ns.name], check=True, timeout=30)
    try:
        ns.ip("link", "set", "lo", "up")
        ns.ip("tuntap", "add", TAP, "mode", "tap")
        ns.ip("link", "set", TAP, "up")
        yield ns
    finally:
        ns.stop()
        ns.ip("link", "del", TAP, check=False)
        subprocess.run(["ip", "netns", "del", ns.name], timeout=30)


class NsVm:
    """vmkit-vmm in the namespace, in the background, with a control socket
    and the serial port in a file."""

    def __init__(self, ns, tmp_path, args):
        self.sock_path = str(tmp_path / "vm.sock")
        self.out_path = str(tmp_path / "serial.out")
        self.err = open(tmp_path / "vmm.err", "w+")
        self.proc = subprocess.Popen(
            ns.cmd([VMM] + list(args) + ["--serial", "file:" + self.out_path,
                                         "--api-socket", self.sock_path]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err,
            env=vmm_env())
        ns.procs.append(self.proc)
        self.qmp = Qmp(self.sock_path)

    def serial(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def wait_serial(self, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.serial()):
            assert self.proc.poll() is None, (f"VMM exited ({self.proc.returncode}) before "
                                              f"{pattern!r}: " + self.serial() + self.stderr())
            assert time.monotonic() < deadline, f"timeout waiting for {pattern!r}: " + self.serial()
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.qmp.close()
        self.err.close()


def send_frame(ns):
    """One frame from the TAP's host end to the guest's MAC, of an ethertype
    the net workload counts and ignores."""
    code = ("import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); "
            f"s.bind(({TAP!r}, 0)); "
            f"s.send(bytes.fromhex({MAC.replace(':', '')!r}) + bytes.fromhex('020000000001') "
            "+ b'\\x88\\xb7' + bytes(46))")
    subprocess.run(ns.cmd([sys.executable, "-c", code]), check=True, timeout=30)


def netstats(q):
    stats = q.cmd("query-netstats")["return"]
    assert [s["id"] for s in stats] == ["net0"], stats
    return stats[0]["stats"]


def test_net_frames_both_ways(netns):
    """The test guest sends 256 frames (1000-byte payloads, so each spans
    several 512-byte mergeable receive buffers on the way back); the host
    echoes each; every echo must come back once, intact."""
    netns.start_echo()
    r = netns.run_vmm(guest_args("workload=net count=256", memory="256M",
                                 extra=["--net", f"tap={TAP},mac={MAC}", "--serial", "stdio"]))
    assert f"net0: mac {MAC}, link up" in r.stdout, r.stdout + r.stderr
    assert "(mergeable)" in r.stdout, r.stdout
    assert "testguest: net: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


def test_net_bench(netns):
    """The bench workload, short: frames both ways counted on both ends.
    The guest gives receive buffers back in batches (as Linux does), and the
    device asks for a kick only when it has none left, so a kick brings it a
    batch: at least 33 buffers, or the whole ring after the guest caught up.
    A kick per handful of frames means one side lost that."""
    netns.start_echo()
    r = netns.run_vmm(guest_args("workload=net-bench ms=300", memory="256M",
                                 extra=["--net", f"tap={TAP},mac={MAC}", "--serial", "stdio"]))
    out = r.stdout + r.stderr
    assert "testguest: net-bench: PASS" in r.stdout and r.returncode == 0, out
    tx = re.search(r"net-bench: tx pps=(\d+) .* frames=(\d+)", r.stdout)
    host = re.search(r"net-bench: tx host-received=(\d+)", r.stdout)
    rx = re.search(r"net-bench: rx pps=\d+ .* frames=(\d+) .* host-sent=(\d+) kicks=(\d+)",
                   r.stdout)
    assert tx and host and rx, out
    assert int(tx.group(2)) > 0 and 0 < int(host.group(1)) <= int(tx.group(2)), out
    frames, sent, kicks = (int(g) for g in rx.groups())
    assert 0 < frames <= sent, out
    assert kicks <= frames // 16 + 4, out


def test_net_fd(netns):
    """fd=N: an already-open TAP handed to vmkit-vmm."""
    netns.start_echo()
    args = guest_args("workload=net count=64", memory="256M",
                      extra=["--net", "fd=FD", "--serial", "stdio"])
    r = subprocess.run(netns.cmd([sys.executable, "-c", FD_WRAPPER, TAP, VMM] + args),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace", timeout=TIMEOUT, env=vmm_env())
    assert "testguest: net: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


def test_set_link(netns, tmp_path):
    """set-link down: the guest reads the link down (after a reset, the
    workload reads it when it opens the device) and what it sends is
    dropped and counted; set-link up restores it."""
    netns.start_echo()
    vm = NsVm(netns, tmp_path, guest_args("workload=net count=100000 timeout=60000",
                                          memory="256M",
                                          extra=["--net", f"tap={TAP},mac={MAC}"]))
    try:
        q = vm.qmp
        vm.wait_serial(r"net0: mac 52:54:00:12:34:56, link up")
        st = netstats(q)
        assert (st["mac"], st["link"]) == (MAC, "up"), st
        assert q.cmd("set-link", id="net0", up=False) == {"return": {}}
        assert netstats(q)["link"] == "down"
        assert q.cmd("system-reset") == {"return": {}}
        vm.wait_serial(r"net0: mac 52:54:00:12:34:56, link down")
        deadline = time.monotonic() + 30
        while netstats(q)["tx-dropped"] == 0:
            assert time.monotonic() < deadline, netstats(q)
            time.sleep(0.05)
        # Frames for the guest wait in the TAP while the link is down.
        before = netstats(q)["rx-packets"]
        send_frame(netns)
        time.sleep(0.5)
        assert netstats(q)["rx-packets"] == before
        assert q.cmd("set-link", id="net0", up=True) == {"return": {}}
        deadline = time.monotonic() + 30
        while netstats(q)["rx-packets"] == before:
            assert time.monotonic() < deadline, netstats(q)
            time.sleep(0.05)
        assert netstats(q)["link"] == "up"
        r = q.cmd("set-link", id="net0", up="no")
        assert "set-link needs" in r["error"]["desc"], r
        q.cmd("quit")
        assert vm.proc.wait(TIMEOUT) == 0, vm.stderr()
    finally:
        vm.close()


def test_net_console_hostile_ring(netns, tmp_path):
    """Every kind of malformed ring on the transmit queues of virtio-net and
    virtio-console: NEEDS_RESET + configuration interrupt each time, then a
    good request on the other device and on the reset one."""
    vm = NsVm(netns, tmp_path, guest_args("workload=hostile-ring devs=net0,console0",
                                          memory="256M",
                                          extra=["--net", f"tap={TAP}", "--console", "none"]))
    try:
        assert vm.proc.wait(TIMEOUT) == 0, vm.stderr() + vm.serial()
        out = vm.serial()
        assert "testguest: hostile-ring: PASS" in out, out
        for dev in ("net0", "console0"):
            oks = re.findall(rf"hostile-ring: {dev} (\S+) ok", out)
            assert len(oks) >= 10, (dev, out)
    finally:
        vm.close()


def test_tap_missing(netns, tmp_path):
    """A TAP that does not exist: one error line, exit status 2, and no
    interface of that name afterwards (vmkit never creates one)."""
    r = netns.run_vmm(["--kernel", GUEST, "--net", "tap=vmkt-nosuch"])
    check_refused(r, "net0", "vmkt-nosuch", "does not exist")
    assert not netns.has_link("vmkt-nosuch")
    r = netns.run_vmm(["--kernel", GUEST, "--net", "tap=lo"])
    check_refused(r, "lo is not a TAP")
    r = netns.run_vmm(["--kernel", GUEST, "--net", "fd=0"])
    check_refused(r, "fd=0 is not a TAP")


def test_tap_busy(netns, tmp_path):
    """A TAP another VM has open: refused with the reason."""
    vm = NsVm(netns, tmp_path, guest_args("workload=idle", extra=["--net", f"tap={TAP}"]))
    try:
        vm.wait_serial("testguest: idle: waiting")
        r = netns.run_vmm(["--kernel", GUEST, "--net", f"tap={TAP}"])
        check_refused(r, f"cannot attach to TAP {TAP}", "another process")
    finally:
        vm.close()
