#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Boots the GRUB disk of scripts/mk-grub-disk.sh on the pc example and types at it.

  grub-session.py PLUGVM PC MK_GRUB_DISK CASE

CASE:
  pty      unjailed, the console on a pseudo-terminal, --disk-writable: commands typed through
           the terminal, Ctrl-A x quits; the terminal must be raw during the run and exactly
           as before afterwards, and save_env must have reached the image file.
  jailed   in the default jail with --plugin-stdin, the commands through a pipe, no
           --disk-writable: save_env works in memory, the image file stays unchanged.
  killed   unjailed on a pseudo-terminal, SeaBIOS only: the plugin is killed with SIGKILL while
           the terminal is raw, and the host must restore it.
  linux    (not in the suite: minutes on nested KVM) the image also holds Debian's cloud kernel
           and the busybox initramfs (MK_INITRAMFS from $MK_INITRAMFS or next to MK_GRUB_DISK);
           GRUB's linux, initrd and boot must get the kernel to print its banner.
Exits 77 when KVM, SeaBIOS or the image tools are missing.
"""
import glob
import hashlib
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time

BIOS = "/usr/share/seabios/bios.bin"
PROMPT = b"grub> "
BOOT_TIMEOUT = 150  # GRUB runs emulated instruction by instruction on nested KVM: ~35 s here
HELLO = b"plugvm says hello from a FAT partition"


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def fail(why, out=b""):
    print("FAIL: " + why)
    if out:
        print("---- console (last 3000 bytes)")
        print(out[-3000:].decode("latin-1"))
    sys.exit(1)


class Console:
    """The plugin's console: bytes in through `wfd`, out through `rfd`."""

    def __init__(self, proc, rfd, wfd):
        self.proc, self.rfd, self.wfd = proc, rfd, wfd
        self.out = b""
        self.mark = 0

    def expect(self, text, timeout):
        """Waits until `text` appears after the mark; returns what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.out.find(text, self.mark)
            if i >= 0:
                seen = self.out[self.mark:i]
                self.mark = i + len(text)
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no %r within %d s" % (text, timeout), self.out)
            r, _, _ = select.select([self.rfd], [], [], min(left, 1.0))
            if r:
                try:
                    data = os.read(self.rfd, 65536)
                except OSError:
                    data = b""  # a pty whose other side is gone reads as EIO
                if not data:
                    fail("console closed while waiting for %r" % text, self.out)
                self.out += data

    def type(self, line):
        os.write(self.wfd, line)

    def command(self, line, timeout=30):
        """Types a GRUB command and returns its output, up to the next prompt."""
        self.type(line.encode() + b"\r")
        return self.expect(PROMPT, timeout)

    def drain(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.rfd], [], [], 0.2)
            if not r:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.rfd, 65536)
            except OSError:
                return
            if not data:
                return
            self.out += data


def grub_commands(con):
    """The session: three checked commands and a save_env."""
    out = con.command("ls (hd0,msdos1)/")
    if b"hello.txt" not in out or b"boot/" not in out:
        fail("ls (hd0,msdos1)/ did not list hello.txt and boot/", con.out)
    out = con.command("cat (hd0,msdos1)/hello.txt")
    if HELLO not in out:
        fail("cat did not print hello.txt", con.out)
    con.command("set answer=42")
    out = con.command("echo the answer is $answer")
    if b"the answer is 42" not in out:
        fail("echo did not expand $answer", con.out)
    con.command("set plugvm_mark=written-by-grub")
    out = con.command("save_env -f (hd0,msdos1)/boot/grub/grubenv plugvm_mark")
    if b"error" in out:
        fail("save_env failed", con.out)
    # Read back from the (in-memory or written-through) disk.
    con.command("unset plugvm_mark")
    con.command("load_env -f (hd0,msdos1)/boot/grub/grubenv")
    out = con.command("echo mark=$plugvm_mark")
    if b"mark=written-by-grub" not in out:
        fail("load_env did not read back what save_env wrote", con.out)


def grubenv_of(image):
    r = subprocess.run(["mcopy", "-i", image + "@@1M", "::/boot/grub/grubenv", "-"],
                       capture_output=True, check=False)
    return r.stdout


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def assert_raw(fd, con):
    t = termios.tcgetattr(fd)
    if t[3] & (termios.ICANON | termios.ECHO | termios.ISIG):
        fail("the terminal is not in raw mode during the run", con.out)


def wait_exit(proc, con, timeout):
    con.drain(timeout)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        fail("plugvm did not exit", con.out)
    return None


def pty_session(cmd, ready, ready_timeout, act, want_status):
    """Runs cmd on a fresh pty until `ready`, then act(con, proc); checks the exit and tty."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    con = Console(proc, master, master)
    con.expect(ready, ready_timeout)
    assert_raw(slave, con)
    act(con, proc)
    status = wait_exit(proc, con, 20)
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    if status != want_status:
        fail("exit status %d, want %d" % (status, want_status), con.out)
    if after != before:
        fail("terminal not restored: %r != %r" % (after, before))
    return con


