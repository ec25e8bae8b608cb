"""The dashboard (GET /) in headless Chromium, as the on-call person opens
it: a deployed model with logged predictions, a week of history and
feedback. Loads the page with the server user's HTTP Basic credentials,
checks the rendered DOM (every panel drawn, the drifted feature flagged,
the numbers the SQL functions give), and saves a screenshot into
target/clients/. Without credentials the page is a 401."""

import html.parser
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psycopg

DSN = os.environ["QUARRY_DSN"]
HTTP_PORT = os.environ["QUARRY_HTTP_PORT"]
PASSWORD = os.environ["QUARRY_PASSWORD"]
OUT = os.path.join("target", "clients")

SETUP = [
    "DROP TABLE IF EXISTS dash_customers",
    """CREATE TABLE dash_customers AS
       SELECT value AS id, CAST(value % 50 AS DOUBLE) AS age,
              CASE WHEN value % 3 = 0 THEN 'north' ELSE 'south' END AS region,
              CAST((value * 7) % 13 AS DOUBLE) AS calls,
              ((value * 7) % 13 > 6 OR value % 11 = 0) AS churned
       FROM generate_series(1, 3000)""",
    """CREATE OR REPLACE MODEL dash_churn OPTIONS (algorithm = 'logistic', label = 'churned',
         features = 'age,region,calls', log_sample_rate = 1, key = 'id')
       AS SELECT * FROM dash_customers WHERE id <= 2000""",
    "SELECT ml_deploy('dash_churn', 1)",
    # A rerun on the same server starts from an empty log.
    "DELETE FROM ml_prediction_log WHERE model = 'dash_churn'",
    "DELETE FROM ml_feedback WHERE model = 'dash_churn'",
    # New customers, twenty years older than the training ones: age drifts.
    """SELECT count(prediction) FROM ml_predict('dash_churn',
         (SELECT id, age + 20 AS age, region, calls FROM dash_customers WHERE id > 2000))""",
]


class Dom(html.parser.HTMLParser):
    """Elements with their attributes and the text inside them."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.stack)}
        self.elements.append(element)
        if tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self.stack):
            while self.stack and self.stack.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for element in self.stack:
            element["text"] += data

    def find(self, tag=None, **attrs):
        return [
            e for e in self.elements
            if (tag is None or e["tag"] == tag)
            and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def inside(self, chart, tag):
        return [e for e in self.elements if e["tag"] == tag and any(p is chart for p in e["parents"])]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("chromium is not installed (scripts/client-tests.sh installs Debian's)")


def browse(url, *extra):
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1440,1800", *extra, url],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout


def main() -> int:
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    with psycopg.connect(DSN, autocommit=True) as conn:
        for statement in SETUP:
            conn.execute(statement)
        # Wait for the log writer, then add a week of history: the same
        # rows logged on each of the six days before (their probabilities
        # scaled a little, as days differ), with feedback.
        for _ in range(100):
            n = conn.execute("SELECT count(*) FROM ml_prediction_log WHERE model = 'dash_churn'").fetchone()[0]
            if n >= 1000:
                break
            time.sleep(0.1)
        check(n == 1000, f"{n} logged predictions, expected 1000")
        for day in range(1, 7):
            conn.execute(
                f"""INSERT INTO ml_prediction_log
                    SELECT model, version, alias, key, inputs, output,
                           least(1.0, probability * {1 + (day % 4) / 50}), latency_us,
                           "user", at - INTERVAL '{day} days', request_id, function
                    FROM ml_prediction_log WHERE model = 'dash_churn' AND at > now() - INTERVAL '1 hour'""")
        conn.execute(
            """INSERT INTO ml_feedback (model, key, actual)
               SELECT 'dash_churn', CAST(id AS TEXT), CAST(churned AS TEXT)
               FROM dash_customers WHERE id > 2000""")
        auc = conn.execute(
            "SELECT value FROM ml_monitor('dash_churn') WHERE metric = 'roc_auc' AND labelled > 0").fetchone()[0]
        days = conn.execute(
            "SELECT count(DISTINCT period) FROM ml_monitor('dash_churn', window => '30 days')").fetchone()[0]
        check(days == 7, f"ml_monitor sees {days} days, expected 7")
        last_hour = conn.execute(
            """SELECT sum(predictions) FROM ml_model_metrics
               WHERE model = 'dash_churn' AND minute >= now() - INTERVAL '60 minutes'""").fetchone()[0]

    base = f"http://127.0.0.1:{HTTP_PORT}/"
    try:
        urllib.request.urlopen(base, timeout=10)
        check(False, "the dashboard answered without credentials")
    except urllib.error.HTTPError as e:
        check(e.code == 401, f"dashboard without credentials: {e.code}, expected 401")

    url = f"http://quarry:{PASSWORD}@127.0.0.1:{HTTP_PORT}/?model=dash_churn"
    dom = Dom()
    dom.feed(browse(url, "--dump-dom"))
    check(dom.find("body", data_ready="true") != [], "the page's script did not render (no data-ready)")
    check(any("dash_churn" in e["text"] for e in dom.find(id="model-name")), "the model's title is missing")
    nav = dom.find("a", data_model="dash_churn")
    check(nav and "production" in nav[0]["text"], "the model list lacks dash_churn with its production alias")
    for name in ("volume", "latency", "errors", "metric", "drift", "control", "roc", "lift"):
        charts = dom.find("svg", data_chart=name)
        check(len(charts) == 1, f"chart {name} is not drawn: {dom.find(data_chart=name)}")
    drift = {e["attrs"]["data-feature"]: e["attrs"]["data-drifted"] for e in dom.find("rect") if "data-feature" in e["attrs"]}
    check(drift.get("age") == "true", f"age is not flagged as drifted: {drift}")
    check(drift.get("calls") == "false", f"calls is flagged: {drift}")
    control = dom.find("svg", data_chart="control")
    if control:
        dots = [c for c in dom.inside(control[0], "circle") if "data-out" in c["attrs"]]
        check(len(dots) == 7, f"the control chart has {len(dots)} days, expected 7")
    metric = dom.find("svg", data_chart="metric")
    if metric:
        titles = " ".join(e["text"] for e in dom.inside(metric[0], "title"))
        check(f"roc_auc {auc:.3f}" in titles, f"live AUC {auc:.3f} not in the metric chart: {titles[:300]}")
    tiles = " ".join(e["text"] for e in dom.find("div") if e["attrs"].get("class") == "tile")
    check(f"last hour{last_hour} " in tiles, f"the last hour's {last_hour} predictions are not in the tiles: {tiles}")
    roc = dom.find("svg", data_chart="roc")
    if roc:
        paths = [p for p in dom.inside(roc[0], "path") if "roc" in p["attrs"].get("class", "")]
        check(paths and paths[0]["attrs"].get("d", "").count("L") >= 10, "the ROC curve has too few points")

    os.makedirs(OUT, exist_ok=True)
    shot = os.path.abspath(os.path.join(OUT, "dashboard.png"))
    browse(url, f"--screenshot={shot}")
    check(os.path.exists(shot) and os.path.getsize(shot) > 20_000, f"no screenshot at {shot}")

    for f in failures:
        print(f"dashboard: {f}", file=sys.stderr)
    if not failures:
        print(f"dashboard: ok (screenshot {shot})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
