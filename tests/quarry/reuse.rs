//! Kept plans (`server::reuse`) never show stale results: a statement run
//! again after a write, a `SET`, a deploy or a retrain sees the change, bound
//! values are the ones of each execution, interleaved portals of one statement
//! keep their own values, and time-dependent functions are not frozen.

use quarry_test_macros::quarry_test;
use tokio_postgres::Client;
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{TestServer, scalar};

/// The first column of a one-row simple query, through the simple protocol.
async fn simple_value(client: &Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .expect("simple query")
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a row")
}

async fn count_sum(client: &Client, sql: &str) -> (i64, Option<i64>) {
    let row = client.query_one(sql, &[]).await.expect("unnamed");
    (row.get(0), row.get(1))
}

#[quarry_test]
async fn writes_are_seen_by_statements_run_again() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let other = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'x')")
        .await
        .expect("table");
    let sql = "SELECT count(*), CAST(sum(a) AS BIGINT) FROM t";
    let named = client.prepare(sql).await.expect("prepares");
    for expected in [(1, Some(1)), (1, Some(1))] {
        assert_eq!(count_sum(&client, sql).await, expected);
        let row = client.query_one(&named, &[]).await.expect("named");
        assert_eq!((row.get::<_, i64>(0), row.get(1)), expected);
        assert_eq!(simple_value(&client, sql).await, expected.0.to_string());
    }
    // A write from another session, then one from this session.
    other
        .batch_execute("INSERT INTO t VALUES (2, 'y')")
        .await
        .expect("insert");
    assert_eq!(count_sum(&client, sql).await, (2, Some(3)));
    let row = client.query_one(&named, &[]).await.expect("named");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, Option<i64>>(1)),
        (2, Some(3))
    );
    assert_eq!(simple_value(&client, sql).await, "2");
    crate::copy::copy(&client, "COPY t FROM STDIN (FORMAT csv)", "3,z\n4,w\n")
        .await
        .expect("copy commits");
    assert_eq!(count_sum(&client, sql).await, (4, Some(10)));
    assert_eq!(simple_value(&client, sql).await, "4");
    // A table dropped and created again with other rows, same text.
    other
        .batch_execute(
            "DROP TABLE t; CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (7, 'q')",
        )
        .await
        .expect("replace");
    assert_eq!(count_sum(&client, sql).await, (1, Some(7)));
    assert_eq!(simple_value(&client, sql).await, "1");
    server.stop().await;
}

#[quarry_test]
async fn each_execution_sees_its_own_values() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t AS SELECT value AS a FROM generate_series(1, 10)")
        .await
        .expect("table");
    // Parameters in the select list (the plan is kept) and in a filter (it
    // is planned with each execution's values).
    let select_list = client
        .prepare("SELECT CAST($1::int + a AS INT), $2::text FROM t WHERE a <= 2 ORDER BY a")
        .await
        .expect("prepares");
    let filter = client
        .prepare("SELECT count(*) FROM t WHERE a > $1::int")
        .await
        .expect("prepares");
    for i in 0..5i32 {
        let label = format!("run {i}");
        let rows = client
            .query(&select_list, &[&i, &label])
            .await
            .expect("runs");
        let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(got, vec![(i + 1, label.clone()), (i + 2, label.clone())]);
        let n: i64 = client.query_one(&filter, &[&i]).await.expect("runs").get(0);
        assert_eq!(n, i64::from(10 - i));
        let text: i64 = client
            .query_one("SELECT $1::bigint * 2", &[&i64::from(i)])
            .await
            .expect("unnamed runs")
            .get(0);
        assert_eq!(text, i64::from(i) * 2);
    }
    // NULLs bound where values were bound before.
    let row = client
        .query_one("SELECT $1::int, $2::text", &[&None::<i32>, &Some("x")])
        .await
        .expect("nulls");
    assert_eq!(
        (row.get::<_, Option<i32>>(0), row.get(1)),
        (None, Some("x"))
    );
    let row = client
        .query_one("SELECT $1::int, $2::text", &[&Some(5i32), &None::<&str>])
        .await
        .expect("nulls");
    assert_eq!(
        (row.get::<_, Option<i32>>(0), row.get(1)),
        (Some(5), None::<&str>)
    );
    server.stop().await;
}

