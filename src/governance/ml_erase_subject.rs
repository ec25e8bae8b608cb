//! `SELECT * FROM ml_erase_subject('customers.customer_id', 42)`: a data
//! subject's rows removed, for an erasure request (GDPR article 17).
//!
//! The places are `ml_trace_subject`'s. Rows in managed tables and in the
//! prediction log and feedback of models keyed by the column are deleted,
//! each by the `DELETE` a user would write (so it takes `DELETE` on each
//! table, as any `DELETE` does), all in one transaction: the caller's
//! block, or one of its own that commits when every delete succeeded.
//! Snapshots are immutable versions and are not changed: each one holding
//! the subject is reported with the statement that writes a new version
//! without them (training snapshots: train the model again).
//!
//! Planning makes an [`Erasure`] node; nothing is deleted until the server
//! runs the statement (`server::query::erasure`), so `EXPLAIN` and a
//! `Describe` delete nothing. The statement itself is in the audit log.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::Result;
use datafusion::logical_expr::UserDefinedLogicalNode;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, Expr, Extension, LogicalPlan,
    UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Args, Params};
use quarry_udfs::functions::relation::RelationFunction;

use super::Governance;
use super::subject::{self, Place};
use crate::error::SqlStateError;
use crate::registry::snapshots::TRAINING_PREFIX;

pub const NAME: &str = "ml_erase_subject";

#[derive(Debug)]
pub struct EraseSubjectUdtf {
    governance: Arc<Governance>,
}

impl EraseSubjectUdtf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        EraseSubjectUdtf {
            governance: governance.clone(),
        }
    }
}

