#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# The jail through the real host: probes run as plugins under
# "plugvm run --plugin ..." (jailed by default), and bad sandbox options.
#
#   run-plugvm.sh PLUGVM PROBE PERMISSIVE-DIR [HELLO-SERIAL]
#
# Exit status: 0 pass, 1 fail, 77 skip.
set -u
plugvm=$1 probe=$2 permissive=$3 hello=${4:-}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0

if ! unshare -U -p -m -n --fork true 2>/dev/null; then
	echo "SKIP: user namespaces are not available"
	exit 77
fi

# expect STATUS STDERR-ERE-OR-EMPTY ERROR-LINES-OR-EMPTY -- plugvm args...
expect() {
	want=$1 pattern=$2 lines=$3
	shift 4
	timeout -k 5 30 "$plugvm" run "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	ok=1
	[ "$got" = "$want" ] || ok=0
	if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; then ok=0; fi
	if [ -n "$lines" ] && [ "$(grep -c 'error:' "$tmp/err")" != "$lines" ]; then ok=0; fi
	if [ $ok = 1 ]; then
		echo "ok: plugvm run $*"
	else
		echo "FAIL: plugvm run $* (status $got, want $want${pattern:+, stderr ~ /$pattern/}${lines:+, $lines error line(s)})"
		sed 's/^/  | /' "$tmp/err" "$tmp/out"
		fails=$((fails + 1))
	fi
}

# Jailed by default, and the jail holds.
expect 0 "" "" -- --plugin "$probe" -p identity -p "$probe"
expect 0 "" "" -- --plugin "$probe" -p read-file -p /etc/hostname -p /etc/passwd -p "$tmp/out"
expect 0 "" "" -- --plugin "$probe" -p kvm --seccomp-policy-dir "$permissive"
expect 0 "" "" -- --plugin "$probe" -p mount --seccomp-policy-dir "$permissive"
expect 0 "" "" -- --plugin "$probe" -p unshare --seccomp-policy-dir "$permissive"
expect 0 "" "" -- --plugin "$probe" -p forkbomb --seccomp-policy-dir "$permissive"
expect 0 "" "" -- --plugin "$probe" -p signal-host -p "$$" --seccomp-policy-dir "$permissive"

# A forbidden system call kills the plugin, and the host names it and fails.  The filter's
# default action hands the call to the host (SECCOMP_RET_USER_NOTIF), so the naming needs
# neither the kernel log nor luck with its rate limit: exact lines, every time, for the
# plugin's children too, and with /dev/kmsg unreadable.
named="^plugvm: error: plugin killed: its seccomp policy does not allow system call personality \(135\)$"
child_named="^plugvm: error: plugin killed: its seccomp policy does not allow system call getsid \(124\), made by process [0-9]+, a descendant of the plugin$"
logged() {
	echo "^plugvm: warn: the plugin made system call $1, outside its seccomp policy \(allowed by --seccomp-log-failures\)$"
}
# count ERE N: exactly N stderr lines of the last run match.
count() {
	n=$(grep -Ec -- "$1" "$tmp/err")
	if [ "$n" != "$2" ]; then
		echo "FAIL: $n lines match /$1/, want $2"
		fails=$((fails + 1))
	fi
}
for try in 1 2; do
	expect 1 "$named" 1 -- --plugin "$probe" -p forbidden
	# ... unless failures are only logged: each distinct call once, however often it is made.
	expect 0 "" "" -- --plugin "$probe" -p forbidden4 --seccomp-log-failures
	for call in "personality \(135\)" "getpriority \(140\)" "getpgid \(121\)" "getsid \(124\)"; do
		count "$(logged "$call")" 1
	done
	count "outside its seccomp policy" 4
done
expect 1 "$child_named" 1 -- --plugin "$probe" -p forbidden-child --seccomp-policy-dir "$permissive"
expect 0 "^plugvm: warn: process [0-9]+, a descendant of the plugin, made system call getsid \(124\), outside its seccomp policy" "" -- \
	--plugin "$probe" -p forbidden-child --seccomp-policy-dir "$permissive" --seccomp-log-failures
