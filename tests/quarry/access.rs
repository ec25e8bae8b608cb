//! Users and privileges over the wire, as each user logs in: passwords,
//! `NOLOGIN`, what survives a restart, files on the server's disk. (The
//! privilege rules themselves: `sql/slt/pg/privileges.slt`, held to
//! PostgreSQL's answers.)

use quarry_test_macros::quarry_test;

use crate::harness::{TestServer, connect, http_request, scalar, sqlstate};

async fn refused(url: &str) -> tokio_postgres::Error {
    tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .err()
        .expect("refused")
}

#[quarry_test]
async fn each_user_logs_in_with_their_own_password() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.password = Some("root pw".into());
    let server = TestServer::with_config(config).await;
    let admin = connect(&format!("{} password='root pw'", server.url("quarry"))).await;
    for sql in [
        "CREATE ROLE analyst",
        "CREATE USER alice WITH PASSWORD 'alice pw' IN ROLE analyst",
        "CREATE USER carol PASSWORD 'carol pw'",
        "CREATE TABLE orders (id int)",
        "INSERT INTO orders VALUES (1), (2)",
        "GRANT SELECT ON orders TO analyst",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    let alice = connect(&format!("{} password='alice pw'", server.url("alice"))).await;
    assert_eq!(scalar(&alice, "SELECT current_user").await, "alice");
    assert_eq!(scalar(&alice, "SELECT count(*) FROM orders").await, "2");
    let err = alice
        .simple_query("DELETE FROM orders")
        .await
        .expect_err("no DELETE");
    assert_eq!(sqlstate(&err), "42501");
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert_eq!(
        message.as_deref(),
        Some("permission denied for table orders: DELETE privilege required")
    );

    // Someone else's password, or none, is refused as a wrong one is.
    for url in [
        format!("{} password='root pw'", server.url("alice")),
        format!("{} password='alice pw'", server.url("analyst")),
    ] {
        assert_eq!(sqlstate(&refused(&url).await), "28P01", "{url}");
    }
    // A role without LOGIN is refused even with the right password, as a
    // wrong password is (auth.rs says why it is not PostgreSQL's 28000).
    connect(&format!("{} password='carol pw'", server.url("carol"))).await;
    admin
        .batch_execute("ALTER ROLE carol NOLOGIN")
        .await
        .expect("nologin");
    let err = refused(&format!("{} password='carol pw'", server.url("carol"))).await;
    assert_eq!(sqlstate(&err), "28P01");
    // A new password replaces the old one.
    alice
        .batch_execute("ALTER USER alice PASSWORD 'new pw'")
        .await
        .expect("own password");
    assert_eq!(
        sqlstate(&refused(&format!("{} password='alice pw'", server.url("alice"))).await),
        "28P01"
    );
    let again = connect(&format!("{} password='new pw'", server.url("alice"))).await;
    assert_eq!(scalar(&again, "SELECT session_user").await, "alice");
    // Only a superuser or CREATEROLE role makes roles.
    let err = again
        .simple_query("CREATE ROLE mallory SUPERUSER")
        .await
        .expect_err("not a superuser");
    assert_eq!(sqlstate(&err), "42501");
    let raw = std::fs::read(dir.path().join("catalog.db")).expect("catalog");
    for secret in [&b"alice pw"[..], b"new pw", b"carol pw"] {
        assert!(!raw.windows(secret.len()).any(|w| w == secret));
    }
}

#[quarry_test]
async fn roles_grants_and_owners_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::on_dir(dir.path()).await;
    let admin = server.connect().await;
    for sql in [
        "CREATE ROLE readers",
        "CREATE USER dora IN ROLE readers",
        "CREATE USER eve",
        "GRANT CREATE ON SCHEMA public TO eve",
        "CREATE TABLE facts (x int)",
        "INSERT INTO facts VALUES (7)",
        "CREATE VIEW doubled AS SELECT x * 2 AS y FROM facts",
        "GRANT SELECT ON doubled TO readers",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    let eve = connect(&server.url("eve")).await;
    eve.batch_execute("CREATE TABLE eves (x int); INSERT INTO eves VALUES (1)")
        .await
        .expect("eve's table");
    drop((admin, eve));
    server.stop().await;

    let server = TestServer::on_dir(dir.path()).await;
    // A group role has no LOGIN: refused as PostgreSQL refuses it.
    let err = refused(&server.url("readers")).await;
    assert_eq!(sqlstate(&err), "28000");
    let dora = connect(&server.url("dora")).await;
    // The view's owner reads facts for her; facts itself is not hers.
    assert_eq!(scalar(&dora, "SELECT y FROM doubled").await, "14");
    for sql in ["SELECT * FROM facts", "SELECT * FROM eves"] {
        let err = dora.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "42501", "{sql}");
    }
    // eve still owns her table: she reads it and grants it.
    let eve = connect(&server.url("eve")).await;
    assert_eq!(scalar(&eve, "SELECT count(*) FROM eves").await, "1");
    eve.batch_execute("GRANT SELECT ON eves TO dora")
        .await
        .expect("owner grants");
    assert_eq!(scalar(&dora, "SELECT count(*) FROM eves").await, "1");
    let admin = server.connect().await;
    assert_eq!(
        scalar(
            &admin,
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles \
             WHERE rolname IN ('readers', 'dora', 'eve')"
        )
        .await,
        "dora,eve,readers"
    );
}

