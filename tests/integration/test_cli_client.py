"""The `vmkit` CLI's client side against a stand-in vmkitd (fake_vmkitd.py,
the API contract in Python; no VM, no /dev/kvm): the requests each verb sends,
virsh-like output, --output json, the daemon's errors printed verbatim with
exit code 1, read-only refusals through -r, cannot-connect (3) and usage
(2) errors, edit with EDITOR set to a script, the console relay (Ctrl-],
EOF, busy, --force) and `event` on the NDJSON stream. The same verbs against
the real vmkitd and a guest are in test_cli.py."""
import json
import os
import subprocess
import time

import pytest

from conftest import CLI
from fake_vmkitd import FakeVmkitd

XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type>hvm</type><kernel>/boot/guest</kernel></os>
</domain>
"""


@pytest.fixture
def fake(tmp_path):
    d = FakeVmkitd(str(tmp_path))
    yield d
    d.close()


def vmkit(fake, *args, ok=(0,), ro=False, env=None, input=None, timeout=60):
    assert os.path.exists(CLI), f"{CLI} not built"
    cmd = [CLI, "-c", fake.uri] + (["-r"] if ro else []) + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       input=input)
    assert r.returncode in ok, (cmd, r.returncode, r.stdout, r.stderr)
    return r


def define(fake, tmp_path, name):
    f = tmp_path / f"{name}.xml"
    f.write_text(XML.format(name=name))
    return vmkit(fake, "define", f)


def test_define_list_dominfo(fake, tmp_path):
    r = define(fake, tmp_path, "web")
    assert r.stdout == f"Domain 'web' defined from {tmp_path}/web.xml\n"
    method, path, body = fake.requests()[-1]
    assert (method, path) == ("POST", "/v1/domains") and body["xml"].startswith("<domain")
    assert vmkit(fake, "list").stdout.splitlines()[2:] == [""]
    lines = vmkit(fake, "list", "--all").stdout.splitlines()
    assert lines[0].split() == ["Id", "Name", "State"] and lines[2].split() == ["-", "web", "shut", "off"]
    assert vmkit(fake, "list", "--all", "--name").stdout == "web\n"
    assert fake.requests()[-1][1] == "/v1/domains?all=1"
    r = vmkit(fake, "start", "web")
    assert r.stdout == "Domain 'web' started\n"
    assert fake.requests()[-1] == ("POST", "/v1/domains/web/start", {"paused": False})
    info = vmkit(fake, "dominfo", "web").stdout
    assert "Name:           web\n" in info and "State:          running\n" in info
    assert vmkit(fake, "domstate", "web", "--reason").stdout == "running (booted)\n"
    j = json.loads(vmkit(fake, "--output", "json", "dominfo", "web").stdout)
    assert j["name"] == "web" and j["state"] == "running"
    j = json.loads(vmkit(fake, "list", "--output", "json").stdout)
    assert [d["name"] for d in j["domains"]] == ["web"]


def test_lifecycle_requests_and_messages(fake, tmp_path):
    define(fake, tmp_path, "db")
    steps = [
        (("start", "db", "--paused"), "Domain 'db' started", ("POST", "/v1/domains/db/start", {"paused": True})),
        (("resume", "db"), "Domain 'db' resumed", ("POST", "/v1/domains/db/resume", {})),
        (("suspend", "db"), "Domain 'db' suspended", ("POST", "/v1/domains/db/suspend", {})),
        (("reset", "db"), "Domain 'db' was reset", ("POST", "/v1/domains/db/reset", {})),
        (("resume", "db"), "Domain 'db' resumed", None),
        (("reboot", "db"), "Domain 'db' is being rebooted", ("POST", "/v1/domains/db/reboot", {})),
        (("shutdown", "db", "--timeout", "30"), "Domain 'db' has been shut down",
         ("POST", "/v1/domains/db/shutdown", {"timeout": 30})),
        (("start", "db"), "Domain 'db' started", None),
        (("destroy", "db", "--graceful"), "Domain 'db' destroyed",
         ("POST", "/v1/domains/db/destroy", {"graceful": True})),
        (("autostart", "db"), "Domain 'db' marked as autostarted",
         ("PUT", "/v1/domains/db/autostart", {"autostart": True})),
        (("autostart", "db", "--disable"), "Domain 'db' unmarked as autostarted",
         ("PUT", "/v1/domains/db/autostart", {"autostart": False})),
        (("undefine", "db"), "Domain 'db' has been undefined", ("DELETE", "/v1/domains/db", {})),
    ]
    for args, msg, req in steps:
        assert vmkit(fake, *args).stdout == msg + "\n", args
        if req:
            assert fake.requests()[-1] == req, args


def test_daemon_errors_verbatim(fake, tmp_path):
    define(fake, tmp_path, "web")
    r = vmkit(fake, "suspend", "web", ok=(1,))
    assert r.stderr == "vmkit: error: domain 'web' is shutoff: cannot suspend\n"
    r = vmkit(fake, "dominfo", "nosuch", ok=(1,))
    assert r.stderr == "vmkit: error: no domain with name or UUID 'nosuch'\n"
    bad = tmp_path / "bad.xml"
    bad.write_text("<domain/>")
    r = vmkit(fake, "define", bad, ok=(1,))
    assert "has no <name>" in r.stderr and r.stderr.startswith("vmkit: error: ")
    other = tmp_path / "other.xml"
    other.write_text(XML.format(name="web").replace("<name>", "<uuid>0e4a7f5c-9b1e-4c1a-"
                                                    "8d2f-5a6b7c8d9e0f</uuid><name>"))
    assert "already exists" in vmkit(fake, "define", other, ok=(1,)).stderr
    r = vmkit(fake, "define", tmp_path / "missing.xml", ok=(1,))
    assert "missing.xml" in r.stderr and "No such file" in r.stderr
    r = vmkit(fake, "domblkstat", "web", ok=(1,))
    assert "not running" in r.stderr
    for verb in ("domstats", "dommemstat", "domblkstat", "domifstat", "domstate", "dumpxml"):
        r = vmkit(fake, verb, "nosuch", ok=(1,))   # one line: the daemon's message
        assert r.stderr == "vmkit: error: no domain with name or UUID 'nosuch'\n", verb
    # Names with characters that need escaping in a URL reach the daemon intact.
    r = vmkit(fake, "dominfo", "a b/c?d", ok=(1,))
    assert r.stderr == "vmkit: error: no domain with name or UUID 'a b/c?d'\n"


def test_readonly_socket(fake, tmp_path):
    define(fake, tmp_path, "web")
    assert "web" in vmkit(fake, "list", "--all", ro=True).stdout
    for args in (("start", "web"), ("undefine", "web"), ("autostart", "web")):
        r = vmkit(fake, *args, ro=True, ok=(1,))
        assert r.stderr == "vmkit: error: this socket is read-only\n", args


def test_cannot_connect_and_usage(tmp_path):
    sock = tmp_path / "vmkitd.sock"
    r = subprocess.run([CLI, "-c", f"unix://{sock}", "list"], capture_output=True, text=True)
    assert r.returncode == 3 and str(sock) in r.stderr and "vmkitd is not running" in r.stderr
    env = dict(os.environ, VMKIT_DEFAULT_URI=f"unix://{sock}")
    r = subprocess.run([CLI, "-r", "version"], capture_output=True, text=True, env=env)
    assert r.returncode == 3 and str(tmp_path / "vmkitd-ro.sock") in r.stderr
    assert r.stdout.startswith("Client: vmkit ")
    # A socket nobody listens on.
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    r = subprocess.run([CLI, "-c", f"unix://{sock}", "list"], capture_output=True, text=True)
    assert r.returncode == 3 and "nobody listens" in r.stderr
    (tmp_path / "vmkitd.pid").write_text(f"{os.getpid()}\n")   # a live process
    r = subprocess.run([CLI, "-c", f"unix://{sock}", "list"], capture_output=True, text=True)
    assert r.returncode == 3 and f"vmkitd runs (pid {os.getpid()})" in r.stderr
    for args in (["start"], ["list", "--bogus"], ["-c", "http://x", "list"], ["frob"],
                 ["shutdown", "x", "--timeout", "-1"]):
        r = subprocess.run([CLI] + args, capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)


def test_edit(fake, tmp_path):
    define(fake, tmp_path, "web")
    script = tmp_path / "ed.sh"
    script.write_text("#!/bin/sh\nsed -i 's/>64</>128</' \"$1\"\n")
    script.chmod(0o755)
    env = dict(os.environ, EDITOR=str(script))
    env.pop("VISUAL", None)
    r = vmkit(fake, "edit", "web", env=env)
    assert r.stdout == "Domain 'web' XML configuration edited.\n"
    method, path, body = fake.requests()[-1]
    assert (method, path) == ("POST", "/v1/domains") and ">128<" in body["xml"]
    assert ">128<" in vmkit(fake, "dumpxml", "web", "--inactive").stdout
    env["EDITOR"] = "true"
    r = vmkit(fake, "edit", "web", env=env)
    assert r.stdout == "Domain 'web' XML configuration not changed.\n"
    assert fake.requests()[-1][0] == "GET"
    script.write_text("#!/bin/sh\necho '<domain/>' > \"$1\"\n")
    env["EDITOR"] = str(script)
    r = vmkit(fake, "edit", "web", env=env, ok=(1,))
    assert "has no <name>" in r.stderr
    env["EDITOR"] = "false"
    r = vmkit(fake, "edit", "web", env=env, ok=(1,))
    assert "editor 'false' failed" in r.stderr
    assert not list(tmp_path.glob("vmkit-edit-*"))


def test_console_relay(fake, tmp_path):
    define(fake, tmp_path, "web")
    r = vmkit(fake, "console", "web", ok=(1,))
    assert "is not running" in r.stderr
    vmkit(fake, "start", "web")
    p = subprocess.Popen([CLI, "-c", fake.uri, "console", "web"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    while b"console of web" not in out:
        out += os.read(p.stdout.fileno(), 4096)
    p.stdin.write(b"hello\n")
    p.stdin.flush()
    while b"HELLO" not in out:
        out += os.read(p.stdout.fileno(), 4096)
    p.stdin.write(b"bye\x1dnot sent")
    p.stdin.flush()
    out += p.stdout.read()
    assert p.wait(timeout=30) == 0
    assert b"Detached" in p.stderr.read()
    sent = b"".join(d for m, n, d in fake.requests() if m == "CONSOLE")
    assert sent == b"hello\nbye"
    # EOF on stdin detaches too.
    r = vmkit(fake, "console", "web", input="")
    assert "Detached from domain 'web'" in r.stderr
    fake.set_console_busy(True)
    r = vmkit(fake, "console", "web", ok=(1,))
    assert r.stderr.strip() == "vmkit: error: a console client is attached"
    r = vmkit(fake, "console", "web", "--force", input="")
    assert fake.requests()[-1][1] == "/v1/domains/web/console?force=1"


def test_events(fake, tmp_path):
    define(fake, tmp_path, "web")
    r = vmkit(fake, "event", "--since", "0", "--loop", "--timeout", "2")
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and "seq 1: event 'lifecycle' for domain 'web': Defined Added" in lines[0]
    p = subprocess.Popen([CLI, "-c", fake.uri, "event", "web", "--loop", "--since", "1",
                          "--timeout", "30"], stdout=subprocess.PIPE, text=True)
    define(fake, tmp_path, "other")
    vmkit(fake, "start", "web")
    vmkit(fake, "destroy", "web")
    seen = [p.stdout.readline() for _ in range(2)]
    p.terminate()
    p.wait(timeout=30)
    assert "Started Booted" in seen[0] and "Stopped Destroyed" in seen[1], seen
    # Without --loop: the first event, then exit.
    r = vmkit(fake, "--output", "json", "event", "--since", "1")
    ev = json.loads(r.stdout)
    assert ev["seq"] == 2 and ev["event"] == "defined"


def test_stats_and_version(fake, tmp_path):
    define(fake, tmp_path, "web")
    vmkit(fake, "start", "web")
    r = vmkit(fake, "domstats")
    assert r.stdout.startswith("Domain: 'web'\n  state.state=1\n")
    assert "vda rd_req 1\n" in vmkit(fake, "domblkstat", "web", "vda").stdout
    r = vmkit(fake, "domblkstat", "web", "vdq", ok=(1,))
    assert "has no disk 'vdq'" in r.stderr
    assert vmkit(fake, "dommemstat", "web").stdout == "actual 65536\nrss 1024\n"
    j = json.loads(vmkit(fake, "domstats", "web", "--output", "json").stdout)
    assert j["domains"][0]["block"][0]["target"] == "vda"
    r = vmkit(fake, "version")
    assert r.stdout.splitlines()[1:] == ["Daemon: vmkitd 0.1.0 (API 1)", "VMM: /fake/vmkit-vmm"]


def test_completion_script(fake, tmp_path):
    define(fake, tmp_path, "web")
    script = subprocess.run([CLI, "completion", "bash"], capture_output=True, text=True,
                            check=True).stdout
    f = tmp_path / "c.bash"
    f.write_text(script)
    bindir = os.path.dirname(CLI)

    def complete(line):
        prog = (f"PATH={bindir}:$PATH; source {f}; COMP_LINE='{line}'; "
                f"COMP_POINT={len(line)}; _vmkit_complete; echo \"${{COMPREPLY[@]}}\"")
        return subprocess.run(["bash", "-c", prog], capture_output=True, text=True,
                              check=True).stdout.split()
    assert "dominfo" in complete("vmkit domi")
    assert complete("vmkit start --") == ["--help", "--paused", "--console"]
    assert complete(f"vmkit -c {fake.uri} start w") == ["web"]
    assert complete(f"vmkit -r --connect {fake.uri} dominfo ") == ["web"]
    assert complete("vmkit help dom")[:2] == ["dominfo", "domstate"]
    assert complete("vmkit ")[:2] == ["img", "define"]
    assert complete("vmkit list --output ") == ["json", "human"]
    assert complete("vmkit shutdown web --timeout ") == []


def test_console_terminal_restored(fake, tmp_path):
    """On a terminal the console runs in raw mode; Ctrl-] and SIGTERM both
    restore the terminal's settings."""
    import pty
    import signal
    import termios
    define(fake, tmp_path, "web")
    vmkit(fake, "start", "web")
    for how in ("escape", "sigterm"):
        master, slave = pty.openpty()
        before = termios.tcgetattr(slave)
        p = subprocess.Popen([CLI, "-c", fake.uri, "console", "web"], stdin=slave,
                             stdout=slave, stderr=subprocess.PIPE)
        out = b""
        deadline = time.monotonic() + 30
        while b"console of web" not in out:
            assert time.monotonic() < deadline, out
            out += os.read(master, 4096)
        deadline = time.monotonic() + 30
        while termios.tcgetattr(slave)[3] & termios.ICANON:   # raw: no canonical mode
            assert time.monotonic() < deadline, "the console never went raw"
            time.sleep(0.05)
        if how == "escape":
            os.write(master, b"\x1d")
        else:
            p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, p.stderr.read()
        assert termios.tcgetattr(slave) == before, how
        os.close(master)
        os.close(slave)


