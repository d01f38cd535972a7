"""virtio-blk on real VMs. The test guest's `blk` workload writes its sector
pattern (guest/vpat.c), flushes, reads back, zeroes and discards; the host
then reads the image (raw directly, qcow2 through `vmkit img convert`) and
checks every byte. Also: a flush followed by kill -9 of the VMM (the data is
there for a second boot), a read-only disk (writes end in IOERR), cache=none,
several queues and the block queries. Linux's own driver on three disks:
test_linux_devices.py."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import CLI, TIMEOUT, guest_args, run_vmm
from test_virtio import read_events_until_eof

M64 = (1 << 64) - 1
SECTOR = 512


def vpat_sector(sector, seed):
    """guest/vpat.c: "VMKT", seed, sector, then an xorshift64* stream."""
    s = ((((sector + 1) * 0x9E3779B97F4A7C15) & M64) ^ ((seed << 17 | seed) & M64)) or 1
    out = bytearray(b"VMKT" + seed.to_bytes(4, "little") + sector.to_bytes(8, "little"))
    for _ in range((SECTOR - 16) // 8):
        s ^= s >> 12
        s ^= (s << 25) & M64
        s ^= s >> 27
        out += ((s * 0x2545F4914F6CDD1D) & M64).to_bytes(8, "little")
    return bytes(out)


def check_pattern(data, sectors, seed, zeroed=64):
    """The blk workload's result: its pattern on [0, sectors), then zeros on
    the `zeroed` sectors WRITE_ZEROES covered."""
    for s in range(sectors):
        got = data[s * SECTOR:(s + 1) * SECTOR]
        assert got == vpat_sector(s, seed), f"sector {s} does not hold pattern {seed}"
    tail = data[sectors * SECTOR:(sectors + zeroed) * SECTOR]
    assert tail == bytes(len(tail)), "the WRITE_ZEROES range is not zero"


def make_raw(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return str(path)


def make_qcow2(path, size):
    subprocess.run([CLI, "img", "create", "-f", "qcow2", str(path), str(size)], check=True,
                   capture_output=True)
    return str(path)


def image_bytes(path, fmt, tmp_path):
    if fmt == "raw":
        with open(path, "rb") as f:
            return f.read()
    out = str(tmp_path / "converted.raw")
    subprocess.run([CLI, "img", "convert", "-f", fmt, "-O", "raw", path, out], check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def qemu_img_check(path):
    qemu_img = shutil.which("qemu-img")
    assert qemu_img, "qemu-img is needed to check qcow2 images"
    r = subprocess.run([qemu_img, "check", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def run_blk(cmdline, disks, cpus=1, memory="256M"):
    extra = []
    for d in disks:
        extra += ["--disk", d]
    return run_vmm(guest_args(cmdline, cpus=cpus, memory=memory,
                              extra=extra + ["--serial", "stdio"]))


@pytest.mark.parametrize("fmt,cache,cpus", [("raw", "writeback", 1), ("raw", "none", 2),
                                            ("qcow2", "writeback", 2), ("qcow2", "none", 1)])
def test_blk_pattern_in_image(kvm, tmp_path, fmt, cache, cpus):
    """What the guest wrote is in the image byte for byte."""
    make = make_raw if fmt == "raw" else make_qcow2
    img = make(tmp_path / f"d.{fmt}", 16 << 20)
    r = run_blk("workload=blk seed=5 sectors=8192",
                [f"path={img},format={fmt},cache={cache}"], cpus=cpus)
    assert "testguest: blk: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    assert "id 'disk0'" in r.stdout, r.stdout
    check_pattern(image_bytes(img, fmt, tmp_path), 8192, 5)
    if fmt == "qcow2":
        qemu_img_check(img)


@pytest.mark.parametrize("cache", ["writeback", "none"])
def test_blk_polling(kvm, tmp_path, cache):
    """Polling for the guest's answer (poll_us, default 32): blk-bench polls
    its used ring and answers each batch at once, so the thread that pushed
    the completions serves many of its next requests; the VMM's exit line
    counts them. With poll_us=0 nothing polls."""
    img = make_raw(tmp_path / "d.raw", 64 << 20)
    for opt, polled in (("", True), (",poll_us=0", False)):
        r = run_vmm(guest_args("workload=blk-bench span=32 ms=200 seq-bs=131072 seq-qd=8",
                               memory="256M",
                               extra=["--disk", f"path={img},format=raw,cache={cache}{opt}",
                                      "--serial", "stdio", "--log-level", "info"]))
        assert "blk-bench: PASS" in r.stdout, r.stdout + r.stderr
        m = re.search(r"disk0: polling: (\d+) answers caught", r.stderr)
        if polled:
            assert m and int(m.group(1)) > 0, r.stderr
        else:
            assert not m, r.stderr


def test_blk_multiqueue(kvm, tmp_path):
    """queues=4 on 2 vCPUs: the guest sees MQ (its driver uses queue 0; the
    device answers on whichever queue it is given)."""
    img = make_raw(tmp_path / "d.raw", 8 << 20)
    r = run_blk("workload=blk seed=9 sectors=2048",
                [f"path={img},format=raw,queues=4,id=sys"], cpus=2)
    assert "testguest: blk: PASS" in r.stdout, r.stdout + r.stderr
    assert "id 'sys'" in r.stdout, r.stdout   # GET_ID
    check_pattern(image_bytes(img, "raw", tmp_path), 2048, 9)


def test_blk_hostile_ring(vm_factory, tmp_path):
    """Every kind of malformed chain on the disk's queue: NEEDS_RESET and a
    configuration interrupt (the guest checks), a DEVICE_NEEDS_RESET event
    naming the disk, and the disk works again after the driver's reset."""
    img = make_raw(tmp_path / "d.raw", 8 << 20)
    vm = vm_factory(guest_args("workload=hostile-ring devs=blk", memory="256M",
                               extra=["--disk", f"path={img},format=raw"]))
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    assert "testguest: hostile-ring: PASS" in vm.serial(), vm.serial()
    oks = re.findall(r"hostile-ring: blk0 (\S+) ok", vm.serial())
    assert len(oks) >= 10 and "wrong-dir" in oks, vm.serial()
    events = [e for e in read_events_until_eof(vm.qmp) if e["event"] == "DEVICE_NEEDS_RESET"]
    assert len(events) == len(oks), (oks, events)
    assert all(e["data"]["device"] == "disk0" for e in events), events