#[quarry_test]
async fn files_on_the_server_need_the_predefined_roles() {
    let server = TestServer::start().await;
    let admin = server.connect().await;
    let out = tempfile::tempdir().expect("dir");
    let csv = out.path().join("t.csv");
    std::fs::write(&csv, "a\n1\n").expect("csv");
    for sql in [
        "CREATE USER frank",
        "GRANT CREATE ON SCHEMA public TO frank",
        "CREATE TABLE t (a int)",
        "INSERT INTO t VALUES (1)",
        "GRANT SELECT ON t TO frank",
    ] {
        admin.batch_execute(sql).await.expect(sql);
    }
    let frank = connect(&server.url("frank")).await;
    let external = format!(
        "CREATE EXTERNAL TABLE ext (a int) STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        csv.display()
    );
    let copy = format!("COPY t TO '{}'", out.path().join("copy.csv").display());
    for sql in [&external, &copy] {
        let err = frank.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "42501", "{sql}");
    }
    admin
        .batch_execute("GRANT pg_read_server_files TO frank; GRANT pg_write_server_files TO frank")
        .await
        .expect("roles");
    frank.batch_execute(&external).await.expect("external");
    assert_eq!(scalar(&frank, "SELECT count(*) FROM ext").await, "1");
    frank.batch_execute(&copy).await.expect("copy to file");
}

/// The privilege matrix over HTTP: every path of the API and the dashboard
/// answers as the same call in SQL for the same user. A user with PREDICT
/// on a model reads, scores and monitors it; one without gets 403 with
/// SQL's 42501 message; taking the privilege back, or the user, closes the
/// paths at once (a cached login does not cache privileges).
#[quarry_test]
async fn http_paths_hold_the_sql_privileges() {
    use base64::Engine;
    let (server, admin) = TestServer::with_password("root pw").await;
    admin
        .batch_execute(
            "CREATE TABLE pts (x DOUBLE, y DOUBLE) AS VALUES (1, 2.1), (2, 3.9), (3, 6.2), (4, 7.8); \
             CREATE MODEL m OPTIONS (algorithm = 'linear', label = 'y', split = 'none') AS SELECT x, y FROM pts; \
             CREATE USER alice PASSWORD 'alice pw'; CREATE USER bob PASSWORD 'bob pw'; \
             GRANT PREDICT ON MODEL m TO alice",
        )
        .await
        .expect("setup");
    let http = server.http;
    let call = |who: &'static str, method: &'static str, path: &'static str| async move {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(who)
        );
        let body = if method == "POST" {
            r#"{"rows": [{"x": 2.5}]}"#
        } else {
            ""
        };
        http_request(
            http,
            method,
            path,
            &[("Authorization", auth.as_str())],
            body,
        )
        .await
    };
    // (method, path, what SQL checks): each path that names a model.
    let guarded = [
        ("GET", "/v1/models/m"),
        ("POST", "/v1/models/m/predict"),
        ("GET", "/v1/dashboard?model=m"),
    ];
    for (method, path) in guarded {
        let (status, body) = call("alice:alice pw", method, path).await;
        assert_eq!(status, 200, "alice {method} {path}: {body}");
        let (status, body) = call("bob:bob pw", method, path).await;
        assert_eq!(status, 403, "bob {method} {path}: {body}");
        assert!(
            body.contains("42501") && body.contains("PREDICT"),
            "bob {method} {path}: {body}"
        );
    }
    // What SQL says to the same users.
    let bob = connect(&format!("{} password='bob pw'", server.url("bob"))).await;
    let err = bob
        .simple_query("SELECT ml_predict('m', x) FROM (SELECT 2.5 AS x) s")
        .await
        .expect_err("bob may not score m in SQL either");
    assert_eq!(sqlstate(&err), "42501");
    // The dashboard lists only the models a user may score.
    let (_, body) = call("bob:bob pw", "GET", "/v1/dashboard").await;
    assert!(!body.contains("\"m\""), "bob's dashboard lists m: {body}");
    let (_, body) = call("alice:alice pw", "GET", "/v1/dashboard").await;
    assert!(body.contains("\"m\""), "alice's dashboard lacks m: {body}");
    // Paths that name no model need only a login.
    for (method, path) in [("GET", "/v1/models"), ("GET", "/metrics"), ("GET", "/")] {
        let (status, body) = call("bob:bob pw", method, path).await;
        assert_eq!(status, 200, "bob {method} {path}: {body}");
        let (status, _) = call("bob:wrong", method, path).await;
        assert_eq!(status, 401, "a wrong password on {method} {path}");
    }
    // Taking PREDICT back closes alice's paths; dropping bob closes his login.
    admin
        .batch_execute("REVOKE PREDICT ON MODEL m FROM alice; DROP USER bob")
        .await
        .expect("revoke");
    for (method, path) in guarded {
        let (status, body) = call("alice:alice pw", method, path).await;
        assert_eq!(status, 403, "alice after REVOKE {method} {path}: {body}");
    }
    let (status, _) = call("bob:bob pw", "GET", "/v1/models").await;
    assert_eq!(status, 401, "a dropped user's login");
    // A changed password retires the old one, cached or not.
    admin
        .batch_execute("ALTER USER alice PASSWORD 'alice new pw'")
        .await
        .expect("alter");
    let (status, _) = call("alice:alice pw", "GET", "/v1/models").await;
    assert_eq!(status, 401, "alice's old password");
    let (status, _) = call("alice:alice new pw", "GET", "/v1/models").await;
    assert_eq!(status, 200, "alice's new password");
    server.stop().await;
}
