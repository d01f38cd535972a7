#!/bin/sh
# deps.sh: install what vmkit needs to build, run and test on Debian 12.
# Idempotent; prints nothing when everything is already installed.
#   scripts/deps.sh run     build + boot the default guest
#   scripts/deps.sh check   everything the test suite uses as well
set -eu
need_run="meson ninja-build gcc pkg-config libjansson-dev"
need_check="$need_run libcmocka-dev clang python3 python3-pytest acpica-tools qemu-system-x86 xz-utils"
case "${1:-run}" in
	run) pkgs=$need_run ;;
	check) pkgs=$need_check ;;
	*) echo "usage: $0 run|check" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
