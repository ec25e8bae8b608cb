//! `ml_models`, `ml_model_versions`, `ml_snapshots`, `ml_deployments` and
//! `ml_approvals`: the registry as read-only tables, for SQL and for BI tools browsing the
//! catalog.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::error::Result;

use super::snapshots::SnapshotRow;
use super::{DeploymentRow, Registry, VersionRow};
use crate::catalog::live::LiveRows;
use crate::error::SqlStateError;

/// Which system table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Models,
    Versions,
    Snapshots,
    Deployments,
    Approvals,
}

/// A system table over the registry, read fresh at every scan.
#[derive(Debug)]
pub struct SystemTable {
    kind: Kind,
    registry: Arc<Registry>,
    schema: SchemaRef,
}

pub const MODELS: &str = "ml_models";
pub const VERSIONS: &str = "ml_model_versions";
pub const SNAPSHOTS: &str = "ml_snapshots";
pub const DEPLOYMENTS: &str = "ml_deployments";
pub const APPROVALS: &str = "ml_approvals";

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

impl SystemTable {
    pub fn new(kind: Kind, registry: Arc<Registry>) -> Self {
        let schema = Arc::new(match kind {
            Kind::Models => Schema::new(vec![
                text("name", false),
                int("versions", false),
                int("latest_version", false),
                int("production_version", true),
                text("task", false),
                text("algorithm", false),
                text("created_by", false),
                text("created_at", false),
                text("updated_at", false),
            ]),
            Kind::Versions => Schema::new(vec![
                text("model", false),
                int("version", false),
                text("task", false),
                text("algorithm", false),
                text("status", false),
                text("aliases", true),
                int("train_rows", false),
                int("test_rows", false),
                text("metrics", false),
                text("evaluated_on", false),
                text("params", false),
                text("label", true),
                text("features", false),
                text("training_query", false),
                text("source_tables", false),
                text("data_sha256", false),
                text("warnings", false),
                Field::new("seconds", DataType::Float64, false),
                text("created_by", false),
                text("created_at", false),
            ]),
            Kind::Deployments => Schema::new(vec![
                int("id", false),
                text("model", false),
                text("alias", false),
                int("version", false),
                int("previous_version", true),
                text("action", false),
                text("by_user", false),
                text("at", false),
                Field::new("traffic", DataType::Float64, true),
            ]),
            Kind::Approvals => Schema::new(vec![
                int("id", false),
                text("model", false),
                int("version", false),
                text("role", false),
                text("decision", false),
                text("note", false),
                text("decided_by", false),
                text("at", false),
            ]),
            Kind::Snapshots => Schema::new(vec![
                text("name", false),
                int("version", false),
                int("rows", false),
                text("sha256", false),
                text("query", false),
                text("model", true),
                int("model_version", true),
                text("created_by", false),
                text("created_at", false),
            ]),
        });
        SystemTable {
            kind,
            registry,
            schema,
        }
    }

    fn rows(&self) -> std::result::Result<RecordBatch, SqlStateError> {
        let columns: Vec<ArrayRef> = match self.kind {
            Kind::Versions => versions_columns(&self.registry.versions(None)?),
            Kind::Models => models_columns(&self.registry.versions(None)?),
            Kind::Snapshots => snapshots_columns(&self.registry.snapshots.list()?),
            Kind::Deployments => deployments_columns(&self.registry.deployments()?),
            Kind::Approvals => approvals_columns(&self.registry.approvals()?),
        };
        RecordBatch::try_new(self.schema.clone(), columns).map_err(SqlStateError::internal)
    }
}

fn versions_columns(rows: &[VersionRow]) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(&VersionRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    vec![
        s(&|r| r.model.clone()),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| i64::from(r.version)),
        )),
        s(&|r| r.task.clone()),
        s(&|r| r.algorithm.clone()),
        s(&|r| r.status.clone()),
        Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|r| (!r.aliases.is_empty()).then(|| r.aliases.join(","))),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.train_rows),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.test_rows),
        )),
        s(&|r| r.metrics.clone()),
        s(&|r| r.evaluated_on.clone()),
        s(&|r| r.params.clone()),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.label.clone()))),
        s(&|r| r.features.clone()),
        s(&|r| r.training_query.clone()),
        s(&|r| r.source_tables.clone()),
        s(&|r| r.data_sha256.clone()),
        s(&|r| r.warnings.clone()),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.seconds),
        )),
        s(&|r| r.created_by.clone()),
        s(&|r| r.created_at.clone()),
    ]
}

