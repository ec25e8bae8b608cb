//! What no client may do to the server: each case runs against the real
//! binary, and the process is checked alive (and answering) after it.

use quarry_test_macros::quarry_test;
use quarry_udfs::kernels::rng::SplitMix;
use tokio_postgres::Client;

use crate::harness::{Process, connect, scalar, sqlstate};

/// `sql` (simple and extended protocol) either answers `expected` or fails
/// with 54001; the server survives either way.
async fn answered_or_too_complex(
    server: &mut Process,
    client: &Client,
    what: &str,
    sql: &str,
    expected: &str,
) {
    match client.simple_query(sql).await {
        Ok(messages) => {
            let row = messages
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
                    _ => None,
                })
                .flatten();
            assert_eq!(row.as_deref(), Some(expected), "{what}");
        }
        Err(e) => assert_eq!(sqlstate(&e), "54001", "{what}: {e}"),
    }
    server.assert_alive(what);
    match client.query_one(sql, &[]).await {
        Ok(row) => {
            let got: String = row
                .try_get::<_, i64>(0)
                .map(|v| v.to_string())
                .or_else(|_| row.try_get::<_, String>(0))
                .expect("a bigint or text");
            assert_eq!(got, expected, "{what} (extended protocol)");
        }
        Err(e) => assert_eq!(sqlstate(&e), "54001", "{what} (extended): {e}"),
    }
    server.assert_alive(what);
    let fresh = connect(&server.url()).await;
    assert_eq!(scalar(&fresh, "SELECT 1").await, "1", "after {what}");
}

fn chain(terms: impl Iterator<Item = String>, op: &str) -> String {
    terms.collect::<Vec<_>>().join(op)
}

#[quarry_test]
async fn long_operator_chains_never_take_the_server_down() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE t AS SELECT value AS id FROM generate_series(0, 99) AS g(value)",
        )
        .await
        .expect("table");
    let n = 10_000;
    let cases = [
        (
            "10,000 + terms",
            format!("SELECT {}", chain((0..n).map(|_| "1".into()), "+")),
            n.to_string(),
        ),
        (
            "10,000 OR terms",
            format!(
                "SELECT count(*) FROM t WHERE {}",
                chain((0..n).map(|i| format!("id = {}", i * 2)), " OR ")
            ),
            "50".into(),
        ),
        // Over VALUES: over a Parquet table DataFusion's pruning predicate
        // builder is quadratic in a conjunction's length (answered, slowly).
        (
            "10,000 AND terms",
            format!(
                "SELECT count(*) FROM generate_series(0, 99) AS g(id) WHERE {}",
                chain((0..n).map(|i| format!("id <> {}", i + 90)), " AND ")
            ),
            "90".into(),
        ),
        (
            "10,000 || terms",
            format!(
                "SELECT length({})",
                chain((0..n).map(|_| "'ab'".into()), " || ")
            ),
            (2 * n).to_string(),
        ),
        (
            "5,000 UNION ALL arms",
            format!(
                "SELECT count(*) FROM ({}) u",
                chain(
                    (0..5_000).map(|i| format!("SELECT {i} AS x")),
                    " UNION ALL "
                )
            ),
            "5000".into(),
        ),
        (
            "5,000 UNION arms",
            format!(
                "SELECT count(*) FROM ({}) u",
                chain(
                    (0..5_000).map(|i| format!("SELECT {} AS x", i % 7)),
                    " UNION "
                )
            ),
            "7".into(),
        ),
        (
            "10,000 EXCEPT arms",
            format!(
                "SELECT count(*) FROM ({}) u",
                chain((0..n).map(|i| format!("SELECT {i} AS x")), " EXCEPT ")
            ),
            "1".into(),
        ),
        (
            "10,000 casts",
            format!("SELECT length('7'{})", "::text".repeat(n)),
            "1".into(),
        ),
        (
            "100 nested parentheses",
            format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100)),
            "1".into(),
        ),
        (
            "200,000 - terms",
            format!("SELECT {}", chain((0..200_000).map(|_| "1".into()), "-")),
            (1 - 199_999).to_string(),
        ),
    ];
    for (what, sql, expected) in &cases {
        answered_or_too_complex(&mut server, &client, what, sql, expected).await;
    }
    // The common shapes are answered, not refused.
    for what in [
        "10,000 OR terms",
        "10,000 AND terms",
        "5,000 UNION ALL arms",
    ] {
        let (_, sql, expected) = cases.iter().find(|c| c.0 == what).expect("case");
        assert_eq!(&scalar(&client, sql).await, expected, "{what}");
    }
    let err = client
        .simple_query(&cases[9].1)
        .await
        .expect_err("200,000 terms nest too deep");
    assert_eq!(sqlstate(&err), "54001");
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("5000 levels")),
        "{message:?}"
    );
    server.kill();
}

