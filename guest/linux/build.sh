#!/bin/sh
# guest/linux/build.sh: builds the Linux test guest from Debian packages and
# links it into the build tree.
#
#   kernel     linux-source-6.1, `make tinyconfig` + guest/linux/vmkit.config,
#              guest/linux/patches/*.patch
#   initramfs  busybox-static + guest/linux/init + guest/linux/vmhelper.c
#              (compiled static; guest/linux/mkinitramfs.py)
#
# Outputs live in a cache outside the source tree, one directory per input
# hash, so a clean machine builds once (about 13 minutes on 2 cores) and later
# runs only relink:
#   $CACHE/linux-<hash>/      vmlinux bzImage System.map config cmdline versions
#   $CACHE/initramfs-<hash>/  initramfs.cpio versions
# The kernel hash covers this script, the config fragment, the patches, the
# command line and the package/compiler versions; the initramfs hash covers
# init, vmhelper.c, mkinitramfs.py and the versions of busybox, gcc and
# libc6-dev, so editing /init does not rebuild the kernel.  Entries are built
# in a temporary directory and renamed into place, so an interrupted build
# never leaves a half entry.  The kernel is compiled in $CACHE/linux-work/,
# kept between runs so a changed patch or option rebuilds in seconds to
# minutes.
#
# Usage: guest/linux/build.sh [--link DIR] [--clean]
#   --link DIR  where to link the artifacts (default: build/guest/linux)
#   --clean     wipe $CACHE/linux-work first
# Environment: VMKIT_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/vmkit),
#   VMKIT_JOBS (default nproc).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${VMKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmkit}
LINK=$ROOT/build/guest/linux
JOBS=${VMKIT_JOBS:-$(nproc)}
KSRC_PKG=linux-source-6.1
KSRC_TAR=/usr/src/linux-source-6.1.tar.xz
BUSYBOX=/bin/busybox
# memset/memcpy of unknown size as calls (rep stosq/movsq inside) rather than
# inline `rep stosb/movsb`, which nested PVM emulates at ~0.36 us a byte.
KCFLAGS=-mstringop-strategy=libcall
CLEAN=0

say() { echo "linux: $*"; }
die() { echo "linux: ERROR: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--link) [ $# -ge 2 ] || die "--link needs a directory"; LINK=$2; shift 2 ;;
	--clean) CLEAN=1; shift ;;
	*) die "unknown argument '$1' (usage: $0 [--link DIR] [--clean])" ;;
	esac
done

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || die "package $1 is not installed"
}

# hash_inputs FILE...: a short hash of the files' names and contents plus
# the text on stdin.
hash_inputs() {
	{
		cat
		for f in "$@"; do
			printf '== %s\n' "${f#"$HERE"/}"
			cat "$f"
		done
	} | sha256sum | cut -c1-16
}

# ---- kernel source: extract once, keep the patches in step ----

