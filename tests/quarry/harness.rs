//! Registers and runs the tests, starts servers and connects clients.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::Failed;
use quarry::{Config, Server};
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

/// A function marked `#[quarry_test]`, submitted by the attribute
/// (`tests/macros`) and made a trial by `main`.
pub struct Test {
    /// The function's `module_path!()`: `quarry::auth`.
    pub module: &'static str,
    pub name: &'static str,
    pub run: fn(),
}

inventory::collect!(Test);

impl Test {
    /// Every registered test.
    pub fn all() -> impl Iterator<Item = &'static Test> {
        inventory::iter::<Test>.into_iter()
    }

    /// `auth::scram_accepts_the_right_password_only`: the module path without
    /// the crate, then the function, as libtest named it.
    pub fn trial_name(&self) -> String {
        match self.module.split_once("::") {
            Some((_crate, module)) => format!("{module}::{}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// Runs an async test as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]` did: on a runtime of its own, dropped at the end.
pub fn run_async<T>(test: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(quarry::complexity::THREAD_STACK)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the test")
        .block_on(test)
}

/// Fails when a test in `tests/quarry` would not run: a `#[test]` or
/// `#[tokio::test]` (not collected under `harness = false`, so silently
/// skipped), or a `#[quarry_test]` that did not register (compiled out).
pub fn every_test_is_a_trial() -> Result<(), Failed> {
    let mut files = Vec::new();
    files_with_extension(&repo_root().join("tests/quarry"), "rs", &mut files);
    let mut marked = 0;
    let mut stray = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("#[quarry_test]") {
                marked += 1;
            } else if ["#[test]", "#[tokio::test", "#[::tokio::test"]
                .iter()
                .any(|attribute| line.starts_with(attribute))
            {
                stray.push(format!("{}:{}: {line}", file.display(), i + 1));
            }
        }
    }
    if !stray.is_empty() {
        return Err(format!(
            "this binary has no libtest harness, so these tests would never run; \
             mark them #[quarry_test] instead:\n{}",
            stray.join("\n")
        )
        .into());
    }
    let registered = Test::all().count();
    if registered != marked {
        return Err(format!(
            "{marked} functions are marked #[quarry_test] but {registered} registered"
        )
        .into());
    }
    Ok(())
}

/// Every file under `dir` (recursively) with extension `ext`.
pub fn files_with_extension(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_with_extension(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// A server running in this process until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub http: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A fresh server on an empty, temporary data directory.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_data_dir(dir.path());
        let mut server = Self::with_config(config).await;
        server._dir = Some(dir);
        server
    }

    /// A server with the demo tables, on a temporary data directory.
    pub async fn start_demo() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path());
        config.demo = true;
        let mut server = Self::with_config(config).await;
        server._dir = Some(dir);
        server
    }

    /// A fresh server whose superuser logs in with `password`, and a
    /// client logged in as it.
    pub async fn with_password(password: &str) -> (TestServer, Client) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path());
        config.password = Some(password.into());
        let mut server = Self::with_config(config).await;
        server._dir = Some(dir);
        let admin = connect(&format!("{} password='{password}'", server.url("quarry"))).await;
        (server, admin)
    }

    /// A server on `data_dir` (kept after the server stops).
    pub async fn on_dir(data_dir: &Path) -> TestServer {
        Self::with_config(Config::for_data_dir(data_dir)).await
    }

    pub async fn with_config(config: Config) -> TestServer {
        let server = Server::start(config).await.expect("server starts");
        let addr = server.pg_addr().expect("pg addr");
        let http = server.http_addr().expect("http addr");
        let stop = server.shutdown_token();
        let task = tokio::spawn(async move {
            server
                .serve(Duration::from_secs(2))
                .await
                .expect("server runs");
        });
        TestServer {
            addr,
            http,
            stop,
            task: Some(task),
            _dir: None,
        }
    }

    pub fn url(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=quarry",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// A connected client as the superuser.
    pub async fn connect(&self) -> Client {
        connect(&self.url("quarry")).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("client connects");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The whole response to `GET path` on the HTTP listener at `addr`.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    response
}

/// `method path` with `headers` and `body` on the HTTP listener at
/// `addr`: the status code and the response body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}

/// The repository root, for fixtures.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first column of every row, as text, through the simple protocol.
pub async fn texts(client: &Client, sql: &str) -> Vec<Option<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .collect()
}

/// The single value of a one-row, one-column query.
pub async fn scalar(client: &Client, sql: &str) -> String {
    let rows = texts(client, sql).await;
    assert_eq!(rows.len(), 1, "{sql} returned {} rows", rows.len());
    rows.into_iter().next().flatten().unwrap_or_default()
}

/// A fixture's options object as `key = 'value', ...` for CREATE MODEL.
pub fn options_sql(options: &serde_json::Value) -> String {
    options
        .as_object()
        .expect("options object")
        .iter()
        .map(|(k, v)| format!("{k} = '{}'", v.as_str().expect("string option")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The real `quarry` binary, for tests that kill it or must see it survive:
/// a stack overflow or an abort in-process would take the test binary down.
pub struct Process {
    pub child: std::process::Child,
    pub port: u16,
    pub http_port: u16,
}

impl Process {
    /// Starts `quarry` on `dir` (no demo data) and waits for its ready line.
    pub fn spawn(dir: &Path) -> Process {
        Process::spawn_with(dir, &[], &[])
    }

    /// [`Process::spawn`] with more arguments, run under `wrapper` (e.g.
    /// `prlimit --as=...`) when it is not empty.
    pub fn spawn_with(dir: &Path, args: &[&str], wrapper: &[&str]) -> Process {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let binary = env!("CARGO_BIN_EXE_quarry");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["--data-dir"])
            .arg(dir)
            .args([
                "--pg-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--no-demo",
            ])
            .args(args)
            .env("QUARRY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quarry");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let number = |text: &str| -> u16 {
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("port")
        };
        let (port, http_port) = loop {
            let line = lines
                .next()
                .expect("quarry exited before it was ready")
                .expect("read stderr");
            if let Some(rest) = line.split("quarry ready: postgres://").nth(1)
                && let Some(pg) = rest.split("@127.0.0.1:").nth(1)
                && let Some(http) = rest.split("(http 127.0.0.1:").nth(1)
            {
                break (number(pg), number(http));
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            port,
            http_port,
        }
    }

    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=quarry", self.port)
    }

    /// Panics when the process has exited: the server must survive.
    pub fn assert_alive(&mut self, after: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("quarry died ({status}) after {after}");
        }
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test that panics must not leave its server running.
impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
