#!/usr/bin/env python3
"""Deterministic synthetic data for the benchmark scripts in benches/.

A copy of the shared peer baselines' generator (shared/bench/gen_data.py),
kept in the repository so that benches/ needs nothing outside it: the same
code and seed write the same rows, so figures stay comparable with the
baselines measured on that data. Only the default output directory differs.

    .venv-bench/bin/python benches/data/gen_data.py            # all tables, default sizes, seed 42
    .venv-bench/bin/python benches/data/gen_data.py --seed 7 --sizes 100000 --tables churn,drift

benches/benchdata.py runs it on demand. It writes
target/bench-data/<table>_<size>.parquet and .csv (git-ignored; plus
manifest.json with a content hash per table, so two runs with the same seed can
be compared).

Tables
  churn_<n>      binary classification: ids, numeric features with nulls, low- and
                 high-cardinality categoricals, label `churned` (~10% positives),
                 `signup_ts` timestamp.                         sizes: 100k and 1M
  churn_drift_<n> same schema as churn, but drawn from shifted distributions (older,
                 pricier, more nulls, an unseen device category, a different region
                 mix, slightly changed label relationship).     size: 100k
  regression_<n> house-price-like regression, target `price`.  sizes: 100k and 1M
  sales_daily    daily sales per (store, item) with trend, weekly + yearly seasonality,
                 holidays, promotions and noise (20 stores x 50 items x 1000 days = 1M rows)
"""
import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REGIONS = ["north", "south", "east", "west", "central", "coastal", "mountain", "island"]
PLANS = ["basic", "standard", "premium"]
DEVICES = ["android", "ios", "web", "desktop"]
N_CITIES = 30_000  # high-cardinality column (zipf-ish frequencies)
EPOCH0 = np.datetime64("2019-01-01T00:00:00", "s")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate_intercept(logit, target_rate):
    """Bisection for b so that mean(sigmoid(logit + b)) == target_rate."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(logit + mid).mean() > target_rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def _city_codes(rng, n, skew=1.1):
    ranks = np.arange(1, N_CITIES + 1)
    p = 1.0 / ranks**skew
    p /= p.sum()
    return rng.choice(N_CITIES, size=n, p=p)


def _with_nulls(rng, x, rate):
    x = x.astype("float64")
    x[rng.random(x.shape[0]) < rate] = np.nan
    return x


def churn(n, seed, drift=False):
    """One row per customer. drift=True shifts several distributions (see module doc)."""
    rng = np.random.default_rng([seed, n, 1 if drift else 0])
    region_p = np.array([0.2, 0.18, 0.15, 0.15, 0.12, 0.1, 0.06, 0.04])
    device_names = DEVICES
    device_p = np.array([0.4, 0.3, 0.2, 0.1])
    if drift:
        region_p = np.array([0.08, 0.1, 0.12, 0.15, 0.15, 0.15, 0.1, 0.15])
        device_names = DEVICES + ["smart_tv"]            # category unseen in training
        device_p = np.array([0.3, 0.3, 0.15, 0.1, 0.15])

    region = rng.choice(len(REGIONS), size=n, p=region_p)
    plan = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    device = rng.choice(len(device_names), size=n, p=device_p)
    city = _city_codes(rng, n)

    age = rng.normal(48 if drift else 40, 12, n).clip(18, 90).round()
    tenure = rng.gamma(2.0, 10.0 if not drift else 7.0, n).clip(0, 120).round()
    base_price = np.array([20.0, 45.0, 80.0])[plan]
    monthly = base_price * (1.15 if drift else 1.0) + rng.normal(0, 6, n)
    monthly = monthly.clip(5).round(2)
    total = (monthly * tenure + rng.normal(0, 25, n)).clip(0).round(2)
    support_calls = rng.poisson(1.2 if not drift else 1.8, n)
    session_min = rng.lognormal(2.5, 0.6, n).round(1)
    last_login = rng.exponential(6.0 if not drift else 9.0, n).round(1)
    city_effect = np.sin(city * 0.37) * 0.6       # some cities churn more (learnable by encoding)

    logit = (
        -0.035 * tenure
        + 0.45 * support_calls
        + 0.012 * (monthly - 45)
        + 0.08 * last_login
        - 0.03 * session_min
        - 0.01 * (age - 40)
        + np.array([0.0, 0.1, -0.2, 0.15, 0.0, 0.3, -0.1, 0.2])[region]
        + np.array([0.3, -0.1, -0.4])[plan]
        + np.array([0.0, -0.15, 0.25, 0.1, 0.6])[device]
        + city_effect
    )
    if drift:  # concept drift: support calls matter less, price matters more
        logit += -0.2 * support_calls + 0.01 * (monthly - 45)
    b = _calibrate_intercept(logit, 0.10) if not drift else _calibrate_intercept(logit, 0.13)
    churned = (rng.random(n) < _sigmoid(logit + b)).astype("int8")

    span = 6 * 365 * 86400
    start = EPOCH0 + (np.timedelta64(365 * 86400, "s") if drift else np.timedelta64(0, "s"))
    signup = start + rng.integers(0, span, n).astype("timedelta64[s]")

    null_boost = 2.0 if drift else 1.0
    df = pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype="int64") + (10_000_000 if drift else 0),
        "signup_ts": signup.astype("datetime64[us]"),
        "age": _with_nulls(rng, age, 0.05 * null_boost),
        "tenure_months": tenure.astype("int32"),
        "monthly_charges": monthly,
        "total_charges": _with_nulls(rng, total, 0.02 * null_boost),
        "support_calls": support_calls.astype("int32"),
        "avg_session_min": _with_nulls(rng, session_min, 0.08 * null_boost),
        "days_since_login": last_login,
        "plan": pd.Categorical.from_codes(plan, PLANS).astype(str),
        "region": np.array(REGIONS)[region],
        "device": np.array(device_names)[device],
        "city": np.char.add("city_", np.char.zfill(city.astype(str), 5)),
        "churned": churned,
    })
    return df


def regression(n, seed):
    rng = np.random.default_rng([seed, n, 2])
    hood = rng.integers(0, 200, n)
    sqft = rng.lognormal(7.4, 0.35, n).round()
    beds = np.clip(np.round(sqft / 550 + rng.normal(0, 0.7, n)), 1, 8)
    baths = np.clip(np.round(beds * 0.6 + rng.normal(0, 0.5, n)), 1, 6)
    year = rng.integers(1900, 2024, n)
    lot = _with_nulls(rng, rng.lognormal(8.5, 0.6, n).round(), 0.04)
    dist = rng.gamma(2.0, 6.0, n).round(2)
    hood_premium = 1.0 + 0.5 * np.sin(hood * 0.9)
    price = (
        (120 * sqft + 15_000 * baths + 8_000 * beds) * hood_premium
        - 2_500 * dist
        + 600 * np.clip(year - 1950, 0, None)
        + 3 * np.nan_to_num(lot, nan=5000)
        + rng.normal(0, 25_000, n)
    ).clip(30_000).round(-2)
    return pd.DataFrame({
        "house_id": np.arange(1, n + 1, dtype="int64"),
        "neighborhood": np.char.add("hood_", hood.astype(str)),
        "sqft": sqft, "bedrooms": beds.astype("int32"), "bathrooms": baths.astype("int32"),
        "year_built": year.astype("int32"), "lot_sqft": lot, "dist_center_km": dist,
        "price": price,
    })


def sales_daily(seed, stores=20, items=50, days=1000):
    rng = np.random.default_rng([seed, 3])
    dates = np.datetime64("2021-01-01") + np.arange(days).astype("timedelta64[D]")
    t = np.arange(days)
    dow = (t + 4) % 7                      # 2021-01-01 was a Friday (0 = Monday)
    weekly = np.array([0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 1.2])[dow]
    yearly = 1 + 0.25 * np.sin(2 * np.pi * (t - 80) / 365.25)
    doy = (dates - dates.astype("datetime64[Y]")).astype(int)
    holiday = np.where(np.isin(doy, [0, 184, 358, 359, 330]), 1.8, 1.0)
    store_lvl = rng.lognormal(0, 0.3, stores)
    item_lvl = rng.lognormal(2.0, 0.5, items)
    trend = 1 + 0.0004 * t
    s, i, d = np.meshgrid(np.arange(stores), np.arange(items), t, indexing="ij")
    s, i, d = s.ravel(), i.ravel(), d.ravel()
    promo = (rng.random(s.size) < 0.05).astype("int8")
    mu = store_lvl[s] * item_lvl[i] * trend[d] * weekly[d] * yearly[d] * holiday[d] * (1 + 0.6 * promo)
    sales = rng.poisson(mu).astype("int32")
    return pd.DataFrame({
        "sale_date": dates[d].astype("datetime64[s]"),
        "store_id": (s + 1).astype("int32"), "item_id": (i + 1).astype("int32"),
        "promo": promo, "sales": sales,
    })


def content_hash(df):
    h = pd.util.hash_pandas_object(df, index=False).to_numpy()
    names = ",".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode()
    return hashlib.sha256(names + h.tobytes()).hexdigest()[:16]


def write(df, out, name, formats):
    table = pa.Table.from_pandas(df, preserve_index=False)
    if "sale_date" in table.column_names:  # a real DATE column, not a timestamp
        i = table.column_names.index("sale_date")
        table = table.set_column(i, "sale_date", table["sale_date"].cast(pa.date32()))
    if "parquet" in formats:
        pq.write_table(table, out / f"{name}.parquet", compression="zstd", row_group_size=128 * 1024)
    if "csv" in formats:
        pacsv.write_csv(table, out / f"{name}.csv")
    print(f"  {name:22s} rows={len(df):>9,} cols={df.shape[1]:>2} hash={content_hash(df)}", flush=True)
    return {"rows": len(df), "hash": content_hash(df),
            "positives": float(df["churned"].mean()) if "churned" in df else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "target" / "bench-data"))
    ap.add_argument("--sizes", default="100000,1000000", help="row counts for churn/regression")
    ap.add_argument("--drift-size", type=int, default=100_000)
    ap.add_argument("--tables", default="churn,drift,regression,sales")
    ap.add_argument("--formats", default="parquet,csv")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in a.sizes.split(",") if x]
    tables, formats = a.tables.split(","), a.formats.split(",")
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {"tables": {}}
    if manifest.get("seed") != a.seed:
        manifest = {"seed": a.seed, "tables": {}}
    label = lambda n: f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"  # noqa: E731
    if "churn" in tables:
        for n in sizes:
            manifest["tables"][f"churn_{label(n)}"] = write(churn(n, a.seed), out, f"churn_{label(n)}", formats)
    if "drift" in tables:
        n = a.drift_size
        manifest["tables"][f"churn_drift_{label(n)}"] = write(churn(n, a.seed, drift=True), out,
                                                              f"churn_drift_{label(n)}", formats)
    if "regression" in tables:
        for n in sizes:
            manifest["tables"][f"regression_{label(n)}"] = write(regression(n, a.seed), out,
                                                                 f"regression_{label(n)}", formats)
    if "sales" in tables:
        manifest["tables"]["sales_daily"] = write(sales_daily(a.seed), out, "sales_daily", formats)
    mpath.write_text(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
