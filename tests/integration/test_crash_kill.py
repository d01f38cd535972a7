"""kill -9 a vmkit writer in a loop: whatever the process left behind must be
a valid qcow2 image with leaked clusters at worst (`qemu-img check` and
`vmkit img check` exit 0 or 3), which both tools read identically and which
the next writer can keep using. The writers: `vmkit img bench -w` (allocating
writes with periodic flushes, on the image the previous victim left) and
`vmkit img convert -O qcow2`. Delays are random but seeded."""
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from conftest import CLI
from test_img import make_pattern, qimg, read, vmkit, env

pytestmark = pytest.mark.skipif(not shutil.which("qemu-img"),
                                reason="qemu-utils (qemu-img) is not installed")
MiB = 1 << 20
ROUNDS = 10


def kill_after(args, delay, ready=None):
    """Start a vmkit img writer, SIGKILL it after delay seconds (from when it
    printed its first line, when ready is set). Returns its exit status."""
    p = subprocess.Popen([CLI, "img"] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env())
    try:
        if ready:
            assert p.stdout.readline().startswith(ready)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read().decode(errors="replace")
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    return p.returncode


def check_survivor(img, tmp_path):
    q = qimg("check", img, ok=(0, 3))
    assert "ERROR" not in q.stdout + q.stderr, q.stdout + q.stderr
    vmkit("check", img, ok=(0, 3))
    # both tools read the same bytes from it
    vmkit("convert", "-O", "raw", img, tmp_path / "ours.raw")
    qimg("convert", "-O", "raw", img, tmp_path / "theirs.raw")
    assert read(tmp_path / "ours.raw") == read(tmp_path / "theirs.raw")


@pytest.mark.parametrize("cluster", ["4k", "64k"])
def test_kill_bench_writer(tmp_path, cluster):
    rnd = random.Random(1234 + len(cluster))
    img = tmp_path / "victim.qcow2"
    vmkit("create", "-q", "-f", "qcow2", "-o", f"cluster_size={cluster}", img, "64M")
    killed = 0
    for i in range(ROUNDS):
        step = rnd.choice([69632, 135168, 4096 * 37])
        rc = kill_after(["bench", "-w", "-f", "qcow2", "-c", "1000000", "-d",
                         rnd.choice([1, 4, 16]), "-s", rnd.choice([512, 4096, 65536]),
                         "-S", step, "-o", rnd.randrange(0, 32) * 4096,
                         "--flush-interval", rnd.choice([0, 7, 64]), "--pattern", i + 1,
                         img], rnd.uniform(0.05, 0.8), ready=b"Sending ")
        killed += rc == -signal.SIGKILL
        check_survivor(img, tmp_path)
    assert killed >= ROUNDS // 2, "the writers finished before they were killed"


def test_kill_convert(tmp_path):
    rnd = random.Random(99)
    src = make_pattern(tmp_path / "src.raw", 96 * MiB, seed=7, nchunks=200, maxlen=MiB)
    for i in range(ROUNDS // 2):
        out = tmp_path / f"out{i}.qcow2"
        kill_after(["convert", "-O", "qcow2", "-o", "cluster_size=16k", "-f", "raw", src,
                    out], rnd.uniform(0.05, 1.0))
        if os.path.exists(out) and os.path.getsize(out) > 0:
            try:
                qimg("info", "-f", "qcow2", out)
            except AssertionError:
                continue   # killed before the header was written: nothing to check
            check_survivor(out, tmp_path)
