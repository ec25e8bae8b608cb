//! Transaction blocks between sessions and across a crash: what one block
//! stages no other session sees until COMMIT; two tables commit together;
//! a replace that lost the race is 40001; a vanished client's block leaves
//! nothing; after kill -9 committed blocks are all there and open ones are
//! gone. (One session's view: `slt::pg/transactions`, answered by
//! PostgreSQL.)

use quarry_test_macros::quarry_test;
use tokio_postgres::Client;

use crate::harness::{Process, TestServer, connect, scalar, sqlstate};

async fn counts(client: &Client) -> (String, String) {
    (
        scalar(client, "SELECT count(*) FROM a").await,
        scalar(client, "SELECT count(*) FROM b").await,
    )
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[quarry_test]
async fn blocks_are_invisible_until_commit_and_commit_together() {
    let server = TestServer::start().await;
    let one = server.connect().await;
    let other = server.connect().await;
    one.batch_execute("CREATE TABLE a (x int); CREATE TABLE b (y text)")
        .await
        .expect("tables");

    // Staged in one session, invisible to the other, gone at ROLLBACK.
    one.batch_execute("BEGIN; INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES ('x')")
        .await
        .expect("staged");
    assert_eq!(
        counts(&one).await,
        pair("2", "1"),
        "a block sees its own rows"
    );
    assert_eq!(
        counts(&other).await,
        pair("0", "0"),
        "others see the committed state"
    );
    one.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(counts(&one).await, pair("0", "0"));

    // COMMIT: both tables at once, COPY included.
    one.batch_execute("BEGIN; INSERT INTO a VALUES (1), (2)")
        .await
        .expect("staged");
    let sink = one.copy_in("COPY b FROM STDIN").await.expect("copy starts");
    futures::pin_mut!(sink);
    use futures::SinkExt;
    sink.send(bytes::Bytes::from_static(b"p\nq\nr\n"))
        .await
        .expect("copy data");
    assert_eq!(sink.finish().await.expect("copy done"), 3);
    assert_eq!(counts(&other).await, pair("0", "0"));
    one.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(counts(&other).await, pair("2", "3"));

    // Appends of two blocks commute: both commit.
    one.batch_execute("BEGIN; INSERT INTO a VALUES (10)")
        .await
        .expect("one");
    other
        .batch_execute("BEGIN; INSERT INTO a VALUES (20)")
        .await
        .expect("other");
    one.batch_execute("COMMIT").await.expect("commit one");
    other.batch_execute("COMMIT").await.expect("commit other");
    assert_eq!(scalar(&one, "SELECT sum(x) FROM a").await, "33");

    // A replace whose table changed meanwhile loses: 40001, nothing applied.
    one.batch_execute("BEGIN; TRUNCATE a")
        .await
        .expect("truncate");
    other
        .batch_execute("INSERT INTO a VALUES (100)")
        .await
        .expect("concurrent insert");
    let err = one.batch_execute("COMMIT").await.expect_err("conflict");
    assert_eq!(sqlstate(&err), "40001", "{err:?}");
    assert_eq!(scalar(&other, "SELECT sum(x) FROM a").await, "133");
    // The block is over but reported failed: ROLLBACK, as after any error.
    one.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(scalar(&one, "SELECT count(*) FROM a").await, "5");

    // A client that vanishes with an open block leaves nothing.
    let gone = server.connect().await;
    gone.batch_execute("BEGIN; INSERT INTO b VALUES ('lost')")
        .await
        .expect("staged");
    drop(gone);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(scalar(&other, "SELECT count(*) FROM b").await, "3");
}

#[quarry_test]
async fn after_kill_9_committed_blocks_are_whole_and_open_ones_gone() {
    let dir = tempfile::tempdir().expect("dir");
    let files = || walk(&dir.path().join("tables"));
    let mut server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    client
        .batch_execute("CREATE TABLE a (x int); CREATE TABLE b (y text)")
        .await
        .expect("tables");
    client
        .batch_execute(
            "BEGIN; INSERT INTO a SELECT value FROM generate_series(1, 1000) AS g(value); \
             INSERT INTO b VALUES ('kept'); COMMIT",
        )
        .await
        .expect("committed block");
    client
        .batch_execute(
            "BEGIN; CREATE TABLE c AS SELECT x FROM a WHERE x <= 10; DROP TABLE b; \
             CREATE TABLE b AS SELECT 'remade' AS y; COMMIT",
        )
        .await
        .expect("committed catalog changes");
    let committed_files = files();
    let open = connect(&server.url()).await;
    open.batch_execute(
        "BEGIN; INSERT INTO a VALUES (-1); INSERT INTO b VALUES ('open'); \
         CREATE TABLE d AS SELECT x FROM a; DROP TABLE c",
    )
    .await
    .expect("open block");
    assert!(
        files() > committed_files,
        "the open block's files are on disk"
    );
    server.assert_alive("the blocks");
    let _ = server.child.kill();
    let _ = server.child.wait();

    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM a").await, "1000");
    assert_eq!(scalar(&client, "SELECT min(x) FROM a").await, "1");
    assert_eq!(
        scalar(&client, "SELECT string_agg(y, ',') FROM b").await,
        "remade"
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM c").await, "10");
    let err = client
        .batch_execute("SELECT * FROM d")
        .await
        .expect_err("the open block's table is gone");
    assert_eq!(sqlstate(&err), "42P01", "{err:?}");
    assert_eq!(
        files(),
        committed_files,
        "the open block's files were removed at start-up"
    );
    server.kill();
}

/// Catalog changes in a block: no other session sees a table created,
/// renamed or dropped in it until COMMIT, and then all of them at once. A
/// name another session took first fails the COMMIT with 42P07, a relation
/// another session dropped first with 40001, and nothing of the block is
/// applied. (PostgreSQL makes the second session wait on the first's locks
/// instead; here the first to commit wins, as for rows.)
#[quarry_test]
async fn catalog_changes_in_blocks_are_private_until_commit() {
    let server = TestServer::start().await;
    let one = server.connect().await;
    let other = server.connect().await;
    one.batch_execute("CREATE TABLE base (x int); INSERT INTO base VALUES (1), (2)")
        .await
        .expect("table");
    one.batch_execute(
        "BEGIN; CREATE TABLE made AS SELECT x FROM base; \
         ALTER TABLE base RENAME TO renamed; CREATE VIEW v AS SELECT 1 AS one",
    )
    .await
    .expect("changes");
    assert_eq!(scalar(&one, "SELECT count(*) FROM made").await, "2");
    assert_eq!(missing(&other, "SELECT * FROM made").await, "42P01");
    assert_eq!(missing(&other, "SELECT * FROM renamed").await, "42P01");
    assert_eq!(missing(&other, "SELECT * FROM v").await, "42P01");
    assert_eq!(scalar(&other, "SELECT count(*) FROM base").await, "2");
    assert_eq!(
        scalar(
            &other,
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('made', 'renamed')"
        )
        .await,
        "0"
    );
    one.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(scalar(&other, "SELECT count(*) FROM made").await, "2");
    assert_eq!(scalar(&other, "SELECT count(*) FROM renamed").await, "2");
    assert_eq!(scalar(&other, "SELECT one FROM v").await, "1");
    assert_eq!(missing(&other, "SELECT * FROM base").await, "42P01");

    // A name taken first: the COMMIT fails and applies nothing.
    one.batch_execute("BEGIN; CREATE TABLE taken (a int); INSERT INTO renamed VALUES (3)")
        .await
        .expect("block");
    other
        .batch_execute("CREATE TABLE taken (b text)")
        .await
        .expect("taken first");
    let err = one.batch_execute("COMMIT").await.expect_err("name taken");
    assert_eq!(sqlstate(&err), "42P07", "{err:?}");
    // The failed COMMIT ended the block, as PostgreSQL's: no 25P02 for the
    // next statement, and a ROLLBACK is merely warned about.
    assert_eq!(scalar(&one, "SELECT count(*) FROM renamed").await, "2");
    one.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(scalar(&one, "SELECT count(*) FROM renamed").await, "2");
    assert_eq!(scalar(&one, "SELECT count(b) FROM taken").await, "0");

    // A relation dropped first: 40001.
    one.batch_execute("BEGIN; DROP TABLE made")
        .await
        .expect("block");
    other
        .batch_execute("DROP TABLE made")
        .await
        .expect("dropped first");
    // This COMMIT goes by the extended protocol.
    let err = one.execute("COMMIT", &[]).await.expect_err("dropped first");
    assert_eq!(sqlstate(&err), "40001", "{err:?}");
    let rows = one
        .query("SELECT count(*) FROM renamed", &[])
        .await
        .expect("the block ended with its COMMIT");
    assert_eq!(rows[0].get::<_, i64>(0), 2);

    // A list whose COMMIT fails, after a statement that answered: the
    // block is over all the same.
    one.batch_execute("CREATE TABLE gone (x int); BEGIN; DROP TABLE gone")
        .await
        .expect("block");
    other
        .batch_execute("DROP TABLE gone")
        .await
        .expect("dropped first");
    let err = one
        .batch_execute("SELECT 1; COMMIT")
        .await
        .expect_err("dropped first");
    assert_eq!(sqlstate(&err), "40001", "{err:?}");
    assert_eq!(scalar(&one, "SELECT count(*) FROM renamed").await, "2");
}

/// The SQLSTATE `sql` fails with.
async fn missing(client: &Client, sql: &str) -> String {
    let err = client.batch_execute(sql).await.expect_err(sql);
    sqlstate(&err)
}

/// Parquet files under `dir`.
fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

/// UPDATE and DELETE between sessions: increments from four sessions at
/// once are none of them lost (row changes of a table wait for each
/// other); a block that changed a table's rows holds it to its end, so
/// another session's change waits for its COMMIT and then applies to what
/// it committed, as under PostgreSQL's row locks; a block's DELETE is
/// invisible to others until COMMIT.
#[quarry_test]
async fn updates_between_sessions_lose_nothing_and_wait_for_blocks() {
    let server = TestServer::start().await;
    let setup = server.connect().await;
    setup
        .batch_execute(
            "CREATE TABLE counter (id int, n bigint); \
             INSERT INTO counter VALUES (1, 0), (2, 0); \
             INSERT INTO counter VALUES (3, 0)",
        )
        .await
        .expect("table");

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                client
                    .execute("UPDATE counter SET n = n + 1 WHERE id = $1", &[&1i32])
                    .await
                    .expect("increment");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        scalar(&setup, "SELECT n FROM counter WHERE id = 1").await,
        "40",
        "every increment counted"
    );

    let one = server.connect().await;
    let other = server.connect().await;
    one.batch_execute("BEGIN; UPDATE counter SET n = 100 WHERE id = 2")
        .await
        .expect("staged update");
    let waiting = tokio::spawn(async move {
        other
            .execute("UPDATE counter SET n = n + 7 WHERE id = 2", &[])
            .await
            .expect("waits, then applies");
        other
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the other change waits for the block"
    );
    assert_eq!(
        scalar(&setup, "SELECT n FROM counter WHERE id = 2").await,
        "0",
        "nothing committed yet"
    );
    one.batch_execute("COMMIT").await.expect("commit");
    let other = waiting.await.expect("task");
    assert_eq!(
        scalar(&setup, "SELECT n FROM counter WHERE id = 2").await,
        "107",
        "the waiting change applied to the committed row"
    );

    one.batch_execute("BEGIN; DELETE FROM counter WHERE id = 3")
        .await
        .expect("staged delete");
    assert_eq!(scalar(&one, "SELECT count(*) FROM counter").await, "2");
    assert_eq!(scalar(&other, "SELECT count(*) FROM counter").await, "3");
    one.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(scalar(&other, "SELECT count(*) FROM counter").await, "2");
}
