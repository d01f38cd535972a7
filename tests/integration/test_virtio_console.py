"""virtio-console on real VMs with the test guest's console workload (it
writes a ready line, reads a line, writes it back after "echo:") over the
unix-socket, pty and file backends, and the device's counters in
query-virtio. Linux's own driver (hvc0) is exercised by the console
directive in test_virtio_net.py::test_linux_net_console (pty backend) and
test_virtio.py::test_linux_rng_console (unix backend)."""
import os
import socket
import time

from conftest import TIMEOUT, guest_args

READY = b"testguest: console-ready\n"
LINE = b"hello vmkit " + b"0123456789" * 15 + b"\n"   # spans two guest buffers


def connect(path, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(timeout)
            return s
        except OSError:
            s.close()
            assert time.monotonic() < deadline, f"no console socket at {path}"
            time.sleep(0.01)


def read_until(read, want):
    buf = b""
    while want not in buf:
        data = read()
        assert data, f"console closed; got {buf!r}"
        buf += data
    return buf


def console_stats(vm):
    for d in vm.qmp.cmd("query-virtio")["return"]:
        if d["id"] == "console0":
            return d
    raise AssertionError("no console0")


def test_console_unix(vm_factory, tmp_path):
    """Input sent before the guest posted receive buffers waits in the
    backend (none of it is lost); the echo comes back on the same socket."""
    path = str(tmp_path / "con.sock")
    vm = vm_factory(guest_args("workload=console", memory="128M",
                               extra=["--console", f"unix:{path},id=console0"]))
    s = connect(path)
    try:
        s.sendall(LINE)                     # before the guest is even there
        out = read_until(lambda: s.recv(4096), b"echo:" + LINE)
    finally:
        s.close()
    assert out.startswith(READY), out
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    assert "testguest: console: PASS" in vm.serial(), vm.serial()


def test_console_pty(vm_factory, tmp_path):
    vm = vm_factory(guest_args("workload=console timeout=60000", memory="128M",
                               extra=["--console", "pty", "--log-level", "info"]))
    d = console_stats(vm)
    assert d["kind"] == "virtio-console" and d["backend"].startswith("pty:/dev/pts/"), d
    fd = os.open(d["backend"][4:], os.O_RDWR | os.O_NOCTTY)
    try:
        out = read_until(lambda: os.read(fd, 4096), READY)  # the pty kept it for us
        os.write(fd, b"via the pty\n")
        out += read_until(lambda: os.read(fd, 4096), b"echo:via the pty\n")
        st = console_stats(vm)["stats"]
        assert st["rx-bytes"] == len(b"via the pty\n"), st
        assert st["tx-bytes"] >= len(READY) + len(b"echo:via the pty\n"), st
        assert st["rx-lost"] == 0, st
    finally:
        os.close(fd)
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    assert "testguest: console: PASS" in vm.serial(), vm.serial()
    assert f"console0: virtio console (hvc0) on {d['backend'][4:]}" in vm.stderr()


def test_console_file(vm_factory, tmp_path):
    """Output only: the ready line lands in the file; no line ever comes
    back, so the workload times out (FAIL, exit status 253)."""
    path = tmp_path / "con.out"
    vm = vm_factory(guest_args("workload=console timeout=500", memory="128M",
                               extra=["--console", f"file:{path}"]))
    assert vm.wait() == 253, vm.stderr() + vm.serial()
    assert path.read_bytes() == READY
    assert "no line arrived on the console" in vm.serial(), vm.serial()
