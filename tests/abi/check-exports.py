#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""ABI checks of libcrosvm_plugin.so against include/crosvm.h.

  check-exports.py exports HEADER LIB   the dynamic symbol table defines exactly the
                                        functions declared in the header, nothing else
  check-exports.py soname LIB           the soname is libcrosvm_plugin.so.0
"""
import re
import subprocess
import sys


def header_functions(path):
    with open(path) as f:
        text = f.read()
    # Comments mention function names in prose; drop them first.
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    names = set(re.findall(r"\b(crosvm_[a-z0-9_]+)\s*\(", text))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = parts[1]
        elif len(parts) == 2:
            syms[parts[1]] = parts[0]
    return syms


def check_exports(header, lib):
    want = header_functions(header)
    syms = exported(lib)
    got = set(syms)
    ok = True
    # 60 functions of API 0.22 and the 13 extensions of 0.23.
    if len(want) != 73:
        print(f"expected 73 functions in {header}, found {len(want)}")
        ok = False
    for name in sorted(want - got):
        print(f"missing export: {name}")
        ok = False
    for name in sorted(got - want):
        print(f"unexpected export: {name} ({syms[name]})")
        ok = False
    for name in sorted(want & got):
        if syms[name] != "T":
            print(f"{name} is exported as '{syms[name]}', not a function")
            ok = False
    if ok:
        print(f"{len(got)} exports match the header")
    return ok


def check_soname(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    if not m:
        print("no SONAME")
        return False
    if m.group(1) != "libcrosvm_plugin.so.0":
        print(f"SONAME is {m.group(1)}")
        return False
    # No version definitions: crosvm's library exported unversioned symbols.
    vd = subprocess.run(["readelf", "-V", lib], check=True, capture_output=True,
                        text=True).stdout
    if "Version definition section" in vd:
        print("the library defines symbol versions")
        return False
    print("soname libcrosvm_plugin.so.0, no version definitions")
    return True


def main(argv):
    if len(argv) == 4 and argv[1] == "exports":
        return 0 if check_exports(argv[2], argv[3]) else 1
    if len(argv) == 3 and argv[1] == "soname":
        return 0 if check_soname(argv[2]) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
