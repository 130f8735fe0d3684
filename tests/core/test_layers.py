#!/usr/bin/env python3
"""
The folder tree of core/ is the architecture (core/README.md): each folder
is a layer, and the table in core/README.md says which folders a file of
each layer may include. This test reads that table and every #include of
core/, and fails when
  1. a folder of core/ has no row in the table (or a row names no folder);
  2. a file includes a core header without its folder ("conn.h", not "net/conn.h");
  3. a file includes a header of a folder its layer may not include;
  4. two or more modules (a .c/.h pair, with its NAME_internal.h if any)
     include each other, directly or around a circle;
  5. the folders include each other around a circle.
Prints TAP.
"""
import os
import re
import sys

SRC = os.environ.get("VIGIA_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CORE = os.path.join(SRC, "core")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# headers generated into the build tree, not part of any layer
GENERATED = {"vg_build.h"}


def read_table():
    """The rows between the markers of core/README.md: 'folder: a, b, c' (or '-')."""
    text = open(os.path.join(CORE, "README.md")).read()
    m = re.search(r"<!-- layers -->\n(.*?)<!-- /layers -->", text, re.S)
    if not m:
        return None
    table = {}
    for line in m.group(1).splitlines():
        line = line.strip().strip("`")
        row = re.match(r"^([a-z]+)\s+may include:\s*(.*)$", line)
        if row:
            deps = [d.strip() for d in row.group(2).split(",") if d.strip() and d.strip() != "-"]
            table[row.group(1)] = set(deps)
    return table


def sources():
    for folder in sorted(os.listdir(CORE)):
        path = os.path.join(CORE, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if name.endswith((".c", ".h")):
                yield folder, name, os.path.join(path, name)


def module_of(folder, name):
    """A module is a .c/.h pair; a NAME_internal.h header is part of module NAME."""
    base = os.path.splitext(name)[0]
    if base.endswith("_internal"):
        base = base[: -len("_internal")]
    return folder + "/" + base


def find_cycles(graph):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    results = []
    table = read_table()
    folders = sorted(f for f in os.listdir(CORE) if os.path.isdir(os.path.join(CORE, f)))
    problems = []
    if table is None:
        problems.append("core/README.md has no <!-- layers --> table")
        table = {}
    for f in folders:
        if f not in table:
            problems.append("core/%s/ has no row in core/README.md's layer table" % f)
    for f, deps in table.items():
        for d in list(deps) + [f]:
            if d not in folders:
                problems.append("the layer table names '%s', which is not a folder of core/" % d)
    results.append(("the layer table of core/README.md covers every folder of core/", problems))

    headers = {}
    for folder, name, path in sources():
        if name.endswith(".h"):
            headers.setdefault(name, []).append(folder)
    modules = {}      # "net/conn" -> set of modules it includes
    unqualified, forbidden = [], []
    for folder, name, path in sources():
        module = module_of(folder, name)
        deps = modules.setdefault(module, set())
        text = open(path, encoding="utf-8", errors="replace").read()
        for inc in INCLUDE.findall(text):
            if inc in GENERATED:
                continue
            if "/" not in inc:
                if inc in headers:
                    unqualified.append('core/%s/%s includes "%s" (write "%s/%s")'
                                       % (folder, name, inc, headers[inc][0], inc))
                continue
            target_folder = inc.split("/")[0]
            if not os.path.exists(os.path.join(CORE, inc)):
                continue
            target = module_of(target_folder, inc.split("/", 1)[1])
            if target != module:
                deps.add(target)
            if target_folder != folder and target_folder not in table.get(folder, set()):
                forbidden.append("core/%s/%s includes \"%s\": %s/ may include only %s"
                                 % (folder, name, inc, folder,
                                    ", ".join(sorted(table.get(folder, set()))) or "nothing else"))
    results.append(("core headers are included by folder", unqualified))
    results.append(("no file includes a header of a folder its layer may not include", forbidden))

    cycles = find_cycles(modules)
    results.append(("no include circle between modules of core/",
                    ["circle: " + " <-> ".join(c) for c in cycles]))

    fgraph = {}
    for m, deps in modules.items():
        fgraph.setdefault(m.split("/")[0], set()).update(d.split("/")[0] for d in deps if d.split("/")[0] != m.split("/")[0])
    fcycles = find_cycles(fgraph)
    results.append(("no include circle between folders of core/",
                    ["circle: " + " <-> ".join(c) for c in fcycles]))

    print("1..%d" % len(results))
    failed = 0
    for i, (name, errs) in enumerate(results, 1):
        if errs:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for e in errs:
                print("# " + e)
        else:
            print("ok %d - %s" % (i, name))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
