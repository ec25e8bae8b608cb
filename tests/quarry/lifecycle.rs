//! Lifecycle automation: traffic splits between production and a
//! challenger, by key, over SQL and REST, stable across a restart; the
//! shadow's rows logged and never returned. Policies run as jobs: by the
//! scheduler on its own, one per model at a time, as the model's owner,
//! and a job a crash interrupts is failed at restart with no version half
//! made. (What each rule decides: `sql/slt/ml/policies.slt`.)

use quarry_test_macros::quarry_test;
use serde_json::Value;

use std::time::{Duration, Instant};

use crate::harness::{Process, TestServer, connect, http_request, scalar, sqlstate};

const KEYS: i64 = 100_000;

const SETUP: [&str; 6] = [
    "CREATE TABLE users AS SELECT CAST(value AS BIGINT) AS id, CAST(value % 11 AS DOUBLE) AS x,
        CAST(value % 3 AS DOUBLE) AS y FROM generate_series(1, 100000) AS g(value)",
    "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 1.0') AS SELECT x, y FROM users",
    "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 2.0') AS SELECT x, y FROM users",
    "SELECT ml_deploy('m', 1)",
    "SELECT ml_set_policy('m', '{\"key\": \"id\"}')",
    "SELECT ml_deploy('m', 2, 'challenger', 0.3)",
];

/// The challenger's share of the keys and a digest of which keys it has,
/// through the scalar and the table form (which must agree).
async fn split(client: &tokio_postgres::Client) -> (f64, String) {
    let scalar_form = scalar(
        client,
        "SELECT count(*) FILTER (WHERE p = 2) || ' ' || md5(string_agg(CAST(id AS TEXT), ',' ORDER BY id) FILTER (WHERE p = 2))
         FROM (SELECT id, ml_predict('m', x) AS p FROM users) s",
    )
    .await;
    let table_form = scalar(
        client,
        "SELECT count(*) FILTER (WHERE arm = 'challenger' AND prediction = 2) || ' ' || md5(string_agg(CAST(id AS TEXT), ',' ORDER BY id) FILTER (WHERE arm = 'challenger'))
         FROM ml_predict('m', users)",
    )
    .await;
    assert_eq!(scalar_form, table_form);
    let (count, digest) = scalar_form.split_once(' ').expect("count and digest");
    (
        count.parse::<f64>().expect("count") / KEYS as f64,
        digest.to_string(),
    )
}

/// Each row's arm as REST answers for users 1..=n, checked against the
/// version that answered.
async fn rest_arms(server: &TestServer, n: i64) -> Vec<String> {
    let rows: Vec<Value> = (1..=n)
        .map(|id| serde_json::json!({"id": id, "x": (id % 11) as f64}))
        .collect();
    let body = serde_json::json!({ "rows": rows }).to_string();
    let (status, answer) =
        http_request(server.http, "POST", "/v1/models/m/predict", &[], &body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let arms: Vec<String> = answer["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|a| a.as_str().expect("text").to_string())
        .collect();
    for (i, arm) in arms.iter().enumerate() {
        let (version, prediction) = if arm == "challenger" {
            (2, 2.0)
        } else {
            (1, 1.0)
        };
        assert_eq!(answer["versions"][i], version, "{answer}");
        assert_eq!(answer["predictions"][i], prediction, "{answer}");
    }
    arms
}

#[quarry_test]
async fn traffic_splits_by_key_alike_everywhere_and_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    for sql in SETUP {
        client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let (share, keys) = split(&client).await;
    assert!((share - 0.3).abs() <= 0.01, "challenger share {share}");
    // REST routes each key as SQL does.
    let sql_arms: Vec<String> = crate::harness::texts(
        &client,
        "SELECT ml_predict_arm('m', id) FROM users WHERE id <= 300 ORDER BY id",
    )
    .await
    .into_iter()
    .map(Option::unwrap_or_default)
    .collect();
    let arms = rest_arms(&server, 300).await;
    assert_eq!(arms, sql_arms);
    assert!(arms.iter().any(|a| a == "challenger") && arms.iter().any(|a| a == "production"));
    drop(client);
    server.stop().await;

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    assert_eq!(
        split(&client).await,
        (share, keys),
        "the split moved across a restart"
    );
    assert_eq!(rest_arms(&server, 300).await, arms);
    server.stop().await;
}

#[quarry_test]
async fn the_shadow_is_logged_and_never_answers() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    for sql in SETUP.iter().chain(&[
        "CREATE MODEL m OPTIONS (algorithm = 'sql_rule', task = 'regression', label = 'y', expression = 'x * 0 + 3.0') AS SELECT x, y FROM users",
        "SELECT ml_deploy('m', 3, 'shadow')",
        "SELECT ml_set_policy('m', '{\"log_sample_rate\": 1}')",
    ]) {
        client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) || ' ' || max(prediction) FROM ml_predict('m', (SELECT * FROM users WHERE id <= 2000))"
        )
        .await,
        "2000 2.0"
    );
    let body = r#"{"rows": [{"id": 1, "x": 1.0}, {"id": 2, "x": 2.0}, {"id": 3, "x": 3.0}]}"#;
    let (status, answer) =
        http_request(server.http, "POST", "/v1/models/m/predict", &[], body).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 3);
    assert!(
        predictions.iter().all(|p| p == 1.0 || p == 2.0),
        "the shadow answered: {answer}"
    );
    // The log: every row by its arm, and again by the shadow, keyed.
    assert_eq!(
        scalar(
            &client,
            "SELECT string_agg(alias || ':' || version || ':' || n, ' ' ORDER BY alias) FROM
               (SELECT alias, version, count(*) AS n FROM ml_prediction_log WHERE model = 'm' AND key IS NOT NULL AND version = 3 GROUP BY alias, version) s",
        )
        .await,
        "shadow:3:2003"
    );
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM ml_prediction_log WHERE model = 'm' AND version <> 3",
        )
        .await,
        "2003"
    );
    server.stop().await;
}

