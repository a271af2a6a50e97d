#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# The dirty-log benchmark (docs/benchmarks.md):
#
#   bench/run-dirty-bench.sh [BUILD_DIR]
#
# Environment: DIRTY_GIB (guest memory, 1-4, default 4), DIRTY_ROUNDS (default 5).
#
# ns per GiB to read a fully dirty and a clean log: KVM_GET_DIRTY_LOG in-process
# (plain, and with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 as plugvm's host uses it),
# against crosvm_memory_get_dirty_log() through plugvm, in the shared memfd and
# inline; ratios against the in-process plain figure of the same run.
set -u
build=${1:-build}
gib=${DIRTY_GIB:-4}
rounds=${DIRTY_ROUNDS:-5}

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "no usable /dev/kvm: skipping"
	exit 77
fi

run_floor() {
	"$build/bench/bench-dirty-floor" "$1" "$gib" "$rounds"
}
run_plugin() {
	env CROSVM_DIRTY_LOG="$1" "$build/host/plugvm" run --disable-sandbox \
		--plugin "$build/bench/bench-dirty-plugin" -p "$gib" -p "$rounds"
}

echo "dirty-log benchmark: $gib GiB of guest memory, every page dirtied per round, median of $rounds rounds"
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo
plain=$(run_floor plain) || exit 1
manual=$(run_floor manual) || exit 1
shared=$(run_plugin shared) || exit 1
inline=
if [ "$gib" -le 8 ]; then
	inline=$(run_plugin inline) || exit 1
fi
pd=$(echo "$plain" | awk '{ print $2 }')
pc=$(echo "$plain" | awk '{ print $4 }')
printf '%-40s %14s %14s %10s %10s\n' "ns per GiB" "fully dirty" "clean" "dirty/base" "clean/base"
row() {
	echo "$2" | awk -v name="$1" -v pd="$pd" -v pc="$pc" \
		'{ printf "%-40s %14d %14d %10.2f %10.2f\n", name, $2, $4, $2 / pd, $4 / pc }'
}
row "in-process KVM_GET_DIRTY_LOG (base)" "$plain"
row "in-process, manual protect + clear" "$manual"
row "plugvm, shared memfd" "$shared"
[ -n "$inline" ] && row "plugvm, inline (crosvm's form)" "$inline"
exit 0
