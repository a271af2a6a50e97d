#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
# Turns a policy file into a C string so the host carries its default policy.
import sys

src, dst, symbol = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, 'rb').read()
with open(dst, 'w') as out:
    out.write('/* Generated from %s; do not edit. */\n' % src.split('/')[-1])
    out.write('const char %s[] = {\n' % symbol)
    for i in range(0, len(data), 16):
        out.write('\t' + ' '.join('0x%02x,' % b for b in data[i:i + 16]) + '\n')
    out.write('\t0x00\n};\n')
