#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Boot-time benchmark: wall time to GRUB's prompt and to the kernel's first console line.

plugvm + pc against QEMU -M pc -nodefaults with the same SeaBIOS, the same GRUB disk
(scripts/mk-grub-disk.sh) and the same kernel and initramfs (scripts/mk-initramfs.sh), in the
same run, alternating; medians and the ratio plugvm / QEMU.

  bench-boot.py PLUGVM PC_PLUGIN SCRIPTS_DIR [--runs N] [--markdown FILE]
"""
import argparse
import glob
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

BIOS = "/usr/share/seabios/bios.bin"
APPEND = "console=ttyS0 earlyprintk=ttyS0 panic=-1"

# time_to_mark() of the POST benchmark, with its mark as a parameter here.
_spec = importlib.util.spec_from_file_location(
    "bench_pc", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-pc.py"))
bench_pc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_pc)


def timed(cmd, mark, timeout):
    bench_pc.MARK = mark
    return bench_pc.time_to_mark(cmd, timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugvm")
    ap.add_argument("pc")
    ap.add_argument("scripts")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--markdown", help="also write the results as Markdown to this file")
    args = ap.parse_args()

    qemu = shutil.which("qemu-system-x86_64")
    kernels = sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"))
    if not qemu or not kernels or not os.path.exists(BIOS):
        print("SKIP: needs qemu-system-x86_64, seabios and linux-image-cloud-amd64")
        return 77
    kernel = kernels[-1]
    tmp = tempfile.mkdtemp(prefix="plugvm-bench-boot-")
    disk, initrd = os.path.join(tmp, "grub.img"), os.path.join(tmp, "initrd.gz")
    subprocess.run([os.path.join(args.scripts, "mk-grub-disk.sh"), disk], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(args.scripts, "mk-initramfs.sh"), initrd], check=True,
                   stdout=subprocess.DEVNULL)

    pc = [args.plugvm, "run", "--disable-sandbox", "--plugin", args.pc, "--", "--bios", BIOS,
          "--mem", "256", "--no-stdin", "--timeout", str(args.timeout)]
    q = [qemu, "-M", "pc", "-accel", "kvm", "-m", "256", "-smp", "1", "-bios", BIOS,
         "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot"]
    # The first line Linux prints on the serial console (earlyprintk) is its banner.
    linux_mark = b"Linux version"
    cases = [
        ("grub>", b"grub>", {
            "plugvm + pc": pc + ["--disk", disk, "--expect", "grub>"],
            "qemu -M pc -nodefaults": q + ["-drive", f"file={disk},format=raw,if=ide,"
                                           "snapshot=on"]}),
        ("kernel's first line", linux_mark, {
            "plugvm + pc": pc + ["--kernel", kernel, "--initrd", initrd, "--append", APPEND,
                                 "--expect", linux_mark.decode()],
            "qemu -M pc -nodefaults": q + ["-kernel", kernel, "-initrd", initrd,
                                           "-append", APPEND]}),
    ]
    lines = ["| to | system | median s | min s | max s | runs | ratio plugvm / QEMU |",
             "|---|---|---|---|---|---|---|"]
    for what, mark, systems in cases:
        times = {name: [] for name in systems}
        for _ in range(args.runs):
            for name, cmd in systems.items():
                t = timed(cmd, mark, args.timeout)
                if t is not None:
                    times[name].append(t)
        med = {n: statistics.median(v) for n, v in times.items() if v}
        for name, v in times.items():
            if not v:
                lines.append(f"| {what} | {name} | - | - | - | 0/{args.runs} | - |")
                continue
            ratio = "-"
            if len(med) == 2:
                ratio = f"{med['plugvm + pc'] / med['qemu -M pc -nodefaults']:.2f}"
            lines.append(f"| {what} | {name} | {med[name]:.2f} | {min(v):.2f} | "
                         f"{max(v):.2f} | {len(v)}/{args.runs} | {ratio} |")
        print("\n".join(lines[-len(systems):]), flush=True)
    shutil.rmtree(tmp)
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
