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
  grep -q "SSL connection" <<<"$(q -c '\conninfo')" || fail "\\conninfo does not show TLS: $(q -c '\conninfo')"
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
dfplus=$(q -c '\df+ ml_drift')
grep -q 'Drift of every feature' <<<"$dfplus" || fail "\\df+ ml_drift does not describe it: $dfplus"
dfml=$(q -c '\df ml_*')
grep -Eq 'ml_evaluate +\| SETOF record +\| model, relation, options' <<<"$dfml" ||
  fail "\\df ml_* does not list ml_evaluate with its arguments: $dfml"
du=$(q -c '\du')
grep -Eq 'quarry +\| Superuser' <<<"$du" || fail "\\du does not list the superuser: $du"
dp=$(q -c '\dp psql_items')
grep -Eq 'public +\| psql_items +\| table' <<<"$dp" || fail "\\dp does not list psql_items: $dp"
sv=$(q -c '\sv psql_view')
grep -q 'CREATE OR REPLACE VIEW public.psql_view AS' <<<"$sv" || fail "\\sv psql_view: $sv"
sf=$(q -c '\sf ml_predict_proba')
grep -q 'CREATE OR REPLACE FUNCTION public.ml_predict_proba(' <<<"$sf" || fail "\\sf ml_predict_proba: $sf"
dconfig=$(q -c '\dconfig search_path')
grep -q 'search_path' <<<"$dconfig" || fail "\\dconfig search_path: $dconfig"
# Every other listing psql has that Quarry's catalogs can answer runs
# without an error (most list nothing: Quarry has no such objects).
for meta in '\dn' '\dn+' '\l' '\l+' '\dT' '\dT+' '\dD' '\do' '\dc' '\dC' '\db' '\dg' '\dv+' '\dm' '\di' \
  '\ds' '\dx' '\dA' '\dF' '\dFd' '\dFp' '\dFt' '\ddp' '\drds' '\dRp' '\dRs' '\des' '\dew' '\det' '\dP' '\dl' '\z'; do
  out=$(psql -X -v ON_ERROR_STOP=1 -c "$meta" 2>&1) || fail "$meta failed: $out"
done

# CREATE MODEL reports each phase to its end: as DEBUG messages while
# training has run less than two seconds, NOTICEs after.
q -c "DROP TABLE IF EXISTS psql_train" \
  -c "CREATE TABLE psql_train AS SELECT value AS id, value % 7 AS x, value % 3 = 0 AS y FROM generate_series(1, 300)"
progress=$(psql -X -v ON_ERROR_STOP=1 -c "SET client_min_messages = debug1" \
  -c "CREATE OR REPLACE MODEL psql_progress OPTIONS (task = 'classification', algorithm = 'gbdt', label = 'y', exclude = 'id', rounds = 3) AS SELECT * FROM psql_train" 2>&1 >/dev/null)
for phase in 'read 300 rows' 'training gbdt on 240 rows' 'round 3 of 3' 'fitted in' 'evaluating on 60 held-out rows' \
  'measuring feature importance' 'profiling the training rows' 'writing the training snapshot' 'version 1 registered'; do
  grep -Eq "(DEBUG|NOTICE):  .*$phase" <<<"$progress" || fail "CREATE MODEL did not report '$phase': $progress"
done
quiet=$(psql -X -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
  -c "CREATE OR REPLACE MODEL psql_progress OPTIONS (task = 'classification', algorithm = 'gbdt', label = 'y', exclude = 'id', rounds = 3) AS SELECT * FROM psql_train" 2>&1 >/dev/null)
[ -z "$quiet" ] || fail "client_min_messages = warning still reported: $quiet"
q -c "DROP MODEL psql_progress" -c "DROP TABLE psql_train"

here=$(dirname "$0")

# Npgsql's whole connect-time batch, verbatim, one message of four
# statements, as it sends it: the version, the types (arrays recognised by
# their receive function, a regproc joined to pg_proc.oid), the composite
# types' fields and the enums' labels.
npgsql=$(sed '1,/sends the statements the same way\.$/d' "$here/tool_queries/npgsql_connect.sql")
connect=$(q -At -F'|' -c "$npgsql") || fail "Npgsql's connect batch failed"
grep -q '^PostgreSQL 16' <<<"$connect" || fail "Npgsql's batch: no version row"
grep -qx 'pg_catalog|23|int4|b|f|' <<<"$connect" || fail "Npgsql's batch does not list int4"
grep -qx 'pg_catalog|1007|_int4|a|f|23' <<<"$connect" || fail "Npgsql's batch does not see int4[] as an array of int4"

# An error prints its SQLSTATE-backed message and psql survives.
if out=$(psql -X -v ON_ERROR_STOP=1 -c "SELECT * FROM nope" 2>&1); then fail "expected an error"; fi
grep -q 'relation "nope" does not exist' <<<"$out" || fail "unexpected error text: $out"
echo "psql: ok"
