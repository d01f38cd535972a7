"""I/O rate limits on real VMs: a disk limited to 1 MiB/s makes the test
guest's `blk` workload (4 MiB written and read back) take at least 3 s and
counts its waits; set-rate-limit lifts a 256 KiB/s limit at run time (the
run would outlast the hang timeout otherwise) and refuses bad requests; a
packets-per-second limit on virtio-net bounds the `net` echo workload from
below (needs root: network namespaces and TAPs); bad limit values are
refused before the VM starts. Only lower bounds on time are asserted.
Unit tests: test_ratelimit.c (the buckets), test_vblk.c and test_vnet.c
(the devices' throttling), test_vmctl.c (set-rate-limit), test_config.c."""
import json
import re
import time

from conftest import TIMEOUT, Vm, guest_args, run_vmm
from test_bad_input import check_refused
from test_virtio_blk import check_pattern, image_bytes, make_raw
from test_virtio_net import MAC, TAP, NsVm, netns, netstats  # noqa: F401 (netns: fixture)

MIB = 1 << 20


def blockstats(vm):
    st = vm.qmp.cmd("query-blockstats")["return"]
    assert [s["id"] for s in st] == ["disk0"], st
    return st[0]["stats"]


def query_limit(vm):
    b = vm.qmp.cmd("query-block")["return"]
    return b[0]["rate_limit"]


