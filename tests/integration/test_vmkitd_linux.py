"""One Linux boot through vmkitd and the `vmkit` CLI (the `make check` Linux
boot of issue 7): the Linux test guest (guest/linux, VMKIT_LINUX_DIR, as
test_linux_devices.py) from a domain XML with <kernel>, <initrd>,
<cmdline>, a raw virtio disk this test creates and a pty serial console.

`vmkit start`; /init runs the directives boot (CPUs, memory, command line),
blk (writes a pattern to /dev/vda, flushes, reads it back) and powerbutton,
whose `waiting` line in the domain log (vmkitd copies the pty console there
while nobody is attached) is the guest's ready line. While it waits,
domstats must show vCPU time and the disk's read, write and flush counters
above zero. Then `vmkit shutdown --timeout 600` presses the ACPI power
button: Linux's button driver delivers the press to /init (powerbutton:
PASS), which powers off; the domain ends `shut off (shutdown)` and the image
holds the guest's pattern.

One boot only: Linux's ring 0 is emulated on nested PVM (~25-60 s a boot)."""
import hashlib
import json
import os
import re
import subprocess
import time
from xml.sax.saxutils import escape

from conftest import CLI, linux_artifact

LINUX_TIMEOUT = float(os.environ.get("VMKIT_LINUX_TIMEOUT", "400"))
MEMORY_MIB = 256
DIRECTIVES = ["boot", "blk", "powerbutton"]
READY = "linux: powerbutton: waiting for a press"
PATTERN_OFF = 1 << 20   # /init's blk directive: 1 MiB of `yes vmkit-blk-vda` at 1 MiB
PATTERN_LEN = 1 << 20
RESULT = re.compile(r"^linux: ([a-z0-9_]+): (PASS|FAIL.*?)\r?$", re.M)


def vmkit(d, *args, ok=(0,), timeout=LINUX_TIMEOUT):
    assert os.path.exists(CLI), f"{CLI} not built"
    cmd = [CLI, "-c", "unix://" + d.sock] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    assert r.returncode in ok, (cmd, r.returncode, r.stdout, r.stderr, d.stderr()[-3000:])
    return r


def linux_cmdline():
    """The guest's base command line plus /init's directives and facts, the
    md5 of all that last (as test_linux.py builds it)."""
    with open(linux_artifact("cmdline")) as f:
        base = f.read().strip()
    line = (f"{base} rdinit=/init vmkit.test={','.join(DIRECTIVES)} vmkit.blk_pattern=vda "
            f"vmkit.expect_cpus=1 vmkit.expect_mem={MEMORY_MIB}M")
    return f"{line} vmkit.expect_cmdline_md5={hashlib.md5(line.encode()).hexdigest()}"


def linux_domain_xml(name, disk):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>{MEMORY_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{escape(linux_artifact("vmlinux"))}</kernel>
    <initrd>{escape(linux_artifact("initramfs.cpio"))}</initrd>
    <cmdline>{escape(linux_cmdline())}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{escape(disk)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
  </devices>
</domain>
"""


def log_text(d, name):
    path = os.path.join(d.log_dir, f"{name}.log")
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def wait_ready(d, name):
    deadline = time.monotonic() + LINUX_TIMEOUT
    while READY not in (out := log_text(d, name)):
        state = vmkit(d, "domstate", name, "--reason").stdout.strip()
        tail = "\n".join(out.splitlines()[-40:])
        assert state == "running (booted)", f"{name} is {state} before its ready line:\n{tail}"
        assert time.monotonic() < deadline, \
            f"no {READY!r} within {LINUX_TIMEOUT:.0f} s; the domain log ends:\n{tail}"
        time.sleep(0.5)
    return out


def stats(d, name):
    return json.loads(vmkit(d, "domstats", name, "--output", "json").stdout)["domains"][0]


def test_linux_through_vmkitd(kvm, vmkitd, tmp_path):
    d = vmkitd
    disk = str(tmp_path / "linux-disk.raw")
    vmkit(d, "img", "create", "-q", "-f", "raw", disk, "16M")
    xml = tmp_path / "linux1.xml"
    xml.write_text(linux_domain_xml("linux1", disk))
    vmkit(d, "define", xml)
    assert vmkit(d, "start", "linux1").stdout == "Domain 'linux1' started\n"
    info = json.loads(vmkit(d, "dominfo", "linux1", "--output", "json").stdout)
    assert info["console"] and info["console"].startswith("/dev/pts/"), info

    out = wait_ready(d, "linux1")
    res = dict(RESULT.findall(out))
    for t in ("boot", "blk"):
        assert res.get(t) == "PASS", f"linux: {t}: {res.get(t)}\n{out[-3000:]}"

    st = stats(d, "linux1")
    assert (st["state"], st["reason"]) == ("running", "booted")
    assert st["cpu"]["time_ns"] > 0 and len(st["cpu"]["vcpus"]) == 1, st["cpu"]
    assert st["cpu"]["vcpus"][0]["time_ns"] > 0, st["cpu"]
    blk = st["block"]
    assert [b["target"] for b in blk] == ["vda"] and blk[0]["path"] == disk, blk
    for key in ("rd_bytes", "wr_bytes", "rd_operations", "wr_operations", "flush_operations"):
        assert blk[0][key] > 0, (key, blk[0])
    assert blk[0]["wr_bytes"] >= PATTERN_LEN, blk[0]
    assert blk[0]["errors"] == 0, blk[0]

    r = vmkit(d, "shutdown", "linux1", "--timeout", "600", timeout=660)
    assert r.stdout == "Domain 'linux1' has been shut down\n", r.stdout
    assert vmkit(d, "domstate", "linux1", "--reason").stdout.strip() == "shut off (shutdown)"
    out = log_text(d, "linux1")
    res = dict(RESULT.findall(out))
    assert res.get("powerbutton") == "PASS", f"linux: powerbutton: {res.get('powerbutton')}\n" \
        + out[-3000:]
    line = b"vmkit-blk-vda\n"
    want = (line * (PATTERN_LEN // len(line) + 1))[:PATTERN_LEN]
    with open(disk, "rb") as f:
        f.seek(PATTERN_OFF)
        assert f.read(PATTERN_LEN) == want, "the image lacks the pattern the guest wrote"
    ev = [(e["event"], e["detail"]) for e in d.events() if e["domain"]["name"] == "linux1"]
    assert ev == [("defined", "added"), ("started", "booted"), ("stopped", "shutdown")], ev
    vmkit(d, "undefine", "linux1")
