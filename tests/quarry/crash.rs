//! Crash safety with the real binary: SIGKILL during a large CTAS and during a
//! COPY leaves the table absent or complete, never partial. Also: SIGTERM stops
//! the server cleanly.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use quarry_test_macros::quarry_test;

use crate::harness::{Process, connect, scalar, texts};

#[quarry_test]
async fn sigkill_during_ctas_leaves_no_partial_table() {
    const ROWS: i64 = 20_000_000;
    for delay_ms in [100u64, 700, 2500] {
        let dir = tempfile::tempdir().expect("dir");
        let server = Process::spawn(dir.path());
        let client = connect(&server.url()).await;
        let ctas = tokio::spawn(async move {
            let _ = client
                .batch_execute(&format!(
                    "CREATE TABLE big AS SELECT value AS id, value * 2 AS twice FROM generate_series(1, {ROWS}) AS g(value)"
                ))
                .await;
        });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill();
        let _ = ctas.await;

        let server = Process::spawn(dir.path());
        let client = connect(&server.url()).await;
        match client
            .simple_query("SELECT count(*), sum(twice) FROM big")
            .await
        {
            Ok(_) => {
                let counts = texts(&client, "SELECT count(*) FROM big").await;
                assert_eq!(
                    counts,
                    vec![Some(ROWS.to_string())],
                    "after {delay_ms} ms: partial table"
                );
            }
            Err(e) => assert_eq!(
                e.code().map(|c| c.code()),
                Some("42P01"),
                "after {delay_ms} ms: {e}"
            ),
        }
        server.kill();
    }
}

#[quarry_test]
async fn sigkill_during_copy_leaves_the_table_as_it_was() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE t (id BIGINT, name TEXT); INSERT INTO t VALUES (0, 'committed')",
        )
        .await
        .expect("setup");
    let sink = client
        .copy_in("COPY t FROM STDIN (FORMAT csv)")
        .await
        .expect("copy starts");
    futures::pin_mut!(sink);
    let mut chunk = String::new();
    for i in 1..=100_000 {
        chunk.push_str(&format!("{i},name{i}\n"));
    }
    for _ in 0..10 {
        sink.send(Bytes::from(chunk.clone())).await.expect("send");
    }
    server.kill();
    let _ = sink.finish().await;

    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "1");
    server.kill();
}

#[quarry_test]
async fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute("CREATE TABLE kept AS SELECT 1 AS x")
        .await
        .expect("create");
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut exited = None;
    for _ in 0..150 {
        if let Some(s) = server.child.try_wait().expect("wait") {
            exited = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = exited.expect("exited within 15 s");
    assert!(status.success(), "{status}");
    drop(client);
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT x FROM kept").await, "1");
    server.kill();
}
