"""Boot the test guest on vmkit-vmm: workloads, SMP, reset, exits."""
import re

import pytest

from conftest import guest_args, run_vmm


def vcpu_exit_counts(stderr):
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"vCPU (\d+): (\d+) exits", stderr)}


def test_hello(kvm):
    r = run_vmm(guest_args("workload=hello"))
    assert "testguest: hello: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("cpus", [1, 4])
def test_smp(kvm, cpus):
    r = run_vmm(guest_args(f"workload=smp cpus={cpus}", cpus=cpus,
                           extra=["--log-level", "info"]))
    assert f"testguest: smp: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    counts = vcpu_exit_counts(r.stderr)
    assert sorted(counts) == list(range(cpus)), r.stderr
    assert all(n > 0 for n in counts.values()), counts


def test_smp_wrong_count_fails(kvm):
    """The guest checks what it was told against what checked in."""
    r = run_vmm(guest_args("workload=smp cpus=3", cpus=2))
    assert "testguest: smp: FAIL" in r.stdout, r.stdout + r.stderr
    assert r.returncode != 0


def test_reset_4_cpus(kvm):
    r = run_vmm(guest_args("workload=reset", cpus=4, extra=["--log-level", "info"]))
    assert "testguest: reset: PASS" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("resetting the VM (guest-reset)") == 3, r.stderr
    boots = re.findall(r"boot (\d+) cpus (\d+)", r.stdout)
    assert len(boots) >= 4, r.stdout
    assert all(c == "4" for _, c in boots), boots


def test_reset_on_reboot_exit(kvm):
    r = run_vmm(guest_args("workload=reset", extra=["--on-reboot", "exit"]))
    assert r.returncode == 0, r.stderr
    assert "testguest: reset: PASS" not in r.stdout
    assert r.stdout.count("testguest: reset: boot") == 1, r.stdout


@pytest.mark.parametrize("n", [0, 1, 5, 100])
def test_exit_status(kvm, n):
    r = run_vmm(guest_args(f"workload=exit exit={n}"))
    assert r.returncode == ((n << 1) | 1) & 0xff, r.stdout + r.stderr


def test_triple_fault_exit(kvm):
    r = run_vmm(guest_args("workload=fault", extra=["--on-triple-fault", "exit"]))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "triple fault" in r.stderr
    assert "RIP" in r.stderr


def test_unknown_workload_fails(kvm):
    r = run_vmm(guest_args("workload=nosuchthing"))
    assert "FAIL" in r.stdout, r.stdout
    assert r.returncode != 0