if [ "$(id -u)" = 0 ] && [ -c /dev/kmsg ]; then
	# The same with the kernel log out of reach: /dev/null mounted over /dev/kmsg.
	timeout -k 5 30 unshare -m sh -c 'mount --bind /dev/null /dev/kmsg && exec "$@"' sh \
		"$plugvm" run --plugin "$probe" -p forbidden4 --seccomp-log-failures >"$tmp/out" 2>"$tmp/err"
	st=$?
	[ $st = 0 ] || { echo "FAIL: forbidden4 without /dev/kmsg: status $st"; fails=$((fails + 1)); }
	count "outside its seccomp policy" 4
	timeout -k 5 30 unshare -m sh -c 'mount --bind /dev/null /dev/kmsg && exec "$@"' sh \
		"$plugvm" run --plugin "$probe" -p forbidden >"$tmp/out" 2>"$tmp/err"
	count "$named" 1
	echo "ok: named without /dev/kmsg"
fi

# stdin is /dev/null in the jail unless --plugin-stdin hands over the host's.
printf 'typed into the jail' >"$tmp/typed"
expect 0 "" "" -- --plugin "$probe" -p stdin -p "typed into the jail" --plugin-stdin <"$tmp/typed"
expect 0 "" "" -- --plugin "$probe" -p stdin -p "" <"$tmp/typed"

# --disable-sandbox really disables it (the probe sees the host's files).
expect 1 "" "" -- --disable-sandbox --plugin "$probe" -p read-file -p /etc/passwd

# Mounts from the command line.
mkdir "$tmp/scratch"
expect 0 "" "" -- --plugin "$probe" -p writable -p /scratch --plugin-mount "$tmp/scratch:/scratch:true"
[ -f "$tmp/scratch/probe-was-here" ] || { echo "FAIL: writable mount did not reach the host"; fails=$((fails + 1)); }
rm -f "$tmp/scratch/probe-was-here"
expect 0 "" "" -- --plugin "$probe" -p readonly -p /scratch --plugin-mount "$tmp/scratch:/scratch"
printf '%s:/scratch:true # comment\n\n' "$tmp/scratch" >"$tmp/mounts"
expect 0 "" "" -- --plugin "$probe" -p writable -p /scratch --plugin-mount-file "$tmp/mounts"

# Bad sandbox options: a clear error, exit 1 (35 for parse errors), no plugin.
mkdir "$tmp/policy"
printf 'read: 1\nwrite: arg7 == 1\n' >"$tmp/policy/plugin.policy"
expect 1 "bad seccomp policy $tmp/policy/plugin.policy:2: expected argN" "" -- \
	--plugin "$probe" -p exit -p 0 --seccomp-policy-dir "$tmp/policy"
expect 1 "cannot read seccomp policy" "" -- --plugin "$probe" -p exit -p 0 --seccomp-policy-dir "$tmp/scratch"
expect 1 "creating mount point" "" -- --plugin "$probe" -p exit -p 0 --plugin-mount "/dev/null:/usr/lib/plugvm-nope/x"
if "$plugvm" run --plugin "$probe" --plugin-mount /nonexistent/plugvm >"$tmp/out" 2>"$tmp/err"; then
	echo "FAIL: a nonexistent --plugin-mount source was accepted"; fails=$((fails + 1))
elif [ "$(wc -l <"$tmp/err")" != 1 ]; then
	echo "FAIL: --plugin-mount /nonexistent: want one error line"; cat "$tmp/err"; fails=$((fails + 1))
else
	echo "ok: --plugin-mount /nonexistent rejected: $(cat "$tmp/err")"
fi

# A real guest, jailed.
if [ -n "$hello" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	expect 0 "" "" -- --plugin "$hello"
	grep -q "Hello from a plugvm guest" "$tmp/out" || { echo "FAIL: hello-serial output missing"; fails=$((fails + 1)); }
fi

[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
[ $fails = 0 ]
