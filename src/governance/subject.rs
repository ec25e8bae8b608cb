//! A data subject's places: what `ml_trace_subject` counts and
//! `ml_erase_subject` erases or reports.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use quarry_udfs::functions::params::{Args, Param};

use super::Governance;
use crate::catalog::RelName;
use crate::error::{SqlStateError, sqlstate};

/// The arguments of `ml_trace_subject` and `ml_erase_subject`.
pub const KEY: Param = Param::value(
    "key",
    "Text: the column that identifies a person, 'table.column' or 'schema.table.column'.",
);
pub const VALUE: Param = Param::value(
    "value",
    "The person's key (compared as text: 42 and '42' are the same subject).",
);

/// What a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum PlaceKind {
    /// A managed table with a column of the key's name.
    Table,
    /// A snapshot version (training snapshots included) whose lineage holds
    /// the key column.
    Snapshot,
    /// The prediction log rows of a model keyed by the key column.
    PredictionLog,
    /// The feedback rows of such a model.
    Feedback,
}

impl PlaceKind {
    pub fn name(self) -> &'static str {
        match self {
            PlaceKind::Table => "table",
            PlaceKind::Snapshot => "snapshot",
            PlaceKind::PredictionLog => "prediction_log",
            PlaceKind::Feedback => "feedback",
        }
    }
}

/// A place a subject's rows may be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    pub kind: PlaceKind,
    /// The table, `snapshot@version`, or model.
    pub object: String,
    /// The column holding the key there.
    pub column: String,
    /// The managed table the rows are in (none for a snapshot).
    pub table: Option<RelName>,
    /// Rows of this model only (the logs).
    pub model: Option<String>,
    /// A scan of the place's rows (of every model, for a log).
    pub plan: LogicalPlan,
}

impl Place {
    /// Whether a row of `plan` holds the subject `value` (compared as text).
    pub fn matches(&self, value: &str) -> Expr {
        use datafusion::arrow::datatypes::DataType;
        use datafusion::logical_expr::{cast, ident, lit};
        let mut matches = cast(ident(&self.column), DataType::Utf8).eq(lit(value.to_string()));
        if let Some(model) = &self.model {
            matches = matches.and(ident("model").eq(lit(model.clone())));
        }
        matches
    }
}

/// The key column and value of a call `function(key, value)`, checked: the
/// caller is a superuser or an `auditor` member, the table and column
/// exist, and the value is a constant that is not NULL.
pub fn key_and_value(
    function: &str,
    doing: &str,
    governance: &Governance,
    mut args: Args,
    ctx: &mut dyn RelationPlannerContext,
) -> datafusion::error::Result<(RelName, String, String)> {
    let df = SqlStateError::into_df;
    let key = args.text(0)?;
    let value = match args.value(1) {
        Some(Expr::Literal(v, _)) if !v.is_null() => v.to_string(),
        _ => {
            return Err(df(SqlStateError::bad_argument(format!(
                "{function}: value must be a constant that is not NULL"
            ))));
        }
    };
    args.at_most(2)?;
    let config = ctx.context_provider().options();
    let user = quarry_udfs::session_info::user(config);
    let acl = governance.access.acl().map_err(df)?;
    acl.require_role(&user, crate::access::AUDITOR, doing)
        .map_err(df)?;
    let (table, column) =
        super::ml_tag::column_of(function, &key, &config.catalog.default_schema).map_err(df)?;
    let catalog = governance
        .catalog
        .upgrade()
        .ok_or_else(|| df(SqlStateError::internal("the catalog is gone")))?;
    let answer = match catalog.relation_schema(&table) {
        None => Err(SqlStateError::new(
            sqlstate::UNDEFINED_TABLE,
            format!("relation \"{table}\" does not exist"),
        )),
        Some(s) if s.field_with_name(&column).is_err() => Err(SqlStateError::new(
            sqlstate::UNDEFINED_COLUMN,
            format!("column \"{column}\" of relation \"{table}\" does not exist"),
        )),
        Some(_) => Ok((table, column, value)),
    };
    answer.map_err(df)
}

/// Where rows keyed by `table.column` may be: managed tables with a column
/// of that name, snapshots whose lineage holds the column, and the logs of
/// models whose policy `key` is that name.
pub fn places(
    governance: &Governance,
    table: &RelName,
    column: &str,
) -> Result<Vec<Place>, SqlStateError> {
    let catalog = governance
        .catalog
        .upgrade()
        .ok_or_else(|| SqlStateError::internal("the catalog is gone"))?;
    let scan = |name: &RelName| -> Result<Option<LogicalPlan>, SqlStateError> {
        let Some(provider) = catalog.relation_provider(name) else {
            return Ok(None);
        };
        let reference = TableReference::partial(name.schema.clone(), name.name.clone());
        Ok(Some(
            LogicalPlanBuilder::scan(reference, provider_as_source(provider), None)
                .and_then(LogicalPlanBuilder::build)
                .map_err(|e| SqlStateError::internal(e.to_string()))?,
        ))
    };
    let mut places = Vec::new();
    let store = governance.registry.store();
    for row in store.relations()? {
        if !row.kind.is_managed() {
            continue;
        }
        let name = RelName::new(row.schema_name.clone(), row.name.clone());
        let has = catalog
            .relation_schema(&name)
            .is_some_and(|s| s.field_with_name(column).is_ok());
        if has && let Some(plan) = scan(&name)? {
            places.push(Place {
                kind: PlaceKind::Table,
                object: format!("{}.{}", name.schema, name.name),
                column: column.to_string(),
                table: Some(name),
                model: None,
                plan,
            });
        }
    }
    // Snapshots holding the key column, by their recorded lineage.
    let source = format!("{}.{}", table.schema, table.name);
    let snapshots: Vec<(String, i64, String)> = store.with_conn(|conn| {
        let mut stmt = conn.prepare(
            "SELECT l.object, l.version, substr(l.used_as, 8)
             FROM ml_column_lineage l
             JOIN ml_snapshot_versions s ON s.name = l.object AND s.version = l.version
             WHERE l.object_kind = 'snapshot' AND l.source_table = ?1
               AND l.source_column = ?2 AND l.used_as LIKE 'column %'
             ORDER BY l.object, l.version",
        )?;
        stmt.query_map(rusqlite::params![source, column], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect()
    })?;
    for (name, version, snapshot_column) in snapshots {
        let provider = governance.registry.snapshots.table(&name, Some(version))?;
        let object = format!("{name}@{version}");
        let plan = LogicalPlanBuilder::scan(
            TableReference::bare(object.clone()),
            provider_as_source(Arc::new(provider)),
            None,
        )
        .and_then(LogicalPlanBuilder::build)
        .map_err(|e| SqlStateError::internal(e.to_string()))?;
        places.push(Place {
            kind: PlaceKind::Snapshot,
            object,
            column: snapshot_column,
            table: None,
            model: None,
            plan,
        });
    }
    // The logs of models keyed by this column.
    for (model, policy) in governance.registry.policies()? {
        if policy.get("key").and_then(|k| k.as_str()) != Some(column) {
            continue;
        }
        for (kind, log) in [
            (PlaceKind::PredictionLog, crate::serving::log::TABLE),
            (PlaceKind::Feedback, crate::serving::feedback::TABLE),
        ] {
            let name = RelName::new("public", log);
            if let Some(plan) = scan(&name)? {
                places.push(Place {
                    kind,
                    object: model.clone(),
                    column: "key".into(),
                    table: Some(name),
                    model: Some(model.clone()),
                    plan,
                });
            }
        }
    }
    Ok(places)
}
