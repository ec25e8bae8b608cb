"""The benchmark data: benches/data/gen_data.py's seeded tables (a copy of the
peer baselines' generator, so the rows are the ones those baselines measured),
written under target/bench-data (git-ignored) the first time a script asks for
them. Delete a file there to have it made again, or make it by hand:

    .venv-bench/bin/python benches/data/gen_data.py --tables churn --sizes 1000000 --formats parquet
"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "benches" / "data" / "gen_data.py"
DATA = ROOT / "target" / "bench-data"


def churn(rows):
    """Path of churn_<rows>.parquet (gen_data.py, seed 42), generated if missing."""
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    path = DATA / f"churn_{label}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(GENERATOR), "--out", str(DATA), "--tables", "churn",
             "--sizes", str(rows), "--formats", "parquet"],
            check=True,
        )
    return path
