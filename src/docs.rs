//! `docs/functions.md`, generated from the functions a server registers, so
//! the reference cannot drift from the code. The integration test
//! `docs::functions_md_is_current` fails when the file is stale and rewrites
//! it when run with `QUARRY_BLESS=1`.
//!
//! Every example is a session on a demo server ([`EXAMPLE_SETUP`] first,
//! then the examples in the order of the reference): the trial
//! `docs::examples_print_what_the_server_returns` runs them and fails when a
//! printed result differs from what the server returns; with `QUARRY_BLESS=1`
//! it rewrites the results in the code (a second blessed run then updates
//! this file).

use std::collections::BTreeMap;
use std::fmt::Write;

use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Documentation;

/// Statements Quarry parses itself, before DataFusion sees the SQL.
/// `{options}` stands for the option tables of `CREATE MODEL`, which are
/// generated from the algorithms' own option lists.
pub const STATEMENTS: &str = r#"## Statements

### `CREATE MODEL`

Trains a model on the rows of a query and registers it as the next version of
`name` (version 1 for a new name). `OR REPLACE` drops the existing versions
first; `IF NOT EXISTS` does nothing (a NOTICE says so) when the model
exists. Returns one row: model, version, task, algorithm, train_rows,
test_rows, metrics (JSON), params (JSON), seconds, warnings (JSON).
Training longer than two seconds reports progress as NOTICE messages; a
cancel request (Ctrl-C in psql) stops it and registers nothing.

```sql
CREATE MODEL [IF NOT EXISTS] name OPTIONS (key = value, ...) AS <query>
CREATE OR REPLACE MODEL name OPTIONS (key = value, ...) AS <query>
```

{options}
Metrics (JSON) on the hold-out rows, or the training rows with `split =
'none'`: accuracy, precision, recall, f1, roc_auc, log_loss for
classifiers; rmse, mae, r2 for regressors; inertia, silhouette for
k-means; mean_score, outlier_fraction (score > 0.5, scikit-learn's default
cut) and roc_auc against a given label for isolation forests. Random
forests add their out-of-bag score (`oob_score`: accuracy or R², as
scikit-learn; `oob_roc_auc`; `oob_rows`). `ml_predict` of an
`isolation_forest` is the anomaly score of Liu et al. (2008), in (0, 1]:
about 0.5 or less for ordinary rows, near 1 for anomalies.

Errors: 22023 for an unknown option or value (the message lists the valid
ones), 42703 for an unknown label, feature or split column, 22000 when the
data cannot train (no rows, a single class), 0A000 for algorithms of a later
release, 53200 when the rows exceed the memory limit, 57014 when cancelled.

The model the function examples below score (they run after it, on the
demo tables):

```sql
CREATE MODEL churn OPTIONS (
    algorithm = 'gbdt', label = 'churned', rounds = 50,
    features = 'age,plan,monthly_fee,tenure_months,support_calls,region'
) AS SELECT * FROM customers;
```

### `DROP MODEL`

```sql
DROP MODEL [IF EXISTS] name [KEEP SNAPSHOTS]
```

Removes every version, alias and artifact of the model, and its training
snapshots (`training:<name>`) unless `KEEP SNAPSHOTS` is given. Error: 42704
when it does not exist (without `IF EXISTS`).

```sql
DROP MODEL IF EXISTS churn_2025 KEEP SNAPSHOTS;
```

### `SHOW MODELS`

Lists the models: name, versions, latest_version, production_version, task,
algorithm, updated_at. The same data is in the system table `ml_models`;
every version is in `ml_model_versions`, every deploy and rollback in
`ml_deployments`.

```sql
SHOW MODELS;
```

### `DESCRIBE MODEL`

```sql
DESCRIBE MODEL name[@version|@alias]
```

Rows of (section, item, value): the model's version, status, aliases,
training query, source tables and data sha256; the label and its classes;
each feature with its type and fitted preprocessing; for tree models
(`gbdt`, `random_forest`, `decision_tree`) each feature's share of the split
gain and its split count, largest first (one-hot and hashed columns summed
back into their feature); metrics and parameters.
Error: 42704 for an unknown model or version.

```sql
DESCRIBE MODEL churn@1;
```
"#;

/// What the examples assume besides the demo tables: one partition (the
/// order rows reach an aggregate in, and so `ml_evaluate`'s resamples and
/// the last digits of a trained model, depends on the partitioning), the
/// models they score (`churn` and `calls_rule` in production at version 1;
/// `calls_rule` also has a version 2 to deploy) and two small tables for
/// `ml_asof_join`.
pub const EXAMPLE_SETUP: &str = r#"SET datafusion.execution.target_partitions = 1;
CREATE MODEL churn OPTIONS (
    algorithm = 'gbdt', label = 'churned', rounds = 50,
    features = 'age,plan,monthly_fee,tenure_months,support_calls,region'
) AS SELECT * FROM customers;
SELECT ml_deploy('churn', 1);
CREATE MODEL price OPTIONS (
    algorithm = 'linear', label = 'price', features = 'sqft,bedrooms', interval = 0.9
) AS SELECT * FROM house_prices;
CREATE MODEL calls_rule OPTIONS (
    algorithm = 'sql_rule', task = 'classification', label = 'churned',
    expression = 'least(1.0, support_calls / 8.0 + CASE WHEN tenure_months < 6 THEN 0.3 ELSE 0.0 END)'
) AS SELECT * FROM customers;
SELECT ml_deploy('calls_rule', 1);
CREATE MODEL calls_rule OPTIONS (
    algorithm = 'sql_rule', task = 'classification', label = 'churned',
    expression = 'least(1.0, support_calls / 6.0)'
) AS SELECT * FROM customers;
CREATE TABLE orders (order_id INT, item TEXT, at TIMESTAMP);
INSERT INTO orders VALUES (1, 'apple', '2024-01-05 10:00:00'), (2, 'apple', '2024-01-01 08:00:00');
CREATE TABLE prices (item TEXT, valid_from TIMESTAMP, price DOUBLE PRECISION);
INSERT INTO prices VALUES ('apple', '2024-01-02 00:00:00', 9.5), ('apple', '2024-01-09 00:00:00', 9.9);
CREATE ROLE risk;
GRANT risk TO quarry;
SELECT ml_set_policy('price', '{"approvals_required": ["risk"]}');
CREATE SECRET demo_key;
"#;

