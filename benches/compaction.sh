#!/usr/bin/env bash
# Scan of a table written by 1,000 single-row INSERTs (compacted in the
# background) against the same rows written at once: builds Quarry (release)
# and runs benches/compaction.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
run_quarry_bench benches/compaction.py "$@"
