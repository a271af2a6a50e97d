# SPDX-License-Identifier: BSD-3-Clause
# Thin wrapper over meson: `make run` and `make test` work on a fresh Debian 12 machine.

BUILD ?= build
FUZZ_BUILD ?= build-fuzz
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
VALGRIND_BUILD ?= build-valgrind
MESON_OPTS ?= --werror
FUZZ_SECONDS ?= 600
TEST_DIRS = BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) ASAN_BUILD=$(ASAN_BUILD) \
	TSAN_BUILD=$(TSAN_BUILD) VALGRIND_BUILD=$(VALGRIND_BUILD)

.PHONY: all deps configure build run test quick check bench install clean test-asan test-tsan \
	test-valgrind fuzz fuzz-build asan-build tsan-build valgrind-build

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

configure: deps $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD)

# The main job: a real KVM guest, driven by the example plugin, greets through a plugin-emulated serial port.
run: build
	$(BUILD)/host/plugvm run --plugin $(BUILD)/examples/hello-serial

# All tests (scripts/test-all.sh): every suite (gcc), the short fuzz runs (clang, ASan+UBSan),
# every suite under ASan+UBSan and under TSan, and the host under valgrind; one
# "N passed, N failed, N skipped" line at the end counts them all.
test: build fuzz-build asan-build tsan-build valgrind-build
	$(TEST_DIRS) sh scripts/test-all.sh plain fuzz asan tsan valgrind

# The develop loop (seconds): suite 'quick' (unit, client, abi, the host's request handlers
# against the fake KVM).
quick: build
	meson test -C $(BUILD) --suite quick --print-errorlogs

# The quick part while developing: every suite and the short fuzz runs.
check: build fuzz-build
	$(TEST_DIRS) sh scripts/test-all.sh plain fuzz

test-asan: asan-build
	$(TEST_DIRS) sh scripts/test-all.sh asan

test-tsan: tsan-build
	$(TEST_DIRS) sh scripts/test-all.sh tsan

test-valgrind: valgrind-build
	$(TEST_DIRS) sh scripts/test-all.sh valgrind

bench: build
	meson test -C $(BUILD) --benchmark --verbose

# make install [PREFIX=/usr/local] [DESTDIR=/staging]
PREFIX ?= /usr/local
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

# The sanitizer and valgrind builds (gcc; docs/security.md).
asan-build: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) $(MESON_OPTS) \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN_BUILD)

tsan-build: deps
	@[ -f $(TSAN_BUILD)/build.ninja ] || meson setup $(TSAN_BUILD) $(MESON_OPTS) \
		-Db_sanitize=thread -Db_lundef=false
	ninja -C $(TSAN_BUILD)

valgrind-build: deps
	@[ -f $(VALGRIND_BUILD)/build.ninja ] || meson setup $(VALGRIND_BUILD) $(MESON_OPTS) \
		-Dbuildtype=debug
	ninja -C $(VALGRIND_BUILD)

# The libFuzzer targets (clang, ASan+UBSan; fuzz/meson.build).  Only they are built in
# $(FUZZ_BUILD): its test run takes just the 'fuzz' suite.
FUZZ_TARGETS = fuzz-wire fuzz-main-request fuzz-vcpu-request fuzz-lib-response fuzz-lib-shm
fuzz-build: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) $(MESON_OPTS) \
		-Dfuzz=enabled -Db_lundef=false
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/,$(FUZZ_TARGETS))

# Long fuzzing runs, one target after the other at the lowest priority; new inputs stay in
# $(FUZZ_BUILD)/fuzz/<target>-corpus.  FUZZ_SECONDS=0 means no time limit; FUZZ_ARGS go to
# libFuzzer, e.g. the runs in docs/security.md:
#   make fuzz FUZZ_TARGETS=fuzz-lib-shm FUZZ_SECONDS=0 FUZZ_ARGS="-runs=10500000 -timeout=120"
FUZZ_ARGS ?=
fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
		nice -n 19 sh fuzz/run-fuzz.sh $(FUZZ_BUILD)/fuzz/$$t fuzz/corpus/$$t \
			fuzz/regressions/$$t $(CURDIR)/$(FUZZ_BUILD)/fuzz/$$t-corpus \
			$(FUZZ_SECONDS) $(FUZZ_ARGS) || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(VALGRIND_BUILD)
