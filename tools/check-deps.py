#!/usr/bin/env python3
"""Check Synod's #include dependencies (docs/architecture.md, "Dependency rules").

Reads the quoted includes (#include "...") of every .c and .h file under
controller/, storage/, net/, tools/ and tests/ and checks three rules:

1. No include cycles among the units of controller/, storage/ and net/.
   A unit is a file's path without its extension (controller/topics.c and
   controller/topics.h are the unit controller/topics). A module's internal
   header X_int.h belongs to the unit X (storage/store_int.h is part of
   storage/store), so a module's own .c -> _int.h -> .h chain is not a cycle.
2. Internal headers (*_int.h) are included only by the files listed for them
   in INTERNAL below; a *_int.h header not listed there may be included only
   by files of its own directory whose name starts with its prefix
   (foo_int.h: foo*.c, foo*.h).
3. Layering: net/ includes nothing of controller/ or storage/; storage/
   includes nothing of controller/ or net/ (generated protobuf headers are
   not repo files and are not checked); tools/ includes nothing of
   controller/ but the headers listed in TOOLS_MAY_INCLUDE.

Prints one line per finding and exits 1 if there is any; otherwise prints
"OK: N units, M edges, no cycles" and exits 0. Warnings (includes that name
no repo file) do not fail.

  tools/check-deps.py            check the tree this script belongs to
  tools/check-deps.py --dot      print the unit graph (Graphviz dot) on
                                 stdout; findings go to stderr
  tools/check-deps.py --root DIR check another tree

Python 3 standard library only.
"""

import argparse
import fnmatch
import os
import re
import sys

# Internal headers and the files (glob patterns on repo-relative paths) that
# may include them. A *_int.h header missing here gets the default rule:
# files of its directory whose basename starts with its prefix.
INTERNAL = {
    # The store's statements and apply helpers, shared by its files only
    # (store.c, store_brokers.c, store_topics.c, store_groups.c, ...).
    "storage/store_int.h": ["storage/store*.c",
                            # The store fuzz targets reset the store's
                            # database between runs (docs/fuzzing.md).
                            "tests/fuzz/fuzz_store.h"],
    # The topic logic's shared state, split by concern across topics*.c.
    "controller/topics_int.h": ["controller/topics*.c"],
    # What the server offers the modules' request handlers: connections,
    # waiting requests, answers. The daemon's files only (a module's
    # header passes struct sconn in its handlers; the publisher queues on
    # connections); never the libraries or tools.
    "controller/server_int.h": ["controller/*",
                                # Fails the allocation of a client
                                # connection's state (sizeof struct sconn).
                                "tests/integration/test_accept_nomem.c"],
}

# Headers of controller/ that tools/ may include: the config key table is a
# library of its own (synod_configdefs in CMakeLists.txt) shared by the
# daemon and synodctl. Everything else in controller/ is the daemon's.
TOOLS_MAY_INCLUDE = ["controller/configdefs.h"]

# Cycles among units that are intended, each as the exact set of units of
# the strongly connected component. A component that differs in any unit
# (a unit more or less) still fails.
ALLOWED_CYCLES = [
    # None: every include cycle among units fails the check.
]

# Directories whose files are read.
SCAN_DIRS = ["controller", "storage", "net", "tools", "tests"]
# Directories whose units make the graph checked for cycles.
GRAPH_DIRS = ["controller", "storage", "net"]
# Where a quoted include is looked for after the including file's own
# directory (the order of the build's include paths).
SEARCH_DIRS = ["net", "net/include", "storage", "controller", "tools"]
# tools/ and tests/ are built with tools/ ahead of controller/ on the
# include path (synod_toolkit before synod_configdefs), so their "cluster.h"
# is tools/cluster.h, not controller/cluster.h.
SEARCH_DIRS_TOOLS = ["tools", "net", "net/include", "storage", "controller"]

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def top(path):
    return path.split("/", 1)[0]


def is_generated(name):
    # protoc-c output (synod.pb-c.h, records.pb-c.h) lives in the build tree.
    return name.endswith(".pb-c.h")


