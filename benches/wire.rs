//! Wire round trips against an in-process server over loopback, through
//! tokio-postgres: the floor every SQL call pays. `benches/wire_compare.py`
//! puts the same measurements side by side with PostgreSQL.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use quarry::{Config, Server};
use tokio::runtime::Runtime;
use tokio_postgres::NoTls;

fn wire(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let (client, _stop) = rt.block_on(async {
        let server = Server::start(Config::for_data_dir(dir.path()))
            .await
            .expect("server");
        let addr = server.pg_addr().expect("addr");
        let stop = server.shutdown_token();
        tokio::spawn(server.serve(Duration::from_secs(1)));
        let url = format!("host={} port={} user=quarry", addr.ip(), addr.port());
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE rows_100k AS SELECT value AS id, value * 0.5 AS x, \
                 concat('row ', value) AS label FROM generate_series(1, 100000) AS g(value)",
            )
            .await
            .expect("table");
        (client, stop)
    });
    let mut group = c.benchmark_group("wire");
    group.bench_function("select_1/simple", |b| {
        b.iter(|| rt.block_on(client.simple_query("SELECT 1")).expect("query"))
    });
    let stmt = rt
        .block_on(client.prepare("SELECT $1::int"))
        .expect("prepare");
    group.bench_function("select_param/prepared", |b| {
        b.iter(|| {
            rt.block_on(client.query_one(&stmt, &[&1i32]))
                .expect("query")
        })
    });
    group.sample_size(10);
    group.bench_function("fetch/100k_rows_x3/binary", |b| {
        b.iter(|| {
            let rows = rt
                .block_on(client.query("SELECT id, x, label FROM rows_100k", &[]))
                .expect("query");
            assert_eq!(rows.len(), 100_000);
        })
    });
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