def case_pty(plugvm, pc, image):
    def session(con, proc):
        grub_commands(con)
        con.type(b"\x01x")  # Ctrl-A x

    con = pty_session(
        [plugvm, "run", "--disable-sandbox", "--plugin", pc, "--", "--bios", BIOS,
         "--disk", image, "--disk-writable", "--stay", "--timeout", "300"],
        PROMPT, BOOT_TIMEOUT, session, 0)
    if b"quit from the console" not in con.out:
        fail("no quit message", con.out)
    env = grubenv_of(image)
    if b"plugvm_mark=written-by-grub" not in env:
        fail("save_env did not reach the image file with --disk-writable: %r" % env[:200])


def case_jailed(plugvm, pc, image):
    if os.environ.get("PLUGVM_SANITIZE", "none") != "none":
        skip("a plugin built with -fsanitize cannot run under the default seccomp policy")
    digest = sha256(image)
    proc = subprocess.Popen(
        [plugvm, "run", "--plugin-stdin", "--plugin-mount", os.path.dirname(BIOS),
         "--plugin-mount", os.path.dirname(image), "--plugin", pc, "--", "--bios", BIOS,
         "--disk", image, "--expect", "session-done", "--timeout", "300"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    con = Console(proc, proc.stdout.fileno(), proc.stdin.fileno())
    con.expect(PROMPT, BOOT_TIMEOUT)
    grub_commands(con)
    con.type(b"set d=done\recho session-$d\r")
    status = wait_exit(proc, con, 30)
    proc.stdin.close()
    proc.stdout.close()
    if status != 0:
        fail("exit status %d" % status, con.out)
    if sha256(image) != digest:
        fail("the image changed without --disk-writable")


def case_killed(plugvm, pc):
    """The host restores the terminal when the plugin dies by SIGKILL."""
    def kill_plugin(con, proc):
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            kids = [int(x) for x in f.read().split()]
        if len(kids) != 1:
            fail("expected one plugin process, found %r" % kids, con.out)
        os.kill(kids[0], signal.SIGKILL)

    pty_session([plugvm, "run", "--disable-sandbox", "--plugin", pc, "--", "--bios", BIOS,
                 "--stay", "--timeout", "60"], b"No bootable device.", 60, kill_plugin, 1)


def case_linux(plugvm, pc, image):
    proc = subprocess.Popen(
        [plugvm, "run", "--disable-sandbox", "--plugin", pc, "--", "--bios", BIOS, "--mem", "256",
         "--disk", image, "--stay", "--timeout", "900"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    con = Console(proc, proc.stdout.fileno(), proc.stdin.fileno())
    t0 = time.monotonic()
    con.expect(PROMPT, BOOT_TIMEOUT)
    print("grub> after %.1f s" % (time.monotonic() - t0), flush=True)
    out = con.command("linux (hd0,msdos1)/vmlinuz console=ttyS0 earlyprintk=ttyS0 panic=-1", 600)
    if b"error" in out:
        fail("linux failed", con.out)
    out = con.command("initrd (hd0,msdos1)/initrd.img", 600)
    if b"error" in out:
        fail("initrd failed", con.out)
    print("kernel and initrd loaded after %.1f s" % (time.monotonic() - t0), flush=True)
    con.type(b"boot\r")
    con.expect(b"Linux version", 600)
    print("Linux banner after %.1f s" % (time.monotonic() - t0), flush=True)
    con.drain(60)
    proc.kill()
    proc.wait()
    print("last output: %r" % con.out[-300:])


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    plugvm, pc, mkdisk, case = sys.argv[1:]
    if not os.access(BIOS, os.R_OK):
        skip(BIOS + " not installed (apt-get install seabios)")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        skip("/dev/kvm is not usable")
    if case == "killed":
        case_killed(plugvm, pc)
        print("ok: " + case)
        return 0
    for tool in ("grub-mkimage", "mformat", "mcopy"):
        if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode:
            skip(tool + " missing (scripts/install-deps.sh installs grub-pc-bin, mtools, fdisk)")
    with tempfile.TemporaryDirectory(prefix="plugvm-grub-") as tmp:
        os.chmod(tmp, 0o755)
        image = os.path.join(tmp, "grub.img")
        extra = []
        if case == "linux":
            kernels = sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"))
            if not kernels:
                skip("no /boot/vmlinuz-*-cloud-amd64")
            mkinit = os.environ.get("MK_INITRAMFS",
                                    os.path.join(os.path.dirname(mkdisk), "mk-initramfs.sh"))
            initrd = os.path.join(tmp, "initrd.gz")
            subprocess.run([mkinit, initrd], check=True, stdout=subprocess.DEVNULL)
            extra = ["--kernel", kernels[-1], "--initrd", initrd]
        r = subprocess.run([mkdisk, image] + extra, capture_output=True, text=True, check=False)
        if r.returncode:
            fail("mk-grub-disk.sh failed: " + r.stderr.strip())
        if case == "pty":
            case_pty(plugvm, pc, image)
        elif case == "jailed":
            case_jailed(plugvm, pc, image)
        elif case == "linux":
            case_linux(plugvm, pc, image)
        else:
            print("unknown case " + case)
            return 2
    print("ok: " + case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
