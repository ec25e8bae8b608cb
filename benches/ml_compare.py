"""ML core, side by side in one run (issue 3's benchmarks):

1. logistic regression training: Quarry's CREATE MODEL vs scikit-learn's
   pipeline (median impute + standard scale + one-hot + LogisticRegression,
   lbfgs, C = 1), same 800k rows, same 22 model columns, 2 threads each;
2. batch scoring of that linear model over 1M rows: Quarry's
   ml_predict_proba vs DuckDB evaluating the model as one SQL expression
   (the peer baselines' bench_sql_scoring query, benches/peers.py), plus Quarry running the
   same SQL expression, for reference;
3. single-row scoring latency through a prepared statement vs prepared
   `SELECT 1`, both on Quarry.

Data: churn_1m.parquet from benches/data/gen_data.py (seed 42), written to
target/bench-data by benches/benchdata.py when missing; delete it to have it
made again, or run `.venv-bench/bin/python benches/data/gen_data.py --tables
churn --sizes 1000000 --formats parquet`. Run through benches/ml_compare.sh,
which builds Quarry in release.
Every figure is the median of --runs runs after a warm-up; ratios are
Quarry / peer measured in this run (this machine is shared and noisy). Batch
scoring runs Quarry and DuckDB in turn for at least 9 rounds and reports the
median of the per-round ratios.
"""

import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
import benchdata  # noqa: E402
import peers as peer  # noqa: E402  (the peer's model and SQL expression)

