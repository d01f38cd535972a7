"""test_linux: boots the Linux test guest (guest/linux: linux-source-6.1 +
busybox initramfs, built by `make linux`) on vmkit-vmm and checks the result
lines its /init prints for the test directives on the command line.

`make check` runs test_linux_boot: one boot of the uncompressed vmlinux
(PVH entry) with every directive CI runs (`boot`, then `powerbutton`: the
test presses the ACPI power button through the control socket).
`make check-linux` (VMKIT_CHECK_LINUX=1) adds the bzImage loader, the
64-bit ELF entry, every directive in a boot of its own, an unknown
directive, wrong expectations, reboot as the way out, and 2 vCPUs when the
kernel has SMP."""
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import LINUX_DIR

# Ring 0 is emulated on nested PVM (a boot takes ~30-60 s there) and ASan
# slows the VMM: generous, and never a pass/fail criterion.
TIMEOUT = float(os.environ.get("VMKIT_LINUX_TIMEOUT", "400"))
MEMORY = "256M"
# The directives make check runs in its one Linux boot (device issues add
# theirs here), and every directive /init knows (check-linux boots each).
CHECK_DIRECTIVES = ["boot", "powerbutton"]
ALL_DIRECTIVES = ["boot", "powerbutton"]
POWERBUTTON_WAIT = "linux: powerbutton: waiting"
RESULT = re.compile(r"^linux: ([a-z0-9_]+): (PASS|FAIL.*?)\r?$", re.M)
CHECK_LINUX = os.environ.get("VMKIT_CHECK_LINUX") == "1"


def artifact(name):
    path = os.path.join(LINUX_DIR, name)
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: `make linux` builds the Linux test guest "
                    f"(or point VMKIT_LINUX_DIR at one)")
    return path


def kernel_has(option):
    with open(artifact("config")) as f:
        return f"{option}=y" in f.read().splitlines()


def linux_cmdline(tests, cpus, extra=""):
    """The kernel's base command line plus the test parameters, ending with
    the md5 /init uses to check that the command line arrived intact."""
    with open(artifact("cmdline")) as f:
        base = f.read().strip()
    line = (f"{base} rdinit=/init vmkit.test={','.join(tests)} vmkit.expect_cpus={cpus} "
            f"vmkit.expect_mem={MEMORY}{extra}")
    return f"{line} vmkit.expect_cmdline_md5={hashlib.md5(line.encode()).hexdigest()}"


def end_options(reboot=False):
    """How the guest ends the VM: ACPI poweroff when the kernel has ACPI,
    else (or when asked) reboot with --on-reboot exit."""
    if reboot or not kernel_has("CONFIG_ACPI"):
        return " vmkit.end=reboot", ["--on-reboot", "exit"]
    return "", []


class Result:
    """What a Linux boot left: exit status, serial output, VMM stderr."""

    def __init__(self, vm):
        self.returncode = vm.proc.returncode
        self.stdout = vm.serial()
        self.stderr = vm.stderr()


def boot_linux(vm_factory, tests, kernel=None, cpus=1, reboot=False, log_level="warn",
               cmdline=""):
    """Boot, press the ACPI power button (system-powerdown on the control
    socket) whenever /init's `powerbutton` directive waits for it, and wait
    for the VMM to exit."""
    extra, vmm_args = end_options(reboot)
    args = ["--kernel", kernel or artifact("vmlinux"), "--initrd", artifact("initramfs.cpio"),
            "--memory", MEMORY, "--cpus", str(cpus),
            "--symbols", artifact("System.map"), "--log-level", log_level,
            "--cmdline", linux_cmdline(tests, cpus, extra + cmdline)] + vmm_args
    vm = vm_factory(args)
    deadline = time.monotonic() + TIMEOUT
    pressed = 0
    while vm.proc.poll() is None:
        out = vm.serial()
        if time.monotonic() > deadline:
            pytest.fail(f"no end within {TIMEOUT:.0f} s; serial output ends:\n"
                        + "\n".join(out.splitlines()[-40:]))
        if out.count(POWERBUTTON_WAIT) > pressed:
            vm.qmp.cmd("system-powerdown")
            pressed += 1
        time.sleep(0.2)
    return Result(vm)