def strip_comments(text):
    """Blank out C comments (keeping newlines, so line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def unit_of(path):
    """controller/topics.c -> controller/topics; storage/store_int.h ->
    storage/store (an internal header is part of its module)."""
    base = os.path.splitext(path)[0]
    if path.endswith("_int.h"):
        base = base[: -len("_int")]
    return base


def scan(root):
    files = []
    for d in SCAN_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
            for f in sorted(filenames):
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    files.append(rel.replace(os.sep, "/"))
    return files


def resolve(root, src, name, fileset):
    if is_generated(name):
        return None
    here = os.path.dirname(src)
    dirs = SEARCH_DIRS_TOOLS if top(src) in ("tools", "tests") else SEARCH_DIRS
    for d in [here] + dirs:
        cand = os.path.normpath(os.path.join(d, name)).replace(os.sep, "/")
        if cand in fileset:
            return cand
    return ""  # names no repo file


def may_include_internal(src, hdr):
    pats = INTERNAL.get(hdr)
    if pats is not None:
        return any(fnmatch.fnmatchcase(src, p) for p in pats)
    prefix = os.path.basename(hdr)[: -len("_int.h")]
    return (os.path.dirname(src) == os.path.dirname(hdr)
            and os.path.basename(src).startswith(prefix))


def layering(src, dst):
    s, t = top(src), top(dst)
    if s == "net" and t in ("controller", "storage"):
        return "net/ must not include %s/" % t
    if s == "storage" and t in ("controller", "net"):
        return "storage/ must not include %s/" % t
    if s == "tools" and t == "controller" and dst not in TOOLS_MAY_INCLUDE:
        return "tools/ must not include controller/ internals"
    return None


def sccs(nodes, adj):
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(adj.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(adj.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


def shortest_cycle(start, comp, adj):
    """Shortest path start -> ... -> start inside comp (BFS)."""
    prev = {}
    frontier = [start]
    seen = set()
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(adj.get(v, ())):
                if w not in comp:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return path[::-1] + [start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dot", action="store_true",
                    help="print the unit graph of controller/, storage/ and "
                         "net/ in Graphviz dot (findings go to stderr)")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), help="repository root")
    args = ap.parse_args()
    root = args.root
    report = sys.stderr if args.dot else sys.stdout

    files = scan(root)
    fileset = set(files)
    errors, warnings = [], []
    # (src unit, dst unit) -> first include that makes the edge
    edges = {}
    units = {unit_of(f) for f in files if top(f) in GRAPH_DIRS}

    for src in files:
        with open(os.path.join(root, src), encoding="utf-8",
                  errors="replace") as fh:
            text = strip_comments(fh.read())
        for m in INCLUDE_RE.finditer(text):
            name = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (src, line)
            dst = resolve(root, src, name, fileset)
            if dst is None:
                continue
            if dst == "":
                warnings.append('warning: %s: "%s" names no file of the '
                                'repository (not checked)' % (where, name))
                continue
            if dst.endswith("_int.h") and not may_include_internal(src, dst):
                pats = INTERNAL.get(dst)
                who = (", ".join(pats) if pats else "%s/%s*" % (
                    os.path.dirname(dst),
                    os.path.basename(dst)[: -len("_int.h")]))
                errors.append('internal: %s: includes %s (internal header, '
                              'allowed only in %s)' % (where, dst, who))
            why = layering(src, dst)
            if why:
                errors.append("layering: %s: includes %s (%s)" %
                              (where, dst, why))
            su, du = unit_of(src), unit_of(dst)
            if (su != du and top(src) in GRAPH_DIRS
                    and top(dst) in GRAPH_DIRS):
                edges.setdefault((su, du), '%s "%s"' % (where, name))

    adj = {}
    for (a, b) in edges:
        adj.setdefault(a, set()).add(b)

    allowed_used, allowed = [], []
    for comp in sccs(sorted(units), adj):
        if len(comp) < 2:
            continue
        allowed_used += [c for c in ALLOWED_CYCLES if c <= comp]
        if comp in ALLOWED_CYCLES:
            cyc = shortest_cycle(min(comp), comp, adj)
            allowed.append("allowed cycle (ALLOWED_CYCLES): %s" %
                           " -> ".join(cyc))
            continue
        printed = set()
        for u in sorted(comp):
            cyc = shortest_cycle(u, comp, adj)
            ring = cyc[:-1]
            k = ring.index(min(ring))
            key = tuple(ring[k:] + ring[:k])
            if key in printed:
                continue
            printed.add(key)
            path = list(key) + [key[0]]
            how = "; ".join(edges[(path[i], path[i + 1])]
                            for i in range(len(path) - 1))
            errors.append("cycle: %s  [%s]" % (" -> ".join(path), how))
    for comp in ALLOWED_CYCLES:
        if comp not in allowed_used:
            warnings.append("warning: ALLOWED_CYCLES entry %s matches no "
                            "cycle any more: remove it" %
                            " <-> ".join(sorted(comp)))

    if args.dot:
        print("digraph synod_units {")
        print("  rankdir=LR;")
        print("  node [shape=box, fontname=\"Helvetica\", fontsize=10];")
        for d in GRAPH_DIRS:
            print('  subgraph "cluster_%s" {' % d)
            print('    label="%s/";' % d)
            for u in sorted(x for x in units if top(x) == d):
                print('    "%s" [label="%s"];' % (u, u[len(d) + 1:]))
            print("  }")
        for (a, b) in sorted(edges):
            print('  "%s" -> "%s";' % (a, b))
        print("}")

    for line in sorted(set(warnings)) + allowed + errors:
        print(line, file=report)
    if errors:
        print("FAILED: %d finding(s) (rules: docs/architecture.md, "
              "\"Dependency rules\")" % len(errors), file=report)
        return 1
    print("OK: %d units, %d edges, no cycles" % (len(units), len(edges)),
          file=report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
