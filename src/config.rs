//! Server configuration: command-line flags > `QUARRY_*` environment > `quarry.toml`.
//!
//! clap merges flags and environment variables; the TOML file is read underneath
//! them, so every field is optional at the clap layer and resolved in [`Config::load`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

/// Command-line flags. Each one can also be set by its environment variable or by
/// the key of the same name (with `_` for `-`) in `quarry.toml`.
#[derive(Debug, Default, Parser)]
#[command(
    name = "quarry",
    version,
    about = "Quarry: data mining in SQL over the PostgreSQL wire protocol"
)]
pub struct Cli {
    /// Directory holding tables, models and the catalog [default: ./quarry-data]
    #[arg(long, env = "QUARRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address of the PostgreSQL wire protocol listener [default: 127.0.0.1:5433]
    #[arg(long, env = "QUARRY_PG_LISTEN")]
    pub pg_listen: Option<String>,

    /// Address of the HTTP listener [default: 127.0.0.1:8433]
    #[arg(long, env = "QUARRY_HTTP_LISTEN")]
    pub http_listen: Option<String>,

    /// Do not load the demo tables into an empty data directory
    #[arg(long, env = "QUARRY_NO_DEMO", num_args = 0..=1, default_missing_value = "true")]
    pub no_demo: Option<bool>,

    /// Name of the bootstrap superuser [default: quarry]
    #[arg(long, env = "QUARRY_SUPERUSER")]
    pub superuser: Option<String>,

    /// Password of the bootstrap superuser; clients then authenticate with SCRAM-SHA-256
    #[arg(long, env = "QUARRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// PEM certificate chain for TLS
    #[arg(long, env = "QUARRY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for TLS (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "QUARRY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Memory for query execution across all sessions, e.g. 4GB, 512MB [default: no limit]
    #[arg(long, env = "QUARRY_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,

    /// Maximum number of concurrent client connections [default: 100]
    #[arg(long, env = "QUARRY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Connection slots kept for superusers out of --max-connections [default: 3]
    #[arg(long, env = "QUARRY_SUPERUSER_RESERVED_CONNECTIONS")]
    pub superuser_reserved_connections: Option<usize>,

    /// Time a client has to start up and authenticate, e.g. 60s, 500ms [default: 60s]
    #[arg(long, env = "QUARRY_AUTHENTICATION_TIMEOUT")]
    pub authentication_timeout: Option<String>,

    /// How long files a table no longer uses stay for statements still reading them, e.g. 1h, 0s [default: 1h]
    #[arg(long, env = "QUARRY_VACUUM_RETENTION")]
    pub vacuum_retention: Option<String>,

    /// Worker threads for query execution [default: number of CPUs]
    #[arg(long, env = "QUARRY_THREADS")]
    pub threads: Option<usize>,

    /// Prediction log rows queued for the writer at most; rows beyond are dropped and counted [default: 1000000]
    #[arg(long, env = "QUARRY_PREDICTION_LOG_QUEUE")]
    pub prediction_log_queue: Option<usize>,

    /// Audit records queued for the writer at most; records beyond are dropped, counted and the count audited [default: 100000]
    #[arg(long, env = "QUARRY_AUDIT_QUEUE")]
    pub audit_queue: Option<usize>,

    /// How often the scheduler evaluates model policies (ml_jobs), e.g. 5min, 1h; 0 turns it off (ml_run_policy still runs them) [default: 5min]
    #[arg(long, env = "QUARRY_SCHEDULER_INTERVAL")]
    pub scheduler_interval: Option<String>,

    /// Hosts alert webhooks may go to, comma-separated: host or host:port (an IPv6 address in brackets), or * for any [default: none]
    #[arg(long, env = "QUARRY_ALERT_WEBHOOK_HOSTS")]
    pub alert_webhook_hosts: Option<String>,

