//! One statement per SQLSTATE of the error contract; none of them may be XX000,
//! and the session keeps working after each.

use quarry_test_macros::quarry_test;

use crate::harness::{TestServer, scalar, sqlstate};

#[quarry_test]
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
        ("SELECT CAST('abc' AS INT)", "22P02"),
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

#[quarry_test]
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
    // A call that matches no signature: PostgreSQL's message, and how the
    // function is called instead of DataFusion's signature enum.
    let err = client
        .simple_query("SELECT ml_deploy('m', 'two')")
        .await
        .expect_err("wrong argument types");
    let db = err.as_db_error().expect("db error");
    assert_eq!(
        db.message(),
        "function ml_deploy(text, text) does not exist"
    );
    assert_eq!(
        db.hint(),
        Some(
            "it is called as ml_deploy(model text, version bigint [, alias text [, traffic double precision]])"
        )
    );
    // A scoring call missing features points to the table form, which is
    // ml_predict's whatever the scalar (there is no table ml_predict_proba).
    client
        .batch_execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'a'), (4, 'b')")
        .await
        .expect("rows");
    client
        .batch_execute(
            "CREATE MODEL hinted OPTIONS (algorithm = 'logistic', label = 'name', features = 'id', split = 'none') AS SELECT * FROM t",
        )
        .await
        .expect("model");
    let err = client
        .simple_query("SELECT ml_predict_proba('hinted', name) FROM t")
        .await
        .expect_err("not the model's feature");
    let hint = err.as_db_error().and_then(|d| d.hint()).unwrap_or_default();
    assert!(
        hint.contains("SELECT * FROM ml_predict('hinted', table)"),
        "{hint}"
    );
}

#[quarry_test]
async fn a_bound_value_that_cannot_be_converted_names_its_parameter() {
    // The client declares $2 as text (as JDBC does for setString) and binds
    // a value the statement's integer cannot take.
    let server = TestServer::start().await;
    let client = server.connect().await;
    let statement = client
        .prepare_typed(
            "SELECT $1::int + $2::int",
            &[
                tokio_postgres::types::Type::INT4,
                tokio_postgres::types::Type::TEXT,
            ],
        )
        .await
        .expect("prepares");
    let err = client
        .query_one(&statement, &[&1i32, &"twelve"])
        .await
        .expect_err("twelve is not an integer");
    assert_eq!(sqlstate(&err), "22000", "{err}");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        message.contains("parameter $2") && message.contains("twelve") && message.contains("int4"),
        "{message}"
    );
    let row = client
        .query_one(&statement, &[&1i32, &"41"])
        .await
        .expect("41 is");
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(scalar(&client, "SELECT 1").await, "1");
    server.stop().await;
}

/// psql puts a caret under the statement where an error is: PostgreSQL's
/// POSITION, the index of the character from 1.
#[quarry_test]
async fn errors_say_where_in_the_statement_they_are() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id INT, name TEXT)")
        .await
        .expect("create");
    let cases = [
        ("SELEC 1", 1),
        ("SELECT id FROM no_such_table", 16),
        ("SELECT id,\n       nam FROM t", 19),
        ("SELECT 1, no_such_function(1)", 11),
    ];
    for (sql, expected) in cases {
        for prepared in [false, true] {
            let err = if prepared {
                client.prepare(sql).await.map(drop)
            } else {
                client.simple_query(sql).await.map(drop)
            }
            .expect_err(sql);
            let position = err.as_db_error().and_then(|db| db.position()).cloned();
            assert_eq!(
                position,
                Some(tokio_postgres::error::ErrorPosition::Original(expected)),
                "{sql} (prepared: {prepared}): {err:?}"
            );
        }
    }
    // An error raised while running has no place in the text.
    let err = client
        .simple_query("SELECT 1 / 0")
        .await
        .expect_err("division");
    assert!(err.as_db_error().and_then(|db| db.position()).is_none());
}
