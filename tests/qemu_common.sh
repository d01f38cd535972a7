# qemu_common.sh: what the QEMU smoke scripts (qemu_guest_smoke.sh,
# qemu_virtio_smoke.sh) share, sourced by both: the skip check and the
# result bookkeeping. The caller sets ELF, QEMU, WORK (its output goes to
# $WORK/out) and optionally LOG_TAIL (lines of output shown on a failure).
npass=0
nfail=0

# Exit 77 (skipped) unless QEMU, a writable /dev/kvm and the guest exist.
qemu_common_require() {
	if ! command -v "$QEMU" >/dev/null || [ ! -w /dev/kvm ] || [ ! -f "$ELF" ]; then
		echo "SKIP: need $QEMU, a writable /dev/kvm and $ELF"
		exit 77
	fi
}

result() { # NAME OK(0/1) DETAIL
	if [ "$2" = 0 ]; then
		npass=$((npass + 1))
		echo "ok   $1"
	else
		nfail=$((nfail + 1))
		echo "FAIL $1: $3"
		sed 's/^/     | /' "$WORK/out" | tail -n "${LOG_TAIL:-15}"
	fi
}

# check NAME RC WANT_RC PATTERN...: every pattern must appear in the output.
# Returns 0 when the check passed.
check() {
	local name=$1 rc=$2 want=$3 p
	shift 3
	if [ "$rc" != "$want" ]; then
		result "$name" 1 "exit status $rc, expected $want"
		return 1
	fi
	for p in "$@"; do
		if ! grep -q -- "$p" "$WORK/out"; then
			result "$name" 1 "no line matching '$p'"
			return 1
		fi
	done
	result "$name" 0 ""
}
