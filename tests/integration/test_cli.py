"""The `vmkit` CLI end to end: vmkitd (the `vmkitd` fixture, temporary
directories) running the freestanding test guest. The full lifecycle through
the CLI (define, list, start, dominfo, domstate --reason, suspend, resume,
shutdown reaching the guest's power-button handler, destroy, undefine),
autostart, dumpxml/--inactive, edit with EDITOR set to a script, console
attach/detach, stats moving while the guest works, `event --loop`, read-only
refusals through -r and bad input with its exit codes. The client side alone
(no VM) is in test_cli_client.py."""
import json
import os
import re
import subprocess
import time

from conftest import CLI, TIMEOUT, domain_xml, raw_disk_xml


def vmkit(d, *args, ok=(0,), ro=False, env=None, input=None, timeout=TIMEOUT):
    assert os.path.exists(CLI), f"{CLI} not built"
    cmd = [CLI, "-c", "unix://" + d.sock] + (["-r"] if ro else []) + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                       timeout=timeout, input=input)
    assert r.returncode in ok, (cmd, r.returncode, r.stdout, r.stderr, d.stderr())
    return r


def write_xml(tmp_path, name, **kw):
    f = tmp_path / f"{name}.xml"
    f.write_text(domain_xml(name, **kw))
    return f


def state(d, name):
    return vmkit(d, "domstate", name, "--reason").stdout.strip()


