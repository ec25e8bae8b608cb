#!/usr/bin/env python3
"""Quarry vs PostgreSQL over the wire, side by side in one run, with psycopg 3.

    benches/wire_compare.sh            # sets up what it needs, then runs this

Both servers run on this machine on 127.0.0.1 with trust authentication and get
the same 1M-row table loaded with COPY. Measured for each, alternating rounds:
  SELECT 1            round trip (psycopg 3 sends Parse/Bind/Describe/Execute/Sync,
                      then prepares the statement after 5 executions), and the
                      server's CPU per SELECT 1 (user and kernel, from /proc:
                      Quarry's process, PostgreSQL's backend)
  SELECT %s::int      the same with a bound parameter
  fetch 1M rows       SELECT * -> fetchall(), text and binary result formats, and
                      the server's CPU (user + kernel) for each
  COPY TO STDOUT      the same rows as raw text
  COPY FROM STDIN     loading the table (once per server)
Reported: medians, and the ratio Quarry / PostgreSQL as the median of the
per-round ratios (lower is better for times); every sample is in the json.
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


def latency(con, fn, n, max_s):
    fn()
    samples, deadline = [], time.perf_counter() + max_s
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
        if time.perf_counter() > deadline:
            break
    return statistics.median(samples)


def cpu_ticks(pid):
    """User and system CPU of a process so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def server_cpu(cur, pid, n):
    """Server CPU per `SELECT 1` (user, system) in microseconds: the part of
    the round trip that is the server's own work, steadier than wall time on
    a shared machine. `pid` is the Quarry process or the PostgreSQL backend."""
    u0, s0 = cpu_ticks(pid)
    for _ in range(n):
        cur.execute("SELECT 1").fetchone()
    u1, s1 = cpu_ticks(pid)
    per = 1e6 / os.sysconf("SC_CLK_TCK") / n
    return (u1 - u0) * per, (s1 - s0) * per


def measure_short(dsn, args, pid=None):
    """One round of the round-trip measures: SELECT 1, its server CPU, SELECT $1."""
    out = {}
    with psycopg.connect(dsn, autocommit=True) as con:
        cur = con.cursor()
        out["SELECT 1 round trip (us)"] = latency(con, lambda: cur.execute("SELECT 1").fetchone(), args.n, args.max_s)
        if pid is None:
            pid = cur.execute("SELECT pg_backend_pid()").fetchone()[0]
        user, system = server_cpu(cur, pid, args.cpu_n)
        out["SELECT 1, server CPU in user space (us)"] = user
        out["SELECT 1, server CPU in the kernel (us)"] = system
        out["SELECT $1::int round trip (us)"] = latency(
            con, lambda: cur.execute("SELECT %s::int", (1,)).fetchone(), args.n, args.max_s)
    return out


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
    ap.add_argument("--n", type=int, default=3000, help="round trips per latency test")
    ap.add_argument("--max-s", type=float, default=10.0)
    ap.add_argument("--cpu-n", type=int, default=10000, help="SELECT 1 round trips per server CPU measure")
    ap.add_argument("--runs", type=int, default=3, help="runs per fetch measure and round")
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds of the round-trip measures")
    ap.add_argument("--fetch-rounds", type=int, default=2, help="alternating rounds of the fetch measures")
    ap.add_argument("--quarry", default=os.path.join(ROOT, "target", "release", "quarry"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="quarry-wire-")
    stops = []
    try:
        pg_dsn, stop = start_postgres(tmp)
        stops.append(stop)
        q_dsn, stop, q_pid = start_quarry(tmp, args.quarry)
        stops.append(stop)
        data = make_csv(args.rows)
        results = {"quarry": {}, "postgres": {}}
        for name, dsn in [("postgres", pg_dsn), ("quarry", q_dsn)]:
            secs, n = load(dsn, data)
            assert n == args.rows, (name, n)
            results[name][f"COPY FROM STDIN {args.rows:,} rows (s)"] = secs
        # Alternate the two servers round by round; each measure's ratio is
        # the median of its per-round ratios, so drift in the load of this
        # shared machine hits both sides of every ratio.
        servers = [("postgres", pg_dsn, None), ("quarry", q_dsn, q_pid)]
        fingerprints = {"postgres": {}, "quarry": {}}
        for rounds, run in [(args.rounds, lambda name, dsn, pid: measure_short(dsn, args, pid)),
                            (args.fetch_rounds, lambda name, dsn, pid: measure_fetch(
                                dsn, args.rows, args, fingerprints[name], pid))]:
            for r in range(rounds):
                for name, dsn, pid in servers if r % 2 == 0 else servers[::-1]:
                    for k, v in run(name, dsn, pid).items():
                        results[name].setdefault(k, []).append(v)
        if fingerprints["quarry"] != fingerprints["postgres"]:
            raise SystemExit(f"the servers returned different rows: {fingerprints}")
        table = []
        for k in results["quarry"]:
            q = results["quarry"][k]
            p = results["postgres"][k]
            if isinstance(q, list):
                ratios = [a / b for a, b in zip(q, p) if b > 0]
                table.append((k, statistics.median(q), statistics.median(p), statistics.median(ratios), q, p))
            else:
                table.append((k, q, p, q / p, [q], [p]))
        print("| measurement | Quarry | PostgreSQL | Quarry / PostgreSQL |")
        print("|---|---:|---:|---:|")
        for k, q, p, r, _, _ in table:
            print(f"| {k} | {q:,.3f} | {p:,.3f} | {r:.2f} |")
        os.makedirs(os.path.join(ROOT, "benches", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "benches", "results", "wire_compare.json"), "w") as f:
            json.dump({"rows": args.rows, "rounds": args.rounds, "fetch_rounds": args.fetch_rounds,
                       "loadavg": os.getloadavg(),
                       "results": [{"measurement": k, "quarry": q, "postgres": p, "ratio": r,
                                    "quarry_samples": qs, "postgres_samples": ps}
                                   for k, q, p, r, qs, ps in table]}, f, indent=2)
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
