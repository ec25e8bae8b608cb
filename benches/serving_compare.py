"""Serving side by side, in one run on one release server, interleaved
rounds, ratio of medians:

1. REST single-row latency (p50, p99) against the same prediction through
   a prepared SQL statement (psycopg, binary parameters, prepared once);
2. batch throughput, 10 000 rows a request: REST (JSON in and out) against
   SQL scoring the same rows from a table;
3. `ml_predict` over 1M rows with logging off, at rate 0.1 and at rate 1.0
   (the log's cost; the target is at most 15% at 1.0);
4. part 1 again from a Go client (benches/rest_latency: net/http against
   pgx), when Go and Debian's pgx sources are installed: Python's own
   HTTP and JSON time is a large part of part 1's numbers.

The model is a GBDT on the demo churn data. Run by
benches/serving_compare.sh, which builds the release binary."""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

from quarry_server import Quarry

FEATURES = ["age", "plan", "monthly_fee", "tenure_months", "support_calls", "region"]
SCORE = "ml_predict_proba('churn_bench', age, plan, monthly_fee, tenure_months, support_calls, region)"


_connections = {}


def post(port, rows):
    """One request on a kept-alive connection, as an application's HTTP
    client pool would send it (psycopg keeps its connection too)."""
    conn = _connections.get(port)
    if conn is None:
        conn = _connections[port] = http.client.HTTPConnection("127.0.0.1", port)
    conn.request(
        "POST", "/v1/models/churn_bench/predict", body=json.dumps({"rows": rows}),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body
    return json.loads(body)


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def go_client():
    """benches/rest_latency built into target/bench, or None without Go."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "target", "bench", "rest-latency")
    if shutil.which("go") is None or not os.path.isdir("/usr/share/gocode/src/github.com/jackc/pgx"):
        print("Go or Debian's pgx sources missing: skipping the Go client (apt-get install golang golang-github-jackc-pgx-v4-dev)")
        return None
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
               GOCACHE=os.path.join(root, "target", "bench", "go-cache"))
    subprocess.run(["go", "build", "-o", out, "."], cwd=os.path.join(root, "benches", "rest_latency"),
                   env=env, check=True)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/quarry")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=300, help="single-row requests per round and path")
    args = parser.parse_args()

    go = go_client()
    q = Quarry(args.binary, args.threads, extra_args=["--prediction-log-queue", "4000000"], demo=True)
    try:
        q.sql(f"""CREATE MODEL churn_bench OPTIONS (algorithm = 'gbdt', label = 'churned', rounds = 100,
                  features = '{",".join(FEATURES)}') AS SELECT * FROM customers""")
        q.sql("SELECT ml_deploy('churn_bench', 1)")
        q.sql("CREATE TABLE big AS SELECT c.* FROM customers c CROSS JOIN generate_series(1, 20)")
        q.sql("CREATE TABLE batch10k AS SELECT * FROM customers ORDER BY customer_id LIMIT 10000")
        cur = q.conn.cursor()
        cur.execute(f"SELECT customer_id, {', '.join(FEATURES)} FROM batch10k ORDER BY customer_id")
        rows = [dict(zip(["customer_id", *FEATURES], r)) for r in cur.fetchall()]
        singles = [{k: r[k] for k in FEATURES} for r in rows[: args.single]]
        batch = [{k: r[k] for k in FEATURES} for r in rows]
        prepared = (
            f"SELECT {SCORE} FROM (SELECT %s::bigint AS age, %s::text AS plan, %s::float8 AS monthly_fee,"
            " %s::bigint AS tenure_months, %s::bigint AS support_calls, %s::text AS region) t"
        )
        # Same answers on both paths before timing anything.
        one = singles[0]
        via_rest = post(q.http, [one])["probabilities"][0]
        cur.execute(prepared, [one[k] for k in FEATURES], prepare=True)
        via_sql = cur.fetchone()[0]
        assert via_rest == via_sql, (via_rest, via_sql)

        rows_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(singles, rows_file)
        rows_file.close()
        go_rest, go_sql = [], []
        rest_single, sql_single, rest_batch, sql_batch = [], [], [], []
        logging = {"off": [], "0.1": [], "1.0": []}
        for _ in range(args.rounds):
            # Parts 1 and 2 without logging.
            q.sql("""SELECT ml_set_policy('churn_bench', '{"log_sample_rate": 0}')""")
            # Each path in a block of requests (an application's steady
            # stream), the blocks interleaved round by round.
            for r in singles:
                t = time.perf_counter()
                post(q.http, [r])
                rest_single.append(time.perf_counter() - t)
            for r in singles:
                t = time.perf_counter()
                cur.execute(prepared, [r[k] for k in FEATURES], prepare=True)
                cur.fetchone()
                sql_single.append(time.perf_counter() - t)
            if go:
                out = subprocess.run([go, str(q.http), str(q.port), "churn_bench", rows_file.name, "1"],
                                     capture_output=True, text=True, check=True).stdout
                measured = json.loads(out)
                go_rest.extend(measured["rest_us"])
                go_sql.extend(measured["sql_us"])
            t = time.perf_counter()
            post(q.http, batch)
            rest_batch.append(len(batch) / (time.perf_counter() - t))
            t = time.perf_counter()
            q.sql(f"SELECT count({SCORE}) FROM batch10k")
            sql_batch.append(len(batch) / (time.perf_counter() - t))
            for rate in ["off", "0.1", "1.0"]:
                policy = '{"log_sample_rate": 0}' if rate == "off" else f'{{"log_sample_rate": {rate}, "key": "customer_id"}}'
                q.sql(f"SELECT ml_set_policy('churn_bench', '{policy}')")
                t = time.perf_counter()
                q.sql("SELECT count(prediction) FROM ml_predict('churn_bench', big)")
                logging[rate].append(1_000_000 / (time.perf_counter() - t))
                # Let the writer catch up outside the timed part.
                while metric(q.http, "quarry_prediction_log_queue_rows") > 0:
                    time.sleep(0.1)
        dropped = metric(q.http, "quarry_prediction_log_rows_dropped_total")
    finally:
        q.stop()

    us = lambda s: s * 1e6
    print(f"single row, REST: p50 {us(quantile(rest_single, 0.5)):.0f} us, p99 {us(quantile(rest_single, 0.99)):.0f} us")
    print(f"single row, prepared SQL: p50 {us(quantile(sql_single, 0.5)):.0f} us, p99 {us(quantile(sql_single, 0.99)):.0f} us")
    print(f"  REST / SQL p50 ratio: {quantile(rest_single, 0.5) / quantile(sql_single, 0.5):.2f}")
    if go_rest:
        print(f"single row from Go, REST: p50 {quantile(go_rest, 0.5):.0f} us, p99 {quantile(go_rest, 0.99):.0f} us; "
              f"prepared SQL (pgx): p50 {quantile(go_sql, 0.5):.0f} us, p99 {quantile(go_sql, 0.99):.0f} us "
              f"(REST / SQL p50 {quantile(go_rest, 0.5) / quantile(go_sql, 0.5):.2f})")
    print(f"batch of 10k, REST: {statistics.median(rest_batch):,.0f} rows/s; SQL: {statistics.median(sql_batch):,.0f} rows/s"
          f" (REST / SQL {statistics.median(rest_batch) / statistics.median(sql_batch):.2f})")
    off = statistics.median(logging["off"])
    for rate in ["off", "0.1", "1.0"]:
        m = statistics.median(logging[rate])
        print(f"ml_predict over 1M rows, logging {rate}: {m:,.0f} rows/s ({m / off:.3f} of off)")
    print(f"log rows dropped: {dropped:.0f}")
    results = {
        "binary": args.binary,
        "threads": args.threads,
        "rounds": args.rounds,
        "single_row_us": {
            "rest_p50": us(quantile(rest_single, 0.5)), "rest_p99": us(quantile(rest_single, 0.99)),
            "sql_p50": us(quantile(sql_single, 0.5)), "sql_p99": us(quantile(sql_single, 0.99)),
        },
        "ratio_rest_over_sql_p50": quantile(rest_single, 0.5) / quantile(sql_single, 0.5),
        "single_row_go_client_us": {
            "rest_p50": quantile(go_rest, 0.5), "rest_p99": quantile(go_rest, 0.99),
            "sql_p50": quantile(go_sql, 0.5), "sql_p99": quantile(go_sql, 0.99),
        } if go_rest else None,
        "batch_rows_per_s": {"rest": statistics.median(rest_batch), "sql": statistics.median(sql_batch)},
        "ml_predict_rows_per_s": {rate: statistics.median(v) for rate, v in logging.items()},
        "logging_throughput_ratio": {rate: statistics.median(v) / off for rate, v in logging.items()},
        "log_rows_dropped": dropped,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "serving_compare.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
