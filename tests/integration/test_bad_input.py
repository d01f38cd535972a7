"""Bad input of every kind: one clear line naming the problem, exit status 2,
no core dump (no signal), nothing left behind."""
import os
import subprocess

import pytest

from conftest import GUEST, VMM, run_vmm, vmm_env


def check_refused(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.stdout == ""


CASES = {
    "unknown-flag": (["--frobnicate"], ["unknown option", "--frobnicate"]),
    "missing-kernel": ([], ["no kernel"]),
    "memory-not-a-number": (["--kernel", GUEST, "--memory", "lots"], ["--memory", "lots"]),
    "memory-zero": (["--kernel", GUEST, "--memory", "0"], ["--memory", "zero"]),
    "cpus-zero": (["--kernel", GUEST, "--cpus", "0"], ["--cpus", "'0'"]),
    "cpus-not-a-number": (["--kernel", GUEST, "--cpus", "many"], ["--cpus", "many"]),
    "memory-beyond-host": (["--kernel", GUEST, "--memory", "64T"], ["--memory", "host"]),
    "flag-without-value": (["--kernel"], ["--kernel", "needs a value"]),
    "stray-argument": (["--kernel", GUEST, "extra"], ["unexpected argument", "extra"]),
    "bad-serial": (["--kernel", GUEST, "--serial", "tcp:1"], ["tcp:1"]),
    "name-slash": (["--kernel", GUEST, "--name", "a/b"],
                   ["--name", "character 2 (0x2f) is not allowed"]),
    "name-empty": (["--kernel", GUEST, "--name", ""], ["--name", "1 to 63 characters"]),
    "name-too-long": (["--kernel", GUEST, "--name", "n" * 64], ["--name", "1 to 63 characters"]),
    "uuid-short": (["--kernel", GUEST, "--uuid", "c7a5fdbd-cdaf-9455-926a-d65c16db180"],
                   ["--uuid", "'c7a5fdbd-cdaf-9455-926a-d65c16db180' is not a UUID"]),
    "uuid-not-hex": (["--kernel", GUEST, "--uuid", "c7a5fdbd-cdaf-9455-926a-d65c16db180z"],
                     ["--uuid", "is not a UUID in the form xxxxxxxx-xxxx"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_options(name, tmp_path):
    args, words = CASES[name]
    r = subprocess.run([VMM] + args, capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env=vmm_env())
    check_refused(r, *words)
    assert os.listdir(tmp_path) == []


def test_socket_path_too_long(tmp_path):
    path = "/tmp/" + "s" * 120
    r = run_vmm(["--kernel", GUEST, "--api-socket", path])
    check_refused(r, "--api-socket", "107")
    assert not os.path.exists(path)


def test_malformed_json_config(tmp_path):
    cfg = tmp_path / "vm.json"
    cfg.write_text('{"kernel": "x", "memory": }')
    r = run_vmm(["--config", str(cfg)])
    check_refused(r, str(cfg), "malformed JSON")
    cfg.write_text('{"kernel": "x", "colour": "red"}')
    check_refused(run_vmm(["--config", str(cfg)]), "unknown key", "colour")
    check_refused(run_vmm(["--config", str(tmp_path / "missing.json")]), "missing.json")


def kernel_case(tmp_path, content):
    k = tmp_path / "kernel"
    if content is not None:
        k.write_bytes(content)
    return str(k)


@pytest.mark.parametrize("content,word", [
    (None, "no such file"),
    (b"", "empty"),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 20, "truncated"),
    (b"just some text, not a kernel\n" * 100, "neither"),
])
def test_bad_kernel(tmp_path, kvm, content, word):
    sock = str(tmp_path / "vm.sock")
    r = run_vmm(["--kernel", kernel_case(tmp_path, content), "--memory", "64M",
                 "--api-socket", sock])
    check_refused(r, word)
    assert sorted(os.listdir(tmp_path)) == ([] if content is None else ["kernel"])


def test_initrd_does_not_fit(tmp_path, kvm):
    initrd = tmp_path / "initrd"
    with open(initrd, "wb") as f:
        f.truncate(40 << 20)
    r = run_vmm(["--kernel", GUEST, "--memory", "32M", "--initrd", str(initrd)])
    check_refused(r, "initrd")


def test_cmdline_too_long(kvm):
    r = run_vmm(["--kernel", GUEST, "--memory", "64M", "--cmdline", "x" * 5000])
    check_refused(r, "command line")


def test_kvm_missing(tmp_path):
    r = run_vmm(["--kernel", GUEST, "--kvm-device", str(tmp_path / "kvm")])
    check_refused(r, str(tmp_path / "kvm"), "does not exist")


def test_kvm_not_accessible(tmp_path):
    if os.geteuid() == 0:
        # root bypasses file modes: drop to nobody, for whom /dev/kvm (0600 root) is closed
        dev = "/dev/kvm" if os.path.exists("/dev/kvm") else str(tmp_path / "kvm")
        if dev != "/dev/kvm":
            open(dev, "w").close()
            os.chmod(dev, 0)
        os.chmod(tmp_path, 0o755)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", VMM,
               "--kernel", GUEST, "--kvm-device", dev]
        if os.access(dev, os.R_OK) and os.stat(dev).st_mode & 0o006:
            pytest.fail(f"{dev} is world-accessible; cannot test the refusal")
    else:
        dev = str(tmp_path / "kvm")
        open(dev, "w").close()
        os.chmod(dev, 0)
        cmd = [VMM, "--kernel", GUEST, "--kvm-device", dev]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=vmm_env())
    check_refused(r, dev, "not accessible")
