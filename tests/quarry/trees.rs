//! Tree models against LightGBM and scikit-learn on the demo data (fixtures
//! from scripts/fixtures/trees.py).

use quarry::Config;

use crate::harness::{TestServer, options_sql, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
