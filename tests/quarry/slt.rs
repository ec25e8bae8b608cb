//! Runs every `sql/slt/**/*.slt` file over the wire, each on a fresh server
//! and as a trial of its own (`slt::ml/training`), or with `--complete`
//! rewrites the files' expected output (see `main.rs`).
//!
//! A file that reads the demo tables says so in a line of its own,
//! `# requires: demo`, and gets a server with them.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use libtest_mimic::{Failed, Trial};
use sqllogictest::{
    AsyncDB, ColumnType, DBOutput, ExpectedError, MakeConnection, QueryExpect, Record,
    RecordOutput, Runner, StatementExpect, default_normalizer, default_validator,
    update_record_with_output,
};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::harness::{TestServer, connect, files_with_extension, repo_root, run_async};

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
    type ColumnType = Letter;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Letter>, Self::Error> {
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
                types: (0..width).map(|i| Letter::of_column(&rows, i)).collect(),
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

/// One trial per `.slt` file under `sql/slt`, in path order.
pub fn trials(complete: bool) -> Vec<Trial> {
    let root = repo_root().join("sql/slt");
    let mut files = Vec::new();
    files_with_extension(&root, "slt", &mut files);
    files.sort();
    if files.is_empty() {
        return vec![Trial::test("slt::files", move || {
            Err(format!("no .slt files under {}", root.display()).into())
        })];
    }
    files
        .into_iter()
        .map(|file| {
            let name = trial_name(&root, &file);
            Trial::test(name, move || {
                if complete {
                    complete_file(&file)
                } else {
                    check_file(&file)
                }
            })
        })
        .collect()
}

/// `slt::ml/training` for `sql/slt/ml/training.slt`.
fn trial_name(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file).with_extension("");
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    format!("slt::{}", parts.join("/"))
}

/// Runs every record of the file, past failures, and reports each failure.
fn check_file(file: &Path) -> Result<(), Failed> {
    let records =
        sqllogictest::parse_file::<Letter>(file).map_err(|e| format!("{}: {e}", file.display()))?;
    run_async(async {
        let server = start_server(file).await;
        let mut runner = runner(&server);
        let mut checked = 0;
        let mut failures = Vec::new();
        for record in records {
            if matches!(record, Record::Halt { .. }) {
                break;
            }
            checked += usize::from(matches!(
                record,
                Record::Statement { .. } | Record::Query { .. }
            ));
            if let Err(e) = runner.run_async(record).await {
                failures.push(e.display(false).to_string().trim_end().to_string());
            }
        }
        runner.shutdown_async().await;
        server.stop().await;
        if failures.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} of {checked} records failed in {}:\n\n{}",
            failures.len(),
            file.display(),
            failures.join("\n\n")
        )
        .into())
    })
}

/// Rewrites the file's expected output with what the server answers. A
/// record that passes is written as it was; one that fails gets the actual
/// results or error.
fn complete_file(file: &Path) -> Result<(), Failed> {
    let before = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let records =
        sqllogictest::parse_file::<Letter>(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if records.iter().any(|r| matches!(r, Record::Injected(_))) {
        return Err(format!(
            "{}: --complete does not rewrite a file with `include`",
            file.display()
        )
        .into());
    }
    let text = run_async(async {
        let server = start_server(file).await;
        let mut runner = runner(&server);
        let mut text = String::new();
        let mut halted = false;
        for record in records {
            halted |= matches!(record, Record::Halt { .. });
            let record = if halted {
                record
            } else {
                let output = runner.apply_record(record.clone()).await;
                completed(record, &output)
            };
            writeln!(text, "{record}").expect("writing to a String");
        }
        runner.shutdown_async().await;
        server.stop().await;
        text
    });
    let after = format!("{}\n", text.trim_end_matches('\n'));
    if after != before {
        std::fs::write(file, after).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("rewrote {}", file.display());
    }
    Ok(())
}

/// The record as it should be written after `output`. sqllogictest's
/// `update_record_with_output` decides, with the validators the check uses
/// (the column types are kept unless the width changed), except for an
/// expected error: it matches errors without their SQLSTATE,
/// so `statement error (42P01)` would be rewritten although it passes. Those
/// are matched here as the check matches them, and a wrong SQLSTATE is
/// replaced by the actual one in the same form.
fn completed(mut record: Record<Letter>, output: &RecordOutput<Letter>) -> Record<Letter> {
    let error = match output {
        RecordOutput::Statement { error, .. } | RecordOutput::Query { error, .. } => error.as_ref(),
        _ => None,
    };
    let expected = match &mut record {
        Record::Statement {
            expected: StatementExpect::Error(e),
            ..
        }
        | Record::Query {
            expected: QueryExpect::Error(e),
            ..
        } => Some(e),
        _ => None,
    };
    if let (Some(expected), Some(error)) = (expected, error) {
        let state = error
            .downcast_ref::<WireError>()
            .and_then(|e| e.code.clone());
        if expected.is_match(&error.to_string(), state.as_deref()) {
            return record;
        }
        if let (ExpectedError::SqlState(_), Some(state)) = (&*expected, state) {
            *expected = ExpectedError::SqlState(state);
            return record;
        }
    }
    // Types as written, unless the number of columns changed.
    let same_width: fn(&Vec<Letter>, &Vec<Letter>) -> bool = |a, b| a.len() == b.len();
    update_record_with_output(
        &record,
        output,
        " ",
        default_validator,
        default_normalizer,
        same_width,
    )
    .unwrap_or(record)
}

/// A column type as its letter in a `query` line, kept as written: the
/// check ignores types, and `--complete` keeps them. Columns that have none
/// yet get `B`, `I`, `R` or `T` from their values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Letter(char);

impl ColumnType for Letter {
    fn from_char(value: char) -> Option<Self> {
        Some(Letter(value))
    }

    fn to_char(&self) -> char {
        self.0
    }
}

impl Letter {
    fn of_column(rows: &[Vec<String>], column: usize) -> Letter {
        let values: Vec<&str> = rows
            .iter()
            .filter_map(|row| row.get(column).map(String::as_str))
            .filter(|v| *v != "NULL")
            .collect();
        let all = |test: fn(&str) -> bool| !values.is_empty() && values.iter().all(|v| test(v));
        Letter(if all(|v| v == "t" || v == "f") {
            'B'
        } else if all(|v| v.parse::<i64>().is_ok()) {
            'I'
        } else if all(|v| v.parse::<f64>().is_ok()) {
            'R'
        } else {
            'T'
        })
    }
}

async fn start_server(file: &Path) -> TestServer {
    let needs_demo = std::fs::read_to_string(file)
        .is_ok_and(|text| text.lines().any(|l| l.trim() == "# requires: demo"));
    if needs_demo {
        TestServer::start_demo().await
    } else {
        TestServer::start().await
    }
}

/// A runner whose connections (one per `connection` name) go to `server`
/// as the superuser.
fn runner(server: &TestServer) -> Runner<Wire, impl MakeConnection<Conn = Wire> + use<>> {
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
    runner
}
