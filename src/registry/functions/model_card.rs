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
    description = "The model's card, as Markdown: version, task, algorithm and its parameters, owners, when and by whom it was trained, aliases; purpose, legal basis, why this algorithm (ml_annotate); data and lineage (the training query, rows, the data's SHA-256, each feature's and the label's source columns from ml_lineage); personal data (features from columns tagged pii); metrics as training measured them with 95% bootstrap intervals; global importance (ml_feature_importance's); calibration and conformal intervals; fairness by group before and after reweighing (option reweigh); approvals (ml_approvals); deployments; limitations and bias mitigation; reviews and when the next is due (ml_review). A field nobody recorded says which call records it. Without a version: the production version, else the latest. Needs PREDICT on the model. Errors: 42704 unknown model or version; 42501 without PREDICT.",
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

/// A number as the card prints it: 4 significant decimals, `-` for none.
fn num(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{}", (x * 10_000.0).round() / 10_000.0),
        None => "-".into(),
    }
}

/// Metrics as training measured them, with the bootstrap intervals kept
/// in the training profile.
fn metrics_section(out: &mut String, v: &VersionRow, profile: &serde_json::Value) {
    let _ = writeln!(out, "## Metrics\n");
    let metrics: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&v.metrics).unwrap_or_default();
    let intervals = &profile["intervals"];
    match intervals["level"].as_f64() {
        Some(level) => {
            let _ = writeln!(
                out,
                "Measured at training on the {} rows ({} rows); intervals are {}% percentile bootstrap intervals over {} resamples, as `ml_evaluate` computes them.\n",
                v.evaluated_on,
                intervals["rows"],
                level * 100.0,
                intervals["resamples"]
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Measured at training on the {} rows. No intervals were kept for this version: run `ml_evaluate` on labelled rows.\n",
                v.evaluated_on
            );
        }
    }
    let _ = writeln!(
        out,
        "| metric | value | CI lower | CI upper |\n|---|---|---|---|"
    );
    let mut names: Vec<&String> = metrics.keys().collect();
    if let Some(more) = intervals["metrics"].as_object() {
        names.extend(more.keys().filter(|k| !metrics.contains_key(*k)));
    }
    for name in names {
        let ci = &intervals["metrics"][name.as_str()];
        let value = metrics.get(name).unwrap_or(&ci["value"]);
        if value.is_string() {
            continue;
        }
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            num(value),
            num(&ci["ci_lower"]),
            num(&ci["ci_upper"])
        );
    }
    out.push('\n');
}

/// Global importance: mean |contribution| measured at training, and each
/// feature's share of split gain for trees (`ml_feature_importance`).
fn importance_section(out: &mut String, model: &quarry_udfs::model::artifact::LoadedModel) {
    let _ = writeln!(out, "## Global importance\n");
    let names: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
    let shap = model.envelope.mean_abs_contribution();
    let gains = model.feature_importance();
    if shap.is_none() && gains.is_none() {
        let _ = writeln!(out, "Not measured for this kind of model.\n");
        return;
    }
    let total_gain: f64 = gains.iter().flatten().map(|g| g.1).sum();
    let mut rows: Vec<(&str, Option<f64>, Option<f64>)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let s = shap.and_then(|(v, _)| v.get(i).copied());
            let g = gains.as_ref().and_then(|g| g.get(i)).map(|g| {
                if total_gain > 0.0 {
                    g.1 / total_gain
                } else {
                    0.0
                }
            });
            (*name, s, g)
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &(&str, Option<f64>, Option<f64>)| r.1.or(r.2).unwrap_or(f64::NEG_INFINITY);
        key(b).total_cmp(&key(a)).then(a.0.cmp(b.0))
    });
    if let Some((_, n)) = shap {
        let _ = writeln!(
            out,
            "Mean |contribution| (`ml_explain`) over {n} evaluation rows; gain share for trees.\n"
        );
    }
    let _ = writeln!(
        out,
        "| feature | mean \\|contribution\\| | gain share |\n|---|---|---|"
    );
    let f = |v: Option<f64>| num(&serde_json::json!(v));
    for (name, s, g) in rows {
        let _ = writeln!(out, "| {name} | {} | {} |", f(s), f(g));
    }
    out.push('\n');
}