NUM = peer.NUM
CATS = list(peer.CATS)
FEATURES = NUM + CATS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_time(fn, runs, warmup=True):
    if warmup:
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def sklearn_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATS),
    ])
    return make_pipeline(pre, LogisticRegression(C=1.0, max_iter=300))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quarry", default=str(ROOT / "target/release/quarry"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--single-row-iterations", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benches/results/ml_compare.json"))
    a = ap.parse_args()

    data = benchdata.churn(1_000_000)
    df = pd.read_parquet(data)
    test_mask = (df["customer_id"] % 5 == 0).to_numpy()
    train, test = df[~test_mask], df[test_mask]
    results = {"rows_train": int(len(train)), "rows_scored": int(len(df)), "threads": a.threads}

    data_dir = tempfile.mkdtemp(prefix="quarry-bench-")
    port, http = free_port(), free_port()
    server = subprocess.Popen(
        [a.quarry, "--data-dir", data_dir, "--no-demo", "--pg-listen", f"127.0.0.1:{port}",
         "--http-listen", f"127.0.0.1:{http}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        dsn = f"host=127.0.0.1 port={port} user=quarry dbname=quarry"
        for _ in range(100):
            try:
                conn = psycopg.connect(dsn, autocommit=True)
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        else:
            raise SystemExit("quarry did not start: " + (server.stderr.read() if server.stderr else ""))
        conn.execute(f"CREATE EXTERNAL TABLE churn STORED AS PARQUET LOCATION '{data}'")
        conn.execute("CREATE VIEW churn_train AS SELECT * FROM churn WHERE customer_id % 5 <> 0")

        # 1. Training.
        create = (
            "CREATE OR REPLACE MODEL lr OPTIONS (algorithm = 'logistic', label = 'churned', "
            f"features = '{','.join(FEATURES)}', impute = 'median', split = 'none', l2 = 1) "
            "AS SELECT * FROM churn_train"
        )
        q_train, q_samples = median_time(lambda: conn.execute(create).fetchall(), a.runs)
        with threadpool_limits(a.threads):
            y = train["churned"].to_numpy()
            s_train, s_samples = median_time(lambda: sklearn_pipeline().fit(train[FEATURES], y), a.runs)
            model = sklearn_pipeline().fit(train[FEATURES], y)
        from sklearn.metrics import roc_auc_score

        sk_auc = roc_auc_score(test["churned"], model.predict_proba(test[FEATURES])[:, 1])
        scored = conn.execute(
            "SELECT churned, probability FROM ml_predict('lr', (SELECT * FROM churn WHERE customer_id % 5 = 0))"
        ).fetchall()
        q_auc = roc_auc_score([r[0] for r in scored], [r[1] for r in scored])
        results["train"] = {
            "quarry_s": q_train, "sklearn_s": s_train, "ratio": q_train / s_train,
            "quarry_samples": q_samples, "sklearn_samples": s_samples,
            "quarry_holdout_auc": q_auc, "sklearn_holdout_auc": sk_auc,
        }

        # 2. Batch scoring of the whole 1M rows.
        n = len(df)
        cols = ", ".join(FEATURES)
        score_sql = f"SELECT count(*), sum(ml_predict_proba('lr', {cols})) FROM churn"
        _, med, w, b = peer.fit(train)
        expr_sql = peer.to_sql(med, w, b)
        q_expr, _ = median_time(lambda: conn.execute(expr_sql).fetchone(), a.runs)
        reads = [f"sum({c})" for c in NUM] + [f"sum(CASE WHEN {c} = 'x' THEN 1 ELSE 0 END)" for c in CATS]
        scan_sql = f"SELECT count(*), {', '.join(reads)} FROM churn"
        q_scan, _ = median_time(lambda: conn.execute(scan_sql).fetchone(), a.runs)
        import duckdb

        duck = duckdb.connect()
        duck.execute(f"CREATE TABLE churn AS SELECT * FROM read_parquet('{data}')")
        duck.execute(f"SET threads = {a.threads}")
        parquet_sql = expr_sql.replace("FROM churn", f"FROM read_parquet('{data}')")
        # Quarry and both DuckDB forms take turns, so a burst of load from
        # other work on this shared machine falls on all of them alike; the
        # ratios are medians of the per-round ratios.
        runs = {
            "quarry": lambda: conn.execute(score_sql).fetchone(),
            "duckdb": lambda: duck.execute(expr_sql).fetchone(),
            "duckdb_parquet": lambda: duck.execute(parquet_sql).fetchone(),
        }
        rounds = {k: [] for k in runs}
        for fn in runs.values():
            fn()
        for _ in range(max(a.runs, 9)):
            for k, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                rounds[k].append(time.perf_counter() - t0)
        q_score = statistics.median(rounds["quarry"])
        d_expr = statistics.median(rounds["duckdb"])
        d_parquet = statistics.median(rounds["duckdb_parquet"])
        results["score"] = {
            "quarry_ml_predict_rows_per_s": n / q_score,
            "quarry_sql_expression_rows_per_s": n / q_expr,
            "duckdb_sql_expression_rows_per_s": n / d_expr,
            "duckdb_sql_expression_over_parquet_rows_per_s": n / d_parquet,
            "quarry_scan_features_rows_per_s": n / q_scan,
            "ratio_vs_duckdb_over_parquet": statistics.median(
                d / q for q, d in zip(rounds["quarry"], rounds["duckdb_parquet"])),
            "ratio_vs_duckdb": statistics.median(
                d / q for q, d in zip(rounds["quarry"], rounds["duckdb"])),
            "samples_s": rounds,
        }

        # 3. Single-row latency over a prepared statement.
        params = ", ".join(
            f"%s::double precision AS {c}" for c in NUM
        ) + ", " + ", ".join(f"%s::text AS {c}" for c in CATS)
        one_row = f"SELECT ml_predict_proba('lr', struct({params}))"
        row = [40.0, 12.0, 45.0, 500.0, 1.0, 12.0, 3.0, "basic", "north", "ios"]

        def latency(sql, args):
            cur = conn.cursor()
            cur.execute(sql, args, prepare=True)
            cur.fetchall()
            samples = []
            for _ in range(a.single_row_iterations):
                t0 = time.perf_counter()
                cur.execute(sql, args, prepare=True)
                cur.fetchall()
                samples.append(time.perf_counter() - t0)
            return statistics.median(samples) * 1e6

        q_one = latency(one_row, row)
        q_select1 = latency("SELECT 1", None)
        results["single_row"] = {"ml_predict_us": q_one, "select_1_us": q_select1, "ratio": q_one / q_select1}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)

    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    t, s, o = results["train"], results["score"], results["single_row"]
    print(f"| measure | Quarry | peer | Quarry/peer |\n|---|---|---|---|")
    print(f"| logistic training, {results['rows_train']:,} rows, {a.threads} threads (s) | {t['quarry_s']:.2f} | sklearn {t['sklearn_s']:.2f} | {t['ratio']:.2f} |")
    print(f"| hold-out AUC | {t['quarry_holdout_auc']:.4f} | sklearn {t['sklearn_holdout_auc']:.4f} | |")
    print(f"| batch scoring, 1M rows (rows/s) | {s['quarry_ml_predict_rows_per_s']:,.0f} | DuckDB SQL expression {s['duckdb_sql_expression_rows_per_s']:,.0f} | {s['ratio_vs_duckdb']:.2f} |")
    print(f"| batch scoring, DuckDB reading the same Parquet file (rows/s) | {s['quarry_ml_predict_rows_per_s']:,.0f} | DuckDB read_parquet {s['duckdb_sql_expression_over_parquet_rows_per_s']:,.0f} | {s['ratio_vs_duckdb_over_parquet']:.2f} |")
    print(f"| same SQL expression on Quarry (rows/s) | {s['quarry_sql_expression_rows_per_s']:,.0f} | | |")
    print(f"| Quarry scan floor: reading the 10 feature columns (rows/s) | {s['quarry_scan_features_rows_per_s']:,.0f} | | |")
    print(f"| single-row ml_predict_proba, prepared (µs) | {o['ml_predict_us']:.0f} | SELECT 1 {o['select_1_us']:.0f} | {o['ratio']:.2f} |")


if __name__ == "__main__":
    main()
