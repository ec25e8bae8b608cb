//! Tree models against LightGBM and scikit-learn on the demo data (fixtures
//! from scripts/fixtures/trees.py).

use quarry::Config;
use quarry_test_macros::quarry_test;

use crate::harness::{TestServer, options_sql, repo_root};

#[quarry_test]
async fn tree_models_match_lightgbm_and_scikit_learn_on_the_demo_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path());
    config.demo = true;
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/trees.json")).expect("fixture"),
    )
    .expect("json");

    // Classification: hold-out AUC no worse than LightGBM's minus 0.01.
    let c = &fixture["gbdt_classification"];
    let train = c["train_query"].as_str().expect("train");
    client
        .simple_query(&format!(
            "CREATE MODEL gb OPTIONS ({}) AS {train}",
            options_sql(&c["options"])
        ))
        .await
        .expect("gbdt classifier trains");
    let test = c["test_query"].as_str().expect("test");
    let rows = client
        .query(
            &format!("SELECT churned, probability FROM ml_predict('gb', ({test}))"),
            &[],
        )
        .await
        .expect("scores");
    let y: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
    let p: Vec<f64> = rows.iter().map(|r| r.get(1)).collect();
    let auc = quarry_udfs::kernels::metrics::roc_auc(&y, &p).expect("both classes");
    let reference = c["lightgbm_roc_auc"].as_f64().expect("auc");
    assert!(
        auc >= reference - 0.01,
        "gbdt AUC {auc} vs LightGBM {reference}"
    );

    // Importance: DESCRIBE lists every feature's share of the split gain,
    // largest first, and the shares add up to 100%.
    let described = client
        .simple_query("DESCRIBE MODEL gb")
        .await
        .expect("describe");
    let importance: Vec<(String, f64)> = described
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("importance") => {
                let text = r.get(2).expect("value");
                let share = text
                    .strip_prefix("gain ")
                    .and_then(|t| t.split('%').next())
                    .and_then(|t| t.parse::<f64>().ok())
                    .expect("gain share");
                Some((r.get(1).expect("feature").to_string(), share))
            }
            _ => None,
        })
        .collect();
    let features = described
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("feature")))
        .count();
    assert_eq!(importance.len(), features, "{importance:?}");
    assert!(
        importance.windows(2).all(|w| w[0].1 >= w[1].1),
        "{importance:?}"
    );
    let total: f64 = importance.iter().map(|i| i.1).sum();
    assert!((total - 100.0).abs() < 0.5, "{importance:?}");
    assert!(importance[0].1 > 0.0);

    // Random forest: hold-out AUC no worse than scikit-learn's minus 0.01.
    let f = &fixture["random_forest"];
    let train = f["train_query"].as_str().expect("train");
    client
        .simple_query(&format!(
            "CREATE MODEL rf OPTIONS ({}) AS {train}",
            options_sql(&f["options"])
        ))
        .await
        .expect("random forest trains");
    let test = f["test_query"].as_str().expect("test");
    let rows = client
        .query(
            &format!("SELECT churned, probability FROM ml_predict('rf', ({test}))"),
            &[],
        )
        .await
        .expect("scores");
    let y: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
    let p: Vec<f64> = rows.iter().map(|r| r.get(1)).collect();
    let auc = quarry_udfs::kernels::metrics::roc_auc(&y, &p).expect("both classes");
    let reference = f["sklearn_roc_auc"].as_f64().expect("auc");
    assert!(
        auc >= reference - 0.01,
        "random forest AUC {auc} vs scikit-learn {reference}"
    );
    // The out-of-bag AUC, measured while training, is an honest hold-out estimate.
    let metrics: serde_json::Value = serde_json::from_str(
        client
            .query_one(
                "SELECT CAST(metrics AS TEXT) FROM ml_model_versions WHERE model = 'rf'",
                &[],
            )
            .await
            .expect("metrics")
            .get::<_, &str>(0),
    )
    .expect("json");
    let oob = metrics["oob_roc_auc"].as_f64().expect("oob_roc_auc");
    assert!(
        (oob - auc).abs() < 0.02,
        "out-of-bag AUC {oob} vs hold-out {auc}"
    );

    // Regression: hold-out RMSE within 2% of LightGBM's.
    let r = &fixture["gbdt_regression"];
    let train = r["train_query"].as_str().expect("train");
    client
        .simple_query(&format!(
            "CREATE MODEL gbr OPTIONS ({}) AS {train}",
            options_sql(&r["options"])
        ))
        .await
        .expect("gbdt regressor trains");
    let test = r["test_query"].as_str().expect("test");
    let rmse: f64 = client
        .query_one(
            &format!("SELECT sqrt(avg((price - prediction) * (price - prediction))) FROM ml_predict('gbr', ({test}))"),
            &[],
        )
        .await
        .expect("scores")
        .get(0);
    let reference = r["lightgbm_rmse"].as_f64().expect("rmse");
    assert!(
        rmse <= reference * 1.02,
        "gbdt RMSE {rmse} vs LightGBM {reference}"
    );
    server.stop().await;
}

