#!/usr/bin/env bash
# pgbench against a live Quarry: `pgbench -i` (its DDL: storage parameters,
# COPY ... FREEZE, VACUUM ANALYZE, ALTER TABLE ADD PRIMARY KEY), then its
# TPC-B transactions from four clients at once. Every transaction must
# commit (row changes of one table wait for each other, as PostgreSQL's row
# locks make them) and the balances must agree with the history: no update
# lost. Finds pgbench in PATH or in Debian's server package.
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}" "${PGUSER:?}"
export PGDATABASE=quarry

fail() { echo "pgbench: FAILED: $*" >&2; exit 1; }
bench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)
[ -n "$bench" ] || fail "pgbench is not installed"

"$bench" -i -s 1 -q >/dev/null 2>&1 || "$bench" -i -s 1 || fail "pgbench -i"
out=$("$bench" -c 4 -t 25 -n 2>&1) || fail "pgbench run: $out"
grep -q "number of failed transactions: 0 " <<<"$out" || fail "transactions failed: $out"
sums=$(psql -X -At -v ON_ERROR_STOP=1 -c "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)
  AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history)
  AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)
  AND (SELECT count(*) FROM pgbench_history) = 100")
[ "$sums" = t ] || fail "balances disagree with the history"
echo "pgbench: ok ($(echo "$out" | grep -o 'tps = [0-9.]*'))"
