# vmkit: the README's whole set-up. `make run` boots the default guest,
# `make check` runs every test suite; both install missing Debian packages first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
MESON_OPTS ?=
# The Linux test guest (guest/linux/build.sh: built once into ~/.cache/vmkit,
# linked here) and the VM `make run` boots it in.
LINUX_DIR  ?= $(BUILD)/guest/linux
RUN_MEMORY ?= 256M
RUN_CPUS   ?= 1
RUN_DISK   ?= $(BUILD)/run-disk.raw

.PHONY: all build build-asan build-fuzz linux run check check-linux fuzz-smoke deps deps-check clean

all: build

deps:
	@scripts/deps.sh run

deps-check:
	@scripts/deps.sh check

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dtests=false $(MESON_OPTS) >/dev/null

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Dsanitize=true $(MESON_OPTS) >/dev/null

$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzz=true -Dtests=false -Dguest=false $(MESON_OPTS) >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

build-asan: deps-check $(BUILD_ASAN)/build.ninja
	@ninja -C $(BUILD_ASAN) >/dev/null || ninja -C $(BUILD_ASAN)

build-fuzz: deps-check $(BUILD_FUZZ)/build.ninja
	@ninja -C $(BUILD_FUZZ) >/dev/null || ninja -C $(BUILD_FUZZ)

# Kernel + busybox initramfs from Debian packages; 4-15 min the first time.
linux:
	@guest/linux/build.sh --link $(LINUX_DIR)

# Linux to a busybox shell on this terminal's serial console (Ctrl-a x quits).
# It has a scratch virtio disk ($(RUN_DISK), /dev/vda in the guest; kept
# between runs) and virtio-rng (/dev/hwrng).
run: build linux
	@test -e $(RUN_DISK) || truncate -s 256M $(RUN_DISK)
	@$(BUILD)/vmkit-vmm --kernel $(LINUX_DIR)/vmlinux --initrd $(LINUX_DIR)/initramfs.cpio \
		--memory $(RUN_MEMORY) --cpus $(RUN_CPUS) --symbols $(LINUX_DIR)/System.map \
		--disk path=$(RUN_DISK),format=raw --rng \
		--cmdline "$$(cat $(LINUX_DIR)/cmdline)"

fuzz-smoke: build-fuzz
	fuzz/smoke.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

check: deps-check build build-asan build-fuzz linux
	VMKIT_LINUX_DIR=$(LINUX_DIR) /usr/bin/python3 tests/run_checks.py --build $(BUILD) --asan $(BUILD_ASAN) \
		--fuzz $(BUILD_FUZZ) --fuzz-seconds $(FUZZ_SECONDS)

# Not in CI: the Linux guest's bzImage loader, ELF entry, each directive in
# a boot of its own, reboot as the way out, and 2 vCPUs (~5 min here).
check-linux: deps-check build build-asan linux
	VMKIT_CHECK_LINUX=1 VMKIT_LINUX_DIR=$(LINUX_DIR) VMKIT_VMM=$(CURDIR)/$(BUILD_ASAN)/vmkit-vmm \
		/usr/bin/python3 -m pytest -v -rs -p no:cacheprovider tests/integration/test_linux.py

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
