//! Protocol behaviour seen by a real client: identity functions, extended
//! protocol with typed parameters, binary results, command tags.

use quarry_test_macros::quarry_test;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

use crate::harness::{TestServer, scalar, texts};

#[quarry_test]
async fn version_and_identity_look_like_postgres() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let version = scalar(&client, "SELECT version()").await;
    assert!(version.starts_with("PostgreSQL 16.0 (Quarry "), "{version}");
    assert_eq!(scalar(&client, "SELECT current_user").await, "quarry");
    assert_eq!(scalar(&client, "SELECT session_user").await, "quarry");
    assert_eq!(scalar(&client, "SELECT current_schema()").await, "public");
    assert_eq!(scalar(&client, "SELECT current_database()").await, "quarry");
    assert_eq!(scalar(&client, "SHOW server_version").await, "16.0");
}

#[quarry_test]
async fn extended_protocol_binds_parameters_of_several_types() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE p (i INT, b BIGINT, f DOUBLE PRECISION, s TEXT, ok BOOLEAN, d DATE, ts TIMESTAMP)",
        )
        .await
        .expect("create");
    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
    let ts = day.and_hms_opt(12, 30, 0).expect("time");
    let inserted = client
        .execute(
            "INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &7i32,
                &9_000_000_000i64,
                &2.5f64,
                &"héllo",
                &true,
                &day,
                &ts,
            ],
        )
        .await
        .expect("insert with parameters");
    assert_eq!(inserted, 1);
    client
        .execute(
            "INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&8i32, &1i64, &-1.0f64, &"x", &false, &day, &ts],
        )
        .await
        .expect("second insert");

    let row = client
        .query_one(
            "SELECT i, b, f, s, ok, d, ts FROM p WHERE b = $1 AND s = $2",
            &[&9_000_000_000i64, &"héllo"],
        )
        .await
        .expect("select with parameters");
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(row.get::<_, i64>(1), 9_000_000_000);
    assert_eq!(row.get::<_, f64>(2), 2.5);
    assert_eq!(row.get::<_, &str>(3), "héllo");
    assert!(row.get::<_, bool>(4));
    assert_eq!(row.get::<_, chrono::NaiveDate>(5), day);
    assert_eq!(row.get::<_, chrono::NaiveDateTime>(6), ts);

    // A prepared statement advertises its parameter types and runs many times.
    let stmt = client
        .prepare("SELECT count(*) FROM p WHERE i > $1")
        .await
        .expect("prepare");
    assert_eq!(stmt.params(), &[Type::INT4]);
    let n: i64 = client.query_one(&stmt, &[&0i32]).await.expect("run").get(0);
    assert_eq!(n, 2);
    let n: i64 = client
        .query_one(&stmt, &[&7i32])
        .await
        .expect("run again")
        .get(0);
    assert_eq!(n, 1);

    // An untyped parameter is text, as in PostgreSQL.
    let echoed: String = client
        .query_one("SELECT $1", &[&"echo"])
        .await
        .expect("echo")
        .get(0);
    assert_eq!(echoed, "echo");
}

#[quarry_test]
async fn command_tags_report_what_happened() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let tags = |messages: Vec<SimpleQueryMessage>| -> Vec<u64> {
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => Some(n),
                _ => None,
            })
            .collect()
    };
    let done = client
        .simple_query(
            "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2), (3); \
             CREATE TABLE u AS SELECT * FROM t WHERE a > 1; SELECT * FROM u",
        )
        .await
        .expect("batch");
    assert_eq!(tags(done), vec![0, 3, 2, 2]);
    assert_eq!(
        client
            .execute("INSERT INTO t SELECT a + 10 FROM t", &[])
            .await
            .expect("insert"),
        3
    );
    // Extended protocol: the rows each Execute sent, also when the plan is
    // kept and run again.
    for _ in 0..3 {
        assert_eq!(
            client
                .execute("SELECT * FROM t", &[])
                .await
                .expect("select"),
            6
        );
        assert_eq!(client.execute("SELECT 1", &[]).await.expect("select"), 1);
        assert_eq!(
            client
                .execute("SELECT a FROM t WHERE a > $1", &[&100i32])
                .await
                .expect("select"),
            0
        );
    }
    assert_eq!(client.execute("DROP TABLE u", &[]).await.expect("drop"), 0);
}

#[quarry_test]
async fn a_query_error_leaves_the_session_usable() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    assert!(client.simple_query("SELECT * FROM missing").await.is_err());
    assert!(
        client
            .query("SELECT $1::int + missing_column", &[&1i32])
            .await
            .is_err()
    );
    assert_eq!(scalar(&client, "SELECT 40 + 2").await, "42");
    // A multi-statement query stops at the first error, like PostgreSQL.
    assert!(
        client
            .simple_query("CREATE TABLE a (x INT); SELECT * FROM missing; CREATE TABLE b (x INT)")
            .await
            .is_err()
    );
    assert_eq!(
        texts(&client, "SELECT count(*) FROM a").await,
        vec![Some("0".into())]
    );
    assert!(client.simple_query("SELECT * FROM b").await.is_err());
}

#[quarry_test]
async fn http_health_answers() {
    let server = TestServer::start().await;
    let response = crate::harness::http_get(server.http, "/health").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");
}

/// A result's row description names its columns as `CREATE TABLE ... AS`
/// names the columns it makes, which `slt::pg/answers` holds to
/// PostgreSQL's own names; on every path (simple and extended protocol,
/// a kept plan, a second execution).
#[quarry_test]
async fn result_columns_are_named_as_created_tables_name_them() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE c (a int, b text); INSERT INTO c VALUES (1, 'x'), (2, 'y')")
        .await
        .expect("table");
    let select = "SELECT a, count(*), upper(b), b::varchar, 1::int, CASE WHEN a > 1 THEN 0 END, \
                  1 + 1, now(), DATE '2024-01-01' FROM c GROUP BY a, b";
    client
        .batch_execute(&format!("CREATE TABLE made AS {select}"))
        .await
        .expect("ctas");
    let created: Vec<String> = client
        .query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'made' \
             ORDER BY ordinal_position",
            &[],
        )
        .await
        .expect("columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(created[1], "count", "{created:?}");
    for _ in 0..2 {
        let simple: Vec<String> = client
            .simple_query(select)
            .await
            .expect("simple")
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::RowDescription(d) => {
                    Some(d.iter().map(|c| c.name().to_string()).collect())
                }
                _ => None,
            })
            .expect("a row description");
        assert_eq!(simple, created, "simple protocol");
        let statement = client.prepare(select).await.expect("prepare");
        let extended: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(extended, created, "extended protocol");
        client.query(&statement, &[]).await.expect("runs");
    }
}
