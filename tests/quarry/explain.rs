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
