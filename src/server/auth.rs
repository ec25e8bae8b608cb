//! Connection start-up: TLS policy, authentication, and session creation.
//!
//! | server configured with | client on loopback | client elsewhere          |
//! |------------------------|--------------------|---------------------------|
//! | no password            | trust              | refused (server won't start on a non-loopback listen) |
//! | a password             | SCRAM-SHA-256      | SCRAM-SHA-256, TLS if TLS is configured |
//!
//! Passwords are stored salted (`SaltedPassword` of RFC 5802, 4096 iterations),
//! never in clear.

use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::ServerState;
use super::query::connection::Connection;
use crate::catalog::store::{Store, UserRow};
use crate::compat;
use crate::error::{Result, SqlStateError, sqlstate};
use crate::session::Session;
use tracing::debug;

/// Makes sure the bootstrap superuser exists with the configured password.
/// A server started under another `--superuser` name than before retires
/// the old name: it must not keep logging in with the old password.
pub fn bootstrap_superuser(store: &Store, name: &str, password: Option<&str>) -> Result<()> {
    let (salt, salted) = match password {
        Some(p) => {
            let salt: [u8; 16] = rand::random();
            let salted = gen_salted_password(p, &salt, SCRAM_ITERATIONS);
            (Some(salt.to_vec()), Some(salted))
        }
        None => (None, None),
    };
    store.replace_bootstrap_user(&UserRow {
        name: name.to_string(),
        salt,
        salted_password: salted,
        superuser: true,
        login: true,
    })
}

/// The salt SCRAM shows for a user name with no password: derived from the
/// name and a secret of this data directory, so asking twice (or after a
/// restart) shows the same salt, as a real user's does, and the exchange
/// does not reveal which names exist (PostgreSQL's mock authentication).
fn mock_salt(secret: &[u8], user: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(secret);
    h.update([0u8]);
    h.update(user.as_bytes());
    h.finalize()[..16].to_vec()
}

/// Answers SCRAM's question "what is this user's salted password".
#[derive(Debug)]
struct StoredCredentials {
    store: Arc<Store>,
    mock_secret: Vec<u8>,
}

#[async_trait]
impl AuthSource for StoredCredentials {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login
            .user()
            .and_then(|name| self.store.user(name).ok().flatten());
        match user {
            Some(UserRow {
                salt: Some(salt),
                salted_password: Some(salted),
                login: true,
                ..
            }) => Ok(Password::new(Some(salt), salted)),
            // Unknown users, users without a password and roles without
            // LOGIN get a stable mock salt and a random secret, so the
            // exchange fails exactly like a wrong password would and does
            // not reveal which names exist. (PostgreSQL answers a NOLOGIN
            // role's right password with 28000 "not permitted to log in";
            // pgwire sends ReadyForQuery as the exchange ends, before a
            // later refusal could reach the client, so here it is 28P01.
            // Without passwords, on loopback, it is 28000 as in PostgreSQL.)
            _ => {
                let salt = mock_salt(&self.mock_secret, login.user().unwrap_or_default());
                let secret: [u8; 32] = rand::random();
                Ok(Password::new(Some(salt), secret.to_vec()))
            }
        }
    }
}

/// Process ids and cancel keys for BackendKeyData, unique per server.
#[derive(Debug)]
pub struct KeyGenerator {
    next_pid: AtomicI32,
}

impl Default for KeyGenerator {
    fn default() -> Self {
        KeyGenerator {
            next_pid: AtomicI32::new(10_000),
        }
    }
}

