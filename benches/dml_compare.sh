#!/usr/bin/env bash
# UPDATE, DELETE and MERGE side by side with PostgreSQL: builds Quarry
# (release), installs PostgreSQL from Debian if it is missing, and runs
# benches/dml_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
run_against_postgres benches/dml_compare.py "$@"
