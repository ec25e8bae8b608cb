//! Runs every `sql/slt/**/*.slt` file over the wire, each on a fresh server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::harness::{TestServer, connect, repo_root};

struct Wire {
    client: Client,
}

/// A server error with its message, so `statement error <regex>` can match it.
#[derive(Debug)]
struct WireError {
    code: Option<String>,
    message: String,
}

/// Shown as `SQLSTATE message`, so that `statement error (22023) bad k`
/// checks the code and the message in one regex; `statement error (22023)`
/// alone is sqllogictest's SQLSTATE-only form.
impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code} {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for WireError {}

impl From<tokio_postgres::Error> for WireError {
    fn from(e: tokio_postgres::Error) -> Self {
        WireError {
            code: e.code().map(|c| c.code().to_string()),
            message: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        }
    }
}

#[async_trait]
impl AsyncDB for Wire {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for message in self.client.simple_query(sql).await? {
            match message {
                SimpleQueryMessage::Row(r) => {
                    rows.push(
                        (0..r.len())
                            .map(|i| match r.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::RowDescription(d) => columns = Some(d.len()),
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(width) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; width],
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "quarry"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        err.code.clone()
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files_pass_over_the_wire() {
    let mut files = Vec::new();
    slt_files(&repo_root().join("sql/slt"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .slt files found");
    let filter = std::env::var("SLT").ok();
    let mut failures = Vec::new();
    for file in &files {
        if let Some(f) = &filter
            && !file.to_string_lossy().contains(f.as_str())
        {
            continue;
        }
        // A file that reads the demo tables says so in a line of its own.
        let needs_demo = std::fs::read_to_string(file)
            .is_ok_and(|text| text.lines().any(|l| l.trim() == "# requires: demo"));
        let server = if needs_demo {
            TestServer::start_demo().await
        } else {
            TestServer::start().await
        };
        let url = server.url("quarry");
        let mut runner = Runner::new(move || {
            let url = url.clone();
            async move {
                Ok(Wire {
                    client: connect(&url).await,
                })
            }
        });
        runner.add_label("quarry");
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}:\n{}", file.display(), e.display(true)));
        }
        server.stop().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