def wait_for(pred, what, vm, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not pred():
        assert vm.proc.poll() is None, f"VMM exited before {what}: " + vm.serial() + vm.stderr()
        assert time.monotonic() < deadline, f"timeout waiting for {what}: " + vm.serial()
        time.sleep(0.05)


def run_to_end(vm, poll):
    """Until the VM exits: call poll() every 0.2 s while the control socket
    answers; returns the time the workload's PASS line appeared."""
    deadline = time.monotonic() + TIMEOUT
    done = None
    while vm.proc.poll() is None:
        assert time.monotonic() < deadline, "hang: " + vm.serial()
        if done is None and "blk: PASS" in vm.serial():
            done = time.monotonic()
        try:
            poll()
        except (EOFError, OSError, KeyError):
            pass   # the VM is shutting down
        time.sleep(0.2)
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    return done or time.monotonic()


def test_disk_bps_bounds_blk(vm_factory, tmp_path):
    """bps=1M with a 1 MiB burst: 4 MiB written and read back (8 MiB of
    data) cannot take less than 7 s; assert 3 s from the workload's first
    line, and that the waits were counted and the data is intact."""
    img = make_raw(tmp_path / "d.raw", 16 * MIB)
    vm = vm_factory(guest_args("workload=blk seed=11 sectors=8192", memory="256M",
                               extra=["--disk", f"path={img},format=raw,bps=1M,bps_burst=1M"]))
    assert query_limit(vm) == {"bps": MIB, "bps_burst": MIB, "ops": 0, "ops_burst": 0}
    vm.wait_serial("sectors (")   # blk_describe: before the first data request
    t0 = time.monotonic()
    seen = {}
    end = run_to_end(vm, lambda: seen.update(blockstats(vm)))
    assert "testguest: blk: PASS" in vm.serial(), vm.serial()
    assert end - t0 >= 3.0, f"8 MiB at 1 MiB/s took {end - t0:.2f} s"
    assert seen.get("throttled", 0) > 0, seen
    assert seen.get("throttled_total_time_ns", 0) >= 2 * 10**9, seen
    check_pattern(image_bytes(img, "raw", tmp_path), 8192, 11)


def data_bytes(st):
    return st["rd_bytes"] + st["wr_bytes"]


def test_disk_limit_changed_at_run_time(vm_factory, tmp_path):
    """256 KiB/s would stretch 64 MiB of traffic to 256 s, past the hang
    timeout. Once the disk is being throttled, set-rate-limit lowers the
    limit to 64 KiB/s (16 KiB burst): over the next 2 s the disk moves no
    more than that rate allows (plus the burst and the requests already in
    flight); then set-rate-limit with no values lifts it (omitted keys are
    0) and the run completes. Bad requests are refused with a reason and
    change nothing."""
    img = make_raw(tmp_path / "d.raw", 40 * MIB)
    vm = vm_factory(guest_args("workload=blk seed=3 sectors=65536", memory="256M",
                               extra=["--disk", f"path={img},format=raw,bps=256K,iops=100k",
                                      "--rng"]))
    q = vm.qmp
    wait_for(lambda: blockstats(vm).get("throttled", 0) > 0, "a throttled request", vm)
    assert query_limit(vm) == {"bps": 256 << 10, "bps_burst": 0, "ops": 100000,
                               "ops_burst": 0}
    for args, words in [
        ({"id": "disk9", "bps": 1}, ["no device 'disk9'"]),
        ({"id": "rng0", "bps": 1}, ["device 'rng0' has no rate limit"]),
        ({"id": "disk0", "bps": -1}, ["'bps'", "non-negative integer"]),
        ({"id": "disk0", "ops": "10k"}, ["'ops'", "non-negative integer"]),
        ({"id": "disk0", "iops": 10}, ["unknown key 'iops'"]),
        ({"bps": 1}, ["set-rate-limit needs"]),
    ]:
        r = q.cmd("set-rate-limit", **args)
        assert "error" in r, (args, r)
        for w in words:
            assert w in r["error"]["desc"], (args, r)
    assert query_limit(vm)["bps"] == 256 << 10
    assert q.cmd("set-rate-limit", id="disk0", bps=64 << 10, bps_burst=16 << 10) == \
        {"return": {}}
    assert query_limit(vm) == {"bps": 64 << 10, "bps_burst": 16 << 10, "ops": 0,
                               "ops_burst": 0}
    t0 = time.monotonic()
    before = blockstats(vm)
    time.sleep(2)
    after = blockstats(vm)
    dt = time.monotonic() - t0
    # in flight at the change: at most a batch of 8 requests of 16 KiB
    allowed = (64 << 10) * dt + (16 << 10) + 8 * (16 << 10)
    moved = data_bytes(after) - data_bytes(before)
    assert moved <= allowed, f"{moved} bytes in {dt:.2f} s at 64 KiB/s (allowed {allowed:.0f})"
    assert after["throttled"] > before["throttled"], (before, after)
    assert "blk: PASS" not in vm.serial(), "the throttled run ended early"
    assert q.cmd("set-rate-limit", id="disk0") == {"return": {}}
    assert query_limit(vm) == {"bps": 0, "bps_burst": 0, "ops": 0, "ops_burst": 0}
    seen = {}
    run_to_end(vm, lambda: seen.update(blockstats(vm)))
    assert "testguest: blk: PASS" in vm.serial(), vm.serial()
    assert seen["throttled"] >= after["throttled"], (after, seen)
    assert seen["throttled_total_time_ns"] > 2 * 10**9, seen
    # PASS means all 32 MiB went through the device and read back intact;
    # the last snapshot may predate the last writes (unthrottled, the rest
    # of the run takes well under one 0.2 s poll), so only monotonic here.
    assert seen["wr_bytes"] >= after["wr_bytes"] > 0, (after, seen)


def test_limit_set_on_unlimited_disk(vm_factory, tmp_path):
    """A disk started without limits gets one at run time (its timer is
    made then) and loses it again; the VM exits cleanly (no leak)."""
    img = make_raw(tmp_path / "d.raw", 1 * MIB)
    vm = vm_factory(guest_args("workload=idle", extra=["--disk", f"path={img},format=raw"]))
    vm.wait_serial("testguest: idle: waiting")
    q = vm.qmp
    assert query_limit(vm) == {"bps": 0, "bps_burst": 0, "ops": 0, "ops_burst": 0}
    assert q.cmd("set-rate-limit", id="disk0", ops=10, ops_burst=5) == {"return": {}}
    assert query_limit(vm) == {"bps": 0, "bps_burst": 0, "ops": 10, "ops_burst": 5}
    assert q.cmd("set-rate-limit", id="disk0", bps=1) == {"return": {}}
    assert query_limit(vm)["ops"] == 0
    assert blockstats(vm)["throttled"] == 0
    q.cmd("quit")
    assert vm.wait() == 0, vm.stderr()


def test_net_pps_bounds_echo(netns, tmp_path):
    """pps=20 with a burst of 10 on virtio-net, shared by both directions:
    60 frames out and 60 echoes back cannot take less than (120 - 10) / 20
    = 5.5 s after the workload starts; assert 5 s, and that transmit waits
    were counted."""
    netns.start_echo()
    vm = NsVm(netns, tmp_path, guest_args(
        "workload=net count=60 timeout=60000", memory="256M",
        extra=["--net", f"tap={TAP},mac={MAC},pps=20,pps_burst=10"]))
    try:
        nets = vm.qmp.cmd("query-virtio")["return"]
        assert nets[0]["rate_limit"] == {"bps": 0, "bps_burst": 0, "ops": 20,
                                         "ops_burst": 10}, nets
        vm.wait_serial(r"net0: mac 52:54:00:12:34:56, link up")
        t0 = time.monotonic()
        seen = {}
        deadline = t0 + TIMEOUT
        while "testguest: net: PASS" not in vm.serial():
            assert vm.proc.poll() is None, vm.serial() + vm.stderr()
            assert time.monotonic() < deadline, "hang: " + vm.serial()
            try:
                seen.update(netstats(vm.qmp))
            except (EOFError, OSError):
                pass
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        assert vm.proc.wait(TIMEOUT) == 0, vm.stderr()
        assert elapsed >= 5.0, f"120 packets at 20 pps took {elapsed:.2f} s"
        assert seen.get("throttled", 0) > 0, seen
        assert seen.get("tx-packets", 0) <= 60, seen
    finally:
        vm.close()


def test_bad_limits_refused(tmp_path):
    """A bad value: one error line naming the option, the key and the
    value, exit status 2, before anything starts (no image is opened)."""
    img = tmp_path / "absent.raw"   # never opened: the option is refused first
    for opt, words in [
        (["--disk", f"path={img},format=raw,bps=fast"], ["--disk", "bps='fast'"]),
        (["--disk", f"path={img},format=raw,iops=1.5k"], ["--disk", "iops='1.5k'"]),
        (["--disk", f"path={img},format=raw,bps_burst=-1"], ["bps_burst='-1'"]),
        (["--net", "tap=vmkt-none,pps=10x"], ["--net", "pps='10x'"]),
        (["--net", "tap=vmkt-none,bps=99999999999T"], ["--net", "bps='99999999999T'"]),
    ]:
        check_refused(run_vmm(guest_args("workload=hello", extra=opt)), *words)
    cfg = tmp_path / "vm.json"
    cfg.write_text(json.dumps({"kernel": "/nonexistent", "disks": [
        {"path": str(img), "format": "raw", "iops": -3}]}))
    r = run_vmm(["--config", str(cfg)])
    assert r.returncode == 2, r.stderr
    assert re.search(r"iops", r.stderr), r.stderr
