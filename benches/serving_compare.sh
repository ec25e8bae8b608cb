#!/usr/bin/env bash
# REST against prepared SQL, and ml_predict with the prediction log off,
# at 0.1 and at 1.0: builds Quarry (release) and runs
# benches/serving_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin quarry
venv=.venv-clients
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
"$venv/bin/python" benches/serving_compare.py "$@"
