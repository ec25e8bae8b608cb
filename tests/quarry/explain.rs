//! ml_explain over the wire: on every row, the base value plus the
//! contributions in the JSON equals the model's raw output as the scoring
//! functions report it.

use serde_json::Value;
use tokio_postgres::Client;

use quarry::Config;
use quarry_test_macros::quarry_test;

use crate::harness::TestServer;

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// (base + Σ contributions, the value ml_predict/ml_predict_proba implies, features listed).
async fn explained(
    client: &Client,
    model: &str,
    relation: &str,
    output: &str,
) -> Vec<(f64, f64, usize)> {
    let sql = format!(
        "SELECT base_value, explanation, {output} FROM ml_explain('{model}', ({relation}))"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert!(!rows.is_empty(), "{sql}");
    rows.iter()
        .map(|r| {
            let base: f64 = r.get(0);
            let items: Value = serde_json::from_str(r.get::<_, &str>(1)).expect("json");
            let items = items.as_array().expect("array");
            let total: f64 = items
                .iter()
                .map(|i| i["contribution"].as_f64().expect("contribution"))
                .sum();
            // Largest first.
            let sizes: Vec<f64> = items
                .iter()
                .map(|i| i["contribution"].as_f64().unwrap_or(0.0).abs())
                .collect();
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{items:?}");
            (base + total, r.get::<_, f64>(2), items.len())
        })
        .collect()
}

#[quarry_test]
async fn explanations_add_up_to_the_raw_prediction_on_every_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path());
    config.demo = true;
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    let exclude = "exclude = 'customer_id,signup_ts'";
    for (name, options) in [
        ("gb", "algorithm = 'gbdt', rounds = 30"),
        ("lr", "algorithm = 'logistic'"),
        (
            "rf",
            "algorithm = 'random_forest', trees = 20, max_depth = 8",
        ),
    ] {
        client
            .simple_query(&format!(
                "CREATE MODEL {name} OPTIONS ({options}, label = 'churned', {exclude}) AS SELECT * FROM customers LIMIT 6000"
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let recent = "SELECT * FROM customers_recent ORDER BY customer_id LIMIT 400";
    let features = 13;
    for (model, link) in [("gb", true), ("lr", true), ("rf", false)] {
        let proba = format!(
            "ml_predict_proba('{model}', age, gender, region, city, plan, device, payment_method, monthly_fee, tenure_months, support_calls, usage_minutes, last_login_days, has_discount)"
        );
        for (sum, p, listed) in explained(&client, model, recent, &proba).await {
            // Classifiers with a link explain log-odds; forests the frequency.
            let raw = if link { logit(p) } else { p };
            assert!(
                (sum - raw).abs() <= 1e-9 * raw.abs().max(1.0),
                "{model}: base + contributions {sum} vs raw {raw}"
            );
            assert_eq!(listed, features);
        }
    }

    // A regressor explains its prediction; top_k keeps the largest.
    client
        .simple_query(
            "CREATE MODEL price OPTIONS (algorithm = 'gbdt', label = 'price', rounds = 25) AS SELECT * FROM house_prices LIMIT 4000",
        )
        .await
        .expect("regressor trains");
    let rows = client
        .query(
            "SELECT base_value, explanation, prediction FROM ml_explain('price', (SELECT * FROM house_prices LIMIT 300))",
            &[],
        )
        .await
        .expect("explain");
    for r in &rows {
        let items: Value = serde_json::from_str(r.get::<_, &str>(1)).expect("json");
        let total: f64 = items
            .as_array()
            .expect("array")
            .iter()
            .map(|i| i["contribution"].as_f64().expect("number"))
            .sum();
        let (base, prediction): (f64, f64) = (r.get(0), r.get(2));
        assert!(
            (base + total - prediction).abs() <= 1e-9 * prediction.abs().max(1.0),
            "{base} + {total} vs {prediction}"
        );
    }
    let top: Vec<String> = client
        .query(
            "SELECT explanation FROM ml_explain('price', (SELECT * FROM house_prices LIMIT 5), top_k => 3)",
            &[],
        )
        .await
        .expect("top_k")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for text in top {
        let items: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(items.as_array().map(Vec::len), Some(3), "{text}");
    }
}

/// The physical plan of `sql`, one operator per line.
async fn physical_plan(client: &Client, sql: &str) -> Vec<String> {
    let rows = client
        .simple_query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("physical_plan") => {
                r.get(1).map(|p| p.lines().map(str::to_string).collect())
            }
            _ => None,
        })
        .next()
        .unwrap_or_else(|| panic!("no physical plan for {sql}"))
}

/// The relation's filter, sort and limit run before the explanation or the
/// scoring above them: the plan keeps the scoring projection above a
/// `ScoringFence` over them, and no scan computes it. (DataFusion moved the
/// narrowing projection below the sort and into the scan: one row asked for
/// explained the whole table first.)
#[quarry_test]
async fn explanations_and_scores_come_after_the_relation_is_reduced() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    client
        .simple_query(
            "CREATE MODEL lr OPTIONS (algorithm = 'logistic', label = 'churned', \
             exclude = 'customer_id,signup_ts') AS SELECT * FROM customers LIMIT 2000",
        )
        .await
        .expect("model");
    let features = "age, gender, region, city, plan, device, payment_method, monthly_fee, \
                    tenure_months, support_calls, usage_minutes, last_login_days, has_discount";
    for (sql, rows) in [
        (
            "SELECT customer_id, base_value FROM ml_explain('lr', \
             (SELECT * FROM customers ORDER BY customer_id LIMIT 1))"
                .to_string(),
            1,
        ),
        (
            "SELECT customer_id, age, region, base_value FROM ml_explain('lr', \
             (SELECT * FROM customers WHERE customer_id = 17))"
                .to_string(),
            1,
        ),
        (
            format!(
                "SELECT customer_id, ml_predict('lr', {features}) FROM \
                 (SELECT * FROM customers ORDER BY customer_id LIMIT 3) AS c"
            ),
            3,
        ),
        (
            format!(
                "SELECT customer_id, ml_predict_proba('lr', {features}) FROM customers \
                 WHERE customer_id < 5"
            ),
            4,
        ),
    ] {
        let plan = physical_plan(&client, &sql).await;
        let at = |what: &str| plan.iter().position(|l| l.contains(what));
        let fence = at("ScoringFence").unwrap_or_else(|| panic!("no fence: {plan:#?}"));
        let reduced = at("SortExec")
            .or(at("FilterExec"))
            .unwrap_or_else(|| panic!("no sort or filter: {plan:#?}"));
        assert!(fence < reduced, "scoring below the relation: {plan:#?}");
        let scan = at("DataSourceExec").expect("a scan");
        assert!(
            !plan[scan].contains("__quarry_explain") && !plan[scan].contains("ml_predict"),
            "the scan computes the scores: {}",
            plan[scan]
        );
        let got = client
            .simple_query(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            .count();
        assert_eq!(got, rows, "{sql}");
    }
}
