#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""POST-time benchmark: wall time from starting the VMM to SeaBIOS's "No bootable device."

Runs plugvm with the pc example plugin and, when qemu-system-x86_64 is installed, QEMU with the
same bios.bin, alternating, and reports medians and the ratio plugvm / QEMU.

  bench-pc.py PLUGVM PC_PLUGIN [--runs N] [--bios FILE] [--markdown FILE]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

MARK = b"No bootable device."


def time_to_mark(cmd, timeout):
    """Starts cmd, returns seconds until MARK appears on its stdout, then stops it."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    buf = b""
    found = None
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() - t0 < timeout:
        try:
            chunk = p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            buf = (buf + chunk)[-4096:]
            if MARK in buf:
                found = time.monotonic() - t0
                break
        elif chunk == b"" or p.poll() is not None:
            # EOF: the process is gone; a last read may still hold the mark.
            if p.poll() is not None:
                break
        time.sleep(0.002)
    # plugvm exits by itself after the mark; QEMU waits forever and is told to stop.
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugvm")
    ap.add_argument("pc")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bios", default="/usr/share/seabios/bios.bin")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--markdown", help="also write the results as Markdown to this file")
    args = ap.parse_args()

    if not os.path.exists(args.bios):
        print(f"SKIP: {args.bios} missing (apt-get install seabios)")
        return 77
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm not usable")
        return 77

    systems = {
        "plugvm + pc": [args.plugvm, "run", "--disable-sandbox", "--plugin", args.pc, "--",
                        "--bios", args.bios, "--mem", "128", "--timeout", str(args.timeout)],
        # The same with every debug console byte a synchronous round trip to the plugin.
        "plugvm + pc --sync-debugcon": [
            args.plugvm, "run", "--disable-sandbox", "--plugin", args.pc, "--", "--bios",
            args.bios, "--mem", "128", "--timeout", str(args.timeout), "--sync-debugcon"],
    }
    qemu = shutil.which("qemu-system-x86_64")
    debugcon = ["-chardev", "stdio,id=dbg", "-device", "isa-debugcon,iobase=0x402,chardev=dbg"]
    if qemu:
        # QEMU's default pc machine: VGA, IDE CD-ROM and floppy drive, whose probing and
        # boot attempts dominate its POST time.
        systems["qemu -M pc (defaults)"] = [
            qemu, "-M", "pc", "-accel", "kvm", "-m", "128", "-bios", args.bios,
            "-nographic", "-display", "none", "-net", "none", "-serial", "none",
            "-monitor", "none"] + debugcon
        # The closest QEMU machine to ours: no default devices (no VGA, CD-ROM, floppy drive).
        systems["qemu -M pc -nodefaults"] = [
            qemu, "-M", "pc", "-accel", "kvm", "-m", "128", "-bios", args.bios,
            "-nodefaults", "-nographic", "-display", "none"] + debugcon

    times = {name: [] for name in systems}
    misses = {name: 0 for name in systems}
    for _ in range(args.runs):
        for name, cmd in systems.items():
            t = time_to_mark(cmd, args.timeout)
            if t is None:
                misses[name] += 1
            else:
                times[name].append(t)

    base = "plugvm + pc"
    lines = ["| system | median s | min s | max s | runs | ratio plugvm / system |",
             "|---|---|---|---|---|---|"]
    med = {n: statistics.median(v) for n, v in times.items() if v}
    for name in systems:
        v = times[name]
        if not v:
            lines.append(f"| {name} | - | - | - | 0/{args.runs} | - |")
            continue
        ratio = f"{med[base] / med[name]:.2f}" if base in med and name != base else "1.00"
        lines.append(f"| {name} | {med[name]:.3f} | {min(v):.3f} | {max(v):.3f} | "
                     f"{len(v)}/{args.runs} | {ratio} |")
    print("\n".join(lines))
    cmds = "\n".join(f"    {name}: {' '.join(cmd)}" for name, cmd in systems.items())
    print("commands:\n" + cmds)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n\nCommands (time to the first \"No bootable device.\" "
                    "on the debug console, port 0x402):\n\n```\n" + cmds + "\n```\n")
    return 0 if base in med else 1


if __name__ == "__main__":
    sys.exit(main())