#[quarry_test]
async fn a_view_over_a_long_or_list_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    let terms = chain((0..10_000).map(|i| format!("id = {}", i * 3)), " OR ");
    client
        .batch_execute(&format!(
            "CREATE TABLE t AS SELECT value AS id FROM generate_series(0, 99) AS g(value);
             CREATE VIEW v AS SELECT id FROM t WHERE {terms}"
        ))
        .await
        .expect("view");
    assert_eq!(scalar(&client, "SELECT count(*) FROM v").await, "34");
    drop(client);
    server.kill();
    let mut server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM v").await, "34");
    server.assert_alive("reading the view after a restart");
    server.kill();
}

#[quarry_test]
async fn training_beyond_the_memory_limit_is_53200_not_an_abort() {
    let dir = tempfile::tempdir().expect("dir");
    // An address-space cap as well as Quarry's own limit: an allocation
    // that escaped the accounting would abort the process here.
    let mut server = Process::spawn_with(
        dir.path(),
        &["--memory-limit", "64MB"],
        &["prlimit", "--as=6000000000", "--"],
    );
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE wide AS SELECT value AS id, value * 0.5 AS a, value % 7 AS b, \
             value % 13 AS c, value % 2 = 0 AS y FROM generate_series(1, 800000) AS g(value)",
        )
        .await
        .expect("table");
    let err = client
        .batch_execute(
            "CREATE MODEL big OPTIONS (algorithm = 'logistic', label = 'y') AS SELECT * FROM wide",
        )
        .await
        .expect_err("rows fit in 64 MB, the fit's working data does not");
    assert_eq!(sqlstate(&err), "53200", "{err:?}");
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("working data")),
        "{message:?}"
    );
    server.assert_alive("training past the memory limit");
    for options in [
        "algorithm = 'gbdt', label = 'y', rounds = 1e12",
        "algorithm = 'random_forest', label = 'y', trees = 1e8",
        "algorithm = 'logistic', label = 'y', encode = 'b:hash:1e12'",
        "algorithm = 'kmeans', k = 1e7",
    ] {
        let err = client
            .batch_execute(&format!(
                "CREATE MODEL huge OPTIONS ({options}) AS SELECT * FROM wide LIMIT 100"
            ))
            .await
            .expect_err(options);
        assert_eq!(sqlstate(&err), "22023", "{options}: {err:?}");
        server.assert_alive(options);
    }
    client
        .batch_execute(
            "CREATE MODEL small OPTIONS (algorithm = 'logistic', label = 'y') \
             AS SELECT * FROM wide LIMIT 2000",
        )
        .await
        .expect("a training within the limit");
    server.kill();
}

#[quarry_test]
async fn no_statement_writes_or_reads_inside_the_data_directory() {
    let root = tempfile::tempdir().expect("dir");
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let mut server = Process::spawn(&data);
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE t AS SELECT value AS id FROM generate_series(1, 300000) AS g(value)",
        )
        .await
        .expect("table");
    let mut parquet = Vec::new();
    crate::harness::files_with_extension(&data.join("tables"), "parquet", &mut parquet);
    let victim = parquet.first().expect("the table's file").clone();
    let link = root.path().join("link");
    std::os::unix::fs::symlink(&data, &link).expect("symlink");
    let relative = victim.strip_prefix(&data).expect("inside");
    let spellings = [
        victim.display().to_string(),
        format!(
            "{}/../{}",
            data.join("tables").display(),
            relative.display()
        ),
        link.join(relative).display().to_string(),
        data.join("new.csv").display().to_string(),
    ];
    for target in &spellings {
        for sql in [
            format!("COPY (SELECT 1 AS id) TO '{target}'"),
            format!("COPY (SELECT 1 AS id) TO '{target}' STORED AS PARQUET"),
            format!("CREATE EXTERNAL TABLE e STORED AS PARQUET LOCATION '{target}'"),
        ] {
            let err = client.batch_execute(&sql).await.expect_err(&sql);
            assert_eq!(sqlstate(&err), "42501", "{sql}: {err:?}");
            server.assert_alive(&sql);
        }
    }
    // Outside it, a superuser may still write files.
    let export = root.path().join("export.csv");
    client
        .batch_execute(&format!("COPY t TO '{}' (HEADER)", export.display()))
        .await
        .expect("COPY TO outside the data directory");
    assert!(export.exists());
    drop(client);
    server.kill();
    let server = Process::spawn(&data);
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM t").await, "300000");
    server.kill();
}

