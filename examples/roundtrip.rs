//! Round-trip latency of `SELECT 1` through tokio-postgres against a URL.
//! `cargo run --release --example roundtrip -- "host=127.0.0.1 port=5433 user=quarry"`

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1).expect("connection string");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let n = 5000;
    for sql in ["SELECT 1"] {
        client.simple_query(sql).await.expect("warm");
        let t = Instant::now();
        for _ in 0..n {
            client.simple_query(sql).await.expect("query");
        }
        println!(
            "simple {sql}: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    let stmt = client.prepare("SELECT $1::int").await.expect("prepare");
    let t = Instant::now();
    for _ in 0..n {
        client.query_one(&stmt, &[&1i32]).await.expect("query");
    }
    println!(
        "prepared SELECT $1::int: {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
