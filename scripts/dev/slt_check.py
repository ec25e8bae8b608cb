"""Runs an .slt file against a running Quarry and prints every record whose
result differs (the cargo test stops at the first). Development aid only:

    .venv-fixtures/bin/python scripts/dev/slt_check.py sql/slt/ml/training.slt --dsn "port=55433 ..."
"""
import argparse
import re

import os
import subprocess


def records(text):
    blocks = re.split(r"\n\s*\n", text.strip())
    for block in blocks:
        lines = [l for l in block.splitlines() if not l.startswith("#")]
        if not lines:
            continue
        head, rest = lines[0], lines[1:]
        if "----" in rest:
            i = rest.index("----")
            yield head, "\n".join(rest[:i]), rest[i + 1:]
        else:
            yield head, "\n".join(rest), None


def fmt(v):
    if v is None:
        return "NULL"
    if v == "":
        return "(empty)"
    return str(v)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--dsn", default="host=127.0.0.1 port=55433 user=quarry dbname=quarry")
    a = p.parse_args()
    for head, sql, expected in records(open(a.file).read()):
        out = subprocess.run(
            ["psql", a.dsn, "-X", "-q", "-At", "-F", " ", "-P", "null=NULL", "-v", "VERBOSITY=verbose", "-c", sql],
            capture_output=True, text=True)
        err = out.stderr.strip() if out.returncode != 0 or "ERROR" in out.stderr else None
        rows = [r.split(" ") for r in out.stdout.splitlines()] if not err else None
        if head.startswith("statement error"):
            pat = head[len("statement error"):].strip()
            m = re.match(r"\((\w+)\)\s*(.*)", pat)
            ok = err is not None and (not m or (m.group(1) in err and (not m.group(2) or re.search(m.group(2), err))))
            if not ok:
                print(f"--- {sql}\n expected error {pat}, got {err or rows}\n")
        elif head.startswith("statement ok"):
            if err:
                print(f"--- {sql}\n error: {err}\n")
        elif head.startswith("query"):
            if err:
                print(f"--- {sql}\n error: {err}\n")
                continue
            got = [" ".join(r) for r in rows]
            if "rowsort" in head:
                got.sort()
            if got != expected:
                print(f"--- {sql}\n expected {expected}\n got      {got}\n")


if __name__ == "__main__":
    main()
