#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Save and restore of the pc example with a guest that proves continuity.

  snapshot-test.py PLUGVM PC COUNTER_BIN CASE

The guest is tests/pc/counter.S: it counts PIT ticks through the PIC, keeps
rewriting 64 KiB with a running sum, and prints "n=NNNN t=TTTT s=SSSS ok"
every 10 ticks.  A chain of runs (boot, then restore after restore) must
print, all runs' output put together, lines n = 1, 2, 3, ... with no gap,
repeat or restart, ticks that never go back, and "ok" on every line.

CASE:
  chain      1 vcpu, unjailed: boot -> save -> restore -> save -> restore -> save -> restore;
             saves on SIGUSR1 once the guest has printed a few lines, one with --save-after;
             the first save is rewritten as format version 1 (no XSAVE records) before
             its restore, which must work as well
  smp        the same with plugvm run --cpus 2
  jailed     the same in the default jail: the snapshot directory is mounted writable
             (--plugin-mount DIR:DIR:true), the firmware directory read-only
  bad-files  truncated, corrupted, foreign, wrong-version, empty and missing files, an XSAVE
             record that contradicts itself, a section
             whose CRC is right but whose content is not, the wrong vcpu count, options that
             conflict with --restore: each refused with one line and exit 1, before any guest
             output
  migrate    live migration (--migrate-to / --migrate-listen) on SIGUSR1; the source's and the
             destination's output together must continue exactly
  migrate-smp    the same with 2 vcpus
  migrate-jailed migrate in the default jail, with the policy the pc README gives for it (the
             default one plus examples/pc/migrate.policy): the socket's directory mounted
  migrate-jailed-smp  the same with 2 vcpus
  migrate-16g    a 16 GiB guest (mostly never touched: its holes are not read or sent); the
             destination's plugin must hold the whole 16 GiB of guest RAM
  migrate-sweep  the guest built with -DSWEEP keeps 512 KiB dirty, and a downtime target of
             1 us: the pre-copy cannot converge and the stop-and-copy bound must end it, the
             guest intact
  avx        chain with the guest built with -DAVX (YMM0's upper half, which only the XSAVE
             area carries); skipped (77) unless KVM offers guests AVX and XSAVE
  migrate-avx    migrate with that guest, likewise
  migrate-fail   destinations that fail: one that closes the connection during the pre-copy,
             one that takes the whole stream and closes without answering, a garbage stream
             sent to a real destination; the source's guest must go on each time
