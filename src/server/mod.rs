//! The server: listeners, connection handling and shutdown.
//!
//! [`Server::start`] opens the data directory and binds the listeners;
//! [`Server::serve`] accepts connections until the shutdown token fires. Tests
//! bind port 0 and read the bound addresses back.

pub mod arrays;
pub mod auth;
pub mod copy;
pub mod copy_out;
pub mod dashboard;
mod floats;
pub mod frames;
pub mod http;
pub mod origins;
pub mod params;
pub mod query;
pub mod rest;
pub mod reuse;
pub mod rewrite;
mod rows;
mod short_text;
mod sort_subqueries;
pub mod stream;
mod subquery_predicates;
mod window_bigint;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::execution::context::SessionState;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, ErrorHandler, NoopHandler, PgWireServerHandlers};
use pgwire::error::PgWireError;
use pgwire::messages::cancel::CancelRequest;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::catalog::Catalog;
use crate::catalog::store::Store;
use crate::config::Config;
use crate::error::{Result, SqlStateError};
use crate::session::{SessionRegistry, base_state};
use query::QueryHandler;

/// Everything connections share.
pub struct ServerState {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub registry: Arc<crate::registry::Registry>,
    pub serving: Arc<crate::serving::Serving>,
    /// Roles and privileges (`access`).
    pub access: Arc<crate::access::Access>,
    /// Every statement and HTTP call (`audit`).
    pub audit: Arc<crate::audit::AuditLog>,
    /// Policies run as jobs (`lifecycle`).
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
    pub base: SessionState,
    pub sessions: Arc<SessionRegistry>,
    pub keys: Arc<auth::KeyGenerator>,
    /// HTTP Basic credentials verified recently (`rest`).
    pub logins: rest::Logins,
    /// This data directory's secret for SCRAM mock salts (`auth`).
    pub mock_auth_secret: Vec<u8>,
    pub shutdown: CancellationToken,
}

/// What a connection's loop and its session share: the session once it
/// opens (for the loop to stop its statement when the client goes away) and
/// the token that closes the connection (`pg_terminate_backend`).
#[derive(Default)]
pub struct Link {
    pub session: std::sync::OnceLock<std::sync::Weak<crate::session::Session>>,
    pub close: CancellationToken,
}

impl frames::Watch for Link {
    fn hung_up(&self) {
        if let Some(session) = self.session.get().and_then(std::sync::Weak::upgrade) {
            debug!("client disconnected: stopping its statement");
            session.interrupt(crate::session::Interrupt::Cancel);
        }
    }

    fn busy(&self) -> bool {
        self.session
            .get()
            .and_then(std::sync::Weak::upgrade)
            .is_some_and(|s| s.is_active())
    }

    fn closing(&self) -> CancellationToken {
        self.close.clone()
    }
}

/// Handlers for an accepted connection.
struct Handlers {
    state: Arc<ServerState>,
    query: Arc<QueryHandler>,
    /// Set once the client has authenticated and its session is open.
    authenticated: Arc<AtomicBool>,
    link: Arc<Link>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(auth::Startup::new(
            self.state.clone(),
            self.authenticated.clone(),
            self.link.clone(),
        ))
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.query.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Cancel {
            state: self.state.clone(),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors)
    }
}

/// Handlers for a connection over the limit: refuse at start-up.
struct Refusing;

impl PgWireServerHandlers for Refusing {
    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(auth::Refuse)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(NoopHandler)
    }
}

struct Cancel {
    state: Arc<ServerState>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let found = self
            .state
            .sessions
            .cancel(request.pid, &request.secret_key.to_bytes());
        debug!(pid = request.pid, found, "cancel request");
    }
}

struct LogErrors;

