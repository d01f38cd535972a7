"""Linux's own drivers against every vmkit virtio device, in one boot (the
`make check` Linux device boot): three virtio-blk disks (raw, qcow2, ext4),
virtio-net on a TAP in a network namespace this test creates, virtio-console
on a unix socket and virtio-rng. /init runs the blk, net, console and rng
directives (guest/linux/init) on 2 vCPUs (so virtio-blk has two queues);
the host then checks the images."""
import os
import subprocess
import threading



from conftest import Vm, console_responder, linux_artifact, tap_netns

PATTERN_OFF = 1 << 20
PATTERN_LEN = 1 << 20
MAC = "52:54:00:0a:4d:02"
LINUX_TIMEOUT = float(os.environ.get("VMKIT_LINUX_TIMEOUT", "400"))


def pattern(dev):
    line = f"vmkit-blk-{dev}\n".encode()
    return (line * (PATTERN_LEN // len(line) + 1))[:PATTERN_LEN]


def read_at(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def make_disks(tmp_path):
    raw = tmp_path / "vda.raw"
    with open(raw, "wb") as f:
        f.truncate(8 << 20)
    qcow = tmp_path / "vdb.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "8M"], check=True)
    root = tmp_path / "ext4root"
    root.mkdir()
    (root / "hello.txt").write_text("vmkit ext4 hello\n")
    ext4 = tmp_path / "vdc.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(ext4), "8M"], check=True)
    return str(raw), str(qcow), str(ext4)


def test_linux_virtio_devices(kvm, tmp_path):
    raw, qcow, ext4 = make_disks(tmp_path)
    con = str(tmp_path / "con.sock")
    with open(linux_artifact("cmdline")) as f:
        cmdline = (f.read().strip() + " rdinit=/init vmkit.test=blk,net,console,rng"
                   " vmkit.blk_pattern=vda,vdb vmkit.blk_ext4=vdc"
                   f" vmkit.net_ip=10.77.0.2/24 vmkit.net_peer=10.77.0.1 vmkit.net_mac={MAC}")
    stop, seen = threading.Event(), []
    with tap_netns("10.77.0.1/24") as (ns, tap):
        t = threading.Thread(target=console_responder, args=(con, stop, seen), daemon=True)
        t.start()
        vm = Vm(tmp_path, ["--kernel", linux_artifact("vmlinux"),
                           "--initrd", linux_artifact("initramfs.cpio"),
                           "--memory", "256M", "--cpus", "2", "--cmdline", cmdline,
                           "--disk", f"path={raw},format=raw",
                           "--disk", f"path={qcow},format=qcow2,cache=none",
                           "--disk", f"path={ext4},format=raw",
                           "--net", f"tap={tap},mac={MAC}",
                           "--console", "unix:" + con, "--rng"],
                prefix=["ip", "netns", "exec", ns])
        try:
            rc = vm.wait(timeout=LINUX_TIMEOUT)
        finally:
            stop.set()
            t.join(5)
            vm.kill()
    out = vm.serial()
    tail = "\n".join(out.splitlines()[-40:])
    for d in ("blk", "net", "console", "rng"):
        assert f"linux: {d}: PASS" in out, tail + vm.stderr()
    assert rc == 0, vm.stderr()
    assert seen, "the console never carried the ping"
    # What Linux wrote is in the host's images.
    assert read_at(raw, PATTERN_OFF, PATTERN_LEN) == pattern("vda")
    conv = str(tmp_path / "vdb.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", qcow, conv], check=True)
    assert read_at(conv, PATTERN_OFF, PATTERN_LEN) == pattern("vdb")
    r = subprocess.run(["qemu-img", "check", qcow], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["debugfs", "-R", "cat /from-linux.txt", ext4],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "written by linux", r.stdout + r.stderr
    r = subprocess.run(["e2fsck", "-fn", ext4], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
