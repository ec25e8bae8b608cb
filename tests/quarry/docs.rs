//! The reference (`docs/functions.md`) matches the functions the server
//! registers, every function is documented and tested in an slt file, and
//! every example prints what a demo server returns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use quarry::docs::{EXAMPLE_SETUP, Entry};
use quarry::{Config, Server};
use quarry_test_macros::quarry_test;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::harness::{TestServer, files_with_extension, repo_root};

fn blessing() -> bool {
    std::env::var("QUARRY_BLESS").is_ok_and(|v| v == "1")
}

fn table_docs() -> Vec<(&'static str, datafusion::logical_expr::Documentation)> {
    quarry::docs::table_function_docs()
}

/// The reference entries of a fresh server, in the reference's order.
async fn entries() -> Vec<Entry> {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Config::for_data_dir(dir.path()))
        .await
        .expect("server starts");
    quarry::docs::entries(&server.state.base, &table_docs()).expect("every function is documented")
}

#[quarry_test]
async fn functions_md_is_current() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Config::for_data_dir(dir.path()))
        .await
        .expect("server starts");
    let generated = quarry::docs::functions_markdown(&server.state.base, &table_docs())
        .expect("every function is documented");
    for name in [
        "ml_predict",
        "ml_predict_proba",
        "ml_deploy",
        "ml_rollback",
        "ml_train",
    ] {
        assert!(
            generated.contains(&format!("### `{name}`")),
            "{name} missing from the reference"
        );
    }
    let path = repo_root().join("docs/functions.md");
    if blessing() {
        std::fs::write(&path, &generated).expect("write docs/functions.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/functions.md is stale: regenerate it with QUARRY_BLESS=1 cargo test --test quarry docs::"
    );
}