/// Spearman rank correlation (average ranks for ties).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[quarry_test]
async fn isolation_forest_agrees_with_scikit_learn() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/isolation.json"))
            .expect("fixture"),
    )
    .expect("json");
    let rows = fixture["rows"].as_array().expect("rows");
    client
        .batch_execute(
            "CREATE TABLE points (id BIGINT, x1 DOUBLE, x2 DOUBLE, x3 DOUBLE, x4 DOUBLE, is_anomaly BOOLEAN)",
        )
        .await
        .expect("table");
    let values: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let r = r.as_array().expect("row");
            format!("({i}, {}, {}, {}, {}, {})", r[0], r[1], r[2], r[3], r[4])
        })
        .collect();
    client
        .batch_execute(&format!("INSERT INTO points VALUES {}", values.join(", ")))
        .await
        .expect("rows");
    let trained = client
        .query_one(
            "SELECT metrics FROM ml_train('iso', 'SELECT * FROM points', \
             '{\"algorithm\": \"isolation_forest\", \"label\": \"is_anomaly\", \"exclude\": \"id\"}')",
            &[],
        )
        .await
        .expect("isolation forest trains");
    let metrics: serde_json::Value =
        serde_json::from_str(trained.get::<_, &str>(0)).expect("metrics json");
    let scores: Vec<f64> = client
        .query(
            "SELECT ml_predict('iso', x1, x2, x3, x4) FROM points ORDER BY id",
            &[],
        )
        .await
        .expect("scores")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let reference: Vec<f64> = fixture["sklearn_scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|v| v.as_f64().expect("score"))
        .collect();
    let truth: Vec<bool> = rows
        .iter()
        .map(|r| r[4].as_bool().expect("label"))
        .collect();

    // The same ranking quality on the known anomalies, reported by training too.
    let auc = quarry_udfs::kernels::metrics::roc_auc(&truth, &scores).expect("both classes");
    let sklearn_auc = fixture["sklearn_roc_auc"].as_f64().expect("auc");
    assert!(
        auc >= sklearn_auc - 0.01,
        "AUC {auc} vs scikit-learn {sklearn_auc}"
    );
    let reported = metrics["roc_auc"].as_f64().expect("roc_auc");
    assert!(
        (reported - auc).abs() < 1e-6,
        "training reported AUC {reported}, scoring gives {auc}"
    );
    // Scores on scikit-learn's scale: two forests differ only by their randomness.
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let sklearn_mean = fixture["sklearn_mean_score"].as_f64().expect("mean");
    assert!(
        (mean - sklearn_mean).abs() < 0.01,
        "mean score {mean} vs {sklearn_mean}"
    );
    let rho = spearman(&scores, &reference);
    let seed_to_seed = fixture["sklearn_seed_to_seed_spearman"]
        .as_f64()
        .expect("rho");
    assert!(
        rho >= seed_to_seed - 0.03,
        "rank correlation {rho} vs scikit-learn seed-to-seed {seed_to_seed}"
    );
    let mad = scores
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / scores.len() as f64;
    let seed_mad = fixture["sklearn_seed_to_seed_mean_abs_diff"]
        .as_f64()
        .expect("mad");
    eprintln!(
        "isolation forest vs scikit-learn: AUC {auc} / {sklearn_auc}, mean {mean} / {sklearn_mean}, spearman {rho} (seed-to-seed {seed_to_seed}), mean abs diff {mad} (seed-to-seed {seed_mad})"
    );
    assert!(
        mad <= 2.0 * seed_mad + 0.005,
        "mean |score difference| {mad} vs seed-to-seed {seed_mad}"
    );
    server.stop().await;
}
