# vmkit: the README's whole set-up. `make run` boots the default guest,
# `make check` runs every test suite; both install missing Debian packages first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
MESON_OPTS ?=

.PHONY: all build build-asan build-fuzz run check fuzz-smoke deps deps-check clean

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

# Until the Linux guest lands: the test guest's echo workload on this terminal.
run: build
	$(BUILD)/vmkit-vmm --kernel $(BUILD)/guest/testguest.elf --memory 64M \
		--cmdline "workload=echo"

fuzz-smoke: build-fuzz
	fuzz/smoke.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

check: deps-check build build-asan build-fuzz
	/usr/bin/python3 tests/run_checks.py --build $(BUILD) --asan $(BUILD_ASAN) \
		--fuzz $(BUILD_FUZZ) --fuzz-seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
