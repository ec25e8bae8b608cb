#!/usr/bin/env python3
"""UPDATE, DELETE and MERGE in Quarry against PostgreSQL on the same table.

    benches/dml_compare.sh [--binary target/release/quarry] [--rows 1000000] [--rounds 11]

Quarry changes rows copy-on-write: a statement rewrites each Parquet file
holding a row it changes and commits the new file list in one catalog
transaction (`docs/operations.md`). PostgreSQL updates in place (a new
tuple version per row). Both servers get the same table (`rows` rows,
loaded with one INSERT ... SELECT) and, in interleaved rounds, the same
statements:

- `point`: UPDATE one row by id (an OLTP-style change),
- `one_percent`: UPDATE 1% of the rows (every 100th id, shifted each round),
- `delete`: DELETE 0.1% of the rows,
- `merge`: MERGE a 10,000-row source (half matching, half new).

Reported per statement: each engine's median seconds and the ratio
quarry / postgres as the median of per-round ratios with a 95% bootstrap
interval. Written to benches/results/dml_compare.json.
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_compare import start_postgres, start_quarry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOAD = ("INSERT INTO items SELECT value AS id, CAST(value % 1000 AS DOUBLE PRECISION) AS price, "
        "'item ' || CAST(value % 97 AS TEXT) AS name FROM {series}")
SERIES = {"quarry": "generate_series(1, {n})", "postgres": "generate_series(1, {n}) AS s(value)"}

STATEMENTS = {
    "point": "UPDATE items SET price = price + 1 WHERE id = {k}",
    "one_percent": "UPDATE items SET price = price + 1 WHERE id % 100 = {r}",
    "delete": "DELETE FROM items WHERE id % 1000 = {r}",
    "merge": ("MERGE INTO items t USING (SELECT id, price FROM src WHERE round = {r}) s ON t.id = s.id "
              "WHEN MATCHED THEN UPDATE SET price = s.price "
              "WHEN NOT MATCHED THEN INSERT (id, price, name) VALUES (s.id, s.price, 'new')"),
}


def bootstrap(ratios, rounds=2000, seed=7):
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(rounds))
    return medians[int(0.025 * rounds)], medians[int(0.975 * rounds)]


def prepare(conn, engine, n, rounds):
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute("DROP TABLE IF EXISTS src")
    conn.execute("CREATE TABLE items (id BIGINT, price DOUBLE PRECISION, name TEXT)")
    conn.execute(LOAD.format(series=SERIES[engine].format(n=n)))
    # Each round's MERGE source: 5,000 existing ids and 5,000 new ones.
    conn.execute("CREATE TABLE src (round INT, id BIGINT, price DOUBLE PRECISION)")
    rows = []
    for r in range(rounds):
        rows += [(r, r * 5000 + i + 1, 1.0) for i in range(5000)]
        rows += [(r, n + r * 5000 + i + 1, 2.0) for i in range(5000)]
    with conn.cursor() as cur:
        for start in range(0, len(rows), 5000):
            chunk = rows[start:start + 5000]
            values = ", ".join(f"({r}, {i}, {p})" for r, i, p in chunk)
            cur.execute(f"INSERT INTO src VALUES {values}")
    if engine == "postgres":
        conn.execute("VACUUM ANALYZE items")
        conn.execute("VACUUM ANALYZE src")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/quarry"))
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=11)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="dml-bench-") as tmp:
        q_dsn, q_stop, _ = start_quarry(tmp, args.binary)
        pg_dsn, pg_stop = start_postgres(tmp)
        try:
            conns = {"quarry": psycopg.connect(q_dsn, autocommit=True),
                     "postgres": psycopg.connect(pg_dsn, autocommit=True)}
            for engine, conn in conns.items():
                prepare(conn, engine, args.rows, args.rounds)
            times = {s: {e: [] for e in conns} for s in STATEMENTS}
            ratios = {s: [] for s in STATEMENTS}
            counts = {s: {e: [] for e in conns} for s in STATEMENTS}
            for r in range(args.rounds):
                order = list(conns) if r % 2 == 0 else list(reversed(conns))
                for name, text in STATEMENTS.items():
                    sql = text.format(k=1 + (r * 7919) % args.rows, r=r)
                    took = {}
                    for engine in order:
                        start = time.perf_counter()
                        cur = conns[engine].execute(sql)
                        took[engine] = time.perf_counter() - start
                        times[name][engine].append(took[engine])
                        counts[name][engine].append(cur.rowcount)
                    ratios[name].append(took["quarry"] / took["postgres"])
            # Both ended with the same rows.
            check = "SELECT count(*), sum(price), count(DISTINCT name) FROM items"
            same = [tuple(conns[e].execute(check).fetchone()) for e in conns]
            assert same[0][0] == same[1][0] and abs(same[0][1] - same[1][1]) < 1e-6 * abs(same[1][1]), same
            for name in STATEMENTS:
                assert counts[name]["quarry"] == counts[name]["postgres"], (name, counts[name])
        finally:
            q_stop()
            pg_stop()

    result = {"binary": args.binary, "rows": args.rows, "rounds": args.rounds, "statements": {}}
    for name in STATEMENTS:
        low, high = bootstrap(ratios[name])
        result["statements"][name] = {
            "sql": STATEMENTS[name],
            "rows_changed_per_round": counts[name]["quarry"][0],
            "quarry_s_median": statistics.median(times[name]["quarry"]),
            "postgres_s_median": statistics.median(times[name]["postgres"]),
            "ratio_quarry_over_postgres": statistics.median(ratios[name]),
            "ratio_ci95": [low, high],
            "samples": {"ratios": ratios[name], **{f"{e}_s": v for e, v in times[name].items()}},
        }
    os.makedirs(os.path.join(ROOT, "benches/results"), exist_ok=True)
    with open(os.path.join(ROOT, "benches/results/dml_compare.json"), "w") as f:
        json.dump(result, f, indent=1)
    for name, s in result["statements"].items():
        print(f"{name:12s} ({s['rows_changed_per_round']} rows): quarry {s['quarry_s_median'] * 1e3:.1f} ms, "
              f"postgres {s['postgres_s_median'] * 1e3:.1f} ms, ratio {s['ratio_quarry_over_postgres']:.2f} "
              f"(95% CI {s['ratio_ci95'][0]:.2f}-{s['ratio_ci95'][1]:.2f})")


if __name__ == "__main__":
    main()
