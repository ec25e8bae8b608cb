//! `ml_model_card(model [, version])`: a model's card in Markdown, built
//! from what the registry knows (versions, metrics, lineage, personal-data
//! warnings, approvals, deployments) and what people wrote
//! (`ml_annotate`, `ml_review`). A field nobody wrote says so and names the
//! call that fills it: a card never pretends.

use std::fmt::Write;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    Documentation, ScalarFunctionArgs, Signature, TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use super::{Action, literal, text};
use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::{Registry, VersionRow, documentation};

pub const NAME: &str = "ml_model_card";

#[user_doc(
    doc_section(label = "Model documentation"),
    description = "The model's card, as Markdown: version, task, algorithm and its parameters, owners, when and by whom it was trained, aliases; purpose, legal basis, why this algorithm (ml_annotate); data and lineage (the training query, rows, the data's SHA-256, each feature's and the label's source columns from ml_lineage); personal data (features from columns tagged pii); metrics as training measured them; approvals (ml_approvals); deployments; limitations and bias mitigation; reviews and when the next is due (ml_review). A field nobody recorded says which call records it. Without a version: the production version, else the latest. Needs PREDICT on the model. Errors: 42704 unknown model or version; 42501 without PREDICT.",
    syntax_example = "ml_model_card(model [, version])",
    sql_example = r#"```sql
> SELECT split_part(ml_model_card('price'), chr(10), 1) AS title;
+-------------------------+
| title                   |
+-------------------------+
| # Model card: price, v1 |
+-------------------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(
        name = "version",
        description = "Optional version number; the production version (else the latest) without one."
    )
)]
#[derive(Debug, Default)]
pub struct ModelCardUdf;

impl Action for ModelCardUdf {
    const NAME: &'static str = NAME;

    fn signature() -> Signature {
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
            ],
            Volatility::Volatile,
        )
    }

    fn run(&self, registry: &Registry, args: &ScalarFunctionArgs) -> Result<String, SqlStateError> {
        let model = text(literal(NAME, &args.args, 0)?)
            .ok_or_else(|| SqlStateError::bad_argument(format!("{NAME}: model must be text")))?;
        let model = crate::registry::normalize(&model);
        registry.require_exists(&model)?;
        crate::access::require_model(&args.config_options, &model, Privilege::Predict)?;
        let versions = registry.versions(Some(&model))?;
        let wanted = match args.args.get(1) {
            None => None,
            Some(_) => match literal(NAME, &args.args, 1)? {
                ScalarValue::Int64(Some(v)) if *v > 0 => Some(*v as u32),
                other => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "version",
                        "must be a positive integer",
                        other,
                    ));
                }
            },
        };
        let version = match wanted {
            Some(v) => versions.iter().find(|r| r.version == v).ok_or_else(|| {
                SqlStateError::new(
                    crate::error::sqlstate::UNDEFINED_OBJECT,
                    format!("model \"{model}\" has no version {v}"),
                )
            })?,
            None => served(&versions)
                .ok_or_else(|| SqlStateError::internal(format!("{model} has no versions")))?,
        };
        card(registry, &model, version)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The version a bare model name means: production, else the latest.
pub(super) fn served(versions: &[VersionRow]) -> Option<&VersionRow> {
    versions
        .iter()
        .find(|r| r.aliases.iter().any(|a| a == "production"))
        .or_else(|| versions.iter().max_by_key(|r| r.version))
}

