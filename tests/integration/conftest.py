"""Integration-test fixtures: the vmkit-vmm binary under test, the test
guest, a VM runner and a control-socket client.

Tests that need /dev/kvm use the `kvm` fixture: they skip (loudly, with the
reason in the summary) only when VMKIT_TEST_NO_KVM=1; otherwise a missing or
inaccessible /dev/kvm fails them."""
import contextlib
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMM = os.path.abspath(os.environ.get("VMKIT_VMM", os.path.join(ROOT, "build-asan", "vmkit-vmm")))
# The `vmkit` command-line tool (vmkit img), ASan build by default.
CLI = os.path.abspath(os.environ.get("VMKIT_CLI", os.path.join(ROOT, "build-asan", "vmkit")))
GUEST = os.path.abspath(os.environ.get("VMKIT_GUEST", os.path.join(ROOT, "build", "guest", "testguest.elf")))
# The Linux test guest: guest/linux/build.sh (`make linux`) links it here.
LINUX_DIR = os.path.abspath(os.environ.get("VMKIT_LINUX_DIR",
                                           os.path.join(ROOT, "build", "guest", "linux")))
# Generous: ring-0 guest code is emulated on nested PVM and ASan slows the VMM.
TIMEOUT = float(os.environ.get("VMKIT_TEST_TIMEOUT", "120"))


def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: needs /dev/kvm")