/// Probability calibration and prediction intervals, as fitted.
fn uncertainty_section(out: &mut String, model: &quarry_udfs::model::artifact::LoadedModel) {
    let _ = writeln!(out, "## Calibration and intervals\n");
    let calibrated = model.envelope.calibrator().is_some();
    let conformal = model.envelope.conformal();
    if calibrated {
        let _ = writeln!(
            out,
            "- Probabilities are calibrated on the hold-out rows (option `calibrate`)."
        );
    }
    if let Some((level, half_width)) = conformal {
        let _ = writeln!(
            out,
            "- Split-conformal prediction intervals at {}% coverage, ± {} (`ml_predict_interval`).",
            level * 100.0,
            num(&serde_json::json!(half_width))
        );
    }
    if !calibrated && conformal.is_none() {
        let _ = writeln!(
            out,
            "None fitted: train with `calibrate = 'isotonic'` (classifiers) or `interval = 0.9` (regressors)."
        );
    }
    out.push('\n');
}

/// Fairness by group as training measured it (with `reweigh`), else how
/// to measure it.
fn fairness_section(out: &mut String, model: &str, params: &serde_json::Value) {
    let _ = writeln!(out, "## Fairness\n");
    let fairness = &params["fairness"];
    let Some(groups) = fairness["groups"].as_array() else {
        let _ = writeln!(
            out,
            "Not measured at training. Measure it on labelled rows with `SELECT * FROM ml_fairness('{model}', <relation>, '<group column>')`, or train with `reweigh = '<group column>'`.\n"
        );
        return;
    };
    let _ = writeln!(
        out,
        "Reweighed by `{}` (Kamiran–Calders); measured on the {} rows against the same model trained without reweighing.\n",
        fairness["group_column"].as_str().unwrap_or("?"),
        fairness["evaluated_on"].as_str().unwrap_or("evaluation")
    );
    let _ = writeln!(
        out,
        "| group | rows | positive rate before | after | TPR before | after |\n|---|---|---|---|---|---|"
    );
    for g in groups {
        let name = match &g["group"] {
            serde_json::Value::String(s) => cell(s),
            _ => "NULL".into(),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            g["n"],
            num(&g["positive_rate_before"]),
            num(&g["positive_rate_after"]),
            num(&g["tpr_before"]),
            num(&g["tpr_after"])
        );
    }
    let gap = |key: &str| {
        format!(
            "{} → {}",
            num(&fairness["before"][key]),
            num(&fairness["after"][key])
        )
    };
    let _ = writeln!(
        out,
        "\nLargest gap in positive rate (statistical parity difference): {}. Smallest ratio of positive rates (disparate impact; below 0.8 fails the 4/5 rule): {}. Largest gap in TPR (equal opportunity): {}.\n",
        gap("positive_rate_diff"),
        gap("positive_rate_ratio"),
        gap("tpr_diff")
    );
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
    let mut shown: serde_json::Value = serde_json::from_str(&v.params).unwrap_or_default();
    if let Some(p) = shown.as_object_mut() {
        // Shown in its own section.
        p.remove("fairness");
    }
    let _ = writeln!(out, "Parameters: `{shown}`\n");
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
    let reference = quarry_udfs::model::ModelRef {
        name: model.to_string(),
        version: v.version,
    };
    let profile = registry.profile(&reference).unwrap_or_default();
    let loaded = quarry_udfs::model::ModelStore::load(registry, &reference)?;
    metrics_section(&mut out, v, &profile);
    importance_section(&mut out, &loaded);
    uncertainty_section(&mut out, &loaded);
    let params: serde_json::Value = serde_json::from_str(&v.params).unwrap_or_default();
    fairness_section(&mut out, model, &params);
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
    let _ = writeln!(
        out,
        "## Limitations\n\n{}\n",
        note("limitations").unwrap_or_else(|| missing("limitations"))
    );
    let reweighed = params["fairness"]["method"] == "reweigh";
    let mitigation = match (note("bias_mitigation"), reweighed) {
        (Some(text), _) => text,
        (None, true) => format!(
            "Reweighing by `{}` at training (see Fairness); not annotated: `SELECT ml_annotate('{model}', 'bias_mitigation', '...')`.",
            params["fairness"]["group_column"].as_str().unwrap_or("?")
        ),
        (None, false) => missing("bias_mitigation"),
    };
    let _ = writeln!(out, "## Bias mitigation\n\n{mitigation}\n");
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
