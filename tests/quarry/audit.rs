//! The audit log over the wire: what a statement and an HTTP call leave in
//! `ml_audit_log`, who may read it, an edit on disk found by
//! `ml_audit_verify()`, and kill -9 in the middle of heavy auditing.

use quarry_test_macros::quarry_test;

use crate::harness::{Process, TestServer, connect, http_request, scalar, sqlstate, texts};

/// The audit rows of `statement_like` as `user|kind|objects|rows|sqlstate`.
async fn audited(client: &tokio_postgres::Client, statement_like: &str) -> Vec<String> {
    let rows = client
        .query(
            "SELECT user_name || '|' || kind || '|' || objects || '|' || coalesce(CAST(rows AS TEXT), '-') \
             || '|' || sqlstate FROM ml_audit_log WHERE statement LIKE $1 ORDER BY seq",
            &[&statement_like],
        )
        .await
        .expect("audit log");
    rows.iter().map(|r| r.get::<_, String>(0)).collect()
}

#[quarry_test]
async fn statements_are_audited_with_user_rows_state_and_no_secrets() {
    let (server, admin) = TestServer::with_password("root pw").await;
    admin
        .batch_execute(
            "CREATE USER alice PASSWORD 'alice secret pw'; \
             CREATE TABLE customers (id int, email text); \
             INSERT INTO customers VALUES (1, 'a@x.org'), (2, 'b@y.org'), (3, 'c@z.org'); \
             GRANT SELECT ON customers TO alice",
        )
        .await
        .expect("setup");
    let alice = connect(&format!(
        "{} password='alice secret pw'",
        server.url("alice")
    ))
    .await;
    let pid: i32 = alice
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    assert_eq!(
        scalar(&alice, "SELECT count(*) FROM customers WHERE id > 1").await,
        "2"
    );
    // Extended protocol, streamed rows.
    let rows = alice
        .query("SELECT id FROM customers ORDER BY id", &[])
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    let err = alice
        .batch_execute("SELECT * FROM nowhere_table")
        .await
        .expect_err("missing");
    assert_eq!(sqlstate(&err), "42P01");
    let err = alice
        .batch_execute("DELETE FROM customers")
        .await
        .expect_err("no DELETE");
    assert_eq!(sqlstate(&err), "42501");
    admin
        .batch_execute("UPDATE customers SET email = NULL WHERE id = 3")
        .await
        .expect("update");
    // Refused at Parse (extended protocol): never executed, still audited.
    let err = alice
        .prepare("SELEC id FROM customers")
        .await
        .expect_err("syntax");
    assert_eq!(sqlstate(&err), "42601");
    // A refused login is audited with the user it claimed.
    let refused = tokio_postgres::connect(
        &format!("{} password='not it'", server.url("alice")),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .expect("a wrong password is refused");
    assert_eq!(sqlstate(&refused), "28P01");

    // Only superusers and auditors read the log.
    let err = alice
        .batch_execute("SELECT * FROM ml_audit_log")
        .await
        .expect_err("not an auditor");
    assert_eq!(sqlstate(&err), "42501", "{err:?}");
    let err = alice
        .batch_execute("SELECT * FROM ml_audit_verify()")
        .await
        .expect_err("not an auditor");
    assert_eq!(sqlstate(&err), "42501", "{err:?}");

    assert_eq!(
        audited(&admin, "SELECT count(*) FROM customers WHERE id > 1").await,
        vec!["alice|sql|customers|1|00000"]
    );
    assert_eq!(
        audited(&admin, "SELECT id FROM customers ORDER BY id").await,
        vec!["alice|sql|customers|3|00000"]
    );
    assert_eq!(
        audited(&admin, "SELECT * FROM nowhere_table").await,
        vec!["alice|sql|nowhere_table|-|42P01"]
    );
    assert_eq!(
        audited(&admin, "DELETE FROM customers").await,
        vec!["alice|sql|customers|-|42501"]
    );
    assert_eq!(
        audited(&admin, "UPDATE customers SET email%").await,
        vec!["quarry|sql|customers|1|00000"]
    );
    assert_eq!(
        audited(&admin, "SELECT * FROM ml_audit_log").await,
        vec!["alice|sql|ml_audit_log|-|42501"]
    );
    assert_eq!(
        texts(
            &admin,
            "SELECT user_name || '|' || kind || '|' || sqlstate FROM ml_audit_log \
             WHERE statement = 'SELEC id FROM customers' OR kind = 'login' ORDER BY seq"
        )
        .await,
        [
            Some("quarry|login|00000".to_string()),
            Some("alice|login|00000".to_string()),
            Some("alice|sql|42601".to_string()),
            Some("alice|login|28P01".to_string()),
        ]
    );
    // The session and the client's address are alice's.
    let session: Vec<Option<String>> = texts(
        &admin,
        "SELECT CAST(session_id AS TEXT) || ' ' || client_addr FROM ml_audit_log \
         WHERE statement = 'SELECT id FROM customers ORDER BY id'",
    )
    .await;
    let session = session[0].clone().expect("session");
    assert!(
        session.starts_with(&format!("{pid} 127.0.0.1:")),
        "{session}"
    );
    // The password is nowhere in the log.
    assert_eq!(
        scalar(
            &admin,
            "SELECT count(*) FROM ml_audit_log WHERE statement LIKE '%alice secret pw%'"
        )
        .await,
        "0"
    );
    assert_eq!(
        audited(&admin, "CREATE USER alice PASSWORD '********'%")
            .await
            .len(),
        1
    );

    // Members of auditor read it, directly or through their views.
    admin
        .batch_execute("GRANT auditor TO alice")
        .await
        .expect("auditor");
    assert_eq!(
        scalar(
            &alice,
            "SELECT count(*) > 10 FROM ml_audit_log WHERE kind = 'sql'"
        )
        .await,
        "t"
    );
    assert_eq!(
        scalar(&alice, "SELECT valid FROM ml_audit_verify()").await,
        "t"
    );
    admin
        .batch_execute(
            "CREATE USER bob PASSWORD 'bob pw'; \
             CREATE VIEW recent_audit AS SELECT seq, user_name FROM ml_audit_log; \
             GRANT SELECT ON recent_audit TO bob",
        )
        .await
        .expect("view");
    let bob = connect(&format!("{} password='bob pw'", server.url("bob"))).await;
    assert_eq!(
        scalar(&bob, "SELECT count(*) > 0 FROM recent_audit").await,
        "t",
        "a superuser's view reads the log with its owner's rights"
    );
    admin
        .batch_execute("REVOKE auditor FROM alice")
        .await
        .expect("revoke");
    let err = alice
        .batch_execute("SELECT count(*) FROM ml_audit_log")
        .await
        .expect_err("no longer an auditor");
    assert_eq!(sqlstate(&err), "42501");

    // HTTP calls: the user, the path, the model and the answer's state;
    // a refused login names whom it claimed to be.
    use base64::Engine;
    let basic = |user: &str, pw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    };
    let alice_auth = basic("alice", "alice secret pw");
    let (status, _) = http_request(
        server.http,
        "GET",
        "/v1/models/nosuchmodel",
        &[("Authorization", alice_auth.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 404);
    let wrong = basic("mallory", "guess");
    let (status, _) = http_request(
        server.http,
        "GET",
        "/v1/models",
        &[("Authorization", wrong.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        audited(&admin, "GET /v1/models/nosuchmodel").await,
        vec!["alice|http|nosuchmodel|-|42704"]
    );
    assert_eq!(
        audited(&admin, "GET /v1/models").await,
        vec!["mallory|http||-|28P01"]
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT count(*) FROM ml_audit_log WHERE statement LIKE '%guess%'"
        )
        .await,
        "0"
    );
}

/// An edit of a record on disk breaks the chain at that record; the log
/// goes on after a restart, chained to what was there.
#[quarry_test]
async fn an_edited_record_is_found_by_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    for i in 0..20 {
        client
            .batch_execute(&format!("SELECT {i}"))
            .await
            .expect("statement");
    }
    assert_eq!(
        scalar(&client, "SELECT valid FROM ml_audit_verify()").await,
        "t"
    );
    let target: i64 = client
        .query_one(
            "SELECT seq FROM ml_audit_log WHERE statement = 'SELECT 7'",
            &[],
        )
        .await
        .expect("seq")
        .get(0);
    drop(client);
    server.stop().await;

    let db = rusqlite::Connection::open(dir.path().join("audit.db")).expect("audit.db");
    db.execute(
        "UPDATE audit_log SET statement = 'SELECT 8' WHERE seq = ?1",
        [target],
    )
    .expect("tamper");
    drop(db);

    let server = TestServer::on_dir(dir.path()).await;
    let client = server.connect().await;
    let row = client
        .query_one(
            "SELECT valid, broken_at, reason FROM ml_audit_verify()",
            &[],
        )
        .await
        .expect("verify");
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, Option<i64>>(1), Some(target));
    let reason: String = row.get(2);
    assert!(reason.contains("do not match its hash"), "{reason}");
    server.stop().await;
}

/// kill -9 while four sessions run statements as fast as they can: the
/// log keeps every batch written before the kill, and its chain holds.
#[quarry_test]
async fn kill_9_during_heavy_auditing_keeps_the_chain_whole() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = Process::spawn(dir.path());
    let url = server.url();
    let first = connect(&url).await;
    for i in 0..50 {
        first
            .batch_execute(&format!("SELECT {i} AS before_kill"))
            .await
            .expect("statement");
    }
    // Written, as any read of the log waits for what is queued.
    assert_eq!(
        scalar(
            &first,
            "SELECT count(*) FROM ml_audit_log WHERE statement LIKE '%before_kill'"
        )
        .await,
        "50"
    );
    let mut workers = Vec::new();
    for w in 0..4 {
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            let mut i = 0u64;
            while client
                .batch_execute(&format!("SELECT {w}, {i}"))
                .await
                .is_ok()
            {
                i += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.assert_alive("heavy auditing");
    let _ = server.child.kill();
    let _ = server.child.wait();
    for w in workers {
        let _ = w.await;
    }

    let server = Process::spawn(dir.path());
    let client = connect(&server.url()).await;
    let row = client
        .query_one("SELECT valid, records, reason FROM ml_audit_verify()", &[])
        .await
        .expect("verify");
    assert!(
        row.get::<_, bool>(0),
        "{:?}",
        row.get::<_, Option<String>>(2)
    );
    let records: i64 = row.get(1);
    assert!(records > 100, "{records} records survived");
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM ml_audit_log WHERE statement LIKE '%before_kill'"
        )
        .await,
        "50"
    );
    // Numbering goes on where the log ended.
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) = max(seq) AND min(seq) = 1 FROM ml_audit_log"
        )
        .await,
        "t"
    );
}
