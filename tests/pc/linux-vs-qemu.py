#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Boots Debian's cloud kernel under QEMU and under plugvm + pc; plugvm must get as far.

  linux-vs-qemu.py PLUGVM PC MK_INITRAMFS [SECONDS]

QEMU (-M pc -nodefaults, KVM, the same SeaBIOS, memory, vcpus, kernel, initramfs and command
line, through its own -kernel path) runs for SECONDS (default 40, or $PLUGVM_LINUX_SECONDS);
its last complete console line, without the kernel's timestamp, is what plugvm + pc must then
print (through --kernel, fw_cfg and the linuxboot_dma option ROM) within three times as long.
On a host whose KVM runs Linux both reach the initramfs shell; on nested KVM that emulates
much of early boot both stop wherever the time runs out or the emulator gives up.  Both last
lines are printed.  Exits 77 when KVM, SeaBIOS, QEMU, the kernel or busybox are missing.
"""
import glob
import os
import re
import select
import subprocess
import sys
import tempfile
import time

BIOS = "/usr/share/seabios/bios.bin"
ROM = "/usr/share/qemu/linuxboot_dma.bin"
APPEND = "console=ttyS0 earlyprintk=ttyS0 panic=-1"
MEM = "256"
SHELL = "plugvm initramfs: shell ready"


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def run_for(cmd, seconds, stop_text=None):
    """Runs cmd for at most `seconds` (or until stop_text is printed); returns its output."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = b""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if r:
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            out += data
            if stop_text and stop_text.encode() in out:
                break
    proc.kill()
    proc.wait()
    proc.stdout.close()
    return out.decode("latin-1")


def last_kernel_line(out, partial=False):
    """The last (complete, unless `partial`) line the guest printed, without a timestamp."""
    lines = [l.strip("\r") for l in out.split("\n")]
    if not partial:
        lines = lines[:-1]
    for line in reversed(lines):
        text = re.sub(r"^\[\s*\d+\.\d+\]\s*", "", line).strip()
        if text and not text.startswith(("qemu-system", "plugin: ", "plugvm: ")):
            return text[:500]
    return None


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    plugvm, pc, mkinit = sys.argv[1:4]
    seconds = float(sys.argv[4] if len(sys.argv) > 4 else
                    os.environ.get("PLUGVM_LINUX_SECONDS", "40"))
    if os.environ.get("PLUGVM_SANITIZE", "none") != "none":
        # Two minutes of QEMU and emulated early boot per sanitized build would double the
        # pc suite; its plugin side is the fw_cfg DMA path, unit-tested in pc-devices.
        skip("the Linux comparison runs in the unsanitized build only (CI time)")
    kernels = sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"))
    if not kernels:
        skip("no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)")
    kernel = kernels[-1]
    for path, pkg in ((BIOS, "seabios"), (ROM, "qemu-system-data"),
                      ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
                      ("/bin/busybox", "busybox-static")):
        if not os.access(path, os.R_OK):
            skip("%s missing (apt-get install %s)" % (path, pkg))
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        skip("/dev/kvm is not usable")

    with tempfile.TemporaryDirectory(prefix="plugvm-linux-") as tmp:
        initrd = os.path.join(tmp, "initrd.gz")
        r = subprocess.run([mkinit, initrd], capture_output=True, text=True, check=False)
        if r.returncode:
            print("FAIL: mk-initramfs.sh: " + r.stderr.strip())
            return 1
        qemu = run_for(["qemu-system-x86_64", "-enable-kvm", "-M", "pc", "-nodefaults",
                        "-m", MEM, "-smp", "1", "-bios", BIOS, "-kernel", kernel,
                        "-initrd", initrd, "-append", APPEND, "-serial", "stdio",
                        "-display", "none", "-no-reboot"], seconds, SHELL)
        target = last_kernel_line(qemu)
        print("kernel: " + kernel)
        print("QEMU, %.0f s: last line: %s" % (seconds, target))
        if target is None:
            print("FAIL: QEMU printed nothing to compare with")
            print(qemu[-2000:])
            return 1
        out = run_for([plugvm, "run", "--disable-sandbox", "--plugin", pc, "--",
                       "--mem", MEM, "--kernel", kernel, "--initrd", initrd,
                       "--append", APPEND, "--no-stdin", "--stay",
                       "--timeout", str(int(3 * seconds) + 5)], 3 * seconds, target)
    mine = last_kernel_line(out, partial=True)
    print("plugvm + pc: last line: %s" % mine)
    if target not in out:
        print("FAIL: plugvm + pc did not reach QEMU's last line within %.0f s" % (3 * seconds))
        print(out[-3000:])
        return 1
    print("ok: plugvm + pc reached QEMU's last line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