/// The name a statement calls a function by: `name(` after a character
/// that cannot be part of a name.
fn calls(text: &str, name: &str) -> bool {
    text.match_indices(&format!("{name}(")).any(|(i, _)| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[quarry_test]
async fn every_function_appears_in_an_slt_file() {
    let mut files = Vec::new();
    files_with_extension(&repo_root().join("sql/slt"), "slt", &mut files);
    let slt: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read slt file"))
        .collect();
    let mut untested: Vec<String> = entries()
        .await
        .into_iter()
        .map(|e| e.title.split(' ').next().unwrap_or_default().to_string())
        .filter(|name| !calls(&slt, name))
        .collect();
    untested.dedup();
    assert!(
        untested.is_empty(),
        "functions that no file under sql/slt calls: {}",
        untested.join(", ")
    );
}

/// One statement of an example and the table printed after it.
struct Step {
    /// The statement as printed: `> ` before the first line, two spaces
    /// before the others.
    lines: Vec<String>,
}

impl Step {
    fn sql(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.get(2..).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The statements of an example block (```` ```sql ```` ... ```` ``` ````):
/// a line starting with `> ` begins one, indented lines continue it, and
/// the result table after it is what the server printed.
fn steps(example: &str) -> Result<Vec<Step>, String> {
    let body = example
        .trim()
        .strip_prefix("```sql\n")
        .and_then(|b| b.strip_suffix("```"))
        .ok_or("an example is a ```sql block")?;
    let mut steps: Vec<Step> = Vec::new();
    for line in body.lines() {
        if line.starts_with("> ") {
            steps.push(Step {
                lines: vec![line.to_string()],
            });
        } else if line.starts_with("  ") && !line.trim_start().starts_with(['+', '|']) {
            let step = steps
                .last_mut()
                .ok_or("a continued line before any statement")?;
            step.lines.push(line.to_string());
        } else if !(line.starts_with('+') || line.starts_with('|')) {
            return Err(format!("neither a statement nor a result row: {line}"));
        }
    }
    if steps.is_empty() {
        return Err("no statement (a line starting with `> `)".into());
    }
    Ok(steps)
}

/// A result as the examples print it: a box of left-aligned columns, NULL
/// as nothing; nothing for a statement without a result.
fn table(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].as_deref().unwrap_or_default().chars().count())
            .chain([columns[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns.len()).map(width).collect();
    let rule = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: Vec<&str>| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = rule.clone();
    out.push_str(&line(columns.iter().map(String::as_str).collect()));
    out.push_str(&rule);
    for row in rows {
        out.push_str(&line(
            row.iter()
                .map(|c| c.as_deref().unwrap_or_default())
                .collect(),
        ));
    }
    out.push_str(&rule);
    out
}

/// The example as it prints with what the server returns now.
async fn rerun(client: &Client, example: &str) -> Result<String, String> {
    let mut out = String::from("```sql\n");
    for step in steps(example)? {
        for line in &step.lines {
            out.push_str(line);
            out.push('\n');
        }
        let messages = client
            .simple_query(&step.sql())
            .await
            .map_err(|e| format!("{}: {e:?}", step.sql()))?;
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(description) => {
                    columns = description.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => {}
            }
        }
        out.push_str(&table(&columns, &rows));
    }
    out.push_str("```");
    Ok(out)
}

/// Rewrites `old` as `new` in the one source file that holds it verbatim.
fn bless(old: &str, new: &str) -> Result<PathBuf, String> {
    let mut files = Vec::new();
    for dir in ["src", "udfs/src"] {
        files_with_extension(&repo_root().join(dir), "rs", &mut files);
    }
    let holding: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|text| text.contains(old)))
        .collect();
    match holding.as_slice() {
        [file] => {
            let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
            std::fs::write(file, text.replacen(old, new, 1)).map_err(|e| e.to_string())?;
            Ok(file.clone())
        }
        [] => Err("the example is not written verbatim in any source file".into()),
        _ => Err(format!("the example is written in {} files", holding.len())),
    }
}

/// Every example, run in the reference's order on one demo server after
/// [`EXAMPLE_SETUP`], prints what the server returns. `QUARRY_BLESS=1`
/// rewrites the printed results in the code.
#[quarry_test]
async fn examples_print_what_the_server_returns() {
    let entries = entries().await;
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    for statement in EXAMPLE_SETUP.split(";\n").filter(|s| !s.trim().is_empty()) {
        client
            .simple_query(statement)
            .await
            .unwrap_or_else(|e| panic!("the examples' setup runs: {statement}: {e:?}"));
    }
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for Entry { title, doc, .. } in &entries {
        let Some(example) = doc.sql_example.as_deref() else {
            continue;
        };
        let example = example.trim();
        match rerun(&client, example).await {
            Ok(now) if now == example => {}
            Ok(now) if blessing() => {
                if let Err(e) = bless(example, &now) {
                    failures.insert(title.clone(), format!("cannot bless: {e}"));
                }
            }
            Ok(now) => {
                failures.insert(
                    title.clone(),
                    format!("printed:\n{example}\nthe server returns:\n{now}"),
                );
            }
            Err(e) => {
                failures.insert(title.clone(), format!("does not run: {e}"));
            }
        }
    }
    let report: Vec<String> = failures
        .iter()
        .map(|(title, why)| format!("{title}: {why}"))
        .collect();
    assert!(
        report.is_empty(),
        "{} examples differ from what a demo server returns (QUARRY_BLESS=1 cargo test --test quarry -- docs:: \
         rewrites them; run it twice so docs/functions.md follows):\n\n{}",
        report.len(),
        report.join("\n\n")
    );
}

/// The runnable examples of the statements' reference (a ```` ```sql ````
/// block of complete statements, not a syntax line) run, in order, on a
/// fresh demo server.
#[quarry_test]
async fn statement_examples_run() {
    let server = TestServer::start_demo().await;
    let client = server.connect().await;
    let mut ran = 0;
    for block in quarry::docs::STATEMENTS.split("```sql\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default().trim();
        // Syntax lines have placeholders; examples end with a semicolon.
        if body.contains('<') || body.contains('[') || !body.ends_with(';') {
            continue;
        }
        for statement in body.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            client
                .simple_query(statement)
                .await
                .unwrap_or_else(|e| panic!("the reference's example fails: {statement}: {e:?}"));
            ran += 1;
        }
    }
    assert!(ran >= 4, "only {ran} statement examples found");
}