fn deployments_columns(rows: &[DeploymentRow]) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(&DeploymentRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let i = |f: &dyn Fn(&DeploymentRow) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(rows.iter().map(f)))
    };
    vec![
        i(&|r| Some(r.id)),
        s(&|r| r.model.clone()),
        s(&|r| r.alias.clone()),
        i(&|r| Some(r.version)),
        i(&|r| r.previous_version),
        s(&|r| r.action.clone()),
        s(&|r| r.by_user.clone()),
        s(&|r| r.at.clone()),
        Arc::new(datafusion::arrow::array::Float64Array::from_iter(
            rows.iter().map(|r| r.traffic),
        )),
    ]
}

fn approvals_columns(rows: &[super::approvals::ApprovalRow]) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(&super::approvals::ApprovalRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let i = |f: &dyn Fn(&super::approvals::ApprovalRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    vec![
        i(&|r| r.id),
        s(&|r| &r.model),
        i(&|r| r.version),
        s(&|r| &r.role),
        s(&|r| &r.decision),
        s(&|r| &r.note),
        s(&|r| &r.decided_by),
        s(&|r| &r.at),
    ]
}

fn snapshots_columns(rows: &[SnapshotRow]) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(&SnapshotRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let i = |f: &dyn Fn(&SnapshotRow) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from_iter(rows.iter().map(f)))
    };
    vec![
        s(&|r| r.name.clone()),
        i(&|r| Some(r.version)),
        i(&|r| Some(r.rows)),
        s(&|r| r.sha256.clone()),
        s(&|r| r.query.clone()),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.model.clone()))),
        i(&|r| r.model_version),
        s(&|r| r.created_by.clone()),
        s(&|r| r.created_at.clone()),
    ]
}

fn models_columns(rows: &[VersionRow]) -> Vec<ArrayRef> {
    let mut models: Vec<(&str, Vec<&VersionRow>)> = Vec::new();
    for r in rows {
        match models.last_mut() {
            Some((name, list)) if *name == r.model => list.push(r),
            _ => models.push((&r.model, vec![r])),
        }
    }
    fn latest<'a>(v: &[&'a VersionRow]) -> Option<&'a VersionRow> {
        v.iter().max_by_key(|r| r.version).copied()
    }
    vec![
        Arc::new(StringArray::from_iter_values(models.iter().map(|m| m.0))),
        Arc::new(Int64Array::from_iter_values(
            models.iter().map(|m| m.1.len() as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            models
                .iter()
                .map(|m| latest(&m.1).map_or(0, |r| i64::from(r.version))),
        )),
        Arc::new(Int64Array::from_iter(models.iter().map(|m| {
            m.1.iter()
                .find(|r| r.aliases.iter().any(|a| a == "production"))
                .map(|r| i64::from(r.version))
        }))),
        Arc::new(StringArray::from_iter_values(
            models
                .iter()
                .map(|m| latest(&m.1).map_or(String::new(), |r| r.task.clone())),
        )),
        Arc::new(StringArray::from_iter_values(models.iter().map(|m| {
            latest(&m.1).map_or(String::new(), |r| r.algorithm.clone())
        }))),
        Arc::new(StringArray::from_iter_values(models.iter().map(|m| {
            m.1.first().map_or(String::new(), |r| r.created_by.clone())
        }))),
        Arc::new(StringArray::from_iter_values(models.iter().map(|m| {
            m.1.first().map_or(String::new(), |r| r.created_at.clone())
        }))),
        Arc::new(StringArray::from_iter_values(models.iter().map(|m| {
            latest(&m.1).map_or(String::new(), |r| r.created_at.clone())
        }))),
    ]
}

#[async_trait]
impl LiveRows for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batch(&self, _state: &dyn Session) -> Result<RecordBatch> {
        self.rows().map_err(SqlStateError::into_df)
    }
}
