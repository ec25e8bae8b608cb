//! `SELECT * FROM ml_audit_verify()`: walks the audit log's hash chain and
//! reports the first broken link.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::Params;

use super::table::VerifyRows;
use crate::catalog::live::LiveTable;
use crate::error::SqlStateError;
use crate::governance::Governance;

pub const NAME: &str = "ml_audit_verify";

#[derive(Debug)]
pub struct AuditVerifyUdtf {
    governance: Arc<Governance>,
}

impl AuditVerifyUdtf {
    pub fn new(governance: &Arc<Governance>) -> Self {
        AuditVerifyUdtf {
            governance: governance.clone(),
        }
    }
}

impl TableFunctionSpec for AuditVerifyUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Governance", description: None },
            "Checks the audit log (ml_audit_log): every record's hash must be SHA-256 over the previous record's hash and its own fields, the sequence numbers must have no gap, and the newest record the catalog saw written must still be there. One row: valid, records (checked), broken_at and reason (the first broken link, NULL when valid), head_seq and head_hash (the last intact record; keep the hash elsewhere to prove later that nothing before it changed). Superusers and members of auditor only. Errors: 42501 for anyone else; 22023 when called with arguments.",
            "SELECT * FROM ml_audit_verify()",
        )
        .with_sql_example(
r#"```sql
> SELECT valid, broken_at, reason FROM ml_audit_verify();
+-------+-----------+--------+
| valid | broken_at | reason |
+-------+-----------+--------+
| t     |           |        |
+-------+-----------+--------+
```"#,
        )
    }
}

impl TableFunctionImpl for AuditVerifyUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(
                SqlStateError::bad_argument(format!("{NAME}: takes no arguments")).into_df(),
            );
        }
        // Who may call it is checked with the plan (`access::analyzer`).
        Ok(LiveTable::provider(VerifyRows::new(
            self.governance.audit.clone(),
        )))
    }
}