patches() {
	for p in "$HERE"/patches/*.patch; do
		[ -e "$p" ] && echo "$p"
	done
	return 0
}

extract_source() {
	say "extracting $KSRC_TAR"
	rm -rf "$WORK"
	mkdir -p "$WORK/applied"
	tar -C "$WORK" -xf "$KSRC_TAR"
	[ -d "$WORK/linux-source-6.1" ] || die "$KSRC_TAR has no linux-source-6.1/ directory"
	mv "$WORK/linux-source-6.1" "$SRC"
}

# Undo the patches applied to $SRC by an earlier run; 1 if that fails.
unapply_patches() {
	for p in $(ls -r "$WORK/applied/" 2>/dev/null); do
		say "reverting $p"
		patch -d "$SRC" -p1 -R --batch --fuzz=0 --no-backup-if-mismatch -s \
			<"$WORK/applied/$p" || return 1
		rm "$WORK/applied/$p"
	done
}

apply_patches() {
	for p in $(patches); do
		name=$(basename "$p")
		say "applying patches/$name"
		if ! patch -d "$SRC" -p1 --forward --batch --fuzz=0 --no-backup-if-mismatch \
			-r - <"$p"; then
			die "patches/$name does not apply to $KSRC_PKG $KSRC_VER; update the patch"
		fi
		cp "$p" "$WORK/applied/$name"
	done
}

# The source tree is at $KSRC_VER with exactly our patches when
# $WORK/source.state says so.
prepare_source() {
	want="$KSRC_VER $(printf '' | hash_inputs $(patches))"
	if [ -f "$WORK/source.state" ] && [ "$(cat "$WORK/source.state")" = "$want" ]; then
		return 0
	fi
	if [ -f "$WORK/source.state" ] && [ "$(cut -d' ' -f1 "$WORK/source.state")" = "$KSRC_VER" ]; then
		rm -f "$WORK/source.state"
		unapply_patches || extract_source
	else
		extract_source
	fi
	apply_patches
	echo "$want" >"$WORK/source.state"
}

# ---- kernel configuration ----

# Every line of the fragment must hold in the final .config: `CONFIG_X=v`
# exactly; `# CONFIG_X is not set` as written or absent (its menu is off),
# provided CONFIG_X exists in some Kconfig file.
verify_config() {
	cfg=$OBJ/.config
	grep -E '^(CONFIG_|# CONFIG_)' "$HERE/vmkit.config" | while IFS= read -r line; do
		case $line in
		"# CONFIG_"*" is not set")
			sym=${line#"# CONFIG_"}
			sym=${sym%" is not set"}
			if grep -q "^CONFIG_$sym=" "$cfg"; then
				die "config: '$line' requested but .config has '$(grep "^CONFIG_$sym=" "$cfg")' (another option selects it)"
			fi
			grep -rqE --include='Kconfig*' "^[[:space:]]*(menu)?config $sym\$" "$SRC" ||
				die "config: CONFIG_$sym does not exist in $KSRC_PKG $KSRC_VER"
			;;
		*)
			grep -qxF "$line" "$cfg" ||
				die "config: '$line' requested but .config has '$(grep -E "^(# )?${line%%=*}[= ]" "$cfg" || echo "nothing")' (a dependency is missing?)"
			;;
		esac
	done
}

configure_kernel() {
	say "configuring: tinyconfig + vmkit.config"
	mkdir -p "$OBJ"
	make -s -C "$SRC" O="$OBJ" ARCH=x86_64 tinyconfig >"$WORK/config.log" 2>&1 ||
		{ cat "$WORK/config.log"; die "make tinyconfig failed"; }
	(cd "$OBJ" && "$SRC/scripts/kconfig/merge_config.sh" -m .config "$HERE/vmkit.config") \
		>>"$WORK/config.log" 2>&1 || { cat "$WORK/config.log"; die "merging vmkit.config failed"; }
	make -s -C "$SRC" O="$OBJ" ARCH=x86_64 olddefconfig >>"$WORK/config.log" 2>&1 ||
		{ cat "$WORK/config.log"; die "make olddefconfig failed"; }
	verify_config
}

# ---- kernel build with a progress line every 30 s ----

compile_kernel() {
	say "compiling vmlinux and bzImage with $JOBS jobs (5-15 minutes from clean on 2 cores)"
	log=$WORK/make.log
	make -C "$SRC" O="$OBJ" ARCH=x86_64 KCFLAGS="$KCFLAGS" -j"$JOBS" vmlinux bzImage \
		>"$log" 2>&1 &
	pid=$!
	trap 'kill $pid 2>/dev/null' INT TERM EXIT
	t0=$(date +%s)
	next=30
	while kill -0 $pid 2>/dev/null; do
		sleep 2
		t=$(($(date +%s) - t0))
		if [ $t -ge $next ]; then
			say "  ... $((t / 60))m$((t % 60))s, $(grep -c '^  CC ' "$log" || true) files compiled"
			next=$((next + 30))
		fi
	done
	if ! wait $pid; then
		trap - INT TERM EXIT
		tail -n 40 "$log" >&2
		die "kernel build failed (full log: $log)"
	fi
	trap - INT TERM EXIT
	say "compiled in $(($(date +%s) - t0)) s"
}

build_kernel() {
	WORK=$CACHE/linux-work
	SRC=$WORK/src
	OBJ=$WORK/obj
	[ "$CLEAN" = 1 ] && { say "wiping $WORK"; rm -rf "$WORK"; }
	mkdir -p "$WORK"
	prepare_source
	configure_kernel
	compile_kernel
	tmp=$(mktemp -d "$CACHE/.linux-$KKEY.XXXXXX")
	cp "$OBJ/vmlinux" "$OBJ/System.map" "$tmp/"
	cp "$OBJ/arch/x86/boot/bzImage" "$tmp/bzImage"
	cp "$OBJ/.config" "$tmp/config"
	cp "$HERE/cmdline" "$tmp/cmdline"
	printf '%s\n' "$KVERSIONS" >"$tmp/versions"
	rm -rf "$KDIR"
	mv -T "$tmp" "$KDIR"
}

build_initramfs() {
	say "packing initramfs.cpio (busybox-static $BB_VER + guest/linux/init + vmhelper)"
	tmp=$(mktemp -d "$CACHE/.initramfs-$IKEY.XXXXXX")
	python3 "$HERE/mkinitramfs.py" --init "$HERE/init" --busybox "$BUSYBOX" \
		--helper "$HERE/vmhelper.c" "$tmp/initramfs.cpio" || die "mkinitramfs.py failed"
	printf '%s\n' "$IVERSIONS" >"$tmp/versions"
	rm -rf "$IDIR"
	mv -T "$tmp" "$IDIR"
}

link_artifacts() {
	mkdir -p "$LINK"
	for f in vmlinux bzImage System.map config cmdline; do
		ln -sfn "$KDIR/$f" "$LINK/$f"
	done
	ln -sfn "$IDIR/initramfs.cpio" "$LINK/initramfs.cpio"
	{
		echo "kernel $KDIR"
		cat "$KDIR/versions"
		echo "initramfs $IDIR"
		cat "$IDIR/versions"
	} >"$LINK/versions.tmp"
	mv "$LINK/versions.tmp" "$LINK/versions"
}

main() {
	"$ROOT/scripts/deps.sh" linux
	[ -f "$KSRC_TAR" ] || die "$KSRC_TAR is missing (reinstall $KSRC_PKG)"
	[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (reinstall busybox-static)"
	KSRC_VER=$(pkg_version "$KSRC_PKG")
	BB_VER=$(pkg_version busybox-static)
	KVERSIONS="$KSRC_PKG $KSRC_VER
gcc $(gcc -dumpfullversion) ($(pkg_version gcc-12))
binutils $(pkg_version binutils)"
	IVERSIONS="busybox-static $BB_VER
gcc $(gcc -dumpfullversion) ($(pkg_version gcc-12))
libc6-dev $(pkg_version libc6-dev)"
	KKEY=$(printf '%s\n' "$KVERSIONS" |
		hash_inputs "$HERE/build.sh" "$HERE/vmkit.config" "$HERE/cmdline" $(patches))
	IKEY=$(printf '%s\n' "$IVERSIONS" |
		hash_inputs "$HERE/init" "$HERE/vmhelper.c" "$HERE/mkinitramfs.py")
	KDIR=$CACHE/linux-$KKEY
	IDIR=$CACHE/initramfs-$IKEY
	mkdir -p "$CACHE"
	exec 9>"$CACHE/linux.lock"
	flock 9 || die "cannot lock $CACHE/linux.lock"
	rm -rf "$CACHE"/.linux-* "$CACHE"/.initramfs-*  # left by an interrupted run
	if [ -d "$KDIR" ]; then
		say "kernel: cached $KDIR"
	else
		say "kernel: building $KDIR"
		build_kernel
	fi
	if [ -d "$IDIR" ]; then
		say "initramfs: cached $IDIR"
	else
		build_initramfs
	fi
	link_artifacts
	say "ready: $LINK"
}

main