#[quarry_test]
async fn interleaved_portals_keep_their_values() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t AS SELECT value AS a FROM generate_series(1, 6)")
        .await
        .expect("table");
    let statement = client
        .prepare("SELECT CAST($1::int * 100 + a AS INT) FROM t ORDER BY a")
        .await
        .expect("prepares");
    // Warm the kept plan, then run two portals of it in parts.
    client.query(&statement, &[&9i32]).await.expect("warms");
    let tx = client.transaction().await.expect("begin");
    let first = tx.bind(&statement, &[&1i32]).await.expect("binds");
    let second = tx.bind(&statement, &[&2i32]).await.expect("binds");
    let values =
        |rows: Vec<tokio_postgres::Row>| -> Vec<i32> { rows.iter().map(|r| r.get(0)).collect() };
    assert_eq!(
        values(tx.query_portal(&first, 2).await.expect("part")),
        [101, 102]
    );
    assert_eq!(
        values(tx.query_portal(&second, 3).await.expect("part")),
        [201, 202, 203]
    );
    assert_eq!(
        values(tx.query_portal(&first, 0).await.expect("rest")),
        [103, 104, 105, 106]
    );
    assert_eq!(
        values(tx.query_portal(&second, 0).await.expect("rest")),
        [204, 205, 206]
    );
    tx.commit().await.expect("commit");
    let after: Vec<i32> = values(client.query(&statement, &[&3i32]).await.expect("runs"));
    assert_eq!(after, [301, 302, 303, 304, 305, 306]);
    server.stop().await;
}

#[quarry_test]
async fn settings_and_time_are_not_frozen() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA other; CREATE TABLE public.t (a INT); INSERT INTO public.t VALUES (1); \
             CREATE TABLE other.t (a INT); INSERT INTO other.t VALUES (2), (3)",
        )
        .await
        .expect("tables");
    let sql = "SELECT count(*) FROM t";
    assert_eq!(scalar(&client, sql).await, "1");
    assert_eq!(scalar(&client, sql).await, "1");
    client
        .batch_execute("SET search_path = other")
        .await
        .expect("set");
    assert_eq!(scalar(&client, sql).await, "2");
    client
        .batch_execute("SET search_path = public")
        .await
        .expect("set");
    assert_eq!(scalar(&client, sql).await, "1");
    // now() is fixed per statement, not per plan; random() per row.
    let now = "SELECT CAST(now() AS TEXT)";
    let first = scalar(&client, now).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_ne!(scalar(&client, now).await, first, "now() was frozen");
    let random = "SELECT CAST(random() AS TEXT)";
    assert_ne!(scalar(&client, random).await, scalar(&client, random).await);
    server.stop().await;
}

#[quarry_test]
async fn a_prepared_score_follows_deploys_and_retrains() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let admin = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE pts AS SELECT CAST(value AS DOUBLE) AS x, 2.0 * value AS y FROM generate_series(1, 50)",
        )
        .await
        .expect("table");
    let train = |offset: i32| {
        format!(
            "CREATE MODEL m OPTIONS (algorithm = 'linear', label = 'y', features = 'x', split = 'none') \
             AS SELECT x, y + {offset} AS y FROM pts"
        )
    };
    admin.simple_query(&train(0)).await.expect("trains v1");
    let statement = client
        .prepare("SELECT ml_predict('m', struct($1::double precision AS x))")
        .await
        .expect("prepares");
    let score = |x: f64| {
        let (client, statement) = (&client, &statement);
        async move {
            let y: f64 = client
                .query_one(statement, &[&x])
                .await
                .expect("scores")
                .get(0);
            y
        }
    };
    assert!((score(10.0).await - 20.0).abs() < 1e-6);
    assert!((score(11.0).await - 22.0).abs() < 1e-6);
    // A new version (the latest answers a bare name without a production alias).
    admin.simple_query(&train(1000)).await.expect("trains v2");
    assert!((score(10.0).await - 1020.0).abs() < 1e-6);
    // Deploy and roll back from another session.
    admin
        .simple_query("SELECT ml_deploy('m', 1)")
        .await
        .expect("deploys");
    assert!((score(10.0).await - 20.0).abs() < 1e-6);
    admin
        .simple_query("SELECT ml_deploy('m', 2)")
        .await
        .expect("deploys");
    assert!((score(10.0).await - 1020.0).abs() < 1e-6);
    server.stop().await;
}

