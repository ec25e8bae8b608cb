# %% [markdown]
# # Churn in a notebook: pandas, SQLAlchemy and Quarry
#
# Train a churn model on Quarry's demo data, score last month's customers,
# and chart the model's ROC curve, lift and the drift of its inputs, all from
# SQL run by Quarry and read into pandas. Runs as a script
# (`python examples/notebook.py`) or cell by cell in Jupyter or VS Code.
#
#     pip install "psycopg[binary]" sqlalchemy pandas matplotlib
#     QUARRY_URL=postgresql+psycopg://quarry@127.0.0.1:5433/quarry python examples/notebook.py
#
# Charts are written to $QUARRY_NOTEBOOK_OUT (./notebook-output).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files, no display needed
import matplotlib.pyplot as plt
import pandas as pd
from sqlalchemy import create_engine, text

engine = create_engine(
    os.environ.get("QUARRY_URL", "postgresql+psycopg://quarry@127.0.0.1:5433/quarry")
)
out = Path(os.environ.get("QUARRY_NOTEBOOK_OUT", "notebook-output"))
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The data

# %%
by_plan = pd.read_sql(
    "SELECT plan, count(*) AS customers, avg(CAST(churned AS INT)) AS churn_rate "
    "FROM customers GROUP BY plan ORDER BY churn_rate DESC",
    engine,
)
print(by_plan)

# %% [markdown]
# ## Train
# `CREATE MODEL` returns one row: the version, its held-out metrics and warnings.

# %%
with engine.begin() as conn:
    trained = conn.execute(
        text(
            "CREATE OR REPLACE MODEL notebook_churn OPTIONS ("
            " task = 'classification', algorithm = 'gbdt', label = 'churned',"
            " exclude = 'customer_id,signup_ts', rounds = 80, seed = 7"
            ") AS SELECT * FROM customers"
        )
    ).mappings().one()
print(f"version {trained['version']}: {trained['metrics']}")

# %% [markdown]
# ## Score last month's customers

# %%
scores = pd.read_sql(
    "SELECT customer_id, prediction, probability "
    "FROM ml_predict('notebook_churn', 'customers_recent') ORDER BY probability DESC",
    engine,
)
print(scores.head())
evaluation = pd.read_sql(
    "SELECT metric, value, ci_lower, ci_upper FROM ml_evaluate('notebook_churn', 'customers_recent')",
    engine,
).set_index("metric")
print(evaluation)

# %% [markdown]
# ## ROC curve

# %%
roc = pd.read_sql(
    "SELECT threshold, fpr, tpr FROM ml_roc_curve('notebook_churn', 'customers_recent', 50)",
    engine,
)
auc = evaluation.loc["roc_auc", "value"]
fig, ax = plt.subplots(figsize=(5, 5))
ax.plot(roc["fpr"], roc["tpr"], label=f"notebook_churn (AUC {auc:.3f})")
ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, last month")
ax.legend(loc="lower right")
fig.savefig(out / "roc.png", dpi=100, bbox_inches="tight")

# %% [markdown]
# ## Lift by decile

# %%
lift = pd.read_sql(
    "SELECT bin, lift, cumulative_gain FROM ml_lift_curve('notebook_churn', 'customers_recent', 10) ORDER BY bin",
    engine,
)
fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(lift["bin"], lift["lift"])
ax.axhline(1.0, linestyle="--", color="grey")
ax.set(xlabel="decile (1 = highest scores)", ylabel="lift", title="Lift, last month")
fig.savefig(out / "lift.png", dpi=100, bbox_inches="tight")

# %% [markdown]
# ## Drift of the inputs since training

# %%
drift = pd.read_sql(
    "SELECT feature, value AS psi, threshold, drifted "
    "FROM ml_drift('notebook_churn', 'customers_recent') WHERE metric = 'psi' ORDER BY value",
    engine,
)
print(drift)
fig, ax = plt.subplots(figsize=(6, 5))
ax.barh(drift["feature"], drift["psi"], color=["tab:red" if d else "tab:blue" for d in drift["drifted"]])
ax.axvline(drift["threshold"].iloc[0], linestyle="--", color="grey", label="threshold")
ax.set(xlabel="PSI", title="Input drift, last month vs training")
ax.legend()
fig.savefig(out / "drift.png", dpi=100, bbox_inches="tight")

# %% [markdown]
# What the charts say, as numbers a test can check.

# %%
assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
assert 0.7 < auc < 1.0, auc
assert lift["lift"].iloc[0] > 1.5 > lift["lift"].iloc[-1], lift
assert drift["drifted"].any(), "customers_recent drifts by construction"
print(f"charts in {out}: " + ", ".join(sorted(p.name for p in out.glob("*.png"))))