/// Rows whose (a, b) predict their label.
const POINTS: &str = "CREATE TABLE pts AS SELECT value AS id, (value * 7919 % 1000) / 1000.0 AS a, \
     (value * 104729 % 997) / 997.0 AS b, (value * 7919 % 1000) / 1000.0 + (value * 104729 % 997) / 997.0 > 1.0 AS y \
     FROM generate_series(1, 40000) AS g(value)";

/// Polls `sql` (one text value) until `done` holds for it, for at most `limit`.
async fn wait_for(
    client: &tokio_postgres::Client,
    sql: &str,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let started = Instant::now();
    loop {
        let value = scalar(client, sql).await;
        if done(&value) {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "{sql}: still {value:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[quarry_test]
async fn the_scheduler_runs_policies_on_its_own() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.scheduler_interval = Some(Duration::from_millis(500));
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    for sql in [
        "CREATE TABLE obs AS SELECT CAST(value % 10 AS DOUBLE) AS x, value % 10 > 4 AS y FROM generate_series(1, 200) AS g(value)",
        "CREATE MODEL s OPTIONS (algorithm = 'logistic', label = 'y') AS SELECT x, y FROM obs",
        "CREATE MODEL quiet OPTIONS (algorithm = 'logistic', label = 'y') AS SELECT x, y FROM obs",
        "SELECT ml_set_policy('s', '{\"retrain_every\": \"1 microsecond\"}')",
        // A policy without lifecycle rules is not the scheduler's.
        "SELECT ml_set_policy('quiet', '{\"log_sample_rate\": 1}')",
    ] {
        client.batch_execute(sql).await.expect(sql);
    }
    let job = wait_for(
        &client,
        "SELECT coalesce(min(run_by || ' ' || status || ' ' || trigger || ' ' || decision || ' ' || candidate_version), '') \
         FROM ml_jobs WHERE model = 's' AND run_by = 'scheduler' AND candidate_version IS NOT NULL",
        Duration::from_secs(60),
        |v| !v.is_empty(),
    )
    .await;
    assert_eq!(job, "scheduler succeeded retrain_every trained 2");
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM ml_jobs WHERE model = 'quiet' AND run_by = 'scheduler'"
        )
        .await,
        "0"
    );
    // Version 2 is the owner's, trained by the same query.
    assert_eq!(
        scalar(
            &client,
            "SELECT created_by || ' ' || training_query FROM ml_model_versions WHERE model = 's' AND version = 2"
        )
        .await,
        "quarry SELECT x, y FROM obs"
    );
    server.stop().await;
}

