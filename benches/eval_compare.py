"""Evaluation and explanation, side by side in one run (issue 5's benchmarks):

1. ml_roc_auc over 10M (label, score) rows vs scikit-learn's roc_auc_score
   on the same arrays (Quarry reads them from Parquet; the peer has them in
   memory, so Quarry's figure includes its scan);
2. ml_explain of a 100-tree, depth-6 GBDT (200k training rows x 20
   features) over 100k rows vs LightGBM's predict(pred_contrib=True) for a
   LightGBM model of the same size, in rows per second;
3. ml_evaluate with 1,000 bootstrap resamples on 1M scored rows vs a numpy +
   scikit-learn bootstrap loop (resampled indices, roc_auc_score and
   accuracy per resample), timed on 20 resamples and scaled to 1,000.

Data: seeded numpy draws made here (a logistic label over 20 Gaussian
features, 10% NaN in two of them), kept in target/bench-data as
auc_10m.parquet, eval_train_200k.parquet and eval_score_1m.parquet and made
when missing: delete them to have them made again. Every figure is the median of --runs runs after a
warm-up; ratios are Quarry / peer time measured in this run (the machine is
shared and noisy). Run through benches/eval_compare.sh (release build).
"""

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import numpy as np  # noqa: E402
from quarry_server import Quarry  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import accuracy_score, roc_auc_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLS = [f"f{i:02d}" for i in range(20)]




def median_time(fn, runs):
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def features(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(COLS)))
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] + 0.5 * np.abs(x[:, 4]) - 1.5
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    x[rng.random(n) < 0.1, 5] = np.nan
    x[rng.random(n) < 0.1, 6] = np.nan
    return x, y


def write(path, x, y):
    df = pd.DataFrame(x, columns=COLS)
    df["churned"] = y
    df.to_parquet(path, index=False, row_group_size=128 * 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quarry", default=str(ROOT / "target/release/quarry"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benches/results/eval_compare.json"))
    a = ap.parse_args()
    import lightgbm as lgb

    data = ROOT / "target/bench-data"
    data.mkdir(parents=True, exist_ok=True)
    results = {"threads": a.threads}

    # 1. AUC over 10M rows.
    rng = np.random.default_rng(7)
    n = 10_000_000
    y10 = rng.random(n) < 0.2
    s10 = np.round(rng.normal(size=n) + 0.8 * y10, 4)  # rounded: realistic ties
    auc_path = data / "auc_10m.parquet"
    if not auc_path.exists():
        pd.DataFrame({"y": y10, "s": s10}).to_parquet(auc_path, index=False, row_group_size=1 << 20)
    q = Quarry(a.quarry, a.threads)
    try:
        q.sql(f"CREATE EXTERNAL TABLE auc STORED AS PARQUET LOCATION '{auc_path}'")
        quarry_auc = q.sql("SELECT ml_roc_auc(y, s) FROM auc")[0][0]
        t_q = median_time(lambda: q.sql("SELECT ml_roc_auc(y, s) FROM auc"), a.runs)
        t_scan = median_time(lambda: q.sql("SELECT count(y), sum(s) FROM auc"), a.runs)
        sk_auc = roc_auc_score(y10, s10)
        t_sk = median_time(lambda: roc_auc_score(y10, s10), a.runs)
        results["roc_auc_10m"] = {
            "quarry_s": t_q, "quarry_scan_s": t_scan, "sklearn_s": t_sk, "ratio": t_q / t_sk,
            "quarry_auc": quarry_auc, "sklearn_auc": sk_auc, "abs_diff": abs(quarry_auc - sk_auc),
        }
        print(json.dumps(results["roc_auc_10m"]))

        # 2. Explanations of a 100-tree GBDT.
        train_path, score_path = data / "eval_train_200k.parquet", data / "eval_score_1m.parquet"
        xt, yt = features(200_000, 1)
        xs, ys = features(1_000_000, 2)
        if not train_path.exists():
            write(train_path, xt, yt)
        if not score_path.exists():
            write(score_path, xs, ys)
        q.sql(f"CREATE EXTERNAL TABLE train STORED AS PARQUET LOCATION '{train_path}'")
        q.sql(f"CREATE EXTERNAL TABLE scored STORED AS PARQUET LOCATION '{score_path}'")
        q.sql("CREATE MODEL m OPTIONS (algorithm = 'gbdt', label = 'churned', rounds = 100, max_depth = 6, "
              "learning_rate = 0.1, min_rows_per_leaf = 20, split = 'none') AS SELECT * FROM train")
        rows = 100_000
        explain = f"SELECT count(*), sum(length(explanation)) FROM ml_explain('m', (SELECT * FROM scored LIMIT {rows}))"
        t_qx = median_time(lambda: q.sql(explain), a.runs)
        booster = lgb.train(
            {"objective": "binary", "num_leaves": 63, "max_depth": 6, "learning_rate": 0.1,
             "min_data_in_leaf": 20, "lambda_l2": 1.0, "max_bin": 255, "num_threads": a.threads,
             "verbose": -1},
            lgb.Dataset(xt, yt), num_boost_round=100)
        t_lx = median_time(lambda: booster.predict(xs[:rows], pred_contrib=True, num_threads=a.threads), a.runs)
        results["explain_100k"] = {
            "quarry_s": t_qx, "lightgbm_s": t_lx, "quarry_rows_per_s": rows / t_qx,
            "lightgbm_rows_per_s": rows / t_lx, "ratio": t_qx / t_lx,
        }
        print(json.dumps(results["explain_100k"]))

        # 3. Bootstrap evaluation on 1M rows.
        evaluate = "SELECT * FROM ml_evaluate('m', scored, bootstrap => 1000)"
        t_qe = median_time(lambda: q.sql(evaluate), max(1, a.runs - 1))
        t_qs = median_time(lambda: q.sql("SELECT count(ml_predict_proba('m', " + ", ".join(COLS) + ")) FROM scored"),
                           max(1, a.runs - 1))
        proba = np.array(q.sql("SELECT ml_predict_proba('m', " + ", ".join(COLS) + ") FROM scored"), dtype=float)[:, 0]
        pred = proba >= 0.5
        brng = np.random.default_rng(3)

        def peer(resamples):
            for _ in range(resamples):
                idx = brng.integers(0, len(ys), len(ys))
                roc_auc_score(ys[idx], proba[idx])
                accuracy_score(ys[idx], pred[idx])

        with threadpool_limits(a.threads):
            t_p20 = median_time(lambda: peer(20), 1)
        results["evaluate_1m_1000"] = {
            "quarry_s": t_qe, "quarry_scoring_only_s": t_qs, "peer_s_20_resamples": t_p20,
            "peer_s_scaled_1000": t_p20 * 50, "ratio": t_qe / (t_p20 * 50),
            "note": "the peer computes 2 metrics per resample; Quarry 8 (accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, brier)",
        }
        print(json.dumps(results["evaluate_1m_1000"]))
    finally:
        q.stop()
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