/// The table functions' docs (the server's and `quarry-udfs`'), which
/// DataFusion does not keep.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    let mut tables = quarry_udfs::table_function_docs();
    tables.extend(crate::registry::functions::table_function_docs());
    tables.extend(crate::governance::table_function_docs());
    tables
}

/// One function's entry in the reference.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The heading: the name, with the kind when two kinds share it.
    pub title: String,
    pub kind: &'static str,
    pub doc: Documentation,
}

/// The reference entries of every `ml_*` function registered in `state`
/// plus the given table functions, in the reference's order. Fails listing
/// functions without docs.
pub fn entries(
    state: &SessionState,
    table_functions: &[(&str, Documentation)],
) -> Result<Vec<Entry>, String> {
    let mut docs: BTreeMap<String, (&'static str, Documentation)> = BTreeMap::new();
    let mut undocumented = Vec::new();
    let mut add = |name: &str, kind: &'static str, doc: Option<&Documentation>| match doc {
        Some(d) => {
            let key = if docs.contains_key(name) {
                format!("{name} ({kind})")
            } else {
                name.to_string()
            };
            docs.insert(key, (kind, d.clone()));
        }
        None => undocumented.push(name.to_string()),
    };
    for (name, f) in state.scalar_functions() {
        if name.starts_with("ml_") {
            add(name, "scalar", f.documentation());
        }
    }
    for (name, f) in state.aggregate_functions() {
        if name.starts_with("ml_") {
            add(name, "aggregate", f.documentation());
        }
    }
    for (name, f) in state.window_functions() {
        if name.starts_with("ml_") {
            add(name, "window", f.documentation());
        }
    }
    for (name, doc) in table_functions {
        add(name, "table", Some(doc));
    }
    if !undocumented.is_empty() {
        return Err(format!(
            "functions without documentation: {}",
            undocumented.join(", ")
        ));
    }
    Ok(docs
        .into_iter()
        .map(|(title, (kind, doc))| Entry { title, kind, doc })
        .collect())
}

/// The Markdown reference of every `ml_*` function registered in `state`
/// plus the given table functions. Fails listing functions without docs.
pub fn functions_markdown(
    state: &SessionState,
    table_functions: &[(&str, Documentation)],
) -> Result<String, String> {
    let docs = entries(state, table_functions)?;

    let mut out = String::from(
        "# Quarry SQL reference\n\n\
         Generated from the code by `QUARRY_BLESS=1 cargo test --test quarry docs::`; do not edit by hand.\n\
         Every function Quarry adds is named `ml_*`. A model reference is `'name'` (its production version, else the latest), `'name@3'` or\n\
         `'name@alias'`. A `relation` argument is a table name, a parenthesized subquery, or text holding a\n\
         table name or a query starting with SELECT or WITH.\n\n",
    );
    out.push_str("| function | kind | section |\n|---|---|---|\n");
    for Entry { title, kind, doc } in &docs {
        let _ = writeln!(
            out,
            "| [`{title}`](#{}) | {kind} | {} |",
            anchor(title),
            doc.doc_section.label
        );
    }
    out.push('\n');
    out.push_str(&STATEMENTS.replace("{options}", &quarry_udfs::model::options::markdown()));
    out.push_str("\n## Functions\n\n");
    out.push_str(
        "The examples are one session on a server started with the demo data \
         (`quarry`, without `--no-demo`), in the order of this reference, after these statements:\n\n",
    );
    let _ = write!(out, "```sql\n{}```\n", EXAMPLE_SETUP);
    for Entry { title, kind, doc } in &docs {
        let _ = write!(
            out,
            "\n### `{title}`\n\n*{kind} function*. {}\n\n",
            doc.description.trim()
        );
        let _ = write!(out, "```sql\n{}\n```\n", doc.syntax_example.trim());
        if let Some(args) = &doc.arguments {
            out.push_str("\n| argument | description |\n|---|---|\n");
            for (arg, description) in args {
                let _ = writeln!(out, "| `{arg}` | {} |", description.replace('\n', " "));
            }
        }
        if let Some(example) = &doc.sql_example {
            let _ = write!(out, "\nExample:\n\n{}\n", example.trim());
        }
    }
    Ok(out)
}

fn anchor(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}