#[quarry_test]
async fn a_job_runs_as_the_owner_one_per_model() {
    let server = TestServer::start().await;
    let admin = server.connect().await;
    for sql in [
        "CREATE USER alice",
        "CREATE USER bob",
        "GRANT CREATE ON SCHEMA public TO alice",
        "CREATE TABLE obs AS SELECT CAST(value % 10 AS DOUBLE) AS x, value % 10 > 4 AS y FROM generate_series(1, 200) AS g(value)",
        "GRANT SELECT ON obs TO alice",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    let alice = connect(&server.url("alice")).await;
    for sql in [
        "CREATE MODEL owned OPTIONS (algorithm = 'logistic', label = 'y') AS SELECT x, y FROM obs",
        "SELECT ml_set_policy('owned', '{\"retrain_every\": \"1 microsecond\"}')",
        "GRANT DEPLOY ON MODEL owned TO bob",
    ] {
        alice.batch_execute(sql).await.expect(sql);
    }
    // Running a policy may train and deploy: it needs both.
    let bob = connect(&server.url("bob")).await;
    let err = bob
        .simple_query("SELECT * FROM ml_run_policy('owned')")
        .await
        .expect_err("no TRAIN");
    assert_eq!(sqlstate(&err), "42501", "{err:?}");
    alice
        .batch_execute("GRANT TRAIN ON MODEL owned TO bob")
        .await
        .expect("grant");
    // Bob runs it; it trains as alice, who can read obs (bob cannot).
    assert_eq!(
        scalar(
            &bob,
            "SELECT run_by || ' ' || status || ' ' || candidate_version FROM ml_run_policy('owned')"
        )
        .await,
        "bob succeeded 2"
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT created_by FROM ml_model_versions WHERE model = 'owned' AND version = 2"
        )
        .await,
        "alice"
    );
    // With alice's SELECT revoked, the job fails with her denial: it never
    // reads with more than the owner may.
    admin
        .batch_execute("REVOKE SELECT ON obs FROM alice")
        .await
        .expect("revoke");
    assert_eq!(
        scalar(
            &bob,
            "SELECT status || ' ' || substr(error, 1, 5) FROM ml_run_policy('owned')"
        )
        .await,
        "failed 42501"
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT count(*) FROM ml_model_versions WHERE model = 'owned'"
        )
        .await,
        "2"
    );
    // The job's statements are audited as alice.
    let audited = wait_for(
        &admin,
        "SELECT count(*) FROM ml_audit_log WHERE user_name = 'alice' AND statement LIKE 'SELECT x, y FROM obs%'",
        Duration::from_secs(30),
        |n| n != "0",
    )
    .await;
    assert!(audited.parse::<i64>().expect("count") >= 2, "{audited}");
}

#[quarry_test]
async fn a_job_killed_mid_training_is_failed_at_restart_with_no_version() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Process::spawn(dir.path());
    let admin = connect(&server.url()).await;
    // Version 1 learns fast from 20 rows; its retraining, with its options
    // on the 40 000 rows the table holds by then, takes minutes.
    for sql in [
        POINTS,
        "CREATE TABLE grow AS SELECT * FROM pts WHERE id <= 20",
        "CREATE MODEL slow OPTIONS (algorithm = 'random_forest', label = 'y', exclude = 'id', trees = 1000, max_depth = 16) AS SELECT * FROM grow",
        "SELECT ml_deploy('slow', 1)",
        "SELECT ml_set_policy('slow', '{\"retrain_every\": \"1 microsecond\"}')",
        "INSERT INTO grow SELECT * FROM pts WHERE id > 20",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    let runner = connect(&server.url()).await;
    let job = tokio::spawn(async move {
        runner
            .simple_query("SELECT * FROM ml_run_policy('slow')")
            .await
            .map(|_| ())
    });
    wait_for(
        &admin,
        "SELECT count(*) FROM ml_jobs WHERE status = 'running'",
        Duration::from_secs(30),
        |n| n == "1",
    )
    .await;
    // One job per model: a second one is refused while it runs.
    let err = admin
        .simple_query("SELECT * FROM ml_run_policy('slow')")
        .await
        .expect_err("busy");
    assert_eq!(sqlstate(&err), "55006", "{err:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        scalar(
            &admin,
            "SELECT status FROM ml_jobs ORDER BY id DESC LIMIT 1"
        )
        .await,
        "running",
        "the training finished before the kill: make it slower"
    );
    server.kill();
    assert!(
        job.await.expect("task").is_err(),
        "the client saw its server die"
    );

    let server = Process::spawn(dir.path());
    let admin = connect(&server.url()).await;
    assert_eq!(
        scalar(
            &admin,
            "SELECT status || ' ' || coalesce(CAST(candidate_version AS TEXT), '-') || ' ' || error FROM ml_jobs \
             WHERE trigger IS DISTINCT FROM 'create model'"
        )
        .await,
        "failed - interrupted: the server stopped while the job ran"
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT count(*) FROM ml_model_versions WHERE model = 'slow'"
        )
        .await,
        "1"
    );
    let files = std::fs::read_dir(dir.path().join("models"))
        .expect("models dir")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .count();
    assert_eq!(files, 1, "one artifact per version, none half written");
    // The model is free again.
    assert_eq!(
        scalar(
            &admin,
            "SELECT ml_set_policy('slow', '{\"retrain_every\": \"100 years\"}') IS NOT NULL"
        )
        .await,
        "t"
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT status || ' ' || decision FROM ml_run_policy('slow')"
        )
        .await,
        "succeeded none"
    );
    server.kill();
}

