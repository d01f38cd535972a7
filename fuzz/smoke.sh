#!/bin/sh
# smoke.sh: short libFuzzer runs of every fuzz target of a build (the fuzz_*
# executables in BUILD_DIR/fuzz/, see fuzz/meson.build). Each target runs for
# SECONDS on a copy of its seed corpus fuzz/corpus/<name without "fuzz_">/
# (with fuzz/<same>.dict when present), so the checked-in corpus is never
# modified. Prints "NAME: N runs, ok" or "NAME: FAILED ..." per target and a
# final "N passed, N failed"; exits non-zero if any target failed or none
# was found. Crash inputs are kept in BUILD_DIR/fuzz/artifacts/NAME/.
#
# Usage: fuzz/smoke.sh BUILD_DIR SECONDS
set -u

usage() {
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
}

[ $# -eq 2 ] || usage
build=$1
secs=$2
case $secs in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -gt 0 ] || usage
if [ ! -d "$build/fuzz" ]; then
	echo "$0: $build/fuzz does not exist (configure with -Dfuzz=true)" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmkit-fuzz-smoke.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0

# run_target EXE: one short fuzzing session; 0 when it ended cleanly.
run_target() {
	exe=$1
	name=$(basename "$exe")
	short=${name#fuzz_}
	work=$tmp/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$here/corpus/$short" ]; then
		cp -R "$here/corpus/$short/." "$work/corpus/"
	else
		echo "$name: warning: no seed corpus in $here/corpus/$short" >&2
	fi
	set -- -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/"
	if [ -f "$here/$short.dict" ]; then
		set -- "$@" -dict="$here/$short.dict"
	fi
	"$exe" "$@" "$work/corpus" >"$work/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
	if [ $rc -eq 0 ] && [ -n "$runs" ] && [ -z "$(ls -A "$work/artifacts")" ]; then
		echo "$name: $runs runs, ok"
		return 0
	fi
	echo "$name: FAILED (exit status $rc, ${runs:-unknown} runs)"
	tail -n 40 "$work/log" | sed 's/^/    /'
	if [ -n "$(ls -A "$work/artifacts")" ]; then
		mkdir -p "$build/fuzz/artifacts/$name"
		cp "$work/artifacts/"* "$build/fuzz/artifacts/$name/"
		echo "    crash inputs saved in $build/fuzz/artifacts/$name/" \
			"(reproduce: $exe FILE)"
	fi
	return 1
}

for exe in "$build"/fuzz/fuzz_*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	if run_target "$exe"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done

if [ $((passed + failed)) -eq 0 ]; then
	echo "$0: no fuzz targets (fuzz_*) found in $build/fuzz" >&2
	echo "0 passed, 0 failed"
	exit 1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
