#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs plugvm with the raw-protocol test plugin and checks the exit status and,
# optionally, that stderr contains a given text.
# Usage: run-plugin-test.sh PLUGVM PLUGIN SCENARIO STATUS [STDERR_TEXT] [-- EXTRA PLUGVM ARGS]
set -u
plugvm=$1 plugin=$2 scenario=$3 want=$4
text=${5:-}
shift 5 2>/dev/null || shift $#
[ "${1:-}" = "--" ] && shift

# 77 = skipped: no usable KVM on this machine.
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "no usable /dev/kvm"
	exit 77
fi

err=$(mktemp)
trap 'rm -f "$err"' EXIT
timeout -k 5 30 "$plugvm" run --disable-sandbox --plugin "$plugin" -p "$scenario" "$@" 2>"$err"
status=$?
cat "$err" >&2
if [ "$status" != "$want" ]; then
	echo "FAIL: $scenario: plugvm exited $status, expected $want"
	exit 1
fi
if [ -n "$text" ] && ! grep -qF -- "$text" "$err"; then
	echo "FAIL: $scenario: stderr lacks '$text'"
	exit 1
fi
if grep -q "CHECK FAILED" "$err"; then
	echo "FAIL: $scenario: a plugin check failed"
	exit 1
fi
echo "ok: $scenario"
exit 0
