#!/usr/bin/env bash
# psql against a live Quarry: \dt, \d <table>, \df, \copy in both directions,
# and client tools' catalog queries replayed verbatim (tool_queries/).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}" "${PGUSER:?}"
export PGDATABASE=quarry
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "psql: FAILED: $*" >&2; exit 1; }
q() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

# With PGSSLMODE=require and PGPASSWORD set (scripts/client-tests.sh), the
# login is TLS and SCRAM-SHA-256, and a wrong password is refused.
if [ "${PGSSLMODE:-}" = require ]; then
  q -c '\conninfo' | grep -q "SSL connection" || fail "\\conninfo does not show TLS: $(q -c '\conninfo')"
fi
if [ -n "${PGPASSWORD:-}" ]; then
  if out=$(PGPASSWORD=wrong psql -X -c "SELECT 1" 2>&1); then fail "a wrong password logged in"; fi
  grep -q 'password authentication failed for user "quarry"' <<<"$out" || fail "wrong password: $out"
fi

q -c "DROP TABLE IF EXISTS psql_items" -c "CREATE TABLE psql_items (id INT, label TEXT)"
printf 'id,label\n1,one\n2,"two, quoted"\n3,\n' > "$tmp/items.csv"
q -c "\copy psql_items FROM '$tmp/items.csv' WITH (FORMAT csv, HEADER)"
count=$(q -At -c "SELECT count(*) FROM psql_items")
[ "$count" = 3 ] || fail "\\copy loaded $count rows, expected 3"
q -c "\copy psql_items FROM '$tmp/items.csv' csv header"
count=$(q -At -c "SELECT count(*) FROM psql_items")
[ "$count" = 6 ] || fail "legacy \\copy syntax: $count rows, expected 6"

q -c "\copy (SELECT DISTINCT id, label FROM psql_items ORDER BY id) TO '$tmp/out.csv' WITH (FORMAT csv, HEADER)"
diff <(tail -n +2 "$tmp/out.csv") <(printf '1,one\n2,"two, quoted"\n3,\n') || fail "\\copy to file differs"

dt=$(q -c '\dt')
grep -q psql_items <<<"$dt" || fail "\\dt does not list psql_items: $dt"
d=$(q -c '\d psql_items')
grep -q label <<<"$d" || fail "\\d psql_items does not show column label: $d"
grep -qi integer <<<"$d" || fail "\\d psql_items does not show the integer type: $d"
q -c "DROP TABLE IF EXISTS psql_keyed" -c "CREATE TABLE psql_keyed (id INT PRIMARY KEY, label TEXT)"
dk=$(q -c '\d psql_keyed')
grep -q '"psql_keyed_pkey" PRIMARY KEY, btree (id)' <<<"$dk" || fail "\\d psql_keyed does not list its key's index: $dk"
dtplus=$(q -c '\dt+ psql_items')
grep -Eq '[0-9]+ (bytes|kB)' <<<"$dtplus" || fail "\\dt+ does not show the table's size: $dtplus"
dplus=$(q -c '\d+ psql_items')
grep -q label <<<"$dplus" || fail "\\d+ psql_items does not show column label: $dplus"
q -c 'CREATE OR REPLACE VIEW psql_view AS SELECT id FROM psql_items WHERE id > 1'
vplus=$(q -c '\d+ psql_view')
grep -q 'WHERE id > 1' <<<"$vplus" || fail "\\d+ psql_view does not show the view's query: $vplus"
q -c '\d' >/dev/null || fail "\\d failed"
df=$(q -c '\df ml_predict*')
grep -q 'ml_predict_proba' <<<"$df" || fail "\\df ml_predict* does not list ml_predict_proba: $df"
q -c '\df+ ml_drift' >/dev/null || fail "\\df+ failed"
q -c '\dn' >/dev/null || fail "\\dn failed"
q -c '\l' >/dev/null || fail "\\l failed"

# Npgsql's connect-time type query, verbatim: arrays are recognised by
# their receive function (a regproc joined to pg_proc.oid).
here=$(dirname "$0")
types=$(q -At -F'|' -f "$here/tool_queries/npgsql_types.sql") || fail "Npgsql's type query failed"
grep -qx 'pg_catalog|1007|_int4|a|f|23' <<<"$types" || fail "Npgsql's type query does not see int4[] as an array of int4"
grep -qx 'pg_catalog|23|int4|b|f|' <<<"$types" || fail "Npgsql's type query does not list int4"

# An error prints its SQLSTATE-backed message and psql survives.
if out=$(psql -X -v ON_ERROR_STOP=1 -c "SELECT * FROM nope" 2>&1); then fail "expected an error"; fi
grep -q 'relation "nope" does not exist' <<<"$out" || fail "unexpected error text: $out"
echo "psql: ok"
