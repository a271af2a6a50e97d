#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Checks that the kvm suite would notice if any crosvm.h function did nothing:
# for each of them, an LD_PRELOAD shim replaces it with a function that
# returns 0 and touches nothing, and at least one test must then fail.
#
#   tests/plugins/check-coverage.sh [BUILD_DIR]      (default: build)
#
# Takes a few minutes (a no-op can make a plugin wait for its 8 s watchdog).
# Not part of `meson test`: it needs a C compiler at run time and /dev/kvm.
# Prints one line per function and exits 1 if any function went unnoticed.
set -u

build=$(cd "${1:-build}" && pwd) || exit 2
src=$(cd "$(dirname "$0")/../.." && pwd)
runner=$src/tests/plugins/run-plugin-test.sh
plugvm=$build/host/plugvm
cc=${CC:-cc}

if ! (exec 3<>/dev/kvm) 2>/dev/null; then
	echo "SKIP: /dev/kvm is not usable" >&2
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plugvm-coverage.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# Calling an int function through a no-argument definition is harmless on x86-64.
printf 'int FN(void);\nint FN(void) { return 0; }\n' >"$tmp/shim.c"

tests="adder io-read ioevent irqfd irq-routing dirty-log async-write hint vm-state vcpu-state
kvm-info threads smp pause"
if (exec 3<>/dev/net/tun) 2>/dev/null; then
	tests="$tests net-config"
fi

missed=0
for f in $(sed -n 's/^\(int\|bool\) \(crosvm_[a-z_]*\)(.*/\2/p' "$src/include/crosvm.h"); do
	"$cc" -shared -fPIC -DFN="$f" -o "$tmp/$f.so" "$tmp/shim.c" || exit 1
	caught=
	for t in $tests; do
		set --
		case $t in
		smp) set -- --cpus 4 ;;
		net-config)
			set -- --host-ip 100.115.92.5 --netmask 255.255.255.252 \
				--mac de:21:e8:47:6b:6a ;;
		esac
		LD_PRELOAD=$tmp/$f.so "$runner" --timeout 15 "$plugvm" \
			"$build/tests/plugins/plugin-$t" "$@" >"$tmp/out" 2>&1
		# A skip is not a detection.
		case $? in
		0 | 77) ;;
		*) caught=$t; break ;;
		esac
	done
	if [ -n "$caught" ]; then
		echo "$f: caught by $caught"
	else
		echo "$f: NOT CAUGHT"
		missed=1
	fi
done
exit $missed
