"""The peers' model code that benches/ml_compare.py and benches/trees_compare.py
compare Quarry against, copied verbatim from the shared peer baselines
(shared/bench/bench_sql_scoring.py: NUM, CATS, matrix, fit, to_sql;
shared/bench/bench_ml.py: Featurizer) so that benches/ needs nothing outside
the repository and the peers' figures stay those of the baselines.
"""

import numpy as np
import pandas as pd

NUM = ["age", "tenure_months", "monthly_charges", "total_charges", "support_calls",
       "avg_session_min", "days_since_login"]
CATS = {"plan": ["basic", "standard", "premium"],
        "region": ["north", "south", "east", "west", "central", "coastal", "mountain", "island"],
        "device": ["android", "ios", "web", "desktop"]}


def matrix(df):
    cols = [df[c].to_numpy("float64", na_value=np.nan) for c in NUM]
    for c, levels in CATS.items():
        v = df[c].to_numpy()
        cols.extend((v == lv).astype("float64") for lv in levels)
    return np.column_stack(cols)


def fit(df):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = matrix(df)
    pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(max_iter=300)).fit(X, df["churned"].to_numpy())
    imp, sc, lr = pipe.steps[0][1], pipe.steps[1][1], pipe.steps[2][1]
    w = lr.coef_[0] / sc.scale_
    b = lr.intercept_[0] - float(np.sum(lr.coef_[0] * sc.mean_ / sc.scale_))
    return pipe, imp.statistics_, w, b


def to_sql(med, w, b, table="churn"):
    """Every literal and column is cast to DOUBLE PRECISION so no engine falls back to
    (slow) NUMERIC arithmetic; casts of constants are folded at plan time."""
    d = lambda x: f"CAST({float(x)!r} AS DOUBLE PRECISION)"  # noqa: E731
    terms = [d(b)]
    for j, c in enumerate(NUM):
        terms.append(f"{d(w[j])} * COALESCE(CAST({c} AS DOUBLE PRECISION), {d(med[j])})")
    j = len(NUM)
    for c, levels in CATS.items():
        for lv in levels:
            terms.append(f"(CASE WHEN {c} = '{lv}' THEN {d(w[j])} ELSE {d(0)} END)")
            j += 1
    logit = "\n   + ".join(terms)
    return (f"SELECT COUNT(*) AS n, SUM({d(1)} / ({d(1)} + EXP(-(\n     {logit}\n  )))) AS sum_p\n"
            f"FROM {table}")


class Featurizer:
    """Fit on train only; unseen categories -> all-zero one-hot, unseen city -> prior."""

    def fit(self, df):
        y = df["churned"].astype(float)
        g = y.groupby(df["city"]).agg(["sum", "count"])
        self.prior = y.mean()
        k = 20.0
        self.city_te = ((g["sum"] + k * self.prior) / (g["count"] + k)).to_dict()
        self.city_freq = (g["count"] / len(df)).to_dict()
        return self

    def fit_transform(self, df, folds=5):
        """Train rows get out-of-fold target encoding (no label leakage)."""
        self.fit(df)
        X = self.transform(df)
        fold = np.arange(len(df)) % folds
        y = df["churned"].astype(float)
        oof = np.empty(len(df))
        for f in range(folds):
            m = fold == f
            g = y[~m].groupby(df["city"][~m]).agg(["sum", "count"])
            te = ((g["sum"] + 20.0 * self.prior) / (g["count"] + 20.0)).to_dict()
            oof[m] = df["city"][m].map(te).fillna(self.prior).to_numpy("float64")
        X[:, -1] = oof
        return X

    def transform(self, df):
        cols = [df[c].to_numpy("float64", na_value=np.nan) for c in NUM]
        cols.append((df["signup_ts"] - pd.Timestamp("2019-01-01")).dt.days.to_numpy("float64"))
        for c, levels in CATS.items():
            v = df[c].to_numpy()
            cols.extend((v == lv).astype("float64") for lv in levels)
        cols.append(df["city"].map(self.city_freq).fillna(0.0).to_numpy("float64"))
        cols.append(df["city"].map(self.city_te).fillna(self.prior).to_numpy("float64"))
        return np.column_stack(cols).astype(np.float32)
