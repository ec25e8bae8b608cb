#!/usr/bin/env bash
# Side-by-side drift and profiling benchmark (issue 6): builds Quarry
# (release), installs the Python peers in .venv-bench and runs
# benches/drift_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin quarry
venv=.venv-bench
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r benches/requirements.txt
"$venv/bin/python" benches/drift_compare.py "$@"