#[quarry_test]
async fn a_killed_create_model_leaves_its_version_and_snapshot_together_or_neither() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE rows AS SELECT value AS id, value % 97 * 0.5 AS a, value % 13 AS b, \
             value % 3 = 0 AS y FROM generate_series(1, 400000) AS g(value)",
        )
        .await
        .expect("table");
    drop(client);
    server.kill();
    let mut trained = 0;
    for (round, delay_ms) in [40u64, 120, 250, 400, 600, 900, 1400, 2200, 4000, 8000]
        .iter()
        .enumerate()
    {
        let server = Process::spawn(dir.path());
        let client = connect(&server.url()).await;
        let sql = format!(
            "CREATE MODEL m{round} OPTIONS (algorithm = 'logistic', label = 'y', snapshot = true) \
             AS SELECT * FROM rows"
        );
        let training = tokio::spawn(async move {
            let _ = client.batch_execute(&sql).await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(*delay_ms)).await;
        server.kill();
        let _ = training.await;

        let server = Process::spawn(dir.path());
        let client = connect(&server.url()).await;
        let orphans = scalar(
            &client,
            "SELECT count(*) FROM ml_model_versions v WHERE NOT EXISTS \
             (SELECT 1 FROM ml_snapshots s WHERE s.model = v.model AND s.model_version = v.version)",
        )
        .await;
        assert_eq!(
            orphans, "0",
            "a version without its snapshot after a kill at {delay_ms} ms"
        );
        let strays = scalar(
            &client,
            "SELECT count(*) FROM ml_snapshots s WHERE s.model IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM ml_model_versions v WHERE s.model = v.model AND s.model_version = v.version)",
        )
        .await;
        assert_eq!(
            strays, "0",
            "a snapshot without its version after a kill at {delay_ms} ms"
        );
        trained = scalar(&client, "SELECT count(*) FROM ml_model_versions")
            .await
            .parse()
            .expect("count");
        server.kill();
    }
    // Some kills came after the commit: the check saw versions, not only none.
    assert!(
        trained > 0,
        "no training finished before its kill; lengthen the delays"
    );
}

