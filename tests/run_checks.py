#!/usr/bin/env python3
"""run_checks: `make check`'s driver. Runs every suite (unit, golden,
fuzz-smoke, integration), prints a per-suite time table, and ends with one
summary line `N passed, N failed` (test counts over all suites)."""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None):
    """Run a suite command with its output on our stdout; return (rc, output)."""
    print("+ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, cwd=ROOT, text=True, errors="replace")
    out = []
    for line in p.stdout:
        sys.stdout.write(line)
        out.append(line)
    return p.wait(), "".join(out)


def counts_meson(out):
    ok = re.search(r"^Ok:\s+(\d+)", out, re.M)
    fail = [re.search(rf"^{k}:\s+(\d+)", out, re.M) for k in ("Fail", "Timeout", "Unexpected Pass")]
    return (int(ok.group(1)) if ok else 0, sum(int(m.group(1)) for m in fail if m))


def counts_pytest(out):
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    get = lambda w: sum(int(n) for n in re.findall(rf"(\d+) {w}", tail))
    return get("passed"), get("failed") + get("error"), get("skipped")


def counts_plain(out):
    m = re.findall(r"^(\d+) passed, (\d+) failed", out, re.M)
    return (int(m[-1][0]), int(m[-1][1])) if m else (0, 0)


def suite_meson(args, suite, env):
    rc, out = run(["meson", "test", "-C", args.asan, "--suite", suite,
                   "--print-errorlogs", "--num-processes", "2"], env)
    p, f = counts_meson(out)
    return rc, p, f, 0


def suite_fuzz(args, env):
    rc, out = run([os.path.join(ROOT, "fuzz", "smoke.sh"), args.fuzz, str(args.fuzz_seconds)], env)
    p, f = counts_plain(out)
    return rc, p, f, 0


def suite_integration(args, env):
    env = dict(env, VMKIT_VMM=os.path.join(ROOT, args.asan, "vmkit-vmm"),
               VMKIT_GUEST=os.path.join(ROOT, args.build, "guest", "testguest.elf"))
    rc, out = run(["/usr/bin/python3", "-m", "pytest", "-v", "-rs", "-p", "no:cacheprovider",
                   "tests/integration"], env)
    p, f, s = counts_pytest(out)
    return rc, p, f, s


def fetch_debian_kernel(env):
    rc, out = run([os.path.join(ROOT, "tests", "fetch-debian-kernel.sh")], env)
    if rc != 0:
        return env
    cache = out.strip().splitlines()[-1]
    return dict(env, VMKIT_DEBIAN_VMLINUZ=os.path.join(cache, "vmlinuz"),
                VMKIT_DEBIAN_VMLINUX=os.path.join(cache, "vmlinux"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--asan", default="build-asan")
    ap.add_argument("--fuzz", default="build-fuzz")
    ap.add_argument("--fuzz-seconds", type=int, default=20)
    args = ap.parse_args()
    env = fetch_debian_kernel(dict(os.environ))
    suites = [
        ("unit", lambda: suite_meson(args, "unit", env)),
        ("golden", lambda: suite_meson(args, "golden", env)),
        ("fuzz-smoke", lambda: suite_fuzz(args, env)),
        ("integration", lambda: suite_integration(args, env)),
    ]
    rows = []
    for name, fn in suites:
        print(f"\n==== suite {name} ====", flush=True)
        t0 = time.monotonic()
        rc, p, f, s = fn()
        if rc != 0 and f == 0:
            f = 1  # the runner failed without counting a failed test
        rows.append((name, "ok" if rc == 0 else "FAILED", p, f, s, time.monotonic() - t0))
    print("\n%-12s %-7s %7s %7s %7s %9s" % ("suite", "result", "passed", "failed", "skipped",
                                          "seconds"))
    for r in rows:
        print("%-12s %-7s %7d %7d %7d %9.1f" % r)
    total_p = sum(r[2] for r in rows)
    total_f = sum(r[3] for r in rows)
    total_s = sum(r[4] for r in rows)
    total_t = sum(r[5] for r in rows)
    print("%-12s %-7s %7d %7d %7d %9.1f" % ("total", "", total_p, total_f, total_s, total_t))
    print(f"{total_p} passed, {total_f} failed" + (f", {total_s} skipped" if total_s else ""))
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
