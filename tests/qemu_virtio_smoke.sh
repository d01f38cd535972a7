#!/bin/bash
# qemu_virtio_smoke.sh: runs the test guest's virtio workloads (rng, blk,
# blk-ro, console, hostile-ring, net, and short blk-bench / net-bench runs)
# against QEMU's virtio-pci devices on q35 with KVM: the reference the
# guest's driver is proven against, independent of vmkit-vmm.
#
#   tests/qemu_virtio_smoke.sh [path/to/testguest.elf]
#   ONLY="rng blk" tests/qemu_virtio_smoke.sh build/guest/testguest.elf
#
# net and net-bench need root (a network namespace with a TAP, and
# vnet_host, built next to the ELF from guest/tests/vnet_host.c, on its
# host end); without them they are skipped, saying so.
# Exit status: 0 all passed, 1 something failed, 77 skipped (no QEMU, no
# usable /dev/kvm or no ELF). Ends with a "N passed, N failed" line.
set -u

ELF=${1:-build/guest/testguest.elf}
QEMU=${QEMU:-qemu-system-x86_64}
TMO=${TMO:-180}
ONLY=${ONLY:-"rng blk blk-ro console hostile-ring net blk-bench net-bench"}
HERE=$(cd "$(dirname "$0")" && pwd)
VNET_HOST=$(dirname "$ELF")/vnet_host
PY=$(command -v python3 || true)
WORK=$(mktemp -d /tmp/virtio-smoke.XXXXXX)
NS=vmkt-smoke-$$
TAP=vmkt0
BG=()
LOG_TAIL=25
# shellcheck source=tests/qemu_common.sh
. "$(dirname "$0")/qemu_common.sh"
V=disable-legacy=on

