#!/usr/bin/env python3
"""Does a table written by a thousand single-row INSERTs scan like one file?

    benches/compaction.sh [--binary target/release/quarry] [--inserts 1000] [--rounds 40]

One Quarry server. Table `trickle` gets N single-row INSERTs (each a commit,
each a Parquet file until background compaction merges them); table `bulk`
gets the same rows in one INSERT (one file), the peer. Then interleaved
rounds scan both with the same aggregate; reported: the median scan time of
each, the ratio trickle / bulk as the median of per-round ratios with a 95%
bootstrap interval (the issue's target: within 2x), the Parquet files each
table has on disk, and INSERT latency over the first and last 100 inserts
(writes must not slow down as files pile up).
"""
import argparse
import glob
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quarry_server import Quarry  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCAN = "SELECT count(*), sum(x), min(label), max(id) FROM {}"


def bootstrap(ratios, rounds=2000, seed=7):
    rng = random.Random(seed)
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(rounds)
    )
    return medians[int(0.025 * rounds)], medians[int(0.975 * rounds)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/quarry"))
    p.add_argument("--inserts", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    q = Quarry(args.binary, args.threads, ["--vacuum-retention", "0s"])
    try:
        q.sql("CREATE TABLE trickle (id BIGINT, x DOUBLE PRECISION, label TEXT)")
        q.sql("CREATE TABLE bulk (id BIGINT, x DOUBLE PRECISION, label TEXT)")
        rows = [(i, i * 0.5, f"row {i % 97}") for i in range(args.inserts)]
        latencies = []
        for row in rows:
            start = time.perf_counter()
            q.conn.execute("INSERT INTO trickle VALUES (%s, %s, %s)", row)
            latencies.append(time.perf_counter() - start)
        values = ", ".join(f"({i}, {x}, '{label}')" for i, x, label in rows)
        q.sql(f"INSERT INTO bulk VALUES {values}")
        # Background compaction runs after the appends that cross its
        # threshold; give the last one time to commit.
        time.sleep(3)
        assert q.sql(SCAN.format("trickle")) == q.sql(SCAN.format("bulk")), "tables differ"

        times = {"trickle": [], "bulk": []}
        ratios = []
        for r in range(args.rounds):
            order = ["trickle", "bulk"] if r % 2 == 0 else ["bulk", "trickle"]
            took = {}
            for table in order:
                start = time.perf_counter()
                q.sql(SCAN.format(table))
                took[table] = time.perf_counter() - start
                times[table].append(took[table])
            ratios.append(took["trickle"] / took["bulk"])
        # With no retention, VACUUM leaves only the files live versions use.
        q.sql("VACUUM")
        files = len(glob.glob(os.path.join(q.dir, "tables", "*", "*.parquet")))
        low, high = bootstrap(ratios)
        result = {
            "binary": args.binary,
            "inserts": args.inserts,
            "rounds": args.rounds,
            "scan_ms_median": {t: statistics.median(v) * 1e3 for t, v in times.items()},
            "ratio_trickle_over_bulk": statistics.median(ratios),
            "ratio_ci95": [low, high],
            "parquet_files_on_disk": files,
            "insert_ms_first_100": statistics.median(latencies[:100]) * 1e3,
            "insert_ms_last_100": statistics.median(latencies[-100:]) * 1e3,
            "samples": {"ratios": ratios, **{f"{t}_s": v for t, v in times.items()}},
        }
    finally:
        q.stop()
    os.makedirs(os.path.join(ROOT, "benches/results"), exist_ok=True)
    with open(os.path.join(ROOT, "benches/results/compaction.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"scan after {args.inserts} single-row inserts vs one bulk insert: "
        f"{result['scan_ms_median']['trickle']:.2f} ms vs {result['scan_ms_median']['bulk']:.2f} ms, "
        f"ratio {result['ratio_trickle_over_bulk']:.2f} (95% CI {low:.2f}-{high:.2f}); "
        f"{result['parquet_files_on_disk']} Parquet files on disk (both tables); "
        f"insert latency first/last 100: {result['insert_ms_first_100']:.2f} / "
        f"{result['insert_ms_last_100']:.2f} ms"
    )


if __name__ == "__main__":
    main()
