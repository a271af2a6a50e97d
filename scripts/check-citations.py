#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Checks that every citation of docs/protocol.md names a section that exists.

Citations are "docs/protocol.md §N[.M]" (optionally followed by ", §X" and
"and §X" lists) anywhere in the tree, and every "§N[.M]" inside
docs/protocol.md itself.  Also refuses references to files outside the
repository ("PROTOCOL.md", the shared docs).  Prints one line per problem and
exits 1 if there is any.
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
SPEC = os.path.join(ROOT, "docs", "protocol.md")
SKIP_DIRS = {".git", "build", "corpus", "regressions"}
EXTS = (".c", ".h", ".md", ".proto", ".py", ".sh", ".S", ".build", ".txt", ".1", ".3")


def sections(text):
    found = set()
    for line in text.splitlines():
        m = re.match(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", line)
        if m:
            found.add(m.group(1))
        m = re.match(r"^#{2,4} (Appendix [A-Z])\.", line)
        if m:
            found.add(m.group(1))
    # Numbered items of §7 ("1. **...**") are §7.N.
    in7 = False
    for line in text.splitlines():
        if line.startswith("## "):
            in7 = line.startswith("## 7.")
        m = re.match(r"^(\d+)\. \*\*", line)
        if in7 and m:
            found.add("7." + m.group(1))
    return found


def main():
    spec = open(SPEC, encoding="utf-8").read()
    have = sections(spec)
    problems = []
    cite = re.compile(r"(?:docs/)?protocol\.md\)?`? ((?:§\d+(?:\.\d+)?(?:,? (?:and )?)?)+|Appendix [A-Z])")
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            if not name.endswith(EXTS):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            try:
                text = open(path, encoding="utf-8").read()
            except UnicodeDecodeError:
                continue
            for no, line in enumerate(text.splitlines(), 1):
                if "PROTOCOL.md" in line and rel != "scripts/check-citations.py":
                    problems.append(f"{rel}:{no}: cites PROTOCOL.md, which is not in the repository")
                refs = []
                for m in cite.finditer(line):
                    refs += re.findall(r"§(\d+(?:\.\d+)?)|(Appendix [A-Z])", m.group(1))
                if path == SPEC:
                    refs += re.findall(r"§(\d+(?:\.\d+)?)()", line)
                for num, app in refs:
                    key = num or app
                    if key not in have:
                        problems.append(f"{rel}:{no}: docs/protocol.md has no {'§' if num else ''}{key}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