impl ErrorHandler for LogErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        match error {
            PgWireError::UserError(info) if info.code.starts_with("XX") => {
                warn!(peer = %client.socket_addr(), code = %info.code, message = %info.message, "internal error");
            }
            PgWireError::UserError(info) => {
                debug!(peer = %client.socket_addr(), code = %info.code, message = %info.message, "statement error");
            }
            PgWireError::ApiError(e) => {
                // Anything that arrives untyped is a bug of ours: make it say so.
                let message = format!("internal error: {e}");
                warn!(peer = %client.socket_addr(), %message);
                *error = crate::error::to_pgwire(SqlStateError::internal(message));
            }
            other => debug!(peer = %client.socket_addr(), error = %other, "protocol error"),
        }
    }
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Loads the TLS certificate and key; any problem is a startup error.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| format!("--tls-cert {}: {e}", tls.cert.display()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", tls.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate found",
            tls.cert.display()
        ));
    }
    // Accepts PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys.
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("--tls-key {}: {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not match or are unusable: {e}"))?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// A started server: data open, listeners bound, not yet accepting.
pub struct Server {
    pub state: Arc<ServerState>,
    pg: TcpListener,
    http: TcpListener,
    tls: Option<TlsAcceptor>,
    /// Held while the server runs: one process per data directory.
    _lock: std::fs::File,
}

/// Takes the data directory's lock, so a second server started by mistake on
/// the same directory stops before it touches anything (its start-up
/// clean-up of unreferenced files could otherwise delete a running server's
/// new data). The OS releases the lock when the process ends, even killed.
fn lock_data_dir(data_dir: &std::path::Path) -> std::result::Result<std::fs::File, String> {
    let path = data_dir.join("quarry.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            format!(
                "--data-dir {}: cannot open its lock file: {e}",
                data_dir.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "--data-dir {} is in use by another Quarry process",
            data_dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "--data-dir {}: cannot lock it: {e}",
            data_dir.display()
        )),
    }
}

impl Server {
    /// Opens the data directory and binds both listeners. Fails closed: a bad
    /// TLS configuration or an unprotected non-loopback listener is an error.
    pub async fn start(config: Config) -> Result<Server, String> {
        if !is_loopback(&config.pg_listen) && config.password.is_none() {
            return Err(format!(
                "refusing to listen on {} without a password: set --password (or QUARRY_PASSWORD) \
                 so clients must authenticate, or listen on 127.0.0.1",
                config.pg_listen
            ));
        }
        let tls = tls_acceptor(&config)?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", config.data_dir.display()))?;
        let data_dir = config
            .data_dir
            .canonicalize()
            .map_err(|e| format!("--data-dir {}: {e}", config.data_dir.display()))?;
        let lock = lock_data_dir(&data_dir)?;
        crate::catalog::table::set_vacuum_retention(config.vacuum_retention);
        let store = Arc::new(Store::open(&data_dir.join("catalog.db")).map_err(|e| e.message)?);
        auth::bootstrap_superuser(&store, &config.superuser, config.password.as_deref())
            .map_err(|e| e.message)?;
        let mock_auth_secret = store.mock_auth_secret().map_err(|e| e.message)?;
        let access =
            crate::access::Access::new(store.clone(), &config.superuser).map_err(|e| e.message)?;
        let audit = crate::audit::AuditLog::start(&data_dir, store.clone(), config.audit_queue)
            .map_err(|e| e.message)?;
        let catalog = Catalog::open(&data_dir, store.clone()).map_err(|e| e.message)?;
        let registry = crate::registry::Registry::open(&data_dir, store).map_err(|e| e.message)?;
        let sessions = Arc::new(SessionRegistry::default());
        let serving = crate::serving::Serving::new(registry.clone(), config.prediction_log_queue);
        let base = base_state(
            &config, &catalog, &registry, &serving, &sessions, &access, &audit,
        )
        .map_err(|e| e.message)?;
        catalog
            .load_definitions(&base)
            .await
            .map_err(|e| e.message)?;
        if catalog.is_fresh().map_err(|e| e.message)? {
            if config.demo {
                crate::demo::load(&catalog).await.map_err(|e| e.message)?;
            }
            catalog.mark_initialized().map_err(|e| e.message)?;
        }
        let shutdown = CancellationToken::new();
        serving
            .attach(&catalog, shutdown.clone())
            .await
            .map_err(|e| e.message)?;
        let lifecycle = crate::lifecycle::Lifecycle::start(
            registry.clone(),
            base.clone(),
            access.clone(),
            audit.clone(),
            config.alert_webhook_hosts.clone(),
            shutdown.clone(),
        )
        .map_err(|e| e.message)?;
        let pg = TcpListener::bind(config.pg_listen)
            .await
            .map_err(|e| format!("--pg-listen {}: {e}", config.pg_listen))?;
        let http = TcpListener::bind(config.http_listen)
            .await
            .map_err(|e| format!("--http-listen {}: {e}", config.http_listen))?;
        let state = Arc::new(ServerState {
            config,
            catalog,
            registry,
            serving,
            access,
            audit,
            lifecycle,
            base,
            sessions,
            keys: Arc::new(auth::KeyGenerator::default()),
            logins: rest::Logins::default(),
            mock_auth_secret,
            shutdown,
        });
        Ok(Server {
            state,
            pg,
            http,
            tls,
            _lock: lock,
        })
    }

