"""`vmkit img` against the real QEMU tools (qemu-img, qemu-io 7.2):

- images vmkit writes (create, convert, resize, snapshot, commit, rebase)
  pass `qemu-img check` with no errors or leaks and `qemu-img compare` equal
  to the content they should hold;
- images qemu-img makes (v2/v3, cluster sizes 512 B..2 MiB, compressed,
  3-deep backing chains, internal snapshots, lazy refcounts) read back byte
  for byte through vmkit;
- both tools refuse each other's images while they are in use (-U works);
- the command table, qemu-img's output formats and exit codes, bad input."""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import CLI

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")
MiB = 1 << 20

pytestmark = pytest.mark.skipif(not QEMU_IMG or not QEMU_IO,
                                reason="qemu-utils (qemu-img, qemu-io) is not installed")


def env():
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e["TZ"] = "UTC"
    return e


def run(args, ok=(0,), timeout=120, **kw):
    r = subprocess.run(args, capture_output=True, text=True, errors="replace",
                       timeout=timeout, env=env(), **kw)
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    if ok is not None:
        assert r.returncode in ok, (args, r.returncode, r.stdout, r.stderr)
    return r


def vmkit(*args, ok=(0,), **kw):
    assert os.path.exists(CLI), f"{CLI} not built"
    return run([CLI, "img"] + [str(a) for a in args], ok=ok, **kw)


def qimg(*args, ok=(0,), **kw):
    return run([QEMU_IMG] + [str(a) for a in args], ok=ok, **kw)


