#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Turns recordings made by record.so (fuzz/record.c) into seed inputs for
each fuzz target, in the input formats described at the top of each target.
Usage: corpus-from-records.py RECORD_DIR CORPUS_DIR"""
import hashlib
import os
import struct
import sys

MAIN_OPS = {3: 0, 4: 1, 5: 2, 6: 3, 7: 4, 8: 5, 9: 6, 10: 7, 12: 8, 13: 9, 2: 11,
            101: 14, 19: 17, 16: 18, 18: 19}
VCPU_OPS = {0x0a: 0x80, 0x1a: 0x84, 0x22: 0x85, 0x2a: 0x8b, 0x32: 0x8c, 0x3a: 0x8d,
            0x4a: 0x8e, 0x52: 0x8f}


def records(path):
    data = open(path, 'rb').read()
    pos = 0
    while pos + 6 <= len(data):
        kind, nfds = chr(data[pos]), data[pos + 1]
        (n,) = struct.unpack_from('<I', data, pos + 2)
        # The input formats carry 16-bit lengths; longer messages are cut.
        yield kind, nfds, data[pos + 6:pos + 6 + min(n, 65535)]
        pos += 6 + n


def field_of(msg):
    """The field number of the first tag (the oneof member a request sets)."""
    v, shift = 0, 0
    for i, b in enumerate(msg[:5]):
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v >> 3
    return -1


def create_op(msg):
    # Create: look for the constructor tag (0x12 io, 0x1a memory, 0x22 irq) inside.
    for tag, op in ((0x22, 15), (0x1a, 12), (0x12, 10)):
        if bytes([tag]) in msg[2:]:
            return op
    return 10


def rec(kind_byte, payload):
    return bytes([kind_byte]) + struct.pack('<H', len(payload)) + payload


def save(outdir, target, blob):
    if not blob:
        return
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(blob).hexdigest()), 'wb') as f:
        f.write(blob)


def main():
    recdir, outdir = sys.argv[1], sys.argv[2]
    for name in sorted(os.listdir(recdir)):
        recs = list(records(os.path.join(recdir, name)))
        main_session, vcpu_session, lib_session = b'', b'', b''
        last_main, last_vcpu = None, None
        frames = b''
        singles = 0
        for kind, nfds, msg in recs:
            if kind == 'M':
                one = bytes([0 if nfds == 1 else 7]) + struct.pack('<H', len(msg)) + msg
                # A few single requests per session; sessions of random requests add nothing.
                singles += 1
                if singles <= 40:
                    save(outdir, 'fuzz-main-request', bytes([0]) + one)
                    # Datagram seeds for the framing: the request as payload, with its fds.
                    save(outdir, 'fuzz-wire', bytes([3, nfds, 0, 4, 255]) + msg[:255])
                if len(main_session) < 60000:
                    main_session += one
                last_main = msg
            elif kind == 'm' and last_main is not None:
                f = field_of(last_main)
                op = create_op(last_main) if f == 1 else MAIN_OPS.get(f)
                if op is not None and f != 17 and len(lib_session) < 60000:
                    lib_session += bytes([op, 0, nfds]) + struct.pack('<H', len(msg)) + msg
                last_main = None
            elif kind == 'V':
                if len(vcpu_session) < 60000:
                    vcpu_session += rec(0, msg)
                    if msg[:1] == b'\x12':
                        # After a Resume the guest runs: an I/O exit on a reserved port.
                        vcpu_session += rec(1, bytes([0x10, 0x00, 0x00]) + bytes(22))
                last_vcpu = msg
            elif kind == 'v':
                op = VCPU_OPS.get(last_vcpu[0], 0x80) if last_vcpu else 0x80
                if len(lib_session) < 60000:
                    lib_session += bytes([op, 0, 0]) + struct.pack('<H', len(msg)) + msg
                frames += bytes([min(len(msg), 64) - 1]) + msg[:64]
        save(outdir, 'fuzz-main-request', bytes([len(name) % 4]) + main_session)
        save(outdir, 'fuzz-vcpu-request', vcpu_session)
        save(outdir, 'fuzz-lib-response', lib_session)
        save(outdir, 'fuzz-wire', bytes([1, 0x80]) + frames[:8000])


if __name__ == '__main__':
    main()
