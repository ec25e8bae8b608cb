//! COPY FROM STDIN: csv and text, headers, column lists, and atomic failure.

use bytes::Bytes;
use futures::SinkExt;
use quarry_test_macros::quarry_test;
use tokio_postgres::Client;

use crate::harness::{TestServer, scalar, sqlstate, texts};

pub async fn copy(client: &Client, sql: &str, data: &str) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in(sql).await?;
    futures::pin_mut!(sink);
    sink.send(Bytes::copy_from_slice(data.as_bytes())).await?;
    sink.finish().await
}

#[quarry_test]
async fn csv_with_header_and_text_formats_load() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE people (id BIGINT, name TEXT, score DOUBLE PRECISION, active BOOLEAN)",
        )
        .await
        .expect("create");
    let n = copy(
        &client,
        "COPY people FROM STDIN (FORMAT csv, HEADER)",
        "id,name,score,active\n1,\"Smith, Ann\",9.5,true\n2,,7,false\n3,\"\",,t\n",
    )
    .await
    .expect("csv copy");
    assert_eq!(n, 3);
    let n = copy(
        &client,
        "COPY people FROM STDIN",
        "4\tBo\\tb\t1.25\tf\n5\t\\N\t\\N\t\\N\n",
    )
    .await
    .expect("text copy");
    assert_eq!(n, 2);
    assert_eq!(scalar(&client, "SELECT count(*) FROM people").await, "5");
    assert_eq!(
        texts(&client, "SELECT name FROM people ORDER BY id").await,
        vec![
            Some("Smith, Ann".into()),
            None,
            Some("".into()),
            Some("Bo\tb".into()),
            None
        ]
    );
    assert_eq!(
        scalar(&client, "SELECT sum(score) FROM people").await,
        "17.75"
    );
}

#[quarry_test]
async fn column_lists_fill_the_rest_with_null() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (a INT, b TEXT, c INT)")
        .await
        .expect("create");
    copy(
        &client,
        "COPY t (c, a) FROM STDIN (FORMAT csv)",
        "3,1\n30,10\n",
    )
    .await
    .expect("copy");
    assert_eq!(
        texts(
            &client,
            "SELECT a::text || '/' || coalesce(b, '-') || '/' || c::text FROM t ORDER BY a"
        )
        .await,
        vec![Some("1/-/3".into()), Some("10/-/30".into())]
    );
}

#[quarry_test]
async fn a_bad_row_aborts_with_its_line_and_commits_nothing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id INT, name TEXT); INSERT INTO t VALUES (0, 'before')")
        .await
        .expect("create");
    let mut data = String::from("id,name\n");
    for i in 1..=20_000 {
        data.push_str(&format!("{i},row{i}\n"));
    }
    data.push_str("oops,bad\n");
    data.push_str("20001,after\n");
    let err = copy(&client, "COPY t FROM STDIN (FORMAT csv, HEADER)", &data)
        .await
        .expect_err("bad row");
    assert_eq!(sqlstate(&err), "22P02");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("line 20002"), "{message}");
    assert!(
        message.ends_with("invalid input syntax for type integer: \"oops\""),
        "{message}"
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");

    // As PostgreSQL: a number too large for the column is 22003, a NUL
    // (raw or escaped) is 22021; nothing is copied either way.
    for (data, code) in [
        ("99999999999\tbig\n", "22003"),
        ("1\ta\\000b\n", "22021"),
        ("1\ta\0b\n", "22021"),
    ] {
        let err = copy(&client, "COPY t FROM STDIN", data)
            .await
            .expect_err(data);
        assert_eq!(sqlstate(&err), code, "{data:?}: {err:?}");
    }
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");

    let err = copy(&client, "COPY t FROM STDIN (FORMAT csv)", "1,a\n2,b,c\n")
        .await
        .expect_err("extra column");
    assert_eq!(sqlstate(&err), "22P04");
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");

    let err = copy(&client, "COPY missing FROM STDIN", "")
        .await
        .expect_err("no table");
    assert_eq!(sqlstate(&err), "42P01");
    assert_eq!(scalar(&client, "SELECT 'usable'").await, "usable");
}

async fn copy_out(client: &Client, sql: &str) -> String {
    use futures::TryStreamExt;
    let stream = client.copy_out(sql).await.expect("copy out starts");
    let chunks: Vec<Bytes> = stream.try_collect().await.expect("copy out data");
    String::from_utf8(chunks.concat()).expect("utf8")
}

#[quarry_test]
async fn copy_to_stdout_round_trips_through_copy_from() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE src (id INT, name TEXT, ok BOOLEAN, at TIMESTAMP);
             INSERT INTO src VALUES (1, 'a,b', true, '2024-01-02 03:04:05'), (2, NULL, false, NULL), (3, '', NULL, NULL);
             CREATE TABLE dst (id INT, name TEXT, ok BOOLEAN, at TIMESTAMP)",
        )
        .await
        .expect("setup");
    let csv = copy_out(
        &client,
        "COPY (SELECT * FROM src ORDER BY id) TO STDOUT (FORMAT csv, HEADER)",
    )
    .await;
    assert_eq!(
        csv,
        "id,name,ok,at\n1,\"a,b\",t,2024-01-02 03:04:05\n2,,f,\n3,\"\",,\n"
    );
    let text = copy_out(&client, "COPY src (id, name) TO STDOUT").await;
    assert!(text.contains("2\t\\N\n"), "{text}");
    // Text format escapes as PostgreSQL does; floats are spelled as SELECT
    // spells them, at the session's extra_float_digits.
    let escaped = copy_out(
        &client,
        "COPY (SELECT 'a\tb' || chr(10) || 'c\\d' || chr(13) AS s, CAST(1e16 AS DOUBLE) AS x, \
         CAST(0.1 AS DOUBLE) + 0.2 AS y, make_array(1.0, CAST('-Infinity' AS DOUBLE)) AS l) TO STDOUT",
    )
    .await;
    assert_eq!(
        escaped,
        "a\\tb\\nc\\\\d\\r\t1e+16\t0.30000000000000004\t{1,-Infinity}\n"
    );
    client
        .batch_execute("SET extra_float_digits = 0")
        .await
        .expect("set");
    let rounded = copy_out(
        &client,
        "COPY (SELECT CAST(0.1 AS DOUBLE) + 0.2 AS y) TO STDOUT (FORMAT csv)",
    )
    .await;
    assert_eq!(rounded, "0.3\n");
    copy(&client, "COPY dst FROM STDIN (FORMAT csv, HEADER)", &csv)
        .await
        .expect("load it back");
    assert_eq!(
        texts(
            &client,
            "SELECT coalesce(name, '<null>') FROM dst ORDER BY id"
        )
        .await,
        vec![Some("a,b".into()), Some("<null>".into()), Some("".into())]
    );
}
