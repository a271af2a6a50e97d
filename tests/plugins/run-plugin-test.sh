#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs one KVM integration test: the real plugvm host with a test plugin.
#
#   run-plugin-test.sh [options] PLUGVM PLUGIN [plugvm run options...]
#
# Options (before PLUGVM):
#   --expect-exit N        host exit status to expect (default 0)
#   --expect-stderr ERE    an extended regex that some stderr line must match
#   --expect-stdout TEXT   a fixed string that must appear on stdout
#   --forbid-stderr ERE    an extended regex that no stderr line may match
#   --needs-tun            skip unless /dev/net/tun is usable
#   --timeout S            kill the host after S seconds (default 20)
#
# Environment:
#   PLUGVM_TEST_SANDBOX=1        run jailed: no --disable-sandbox
#   PLUGVM_TEST_SANDBOX_ARGS=..  extra host options for jailed runs (policy dir, mounts)
#   PLUGVM_TEST_VERBOSE=1        print the host's output even on success
#
# Exit status: 0 pass, 1 fail, 77 skip (meson's convention).  The test
# plugins print "TEST FAIL" lines on failure (always a failure here, whatever
# the host's status) and exit 77 after a "TEST SKIP: why" line when a KVM
# feature is missing, which the host reports as "plugin exited with error: 77".
set -u

expect_exit=0
expect_stderr=
expect_stdout=
forbid_stderr=
needs_tun=0
timeout_s=20

while [ $# -gt 0 ]; do
	case "$1" in
	--expect-exit) expect_exit=$2; shift 2 ;;
	--expect-stderr) expect_stderr=$2; shift 2 ;;
	--expect-stdout) expect_stdout=$2; shift 2 ;;
	--forbid-stderr) forbid_stderr=$2; shift 2 ;;
	--needs-tun) needs_tun=1; shift ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "run-plugin-test: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done

if [ $# -lt 2 ]; then
	echo "usage: run-plugin-test.sh [options] PLUGVM PLUGIN [plugvm run options...]" >&2
	exit 2
fi
plugvm=$1
plugin=$2
shift 2

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# Opening for read and write is what the host does; a node we cannot open is as good as none.
if [ ! -c /dev/kvm ]; then
	skip "/dev/kvm is missing"
fi
if ! (exec 3<>/dev/kvm) 2>/dev/null; then
	skip "/dev/kvm cannot be opened read-write"
fi
if [ $needs_tun = 1 ]; then
	if [ ! -c /dev/net/tun ] || ! (exec 3<>/dev/net/tun) 2>/dev/null; then
		skip "/dev/net/tun is missing or not accessible"
	fi
	# Creating and configuring a tap needs CAP_NET_ADMIN (bit 12) in the effective set.
	capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
	if [ -z "$capeff" ] || [ $(( (0x$capeff >> 12) & 1 )) -ne 1 ]; then
		skip "creating a tap needs CAP_NET_ADMIN"
	fi
fi

if [ "${PLUGVM_TEST_SANDBOX:-0}" = 1 ]; then
	# Word splitting of the extra arguments is intended.
	# shellcheck disable=SC2086
	set -- ${PLUGVM_TEST_SANDBOX_ARGS:-} "$@"
else
	set -- --disable-sandbox "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plugvm-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s%N)
# -k: a host that ignores SIGTERM (or is stopped) still goes away.
timeout -k 3 "$timeout_s" "$plugvm" run --plugin "$plugin" "$@" \
	>"$tmp/stdout" 2>"$tmp/stderr" </dev/null
status=$?
end=$(date +%s%N)
elapsed_ms=$(( (end - start) / 1000000 ))

failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}

show() {
	echo "--- command: $plugvm run --plugin $plugin $* (exit $status, ${elapsed_ms} ms)" >&2
	echo "--- stdout:" >&2
	cat "$tmp/stdout" >&2
	echo "--- stderr:" >&2
	cat "$tmp/stderr" >&2
	echo "---" >&2
}

if [ $status -ne 0 ] && grep -q "TEST SKIP" "$tmp/stderr" &&
	grep -q "plugin exited with error: 77" "$tmp/stderr"; then
	show "$@"
	skip "$(sed -n 's/.*TEST SKIP: //p' "$tmp/stderr" | head -n 1)"
fi

if grep -q "TEST FAIL" "$tmp/stderr"; then
	fail "the plugin reported a failure:"
	grep "TEST FAIL" "$tmp/stderr" >&2
fi
if [ $status -eq 124 ] || [ $status -eq 137 ]; then
	fail "the host did not finish within ${timeout_s} s"
elif [ $status -ne "$expect_exit" ]; then
	fail "host exit status $status, expected $expect_exit"
fi
if [ -n "$expect_stderr" ] && ! grep -E -q -- "$expect_stderr" "$tmp/stderr"; then
	fail "no stderr line matches /$expect_stderr/"
fi
if [ -n "$forbid_stderr" ] && grep -E -q -- "$forbid_stderr" "$tmp/stderr"; then
	fail "a stderr line matches /$forbid_stderr/"
fi
if [ -n "$expect_stdout" ] && ! grep -F -q -- "$expect_stdout" "$tmp/stdout"; then
	fail "stdout lacks \"$expect_stdout\""
fi

if [ $failed -ne 0 ] || [ "${PLUGVM_TEST_VERBOSE:-0}" = 1 ]; then
	show "$@"
fi
[ $failed -eq 0 ] && echo "PASS: $(basename "$plugin") $* (${elapsed_ms} ms)"
exit $failed