    /// Configuration file [default: ./quarry.toml when it exists]
    #[arg(long, env = "QUARRY_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The keys `quarry.toml` may contain; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_dir: Option<PathBuf>,
    pg_listen: Option<String>,
    http_listen: Option<String>,
    no_demo: Option<bool>,
    superuser: Option<String>,
    password: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    memory_limit: Option<String>,
    max_connections: Option<usize>,
    superuser_reserved_connections: Option<usize>,
    authentication_timeout: Option<String>,
    vacuum_retention: Option<String>,
    threads: Option<usize>,
    prediction_log_queue: Option<usize>,
    audit_queue: Option<usize>,
    scheduler_interval: Option<String>,
    alert_webhook_hosts: Option<String>,
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub pg_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub demo: bool,
    pub superuser: String,
    pub password: Option<String>,
    pub tls: Option<TlsPaths>,
    pub memory_limit: Option<usize>,
    /// Authenticated sessions at most.
    pub max_connections: usize,
    /// Of those, slots only a superuser may take.
    pub superuser_reserved_connections: usize,
    /// A connection not authenticated by then is closed.
    pub authentication_timeout: std::time::Duration,
    /// Files a table no longer uses are deleted this long after (VACUUM).
    pub vacuum_retention: std::time::Duration,
    pub threads: usize,
    /// Prediction log rows waiting for the writer at most.
    pub prediction_log_queue: usize,
    /// Audit records waiting for the writer at most.
    pub audit_queue: usize,
    /// How often policies are evaluated; `None`: never on its own.
    pub scheduler_interval: Option<std::time::Duration>,
    /// Where alert webhooks may go.
    pub alert_webhook_hosts: crate::lifecycle::notify::Hosts,
}

#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// Parses flags and environment, then fills gaps from the TOML file.
    pub fn load() -> Result<Self, String> {
        Self::from_cli(Cli::parse())
    }

    pub fn from_cli(cli: Cli) -> Result<Self, String> {
        let file = match &cli.config {
            Some(path) => read_file_config(path)?,
            None if Path::new("quarry.toml").exists() => {
                read_file_config(Path::new("quarry.toml"))?
            }
            None => FileConfig::default(),
        };
        let pg_listen = cli.pg_listen.or(file.pg_listen);
        let http_listen = cli.http_listen.or(file.http_listen);
        let tls = match (cli.tls_cert.or(file.tls_cert), cli.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsPaths { cert, key }),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key must be given together".into()),
        };
        let memory_limit = match cli.memory_limit.or(file.memory_limit) {
            Some(text) => Some(parse_bytes(&text).map_err(|e| format!("--memory-limit: {e}"))?),
            None => None,
        };
        let threads = cli
            .threads
            .or(file.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        if threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        let max_connections = cli.max_connections.or(file.max_connections).unwrap_or(100);
        if max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        let superuser_reserved_connections = cli
            .superuser_reserved_connections
            .or(file.superuser_reserved_connections)
            .unwrap_or(3);
        if superuser_reserved_connections >= max_connections {
            return Err(format!(
                "--superuser-reserved-connections ({superuser_reserved_connections}) must be less \
                 than --max-connections ({max_connections})"
            ));
        }
        let authentication_timeout =
            match cli.authentication_timeout.or(file.authentication_timeout) {
                Some(text) => {
                    let ms = crate::session::parse_duration_ms(&text)
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| {
                        format!(
                            "--authentication-timeout: expected a positive duration such as 60s \
                             or 500ms, got {text:?}"
                        )
                    })?;
                    std::time::Duration::from_millis(ms)
                }
                None => std::time::Duration::from_secs(60),
            };
        let vacuum_retention = match cli.vacuum_retention.or(file.vacuum_retention) {
            Some(text) => std::time::Duration::from_millis(
                crate::session::parse_duration_ms(&text).ok_or_else(|| {
                    format!(
                        "--vacuum-retention: expected a duration such as 1h or 0s, got {text:?}"
                    )
                })?,
            ),
            None => std::time::Duration::from_secs(3600),
        };
        let scheduler_interval = match cli.scheduler_interval.or(file.scheduler_interval) {
            Some(text) => crate::session::parse_duration_ms(&text)
                .ok_or_else(|| {
                    format!(
                        "--scheduler-interval: expected a duration such as 5min or 1h (0 turns it off), got {text:?}"
                    )
                })
                .map(|ms| (ms > 0).then(|| std::time::Duration::from_millis(ms)))?,
            None => Some(std::time::Duration::from_secs(300)),
        };
        let alert_webhook_hosts = crate::lifecycle::notify::Hosts::parse(
            cli.alert_webhook_hosts
                .or(file.alert_webhook_hosts)
                .as_deref()
                .unwrap_or(""),
        )
        .map_err(|e| format!("--alert-webhook-hosts: {e}"))?;
        let superuser = cli
            .superuser
            .or(file.superuser)
            .unwrap_or_else(|| "quarry".to_string());
        if superuser.is_empty() {
            return Err("--superuser must not be empty".into());
        }
        let password = cli.password.or(file.password).filter(|p| !p.is_empty());
        Ok(Config {
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("quarry-data")),
            pg_listen: parse_addr(
                "--pg-listen",
                pg_listen.as_deref().unwrap_or("127.0.0.1:5433"),
            )?,
            http_listen: parse_addr(
                "--http-listen",
                http_listen.as_deref().unwrap_or("127.0.0.1:8433"),
            )?,
            demo: !cli.no_demo.or(file.no_demo).unwrap_or(false),
            superuser,
            password,
            tls,
            memory_limit,
            max_connections,
            superuser_reserved_connections,
            authentication_timeout,
            vacuum_retention,
            threads,
            prediction_log_queue: cli
                .prediction_log_queue
                .or(file.prediction_log_queue)
                .unwrap_or(1_000_000),
            audit_queue: cli.audit_queue.or(file.audit_queue).unwrap_or(100_000),
            scheduler_interval,
            alert_webhook_hosts,
        })
    }

    /// A configuration for tests and embedding: loopback, port 0, no demo data.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            pg_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: false,
            superuser: "quarry".into(),
            password: None,
            tls: None,
            memory_limit: None,
            max_connections: 100,
            superuser_reserved_connections: 3,
            authentication_timeout: std::time::Duration::from_secs(60),
            vacuum_retention: std::time::Duration::from_secs(3600),
            threads: 2,
            prediction_log_queue: 1_000_000,
            audit_queue: 100_000,
            // Tests run policies with ml_run_policy, when they choose.
            scheduler_interval: None,
            alert_webhook_hosts: crate::lifecycle::notify::Hosts::default(),
        }
    }
}

