//! Everything a client creates survives a restart on the same data directory.

use quarry_test_macros::quarry_test;

use crate::harness::{TestServer, scalar, sqlstate, texts};

#[quarry_test]
async fn tables_views_schemas_and_external_tables_survive_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let files = tempfile::tempdir().expect("files");
    let parquet = files.path().join("nums.parquet");
    let csv = files.path().join("nums.csv");
    let json = files.path().join("nums.json");
    std::fs::write(&csv, "n,label\n1,one\n2,two\n").expect("csv");
    std::fs::write(&json, "{\"n\": 1}\n{\"n\": 5}\n").expect("json");

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE plain (id INT NOT NULL, name TEXT);
             INSERT INTO plain VALUES (1, 'a'), (2, 'b');
             INSERT INTO plain VALUES (3, NULL);
             CREATE TABLE derived AS SELECT id * 10 AS id10 FROM plain;
             CREATE TABLE renamed_from AS SELECT 1 AS x;
             ALTER TABLE renamed_from RENAME TO renamed_to;
             CREATE TABLE dropped (x INT);
             DROP TABLE dropped;
             CREATE SCHEMA mart;
             CREATE TABLE mart.facts AS SELECT 42 AS answer;
             CREATE VIEW big_ids AS SELECT id FROM plain WHERE id > 1;
             COPY (SELECT id AS n FROM plain) TO '{parquet}';
             CREATE EXTERNAL TABLE ext_csv STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true');",
            parquet = parquet.display(),
            csv = csv.display(),
        ))
        .await
        .expect("setup");
    // Alone in a statement, through the extended and the simple protocol.
    client
        .execute(
            &format!(
                "CREATE EXTERNAL TABLE ext_parquet STORED AS PARQUET LOCATION '{}'",
                parquet.display()
            ),
            &[],
        )
        .await
        .expect("external parquet table, extended protocol");
    client
        .simple_query(&format!(
            "CREATE EXTERNAL TABLE ext_json STORED AS JSON LOCATION '{}'",
            json.display()
        ))
        .await
        .expect("external json table, simple protocol");
    server.stop().await;

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM plain").await, "3");
    assert_eq!(scalar(&client, "SELECT sum(id10) FROM derived").await, "60");
    assert_eq!(scalar(&client, "SELECT x FROM renamed_to").await, "1");
    assert_eq!(scalar(&client, "SELECT answer FROM mart.facts").await, "42");
    assert_eq!(scalar(&client, "SELECT count(*) FROM big_ids").await, "2");
    assert_eq!(scalar(&client, "SELECT sum(n) FROM ext_parquet").await, "6");
    assert_eq!(
        texts(&client, "SELECT label FROM ext_csv ORDER BY n").await,
        vec![Some("one".into()), Some("two".into())]
    );
    assert_eq!(scalar(&client, "SELECT max(n) FROM ext_json").await, "5");
    for gone in ["dropped", "renamed_from"] {
        let err = client
            .simple_query(&format!("SELECT * FROM {gone}"))
            .await
            .expect_err("gone");
        assert_eq!(sqlstate(&err), "42P01", "{gone}");
    }
    // NOT NULL survives too.
    let err = client
        .simple_query("INSERT INTO plain VALUES (NULL, 'x')")
        .await
        .expect_err("not null");
    assert_eq!(sqlstate(&err), "23502");
    server.stop().await;
}

#[quarry_test]
async fn leftover_files_of_an_interrupted_write_are_removed() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t AS SELECT 1 AS x")
        .await
        .expect("create");
    server.stop().await;

    let tables = dir.path().join("tables");
    let table_dir = std::fs::read_dir(&tables)
        .expect("tables")
        .flatten()
        .next()
        .expect("one table dir")
        .path();
    std::fs::write(table_dir.join(".part-x.parquet.tmp"), b"half").expect("tmp");
    std::fs::write(table_dir.join("part-orphan.parquet"), b"never committed").expect("orphan");
    std::fs::create_dir(tables.join("deadbeef")).expect("orphan dir");

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");
    assert!(!table_dir.join(".part-x.parquet.tmp").exists());
    assert!(!table_dir.join("part-orphan.parquet").exists());
    assert!(!tables.join("deadbeef").exists());
    server.stop().await;
}

#[quarry_test]
async fn demo_tables_load_once_into_an_empty_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.demo = true;
    let server = TestServer::with_config(config.clone()).await;
    let client = server.connect().await;
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM customers").await,
        "50000"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM customers_recent").await,
        "10000"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM house_prices").await,
        "20000"
    );
    assert_eq!(
        scalar(&client, "SELECT count(DISTINCT store_id) FROM daily_sales").await,
        "10"
    );
    assert!(
        scalar(&client, "SELECT count(DISTINCT city) FROM customers")
            .await
            .parse::<i64>()
            .expect("n")
            > 500
    );
    client
        .batch_execute("DROP TABLE house_prices")
        .await
        .expect("drop");
    server.stop().await;
    // A user's drop is respected: demo data is not loaded again.
    let server = TestServer::with_config(config).await;
    let client = server.connect().await;
    assert!(
        client
            .simple_query("SELECT 1 FROM house_prices")
            .await
            .is_err()
    );
    server.stop().await;
}

