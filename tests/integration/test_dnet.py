"""src/daemon/dnet.c (TAPs for <interface type='bridge'>) through
tests/helpers/dnet_tool, in a fresh network namespace per test: a TAP is
created persistent, up, with the vnet header, enslaved to the bridge; it is
deleted again; bad bridges are refused with their error text and leave
nothing behind; vmkit-vmm attaches to such a TAP, and a TAP the VMM holds
cannot be deleted until it exits.

Needs root (network namespaces) and iproute2."""
import itertools
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, guest_args

TOOL = os.path.abspath(os.environ.get(
    "VMKIT_DNET_TOOL", os.path.join(ROOT, "build-asan", "tests", "helpers", "dnet_tool")))
_seq = itertools.count()


class Ns:
    def __init__(self, name):
        self.name = name

    def ip(self, *args, check=True):
        return subprocess.run(["ip", "-n", self.name] + list(args), capture_output=True,
                              text=True, check=check, timeout=30)

    def tool(self, *args):
        return subprocess.run(["ip", "netns", "exec", self.name, TOOL] + list(args),
                              capture_output=True, text=True, timeout=30)

    def links(self):
        return {l["ifname"]: l for l in json.loads(self.ip("-j", "-d", "link", "show").stdout)}


@pytest.fixture
def ns():
    if os.geteuid() != 0:
        pytest.fail("dnet tests create network namespaces, bridges and TAPs: run them as root")
    if shutil.which("ip") is None:
        pytest.fail("iproute2's `ip` is missing")
    assert os.path.exists(TOOL), f"{TOOL} not built (or set VMKIT_DNET_TOOL)"
    n = Ns(f"vmkd-{os.getpid()}-{next(_seq)}")
    subprocess.run(["ip", "netns", "add", n.name], check=True, timeout=30)
    try:
        n.ip("link", "add", "br0", "type", "bridge")
        n.ip("link", "set", "br0", "mtu", "1400")
        yield n
    finally:
        subprocess.run(["ip", "netns", "del", n.name], timeout=30)


def create(ns, bridge="br0"):
    r = ns.tool("create", bridge)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_create_and_delete(ns):
    assert ns.tool("check", "br0").returncode == 0
    tap = create(ns)
    assert tap.startswith("vmk")
    link = ns.links()[tap]
    assert link["master"] == "br0"
    assert "UP" in link["flags"]
    assert link["mtu"] == 1400  # the bridge's
    info = link["linkinfo"]
    assert info["info_kind"] == "tun"
    assert info["info_data"]["type"] == "tap"
    assert info["info_data"]["pi"] is False
    assert info["info_data"]["vnet_hdr"] is True
    assert info["info_data"]["persist"] is True
    second = create(ns)
    assert second != tap and ns.links()[second]["master"] == "br0"
    r = ns.tool("delete", tap)
    assert r.returncode == 0, r.stderr
    assert tap not in ns.links() and second in ns.links()
    r = ns.tool("delete", tap)
    assert r.returncode == 1
    assert r.stderr == f"dnet_tool: cannot delete TAP {tap}: No such device (errno 19)\n"
    assert ns.tool("delete", second).returncode == 0
    assert set(ns.links()) == {"lo", "br0"}


def test_bad_bridges(ns):
    ns.ip("tuntap", "add", "plain0", "mode", "tap")
    cases = {
        "nope": "dnet_tool: bridge 'nope' does not exist (errno 19)\n",
        "plain0": "dnet_tool: interface 'plain0' is not a bridge (errno 22)\n",
        "a/b": "dnet_tool: bridge 'a/b' is not an interface name (1 to 15 characters, no '/', "
               "':' or spaces) (errno 22)\n",
        "x" * 16: f"dnet_tool: bridge '{'x' * 16}' is not an interface name (1 to 15 "
                  "characters, no '/', ':' or spaces) (errno 22)\n",
    }
    for bridge, text in cases.items():
        for verb in ("check", "create"):
            r = ns.tool(verb, bridge)
            assert (r.returncode, r.stdout, r.stderr) == (1, "", text), (verb, bridge)
    assert set(ns.links()) == {"lo", "br0", "plain0"}  # no TAP left behind
    # Not a TAP, or not an interface name: refused, nothing deleted.
    assert ns.tool("delete", "br0").stderr.endswith("Invalid argument (errno 22)\n")
    assert ns.tool("delete", "../x").returncode == 1
    assert set(ns.links()) == {"lo", "br0", "plain0"}


def test_vmm_attaches(ns, vm_factory):
    tap = create(ns)
    vm = vm_factory(guest_args("workload=idle", extra=["--net", f"tap={tap}"]),
                    prefix=["ip", "netns", "exec", ns.name])
    vm.wait_serial("testguest: idle: waiting")
    dev = vm.qmp.cmd("query-virtio")["return"]
    assert any(d.get("backend") == f"tap {tap}" and d.get("tap") == tap for d in dev), dev
    st = vm.qmp.cmd("query-netstats")["return"]
    assert [(s["id"], s["tap"]) for s in st] == [("net0", tap)], st
    r = ns.tool("delete", tap)  # the VMM holds it
    assert r.returncode == 1
    assert "Device or resource busy" in r.stderr
    vm.qmp.cmd("quit")
    assert vm.wait() == 0, vm.stderr()
    assert ns.tool("delete", tap).returncode == 0
    assert tap not in ns.links()
