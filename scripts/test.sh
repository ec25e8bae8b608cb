#!/usr/bin/env bash
# The whole test suite: unit tests, the integration binary (sqllogictest files,
# wire, persistence, crash tests), then real clients against a live server,
# then a minute of sqlsmith's random queries (the server must survive them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --locked
scripts/client-tests.sh
scripts/sqlsmith.sh 60