    pub fn pg_addr(&self) -> std::io::Result<SocketAddr> {
        self.pg.local_addr()
    }

    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// The token that stops the server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Accepts connections until shutdown, then cancels running statements and
    /// waits (up to `grace`) for connections to finish.
    pub async fn serve(self, grace: Duration) -> std::io::Result<()> {
        let Server {
            state,
            pg,
            http,
            tls,
            _lock,
        } = self;
        let pg_addr = pg.local_addr()?;
        let http_addr = http.local_addr()?;
        let tracker = TaskTracker::new();
        let http_task = tokio::spawn(http::serve(http, state.clone()));
        if let Some(every) = state.config.scheduler_interval {
            tokio::spawn(crate::lifecycle::scheduler::run(
                state.lifecycle.clone(),
                every,
                state.shutdown.clone(),
            ));
        }
        info!(
            "quarry ready: postgres://{}@{}:{} (http {}:{})",
            state.config.superuser,
            pg_addr.ip(),
            pg_addr.port(),
            http_addr.ip(),
            http_addr.port()
        );
        // Sockets, authenticated or not: twice the sessions, as PostgreSQL
        // caps its children. Sessions themselves are counted at start-up
        // (`auth::Startup`), and a socket that has not authenticated within
        // `authentication_timeout` is closed, so idle sockets cannot lock
        // clients out.
        let sockets = Arc::new(Semaphore::new(
            state.config.max_connections.saturating_mul(2),
        ));
        let query = Arc::new(QueryHandler::new(state.clone()));
        loop {
            let accepted = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                accepted = pg.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let tls = tls.clone();
            match sockets.clone().try_acquire_owned() {
                Ok(permit) => {
                    let authenticated = Arc::new(AtomicBool::new(false));
                    let link = Arc::new(Link::default());
                    let handlers = Arc::new(Handlers {
                        state: state.clone(),
                        query: query.clone(),
                        authenticated: authenticated.clone(),
                        link: link.clone(),
                    });
                    let timeout = state.config.authentication_timeout;
                    let sasl = state.config.password.is_some();
                    tracker.spawn(async move {
                        let _permit = permit;
                        let connection = frames::serve(
                            socket,
                            tls,
                            handlers,
                            authenticated.clone(),
                            sasl,
                            link,
                        );
                        let deadline = async {
                            tokio::time::sleep(timeout).await;
                            if authenticated.load(Ordering::Acquire) {
                                std::future::pending::<()>().await;
                            }
                        };
                        tokio::select! {
                            ended = connection => {
                                if let Err(e) = ended {
                                    debug!(%peer, error = %e, "connection ended with an error");
                                }
                            }
                            () = deadline => {
                                info!(%peer, ?timeout, "closing a connection that did not authenticate in time");
                            }
                        }
                    });
                }
                Err(_) => {
                    warn!(%peer, limit = state.config.max_connections, "connection refused: too many clients");
                    tracker.spawn(async move {
                        let unauthenticated = Arc::new(AtomicBool::new(false));
                        let link = Arc::new(Link::default());
                        let _ = frames::serve(socket, tls, Refusing, unauthenticated, false, link)
                            .await;
                    });
                }
            }
        }
        info!(
            connections = state.sessions.active(),
            "shutting down: no new connections"
        );
        // Statements stop within a unit of their work (a block of rows, a
        // tree), wherever they run; then each connection is told and closed.
        state.sessions.shut_down_all();
        drop(pg);
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!("connections still open after the grace period; closing them");
        }
        http_task.abort();
        // The prediction log's last queued rows.
        if let Some(writer) = state.serving.take_writer() {
            let _ = tokio::time::timeout(grace, writer).await;
        }
        // The audit log's last queued records.
        let audit = state.audit.clone();
        let _ =
            tokio::time::timeout(grace, tokio::task::spawn_blocking(move || audit.stop())).await;
        info!("quarry stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