@pytest.fixture
def kvm():
    if os.environ.get("VMKIT_TEST_NO_KVM") == "1":
        pytest.skip("VMKIT_TEST_NO_KVM=1: this test boots a VM and needs /dev/kvm")
    if not os.path.exists("/dev/kvm"):
        pytest.fail("/dev/kvm does not exist (set VMKIT_TEST_NO_KVM=1 to skip VM tests)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.fail("/dev/kvm is not accessible (set VMKIT_TEST_NO_KVM=1 to skip VM tests)")
    assert os.path.exists(VMM), f"{VMM} not built"
    assert os.path.exists(GUEST), f"{GUEST} not built"


def vmm_env():
    env = dict(os.environ)
    # Leaks on any exit path fail the test through LeakSanitizer's exit code.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def run_vmm(args, timeout=TIMEOUT, stdin=subprocess.DEVNULL):
    """Run vmkit-vmm to completion; returns CompletedProcess with text output."""
    return subprocess.run([VMM] + args, stdin=stdin, capture_output=True, text=True,
                          errors="replace", timeout=timeout, env=vmm_env())


def guest_args(cmdline, cpus=1, memory="64M", extra=()):
    return ["--kernel", GUEST, "--memory", memory, "--cpus", str(cpus),
            "--cmdline", cmdline] + list(extra)


class Qmp:
    """Line-delimited JSON client for the VMM's control socket."""

    def __init__(self, path, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self._read()

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("control socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall((json.dumps(req) + "\n").encode())
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def wait_event(self, name):
        for i, ev in enumerate(self.events):
            if ev["event"] == name:
                return self.events.pop(i)
        while True:
            msg = self._read()
            if msg.get("event") == name:
                return msg
            if "event" in msg:
                self.events.append(msg)

    def close(self):
        self.sock.close()


class Vm:
    """A vmkit-vmm process running in the background with a control socket."""

    def __init__(self, tmp_path, args, serial_to_file=True, prefix=()):
        self.sock_path = str(tmp_path / "vm.sock")
        self.out_path = str(tmp_path / "serial.out")
        self.err_path = str(tmp_path / "vmm.err")
        serial = ["--serial", "file:" + self.out_path] if serial_to_file else []
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(list(prefix) + [VMM] + args + serial +
                                     ["--api-socket", self.sock_path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=vmm_env())
        self.qmp = Qmp(self.sock_path)

    def serial(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def wait_serial(self, text, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while text not in self.serial():
            if self.proc.poll() is not None:
                raise AssertionError(f"VMM exited ({self.proc.returncode}) before {text!r}: "
                                     + self.serial() + self.stderr())
            if time.monotonic() > deadline:
                raise AssertionError(f"timeout waiting for {text!r}: " + self.serial())
            time.sleep(0.05)

    def wait(self, timeout=TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.qmp.close()
        self.err.close()


@pytest.fixture
def vm_factory(tmp_path, kvm):
    vms = []

    def make(args, **kw):
        vm = Vm(tmp_path, args, **kw)
        vms.append(vm)
        return vm
    yield make
    for vm in vms:
        vm.kill()


def wait_for(pred, what, timeout=TIMEOUT):
    """pred()'s first true value, polled every 50 ms; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timeout waiting for {what}")
        time.sleep(0.05)


def rss_anon(pid):
    """Bytes of anonymous memory resident for process pid: a VMM's guest RAM
    (a private anonymous mapping) and its own heap."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no RssAnon for process {pid}")


# ---- the Linux test guest ----

def linux_artifact(name):
    """A file of the Linux test guest (vmlinux, initramfs.cpio, cmdline...)."""
    path = os.path.join(LINUX_DIR, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: `make linux` builds the Linux test guest "
                    f"(or point VMKIT_LINUX_DIR at one)")
    return path


def console_responder(path, stop, seen):
    """The host end of /init's console directive: wait for the ping on the
    virtio-console's unix socket, answer the pong (run it in a thread)."""
    while not stop.is_set():
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            s.close()
            time.sleep(0.1)
    else:
        return
    s.settimeout(0.5)
    buf = b""
    while not stop.is_set():
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
        if b"linux-console-ping" in buf:
            seen.append(buf)
            s.sendall(b"vmkit-console-pong\n")
            buf = b""
    s.close()


_netns_seq = itertools.count()


@contextlib.contextmanager
def tap_netns(address):
    """A fresh network namespace holding one TAP (up, with address, e.g.
    10.77.0.1/24); yields (namespace, tap) and removes both afterwards."""
    if os.geteuid() != 0:
        pytest.fail("this test creates a network namespace and a TAP: run it as root")
    ns, tap = f"vmkt-{os.getpid()}-{next(_netns_seq)}", "vmkt0"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        for args in (["link", "set", "lo", "up"], ["tuntap", "add", tap, "mode", "tap"],
                     ["addr", "add", address, "dev", tap], ["link", "set", tap, "up"]):
            subprocess.run(["ip", "-n", ns] + args, check=True, timeout=30)
        yield ns, tap
    finally:
        subprocess.run(["ip", "-n", ns, "link", "del", tap], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], timeout=30)


# ---- vmkitd: the daemon on temporary directories ----

VMKITD = os.path.abspath(os.environ.get("VMKIT_VMKITD", os.path.join(os.path.dirname(VMM), "vmkitd")))


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body
        self.code = body.get("error", {}).get("code") if isinstance(body, dict) else None


class Vmkitd:
    """vmkitd --foreground on temporary state/runtime/log dirs, with an API
    client: call(METHOD, PATH, body) returns (status, JSON); api() raises
    ApiError on a failure status. finalize() stops it and kills every VMM
    it started (found by their --config path in the runtime dir)."""

    def __init__(self, prefix=()):
        self.prefix = list(prefix)     # e.g. ["ip", "netns", "exec", NS]
        self.base = tempfile.mkdtemp(prefix="vd", dir="/tmp")
        self.state_dir = os.path.join(self.base, "state")
        self.runtime_dir = os.path.join(self.base, "run")
        self.log_dir = os.path.join(self.base, "log")
        self.sock = os.path.join(self.runtime_dir, "vmkitd.sock")
        self.ro_sock = os.path.join(self.runtime_dir, "vmkitd-ro.sock")
        self.proc = None
        self.stderr_path = os.path.join(self.base, "vmkitd.err")

    def argv(self):
        return self.prefix + [VMKITD, "--foreground", "--state-dir", self.state_dir, "--runtime-dir",
                self.runtime_dir, "--log-dir", self.log_dir, "--vmm", VMM]

    def start(self):
        assert os.path.exists(VMKITD), f"{VMKITD} not built"
        self.err = open(self.stderr_path, "a")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err, env=vmm_env())
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.call("GET", "/v1/version")
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"vmkitd exited ({self.proc.returncode}): "
                                         + self.stderr())
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def call(self, method, path, body=None, ro=False, raw=None, headers=None, timeout=TIMEOUT):
        conn = _UnixHTTP(self.ro_sock if ro else self.sock, timeout)
        try:
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            ctype = resp.getheader("Content-Type", "")
            if "json" in ctype and "ndjson" not in ctype and text:
                return resp.status, json.loads(text)
            return resp.status, text
        finally:
            conn.close()

    def api(self, method, path, body=None, ok=(200, 201), **kw):
        status, out = self.call(method, path, body, **kw)
        if status not in ok:
            raise ApiError(status, out)
        return out

    def events(self, since=0):
        text = self.api("GET", f"/v1/events?since={since}&follow=0")
        return [json.loads(line) for line in text.splitlines() if line]

    def stop(self):
        """SIGTERM; vmkitd must exit 0 (ASan: leak-free)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            rc = self.proc.wait(timeout=TIMEOUT)
            self.err.close()
            assert rc == 0, f"vmkitd exited {rc} on SIGTERM: " + self.stderr()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.err.close()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def vmm_pids(self):
        """pids of every vmkit-vmm whose --config lies in our runtime dir."""
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if any(a.startswith(self.runtime_dir.encode() + b"/") for a in argv):
                pids.append(int(p))
        return pids

    def finalize(self):
        try:
            self.kill9() if self.proc and self.proc.poll() is not None else self.stop()
        finally:
            self.kill9()
            for pid in self.vmm_pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def vmkitd():
    d = Vmkitd()
    d.start()
    yield d
    d.finalize()


def raw_disk_xml(path, size):
    """A sparse raw image of size bytes at path, and the <disk> element that
    gives it to a domain as vda."""
    with open(path, "wb") as f:
        f.truncate(size)
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{path}'/><target dev='vda' bus='virtio'/></disk>")


def domain_xml(name, workload="idle", memory="64", vcpus=1, uuid=None, kernel=None,
               serial="pty", cmdline="", devices="", extra=""):
    """Domain XML booting the test guest. serial: 'pty', or a path for a file."""
    ser = ("<serial type='pty'><target port='0'/></serial>" if serial == "pty" else
           f"<serial type='file'><source path='{serial}'/><target port='0'/></serial>")
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n"
            + (f"  <uuid>{uuid}</uuid>\n" if uuid else "")
            + f"  <memory unit='MiB'>{memory}</memory>\n  <vcpu>{vcpus}</vcpu>\n"
            f"  <os>\n    <type arch='x86_64'>hvm</type>\n    <kernel>{kernel or GUEST}</kernel>\n"
            f"    <cmdline>workload={workload} {cmdline}</cmdline>\n  </os>\n{extra}"
            f"  <devices>\n    {ser}\n    {devices}\n  </devices>\n</domain>\n")