def results(r):
    return dict(RESULT.findall(r.stdout))


def assert_passed(r, tests):
    res = results(r)
    tail = "\n".join(r.stdout.splitlines()[-40:])
    for t in tests:
        assert t in res, f"no result line for '{t}'; serial output ends:\n{tail}\n{r.stderr}"
        assert res[t] == "PASS", f"linux: {t}: {res[t]}"
    assert r.returncode == 0, f"vmkit-vmm exit status {r.returncode}:\n{r.stderr}\n{tail}"


def test_linux_boot(vm_factory):
    """make check: the vmlinux through the PVH entry, every CI directive."""
    r = boot_linux(vm_factory, CHECK_DIRECTIVES)
    assert_passed(r, CHECK_DIRECTIVES)


if CHECK_LINUX:
    def test_linux_bzimage(vm_factory):
        """The bzImage loader: 64-bit boot protocol, LZ4 decompression."""
        r = boot_linux(vm_factory, ["boot"], kernel=artifact("bzImage"))
        assert_passed(r, ["boot"])

    def test_linux_pvh_entry_used(vm_factory):
        """The vmlinux carries the PVH note, so vmkit-vmm enters it via PVH."""
        r = boot_linux(vm_factory, ["boot"], log_level="debug")
        assert_passed(r, ["boot"])
        assert "(PVH)" in r.stderr, r.stderr[-2000:]

    def test_linux_elf_64bit_entry(vm_factory, tmp_path):
        """The same vmlinux without its notes boots through the ELF entry."""
        plain = str(tmp_path / "vmlinux-nonotes")
        objcopy = shutil.which("objcopy")
        assert objcopy, "objcopy (binutils) is needed"
        subprocess.run([objcopy, "--remove-section=.notes", artifact("vmlinux"), plain],
                       check=True)
        r = boot_linux(vm_factory, ["boot"], kernel=plain, log_level="debug")
        assert_passed(r, ["boot"])
        assert "(64-bit)" in r.stderr, r.stderr[-2000:]

    @pytest.mark.parametrize("directive", ALL_DIRECTIVES)
    def test_linux_directive(vm_factory, directive):
        r = boot_linux(vm_factory, [directive])
        assert_passed(r, [directive])

    def test_linux_unknown_directive_fails(vm_factory):
        """/init reports a directive it does not know and still ends the VM."""
        r = boot_linux(vm_factory, ["boot", "no_such_test"])
        assert results(r).get("no_such_test") == "FAIL unknown directive", r.stdout[-2000:]
        assert_passed(r, ["boot"])

    def test_linux_boot_detects_wrong_facts(vm_factory):
        """`boot` FAILs, naming each fact, when the expectations are wrong."""
        r = boot_linux(vm_factory, ["boot"], cmdline=" vmkit.expect_cpus=3 vmkit.expect_mem=1G")
        res = results(r).get("boot", "")
        assert res.startswith("FAIL"), r.stdout[-2000:]
        assert "expected 3" in res and "1048576 KiB" in res, res
        assert r.returncode == 0, r.stderr

    def test_linux_reboot_exit(vm_factory):
        """vmkit.end=reboot: `reboot -f` (reboot=k, i8042) with --on-reboot exit."""
        r = boot_linux(vm_factory, ["boot"], reboot=True)
        assert_passed(r, ["boot"])

    def test_linux_two_cpus(vm_factory):
        if not kernel_has("CONFIG_SMP"):
            pytest.skip("the Linux test guest is built without SMP")
        r = boot_linux(vm_factory, ["boot"], cpus=2)
        assert_passed(r, ["boot"])
