"""Tree models, side by side in one run (issue 4's benchmarks):

1. gbdt training on 1M rows x 25 features, 100 rounds, depth 6, learning
   rate 0.1, 20 rows per leaf, L2 1, 255 bins: Quarry's CREATE MODEL vs
   LightGBM and XGBoost (hist) with the same thread count;
2. batch scoring of those models over the 1M rows, one thread and all
   threads: Quarry's ml_predict_proba vs LightGBM's and XGBoost's predict
   (plus Quarry's scan of the same 25 columns, the floor under its figure);
3. random forest, 100 trees, scikit-learn defaults (unlimited depth, sqrt
   features, 1 row per leaf), on 100k rows: training and scoring vs
   scikit-learn's RandomForestClassifier;
4. isolation forest, 100 trees of 256 rows, on the 1M rows: training and
   scoring vs scikit-learn's IsolationForest.

Features: the peer baselines' 25 float32 columns of the churn data (benches/peers.py's Featurizer)
(8 numeric with NaN, one-hot plan/region/device, city frequency and
out-of-fold target encoding), built once and written to Parquet, which
Quarry reads as external tables; the peers get the same matrix in memory.
Hold-out AUC is on churn_100k, an independent draw of the same generator.
Data: churn_1m and churn_100k from benches/data/gen_data.py (seed 42), written
to target/bench-data by benches/benchdata.py when missing (delete them to have
them made again, or run `.venv-bench/bin/python benches/data/gen_data.py
--tables churn --formats parquet`); the feature files under
target/bench-data/trees are rewritten on every run.
Every figure is the median of --runs runs after a warm-up; ratios are
Quarry / peer measured in this run (this machine is shared and noisy).
Run through benches/trees_compare.sh, which builds Quarry in release.
"""

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # no spinning OpenMP pools on a shared box
import numpy as np  # noqa: E402
from quarry_server import Quarry  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
import benchdata  # noqa: E402
from peers import Featurizer  # noqa: E402

COLS = [f"f{i:02d}" for i in range(25)]
GBDT = {"rounds": 100, "max_depth": 6, "learning_rate": 0.1, "min_rows_per_leaf": 20, "l2": 1.0, "max_bins": 255}




