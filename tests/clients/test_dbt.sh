#!/usr/bin/env bash
# dbt-core and dbt-postgres, unmodified, building tests/clients/dbt against a
# live Quarry: seeds, views, tables, ephemeral and incremental models (append,
# merge, delete+insert, microbatch), materialized views, an enforced
# contract, snapshots (timestamp and check), data and unit tests, docs,
# source freshness, persist_docs and hooks. The project is built, its source
# changed, built again, and rebuilt with --full-refresh; each step checks
# what the relations hold. Needs PGHOST/PGPORT/PGUSER, QUARRY_PORT and
# $DBT (the dbt executable); run by scripts/client-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
project=tests/clients/dbt
out=target/clients/dbt
export DBT_PROFILES_DIR=$PWD/$project DBT_TARGET_PATH=$PWD/$out/target DBT_LOG_PATH=$PWD/$out/logs
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false
mkdir -p "$out"

q() { psql -X -v ON_ERROR_STOP=1 -qAt -c "$1"; }
expect() { # expect <what> <expected> <query>
  local got
  got=$(q "$3" | tr '\n' ' ' | sed 's/ $//')
  if [ "$got" != "$2" ]; then
    echo "dbt: $1: expected '$2', got '$got'" >&2
    exit 1
  fi
}
dbt() { (cd "$project" && "$DBT" "$@"); }

q "drop schema if exists dbt_test cascade"
q "drop schema if exists dbt_test_snapshots cascade"
q "drop schema if exists raw cascade"
q "create schema raw"
q "create table raw.customers (id int, name text, plan text, amount double precision, updated_at timestamp)"
q "insert into raw.customers values
   (1, 'ann', 'basic', 10.5, '2024-01-01'), (2, 'bob', 'plus', 20, '2024-01-02'),
   (3, 'cy', 'pro', 30, '2024-01-03')"

# First build: everything from nothing.
dbt build
expect "customer_plans" "2|19.99|40" "select id, fee, doubled from dbt_test.customer_plans where name = 'bob'"
expect "ephemeral model" "2" "select n from dbt_test.big_spender_count"
expect "incremental models, first build" "3 3 3" "select count(*) from dbt_test.inc_append
  union all select count(*) from dbt_test.inc_merge union all select count(*) from dbt_test.inc_delete_insert"
expect "snapshots, first build" "3 3" "select count(*) from dbt_test_snapshots.customers_by_time
  union all select count(*) from dbt_test_snapshots.customers_by_check"
expect "hooks" "1" "select count(*) from dbt_test.dbt_runs"
expect "persist_docs" "Customers with their plan's fee|The customer|from the plans seed" \
  "select obj_description('dbt_test.customer_plans'::regclass, 'pg_class'),
          col_description('dbt_test.customer_plans'::regclass, 1),
          col_description('dbt_test.customer_plans'::regclass, 4)"

# The source changes: bob's amount, and a new customer.
q "update raw.customers set amount = 25, updated_at = '2024-01-05' where id = 2"
q "insert into raw.customers values (4, 'di', 'basic', 5, '2024-01-06')"

# Second build, one command at a time.
dbt seed
# The month the changes fall in, as a backfill: a microbatch model rebuilds
# those batches only (other models build as usual).
dbt run --event-time-start 2024-01-01 --event-time-end 2024-02-01
dbt snapshot
dbt test
expect "append adds what is newer" "1 2 2 3 4" "select id from dbt_test.inc_append order by id"
expect "merge updates and inserts" "1|10.5 2|25 3|30 4|5" "select id, amount from dbt_test.inc_merge order by id"
expect "delete+insert replaces" "1|10.5 2|25 3|30 4|5" "select id, amount from dbt_test.inc_delete_insert order by id"
expect "timestamp snapshot keeps bob's history" "2|20|f 2|25|t" \
  "select id, amount, dbt_valid_to is null from dbt_test_snapshots.customers_by_time where id = 2 order by amount"
expect "timestamp snapshot rows" "5" "select count(*) from dbt_test_snapshots.customers_by_time"
expect "check snapshot keeps bob's history" "2|20|f 2|25|t" \
  "select id, amount, dbt_valid_to is null from dbt_test_snapshots.customers_by_check where id = 2 order by amount"
expect "materialized view refreshed" "basic|2|15.5 plus|1|25 pro|1|30" \
  "select plan, customers, amount from dbt_test.plan_totals_mv order by plan"
expect "microbatch" "1|10.5 2|25 3|30 4|5" "select id, amount from dbt_test.daily_amounts order by id"
expect "contract's not-null constraint" "id|NO name|YES" \
  "select column_name, is_nullable from information_schema.columns
   where table_schema = 'dbt_test' and table_name = 'customers_contracted' and column_name in ('id', 'name')
   order by column_name"
expect "on-run-end ran for each invocation" "5" "select count(*) from dbt_test.dbt_runs"
expect "no relation left behind" "0" \
  "select count(*) from information_schema.tables where table_name like '%\\_\\_dbt\\_%'"

# Rebuilt from scratch: the incremental models as the source is now.
dbt build --full-refresh
expect "full refresh rebuilds append" "1 2 3 4" "select id from dbt_test.inc_append order by id"
expect "full refresh keeps snapshots" "5" "select count(*) from dbt_test_snapshots.customers_by_time"

dbt docs generate
python3 - "$out/target/catalog.json" <<'PY'
import json, sys
catalog = json.load(open(sys.argv[1]))
node = catalog["nodes"]["model.quarry_client_test.customer_plans"]
columns = sorted(node["columns"])
assert columns == ["doubled", "fee", "id", "name", "plan"], columns
assert node["metadata"]["type"] == "BASE TABLE", node["metadata"]
assert node["metadata"]["comment"] == "Customers with their plan's fee", node["metadata"]
assert catalog["sources"]["source.quarry_client_test.raw.customers"]["columns"]["id"]["type"] == "integer"
assert not catalog.get("errors"), catalog.get("errors")
PY
dbt source freshness
python3 - "$out/target/sources.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
assert [r["status"] for r in results] == ["pass"], results
assert results[0]["max_loaded_at"].startswith("2024-01-06"), results[0]
PY
echo "dbt: all steps passed"