#[quarry_test]
async fn snapshots_survive_restart_unchanged_and_orphans_go() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE src AS SELECT value AS id, value * 2 AS v FROM generate_series(1, 5000)",
        )
        .await
        .expect("create");
    let digest = scalar(&client, "SELECT sha256 FROM ml_snapshot('s', src)").await;
    // The source changes; the snapshot does not.
    client
        .batch_execute("INSERT INTO src VALUES (9999, 1)")
        .await
        .expect("insert");
    assert_eq!(
        scalar(&client, "SELECT version FROM ml_snapshot('s', src)").await,
        "2"
    );
    server.stop().await;
    // An orphan from a crash long ago (a recent one may be a write in progress).
    let orphan = dir.path().join("snapshots").join("feedface");
    std::fs::create_dir(&orphan).expect("orphan dir");
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::open(&orphan)
        .and_then(|f| f.set_modified(long_ago))
        .expect("age the orphan");

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM ml_snapshot_read('s', 1)").await,
        "5000"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM ml_snapshot_read('s')").await,
        "5001"
    );
    assert_eq!(
        scalar(
            &client,
            "SELECT sha256 FROM ml_snapshots WHERE name = 's' AND version = 1"
        )
        .await,
        digest
    );
    // Re-snapshotting the stored rows reproduces the digest.
    assert_eq!(
        scalar(
            &client,
            "SELECT sha256 FROM ml_snapshot('s_again', (SELECT * FROM ml_snapshot_read('s', 1)))"
        )
        .await,
        digest
    );
    assert!(!orphan.exists());
    server.stop().await;
}

#[quarry_test]
async fn a_second_server_on_the_same_directory_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let second = quarry::Server::start(quarry::Config::for_data_dir(dir.path())).await;
    let error = second.err().expect("the directory is locked");
    assert!(
        error.contains("is in use by another Quarry process"),
        "{error}"
    );
    server.stop().await;
    // Stopped, the directory is free again.
    let server = TestServer::on_dir(dir.path()).await;
    server.stop().await;
}

/// What a table's columns default to, its SERIAL column's sequence, its
/// comments and a row change all outlive a restart: an insert after it
/// fills the defaults and continues the sequence.
#[quarry_test]
async fn defaults_sequences_comments_matviews_keys_and_row_changes_survive_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE items (id SERIAL, qty INT DEFAULT 7, note TEXT DEFAULT 'none');
             INSERT INTO items (qty) VALUES (1), (2);
             UPDATE items SET note = 'changed' WHERE id = 1;
             DELETE FROM items WHERE id = 2;
             COMMENT ON TABLE items IS 'kept';
             CREATE MATERIALIZED VIEW item_count AS SELECT count(*) AS n FROM items;
             CREATE TABLE keyed (id INT PRIMARY KEY, code TEXT UNIQUE, v INT);",
        )
        .await
        .expect("setup");
    server.stop().await;

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    client
        .batch_execute("INSERT INTO items (note) VALUES ('after')")
        .await
        .expect("insert after restart");
    let rows = client
        .query("SELECT id, qty, note FROM items ORDER BY id", &[])
        .await
        .expect("rows");
    let rows: Vec<(i32, i32, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![(1, 1, "changed".to_string()), (3, 7, "after".to_string())]
    );
    assert_eq!(
        crate::harness::scalar(
            &client,
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c WHERE c.relname = 'items'"
        )
        .await,
        "kept"
    );
    // A materialized view keeps its rows and its query, and stays read-only.
    assert_eq!(
        crate::harness::scalar(&client, "SELECT n FROM item_count").await,
        "1"
    );
    client
        .batch_execute("REFRESH MATERIALIZED VIEW item_count")
        .await
        .expect("refresh after restart");
    assert_eq!(
        crate::harness::scalar(&client, "SELECT n FROM item_count").await,
        "2"
    );
    let err = client
        .batch_execute("INSERT INTO item_count VALUES (9)")
        .await
        .expect_err("read-only after restart");
    assert_eq!(crate::harness::sqlstate(&err), "42809", "{err:?}");
    // Declared keys are kept (not enforced): ON CONFLICT stays refused.
    let err = client
        .batch_execute("INSERT INTO keyed VALUES (1, 'a', 1) ON CONFLICT DO NOTHING")
        .await
        .expect_err("the key survives a restart");
    assert_eq!(crate::harness::sqlstate(&err), "0A000", "{err:?}");
}