impl PidSecretKeyGenerator for KeyGenerator {
    fn generate(&self, _client: &dyn ClientInfo) -> (i32, SecretKey) {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        (pid, SecretKey::I32(rand::random::<i32>()))
    }
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

pub fn parameters(superuser: bool) -> DefaultServerParameterProvider {
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = compat::SERVER_VERSION.to_string();
    p.is_superuser = superuser;
    p.time_zone = "UTC".to_string();
    p.date_style = "ISO, MDY".to_string();
    p.search_path = "\"$user\", public".to_string();
    p
}

/// A fresh handler per connection: pgwire 0.41 keeps SASL state in the handler.
pub struct Startup {
    state: Arc<ServerState>,
    sasl: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
    /// Set when the session opens; the accept loop closes connections that
    /// are not authenticated within `authentication_timeout`.
    authenticated: Arc<AtomicBool>,
    link: Arc<super::Link>,
}

impl Startup {
    pub fn new(
        state: Arc<ServerState>,
        authenticated: Arc<AtomicBool>,
        link: Arc<super::Link>,
    ) -> Self {
        let sasl = state.config.password.as_ref().map(|_| {
            let mut scram = ScramAuth::new(Arc::new(StoredCredentials {
                store: state.catalog.store().clone(),
                mock_secret: state.mock_auth_secret.clone(),
            }));
            scram.set_iterations(SCRAM_ITERATIONS);
            SASLAuthStartupHandler::new(Arc::new(parameters(true)))
                .with_scram(scram)
                .with_pid_secret_key_generator(state.keys.clone())
        });
        Startup {
            state,
            sasl,
            authenticated,
            link,
        }
    }

