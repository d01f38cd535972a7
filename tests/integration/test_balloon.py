"""virtio-balloon on real VMs with the test guest's `balloon` workload: after
the guest inflates N MiB, the VMM's resident anonymous memory (guest RAM is
a private anonymous mapping) drops by at least 0.9 N; after the deflate the
guest finds those pages zeroed (the host discarded them) and writes and
verifies that memory again; query-balloon reports actual, target and the guest's statistics;
bad options and bad balloon-set arguments get clear errors."""
import re

import pytest

from conftest import guest_args, rss_anon, run_vmm, wait_for
from test_bad_input import check_refused

MiB = 1 << 20
RAM = 512 * MiB


def query(vm):
    r = vm.qmp.cmd("query-balloon")
    assert "return" in r, r
    return r["return"]


def test_balloon_inflate_deflate(vm_factory):
    mib = 64
    n = mib * MiB
    vm = vm_factory(guest_args(f"workload=balloon mib={mib}", memory="512M",
                               extra=["--balloon=stats=1"]))
    vm.wait_serial("testguest: balloon: ready")
    pid = vm.proc.pid
    q = query(vm)
    assert (q["target"], q["actual"]) == (RAM, RAM), q
    rss0 = rss_anon(pid)
    assert rss0 >= n, rss0                # the guest really touched its span
    assert vm.qmp.cmd("balloon-set", target=RAM - n) == {"return": {}}
    vm.wait_serial(f"testguest: balloon: inflated {n // 4096}")
    rss1 = rss_anon(pid)
    assert rss0 - rss1 >= 0.9 * n, (rss0, rss1)
    q = query(vm)
    assert (q["target"], q["actual"]) == (RAM - n, RAM - n), q
    assert q["inflated-pages"] == n // 4096, q
    assert q["ignored-pfns"] == 0 and q["discard-errors"] == 0, q
    # Buffers of 256 sorted PFNs: one discard each (the span is contiguous).
    assert q["discards"] == n // 4096 // 256, q
    # stats=1: the device asks for fresh numbers every second; the guest's
    # minor-faults counts the buffers it sent.
    def refilled():
        x = query(vm)
        return x if x["stats"].get("minor-faults", 0) >= 2 else None
    q = wait_for(refilled, "a refilled statistics buffer")
    assert q["stats"]["total-memory"] >= RAM - 4 * MiB, q
    assert q["stats"]["free-memory"] == 0, q     # the span is all in the balloon
    assert q["stats-age"] is not None and q["stats-age"] < 30, q
    assert q["stats-requests"] >= 1, q
    # Back to the whole RAM: the guest deflates and uses the memory again.
    assert vm.qmp.cmd("balloon-set", target=RAM) == {"return": {}}
    # The whole line: the serial file may hold only part of it so far.
    m = wait_for(lambda: re.search(r"balloon: deflated (\d+) zero=(\d+)\r?\n", vm.serial()),
                 "the deflated line")
    assert m and int(m.group(1)) == n // 4096, vm.serial()
    assert int(m.group(2)) == n // 4096, vm.serial()   # every inflated page was discarded
    assert vm.wait() == 0, vm.stderr() + vm.serial()
    assert "testguest: balloon: PASS" in vm.serial(), vm.serial()


def test_balloon_set_errors(vm_factory):
    vm = vm_factory(guest_args("workload=idle", memory="256M", extra=["--balloon"]))
    vm.wait_serial("testguest: idle: waiting")
    q = vm.qmp
    for target, words in ((256 * MiB + 1, ["outside", "268435456"]),
                          (MiB, ["outside", "16777216"]),
                          (-5, ["needs", "target"]),
                          ("1G", ["needs", "target"])):
        r = q.cmd("balloon-set", target=target)
        assert "error" in r, (target, r)
        for w in words:
            assert w in r["error"]["desc"], (target, r)
    r = q.cmd("balloon-set")
    assert "error" in r, r
    assert query(vm)["target"] == 256 * MiB
    # The driver never came (the idle guest has none): the target stands.
    assert q.cmd("balloon-set", target=128 * MiB) == {"return": {}}
    q2 = query(vm)
    assert (q2["target"], q2["actual"]) == (128 * MiB, 256 * MiB), q2
    devs = [d for d in q.cmd("query-virtio")["return"] if d["kind"] == "virtio-balloon"]
    assert [d["id"] for d in devs] == ["balloon0"], devs


def test_balloon_absent(vm_factory):
    vm = vm_factory(guest_args("workload=idle"))
    vm.wait_serial("testguest: idle: waiting")
    for cmd, args in (("balloon-set", {"target": 32 * MiB}), ("query-balloon", {})):
        r = vm.qmp.cmd(cmd, **args)
        assert "no balloon device" in r["error"]["desc"], r


BAD = {
    "stats-not-a-number": (["--balloon=stats=soon"], ["--balloon", "stats='soon'"]),
    "stats-too-big": (["--balloon=on,stats=100000"], ["--balloon", "0..86400"]),
    "reporting-not-onoff": (["--balloon=free-page-reporting=1"],
                            ["--balloon", "free-page-reporting='1'", "on|off"]),
    "unknown-key": (["--balloon=pages=3"], ["--balloon", "unknown key 'pages'"]),
    "not-key-value": (["--balloon=yes"], ["--balloon", "'yes' is not KEY=VALUE"]),
    "bad-id": (["--balloon=id=0b"], ["--balloon", "id='0b'"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_balloon_bad_options(name):
    """Refused while parsing the options: one line, exit status 2, no KVM needed."""
    args, words = BAD[name]
    check_refused(run_vmm(guest_args("workload=hello", extra=args)), *words)
