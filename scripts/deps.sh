#!/bin/sh
# deps.sh: install what vmkit needs to build, run and test on Debian 12.
# Idempotent; prints nothing when everything is already installed.
#   scripts/deps.sh run     build + boot the default guest
#   scripts/deps.sh check   everything the test suite uses as well
#   scripts/deps.sh linux   what guest/linux/build.sh needs (kernel + initramfs)
#   scripts/deps.sh bench   what bench/vmkitd compares with (libvirt 9.0, qemu driver)
set -eu
need_run="meson ninja-build gcc pkg-config libjansson-dev zlib1g-dev libzstd-dev libxml2-dev liburing-dev libmicrohttpd-dev libcurl4-gnutls-dev"
need_check="$need_run libcmocka-dev clang python3 python3-pytest acpica-tools qemu-system-x86 qemu-utils xz-utils e2fsprogs iproute2 strace"
need_linux="linux-source-6.1 busybox-static make gcc libc6-dev bc bison flex libelf-dev lz4 xz-utils patch python3"
need_check="$need_check $need_linux"
need_bench="libvirt-daemon-system libvirt-clients python3-libvirt qemu-system-x86"
case "${1:-run}" in
	run) pkgs=$need_run ;;
	check) pkgs=$need_check ;;
	linux) pkgs=$need_linux ;;
	bench) pkgs=$need_bench ;;
	*) echo "usage: $0 run|check|linux|bench" >&2; exit 2 ;;
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