    /// Refuses a start-up when the sessions are full: `max_connections`
    /// authenticated sessions, of which the last
    /// `superuser_reserved_connections` only a superuser may take. Checked
    /// for the user the client names, before its password: a client that
    /// lies about being a superuser holds a socket only until its
    /// authentication fails or times out.
    fn check_slots(&self, user: &str) -> PgWireResult<()> {
        let config = &self.state.config;
        let active = self.state.sessions.active();
        let superuser = self
            .state
            .catalog
            .store()
            .user(user)
            .ok()
            .flatten()
            .is_some_and(|u| u.superuser);
        if active >= config.max_connections {
            return Err(fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            ));
        }
        if !superuser && active >= config.max_connections - config.superuser_reserved_connections {
            return Err(fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                "remaining connection slots are reserved for roles with the SUPERUSER attribute",
            ));
        }
        Ok(())
    }

    /// Refuses connections the policy does not allow, before any password.
    fn check_policy<C: ClientInfo>(&self, client: &C) -> PgWireResult<()> {
        let peer = client.socket_addr().ip();
        if self.state.config.tls.is_some() && !client.is_secure() && !is_loopback(peer) {
            return Err(fatal(
                sqlstate::INVALID_AUTHORIZATION,
                "this server requires TLS for non-local connections; connect with sslmode=require",
            ));
        }
        if self.sasl.is_none() && !is_loopback(peer) {
            return Err(fatal(
                sqlstate::INVALID_AUTHORIZATION,
                "no password is configured, so only local connections are accepted",
            ));
        }
        Ok(())
    }

    /// Creates the session once the client is authenticated.
    fn open_session<C: ClientInfo>(&self, client: &mut C) -> PgWireResult<()> {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        // A role without LOGIN (a group such as `analyst`) is refused, as
        // PostgreSQL refuses it, whatever its password.
        let acl = self
            .state
            .access
            .acl()
            .map_err(|e: SqlStateError| fatal(e.code, e.message))?;
        if acl.role(&user).is_some_and(|r| !r.login) {
            self.audit_login(client, sqlstate::INVALID_AUTHORIZATION);
            return Err(fatal(
                sqlstate::INVALID_AUTHORIZATION,
                format!("role \"{user}\" is not permitted to log in"),
            ));
        }
        let session = Session::new(
            &self.state.base,
            &user,
            self.state.shutdown.clone(),
            Some(client.socket_addr()),
            self.link.close.clone(),
            self.state.access.clone(),
        );
        let _ = self.link.session.set(Arc::downgrade(&session));
        let (pid, key) = client.pid_and_secret_key();
        crate::session::admin::register_backend_pid(&session, pid);
        session.audit_to(self.state.audit.clone(), pid);
        // What the client calls itself, as `pg_stat_activity` shows it.
        if let Some(name) = client.metadata().get("application_name") {
            let _ = session.set("application_name", Some(name));
        }
        // The time zone a client starts in (pgJDBC sends its JVM's): the
        // session's TimeZone, as `SET TimeZone` would make it.
        let zone = client
            .metadata()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("timezone"))
            .map(|(_, v)| v.clone());
        if let Some(zone) = zone {
            match session.set("TimeZone", Some(&zone)) {
                Ok(_) => {
                    if let Some(v) = session.var("timezone") {
                        client.metadata_mut().insert("timezone".to_string(), v);
                    }
                }
                Err(e) => debug!(zone, error = %e.message, "start-up TimeZone ignored"),
            }
        }
        self.state
            .sessions
            .insert(pid, key.to_bytes().to_vec(), &session);
        Connection::open(client, session);
        self.authenticated.store(true, Ordering::Release);
        self.audit_login(client, sqlstate::SUCCESSFUL_COMPLETION);
        Ok(())
    }

    /// A login in the audit log: the user the client gave, its address, and
    /// `00000` or why it was refused.
    fn audit_login<C: ClientInfo>(&self, client: &C, code: &str) {
        self.state.audit.offer(crate::audit::Entry {
            at_us: crate::serving::log::now_us(),
            user: client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default(),
            role: None,
            client: Some(client.socket_addr().to_string()),
            session: Some(i64::from(client.pid_and_secret_key().0)),
            kind: crate::audit::Kind::Login,
            statement: "login".into(),
            objects: None,
            rows: None,
            duration_us: 0,
            sqlstate: code.to_string(),
        });
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            self.check_policy(client)?;
            let user = startup.parameters.get("user").map_or("", String::as_str);
            self.check_slots(user)?;
        }
        if let Some(sasl) = &self.sasl {
            sasl.on_startup(client, message)
                .await
                .map_err(|e| match e {
                    // PostgreSQL's message, naming the user the client gave.
                    PgWireError::InvalidPassword(_) => {
                        self.audit_login(client, sqlstate::INVALID_PASSWORD);
                        fatal(
                            sqlstate::INVALID_PASSWORD,
                            format!(
                                "password authentication failed for user \"{}\"",
                                client
                                    .metadata()
                                    .get(METADATA_USER)
                                    .map_or("", String::as_str)
                            ),
                        )
                    }
                    other => other,
                })?;
            if matches!(client.state(), PgWireConnectionState::ReadyForQuery)
                && !Connection::is_open(client)
            {
                self.open_session(client)?;
            }
            return Ok(());
        }
        // Trust (loopback only): the user must exist.
        if let PgWireFrontendMessage::Startup(startup) = &message {
            protocol_negotiation(client, startup).await?;
            save_startup_parameters_to_metadata(client, startup);
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            let known = self
                .state
                .catalog
                .store()
                .user(&user)
                .map_err(|e: SqlStateError| fatal(e.code, e.message))?;
            let Some(row) = known else {
                let mut info = ErrorInfo::new(
                    "FATAL".to_owned(),
                    sqlstate::INVALID_AUTHORIZATION.to_owned(),
                    format!("role \"{user}\" does not exist"),
                );
                info.hint = Some(format!(
                    "connect as \"{}\", e.g. psql -U {}",
                    self.state.config.superuser, self.state.config.superuser
                ));
                return Err(PgWireError::UserError(Box::new(info)));
            };
            let (pid, key) = self.state.keys.generate(client);
            client.set_pid_and_secret_key(pid, key);
            // Counted before the client hears it is in (ReadyForQuery), so a
            // client that connects next sees this session's slot taken.
            self.open_session(client)?;
            finish_authentication(client, &parameters(row.superuser)).await?;
        }
        Ok(())
    }
}

/// Answers every start-up with "too many connections" and closes.
pub struct Refuse;

#[async_trait]
impl StartupHandler for Refuse {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.flush().await?;
        Err(fatal(
            sqlstate::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_salts_are_stable_per_name_and_secret() {
        let a = mock_salt(b"secret", "nobody");
        assert_eq!(a.len(), 16);
        assert_eq!(a, mock_salt(b"secret", "nobody"));
        assert_ne!(a, mock_salt(b"secret", "somebody"));
        assert_ne!(a, mock_salt(b"other secret", "nobody"));
    }
}
