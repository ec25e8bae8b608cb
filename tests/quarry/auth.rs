//! Authentication, TLS and connection limits.

use std::sync::Arc;

use quarry_test_macros::quarry_test;

use crate::harness::{TestServer, connect, scalar, sqlstate};

#[quarry_test]
async fn scram_accepts_the_right_password_only() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.password = Some("s3cret pass".into());
    let server = TestServer::with_config(config).await;
    let good = format!("{} password='s3cret pass'", server.url("quarry"));
    let client = connect(&good).await;
    assert_eq!(scalar(&client, "SELECT current_user").await, "quarry");

    for url in [
        format!("{} password=wrong", server.url("quarry")),
        format!("{} password='s3cret pass'", server.url("nobody")),
    ] {
        let err = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .err()
            .expect("refused");
        assert_eq!(sqlstate(&err), "28P01", "{url}");
        let user = if url.contains("nobody") {
            "nobody"
        } else {
            "quarry"
        };
        let message = err.as_db_error().map(|e| e.message().to_owned());
        assert_eq!(
            message.as_deref(),
            Some(format!("password authentication failed for user \"{user}\"").as_str())
        );
    }
    // The password is stored salted, never in clear.
    let raw = std::fs::read(dir.path().join("catalog.db")).expect("catalog");
    assert!(!raw.windows(11).any(|w| w == b"s3cret pass"));
}

#[quarry_test]
async fn trust_mode_still_needs_a_known_role() {
    let server = TestServer::start().await;
    let err = tokio_postgres::connect(&server.url("mallory"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("unknown role");
    assert_eq!(sqlstate(&err), "28000");
}

#[quarry_test]
async fn non_loopback_listen_without_password_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.pg_listen = "0.0.0.0:0".parse().expect("addr");
    let err = quarry::Server::start(config).await.err().expect("refused");
    assert!(err.contains("password"), "{err}");
}

fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, cert.der().to_vec())
}

#[quarry_test]
async fn tls_with_a_generated_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key, der) = certificate(dir.path());
    let mut config = quarry::Config::for_data_dir(dir.path().join("data"));
    config.password = Some("pw".into());
    config.tls = Some(quarry::config::TlsPaths { cert, key });
    let server = TestServer::with_config(config).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .expect("root");
    let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
    let url = format!(
        "host=localhost port={} user=quarry password=pw sslmode=require",
        server.addr.port()
    );
    let (client, connection) = tokio_postgres::connect(&url, tls)
        .await
        .expect("TLS connect");
    tokio::spawn(connection);
    assert_eq!(scalar(&client, "SELECT 'secure'").await, "secure");
}

#[quarry_test]
async fn tls_that_cannot_load_is_a_startup_error() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, _key, _) = certificate(dir.path());
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key").expect("write");
    for (c, k) in [
        (cert.clone(), garbage),
        (dir.path().join("missing.crt"), cert),
    ] {
        let mut config = quarry::Config::for_data_dir(dir.path().join("data"));
        config.tls = Some(quarry::config::TlsPaths { cert: c, key: k });
        assert!(quarry::Server::start(config).await.is_err());
    }
}

#[quarry_test]
async fn connections_over_the_limit_are_refused_politely() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.max_connections = 2;
    let server = TestServer::with_config(config).await;
    let a = server.connect().await;
    let _b = server.connect().await;
    let err = tokio_postgres::connect(&server.url("quarry"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("third refused");
    assert_eq!(sqlstate(&err), "53300");
    assert_eq!(scalar(&a, "SELECT 1").await, "1");
}

#[quarry_test]
async fn idle_sockets_do_not_take_session_slots_and_are_closed_after_the_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.max_connections = 4;
    config.superuser_reserved_connections = 1;
    config.authentication_timeout = std::time::Duration::from_millis(1500);
    let server = TestServer::with_config(config).await;
    let addr = server.addr;
    // As many sockets as sessions that never send a start-up packet (they
    // used to fill every slot; sockets are capped at twice the sessions).
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("socket"));
    }
    // They hold no session slot: four clients still get in...
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = connect(&server.url("quarry")).await;
        assert_eq!(scalar(&client, "SELECT 1").await, "1");
        clients.push(client);
    }
    // ...and the fifth session is over the limit.
    let err = tokio_postgres::connect(&server.url("quarry"), tokio_postgres::NoTls)
        .await
        .err()
        .expect("over max_connections");
    assert_eq!(sqlstate(&err), "53300");
    // The idle sockets are closed once the authentication timeout passes.
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    for socket in &mut idle {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut byte))
            .await
            .expect("closed, not left waiting");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // A session that ends frees its slot.
    clients.pop();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = connect(&server.url("quarry")).await;
    assert_eq!(scalar(&again, "SELECT 1").await, "1");
}

#[quarry_test]
async fn a_renamed_bootstrap_superuser_retires_the_old_name() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quarry::Config::for_data_dir(dir.path());
    config.superuser = "alice".into();
    config.password = Some("alice-pw".into());
    let server = TestServer::with_config(config.clone()).await;
    let alice = format!("{} password=alice-pw", server.url("alice"));
    connect(&alice).await;
    server.stop().await;

    config.superuser = "bob".into();
    config.password = Some("bob-pw".into());
    let server = TestServer::with_config(config).await;
    let bob = connect(&format!("{} password=bob-pw", server.url("bob"))).await;
    assert_eq!(scalar(&bob, "SELECT current_user").await, "bob");
    let alice = format!("{} password=alice-pw", server.url("alice"));
    let err = tokio_postgres::connect(&alice, tokio_postgres::NoTls)
        .await
        .err()
        .expect("alice is retired");
    assert_eq!(sqlstate(&err), "28P01");
}
