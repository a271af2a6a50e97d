# SPDX-License-Identifier: BSD-3-Clause
# Thin wrapper over meson: `make run` and `make test` work on a fresh Debian 12 machine.

BUILD ?= build
MESON_OPTS ?= --werror

.PHONY: all deps configure build run test bench install clean test-asan test-tsan test-valgrind \
	fuzz fuzz-build

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

# Every suite of $(BUILD), then the short fuzz runs of the clang build $(FUZZ_BUILD); one
# "N passed, N failed, N skipped" line counts both.
test: build fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) sh scripts/run-tests.sh $(BUILD)

bench: build
	meson test -C $(BUILD) --benchmark --verbose

# make install [PREFIX=/usr/local] [DESTDIR=/staging]
PREFIX ?= /usr/local
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

# Sanitizer and valgrind runs of the whole suite (docs/security.md), gcc builds.  handle_segv=0 lets the plugins that crash on
# purpose (kvm neg-crash, hostile crash-in-guest) die by SIGSEGV as the tests expect, and
# verify_asan_link_order=0 admits the hostile suite's preloaded leak checker.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
VALGRIND_BUILD ?= build-valgrind
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
ASAN_ENV = ASAN_OPTIONS=handle_segv=0:verify_asan_link_order=0:detect_leaks=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/hostile/lsan.supp
# TSan cannot share the process with the uninstrumented leak checker; its report makes the
# process exit 66, which every runner sees as a wrong status.
TSAN_ENV = TSAN_OPTIONS=exitcode=66:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/hostile/tsan.supp \
	HOSTILE_NO_LEAKCHECK=1
# sandbox/plugvm-jailed and the jailed `kvm` suite run sanitized plugins under the default
# seccomp policy, which (rightly) kills the sanitizer runtime's extra system calls with SIGSYS:
# not meaningful here, so the sanitizer runs leave out the jailed kvm suite (its tests run
# unjailed in kvm-unjailed and kvm-pipe) and take the sandbox suite's other tests by name.
SAN_SANDBOX_TESTS = jail policy

test-asan:
	@[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) $(MESON_OPTS) \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN_BUILD)
	$(ASAN_ENV) sh scripts/run-tests.sh $(ASAN_BUILD) --no-suite sandbox --no-suite kvm
	$(ASAN_ENV) meson test -C $(ASAN_BUILD) --no-rebuild $(SAN_SANDBOX_TESTS)

test-tsan:
	@[ -f $(TSAN_BUILD)/build.ninja ] || meson setup $(TSAN_BUILD) $(MESON_OPTS) \
		-Db_sanitize=thread -Db_lundef=false
	ninja -C $(TSAN_BUILD)
	$(TSAN_ENV) sh scripts/run-tests.sh $(TSAN_BUILD) --no-suite sandbox --no-suite kvm
	$(TSAN_ENV) meson test -C $(TSAN_BUILD) --no-rebuild $(SAN_SANDBOX_TESTS)

# memcheck on the host (not the plugins) in the suites that run it: host, hostile, kvm.
test-valgrind:
	@[ -f $(VALGRIND_BUILD)/build.ninja ] || meson setup $(VALGRIND_BUILD) $(MESON_OPTS) \
		-Dbuildtype=debug
	ninja -C $(VALGRIND_BUILD)
	sh tests/hostile/valgrind-host.sh $(VALGRIND_BUILD) --suite host --suite hostile --suite kvm

# The libFuzzer targets (clang, ASan+UBSan; fuzz/meson.build).  Only they are built in
# $(FUZZ_BUILD): its test run takes just the 'fuzz' suite.
FUZZ_TARGETS = fuzz-wire fuzz-main-request fuzz-vcpu-request fuzz-lib-response fuzz-lib-shm
fuzz-build: deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) $(MESON_OPTS) \
		-Dfuzz=enabled -Db_lundef=false
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/,$(FUZZ_TARGETS))

# Long fuzzing runs, one target after the other at the lowest priority; new inputs stay in
# $(FUZZ_BUILD)/fuzz/<target>-corpus.
fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
		nice -n 19 sh fuzz/run-fuzz.sh $(FUZZ_BUILD)/fuzz/$$t fuzz/corpus/$$t \
			fuzz/regressions/$$t $(CURDIR)/$(FUZZ_BUILD)/fuzz/$$t-corpus \
			$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
