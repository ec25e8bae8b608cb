#!/usr/bin/env bash
# examples/dbt, the churn project on the dbt_quarry package, against a
# Quarry serving the demo data: built twice (a new model version each
# time, deployed once its gates pass, scored with the version it trained),
# then on last month's drifted customers, where the drift gate must fail,
# skip the scoring and leave the new version undeployed. Needs PGHOST,
# PGUSER, QUARRY_DEMO_PORT and $DBT; run by scripts/client-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
project=$PWD/examples/dbt
out=$PWD/target/clients/dbt-example
export DBT_PROFILES_DIR=$project DBT_TARGET_PATH=$out/target DBT_LOG_PATH=$out/logs
export DBT_SEND_ANONYMOUS_USAGE_STATS=false QUARRY_PORT=$QUARRY_DEMO_PORT
# The demo server is plain and trusts local connections.
export PGPORT=$QUARRY_DEMO_PORT PGSSLMODE=prefer
unset PGPASSWORD QUARRY_PASSWORD

fail() { echo "dbt example: $*" >&2; exit 1; }
q() { psql -X -v ON_ERROR_STOP=1 -qAt -c "$1" | tr '\n' ' ' | sed 's/ $//'; }
dbt() { (cd "$project" && "$DBT" --no-use-colors "$@"); }
statuses() {
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["unique_id"].split(".")[2], r["status"])' "$out/target/run_results.json"
}

dbt deps
dbt build
[ "$(q "select version, status from ml_model_versions where model = 'churn_model'")" = "1|production" ] ||
  fail "first build: $(q "select version, status from ml_model_versions where model = 'churn_model'")"
holdout=$(q "select count(*) from churn.churn_features where split = 'test'")
[ "$(q "select count(*) from churn.churn_scores")" = "$holdout" ] || fail "scores are not the held-out rows"
[ "$(q "select count(*) from churn.churn_reasons where explanation like '[{\"feature\"%'")" = 100 ] ||
  fail "churn_reasons"
auc=$(q "select value from churn.churn_evaluation where metric = 'roc_auc'")
python3 -c "import sys; assert 0.7 < float(sys.argv[1]) < 1, sys.argv[1]" "$auc"

# Again: a second version, deployed in place of the first, scored with.
dbt build
[ "$(q "select version, aliases from ml_model_versions where model = 'churn_model' order by version")" = \
  "1| 2|production" ] || fail "second build: $(q "select version, aliases from ml_model_versions where model = 'churn_model'")"
grep -q "ml_predict('churn_model@2'" "$out/target/run/quarry_churn/models/churn/churn_scores.sql" ||
  fail "churn_scores did not score with the version this build trained"

# Last month's customers have drifted: the gate fails the build.
if dbt build --vars '{scoring_batch: recent}' > "$out/recent.log" 2>&1; then
  cat "$out/recent.log" >&2; fail "the build on drifted customers passed"
fi
# Read whole before grep -q: it stops at the first match, and under
# pipefail the writer's broken pipe would fail the check.
st=$(statuses)
grep -q "^quarry_quarry_no_drift_churn_model.* fail$" <<<"$st" || { echo "$st" >&2; fail "the drift gate did not fail"; }
grep -q "^churn_scores skipped$" <<<"$st" || { echo "$st" >&2; fail "churn_scores was not skipped"; }
[ "$(q "select count(*) from churn.churn_scores")" = "$holdout" ] || fail "churn_scores changed"
[ "$(q "select version, coalesce(aliases, '') from ml_model_versions where model = 'churn_model' order by version")" = \
  "1| 2|production 3|" ] || fail "a gated version was deployed: $(q "select version, aliases from ml_model_versions where model = 'churn_model'")"
echo "dbt example: all steps passed"
