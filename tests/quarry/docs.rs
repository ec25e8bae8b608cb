//! `docs/functions.md` matches the functions the server registers.

use quarry::{Config, Server};
use quarry_test_macros::quarry_test;

use crate::harness::repo_root;

#[quarry_test]
async fn functions_md_is_current() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Config::for_data_dir(dir.path()))
        .await
        .expect("server starts");
    let mut tables = quarry_udfs::table_function_docs();
    tables.extend(quarry::registry::functions::table_function_docs());
    let generated = quarry::docs::functions_markdown(&server.state.base, &tables)
        .expect("every function is documented");
    for name in [
        "ml_predict",
        "ml_predict_proba",
        "ml_deploy",
        "ml_rollback",
        "ml_train",
    ] {
        assert!(
            generated.contains(&format!("### `{name}`")),
            "{name} missing from the reference"
        );
    }
    let path = repo_root().join("docs/functions.md");
    if std::env::var("QUARRY_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/functions.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/functions.md is stale: regenerate it with QUARRY_BLESS=1 cargo test --test quarry docs::"
    );
}
