#!/bin/bash
# qemu_guest_smoke.sh: boots the test guest (guest/testguest.elf) under QEMU
# with KVM and checks every workload's result line and QEMU exit status, on
# the microvm and q35 machines. Independent of vmkit-vmm: it checks the guest.
#
#   tests/qemu_guest_smoke.sh [path/to/testguest.elf]
#   MACHINES="microvm" tests/qemu_guest_smoke.sh build/guest/testguest.elf
#
# Exit status: 0 all passed, 1 something failed, 77 skipped (no QEMU or
# no usable /dev/kvm). Ends with a "N passed, N failed" line.
set -u

ELF=${1:-build/guest/testguest.elf}
MACHINES=${MACHINES:-"microvm q35"}
QEMU=${QEMU:-qemu-system-x86_64}
TMO=${TMO:-120}
PY=$(command -v python3 || true)
WORK=$(mktemp -d /tmp/guest-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LOG_TAIL=15
# shellcheck source=tests/qemu_common.sh
. "$(dirname "$0")/qemu_common.sh"

qemu_common_require

# qemu_cmd MACHINE SMP APPEND: the common command line (no -no-reboot),
# into the array CMD.
qemu_cmd() {
	CMD=("$QEMU" -accel kvm -M "$1" -smp "$2" -m 128M -kernel "$ELF"
		-append "$3" -device isa-debug-exit,iobase=0xf4,iosize=4
		-serial stdio -display none)
}

# simple MACHINE SMP APPEND WANT_RC PATTERN... (QEMU exits on its own)
simple() {
	local m=$1 smp=$2 app=$3 want=$4
	shift 4
	qemu_cmd "$m" "$smp" "$app"
	timeout "$TMO" "${CMD[@]}" -no-reboot -monitor none \
		</dev/null >"$WORK/out" 2>&1
	check "$m smp=$smp '$app'" $? "$want" "$@"
}

wait_for() { # PATTERN PID: wait until the output shows PATTERN
	local i
	for i in $(seq 1 $((TMO * 10))); do
		grep -q -- "$1" "$WORK/out" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

echo_test() { # MACHINE: type a line after the banner, then Ctrl-D
	local m=$1 pid rc
	mkfifo "$WORK/in"
	exec 3<>"$WORK/in"
	qemu_cmd "$m" 1 "workload=echo"
	timeout "$TMO" "${CMD[@]}" -no-reboot -monitor none \
		<&3 >"$WORK/out" 2>&1 &
	pid=$!
	if wait_for "echo: ready" $pid; then
		printf 'smoke-echo-123\r' >&3
		sleep 0.5
		printf '\004' >&3
	fi
	wait $pid
	rc=$?
	exec 3>&-
	rm -f "$WORK/in"
	check "$m echo" $rc 0 "smoke-echo-123" "testguest: echo: PASS"
}

idle_test() { # MACHINE: press the ACPI power button through the monitor
	local m=$1 pid rc sock=$WORK/mon.sock
	if [ -z "$PY" ]; then
		echo "skip $m idle (no python3 to talk to the QEMU monitor)"
		return
	fi
	qemu_cmd "$m" 1 "workload=idle"
	timeout "$TMO" "${CMD[@]}" -no-reboot \
		-monitor unix:"$sock",server=on,wait=off </dev/null >"$WORK/out" 2>&1 &
	pid=$!
	if wait_for "idle: waiting" $pid; then
		"$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"system_powerdown\n"); time.sleep(0.5)' "$sock"
	fi
	wait $pid
	rc=$?
	check "$m idle" $rc 0 "testguest: idle: PASS"
}

reset_test() { # MACHINE: 3 resets through the FADT reset register
	local m=$1
	qemu_cmd "$m" 2 "workload=reset"
	timeout "$TMO" "${CMD[@]}" -monitor none \
		</dev/null >"$WORK/out" 2>&1
	check "$m reset" $? 0 "reset: boot 1 cpus 2" "reset: boot 4 cpus 2" \
		"testguest: reset: PASS"
}

for m in $MACHINES; do
	# microvm has no RTC/CMOS by default; the reset workload needs one.
	mm=$m
	[ "$m" = microvm ] && mm=microvm,rtc=on
	simple "$mm" 1 "workload=hello" 0 "testguest: hello: PASS"
	simple "$mm" 1 "workload=info" 0 "testguest: info: PASS"
	simple "$mm" 1 "workload=smp cpus=1" 0 "testguest: smp: PASS"
	simple "$mm" 4 "workload=smp cpus=4" 0 "testguest: smp: PASS"
	simple "$mm" 4 "workload=smp cpus=3" 253 "testguest: smp: FAIL"
	simple "$mm" 1 "exit=5" 11 "testguest: exit: PASS"
	simple "$mm" 1 "workload=exit exit=0" 1 "testguest: exit: PASS"
	simple "$mm" 1 "workload=fault" 0 "testguest: fault: PASS"
	simple "$mm" 1 "workload=bogus" 253 "testguest: bogus: FAIL unknown workload"
	echo_test "$mm"
	idle_test "$mm"
	reset_test "$mm"
done
# The MP-table path (no ACPI) on microvm: its firmware builds one.
case " $MACHINES " in
*" microvm "*)
	simple microvm,acpi=off 2 "workload=smp cpus=2" 1 "cpus listed (MP table)" \
		"testguest: smp: PASS" ;;
esac

echo "qemu guest smoke: $npass passed, $nfail failed"
[ "$nfail" = 0 ]