#[quarry_test]
async fn external_tables_come_back_from_a_restart_exactly_as_defined() {
    let root = tempfile::tempdir().expect("dir");
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let files = root.path().join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    std::fs::write(files.join("pipe.csv"), "1|x|1.5\n2|y|2.5\n").expect("csv");
    std::fs::write(files.join("head.csv"), "a,b\n1,2\n3,4\n").expect("csv");
    std::fs::write(
        files.join("rows.json"),
        "{\"k\": 1, \"v\": \"a\"}\n{\"k\": 2, \"v\": \"b\"}\n",
    )
    .expect("json");
    let server = Process::spawn(&data);
    let client = connect(&server.url()).await;
    let f = files.display();
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE pipe (a INT, b TEXT, c DOUBLE) STORED AS CSV \
               LOCATION '{f}/pipe.csv' OPTIONS ('format.delimiter' '|', 'format.has_header' 'false');
             CREATE EXTERNAL TABLE head STORED AS CSV LOCATION '{f}/head.csv' \
               OPTIONS ('format.has_header' 'true');
             CREATE EXTERNAL TABLE js (k SMALLINT, v TEXT) STORED AS JSON LOCATION '{f}/rows.json';
             COPY (SELECT CAST(value AS INT) AS n FROM generate_series(1, 5) AS g(value)) \
               TO '{f}/pq/' STORED AS PARQUET;
             CREATE EXTERNAL TABLE pq STORED AS PARQUET LOCATION '{f}/pq/';"
        ))
        .await
        .expect("external tables");
    let probe = "SELECT concat_ws(' ', table_name, column_name, data_type) \
                 FROM information_schema.columns \
                 WHERE table_name IN ('pipe', 'head', 'js', 'pq') ORDER BY table_name, ordinal_position";
    let reads = [
        "SELECT concat_ws('/', a, b, c) FROM pipe ORDER BY a",
        "SELECT concat_ws('/', a, b) FROM head ORDER BY a",
        "SELECT concat_ws('/', k, v) FROM js ORDER BY k",
        "SELECT sum(n) FROM pq",
    ];
    let mut before = vec![crate::harness::texts(&client, probe).await];
    for sql in reads {
        before.push(crate::harness::texts(&client, sql).await);
    }
    assert_eq!(
        before[1],
        vec![Some("1/x/1.5".into()), Some("2/y/2.5".into())]
    );
    assert_eq!(before[2], vec![Some("1/2".into()), Some("3/4".into())]);
    drop(client);
    server.kill();

    let server = Process::spawn(&data);
    let client = connect(&server.url()).await;
    let mut after = vec![crate::harness::texts(&client, probe).await];
    for sql in reads {
        after.push(crate::harness::texts(&client, sql).await);
    }
    assert_eq!(before, after, "what a restart brought back differs");
    drop(client);
    server.kill();

    // A definition that cannot load stays visible and says why.
    std::fs::remove_file(files.join("head.csv")).expect("remove");
    let mut server = Process::spawn(&data);
    let client = connect(&server.url()).await;
    let err = client
        .batch_execute("SELECT * FROM head")
        .await
        .expect_err("its file is gone");
    assert_eq!(sqlstate(&err), "55000", "{err:?}");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("could not be loaded"), "{message}");
    // Naming a column it had is the same error, not "column does not exist".
    let err = client
        .batch_execute("SELECT a FROM head WHERE b > 1")
        .await
        .expect_err("its file is gone");
    assert_eq!(sqlstate(&err), "55000", "{err:?}");
    // The catalog lists it, with the reason.
    let listed = scalar(
        &client,
        "SELECT concat_ws(' ', schema_name, name, kind, reason LIKE '%head.csv%') \
         FROM quarry_unloadable_relations",
    )
    .await;
    assert_eq!(listed, "public head external table true");
    assert_eq!(scalar(&client, "SELECT count(*) FROM pipe").await, "2");
    client
        .batch_execute("DROP TABLE head")
        .await
        .expect("droppable");
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM quarry_unloadable_relations").await,
        "0"
    );
    server.assert_alive("reading a table that could not load");
    server.kill();
}

/// The table's live Parquet files on disk (leftover temporary files aside).
fn parquet_files(data: &std::path::Path) -> usize {
    let mut files = Vec::new();
    crate::harness::files_with_extension(&data.join("tables"), "parquet", &mut files);
    files.len()
}

#[quarry_test]
async fn a_thousand_inserts_are_compacted_and_old_files_vacuumed() {
    let dir = tempfile::tempdir().expect("dir");
    // The default retention (an hour) keeps replaced files for the reader.
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute("CREATE TABLE t (id BIGINT, v TEXT)")
        .await
        .expect("table");
    // A reader all along: it never fails and never sees rows disappear.
    let reader = connect(&server.url()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reading = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut last = 0i64;
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n: i64 = reader
                    .query_one("SELECT count(*) FROM t", &[])
                    .await
                    .expect("a read during compaction")
                    .get(0);
                assert!(n >= last, "rows went from {last} to {n}");
                last = n;
                reads += 1;
            }
            reads
        })
    };
    for i in 0..1000 {
        client
            .execute("INSERT INTO t VALUES ($1, 'row')", &[&(i as i64)])
            .await
            .expect("insert");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reading.await.expect("reader") > 0);
    // Background compaction kept the live files far below one per insert.
    let live = scalar(&client, "SELECT count(*) FROM t").await;
    assert_eq!(live, "1000");
    drop(client);
    server.kill();
    // With no retention (and no reader left), OPTIMIZE merges what is left
    // and the replaced files go.
    let server = Process::spawn_with(dir.path(), &["--vacuum-retention", "0s"], &[]);
    let client = connect(&server.url()).await;
    client.batch_execute("VACUUM").await.expect("vacuum all");
    let before = parquet_files(dir.path());
    assert!(
        before < 200,
        "{before} files after 1,000 inserts and compaction"
    );
    client.batch_execute("OPTIMIZE t").await.expect("optimize");
    client.batch_execute("VACUUM t").await.expect("vacuum");
    let after = parquet_files(dir.path());
    assert!(after <= 2, "{after} files after OPTIMIZE and VACUUM");
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) || ' ' || sum(id) || ' ' || count(DISTINCT id) FROM t"
        )
        .await,
        "1000 499500 1000"
    );
    drop(client);
    server.kill();
    // Committed as any write is: the same rows after a restart.
    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    assert_eq!(
        scalar(&client, "SELECT count(*) || ' ' || sum(id) FROM t").await,
        "1000 499500"
    );
    server.kill();
}