def qio(path, fmt, *cmds):
    args = [QEMU_IO, "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    return run(args + [str(path)])


def qemu_check_clean(path, fmt="qcow2"):
    r = qimg("check", "-f", fmt, "--output=json", path, ok=None)
    assert r.returncode == 0, (path, r.stdout, r.stderr)
    res = json.loads(r.stdout)
    for k in ("corruptions", "leaks", "check-errors"):
        assert res.get(k, 0) == 0, (k, res)


def qemu_info(path, *extra):
    return json.loads(qimg("info", "--output=json", *extra, path).stdout)


def make_pattern(path, size, seed, nchunks=24, maxlen=300 * 1024):
    """A sparse raw file: random data at random (often unaligned) offsets."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for _ in range(nchunks):
            ln = rnd.randrange(1, maxlen)
            off = rnd.randrange(0, size - ln)
            f.seek(off)
            f.write(rnd.randbytes(ln))
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def to_raw_vmkit(src, dst, fmt=None):
    args = ["convert", "-O", "raw"] + (["-f", fmt] if fmt else []) + [src, dst]
    vmkit(*args)
    return read(dst)


def qcow2_header(path):
    with open(path, "rb") as f:
        h = f.read(104)
    (magic, version, _bfo, _bfs, cluster_bits, size, _crypt, l1_size, l1_off, rt_off,
     _rtc, _nsnap, _snoff) = struct.unpack(">IIQIIQIIQQIIQ", h[:72])
    assert magic == 0x514649FB
    return dict(version=version, cluster_bits=cluster_bits, size=size, l1_size=l1_size,
                l1_off=l1_off, rt_off=rt_off)


# ---- the command table --------------------------------------------------------

def test_command_table_help_and_usage():
    r = run([CLI, "--help"])
    assert "img" in r.stdout and "usage: vmkit [-c URI] [-r] [--output json] COMMAND" in r.stdout
    r = run([CLI, "help", "img"])
    for verb in ("create", "info", "check", "convert", "resize", "snapshot", "rebase",
                 "commit", "map", "compare"):
        assert verb + " " in r.stdout, verb
    # vmkit's own usage errors exit 2 (docs/cli.md); `vmkit img`'s keep qemu-img's 1.
    r = run([CLI], ok=(2,))
    assert "no command" in r.stderr and "--help" in r.stderr
    r = run([CLI, "frobnicate"], ok=(2,))
    assert "unknown command 'frobnicate'" in r.stderr
    r = run([CLI, "help", "frobnicate"], ok=(2,))
    assert "frobnicate" in r.stderr
    r = vmkit(ok=(1,))
    assert "Not enough arguments" in r.stderr
    r = vmkit("frob", ok=(1,))
    assert "Command not found: frob" in r.stderr
    r = vmkit("info", "-h")
    assert r.stdout.startswith("usage: vmkit img info")


# ---- images vmkit writes, checked by qemu-img ---------------------------------

CREATE_CASES = {
    "v3-64k": ["-o", "compat=1.1"],
    "v2-64k": ["-o", "compat=0.10"],
    "v3-512": ["-o", "cluster_size=512"],
    "v3-4k": ["-o", "cluster_size=4k"],
    "v3-2M": ["-o", "cluster_size=2M"],
    "lazy": ["-o", "lazy_refcounts=on"],
    "prealloc-metadata": ["-o", "preallocation=metadata,cluster_size=64k"],
    "refcount-bits-1": ["-o", "refcount_bits=1"],
    "refcount-bits-64": ["-o", "refcount_bits=64"],
}


@pytest.mark.parametrize("name", sorted(CREATE_CASES))
def test_create_qcow2_passes_qemu_check(tmp_path, name):
    img = tmp_path / "c.qcow2"
    r = vmkit("create", "-f", "qcow2", *CREATE_CASES[name], img, "33M")
    assert r.stdout.startswith(f"Formatting '{img}', fmt=qcow2 ")
    qemu_check_clean(img)
    info = qemu_info(img)
    assert info["virtual-size"] == 33 * MiB
    assert info["format"] == "qcow2"
    opts = " ".join(CREATE_CASES[name])
    if "cluster_size=" in opts:
        want = {"512": 512, "4k": 4096, "2M": 2 * MiB, "64k": 65536}
        cs = opts.split("cluster_size=")[1].split(",")[0]
        assert info["cluster-size"] == want[cs]
    data = info["format-specific"]["data"]
    assert data["compat"] == ("0.10" if "0.10" in opts else "1.1")
    assert data.get("lazy-refcounts", False) == ("lazy_refcounts=on" in opts)
    if "refcount_bits=" in opts:
        assert data["refcount-bits"] == int(opts.split("refcount_bits=")[1])
    # qemu-io writes into it and it stays consistent for both tools
    qio(img, "qcow2", "write -P 0x5a 1000 70000", "write -P 0x33 30M 1M")
    qemu_check_clean(img)
    vmkit("check", img)


@pytest.mark.parametrize("opts", [[], ["-c"], ["-o", "cluster_size=4k,compat=0.10"],
                                  ["-o", "cluster_size=2M"], ["-S", "0"]],
                         ids=["plain", "compressed", "v2-4k", "2M", "no-sparse"])
def test_convert_to_qcow2_is_valid_and_equal(tmp_path, opts):
    src = make_pattern(tmp_path / "src.raw", 24 * MiB, seed=len(opts) * 7 + 1)
    out = tmp_path / "out.qcow2"
    vmkit("convert", "-f", "raw", "-O", "qcow2", *opts, src, out)
    qemu_check_clean(out)
    r = qimg("compare", "-f", "raw", "-F", "qcow2", src, out)
    assert "Images are identical." in r.stdout
    if "-c" in opts:
        res = json.loads(qimg("check", "--output=json", out).stdout)
        assert res.get("compressed-clusters", 0) > 0, res
    if opts == []:
        # sparse input stays sparse: far less than the virtual size is allocated
        assert os.stat(out).st_blocks * 512 < 12 * MiB
    # and back again, through vmkit only
    assert to_raw_vmkit(out, tmp_path / "back.raw", "qcow2") == read(src)


def test_convert_qcow2_to_qcow2_with_backing_B(tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", base, "16M")
    qio(base, "qcow2", "write -P 1 0 4M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "qcow2", "write -P 2 1M 64k", "write -z 2M 64k")
    out = tmp_path / "out.qcow2"
    vmkit("convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", top, out)
    qemu_check_clean(out)
    assert qemu_info(out)["backing-filename"] == "base.qcow2"
    qimg("compare", top, out)
    # only the top's clusters were copied
    allocated = [e for e in json.loads(qimg("map", "--output=json", out).stdout)
                 if e["depth"] == 0 and e["present"]]
    assert sum(e["length"] for e in allocated) <= 3 * 65536, allocated


def test_resize_qcow2_and_raw(tmp_path):
    img = tmp_path / "r.qcow2"
    vmkit("create", "-q", "-f", "qcow2", img, "10M")
    qio(img, "qcow2", "write -P 9 9M 1M")
    r = vmkit("resize", img, "+1G")
    assert r.stdout == "Image resized.\n"
    assert qemu_info(img)["virtual-size"] == 10 * MiB + (1 << 30)
    qemu_check_clean(img)
    qio(img, "qcow2", "write -P 8 1G 64k")
    qemu_check_clean(img)
    raw = tmp_path / "r.raw"
    vmkit("create", "-q", "-f", "raw", raw, "8M")
    r = vmkit("resize", "-f", "raw", raw, "4M", ok=(1,))
    assert "--shrink" in r.stderr
    vmkit("resize", "-f", "raw", "--shrink", raw, "-2M")
    assert os.path.getsize(raw) == 6 * MiB


def test_snapshots_vmkit_and_qemu_agree(tmp_path):
    img = tmp_path / "s.qcow2"
    vmkit("create", "-q", "-f", "qcow2", img, "8M")
    qio(img, "qcow2", "write -P 0x11 0 1M")
    vmkit("snapshot", "-c", "first", img)
    qio(img, "qcow2", "write -P 0x22 512k 1M")
    qemu_check_clean(img)
    names = [s["name"] for s in qemu_info(img).get("snapshots", [])]
    assert names == ["first"]
    qimg("snapshot", "-c", "second", img)
    r = vmkit("snapshot", "-l", img)
    lines = r.stdout.splitlines()
    assert lines[0] == "Snapshot list:"
    assert lines[1].split() == ["ID", "TAG", "VM", "SIZE", "DATE", "VM", "CLOCK", "ICOUNT"]
    assert [l.split()[1] for l in lines[2:]] == ["first", "second"]
    assert r.stdout == qimg("snapshot", "-l", img).stdout
    vmkit("snapshot", "-a", "first", img)
    qemu_check_clean(img)
    data = to_raw_vmkit(img, tmp_path / "a.raw")
    assert data[:MiB] == b"\x11" * MiB and data[MiB:] == bytes(7 * MiB)
    vmkit("snapshot", "-d", "first", img)
    qemu_check_clean(img)
    assert [s["name"] for s in qemu_info(img)["snapshots"]] == ["second"]
    r = vmkit("snapshot", "-a", "nosuch", img, ok=(1,))
    assert "nosuch" in r.stderr
    qimg("snapshot", "-a", "second", img)
    data = to_raw_vmkit(img, tmp_path / "b.raw")
    assert data[512 * 1024:1536 * 1024] == b"\x22" * MiB


def chain3(tmp_path, cluster="64k"):
    """base.qcow2 <- mid.qcow2 <- top.qcow2, each with its own writes."""
    base, mid, top = (tmp_path / n for n in ("base.qcow2", "mid.qcow2", "top.qcow2"))
    qimg("create", "-f", "qcow2", "-o", f"cluster_size={cluster}", base, "12M")
    qio(base, "qcow2", "write -P 0xb0 0 6M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
    qio(mid, "qcow2", "write -P 0x30 1M 100k", "write -z 3M 128k")
    qimg("create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
    qio(top, "qcow2", "write -P 0x70 1050k 3k", "write -P 0x71 11M 1M")
    return base, mid, top


def test_commit_into_backing(tmp_path):
    base, mid, top = chain3(tmp_path)
    qimg("convert", "-O", "raw", top, tmp_path / "want.raw")
    want = read(tmp_path / "want.raw")
    r = vmkit("commit", top)
    assert r.stdout == "Image committed.\n"
    for img in (base, mid, top):
        qemu_check_clean(img)
    assert to_raw_vmkit(mid, tmp_path / "mid.raw") == want
    assert to_raw_vmkit(top, tmp_path / "top.raw") == want


def test_commit_down_to_base(tmp_path):
    base, mid, top = chain3(tmp_path)
    qimg("convert", "-O", "raw", top, tmp_path / "want.raw")
    vmkit("commit", "-b", base, top)
    qemu_check_clean(base)
    assert to_raw_vmkit(base, tmp_path / "base.raw") == read(tmp_path / "want.raw")


def test_rebase_safe_and_unsafe(tmp_path):
    base, mid, top = chain3(tmp_path)
    qimg("convert", "-O", "raw", top, tmp_path / "want.raw")
    want = read(tmp_path / "want.raw")
    other = tmp_path / "other.qcow2"
    qimg("create", "-f", "qcow2", other, "12M")
    qio(other, "qcow2", "write -P 0xee 2M 4M")
    vmkit("rebase", "-b", "other.qcow2", "-F", "qcow2", top)
    qemu_check_clean(top)
    info = qemu_info(top)
    assert info["backing-filename"] == "other.qcow2"
    assert info["backing-filename-format"] == "qcow2"
    assert to_raw_vmkit(top, tmp_path / "r1.raw") == want
    # rebase onto nothing: the image becomes self-contained
    vmkit("rebase", "-b", "", top)
    assert "backing-filename" not in qemu_info(top)
    qemu_check_clean(top)
    assert to_raw_vmkit(top, tmp_path / "r2.raw") == want
    # unsafe: the header only
    vmkit("rebase", "-u", "-b", "base.qcow2", "-F", "qcow2", top)
    assert qemu_info(top)["backing-filename"] == "base.qcow2"
    qemu_check_clean(top)
    r = vmkit("rebase", "-b", "base.qcow2", top, ok=(1,))
    assert "-F" in r.stderr


# ---- images qemu-img makes, read by vmkit -------------------------------------

QEMU_MADE = {
    "v2-4k": "compat=0.10,cluster_size=4k",
    "v2-64k": "compat=0.10",
    "v3-4k": "cluster_size=4k",
    "v3-64k": "cluster_size=64k",
    "v3-512": "cluster_size=512",
    "v3-2M": "cluster_size=2M",
    "lazy": "lazy_refcounts=on",
    "refbits-8": "refcount_bits=8",
}


@pytest.mark.parametrize("name", sorted(QEMU_MADE))
def test_qemu_images_read_back(tmp_path, name):
    src = make_pattern(tmp_path / "src.raw", 20 * MiB, seed=hash(name) & 0xffff)
    img = tmp_path / "q.qcow2"
    qimg("convert", "-f", "raw", "-O", "qcow2", "-o", QEMU_MADE[name], src, img)
    # and some unaligned writes on top, through qemu's write path
    qio(img, "qcow2", "write -P 0x41 12345 7777", "write -z 5M 300k")
    qimg("convert", "-O", "raw", img, tmp_path / "want.raw")
    assert to_raw_vmkit(img, tmp_path / "got.raw") == read(tmp_path / "want.raw")
    r = vmkit("compare", "-F", "raw", img, tmp_path / "want.raw")
    assert r.stdout == "Images are identical.\n"
    r = vmkit("check", img)
    assert "No errors were found on the image." in r.stdout


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
def test_qemu_compressed_read_back(tmp_path, ctype):
    src = make_pattern(tmp_path / "src.raw", 16 * MiB, seed=5)
    with open(src, "r+b") as f:   # compressible runs too
        f.seek(3 * MiB)
        f.write(b"abcd" * 100000)
    img = tmp_path / "c.qcow2"
    r = qimg("convert", "-c", "-O", "qcow2", "-o", f"compression_type={ctype}", src, img,
             ok=None)
    if r.returncode != 0 and ctype == "zstd":
        pytest.skip("this qemu-img has no zstd: " + r.stderr.strip())
    assert r.returncode == 0, r.stderr
    assert to_raw_vmkit(img, tmp_path / "got.raw") == read(src)
    # map: the same JSON; the human form refuses compressed clusters like qemu-img
    assert (json.loads(vmkit("map", "--output=json", img).stdout) ==
            json.loads(qimg("map", "--output=json", img).stdout))
    r = vmkit("map", img, ok=(1,))
    assert "compressed" in r.stderr
    qimg("map", img, ok=(1,))
    # a write into a compressed cluster goes through vmkit's COW of it
    vmkit("convert", "-O", "qcow2", img, tmp_path / "copy.qcow2")
    qimg("compare", src, tmp_path / "copy.qcow2")


def test_qemu_backing_chain_read_back(tmp_path):
    base, mid, top = chain3(tmp_path, cluster="4k")
    qimg("convert", "-O", "raw", top, tmp_path / "want.raw")
    assert to_raw_vmkit(top, tmp_path / "got.raw") == read(tmp_path / "want.raw")
    chain = json.loads(vmkit("info", "--output=json", "--backing-chain", top).stdout)
    assert [c["filename"].split("/")[-1] for c in chain] == ["top.qcow2", "mid.qcow2",
                                                              "base.qcow2"]


def test_qemu_raw_backing_read_back(tmp_path):
    raw = make_pattern(tmp_path / "base.raw", 8 * MiB, seed=9)
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
    qio(top, "qcow2", "write -P 0x99 100000 5000")
    qimg("convert", "-O", "raw", top, tmp_path / "want.raw")
    assert to_raw_vmkit(top, tmp_path / "got.raw") == read(tmp_path / "want.raw")


def test_qemu_snapshots_read_back(tmp_path):
    img = tmp_path / "s.qcow2"
    qimg("create", "-f", "qcow2", img, "4M")
    qio(img, "qcow2", "write -P 1 0 1M")
    qimg("snapshot", "-c", "one", img)
    qio(img, "qcow2", "write -P 2 0 2M")
    qimg("snapshot", "-c", "two", img)
    qio(img, "qcow2", "write -P 3 1M 2M")
    assert vmkit("snapshot", "-l", img).stdout == qimg("snapshot", "-l", img).stdout
    ours = json.loads(vmkit("info", "--output=json", img).stdout)["snapshots"]
    theirs = qemu_info(img)["snapshots"]
    assert ours == theirs
    vmkit("snapshot", "-a", "one", img)
    data = to_raw_vmkit(img, tmp_path / "one.raw")
    assert data == b"\x01" * MiB + bytes(3 * MiB)
    qemu_check_clean(img)


# ---- info, map, check, compare: qemu-img's output -----------------------------

def test_info_matches_qemu_img(tmp_path):
    base, mid, top = chain3(tmp_path)
    for img in (base, top):
        ours = json.loads(vmkit("info", "--output=json", img).stdout)
        theirs = qemu_info(img)
        for k in ("virtual-size", "filename", "cluster-size", "format", "actual-size",
                  "dirty-flag", "backing-filename", "full-backing-filename",
                  "backing-filename-format"):
            assert ours.get(k) == theirs.get(k), (k, ours, theirs)
        od = ours["format-specific"]["data"]
        td = theirs["format-specific"]["data"]
        assert ours["format-specific"]["type"] == "qcow2"
        for k in ("compat", "lazy-refcounts", "refcount-bits", "corrupt"):
            assert od.get(k) == td.get(k), (k, od, td)
        human = vmkit("info", img).stdout.splitlines()
        qhuman = qimg("info", img).stdout.splitlines()
        n = qhuman.index("Format specific information:")
        assert human[:n] == qhuman[:n]
    chain = json.loads(vmkit("info", "--output=json", "--backing-chain", top).stdout)
    assert len(chain) == 3 and chain[2]["filename"].endswith("base.qcow2")


def test_info_raw_matches_qemu_img(tmp_path):
    raw = make_pattern(tmp_path / "a.raw", 3 * MiB + 512, seed=3)
    ours = json.loads(vmkit("info", "-f", "raw", "--output=json", raw).stdout)
    assert ours == qemu_info(raw, "-f", "raw")
    assert vmkit("info", "-f", "raw", raw).stdout == qimg("info", "-f", "raw", raw).stdout


def test_map_matches_qemu_img(tmp_path):
    base, mid, top = chain3(tmp_path)
    for img in (top, base):
        ours = vmkit("map", "--output=json", img).stdout
        theirs = qimg("map", "--output=json", img).stdout
        assert json.loads(ours) == json.loads(theirs)
        assert vmkit("map", img).stdout == qimg("map", img).stdout


def corrupt_l2_entry(img, value):
    """Overwrite the first L2 entry of the first L2 table with value."""
    h = qcow2_header(img)
    with open(img, "r+b") as f:
        f.seek(h["l1_off"])
        l1e = struct.unpack(">Q", f.read(8))[0]
        l2_off = l1e & 0x00FFFFFFFFFFFE00
        assert l2_off
        f.seek(l2_off)
        old = struct.unpack(">Q", f.read(8))[0]
        f.seek(l2_off)
        f.write(struct.pack(">Q", value))
    return old


def test_check_leaks_and_repair(tmp_path):
    img = tmp_path / "l.qcow2"
    vmkit("create", "-q", "-f", "qcow2", img, "4M")
    qio(img, "qcow2", "write -P 1 0 128k")
    corrupt_l2_entry(img, 0)   # the cluster is still counted: leaked
    assert qimg("check", img, ok=(3,)).returncode == 3
    r = vmkit("check", img, ok=(3,))
    assert "1 leaked clusters were found on the image." in r.stdout
    assert "Image end offset: " in r.stdout
    res = json.loads(vmkit("check", "--output=json", img, ok=(3,)).stdout)
    assert res["leaks"] == 1 and res["filename"] == str(img) and res["format"] == "qcow2"
    r = vmkit("check", "-r", "leaks", img)
    assert "1 leaked clusters" in r.stdout and "No errors were found" in r.stdout
    qemu_check_clean(img)


def test_check_corruption_exit_code(tmp_path):
    img = tmp_path / "c.qcow2"
    vmkit("create", "-q", "-f", "qcow2", img, "4M")
    qio(img, "qcow2", "write -P 1 0 64k")
    # point the L2 entry at the refcount table (refcount 1, referenced twice)
    corrupt_l2_entry(img, (1 << 63) | qcow2_header(img)["rt_off"])
    assert qimg("check", img, ok=(2,)).returncode == 2
    r = vmkit("check", img, ok=(2,))
    assert "errors were found on the image" in r.stdout


def test_check_clean_matches_qemu(tmp_path):
    img = tmp_path / "ok.qcow2"
    vmkit("convert", "-O", "qcow2", make_pattern(tmp_path / "s.raw", 8 * MiB, seed=4), img)
    ours = json.loads(vmkit("check", "--output=json", img).stdout)
    theirs = json.loads(qimg("check", "--output=json", img).stdout)
    assert ours == theirs
    assert vmkit("check", img).stdout == qimg("check", img).stdout
    r = vmkit("check", "-f", "raw", tmp_path / "s.raw", ok=(63,))
    assert "does not support checks" in r.stderr


def test_compare_messages_and_exit_codes(tmp_path):
    a = make_pattern(tmp_path / "a.raw", 4 * MiB, seed=1)
    b = tmp_path / "b.qcow2"
    vmkit("convert", "-O", "qcow2", a, b)
    assert vmkit("compare", a, b).stdout == "Images are identical.\n"
    qio(b, "qcow2", "write -P 0xfe 1000000 1")
    r = vmkit("compare", a, b, ok=(1,))
    theirs = qimg("compare", a, b, ok=(1,))
    assert r.stdout == theirs.stdout
    assert "Content mismatch at offset" in r.stdout
    c = tmp_path / "c.raw"
    shutil.copy(a, c)
    with open(c, "ab") as f:
        f.write(bytes(MiB))
    r = vmkit("compare", a, c)
    assert r.stdout == qimg("compare", a, c).stdout
    r = vmkit("compare", "-s", a, c, ok=(1,))
    assert "Strict mode: Image size mismatch!" in r.stdout
    assert vmkit("compare", "-q", a, c).stdout == ""
    r = vmkit("compare", a, tmp_path / "missing.raw", ok=(2,))
    assert "missing.raw" in r.stderr


def test_progress_bar(tmp_path):
    src = make_pattern(tmp_path / "s.raw", 8 * MiB, seed=8)
    r = subprocess.run([CLI, "img", "convert", "-p", "-O", "qcow2", str(src),
                        str(tmp_path / "o.qcow2")], capture_output=True, env=env(), timeout=120)
    assert r.returncode == 0, r.stderr
    shown = r.stdout.split(b"\r")
    assert shown[0] == b"    (0.00/100%)" and shown[-1] == b"\n", shown
    assert shown[-2] == b"    (100.00/100%)" and len(shown) > 3, shown
    r = vmkit("convert", "-O", "qcow2", src, tmp_path / "o2.qcow2")
    assert r.stdout == ""


# ---- locking ------------------------------------------------------------------

def wait_locked(img, holder, deadline=30):
    """Wait until holder has its OFD locks on img, as /proc/locks shows them.
    Asking qemu-img instead would take locks of its own: a holder opening the
    image at that moment fails to get its write lock and exits."""
    ino = os.stat(img).st_ino
    end = time.monotonic() + deadline
    seen = []
    while time.monotonic() < end:
        if holder.poll() is not None:
            raise AssertionError(f"the holder exited ({holder.returncode}): "
                                 + holder.stderr.read().decode(errors="replace"))
        with open("/proc/locks") as f:
            now = sorted(line.split(":", 1)[1] for line in f if re.search(rf":{ino} ", line))
        if now and now == seen:   # all of them: the same two polls in a row
            return
        seen = now
        time.sleep(0.05)
    raise AssertionError("the holder never locked " + str(img))


def test_qemu_holds_image_vmkit_refuses(tmp_path):
    img = tmp_path / "held.qcow2"
    qimg("create", "-f", "qcow2", img, "8M")
    holder = subprocess.Popen([QEMU_IO, "-f", "qcow2", "-c", "sleep 600000", str(img)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_locked(img, holder)
        r = vmkit("info", img, ok=(1,))
        assert "lock" in r.stderr and str(img) in r.stderr
        vmkit("check", img, ok=(1,))
        vmkit("snapshot", "-c", "x", img, ok=(1,))
        vmkit("resize", img, "+1M", ok=(1,))
        r = vmkit("info", "-U", img)
        assert "file format: qcow2" in r.stdout
        vmkit("convert", "-U", "-O", "raw", img, tmp_path / "copy.raw")
    finally:
        holder.kill()
        holder.wait()
    vmkit("info", img)


def test_vmkit_holds_image_qemu_refuses(tmp_path):
    img = tmp_path / "busy.qcow2"
    vmkit("create", "-q", "-f", "qcow2", img, "64M")
    # a long write benchmark keeps the image open read-write
    writer = subprocess.Popen([CLI, "img", "bench", "-w", "-c", "100000000", "-d", "1",
                               "-f", "qcow2", str(img)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env())
    try:
        assert writer.stdout.readline().startswith(b"Sending ")
        r = qimg("info", img, ok=(1,))
        assert "lock" in r.stderr
        r = run([QEMU_IO, "-f", "qcow2", "-c", "read 0 512", str(img)], ok=None)
        assert r.returncode != 0 or "lock" in r.stderr
        r = qimg("info", "-U", img)
        assert "file format: qcow2" in r.stdout
        vmkit("info", img, ok=(1,))
    finally:
        writer.kill()
        writer.wait()


# ---- bad input ----------------------------------------------------------------

BAD = {
    "missing-file": (["info", "nosuch.qcow2"], ["nosuch.qcow2", "No such file"]),
    "bad-size": (["create", "-f", "qcow2", "x.qcow2", "12Q"], ["12Q", "size"]),
    "unknown-format": (["create", "-f", "vmdk", "x.img", "1M"], ["vmdk"]),
    "unknown-option": (["info", "--frobnicate", "x"], ["--frobnicate"]),
    "unknown-short": (["check", "-Z", "x"], ["'Z'"]),
    "missing-arg": (["info"], ["image file name"]),
    "option-needs-value": (["create", "-f"], ["-f", "requires an argument"]),
    "bad-cluster": (["create", "-f", "qcow2", "-o", "cluster_size=1000", "x.qcow2", "1M"],
                    ["Cluster size", "1000"]),
    "bad-o": (["create", "-f", "qcow2", "-o", "colour=red", "x.qcow2", "1M"], ["colour"]),
    "no-size": (["create", "-f", "qcow2", "x.qcow2"], ["size"]),
    "backing-no-format": (["create", "-f", "qcow2", "-b", "base.raw", "x.qcow2"],
                          ["backing format"]),
    "raw-backing": (["create", "-f", "raw", "-b", "a", "-F", "raw", "x.raw", "1M"],
                    ["raw"]),
    "bad-output": (["info", "--output=xml", "x"], ["human or json"]),
    "bad-repair": (["check", "-r", "some", "x"], ["some"]),
    "snapshot-mix": (["snapshot", "-l", "-c", "a", "x"], ["Cannot mix"]),
    "compare-one": (["compare", "x"], ["two image file names"]),
    "rebase-nothing": (["rebase", "x"], ["-b"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input(tmp_path, name):
    args, words = BAD[name]
    (tmp_path / "base.raw").write_bytes(bytes(4096))
    before = sorted(os.listdir(tmp_path))
    r = vmkit(*args, ok=(1,), cwd=tmp_path)
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert r.stdout == ""
    assert sorted(os.listdir(tmp_path)) == before


def test_refuses_to_destroy_inputs(tmp_path):
    src = make_pattern(tmp_path / "a.raw", 2 * MiB, seed=11)
    before = read(src)
    r = vmkit("convert", "-f", "raw", "-O", "raw", src, src, ok=(1,))
    assert "also an input" in r.stderr
    os.symlink(src, tmp_path / "link.raw")
    vmkit("convert", "-f", "raw", "-O", "qcow2", src, tmp_path / "link.raw", ok=(1,))
    assert read(src) == before
    img = tmp_path / "i.qcow2"
    vmkit("convert", "-q", "-f", "raw", "-O", "qcow2", src, img)
    r = vmkit("create", "-f", "qcow2", "-b", "i.qcow2", "-F", "qcow2", img, ok=(1,))
    assert "own backing file" in r.stderr
    r = vmkit("rebase", "-u", "-b", "i.qcow2", "-F", "qcow2", img, ok=(1,))
    assert "own backing file" in r.stderr
    qemu_check_clean(img)
    assert to_raw_vmkit(img, tmp_path / "back.raw") == before


def test_not_an_image_and_truncated(tmp_path):
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(b"QFI\xfb" + bytes(20))
    r = vmkit("info", "-f", "qcow2", junk, ok=(1,))
    assert str(junk) in r.stderr
    r = vmkit("check", "-f", "qcow2", junk, ok=(1,))
    assert str(junk) in r.stderr
