"""The test guest is a plain PVH kernel: QEMU boots it too (so both VMMs can
be compared on the same guest in bench/)."""
import os
import shutil
import subprocess

import pytest

from conftest import GUEST, TIMEOUT

QEMU = shutil.which("qemu-system-x86_64")


@pytest.mark.parametrize("machine", ["microvm", "q35"])
def test_guest_on_qemu(kvm, machine):
    assert QEMU, "qemu-system-x86_64 is not installed (scripts/deps.sh check installs it)"
    r = subprocess.run([QEMU, "-accel", "kvm", "-M", machine, "-m", "128M", "-smp", "2",
                        "-nographic", "-nodefaults", "-no-user-config", "-serial", "stdio",
                        "-kernel", GUEST, "-append", "workload=smp cpus=2",
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
                       capture_output=True, text=True, errors="replace", timeout=TIMEOUT)
    assert "testguest: smp: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


def test_guest_virtio_drivers_on_qemu(kvm):
    """The test guest's virtio-pci driver and workloads against QEMU's
    virtio-rng/blk/net/console-pci devices, the reference implementation
    (tests/qemu_virtio_smoke.sh: q35, a TAP in a namespace it creates)."""
    assert QEMU, "qemu-system-x86_64 is not installed (scripts/deps.sh check installs it)"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qemu_virtio_smoke.sh")
    r = subprocess.run(["bash", script, GUEST], capture_output=True, text=True,
                       errors="replace", timeout=20 * TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].endswith(" 0 failed"), r.stdout
    skipped = [l for l in r.stdout.splitlines() if l.lower().startswith("skip")]
    assert not skipped, "parts of the QEMU virtio smoke test did not run: %s" % skipped