/// A webhook listener on `port`: each request's path and JSON body, once
/// it is answered 200.
async fn listen(port: u16) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the webhook port");
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let (head, length) = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buffer[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())
                                    .flatten()
                            })
                            .unwrap_or(0);
                        data.drain(..end + 4);
                        break (head, length);
                    }
                };
                while data.len() < length {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buffer[..n]);
                }
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let body: Value = serde_json::from_slice(&data[..length]).expect("JSON body");
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = sender.send((path, body));
            });
        }
    });
    receiver
}

#[quarry_test]
async fn alerts_reach_a_webhook_that_comes_up_late_and_escalate() {
    // A port with nothing listening on it, yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // The operator lets alerts go to that port only.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.alert_webhook_hosts =
        quarry::lifecycle::notify::Hosts::parse(&format!("127.0.0.1:{port}")).expect("hosts");
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    let policy = serde_json::json!({
        "key": "id",
        "log_sample_rate": 1,
        "alert_to": ["table", format!("webhook:http://127.0.0.1:{port}/first")],
        "escalate_after": "1 microsecond",
        "escalate_to": ["log", format!("webhook:http://127.0.0.1:{port}/second")],
        "alert_spc": false,
    });
    for sql in [
        "CREATE TABLE obs AS SELECT CAST(value AS BIGINT) AS id, CAST(value % 97 AS DOUBLE) / 97 AS x, \
         CAST(value % 97 AS DOUBLE) / 97 + CAST((value * 31) % 13 AS DOUBLE) / 13 > 1.0 AS y \
         FROM generate_series(1, 3000) AS g(value)",
        "CREATE MODEL hooked OPTIONS (algorithm = 'logistic', label = 'y') AS SELECT x, y FROM obs",
        "SELECT ml_deploy('hooked', 1)",
        &format!("SELECT ml_set_policy('hooked', '{policy}')"),
        "SELECT count(prediction) FROM ml_predict('hooked', (SELECT id, x * 4 + 2 AS x FROM obs))",
    ] {
        client.batch_execute(sql).await.expect(sql);
    }
    assert_eq!(
        scalar(&client, "SELECT reason FROM ml_run_policy('hooked')").await,
        "alerts: 2 opened (prediction drift, feature drift), 0 still open, 0 resolved, 0 escalated"
    );
    // Delivery fails while nothing listens; the server goes on.
    let started = Instant::now();
    assert_eq!(scalar(&client, "SELECT 1").await, "1");
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut received = listen(port).await;
    let mut first = Vec::new();
    while first.len() < 2 {
        let (path, body) = tokio::time::timeout(Duration::from_secs(60), received.recv())
            .await
            .expect("the retried alerts arrive")
            .expect("listener");
        assert_eq!(path, "/first", "{body}");
        assert_eq!(body["model"], "hooked");
        assert_eq!(body["escalated"], false);
        assert_eq!(body["status"], "open");
        first.push(body["kind"].as_str().expect("kind").to_string());
    }
    first.sort();
    assert_eq!(first, ["feature drift", "prediction drift"]);
    let counter = |metrics: &str, name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    // The listener hands a request over as it answers; the server counts
    // it once it has read the answer.
    let started = Instant::now();
    let metrics = loop {
        let metrics = crate::harness::http_get(server.http, "/metrics").await;
        if counter(&metrics, "quarry_alert_webhooks_delivered_total") == 2 {
            break metrics;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let counter = |name: &str| counter(&metrics, name);
    assert!(counter("quarry_alert_webhooks_retries_total") >= 2);
    assert_eq!(counter("quarry_alert_webhooks_dropped_total"), 0);

    // Acknowledged alerts are not escalated; the other one is, once.
    assert_eq!(
        scalar(&client, "SELECT ml_ack_alert(1, 'looking')").await,
        "alert 1 (prediction drift of hooked) is acknowledged"
    );
    assert_eq!(
        scalar(&client, "SELECT reason FROM ml_run_policy('hooked')").await,
        "alerts: 0 opened, 2 still open, 0 resolved, 1 escalated"
    );
    let (path, body) = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("the escalation arrives")
        .expect("listener");
    assert_eq!(path, "/second");
    assert_eq!(body["kind"], "feature drift");
    assert_eq!(body["escalated"], true);
    assert_eq!(
        scalar(&client, "SELECT reason FROM ml_run_policy('hooked')").await,
        "alerts: 0 opened, 2 still open, 0 resolved, 0 escalated"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(700), received.recv())
            .await
            .is_err(),
        "nothing more is sent"
    );
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM ml_alerts WHERE escalated_at IS NOT NULL AND kind = 'feature drift'"
        )
        .await,
        "1"
    );
}