/// A Markdown table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn card(registry: &Registry, model: &str, v: &VersionRow) -> Result<String, SqlStateError> {
    let store = registry.store();
    let notes = store.with_conn(|c| documentation::annotations(c, model))?;
    let note = |field: &str| notes.iter().find(|n| n.0 == field).map(|n| n.1.clone());
    let reviews = store.with_conn(|c| documentation::reviews(c, model))?;
    let due = store.with_conn(|c| documentation::due_at(c, model))?;
    let lineage: Vec<_> = store
        .with_conn(|c| crate::governance::lineage::of_version(c, model, i64::from(v.version)))?
        .into_iter()
        .filter(|u| u.used_as != "read")
        .collect();
    let missing =
        |field: &str| format!("_Not recorded: `SELECT ml_annotate('{model}', '{field}', '...')`._");
    let mut out = String::new();
    let _ = writeln!(out, "# Model card: {model}, v{}\n", v.version);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Task | {} |", v.task);
    let _ = writeln!(out, "| Algorithm | {} |", v.algorithm);
    let _ = writeln!(
        out,
        "| Aliases | {} |",
        if v.aliases.is_empty() {
            "none".to_string()
        } else {
            v.aliases.join(", ")
        }
    );
    let _ = writeln!(out, "| Trained | {} by {} |", v.created_at, v.created_by);
    for (field, label) in [("owner", "Owner"), ("ops_owner", "Operations owner")] {
        let who = note(field).unwrap_or_else(|| match field {
            "owner" => format!("{} (its creator; not annotated)", v.created_by),
            _ => "not annotated".to_string(),
        });
        let _ = writeln!(out, "| {label} | {} |", cell(&who));
    }
    let _ = writeln!(
        out,
        "| Next review due | {} |\n",
        due.as_deref().unwrap_or("unknown")
    );
    for (field, heading) in [
        ("purpose", "Purpose"),
        ("legal_basis", "Legal basis"),
        ("rationale", "Why this algorithm"),
    ] {
        let _ = writeln!(
            out,
            "## {heading}\n\n{}\n",
            note(field).unwrap_or_else(|| missing(field))
        );
    }
    let _ = writeln!(out, "## Data and lineage\n");
    let _ = writeln!(
        out,
        "Trained on {} rows (tested on {}); data SHA-256 `{}`.\n\n```sql\n{}\n```\n",
        v.train_rows, v.test_rows, v.data_sha256, v.training_query
    );
    if lineage.is_empty() {
        let _ = writeln!(out, "_No column lineage was recorded for this version._\n");
    } else {
        let _ = writeln!(out, "| used as | source |\n|---|---|");
        for u in &lineage {
            let _ = writeln!(out, "| {} | {}.{} |", cell(&u.used_as), u.table, u.column);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Parameters: `{}`\n", v.params);
    let _ = writeln!(out, "## Personal data\n");
    let warnings: Vec<String> = serde_json::from_str(&v.warnings).unwrap_or_default();
    let pii: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("tagged pii"))
        .collect();
    if pii.is_empty() {
        let _ = writeln!(
            out,
            "No feature or label comes from a column tagged pii (`ml_tag`, `ml_pii_scan`).\n"
        );
    } else {
        for w in pii {
            let _ = writeln!(out, "- {w}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Metrics\n");
    let metrics: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&v.metrics).unwrap_or_default();
    let _ = writeln!(
        out,
        "Measured at training on the {} rows. For confidence intervals and fairness by group run `ml_evaluate` and `ml_fairness` on labelled data.\n",
        v.evaluated_on
    );
    let _ = writeln!(out, "| metric | value |\n|---|---|");
    for (name, value) in &metrics {
        if let Some(x) = value.as_f64() {
            let _ = writeln!(out, "| {name} | {x} |");
        }
    }
    out.push('\n');
    let _ = writeln!(out, "## Approvals\n");
    let approvals: Vec<_> = registry
        .approvals()?
        .into_iter()
        .filter(|a| a.model == model && a.version == i64::from(v.version))
        .collect();
    if approvals.is_empty() {
        let _ = writeln!(out, "None recorded for this version.\n");
    } else {
        let _ = writeln!(
            out,
            "| role | decision | by | at | note |\n|---|---|---|---|---|"
        );
        for a in &approvals {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                a.role,
                a.decision,
                a.decided_by,
                a.at,
                cell(&a.note)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Deployments\n");
    let deployments: Vec<_> = registry
        .deployments()?
        .into_iter()
        .filter(|d| d.model == model)
        .collect();
    if deployments.is_empty() {
        let _ = writeln!(out, "Never deployed.\n");
    } else {
        let _ = writeln!(
            out,
            "| at | action | alias | version | by |\n|---|---|---|---|---|"
        );
        for d in &deployments {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                d.at, d.action, d.alias, d.version, d.by_user
            );
        }
        out.push('\n');
    }
    for (field, heading) in [
        ("limitations", "Limitations"),
        ("bias_mitigation", "Bias mitigation"),
    ] {
        let _ = writeln!(
            out,
            "## {heading}\n\n{}\n",
            note(field).unwrap_or_else(|| missing(field))
        );
    }
    let _ = writeln!(out, "## Reviews\n");
    if reviews.is_empty() {
        let _ = writeln!(
            out,
            "Not reviewed yet; the first review is due {}.",
            due.as_deref().unwrap_or("a year after creation")
        );
    } else {
        let _ = writeln!(out, "| at | by | note |\n|---|---|---|");
        for (note, by, at) in &reviews {
            let _ = writeln!(out, "| {at} | {by} | {} |", cell(note));
        }
    }
    Ok(out)
}
