"""The serial console: echo through a pty and through stdio, escape keys."""
import os
import select
import subprocess
import time

from conftest import GUEST, VMM, TIMEOUT, Qmp, guest_args, vmm_env


def read_until(fd, text, timeout=TIMEOUT):
    buf = b""
    deadline = time.monotonic() + timeout
    while text not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"timeout waiting for {text!r}, got {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 4096)
    return buf


def test_echo_pty(tmp_path, kvm):
    sock = str(tmp_path / "vm.sock")
    p = subprocess.Popen([VMM] + guest_args("workload=echo") + ["--serial", "pty",
                         "--api-socket", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=vmm_env())
    try:
        q = Qmp(sock)
        chardev = q.cmd("query-chardev")["return"][0]
        assert chardev["filename"].startswith("pty:/dev/pts/"), chardev
        fd = os.open(chardev["filename"][4:], os.O_RDWR | os.O_NOCTTY)
        read_until(fd, b"testguest: echo: ready")
        os.write(fd, b"hello vmkit")
        read_until(fd, b"hello vmkit")
        os.write(fd, b"\x04")
        read_until(fd, b"testguest: echo: PASS")
        assert p.wait(timeout=TIMEOUT) == 0
        os.close(fd)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_stdio_escape_quit(kvm):
    p = subprocess.Popen([VMM] + guest_args("workload=echo"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=vmm_env())
    try:
        read_until(p.stdout.fileno(), b"testguest: echo: ready")
        p.stdin.write(b"abc")
        p.stdin.flush()
        read_until(p.stdout.fileno(), b"abc")
        p.stdin.write(b"\x01x")
        p.stdin.flush()
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_serial_file_backend(tmp_path, kvm):
    out = tmp_path / "console.log"
    r = subprocess.run([VMM] + guest_args("workload=hello") + ["--serial", f"file:{out}"],
                       capture_output=True, timeout=TIMEOUT, env=vmm_env())
    assert r.returncode == 0, r.stderr
    assert b"testguest: hello: PASS" in out.read_bytes()
    assert b"testguest" not in r.stdout


def test_serial_log_copies_unread_pty_output(tmp_path, kvm):
    """--serial-log gets every byte even though nobody ever opens the pty
    (what vmkitd keeps as the console log), and alongside a file backend;
    a log that cannot be opened is refused before the guest starts."""
    log = tmp_path / "domain.log"
    log.write_bytes(b"earlier line\n")
    for backend in ("pty", f"file:{tmp_path / 'serial.out'}"):
        r = subprocess.run([VMM] + guest_args("workload=hello") +
                           ["--serial", backend, "--serial-log", str(log)],
                           capture_output=True, timeout=TIMEOUT, env=vmm_env())
        assert r.returncode == 0, r.stderr
    text = log.read_bytes()
    assert text.startswith(b"earlier line\n"), text[:200]
    assert text.count(b"testguest: hello: PASS") == 2, text
    assert b"testguest: hello: PASS" in (tmp_path / "serial.out").read_bytes()
    r = subprocess.run([VMM] + guest_args("workload=hello") +
                       ["--serial", "none", "--serial-log", str(tmp_path / "no" / "x.log")],
                       capture_output=True, text=True, timeout=TIMEOUT, env=vmm_env())
    assert r.returncode == 2 and "console log" in r.stderr and "x.log" in r.stderr, r.stderr
    assert "testguest" not in r.stdout
