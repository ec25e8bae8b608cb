#!/usr/bin/env python3
"""Quarry vs PostgreSQL over the wire, side by side in one run, with psycopg 3.

    benches/wire_compare.sh            # sets up what it needs, then runs this

Both servers run on this machine on 127.0.0.1 with trust authentication.
  SELECT 1            round trip (psycopg 3 sends Parse/Bind/Describe/Execute/Sync,
                      then prepares the statement after 5 executions), and the
                      server's CPU per statement (user + kernel, from /proc:
                      Quarry's process, PostgreSQL's backend); interleaved in
                      short blocks between Quarry, PostgreSQL and a second
                      PostgreSQL backend, the A/A control (see `interleaved`)
  SELECT %s::int      the same with a bound parameter
  COPY FROM STDIN     loading the same 1M-row table into each (once per server)
  fetch 1M rows       SELECT * -> fetchall(), text and binary result formats, and
                      the server's CPU (user + kernel) for each
  COPY TO STDOUT      the same rows as raw text
Data: 1M rows made in memory on every run by make_csv (Python's random, seed 42).
Reported: medians, and the ratio Quarry / PostgreSQL as the median of the
per-block or per-round ratios (lower is better), with a 95% bootstrap
interval and the A/A ratio where there is one; every sample is in the json.
"""
import argparse
import csv
import io
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = "id BIGINT, x DOUBLE PRECISION, y DOUBLE PRECISION, label TEXT, category TEXT, flag BOOLEAN, qty INT, day DATE"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(dsn, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            psycopg.connect(dsn).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise SystemExit(f"server at {dsn} did not come up")


def start_postgres(tmp):
    pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pgbin = f"/usr/lib/postgresql/{pgbin}/bin"
    data = os.path.join(tmp, "pg")
    runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    os.makedirs(data)
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(runas + [f"{pgbin}/initdb", "-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8",
                            "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(f"listen_addresses='127.0.0.1'\nport={port}\nunix_socket_directories='{tmp}'\n"
                "shared_buffers='1GB'\nwork_mem='256MB'\nmax_parallel_workers_per_gather=2\n")
    subprocess.run(runas + [f"{pgbin}/pg_ctl", "-D", data, "-l", os.path.join(tmp, "pg.log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    dsn = f"host=127.0.0.1 port={port} user=bench dbname=postgres"
    wait_ready(dsn, None)
    return dsn, lambda: subprocess.run(runas + [f"{pgbin}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                                       stdout=subprocess.DEVNULL)


def start_quarry(tmp, binary):
    port = free_port()
    proc = subprocess.Popen([binary, "--data-dir", os.path.join(tmp, "quarry"), "--pg-listen", f"127.0.0.1:{port}",
                             "--http-listen", "127.0.0.1:0", "--no-demo"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "quarry.log"), "w"))
    dsn = f"host=127.0.0.1 port={port} user=quarry dbname=quarry"
    wait_ready(dsn, proc)
    return dsn, lambda: (proc.terminate(), proc.wait()), proc.pid


def make_csv(rows, seed=42):
    rnd = random.Random(seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cats = [f"cat_{i:03d}" for i in range(200)]
    for i in range(1, rows + 1):
        w.writerow([i, rnd.random() * 1000, rnd.gauss(0, 1), f"row {i}", rnd.choice(cats),
                    "t" if rnd.random() < 0.3 else "f", rnd.randint(0, 100),
                    f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"])
    return buf.getvalue()


def load(dsn, data):
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS wire_rows")
        con.execute(f"CREATE TABLE wire_rows ({COLUMNS})")
        t0 = time.perf_counter()
        with con.cursor().copy("COPY wire_rows FROM STDIN (FORMAT csv)") as cp:
            view = memoryview(data.encode())
            for i in range(0, len(view), 1 << 20):
                cp.write(view[i:i + (1 << 20)])
        elapsed = time.perf_counter() - t0
        n = con.execute("SELECT count(*) FROM wire_rows").fetchone()[0]
        return elapsed, n


def cpu_ticks(pid):
    """User and system CPU of a process so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def bootstrap_median(values, reps=2000, seed=7):
    """95% bootstrap interval of the median of `values`."""
    rnd = random.Random(seed)
    meds = sorted(statistics.median(rnd.choices(values, k=len(values))) for _ in range(reps))
    return meds[int(reps * 0.025)], meds[int(reps * 0.975)]


def interleaved(targets, query, params, args):
    """Round trips of one short statement, interleaved finely between servers.

    `targets` are (name, dsn, pid) with pid None for a PostgreSQL backend (it
    is looked up). Each connection runs `args.block` statements in turn, for
    `args.blocks` blocks, in a rotating order, so a change in this shared
    machine's load between two blocks lasts a few milliseconds and touches
    every server alike. For each block the median round trip of each server;
    the ratio of two servers is the median of their per-block ratios, with a
    bootstrap interval. Two connections to the same PostgreSQL (two backends)
    are an A/A control: their ratio shows how far from 1.00 noise alone goes.
    The server's CPU (user + kernel, from /proc) is summed over all blocks."""
    cons, pids = [], []
    try:
        for name, dsn, pid in targets:
            con = psycopg.connect(dsn, autocommit=True)
            cons.append(con)
            cur = con.cursor()
            pids.append(pid if pid is not None else cur.execute("SELECT pg_backend_pid()").fetchone()[0])
        curs = [con.cursor() for con in cons]
        for cur in curs:  # warm up: psycopg prepares after 5 executions
            for _ in range(args.block):
                cur.execute(query, params).fetchone()
        medians = [[] for _ in targets]
        cpu = [0] * len(targets)
        order = list(range(len(targets)))
        for b in range(args.blocks):
            for i in order[b % len(order):] + order[:b % len(order)]:
                cur, samples = curs[i], []
                u0, s0 = cpu_ticks(pids[i])
                for _ in range(args.block):
                    t0 = time.perf_counter()
                    cur.execute(query, params).fetchone()
                    samples.append(time.perf_counter() - t0)
                u1, s1 = cpu_ticks(pids[i])
                cpu[i] += u1 - u0 + s1 - s0
                medians[i].append(statistics.median(samples) * 1e6)
        per_stmt = 1e6 / os.sysconf("SC_CLK_TCK") / (args.blocks * args.block)
        return medians, [c * per_stmt for c in cpu]
    finally:
        for con in cons:
            con.close()


def round_trips(q_dsn, q_pid, pg_dsn, args):
    """Rows for the round-trip measures: Quarry / PostgreSQL and the A/A
    control PostgreSQL / PostgreSQL, each with its per-block samples."""
    targets = [("quarry", q_dsn, q_pid), ("postgres", pg_dsn, None), ("postgres (A/A)", pg_dsn, None)]
    rows = []
    for label, query, params in [("SELECT 1", "SELECT 1", None), ("SELECT $1::int", "SELECT %s::int", (1,))]:
        medians, cpu = interleaved(targets, query, params, args)
        q, p, a = medians
        ratios = [x / y for x, y in zip(q, p)]
        control = [x / y for x, y in zip(a, p)]
        rows.append({"measurement": f"{label} round trip (us)",
                     "quarry": statistics.median(q), "postgres": statistics.median(p),
                     "ratio": statistics.median(ratios), "ratio_95": bootstrap_median(ratios),
                     "a_a_ratio": statistics.median(control), "a_a_ratio_95": bootstrap_median(control),
                     "quarry_samples": q, "postgres_samples": p, "a_a_samples": a})
        rows.append({"measurement": f"{label}, server CPU per statement (us)",
                     "quarry": cpu[0], "postgres": cpu[1], "ratio": cpu[0] / cpu[1] if cpu[1] else float("nan"),
                     "a_a_ratio": cpu[2] / cpu[1] if cpu[1] else float("nan")})
    return rows


def measure_fetch(dsn, rows, args, fingerprints, pid=None):
    """One round of the bulk measures: fetching every row, text and binary, and COPY TO.
    `fingerprints` gets an order-independent hash of the rows fetched in each format.
    Wall time is mostly the Python client parsing rows; the server's own CPU
    (user + kernel, `pid` or the PostgreSQL backend) is reported beside it."""
    out = {}
    per_tick = 1 / os.sysconf("SC_CLK_TCK")
    with psycopg.connect(dsn, autocommit=True) as con:
        if pid is None:
            pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
        for label, binary in [("text", False), ("binary", True)]:
            times, cpu = [], []
            for _ in range(args.runs):
                c = con.cursor(binary=binary)
                u0, s0 = cpu_ticks(pid)
                t0 = time.perf_counter()
                c.execute("SELECT * FROM wire_rows")
                got = c.fetchall()
                times.append(time.perf_counter() - t0)
                u1, s1 = cpu_ticks(pid)
                cpu.append((u1 - u0 + s1 - s0) * per_tick)
                assert len(got) == rows, (len(got), rows)
                # The same values from both servers, in whatever order.
                fingerprints.setdefault(label, sum(hash(r) for r in got))
            out[f"fetch {rows:,} rows, {label} (s)"] = statistics.median(times)
            out[f"fetch {rows:,} rows, {label}, server CPU (s)"] = statistics.median(cpu)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            with con.cursor().copy("COPY (SELECT * FROM wire_rows) TO STDOUT") as cp:
                for _chunk in cp:
                    pass
            times.append(time.perf_counter() - t0)
        out[f"COPY TO STDOUT {rows:,} rows (s)"] = statistics.median(times)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--blocks", type=int, default=200, help="interleaved blocks of the round-trip measures")
    ap.add_argument("--block", type=int, default=100, help="round trips per connection and block")
    ap.add_argument("--runs", type=int, default=3, help="runs per fetch measure and round")
    ap.add_argument("--fetch-rounds", type=int, default=2, help="alternating rounds of the fetch measures")
    ap.add_argument("--round-trips-only", action="store_true", help="skip loading and fetching the 1M rows")
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "results", "wire_compare.json"))
    ap.add_argument("--quarry", default=os.path.join(ROOT, "target", "release", "quarry"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="quarry-wire-")
    stops = []
    try:
        pg_dsn, stop = start_postgres(tmp)
        stops.append(stop)
        q_dsn, stop, q_pid = start_quarry(tmp, args.quarry)
        stops.append(stop)
        table = round_trips(q_dsn, q_pid, pg_dsn, args)
        if not args.round_trips_only:
            table += bulk(q_dsn, q_pid, pg_dsn, args)
        print("| measurement | Quarry | PostgreSQL | Quarry / PostgreSQL | A/A control |")
        print("|---|---:|---:|---:|---:|")
        for row in table:
            ratio = f"{row['ratio']:.2f}"
            if "ratio_95" in row:
                ratio += " ({:.2f}-{:.2f})".format(*row["ratio_95"])
            control = f"{row['a_a_ratio']:.2f}" if "a_a_ratio" in row else ""
            if "a_a_ratio_95" in row:
                control += " ({:.2f}-{:.2f})".format(*row["a_a_ratio_95"])
            print(f"| {row['measurement']} | {row['quarry']:,.3f} | {row['postgres']:,.3f} | {ratio} | {control} |")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"rows": args.rows, "blocks": args.blocks, "block": args.block,
                       "fetch_rounds": args.fetch_rounds, "loadavg": os.getloadavg(),
                       "results": table}, f, indent=2)
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bulk(q_dsn, q_pid, pg_dsn, args):
    """Rows for loading and fetching `args.rows` rows, servers alternating
    round by round; a ratio is the median of the per-round ratios."""
    data = make_csv(args.rows)
    results = {"quarry": {}, "postgres": {}}
    for name, dsn in [("postgres", pg_dsn), ("quarry", q_dsn)]:
        secs, n = load(dsn, data)
        assert n == args.rows, (name, n)
        results[name][f"COPY FROM STDIN {args.rows:,} rows (s)"] = [secs]
    servers = [("postgres", pg_dsn, None), ("quarry", q_dsn, q_pid)]
    fingerprints = {"postgres": {}, "quarry": {}}
    for r in range(args.fetch_rounds):
        for name, dsn, pid in servers if r % 2 == 0 else servers[::-1]:
            for k, v in measure_fetch(dsn, args.rows, args, fingerprints[name], pid).items():
                results[name].setdefault(k, []).append(v)
    if fingerprints["quarry"] != fingerprints["postgres"]:
        raise SystemExit(f"the servers returned different rows: {fingerprints}")
    rows = []
    for k, q in results["quarry"].items():
        p = results["postgres"][k]
        ratios = [a / b for a, b in zip(q, p) if b > 0]
        rows.append({"measurement": k, "quarry": statistics.median(q), "postgres": statistics.median(p),
                     "ratio": statistics.median(ratios), "quarry_samples": q, "postgres_samples": p})
    return rows


if __name__ == "__main__":
    sys.exit(main())
