#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs the named test runs, one after the other, and ends with one line
# "N passed, N failed, N skipped" counting all of them.  Each run's build
# directory must be configured and built already (the Makefile does it).
#
#   plain     every suite of $BUILD (gcc, --werror)
#   fuzz      suite 'fuzz' of $FUZZ_BUILD: each libFuzzer target replays its
#             regression inputs, then fuzzes ~25 s (clang, ASan+UBSan)
#   asan      every suite of $ASAN_BUILD (-fsanitize=address,undefined)
#   tsan      every suite of $TSAN_BUILD (-fsanitize=thread)
#   valgrind  suites host, hostile and kvm-unjailed of $VALGRIND_BUILD with
#             the host under memcheck (tests/hostile/valgrind-host.sh); valgrind
#             has no seccomp(2), which the jail's child (still under valgrind
#             until it execs the plugin) needs, so not the jailed kvm suite
#
# The sanitized plugins cannot run under the default seccomp policy, which
# (rightly) kills the sanitizer runtime's extra system calls: the sanitizer
# runs leave out the jailed kvm suites (kvm, kvm-crosvm, kvm-crosvm-pipe; their
# tests run unjailed in kvm-unjailed
# and kvm-pipe) and take the sandbox suite's other tests by name.
# Usage: test-all.sh RUN...
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
BUILD=${BUILD:-build}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
TSAN_BUILD=${TSAN_BUILD:-build-tsan}
VALGRIND_BUILD=${VALGRIND_BUILD:-build-valgrind}
SAN_SANDBOX_TESTS="jail policy"

status=0
logs=""
mtest() {
	meson test --no-rebuild --print-errorlogs "$@" || status=1
}

# handle_segv=0: the plugins that crash on purpose (kvm neg-crash, hostile crash-in-guest)
# must die by SIGSEGV as their tests expect; verify_asan_link_order=0 admits the hostile
# suite's preloaded leak checker.
asan_env() {
	env ASAN_OPTIONS=handle_segv=0:verify_asan_link_order=0:detect_leaks=1:strict_string_checks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LSAN_OPTIONS=suppressions="$top/tests/hostile/lsan.supp" "$@"
}
# TSan cannot share the process with the uninstrumented leak checker; a report makes the
# process exit 66, which every runner sees as a wrong status.
tsan_env() {
	env TSAN_OPTIONS=exitcode=66:second_deadlock_stack=1:suppressions="$top/tests/hostile/tsan.supp" \
		HOSTILE_NO_LEAKCHECK=1 "$@"
}

for run in "$@"; do
	echo "=== test run: $run"
	case $run in
	plain)
		mtest -C "$BUILD"
		logs="$logs $BUILD/meson-logs/testlog.json"
		;;
	fuzz)
		mtest -C "$FUZZ_BUILD" --suite fuzz
		logs="$logs $FUZZ_BUILD/meson-logs/testlog.json"
		;;
	asan | tsan)
		b=$ASAN_BUILD
		[ "$run" = tsan ] && b=$TSAN_BUILD
		# shellcheck disable=SC2086 # test names
		${run}_env meson test --no-rebuild --print-errorlogs -C "$b" --no-suite sandbox \
			--no-suite kvm --no-suite kvm-crosvm --no-suite kvm-crosvm-pipe || status=1
		# shellcheck disable=SC2086
		${run}_env meson test --no-rebuild --print-errorlogs -C "$b" \
			--logbase testlog-sandbox $SAN_SANDBOX_TESTS || status=1
		logs="$logs $b/meson-logs/testlog.json $b/meson-logs/testlog-sandbox.json"
		;;
	valgrind)
		sh tests/hostile/valgrind-host.sh "$VALGRIND_BUILD" --suite host --suite hostile \
			--suite kvm-unjailed || status=1
		logs="$logs $VALGRIND_BUILD/meson-logs/testlog.json"
		;;
	*)
		echo "test-all.sh: unknown run '$run'" >&2
		exit 1
		;;
	esac
done
# shellcheck disable=SC2086 # one argument per log
python3 scripts/count-tests.py $logs || status=1
exit $status