/// A seeded draw from `items`, so a failure replays.
fn pick<'a>(dice: &mut SplitMix, items: &[&'a str]) -> &'a str {
    items[(dice.next_u64() % items.len() as u64) as usize]
}

#[quarry_test]
async fn ml_functions_survive_fuzzed_arguments() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute(
            "CREATE TABLE f AS SELECT value AS id, value % 7 * 1.5 AS x, value % 3 AS c, \
             value % 2 = 0 AS y, CAST(value AS TIMESTAMP) AS ts FROM generate_series(1, 200) AS g(value)",
        )
        .await
        .expect("table");
    client
        .batch_execute(
            "CREATE MODEL fm OPTIONS (algorithm = 'logistic', label = 'y', features = 'x,c') AS SELECT * FROM f",
        )
        .await
        .expect("model");
    let functions: Vec<String> = crate::harness::texts(
        &client,
        "SELECT DISTINCT routine_name FROM information_schema.routines \
         WHERE routine_name LIKE 'ml\\_%' ORDER BY 1",
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    assert!(functions.len() > 20, "{functions:?}");
    let args = [
        "NULL",
        "''",
        "'fm'",
        "'fm@1'",
        "'fm@99'",
        "'nope'",
        "'f'",
        "'x'",
        "'y'",
        "'id'",
        "'x,c'",
        "'SELECT * FROM f'",
        "'SELECT'",
        "0",
        "-1",
        "1",
        "2",
        "1e308",
        "-1e308",
        "'NaN'::double",
        "9223372036854775807",
        "0.5",
        "true",
        "x",
        "y",
        "c",
        "ts",
        "id",
        "'{}'",
        "'{\"a\": 1}'",
        "'[1,2'",
        "repeat('z', 10000)",
        "struct(x AS x, c AS c)",
        "'2024-01-01'",
        "interval '1 day'",
        "[1.0, 2.0]",
        "'auc'",
        "'platt'",
        "'ks'",
    ];
    let mut dice = SplitMix(20_261_205);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut calls, mut internal) = (0usize, Vec::new());
    while std::time::Instant::now() < deadline {
        let function = &functions[(dice.next_u64() % functions.len() as u64) as usize];
        let n = dice.next_u64() % 5;
        let list: Vec<&str> = (0..n).map(|_| pick(&mut dice, &args)).collect();
        let call = format!("{function}({})", list.join(", "));
        let sql = if dice.next_u64().is_multiple_of(2) {
            format!("SELECT {call} FROM f LIMIT 3")
        } else {
            format!("SELECT * FROM {call} LIMIT 3")
        };
        calls += 1;
        match tokio::time::timeout(
            std::time::Duration::from_secs(20),
            client.simple_query(&sql),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if sqlstate(&e).starts_with("XX") => internal.push(format!("{sql}: {e}")),
            Ok(Err(e)) if e.is_closed() => panic!("the connection died on {sql}: {e}"),
            Ok(Err(_)) => {}
            Err(_) => {
                server.assert_alive(&sql);
                panic!("{sql} ran for over 20 s");
            }
        }
        server.assert_alive(&sql);
    }
    eprintln!(
        "fuzzed {calls} calls over {} ml_ functions",
        functions.len()
    );
    assert!(calls > 100, "only {calls} calls in a minute");
    assert!(
        internal.is_empty(),
        "{} internal errors in {calls} calls:\n{}",
        internal.len(),
        internal.join("\n")
    );
    server.kill();
}

