//! `SELECT * FROM ml_dpia(model)`: the data protection impact assessment
//! checklist (GDPR article 35) filled in from what Quarry knows of the
//! model's served version: personal data used (lineage and tags), purpose
//! and legal basis (annotations), risks found, mitigations recorded,
//! sign-offs and reviews. Each item is `ok`, `attention` (a risk found,
//! say what) or `missing` (nobody recorded it, say how to).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder, Expr};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::{Registry, documentation};

pub const NAME: &str = "ml_dpia";

#[derive(Debug)]
pub struct DpiaUdtf {
    registry: Arc<Registry>,
}

impl DpiaUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        DpiaUdtf { registry }
    }
}

impl TableFunctionSpec for DpiaUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value("model", "Model name.")]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model documentation", description: None },
            "The data protection impact assessment checklist of a model's served version (production, else the latest), filled in from metadata: one row per item (personal_data, quasi_identifiers, purpose, legal_basis, fairness, bias_mitigation, limitations, approvals, review, owner) with status ok, attention (a risk found: the detail says which) or missing (nobody recorded it: the detail says which call records it). Personal data and quasi-identifiers come from the version's lineage (ml_lineage) and the column tags pii and quasi_identifier (ml_tag); purpose, legal basis, bias mitigation, limitations and owner from ml_annotate; approvals from the policy and ml_approvals; the review from ml_review. Fairness is ok or attention (disparate impact below 0.8) when the version was trained with reweigh, which measures it; otherwise missing until you record what ml_fairness found under bias_mitigation. A checklist, not a verdict: a DPIA is people's judgement. Needs PREDICT on the model. Errors: 42704 unknown model; 42501 without PREDICT.",
            "SELECT * FROM ml_dpia(model)",
        )
        .with_sql_example(
r#"```sql
> SELECT item, status FROM ml_dpia('price') WHERE item IN ('personal_data', 'purpose', 'approvals');
+---------------+--------+
| item          | status |
+---------------+--------+
| personal_data | ok     |
| purpose       | ok     |
| approvals     | ok     |
+---------------+--------+
```"#,
        )
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("item", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
    ]))
}

const OK: &str = "ok";
const ATTENTION: &str = "attention";
const MISSING: &str = "missing";

impl DpiaUdtf {
    fn items(
        &self,
        model: &str,
        config: &datafusion::config::ConfigOptions,
    ) -> std::result::Result<Vec<(&'static str, &'static str, String)>, SqlStateError> {
        let registry = &self.registry;
        registry.require_exists(model)?;
        crate::access::require_model(config, model, Privilege::Predict)?;
        let versions = registry.versions(Some(model))?;
        let v = super::model_card::served(&versions)
            .ok_or_else(|| SqlStateError::internal(format!("{model} has no versions")))?;
        let store = registry.store();
        let lineage = store.with_conn(|c| {
            crate::governance::lineage::of_version(c, model, i64::from(v.version))
        })?;
        let notes = store.with_conn(|c| documentation::annotations(c, model))?;
        let note = |field: &str| notes.iter().find(|n| n.0 == field).map(|n| n.1.clone());
        let record =
            |field: &str| format!("not recorded: SELECT ml_annotate('{model}', '{field}', '...')");
        let listed = |uses: &[(String, String)]| {
            uses.iter()
                .map(|(used_as, column)| format!("{used_as} from {column}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut items = Vec::new();

        let pii = crate::governance::ml_tag::tagged_uses(store, &lineage, "pii");
        let personal = !pii.is_empty();
        items.push(if personal {
            (
                "personal_data",
                ATTENTION,
                format!("personal data in the model: {}", listed(&pii)),
            )
        } else {
            (
                "personal_data",
                OK,
                "no feature or label comes from a column tagged pii (ml_pii_scan proposes tags)"
                    .to_string(),
            )
        });
        let quasi = crate::governance::ml_tag::tagged_uses(store, &lineage, "quasi_identifier");
        items.push(if quasi.is_empty() {
            (
                "quasi_identifiers",
                OK,
                "no feature comes from a column tagged quasi_identifier".to_string(),
            )
        } else {
            (
                "quasi_identifiers",
                ATTENTION,
                format!(
                    "{}; check k-anonymity of the training data with ml_k_anonymity",
                    listed(&quasi)
                ),
            )
        });
        for field in ["purpose", "legal_basis"] {
            items.push(match note(field) {
                Some(text) => (field_name(field), OK, text),
                // Without personal data a legal basis is not needed.
                None if field == "legal_basis" && !personal => (
                    field_name(field),
                    OK,
                    "no personal data found; none needed".to_string(),
                ),
                None => (field_name(field), MISSING, record(field)),
            });
        }
        let params: serde_json::Value = serde_json::from_str(&v.params).unwrap_or_default();
        let fairness = &params["fairness"];
        items.push(match fairness["after"]["positive_rate_ratio"].as_f64() {
            Some(ratio) => (
                "fairness",
                if ratio < 0.8 { ATTENTION } else { OK },
                format!(
                    "reweighed by {} at training; on the {} rows the smallest ratio of positive rates between groups is {:.3} (was {:.3} without reweighing){}",
                    fairness["group_column"].as_str().unwrap_or("?"),
                    fairness["evaluated_on"].as_str().unwrap_or("evaluation"),
                    ratio,
                    fairness["before"]["positive_rate_ratio"].as_f64().unwrap_or(f64::NAN),
                    if ratio < 0.8 { ": below 0.8, the 4/5 rule fails" } else { "" }
                ),
            ),
            None => (
                "fairness",
                MISSING,
                "not measured at training: train with reweigh = '<group column>', or run ml_fairness on labelled data by group and record what it found under bias_mitigation".to_string(),
            ),
        });
        for field in ["bias_mitigation", "limitations"] {
            items.push(match note(field) {
                Some(text) => (field_name(field), OK, text),
                None if field == "bias_mitigation" && fairness["method"] == "reweigh" => (
                    field_name(field),
                    OK,
                    format!(
                        "reweighing (Kamiran-Calders) by {} at training",
                        fairness["group_column"].as_str().unwrap_or("?")
                    ),
                ),
                None => (field_name(field), MISSING, record(field)),
            });
        }
        let policy = registry.policy(model)?;
        let required: Vec<String> = policy
            .get("approvals_required")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        items.push(if required.is_empty() {
            (
                "approvals",
                MISSING,
                format!(
                    "no sign-off required: SELECT ml_set_policy('{model}', '{{\"approvals_required\": [\"risk\", \"compliance\"]}}')"
                ),
            )
        } else {
            let missing = registry.missing_approvals(model, v.version)?;
            if missing.is_empty() {
                (
                    "approvals",
                    OK,
                    format!("v{} approved by {}", v.version, required.join(", ")),
                )
            } else {
                (
                    "approvals",
                    ATTENTION,
                    format!("v{} still needs: {}", v.version, missing.join(", ")),
                )
            }
        });
        let reviews = store.with_conn(|c| documentation::reviews(c, model))?;
        let due = store
            .with_conn(|c| documentation::due_at(c, model))?
            .unwrap_or_default();
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        items.push(match (reviews.last(), due < now) {
            (_, true) => ("review", ATTENTION, format!("overdue since {due}")),
            (Some((_, by, at)), false) => (
                "review",
                OK,
                format!("reviewed {at} by {by}; next due {due}"),
            ),
            (None, false) => (
                "review",
                OK,
                format!("not reviewed yet; first review due {due} (ml_review)"),
            ),
        });
        items.push(match note("owner") {
            Some(owner) => ("owner", OK, owner),
            None => (
                "owner",
                MISSING,
                format!("{} (its creator); {}", v.created_by, record("owner")),
            ),
        });
        Ok(items)
    }
}

fn field_name(field: &str) -> &'static str {
    match field {
        "purpose" => "purpose",
        "legal_basis" => "legal_basis",
        "bias_mitigation" => "bias_mitigation",
        _ => "limitations",
    }
}

impl TableFunctionImpl for DpiaUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let model = match args.exprs() {
            [Expr::Literal(v, _)] => super::text(v),
            _ => None,
        }
        .ok_or_else(|| {
            SqlStateError::bad_argument(format!("{NAME}: expected (model), a text literal"))
                .into_df()
        })?;
        let model = crate::registry::normalize(&model);
        let items = self
            .items(&model, args.session().config_options())
            .map_err(SqlStateError::into_df)?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(items.iter().map(|i| i.0))),
            Arc::new(StringArray::from_iter_values(items.iter().map(|i| i.1))),
            Arc::new(StringArray::from_iter_values(items.iter().map(|i| &i.2))),
        ];
        let batch = RecordBatch::try_new(schema(), columns)
            .map_err(|e| SqlStateError::internal(e).into_df())?;
        Ok(Arc::new(MemTable::try_new(schema(), vec![vec![batch]])?))
    }
}
