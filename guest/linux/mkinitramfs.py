#!/usr/bin/env python3
"""guest/linux/mkinitramfs.py: writes the Linux test guest's initramfs, an
uncompressed cpio archive in the kernel's "newc" format, without root and
byte-for-byte reproducible (fixed owner, times and inode numbers).

Contents: /init (guest/linux/init), a statically linked busybox as
/bin/busybox with /bin/sh linked to it, /bin/vmhelper (guest/linux/vmhelper.c,
compiled here with `gcc -static -Os -s`: the vsock and memory helper of the
vsock and balloon directives), the directories /init mounts on, and
/dev/console (the kernel opens it for init's stdin/stdout before /init runs).

No link per applet: Debian's busybox-static runs its applets from the shell
without them (once /proc is mounted), and each archive entry costs the
kernel tens of milliseconds to unpack where guest ring 0 is emulated
(nested PVM): 270 links cost seconds of every boot.

Usage: mkinitramfs.py --init guest/linux/init --busybox /bin/busybox
                      --helper guest/linux/vmhelper.c OUT.cpio"""
import argparse
import os
import stat
import subprocess
import sys
import tempfile

DIRS = ("bin", "dev", "proc", "sys", "tmp", "root", "etc", "mnt")
CONSOLE = (5, 1)  # char device major/minor of /dev/console
NEEDED = ("sh", "mount", "cat", "md5sum", "dmesg", "awk", "init", "poweroff", "reboot",
          "sleep")
# Static, stripped, no debug info: the same source and toolchain give the
# same bytes (gcc and ld write no timestamps; the build id hashes the code).
HELPER_CFLAGS = ("-static", "-Os", "-s", "-std=gnu11", "-Wall", "-Wextra", "-Werror")


class Cpio:
    """Appends newc entries to a byte buffer."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0)
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out += name.encode() + b"\0"
        self._pad()
        self.out += data
        self._pad()

    def finish(self):
        self.ino = 0
        self.add("TRAILER!!!", 0)
        return bytes(self.out)


def check_applets(busybox):
    """/init needs these applets; fail here rather than in the guest."""
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                         text=True).stdout.split()
    missing = [a for a in NEEDED if a not in out]
    if missing:
        raise SystemExit(f"mkinitramfs: {busybox} lacks applets: {' '.join(missing)}")


def compile_helper(src):
    """guest/linux/vmhelper.c as a static binary; returns its bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "vmhelper")
        r = subprocess.run(["gcc", *HELPER_CFLAGS, "-o", out, src],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"mkinitramfs: compiling {src} failed:\n{r.stderr}"
                             "(static linking needs libc6-dev's libc.a)")
        with open(out, "rb") as f:
            return f.read()


def build(init_path, busybox, helper):
    check_applets(busybox)
    helper_bin = compile_helper(helper)
    cpio = Cpio()
    for d in DIRS:
        cpio.add(d, stat.S_IFDIR | 0o755)
    cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=CONSOLE)
    with open(init_path, "rb") as f:
        cpio.add("init", stat.S_IFREG | 0o755, f.read())
    with open(busybox, "rb") as f:
        cpio.add("bin/busybox", stat.S_IFREG | 0o755, f.read())
    cpio.add("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    cpio.add("bin/vmhelper", stat.S_IFREG | 0o755, helper_bin)
    return cpio.finish()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--helper", required=True, help="guest/linux/vmhelper.c")
    ap.add_argument("out")
    args = ap.parse_args()
    data = build(args.init, args.busybox, args.helper)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
