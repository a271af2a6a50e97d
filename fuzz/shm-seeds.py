#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Writes the seed corpus of fuzz-lib-shm: the messages plugvm's host posts in
a real session (the exits and replies host/vm/vcpu-shm.c writes), one exchange
per seed, plus one seed per broken negotiation.  Shared memory cannot be
recorded by fuzz/record.c, so the seeds are built from the layout in
common/shm-chan.h (docs/shm-channel.md).

Usage: shm-seeds.py OUT_DIR
"""
import hashlib
import os
import struct
import sys

# enum shm_msg_kind, enum shm_exit, SHM_F_*
WAIT, GET_STATE, SET_STATE, GET_MSRS, SET_MSRS, SET_CPUID, HV_CPUID, ENABLE_CAP = 2, 4, 5, 6, 7, 8, 9, 10
GET_XSAVE, SET_XSAVE = 1001, 1002
INIT, IO, USER, HV_CALL, HV_SYNIC = 1, 2, 3, 4, 5
F_WRITE, F_NO_RESUME, F_REGS, F_SREGS, F_DREGS = 1, 2, 4, 8, 16
REGS, SREGS, DREGS = 144, 312, 128
# harness ops (fuzz/lib-harness.c fuzz_lib_vcpu_call)
OP_WAIT, OP_RESUME, OP_GET_REGS, OP_SET_REGS, OP_GET_SREGS = 0, 3, 4, 5, 6
OP_SET_SREGS, OP_GET_DREGS, OP_GET_OTHER, OP_SET_MP, OP_GET_MSRS = 7, 8, 9, 10, 11
OP_SET_MSRS, OP_SET_CPUID, OP_HV_CPUID, OP_ENABLE_CAP = 12, 13, 14, 15
N_VARIANTS = 15


def hdr(kind, errnum=0, exit_=0, space=0, address=0, length=0, flags=0, u=(0, 0, 0, 0), msr=0):
    return struct.pack("<IiIIQII4QII", kind, errnum, exit_, space, address, length, flags, *u, msr, 0)


def record(op, arg, msg, posts=0):
    return struct.pack("<BBBH", op, arg, posts, len(msg)) + msg


def pattern(n, seed):
    return bytes((seed + 7 * i) & 0xFF for i in range(n))


def seeds():
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=INIT))
    # Serial port read with eager registers, then the resume carrying the data.
    regs = pattern(REGS, 1) + pattern(SREGS, 2) + pattern(DREGS, 3)
    yield (b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=INIT)) +
           record(OP_RESUME, 0, b"") +
           record(OP_WAIT, 0x41, hdr(WAIT, exit_=IO, address=0x3F8, length=1,
                                     flags=F_REGS | F_SREGS | F_DREGS) + regs) +
           record(OP_SET_REGS, 9, b"") + record(OP_GET_REGS, 0, hdr(GET_STATE, length=REGS) +
                                                pattern(REGS, 4)) +
           record(OP_RESUME, 0, b""))
    # MMIO write of 8 bytes, and a PIO string write of a page.
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=IO, space=1, address=0xFEE00000, length=8,
                                           flags=F_WRITE) + bytes(REGS + SREGS + DREGS) + pattern(8, 5))
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=IO, address=0x80, length=4096,
                                           flags=F_WRITE | F_NO_RESUME) + bytes(REGS + SREGS + DREGS) +
                           pattern(4096, 6))
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=USER, u=(0x1234, 0, 0, 0)))
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=HV_CALL, u=(1, 2, 3, 0)))
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=HV_SYNIC, msr=0x40000080, u=(1, 2, 3, 0)))
    for op, size in ((OP_GET_REGS, REGS), (OP_GET_SREGS, SREGS), (OP_GET_DREGS, DREGS)):
        yield b"\x00" + record(op, 0, hdr(GET_STATE, length=size) + pattern(size, op))
    for arg, size in ((0, 416), (1, 24), (2, 1024), (3, 4), (4, 64)):  # fpu xcrs lapic mp events
        yield b"\x00" + record(OP_GET_OTHER, arg, hdr(GET_STATE, length=size) + pattern(size, arg))
    for op in (OP_SET_REGS, OP_SET_SREGS, OP_SET_MP):
        yield b"\x00" + record(op, 0, hdr(SET_STATE))
    yield b"\x00" + record(OP_SET_REGS, 0, hdr(SET_STATE, errnum=22))
    yield b"\x00" + record(OP_GET_MSRS, 4, hdr(GET_MSRS, length=4) + pattern(32, 8))
    yield b"\x00" + record(OP_GET_MSRS, 2, hdr(GET_MSRS, length=3) + pattern(24, 9))
    yield b"\x00" + record(OP_SET_MSRS, 4, hdr(SET_MSRS))
    yield b"\x00" + record(OP_SET_CPUID, 4, hdr(SET_CPUID))
    cpuid = b"".join(struct.pack("<8I", 0x40000000 + i, 0, i & 1, 1, 2, 3, 4, 0) for i in range(3))
    yield b"\x00" + record(OP_HV_CPUID, 4, hdr(HV_CPUID, length=3) + cpuid)
    yield b"\x00" + record(OP_HV_CPUID, 0, hdr(HV_CPUID, errnum=25))
    yield b"\x00" + record(OP_ENABLE_CAP, 0, hdr(ENABLE_CAP))
    # API 0.23 XSAVE (op 9 with arg bit 7: a buffer of arg & 0x1f KiB, bit 6 sets it back).
    yield b"\x00" + record(OP_GET_OTHER, 0xc4, hdr(GET_XSAVE, length=4096) + pattern(4096, 10))
    yield b"\x00" + record(OP_GET_OTHER, 0x82, hdr(GET_XSAVE, length=4096) + pattern(4096, 11))
    yield b"\x00" + record(OP_GET_OTHER, 0x80, hdr(GET_XSAVE, length=4096))
    yield b"\x00" + record(OP_GET_OTHER, 0x88, hdr(GET_XSAVE, length=8193))
    yield b"\x00" + record(OP_GET_OTHER, 0x84, hdr(GET_XSAVE, errnum=25))
    # A host that posts more than the ring holds.
    yield b"\x00" + record(OP_WAIT, 0, hdr(WAIT, exit_=INIT), posts=9)
    for v in range(1, N_VARIANTS):
        yield bytes([v])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n = 0
    for s in seeds():
        with open(os.path.join(out, hashlib.sha1(s).hexdigest()), "wb") as f:
            f.write(s)
        n += 1
    print(f"{n} seeds in {out}")


if __name__ == "__main__":
    main()
