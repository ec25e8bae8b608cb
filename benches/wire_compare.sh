#!/usr/bin/env bash
# Side-by-side wire benchmark: builds Quarry (release), installs PostgreSQL
# from Debian if it is missing, and runs benches/wire_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
run_against_postgres benches/wire_compare.py "$@"