def blockstats(vm):
    st = vm.qmp.cmd("query-blockstats")["return"]
    return st[0]["stats"] if st else {}


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_blk_flush_then_kill9(vm_factory, tmp_path, fmt):
    """Once the guest's first FLUSH completed, the VMM is paused and killed
    with SIGKILL mid-run; a second boot reads every sector back."""
    sectors, seed = 131072, 77
    make = make_raw if fmt == "raw" else make_qcow2
    img = make(tmp_path / f"d.{fmt}", 80 << 20)
    vm = vm_factory(guest_args(f"workload=blk seed={seed} sectors={sectors}", memory="256M",
                               extra=["--disk", f"path={img},format={fmt}"]))
    deadline = time.monotonic() + TIMEOUT
    while blockstats(vm).get("flush_operations", 0) < 1:
        assert vm.proc.poll() is None, "the VM ended before it was killed: " + vm.serial()
        assert time.monotonic() < deadline, "no FLUSH: " + vm.serial()
        time.sleep(0.005)
    vm.qmp.cmd("pause")
    vm.proc.send_signal(signal.SIGKILL)
    assert vm.wait() == -signal.SIGKILL, vm.stderr()
    assert "blk: PASS" not in vm.serial(), "killed too late to prove anything"
    r = run_blk(f"workload=blk seed={seed} sectors={sectors} verify-only=1",
                [f"path={img},format={fmt},readonly=on"])
    assert "testguest: blk: PASS" in r.stdout, r.stdout + r.stderr
    data = image_bytes(img, fmt, tmp_path)
    for s in range(0, sectors, 997):
        assert data[s * SECTOR:(s + 1) * SECTOR] == vpat_sector(s, seed), s
    if fmt == "qcow2":
        qemu_img_check(img)


def test_blk_readonly(kvm, tmp_path):
    """readonly=on: VIRTIO_BLK_F_RO, writes end in IOERR (the guest checks),
    reads of an earlier boot's pattern verify, the image is unchanged."""
    img = make_raw(tmp_path / "d.raw", 8 << 20)
    r = run_blk("workload=blk seed=3 sectors=1024", [f"path={img},format=raw"])
    assert "testguest: blk: PASS" in r.stdout, r.stdout + r.stderr
    with open(img, "rb") as f:
        before = f.read()
    r = run_blk("workload=blk-ro seed=3 sectors=1024 verify-only=1",
                [f"path={img},format=raw,readonly=on"])
    assert "testguest: blk-ro: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    r = run_blk("workload=blk ro=1", [f"path={img},format=raw,readonly=on,cache=none"])
    assert "testguest: blk-ro: PASS" in r.stdout or "testguest: blk: PASS" in r.stdout, \
        r.stdout + r.stderr
    with open(img, "rb") as f:
        assert f.read() == before


def test_blk_image_locked(vm_factory, tmp_path):
    """A second VMM cannot open an image the first one is using: one error
    naming the image, and the VM does not start."""
    img = make_raw(tmp_path / "d.raw", 8 << 20)
    vm = vm_factory(guest_args("workload=idle", extra=["--disk", f"path={img},format=raw"]))
    vm.wait_serial("testguest: idle: waiting")
    r = run_blk("workload=hello", [f"path={img},format=raw"])
    assert r.returncode != 0, r.stdout
    assert "locked" in r.stderr and img in r.stderr, r.stderr
    assert "disk0" in r.stderr, r.stderr
    assert "testguest" not in r.stdout, "the VM must not start"
    vm.qmp.cmd("quit")
    assert vm.wait() == 0


def test_blk_queries(vm_factory, tmp_path):
    """query-block: the disk's facts."""
    img = make_qcow2(tmp_path / "d.qcow2", 16 << 20)
    vm = vm_factory(guest_args("workload=idle", memory="256M",
                               extra=["--disk", f"path={img},format=qcow2,cache=none,id=sys"]))
    vm.wait_serial("testguest: idle: waiting")
    b = vm.qmp.cmd("query-block")["return"]
    assert len(b) == 1, b
    b = b[0]
    assert (b["id"], b["path"], b["format"], b["readonly"], b["cache"], b["size"]) == \
        ("sys", img, "qcow2", False, "none", 16 << 20), b
    assert b["blk_size"] in (512, 4096) and b["queues"] == 1, b
    vm.qmp.cmd("quit")
    assert vm.wait() == 0


def test_blk_stats_live(vm_factory, tmp_path):
    img = make_raw(tmp_path / "d.raw", 16 << 20)
    vm = vm_factory(guest_args("workload=idle", extra=["--disk", f"path={img},format=raw"]))
    vm.wait_serial("testguest: idle: waiting")
    st = blockstats(vm)
    for k in ("rd_bytes", "wr_bytes", "rd_operations", "wr_operations", "flush_operations",
              "unmap_operations", "failed_rd_operations", "failed_wr_operations",
              "rd_total_time_ns", "wr_total_time_ns"):
        assert k in st, (k, st)
    vm.qmp.cmd("quit")
    assert vm.wait() == 0