def wait_state(d, name, want, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while (got := state(d, name)) != want:
        assert time.monotonic() < deadline, f"{name}: still '{got}', waited for '{want}'"
        time.sleep(0.1)


def file_text(path):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def wait_file(path, text, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while text not in file_text(path):
        assert time.monotonic() < deadline, f"{path} lacks {text!r}: {file_text(path)}"
        time.sleep(0.1)


def wait_log(d, name, text, timeout=TIMEOUT):
    """The domain log gets the pty console's output while nobody is attached."""
    wait_file(os.path.join(d.log_dir, f"{name}.log"), text, timeout)


def test_lifecycle(vmkitd, kvm, tmp_path):
    d = vmkitd
    serial = str(tmp_path / "web.serial")
    f = write_xml(tmp_path, "web", workload="idle", serial=serial)
    r = vmkit(d, "define", f)
    assert r.stdout == f"Domain 'web' defined from {f}\n"
    lines = vmkit(d, "list", "--all").stdout.splitlines()
    assert lines[0].split() == ["Id", "Name", "State"]
    assert lines[2].split() == ["-", "web", "shut", "off"]
    assert vmkit(d, "list", "--all", "--name").stdout.split() == ["web"]
    assert state(d, "web") == "shut off (unknown)"
    assert vmkit(d, "start", "web").stdout == "Domain 'web' started\n"
    assert state(d, "web") == "running (booted)"
    info = vmkit(d, "dominfo", "web").stdout
    assert re.search(r"^Id: +\d+$", info, re.M) and "State:          running" in info
    uuid = re.search(r"^UUID: +(\S+)$", info, re.M).group(1)
    assert json.loads(vmkit(d, "dominfo", uuid, "--output", "json").stdout)["name"] == "web"
    lines = vmkit(d, "list").stdout.splitlines()
    assert lines[2].split()[1:] == ["web", "running"]
    assert vmkit(d, "suspend", "web").stdout == "Domain 'web' suspended\n"
    assert state(d, "web") == "paused (user)"
    assert vmkit(d, "resume", "web").stdout == "Domain 'web' resumed\n"
    assert state(d, "web") == "running (unpaused)"
    # The power button reaches the guest's handler: it prints PASS and powers off.
    wait_file(serial, "idle: waiting for the ACPI power button")
    r = vmkit(d, "shutdown", "web", "--timeout", str(int(TIMEOUT)))
    assert r.stdout == "Domain 'web' has been shut down\n"
    assert state(d, "web") == "shut off (shutdown)"
    wait_file(serial, "testguest: idle: PASS")
    vmkit(d, "start", "web")
    assert vmkit(d, "destroy", "web").stdout == "Domain 'web' destroyed\n"
    assert state(d, "web") == "shut off (destroyed)"
    assert vmkit(d, "undefine", "web").stdout == "Domain 'web' has been undefined\n"
    assert vmkit(d, "list", "--all", "--name").stdout.split() == []


def test_create_transient_and_shutdown_without_wait(vmkitd, kvm, tmp_path):
    d = vmkitd
    serial = str(tmp_path / "tmp1.serial")
    f = write_xml(tmp_path, "tmp1", workload="idle", serial=serial)
    assert vmkit(d, "create", f).stdout == f"Domain 'tmp1' created from {f}\n"
    assert json.loads(vmkit(d, "dominfo", "tmp1", "--output", "json").stdout)["persistent"] is False
    wait_file(serial, "idle: waiting for the ACPI power button")
    assert vmkit(d, "shutdown", "tmp1").stdout == "Domain 'tmp1' is being shutdown\n"
    deadline = time.monotonic() + TIMEOUT
    while "tmp1" in vmkit(d, "list", "--all", "--name").stdout.split():
        assert time.monotonic() < deadline, "a transient domain outlived its shutdown"
        time.sleep(0.1)


def test_autostart_dumpxml_edit(vmkitd, kvm, tmp_path):
    d = vmkitd
    f = write_xml(tmp_path, "cfg", workload="idle", memory="64")
    vmkit(d, "define", f)
    assert vmkit(d, "autostart", "cfg").stdout == "Domain 'cfg' marked as autostarted\n"
    assert "Autostart:      enable" in vmkit(d, "dominfo", "cfg").stdout
    vmkit(d, "autostart", "cfg", "--disable")
    assert "Autostart:      disable" in vmkit(d, "dominfo", "cfg").stdout
    inactive = vmkit(d, "dumpxml", "cfg", "--inactive").stdout
    assert "<name>cfg</name>" in inactive and "<uuid>" in inactive
    # edit: the script doubles the memory; unchanged; invalid XML refused.
    script = tmp_path / "ed.sh"
    script.write_text("#!/bin/sh\nsed -i \"s/<memory unit='MiB'>64</<memory unit='MiB'>128</\" \"$1\"\n")
    script.chmod(0o755)
    env = dict(os.environ, EDITOR=str(script))
    env.pop("VISUAL", None)
    assert vmkit(d, "edit", "cfg", env=env).stdout == "Domain 'cfg' XML configuration edited.\n"
    assert "Max memory:     131072 KiB" in vmkit(d, "dominfo", "cfg").stdout
    env["EDITOR"] = "true"
    assert "not changed" in vmkit(d, "edit", "cfg", env=env).stdout
    script.write_text("#!/bin/sh\nsed -i 's/<vcpu>1</<vcpu>0</' \"$1\"\n")
    env["EDITOR"] = str(script)
    r = vmkit(d, "edit", "cfg", env=env, ok=(1,))
    assert r.stderr.startswith("vmkit: error: ") and "vcpu" in r.stderr
    assert "CPU(s):         1" in vmkit(d, "dominfo", "cfg").stdout   # nothing stored
    # Live XML of a running domain carries the pty; --inactive does not.
    vmkit(d, "start", "cfg")
    live = vmkit(d, "dumpxml", "cfg").stdout
    assert re.search(r"/dev/pts/\d+", live)
    assert re.search(r"^Console: +/dev/pts/\d+$", vmkit(d, "dominfo", "cfg").stdout, re.M)
    assert not re.search(r"/dev/pts/\d+", vmkit(d, "dumpxml", "cfg", "--inactive").stdout)
    vmkit(d, "destroy", "cfg")


def read_until(p, text, timeout=TIMEOUT):
    out = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while text not in out:
        assert time.monotonic() < deadline, f"console: no {text!r} in {out!r}"
        try:
            chunk = os.read(p.stdout.fileno(), 4096)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        assert chunk, f"console closed before {text!r}: {out!r}"
        out += chunk
    return out


def echo_until(p, text, timeout=TIMEOUT):
    """Type text into the echo workload until it comes back (the guest may
    not be listening yet right after start --console)."""
    out = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(p.stdout.fileno(), False)
    while text not in out:
        assert time.monotonic() < deadline, f"console: no echo of {text!r} in {out!r}"
        p.stdin.write(text)
        p.stdin.flush()
        end = time.monotonic() + 0.5
        while time.monotonic() < end and text not in out:
            try:
                out += os.read(p.stdout.fileno(), 4096)
            except BlockingIOError:
                time.sleep(0.05)
    return out


def test_console_attach_detach(vmkitd, kvm, tmp_path):
    d = vmkitd
    vmkit(d, "define", write_xml(tmp_path, "con", workload="echo"))
    vmkit(d, "start", "con")
    wait_log(d, "con", "echo: ready")
    p = subprocess.Popen([CLI, "-c", "unix://" + d.sock, "console", "con"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"ping-from-cli")
        p.stdin.flush()
        read_until(p, b"ping-from-cli")         # the guest echoes COM1 input
        # A second client is refused while the first is attached.
        r = vmkit(d, "console", "con", ok=(1,), input="")
        assert r.stderr.startswith("vmkit: error: ")
        p.stdin.write(b"\x1d")
        p.stdin.flush()
        assert p.wait(timeout=TIMEOUT) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert state(d, "con") == "running (booted)"   # detaching leaves the VM running
    # Attach again, end the echo workload with Ctrl-D: PASS, the guest powers off.
    p = subprocess.Popen([CLI, "-c", "unix://" + d.sock, "console", "con"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"\x04")
        p.stdin.flush()
        read_until(p, b"echo: PASS")
        assert p.wait(timeout=TIMEOUT) == 0     # the daemon closes the console
    finally:
        if p.poll() is None:
            p.kill()
    wait_state(d, "con", "shut off (shutdown)")


def test_start_console_paused_and_force(vmkitd, kvm, tmp_path):
    d = vmkitd
    vmkit(d, "define", write_xml(tmp_path, "sc", workload="echo"))
    q = None
    p = subprocess.Popen([CLI, "-c", "unix://" + d.sock, "start", "sc", "--console"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p, b"Domain 'sc' started")
        echo_until(p, b"xyz")
        # --force takes the console; the first client is disconnected.
        q = subprocess.Popen([CLI, "-c", "unix://" + d.sock, "console", "sc", "--force"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        assert p.wait(timeout=TIMEOUT) == 0
        q.stdin.write(b"\x1d")
        q.stdin.flush()
        assert q.wait(timeout=TIMEOUT) == 0
    finally:
        for x in (p, q):
            if x and x.poll() is None:
                x.kill()
    vmkit(d, "destroy", "sc")
    vmkit(d, "start", "sc", "--paused")
    assert state(d, "sc") == "paused (user)"
    vmkit(d, "destroy", "sc")


def test_stats_move(vmkitd, kvm, tmp_path):
    d = vmkitd
    dev = raw_disk_xml(tmp_path / "disk.raw", 16 << 20)
    serial = str(tmp_path / "busy.serial")
    vmkit(d, "define", write_xml(tmp_path, "busy", workload="blk-bench", serial=serial,
                                 cmdline="span=8 ms=4000", devices=dev))
    vmkit(d, "start", "busy")

    def sample():
        st = json.loads(vmkit(d, "domstats", "busy", "--output", "json").stdout)["domains"][0]
        blk = st["block"][0]
        return st["cpu"]["time_ns"], blk["rd_operations"] + blk["wr_operations"]
    wait_file(serial, "testguest: blk-bench: ")
    cpu0, io0 = sample()
    deadline = time.monotonic() + TIMEOUT
    while True:
        time.sleep(0.5)
        cpu1, io1 = sample()
        if cpu1 > cpu0 and io1 > io0:
            break
        assert time.monotonic() < deadline, f"stats did not move: {cpu0},{io0} → {cpu1},{io1}"
    text = vmkit(d, "domstats", "busy").stdout
    assert text.startswith("Domain: 'busy'\n") and "block.0.name=vda" in text
    assert re.search(r"^vda rd_req \d+$", vmkit(d, "domblkstat", "busy", "vda").stdout, re.M)
    assert vmkit(d, "dommemstat", "busy").stdout.splitlines()[-1].startswith("rss ")
    r = vmkit(d, "domblkstat", "busy", "vdz", ok=(1,))
    assert "vdz" in r.stderr
    vmkit(d, "destroy", "busy")


def test_event_loop(vmkitd, kvm, tmp_path):
    d = vmkitd
    # Follow from the newest retained event (no race with the stream's start).
    r = vmkit(d, "event", "--since", "0", "--loop", "--timeout", "1", "--output", "json")
    last = max([json.loads(x)["seq"] for x in r.stdout.splitlines()] + [0])
    p = subprocess.Popen([CLI, "-c", "unix://" + d.sock, "event", "--loop", "--since", str(last),
                          "--timeout", str(int(TIMEOUT))], stdout=subprocess.PIPE, text=True)
    try:
        vmkit(d, "define", write_xml(tmp_path, "ev", workload="idle"))
        vmkit(d, "start", "ev")
        vmkit(d, "suspend", "ev")
        vmkit(d, "resume", "ev")
        vmkit(d, "destroy", "ev")
        vmkit(d, "undefine", "ev")
        want = ["Defined Added", "Started Booted", "Suspended Paused", "Resumed Unpaused",
                "Stopped Destroyed", "Undefined Removed"]
        got = [p.stdout.readline().rstrip("\n") for _ in want]
    finally:
        p.terminate()
        p.wait(timeout=TIMEOUT)
    for line, w in zip(got, want):
        assert line.endswith(f"event 'lifecycle' for domain 'ev': {w}"), got
    seqs = [int(re.search(r"seq (\d+):", line).group(1)) for line in got]
    assert seqs == sorted(seqs)
    # --since replays; without --loop the first matching event ends it.
    r = vmkit(d, "event", "ev", "--since", str(seqs[0] - 1))
    assert r.stdout.rstrip("\n").endswith("Defined Added")
    r = vmkit(d, "event", "--since", str(seqs[0]), "--loop", "--timeout", "2", "--output", "json")
    evs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["seq"] for e in evs][:5] == seqs[1:]


def test_readonly_refusals(vmkitd, kvm, tmp_path):
    d = vmkitd
    vmkit(d, "define", write_xml(tmp_path, "ro", workload="idle"))
    assert vmkit(d, "list", "--all", "--name", ro=True).stdout.split() == ["ro"]
    assert "Name:           ro" in vmkit(d, "dominfo", "ro", ro=True).stdout
    assert vmkit(d, "version", ro=True).stdout.startswith("Client: vmkit ")
    for args in (("start", "ro"), ("undefine", "ro"), ("autostart", "ro"),
                 ("define", write_xml(tmp_path, "ro2")), ("console", "ro")):
        r = vmkit(d, *args, ro=True, ok=(1,))
        assert r.stderr.startswith("vmkit: error: ") and "read-only" in r.stderr, args
    assert state(d, "ro") == "shut off (unknown)"


def test_bad_input_exit_codes(vmkitd, kvm, tmp_path):
    d = vmkitd
    r = vmkit(d, "define", tmp_path / "missing.xml", ok=(1,))
    assert "missing.xml" in r.stderr
    r = vmkit(d, "dominfo", "nosuch", ok=(1,))
    assert r.stderr.startswith("vmkit: error: ") and "nosuch" in r.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text("<domain type='kvm'><name>x</name>")
    r = vmkit(d, "define", bad, ok=(1,))
    assert r.stderr.startswith("vmkit: error: ")
    vmkit(d, "define", write_xml(tmp_path, "t", workload="idle"))
    r = vmkit(d, "suspend", "t", ok=(1,))              # illegal transition
    assert r.stderr.startswith("vmkit: error: ") and "'t'" in r.stderr
    vmkit(d, "start", "t")
    r = vmkit(d, "start", "t", ok=(1,))
    assert "running" in r.stderr
    vmkit(d, "destroy", "t")
    vmkit(d, "start", ok=(2,))
    vmkit(d, "list", "--frob", ok=(2,))
    r = subprocess.run([CLI, "-c", "unix://" + os.path.join(d.runtime_dir, "nope.sock"),
                        "list"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 3 and "nope.sock" in r.stderr


def test_reset_and_reboot(vmkitd, kvm, tmp_path):
    d = vmkitd
    serial = str(tmp_path / "rr.serial")
    vmkit(d, "define", write_xml(tmp_path, "rr", workload="idle", serial=serial))
    vmkit(d, "start", "rr")
    ready = "idle: waiting for the ACPI power button"

    def wait_boots(n):
        deadline = time.monotonic() + TIMEOUT
        while file_text(serial).count(ready) < n:
            assert time.monotonic() < deadline, f"boot {n} never came: {file_text(serial)}"
            time.sleep(0.1)
    wait_boots(1)
    assert vmkit(d, "reset", "rr").stdout == "Domain 'rr' was reset\n"
    wait_boots(2)
    assert state(d, "rr") == "running (booted)"
    assert vmkit(d, "reboot", "rr").stdout == "Domain 'rr' is being rebooted\n"
    wait_boots(3)
    r = vmkit(d, "event", "rr", "--since", "0", "--loop", "--timeout", "2")
    assert "Rebooted Reset" in r.stdout, r.stdout
    vmkit(d, "destroy", "rr")