fn read_file_config(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `HOST:PORT`, the host numeric or a name (`localhost`) resolved once at
/// start-up; an IPv4 address is preferred when a name has both.
fn parse_addr(flag: &str, text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("{flag}: expected HOST:PORT, got {text:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{flag}: {text:?} resolves to no address"))
}

/// Parses `4GB`, `512MB`, `64KiB` or a plain number of bytes.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 4GB or 512MB, got {text:?}"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KB, MB, GB or TB"
            ));
        }
    };
    let bytes = number * scale;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("size must be positive, got {text:?}"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_with_units() {
        assert_eq!(parse_bytes("512MB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("4GB"), Ok(4 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn flags_override_file_and_defaults() {
        let cli = Cli {
            pg_listen: Some("127.0.0.1:6000".into()),
            no_demo: Some(true),
            ..Cli::default()
        };
        let config = Config::from_cli(cli).expect("valid config");
        assert_eq!(config.pg_listen.port(), 6000);
        assert_eq!(config.http_listen.port(), 8433);
        assert!(!config.demo);
        assert_eq!(config.superuser, "quarry");
    }

    #[test]
    fn listen_addresses_may_name_a_host() {
        let addr = parse_addr("--pg-listen", "localhost:5433").expect("localhost resolves");
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), 5433);
        assert!(parse_addr("--pg-listen", "localhost").is_err());
        assert!(parse_addr("--pg-listen", "no such host.invalid:1").is_err());
    }

    #[test]
    fn connection_limits_and_timeouts_are_checked() {
        let cli = Cli {
            authentication_timeout: Some("2s".into()),
            ..Cli::default()
        };
        let config = Config::from_cli(cli).expect("valid config");
        assert_eq!(config.authentication_timeout.as_millis(), 2000);
        assert_eq!(config.superuser_reserved_connections, 3);
        for cli in [
            Cli {
                authentication_timeout: Some("soon".into()),
                ..Cli::default()
            },
            Cli {
                max_connections: Some(3),
                superuser_reserved_connections: Some(3),
                ..Cli::default()
            },
        ] {
            assert!(Config::from_cli(cli).is_err());
        }
    }

    #[test]
    fn tls_needs_both_files() {
        let cli = Cli {
            tls_cert: Some("cert.pem".into()),
            ..Cli::default()
        };
        assert!(Config::from_cli(cli).is_err());
    }
}
