"""The test guest is a plain PVH kernel: QEMU boots it too (so both VMMs can
be compared on the same guest in bench/)."""
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
