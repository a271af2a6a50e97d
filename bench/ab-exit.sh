#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# The exit round trip of two builds against each other (docs/benchmarks.md),
# for a change that must not make it slower:
#
#   bench/ab-exit.sh BASE_BUILD NEW_BUILD
#
# Each build's own host, library and bench-plugin run the pio loop on one vcpu,
# over the shared-memory channel and the pipes, alternating base and new
# BENCH_REPEAT times (default 5) so that both see the same machine; the figure
# is the median ns per exit, and the ratio is new / base.  BENCH_ITERS,
# BENCH_RUNS as in run-bench.sh.
set -u
base=${1:?usage: ab-exit.sh BASE_BUILD NEW_BUILD}
new=${2:?usage: ab-exit.sh BASE_BUILD NEW_BUILD}
iters=${BENCH_ITERS:-20000}
runs=${BENCH_RUNS:-5}
repeat=${BENCH_REPEAT:-5}

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "no usable /dev/kvm: skipping"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plugvm-ab.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# one BUILD CHANNEL: ns per exit of one run.
one() {
	env CROSVM_PLUGIN_CHANNEL="$2" timeout -k 5 300 "$1/host/plugvm" run --disable-sandbox \
		--plugin "$1/bench/bench-plugin" -p pio -p "$iters" -p "$runs" >"$tmp/out" 2>"$tmp/err" || {
		echo "ab-exit: $1 ($2) failed:" >&2
		cat "$tmp/err" >&2
		return 1
	}
	awk -F'[= ]' '/^vcpu=/ { print $4 }' "$tmp/out"
}

echo "exit round trip, base $base against new $new: $iters exits x $runs runs, $repeat alternations"
printf '%-6s %10s %10s %10s\n' channel "base ns" "new ns" new/base
for ch in shm pipe; do
	rm -f "$tmp/base" "$tmp/new"
	i=0
	while [ $i -lt "$repeat" ]; do
		one "$base" "$ch" >>"$tmp/base" || exit 1
		one "$new" "$ch" >>"$tmp/new" || exit 1
		i=$((i + 1))
	done
	b=$(median <"$tmp/base")
	n=$(median <"$tmp/new")
	printf '%-6s %10s %10s %10s\n' "$ch" "$b" "$n" \
		"$(awk -v a="$n" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')"
done