def median_time(fn, runs, warmup=True):
    if warmup:
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def to_parquet(x, y, path):
    df = pd.DataFrame(x, columns=COLS)
    df["churned"] = y.astype(bool)
    # NaN becomes NULL: missing for every engine. Row groups of 128k rows (as
    # gen_data.py writes) let a scan split across threads.
    df.to_parquet(path, index=False, row_group_size=128 * 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quarry", default=str(ROOT / "target/release/quarry"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="gbdt,rf,iforest")
    ap.add_argument("--out", default=str(ROOT / "benches/results/trees_compare.json"))
    a = ap.parse_args()
    only = set(a.only.split(","))

    import lightgbm as lgb
    import xgboost as xgb

    big = pd.read_parquet(benchdata.churn(1_000_000))
    small = pd.read_parquet(benchdata.churn(100_000))
    feat = Featurizer()
    x_big = feat.fit_transform(big)
    y_big = big["churned"].to_numpy()
    x_hold = feat.transform(small)
    y_hold = small["churned"].to_numpy()
    work = benchdata.DATA / "trees"
    work.mkdir(parents=True, exist_ok=True)
    to_parquet(x_big, y_big, work / "train_1m.parquet")
    to_parquet(x_hold, y_hold, work / "holdout_100k.parquet")
    results = {"threads": a.threads, "runs": a.runs, "rows": len(y_big), "features": len(COLS),
               "load_avg_at_start": os.getloadavg()[0]}
    n = len(y_big)
    cols = ", ".join(COLS)

    q = Quarry(a.quarry, a.threads)
    try:
        q.sql(f"CREATE EXTERNAL TABLE train STORED AS PARQUET LOCATION '{work / 'train_1m.parquet'}'")
        q.sql(f"CREATE EXTERNAL TABLE holdout STORED AS PARQUET LOCATION '{work / 'holdout_100k.parquet'}'")

        if "gbdt" in only:
            opts = ", ".join(f"{k} = {v}" for k, v in GBDT.items())
            create = (f"CREATE OR REPLACE MODEL gb OPTIONS (algorithm = 'gbdt', label = 'churned', "
                      f"split = 'none', {opts}) AS SELECT * FROM train")
            q_train, q_samples = median_time(lambda: q.sql(create), a.runs, warmup=False)
            lgb_params = {"objective": "binary", "learning_rate": 0.1, "max_depth": 6, "num_leaves": 64,
                          "min_data_in_leaf": 20, "min_sum_hessian_in_leaf": 1e-3, "lambda_l2": 1.0,
                          "max_bin": 255, "num_threads": a.threads, "verbose": -1, "seed": 0}
            xgb_params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1,
                          "lambda": 1.0, "max_bin": 255, "min_child_weight": 1e-3, "nthread": a.threads,
                          "seed": 0}

            def lgb_train():
                return lgb.train(lgb_params, lgb.Dataset(x_big, y_big), num_boost_round=100)

            def xgb_train():
                return xgb.train(xgb_params, xgb.DMatrix(x_big, label=y_big, nthread=a.threads),
                                 num_boost_round=100)

            l_train, l_samples = median_time(lgb_train, a.runs, warmup=False)
            x_train, x_samples = median_time(xgb_train, a.runs, warmup=False)
            lgb_model, xgb_model = lgb_train(), xgb_train()
            scored = q.sql("SELECT churned, probability FROM ml_predict('gb', (SELECT * FROM holdout))")
            q_auc = roc_auc_score([r[0] for r in scored], [r[1] for r in scored])
            results["gbdt_train"] = {
                "quarry_s": q_train, "lightgbm_s": l_train, "xgboost_s": x_train,
                "ratio_vs_lightgbm": q_train / l_train, "ratio_vs_xgboost": q_train / x_train,
                "quarry_samples": q_samples, "lightgbm_samples": l_samples, "xgboost_samples": x_samples,
                "holdout_auc": {"quarry": q_auc,
                                "lightgbm": roc_auc_score(y_hold, lgb_model.predict(x_hold)),
                                "xgboost": roc_auc_score(y_hold, xgb_model.inplace_predict(x_hold))},
            }

            score_sql = f"SELECT count(*), sum(ml_predict_proba('gb', {cols})) FROM train"
            scan_sql = f"SELECT count(*), {', '.join(f'sum({c})' for c in COLS)} FROM train"
            score = {}
            for threads in sorted({1, a.threads}):
                q.sql(f"SET datafusion.execution.target_partitions = {threads}")
                q_score, _ = median_time(lambda: q.sql(score_sql), a.runs)
                q_scan, _ = median_time(lambda: q.sql(scan_sql), a.runs)
                l_score, _ = median_time(lambda: lgb_model.predict(x_big, num_threads=threads), a.runs)
                xgb_model.set_param({"nthread": threads})
                x_score, _ = median_time(lambda: xgb_model.inplace_predict(x_big), a.runs)
                score[f"{threads}_threads"] = {
                    "quarry_rows_per_s": n / q_score, "quarry_scan_rows_per_s": n / q_scan,
                    "lightgbm_rows_per_s": n / l_score, "xgboost_rows_per_s": n / x_score,
                    "ratio_vs_lightgbm": l_score / q_score, "ratio_vs_xgboost": x_score / q_score,
                }
            q.sql(f"SET datafusion.execution.target_partitions = {a.threads}")
            results["gbdt_score"] = score

        if "rf" in only:
            from sklearn.ensemble import RandomForestClassifier

            rf_rows = 100_000
            rf_feat = Featurizer()
            x_rf = rf_feat.fit_transform(small)
            x_rf_test = rf_feat.transform(big.iloc[:200_000])
            y_rf_test = big["churned"].to_numpy()[:200_000]
            to_parquet(x_rf, y_hold, work / "rf_train_100k.parquet")
            to_parquet(x_rf_test, y_rf_test, work / "rf_test_200k.parquet")
            q.sql(f"CREATE EXTERNAL TABLE rf_train STORED AS PARQUET LOCATION '{work / 'rf_train_100k.parquet'}'")
            q.sql(f"CREATE EXTERNAL TABLE rf_test STORED AS PARQUET LOCATION '{work / 'rf_test_200k.parquet'}'")
            create = ("CREATE OR REPLACE MODEL rf OPTIONS (algorithm = 'random_forest', label = 'churned', "
                      "split = 'none', trees = 100) AS SELECT * FROM rf_train")
            q_train, _ = median_time(lambda: q.sql(create), a.runs, warmup=False)
            # scikit-learn cannot take NaN in every version's forest: same median imputation for both.
            med = np.nanmedian(x_rf, axis=0)
            fill = lambda x: np.where(np.isnan(x), med, x)  # noqa: E731
            with threadpool_limits(a.threads):
                def sk_train():
                    return RandomForestClassifier(n_estimators=100, n_jobs=a.threads, random_state=0).fit(
                        fill(x_rf), y_hold)
                s_train, _ = median_time(sk_train, a.runs, warmup=False)
                sk = sk_train()
                s_score, _ = median_time(lambda: sk.predict_proba(fill(x_rf_test)), a.runs)
                s_auc = roc_auc_score(y_rf_test, sk.predict_proba(fill(x_rf_test))[:, 1])
            q_score, _ = median_time(
                lambda: q.sql(f"SELECT count(*), sum(ml_predict_proba('rf', {cols})) FROM rf_test"), a.runs)
            scored = q.sql("SELECT churned, probability FROM ml_predict('rf', (SELECT * FROM rf_test))")
            q_auc = roc_auc_score([r[0] for r in scored], [r[1] for r in scored])
            results["random_forest"] = {
                "train_rows": rf_rows, "scored_rows": len(y_rf_test),
                "quarry_train_s": q_train, "sklearn_train_s": s_train, "train_ratio": q_train / s_train,
                "quarry_score_s": q_score, "sklearn_score_s": s_score, "score_ratio": q_score / s_score,
                "holdout_auc": {"quarry": q_auc, "sklearn": s_auc},
            }

        if "iforest" in only:
            from sklearn.ensemble import IsolationForest

            create = ("CREATE OR REPLACE MODEL iso OPTIONS (algorithm = 'isolation_forest', exclude = 'churned', "
                      "trees = 100, sample_size = 256) AS SELECT * FROM train")
            q_train, _ = median_time(lambda: q.sql(create), a.runs, warmup=False)
            q_score, _ = median_time(
                lambda: q.sql(f"SELECT count(*), sum(ml_predict('iso', {cols})) FROM train"), a.runs)
            med = np.nanmedian(x_big, axis=0)
            x_fill = np.where(np.isnan(x_big), med, x_big)
            with threadpool_limits(a.threads):
                def sk_train():
                    return IsolationForest(n_estimators=100, max_samples=256, n_jobs=a.threads,
                                           random_state=0).fit(x_fill)
                s_train, _ = median_time(sk_train, a.runs, warmup=False)
                sk = sk_train()
                s_score, _ = median_time(lambda: sk.score_samples(x_fill), a.runs)
            results["isolation_forest"] = {
                "rows": n, "quarry_train_s": q_train, "sklearn_train_s": s_train,
                "train_ratio": q_train / s_train, "quarry_score_s": q_score, "sklearn_score_s": s_score,
                "score_ratio": q_score / s_score,
                "note": "Quarry's training time includes reading and imputing the 1M rows; "
                        "scikit-learn gets an imputed in-memory matrix",
            }
    finally:
        q.stop()

    results["load_avg_at_end"] = os.getloadavg()[0]
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print("| measure | Quarry | peer | ratio |\n|---|---|---|---|")
    if "gbdt_train" in results:
        t = results["gbdt_train"]
        print(f"| gbdt training 1M x 25, {a.threads} threads (s) | {t['quarry_s']:.2f} | LightGBM {t['lightgbm_s']:.2f} | {t['ratio_vs_lightgbm']:.2f}x time |")
        print(f"| | | XGBoost {t['xgboost_s']:.2f} | {t['ratio_vs_xgboost']:.2f}x time |")
        print(f"| hold-out AUC | {t['holdout_auc']['quarry']:.4f} | LightGBM {t['holdout_auc']['lightgbm']:.4f}, XGBoost {t['holdout_auc']['xgboost']:.4f} | |")
        for k, s in results["gbdt_score"].items():
            print(f"| gbdt scoring, {k.replace('_', ' ')} (rows/s) | {s['quarry_rows_per_s']:,.0f} (scan alone {s['quarry_scan_rows_per_s']:,.0f}) | LightGBM {s['lightgbm_rows_per_s']:,.0f} | {s['ratio_vs_lightgbm']:.2f}x speed |")
            print(f"| | | XGBoost {s['xgboost_rows_per_s']:,.0f} | {s['ratio_vs_xgboost']:.2f}x speed |")
    if "random_forest" in results:
        r = results["random_forest"]
        print(f"| random forest 100 trees, train 100k (s) | {r['quarry_train_s']:.2f} | sklearn {r['sklearn_train_s']:.2f} | {r['train_ratio']:.2f}x time |")
        print(f"| random forest scoring 200k (s) | {r['quarry_score_s']:.2f} | sklearn {r['sklearn_score_s']:.2f} | {r['score_ratio']:.2f}x time |")
        print(f"| random forest hold-out AUC | {r['holdout_auc']['quarry']:.4f} | sklearn {r['holdout_auc']['sklearn']:.4f} | |")
    if "isolation_forest" in results:
        r = results["isolation_forest"]
        print(f"| isolation forest train 1M (s) | {r['quarry_train_s']:.2f} | sklearn {r['sklearn_train_s']:.2f} | {r['train_ratio']:.2f}x time |")
        print(f"| isolation forest scoring 1M (s) | {r['quarry_score_s']:.2f} | sklearn {r['sklearn_score_s']:.2f} | {r['score_ratio']:.2f}x time |")


if __name__ == "__main__":
    main()