Exits 77 when KVM or SeaBIOS is missing.
"""
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

BIOS = "/usr/share/seabios/bios.bin"
LINE = re.compile(rb"^n=([0-9a-f]{4}) t=([0-9a-f]{4}) s=([0-9a-f]{4}) (ok|BAD)\r$")
LINES_PER_RUN = 4
RUN_TIMEOUT = 90


def kvm_offers_avx():
    """Whether KVM_GET_SUPPORTED_CPUID has AVX and XSAVE in leaf 1 ECX (bits 28, 26)."""
    import fcntl
    n = 256
    buf = bytearray(struct.pack("<II", n, 0) + bytes(40 * n))
    fd = os.open("/dev/kvm", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0xC008AE05, buf)  # KVM_GET_SUPPORTED_CPUID, _IOWR(0xAE, 5, 8 bytes)
    finally:
        os.close(fd)
    for i in range(struct.unpack_from("<I", buf, 0)[0]):
        function, index, _flags, _a, _b, ecx = struct.unpack_from("<6I", buf, 8 + 40 * i)
        if function == 1:
            return ecx & (1 << 28) != 0 and ecx & (1 << 26) != 0
    return False


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def fail(why, out=b"", err=b""):
    print("FAIL: " + why)
    if out:
        print("---- stdout (last 2000 bytes)")
        print(out[-2000:].decode("latin-1"))
    if err:
        print("---- stderr")
        print(err[-3000:].decode("latin-1"))
    sys.exit(1)


def plugin_pid(host_pid):
    """The plugin is the host's only child (spawned by some thread of it)."""
    for _ in range(100):
        kids = []
        for tid in os.listdir("/proc/%d/task" % host_pid):
            try:
                with open("/proc/%d/task/%s/children" % (host_pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        if kids:
            return kids[0]
        time.sleep(0.05)
    return None


class Runner:
    def __init__(self, plugvm, pc, disk, workdir, cpus, jailed):
        self.plugvm, self.pc, self.disk, self.dir = plugvm, pc, disk, workdir
        self.cpus, self.jailed = cpus, jailed
        self.policy_dir = None

    def host_args(self, cpus=None):
        a = [self.plugvm, "run", "--cpus", str(cpus or self.cpus)]
        if self.jailed:
            a += ["--plugin-mount", os.path.dirname(BIOS),
                  "--plugin-mount", "%s:%s:true" % (self.dir, self.dir)]
            if self.policy_dir:
                a += ["--seccomp-policy-dir", self.policy_dir]
        else:
            a += ["--disable-sandbox"]
        return a + ["--plugin", self.pc, "--"]

    def run(self, plugin_args, save_after_lines=None, expect_rc=0):
        """One run; with save_after_lines, SIGUSR1 once that many counter lines came."""
        p = subprocess.Popen(self.host_args() + plugin_args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out = b""
        sent = False
        deadline = time.monotonic() + RUN_TIMEOUT
        os.set_blocking(p.stdout.fileno(), False)
        while True:
            try:
                chunk = p.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                out += chunk
            elif chunk == b"" and p.poll() is not None:
                break
            if (save_after_lines and not sent and
                    out.count(b" ok\r\n") + out.count(b" BAD\r\n") >= save_after_lines):
                pid = plugin_pid(p.pid)
                if pid is None:
                    p.kill()
                    fail("no plugin process under the host", out)
                os.kill(pid, signal.SIGUSR1)
                sent = True
            if time.monotonic() > deadline:
                p.kill()
                p.wait()
                fail("run did not end within %d s: %s" % (RUN_TIMEOUT, " ".join(plugin_args)),
                     out, p.stderr.read())
            time.sleep(0.02)
        err = p.stderr.read()
        if p.returncode != expect_rc:
            fail("exit status %d, expected %d: %s" % (p.returncode, expect_rc,
                                                      " ".join(plugin_args)), out, err)
        return out, err


def check_chain(outs):
    """All runs' stdout together: consecutive n from 1, ticks never back, every line ok."""
    stream = b"".join(outs)
    start = stream.find(b"Booting from 0000:7c00\n")
    if start < 0:
        fail("the guest never booted", stream)
    lines = stream[start:].split(b"\n")[1:]
    last_n, last_t, count = 0, -1, 0
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m:
            # Only the very last line may be cut (the final run stops at --expect).
            if i >= len(lines) - 2 and (not line or line.startswith(b"n=")):
                continue
            fail("unexpected guest line %r" % line, stream)
        n, t = int(m.group(1), 16), int(m.group(2), 16)
        if m.group(4) != b"ok":
            fail("line n=%d: the memory checksum does not hold" % n, stream)
        if n != last_n + 1:
            fail("line n=%d follows n=%d (a repeat, gap or restart)" % (n, last_n), stream)
        if t < last_t:
            fail("ticks went back from %d to %d at n=%d" % (last_t, t, n), stream)
        last_n, last_t, count = n, t, count + 1
    # Every run must have added lines of its own (output of restored machines included).
    for k, o in enumerate(outs[1:], 1):
        if len(re.findall(rb"n=[0-9a-f]{4} t=", o)) < 2:
            fail("run %d of the chain printed almost nothing" % k, o)
    return last_n


def chain(r):
    snap = [os.path.join(r.dir, "snap%d" % i) for i in range(3)]
    common = ["--no-stdin", "--expect", "this is never printed", "--timeout", "80"]
    outs = []
    out, err = r.run(["--disk", r.disk, "--save", snap[0]] + common,
                     save_after_lines=LINES_PER_RUN)
    if b"saved the machine to" not in err:
        fail("no save message", out, err)
    outs.append(out)
    # A file of format version 1 (no XSAVE records) is still restored: the first restore
    # of the chain reads the first save written as version 1 wrote it.
    with open(snap[0], "rb") as f:
        v1 = to_version1(f.read())
    with open(snap[0], "wb") as f:
        f.write(v1)
    # Restore, save on SIGUSR1 again.
    out, err = r.run(["--restore", snap[0], "--save", snap[1]] + common,
                     save_after_lines=LINES_PER_RUN)
    outs.append(out)
    # Restore, save by timer this time.
    out, err = r.run(["--restore", snap[1], "--save", snap[2], "--save-after", "2.5"] + common)
    if b"saved the machine to" not in err:
        fail("--save-after did not save", out, err)
    outs.append(out)
    last = check_chain(outs)
    # The last restore runs until a few lines past the last saved one.
    target = last + LINES_PER_RUN
    out, err = r.run(["--restore", snap[2], "--no-stdin", "--expect", "n=%04x " % target,
                      "--timeout", "60"])
    outs.append(out)
    last = check_chain(outs)
    if last < target - 1:
        fail("the final run stopped at n=%d" % last, out, err)
    print("ok: %d lines across %d runs, %d vcpu(s)%s" % (last, len(outs), r.cpus,
                                                     ", jailed" if r.jailed else ""))


class Proc:
    """A host run whose stdout is read without blocking."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def pump(self):
        try:
            chunk = self.p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            self.out += chunk

    def lines(self):
        return len(re.findall(rb"n=[0-9a-f]{4} t=[0-9a-f]{4} s=[0-9a-f]{4} (?:ok|BAD)\r\n",
                              self.out))

    def wait_for(self, pred, what, timeout=RUN_TIMEOUT, others=()):
        deadline = time.monotonic() + timeout
        while not pred():
            for q in (self,) + tuple(others):
                q.pump()
            if time.monotonic() > deadline:
                self.kill()
                for q in others:
                    q.kill()
                fail("no %s within %d s" % (what, timeout), self.out, self.p.stderr.read())
            time.sleep(0.02)

    def finish(self, timeout=RUN_TIMEOUT):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail("%s did not end" % " ".join(self.cmd), self.out)
        self.pump()
        self.err = self.p.stderr.read()
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def start_pair(r, sock, disk, src_args=()):
    dest = Proc(r.host_args() + ["--migrate-listen", sock, "--no-stdin", "--expect",
                                 "this is never printed", "--timeout", "80"])
    Proc.wait_for(dest, lambda: os.path.exists(sock) or dest.p.poll() is not None,
                  "listening socket", 20)
    if not os.path.exists(sock):
        fail("the destination did not listen", dest.out, dest.p.stderr.read())
    src = Proc(r.host_args() + ["--disk", disk, "--migrate-to", sock, "--no-stdin",
                                "--expect", "this is never printed", "--timeout", "80"] +
               list(src_args))
    src.wait_for(lambda: src.lines() >= LINES_PER_RUN, "counter lines", others=(dest,))
    return dest, src


def guest_memfd_size(host_pid):
    """The size of the largest memfd the plugin under this host holds (its guest RAM)."""
    pid = plugin_pid(host_pid)
    best = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("/memfd:"):
                best = max(best, os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size)
        except OSError:
            pass
    return best


def migrate(r, disk, bound, src_args=(), mem_mib=None):
    sock = os.path.join(r.dir, "mig.sock")
    # The sweeping guest's 512 KiB cannot be sent within 1 us: the rounds never converge.
    dest, src = start_pair(r, sock, disk,
                           (["--migrate-downtime", "0.001"] if bound else []) + list(src_args))
    os.kill(plugin_pid(src.p.pid), signal.SIGUSR1)
    rc = src.finish()
    if rc != 0 or b"migrated to" not in src.err:
        dest.kill()
        fail("source: exit %d" % rc, src.out, src.err)
    stat = [l for l in src.err.split(b"\n") if b"migrated to" in l][0].decode()
    if bound != ("stop-and-copy bound" in stat):
        dest.kill()
        fail("expected %s: %s" % ("the stop-and-copy bound" if bound else "convergence", stat))
    dest.wait_for(lambda: dest.lines() >= LINES_PER_RUN, "counter lines on the destination")
    if mem_mib is not None:
        got = guest_memfd_size(dest.p.pid)
        if got < mem_mib << 20:
            dest.kill()
            fail("the destination's guest RAM is %d MiB, not %d" % (got >> 20, mem_mib))
    dest.p.terminate()
    dest.finish()
    if b"the guest runs here" not in dest.err:
        fail("destination did not say it runs the guest", dest.out, dest.err)
    last = check_chain([src.out, dest.out])
    print("ok: %d lines across the migration, %d vcpu(s): %s" % (last, r.cpus,
                                                              stat.split(": ", 2)[-1]))


def fake_destination(sock, mode, result):
    """Accepts the source and fails: "early" after 64 KiB, "silent" after the whole stream."""
    import socket
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(sock)
    ls.listen(1)
    ls.settimeout(60)
    try:
        c, _ = ls.accept()
    except OSError:
        result.append("no connection")
        return
    ls.close()
    os.unlink(sock)
    c.settimeout(30)

    def recv(n):
        b = b""
        while len(b) < n:
            k = c.recv(n - len(b))
            if not k:
                raise EOFError
            b += k
        return b
    try:
        if mode == "early":
            recv(65536)
        else:
            recv(8 + 16 + 8)
            while True:
                t, count, off = struct.unpack("<IIQ", recv(16))
                if t == 2:
                    recv(count * 4096)
                elif t == 4:
                    recv(off)
                    break
        result.append("ok")
    except (EOFError, OSError) as e:
        result.append("stream ended: %r" % e)
    c.close()


def migrate_fail(r, disk):
    import threading
    sock = os.path.join(r.dir, "fake.sock")
    for mode, want in (("early", b"failed: "), ("silent", b"did not start the guest")):
        result = []
        t = threading.Thread(target=fake_destination, args=(sock, mode, result))
        t.start()
        while not os.path.exists(sock):
            time.sleep(0.01)
        src = Proc(r.host_args() + ["--disk", disk, "--migrate-to", sock, "--no-stdin",
                                    "--expect", "this is never printed", "--timeout", "80"])
        src.wait_for(lambda: src.lines() >= LINES_PER_RUN, "counter lines")
        os.kill(plugin_pid(src.p.pid), signal.SIGUSR1)
        t.join(60)
        if result != ["ok"]:
            src.kill()
            fail("%s: the fake destination saw %s" % (mode, result), src.out)
        before = src.lines()
        src.wait_for(lambda: src.lines() >= before + LINES_PER_RUN,
                     "the source's guest going on after a failed migration (%s)" % mode)
        src.p.terminate()
        src.finish()
        fails = [l for l in src.err.split(b"\n") if b"migration to" in l]
        if len(fails) != 1 or want not in fails[0] or b"the guest goes on here" not in fails[0]:
            fail("%s: want one line with %r" % (mode, want), src.out, src.err)
        check_chain([src.out])
    # A real destination fed garbage: one line, exit 1.
    sock = os.path.join(r.dir, "mig.sock")
    dest = Proc(r.host_args() + ["--migrate-listen", sock, "--no-stdin", "--timeout", "60"])
    dest.wait_for(lambda: os.path.exists(sock), "listening socket", 20)
    import socket
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock)
    c.sendall(b"PLUGVMMG" + struct.pack("<IIQ", 1, 1, 128 << 20) + struct.pack("<Q", 1 << 18) +
              struct.pack("<IIQ", 2, 1, 1 << 40))
    rc = dest.finish()
    c.close()
    lines = [l for l in dest.err.split(b"\n") if l.startswith(b"plugin: pc: ") and
             b"waiting for" not in l]
    if rc != 1 or len(lines) != 1 or b"bad migration stream" not in lines[0]:
        fail("garbage stream: want exit 1 and one line", dest.out, dest.err)
    print("ok: failed migrations left the source's guest running; a bad stream was refused")


def sections(data):
    """(tag, offset of its header, payload offset, length) of each section."""
    off, res = 32, []
    while off < len(data):
        tag, _ver, length = struct.unpack_from("<4sIQ", data, off)
        res.append((tag, off, off + 24, length))
        off += 24 + (length + 7) // 8 * 8
    return res


def cpu_v1_length(p):
    """Bytes of a CPU section payload up to the end of its format version 1 part."""
    off = 4
    for i in range(8):  # regs, sregs, debugregs, fpu, [u8 has-XCRs], xcrs, lapic, mp, events
        if i == 4:
            off += 1
        off += 4 + struct.unpack_from("<I", p, off)[0]
    nmsr = struct.unpack_from("<I", p, off)[0]
    off += 4 + 12 * nmsr
    ncpuid = struct.unpack_from("<I", p, off)[0]
    return off + 4 + 40 * ncpuid


def to_version1(data):
    """The snapshot as format version 1 wrote it: CPU sections without their XSAVE record."""
    out, n = bytearray(32), 0
    for tag, hdr, payload, length in sections(data):
        body = data[payload:payload + length]
        if tag == b"CPU ":
            if cpu_v1_length(body) >= len(body):
                fail("a version 2 CPU section without its XSAVE record")
            body = body[:cpu_v1_length(body)]
        h = bytearray(24)
        struct.pack_into("<4sIQI", h, 0, tag, 1, len(body), zlib.crc32(body))
        struct.pack_into("<I", h, 20, zlib.crc32(bytes(h[:20])))
        out += h + body + b"\0" * ((8 - len(body) % 8) % 8)
        n += 1
    struct.pack_into("<8sIIQI", out, 0, b"PLUGVMPC", 1, 32, len(out), n)
    struct.pack_into("<I", out, 28, zlib.crc32(bytes(out[:28])))
    return bytes(out)


def fix_section_crc(data, hdr, payload, length):
    struct.pack_into("<I", data, hdr + 16, zlib.crc32(data[payload:payload + length]))
    struct.pack_into("<I", data, hdr + 20, zlib.crc32(data[hdr:hdr + 20]))


def bad_files(r):
    good = os.path.join(r.dir, "good")
    out, err = r.run(["--disk", r.disk, "--save", good, "--no-stdin", "--expect", "nothing",
                      "--timeout", "80"], save_after_lines=1)
    data = open(good, "rb").read()
    cases = []

    def add(name, content, msg, extra=(), cpus=None):
        path = os.path.join(r.dir, name)
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)
        cases.append((name, path, msg, list(extra), cpus))

    add("truncated", data[:len(data) // 2], "truncated")
    flipped = bytearray(data)
    ram = [s for s in sections(data) if s[0] == b"RAM "][0]
    flipped[ram[2] + ram[3] // 2] ^= 0x40
    add("corrupted", bytes(flipped), "checksum mismatch in section RAM")
    add("foreign", open(BIOS, "rb").read(), "not a pc snapshot")
    version = bytearray(data)
    struct.pack_into("<I", version, 8, 3)
    struct.pack_into("<I", version, 28, zlib.crc32(bytes(version[:28])))
    add("version", bytes(version), "format version 3, this pc reads versions 1 to 2")
    # A version 2 CPU section whose XSAVE record says "none" but has a size.
    xs = bytearray(data)
    tag, hdr, payload, length = [s for s in sections(data) if s[0] == b"CPU "][0]
    rec = payload + cpu_v1_length(data[payload:payload + length])
    if struct.unpack_from("<I", xs, rec + 1)[0]:
        xs[rec] = 0
        fix_section_crc(xs, hdr, payload, length)
        add("xsave", bytes(xs), "section CPU  does not hold what it should")
    add("empty", b"", "empty file")
    add("missing", None, "cannot open")
    # A UART receive count beyond its FIFO, with the section's CRC made right again.
    uart = bytearray(data)
    tag, hdr, payload, length = [s for s in sections(data) if s[0] == b"UART"][0]
    uart[payload + 10 + 16 + 1] = 200
    fix_section_crc(uart, hdr, payload, length)
    add("uart", bytes(uart), "section UART does not hold what it should")
    add("cpus", data, "the snapshot has %d vcpus but the host gave %d" % (r.cpus, r.cpus + 1),
        cpus=r.cpus + 1)
    add("mem", data, "drop --mem", extra=["--mem", "64"])
    add("disk", data, "carries its own disk: drop --disk", extra=["--disk", r.disk])
    for name, path, msg, extra, cpus in cases:
        args = ["--restore", path, "--no-stdin", "--timeout", "20"] + extra
        p = subprocess.run(r.host_args(cpus) + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
        lines = [l for l in p.stderr.split(b"\n") if l.startswith(b"plugin: pc: ")]
        if p.returncode != 1 or len(lines) != 1 or msg.encode() not in lines[0]:
            fail("%s: want exit 1 and one line with %r (got %d)" % (name, msg, p.returncode),
                 p.stdout, p.stderr)
        if p.stdout:
            fail("%s: the guest ran" % name, p.stdout, p.stderr)
    print("ok: %d bad snapshot files refused" % len(cases))


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    plugvm, pc, counter, case = sys.argv[1:]
    if not os.path.exists(BIOS):
        skip("%s not installed" % BIOS)
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        skip("/dev/kvm is not usable")
    jailed = case in ("jailed", "migrate-jailed", "migrate-jailed-smp")
    if jailed and os.environ.get("PLUGVM_SANITIZE", "none") != "none":
        skip("a sanitized plugin cannot run under the default policy")
    with tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "counter.img")
        with open(counter, "rb") as f, open(disk, "wb") as g:
            g.write(f.read())
        sweep = os.path.join(d, "sweep.img")
        with open(os.path.join(os.path.dirname(counter), "counter-sweep.bin"), "rb") as f, \
                open(sweep, "wb") as g:
            g.write(f.read())
        if case in ("avx", "migrate-avx"):
            if not kvm_offers_avx():
                skip("KVM offers guests no AVX and XSAVE")
            with open(os.path.join(os.path.dirname(counter), "counter-avx.bin"), "rb") as f, \
                    open(disk, "wb") as g:
                g.write(f.read())
        r = Runner(plugvm, pc, disk, d, 2 if case in ("smp", "migrate-smp", "migrate-jailed-smp") else 1, jailed)
        if case in ("chain", "smp", "jailed", "avx"):
            chain(r)
        elif case == "migrate-avx":
            migrate(r, disk, False)
        elif case == "bad-files":
            bad_files(r)
        elif case in ("migrate", "migrate-smp"):
            migrate(r, disk, False)
        elif case in ("migrate-jailed", "migrate-jailed-smp"):
            # The default policy plus examples/pc/migrate.policy, as its header says.
            r.policy_dir = os.path.join(d, "policy")
            os.mkdir(r.policy_dir)
            with open(os.path.join(r.policy_dir, "plugin.policy"), "w") as f:
                f.write("@include %s\n@include %s\n" % (os.environ["PLUGVM_DEFAULT_POLICY"],
                                                       os.environ["PC_MIGRATE_POLICY"]))
            migrate(r, disk, False)
        elif case == "migrate-16g":
            migrate(r, disk, False, ["--mem", "16384"], 16384)
        elif case == "migrate-sweep":
            migrate(r, sweep, True)
        elif case == "migrate-fail":
            migrate_fail(r, disk)
        else:
            print("unknown case " + case)
            sys.exit(2)


if __name__ == "__main__":
    main()
