"""GET /metrics after a mixed workload: valid under `promtool check
metrics`, and its counters add up to what this script ran (statements by
outcome and SQLSTATE class, statement durations, predictions per model).
Runs against the TLS server with a password, so the scrape authenticates
with HTTP Basic as the same user."""

import base64
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psycopg

DSN = os.environ["QUARRY_DSN"]
HTTP = f"http://127.0.0.1:{os.environ['QUARRY_HTTP_PORT']}"
PASSWORD = os.environ["QUARRY_PASSWORD"]


def scrape(auth: bool = True) -> str:
    request = urllib.request.Request(f"{HTTP}/metrics")
    if auth:
        token = base64.b64encode(f"quarry:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers
        return response.read().decode()


def samples(text: str) -> dict[str, float]:
    """Every sample line, by its name with labels."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def total(s: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in s.items() if k.startswith(prefix))


def main() -> int:
    failures = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    try:
        scrape(auth=False)
        check(False, "/metrics answered without credentials")
    except urllib.error.HTTPError as e:
        check(e.code == 401, f"/metrics without credentials: {e.code}, expected 401")

    with psycopg.connect(DSN, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS metrics_rows")
        cur.execute(
            "CREATE TABLE metrics_rows AS SELECT value AS id, CAST(value % 7 AS DOUBLE) AS x,"
            " CASE WHEN value % 7 > 3 THEN 'y' ELSE 'n' END AS label FROM generate_series(1, 500)"
        )
        cur.execute("DROP MODEL IF EXISTS metrics_model")
        cur.execute(
            "CREATE MODEL metrics_model OPTIONS (algorithm = 'logistic', label = 'label', features = 'x')"
            " AS SELECT * FROM metrics_rows"
        )
        before = samples(scrape())
        ok, errors = 0, {"42": 0, "22": 0}
        for _ in range(5):
            cur.execute("SELECT count(ml_predict('metrics_model', x)) FROM metrics_rows")
            ok += 1
        for sql, klass in [
            ("SELECT * FROM no_such_table", "42"),
            ("SELEC 1", "42"),
            ("SELECT 1 / 0", "22"),
            ("SELECT ml_set_policy('metrics_model', '{\"bad\": 1}')", "22"),
        ]:
            try:
                cur.execute(sql)
                check(False, f"{sql} did not fail")
            except psycopg.Error:
                errors[klass] += 1
        # A statement is counted when its last handle goes, which may be
        # just after its answer reached us: wait for the last one.
        run = ok + sum(errors.values())
        for _ in range(40):
            after_text = scrape()
            after = samples(after_text)
            done = after["quarry_query_duration_seconds_count"] - before["quarry_query_duration_seconds_count"]
            if done >= run:
                break
            time.sleep(0.05)

    check(
        after["quarry_query_duration_seconds_count"] - before["quarry_query_duration_seconds_count"] == run,
        f"statement durations: {after['quarry_query_duration_seconds_count'] - before['quarry_query_duration_seconds_count']}, ran {run}",
    )
    ok_key = 'quarry_queries_total{status="ok",sqlstate_class="00"}'
    check(after[ok_key] - before[ok_key] == ok, f"ok statements: {after[ok_key] - before[ok_key]}, ran {ok}")
    for klass, n in errors.items():
        key = f'quarry_queries_total{{status="error",sqlstate_class="{klass}"}}'
        got = after.get(key, 0) - before.get(key, 0)
        check(got == n, f"class {klass} errors: {got}, caused {n}")
    key = 'quarry_predictions_total{model="metrics_model",version="1"}'
    check(after.get(key, 0) - before.get(key, 0) == 2500, f"{key}: {after.get(key)} - {before.get(key)}")
    # Histograms: cumulative buckets ending at +Inf, which equals _count.
    for name in ["quarry_query_duration_seconds", "quarry_prediction_duration_seconds"]:
        for labels in {re.sub(r',?le="[^"]*"', "", k[len(name) + len("_bucket"):]) for k in after if k.startswith(name + "_bucket")}:
            buckets = [
                v for k, v in after.items()
                if k.startswith(name + "_bucket") and re.sub(r',?le="[^"]*"', "", k[len(name) + len("_bucket"):]) == labels
            ]
            check(buckets == sorted(buckets), f"{name}{labels}: buckets not cumulative")
            count_key = f"{name}_count{labels if labels != '{}' else ''}"
            check(max(buckets) == after.get(count_key), f"{name}{labels}: +Inf {max(buckets)} != count {after.get(count_key)}")
    check(total(after, "quarry_sessions") >= 1, "quarry_sessions shows no session")

    promtool = subprocess.run(["promtool", "check", "metrics"], input=after_text, capture_output=True, text=True)
    check(promtool.returncode == 0, f"promtool check metrics: {promtool.stdout}{promtool.stderr}")

    for failure in failures:
        print(f"metrics: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("metrics: ok (promtool check metrics passes; counters match the workload)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