#[quarry_test]
async fn named_statements_follow_tables_dropped_and_created_again() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let other = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)")
        .await
        .expect("table");
    let read = client
        .prepare("SELECT CAST(sum(a) AS BIGINT) FROM t")
        .await
        .expect("prepares");
    let insert = client
        .prepare("INSERT INTO t VALUES ($1)")
        .await
        .expect("prepares");
    let sum = |row: tokio_postgres::Row| row.get::<_, Option<i64>>(0);
    assert_eq!(
        sum(client.query_one(&read, &[]).await.expect("read")),
        Some(1)
    );

    // Another session replaces the table: both statements now mean the new
    // one, as in PostgreSQL (the old table's files are gone).
    other
        .batch_execute("DROP TABLE t; CREATE TABLE t (a INT); INSERT INTO t VALUES (40)")
        .await
        .expect("replace");
    client.execute(&insert, &[&2i32]).await.expect("insert");
    assert_eq!(
        sum(client.query_one(&read, &[]).await.expect("read")),
        Some(42)
    );
    assert_eq!(
        simple_value(&other, "SELECT count(*) FROM t").await,
        "2",
        "the insert went to the new table"
    );

    // A replacement with other column types cannot answer with the columns
    // the statement described: an error, not wrong types on the wire.
    other
        .batch_execute("DROP TABLE t; CREATE TABLE t (a TEXT)")
        .await
        .expect("replace");
    let changed = client.prepare("SELECT a FROM t").await.expect("prepares");
    other
        .batch_execute("DROP TABLE t; CREATE TABLE t (a DOUBLE PRECISION)")
        .await
        .expect("replace");
    let err = client
        .query(&changed, &[])
        .await
        .expect_err("result type changed");
    assert_eq!(err.code().map(|c| c.code()), Some("0A000"), "{err}");
    // The session is still usable, and a new statement reads the new table.
    assert_eq!(simple_value(&client, "SELECT count(*) FROM t").await, "0");
}

#[quarry_test]
async fn statements_without_from_are_evaluated_at_each_execution() {
    // A kept SELECT without FROM has its expressions evaluated directly
    // (`server::reuse::OneRow`): an error in one execution leaves the
    // statement and the session usable, and values follow the bound ones.
    let server = TestServer::start().await;
    let client = server.connect().await;
    let divide = client
        .prepare("SELECT 10 / $1::int, $1::int")
        .await
        .expect("prepares");
    for divisor in [2, 0, 5, 0, 0, 1, -3] {
        match client.query_one(&divide, &[&divisor]).await {
            Ok(row) => {
                assert_ne!(divisor, 0, "10 / 0 returned a row");
                assert_eq!(
                    (row.get::<_, i64>(0), row.get::<_, i32>(1)),
                    (10 / i64::from(divisor), divisor)
                );
            }
            Err(e) => {
                assert_eq!(divisor, 0, "{e}");
                assert_eq!(e.code().map(|c| c.code()), Some("22012"), "{e}");
            }
        }
    }
    // The connection's DateStyle, changed between executions, is the one used.
    let date = "SELECT DATE '2024-03-05' + 1";
    assert_eq!(simple_value(&client, date).await, "2024-03-06");
    assert_eq!(simple_value(&client, date).await, "2024-03-06");
    client
        .batch_execute("SET DateStyle = 'German, DMY'")
        .await
        .expect("set");
    assert_eq!(simple_value(&client, date).await, "06.03.2024");
    assert_eq!(simple_value(&client, date).await, "06.03.2024");
    client
        .batch_execute("SET DateStyle = 'ISO, MDY'")
        .await
        .expect("set");
    assert_eq!(simple_value(&client, date).await, "2024-03-06");
    server.stop().await;
}
