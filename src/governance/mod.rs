//! Governance functions: the audit log's verification, and what documents
//! and traces models and data. They need the server's registry, catalog,
//! access rules and audit log, so they live here rather than in
//! `quarry-udfs`.

pub mod lineage;
pub mod ml_erase_subject;
pub mod ml_lineage;
pub mod ml_tag;
pub mod ml_trace_subject;
pub mod subject;

use std::sync::{Arc, Weak};

use datafusion::logical_expr::Documentation;
use datafusion::prelude::SessionContext;
use quarry_udfs::functions::definition::{self, Definition};

use crate::access::Access;
use crate::audit::AuditLog;
use crate::catalog::Catalog;
use crate::registry::Registry;

/// An identifier as stored: lower case unless double-quoted.
pub(crate) fn ident(part: &str) -> String {
    match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => part.to_lowercase(),
    }
}

/// What the governance functions work with.
#[derive(Debug)]
pub struct Governance {
    pub registry: Arc<Registry>,
    pub catalog: Weak<Catalog>,
    pub access: Arc<Access>,
    pub audit: Arc<AuditLog>,
}

/// The governance functions, one line each.
pub fn functions() -> Vec<Definition<Arc<Governance>>> {
    vec![
        Definition::text_table(crate::audit::verify::AuditVerifyUdtf::new),
        Definition::text_table(ml_lineage::LineageUdtf::new),
        Definition::scalar(ml_tag::TagUdf::new),
        Definition::table(ml_trace_subject::TraceSubjectUdtf::new),
        Definition::table(ml_erase_subject::EraseSubjectUdtf::new),
    ]
}

pub fn register(ctx: &SessionContext, governance: &Arc<Governance>) {
    definition::register(ctx, governance, &functions(), &[])
        .expect("a relation planner registers into a fresh session");
}

/// Documentation of the table functions registered here.
pub fn table_function_docs() -> Vec<(&'static str, Documentation)> {
    definition::table_docs(&functions())
}
