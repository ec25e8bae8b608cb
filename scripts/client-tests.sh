#!/usr/bin/env bash
# Runs real PostgreSQL clients (psql, pgbench, psycopg 3, psycopg2,
# SQLAlchemy and pandas, asyncpg, node-postgres, pgJDBC, psqlODBC through
# pyodbc, pgx, dbt-core with dbt-postgres, and the catalog queries of
# Metabase, DBeaver and Superset, Prometheus's promtool on /metrics, and
# the dashboard in headless Chromium)
# against a Quarry server this script starts on a temporary
# data directory and stops at the end. Installs what it needs: Python venvs
# in .venv-clients and .venv-dbt, node-postgres from its lock file into
# tests/clients/node/node_modules, psql, pgbench, Debian's pgJDBC, psqlODBC,
# Go and pgx v4 (and Node.js or a JDK where missing) from Debian; the pgx
# program is built into target/clients.
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
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node and npm are missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
(cd tests/clients/node && npm ci --no-audit --no-fund --silent)
# psqlODBC's ANSI and Unicode drivers and the unixODBC manager pyodbc loads.
if ! grep -q "PostgreSQL Unicode" <<<"$(odbcinst -q -d 2>/dev/null)"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      odbc-postgresql unixodbc >/dev/null
  else
    echo "psqlODBC is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
# pgx v4 and Go from Debian, built in GOPATH mode from Debian's sources
# (the Go module proxy is not among the registries CI reaches).
if [ ! -d /usr/share/gocode/src/github.com/jackc/pgx ] || ! command -v go >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      golang-go golang-github-jackc-pgx-v4-dev >/dev/null
  else
    echo "Go or pgx is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
# promtool, to check the /metrics scrape, from Debian's prometheus.
if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
# Headless Chromium, to load the dashboard as a browser does, from Debian.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends chromium fonts-dejavu-core >/dev/null
  else
    echo "chromium is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
mkdir -p target/clients
(cd tests/clients/pgx && GO111MODULE=off GOPATH=/usr/share/gocode \
  GOCACHE="$PWD/../../../target/clients/go-cache" go build -o ../../../target/clients/pgx-test .)
# pgJDBC from Debian (Maven Central is not among the registries CI
# reaches); the test is a single-file Java program, run without javac.
jdbc_jar=/usr/share/java/postgresql.jar
if [ ! -f "$jdbc_jar" ] || ! command -v java >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libpostgresql-jdbc-java default-jdk-headless >/dev/null
  else
    echo "pgJDBC or a JDK is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi
venv=.venv-clients
# Made here, never committed: a copy from another machine points at an
# interpreter that may not exist, so one that cannot start is made again.
"$venv/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt
dbt_venv=.venv-dbt
"$dbt_venv/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$dbt_venv"
"$dbt_venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements-dbt.txt
export DBT=$PWD/$dbt_venv/bin/dbt

. scripts/lib/serve.sh
# One server with the demo data, for the examples that use it as a user
# would after `cargo run` (plain, local trust), and one without, for
# everything else, with TLS and a password: every client logs in to it over
# TLS (sslmode=require refuses a plain connection) with SCRAM-SHA-256.
start_quarry
demo_port=$port demo_log=$log
tls=target/clients/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
password="client-$RANDOM-$RANDOM"
start_quarry --no-demo --password "$password" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=quarry PGPASSWORD=$password PGSSLMODE=require
export QUARRY_PASSWORD=$password QUARRY_SSLMODE=require
export QUARRY_DSN="host=127.0.0.1 port=$port user=quarry password=$password dbname=quarry sslmode=require"
export QUARRY_SQLALCHEMY_URL="postgresql+psycopg://quarry:$password@127.0.0.1:$port/quarry?sslmode=require"
export QUARRY_ASYNCPG_URL="postgresql://quarry:$password@127.0.0.1:$port/quarry?sslmode=require"
export QUARRY_PORT=$port QUARRY_DEMO_PORT=$demo_port QUARRY_HTTP_PORT=$http_port
export QUARRY_NODE_URL="postgresql://quarry:$password@127.0.0.1:$port/quarry" QUARRY_NODE_TLS=1
status=0
tests/clients/psql.sh || status=1
python3 tests/clients/psql_completion.py || status=1
tests/clients/pgbench.sh || status=1
"$venv/bin/python" tests/clients/test_psycopg.py || status=1
"$venv/bin/python" tests/clients/test_sqlalchemy.py || status=1
"$venv/bin/python" tests/clients/test_asyncpg.py || status=1
"$venv/bin/python" tests/clients/test_psycopg2.py || status=1
"$venv/bin/python" tests/clients/test_odbc.py || status=1
"$venv/bin/python" tests/clients/test_tool_queries.py || status=1
tests/clients/test_dbt.sh || status=1
tests/clients/test_dbt_example.sh || status=1
"$venv/bin/python" tests/clients/test_notebook.py || status=1
"$venv/bin/python" tests/clients/test_metrics.py || status=1
"$venv/bin/python" tests/clients/test_dashboard.py || status=1
node tests/clients/node/test_node.js || status=1
target/clients/pgx-test "postgres://quarry:$password@127.0.0.1:$port/quarry?sslmode=require" || status=1
java -cp "$jdbc_jar" tests/clients/jdbc/QuarryJdbc.java \
  "jdbc:postgresql://127.0.0.1:$port/quarry?user=quarry&password=$password&sslmode=require" || status=1
if [ $status -ne 0 ]; then
  echo "--- server log ---" >&2; tail -50 "$log" >&2
  echo "--- demo server log ---" >&2; tail -20 "$demo_log" >&2
fi
exit $status
