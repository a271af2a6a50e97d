#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Whole runs with and without the host's own seccomp filters (docs/benchmarks.md).

  host-seccomp-runs.py PLUGVM PLUGIN [--runs N]

Runs PLUGIN (a plugin that boots a guest and exits, e.g. build/examples/hello-serial) under
PLUGVM jailed and unjailed, each with the filters on and with --no-host-seccomp, interleaved,
N times each; prints the median wall time and the median CPU time (user + system of the host
and everything it started) of each, and the ratio on / off.
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugvm")
    ap.add_argument("plugin")
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()

    cases = {
        ("jailed", "on"): [],
        ("jailed", "off"): ["--no-host-seccomp"],
        ("unjailed", "on"): ["--disable-sandbox"],
        ("unjailed", "off"): ["--disable-sandbox", "--no-host-seccomp"],
    }
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for _ in range(args.runs):
        for k, extra in cases.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run([args.plugvm, "run"] + extra + ["--plugin", args.plugin],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            t1 = time.perf_counter()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                sys.stderr.write(p.stderr.decode(errors="replace"))
                print("host-seccomp-runs: %s %s exited %d" % (k[0], k[1], p.returncode))
                return 1
            wall[k].append((t1 - t0) * 1e3)
            cpu[k].append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e3)

    print("host seccomp filters, whole runs of %s, %d interleaved runs each" %
          (args.plugin, args.runs))
    print("%-9s %-8s %12s %12s" % ("", "filters", "wall ms", "cpu ms"))
    for k in cases:
        print("%-9s %-8s %12.2f %12.2f" % (k[0], k[1], statistics.median(wall[k]),
                                           statistics.median(cpu[k])))
    for mode in ("jailed", "unjailed"):
        on, off = (mode, "on"), (mode, "off")
        print("%-9s on/off   wall %.2f, cpu %.2f" % (
            mode, statistics.median(wall[on]) / statistics.median(wall[off]),
            statistics.median(cpu[on]) / statistics.median(cpu[off])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