cleanup() {
	local p
	for p in "${BG[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

qemu_common_require

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# qemu_cmd APPEND: the common q35 command line, into the array CMD.
qemu_cmd() {
	CMD=("$QEMU" -accel kvm -M q35 -m 256M -no-reboot -kernel "$ELF"
		-append "$1" -device isa-debug-exit,iobase=0xf4,iosize=4
		-serial stdio -display none -monitor none)
}

# run NAME APPEND WANT_RC PATTERNS -- QEMU_ARGS...
run() {
	local name=$1 app=$2 want=$3 pats=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		pats+=("$1")
		shift
	done
	shift
	qemu_cmd "$app"
	timeout "$TMO" "${CMD[@]}" "$@" </dev/null >"$WORK/out" 2>&1
	check "$name" $? "$want" "${pats[@]}"
}

# Host-side check of the image: sector S holds "VMKT", the seed, S.
image_has_pattern() { # FILE SEED SECTOR...
	"$PY" - "$@" <<'EOF'
import struct, sys
path, seed = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    for s in map(int, sys.argv[3:]):
        f.seek(s * 512)
        magic, sd, sec = struct.unpack("<4sIQ", f.read(16))
        if magic != b"VMKT" or sd != seed or sec != s:
            sys.exit("sector %d: %r seed %d sector %d" % (s, magic, sd, sec))
EOF
}

test_rng() {
	run "rng" "workload=rng bytes=4096 req=512" 0 "PCI config ECAM (MCFG)" \
		"unmasking delivered it" "testguest: rng: PASS" -- -device virtio-rng-pci,$V
	run "rng, configuration mechanism 1" "workload=rng pci=cf8" 0 \
		"PCI config mechanism 1" "testguest: rng: PASS" -- -device virtio-rng-pci,$V
	# No ACPI: no MCFG (mechanism 1), no PM timer (LAPIC-calibrated TSC),
	# no ACPI power-off (debug-exit 0 after PASS: status 1).
	run "rng without ACPI" "workload=rng acpi=off" 1 "LAPIC timer" \
		"PCI config mechanism 1" "testguest: rng: PASS" -- -device virtio-rng-pci,$V
}

test_blk() {
	local img=$WORK/disk.raw drv
	truncate -s 16M "$img"
	drv="file=$img,format=raw,if=none,id=d0,cache=writeback"
	run "blk write+verify" "workload=blk seed=42 sectors=4096" 0 \
		"id 'vmkit-smoke'" "testguest: blk: PASS" -- \
		-drive "$drv" -device virtio-blk-pci,drive=d0,serial=vmkit-smoke,$V
	if [ -n "$PY" ]; then
		if image_has_pattern "$img" 42 0 1 100 4095 >"$WORK/out" 2>&1; then
			result "blk image holds the pattern" 0 ""
		else
			result "blk image holds the pattern" 1 "host check failed"
		fi
	fi
	run "blk verify-only (second boot)" "workload=blk seed=42 sectors=4096 verify-only=1" \
		0 "verified 4096 sectors" "testguest: blk: PASS" -- \
		-drive "$drv" -device virtio-blk-pci,drive=d0,$V
	run "blk verify-only, wrong seed" "workload=blk seed=43 sectors=4096 verify-only=1" \
		253 "testguest: blk: FAIL sector 0 byte 4 is wrong" -- \
		-drive "$drv" -device virtio-blk-pci,drive=d0,$V
	truncate -s 4M "$WORK/d1.raw"
	run "blk on disk=1" "workload=blk disk=1 seed=5 sectors=256" 0 \
		"blk1: wrote, flushed and verified 256" "testguest: blk: PASS" -- \
		-drive "file=$WORK/d1.raw,format=raw,if=none,id=d1" \
		-drive "$drv" -device virtio-blk-pci,drive=d0,$V \
		-device virtio-blk-pci,drive=d1,$V
}

test_blk_ro() {
	local img=$WORK/ro.raw
	truncate -s 4M "$img"
	run "blk setup for blk-ro" "workload=blk seed=9 sectors=512" 0 \
		"testguest: blk: PASS" -- \
		-drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,$V
	run "blk-ro" "workload=blk-ro seed=9 sectors=512 verify-only=1" 0 \
		"read-only checks" "testguest: blk-ro: PASS" -- \
		-drive "file=$img,format=raw,if=none,id=d0,readonly=on" \
		-device virtio-blk-pci,drive=d0,$V
	run "blk ro=1 on a writable disk" "workload=blk ro=1" 253 \
		"does not advertise VIRTIO_BLK_F_RO" -- \
		-drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,$V
}

test_console() {
	local sock=$WORK/cons.sock pid rc
	if [ -z "$PY" ]; then
		echo "skip console (no python3)"
		return
	fi
	qemu_cmd "workload=console timeout=30000"
	timeout "$TMO" "${CMD[@]}" -device virtio-serial-pci,$V \
		-chardev socket,id=c0,path="$sock",server=on,wait=on \
		-device virtconsole,chardev=c0 </dev/null >"$WORK/out" 2>&1 &
	pid=$!
	"$PY" - "$sock" >"$WORK/host" 2>&1 <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(200):
    try:
        s.connect(sys.argv[1])
        break
    except OSError:
        time.sleep(0.1)
s.settimeout(60)
buf = b""
while b"console-ready\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("closed before the ready line")
    buf += d
s.sendall(b"smoke line 123\n")
buf = b""
while b"\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("closed before the echo")
    buf += d
print("host got", buf)
sys.exit(0 if buf == b"echo:smoke line 123\n" else 1)
EOF
	rc=$?
	wait $pid
	cat "$WORK/host" >>"$WORK/out"
	if [ $rc != 0 ]; then
		result "console" 1 "host side: $(tail -n 1 "$WORK/host")"
		return
	fi
	check "console" 0 0 "echoed 'smoke line 123'" "testguest: console: PASS"
}

# What QEMU 7.2 does per kind (see guest/README.md): these it answers with
# DEVICE_NEEDS_RESET + a configuration interrupt; the rest it processes
# (bad-addr, len-wrap, too-long), ignores, or flags only by accident.
HR_KINDS=loop,indirect-len,rw-order,bad-head,bad-next,wrong-dir,avail-ahead
HR_SKIP=rng:wrong-dir,console:wrong-dir,net:avail-ahead,console:avail-ahead

test_hostile() {
	local img=$WORK/h.raw
	truncate -s 4M "$img"
	run "hostile-ring" "workload=hostile-ring timeout=2000 kinds=$HR_KINDS skip=$HR_SKIP" \
		0 "rng0 loop ok" "blk0 wrong-dir ok" "net0 bad-next ok" \
		"console0 rw-order ok" "testguest: hostile-ring: PASS" -- \
		-device virtio-rng-pci,$V \
		-drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,$V \
		-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,$V \
		-device virtio-serial-pci,$V -chardev null,id=c0 -device virtconsole,chardev=c0
	run "hostile-ring, a kind QEMU lets through" "workload=hostile-ring kinds=bad-addr devs=blk timeout=500" \
		253 "blk0 bad-addr completed the chain" "testguest: hostile-ring: FAIL" -- \
		-device virtio-rng-pci,$V \
		-drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,$V
}

test_blk_bench() {
	local img=$WORK/bench.raw
	truncate -s 64M "$img"
	run "blk-bench" "workload=blk-bench span=64 ms=1000" 0 "seq-read MBps=" \
		"seq-write MBps=" "randread-qd1 IOPS=" "randread-qd32 IOPS=" \
		"randwrite-qd1 IOPS=" "randwrite-qd32 IOPS=" "testguest: blk-bench: PASS" -- \
		-drive "file=$img,format=raw,if=none,id=d0,cache=none,aio=io_uring" \
		-device virtio-blk-pci,drive=d0,$V
	grep "blk-bench:" "$WORK/out" | grep -v PASS | sed 's/^/     /'
}

netns_up() {
	[ -n "${NET_READY:-}" ] && return 0
	if [ "$(id -u)" != 0 ] || [ ! -x "$VNET_HOST" ] || ! ip netns add "$NS" 2>/dev/null; then
		return 1
	fi
	ip netns exec "$NS" ip link set lo up &&
		ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap &&
		ip netns exec "$NS" ip link set "$TAP" up || return 1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null
	NET_READY=1
}

# net_run NAME APPEND WANT PATTERNS -- DEVICE_OPTS: QEMU in the namespace,
# vnet_host on the TAP's host end.
net_run() {
	local name=$1 app=$2 want=$3 pats=() hp
	shift 3
	while [ "$1" != -- ]; do
		pats+=("$1")
		shift
	done
	shift
	ip netns exec "$NS" "$VNET_HOST" "$TAP" >"$WORK/host" 2>&1 &
	hp=$!
	BG+=("$hp")
	sleep 0.5
	qemu_cmd "$app"
	timeout "$TMO" ip netns exec "$NS" "${CMD[@]}" \
		-netdev tap,id=n0,ifname="$TAP",script=no,downscript=no,vnet_hdr=on \
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,$V$1" \
		</dev/null >"$WORK/out" 2>&1
	local rc=$?
	kill "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
	cat "$WORK/host" >>"$WORK/out"
	check "$name" $rc "$want" "${pats[@]}"
}

test_net() {
	if ! netns_up; then
		echo "skip net (needs root, ip netns and $VNET_HOST)"
		return
	fi
	net_run "net (mergeable rx buffers)" "workload=net count=64" 0 \
		"mac 52:54:00:12:34:56, link up" "(mergeable)" "64 echoed" \
		"testguest: net: PASS" -- ""
	net_run "net (no mergeable rx buffers)" "workload=net count=200 size=1400" 0 \
		"200 echoed" "testguest: net: PASS" -- ",mrg_rxbuf=off"
}

test_net_bench() {
	if ! netns_up; then
		echo "skip net-bench (needs root, ip netns and $VNET_HOST)"
		return
	fi
	net_run "net-bench" "workload=net-bench ms=1000" 0 "net-bench: tx pps=" \
		"net-bench: tx host-received=" "net-bench: rx pps=" \
		"testguest: net-bench: PASS" -- ""
	grep "net-bench:" "$WORK/out" | grep -v PASS | sed 's/^/     /'
}

want rng && test_rng
want blk && test_blk
want blk-ro && test_blk_ro
want console && test_console
want hostile-ring && test_hostile
want net && test_net
want blk-bench && test_blk_bench
want net-bench && test_net_bench

echo "qemu virtio smoke: $npass passed, $nfail failed"
[ "$nfail" = 0 ]
