#!/usr/bin/env bash
# A bounded sqlsmith run against a live server: a minute of random queries
# built from Quarry's own catalog (sqlsmith reads pg_type, pg_proc,
# pg_operator, pg_attribute and information_schema.tables itself, no
# rewriting proxy in between). Fails when the server dies or panics, or when
# sqlsmith cannot load the schema. Installs Debian's sqlsmith if missing.
#
#   scripts/sqlsmith.sh [seconds] [seed]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
seed=${2:-$RANDOM}
bin=${QUARRY_BIN:-target/debug/quarry}
[ -x "$bin" ] || cargo build --bin quarry --locked

if ! command -v sqlsmith >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlsmith >/dev/null
  else
    echo "sqlsmith is missing and cannot be installed (not root)" >&2; exit 1
  fi
fi

. scripts/lib/serve.sh
# Demo data on: sqlsmith's queries then read real tables of every type.
start_quarry
out="$data/sqlsmith.log"

target="host=127.0.0.1 port=$port user=quarry dbname=quarry"
echo "sqlsmith: ${seconds}s, seed $seed"
status=0
# Loading the schema (a query per routine: 3 400 of them, ~50 s on a debug
# build) comes first; the queries get `seconds` after the 90 s it may take.
timeout --signal=INT "$((seconds + 90))" sqlsmith --target="$target" --seed="$seed" --verbose >"$out" 2>&1 || true

fail() { echo "sqlsmith: $*" >&2; tail -30 "$out" >&2; echo "--- server log ---" >&2; tail -30 "$log" >&2; status=1; }
grep -q "Loading aggregate parameters...done" "$out" || fail "could not load the schema from the catalog"
kill -0 "$pid" 2>/dev/null || fail "the server died (seed $seed)"
grep -q "panicked" "$log" && fail "the server panicked (seed $seed)"
if [ $status -eq 0 ]; then
  psql_ok=$(python3 - "$port" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
body = struct.pack("!i", 196608) + b"user\0quarry\0database\0quarry\0\0"
s.sendall(struct.pack("!i", len(body) + 4) + body)
q = b"SELECT 1\0"
buf = b""
while b"Z\x00\x00\x00\x05I" not in buf:
    buf += s.recv(65536)
s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)
buf = b""
while b"Z\x00\x00\x00\x05" not in buf:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print("ok" if b"D" in buf else "no")
EOF
)
  [ "$psql_ok" = ok ] || fail "the server no longer answers"
fi
# sqlsmith's progress: one character a query, '.' answered, 'e' error,
# 'S' syntax error, 't' timeout, 'C' a broken connection.
progress=$(sed -n '/^Generating indexes/,$p' "$out" | grep -E '^[.eStC]+$' | tr -d '\n' || true)
count() { printf '%s' "$progress" | tr -cd "$1" | wc -c; }
broken=$(count C)
[ "$broken" -eq 0 ] || fail "$broken queries lost their connection (seed $seed)"
internal=$(grep -c "internal error" "$out" || true)
# What they were, to triage (they do not fail the run: sqlsmith finds
# DataFusion's own gaps too).
grep "internal error" "$out" | sed 's/.*internal error/internal error/' | sort | uniq -c | sort -rn | head -5 || true
echo "sqlsmith: ${#progress} queries: $(count .) answered, $(count e) errors, $(count S) syntax errors," \
  "$(count t) timeouts, $broken broken connections; 'internal error' lines: $internal"
exit $status
