"""Virtio over PCI on real VMs: the transport and virtio-rng with the test
guest (rng, hostile-ring), the control-socket device commands and the
DEVICE_NEEDS_RESET event, and the device options' refusals (one line, exit status 2,
before anything starts)."""
import json
import os
import re
import subprocess

import pytest

from conftest import GUEST, VMM, guest_args, run_vmm, vmm_env
from test_bad_input import check_refused

NOTIFY_LINE = re.compile(r"virtio: (\S+): (\d+) queue notifies, (\d+) doorbell writes exited")


def notify_counts(stderr):
    """{device id: (queue notifies, doorbell writes that exited to the VMM)}"""
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in NOTIFY_LINE.finditer(stderr)}


def test_rng_workload(kvm):
    """The test guest reads virtio-rng through its own driver: MSI-X
    interrupts, a masked vector's pending bit, the PCI cfg capability."""
    r = run_vmm(guest_args("workload=rng bytes=65536 req=256", memory="256M",
                           extra=["--rng", "--serial", "stdio", "--log-level", "info"]))
    assert "testguest: rng: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    notifies, exits = notify_counts(r.stderr)["rng0"]
    # One queue_notify per doorbell the event loop saw; two doorbells that
    # land before the loop reads the eventfd count once (legal coalescing),
    # so the count can fall a little short of the 256 requests.
    assert notifies >= 200, r.stderr
    # With KVM ioeventfds the doorbells never exit; without, every one does.
    assert exits == 0 or exits >= 256, r.stderr


def read_events_until_eof(qmp):
    events = list(qmp.events)
    qmp.events.clear()
    try:
        while True:
            msg = qmp._read()
            if "event" in msg:
                events.append(msg)
    except (EOFError, ConnectionResetError, OSError):
        pass
    return events


def test_rng_hostile_ring(vm_factory):
    """Every kind of malformed ring: NEEDS_RESET + config interrupt (the
    guest checks both), one DEVICE_NEEDS_RESET event each, the VM goes on."""
    vm = vm_factory(guest_args("workload=hostile-ring", memory="256M", extra=["--rng"]))
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    assert "testguest: hostile-ring: PASS" in vm.serial(), vm.serial()
    oks = re.findall(r"hostile-ring: rng0 (\S+) ok", vm.serial())
    events = [e for e in read_events_until_eof(vm.qmp) if e["event"] == "DEVICE_NEEDS_RESET"]
    assert len(events) == len(oks) >= 10, (oks, events)
    for e in events:
        assert e["data"]["device"] == "rng0"
        assert e["data"]["reason"].startswith("queue 0: "), e


def test_device_queries(vm_factory):
    vm = vm_factory(guest_args("workload=idle", extra=["--rng"]))
    vm.wait_serial("testguest: idle: waiting")
    q = vm.qmp
    devs = q.cmd("query-virtio")["return"]
    assert len(devs) == 1, devs
    d = devs[0]
    assert (d["id"], d["kind"], d["slot"], d["status"]) == ("rng0", "virtio-rng", 1, 0)
    assert d["needs-reset"] is None
    assert d["offered"] & (1 << 32), d      # VERSION_1
    assert d["stats"] == {"requests": 0, "bytes": 0}
    assert [x["size"] for x in d["queues"]] == [256]
    assert q.cmd("query-block") == {"return": []}
    assert q.cmd("query-blockstats") == {"return": []}
    assert q.cmd("query-netstats") == {"return": []}
    r = q.cmd("set-link", id="rng0", up=False)
    assert "has no link" in r["error"]["desc"], r
    r = q.cmd("set-link", id="nic9", up=True)
    assert "no device 'nic9'" in r["error"]["desc"], r
    r = q.cmd("set-link", id="rng0")
    assert "set-link needs" in r["error"]["desc"], r
    q.cmd("quit")
    assert vm.wait() == 0


def test_query_block(vm_factory, tmp_path):
    img = tmp_path / "d.raw"
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    vm = vm_factory(guest_args("workload=idle", extra=[
        "--disk", f"path={img},format=raw,readonly=on,id=boot", "--rng"]))
    vm.wait_serial("testguest: idle: waiting")
    q = vm.qmp
    blk = q.cmd("query-block")["return"]
    assert len(blk) == 1, blk
    b = blk[0]
    assert (b["id"], b["path"], b["format"], b["readonly"], b["cache"]) == \
        ("boot", str(img), "raw", True, "writeback"), b
    assert "stats" not in b
    st = q.cmd("query-blockstats")["return"]
    assert [x["id"] for x in st] == ["boot"] and isinstance(st[0]["stats"], dict), st
    assert st[0]["path"] == str(img), st
    kinds = [(d["id"], d["kind"], d["slot"]) for d in q.cmd("query-virtio")["return"]]
    assert kinds == [("boot", "virtio-blk", 1), ("rng0", "virtio-rng", 2)], kinds
    q.cmd("quit")
    assert vm.wait() == 0


# ---- refusals ----

IMG = "/dev/null"   # exists: the checks before the file's content come first
BAD = {
    "disk-missing-file": (["--disk", "path=/nonexistent/d.img,format=raw"],
                          ["--disk disk0", "/nonexistent/d.img", "No such file"]),
    "disk-no-format": (["--disk", f"path={IMG}"], ["format= is missing"]),
    "disk-bad-format": (["--disk", f"path={IMG},format=vmdk"], ["format='vmdk'"]),
    "disk-unknown-key": (["--disk", f"path={IMG},format=raw,speed=9"], ["unknown key 'speed'"]),
    "disk-bad-readonly": (["--disk", f"path={IMG},format=raw,readonly=yes"], ["readonly='yes'"]),
    "net-bad-mac": (["--net", "tap=t0,mac=02:00:00:00:00"], ["mac='02:00:00:00:00'", "not a MAC"]),
    "net-multicast-mac": (["--net", "tap=t0,mac=03:00:00:00:00:01"], ["multicast"]),
    "net-tap-and-fd": (["--net", "tap=t0,fd=3"], ["exactly one of tap=NAME and fd=N"]),
    "net-neither": (["--net", "id=n"], ["exactly one of tap=NAME and fd=N"]),
    "duplicate-id": (["--disk", f"path={IMG},format=raw,id=x", "--console", "pty,id=x"],
                     ["duplicate device id 'x'"]),
    "stdio-twice": (["--console", "stdio"], ["stdio is already used by --serial"]),
    "rng-value": (["--rng=yes"], ["--rng takes no value"]),
    "too-many": ((["--disk", f"path={IMG},format=raw"] * 24 +
                  [x for i in range(8) for x in ("--net", f"tap=t{i}")]),
                 ["32 virtio devices", "31 PCI slots"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_device_options(name, tmp_path):
    args, words = BAD[name]
    r = subprocess.run([VMM, "--kernel", GUEST, "--api-socket", str(tmp_path / "s")] + args,
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env=vmm_env())
    check_refused(r, *words)
    assert os.listdir(tmp_path) == []


def test_bad_device_json(tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({"kernel": GUEST, "disks": {"path": IMG}}))
    check_refused(run_vmm(["--config", str(cfg)]), "\"disks\"", "expected an array")
    cfg.write_text(json.dumps({"kernel": GUEST, "rng": "yes"}))
    check_refused(run_vmm(["--config", str(cfg)]), "\"rng\"", "true or false")
    cfg.write_text(json.dumps({"kernel": GUEST, "consoles": [{"id": "c"}]}))
    check_refused(run_vmm(["--config", str(cfg)]), "without \"backend\"")
