"""src/daemon/dstats.c and dmetrics.c on a live vmkit-vmm, through
tests/helpers/dstats_tool: the vCPU threads' time from /proc by the thread
ids query-cpus gives, the process' RSS with the guest's touched RAM in it,
the balloon and the disk from the VMM's replies, HOST, and the metrics text
of a /v1/stats object made from them."""
import json
import os
import subprocess

from conftest import ROOT, guest_args

TOOL = os.path.abspath(os.environ.get(
    "VMKIT_DSTATS_TOOL", os.path.join(ROOT, "build-asan", "tests", "helpers", "dstats_tool")))
MiB = 1 << 20


def tool(*args, stdin=None):
    assert os.path.exists(TOOL), f"{TOOL} not built (or set VMKIT_DSTATS_TOOL)"
    r = subprocess.run([TOOL] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def replies(q):
    return {c: q.cmd(c)["return"] for c in
            ("query-cpus", "query-balloon", "query-blockstats", "query-netstats")}


def test_domain_stats_live(vm_factory, tmp_path):
    img = tmp_path / "d.img"
    img.write_bytes(b"\0" * MiB)
    vm = vm_factory(guest_args("workload=balloon mib=32", cpus=2, memory="256M", extra=[
        "--disk", f"path={img},format=raw", "--balloon=stats=1"]))
    vm.wait_serial("testguest: balloon: ready")
    r = replies(vm.qmp)
    st = json.loads(tool("domain", str(vm.proc.pid), stdin=json.dumps(r)))
    tids = [c["thread-id"] for c in r["query-cpus"]]
    vcpus = st["cpu"]["vcpus"]
    assert [(v["id"], v["tid"]) for v in vcpus] == [(0, tids[0]), (1, tids[1])], st
    assert vcpus[0]["time_ns"] > 0, st  # the boot CPU wrote 32 MiB
    assert st["cpu"]["time_ns"] >= sum(v["time_ns"] for v in vcpus)
    assert st["memory"]["rss_bytes"] >= 32 * MiB, st
    assert st["memory"]["balloon"]["actual_bytes"] == 256 * MiB, st
    assert st["memory"]["balloon"]["target_bytes"] == 256 * MiB, st
    assert [(b["target"], b["path"]) for b in st["block"]] == [("disk0", str(img))], st
    assert st["net"] == []
    # Not the VMM's thread ids: their time reads as 0, nothing fails.
    r["query-cpus"][1]["thread-id"] = 1
    again = json.loads(tool("domain", str(vm.proc.pid), stdin=json.dumps(r)))
    assert again["cpu"]["vcpus"][1]["time_ns"] == 0
    assert again["cpu"]["vcpus"][0]["time_ns"] >= vcpus[0]["time_ns"]

    host = json.loads(tool("host"))
    assert host["memory_total_bytes"] >= host["memory_available_bytes"] > 0
    dom = dict(st, name="web", uuid="6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4c10", state="running",
               reason="booted")
    text = tool("metrics", stdin=json.dumps({"host": host, "domains": [dom]}))
    labels = 'name="web",uuid="6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4c10"'
    ns = vcpus[0]["time_ns"]
    assert f'vmkit_domain_vcpu_seconds_total{{{labels},vcpu="0"}} ' \
           f'{ns // 10**9}.{ns % 10**9:09d}\n' in text, text
    assert f'vmkit_domain_memory_rss_bytes{{{labels}}} {st["memory"]["rss_bytes"]}\n' in text
    assert f'vmkit_domain_state{{{labels},state="running"}} 1\n' in text
    vm.qmp.cmd("quit")
    assert vm.wait() == 0, vm.stderr()
    # The process is gone: the tool says so.
    r2 = subprocess.run([TOOL, "domain", str(vm.proc.pid)], input=json.dumps(r),
                        capture_output=True, text=True, timeout=60)
    assert r2.returncode == 1 and "No such file or directory" in r2.stderr, r2.stderr