#[quarry_test]
async fn lifecycle_walkthrough_runs() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    let sql =
        std::fs::read_to_string(crate::harness::repo_root().join("sql/examples/lifecycle.sql"))
            .expect("walkthrough exists");
    for statement in crate::ml::statements(&sql) {
        client
            .simple_query(&statement)
            .await
            .unwrap_or_else(|e| panic!("walkthrough statement failed:\n{statement}\n{e}"));
    }
    // What it claims, step by step.
    for (sql, expected) in [
        // 2. a fifth of the customers met the challenger.
        (
            "SELECT round(avg(CASE WHEN alias = 'challenger' THEN 1.0 ELSE 0.0 END), 2) FROM ml_prediction_log \
             WHERE model = 'churn_flow' AND version IN (1, 2) AND CAST(key AS BIGINT) < 1000000",
            "0.2",
        ),
        // 3. the GBDT wins the A/B test.
        (
            "SELECT verdict || ' ' || (p_value < 0.001) FROM ml_ab_report('churn_flow') WHERE arm = 'challenger'",
            "challenger better true",
        ),
        // 7. drift alerted; the drift rule retrained, and version 3 won.
        (
            "SELECT count(*) > 0 FROM ml_alerts WHERE model = 'churn_flow' AND kind = 'feature drift'",
            "t",
        ),
        (
            "SELECT string_agg(coalesce(trigger, '-') || ':' || decision || ':' || coalesce(CAST(candidate_version AS TEXT), '-'), ' ' ORDER BY id) \
             FROM ml_jobs WHERE model = 'churn_flow' AND coalesce(trigger, '-') NOT IN ('create model', 'ml_train')",
            "retrain_on_drift:deployed:3 rollback_on_metric:rolled back:-",
        ),
        (
            "SELECT reason LIKE '%roc_auc of version 3 % against production version 2''s 0.%: better, deployed to production' \
             FROM ml_jobs WHERE model = 'churn_flow' AND decision = 'deployed'",
            "t",
        ),
        // 9. the hand deploy of version 1 was rolled back to 3.
        (
            "SELECT string_agg(action || ':' || CAST(version AS TEXT), ' ' ORDER BY id) FROM ml_deployments \
             WHERE model = 'churn_flow' AND alias = 'production'",
            "deploy:1 deploy:2 deploy:3 deploy:1 rollback:3",
        ),
        (
            "SELECT string_agg(CAST(version AS TEXT) || ':' || status, ' ' ORDER BY version) FROM ml_model_versions WHERE model = 'churn_flow'",
            "1:staged 2:staged 3:production",
        ),
        (
            "SELECT by_user FROM ml_deployments WHERE model = 'churn_flow' AND action = 'rollback'",
            "quarry",
        ),
        // 10. each version's life.
        (
            "SELECT string_agg(CAST(version AS TEXT) || ':' || trigger || ':' || (deployed_at IS NOT NULL), ' ' ORDER BY version) \
             FROM ml_lifecycle('churn_flow')",
            "1:create model:true 2:create model:true 3:retrain_on_drift:true",
        ),
        (
            "SELECT metric || ' ' || (metric_now > 0.9) FROM ml_lifecycle('churn_flow') WHERE version = 3",
            "roc_auc true",
        ),
    ] {
        assert_eq!(scalar(&client, sql).await, expected, "{sql}");
    }
}
