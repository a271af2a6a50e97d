#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# The vcpu channel benchmarks (docs/benchmarks.md):
#
#   bench/run-bench.sh [BUILD_DIR]
#
# Environment: BENCH_ITERS (exits per run, default 20000), BENCH_RUNS (timed
# runs per process, default 5; each process reports its median), BENCH_REPEAT
# (processes per figure, default 3; the figure is their median),
# BENCH_CPUS ("1 2 4").
#
# Every figure is nanoseconds per round trip; ratios are against the
# in-process floor measured in the same invocation.
set -u
build=${1:-build}
iters=${BENCH_ITERS:-20000}
runs=${BENCH_RUNS:-5}
repeat=${BENCH_REPEAT:-3}
cpus=${BENCH_CPUS:-1 2 4}

plugvm=$build/host/plugvm
plugin=$build/bench/bench-plugin
floor=$build/bench/bench-floor
pingpong=$build/bench/bench-pingpong
stamp=$build/bench/bench-stamp

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "no usable /dev/kvm: skipping"
	exit 77
fi

host_extra=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plugvm-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# plugin_run CHANNEL MODE NCPUS: runs the host once; stdout of the plugin in $tmp/out.
plugin_run() {
	if [ "$1" = pipe ]; then
		chan="CROSVM_PLUGIN_CHANNEL=pipe"
	else
		chan="CROSVM_PLUGIN_CHANNEL=shm"
	fi
	# shellcheck disable=SC2086 # host_extra: zero or more options
	env "$chan" "$stamp" timeout -k 5 300 "$plugvm" run --disable-sandbox $host_extra --cpus "$3" \
		--plugin "$plugin" -p "$2" -p "$iters" -p "$runs" >"$tmp/out" 2>"$tmp/err"
	st=$?
	if [ $st -ne 0 ]; then
		echo "bench: plugvm ($chan $2, $3 vcpus) exited $st:" >&2
		cat "$tmp/err" >&2
		return 1
	fi
}

# vcpu_figure CHANNEL MODE NCPUS: median over repeats of the mean per-vcpu ns/exit.
vcpu_figure() {
	i=0
	while [ $i -lt "$repeat" ]; do
		plugin_run "$1" "$2" "$3" || return 1
		awk -F'[= ]' '/^vcpu=/ { s += $4; n++ } END { if (n) printf "%.0f\n", s / n }' "$tmp/out"
		grep '^start_to_init_ns=' "$tmp/out" | cut -d= -f2 >>"$tmp/init"
		grep '^host_hwm_kb=' "$tmp/out" | cut -d= -f2 >>"$tmp/hwm"
		i=$((i + 1))
	done | median
}

repeat_cmd() {
	i=0
	while [ $i -lt "$repeat" ]; do
		"$@" || return 1
		i=$((i + 1))
	done | median
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}

echo "plugvm vcpu channel benchmarks: $iters exits x $runs runs, median of $repeat processes"
echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo

pipe_pp=$(repeat_cmd "$pingpong" pipe "$iters" "$runs")
seq_pp=$(repeat_cmd "$pingpong" seqpacket "$iters" "$runs")
echo "raw ping-pong between two processes: pipe $pipe_pp ns, SOCK_SEQPACKET $seq_pp ns"
echo

printf '%-6s %-5s %10s %10s %12s %12s %12s\n' exit vcpus "floor ns" "shm ns" "shm/floor" "pipe ns" "pipe/(floor+pp)"
for mode in pio mmio; do
	for n in $cpus; do
		# MMIO is reported for one vcpu only: the channel cost does not depend on the exit kind.
		[ $mode = mmio ] && [ "$n" != 1 ] && continue
		fl=$(repeat_cmd "$floor" "$mode" "$iters" "$runs" "$n")
		shm=$(vcpu_figure shm "$mode" "$n") || exit 1
		pipe=$(vcpu_figure pipe "$mode" "$n") || exit 1
		printf '%-6s %-5s %10s %10s %12s %12s %12s\n' "$mode" "$n" "$fl" "$shm" \
			"$(ratio "$shm" "$fl")" "$pipe" "$(ratio "$pipe" "$((fl + pipe_pp))")"
	done
done
echo

setirq=$(i=0; while [ $i -lt "$repeat" ]; do plugin_run shm setirq 1 || exit 1;
	grep '^setirq_ns=' "$tmp/out" | cut -d= -f2; i=$((i + 1)); done | median)
echo "main socket: set_irq round trip $setirq ns, SOCK_SEQPACKET ping-pong $seq_pp ns, ratio $(ratio "$setirq" "$seq_pp")"
# API 0.23: one edge on a GSI through an edge irq event (an eventfd write, no round trip)
# against crosvm_set_irq raise + lower (two main-socket round trips), same process.
rm -f "$tmp/edge" "$tmp/pair"
i=0
while [ $i -lt "$repeat" ]; do
	plugin_run shm edgeirq 1 || exit 1
	grep '^edgeirq_ns=' "$tmp/out" | cut -d= -f2 >>"$tmp/edge"
	grep '^setirq_edge_ns=' "$tmp/out" | cut -d= -f2 >>"$tmp/pair"
	i=$((i + 1))
done
edge=$(median <"$tmp/edge")
pair=$(median <"$tmp/pair")
echo "one irq edge: edge irq event write $edge ns, set_irq raise + lower $pair ns, ratio $(ratio "$pair" "$edge")"
echo "host start -> first INIT (exec of plugvm to vcpu 0's INIT event): $(median <"$tmp/init" | awk '{ printf "%.2f ms", $1 / 1e6 }')"
echo "host peak RSS (VmHWM, all runs): median $(median <"$tmp/hwm") KiB, max $(sort -n "$tmp/hwm" | tail -n 1) KiB"

# The host's own seccomp filters (docs/sandbox.md): the same exits and start-up with and without.
echo
printf '%-22s %10s %10s %8s\n' "host seccomp filters" "on" "off" "on/off"
for ch in shm pipe; do
	rm -f "$tmp/init"
	on=$(vcpu_figure "$ch" pio 1) || exit 1
	on_init=$(median <"$tmp/init")
	rm -f "$tmp/init"
	host_extra=--no-host-seccomp
	off=$(vcpu_figure "$ch" pio 1) || exit 1
	off_init=$(median <"$tmp/init")
	host_extra=
	printf '%-22s %10s %10s %8s\n' "pio exit, $ch (ns)" "$on" "$off" "$(ratio "$on" "$off")"
	printf '%-22s %10s %10s %8s\n' "start->INIT, $ch (us)" "$((on_init / 1000))" "$((off_init / 1000))" \
		"$(ratio "$on_init" "$off_init")"
done