/// A frontend message: type byte, length, body.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Backend messages until ReadyForQuery or the end of the stream.
async fn replies(socket: &mut tokio::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    loop {
        let mut header = [0u8; 5];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            socket.read_exact(&mut header),
        )
        .await
        .expect("an answer, not silence");
        if read.is_err() {
            return out;
        }
        let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length - 4];
        socket.read_exact(&mut body).await.expect("message body");
        out.push((header[0], body));
        if header[0] == b'Z' {
            return out;
        }
    }
}

/// The SQLSTATE of the first ErrorResponse among `replies`.
fn error_code(replies: &[(u8, Vec<u8>)]) -> Option<String> {
    let (_, body) = replies.iter().find(|(kind, _)| *kind == b'E')?;
    body.split(|b| *b == 0)
        .find_map(|field| field.strip_prefix(b"C"))
        .map(|code| String::from_utf8_lossy(code).into_owned())
}

/// A trusted session on a raw socket, past its first ReadyForQuery.
async fn raw_session(port: u16) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0quarry\0database\0quarry\0\0");
    let mut startup = (body.len() as i32 + 4).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    socket.write_all(&startup).await.expect("startup");
    let answer = replies(&mut socket).await;
    assert_eq!(answer.last().map(|m| m.0), Some(b'Z'), "{answer:?}");
    socket
}

#[quarry_test]
async fn malformed_messages_are_protocol_errors_and_bad_utf8_is_22021() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Process::spawn(dir.path());
    let parse = frame(b'P', b"\0SELECT $1::int\0\0\0");
    let sync = frame(b'S', b"");
    // Bind: unnamed portal and statement, no formats, one parameter.
    let bind_with = |length: i32, count: i16| {
        let mut body = b"\0\0\0\0".to_vec();
        body.extend_from_slice(&count.to_be_bytes());
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(b"42\0\0");
        frame(b'B', &body)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Used to panic the connection task (split_to past the end).
        ("parameter longer than the message", bind_with(1_000_000, 1)),
        ("negative parameter length", bind_with(-5, 1)),
        ("negative parameter count", bind_with(2, -1)),
        ("Describe without a body", frame(b'D', b"")),
        ("Execute cut short", frame(b'E', b"\0\0")),
        ("length below four", vec![b'Q', 0, 0, 0, 2]),
    ];
    for (what, bad) in cases {
        let mut socket = raw_session(server.port).await;
        let mut sent = parse.clone();
        sent.extend_from_slice(&bad);
        sent.extend_from_slice(&sync);
        socket.write_all(&sent).await.expect("send");
        let answer = replies(&mut socket).await;
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("08P01"),
            "{what}: {answer:?}"
        );
        server.assert_alive(what);
    }
    // Before authentication a message is at most 10,000 bytes.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    socket
        .write_all(&1_000_000i32.to_be_bytes())
        .await
        .expect("send");
    socket
        .write_all(&196_608i32.to_be_bytes())
        .await
        .expect("send");
    assert_eq!(
        error_code(&replies(&mut socket).await).as_deref(),
        Some("08P01")
    );

    // Text that is not UTF-8 is 22021, in both protocols, and the session
    // goes on.
    let mut socket = raw_session(server.port).await;
    socket
        .write_all(&frame(b'Q', b"SELECT 'caf\xe9'\0"))
        .await
        .expect("send");
    let answer = replies(&mut socket).await;
    assert_eq!(error_code(&answer).as_deref(), Some("22021"), "{answer:?}");
    let message = String::from_utf8_lossy(&answer.iter().find(|m| m.0 == b'E').expect("present").1)
        .into_owned();
    assert!(
        message.contains("invalid byte sequence for encoding \"UTF8\": 0xe9 0x27"),
        "{message}"
    );
    let mut extended = frame(b'P', b"\0SELECT '\xff'\0\0\0");
    extended.extend_from_slice(&sync);
    socket.write_all(&extended).await.expect("send");
    assert_eq!(
        error_code(&replies(&mut socket).await).as_deref(),
        Some("22021")
    );
    socket
        .write_all(&frame(b'Q', "SELECT 'café'\0".as_bytes()))
        .await
        .expect("send");
    let answer = replies(&mut socket).await;
    assert!(
        answer
            .iter()
            .any(|(kind, body)| *kind == b'D' && body.ends_with("café".as_bytes())),
        "{answer:?}"
    );
    server.assert_alive("invalid UTF-8");
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT 1").await, "1");
    server.kill();
}