impl TableFunctionSpec for EraseSubjectUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[subject::KEY, subject::VALUE]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Governance", description: None },
            "Erases a data subject, for an erasure request: in the places ml_trace_subject looks in, deletes the rows that hold the key from every managed table and from the prediction log and feedback of models keyed by the column, in one transaction (the caller's block, else its own: every delete or none). One row per place: kind, object, column_name, rows (deleted, or for a snapshot found), action ('erased', or 'kept' for a snapshot: versions are immutable) and note (for a snapshot, the statement that writes a new version without the subject; for a training snapshot, that the model must be trained again). Runs only as a statement: EXPLAIN deletes nothing. Superusers and members of auditor only, with DELETE on each table as any DELETE needs (42501 otherwise, and nothing is deleted). The statement is in the audit log. Errors: 42P01 unknown table; 42703 unknown column; 22023 for a NULL or non-constant value.",
            "SELECT * FROM ml_erase_subject(key, value)",
        )
        .with_sql_example(
r#"```sql
> CREATE TABLE contacts (contact_id INT, email TEXT) AS
  VALUES (1, 'ann@example.org'), (2, 'ben@example.org');
> SELECT kind, object, rows, action FROM ml_erase_subject('contacts.contact_id', 2);
+-------+-----------------+------+--------+
| kind  | object          | rows | action |
+-------+-----------------+------+--------+
| table | public.contacts | 1    | erased |
+-------+-----------------+------+--------+
> SELECT contact_id FROM contacts;
+------------+
| contact_id |
+------------+
| 1          |
+------------+
```"#,
        )
    }
}

/// The erasure a statement asks for: run by the server, which replaces the
/// node by its result rows (`server::query::erasure`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Erasure {
    /// The key's value, as text.
    pub value: String,
    pub places: Vec<Place>,
    schema: DFSchemaRef,
}

/// What an erasure did in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub rows: u64,
    pub erased: bool,
    pub note: Option<String>,
}

impl Erasure {
    /// The result's columns.
    pub fn result_schema() -> Schema {
        Schema::new(vec![
            Field::new("kind", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("column_name", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("action", DataType::Utf8, false),
            Field::new("note", DataType::Utf8, true),
        ])
    }

    /// The `DELETE` that erases the subject from a table or log place;
    /// `None` for a snapshot.
    pub fn delete_statement(&self, place: &Place) -> Option<String> {
        let table = place.table.as_ref()?;
        let mut sql = format!(
            "DELETE FROM {}.{} WHERE CAST({} AS TEXT) = {}",
            quote_ident(&table.schema),
            quote_ident(&table.name),
            quote_ident(&place.column),
            quote_text(&self.value),
        );
        if let Some(model) = &place.model {
            sql.push_str(&format!(" AND model = {}", quote_text(model)));
        }
        Some(sql)
    }

    /// What to do about a snapshot version that holds the subject.
    pub fn snapshot_note(&self, place: &Place) -> String {
        let (name, version) = place
            .object
            .rsplit_once('@')
            .unwrap_or((place.object.as_str(), ""));
        if let Some(model) = name.strip_prefix(TRAINING_PREFIX) {
            return format!(
                "training set of model {model}: versions are immutable; train the model again \
                 (its sources no longer hold the subject) and archive the versions trained on it"
            );
        }
        format!(
            "versions are immutable; to write one without the subject: SELECT * FROM ml_snapshot({name}, \
             (SELECT * FROM ml_snapshot_read({name}, {version}) WHERE CAST({column} AS TEXT) IS DISTINCT FROM {value}))",
            name = quote_text(name),
            column = quote_ident(&place.column),
            value = quote_text(&self.value),
        )
    }

    /// The result rows' literals, one row per place, in `outcomes`' order.
    pub fn rows(&self, outcomes: &[Outcome]) -> Vec<Vec<Expr>> {
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::lit;
        self.places
            .iter()
            .zip(outcomes)
            .map(|(place, outcome)| {
                vec![
                    lit(place.kind.name()),
                    lit(place.object.clone()),
                    lit(place.column.clone()),
                    lit(outcome.rows as i64),
                    lit(if outcome.erased { "erased" } else { "kept" }),
                    lit(ScalarValue::Utf8(outcome.note.clone())),
                ]
            })
            .collect()
    }

    pub fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl PartialOrd for Erasure {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for Erasure {
    fn name(&self) -> &str {
        "Erasure"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let places: Vec<&str> = self.places.iter().map(|p| p.object.as_str()).collect();
        write!(f, "Erasure of a data subject from {}", places.join(", "))
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(self.clone())
    }
}

/// The erasure `plan` runs, if it has one (none under `EXPLAIN`, which
/// only shows it).
pub fn find(plan: &LogicalPlan) -> Option<Erasure> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    if matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
        return None;
    }
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Extension(ext) = node
            && let Some(erasure) = ext.node.as_any().downcast_ref::<Erasure>()
        {
            found = Some(erasure.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The physical planner's answer to an [`Erasure`] that reached it (under
/// `EXPLAIN`, `COPY` or a cursor, where the server does not run it first):
/// `0A000`.
#[derive(Debug)]
pub struct RunOnlyAsStatement;

#[async_trait::async_trait]
impl ExtensionPlanner for RunOnlyAsStatement {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<Erasure>().is_none() {
            return Ok(None);
        }
        Err(SqlStateError::unsupported(format!(
            "{NAME} runs only as a query of its own (SELECT ... FROM {NAME}(...)), \
             not under EXPLAIN, COPY or a cursor"
        ))
        .into_df())
    }
}

impl RelationFunction for EraseSubjectUdtf {
    fn plan(&self, args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let (table, column, value) =
            subject::key_and_value(NAME, "erase a data subject", &self.governance, args, ctx)?;
        let places =
            subject::places(&self.governance, &table, &column).map_err(SqlStateError::into_df)?;
        let schema = Arc::new(DFSchema::try_from(Erasure::result_schema())?);
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(Erasure {
                value,
                places,
                schema,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::RelName;
    use crate::governance::subject::PlaceKind;
    use datafusion::logical_expr::LogicalPlanBuilder;

    fn place(kind: PlaceKind, object: &str, table: Option<RelName>, model: Option<&str>) -> Place {
        Place {
            kind,
            object: object.into(),
            column: "customer_id".into(),
            table,
            model: model.map(str::to_string),
            plan: LogicalPlanBuilder::empty(false)
                .build()
                .expect("an empty plan"),
        }
    }

    fn erasure(value: &str) -> Erasure {
        Erasure {
            value: value.into(),
            places: vec![],
            schema: Arc::new(DFSchema::try_from(Erasure::result_schema()).expect("a schema")),
        }
    }

    #[test]
    fn deletes_quote_names_and_values() {
        let e = erasure("o'brien");
        let table = place(
            PlaceKind::Table,
            "s.t",
            Some(RelName::new("s", "My\"T")),
            None,
        );
        assert_eq!(
            e.delete_statement(&table).expect("a table is deleted from"),
            r#"DELETE FROM "s"."My""T" WHERE CAST("customer_id" AS TEXT) = 'o''brien'"#
        );
        let log = place(
            PlaceKind::Feedback,
            "churn",
            Some(RelName::new("public", "ml_feedback")),
            Some("churn"),
        );
        assert!(
            e.delete_statement(&log)
                .expect("a log is deleted from")
                .ends_with("= 'o''brien' AND model = 'churn'")
        );
        assert_eq!(
            e.delete_statement(&place(PlaceKind::Snapshot, "f@2", None, None)),
            None
        );
    }

    #[test]
    fn snapshots_are_reported_with_the_rewrite() {
        let e = erasure("42");
        let note = e.snapshot_note(&place(PlaceKind::Snapshot, "features@3", None, None));
        assert!(note.contains("ml_snapshot('features'"), "{note}");
        assert!(note.contains("ml_snapshot_read('features', 3)"), "{note}");
        assert!(note.contains("IS DISTINCT FROM '42'"), "{note}");
        let training = e.snapshot_note(&place(PlaceKind::Snapshot, "training:churn@1", None, None));
        assert!(
            training.starts_with("training set of model churn"),
            "{training}"
        );
    }
}
