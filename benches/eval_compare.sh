#!/usr/bin/env bash
# Side-by-side evaluation and explanation benchmark (issue 5): builds Quarry
# (release), installs the Python peers in .venv-bench and runs
# benches/eval_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin quarry
venv=.venv-bench
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r benches/requirements.txt
"$venv/bin/python" benches/eval_compare.py "$@"
