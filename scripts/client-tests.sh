#!/usr/bin/env bash
# Runs real PostgreSQL clients (psql, pgbench, psycopg 3, SQLAlchemy and
# pandas, asyncpg) against a Quarry
# server this script starts on a temporary data directory and stops at the end.
# Installs what it needs: a Python venv in .venv-clients, psql from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${QUARRY_BIN:-target/debug/quarry}
[ -x "$bin" ] || cargo build --bin quarry --locked

if ! command -v psql >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null
  else
    echo "psql is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
# pgbench comes with Debian's server package.
if ! command -v pgbench >/dev/null && ! ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "pgbench is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
venv=.venv-clients
# Made here, never committed: a copy from another machine points at an
# interpreter that may not exist, so one that cannot start is made again.
"$venv/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt

. scripts/lib/serve.sh
start_quarry --no-demo

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=quarry
export QUARRY_DSN="host=127.0.0.1 port=$port user=quarry dbname=quarry"
export QUARRY_SQLALCHEMY_URL="postgresql+psycopg://quarry@127.0.0.1:$port/quarry"
export QUARRY_ASYNCPG_URL="postgresql://quarry@127.0.0.1:$port/quarry"
status=0
tests/clients/psql.sh || status=1
tests/clients/pgbench.sh || status=1
"$venv/bin/python" tests/clients/test_psycopg.py || status=1
"$venv/bin/python" tests/clients/test_sqlalchemy.py || status=1
"$venv/bin/python" tests/clients/test_asyncpg.py || status=1
if [ $status -ne 0 ]; then echo "--- server log ---" >&2; tail -50 "$log" >&2; fi
exit $status
