"""Drift statistics and profiling, side by side in one run (issue 6's benchmarks):

1. the drift aggregates over 10M (value, is_current) rows — ml_psi,
   ml_js_divergence, ml_ks_stat, ml_ks_pvalue, ml_wasserstein and
   ml_chi2_pvalue — vs scipy (ks_2samp, wasserstein_distance,
   chi2_contingency on a pandas crosstab) and numpy (PSI and JS by the SPEC's
   definition) on the same arrays. Quarry reads them from Parquet; the peers
   have them in memory, so Quarry's figures include its scan. Also all six in
   one query (one scan) against the sum of the peers' times.
2. ml_profile over 1M rows of the shared churn data set vs DuckDB's
   SUMMARIZE (reading the same Parquet file) and pandas describe(include=
   'all') + isna().sum() on a DataFrame already in memory.

Data: the drift rows are drawn here (numpy, seed 20261129) and kept in
target/bench-data/drift_<rows>.parquet; churn_1m.parquet comes from
benches/data/gen_data.py (seed 42) through benches/benchdata.py. Both are made
when missing: delete them to have them made again.

Every figure is the median of --runs runs after a warm-up; ratios are Quarry
time / peer time measured in this run (the machine is shared and noisy).
Run through benches/drift_compare.sh (release build).
"""

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from quarry_server import Quarry  # noqa: E402
from scipy import stats  # noqa: E402

import benchdata  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def median_time(fn, runs):
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def psi_js(reference, current, bins=10):
    """SPEC 3.6, as scripts/fixtures/drift.py computes it."""
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    r = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=len(edges) + 1) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1) / len(current)
    rf, cf = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    m = (r + c) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        js = 0.5 * np.where(r > 0, r * np.log2(r / m), 0).sum() + 0.5 * np.where(c > 0, c * np.log2(c / m), 0).sum()
    return float(np.sum((cf - rf) * np.log(cf / rf))), float(js)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quarry", default=str(ROOT / "target/release/quarry"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", default=str(ROOT / "benches/results/drift_compare.json"))
    a = ap.parse_args()

    data = benchdata.DATA
    data.mkdir(parents=True, exist_ok=True)
    n = a.rows
    drift_path = data / f"drift_{n}.parquet"
    rng = np.random.default_rng(20261129)
    cur = rng.random(n) < 0.5
    value = np.where(cur, rng.normal(0.05, 1.1, n), rng.normal(0, 1, n)).round(6)
    levels = np.array([f"level_{i:02d}" for i in range(20)])
    weights_ref = np.linspace(1, 2, 20) / np.linspace(1, 2, 20).sum()
    weights_cur = np.linspace(1.1, 1.9, 20) / np.linspace(1.1, 1.9, 20).sum()
    cat = np.where(cur, rng.choice(levels, n, p=weights_cur), rng.choice(levels, n, p=weights_ref))
    if not drift_path.exists():
        pd.DataFrame({"v": value, "cur": cur, "cat": cat}).to_parquet(drift_path, index=False, row_group_size=256 * 1024)
    reference, current = value[~cur], value[cur]

    results = {"threads": a.threads, "rows": n}
    q = Quarry(a.quarry, a.threads)
    try:
        q.sql(f"CREATE EXTERNAL TABLE drift STORED AS PARQUET LOCATION '{drift_path}'")
        calls = {
            "psi": "ml_psi(v, cur)",
            "js_divergence": "ml_js_divergence(v, cur)",
            "ks_stat": "ml_ks_stat(v, cur)",
            "ks_pvalue": "ml_ks_pvalue(v, cur)",
            "wasserstein": "ml_wasserstein(v, cur)",
            "chi2_pvalue": "ml_chi2_pvalue(cat, cur)",
        }
        ks = stats.ks_2samp(reference, current)
        psi, js = psi_js(reference, current)
        table = pd.crosstab(cat, cur).to_numpy()
        peers = {
            "psi": (lambda: psi_js(reference, current)[0], psi),
            "js_divergence": (lambda: psi_js(reference, current)[1], js),
            "ks_stat": (lambda: stats.ks_2samp(reference, current).statistic, ks.statistic),
            "ks_pvalue": (lambda: stats.ks_2samp(reference, current).pvalue, ks.pvalue),
            "wasserstein": (lambda: stats.wasserstein_distance(reference, current),
                            stats.wasserstein_distance(reference, current)),
            "chi2_pvalue": (lambda: stats.chi2_contingency(pd.crosstab(cat, cur).to_numpy(), correction=False).pvalue,
                            stats.chi2_contingency(table, correction=False).pvalue),
        }
        drift = {}
        for name, call in calls.items():
            sql = f"SELECT {call} FROM drift"
            got = q.sql(sql)[0][0]
            tq = median_time(lambda: q.sql(sql), a.runs)
            fn, expected = peers[name]
            tp = median_time(fn, a.runs)
            drift[name] = {
                "quarry_s": round(tq, 3),
                "quarry_rows_per_s": round(n / tq),
                "peer_s": round(tp, 3),
                "peer_rows_per_s": round(n / tp),
                "ratio_time": round(tq / tp, 3),
                "quarry_value": got,
                "peer_value": float(expected),
            }
            print(name, json.dumps(drift[name]))
        sql = f"SELECT {', '.join(calls.values())} FROM drift"
        tq = median_time(lambda: q.sql(sql), a.runs)
        peer_total = sum(d["peer_s"] for d in drift.values())
        drift["all_six_one_query"] = {"quarry_s": round(tq, 3), "peer_sum_s": round(peer_total, 3),
                                      "ratio_time": round(tq / peer_total, 3)}
        print("all six", json.dumps(drift["all_six_one_query"]))
        results["drift_10m"] = drift

        churn = benchdata.churn(1_000_000)
        q.sql(f"CREATE EXTERNAL TABLE churn STORED AS PARQUET LOCATION '{churn}'")
        tq = median_time(lambda: q.sql("SELECT * FROM ml_profile(churn)"), a.runs)
        con = duckdb.connect()
        con.execute(f"SET threads = {a.threads}")
        td = median_time(lambda: con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{churn}')").fetchall(), a.runs)
        frame = pd.read_parquet(churn)
        tp = median_time(lambda: (frame.describe(include="all"), frame.isna().sum()), a.runs)
        results["profile_1m"] = {
            "columns": len(frame.columns),
            "quarry_s": round(tq, 3),
            "duckdb_summarize_s": round(td, 3),
            "pandas_describe_s": round(tp, 3),
            "ratio_vs_duckdb": round(tq / td, 3),
            "ratio_vs_pandas": round(tq / tp, 3),
        }
        print("profile", json.dumps(results["profile_1m"]))
    finally:
        q.stop()
    pathlib.Path(a.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