def test_edit_retry_on_terminal(fake, tmp_path):
    """On a terminal a refused edit offers to edit again; 'y' reopens the
    editor on the text that was refused."""
    import pty
    define(fake, tmp_path, "web")
    count = tmp_path / "count"
    script = tmp_path / "ed.sh"
    # First round: break the document; second: repair it and change the memory.
    script.write_text(f"""#!/bin/sh
n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}
if [ "$n" = 0 ]; then sed -i 's/<name>web<\\/name>//' "$1"
else grep -q '<name>web</name>' "$1" && exit 1
     sed -i 's/<domain type=.kvm.>/<domain type="kvm"><name>web<\\/name>/; s/>64</>96</' "$1"; fi
""")
    script.chmod(0o755)
    env = dict(os.environ, EDITOR=str(script))
    env.pop("VISUAL", None)
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "-c", fake.uri, "edit", "web"], stdin=slave, stdout=slave,
                         stderr=subprocess.PIPE, env=env)
    out = b""
    deadline = time.monotonic() + 30
    while b"Try again? [y,n]:" not in out:
        assert time.monotonic() < deadline, out
        out += os.read(master, 4096)
    os.write(master, b"y\n")
    assert p.wait(timeout=30) == 0, p.stderr.read()
    out += os.read(master, 4096)
    assert b"XML configuration edited." in out
    assert "has no <name>" in p.stderr.read().decode()
    assert count.read_text().strip() == "2"
    assert ">96<" in vmkit(fake, "dumpxml", "web", "--inactive").stdout
    os.close(master)
    os.close(slave)
