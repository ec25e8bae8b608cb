//! Per-connection state: SET isolation, search_path, transactions, cancel and
//! statement_timeout over a streaming result.

use std::time::{Duration, Instant};

use futures::{StreamExt, pin_mut};
use quarry_test_macros::quarry_test;
use tokio_postgres::NoTls;

use crate::harness::{TestServer, scalar, sqlstate};

#[quarry_test]
async fn set_never_leaks_between_connections() {
    let server = TestServer::start().await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "SET application_name = 'etl'; SET TimeZone = 'Europe/Paris'; \
         SET datafusion.execution.batch_size = 1000; SET statement_timeout = '5s'",
    )
    .await
    .expect("set");
    assert_eq!(scalar(&a, "SHOW application_name").await, "etl");
    assert_eq!(scalar(&a, "SHOW TimeZone").await, "Europe/Paris");
    assert_eq!(
        scalar(&a, "SHOW datafusion.execution.batch_size").await,
        "1000"
    );
    assert_eq!(scalar(&a, "SHOW statement_timeout").await, "5s");
    assert_eq!(scalar(&b, "SHOW application_name").await, "");
    assert_eq!(scalar(&b, "SHOW TimeZone").await, "UTC");
    assert_eq!(
        scalar(&b, "SHOW datafusion.execution.batch_size").await,
        "8192"
    );
    assert_eq!(scalar(&b, "SHOW statement_timeout").await, "0");
    a.batch_execute("RESET ALL").await.expect("reset");
    assert_eq!(scalar(&a, "SHOW application_name").await, "");
}

#[quarry_test]
async fn search_path_decides_where_unqualified_names_go() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA analytics; SET search_path = analytics, public; \
             CREATE TABLE facts (x INT); INSERT INTO facts VALUES (1)",
        )
        .await
        .expect("schema and table");
    assert_eq!(
        scalar(&client, "SELECT current_schema()").await,
        "analytics"
    );
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM analytics.facts").await,
        "1"
    );
    client
        .batch_execute("SET search_path = public")
        .await
        .expect("set");
    let err = client
        .simple_query("SELECT * FROM facts")
        .await
        .expect_err("not in public");
    assert_eq!(sqlstate(&err), "42P01");
}

/// A temporary table is its session's: another session sees the permanent
/// table of that name (or nothing), a prepared statement of the session
/// follows it as it appears and goes, and it ends with the session.
#[quarry_test]
async fn temporary_tables_belong_to_their_session() {
    let server = TestServer::start().await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute("CREATE TABLE shared (v int); INSERT INTO shared VALUES (1)")
        .await
        .expect("permanent table");
    let read = a
        .prepare("SELECT sum(v) FROM shared")
        .await
        .expect("prepare");
    let sum = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, Option<i64>>(0);
    assert_eq!(sum(a.query(&read, &[]).await.expect("read")), Some(1));

    a.batch_execute("CREATE TEMP TABLE shared AS SELECT 100 AS v; CREATE TEMP TABLE mine (x int)")
        .await
        .expect("temporary tables");
    assert_eq!(
        sum(a.query(&read, &[]).await.expect("read")),
        Some(100),
        "the prepared statement finds the temporary table now"
    );
    assert_eq!(scalar(&b, "SELECT sum(v) FROM shared").await, "1");
    let err = b
        .simple_query("SELECT * FROM mine")
        .await
        .expect_err("another session's temporary table");
    assert_eq!(sqlstate(&err), "42P01");

    a.batch_execute("DROP TABLE shared")
        .await
        .expect("drop temporary");
    assert_eq!(sum(a.query(&read, &[]).await.expect("read")), Some(1));

    drop(a);
    let c = server.connect().await;
    let err = c
        .simple_query("SELECT * FROM pg_temp.mine")
        .await
        .expect_err("gone with its session");
    assert_eq!(sqlstate(&err), "42P01");
}

#[quarry_test]
async fn transactions_are_accepted_and_failed_blocks_need_rollback() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)")
        .await
        .expect("work");
    tx.commit().await.expect("commit");
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");

    client.batch_execute("BEGIN").await.expect("begin");
    assert!(client.batch_execute("SELECT * FROM missing").await.is_err());
    let err = client
        .batch_execute("SELECT 1")
        .await
        .expect_err("aborted block");
    assert_eq!(sqlstate(&err), "25P02");
    client.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(scalar(&client, "SELECT 2").await, "2");
}

const LONG: &str = "SELECT value FROM generate_series(1, 2000000000) AS g(value)";

#[quarry_test]
async fn cancel_stops_a_streaming_query() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let cancel = client.cancel_token();
    let rows = client
        .query_raw(LONG, std::iter::empty::<i32>())
        .await
        .expect("query starts");
    pin_mut!(rows);
    // Rows are flowing: the statement is past planning.
    for _ in 0..1000 {
        rows.next().await.expect("a row").expect("row ok");
    }
    let started = Instant::now();
    cancel.cancel_query(NoTls).await.expect("cancel sent");
    let err = loop {
        match rows.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("stream ended without the cancel error"),
        }
    };
    assert_eq!(sqlstate(&err), "57014");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(scalar(&client, "SELECT 'still here'").await, "still here");
}

#[quarry_test]
async fn statement_timeout_covers_the_row_stream() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = 300")
        .await
        .expect("set");
    let started = Instant::now();
    let rows = client
        .query_raw(LONG, std::iter::empty::<i32>())
        .await
        .expect("query starts");
    pin_mut!(rows);
    let mut seen = 0u64;
    let err = loop {
        match rows.next().await {
            Some(Ok(_)) => seen += 1,
            Some(Err(e)) => break e,
            None => panic!("stream ended without a timeout"),
        }
    };
    assert_eq!(sqlstate(&err), "57014");
    assert!(seen > 0, "the timeout hit while rows were streaming");
    assert!(started.elapsed() < Duration::from_secs(30));
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .expect("reset");
    assert_eq!(scalar(&client, "SELECT 1").await, "1");
}
