"""The benchmark data: ../shared/bench's seeded generator, written under
target/bench-data (git-ignored, rebuilt on a fresh clone) because the shared
directory may be read-only."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
DATA = ROOT / "target" / "bench-data"


def churn(rows):
    """Path of churn_<rows>.parquet (gen_data.py, seed 42), generated if missing."""
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    path = DATA / f"churn_{label}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(BENCH / "gen_data.py"), "--out", str(DATA), "--tables", "churn",
             "--sizes", str(rows), "--formats", "parquet"],
            check=True,
        )
    return path
