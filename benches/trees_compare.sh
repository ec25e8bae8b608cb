#!/usr/bin/env bash
# Side-by-side tree-model benchmark (issue 4): builds Quarry (release),
# installs the Python peers in .venv-bench and runs benches/trees_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin quarry
venv=.venv-bench
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r benches/requirements.txt
# --no-deps: xgboost's CUDA dependency (nvidia-nccl-cu12) is useless here.
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps xgboost==3.2.0
"$venv/bin/python" benches/trees_compare.py "$@"
