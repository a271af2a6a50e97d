#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs plugvm with one hostile-plugin scenario and checks the host's exact
# reaction: exit status, exactly one "plugvm: error:" line containing the
# expected text (none for status 0), no failed plugin check, no process of
# the plugin left, and (through leakcheck.so) no descriptor or thread left
# in the host when it exits.  Also bounds the run time.
#
# Usage: run-hostile.sh PLUGVM PLUGIN LEAKCHECK_SO SCENARIO STATUS ERROR_TEXT ALSO_TEXT [HOST ARGS...]
# ALSO_TEXT, when not empty, must appear in the host's stderr too (e.g. a warning).
# Environment: HOSTILE_WRAPPER (e.g. valgrind ...), HOSTILE_NO_LEAKCHECK=1 (no preload, as
# under TSan), HOSTILE_TIMEOUT (seconds, default 30), HOSTILE_SKIP (scenarios to skip, with
# HOSTILE_SKIP_WHY), HOSTILE_SKIP_NOFILE=REASON (skip the cases that set HOSTILE_NOFILE).
set -u
plugvm=$1 plugin=$2 leakso=$3 scenario=$4 want=$5 text=$6 also=$7
shift 7

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "no usable /dev/kvm"
	exit 77
fi
for s in ${HOSTILE_SKIP:-}; do
	if [ "$s" = "$scenario" ]; then
		echo "skipped: ${HOSTILE_SKIP_WHY:-listed in HOSTILE_SKIP}"
		exit 77
	fi
done

if [ -n "${HOSTILE_NOFILE:-}" ] && [ -n "${HOSTILE_SKIP_NOFILE:-}" ]; then
	echo "skipped: $HOSTILE_SKIP_NOFILE"
	exit 77
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export HOSTILE_DIR="$dir"
preload=
if [ -z "${HOSTILE_NO_LEAKCHECK:-}" ]; then
	preload=$leakso
	export HOSTILE_LEAKCHECK="$dir/leak"
fi
fail() {
	echo "--- host stderr (first 20 KiB) ---"
	head -c 20000 "$dir/err"
	echo "FAIL: $scenario: $*"
	exit 1
}

t0=$(date +%s)
# shellcheck disable=SC2086
# HOSTILE_NOFILE=SOFT:[HARD] starts the host with that open-file limit.
limit=
[ -n "${HOSTILE_NOFILE:-}" ] && limit="prlimit --nofile=$HOSTILE_NOFILE"
# shellcheck disable=SC2086
LD_PRELOAD=$preload timeout -k 5 "${HOSTILE_TIMEOUT:-30}" $limit ${HOSTILE_WRAPPER:-} "$plugvm" run \
	--disable-sandbox --plugin "$plugin" -p "$scenario" "$@" 2>"$dir/err"
status=$?
t1=$(date +%s)

# STATUS '*' is for cases whose outcome is not fixed: 0 or 1, at most one error line.
if [ "$want" = '*' ]; then
	[ "$status" = 0 ] || [ "$status" = 1 ] || fail "plugvm exited $status, expected 0 or 1"
	[ "$(grep -c '^plugvm: error: ' "$dir/err")" -le 1 ] || fail "more than one error line"
	want=any
fi
[ "$want" = any ] || [ "$status" = "$want" ] || fail "plugvm exited $status, expected $want"
errors=$(grep -c '^plugvm: error: ' "$dir/err")
if [ "$want" = any ]; then
	:
elif [ "$want" = 0 ]; then
	[ "$errors" = 0 ] || fail "$errors error lines, expected none"
else
	[ "$errors" = 1 ] || fail "$errors error lines, expected exactly one"
	grep '^plugvm: error: ' "$dir/err" | grep -qF -- "$text" ||
		fail "the error line lacks '$text'"
fi
[ -z "$also" ] || grep -qF -- "$also" "$dir/err" || fail "stderr lacks '$also'"
grep -q 'CHECK FAILED\|hostile: fatal' "$dir/err" && fail "a plugin check failed"
grep -q 'ERROR: AddressSanitizer\|runtime error:\|WARNING: ThreadSanitizer' "$dir/err" &&
	fail "sanitizer report"

if [ -n "$preload" ]; then
	[ -s "$dir/leak" ] || fail "no leak report: the host did not exit normally"
	grep -q '^fds=0 threads=1$' "$dir/leak" || fail "host left behind: $(cat "$dir/leak")"
fi

# No process the plugin made may survive the host (zombies included).
for pid in $(cat "$dir/pids" 2>/dev/null); do
	i=0
	while [ -e "/proc/$pid" ] && [ $i -lt 20 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "/proc/$pid" ] && fail "process $pid of the plugin survived the host ($(cat /proc/$pid/stat 2>/dev/null))"
done
[ -s "$dir/pids" ] || fail "the plugin never started"

echo "ok: $scenario: status $status in $((t1 - t0)) s$([ "$want" = 0 ] || [ "$want" = any ] || echo ", '$text'")"
exit 0
