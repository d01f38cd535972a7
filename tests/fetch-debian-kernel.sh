#!/bin/bash
# fetch-debian-kernel: downloads (never installs) the Debian kernel package that
# linux-image-amd64 currently depends on, and caches its bzImage ("vmlinuz")
# and the ELF vmlinux unpacked from the bzImage's XZ payload, for the loader's
# real-kernel unit tests. Idempotent; prints the cache directory.
#
#   usage: tests/fetch-debian-kernel.sh
#   then:  export VMKIT_DEBIAN_VMLINUZ=<dir>/vmlinuz VMKIT_DEBIAN_VMLINUX=<dir>/vmlinux
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/vmkit/debian-kernel"

die() {
	echo "fetch-debian-kernel: $*" >&2
	exit 1
}

# First existing path among the arguments (an unmatched glob stays literal).
first() {
	for f in "$@"; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}

is_elf() {
	[ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ]
}

if [ -s "$cache/vmlinuz" ] && [ -s "$cache/vmlinux" ] && is_elf "$cache/vmlinux"; then
	echo "$cache"
	exit 0
fi

for tool in apt-cache apt-get dpkg-deb tar xz grep od; do
	command -v "$tool" >/dev/null || die "needs '$tool' in PATH"
done

depends_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1
}

pkg="$(depends_pkg)"
if [ -z "$pkg" ]; then
	echo "fetch-debian-kernel: apt-cache knows no linux-image-amd64; running apt-get update" >&2
	apt-get update -qq >&2 || die "apt-get update failed"
	pkg="$(depends_pkg)"
fi
[ -n "$pkg" ] || die "cannot find the package linux-image-amd64 depends on"

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

deb="$(first "$cache/${pkg}"_*.deb)"
if [ -z "$deb" ]; then
	echo "fetch-debian-kernel: downloading $pkg" >&2
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || die "apt-get download $pkg failed"
	dl="$(first "$tmp"/*.deb)"
	[ -n "$dl" ] || die "apt-get download produced no .deb"
	mv "$dl" "$cache/"
	deb="$cache/$(basename "$dl")"
fi

mkdir "$tmp/root"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" --wildcards './boot/vmlinuz-*' ||
	die "cannot extract boot/vmlinuz-* from $deb"
vmlinuz="$(first "$tmp"/root/boot/vmlinuz-*)"
[ -s "${vmlinuz:-/nonexistent}" ] || die "no kernel image in $deb"

# The bzImage's payload is an XZ stream (magic FD 37 7A 58 5A 00): try each
# place the magic occurs until one decompresses (that stream only, ignoring
# what follows it) into an ELF file.
# (No pipefail here: tail and grep may die of SIGPIPE once the reader is done.)
set +o pipefail
found=
for off in $(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$vmlinuz" | cut -d: -f1 | head -n 8); do
	if tail -c "+$((off + 1))" "$vmlinuz" | xz -dc --single-stream >"$tmp/vmlinux" 2>/dev/null &&
		is_elf "$tmp/vmlinux"; then
		found=1
		break
	fi
done
set -o pipefail
[ -n "$found" ] || die "no XZ-compressed ELF payload in $vmlinuz"

mv -f "$vmlinuz" "$cache/vmlinuz"
mv -f "$tmp/vmlinux" "$cache/vmlinux"
echo "$pkg" >"$cache/VERSION"
echo "$cache"
