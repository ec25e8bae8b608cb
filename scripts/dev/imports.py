#!/usr/bin/env python3
"""The module import graph of a crate, and its cycles.

    python3 scripts/dev/imports.py src            # the server crate
    python3 scripts/dev/imports.py udfs/src       # quarry-udfs
    python3 scripts/dev/imports.py src --edges    # every edge, not only cycles

Reads every `.rs` file under the crate root, maps it to its module path
(`src/server/handler.rs` -> `server::handler`), and collects the modules each
one names through `crate::...`, `super::...` and `self::...` paths (in `use`
trees and inline). A path is resolved to the longest module it names. Edges
between a module and its own ancestor or descendant are parent/child edges,
which Rust's privacy makes normal; every other strongly connected component
of more than one module is reported as a cycle. Test modules (`mod tests`) are
skipped. Exit status 1 when a cycle is found with --check.
"""

import argparse
import os
import re
import sys


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """Source without comments, strings and `#[cfg(test)]` modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    # Drop `#[cfg(test)] mod tests { ... }` bodies by brace matching.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    i = tree.find("{")
    if i < 0:
        return [tree.split(" as ")[0]]
    prefix, body = tree[:i], tree[i + 1:-1]
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    out = []
    for p in parts:
        if p:
            out.extend(prefix + e for e in expand_use(p))
    return out


def references(module, text):
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand_use(m.group(1)))
    paths.extend(re.findall(r"\b(?:crate|super|self)(?:::\w+)+", text))
    for p in paths:
        parts = [x for x in p.split("::") if x]
        if not parts:
            continue
        if parts[0] == "crate":
            yield tuple(parts[1:])
        elif parts[0] in ("super", "self"):
            base = list(module)
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super" and base:
                    base.pop()
                parts = parts[1:]
            yield tuple(base + parts)


def resolve(path, modules):
    for n in range(len(path), 0, -1):
        if path[:n] in modules:
            return path[:n]
    return None


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="crate source root, e.g. src or udfs/src")
    ap.add_argument("--edges", action="store_true", help="print every edge")
    ap.add_argument("--check", action="store_true", help="exit 1 on a cycle")
    args = ap.parse_args()
    files = []
    for d, _, names in os.walk(args.root):
        files.extend(os.path.join(d, n) for n in names if n.endswith(".rs"))
    modules = {module_of(args.root, f): f for f in files}
    # main.rs is the binary crate: its `crate::` is not the library's.
    modules.pop((), None)
    modules[()] = os.path.join(args.root, "lib.rs")
    edges = {}
    for module, path in sorted(modules.items()):
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = strip(f.read())
        for ref in references(module, text):
            target = resolve(ref, modules)
            if target is None or target == module:
                continue
            related = target[: len(module)] == module or module[: len(target)] == target
            if not related:
                edges.setdefault(module, set()).add(target)
    name = lambda m: "::".join(m) or "crate"
    n_edges = sum(len(v) for v in edges.values())
    print(f"{args.root}: {len(modules)} modules, {n_edges} edges (parent/child edges left out)")
    if args.edges:
        for m in sorted(edges):
            print(f"  {name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}")
    cycles = [c for c in sccs(set(modules), edges) if len(c) > 1]
    for c in cycles:
        print(f"cycle of {len(c)} modules: {', '.join(sorted(name(m) for m in c))}")
    if not cycles:
        print("no cycles")
    if args.check and cycles:
        sys.exit(1)


if __name__ == "__main__":
    main()
