//! One statement per SQLSTATE of the error contract; none of them may be XX000,
//! and the session keeps working after each.

use crate::harness::{TestServer, scalar, sqlstate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_class_has_its_sqlstate() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id INT, name TEXT)")
        .await
        .expect("create");
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT no_such_column FROM t", "42703"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT id FROM t UNION SELECT now() FROM t", "42804"),
        ("SET statement_timeout = 'soon'", "22023"),
        ("SELECT CAST('abc' AS INT)", "22000"),
        ("ALTER TABLE t ADD COLUMN extra INT", "0A000"),
        ("SELECT 1 / 0", "22012"),
        ("SET no_such_parameter = 1", "42704"),
        ("CREATE TABLE t (x INT)", "42P07"),
        ("DROP TABLE no_such_table", "42P01"),
    ];
    for (sql, expected) in cases {
        let err = client
            .simple_query(sql)
            .await
            .expect_err(&format!("{sql} should fail"));
        assert_eq!(sqlstate(&err), expected, "{sql}: {err:?}");
        assert_eq!(
            scalar(&client, "SELECT 1").await,
            "1",
            "session survives {sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_a_message_and_hint() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id INT, name TEXT)")
        .await
        .expect("create");
    let err = client
        .simple_query("SELECT nam FROM t")
        .await
        .expect_err("unknown column");
    let db = err.as_db_error().expect("db error");
    assert!(db.message().contains("nam"), "{}", db.message());
    assert!(
        db.hint().is_some_and(|h| h.contains("name")),
        "{:?}",
        db.hint()
    );
}
