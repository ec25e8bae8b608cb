#!/usr/bin/env bash
# UPDATE, DELETE and MERGE side by side with PostgreSQL: builds Quarry
# (release), installs PostgreSQL from Debian if it is missing, and runs
# benches/dml_compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries are missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
cargo build --release --bin quarry
venv=.venv-clients
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
"$venv/bin/python" benches/dml_compare.py "$@"
