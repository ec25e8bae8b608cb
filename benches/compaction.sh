#!/usr/bin/env bash
# Scan of a table written by 1,000 single-row INSERTs (compacted in the
# background) against the same rows written at once: builds Quarry (release)
# and runs benches/compaction.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin quarry
venv=.venv-clients
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
"$venv/bin/python" benches/compaction.py "$@"
