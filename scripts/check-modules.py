#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
"""Checks that the modules of host/, lib/ and common/ depend on each other
without a circle (docs/architecture.md, "Modules").

A module is a header and the .c files behind it (MODULES below names the
modules of several files); module A depends on module B when a file of A
includes B's header or calls a function that a file of B defines.  The
includes are read from the sources; the calls from `nm` of the static
libraries named on the command line (the host's plugvm_core, the client
library's crosvm_plugin_impl).  Headers without a .c of their own (config.h,
util.h, images.h, ext-bits.h, lib/private.h, the generated protobuf code) are
types and inline functions, not modules.

  check-modules.py SRCDIR [LIB.a ...]           exit 1 and name every circle
  check-modules.py --print SRCDIR [LIB.a ...]   also print the graph
"""
import os
import re
import subprocess
import sys

# Modules made of several files: module -> files (without .c/.h), per folder.
MODULES = {
    "host/cli": ["host/cli", "host/cli-values", "host/cli-internal"],
    "host/vm/run": ["host/vm/run", "host/vm/run-loop", "host/vm/run-internal"],
    "host/vm/vcpu": ["host/vm/vcpu", "host/vm/vcpu-internal", "host/vm/vcpu-shm",
                     "host/vm/vcpu-pipe", "host/vm/vcpu-req", "host/vm/vcpu-exit",
                     "host/vm/vcpu-ext", "host/vm/vcpu-xsave"],
    "host/vm/kvm-ops": ["host/vm/kvm-ops", "host/vm/kvm-real"],
    "host/jail/jail": ["host/jail/jail", "host/jail/jail-internal", "host/jail/jail-plan",
                       "host/jail/jail-child", "host/jail/jail-cgroup", "host/jail/caps"],
    "host/jail/seccomp-policy": ["host/jail/seccomp-policy", "host/jail/default-policy"],
    "lib/chan": ["lib/chan"],
}
FOLDERS = ["host", "host/vm", "host/jail", "lib", "common"]


def file_module(stem):
    for mod, stems in MODULES.items():
        if stem in stems:
            return mod
    return stem


def sources(root):
    """stem -> list of (path) of .c/.h files in the checked folders."""
    found = {}
    for folder in FOLDERS:
        d = os.path.join(root, folder)
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                found.setdefault(folder + "/" + name[:-2], []).append(os.path.join(d, name))
    return found


def module_of_header(name, folder, stems):
    """The module whose interface header `name` is, seen from `folder`, or None."""
    base = name[:-2]
    # Bare-name includes: the same folder first, then the others (host/meson.build order).
    for f in [folder] + [x for x in FOLDERS if x != folder]:
        stem = f + "/" + base
        if stem not in stems:
            continue
        # lib/ sees only lib/ and common/; common/ only itself.
        if folder == "common" and f != "common":
            continue
        if folder == "lib" and f not in ("lib", "common"):
            continue
        if folder.startswith("host") and f == "lib":
            continue
        mod = file_module(stem)
        has_c = any(p.endswith(".c") for s in MODULES.get(mod, [mod]) for p in stems.get(s, []))
        return mod if has_c else None
    return None


def includes(path):
    with open(path, errors="replace") as f:
        return re.findall(r'^\s*#\s*include\s+"([^"/]+\.h)"', f.read(), re.M)


def header_path(name, folder, stems):
    for f in [folder] + [x for x in FOLDERS if x != folder]:
        for p in stems.get(f + "/" + name[:-2], []):
            if p.endswith(".h"):
                return f, p
    return None, None


def include_edges(root, edges):
    stems = sources(root)
    for stem, paths in stems.items():
        folder = os.path.dirname(stem)
        src = file_module(stem)
        if module_of_header(os.path.basename(stem) + ".h", folder, stems) != src and \
                not any(p.endswith(".c") for p in paths):
            continue  # a header of types and inline functions, not a module
        for path in paths:
            # A header that is no module's passes its own includes on.
            todo, seen = [(h, folder) for h in includes(path)], set()
            while todo:
                name, where = todo.pop()
                if (name, where) in seen:
                    continue
                seen.add((name, where))
                dst = module_of_header(name, where, stems)
                if dst is None:
                    hfolder, hpath = header_path(name, where, stems)
                    if hpath:
                        todo += [(h, hfolder) for h in includes(hpath)]
                elif dst != src:
                    edges.setdefault(src, {}).setdefault(dst, set()).add(
                        "#include \"%s\" in %s" % (name, os.path.relpath(path, root)))


def member_module(archive, member):
    name = os.path.basename(member)  # a thin archive names its members by path
    name = name[:-len(".c.o")] if name.endswith(".c.o") else name
    if "default-policy" in name:
        return "host/jail/seccomp-policy"
    top = "lib" if "crosvm_plugin" in os.path.basename(archive) else "host"
    for prefix, folder in (("vm_", "host/vm/"), ("jail_", "host/jail/")):
        if top == "host" and name.startswith(prefix):
            return file_module(folder + name[len(prefix):])
    return file_module(top + "/" + name)


def call_edges(archives, edges):
    defined = {}
    undefined = {}
    for archive in archives:
        out = subprocess.run(["nm", archive], capture_output=True, text=True, check=True).stdout
        member = None
        for line in out.splitlines():
            if line.endswith(":") and not line.startswith(" "):
                member = member_module(archive, line[:-1])
                continue
            parts = line.split()
            if member is None or not parts:
                continue
            if len(parts) == 2 and parts[0] == "U":
                undefined.setdefault(member, set()).add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRCV":
                defined[parts[2]] = member
    for mod, syms in undefined.items():
        for s in syms:
            dst = defined.get(s)
            if dst and dst != mod:
                edges.setdefault(mod, {}).setdefault(dst, set()).add("calls " + s)


def circles(edges):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = sorted(set(edges) | {d for e in edges.values() for d in e})

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(argv):
    show = "--print" in argv
    args = [a for a in argv if a != "--print"]
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root, archives = args[0], args[1:]
    edges = {}
    include_edges(root, edges)
    call_edges(archives, edges)
    if show:
        for mod in sorted(set(edges) | {d for e in edges.values() for d in e}):
            print("%-26s %s" % (mod, " ".join(sorted(edges.get(mod, {}))) or "-"))
    bad = circles(edges)
    for comp in bad:
        print("circle between modules: " + ", ".join(comp))
        for a in comp:
            for b in sorted(edges.get(a, {})):
                if b in comp:
                    print("  %s -> %s: %s" % (a, b, "; ".join(sorted(edges[a][b])[:3])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
