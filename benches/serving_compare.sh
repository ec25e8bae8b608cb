#!/usr/bin/env bash
# REST against prepared SQL, and ml_predict with the prediction log off,
# at 0.1 and at 1.0: builds Quarry (release) and runs
# benches/serving_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
run_quarry_bench benches/serving_compare.py "$@"
